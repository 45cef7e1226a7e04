package component_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/config/lang"
	"github.com/bizpipe/bizpipe/internal/config/model"
	"github.com/bizpipe/bizpipe/internal/config/value"
	"github.com/bizpipe/bizpipe/internal/docgen"
	"github.com/bizpipe/bizpipe/internal/msgbox/sqlitebox"
	"github.com/bizpipe/bizpipe/internal/registry"
	"github.com/bizpipe/bizpipe/internal/runner"
	"github.com/bizpipe/bizpipe/internal/testpki"
	"github.com/bizpipe/bizpipe/internal/validate/rules"
)

// This file proves the component architecture's promise: a transport
// defined here, in a test, and registered in one line, reaches the language
// (its schema and its diagnostics), the validation rules (its key needs) and
// the runner, without a change to any other package.

// memory is a send transport that keeps what it delivers in a map. With
// sign = true it signs each delivery with the group signing key, so that
// it needs the signing identity like a signing pipeline does.
type memory struct {
	mu   sync.Mutex
	got  map[string][]byte // "bucket/message id" → entity body
	sigs map[string][]byte // same key → signature over the body's SHA-256
	// life records the senders' lifecycle: "provision b", "close b".
	life []string
}

func (m *memory) spec() *component.Spec {
	return &component.Spec{
		Kind:    component.SendTransport,
		Name:    "memory",
		Summary: "Keeps each delivery in memory (a test transport).",
		Attributes: []component.Attribute{
			{Name: "bucket", Type: component.String, Required: true, Doc: "Where deliveries go."},
			{Name: "sign", Type: component.Bool, Default: false, Doc: "Sign each delivery with the group signing key."},
		},
		Decode: func(b *component.Body) component.Config {
			c := &memoryConfig{m: m, bucket: b.String("bucket"), sign: b.Bool("sign")}
			if c.bucket.Known && strings.Contains(c.bucket.V, "/") {
				b.Errorf(c.bucket.Range, "Invalid bucket", "The bucket of %s must not contain a slash.", b.What)
			}
			return c
		},
	}
}

type memoryConfig struct {
	m      *memory
	bucket value.Value[string]
	sign   value.Value[bool]
}

func (c *memoryConfig) Needs() component.Needs {
	switch {
	case !c.sign.Known:
		return component.Needs{Signing: component.MaybeNeeded}
	case c.sign.V:
		return component.Needs{Signing: component.Needed}
	}
	return component.Needs{}
}

func (c *memoryConfig) NewSender(env *component.SendEnv) (component.Sender, error) {
	if c.sign.V && env.Keys.Signer == nil {
		return nil, fmt.Errorf("memory transport of send port %q signs but got no signing identity", env.Port)
	}
	return &memorySender{c: c, signer: env.Keys.Signer}, nil
}

type memorySender struct {
	c      *memoryConfig
	signer *component.Identity
	ready  bool // provisioned
}

// The lifecycle the runner gives every component that has one.
var (
	_ component.Provisioner = (*memorySender)(nil)
	_ io.Closer             = (*memorySender)(nil)
)

// Provision fails for the bucket "unreachable", as a connection that
// cannot be opened would.
func (s *memorySender) Provision(context.Context) error {
	s.c.m.record("provision " + s.c.bucket.V)
	if s.c.bucket.V == "unreachable" {
		return errors.New("bucket unreachable")
	}
	s.ready = true
	return nil
}

func (s *memorySender) Close() error {
	s.c.m.record("close " + s.c.bucket.V)
	return nil
}

func (m *memory) record(event string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.life = append(m.life, event)
}

func (s *memorySender) Begin(_ context.Context, d *component.Delivery, _ component.Header) (component.Attempt, error) {
	if !s.ready {
		return nil, errors.New("memory transport used before it was provisioned")
	}
	return &memoryAttempt{s: s, key: s.c.bucket.V + "/" + d.Message.ID}, nil
}

type memoryAttempt struct {
	s   *memorySender
	key string
	buf bytes.Buffer
}

func (a *memoryAttempt) Write(p []byte) (int, error) { return a.buf.Write(p) }
func (a *memoryAttempt) Abort()                      {}

func (a *memoryAttempt) Commit(context.Context) (component.Result, error) {
	var sig []byte
	if a.s.signer != nil {
		sum := sha256.Sum256(a.buf.Bytes())
		var err error
		if sig, err = a.s.signer.Key.Sign(rand.Reader, sum[:], crypto.SHA256); err != nil {
			return component.Result{}, err
		}
	}
	m := a.s.c.m
	m.mu.Lock()
	defer m.mu.Unlock()
	m.got[a.key] = bytes.Clone(a.buf.Bytes())
	m.sigs[a.key] = sig
	return component.Result{}, nil
}

// scene is a configuration directory with a signing identity in the
// personal store (with or without its key) and a file receive location.
func scene(t *testing.T, withKey bool, transport string) string {
	t.Helper()
	dir := t.TempDir()
	signer := testpki.SelfSigned(t, testpki.Options{CommonName: "Contoso Signing", KeyType: testpki.ECDSAP256})
	pem := signer.CertPEM()
	if withKey {
		pem = append(pem, signer.KeyPEM()...)
	}
	testpki.WriteFile(t, filepath.Join(dir, "personal"), "signing.pem", pem)
	if err := os.MkdirAll(filepath.Join(dir, "in"), 0o755); err != nil {
		t.Fatal(err)
	}
	testpki.WriteFile(t, dir, "bizpipe.hcl", []byte(fmt.Sprintf(`
group "g" { signing_certificate = %q }
certificate_store "personal" { path = "personal" }
service_account "svc" { personal_store = certificate_store.personal }
server "srv1" {}
host "h" {
  instance {
    server          = server.srv1
    service_account = service_account.svc
  }
}
receive_location "in" {
  host = host.h
  transport "file" { path = "in" }
}
send_port "keep" {
  host   = host.h
  filter = true
  %s
}
`, signer.SHA1(), transport)))
	return dir
}

func load(t *testing.T, reg *component.Registry, dir string, mode lang.Mode) (*model.Config, *rules.Result, hcl.Diagnostics) {
	t.Helper()
	files, err := lang.FindFiles([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	cfg, diags := lang.Load(files, lang.Options{Mode: mode, Registry: reg, LookupEnv: func(string) (string, bool) { return "", false }})
	if diags.HasErrors() {
		return cfg, nil, diags
	}
	res, more := rules.Check(cfg, rules.Options{})
	return cfg, res, append(diags, more...)
}

func codes(diags hcl.Diagnostics) []string {
	var out []string
	for _, d := range diags {
		out = append(out, string(diag.CodeOf(d))+" "+d.Summary)
	}
	return out
}

func TestComponentDefinedInATest(t *testing.T) {
	m := &memory{got: map[string][]byte{}, sigs: map[string][]byte{}}
	reg := registry.Builtin()
	if err := reg.Register(m.spec()); err != nil { // the one registration line
		t.Fatal(err)
	}

	t.Run("unknown without registration", func(t *testing.T) {
		dir := scene(t, true, `transport "memory" { bucket = "b" }`)
		_, _, diags := load(t, registry.Builtin(), dir, lang.ModeValidate)
		if got := codes(diags); len(got) != 1 || got[0] != "BP1004 Unknown send transport" {
			t.Fatalf("diagnostics %q, want one BP1004 Unknown send transport", got)
		}
		if !strings.Contains(diags[0].Detail, `"file" or "http"`) {
			t.Errorf("detail does not list the known transports: %s", diags[0].Detail)
		}
	})

	t.Run("schema diagnostics", func(t *testing.T) {
		for _, tc := range []struct {
			transport, want string
		}{
			{`transport "memory" {}`, `BP1004 Missing required argument`},
			{`transport "memory" {
    bucket = "b"
    colour = "red"
  }`, `BP1004 Unsupported argument`},
			{`transport "memory" {
    bucket = "b"
    sign   = "often"
  }`, `BP1004 Invalid value for sign`},
			{`transport "memory" { bucket = "a/b" }`, `BP1004 Invalid bucket`},
		} {
			dir := scene(t, true, tc.transport)
			_, _, diags := load(t, reg, dir, lang.ModeValidate)
			if got := codes(diags); len(got) != 1 || got[0] != tc.want {
				t.Errorf("%s: diagnostics %q, want %q", tc.transport, got, tc.want)
			}
		}
	})

	t.Run("key needs reach the rules", func(t *testing.T) {
		dir := scene(t, false, `transport "memory" {
    bucket = "b"
    sign   = true
  }`)
		_, _, diags := load(t, reg, dir, lang.ModeValidate)
		got := codes(diags)
		if len(got) != 1 || got[0] != "BP3002 Signing certificate has no private key" {
			t.Fatalf("diagnostics %q, want BP3002 for the instance", got)
		}
		if d := diags[0].Detail; !strings.Contains(d, `Send port "keep" signs with transport "memory"`) || !strings.Contains(d, `host "h" on server "srv1"`) {
			t.Errorf("detail does not name the port, the transport and the instance: %s", d)
		}
		// Without sign, nothing needs the key: no false positive.
		dir = scene(t, false, `transport "memory" { bucket = "b" }`)
		if _, _, diags := load(t, reg, dir, lang.ModeValidate); len(diags) != 0 {
			t.Errorf("diagnostics %q for a transport that does not sign", codes(diags))
		}
	})

	t.Run("the reference documents it", func(t *testing.T) {
		docs, err := docgen.Generate(reg, nil)
		if err != nil {
			t.Fatal(err)
		}
		ref := string(docs["components.md"])
		for _, want := range []string{"memory", "Keeps each delivery in memory", "`bucket`", "Where deliveries go."} {
			if !strings.Contains(ref, want) {
				t.Errorf("components.md does not contain %q", want)
			}
		}
	})

	t.Run("run delivers through it with its keys", func(t *testing.T) {
		dir := scene(t, true, `transport "memory" {
    bucket = "b"
    sign   = true
  }`)
		cfg, res, diags := load(t, reg, dir, lang.ModeRun)
		if len(diags) != 0 {
			t.Fatalf("diagnostics: %q", codes(diags))
		}
		box, err := sqlitebox.Open(filepath.Join(dir, "data", "box.db"), sqlitebox.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer box.Close()
		body := []byte("ISA*00*an order~")
		in := filepath.Join(dir, "in", "order.edi")
		if err := os.WriteFile(in, body, 0o644); err != nil {
			t.Fatal(err)
		}
		old := time.Now().Add(-time.Minute)
		if err := os.Chtimes(in, old, old); err != nil {
			t.Fatal(err)
		}
		m.record("start")
		r, err := runner.New(runner.Options{Config: cfg, Checked: res, Server: "srv1", Box: box,
			Workers: 2, IdleWait: 20 * time.Millisecond, FileSettle: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		sum, err := r.RunOnce(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if sum.Received != 1 || sum.Delivered != 1 {
			t.Fatalf("summary %+v, want 1 received and delivered", sum)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		if want := []string{"start", "provision b", "close b"}; !slices.Equal(m.life[len(m.life)-3:], want) {
			t.Errorf("the sender's lifecycle: %q, want %q", m.life, want)
		}
		if len(m.got) != 1 {
			t.Fatalf("memory holds %d deliveries, want 1", len(m.got))
		}
		for key, got := range m.got {
			if !strings.HasPrefix(key, "b/") || !bytes.Equal(got, body) {
				t.Errorf("delivery %s = %q, want the body in bucket b", key, got)
			}
			pub := res.Stores[cfg.Accounts[0].PersonalStore].Certificates[0].Cert.PublicKey.(*ecdsa.PublicKey)
			digest := sha256.Sum256(got)
			if !ecdsa.VerifyASN1(pub, digest[:], m.sigs[key]) {
				t.Errorf("delivery %s: the signature does not verify with the group signing certificate", key)
			}
		}
	})

	t.Run("run provisions it, and closes it when provisioning fails", func(t *testing.T) {
		dir := scene(t, true, `transport "memory" { bucket = "unreachable" }`)
		cfg, res, diags := load(t, reg, dir, lang.ModeRun)
		if len(diags) != 0 {
			t.Fatalf("diagnostics: %q", codes(diags))
		}
		box, err := sqlitebox.Open(filepath.Join(dir, "data", "box.db"), sqlitebox.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer box.Close()
		m.record("start")
		_, err = runner.New(runner.Options{Config: cfg, Checked: res, Server: "srv1", Box: box})
		if err == nil || !strings.Contains(err.Error(), `send port "keep"`) || !strings.Contains(err.Error(), "bucket unreachable") {
			t.Errorf("runner.New = %v, want the port's provisioning error", err)
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		if want := []string{"start", "provision unreachable", "close unreachable"}; !slices.Equal(m.life[len(m.life)-3:], want) {
			t.Errorf("the sender's lifecycle: %q, want %q", m.life, want)
		}
	})
}
