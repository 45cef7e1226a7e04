package runner

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/model"
	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/transport"
)

// receiver is a receive location as the runner drives it: its built
// transport, and the sensitive values of its block, which errors about it
// must not show.
type receiver struct {
	component.Receiver
	hide secrets
}

// start starts the receiver, hiding its sensitive values in the error.
func (rc *receiver) start(ctx context.Context) error { return rc.hide.err(rc.Start(ctx)) }

// buildReceiver builds rl's transport for the instance of its host on this
// server.
func (r *Runner) buildReceiver(rl *model.ReceiveLocation, in *model.Instance) (*receiver, error) {
	if rl.Transport == nil {
		return nil, fmt.Errorf("no transport")
	}
	cfg, ok := rl.Transport.Config.(component.ReceiverConfig)
	if !ok {
		return nil, fmt.Errorf("transport %q cannot receive", rl.Transport.Spec.Name)
	}
	hide := r.hide.with(rl.Transport.Sensitive...)
	who := describeInstance(in)
	keys, err := r.keysFor(rl.Transport.Needs(), model.Value[string]{}, in)
	if err != nil {
		return nil, hide.err(err)
	}
	var dest component.Sink = sink{r}
	if rl.Pipeline.Decodes() {
		stages, decrypters, err := r.buildDecoders(rl, in)
		if err != nil {
			return nil, hide.err(fmt.Errorf("decoding on %s: %w", describeInstance(in), err))
		}
		dest = &decodingSink{r: r, loc: rl.Name, who: who, stages: stages, hide: hide, decrypters: decrypters}
	}
	env := &component.ReceiveEnv{
		Keys:        keys,
		Location:    rl.Name,
		ContentType: rl.ContentType.V,
		Properties:  rl.Properties.V,
		// Stored with each message, so that displays hide those values
		// whatever the configuration says later.
		SensitiveProperties: rl.SensitiveProperties,
		Owner:               r.owner,
		Lease:               r.opts.Lease,
		SettleTime:          r.opts.FileSettle,
		Sink:                dest,
		// The receivers add receive_location themselves; the instance is
		// the runner's to say, as on every line about a message.
		Log:         hide.logger(r.opts.Log).With("instance", who),
		Shared:      r.shared,
		PartyAS2IDs: map[string]string{},
	}
	if ob, ok := r.opts.Box.(msgbox.MDNOutbox); ok {
		env.MDNs = ob
	}
	if _, ok := r.opts.Box.(msgbox.MDNAwaiter); ok {
		env.Receipts = r
	}
	if g := r.opts.Config.Group; g != nil && g.AS2ID.Usable() {
		env.AS2ID = g.AS2ID.V
	}
	if g := r.opts.Config.Group; g != nil && g.MaxMessageSize.Usable() {
		env.MaxMessageSize = g.MaxMessageSize.V
	}
	for _, party := range r.opts.Config.Parties {
		if party.AS2ID.Usable() {
			env.PartyAS2IDs[party.Name] = party.AS2ID.V
		}
	}
	rc, err := cfg.NewReceiver(env)
	if err == nil {
		err = r.provisionComponent(rc)
	}
	if err != nil {
		return nil, hide.err(err)
	}
	r.locWho[rl.Name] = who
	r.locAttrs[rl.Name] = r.hide.attrs(slog.String("receive_location", rl.Name), slog.String("instance", who))
	return &receiver{Receiver: rc, hide: hide}, nil
}

// messageLog is the logger of the lines about message id, received by
// receive location loc: each names the message, the location and, when the
// location runs here, its instance (the keys of the send side's lines,
// see port.deliveryLog).
func (r *Runner) messageLog(id, loc string) *slog.Logger {
	first := slog.String("message_id", id)
	if shown, ok := r.locAttrs[loc]; ok {
		return r.hide.lineLog(r.opts.Log.Handler(), first, shown)
	}
	return r.hide.lineLog(r.opts.Log.Handler(), first, nil, slog.String("receive_location", loc))
}

// shared is component.ReceiveEnv.Shared and SendEnv.Shared: one value per
// key for the run.
func (r *Runner) shared(key string, make func() any) any {
	r.sharedMu.Lock()
	defer r.sharedMu.Unlock()
	v, ok := r.sharedVals[key]
	if !ok {
		v = make()
		r.sharedVals[key] = v
	}
	return v
}

// pollReceivers makes one pass over every receive location. When nothing
// was published but files are still settling, it waits for them, a bounded
// number of times: --once picks up what is present, including a file whose
// writer has just finished. failed are the problems the last pass met (a
// missing directory, a file that could not be read or published), each
// logged by its receiver: what RunOnce reports if no later pass clears it.
func (r *Runner) pollReceivers(ctx context.Context) (published int, failed []error, err error) {
	const maxSettleWaits = 20
	for wait := 0; ; wait++ {
		total, pending := 0, 0
		failed = failed[:0]
		for _, rc := range r.recv {
			// A receiver with nothing present to pick up (a listener) is
			// not started by a --once run.
			p, ok := rc.Receiver.(component.Poller)
			if !ok {
				continue
			}
			// A poll error must not stop the other locations.
			n, err := p.Poll(ctx)
			if err != nil && ctx.Err() == nil {
				failed = append(failed, rc.hide.err(err))
			}
			total += n
			pending += p.Pending()
		}
		if ctx.Err() != nil {
			return total, failed, ctx.Err()
		}
		if total > 0 || pending == 0 || wait == maxSettleWaits {
			return total, failed, nil
		}
		select {
		case <-ctx.Done():
			return total, failed, ctx.Err()
		case <-time.After(r.settleWait()):
		}
	}
}

// settleWait is how long a --once run waits between passes for files that
// are still settling.
func (r *Runner) settleWait() time.Duration {
	if r.opts.FileSettle > 0 {
		return r.opts.FileSettle
	}
	return 250 * time.Millisecond
}

// stopReceivers stops the receive locations at once, not one after the
// other: each stops taking messages now, while another waits for its
// uploads, and they share ctx's grace.
func (r *Runner) stopReceivers(ctx context.Context) {
	var wg sync.WaitGroup
	for _, rc := range r.recv {
		wg.Go(func() { rc.Stop(ctx) })
	}
	wg.Wait()
}

// deliveriesInFlight counts the deliveries this process is attempting,
// for the stop's log lines.
func (r *Runner) deliveriesInFlight() int {
	r.inFlight.mu.Lock()
	defer r.inFlight.mu.Unlock()
	return len(r.inFlight.flights)
}

// maxStopPorts bounds the send ports the stop's log lines name.
const maxStopPorts = 10

// inFlightAttrs are the attributes of a stop's line about the deliveries
// in flight: how many, and their send ports, those with the most first,
// at most maxStopPorts of them; nil when there is none.
func (r *Runner) inFlightAttrs() []any {
	f := &r.inFlight
	f.mu.Lock()
	n := len(f.flights)
	byPort := map[string]int{}
	for _, fl := range f.flights {
		byPort[fl.port]++
	}
	f.mu.Unlock()
	if n == 0 {
		return nil
	}
	ports := slices.SortedFunc(maps.Keys(byPort), func(a, b string) int {
		return cmp.Or(cmp.Compare(byPort[b], byPort[a]), cmp.Compare(a, b))
	})
	args := []any{"deliveries", n}
	if len(ports) > maxStopPorts {
		args = append(args, "send_ports", ports[:maxStopPorts], "more_send_ports", len(ports)-maxStopPorts)
	} else {
		args = append(args, "send_ports", ports)
	}
	return args
}

// sink is the receivers' Sink. Besides Publish it has PublishBatch, which
// the file receiver uses (receive.BatchSink) to store a pass's files by
// batches, one commit each.
type sink struct{ r *Runner }

// Publish is Runner.publish.
func (s sink) Publish(ctx context.Context, in msgbox.Incoming, body io.Reader) (msgbox.Message, bool, error) {
	return s.r.publish(ctx, in, body)
}

// PublishOutcome is Publish for an OutcomeSink: without a decoding
// pipeline nothing is decoded, so there is no party nor MIC (req.MDN is
// made from an empty outcome), and the body is stored as received,
// without the header section req.Head a decoding pipeline would read it
// under.
func (s sink) PublishOutcome(ctx context.Context, in msgbox.Incoming, body io.Reader, req component.DecodeRequest) (component.Published, error) {
	m, dup, err := s.r.publish(ctx, req.ForBox(in, component.Published{}), body)
	return component.Published{Message: m, Dup: dup}, err
}

// AsReceived opens the bytes a stored message arrived as
// (transport.BodySink).
func (s sink) AsReceived(ctx context.Context, id string) (io.ReadCloser, error) {
	return s.r.opts.Box.AsReceived(ctx, id)
}

var (
	_ transport.BodySink = sink{}
	_ transport.BodySink = (*decodingSink)(nil)
)

// PublishBatch is Runner.publishBatch.
func (s sink) PublishBatch(ctx context.Context, items []msgbox.Receipt) []msgbox.ReceiveResult {
	return s.r.publishBatch(ctx, items)
}

// publish commits a message to the box and routes it, in one transaction.
// A duplicate stored before a crash may still be unrouted; it is routed
// now, and a problem then does not fail the publish (the source may be
// acknowledged: the message is safe); the unrouted sweep routes it later.
func (r *Runner) publish(ctx context.Context, in msgbox.Incoming, body io.Reader) (msgbox.Message, bool, error) {
	return r.publishWith(ctx, in, body, r.decide)
}

// publishWith is publish with decide choosing where the message goes;
// logAttrs are more attributes of its "message received" line.
func (r *Runner) publishWith(ctx context.Context, in msgbox.Incoming, body io.Reader, decide func(msgbox.Message) *routing, logAttrs ...any) (msgbox.Message, bool, error) {
	var routed *routing
	msg, dup, err := r.opts.Box.ReceiveRouted(ctx, in, body, func(m msgbox.Message) ([]string, string) {
		routed = decide(m) // the last call is the one committed
		return routed.ports, routed.reason
	})
	if err != nil {
		return msg, dup, err
	}
	if r.published(ctx, in, msg, dup, routed, logAttrs...) {
		r.notify(len(routed.ports))
	}
	return msg, dup, nil
}

// publishBatch is publish for several messages, stored and routed in one
// transaction of the box (msgbox.Batcher), the workers woken once for all.
//
// A box that can (msgbox.HandoffReceiver) also claims, in that
// transaction, the deliveries to this runner's ports, which go straight
// to the workers (handOver) instead of being claimed and read back.
func (r *Runner) publishBatch(ctx context.Context, items []msgbox.Receipt) []msgbox.ReceiveResult {
	var mu sync.Mutex
	decided := make(map[string]*routing, len(items)) // by message id: the last call is the one committed
	route := func(m msgbox.Message) ([]string, string) {
		rt := r.decide(m)
		mu.Lock()
		decided[m.ID] = rt
		mu.Unlock()
		return rt.ports, rt.reason
	}
	start := time.Now()
	var res []msgbox.ReceiveResult
	if hb, ok := r.opts.Box.(msgbox.HandoffReceiver); ok && len(r.portList) > 0 && r.canHandOver() {
		res = hb.ReceiveHandoff(ctx, items, route, msgbox.Handoff{Owner: r.handoffOwner(), Ports: r.portList, Lease: r.opts.Lease})
	} else {
		res = r.opts.Box.ReceiveBatch(ctx, items, route)
	}
	made := 0 // deliveries
	var handed []*msgbox.Delivery
	for i, x := range res {
		if x.Err != nil {
			continue
		}
		handed = append(handed, x.Claimed...)
		mu.Lock()
		rt := decided[x.Message.ID]
		mu.Unlock()
		if r.published(ctx, items[i].In, x.Message, x.Dup, rt) {
			made += len(rt.ports)
		}
	}
	// A worker per handed batch, and as many as the rest need to claim.
	r.wakeWorkers(r.handOver(ctx, handed, start))
	r.notify(made - len(handed))
	return res
}

// published logs and counts a message the box stored (or found stored:
// dup), routed by routed (nil when the box did not route it), and routes
// a duplicate left unrouted. It reports whether deliveries were routed, for
// which the workers are to be woken. logAttrs are more attributes of the
// "message received" line (which certificate decrypted it).
func (r *Runner) published(ctx context.Context, in msgbox.Incoming, msg msgbox.Message, dup bool, routed *routing, logAttrs ...any) bool {
	log := r.messageLog(msg.ID, in.ReceiveLocation)
	if dup {
		// A source a crash left unacknowledged, or a client repeating a
		// request with the same Idempotency-Key. The transport decides
		// what the source is told (a repeat with another body is refused
		// there, and logged), so this line does not say.
		log.Info("message already stored from this source; not stored again")
	} else {
		attrs := make([]any, 0, 8+len(logAttrs)) // room for all: one allocation
		attrs = append(attrs, "size", msg.Size, "file_name", msg.FileName)
		if msg.Party != "" {
			attrs = append(attrs, "party", msg.Party) // who signed it, for operators tracing a partner
		}
		attrs = append(attrs, logAttrs...)
		if routed != nil && len(routed.ports) > 0 {
			// Routed in the same transaction: one line says both.
			attrs = append(attrs, "send_ports", routed.ports)
		}
		log.Info("message received", attrs...)
		r.count(func(s *Summary) { s.Received++ })
		if m := r.opts.Metrics; m != nil {
			m.Received.WithLabelValues(in.ReceiveLocation).Inc()
		}
	}
	switch {
	case routed != nil && !dup:
		return r.routedOnly(msg.ID, in.ReceiveLocation, routed)
	case msg.Status == msgbox.StatusReceived:
		if err := r.route(ctx, msg); err != nil {
			log.Error("routing failed; the message stays received and is routed again later", "error", err)
		}
	}
	return false
}

// routing is where a message goes: the matching send ports, or none and
// the reason of the routing failure.
type routing struct {
	ports  []string
	reason string
}

// decide evaluates every send port's filter for msg.
func (r *Runner) decide(msg msgbox.Message) *routing {
	if msg.Decoding == msgbox.DecodingFailed {
		return &routing{reason: neverDecoded}
	}
	m := MessageOf(msg)
	var rt routing
	var problems []string
	for _, p := range r.routes {
		ok, err := p.decl.Filter.Match(m)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		if ok {
			rt.ports = append(rt.ports, p.decl.Name)
		}
	}
	if len(rt.ports) == 0 {
		rt.reason = "no send port's filter matches the message"
		if len(problems) > 0 {
			rt.reason += fmt.Sprintf(" (%d filter(s) could not be evaluated: %s)", len(problems), r.hide.text(problems[0]))
		}
	}
	return &rt
}

// route evaluates every send port's filter and records the deliveries.
func (r *Runner) route(ctx context.Context, msg msgbox.Message) error {
	rt := r.decide(msg)
	if err := r.opts.Box.Route(ctx, msg.ID, rt.ports, rt.reason); err != nil {
		if errors.Is(err, msgbox.ErrInvalidState) {
			return nil // routed by someone else meanwhile
		}
		return fmt.Errorf("routing message %s: %w", msg.ID, err)
	}
	if len(rt.ports) > 0 {
		r.messageLog(msg.ID, msg.ReceiveLocation).Info("message routed", "send_ports", rt.ports)
	}
	r.routed(msg.ID, msg.ReceiveLocation, rt)
	return nil
}

// routed counts a recorded routing failure, or wakes the workers for the
// deliveries of a routing. (A routing is logged by its caller: publish
// says it in its "message received" line.)
func (r *Runner) routed(id, loc string, rt *routing) {
	if r.routedOnly(id, loc, rt) {
		r.notify(len(rt.ports))
	}
}

// routedOnly is routed without the waking: it reports whether the routing
// made deliveries, for which the caller wakes the workers.
func (r *Runner) routedOnly(id, loc string, rt *routing) bool {
	if len(rt.ports) == 0 {
		r.messageLog(id, loc).Warn("message suspended", "reason", rt.reason)
		r.count(func(s *Summary) { s.Suspended++ })
		if m := r.opts.Metrics; m != nil {
			m.Suspended.WithLabelValues("").Inc()
		}
		return false
	}
	return true
}

// routeUnrouted routes messages a crash left between commit and routing.
func (r *Runner) routeUnrouted(ctx context.Context) error {
	for {
		msgs, err := r.opts.Box.Unrouted(ctx, 100)
		if err != nil {
			return fmt.Errorf("listing unrouted messages: %w", err)
		}
		for _, m := range msgs {
			if err := r.route(ctx, m); err != nil {
				return err
			}
		}
		if len(msgs) < 100 {
			return nil
		}
	}
}

// sweepUnrouted retries routing periodically in long-running mode (a routing
// step that failed after a commit, or a message resumed from a routing
// failure).
func (r *Runner) sweepUnrouted(ctx, bg context.Context) {
	t := time.NewTicker(5 * r.opts.IdleWait)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			began := r.sweepFails.began()
			if err := r.routeUnrouted(bg); err != nil {
				r.sweepFails.fail(r.log, err)
			} else {
				r.sweepFails.ok(r.log, began)
			}
		}
	}
}

var (
	_ component.OutcomeSink = sink{}
	_ component.OutcomeSink = (*decodingSink)(nil)
)
