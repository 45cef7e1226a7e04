// Package as2test runs the npm package libas2 0.8.2 as an independent AS2
// partner for interop tests: internal/as2/testdata/partner/partner.js (its
// modes and output are described there), with the dependencies its
// committed package-lock.json pins, installed by "npm ci" into a cache
// directory on first use.
//
// Node.js and npm are required: when either is missing the test fails
// (never skips), since a skipped interop test would look like a passing
// one. .ci/run installs both.
package as2test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/npmtest"
	"github.com/bizpipe/bizpipe/internal/syncbuf"
)

// Config is the partner's JSON configuration (see partner.js).
type Config struct {
	// Mode is "receive", "send" or "verify-mdn".
	Mode string `json:"mode"`
	// ID is the partner's AS2 id, PartnerID ours.
	ID        string `json:"id,omitempty"`
	PartnerID string `json:"partnerId,omitempty"`
	// Cert and Key are the partner's certificate and PKCS#8 key (PEM
	// files); PartnerCert is ours.
	Cert        string `json:"cert,omitempty"`
	Key         string `json:"key,omitempty"`
	PartnerCert string `json:"partnerCert,omitempty"`

	// receive
	Port       int    `json:"port,omitempty"`
	MDNSigning string `json:"mdnSigning,omitempty"` // also send: the micalg asked for
	SignMDN    *bool  `json:"signMdn,omitempty"`
	// StockMDNSigning lets libas2 sign MDNs itself, CRLF trim included
	// (trap 2).
	StockMDNSigning bool `json:"stockMdnSigning,omitempty"`
	// SyncMDNOnly answers with the MDN in the response even when the
	// message asks for an asynchronous one (Receipt-Delivery-Option), as
	// servers that only send synchronous MDNs do.
	SyncMDNOnly bool `json:"syncMdnOnly,omitempty"`

	// send
	URL         string `json:"url,omitempty"`
	Content     string `json:"content,omitempty"` // file
	ContentType string `json:"contentType,omitempty"`
	Filename    string `json:"filename,omitempty"`
	Sign        string `json:"sign,omitempty"`
	Encryption  string `json:"encryption,omitempty"` // aes128-CBC, aes256-CBC, des-EDE3-CBC
	MDN         *bool  `json:"mdn,omitempty"`
	AsyncPort   int    `json:"asyncPort,omitempty"`
	UnsignedMDN bool   `json:"unsignedMdn,omitempty"`

	// verify-mdn
	MDNFile string `json:"mdnFile,omitempty"`
}

// Disposition is libas2's reading of a Disposition field.
type Disposition struct {
	Type        string `json:"type"`
	Value       string `json:"value"`
	Processed   bool   `json:"processed"`
	Description *struct {
		Type string `json:"type"`
		Text string `json:"text"`
	} `json:"description"`
}

// MDN is libas2's reading of an MDN.
type MDN struct {
	Signed            bool         `json:"signed"`
	Verified          bool         `json:"verified"`
	Error             string       `json:"error"`
	Disposition       *Disposition `json:"disposition"`
	OriginalMessageID string       `json:"originalMessageId"`
	MIC               string       `json:"mic"`
	MICAlgorithm      string       `json:"micAlgorithm"`
}

// Event is one line of the partner's output.
type Event struct {
	Event string `json:"event"`
	Error string `json:"error"`
	Port  int    `json:"port"`

	// received
	MessageID    string       `json:"messageId"`
	From         string       `json:"from"`
	To           string       `json:"to"`
	ContentType  string       `json:"contentType"`
	Content      []byte       `json:"content"`
	Disposition  *Disposition `json:"disposition"`
	MIC          string       `json:"mic"`
	MICAlgorithm string       `json:"micAlgorithm"`
	MDNMode      string       `json:"mdn"`
	SignedMDN    bool         `json:"signedMdn"`
	MDNSigning   string       `json:"mdnSigning"`

	// async-mdn-sent
	URL    string `json:"url"`
	Status int    `json:"status"`

	// sent
	ExpectedMIC       string `json:"expectedMic"`
	ExpectedAlgorithm string `json:"expectedAlgorithm"`
	SelfVerified      bool   `json:"selfVerified"`
	Chunked           bool   `json:"chunked"`
	MDNError          string `json:"mdnError"`

	// Reading is libas2's reading of an MDN: the whole "mdn" event
	// (verify-mdn), or the "mdn" object of a "sent" event.
	Reading *MDN `json:"-"`
}

// UnmarshalJSON reads an event; "mdn" is a string for "received" and an
// object for "sent".
func (e *Event) UnmarshalJSON(b []byte) error {
	type plain Event
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	var reading json.RawMessage
	if m, ok := raw["mdn"]; ok && len(m) > 0 && m[0] == '{' {
		reading = m
		delete(raw, "mdn")
	}
	stripped, err := json.Marshal(raw)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(stripped, (*plain)(e)); err != nil {
		return err
	}
	if e.Event == "mdn" {
		reading = stripped
	}
	if reading != nil {
		e.Reading = &MDN{}
		return json.Unmarshal(reading, e.Reading)
	}
	return nil
}

// partnerDir is testdata/partner, found from this file's location.
func partnerDir(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("as2test: cannot locate the partner script")
	}
	return filepath.Join(filepath.Dir(file), "..", "testdata", "partner")
}

// tool returns the path of a required program or fails the test.
func tool(t testing.TB, name string) string {
	t.Helper()
	return npmtest.Tool(t, name, "the AS2 interop tests (libas2 as the partner)")
}

// Install returns a directory whose node_modules holds the partner's
// dependencies, running "npm ci" into the user cache directory (keyed by
// the lockfile's hash) when they are missing.
func Install(t testing.TB) string {
	t.Helper()
	return npmtest.Install(t, partnerDir(t), filepath.Join("libas2", "package.json"), "the libas2 partner of the AS2 interop tests")
}

// Partner is a running partner.js process.
type Partner struct {
	events chan Event
	stderr *syncbuf.Buffer
	done   chan struct{}
	// Port is the receiver's port (mode "receive").
	Port int
}

// Start runs partner.js with cfg and stops it when the test ends. For
// mode "receive" it waits until the partner listens.
func Start(t testing.TB, cfg Config) *Partner {
	t.Helper()
	dir := Install(t)
	node := tool(t, "node")
	data, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(t.TempDir(), "partner.json")
	if err := os.WriteFile(cfgFile, data, 0o600); err != nil {
		t.Fatal(err)
	}
	// No --security-revert=CVE-2023-46809: partner.js removes PKCS#1 v1.5
	// padding itself (trap 3), so any Node version will do.
	cmd := exec.Command(node, filepath.Join(partnerDir(t), "partner.js"), cfgFile)
	cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(dir, "node_modules"))
	p := &Partner{events: make(chan Event, 64), stderr: &syncbuf.Buffer{}, done: make(chan struct{})}
	stop := make(chan struct{}) // closed at cleanup: output nobody reads is dropped
	cmd.Stderr = p.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("as2test: starting the partner: %v", err)
	}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for sc.Scan() {
			if !bytes.HasPrefix(sc.Bytes(), []byte("{")) {
				// Node's own notices (the security-revert warning goes
				// to stdout) are kept with stderr.
				p.stderr.Write(append(sc.Bytes(), '\n'))
				continue
			}
			var e Event
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				e = Event{Event: "unparsable", Error: sc.Text()}
			}
			select {
			case p.events <- e:
			case <-stop:
			}
		}
	}()
	t.Cleanup(func() {
		close(stop)
		_ = cmd.Process.Kill()
		<-p.done
		_ = cmd.Wait()
	})
	if cfg.Mode == "receive" {
		e := p.Next(t, 30*time.Second)
		if e.Event != "listening" {
			t.Fatalf("as2test: partner did not start: %+v\n%s", e, p.Stderr())
		}
		p.Port = e.Port
	}
	return p
}

// URL is the receiver's AS2 URL.
func (p *Partner) URL() string { return "http://127.0.0.1:" + strconv.Itoa(p.Port) + "/as2" }

// Next returns the partner's next output line, failing the test after
// timeout or when the partner exits or reports an error.
func (p *Partner) Next(t testing.TB, timeout time.Duration) Event {
	t.Helper()
	select {
	case e := <-p.events:
		if e.Event == "error" || e.Event == "receive-error" || e.Event == "unparsable" {
			t.Fatalf("as2test: the partner failed: %s\nstderr:\n%s", e.Error, p.Stderr())
		}
		return e
	case <-p.done:
		select {
		case e := <-p.events:
			return e
		default:
		}
		t.Fatalf("as2test: the partner exited\nstderr:\n%s", p.Stderr())
	case <-time.After(timeout):
		t.Fatalf("as2test: no output from the partner within %v\nstderr:\n%s", timeout, p.Stderr())
	}
	return Event{}
}

// Stderr returns what the partner wrote to stderr so far.
func (p *Partner) Stderr() string {
	return p.stderr.String()
}

// Run runs a one-shot mode ("send", "verify-mdn") and returns its result.
func Run(t testing.TB, cfg Config, timeout time.Duration) Event {
	t.Helper()
	return Start(t, cfg).Next(t, timeout)
}

// PEMFiles writes a certificate and PKCS#8 key to dir and returns their
// paths, for Config.Cert/Key/PartnerCert.
func PEMFiles(t testing.TB, dir, name string, certPEM, keyPEM []byte) (certFile, keyFile string) {
	t.Helper()
	certFile = filepath.Join(dir, name+".crt")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if keyPEM != nil {
		keyFile = filepath.Join(dir, name+".key")
		if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return certFile, keyFile
}

// String formats a disposition as libas2 read it.
func (d *Disposition) String() string {
	if d == nil {
		return "<none>"
	}
	s := fmt.Sprintf("%s/%s processed=%v", d.Type, d.Value, d.Processed)
	if d.Description != nil {
		s += " " + d.Description.Type + "=" + d.Description.Text
	}
	return s
}
