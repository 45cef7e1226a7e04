package smime

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/testpki"
)

// pss is the openssl cms option that signs with RSASSA-PSS.
var pss = []string{"-keyopt", "rsa_padding_mode:pss"}

// TestDecodeOpenSSLPSS: what openssl cms signs with RSASSA-PSS by an
// ordinary RSA certificate (as some AS2 products do when configured for
// it) is verified as a PKCS #1 v1.5 signature is: every accepted digest,
// a salt of the digest's length, the largest one (openssl's default) and
// none, the default parameters (SHA-1), with and without signed
// attributes, clear, opaque, inside encryption (openssl 3.0 does not
// stream a PSS signature); in memory and streaming alike. A
// signature whose MGF1 hash is not its hash, or whose digest this decoder
// refuses for any signature, is refused naming it, as an authentication
// failure.
func TestDecodeOpenSSLPSS(t *testing.T) {
	ossl := openssl(t)
	p := newPKI(t)
	groupKey := writeGroupKey(t, p)
	text := textBody()
	entity := append([]byte("Content-Type: text/plain; charset=utf-8\n\n"), text.data...)
	sign := slices.Concat([]string{"cms", "-sign", "-signer", p.groupPEM, "-inkey", groupKey}, pss)
	with := func(extra ...string) []string { return slices.Concat(sign, extra) }
	saltlen := func(s string) []string { return []string{"-keyopt", "rsa_pss_saltlen:" + s} }
	encrypt := func(cipher string) []string { return []string{"cms", "-encrypt", cipher, "-recip", p.partnerPEM} }
	tests := []struct {
		name string
		cmds [][]string // run in sequence, each reading the previous output
		want string     // the error, "" for none
	}{
		{"clear-sha256-default", [][]string{sign}, ""},
		{"clear-sha256-salt-digest", [][]string{with(saltlen("digest")...)}, ""},
		{"clear-sha256-salt-max", [][]string{with(saltlen("max")...)}, ""},
		{"clear-sha384-salt-digest", [][]string{with(slices.Concat([]string{"-md", "sha384"}, saltlen("digest"))...)}, ""},
		{"clear-sha512-salt-0", [][]string{with(slices.Concat([]string{"-md", "sha512"}, saltlen("0"))...)}, ""},
		{"clear-sha1-default-parameters", [][]string{with("-md", "sha1")}, ""},
		{"clear-noattr", [][]string{with("-noattr")}, ""},
		{"opaque", [][]string{with("-nodetach")}, ""},
		{"opaque-noattr", [][]string{with("-nodetach", "-noattr", "-md", "sha512")}, ""},
		{"clear-then-aes256-cbc", [][]string{sign, encrypt("-aes-256-cbc")}, ""},
		{"opaque-then-aes128-gcm", [][]string{with("-nodetach"), encrypt("-aes-128-gcm")}, ""},
		{"mgf1-sha1-with-sha256", [][]string{with("-keyopt", "rsa_mgf1_md:sha1")},
			"smime: signature verification failed: the RSASSA-PSS signature's MGF1 hash sha1 differs from its hash sha256"},
		{"mgf1-sha512-with-sha256", [][]string{with("-keyopt", "rsa_mgf1_md:sha512", "-nodetach")},
			"smime: signature verification failed: the RSASSA-PSS signature's MGF1 hash sha512 differs from its hash sha256"},
		{"sha224", [][]string{with("-md", "sha224")},
			"smime: signature verification failed: the signature's digest algorithm sha224 (2.16.840.1.101.3.4.2.4) is not accepted (want one of sha256, sha384, sha512, sha1)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			msg := entity
			for _, c := range tt.cmds {
				msg = run(t, msg, ossl, c...)
			}
			d, err := decodeBoth(t, msg, p.decodeOpts())
			if tt.want != "" {
				if err == nil || err.Error() != tt.want {
					t.Fatalf("Decode: %v, want %s", err, tt.want)
				}
				if _, err := DecodeStream(t.Context(), bytes.NewReader(msg), io.Discard, p.decodeOpts()); !errors.Is(err, component.ErrAuthenticationFailed) {
					t.Errorf("DecodeStream: %v, not an authentication failure", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			checkDecoded(t, d, text, true, len(tt.cmds) > 1, p.group.Cert)
		})
	}
}

// pssSigned is an opaque RSASSA-PSS signed-data message made by openssl
// (SHA-256, salt of 32 octets, signed attributes), as DER, and how to wrap
// DER into an application/pkcs7-mime entity.
func pssSigned(t *testing.T, p *testPKI, extra ...string) (der []byte, wrap func([]byte) []byte) {
	t.Helper()
	entity := []byte("Content-Type: application/edi-x12\r\n\r\nISA*00*pss\r\n")
	args := slices.Concat([]string{"cms", "-sign", "-nodetach", "-binary", "-outform", "DER", "-md", "sha256",
		"-signer", p.groupPEM, "-inkey", writeGroupKey(t, p)}, pss, []string{"-keyopt", "rsa_pss_saltlen:digest"}, extra)
	der = run(t, entity, openssl(t), args...)
	wrap = func(der []byte) []byte {
		return []byte("Content-Type: application/pkcs7-mime; smime-type=signed-data\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
			base64.StdEncoding.EncodeToString(der) + "\r\n")
	}
	return der, wrap
}

// TestDecodePSSTampered: an RSASSA-PSS signature is checked for what it
// signs and what it says of itself: a changed content, signed attribute,
// signature, salt length, hash or MGF1 hash (its parameters are not
// signed, so anyone can change them) is refused, in memory and streaming
// alike, while the message as made verifies.
func TestDecodePSSTampered(t *testing.T) {
	p := newPKI(t)
	der, wrap := pssSigned(t, p)
	mustHex := func(s string) []byte { return mustHexT(t, s) }
	sha256OID, sha512OID := "06 09 60 86 48 01 65 03 04 02 01", "06 09 60 86 48 01 65 03 04 02 03"
	hashParam := "a0 0f 30 0d " + sha256OID
	mgfParam := "a1 1c 30 1a 06 09 2a 86 48 86 f7 0d 01 01 08 30 0d " + sha256OID
	replace := func(old, new []byte) func([]byte) []byte {
		return func(b []byte) []byte {
			if bytes.Count(b, old) != 1 {
				t.Fatalf("%X occurs %d times in the signature", old, bytes.Count(b, old))
			}
			return bytes.Replace(b, old, new, 1)
		}
	}
	// The signature value is the last OCTET STRING: flip its last octet.
	flipLast := func(b []byte) []byte {
		b = bytes.Clone(b)
		b[len(b)-1] ^= 1
		return b
	}
	// UTCTime of the signing-time attribute: one digit later.
	signingTime := func(b []byte) []byte {
		i := bytes.Index(b, mustHex("06 09 2a 86 48 86 f7 0d 01 09 05 31 0f 17 0d"))
		if i < 0 {
			t.Fatal("no signing-time attribute")
		}
		b = bytes.Clone(b)
		b[i+15+11] ^= 1 // a digit of the seconds
		return b
	}
	tests := []struct {
		name   string
		tamper func([]byte) []byte
		want   string // the error, "" for none
	}{
		{"untouched", func(b []byte) []byte { return b }, ""},
		{"content", replace([]byte("ISA*00*pss"), []byte("ISA*00*psz")), "Message digest mismatch"},
		{"signing-time", signingTime, "the RSASSA-PSS signature does not verify"},
		{"signature", flipLast, "the RSASSA-PSS signature does not verify"},
		{"salt-length", replace(mustHex("a2 03 02 01 20"), mustHex("a2 03 02 01 1f")), "the RSASSA-PSS signature does not verify"},
		{"hash", replace(mustHex(hashParam), mustHex("a0 0f 30 0d "+sha512OID)), "the RSASSA-PSS signature's hash sha512 differs from its digest algorithm sha256"},
		{"mgf1-hash", replace(mustHex(mgfParam), mustHex(strings.Replace(mgfParam, sha256OID, sha512OID, 1))), "the RSASSA-PSS signature's MGF1 hash sha512 differs from its hash sha256"},
		{"trailer", replace(mustHex("a2 03 02 01 20"), mustHex("a3 03 02 01 02")), "the RSASSA-PSS signature's trailer field is 2, want 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := wrap(tt.tamper(der))
			d, err := decodeBoth(t, msg, p.decodeOpts())
			if tt.want == "" {
				if err != nil || !d.Signed || !d.Signer.Equal(p.group.Cert) || string(d.Body) != "ISA*00*pss\r\n" {
					t.Fatalf("Decode: %v, %+v", err, d)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), "smime: signature verification failed: ") || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Decode: %v, want a verification failure saying %q", err, tt.want)
			}
		})
	}
}

// TestPSSOptions: the RSASSA-PSS parameters (RFC 4055 §3.1) are read with
// their defaults (SHA-1, MGF1 with SHA-1, salt 20, trailer 1) and refused
// when absent, malformed, or naming a mask, hash or trailer not accepted.
func TestPSSOptions(t *testing.T) {
	sha1ID := "30 09 06 05 2b 0e 03 02 1a 05 00"
	sha256ID := "30 0d 06 09 60 86 48 01 65 03 04 02 01 05 00"
	mgf1 := func(hashID string) string {
		b := mustHexT(t, "06 09 2a 86 48 86 f7 0d 01 01 08"+hashID)
		return fmt.Sprintf("a1 %02x 30 %02x %x", len(b)+2, len(b), b)
	}
	seq := func(fields ...string) []byte {
		b := mustHexT(t, strings.Join(fields, " "))
		return append([]byte{0x30, byte(len(b))}, b...)
	}
	explicit0 := func(id string) string {
		b := mustHexT(t, id)
		return fmt.Sprintf("a0 %02x %x", len(b), b)
	}
	sha256OID := asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	sha1OID := asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	tests := []struct {
		name   string
		digest asn1.ObjectIdentifier
		params []byte
		hash   crypto.Hash
		salt   int
		want   string // the error, "" for none
	}{
		{"all defaults", sha1OID, seq(), crypto.SHA1, 20, ""},
		{"sha1 written out", sha1OID, seq(explicit0(sha1ID), mgf1(sha1ID), "a2 03 02 01 14", "a3 03 02 01 01"), crypto.SHA1, 20, ""},
		{"sha256, salt 32", sha256OID, seq(explicit0(sha256ID), mgf1(sha256ID), "a2 03 02 01 20"), crypto.SHA256, 32, ""},
		{"sha256 without NULL", sha256OID, seq(explicit0("30 0b 06 09 60 86 48 01 65 03 04 02 01"), mgf1(sha256ID), "a2 03 02 01 20"), crypto.SHA256, 32, ""},
		{"defaults with sha256 digest", sha256OID, seq(), 0, 0, "hash sha1 differs from its digest algorithm sha256"},
		{"mgf1 defaulted", sha256OID, seq(explicit0(sha256ID)), 0, 0, "MGF1 hash sha1 differs from its hash sha256"},
		{"not mgf1", sha256OID, seq(explicit0(sha256ID), "a1 0f 30 0d 06 09 2a 86 48 86 f7 0d 01 01 09 05 00"), 0, 0, "mask generation function 1.2.840.113549.1.1.9 is not accepted"},
		{"trailer 2", sha1OID, seq("a3 03 02 01 02"), 0, 0, "trailer field is 2, want 1"},
		{"negative salt", sha1OID, seq("a2 03 02 01 ff"), 0, 0, "salt length is -1"},
		{"trailing octets", sha1OID, append(seq(), 0), 0, 0, "malformed RSASSA-PSS parameters"},
		{"not a SEQUENCE", sha1OID, mustHexT(t, "05 00"), 0, 0, "malformed RSASSA-PSS parameters"},
		{"absent", sha1OID, nil, 0, 0, "has no parameters"},
		{"digest md5", asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 5}, seq(), 0, 0, "digest algorithm md5 (1.2.840.113549.2.5) is not accepted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hash, salt, err := pssOptions(tt.digest, asn1.RawValue{FullBytes: tt.params})
			if tt.want == "" {
				if err != nil || hash != tt.hash || salt != tt.salt {
					t.Fatalf("pssOptions: %v %d %v, want %v %d", hash, salt, err, tt.hash, tt.salt)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("pssOptions: %v, want an error saying %q", err, tt.want)
			}
		})
	}
}

func mustHexT(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDecodePSSMIC: the AS2 MIC of an RSASSA-PSS clear-signed message,
// also inside encryption, is the digest of its first part as signed.
func TestDecodePSSMIC(t *testing.T) {
	ossl := openssl(t)
	p := newPKI(t)
	entity := []byte("Content-Type: application/edi-x12\r\nContent-Transfer-Encoding: binary\r\n\r\nISA*00*\x00\xffmic\r\n")
	signed := run(t, entity, ossl, append([]string{"cms", "-sign", "-binary", "-signer", p.groupPEM, "-inkey", writeGroupKey(t, p)}, pss...)...)
	// -binary signs the entity as it is.
	want := sha256.Sum256(entity)
	encrypted := run(t, signed, ossl, "cms", "-encrypt", "-binary", "-aes-256-gcm", "-recip", p.partnerPEM)
	for name, msg := range map[string][]byte{"signed": signed, "signed+encrypted": encrypted} {
		t.Run(name, func(t *testing.T) {
			opts := p.decodeOpts()
			opts.MICHash = crypto.SHA256
			d, err := Decode(msg, opts)
			if err != nil {
				t.Fatal(err)
			}
			if !d.Signed || !bytes.Equal(d.MIC, want[:]) {
				t.Errorf("signed %v, MIC %x, want %x", d.Signed, d.MIC, want)
			}
		})
	}
}

// TestDecoderStagePSS: the decoder stage resolves an RSASSA-PSS signer to
// its party as any other, applies the rollover rule to a message signed
// twice, one signature PKCS #1 v1.5 and one RSASSA-PSS, and refuses a
// stranger's RSASSA-PSS signature as no party's and a party's expired
// certificate at receipt.
func TestDecoderStagePSS(t *testing.T) {
	ossl := openssl(t)
	_, now, old, next, stranger := rolloverCerts(t)
	dir := t.TempDir()
	signer := func(c *testpki.Cert, usePSS bool) []string {
		name := c.Cert.Subject.CommonName
		args := []string{"-signer", testpki.WriteFile(t, dir, name+".pem", c.CertPEM()), "-inkey", testpki.WriteFile(t, dir, name+".key", c.KeyPEM())}
		if usePSS {
			args = append(args, pss...)
		}
		return args
	}
	in := testpki.WriteFile(t, dir, "entity.mime", []byte("Content-Type: application/edi-x12\r\n\r\nISA*00*pss\r\n"))
	sign := func(signers ...[]string) []byte {
		args := []string{"cms", "-sign", "-binary", "-md", "sha256", "-in", in}
		for _, s := range signers {
			args = append(args, s...)
		}
		return run(t, nil, ossl, args...)
	}
	st := newDecoderStage(t, false, true, component.DecoderEnv{Keys: component.Keys{PartySigners: []component.PartyCertificate{
		{Party: "fabrikam", Cert: old.Cert}, {Party: "fabrikam", Cert: next.Cert}}}})
	expired := now.Add(2 * time.Hour)
	tests := []struct {
		name string
		msg  []byte
		at   time.Time
		want string // the refusal, "" when accepted as fabrikam
	}{
		{"pss", sign(signer(next, true)), now, ""},
		{"old v1.5 expired, new pss", sign(signer(old, false), signer(next, true)), expired, ""},
		{"old pss expired, new v1.5", sign(signer(old, true), signer(next, false)), expired, ""},
		{"pss expired", sign(signer(old, true)), expired, "x509: certificate has expired or is not yet valid"},
		{"pss stranger", sign(signer(stranger, true)), now, `is not a signing certificate of any party`},
		{"pss, then a stranger", sign(signer(next, true), signer(stranger, true)), now, `is not a signing certificate of any party`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			d, err := st.Decode(t.Context(), component.Header{}, bytes.NewReader(tt.msg), &out, tt.at)
			if tt.want == "" {
				if err != nil || d.Party != "fabrikam" || !bytes.Contains(out.Bytes(), []byte("ISA*00*pss")) {
					t.Fatalf("party %q, %v, decoded %q; want fabrikam's payload", d.Party, err, out.Bytes())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, component.ErrAuthenticationFailed) {
				t.Fatalf("Decode: %v, want an authentication failure saying %q", err, tt.want)
			}
		})
	}
}
