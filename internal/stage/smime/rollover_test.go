package smime

import (
	"bytes"
	"crypto/x509"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/testpki"
)

// fakeClock is a settable clock for Rollover.Now.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// encodeWith runs one message through st and returns the whole entity.
func encodeWith(t *testing.T, st component.Stage, body string) ([]byte, error) {
	t.Helper()
	enc, err := st.Start(component.Header{Fields: []component.Field{{Name: "Content-Type", Value: "text/plain"}}})
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	for _, f := range enc.Header().Fields {
		out.WriteString(f.Name + ": " + f.Value + "\r\n")
	}
	out.WriteString("\r\n")
	w := enc.Wrap(&out)
	if _, err := w.Write([]byte(body)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes(), nil
}

// TestStageRollover: a stage built with a rollover signs each message with
// the signer its clock chooses when the message starts: the group signer
// before At, the next one from At on; a message started before At and
// finished after it keeps its signer. Without the next identity, messages
// from At on fail with the reason given. Clear and opaque alike.
func TestStageRollover(t *testing.T) {
	p := newPKI(t)
	next := p.ca.Issue(t, testpki.Options{CommonName: "Contoso group signing 2027", Key: keys.Key(t, testpki.RSA2048, 3)})
	at := time.Date(2027, 1, 15, 0, 0, 0, 0, time.UTC)
	for _, sig := range []string{"clear", "opaque"} {
		t.Run(sig, func(t *testing.T) {
			o := DefaultOptions()
			o.Signature = sig
			clk := &fakeClock{now: at.Add(-time.Nanosecond)}
			keysOf := func(nextID *component.Identity, missing error) component.Keys {
				return component.Keys{
					Signer:   &component.Identity{Cert: p.group.Cert, Key: p.group.Key},
					Rollover: &component.Rollover{At: at, Signer: nextID, Missing: missing, Now: clk.Now},
				}
			}
			st, err := newStageWith(o, keysOf(&component.Identity{Cert: next.Cert, Key: next.Key}, nil), nil)
			if err != nil {
				t.Fatal(err)
			}
			signerOf := func(entity []byte) *x509.Certificate {
				t.Helper()
				d, err := Decode(entity, p.decodeOpts())
				if err != nil {
					t.Fatalf("decoding: %v", err)
				}
				if !d.Signed || d.Signer == nil {
					t.Fatal("not signed")
				}
				return d.Signer
			}
			before, err := encodeWith(t, st, "before")
			if err != nil {
				t.Fatal(err)
			}
			// Started before at, written after it.
			enc, err := st.Start(component.Header{Fields: []component.Field{{Name: "Content-Type", Value: "text/plain"}}})
			if err != nil {
				t.Fatal(err)
			}
			clk.set(at)
			var straddle bytes.Buffer
			for _, f := range enc.Header().Fields {
				straddle.WriteString(f.Name + ": " + f.Value + "\r\n")
			}
			straddle.WriteString("\r\n")
			w := enc.Wrap(&straddle)
			if _, err := w.Write([]byte("straddle")); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			after, err := encodeWith(t, st, "after")
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				name   string
				entity []byte
				want   *testpki.Cert
			}{{"before", before, p.group}, {"straddle", straddle.Bytes(), p.group}, {"after", after, next}} {
				if got := signerOf(c.entity); !got.Equal(c.want.Cert) {
					t.Errorf("%s: signed by %q, want %q", c.name, got.Subject, c.want.Cert.Subject)
				}
			}

			missing := errors.New("personal store \"p\" has no signing_rollover certificate")
			st, err = newStageWith(o, keysOf(nil, missing), nil)
			if err != nil {
				t.Fatal(err)
			}
			clk.set(at.Add(-time.Second))
			if _, err := encodeWith(t, st, "before"); err != nil {
				t.Errorf("before at without the next identity: %v", err)
			}
			clk.set(at)
			if _, err := encodeWith(t, st, "after"); !errors.Is(err, missing) {
				t.Errorf("after at without the next identity: %v, want %v", err, missing)
			}
		})
	}
}

// TestStageRolloverChecksNextAtBuild: a next identity that cannot sign
// (its key is not its certificate's) stops the build, not the first
// message after the switch.
func TestStageRolloverChecksNextAtBuild(t *testing.T) {
	p := newPKI(t)
	next := p.ca.Issue(t, testpki.Options{CommonName: "next", Key: keys.Key(t, testpki.RSA2048, 3)})
	k := component.Keys{
		Signer:   &component.Identity{Cert: p.group.Cert, Key: p.group.Key},
		Rollover: &component.Rollover{At: time.Now(), Signer: &component.Identity{Cert: next.Cert, Key: p.partner.Key}},
	}
	o := DefaultOptions()
	o.Signature = "clear"
	_, err := newStageWith(o, k, nil)
	if err == nil || !strings.Contains(err.Error(), "signing_rollover certificate") || !strings.Contains(err.Error(), "does not belong") {
		t.Fatalf("build with a mismatched next key: %v", err)
	}
}
