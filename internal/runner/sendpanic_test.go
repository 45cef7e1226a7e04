package runner_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/fanout"
	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/runner"
	"github.com/bizpipe/bizpipe/internal/transport/file"
)

// poisonName is the message a panicky transport or the "poison" stage
// panics on.
const poisonName = "poison.xml"

// panicky is a send transport that panics at step where of the attempts
// of poisonName ("begin", "write", "written", "commit", "batch": in its
// batch's CommitBatch, in a goroutine of fanout.Each) and keeps, per
// message name, how many times each was committed. shares: its attempts
// share their syncs (component.SharedSync), so that their commits are
// deferred and run in goroutines of the runner's.
type panicky struct {
	where  string
	shares bool
	mu     sync.Mutex
	got    map[string]int
}

func (p *panicky) spec() *component.Spec {
	spec := senderSpec("panicky", "Panics on one message (a test transport).", p.begin)
	if p.shares {
		spec.Decode = func(*component.Body) component.Config { return sharingBegin(p.begin) }
	}
	return spec
}

func (p *panicky) begin(_ context.Context, d *component.Delivery, _ component.Header) (component.Attempt, error) {
	a := &panickyAttempt{p: p, name: d.Message.FileName}
	a.poison = a.name == poisonName
	if a.poison && p.where == "begin" {
		panic("panicky: a bug in Begin")
	}
	if p.where == "batch" {
		return panickyBatch{a}, nil
	}
	return a, nil
}

type panickyAttempt struct {
	p      *panicky
	name   string
	poison bool
}

func (a *panickyAttempt) Write(b []byte) (int, error) {
	if a.poison && a.p.where == "write" {
		panic("panicky: a bug in Write")
	}
	return len(b), nil
}

func (a *panickyAttempt) Written() (bool, error) {
	if a.poison && a.p.where == "written" {
		panic("panicky: a bug in Written")
	}
	return true, nil
}

func (a *panickyAttempt) Alone() {}

func (a *panickyAttempt) Commit(context.Context) (component.Result, error) {
	if a.poison && a.p.where == "commit" {
		panic("panicky: a bug in Commit")
	}
	a.p.mu.Lock()
	a.p.got[a.name]++
	a.p.mu.Unlock()
	return component.Result{}, nil
}

func (a *panickyAttempt) Abort() {}

// panickyBatch commits with the rest of its batch: CommitBatch commits
// each in a goroutine of fanout.Each, and panics there for poisonName.
type panickyBatch struct{ *panickyAttempt }

func (a panickyBatch) Batch() component.BatchCommitter { return panickyCommitter{a.p} }

type panickyCommitter struct{ p *panicky }

func (c panickyCommitter) CommitBatch(ctx context.Context, atts []component.Attempt) ([]component.Result, []error) {
	errs := make([]error, len(atts))
	fanout.Each(len(atts), 4, func(i int) {
		a := atts[i].(panickyBatch)
		if a.poison {
			panic("panicky: a bug in CommitBatch")
		}
		_, errs[i] = a.Commit(ctx)
	})
	return make([]component.Result, len(atts)), errs
}

// poisonStageSpec is a test encoder that passes its input through, but
// panics in its writer on an input that holds "BOOM", or once it took
// more than 1 MiB (an encrypted large message).
var poisonStageSpec = &component.Spec{
	Kind:    component.Encoder,
	Name:    "poison",
	Summary: "Passes the message through, but panics on BOOM (a test stage).",
	Decode:  func(*component.Body) component.Config { return poisonStageConfig{} },
}

type poisonStageConfig struct{}

func (poisonStageConfig) Needs() component.Needs { return component.Needs{} }
func (poisonStageConfig) NewStage(*component.StageEnv) (component.Stage, error) {
	return poisonStage{}, nil
}

type poisonStage struct{}

func (poisonStage) Start(in component.Header) (component.Encoding, error) {
	return poisonEncoding{in}, nil
}

type poisonEncoding struct{ h component.Header }

func (e poisonEncoding) Header() component.Header { return e.h }
func (e poisonEncoding) Wrap(dst io.Writer) io.WriteCloser {
	return &poisonWriter{dst: dst}
}

type poisonWriter struct {
	dst io.Writer
	n   int
}

func (w *poisonWriter) Write(p []byte) (int, error) {
	if w.n += len(p); w.n > 1<<20 || bytes.Contains(p, []byte("BOOM")) {
		panic("poison stage: a bug in Write")
	}
	return w.dst.Write(p)
}

func (*poisonWriter) Close() error { return nil }

// TestSendPanicSuspendsThatDelivery: a transport or an encoder stage that
// panics on one message (a bug that message finds) fails that delivery
// alone, suspended at once (retries are left, but a bug fails the same
// way every time) with a reason that names what panicked, and logs the
// panic with its stack once; the other deliveries of the batch are
// delivered exactly once, the run goes on, and no goroutine is left
// behind. Wherever the panic happens: in the pipeline's goroutine, in the
// goroutine of a commit the runner deferred, in one of a transport's
// batch commit, or in the goroutines of a large message's stages (smime:
// the transport's writes come from a goroutine of its own). Before, the
// panic ended the process, and at the restart every delivery in flight
// counted an interrupted attempt, the poison one ending it again.
func TestSendPanicSuspendsThatDelivery(t *testing.T) {
	for _, tc := range []struct {
		name, where string
		shares      bool
		pipeline    string // the port's, "" for none
		size        int    // of the poison message; small when 0
		// reason is what the poison delivery's reason says.
		reason string
		// batchSuspended: every delivery of the batch commit is
		// suspended, since which one found the bug is not known.
		batchSuspended bool
	}{
		{name: "begin", where: "begin", reason: `internal error in transport "panicky" (a bug in bizpipe, logged): panic: panicky: a bug in Begin`},
		{name: "write", where: "write", reason: `internal error in transport "panicky" (a bug in bizpipe, logged): panic: panicky: a bug in Write`},
		{name: "written", where: "written", shares: true, reason: `internal error in transport "panicky" (a bug in bizpipe, logged): panic: panicky: a bug in Written`},
		{name: "commit", where: "commit", reason: `internal error in transport "panicky" (a bug in bizpipe, logged): panic: panicky: a bug in Commit`},
		{name: "deferred commit", where: "commit", shares: true, reason: `internal error in transport "panicky" (a bug in bizpipe, logged): panic: panicky: a bug in Commit`},
		{name: "batch commit", where: "batch", shares: true, batchSuspended: true,
			reason: `internal error in transport "panicky" (a bug in bizpipe, logged): panic: panicky: a bug in CommitBatch`},
		{name: "stage", pipeline: "poison",
			reason: `pipeline "poison" stage 1 (poison): internal error (a bug in bizpipe, logged): panic: poison stage: a bug in Write`},
		{name: "large smime write", where: "write", pipeline: "sign_encrypt", size: 6 << 20,
			reason: `internal error in transport "panicky" (a bug in bizpipe, logged): panic: panicky: a bug in Write`},
		{name: "large stage after smime", pipeline: "smime_poison", size: 6 << 20,
			reason: `pipeline "smime_poison" stage 2 (poison): internal error (a bug in bizpipe, logged): panic: poison stage: a bug in Write`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPKI(t)
			port := `send_port "out" {
  host   = host.h
  filter = true
  retry {
    attempts = 3
    interval = "1ms"
  }
  transport "panicky" {}
`
			if tc.pipeline != "" {
				port += "  pipeline = pipeline." + tc.pipeline + "\n"
				if strings.HasPrefix(tc.pipeline, "s") {
					port += `  encryption_certificate = "{{.Partner}}"` + "\n"
				}
			}
			port += "}\n"
			dir := setup(t, p, common+port+`
pipeline "poison" {
  encoder "poison" {}
}
pipeline "smime_poison" {
  encoder "smime" {
    signature            = "clear"
    encrypt              = true
    encryption_algorithm = "aes256-gcm"
  }
  encoder "poison" {}
}
`, map[string]string{"Max": "64MiB"})
			pk := &panicky{where: tc.where, shares: tc.shares, got: map[string]int{}}
			var msgs []ledgerMsg
			for i := range 7 {
				m := ledgerMsg{"m" + string(rune('0'+i)) + ".xml", []byte("<order/>")}
				if i == 3 {
					m.name = poisonName
					m.body = []byte("<order>BOOM</order>")
					if tc.size > 0 {
						m.body = bytes.Repeat([]byte("BOOM"), tc.size/4)
					}
				}
				msgs = append(msgs, m)
			}
			var logs logBuffer
			var before int
			sum, box, err := runComponents(t, dir, []*component.Spec{pk.spec(), poisonStageSpec}, func(o *runner.Options) {
				o.Log = slog.New(slog.NewTextHandler(&logs, nil))
				before = runtime.NumGoroutine()
			}, msgs)
			if err != nil {
				t.Fatalf("RunOnce: %v", err)
			}
			statuses, err := msgbox.Collect(context.Background(), box, msgbox.Filter{})
			if err != nil {
				t.Fatal(err)
			}
			suspended := 0
			for _, m := range statuses {
				switch {
				case m.FileName == poisonName:
					if m.Status != msgbox.StatusSuspended || !strings.Contains(m.Reason, tc.reason) {
						t.Errorf("%s: %s (%s); want suspended, %q", m.FileName, m.Status, m.Reason, tc.reason)
					}
					suspended++
				case tc.batchSuspended:
					if m.Status != msgbox.StatusSuspended || !strings.Contains(m.Reason, tc.reason) {
						t.Errorf("%s: %s (%s); want suspended with the batch commit, %q", m.FileName, m.Status, m.Reason, tc.reason)
					}
					suspended++
				default:
					if m.Status != msgbox.StatusDelivered {
						t.Errorf("%s: %s (%s); want delivered", m.FileName, m.Status, m.Reason)
					}
				}
			}
			if sum.Suspended != suspended || sum.Retried != 0 || sum.Delivered != len(msgs)-suspended {
				t.Errorf("RunOnce: %+v; want %d suspended at once, the rest delivered", sum, suspended)
			}
			for _, m := range msgs {
				if n := pk.got[m.name]; n > 1 || n == 0 && m.name != poisonName && !tc.batchSuspended {
					t.Errorf("%s committed %d times", m.name, n)
				}
			}
			if n := strings.Count(logs.String(), "failed with an internal error"); n != 1 || !strings.Contains(logs.String(), "sendpanic_test.go") {
				t.Errorf("the panic is logged %d times, want once with its stack:\n%s", n, logs.String())
			}
			deadline := time.Now().Add(5 * time.Second)
			for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if n := runtime.NumGoroutine(); n > before {
				buf := make([]byte, 1<<20)
				t.Errorf("%d goroutines left running:\n%s", n-before, buf[:runtime.Stack(buf, true)])
			}
		})
	}
}

// panicFile is the file transport, but the Commit of poisonName panics
// once it has placed the file, while trip is set: a bug in what follows
// the placing.
func panicFileSpec(trip *atomic.Bool) *component.Spec {
	spec := *file.SendSpec
	spec.Name = "panicfile"
	spec.Decode = func(b *component.Body) component.Config {
		return panicFileConfig{file.SendSpec.Decode(b).(*file.SendConfig), trip}
	}
	return &spec
}

type panicFileConfig struct {
	*file.SendConfig
	trip *atomic.Bool
}

func (c panicFileConfig) NewSender(env *component.SendEnv) (component.Sender, error) {
	s, err := c.SendConfig.NewSender(env)
	if err != nil {
		return nil, err
	}
	return panicFileSender{s.(component.Stager), c.trip}, nil
}

// panicFileSender is a Stager, as the file transport's sender is, but
// commits each attempt on its own.
type panicFileSender struct {
	component.Stager
	trip *atomic.Bool
}

func (s panicFileSender) Begin(ctx context.Context, d *component.Delivery, h component.Header) (component.Attempt, error) {
	att, err := s.Stager.Begin(ctx, d, h)
	if err != nil || d.Message.FileName != poisonName || !s.trip.Load() {
		return att, err
	}
	return panicAfterCommit{att}, nil
}

type panicAfterCommit struct{ component.Attempt }

func (a panicAfterCommit) Commit(ctx context.Context) (component.Result, error) {
	if _, err := a.Attempt.Commit(ctx); err != nil {
		return component.Result{}, err
	}
	panic("panicfile: a bug after placing the file")
}

// TestSendPanicAfterPlacingDeliversOnce: a transport that panics once it
// placed the file suspends that delivery (the others of the batch are
// delivered), and its staged copy stays: resumed, once the bug is gone,
// it is delivered, the file placed exactly once, never a second copy.
func TestSendPanicAfterPlacingDeliversOnce(t *testing.T) {
	p := newPKI(t)
	dir := setup(t, p, common+`
send_port "out" {
  host   = host.h
  filter = true
  transport "panicfile" {
    path      = "out"
    file_name = "${message.file_name}"
  }
}
`, map[string]string{"Max": "64MiB"})
	var trip atomic.Bool
	trip.Store(true)
	msgs := []ledgerMsg{{"a.xml", []byte("<a/>")}, {poisonName, []byte("<poison/>")}, {"c.xml", []byte("<c/>")}}
	var opts runner.Options
	sum, box, err := runComponents(t, dir, []*component.Spec{panicFileSpec(&trip)}, func(o *runner.Options) {
		opts = *o
	}, msgs)
	if err != nil || sum.Delivered != 2 || sum.Suspended != 1 {
		t.Fatalf("RunOnce: %+v, %v; want 2 delivered, 1 suspended", sum, err)
	}
	statuses, err := msgbox.Collect(context.Background(), box, msgbox.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range statuses {
		if m.FileName != poisonName {
			continue
		}
		if m.Status != msgbox.StatusSuspended || !strings.Contains(m.Reason, `internal error in transport "panicfile"`) {
			t.Fatalf("%s: %s (%s); want suspended by the transport's internal error", m.FileName, m.Status, m.Reason)
		}
		if _, err := os.Stat(filepath.Join(dir, "out", poisonName)); err != nil {
			t.Fatalf("the panic came before the file was placed: %v", err)
		}
		trip.Store(false) // the bug is fixed
		if err := box.Resume(context.Background(), m.ID); err != nil {
			t.Fatal(err)
		}
	}
	r, err := runner.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if sum, err := r.RunOnce(context.Background()); err != nil || sum.Delivered != 1 {
		t.Fatalf("RunOnce after resume: %+v, %v; want the resumed delivery delivered", sum, err)
	}
	names := dirNames(t, filepath.Join(dir, "out"))
	if want := []string{"a.xml", "c.xml", poisonName}; !slices.Equal(names, want) {
		t.Errorf("out/ holds %v; want %v, each once", names, want)
	}
	got, err := os.ReadFile(filepath.Join(dir, "out", poisonName))
	if err != nil || !bytes.HasSuffix(got, []byte("<poison/>")) {
		t.Errorf("%s: %q, %v", poisonName, got, err)
	}
}
