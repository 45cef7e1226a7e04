package runner_test

import (
	"bytes"
	"context"
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

// testDecoder is a decoder stage for tests, registered as name: decode
// is its Decode, with no keys needed.
func testDecoder(name, summary string, decode func(ctx context.Context, in component.Header, src io.Reader, dst io.Writer,
	now time.Time) (component.Decoded, error)) *component.Spec {
	c := &funcDecoder{decode}
	return &component.Spec{Kind: component.Decoder, Name: name, Summary: summary,
		Decode: func(*component.Body) component.Config { return c }}
}

// funcDecoder is testDecoder's config and stage.
type funcDecoder struct {
	decode func(context.Context, component.Header, io.Reader, io.Writer, time.Time) (component.Decoded, error)
}

func (*funcDecoder) Needs() component.Needs { return component.Needs{} }
func (f *funcDecoder) NewDecoder(*component.DecoderEnv) (component.DecodeStage, error) {
	return f, nil
}
func (f *funcDecoder) Decode(ctx context.Context, in component.Header, src io.Reader, dst io.Writer, now time.Time) (component.Decoded, error) {
	return f.decode(ctx, in, src, dst, now)
}

// boomSpec is a test decoder that passes its input through, but panics on
// an input that holds "BOOM": a bug that hostile input finds.
var boomSpec = testDecoder("boom", "Passes the message through, but panics on BOOM (a test stage).",
	func(_ context.Context, in component.Header, src io.Reader, dst io.Writer, _ time.Time) (component.Decoded, error) {
		b, err := io.ReadAll(src)
		if err != nil {
			return component.Decoded{}, err
		}
		if bytes.Contains(b, []byte("BOOM")) {
			panic("boom: a parser's bug") // as an index out of range would
		}
		_, err = dst.Write(b)
		return component.Decoded{Header: in}, err
	})

// TestDecoderPanicRefusesTheMessage: a decoder stage that panics on a
// message (a bug hostile input found) refuses that message, suspended with
// the reason, and logs the panic with its stack; the run goes on and
// delivers the others. Before, the panic ended the process, and a partner
// resending the message, or a restart decoding it again, ended it again.
func TestDecoderPanicRefusesTheMessage(t *testing.T) {
	p := newPKI(t)
	dir := setup(t, p, common+allToFiles+`
pipeline "boom" {
  decoder "boom" {}
}
receive_location "boom_in" {
  host     = host.h
  pipeline = pipeline.boom
  transport "file" { path = "in2" }
}
`, nil)
	if err := os.Mkdir(filepath.Join(dir, "in2"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"bad.edi": "ISA*BOOM~", "good.edi": "ISA*fine~"} {
		path := filepath.Join(dir, "in2", name)
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		old := time.Now().Add(-time.Minute)
		if err := os.Chtimes(path, old, old); err != nil {
			t.Fatal(err)
		}
	}
	reg := registry.Builtin()
	if err := reg.Register(boomSpec); err != nil {
		t.Fatal(err)
	}
	opts := testOptionsWith(t, dir, reg)
	var logs logBuffer
	opts.Log = slog.New(slog.NewTextHandler(&logs, nil))
	r, err := runner.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := r.RunOnce(context.Background())
	if err != nil || sum.Delivered != 1 {
		t.Fatalf("RunOnce: %+v, %v; want the good message delivered", sum, err)
	}
	msgs, err := msgbox.Collect(context.Background(), opts.Box, msgbox.Filter{})
	if err != nil || len(msgs) != 2 {
		t.Fatalf("messages: %d, %v; want 2", len(msgs), err)
	}
	for _, m := range msgs {
		switch m.FileName {
		case "bad.edi":
			if m.Status != msgbox.StatusSuspended || !strings.Contains(m.Reason, "internal error in the decoder") {
				t.Errorf("bad.edi: %s (%s); want suspended by the decoder's internal error", m.Status, m.Reason)
			}
		case "good.edi":
			if m.Status != msgbox.StatusDelivered {
				t.Errorf("good.edi: %s (%s); want delivered", m.Status, m.Reason)
			}
		}
	}
	if !strings.Contains(logs.String(), "a decoder stage failed with an internal error") || !strings.Contains(logs.String(), "decodepanic_test.go") {
		t.Errorf("the panic is not logged with its stack:\n%s", logs.String())
	}
	// Named as every other line of the location is: by location and
	// instance.
	for line := range strings.Lines(logs.String()) {
		if strings.Contains(line, "a decoder stage failed") &&
			(!strings.Contains(line, "receive_location=boom_in") || !strings.Contains(line, `instance="host \"h\" on server \"srv1\"`)) {
			t.Errorf("the panic's line does not name the location and its instance: %s", line)
		}
	}
}
