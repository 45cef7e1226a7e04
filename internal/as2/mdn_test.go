package as2

import (
	"bytes"
	"crypto/x509"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestDisposition(t *testing.T) {
	for _, tc := range []struct {
		in                string
		typ, mod, desc    string
		positive          bool
		outcome, reformat string
	}{
		{"automatic-action/MDN-sent-automatically; processed", "processed", "", "", true, "processed", ""},
		{"automatic-action/MDN-sent-automatically; processed/error: authentication-failed", "processed", "error", "authentication-failed", false, "processed-error", ""},
		{"automatic-action/MDN-sent-automatically; processed/Warning: duplicate-document", "processed", "warning", "duplicate-document", true, "processed-warning",
			"automatic-action/MDN-sent-automatically; processed/warning: duplicate-document"},
		{"automatic-action/MDN-sent-automatically; failed/Failure: unsupported format", "failed", "failure", "unsupported format", false, "failed",
			"automatic-action/MDN-sent-automatically; failed/failure: unsupported format"},
		// libas2 writes "=" after the modifier.
		{"automatic-action/MDN-sent-automatically; failed/failure=Could not verify signature", "failed", "failure", "Could not verify signature", false, "failed",
			"automatic-action/MDN-sent-automatically; failed/failure: Could not verify signature"},
	} {
		d, err := ParseDisposition(tc.in)
		if err != nil {
			t.Fatalf("%q: %v", tc.in, err)
		}
		if d.Type != tc.typ || d.Modifier != tc.mod || d.Description != tc.desc || d.Positive() != tc.positive || d.Outcome() != tc.outcome {
			t.Errorf("%q: %+v positive=%v outcome=%q", tc.in, d, d.Positive(), d.Outcome())
		}
		want := tc.reformat
		if want == "" {
			want = tc.in
		}
		if d.String() != want {
			t.Errorf("%q formats as %q, want %q", tc.in, d.String(), want)
		}
	}
	// A "/" with no modifier after it ("processed/: error") is no
	// disposition that says processed: it read as positive.
	for _, bad := range []string{"", "processed", "automatic-action/MDN-sent-automatically;", "a; b c",
		"a; processed/: error", "a; processed/", "a; processed / = failed"} {
		if _, err := ParseDisposition(bad); err == nil {
			t.Errorf("ParseDisposition(%q) succeeded", bad)
		}
	}
	if ProcessedError("x").String() != "automatic-action/MDN-sent-automatically; processed/error: x" || Failed("y").Positive() || !Processed().Positive() {
		t.Error("constructors")
	}
}

// receivedMIC is the MIC a receiver reports in the tests.
var receivedMIC = ComputeMIC(SHA256, []byte("the signed entity"))

func testMDN(d Disposition) *MDN {
	mic := receivedMIC
	return &MDN{
		OriginalRecipient: "FABRIKAM",
		FinalRecipient:    "FABRIKAM",
		OriginalMessageID: "<abc@contoso.example>",
		Disposition:       d,
		MIC:               &mic,
	}
}

func TestBuildAndParseMDN(t *testing.T) {
	fab, other := newParty(t, "FABRIKAM"), newParty(t, "OTHER")
	now := time.Now()
	for _, tc := range []struct {
		name   string
		signer *party
		digest Alg
		disp   Disposition
		opts   VerifyOptions
		errSub string // "" = parses
	}{
		{"unsigned", nil, SHA256, Processed(), VerifyOptions{}, ""},
		{"signed sha256", fab, SHA256, Processed(), VerifyOptions{Trusted: fabTrust(fab)}, ""},
		{"signed sha512 negative", fab, SHA512, ProcessedError("authentication-failed"), VerifyOptions{Trusted: fabTrust(fab)}, ""},
		{"signed sha1", fab, SHA1, Failed("unsupported format"), VerifyOptions{Trusted: fabTrust(fab), Now: now}, ""},
		{"signed, nothing trusted", fab, SHA256, Processed(), VerifyOptions{}, "no partner certificate"},
		{"signed by someone else", other, SHA256, Processed(), VerifyOptions{Trusted: fabTrust(fab)}, "signature"},
		{"signer trusted but expired at Now", fab, SHA256, Processed(), VerifyOptions{Trusted: fabTrust(fab), Now: now.Add(5 * 365 * 24 * time.Hour)}, "expired"},
		// Not asked to be signed: read, not checked, whoever signed.
		{"signed, unverified", other, SHA256, Processed(), VerifyOptions{Unverified: true}, ""},
		{"unsigned, unverified", nil, SHA256, Processed(), VerifyOptions{Unverified: true}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bo := BuildOptions{Digest: tc.digest, From: "FABRIKAM", To: "CONTOSO"}
			if tc.signer != nil {
				bo.Signer = tc.signer.signer()
			}
			built, err := BuildMDN(testMDN(tc.disp), bo)
			if err != nil {
				t.Fatal(err)
			}
			checkBuilt(t, built, tc.signer != nil)
			got, err := ParseMDN(built.Entity, tc.opts)
			if tc.errSub != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errSub) {
					t.Fatalf("ParseMDN: %v, want an error with %q", err, tc.errSub)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Signed != (tc.signer != nil && !tc.opts.Unverified) || got.OriginalMessageID != "<abc@contoso.example>" ||
				got.FinalRecipient != "FABRIKAM" || got.OriginalRecipient != "FABRIKAM" ||
				got.Disposition != tc.disp || got.MIC == nil || !got.MIC.Equal(receivedMIC) ||
				got.ReportingUA == "" || got.Text == "" || !bytes.Equal(got.Raw, built.Entity) {
				t.Errorf("parsed %+v", got)
			}
		})
	}
}

func fabTrust(p *party) []*x509.Certificate { return []*x509.Certificate{p.Cert.Cert} }

// checkBuilt checks the form of a built MDN: CRLF only, the HTTP header
// fields, the detached signature part as libas2 needs it.
func checkBuilt(t *testing.T, b *Built, signed bool) {
	t.Helper()
	if bytes.Contains(bytes.ReplaceAll(b.Entity, []byte("\r\n"), nil), []byte("\n")) {
		t.Error("the MDN has a bare LF")
	}
	for _, h := range []string{"AS2-Version", "AS2-From", "AS2-To", "Message-Id", "Content-Type", "Mime-Version"} {
		if b.Header.Get(h) == "" {
			t.Errorf("no %s header", h)
		}
	}
	ct := b.Header.Get("Content-Type")
	if signed != strings.HasPrefix(ct, "multipart/signed") {
		t.Errorf("Content-Type %q", ct)
	}
	if signed && !bytes.Contains(b.Body, []byte("Content-Type: application/pkcs7-signature; name=smime.p7s\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=smime.p7s")) {
		t.Error("the signature part lacks its Content-Disposition")
	}
	if !bytes.HasSuffix(b.Entity, b.Body) {
		t.Error("Entity does not end with Body")
	}
}

func TestParseMDNTampered(t *testing.T) {
	fab := newParty(t, "FABRIKAM")
	built, err := BuildMDN(testMDN(Processed()), BuildOptions{Signer: fab.signer(), From: "FABRIKAM", To: "CONTOSO"})
	if err != nil {
		t.Fatal(err)
	}
	tampered := bytes.Replace(built.Entity, []byte("; processed"), []byte("; pr0cessed"), 1)
	if bytes.Equal(tampered, built.Entity) {
		t.Fatal("nothing tampered")
	}
	if _, err := ParseMDN(tampered, VerifyOptions{Trusted: fabTrust(fab)}); err == nil {
		t.Fatal("a tampered MDN verified")
	}
}

// builtMDN builds testMDN(d), changed by mutate when not nil, signed by
// fab when signed, and reads it back with opts.
func builtMDN(t *testing.T, fab *party, d Disposition, signed bool, mutate func(*MDN), opts VerifyOptions) *ReceivedMDN {
	t.Helper()
	m := testMDN(d)
	if mutate != nil {
		mutate(m)
	}
	bo := BuildOptions{From: "FABRIKAM", To: "CONTOSO"}
	if signed {
		bo.Signer = fab.signer()
	}
	b, err := BuildMDN(m, bo)
	if err != nil {
		t.Fatal(err)
	}
	r, err := ParseMDN(b.Entity, opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestCheck(t *testing.T) {
	fab := newParty(t, "FABRIKAM")
	sent := &fixedMIC{receivedMIC}
	parse := func(d Disposition, signed bool, mutate func(*MDN)) *ReceivedMDN {
		return builtMDN(t, fab, d, signed, mutate, VerifyOptions{Trusted: fabTrust(fab)})
	}
	var neg *NegativeError
	for _, tc := range []struct {
		name          string
		mdn           *ReceivedMDN
		requireSigned bool
		check         func(error) bool
	}{
		{"positive signed", parse(Processed(), true, nil), true, func(err error) bool { return err == nil }},
		{"positive unsigned, unsigned asked", parse(Processed(), false, nil), false, func(err error) bool { return err == nil }},
		{"unsigned when signed asked", parse(Processed(), false, nil), true, func(err error) bool { return errors.Is(err, ErrUnsignedMDN) }},
		{"negative", parse(ProcessedError("decryption-failed"), true, nil), true, func(err error) bool { return errors.As(err, &neg) }},
		{"failed", parse(Failed("x"), true, nil), true, func(err error) bool { return errors.As(err, &neg) }},
		{"wrong MIC", parse(Processed(), true, func(m *MDN) { x := ComputeMIC(SHA256, []byte("other")); m.MIC = &x }), true,
			func(err error) bool {
				return err != nil && !errors.As(err, &neg) && strings.Contains(err.Error(), "does not match")
			}},
		{"MIC in another algorithm", parse(Processed(), true, func(m *MDN) { x := ComputeMIC(SHA1, []byte("the signed entity")); m.MIC = &x }), true,
			func(err error) bool { return err != nil && strings.Contains(err.Error(), "does not match") }},
		{"no MIC", parse(Processed(), true, func(m *MDN) { m.MIC = nil }), true, func(err error) bool { return err != nil && !errors.As(err, &neg) }},
		{"other message", parse(Processed(), true, func(m *MDN) { m.OriginalMessageID = "<other@x>" }), true, func(err error) bool { return err != nil && !errors.As(err, &neg) }},
		// RFC 4130 §5.3.3: a receiver does not check for angle brackets;
		// a partner that strips them still answers the message.
		{"Original-Message-ID without angle brackets", parse(Processed(), true, func(m *MDN) { m.OriginalMessageID = "abc@contoso.example" }), true,
			func(err error) bool { return err == nil }},
		{"other message without angle brackets", parse(Processed(), true, func(m *MDN) { m.OriginalMessageID = "other@x" }), true,
			func(err error) bool { return err != nil && !errors.As(err, &neg) }},
	} {
		err := tc.mdn.Check("<abc@contoso.example>", tc.requireSigned, sent)
		if !tc.check(err) {
			t.Errorf("%s: Check = %v", tc.name, err)
		}
	}
	// A MIC the Hasher computes in the algorithm the MDN names.
	h := NewHasher()
	h.Write([]byte("the signed entity"))
	m := parse(Processed(), true, func(m *MDN) { x := ComputeMIC(SHA384, []byte("the signed entity")); m.MIC = &x })
	if err := m.Check("<abc@contoso.example>", true, h); err != nil {
		t.Errorf("Hasher: %v", err)
	}
}

type fixedMIC struct{ m MIC }

func (f *fixedMIC) MIC(alg Alg) MIC {
	if alg != f.m.Alg {
		return MIC{Alg: alg, Digest: []byte("different")}
	}
	return f.m
}

func TestParseMDNRejects(t *testing.T) {
	for _, tc := range []struct{ name, in string }{
		{"not a report", "Content-Type: text/plain\r\n\r\nhello"},
		{"wrong report type", "Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n"},
		{"no notification part", "Content-Type: multipart/report; report-type=disposition-notification; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--\r\n"},
		{"no disposition", "Content-Type: multipart/report; report-type=disposition-notification; boundary=b\r\n\r\n--b\r\nContent-Type: message/disposition-notification\r\n\r\nOriginal-Message-ID: <a@b>\r\n\r\n--b--\r\n"},
		{"unterminated", "Content-Type: multipart/report; report-type=disposition-notification; boundary=b\r\n\r\n--b\r\nContent-Type: message/disposition-notification\r\n\r\nDisposition: a/b; processed\r\n"},
		{"too many parts", "Content-Type: multipart/report; report-type=disposition-notification; boundary=b\r\n\r\n" + strings.Repeat("--b\r\n\r\nx\r\n", 20) + "--b--\r\n"},
		{"too many notification fields", "Content-Type: multipart/report; report-type=disposition-notification; boundary=b\r\n\r\n--b\r\nContent-Type: message/disposition-notification\r\n\r\nDisposition: a/b; processed\r\n" + strings.Repeat("X: y\r\n", 200) + "--b--\r\n"},
		{"too big", "Content-Type: multipart/report\r\n\r\n" + strings.Repeat("x", MaxMDNSize)},
		{"garbage", "\x00\x01\x02"},
		{"base64 report", "Content-Type: multipart/report; report-type=disposition-notification; boundary=b\r\nContent-Transfer-Encoding: base64\r\n\r\nLS1i"},
	} {
		if _, err := ParseMDN([]byte(tc.in), VerifyOptions{}); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
}

// TestParseMDNOneAnswer: an MDN that says two things about what decides a
// delivery (two Disposition, Original-Message-ID or Received-Content-MIC
// fields, in any case, or two notification parts) is refused, whichever
// comes first, rather than read by its first: another reader of the MDN
// kept could take the other. Other fields may repeat; the first counts.
func TestParseMDNOneAnswer(t *testing.T) {
	mic := ComputeMIC(SHA256, []byte("sent")).String()
	const (
		head = "Content-Type: multipart/report; report-type=disposition-notification; boundary=b\r\n\r\n"
		part = "--b\r\nContent-Type: message/disposition-notification\r\n\r\n"
		ok   = "Original-Message-ID: <a@b>\r\nDisposition: automatic-action/MDN-sent-automatically; processed\r\n"
		end  = "\r\n--b--\r\n"
	)
	for _, tc := range []struct{ name, in, want string }{
		{"two dispositions", head + part + ok + "Disposition: automatic-action/MDN-sent-automatically; failed/failure: sender-equals-receiver\r\nReceived-Content-MIC: " + mic + "\r\n" + end,
			"duplicate Disposition"},
		{"two Original-Message-IDs", head + part + "Original-Message-ID: <other@b>\r\n" + ok + "Received-Content-MIC: " + mic + "\r\n" + end,
			"duplicate Original-Message-ID"},
		{"two MICs", head + part + ok + "Received-Content-MIC: " + mic + "\r\nreceived-content-mic: AAAA, sha-256\r\n" + end,
			"duplicate Received-Content-MIC"},
		{"two notification parts", head + part + ok + "Received-Content-MIC: " + mic + "\r\n\r\n" +
			part + "Original-Message-ID: <a@b>\r\nDisposition: automatic-action/MDN-sent-automatically; processed/error: decryption-failed\r\n" + end,
			"more than one message/disposition-notification part"},
	} {
		if m, err := ParseMDN([]byte(tc.in), VerifyOptions{}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v (%+v), want an error saying %q", tc.name, err, m, tc.want)
		}
	}
	m, err := ParseMDN([]byte(head+part+"Reporting-UA: one\r\nReporting-UA: two\r\nX-Extra: a\r\nX-Extra: b\r\n"+ok+"Received-Content-MIC: "+mic+"\r\n"+end), VerifyOptions{})
	if err != nil || m.ReportingUA != "one" || !m.Disposition.Positive() {
		t.Errorf("repeated Reporting-UA and extension fields: %+v, %v; want the first read", m, err)
	}
}

func TestParseMDNLenient(t *testing.T) {
	// Bare LF line breaks, a base64 notification part, a quoted recipient
	// and a MIC we cannot read still give the disposition.
	in := "Content-Type: multipart/report; Report-Type=disposition-notification; boundary=\"b b\"\n\n" +
		"preamble\n--b b\nContent-Type: text/plain\n\nHuman text\n--b b\n" +
		"Content-Type: message/disposition-notification\nContent-Transfer-Encoding: base64\n\n" +
		"RmluYWwtUmVjaXBpZW50OiByZmM4MjI7ICJNeSBJRCIKT3JpZ2luYWwtTWVzc2FnZS1JRDogPGFAYj4KRGlzcG9zaXRpb246IGF1dG9tYXRpYy1hY3Rpb24vTURO\n" +
		"LXNlbnQtYXV0b21hdGljYWxseTsgcHJvY2Vzc2VkClJlY2VpdmVkLUNvbnRlbnQtTUlDOiB4eXosIG1kNQo=\n--b b--\n"
	m, err := ParseMDN([]byte(in), VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m.FinalRecipient != "My ID" || m.OriginalMessageID != "<a@b>" || !m.Disposition.Positive() || m.MIC != nil || m.MICError == nil || m.Text != "Human text" {
		t.Errorf("%+v", m)
	}
}

func TestBuildMDNRejects(t *testing.T) {
	for _, m := range []*MDN{
		nil,
		{FinalRecipient: "X", OriginalMessageID: "<a@b>"},
		{Disposition: Processed(), OriginalMessageID: "<a@b>"},
		{FinalRecipient: "X", Disposition: Processed()},
		{FinalRecipient: "X", Disposition: Processed(), OriginalMessageID: "<a@b>\r\nX: y"},
		{FinalRecipient: "X", Disposition: ProcessedError("caf\xc3\xa9"), OriginalMessageID: "<a@b>"},
	} {
		if _, err := BuildMDN(m, BuildOptions{}); err == nil {
			t.Errorf("BuildMDN(%+v) succeeded", m)
		}
	}
	// A long, non-ASCII explanation is made safe for 7bit.
	m := testMDN(Processed())
	m.Text = strings.Repeat("é", 2000) + "\nline\rtwo"
	b, err := BuildMDN(m, BuildOptions{Signer: newParty(t, "X").signer()})
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range bytes.Split(b.Body, []byte("\r\n")) {
		if len(line) > 998 {
			t.Fatal("a line over 998 octets")
		}
	}
}

// TestJoinEntityLeavesCredentialsOut: the MDN entity the box keeps, from a
// synchronous MDN's response or an asynchronous one's request, holds no
// HTTP credential: a partner's session cookie (Set-Cookie) or our own
// Authorization would otherwise be kept and shown by messages show.
func TestJoinEntityLeavesCredentialsOut(t *testing.T) {
	h := http.Header{}
	h.Set("Content-Type", "multipart/report; boundary=b")
	h.Set("Set-Cookie", "session=s3cret-cookie")
	h.Set("Cookie", "a=s3cret-cookie")
	h.Set("Authorization", "Basic s3cret-cookie")
	h["proxy-authorization"] = []string{"Basic s3cret-cookie"} // not canonical, as a map may hold it
	h.Set("AS2-From", "FABRIKAM")
	got := string(JoinEntity(h, []byte("--b--\r\n")))
	if strings.Contains(got, "s3cret") {
		t.Errorf("the entity keeps a credential:\n%s", got)
	}
	if want := "As2-From: FABRIKAM\r\nContent-Type: multipart/report; boundary=b\r\n\r\n--b--\r\n"; got != want {
		t.Errorf("entity %q, want %q", got, want)
	}
}

// TestSameReport: an MDN built anew (another signature, text, Message-ID
// of its own, or unsigned) reports the same as the first when its
// Original-Message-ID, disposition (whatever its case) and
// Received-Content-MIC are the same; any of those different, it does not.
func TestSameReport(t *testing.T) {
	fab := newParty(t, "FABRIKAM")
	parse := func(signed bool, mutate func(*MDN)) *ReceivedMDN {
		return builtMDN(t, fab, Processed(), signed, mutate, VerifyOptions{Unverified: true})
	}
	first := parse(true, nil)
	for _, tc := range []struct {
		name string
		mdn  *ReceivedMDN
		same bool
	}{
		{"built anew", parse(true, nil), true},
		{"unsigned, another text", parse(false, func(m *MDN) { m.Text = "Received." }), true},
		{"disposition in upper case", parse(true, func(m *MDN) { m.Disposition.Type = "PROCESSED" }), true},
		{"negative", parse(true, func(m *MDN) { m.Disposition, m.MIC = ProcessedError("decryption-failed"), nil }), false},
		{"warning", parse(true, func(m *MDN) { m.Disposition = Disposition{Type: "processed", Modifier: "warning", Description: "x"} }), false},
		{"another MIC", parse(true, func(m *MDN) { x := ComputeMIC(SHA256, []byte("other")); m.MIC = &x }), false},
		{"no MIC", parse(true, func(m *MDN) { m.MIC = nil }), false},
		{"another message", parse(true, func(m *MDN) { m.OriginalMessageID = "<other@x>" }), false},
	} {
		if got := tc.mdn.SameReport(first); got != tc.same {
			t.Errorf("%s: SameReport = %v, want %v", tc.name, got, tc.same)
		}
		if got := first.SameReport(tc.mdn); got != tc.same {
			t.Errorf("%s, the other way round: SameReport = %v, want %v", tc.name, got, tc.same)
		}
	}
	neg := func(m *MDN) { m.Disposition, m.MIC = ProcessedError("decryption-failed"), nil }
	if !parse(true, neg).SameReport(parse(false, neg)) {
		t.Error("two negative MDNs without a MIC: not the same report")
	}
}
