//go:build linux

package e2e

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/testpki"
)

// decodingHead is what a configuration that decodes starts with: pipeline
// "decode" decrypts with the certificate of host h and verifies against
// party fabrikam's. Its arguments: the group's signing certificate, the
// host's decryption certificate, the party's signing certificate.
const decodingHead = `
group "g" { signing_certificate = "%[1]s" }
` + storesAndServer + `host "h" {
  decryption_certificate = "%[2]s"
  instance {
    server          = server.srv1
    service_account = service_account.svc
  }
}
party "fabrikam" { signing_certificates = ["%[3]s"] }
pipeline "decode" {
  decoder "smime" {
    decrypt = true
    verify  = true
  }
}
`

// decodeE2EConfig is decodingHead receiving from in/, routing on
// message.party to out/ without a send pipeline.
const decodeE2EConfig = decodingHead + `receive_location "in" {
  host     = host.h
  pipeline = pipeline.decode
  transport "file" { path = "in" }
}
send_port "out" {
  host   = host.h
  filter = message.party == "fabrikam"
  transport "file" {
    path      = "out"
    file_name = "${message.file_name}"
  }
}
`

// TestLargeDecodedMessageBoundedMemory: a message many times larger than
// the memory bizpipe may take, signed by the party and encrypted for the
// host with openssl cms, goes through a decoding receive location in
// `run --once` (spooled, decrypted, verified, stored twice: decoded and as
// received, delivered) with the process's peak RSS bounded; the delivered
// file is the payload exactly, and messages body --as-received writes the
// input exactly.
func TestLargeDecodedMessageBoundedMemory(t *testing.T) {
	const size = 128 << 20
	const maxRSS = 96 << 20
	ossl := testpki.OpenSSL(t)
	keys := testpki.NewKeys()
	ca := testpki.SelfSigned(t, testpki.Options{CommonName: "CA", IsCA: true, Key: keys.Key(t, testpki.RSA2048, 0)})
	group := ca.Issue(t, testpki.Options{CommonName: "Group", Key: keys.Key(t, testpki.RSA2048, 1)})
	host := ca.Issue(t, testpki.Options{CommonName: "Host decryption", Key: keys.Key(t, testpki.RSA2048, 2)})
	party := ca.Issue(t, testpki.Options{CommonName: "Fabrikam", Key: keys.Key(t, testpki.RSA2048, 3)})
	dir := t.TempDir()
	testpki.WriteFile(t, filepath.Join(dir, "stores/personal"), "g.p12", group.PKCS12(t, "pw", false, ca))
	testpki.WriteFile(t, filepath.Join(dir, "stores/personal"), "h.p12", host.PKCS12(t, "pw", false, ca))
	testpki.WriteFile(t, filepath.Join(dir, "stores/others"), "f.pem", party.CertPEM())
	testpki.WriteFile(t, dir, "bizpipe.hcl", fmt.Appendf(nil, decodeE2EConfig, group.SHA1(), host.SHA1(), party.SHA1()))
	for _, d := range []string{"in", "out"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}

	work := t.TempDir()
	payload := func(w io.Writer) {
		r := rand.New(rand.NewPCG(3, 4))
		var b [8]byte
		for range size / 8 {
			v := r.Uint64()
			for j := range 8 {
				b[j] = byte(v >> (8 * j))
			}
			w.Write(b[:])
		}
	}
	entity := filepath.Join(work, "entity.mime")
	writeSettledFunc(t, entity, func(w *bufio.Writer) {
		w.WriteString("Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n")
		payload(w)
	})
	wantPayload := sha256.New()
	payload(wantPayload)
	partyPEM := testpki.WriteFile(t, work, "f.pem", party.CertPEM())
	partyKey := testpki.WriteFile(t, work, "f.key", party.KeyPEM())
	hostPEM := testpki.WriteFile(t, work, "h.pem", host.CertPEM())
	signed := filepath.Join(work, "signed.eml")
	openssl := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(ossl, args...).CombinedOutput(); err != nil {
			t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	openssl("cms", "-sign", "-binary", "-in", entity, "-signer", partyPEM, "-inkey", partyKey, "-out", signed)
	encrypted := filepath.Join(work, "big.eml")
	openssl("cms", "-encrypt", "-binary", "-aes256", "-in", signed, "-out", encrypted, hostPEM)
	wantReceived := fileSum(t, encrypted)
	input := filepath.Join(dir, "in", "big.eml")
	writeSettledFunc(t, input, func(w *bufio.Writer) {
		f, err := os.Open(encrypted)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := io.Copy(w, f); err != nil {
			t.Fatal(err)
		}
	})
	os.Remove(entity)
	os.Remove(signed)

	cmd := exec.Command(bizpipeBin, "run", "--once", "--data-dir", filepath.Join(dir, "data"), dir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	peak := watchPeakRSS(cmd.Process.Pid)
	err := cmd.Wait()
	rss := peak()
	if err != nil {
		t.Fatalf("run --once: %v\n%s", err, out.Bytes())
	}
	if last := lastLine(out.Bytes()); !strings.Contains(last, "delivered 1") {
		t.Fatalf("run --once: %s\n%s", last, out.Bytes())
	}
	t.Logf("peak RSS %d MiB for a %d MiB message", rss>>20, size>>20)
	if rss == 0 || rss > maxRSS {
		t.Errorf("peak RSS %d MiB for a %d MiB message, want at most %d MiB", rss>>20, size>>20, maxRSS>>20)
	}
	if got := fileSum(t, filepath.Join(dir, "out", "big.eml")); !bytes.Equal(got, wantPayload.Sum(nil)) {
		t.Error("the delivered file is not the payload")
	}

	list := exec.Command(bizpipeBin, "messages", "list", "--data-dir", filepath.Join(dir, "data"), "--format", "json")
	listed, err := list.Output()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Messages []struct {
			ID    string `json:"id"`
			Party string `json:"party"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(listed, &doc); err != nil || len(doc.Messages) != 1 {
		t.Fatalf("messages list: %v, %s", err, listed)
	}
	id := doc.Messages[0].ID
	if p := doc.Messages[0].Party; p != "fabrikam" {
		t.Errorf("party %q, want fabrikam", p)
	}
	asReceived := exec.Command(bizpipeBin, "messages", "body", "--as-received", "--data-dir", filepath.Join(dir, "data"), id)
	stdout, err := asReceived.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := asReceived.Start(); err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.Copy(h, stdout); err != nil {
		t.Fatal(err)
	}
	if err := asReceived.Wait(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(h.Sum(nil), wantReceived) {
		t.Error("messages body --as-received is not the input")
	}
}

func fileSum(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return h.Sum(nil)
}
