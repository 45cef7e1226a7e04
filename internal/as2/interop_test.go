package as2

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/as2/as2test"
)

// partnerFiles writes the PEM files the libas2 partner needs: its own
// certificate and key (them) and ours (us).
func partnerFiles(t *testing.T, us, them *party) (cert, key, partnerCert string) {
	t.Helper()
	dir := t.TempDir()
	cert, key = as2test.PEMFiles(t, dir, "partner", them.CertPEM(), them.KeyPEM())
	partnerCert, _ = as2test.PEMFiles(t, dir, "us", us.CertPEM(), nil)
	return cert, key, partnerCert
}

// TestLibas2VerifiesOurMDN: the MDNs BuildMDN writes, signed with each
// digest and unsigned, are read by libas2 (AS2Disposition.incoming, which
// verifies the signature with our certificate) with the disposition and
// Received-Content-MIC we wrote.
func TestLibas2VerifiesOurMDN(t *testing.T) {
	us, them := newParty(t, "CONTOSO"), newParty(t, "FABRIKAM")
	_, _, ourCert := partnerFiles(t, us, them)
	for _, tc := range []struct {
		name   string
		signed bool
		digest Alg
		disp   Disposition
		tamper bool
	}{
		{"signed sha256", true, SHA256, Processed(), false},
		{"signed sha384", true, SHA384, Processed(), false},
		{"signed sha512 error", true, SHA512, ProcessedError("authentication-failed"), false},
		{"signed sha1", true, SHA1, Processed(), false},
		{"unsigned", false, SHA256, Processed(), false},
		{"unsigned failed", false, SHA256, Failed("unsupported format"), false},
		// The control: libas2 does check the signature.
		{"signed, tampered", true, SHA256, Processed(), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mic := ComputeMIC(tc.digest, []byte("payload entity"))
			m := &MDN{FinalRecipient: "CONTOSO", OriginalMessageID: "<m1@fabrikam.example>", Disposition: tc.disp, MIC: &mic}
			bo := BuildOptions{Digest: tc.digest, From: "CONTOSO", To: "FABRIKAM"}
			if tc.signed {
				bo.Signer = us.signer()
			}
			b, err := BuildMDN(m, bo)
			if err != nil {
				t.Fatal(err)
			}
			entity := b.Entity
			if tc.tamper {
				entity = bytes.Replace(entity, []byte("Original-Message-ID: <m1@"), []byte("Original-Message-ID: <m2@"), 1)
			}
			file := filepath.Join(t.TempDir(), "mdn.eml")
			if err := os.WriteFile(file, entity, 0o600); err != nil {
				t.Fatal(err)
			}
			e := as2test.Run(t, as2test.Config{Mode: "verify-mdn", MDNFile: file, PartnerCert: ourCert}, time.Minute)
			if tc.tamper {
				if e.MDN.Error == "" {
					t.Fatal("libas2 accepts a tampered MDN: the test proves nothing")
				}
				return
			}
			if e.MDN.Error != "" {
				t.Fatalf("libas2 rejects our MDN: %s", e.MDN.Error)
			}
			if e.MDN.Signed != tc.signed || (tc.signed && !e.MDN.Verified) {
				t.Fatalf("libas2: signed=%v verified=%v", e.MDN.Signed, e.MDN.Verified)
			}
			if e.OriginalMessageID != "<m1@fabrikam.example>" {
				t.Errorf("libas2 reads Original-Message-ID %q", e.OriginalMessageID)
			}
			if e.MDN.Disposition == nil || e.MDN.Disposition.Processed != (tc.disp.Type == "processed") {
				t.Errorf("libas2 reads the disposition as %v", e.MDN.Disposition)
			}
			got, err := ParseMIC(e.MDN.MIC + ", " + e.MDN.MICAlgorithm)
			if err != nil || !got.Equal(mic) {
				t.Errorf("libas2 reads the MIC as %q, %q (%v); we wrote %s", e.MDN.MIC, e.MDN.MICAlgorithm, err, mic)
			}
		})
	}
}
