package msgbox

import "fmt"

// The rule that keeps an operator's resubmit (a copy of a message, stored
// as a new one: Incoming.ResubmitOf) from sending one message twice. Every
// box applies it in the transaction that stores the copy, on what it reads
// there: a check made before, outside it, would let a resume of the
// message slip in between.

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
