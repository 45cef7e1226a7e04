package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/metrics"
	"github.com/bizpipe/bizpipe/internal/msgbox"
)

// copyBuffer is the size of the pieces a body flows through the stages in.
const copyBuffer = 256 << 10

// stream runs one attempt with the body flowing from the box through the
// port's stages into the transport, never whole in memory. The failures
// are told apart by where they happen: reading the box or writing to the
// transport is retried; a stage failing is suspended at once, as it would
// fail the same way every time.
//
// When the transport's receipt comes later (an asynchronous AS2 MDN), the
// attempt reports delivered and sets *pending: recordBatch records the
// delivery as awaiting it instead.
//
// When the transport's commit shares its syncs with other commits
// (component.SharedSync) and says, once written, that this one is worth
// sharing, stream stops before the commit and sets later.commit to what
// makes it: processBatch commits a batch together. Otherwise it tells
// processBatch so (later.none) as soon as it knows: at Begin for a
// transport that does not share its syncs. Only while the runner holds
// fewer than Options.MaxDeferredCommits such commits: beyond, the commit
// is made at once, as a lone one.
func (r *Runner) stream(ctx context.Context, pt *port, d *msgbox.Delivery, msg msgbox.Message, sd *component.Delivery,
	pending **component.Pending, later *deferral) (msgbox.Outcome, bool) {
	suspend := func(err error) (msgbox.Outcome, bool) {
		pt.reportPanic(d, err)
		return msgbox.Outcome{State: msgbox.DeliverySuspended, Error: fmt.Sprintf("pipeline failed: %v", err)}, false
	}
	retry := func(err error) (msgbox.Outcome, bool) {
		o, _, _ := r.failed(pt, d, err)
		return o, false
	}
	h := component.Header{Fields: []component.Field{{Name: "Content-Type", Value: msg.ContentType}}}
	encs := make([]component.Encoding, len(pt.stages))
	for i, st := range pt.stages {
		err := guard("", func() (err error) {
			if encs[i], err = st.Start(h); err == nil {
				h = encs[i].Header()
			}
			return err
		})
		if err != nil {
			return suspend(pt.stageError(i, err))
		}
	}
	var rc io.ReadCloser
	if d.Body != nil {
		rc = io.NopCloser(bytes.NewReader(d.Body)) // read and checked with the claim
	} else {
		var err error
		if rc, err = r.opts.Box.Body(ctx, d.MessageID); err != nil {
			return retry(fmt.Errorf("opening body of message %s: %w", d.MessageID, err))
		}
	}
	body := newReadahead(rc, msg.Size)
	defer body.Close()

	var att component.Attempt
	if err := guard(pt.transport, func() (err error) {
		att, err = pt.sender.Begin(ctx, sd, h)
		return err
	}); err != nil {
		return retry(err)
	}
	// Every Abort below, of an attempt that failed already: a panic in
	// it is logged, and the outcome is the failure's.
	abort := func() { r.abort(pt, d, att) }
	if _, ok := att.(component.SharedSync); !ok || !isSharer(pt) {
		later.notDeferred()
	}
	sink := &errWriter{w: att, in: pt.transport}
	var content io.Writer // the content a ContentObserver digests
	if o, ok := att.(component.ContentObserver); ok {
		if err := guard(pt.transport, func() error { content = o.ContentWriter(); return nil }); err != nil {
			abort()
			return retry(err)
		}
		if len(encs) > 0 {
			t, ok := encs[0].(component.ContentTeer)
			if !ok {
				abort()
				return suspend(pt.stageError(0, errors.New("the stage cannot give the content that the transport's receipt digests (MIC)")))
			}
			if err := guard("", func() error { t.TeeContent(content); return nil }); err != nil {
				abort()
				return suspend(pt.stageError(0, err))
			}
			content = nil
		}
	}
	ws := make([]io.WriteCloser, len(encs))
	var w io.Writer = sink
	for i := len(encs) - 1; i >= 0; i-- {
		var sw io.WriteCloser
		if err := guard("", func() error { sw = encs[i].Wrap(w); return nil }); err != nil {
			// The stages wrapped already hold what only Close releases
			// (a goroutine).
			for _, o := range ws[i+1:] {
				o.Close()
			}
			abort()
			return suspend(pt.stageError(i, err))
		}
		ws[i] = &stageWriter{pt: pt, i: i, w: sw}
		w = ws[i]
	}
	if content != nil {
		// No stage: the body is the content.
		w = io.MultiWriter(w, content)
	}
	src := &errReader{r: body}
	start := time.Now()
	buf, _ := r.copyBufs.Get().(*[]byte)
	if buf == nil {
		b := make([]byte, copyBuffer)
		buf = &b
	}
	n, err := io.CopyBuffer(w, src, *buf)
	r.copyBufs.Put(buf)
	// Each stage's end (a signature, padding) flows into the next stage
	// before that one ends. Every stage is closed, also after a failure:
	// closing releases what it holds.
	for _, w := range ws {
		if cerr := w.Close(); err == nil {
			err = cerr
		}
	}
	switch {
	case src.err != nil:
		abort()
		return retry(fmt.Errorf("reading body of message %s: %w", d.MessageID, src.err))
	case sink.err != nil:
		abort()
		return retry(sink.err)
	case err != nil:
		abort()
		return suspend(err)
	case n != msg.Size:
		// The box checks what it returns; this guards against a box that
		// does not.
		abort()
		return retry(fmt.Errorf("body of message %s has %d bytes, %d stored", d.MessageID, n, msg.Size))
	}
	if m := r.opts.Metrics; m != nil {
		m.PipelineSeconds.WithLabelValues(d.Port).Observe(time.Since(start).Seconds())
	}
	if s, ok := att.(component.SharedSync); ok && isSharer(pt) && r.deferrals.take() {
		var share bool
		err := guard(pt.transport, func() (err error) {
			share, err = s.Written()
			return err
		})
		if err != nil || !share {
			r.deferrals.give()
		}
		if err != nil {
			abort()
			return retry(err)
		}
		if share {
			later.commit = deferredCommit{att: s, transport: pt.transport, done: func(res component.Result, err error, took time.Duration) (msgbox.Outcome, bool) {
				r.deferrals.give()
				return r.committed(pt, d, res, r.placedDespite(ctx, pt, d, sd, err), took, pending)
			}}
			return msgbox.Outcome{}, false
		}
	}
	later.notDeferred()
	return r.commit(ctx, pt, d, sd, att, pending)
}

// commit commits att, the attempt of delivery d whose entity is written,
// and turns its result into the outcome (see stream).
func (r *Runner) commit(ctx context.Context, pt *port, d *msgbox.Delivery, sd *component.Delivery, att component.Attempt,
	pending **component.Pending) (msgbox.Outcome, bool) {
	start := time.Now()
	var res component.Result
	err := guard(pt.transport, func() (err error) {
		res, err = att.Commit(ctx)
		return err
	})
	return r.committed(pt, d, res, r.placedDespite(ctx, pt, d, sd, err), time.Since(start), pending)
}

// placedDespite is err, the error of the commit of delivery d (sd to the
// transport), unless the commit panicked (a bug) and the transport, a
// Stager, placed the entity all the same: then nil, the delivery made.
// Redo tells, as after a crash: it places a staged copy, idempotently, or
// reports none. A panic in a batch's shared commit fails every attempt of
// the batch, which one found the bug unknown; this way those placed before
// it are delivered, not suspended with the rest.
func (r *Runner) placedDespite(ctx context.Context, pt *port, d *msgbox.Delivery, sd *component.Delivery, err error) error {
	var ie *component.InternalError
	st, ok := pt.sender.(component.Stager)
	if !ok || !errors.As(err, &ie) {
		return err
	}
	var done bool
	rerr := guard(pt.transport, func() (err error) {
		done, err = st.Redo(ctx, sd)
		return err
	})
	if rerr != nil || !done {
		pt.reportPanic(d, rerr)
		return err
	}
	pt.reportPanic(d, err)
	pt.deliveryLog(d, slog.Int64("delivery", d.ID)).Warn(
		"the commit failed with an internal error, but the file was placed: delivered", "error", pt.hide.text(err.Error()))
	return nil
}

// guard calls f, a panic in it (a bug in the component in names; "" when
// the caller names it) its error (component.Recover): the attempt fails
// and its delivery alone is suspended, instead of the process dying with
// every attempt in flight, and again at every retry of the message. A
// panic in a Stager's Commit after it placed the entity counts as
// delivered (placedDespite).
func guard(in string, f func() error) (err error) {
	defer component.Recover(&err, in)
	return f()
}

// abort aborts att, an attempt of delivery d that failed: a panic in
// Abort is logged, and the outcome stays the failure's.
func (r *Runner) abort(pt *port, d *msgbox.Delivery, att component.Attempt) {
	if err := guard(pt.transport, func() error { att.Abort(); return nil }); err != nil {
		pt.reportPanic(d, err)
	}
}

// reportPanic logs, with its stack, the panic that err holds (a
// component.InternalError), if it does and it was not logged yet: once,
// also when it fails several deliveries (a batch commit's).
func (pt *port) reportPanic(d *msgbox.Delivery, err error) {
	var ie *component.InternalError
	if !errors.As(err, &ie) || !ie.Report() {
		return
	}
	pt.deliveryLog(d, slog.Int64("delivery", d.ID)).Error(
		"a send transport or pipeline stage failed with an internal error (a bug in bizpipe: please report it, with this line)",
		"error", pt.hide.text(err.Error()), "stack", string(ie.Stack))
}

// committed turns the result of the commit of delivery d's attempt, which
// took took, into the outcome (see commit).
func (r *Runner) committed(pt *port, d *msgbox.Delivery, res component.Result, err error, took time.Duration,
	pending **component.Pending) (msgbox.Outcome, bool) {
	if m := r.opts.Metrics; m != nil {
		m.DeliverySeconds.WithLabelValues(d.Port).Observe(took.Seconds())
	}
	if err != nil {
		// A receipt that did not prove delivery (a negative MDN, one
		// that did not verify) is kept with the failure all the same.
		o, _, _ := r.failed(pt, d, err)
		outcome := metrics.ReceiptRejected
		if component.IsPermanent(err) {
			// The partner refused the message (suspended at once), not
			// a receipt that proved nothing on its last try.
			outcome = metrics.ReceiptNegative
		}
		o.Receipt = r.receipt(pt, d, res.Receipt, outcome)
		return o, false
	}
	if res.Pending != nil {
		*pending = res.Pending
		return msgbox.Outcome{State: msgbox.DeliveryDelivered}, true
	}
	return msgbox.Outcome{State: msgbox.DeliveryDelivered, Receipt: r.receipt(pt, d, res.Receipt, metrics.ReceiptPositive)}, true
}

// receipt is what the box keeps of a partner's receipt, nil for none: kept
// with the outcome, in the same transaction (language §11: `messages show`
// summarises it, `messages mdn` writes it out), counted by outcome; logged
// too, so that an operator following the log sees the partner's
// disposition.
func (r *Runner) receipt(pt *port, d *msgbox.Delivery, rc *component.Receipt, outcome string) *msgbox.DeliveryReceipt {
	r.countReceipt(pt, d, rc, outcome)
	return r.keptReceipt(pt, d, rc)
}

// countReceipt counts and logs rc, a receipt for delivery d, by outcome;
// nothing for none.
func (r *Runner) countReceipt(pt *port, d *msgbox.Delivery, rc *component.Receipt, outcome string) {
	if rc == nil {
		return
	}
	if m := r.opts.Metrics; m != nil {
		m.Receipts.WithLabelValues(d.Port, outcome).Inc()
	}
	pt.deliveryLog(d, slog.Int64("delivery", d.ID)).Info("receipt", "summary", rc.Summary)
}

// keptReceipt is what the box keeps of rc, a receipt for delivery d; nil
// for none.
func (r *Runner) keptReceipt(pt *port, d *msgbox.Delivery, rc *component.Receipt) *msgbox.DeliveryReceipt {
	if rc == nil {
		return nil
	}
	kept := &msgbox.DeliveryReceipt{ContentType: rc.ContentType, Summary: rc.Summary, Data: rc.Data}
	if len(rc.Data) > msgbox.MaxReceiptSize {
		// The box refuses it, and the outcome must still be recorded: its
		// summary is kept. The as2 transport never returns one this large
		// (as2.MaxMDNSize).
		kept.Data = nil
		pt.deliveryLog(d, slog.Int64("delivery", d.ID)).Warn("receipt too large to keep", "bytes", len(rc.Data))
	}
	return kept
}

// stageError names the stage that failed.
func (pt *port) stageError(i int, err error) error {
	p := pt.decl.Pipeline
	return &stageFailure{fmt.Errorf("pipeline %q stage %d (%s): %w", p.Name, i+1, p.Stages[i].Spec.Name, err)}
}

// stageFailure is an error a stage returned, naming the stage.
type stageFailure struct{ err error }

func (e *stageFailure) Error() string { return e.err.Error() }
func (e *stageFailure) Unwrap() error { return e.err }

// stageWriter names stage i in the errors its writer returns, unless they
// come from a later stage, which named itself.
type stageWriter struct {
	pt *port
	i  int
	w  io.WriteCloser
}

// Write and Close make a panic of the stage (a bug) its error: in the
// goroutine of the copy, or in a goroutine of a stage above that writes
// into this one.
func (s *stageWriter) Write(p []byte) (n int, err error) {
	defer func() { err = s.name(err) }()
	defer component.Recover(&err, "")
	return s.w.Write(p)
}

func (s *stageWriter) Close() (err error) {
	defer func() { err = s.name(err) }()
	defer component.Recover(&err, "")
	return s.w.Close()
}

func (s *stageWriter) name(err error) error {
	var named *stageFailure
	if err == nil || errors.As(err, &named) {
		return err
	}
	return s.pt.stageError(s.i, err)
}

// errWriter remembers the first error of the writer it wraps: the
// transport's, which a stage returns to the copy as its own. A panic of
// the transport (a bug in what in names) is its error: the stage that
// writes may do so in a goroutine of its own (smime's, for a large
// message), where nothing else could recover it.
type errWriter struct {
	w   io.Writer
	in  string
	err error
}

func (e *errWriter) Write(p []byte) (n int, err error) {
	if e.err != nil {
		return 0, e.err
	}
	defer func() { e.err = err }()
	defer component.Recover(&err, e.in)
	return e.w.Write(p)
}

// errReader remembers the first error, other than io.EOF, of the reader
// it wraps: the box's (a panic in it, a bug, included).
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (n int, err error) {
	defer func() {
		if err != nil && !errors.Is(err, io.EOF) {
			e.err = err
		}
	}()
	defer component.Recover(&err, "the message box")
	return e.r.Read(p)
}

// isSharer reports whether pt sends through a component.SyncSharer: only
// its SharedSync attempts leave their commits for later.
func isSharer(pt *port) bool {
	_, ok := pt.sender.(component.SyncSharer)
	return ok
}
