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
	"github.com/bizpipe/bizpipe/internal/syncbuf"
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

// panicFileSpec is the file transport, but while trip is set the commit
// of poisonName panics (a bug), at where: "commit", once its Commit has
// placed the file (the attempt commits on its own); "batch after", once
// the batch's shared commit placed every file of it; "batch before", in
// the shared commit before it placed any.
func panicFileSpec(trip *atomic.Bool, where string) *component.Spec {
	spec := *file.SendSpec
	spec.Name = "panicfile"
	spec.Decode = func(b *component.Body) component.Config {
		return panicFileConfig{file.SendSpec.Decode(b).(*file.SendConfig), trip, where}
	}
	return &spec
}

type panicFileConfig struct {
	*file.SendConfig
	trip  *atomic.Bool
	where string
}

func (c panicFileConfig) NewSender(env *component.SendEnv) (component.Sender, error) {
	s, err := c.SendConfig.NewSender(env)
	if err != nil {
		return nil, err
	}
	return panicFileSender{s.(component.Stager), c.trip, c.where}, nil
}

// panicFileSender is a Stager and a SyncSharer, as the file transport's
// sender is.
type panicFileSender struct {
	component.Stager
	trip  *atomic.Bool
	where string
}

func (panicFileSender) SharesSyncs() {}

func (s panicFileSender) Begin(ctx context.Context, d *component.Delivery, h component.Header) (component.Attempt, error) {
	att, err := s.Stager.Begin(ctx, d, h)
	if err != nil || !s.trip.Load() {
		return att, err
	}
	if s.where != "commit" {
		return panicBatchAttempt{att.(component.BatchCommit), d.Message.FileName == poisonName, s.where}, nil
	}
	if d.Message.FileName != poisonName {
		return att, nil
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

// panicBatchAttempt is a file attempt whose batch commit panics when the
// batch holds poisonName, at where.
type panicBatchAttempt struct {
	component.BatchCommit
	poison bool
	where  string
}

func (a panicBatchAttempt) Batch() component.BatchCommitter {
	return panicCommitter{a.BatchCommit.Batch(), a.where}
}

type panicCommitter struct {
	component.BatchCommitter
	where string
}

func (c panicCommitter) CommitBatch(ctx context.Context, atts []component.Attempt) ([]component.Result, []error) {
	inner := make([]component.Attempt, len(atts))
	poison := false
	for i, a := range atts {
		inner[i] = a.(panicBatchAttempt).BatchCommit
		poison = poison || a.(panicBatchAttempt).poison
	}
	if poison && c.where == "batch before" {
		panic("panicfile: a bug before placing the batch")
	}
	res, errs := c.BatchCommitter.CommitBatch(ctx, inner)
	if poison {
		panic("panicfile: a bug after placing the batch")
	}
	return res, errs
}

// TestSendPanicAfterPlacingDeliversOnce: a commit that panics (a bug)
// once the file is placed delivers it all the same, placed exactly once:
// the runner asks the transport, as after a crash, whether its staged copy
// was placed. A panic in the shared commit of a batch fails every attempt
// of it, which one found the bug unknown: those it had placed are
// delivered, the others suspended, and once resumed (the bug gone) each
// is delivered, never a second copy. Before, every attempt of a batch
// whose commit panicked was suspended, placed or not, and so was a lone
// one placed before its panic.
func TestSendPanicAfterPlacingDeliversOnce(t *testing.T) {
	for _, tc := range []struct {
		where                string
		delivered, suspended int
	}{
		{where: "commit", delivered: 3},
		{where: "batch after", delivered: 3},
		{where: "batch before", suspended: 3},
	} {
		t.Run(tc.where, func(t *testing.T) {
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
			var logs syncbuf.Buffer
			sum, box, err := runComponents(t, dir, []*component.Spec{panicFileSpec(&trip, tc.where)}, func(o *runner.Options) {
				o.Log = slog.New(slog.NewJSONHandler(&logs, nil))
				opts = *o
			}, msgs)
			if err != nil || sum.Delivered != tc.delivered || sum.Suspended != tc.suspended {
				t.Fatalf("RunOnce: %+v, %v; want %d delivered, %d suspended", sum, err, tc.delivered, tc.suspended)
			}
			if n := strings.Count(logs.String(), `"stack":`); n != 1 {
				t.Errorf("the panic's stack logged %d times; want once:\n%s", n, logs.String())
			}
			statuses, err := msgbox.Collect(context.Background(), box, msgbox.Filter{})
			if err != nil {
				t.Fatal(err)
			}
			trip.Store(false) // the bug is fixed
			for _, m := range statuses {
				if m.Status != msgbox.StatusSuspended {
					continue
				}
				if !strings.Contains(m.Reason, `internal error in transport "panicfile"`) {
					t.Fatalf("%s: %s (%s); want suspended by the transport's internal error", m.FileName, m.Status, m.Reason)
				}
				if _, err := os.Stat(filepath.Join(dir, "out", m.FileName)); err == nil {
					t.Fatalf("%s is suspended, but placed", m.FileName)
				}
				if err := box.Resume(context.Background(), m.ID); err != nil {
					t.Fatal(err)
				}
			}
			r, err := runner.New(opts)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if sum, err := r.RunOnce(context.Background()); err != nil || sum.Delivered != tc.suspended {
				t.Fatalf("RunOnce after resume: %+v, %v; want the %d resumed deliveries delivered", sum, err, tc.suspended)
			}
			names := dirNames(t, filepath.Join(dir, "out"))
			if want := []string{"a.xml", "c.xml", poisonName}; !slices.Equal(names, want) {
				t.Errorf("out/ holds %v; want %v, each once", names, want)
			}
			for _, m := range msgs {
				got, err := os.ReadFile(filepath.Join(dir, "out", m.name))
				if err != nil || !bytes.HasSuffix(got, m.body) {
					t.Errorf("%s: %q, %v", m.name, got, err)
				}
			}
		})
	}
}
