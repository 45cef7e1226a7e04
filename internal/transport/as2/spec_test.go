package as2

import (
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/config/value"
	"github.com/bizpipe/bizpipe/internal/message"
	"github.com/bizpipe/bizpipe/internal/message/messagetest"
)

// body is a decoded transport "as2" block with the defaults of SendSpec,
// changed by set.
func body(t *testing.T, set map[string]any) (*component.Body, *[]*hcl.Diagnostic) {
	t.Helper()
	var diags []*hcl.Diagnostic
	b := component.NewBody(`transport "as2" of send_port "p"`, hcl.Range{}, func(d *hcl.Diagnostic) { diags = append(diags, d) })
	b.Set("url", value.Known[message.Template](messagetest.Text("https://as2.fabrikam.example/as2"), hcl.Range{}))
	b.Set("headers", value.Value[map[string]message.Template]{})
	b.Set("partner", value.Known("fabrikam", hcl.Range{}))
	b.Set("subject", value.Value[message.Template]{})
	b.Set("mdn", value.Defaulted("sync", hcl.Range{}))
	b.Set("signed_mdn", value.Defaulted(true, hcl.Range{}))
	b.Set("mdn_digest", value.Defaulted("sha256", hcl.Range{}))
	b.Set("async_mdn_url", value.Value[string]{})
	b.Set("mdn_timeout", value.Defaulted(time.Hour, hcl.Range{}))
	b.Set("timeout", value.Defaulted(DefaultTimeout, hcl.Range{}))
	for k, v := range set {
		b.Set(k, v)
	}
	return b, &diags
}

// TestDecode: the url (when constant) and the async_mdn_url must be
// http(s) with a host; configured headers cannot be AS2's own;
// mdn_timeout must be positive; the partner's certificates are needed exactly when
// a signed MDN is asked for; the rules see the partner and the mode.
func TestDecode(t *testing.T) {
	unknown := value.Value[string]{Set: true}
	for _, tc := range []struct {
		name  string
		set   map[string]any
		diag  string // "" = none
		party component.Need
	}{
		{"sync signed", nil, "", component.Needed},
		{"sync unsigned", map[string]any{"signed_mdn": value.Known(false, hcl.Range{})}, "", component.NotNeeded},
		{"none", map[string]any{"mdn": value.Known("none", hcl.Range{})}, "", component.NotNeeded},
		{"mdn unknown", map[string]any{"mdn": unknown}, "", component.MaybeNeeded},
		{"async", map[string]any{"mdn": value.Known("async", hcl.Range{}), "async_mdn_url": value.Known("https://us.example/as2", hcl.Range{})},
			"", component.Needed},
		{"async ftp url", map[string]any{"mdn": value.Known("async", hcl.Range{}), "async_mdn_url": value.Known("ftp://us.example/as2", hcl.Range{})},
			"async_mdn_url of", component.Needed},
		{"async url without host", map[string]any{"mdn": value.Known("async", hcl.Range{}), "async_mdn_url": value.Known("http:///as2", hcl.Range{})},
			"absolute http or https URL with a host", component.Needed},
		{"mdn_timeout zero", map[string]any{"mdn": value.Known("async", hcl.Range{}), "async_mdn_url": value.Known("https://us.example/as2", hcl.Range{}),
			"mdn_timeout": value.Known(time.Duration(0), hcl.Range{})}, "must be positive", component.Needed},
		{"ftp url", map[string]any{"url": urlOf("ftp://fabrikam.example/as2")}, "absolute http or https URL", component.Needed},
		{"no host", map[string]any{"url": urlOf("https:///as2")}, "absolute http or https URL", component.Needed},
		// A url that reads the message is checked when it is evaluated
		// (Client.Begin), at each delivery.
		{"url from the message", map[string]any{"url": value.Known[message.Template](fromMessage{}, hcl.Range{})}, "", component.Needed},
		{"url unknown", map[string]any{"url": value.Value[message.Template]{Set: true}}, "", component.Needed},
		// ... but one whose text before the message gives another
		// scheme fails every delivery.
		{"https url from the message", map[string]any{"url": value.Known[message.Template](messagetest.Prefixed("https://as2.example/"), hcl.Range{})},
			"", component.Needed},
		{"ftp url from the message", map[string]any{"url": value.Known[message.Template](messagetest.Prefixed("ftp://as2.example/"), hcl.Range{})},
			"only http and https", component.Needed},
		{"header", map[string]any{"headers": headers("X-Api-Key")}, "", component.Needed},
		{"AS2 header", map[string]any{"headers": headers("as2-to")}, "set as2-to, an AS2 header", component.Needed},
		// BP5001, as for the smime encoder's digest: where a signed MDN
		// is asked for, whose MIC is in that algorithm.
		{"sha1 MIC of a signed MDN", map[string]any{"mdn_digest": value.Known("sha1", hcl.Range{})}, "SHA-1", component.Needed},
		{"sha1 MIC of an async signed MDN", map[string]any{"mdn_digest": value.Known("sha1", hcl.Range{}),
			"mdn": value.Known("async", hcl.Range{}), "async_mdn_url": value.Known("https://us.example/as2", hcl.Range{})}, "SHA-1", component.Needed},
		{"sha1 but no signed MDN", map[string]any{"mdn_digest": value.Known("sha1", hcl.Range{}), "signed_mdn": value.Known(false, hcl.Range{})},
			"", component.NotNeeded},
		{"sha1 but no MDN", map[string]any{"mdn_digest": value.Known("sha1", hcl.Range{}), "mdn": value.Known("none", hcl.Range{})},
			"", component.NotNeeded},
		{"sha512", map[string]any{"mdn_digest": value.Known("sha512", hcl.Range{})}, "", component.Needed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, diags := body(t, tc.set)
			cfg := SendSpec.Decode(b).(*SendConfig)
			switch {
			case tc.diag == "" && len(*diags) != 0:
				t.Errorf("diagnostics %v", *diags)
			case tc.diag != "" && (len(*diags) != 1 || !strings.Contains((*diags)[0].Detail, tc.diag)):
				t.Errorf("diagnostics %v, want one saying %q", *diags, tc.diag)
			case tc.diag == "SHA-1" && (diag.CodeOf((*diags)[0]) != diag.CodeWeakAlgorithm || (*diags)[0].Severity != hcl.DiagWarning):
				t.Errorf("diagnostic %v, want a BP5001 warning", (*diags)[0])
			}
			if got := cfg.Needs().PartySigning; got != tc.party {
				t.Errorf("PartySigning %v, want %v", got, tc.party)
			}
			if a := cfg.AS2(); a.Partner.V != "fabrikam" || a.MDN != cfg.MDN || a.AsyncMDNURL != cfg.AsyncMDNURL {
				t.Errorf("AS2() = %+v", a)
			}
		})
	}
}

// fromMessage is a template that reads the message.
type fromMessage struct{}

func (fromMessage) Eval(m *message.Message) (message.Text, error) {
	return message.Text{Value: "https://as2.example/" + m.ID}, nil
}

func urlOf(s string) value.Value[message.Template] {
	return value.Known[message.Template](messagetest.Text(s), hcl.Range{})
}

func headers(names ...string) value.Value[map[string]message.Template] {
	m := map[string]message.Template{}
	for _, n := range names {
		m[n] = messagetest.Text("v")
	}
	return value.Known(m, hcl.Range{})
}

// TestDecodeTLS: the tls block's files reach the config, and a client
// certificate without its key is refused.
func TestDecodeTLS(t *testing.T) {
	for _, tc := range []struct {
		name string
		key  bool
		diag string // "" = none
	}{
		{"complete", true, ""},
		{"no key", false, "sets only one of cert_file and key_file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, diags := body(t, nil)
			tb := component.NewBody("tls", hcl.Range{}, func(d *hcl.Diagnostic) { *diags = append(*diags, d) })
			tb.Set("ca_file", value.Known("ca.pem", hcl.Range{}))
			tb.Set("cert_file", value.Known("client.pem", hcl.Range{}))
			tb.Set("key_file", value.Value[string]{})
			if tc.key {
				tb.Set("key_file", value.Known("client.key", hcl.Range{}))
			}
			b.SetBlock("tls", tb)
			cfg := SendSpec.Decode(b).(*SendConfig)
			switch {
			case tc.diag == "" && len(*diags) != 0:
				t.Errorf("diagnostics %v", *diags)
			case tc.diag != "" && (len(*diags) != 1 || !strings.Contains((*diags)[0].Detail, tc.diag)):
				t.Errorf("diagnostics %v, want one saying %q", *diags, tc.diag)
			case tc.diag == "SHA-1" && (diag.CodeOf((*diags)[0]) != diag.CodeWeakAlgorithm || (*diags)[0].Severity != hcl.DiagWarning):
				t.Errorf("diagnostic %v, want a BP5001 warning", (*diags)[0])
			}
			if cfg.CAFile.V != "ca.pem" || cfg.CertFile.V != "client.pem" || cfg.KeyFile.Set != tc.key {
				t.Errorf("tls files %q %q %+v", cfg.CAFile.V, cfg.CertFile.V, cfg.KeyFile)
			}
		})
	}
}

// TestNewSender: AS2-From and AS2-To must be known, and a signed MDN is
// verified with the partner's certificates only, never another party's.
func TestNewSender(t *testing.T) {
	mine, theirs := &x509.Certificate{Raw: []byte{1}}, &x509.Certificate{Raw: []byte{2}}
	signers := []component.PartyCertificate{{Party: "litware", Cert: theirs}, {Party: "fabrikam", Cert: mine}}
	ids := map[string]string{"fabrikam": "FABRIKAM", "litware": "LITWARE"}
	for _, tc := range []struct {
		name     string
		env      component.SendEnv
		unsigned bool
		err      string
	}{
		{"ok", component.SendEnv{AS2ID: "CONTOSO", PartyAS2IDs: ids, Keys: component.Keys{PartySigners: signers}}, false, ""},
		{"no group id", component.SendEnv{PartyAS2IDs: ids, Keys: component.Keys{PartySigners: signers}}, false, "group has no as2_id"},
		{"no party id", component.SendEnv{AS2ID: "CONTOSO", PartyAS2IDs: map[string]string{"litware": "LITWARE"}, Keys: component.Keys{PartySigners: signers}}, false, `party "fabrikam" has no as2_id`},
		{"no partner certificate", component.SendEnv{AS2ID: "CONTOSO", PartyAS2IDs: ids, Keys: component.Keys{PartySigners: signers[:1]}}, false, "cannot be verified"},
		{"unsigned MDN, no certificate", component.SendEnv{AS2ID: "CONTOSO", PartyAS2IDs: ids}, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set := map[string]any{}
			if tc.unsigned {
				set["signed_mdn"] = value.Known(false, hcl.Range{})
			}
			b, _ := body(t, set)
			cfg := SendSpec.Decode(b).(*SendConfig)
			s, err := cfg.NewSender(&tc.env)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("NewSender: %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			snd := s.(*sender)
			defer snd.Close()
			if snd.from != "CONTOSO" || snd.to != "FABRIKAM" {
				t.Errorf("from %q to %q", snd.from, snd.to)
			}
			if !tc.unsigned && (len(snd.trusted) != 1 || snd.trusted[0] != mine) {
				t.Errorf("trusted %v, want the partner's certificate only", snd.trusted)
			}
			if snd.requireSigned == tc.unsigned {
				t.Errorf("requireSigned %v with signed_mdn %v", snd.requireSigned, !tc.unsigned)
			}
		})
	}
}

// TestMessageIDStable: every attempt of a delivery carries one
// Message-ID; other deliveries and other boxes get others.
func TestMessageIDStable(t *testing.T) {
	s := &sender{env: &component.SendEnv{Namespace: "box1"}, from: "CONTOSO"}
	d1, d2 := &component.Delivery{ID: 1}, &component.Delivery{ID: 2}
	if s.messageID(d1) != s.messageID(&component.Delivery{ID: 1}) {
		t.Error("Message-ID differs between attempts of one delivery")
	}
	if s.messageID(d1) == s.messageID(d2) {
		t.Error("two deliveries share a Message-ID")
	}
	other := &sender{env: &component.SendEnv{Namespace: "box2"}, from: "CONTOSO"}
	if s.messageID(d1) == other.messageID(d1) {
		t.Error("two boxes give delivery 1 the same Message-ID")
	}
	if id := s.messageID(d1); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@CONTOSO>") {
		t.Errorf("Message-ID %q", id)
	}
}

// TestDescribeTarget: bizpipe route's description of an AS2 delivery is
// the URL and party, and it fails where Begin would: a subject no header
// can carry, a URL the client refuses.
func TestDescribeTarget(t *testing.T) {
	for _, tc := range []struct {
		name      string
		set       map[string]any
		want, err string
	}{
		{"plain", nil, "POST https://as2.fabrikam.example/as2 (AS2 to party fabrikam)", ""},
		{"subject", map[string]any{"subject": value.Known[message.Template](messagetest.Text("Invoice 42"), hcl.Range{})},
			"POST https://as2.fabrikam.example/as2 (AS2 to party fabrikam)", ""},
		{"subject with a newline", map[string]any{"subject": value.Known[message.Template](messagetest.Text("a\nb"), hcl.Range{})}, "", "Subject holds a line break"},
		{"url with a space", map[string]any{"url": value.Known[message.Template](messagetest.Text("https://as2.fabrikam.example/a b"), hcl.Range{})}, "", "invalid URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, _ := body(t, tc.set)
			cfg := SendSpec.Decode(b).(*SendConfig)
			got, err := cfg.DescribeTarget(&component.Delivery{Port: "p", Message: &message.Message{ID: "m"}})
			switch {
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("DescribeTarget = %q, %v; want an error with %q", got, err, tc.err)
			case tc.err == "" && (err != nil || got != tc.want):
				t.Fatalf("DescribeTarget = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
