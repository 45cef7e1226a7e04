package runner_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/value"
	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/registry"
	"github.com/bizpipe/bizpipe/internal/runner"
)

// rotSpec is a test encoder that streams: it adds 1 to every byte and
// makes a MIME entity of type application/x-rot, or fails once it has
// taken fail_after bytes (0: never).
var rotSpec = &component.Spec{
	Kind:    component.Encoder,
	Name:    "rot",
	Summary: "Adds one to every byte (a test stage).",
	Attributes: []component.Attribute{
		{Name: "fail_after", Type: component.Int, Default: 0, Doc: "Fail after this many bytes."},
	},
	Decode: func(b *component.Body) component.Config { return &rotConfig{failAfter: b.Int("fail_after")} },
}

type rotConfig struct{ failAfter value.Value[int] }

func (c *rotConfig) Needs() component.Needs { return component.Needs{} }
func (c *rotConfig) NewStage(*component.StageEnv) (component.Stage, error) {
	return rotStage{int64(c.failAfter.V) - 1}, nil
}

type rotStage struct{ failAfter int64 }

func (s rotStage) Start(in component.Header) (component.Encoding, error) {
	return &rotEncoding{failAfter: s.failAfter, h: component.Header{MIME: true, Fields: []component.Field{
		{Name: "Content-Type", Value: "application/x-rot"}, {Name: "X-Was", Value: in.Get("Content-Type")}}}}, nil
}

type rotEncoding struct {
	failAfter int64
	h         component.Header
}

func (e *rotEncoding) Header() component.Header { return e.h }
func (e *rotEncoding) Wrap(dst io.Writer) io.WriteCloser {
	return &rotWriter{dst: dst, left: e.failAfter}
}

type rotWriter struct {
	dst  io.Writer
	left int64
	buf  []byte
}

func (w *rotWriter) Write(p []byte) (int, error) {
	if w.left >= 0 {
		if int64(len(p)) > w.left {
			return 0, errors.New("rot gave up")
		}
		w.left -= int64(len(p))
	}
	w.buf = append(w.buf[:0], p...)
	for i := range w.buf {
		w.buf[i]++
	}
	return w.dst.Write(w.buf)
}

func (w *rotWriter) Close() error { return nil }

func rot(b []byte) []byte {
	out := bytes.Clone(b)
	for i := range out {
		out[i]++
	}
	return out
}

// streamScene is a configuration whose port runs the rot stage.
func streamScene(t *testing.T, failAfter int) runner.Options {
	t.Helper()
	p := newPKI(t)
	dir := setup(t, p, common+fmt.Sprintf(`
pipeline "rot" {
  encoder "rot" { fail_after = %d }
}
send_port "out" {
  host     = host.h
  pipeline = pipeline.rot
  filter   = true
  transport "file" {
    path      = "out"
    file_name = "${message.file_name}.rot"
  }
}
`, failAfter), map[string]string{"Max": "64MiB"})
	reg := registry.Builtin()
	if err := reg.Register(rotSpec); err != nil {
		t.Fatal(err)
	}
	return testOptionsWith(t, dir, reg)
}

// TestStreamingStage checks that a body far larger than the pieces it
// flows in (and than the readahead threshold) goes from the box through a
// stage into the file transport exactly, headers first.
func TestStreamingStage(t *testing.T) {
	opts := streamScene(t, 0)
	dir := filepath.Dir(filepath.Dir(opts.Box.(interface{ Path() string }).Path()))
	body := binaryBody(9<<20 + 13)
	put(t, dir, "big.edi", body)
	r, err := runner.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := r.RunOnce(context.Background())
	if err != nil || sum.Delivered != 1 {
		t.Fatalf("RunOnce: %+v, %v; want 1 delivered", sum, err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "out", "big.edi.rot"))
	if err != nil {
		t.Fatal(err)
	}
	want := append([]byte("Content-Type: application/x-rot\r\nX-Was: application/edi-x12\r\n\r\n"), rot(body)...)
	if !bytes.Equal(got, want) {
		t.Fatalf("delivered %d bytes, want %d (header and rotated body)", len(got), len(want))
	}
}

// TestStreamingFailures checks how a streaming attempt's failures are
// told apart: a stage that fails halfway suspends the delivery at once (it
// would fail the same way again), a body the box cannot read is retried;
// neither leaves anything in the output directory.
func TestStreamingFailures(t *testing.T) {
	tests := []struct {
		name      string
		failAfter int
		boxFails  bool
		state     msgbox.DeliveryState
		reason    string
	}{
		{"stage fails", 5 << 20, false, msgbox.DeliverySuspended, `pipeline failed: pipeline "rot" stage 1 (rot): rot gave up`},
		{"box read fails", 0, true, msgbox.DeliveryRetrying, "reading body of message"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := streamScene(t, tt.failAfter)
			dir := filepath.Dir(filepath.Dir(opts.Box.(interface{ Path() string }).Path()))
			if tt.boxFails {
				opts.Box = failingBody{Box: opts.Box, after: 6 << 20}
			}
			put(t, dir, "big.edi", binaryBody(9<<20))
			r, err := runner.New(opts)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.RunOnce(context.Background()); err != nil {
				t.Fatalf("RunOnce: %v", err)
			}
			msgs, err := msgbox.Collect(context.Background(), opts.Box, msgbox.Filter{})
			if err != nil || len(msgs) != 1 {
				t.Fatalf("List: %d messages, %v", len(msgs), err)
			}
			det, err := opts.Box.Get(context.Background(), msgs[0].ID)
			if err != nil {
				t.Fatal(err)
			}
			dl := det.Deliveries[0]
			if dl.State != tt.state || !strings.Contains(dl.LastError, tt.reason) {
				t.Fatalf("delivery %s: %q; want %s with %q", dl.State, dl.LastError, tt.state, tt.reason)
			}
			if left, _ := os.ReadDir(filepath.Join(dir, "out")); len(left) != 0 {
				t.Fatalf("output directory holds %d entries, want none", len(left))
			}
		})
	}
}

// failingBody is a box whose bodies fail after some bytes.
type failingBody struct {
	msgbox.Box
	after int64
}

func (f failingBody) Body(ctx context.Context, id string) (io.ReadCloser, error) {
	rc, err := f.Box.Body(ctx, id)
	if err != nil {
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{io.MultiReader(io.LimitReader(rc, f.after), errReader{}), rc}, nil
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("disk I/O error") }
