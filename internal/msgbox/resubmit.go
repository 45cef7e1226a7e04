package msgbox

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// The rules that keep an operator's resubmit (a copy of a message, stored
// as a new one: Incoming.ResubmitOf) and resume (Box.Resume) from sending
// one message twice. Every box applies them in the transaction that makes
// the change, on what it reads there: a check made before, outside it,
// would let the other operation slip in between.

// CheckResubmit is the rule of storing a copy of message id (Incoming.
// ResubmitOf): st is its status as shown (ShownStatus), d its decoding, ds
// its deliveries (their Port, State and LeaseOwner are read), and port the
// send port the copy is routed to alone (Incoming.ResubmitPort), "" when
// the copy is routed by the send ports' filters, anywhere. A message its
// receive pipeline refused was never authenticated; one not delivered,
// suspended or terminated, or with a delivery still under way (with port,
// that port's), would have that delivery made twice, once by the copy.
// Each error is ErrInvalidState and names the message and its state.
func CheckResubmit(id string, st Status, d Decoding, ds []Delivery, port string) error {
	switch {
	case d == DecodingFailed:
		return fmt.Errorf("message %s cannot be resubmitted: its receive pipeline refused it, so it was never authenticated; have it sent again once the cause is fixed: %w", id, ErrInvalidState)
	case st != StatusDelivered && st != StatusSuspended && st != StatusTerminated:
		return fmt.Errorf("message %s is %s: its deliveries are still under way; resubmit it once it is delivered, suspended or terminated: %w", id, st, ErrInvalidState)
	}
	// A message shows suspended (or terminated) while another of its
	// deliveries may still be under way: a copy routed there too would
	// make that delivery twice.
	for _, dl := range ds {
		if port != "" && dl.Port != port {
			continue
		}
		if dl.State != DeliveryDelivered && dl.State != DeliverySuspended && dl.State != DeliveryTerminated {
			state := string(dl.State)
			if dl.AwaitsMDN() {
				state = string(StatusAwaitingMDN)
			}
			return fmt.Errorf("message %s: its delivery to send port %s is still %s; resubmit it once that delivery is done: %w", id, dl.Port, state, ErrInvalidState)
		}
	}
	return nil
}

// ResubmittedAs returns the id of the copy a history entry of a message
// names (ResubmittedAsDetail, with ResubmittedStatus), and whether it is
// such an entry.
func ResubmittedAs(e Event) (string, bool) {
	if e.Port != "" || e.Status != ResubmittedStatus {
		return "", false
	}
	id, ok := strings.CutPrefix(e.Detail, ResubmittedAsDetail(""))
	if !ok || !ValidID(id) {
		return "", false
	}
	return id, true
}

// A Copy is what CheckResumeCopies reads of a message made by resubmitting
// another: Found false when no message has its id (purged). Status is as
// stored; Deliveries' Port and State are read; Copies are the ids of the
// copies made of it in turn (ResubmittedAs of its history).
type Copy struct {
	Found      bool
	Status     Status
	Deliveries []Delivery
	Copies     []string
}

// CheckResumeCopies is the rule of resuming message id whose deliveries
// to ports are suspended (none: a routing failure, routed again by the
// filters, to any port), given the ids of the copies made of it (copies:
// ResubmittedAs of its history) and read, which reads a message's Copy:
// the copies of its copies are read too, each once. A copy that was, or
// may still be, sent to one of those ports (a delivery there that is not
// terminated; or no delivery yet, not terminated, so a routing still to
// come that may lead there) would make the resumed delivery a second
// sending of the message: the error, ErrInvalidState, names the copy and
// the port, and says what to do instead, or how to send it again on
// purpose (a resubmit, which is the operator's explicit word for that).
// So would a copy no longer stored (purged): where it went, and the
// copies made of it, are unknown.
func CheckResumeCopies(id string, ports []string, copies []string, read func(id string) (Copy, error)) error {
	seen := map[string]bool{id: true}
	queue := slices.Clone(copies)
	for len(queue) > 0 {
		cid := queue[0]
		queue = queue[1:]
		if seen[cid] {
			continue
		}
		seen[cid] = true
		c, err := read(cid)
		if err != nil {
			return fmt.Errorf("reading message %s, a copy of message %s: %w", cid, id, err)
		}
		if !c.Found {
			// Purged: it was delivered or terminated, nobody can tell
			// where any more, and the history naming its own copies
			// (which may still be under way) is gone with it.
			return purgedCopy(id, cid, ports)
		}
		if err := copyConflict(id, cid, ports, c); err != nil {
			return err
		}
		queue = append(queue, c.Copies...)
	}
	return nil
}

// purgedCopy is CheckResumeCopies' refusal for a copy cid of message id
// that is no longer stored: it may have been delivered to one of ports
// (any, when none), and the copies of it its history named may still be
// sent there; the box cannot tell.
func purgedCopy(id, cid string, ports []string) error {
	where, again := "a send port this one goes to", fmt.Sprintf("bizpipe messages resubmit %s", id)
	if len(ports) == 1 {
		where, again = "send port "+ports[0], fmt.Sprintf("bizpipe messages resubmit %s --port %s", id, ports[0])
	}
	return fmt.Errorf("message %s cannot be resumed: message %s, a copy of it, was purged, so the box no longer knows whether it, or a copy made of it, was or may still be sent to %s, and resuming this one may send it there twice; terminate this one if the copy replaced it (bizpipe messages terminate %s); to send it again on purpose, resubmit it (%s): %w",
		id, cid, where, id, again, ErrInvalidState)
}

// copyConflict is CheckResumeCopies' rule for one copy c (cid) of message
// id.
func copyConflict(id, cid string, ports []string, c Copy) error {
	to := func(port string) bool { return len(ports) == 0 || slices.Contains(ports, port) }
	again := func(port string) string {
		if port == "" {
			return fmt.Sprintf("to send it twice on purpose, resubmit it (bizpipe messages resubmit %s)", id)
		}
		return fmt.Sprintf("to send it there twice on purpose, resubmit it (bizpipe messages resubmit %s --port %s)", id, port)
	}
	if len(c.Deliveries) == 0 {
		if c.Status == StatusTerminated {
			return nil
		}
		where, port := "a send port this one goes to", ""
		if len(ports) == 1 {
			where, port = "send port "+ports[0], ports[0]
		}
		return fmt.Errorf("message %s cannot be resumed: message %s, a copy of it, is %s and has no delivery yet, so its routing may send it to %s too, and resuming this one would send it there twice; terminate this one if the copy replaces it, or terminate the copy first (bizpipe messages terminate %s); %s: %w",
			id, cid, c.Status, where, cid, again(port), ErrInvalidState)
	}
	for _, dl := range c.Deliveries {
		if !to(dl.Port) || dl.State == DeliveryTerminated {
			continue
		}
		if dl.State == DeliveryDelivered {
			return fmt.Errorf("message %s cannot be resumed: message %s, a copy of it, was delivered to send port %s, and resuming this one would send it there a second time; terminate this one instead (bizpipe messages terminate %s); %s: %w",
				id, cid, dl.Port, id, again(dl.Port), ErrInvalidState)
		}
		state := string(dl.State)
		if dl.AwaitsMDN() {
			state = "awaiting its asynchronous MDN"
		}
		return fmt.Errorf("message %s cannot be resumed: message %s, a copy of it, has its delivery to send port %s %s, and resuming this one would send it there twice; terminate this one if the copy replaces it, or terminate the copy first (bizpipe messages terminate %s); %s: %w",
			id, cid, dl.Port, state, cid, again(dl.Port), ErrInvalidState)
	}
	return nil
}

// CopiesIn returns the ids of the copies a message's history names
// (ResubmittedAs), oldest first.
func CopiesIn(history []Event) []string {
	var ids []string
	for _, e := range history {
		if id, ok := ResubmittedAs(e); ok {
			ids = append(ids, id)
		}
	}
	return ids
}

// PreviewResume is what Resume of message d (as Get read it) would refuse
// now, by CheckResume and CheckResumeCopies, its copies read with
// box.Get: a preview (bulk resume --dry-run), since Resume decides in its
// own transaction on what it reads there.
func PreviewResume(ctx context.Context, box Box, d *Detail) error {
	m := d.Message
	if err := CheckResume(m.ID, m.Status, m.Decoding, m.Reason); err != nil {
		return err
	}
	var ports []string
	for _, dl := range d.Deliveries {
		if dl.State == DeliverySuspended {
			ports = append(ports, dl.Port)
		}
	}
	return CheckResumeCopies(m.ID, ports, CopiesIn(d.History), func(id string) (Copy, error) {
		c, err := box.Get(ctx, id)
		if errors.Is(err, ErrNotFound) {
			return Copy{}, nil
		}
		if err != nil {
			return Copy{}, err
		}
		return Copy{Found: true, Status: c.Message.Status, Deliveries: c.Deliveries, Copies: CopiesIn(c.History)}, nil
	})
}
