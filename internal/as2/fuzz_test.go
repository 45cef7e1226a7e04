package as2

import (
	"testing"
	"time"
)

// FuzzParseMDN feeds ParseMDN hostile MDNs, seeded with real ones
// (signed and unsigned): it must return an error or a result, never
// panic, and a result must carry a disposition.
func FuzzParseMDN(f *testing.F) {
	fab := newParty(f, "FABRIKAM")
	for _, signer := range []*party{nil, fab} {
		bo := BuildOptions{From: "FABRIKAM", To: "CONTOSO"}
		if signer != nil {
			bo.Signer = signer.signer()
		}
		b, err := BuildMDN(testMDN(ProcessedError("authentication-failed")), bo)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b.Entity)
	}
	f.Add([]byte("Content-Type: multipart/report; report-type=disposition-notification; boundary=b\r\n\r\n--b\r\nContent-Type: message/disposition-notification\r\n\r\nDisposition: a/b; failed/failure=x\r\n--b--\r\n"))
	// Small forms of the MDNs TestParseMDNBoundsMemory sends at MaxMDNSize.
	for _, h := range hostileMDNs(8 << 10) {
		f.Add(h.raw)
	}
	opts := VerifyOptions{Trusted: fabTrust(fab), Now: time.Now()}
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := ParseMDN(raw, opts)
		if err == nil && m.Disposition.Type == "" {
			t.Fatal("parsed an MDN without a disposition type")
		}
		_, _ = MICContent(raw, false)
		_, _ = MICContent(raw, true)
	})
}

// FuzzParseHeaders covers the header parsers.
func FuzzParseHeaders(f *testing.F) {
	f.Add("signed-receipt-protocol=optional, pkcs7-signature; signed-receipt-micalg=optional, sha-256", `"a\"b"`, "x, SHA-256")
	f.Fuzz(func(t *testing.T, opts, name, mic string) {
		o, err := ParseNotificationOptions(opts)
		if err == nil {
			_ = o.MICAlg()
		}
		if n, err := ParseName(name); err == nil {
			q, err := QuoteName(n)
			if err != nil {
				t.Fatalf("ParseName(%q) = %q, which QuoteName refuses: %v", name, n, err)
			}
			if back, err := ParseName(q); err != nil || back != n {
				t.Fatalf("%q -> %q -> %q, %v", name, n, back, err)
			}
		}
		if m, err := ParseMIC(mic); err == nil {
			if back, err := ParseMIC(m.String()); err != nil || !back.Equal(m) {
				t.Fatalf("MIC %q does not round-trip", mic)
			}
		}
		_, _ = ParseDisposition(opts)
	})
}
