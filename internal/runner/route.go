package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/bizpipe/bizpipe/internal/config/lang"
	"github.com/bizpipe/bizpipe/internal/config/model"
	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/receive"
)

// receiver is a receive location as the runner drives it.
type receiver interface {
	start(ctx context.Context) error // long-running mode
	poll(ctx context.Context) (int, error)
	// pending counts messages seen but not yet taken (files still being
	// written), so that a --once run waits for them to settle.
	pending() int
	stop(ctx context.Context)
}

// fileReceiver runs a file receive location.
type fileReceiver struct {
	f      *receive.File
	wg     sync.WaitGroup
	stopFn context.CancelFunc
}

func (fr *fileReceiver) start(ctx context.Context) error {
	ctx, fr.stopFn = context.WithCancel(ctx)
	fr.wg.Add(1)
	go func() {
		defer fr.wg.Done()
		fr.f.Run(ctx)
	}()
	return nil
}

func (fr *fileReceiver) poll(ctx context.Context) (int, error) { return fr.f.Poll(ctx) }

func (fr *fileReceiver) pending() int { return fr.f.Pending() }

func (fr *fileReceiver) stop(context.Context) {
	if fr.stopFn != nil {
		fr.stopFn()
	}
	fr.wg.Wait()
}

// httpReceiver runs an HTTP receive location. It has nothing "present" to
// pick up, so a --once run does not start it.
type httpReceiver struct {
	h    *receive.HTTP
	hide secrets // its listen address and path, when sensitive
}

func (hr *httpReceiver) start(ctx context.Context) error   { return hr.hide.err(hr.h.Start(ctx)) }
func (hr *httpReceiver) poll(context.Context) (int, error) { return 0, nil }
func (hr *httpReceiver) pending() int                      { return 0 }
func (hr *httpReceiver) stop(ctx context.Context)          { hr.h.Shutdown(ctx) }

// buildReceiver builds rl's receiver; an HTTP one takes its uploads' memory
// from uploads, which all of them share.
func (r *Runner) buildReceiver(rl *model.ReceiveLocation, uploads *receive.Budget) (receiver, error) {
	hide := r.hide
	switch t := rl.Transport; {
	case t == nil:
	case t.File != nil:
		hide = hide.withValues(t.File.Path)
	case t.HTTP != nil:
		hide = hide.withValues(t.HTTP.Listen, t.HTTP.Path)
	}
	rc, err := r.newReceiver(rl, hide, uploads)
	return rc, hide.err(err)
}

// newReceiver builds the receiver of rl, whose sensitive transport values
// are hide.
func (r *Runner) newReceiver(rl *model.ReceiveLocation, hide secrets, uploads *receive.Budget) (receiver, error) {
	sink := receive.SinkFunc(r.publish)
	log := hide.logger(r.opts.Log) // the receivers add receive_location themselves
	props := rl.Properties.V
	switch {
	case rl.Transport == nil:
		return nil, fmt.Errorf("no transport")
	case rl.Transport.File != nil:
		t := rl.Transport.File
		f, err := receive.NewFile(receive.FileOptions{
			Location:     rl.Name,
			Dir:          t.Path.V,
			Pattern:      t.Pattern.V,
			PollInterval: t.PollInterval.V,
			ContentType:  rl.ContentType.V,
			Properties:   props,
			Owner:        r.owner,
			SettleTime:   r.opts.FileSettle,
			// A claim twice as old as a lease belongs to a server that
			// died; its key survives the takeover, so this is safe even
			// if that server was only slow.
			TakeoverAfter: 2 * r.opts.Lease,
			// Stored with each message, so that displays hide those
			// values whatever the configuration says later.
			SensitiveProperties: rl.SensitiveProperties,
		}, sink, log)
		if err != nil {
			return nil, err
		}
		return &fileReceiver{f: f}, nil
	case rl.Transport.HTTP != nil:
		t := rl.Transport.HTTP
		h, err := receive.NewHTTP(receive.HTTPOptions{
			Location:    rl.Name,
			Listen:      t.Listen.V,
			Path:        t.Path.V,
			MaxBody:     t.MaxBody.V,
			ContentType: rl.ContentType.V,
			Properties:  props,
			Budget:      uploads,
			// As for a file location.
			SensitiveProperties: rl.SensitiveProperties,
		}, sink, log)
		if err != nil {
			return nil, err
		}
		return &httpReceiver{h: h, hide: hide}, nil
	}
	return nil, fmt.Errorf("unsupported transport %q", rl.Transport.Kind)
}

// pollReceivers makes one pass over every receive location. When nothing
// was published but files are still settling, it waits for them, a bounded
// number of times: --once picks up what is present, including a file whose
// writer has just finished.
func (r *Runner) pollReceivers(ctx context.Context) (int, error) {
	const maxSettleWaits = 20
	for wait := 0; ; wait++ {
		total, pending := 0, 0
		for _, rc := range r.recv {
			// A poll error (a missing directory, one file that failed) is
			// logged by the receiver; it must not stop the other locations.
			n, _ := rc.poll(ctx)
			total += n
			pending += rc.pending()
		}
		if ctx.Err() != nil {
			return total, ctx.Err()
		}
		if total > 0 || pending == 0 || wait == maxSettleWaits {
			return total, nil
		}
		select {
		case <-ctx.Done():
			return total, ctx.Err()
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

func (r *Runner) stopReceivers(ctx context.Context) {
	for _, rc := range r.recv {
		rc.stop(ctx)
	}
}

// publish is the receivers' sink: commit to the box and route, in one
// transaction. A duplicate stored before a crash may still be unrouted; it
// is routed now, and a problem then does not fail the publish (the source
// may be acknowledged: the message is safe); the unrouted sweep routes it
// later.
func (r *Runner) publish(ctx context.Context, in msgbox.Incoming, body io.Reader) (msgbox.Message, bool, error) {
	var routed *routing
	msg, dup, err := r.opts.Box.ReceiveRouted(ctx, in, body, func(m msgbox.Message) ([]string, string) {
		routed = r.decide(m) // the last call is the one committed
		return routed.ports, routed.reason
	})
	if err != nil {
		return msg, dup, err
	}
	log := r.log.With("message_id", msg.ID, "receive_location", in.ReceiveLocation)
	if dup {
		// A source a crash left unacknowledged, or a client repeating a
		// request with the same Idempotency-Key.
		log.Info("message already stored from this source; acknowledging it again")
	} else {
		attrs := []any{"size", msg.Size, "file_name", msg.FileName}
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
		r.routed(msg.ID, routed)
	case msg.Status == msgbox.StatusReceived:
		if err := r.route(ctx, msg); err != nil {
			log.Error("routing failed; the message stays received and is routed again later", "error", err)
		}
	}
	return msg, dup, nil
}

// routing is where a message goes: the matching send ports, or none and
// the reason of the routing failure.
type routing struct {
	ports  []string
	reason string
}

// decide evaluates every send port's filter for msg.
func (r *Runner) decide(msg msgbox.Message) *routing {
	val := messageValue(msg)
	var rt routing
	var problems []string
	for _, p := range r.routes {
		ok, err := lang.EvalFilter(r.opts.Config, p.decl, val)
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
		r.log.Info("message routed", "message_id", msg.ID, "send_ports", rt.ports)
	}
	r.routed(msg.ID, rt)
	return nil
}

// routed counts a recorded routing failure, or wakes the workers for the
// deliveries of a routing. (A routing is logged by its caller: publish
// says it in its "message received" line.)
func (r *Runner) routed(id string, rt *routing) {
	if len(rt.ports) == 0 {
		r.log.Warn("message suspended", "message_id", id, "reason", rt.reason)
		r.count(func(s *Summary) { s.Suspended++ })
		if m := r.opts.Metrics; m != nil {
			m.Suspended.WithLabelValues("").Inc()
		}
		return
	}
	r.notify()
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
			if err := r.routeUnrouted(bg); err != nil {
				r.log.Error("routing sweep failed", "error", err)
			}
		}
	}
}
