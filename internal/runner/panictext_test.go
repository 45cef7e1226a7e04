package runner_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/registry"
	"github.com/bizpipe/bizpipe/internal/runner"
)

// leakyBody is a partner's message that the leaky stages panic with: a
// confidential order, a terminal escape and a forged log line in 4 KiB.
var leakyBody = []byte("<order>CONFIDENTIAL-ORDER-4711\x1b[2J\nlevel=ERROR msg=forged</order>" + strings.Repeat(" ", 4096))

// leakyDecoderSpec is a test decoder that panics with the bytes it reads,
// as a parser's bug may (panic(fmt.Sprintf("bad segment %s", seg))).
var leakyDecoderSpec = testDecoder("leaky", "Panics with the message's bytes (a test stage).",
	func(_ context.Context, _ component.Header, src io.Reader, _ io.Writer, _ time.Time) (component.Decoded, error) {
		b, err := io.ReadAll(src)
		if err != nil {
			return component.Decoded{}, err
		}
		panic("leaky: bad segment " + string(b))
	})

// leakyEncoderSpec is a test encoder whose writer panics with an error
// that holds the bytes written to it.
var leakyEncoderSpec = &component.Spec{
	Kind:    component.Encoder,
	Name:    "leaky",
	Summary: "Panics with the message's bytes (a test stage).",
	Decode:  func(*component.Body) component.Config { return leakyEncoderConfig{} },
}

type leakyEncoderConfig struct{}

func (leakyEncoderConfig) Needs() component.Needs { return component.Needs{} }
func (leakyEncoderConfig) NewStage(*component.StageEnv) (component.Stage, error) {
	return leakyEncoder{}, nil
}

type leakyEncoder struct{}

func (leakyEncoder) Start(in component.Header) (component.Encoding, error) {
	return leakyEncoding{in}, nil
}

type leakyEncoding struct{ h component.Header }

func (e leakyEncoding) Header() component.Header    { return e.h }
func (leakyEncoding) Wrap(io.Writer) io.WriteCloser { return leakyWriter{} }

type leakyWriter struct{}

func (leakyWriter) Write(p []byte) (int, error) { panic(errors.New("leaky: bad segment " + string(p))) }
func (leakyWriter) Close() error                { return nil }

// TestPanicWithMessageBytesIsNotShown: a stage that panics with a value
// holding the message's bytes (a parser's bug quoting what it choked on)
// fails that message as any panic does, but neither the log nor the
// reason the message is suspended with shows those bytes: only the
// value's type and length, the stack saying where. Before, the whole
// value, a partner's data of any size, went to the log and the box.
func TestPanicWithMessageBytesIsNotShown(t *testing.T) {
	for _, tc := range []struct {
		name string
		// run runs a configuration whose stage panics on leakyBody,
		// logging to log, and returns the box.
		run func(t *testing.T, log *slog.Logger) msgbox.Box
		// shown is what the reason says of the panic value.
		shown string
	}{
		{name: "decoder", run: runLeakyDecoder, shown: "(a bug in bizpipe, logged): a string, not shown (4180 bytes as text"},
		{name: "encoder", run: runLeakyEncoder, shown: "panic: a *errors.errorString, not shown (4180 bytes as text"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs logBuffer
			box := tc.run(t, slog.New(slog.NewJSONHandler(&logs, nil)))
			shown := everything(t, box)
			if !strings.Contains(shown, tc.shown) {
				t.Errorf("the box shows:\n%s\nwant the panic value as %q", shown, tc.shown)
			}
			if !strings.Contains(logs.String(), "failed with an internal error") || !strings.Contains(logs.String(), "panictext_test.go") {
				t.Errorf("the panic is not logged with its stack:\n%s", logs.String())
			}
			for what, s := range map[string]string{"the log": logs.String(), "the box": shown} {
				for _, secret := range []string{"CONFIDENTIAL-ORDER-4711", "forged", `\u001b[2J`, "\x1b"} {
					if strings.Contains(s, secret) {
						t.Errorf("%s shows the message's %q:\n%s", what, secret, s)
					}
				}
			}
		})
	}
}

// runLeakyDecoder receives leakyBody at a location whose pipeline has the
// leaky decoder.
func runLeakyDecoder(t *testing.T, log *slog.Logger) msgbox.Box {
	p := newPKI(t)
	dir := setup(t, p, common+allToFiles+`
pipeline "leaky" {
  decoder "leaky" {}
}
receive_location "leaky_in" {
  host     = host.h
  pipeline = pipeline.leaky
  transport "file" { path = "in2" }
}
`, nil)
	path := filepath.Join(dir, "in2", "order.xml")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, leakyBody, 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Minute)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	reg := registry.Builtin()
	if err := reg.Register(leakyDecoderSpec); err != nil {
		t.Fatal(err)
	}
	opts := testOptionsWith(t, dir, reg)
	opts.Log = log
	r, err := runner.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if sum, err := r.RunOnce(context.Background()); err != nil || sum.Suspended != 1 {
		t.Fatalf("RunOnce: %+v, %v; want the message suspended", sum, err)
	}
	return opts.Box
}

// runLeakyEncoder delivers leakyBody through a port whose pipeline has
// the leaky encoder.
func runLeakyEncoder(t *testing.T, log *slog.Logger) msgbox.Box {
	p := newPKI(t)
	dir := setup(t, p, common+`
pipeline "leaky" {
  encoder "leaky" {}
}
send_port "out" {
  host     = host.h
  filter   = true
  pipeline = pipeline.leaky
  transport "file" { path = "out" }
}
`, nil)
	sum, box, err := runComponents(t, dir, []*component.Spec{leakyEncoderSpec}, func(o *runner.Options) { o.Log = log },
		[]ledgerMsg{{"order.xml", bytes.Clone(leakyBody)}})
	if err != nil || sum.Suspended != 1 {
		t.Fatalf("RunOnce: %+v, %v; want the delivery suspended", sum, err)
	}
	return box
}
