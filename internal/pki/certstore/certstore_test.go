package certstore

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/bizpipe/bizpipe/internal/pki/thumbprint"
	"github.com/bizpipe/bizpipe/internal/testfs"
	"github.com/bizpipe/bizpipe/internal/testpki"
)

func TestLoad(t *testing.T) {
	fx := newFixtures(t)
	W := testpki.WriteFile
	pkcs8DER := func(c *testpki.Cert) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(c.Key)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	badPEM := []byte("-----BEGIN CERTIFICATE-----\n!!!! not base64 !!!!\n-----END CERTIFICATE-----\n")
	ecCertLines := bytes.Count(fx.ecLeaf.CertPEM(), []byte("\n"))

	tests := []struct {
		name  string
		pw    Password
		setup func(t *testing.T, dir string)
		want  want
	}{
		{
			name: "multi-block PEM with text between blocks",
			setup: func(t *testing.T, dir string) {
				W(t, dir, "bundle.pem", join(fx.rsaLeaf.CertPEM(), []byte("subject=CN = Test CA\n"), fx.ca.CertPEM(), fx.rsaLeaf.KeyPEM()))
			},
			want: want{
				certs:       []wantCert{{"rsa leaf", "bundle.pem", "bundle.pem"}, {"Test CA", "bundle.pem", ""}},
				files:       map[string]FileKind{"bundle.pem": FilePEM},
				unencrypted: []string{"bundle.pem"},
			},
		},
		{
			name: "certificate and PKCS#8 key in separate files",
			setup: func(t *testing.T, dir string) {
				W(t, dir, "leaf.crt", fx.ecLeaf.CertPEM())
				W(t, dir, "leaf.key", fx.ecLeaf.KeyPEM())
			},
			want: want{
				certs:       []wantCert{{"ec leaf", "leaf.crt", "leaf.key"}},
				files:       map[string]FileKind{"leaf.crt": FilePEM, "leaf.key": FilePEM},
				unencrypted: []string{"leaf.key"},
			},
		},
		{
			name: "PKCS#1 RSA key read before its certificate",
			setup: func(t *testing.T, dir string) {
				W(t, dir, "a.key", fx.rsaLeaf.KeyPKCS1PEM(t))
				W(t, dir, "b.pem", fx.rsaLeaf.CertPEM())
			},
			want: want{
				certs:       []wantCert{{"rsa leaf", "b.pem", "a.key"}},
				files:       map[string]FileKind{"a.key": FilePEM, "b.pem": FilePEM},
				unencrypted: []string{"a.key"},
			},
		},
		{
			name: "SEC 1 EC key",
			setup: func(t *testing.T, dir string) {
				W(t, dir, "ec.key", fx.ecLeaf.KeySEC1PEM(t))
				W(t, dir, "ec.pem", fx.ecLeaf.CertPEM())
			},
			want: want{
				certs:       []wantCert{{"ec leaf", "ec.pem", "ec.key"}},
				files:       map[string]FileKind{"ec.key": FilePEM, "ec.pem": FilePEM},
				unencrypted: []string{"ec.key"},
			},
		},
		{
			name: "Ed25519 PKCS#8 key",
			setup: func(t *testing.T, dir string) {
				W(t, dir, "ed.pem", join(fx.edLeaf.KeyPEM(), fx.edLeaf.CertPEM()))
			},
			want: want{
				certs:       []wantCert{{"ed leaf", "ed.pem", "ed.pem"}},
				files:       map[string]FileKind{"ed.pem": FilePEM},
				unencrypted: []string{"ed.pem"},
			},
		},
		{
			name: "Windows text: CRLF, UTF-8 BOM, UTF-16 with BOM",
			setup: func(t *testing.T, dir string) {
				crlf := bytes.ReplaceAll(fx.ecLeaf.CertPEM(), []byte("\n"), []byte("\r\n"))
				W(t, dir, "crlf.cer", crlf)
				W(t, dir, "bom.cer", join([]byte("\xef\xbb\xbf"), fx.ca.CertPEM()))
				W(t, dir, "utf16le.cer", utf16Text(fx.rsaLeaf.CertPEM(), false))
				W(t, dir, "utf16be.pem", utf16Text(fx.edLeaf.CertPEM(), true))
			},
			want: want{
				certs: []wantCert{{"Test CA", "bom.cer", ""}, {"ec leaf", "crlf.cer", ""}, {"ed leaf", "utf16be.pem", ""}, {"rsa leaf", "utf16le.cer", ""}},
				files: map[string]FileKind{"bom.cer": FilePEM, "crlf.cer": FilePEM, "utf16be.pem": FilePEM, "utf16le.cer": FilePEM},
			},
		},
		{
			name: "text that mentions -----BEGIN inside a line is not PEM",
			setup: func(t *testing.T, dir string) {
				W(t, dir, "README", []byte("Paste the block that starts with -----BEGIN CERTIFICATE----- here.\n"))
			},
			want: want{
				files: map[string]FileKind{"README": FileIgnored},
				notes: []string{"README: ignored: not a certificate"},
			},
		},
		{
			name: "DER certificates (.der .cer .crt)",
			setup: func(t *testing.T, dir string) {
				W(t, dir, "a.der", fx.ca.DER)
				W(t, dir, "b.cer", fx.ecLeaf.DER)
				W(t, dir, "c.crt", fx.rsaLeaf.DER)
			},
			want: want{
				certs: []wantCert{{"Test CA", "a.der", ""}, {"ec leaf", "b.cer", ""}, {"rsa leaf", "c.crt", ""}},
				files: map[string]FileKind{"a.der": FileDER, "b.cer": FileDER, "c.crt": FileDER},
			},
		},
		{
			name: ".cer holding PEM",
			setup: func(t *testing.T, dir string) {
				W(t, dir, "partner.cer", fx.ecLeaf.CertPEM())
			},
			want: want{
				certs: []wantCert{{"ec leaf", "partner.cer", ""}},
				files: map[string]FileKind{"partner.cer": FilePEM},
			},
		},
		{
			name: "recognised by content whatever the name",
			pw:   KnownPassword("pw"),
			setup: func(t *testing.T, dir string) {
				W(t, dir, "bundle.dat", fx.edLeaf.PKCS12(t, "pw", false))
				W(t, dir, "ec-key", pkcs8DER(fx.ecLeaf)) // DER PKCS#8 key
				W(t, dir, "partner.bin", fx.ecLeaf.DER)
				W(t, dir, "signing", join(fx.rsaLeaf.CertPEM(), fx.rsaLeaf.KeyPEM()))
			},
			want: want{
				certs: []wantCert{{"ed leaf", "bundle.dat", "bundle.dat"}, {"ec leaf", "partner.bin", "ec-key"}, {"rsa leaf", "signing", "signing"}},
				files: map[string]FileKind{"bundle.dat": FilePKCS12, "ec-key": FileDER, "partner.bin": FileDER, "signing": FilePEM},
				// The PKCS#12 is protected by a password, the others are not.
				unencrypted: []string{"ec-key", "signing"},
			},
		},
		{
			name: "PKCS#12 Modern2023 with CA certificate",
			pw:   KnownPassword("s3cret"),
			setup: func(t *testing.T, dir string) {
				W(t, dir, "id.p12", fx.rsaLeaf.PKCS12(t, "s3cret", false, fx.ca))
			},
			want: want{
				certs: []wantCert{{"rsa leaf", "id.p12", "id.p12"}, {"Test CA", "id.p12", ""}},
				files: map[string]FileKind{"id.p12": FilePKCS12},
			},
		},
		{
			name: "PKCS#12 Modern2026 (PBMAC1)",
			pw:   KnownPassword("s3cret"),
			setup: func(t *testing.T, dir string) {
				W(t, dir, "id.pfx", fx.ecLeaf.PKCS12With(t, pkcs12.Modern2026, "s3cret"))
			},
			want: want{
				certs: []wantCert{{"ec leaf", "id.pfx", "id.pfx"}},
				files: map[string]FileKind{"id.pfx": FilePKCS12},
			},
		},
		{
			name: "PKCS#12 LegacyRC2",
			pw:   KnownPassword("s3cret"),
			setup: func(t *testing.T, dir string) {
				W(t, dir, "legacy.pfx", fx.rsaLeaf.PKCS12(t, "s3cret", true, fx.ca))
			},
			want: want{
				certs: []wantCert{{"rsa leaf", "legacy.pfx", "legacy.pfx"}, {"Test CA", "legacy.pfx", ""}},
				files: map[string]FileKind{"legacy.pfx": FilePKCS12},
			},
		},
		{
			name: "PKCS#12 LegacyDES",
			pw:   KnownPassword("s3cret"),
			setup: func(t *testing.T, dir string) {
				W(t, dir, "des.p12", fx.ecLeaf.PKCS12With(t, pkcs12.LegacyDES, "s3cret"))
			},
			want: want{
				certs: []wantCert{{"ec leaf", "des.p12", "des.p12"}},
				files: map[string]FileKind{"des.p12": FilePKCS12},
			},
		},
		{
			name: "PKCS#12 from openssl pkcs12 -export (OpenSSL 3 default: PBES2/AES-256, SHA-256 MAC)",
			pw:   KnownPassword("s3cret"),
			setup: func(t *testing.T, dir string) {
				cert, key := scratch(t, fx.rsaLeaf)
				ca, _ := scratch(t, fx.ca)
				runOpenSSL(t, "pkcs12", "-export", "-in", cert, "-inkey", key, "-certfile", ca,
					"-passout", "pass:s3cret", "-out", filepath.Join(dir, "openssl.pfx"))
			},
			want: want{
				certs: []wantCert{{"rsa leaf", "openssl.pfx", "openssl.pfx"}, {"Test CA", "openssl.pfx", ""}},
				files: map[string]FileKind{"openssl.pfx": FilePKCS12},
			},
		},
		{
			name: "PKCS#12 from openssl pkcs12 -export -legacy (RC2-40 and 3DES, SHA-1 MAC)",
			pw:   KnownPassword("s3cret"),
			setup: func(t *testing.T, dir string) {
				cert, key := scratch(t, fx.ecLeaf)
				runOpenSSL(t, "pkcs12", "-export", "-legacy", "-in", cert, "-inkey", key,
					"-passout", "pass:s3cret", "-out", filepath.Join(dir, "openssl-legacy.p12"))
			},
			want: want{
				certs: []wantCert{{"ec leaf", "openssl-legacy.p12", "openssl-legacy.p12"}},
				files: map[string]FileKind{"openssl-legacy.p12": FilePKCS12},
			},
		},
		{
			name: "openssl pkcs12 -nodes output (PEM with bag attributes)",
			setup: func(t *testing.T, dir string) {
				p12 := testpki.WriteFile(t, t.TempDir(), "x.p12", fx.rsaLeaf.PKCS12(t, "pw", false, fx.ca))
				runOpenSSL(t, "pkcs12", "-in", p12, "-passin", "pass:pw", "-nodes", "-out", filepath.Join(dir, "bundle.pem"))
			},
			want: want{
				certs:       []wantCert{{"rsa leaf", "bundle.pem", "bundle.pem"}, {"Test CA", "bundle.pem", ""}},
				files:       map[string]FileKind{"bundle.pem": FilePEM},
				unencrypted: []string{"bundle.pem"},
			},
		},
		{
			name: "openssl TRUSTED CERTIFICATE and EC PARAMETERS blocks",
			setup: func(t *testing.T, dir string) {
				key := filepath.Join(dir, "ecparam.key")
				runOpenSSL(t, "ecparam", "-name", "prime256v1", "-genkey", "-out", key)
				cert := filepath.Join(t.TempDir(), "c.pem")
				runOpenSSL(t, "req", "-new", "-x509", "-key", key, "-subj", "/CN=openssl ec", "-days", "2", "-out", cert)
				runOpenSSL(t, "x509", "-in", cert, "-trustout", "-addtrust", "emailProtection", "-out", filepath.Join(dir, "trusted.pem"))
			},
			want: want{
				certs:       []wantCert{{"openssl ec", "trusted.pem", "ecparam.key"}},
				files:       map[string]FileKind{"ecparam.key": FilePEM, "trusted.pem": FilePEM},
				unencrypted: []string{"ecparam.key"},
			},
		},
		{
			name: "encrypted PKCS#8 PEM key",
			setup: func(t *testing.T, dir string) {
				W(t, dir, "cert.pem", fx.ecLeaf.CertPEM())
				_, key := scratch(t, fx.ecLeaf)
				runOpenSSL(t, "pkcs8", "-topk8", "-in", key, "-passout", "pass:x", "-out", filepath.Join(dir, "enc.key"))
			},
			want: want{
				certs:    []wantCert{{"ec leaf", "cert.pem", ""}},
				files:    map[string]FileKind{"cert.pem": FilePEM, "enc.key": FilePEM},
				problems: []wantProblem{{"enc.key", ProblemParse, "encrypted PEM private keys are not supported"}},
			},
		},
		{
			name: "encrypted traditional RSA PEM key (Proc-Type: 4,ENCRYPTED)",
			setup: func(t *testing.T, dir string) {
				_, key := scratch(t, fx.rsaLeaf)
				runOpenSSL(t, "rsa", "-in", key, "-aes256", "-traditional", "-passout", "pass:x", "-out", filepath.Join(dir, "trad.key"))
			},
			want: want{
				files:    map[string]FileKind{"trad.key": FilePEM},
				problems: []wantProblem{{"trad.key", ProblemParse, "encrypted PEM private keys are not supported"}},
			},
		},
		{
			name: "wrong PKCS#12 password",
			pw:   KnownPassword("wrong"),
			setup: func(t *testing.T, dir string) {
				W(t, dir, "id.p12", fx.ecLeaf.PKCS12(t, "right", false))
			},
			want: want{
				files:    map[string]FileKind{"id.p12": FilePKCS12},
				problems: []wantProblem{{"id.p12", ProblemPassword, "the password is incorrect"}},
			},
		},
		{
			name: "wrong password for legacy PKCS#12",
			pw:   KnownPassword("wrong"),
			setup: func(t *testing.T, dir string) {
				W(t, dir, "id.p12", fx.ecLeaf.PKCS12(t, "right", true))
			},
			want: want{
				files:    map[string]FileKind{"id.p12": FilePKCS12},
				problems: []wantProblem{{"id.p12", ProblemPassword, "the password is incorrect"}},
			},
		},
		{
			name: "encrypted PKCS#12 and no password configured",
			setup: func(t *testing.T, dir string) {
				W(t, dir, "id.p12", fx.ecLeaf.PKCS12(t, "right", false))
			},
			want: want{
				files:    map[string]FileKind{"id.p12": FilePKCS12},
				problems: []wantProblem{{"id.p12", ProblemPassword, "no password configured"}},
			},
		},
		{
			name: "PKCS#12 with the empty password and no password configured",
			setup: func(t *testing.T, dir string) {
				W(t, dir, "id.p12", fx.ecLeaf.PKCS12(t, "", false))
			},
			want: want{
				certs:       []wantCert{{"ec leaf", "id.p12", "id.p12"}},
				files:       map[string]FileKind{"id.p12": FilePKCS12},
				unencrypted: []string{"id.p12"},
			},
		},
		{
			name: "password-less PKCS#12 opens whatever the store's password",
			pw:   KnownPassword("pw"),
			setup: func(t *testing.T, dir string) {
				W(t, dir, "id.p12", fx.ecLeaf.PKCS12With(t, pkcs12.Passwordless, ""))
			},
			want: want{
				certs:       []wantCert{{"ec leaf", "id.p12", "id.p12"}},
				files:       map[string]FileKind{"id.p12": FilePKCS12},
				unencrypted: []string{"id.p12"},
			},
		},
		{
			// The password guards only the MAC: the key is as exposed
			// as an unencrypted PEM key (BP6003).
			name: "PKCS#12 whose key bag openssl left unencrypted (-keypbe NONE)",
			pw:   KnownPassword("pw"),
			setup: func(t *testing.T, dir string) {
				cert, key := scratch(t, fx.ecLeaf)
				runOpenSSL(t, "pkcs12", "-export", "-in", cert, "-inkey", key, "-keypbe", "NONE", "-passout", "pass:pw", "-out", filepath.Join(dir, "clear-key.p12"))
				runOpenSSL(t, "pkcs12", "-export", "-in", cert, "-inkey", key, "-keypbe", "NONE", "-certpbe", "NONE", "-passout", "pass:pw", "-out", filepath.Join(dir, "clear.p12"))
				cert, key = scratch(t, fx.rsaLeaf)
				runOpenSSL(t, "pkcs12", "-export", "-in", cert, "-inkey", key, "-certpbe", "NONE", "-passout", "pass:pw", "-out", filepath.Join(dir, "shrouded.p12"))
			},
			want: want{
				certs: []wantCert{{"ec leaf", "clear-key.p12", "clear-key.p12"}, {"rsa leaf", "shrouded.p12", "shrouded.p12"}},
				files: map[string]FileKind{"clear-key.p12": FilePKCS12, "clear.p12": FilePKCS12, "shrouded.p12": FilePKCS12},
				// clear.p12's key is the same as clear-key.p12's: first wins.
				unencrypted: []string{"clear-key.p12", "clear.p12"},
			},
		},
		{
			name: "truncated PKCS#12",
			pw:   KnownPassword("pw"),
			setup: func(t *testing.T, dir string) {
				p12 := fx.ecLeaf.PKCS12(t, "pw", false)
				W(t, dir, "cut.p12", p12[:len(p12)/2])
			},
			want: want{
				files:    map[string]FileKind{"cut.p12": FilePKCS12},
				problems: []wantProblem{{"cut.p12", ProblemParse, "cannot parse PKCS#12"}},
			},
		},
		{
			name: "BER-encoded PKCS#12 (indefinite length, as Java tools write)",
			pw:   KnownPassword("pw"),
			setup: func(t *testing.T, dir string) {
				der := fx.ecLeaf.PKCS12(t, "pw", false)
				if der[0] != 0x30 || der[1] != 0x82 {
					t.Fatalf("unexpected PFX header % x", der[:2])
				}
				// Same content, outer SEQUENCE re-encoded with BER's
				// indefinite length and end-of-contents octets.
				W(t, dir, "java.p12", join([]byte{0x30, 0x80}, der[4:], []byte{0, 0}))
			},
			want: want{
				files:    map[string]FileKind{"java.p12": FilePKCS12},
				problems: []wantProblem{{"java.p12", ProblemParse, "BER-encoded PKCS#12 files (as some Java tools write) are not supported"}},
			},
		},
		{
			name: ".pfx that is not PKCS#12",
			pw:   KnownPassword("pw"),
			setup: func(t *testing.T, dir string) {
				W(t, dir, "junk.pfx", []byte("this is not a pfx\n"))
			},
			want: want{
				files:    map[string]FileKind{"junk.pfx": FilePKCS12},
				problems: []wantProblem{{"junk.pfx", ProblemParse, "not a PKCS#12 file"}},
			},
		},
		{
			name: "certificate-only PKCS#12 from openssl -nokeys",
			pw:   KnownPassword("pw"),
			setup: func(t *testing.T, dir string) {
				cert, _ := scratch(t, fx.ecLeaf)
				runOpenSSL(t, "pkcs12", "-export", "-nokeys", "-in", cert, "-passout", "pass:pw", "-out", filepath.Join(dir, "certs.p12"))
			},
			want: want{
				certs: []wantCert{{"ec leaf", "certs.p12", ""}},
				files: map[string]FileKind{"certs.p12": FilePKCS12},
			},
		},
		{
			name: "unknown password: PKCS#12 not opened, the rest loaded",
			pw:   UnknownPassword(),
			setup: func(t *testing.T, dir string) {
				W(t, dir, "cert.pem", fx.ecLeaf.CertPEM())
				W(t, dir, "id.p12", fx.rsaLeaf.PKCS12(t, "pw", false))
				W(t, dir, "nokey", fx.edLeaf.PKCS12(t, "pw", true)) // by content
			},
			want: want{
				certs:    []wantCert{{"ec leaf", "cert.pem", ""}},
				files:    map[string]FileKind{"cert.pem": FilePEM, "id.p12": FilePKCS12, "nokey": FilePKCS12},
				unopened: []string{"id.p12", "nokey"},
			},
		},
		{
			name: "unknown password still reports a .p12 that is not PKCS#12",
			pw:   UnknownPassword(),
			setup: func(t *testing.T, dir string) {
				W(t, dir, "junk.p12", []byte("garbage"))
			},
			want: want{
				files:    map[string]FileKind{"junk.p12": FilePKCS12},
				problems: []wantProblem{{"junk.p12", ProblemParse, "not a PKCS#12 file"}},
			},
		},
		{
			name: "malformed PEM block between good ones",
			setup: func(t *testing.T, dir string) {
				W(t, dir, "mixed.pem", join(fx.ecLeaf.CertPEM(), badPEM, fx.ca.CertPEM()))
			},
			want: want{
				certs:    []wantCert{{"ec leaf", "mixed.pem", ""}, {"Test CA", "mixed.pem", ""}},
				files:    map[string]FileKind{"mixed.pem": FilePEM},
				problems: []wantProblem{{"mixed.pem", ProblemParse, "malformed PEM block at line " + strconv.Itoa(ecCertLines+1)}},
			},
		},
		{
			// A hostile file of 20,000 "-----BEGIN" lines between two good
			// certificates: the first problems say what is wrong and where,
			// one more counts the rest, rather than a problem (and a
			// diagnostic) each, and the certificates are still found.
			name: "thousands of malformed PEM blocks",
			setup: func(t *testing.T, dir string) {
				W(t, dir, "many.pem", join(fx.ecLeaf.CertPEM(), bytes.Repeat([]byte("-----BEGIN\n"), 20000), fx.ca.CertPEM()))
			},
			want: want{
				certs: []wantCert{{"ec leaf", "many.pem", ""}, {"Test CA", "many.pem", ""}},
				files: map[string]FileKind{"many.pem": FilePEM},
				problems: func() []wantProblem {
					var ps []wantProblem
					for i := range maxPEMProblems {
						ps = append(ps, wantProblem{"many.pem", ProblemParse, "malformed PEM block at line " + strconv.Itoa(ecCertLines+1+i)})
					}
					return append(ps, wantProblem{"many.pem", ProblemParse, strconv.Itoa(20000-maxPEMProblems) + " more PEM blocks, from line " + strconv.Itoa(ecCertLines+1+maxPEMProblems) + " on, cannot be parsed either"})
				}(),
			},
		},
		{
			// 20,000 well-formed blocks of a type a store does not use: the
			// first notes name them, one more counts the rest, rather than
			// a note (and a --verbose line) each.
			name: "thousands of ignored PEM blocks",
			setup: func(t *testing.T, dir string) {
				W(t, dir, "many.pem", join(fx.ecLeaf.CertPEM(), bytes.Repeat(pem.EncodeToMemory(&pem.Block{Type: "X"}), 20000), fx.ca.CertPEM()))
			},
			want: want{
				certs: []wantCert{{"ec leaf", "many.pem", ""}, {"Test CA", "many.pem", ""}},
				files: map[string]FileKind{"many.pem": FilePEM},
				notes: func() []string {
					var ns []string
					for range maxPEMNotes {
						ns = append(ns, `many.pem: ignored PEM block "X"`)
					}
					return append(ns, "many.pem: "+strconv.Itoa(20000-maxPEMNotes)+" more PEM blocks ignored")
				}(),
			},
		},
		{
			name: "PEM block without END line",
			setup: func(t *testing.T, dir string) {
				cut := fx.ecLeaf.CertPEM()
				W(t, dir, "cut.crt", cut[:len(cut)-30])
			},
			want: want{
				files:    map[string]FileKind{"cut.crt": FilePEM},
				problems: []wantProblem{{"cut.crt", ProblemParse, "malformed PEM block at line 1"}},
			},
		},
		{
			name: "PEM certificate that is not a certificate",
			setup: func(t *testing.T, dir string) {
				W(t, dir, "bad.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("hello")}))
			},
			want: want{
				files:    map[string]FileKind{"bad.pem": FilePEM},
				problems: []wantProblem{{"bad.pem", ProblemParse, `PEM block "CERTIFICATE" at line 1: cannot parse certificate`}},
			},
		},
		{
			name: "PEM private key that does not parse still counts as key material",
			setup: func(t *testing.T, dir string) {
				W(t, dir, "bad.key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("0123456789")}))
			},
			want: want{
				files:       map[string]FileKind{"bad.key": FilePEM},
				unencrypted: []string{"bad.key"},
				problems:    []wantProblem{{"bad.key", ProblemParse, "cannot parse private key"}},
			},
		},
		{
			// crypto/rsa's checks of a key cost the square of its size
			// and more: a 512 KiB modulus took minutes. One larger than
			// any tool makes is refused before they run, in each form.
			name: "RSA private keys with a 65536-bit modulus",
			setup: func(t *testing.T, dir string) {
				pkcs1, pkcs8 := hugeRSAKey(t, 65536)
				W(t, dir, "pkcs1.pem", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: pkcs1}))
				W(t, dir, "pkcs8.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}))
				W(t, dir, "pkcs8.key", pkcs8)
			},
			want: want{
				files:       map[string]FileKind{"pkcs1.pem": FilePEM, "pkcs8.pem": FilePEM, "pkcs8.key": FileDER},
				unencrypted: []string{"pkcs1.pem", "pkcs8.key", "pkcs8.pem"},
				problems: []wantProblem{
					{"pkcs1.pem", ProblemParse, "a 65536-bit RSA key, larger than the 16384 bits"},
					{"pkcs8.key", ProblemParse, "a 65536-bit RSA key, larger than the 16384 bits"},
					{"pkcs8.pem", ProblemParse, "a 65536-bit RSA key, larger than the 16384 bits"},
				},
			},
		},
		{
			// go-pkcs12 parses the key of a PKCS#12 file as x509 does: the
			// empty password, tried in a store without one, opens a file
			// anyone can make.
			name: "PKCS#12 files holding an RSA key with a 65536-bit modulus",
			setup: func(t *testing.T, dir string) {
				_, pkcs8 := hugeRSAKey(t, 65536)
				W(t, dir, "plain.p12", passwordlessPKCS12(t, asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 1}, pkcs8, fx.rsaLeaf.Cert))
				// An encrypted key (PBES2) larger than any key of 16384
				// bits is refused by its size: what it decrypts to is
				// not read.
				shrouded, err := asn1.Marshal(struct {
					Algo pkix.AlgorithmIdentifier
					Data []byte
				}{pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}, Parameters: asn1.NullRawValue}, make([]byte, 20<<10)})
				if err != nil {
					t.Fatal(err)
				}
				W(t, dir, "shrouded.p12", passwordlessPKCS12(t, asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 2}, shrouded, fx.rsaLeaf.Cert))
			},
			want: want{
				files: map[string]FileKind{"plain.p12": FilePKCS12, "shrouded.p12": FilePKCS12},
				problems: []wantProblem{
					{"plain.p12", ProblemParse, "a 65536-bit RSA key, larger than the 16384 bits"},
					{"shrouded.p12", ProblemParse, "larger than an RSA key of 16384 bits"},
				},
			},
		},
		{
			name: "unsupported private key format",
			setup: func(t *testing.T, dir string) {
				W(t, dir, "id_ed25519", pem.EncodeToMemory(&pem.Block{Type: "OPENSSH PRIVATE KEY", Bytes: []byte("openssh-key-v1")}))
			},
			want: want{
				files:       map[string]FileKind{"id_ed25519": FilePEM},
				unencrypted: []string{"id_ed25519"},
				problems:    []wantProblem{{"id_ed25519", ProblemParse, "unsupported private key format"}},
			},
		},
		{
			name: "X25519 key cannot sign",
			setup: func(t *testing.T, dir string) {
				k, err := ecdh.X25519().GenerateKey(rand.Reader)
				if err != nil {
					t.Fatal(err)
				}
				der, err := x509.MarshalPKCS8PrivateKey(k)
				if err != nil {
					t.Fatal(err)
				}
				W(t, dir, "x25519.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
			},
			want: want{
				files:       map[string]FileKind{"x25519.pem": FilePEM},
				unencrypted: []string{"x25519.pem"},
				notes:       []string{"x25519.pem: ignored: private key (X25519) cannot sign or decrypt"},
			},
		},
		{
			name: ".pem, .key and .crt that hold nothing recognisable",
			setup: func(t *testing.T, dir string) {
				W(t, dir, "a.pem", []byte("just some text\n"))
				W(t, dir, "b.key", []byte{0x30, 0x03, 0x02, 0x01, 0x00})
				W(t, dir, "c.crt", []byte("MIIB... pasted without the BEGIN line"))
				W(t, dir, "d.pem", nil)
			},
			want: want{
				files: map[string]FileKind{"a.pem": FilePEM, "b.key": FilePEM, "c.crt": FileDER, "d.pem": FilePEM},
				problems: []wantProblem{
					{"a.pem", ProblemParse, "no PEM block found"},
					{"b.key", ProblemParse, "no PEM block found"},
					{"c.crt", ProblemParse, "not a PEM or DER certificate"},
					{"d.pem", ProblemParse, "file is empty"},
				},
			},
		},
		{
			// A truncated DER private key is not "a malformed certificate";
			// a truncated certificate keeps the parser's reason.
			name: "truncated DER private key and certificate",
			setup: func(t *testing.T, dir string) {
				key, err := x509.MarshalPKCS8PrivateKey(fx.ecLeaf.Key)
				if err != nil {
					t.Fatal(err)
				}
				W(t, dir, "key.der", key[:len(key)/2])
				W(t, dir, "cert.cer", fx.ecLeaf.DER[:len(fx.ecLeaf.DER)/2])
			},
			want: want{
				files: map[string]FileKind{"key.der": FileDER, "cert.cer": FileDER},
				problems: []wantProblem{
					{"cert.cer", ProblemParse, "not a PEM or DER certificate: x509: malformed certificate"},
					{"key.der", ProblemParse, "not PEM, and neither a certificate nor a private key in DER"},
				},
			},
		},
		{
			name: "ignored files, hidden files, subdirectories and other PEM blocks",
			setup: func(t *testing.T, dir string) {
				W(t, dir, ".hidden.pem", fx.ecLeaf.CertPEM())
				W(t, dir, "empty", nil)
				pub, err := x509.MarshalPKIXPublicKey(fx.other.Key.Public())
				if err != nil {
					t.Fatal(err)
				}
				W(t, dir, "pub.pem", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}))
				W(t, dir, "readme.txt", []byte("certificates for the send host\n"))
				W(t, filepath.Join(dir, "sub"), "nested.pem", fx.rsaLeaf.CertPEM())
				if err := os.Mkdir(filepath.Join(dir, ".git"), 0o700); err != nil {
					t.Fatal(err)
				}
			},
			want: want{
				files: map[string]FileKind{".hidden.pem": FileIgnored, "empty": FileIgnored, "pub.pem": FilePEM, "readme.txt": FileIgnored},
				notes: []string{
					".hidden.pem: ignored: hidden file",
					"empty: ignored: empty file",
					`pub.pem: ignored PEM block "PUBLIC KEY"`,
					"readme.txt: ignored: not a certificate, private key or PKCS#12 file",
					"sub: ignored: subdirectory",
				},
			},
		},
		{
			name: "private key without certificate",
			setup: func(t *testing.T, dir string) {
				W(t, dir, "lonely.key", fx.other.KeyPEM())
				W(t, dir, "partner.pem", fx.ecLeaf.CertPEM())
			},
			want: want{
				certs:       []wantCert{{"ec leaf", "partner.pem", ""}},
				files:       map[string]FileKind{"lonely.key": FilePEM, "partner.pem": FilePEM},
				unencrypted: []string{"lonely.key"},
				notes:       []string{"lonely.key: private key (ECDSA P-256) matches no certificate in the store"},
			},
		},
		{
			name: "keys match across files and formats",
			pw:   KnownPassword("pw"),
			setup: func(t *testing.T, dir string) {
				W(t, dir, "1-certs.pem", join(fx.rsaLeaf.CertPEM(), fx.ecLeaf.CertPEM()))
				W(t, dir, "2-keys.pem", join(fx.ecLeaf.KeySEC1PEM(t), fx.rsaLeaf.KeyPKCS1PEM(t)))
				W(t, dir, "3-ed.der", fx.edLeaf.DER)
				W(t, dir, "4-ed.p12", fx.edLeaf.PKCS12(t, "pw", false))
			},
			want: want{
				certs: []wantCert{
					{"rsa leaf", "1-certs.pem", "2-keys.pem"},
					{"ec leaf", "1-certs.pem", "2-keys.pem"},
					{"ed leaf", "3-ed.der", "4-ed.p12"}, // listed once, from its first file
				},
				files:       map[string]FileKind{"1-certs.pem": FilePEM, "2-keys.pem": FilePEM, "3-ed.der": FileDER, "4-ed.p12": FilePKCS12},
				unencrypted: []string{"2-keys.pem"},
			},
		},
		{
			name: "the same key in two files is not an orphan",
			setup: func(t *testing.T, dir string) {
				W(t, dir, "a.key", fx.ecLeaf.KeyPEM())
				W(t, dir, "b.key", fx.ecLeaf.KeySEC1PEM(t))
				W(t, dir, "c.pem", fx.ecLeaf.CertPEM())
			},
			want: want{
				certs:       []wantCert{{"ec leaf", "c.pem", "a.key"}},
				files:       map[string]FileKind{"a.key": FilePEM, "b.key": FilePEM, "c.pem": FilePEM},
				unencrypted: []string{"a.key", "b.key"},
			},
		},
		{
			name: "symbolic links are followed",
			setup: func(t *testing.T, dir string) {
				outside := t.TempDir()
				target := testpki.WriteFile(t, outside, "cert.pem", fx.ecLeaf.CertPEM())
				symlink(t, target, filepath.Join(dir, "link.pem"))
				symlink(t, filepath.Join(outside, "missing.pem"), filepath.Join(dir, "dangling.pem"))
				symlink(t, filepath.Join(outside, "missing"), filepath.Join(dir, "dangling"))
				symlink(t, outside, filepath.Join(dir, "dirlink"))
			},
			want: want{
				certs:    []wantCert{{"ec leaf", "link.pem", ""}},
				files:    map[string]FileKind{"dangling.pem": FilePEM, "link.pem": FilePEM},
				problems: []wantProblem{{"dangling.pem", ProblemRead, "cannot follow symbolic link"}},
				notes:    []string{"dangling: ignored: broken symbolic link", "dirlink: ignored: subdirectory"},
			},
		},
		{
			name: "a FIFO is never opened",
			setup: func(t *testing.T, dir string) {
				testfs.MakeFIFO(t, filepath.Join(dir, "pipe.pem"))
			},
			want: want{notes: []string{"pipe.pem: ignored: not a regular file"}},
		},
		{
			name: "oversized files",
			setup: func(t *testing.T, dir string) {
				big := bytes.Repeat([]byte("x"), maxFileSize+1)
				W(t, dir, "huge.log", big)
				W(t, dir, "huge.pem", big)
			},
			want: want{
				files:    map[string]FileKind{"huge.log": FileIgnored, "huge.pem": FilePEM},
				problems: []wantProblem{{"huge.pem", ProblemParse, "larger than 8 MiB, too large for a certificate"}},
				notes:    []string{"huge.log: ignored: larger than 8 MiB"},
			},
		},
		{
			name:  "empty directory",
			setup: func(t *testing.T, dir string) {},
			want:  want{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.setup(t, dir)
			s := mustLoad(t, dir, tt.pw)
			checkStore(t, dir, s, tt.want)
		})
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

func TestLoadDirectoryErrors(t *testing.T) {
	base := t.TempDir()
	file := testpki.WriteFile(t, base, "file.pem", []byte("x"))
	tests := []struct {
		name string
		dir  string
		is   error
	}{
		{"missing", filepath.Join(base, "nope"), fs.ErrNotExist},
		{"not a directory", file, ErrNotDirectory},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Load(tt.dir, NoPassword())
			if err == nil || s != nil {
				t.Fatalf("Load = %v, %v; want an error", s, err)
			}
			if !errors.Is(err, tt.is) {
				t.Errorf("error %q does not wrap %v", err, tt.is)
			}
			if !strings.Contains(err.Error(), tt.dir) {
				t.Errorf("error %q does not name %s", err, tt.dir)
			}
		})
	}
}

func TestFind(t *testing.T) {
	fx := newFixtures(t)
	dir := t.TempDir()
	testpki.WriteFile(t, dir, "certs.pem", join(fx.ecLeaf.CertPEM(), fx.ca.CertPEM()))
	s := mustLoad(t, dir, NoPassword())
	parse := func(s string) thumbprint.Thumbprint {
		tp, err := thumbprint.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return tp
	}
	// A Store built by hand (as other packages' tests may do) has no index
	// and must find the same certificates.
	byHand := &Store{Certificates: s.Certificates}
	tests := []struct {
		name string
		tp   thumbprint.Thumbprint
		want *testpki.Cert
	}{
		{"SHA-1 uppercase", parse(strings.ToUpper(fx.ecLeaf.SHA1())), fx.ecLeaf},
		{"SHA-256", parse(fx.ca.SHA256()), fx.ca},
		{"SHA-1 of a certificate not in the store", parse(fx.other.SHA1()), nil},
		{"SHA-1 digits as SHA-256 kind", thumbprint.Thumbprint{Hex: fx.ecLeaf.SHA1(), Kind: thumbprint.SHA256}, nil},
		{"zero thumbprint", thumbprint.Thumbprint{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, st := range []*Store{s, byHand} {
				got := st.Find(tt.tp)
				switch {
				case tt.want == nil && got != nil:
					t.Errorf("Find = %q, want nil", got.Cert.Subject.CommonName)
				case tt.want != nil && (got == nil || !got.Cert.Equal(tt.want.Cert)):
					t.Errorf("Find = %v, want %q", got, tt.want.Cert.Subject.CommonName)
				}
			}
		})
	}
}

// TestKeyUse proves a loaded key is the usable key of its certificate: it
// signs what the certificate verifies, and an RSA key decrypts.
func TestKeyUse(t *testing.T) {
	fx := newFixtures(t)
	dir := t.TempDir()
	testpki.WriteFile(t, dir, "rsa.pem", join(fx.rsaLeaf.CertPEM(), fx.rsaLeaf.KeyPKCS1PEM(t)))
	testpki.WriteFile(t, dir, "ec.pem", join(fx.ecLeaf.CertPEM(), fx.ecLeaf.KeySEC1PEM(t)))
	testpki.WriteFile(t, dir, "ed.pem", join(fx.edLeaf.CertPEM(), fx.edLeaf.KeyPEM()))
	s := mustLoad(t, dir, NoPassword())
	tests := []struct {
		cert      *testpki.Cert
		alg       string
		decrypter bool
	}{
		{fx.rsaLeaf, "RSA-2048", true},
		{fx.ecLeaf, "ECDSA P-256", false},
		{fx.edLeaf, "Ed25519", false},
	}
	for _, tt := range tests {
		t.Run(tt.alg, func(t *testing.T) {
			c := s.Find(thumbprint.Thumbprint{Hex: tt.cert.SHA1(), Kind: thumbprint.SHA1})
			if c == nil || c.Key == nil {
				t.Fatalf("certificate or key missing: %v", c)
			}
			if got := c.Key.Algorithm(); got != tt.alg {
				t.Errorf("Algorithm = %q, want %q", got, tt.alg)
			}
			if (c.Key.Decrypter() != nil) != tt.decrypter {
				t.Errorf("Decrypter() = %v, want present=%v", c.Key.Decrypter() != nil, tt.decrypter)
			}
			if c.Key.Signer() == nil {
				t.Fatal("Signer() is nil")
			}
			// Signing through the PrivateKey (itself a crypto.Signer) yields
			// what the certificate verifies.
			tmpl := &x509.CertificateRequest{Subject: c.Cert.Subject}
			csrDER, err := x509.CreateCertificateRequest(rand.Reader, tmpl, c.Key)
			if err != nil {
				t.Fatal(err)
			}
			csr, err := x509.ParseCertificateRequest(csrDER)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Cert.CheckSignature(csr.SignatureAlgorithm, csr.RawTBSCertificateRequest, csr.Signature); err != nil {
				t.Errorf("certificate does not verify the key's signature: %v", err)
			}
		})
	}
}

// utf16Text encodes text as UTF-16 with a byte order mark, as PowerShell 5
// redirection writes it.
func utf16Text(text []byte, bigEndian bool) []byte {
	units := utf16.Encode([]rune(string(text)))
	out := make([]byte, 0, 2+2*len(units))
	if bigEndian {
		out = append(out, 0xfe, 0xff)
		for _, u := range units {
			out = binary.BigEndian.AppendUint16(out, u)
		}
		return out
	}
	out = append(out, 0xff, 0xfe)
	for _, u := range units {
		out = binary.LittleEndian.AppendUint16(out, u)
	}
	return out
}

// hugeRSAKey returns an RSA private key, PKCS#1 and PKCS#8, whose modulus has
// bits bits and whose other numbers are small: not a key (p*q is not n),
// but crypto/rsa learns that only after the costly part of its checks.
func hugeRSAKey(t *testing.T, bits int) (pkcs1, pkcs8 []byte) {
	t.Helper()
	n := new(big.Int).SetBit(new(big.Int).Lsh(big.NewInt(1), uint(bits-1)), 0, 1)
	one := big.NewInt(1)
	pkcs1, err := asn1.Marshal(struct {
		Version               int
		N                     *big.Int
		E                     int
		D, P, Q, Dp, Dq, Qinv *big.Int
	}{0, n, 65537, big.NewInt(3), big.NewInt(5), big.NewInt(7), one, one, one})
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err = asn1.Marshal(struct {
		Version    int
		Algo       pkix.AlgorithmIdentifier
		PrivateKey []byte
	}{0, pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}, Parameters: asn1.NullRawValue}, pkcs1})
	if err != nil {
		t.Fatal(err)
	}
	return pkcs1, pkcs8
}

// passwordlessPKCS12 builds a PKCS#12 file without MAC or encryption, as
// pkcs12.Passwordless writes one, whose key bag is bagID with the DER
// bagValue: encoders check the keys they are given, and a hostile file is
// made without one.
func passwordlessPKCS12(t *testing.T, bagID asn1.ObjectIdentifier, bagValue []byte, cert *x509.Certificate) []byte {
	t.Helper()
	must := func(der []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	// explicit is der in a [0] EXPLICIT tag, as asn1.Marshal does not
	// write one around a RawValue's FullBytes.
	explicit := func(der []byte) asn1.RawValue {
		return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: der}
	}
	type pair struct { // SafeBag, CertBag and ContentInfo alike
		ID    asn1.ObjectIdentifier
		Value asn1.RawValue
	}
	data := asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	certBag := must(asn1.Marshal(pair{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 22, 1}, explicit(must(asn1.Marshal(cert.Raw)))}))
	bags := must(asn1.Marshal([]pair{
		{bagID, explicit(bagValue)},
		{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 3}, explicit(certBag)},
	}))
	authSafe := must(asn1.Marshal([]pair{{data, explicit(must(asn1.Marshal(bags)))}}))
	return must(asn1.Marshal(struct {
		Version  int
		AuthSafe pair
	}{3, pair{data, explicit(must(asn1.Marshal(authSafe)))}}))
}
