package runner_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/as2"
	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/runner"
	"github.com/bizpipe/bizpipe/internal/stage/smime"
	"github.com/bizpipe/bizpipe/internal/testpki"
)

// TestAS2MDNSignerReasons: a synchronous MDN signed by a certificate that
// is no party's, by a look-alike of the partner's (its issuer and serial
// number, from another CA of the same name), or by another party's
// certificate (its own, which verifies that party's messages), fails the attempt as
// before, retried and then suspended, and what the operator reads says
// what the signer is, not "certificate signed by unknown authority",
// which would send them to the partner's certificate: the delivery's
// reason, every attempt and the history (bizpipe messages show), and the
// log line of each failure.
func TestAS2MDNSignerReasons(t *testing.T) {
	p := newPKI(t)
	stranger := p.ca.Issue(t, testpki.Options{CommonName: "Stranger"})
	rogue := testpki.NewCA(t, p.ca.Cert.Subject.CommonName)
	lookAlike := rogue.Issue(t, testpki.Options{CommonName: p.partner.Cert.Subject.CommonName, SerialNumber: p.partner.Cert.SerialNumber})
	if !bytes.Equal(lookAlike.Cert.RawIssuer, p.partner.Cert.RawIssuer) || lookAlike.Cert.Equal(p.partner.Cert) {
		t.Fatal("the look-alike does not have the partner's issuer, or is the partner's certificate")
	}
	northwind := p.ca.Issue(t, testpki.Options{CommonName: "Northwind"})
	signers := map[string]*testpki.Cert{"/stranger": stranger, "/lookalike": lookAlike, "/northwind": northwind}
	fake := startFakeAS2(t, func(path, id string, body []byte) (*as2.Built, error) {
		c, ok := signers[path]
		if !ok {
			return nil, errors.New("unknown path")
		}
		right := as2.ComputeMIC(as2.SHA256, body)
		return as2.BuildMDN(&as2.MDN{OriginalMessageID: id, FinalRecipient: "FABRIKAM", Disposition: as2.Processed(), MIC: &right},
			as2.BuildOptions{Signer: &smime.Signer{Cert: c.Cert, Key: c.Key}, Digest: as2.SHA256, From: "FABRIKAM", To: "CONTOSO"})
	})
	cfg := as2Common + syncOncePort("stranger", "") + syncOncePort("lookalike", "") + syncOncePort("northwind", "") + `
party "northwind" {
  as2_id               = "NORTHWIND"
  signing_certificates = ["{{.Northwind}}"]
}
`
	dir := setup(t, p, cfg, map[string]string{"URL": fake.url, "Northwind": northwind.SHA1()})
	testpki.WriteFile(t, filepath.Join(dir, "stores/others"), "northwind.pem", northwind.CertPEM())
	for _, c := range []string{"stranger", "lookalike", "northwind"} {
		put(t, dir, c+".edi", []byte("ISA*00*~"+c))
	}
	log := &logBuffer{}
	r, box := startWith(t, dir, func(o *runner.Options) { o.Log = slog.New(slog.NewJSONHandler(log, nil)) })
	runUntilSettled(t, r)

	want := map[string]string{
		"stranger": `send port "stranger": party "fabrikam"'s MDN: as2: MDN signature: smime: the signer "CN=Stranger" (issuer "CN=Test CA", serial ` +
			stranger.Cert.SerialNumber.Text(16) + `) is not a signing certificate of any party`,
		"lookalike": `send port "lookalike": party "fabrikam"'s MDN: as2: MDN signature: smime: the signer certificate the message carries, "CN=Fabrikam" (issuer "CN=Test CA", serial ` +
			p.partner.Cert.SerialNumber.Text(16) + `), does not match party "fabrikam"'s signing certificate with that issuer and serial number: its thumbprint and public key differ`,
		"northwind": `send port "northwind": party "fabrikam"'s MDN: as2: MDN signature: smime: the signer "CN=Northwind" (issuer "CN=Test CA", serial ` +
			northwind.Cert.SerialNumber.Text(16) + `) is party "northwind"'s signing certificate, not party "fabrikam"'s`,
	}
	msgs, err := msgbox.Collect(context.Background(), box, msgbox.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != len(want) {
		t.Fatalf("%d messages, want %d", len(msgs), len(want))
	}
	for _, m := range msgs {
		name := strings.TrimSuffix(m.FileName, ".edi")
		w := want[name]
		d, err := box.Get(context.Background(), m.ID)
		if err != nil {
			t.Fatal(err)
		}
		dl := d.Deliveries[0]
		suspended := w + " (suspended after 2 attempt(s))"
		if m.Status != msgbox.StatusSuspended || dl.State != msgbox.DeliverySuspended || dl.LastError != suspended || fake.count("/"+name) != 2 {
			t.Errorf("%s: %s, delivery %s after %d attempts, reason\n  %s\nwant suspended after 2, reason\n  %s", name, m.Status, dl.State, fake.count("/"+name), dl.LastError, suspended)
		}
		if dl.Receipt == nil || !bytes.Contains(dl.Receipt.Data, fake.lastMDN("/"+name).Body) {
			t.Errorf("%s: the MDN that failed the delivery is not kept: %+v", name, dl.Receipt)
		}
		if len(d.Attempts) != 2 || d.Attempts[0].Error != w || d.Attempts[1].Error != suspended {
			t.Errorf("%s: attempts %+v, want 2 failed with\n  %s", name, d.Attempts, w)
		}
		// The history: "attempt 1 by srv1/... failed, retry at ...: " and
		// "attempt 2 by ... failed, suspended: ", then the reason.
		var history []string
		for _, e := range d.History {
			if e.Port == name && (e.Status == "retrying" || e.Status == "suspended") {
				history = append(history, e.Status)
				if want := map[string]string{"retrying": ": " + w, "suspended": ", suspended: " + suspended}[e.Status]; !strings.HasSuffix(e.Detail, want) {
					t.Errorf("%s: history %s\n  %s\nwant it to end with\n  %s", name, e.Status, e.Detail, want)
				}
			}
		}
		if !slices.Equal(history, []string{"retrying", "suspended"}) {
			t.Errorf("%s: history %+v, want a retry and a suspension", name, d.History)
		}
		// "delivery failed; will retry" and "delivery suspended".
		quoted := func(s string) string { return strings.ReplaceAll(s, `"`, `\"`) }
		for _, want := range []string{`"error":"` + quoted(w) + `"`, `"reason":"` + quoted(suspended) + `"`} {
			if n := strings.Count(log.String(), want); n != 1 {
				t.Errorf("%s: the log says %s %d times, want once:\n%s", name, want, n, log)
			}
		}
	}
}
