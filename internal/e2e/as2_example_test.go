//go:build linux

package e2e

import (
	"bytes"
	"cmp"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/testpki"
)

// TestAS2Example runs examples/as2 as the header of its contoso side tells
// a user to: Fabrikam's bizpipe serves AS2, Contoso's run --once sends it an
// order, which lands decoded in Fabrikam's out/orders/ with its party; the
// MDN Contoso kept (`messages mdn`) verifies with OpenSSL and says
// processed. Then with --var mdn=async: a run --once sends and leaves the
// order awaiting_mdn (summary and messages list), and a running Contoso
// gets the MDN POSTed to its as2 receive location and delivers.
func TestAS2Example(t *testing.T) {
	testpki.OpenSSL(t)
	root := t.TempDir()
	for _, ex := range []string{"as2", "quickstart"} { // as2 uses the quickstart's PKI
		if err := os.CopyFS(filepath.Join(root, "examples", ex), os.DirFS("../../examples/"+ex)); err != nil {
			t.Fatal(err)
		}
	}
	contoso := filepath.Join(root, "examples", "as2", "contoso")
	fabrikam := filepath.Join(root, "examples", "as2", "fabrikam")
	for _, d := range []string{filepath.Join(contoso, "in"), filepath.Join(fabrikam, "out", "orders")} {
		left, _ := filepath.Glob(filepath.Join(d, "*"))
		for _, f := range left {
			os.RemoveAll(f)
		}
	}
	port, contosoPort := freePort(t), freePort(t)
	portVar := "--var=fabrikam_port=" + port
	contosoVar := "--var=contoso_port=" + contosoPort
	bp := func(args ...string) *exec.Cmd {
		c := exec.Command(bizpipeBin, args...)
		c.Dir = root
		return c
	}

	var fabLog bytes.Buffer
	server := bp("run", "--data-dir", filepath.Join(root, "fabrikam-data"), portVar, fabrikam)
	server.Stdout, server.Stderr = &fabLog, &fabLog
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		server.Process.Signal(syscall.SIGTERM)
		server.Wait()
		if t.Failed() { // read once the process has ended: no race on the buffer
			t.Logf("fabrikam's log:\n%s", fabLog.String())
		}
	}()
	waitFor(t, time.Minute, func() bool {
		c, err := net.Dial("tcp", "127.0.0.1:"+port)
		if err == nil {
			c.Close()
		}
		return err == nil
	})

	order, err := os.ReadFile(filepath.Join(root, "examples", "quickstart", "samples", "order-1001.xml"))
	if err != nil {
		t.Fatal(err)
	}
	writeSettled(t, filepath.Join(contoso, "in", "order-1001.xml"), order)
	contosoData := filepath.Join(root, "contoso-data")
	out, err := bp("run", "--once", "--data-dir", contosoData, portVar, contosoVar, contoso).CombinedOutput()
	if err != nil || !strings.Contains(lastLine(out), "received 1, delivered 1,") {
		t.Fatalf("contoso run --once: %v\n%s\nfabrikam:\n%s", err, out, fabLog.String())
	}

	var got []string
	waitFor(t, time.Minute, func() bool {
		got, _ = filepath.Glob(filepath.Join(fabrikam, "out", "orders", "*.xml"))
		return len(got) > 0
	})
	if b, err := os.ReadFile(got[0]); err != nil || !bytes.Equal(b, order) || len(got) != 1 {
		t.Fatalf("fabrikam received %d order(s), the first %q (%v), want the order once", len(got), b, err)
	}
	var fabList struct {
		Messages []struct {
			Party  string `json:"party"`
			Status string `json:"status"`
		} `json:"messages"`
	}
	listed, err := bp("messages", "list", "--format", "json", "--data-dir", filepath.Join(root, "fabrikam-data"), fabrikam).Output()
	if err := cmp.Or(err, json.Unmarshal(listed, &fabList)); err != nil || len(fabList.Messages) != 1 || fabList.Messages[0].Party != "contoso" {
		t.Fatalf("fabrikam's messages: %v\n%s", err, listed)
	}

	var list struct {
		Messages []struct {
			ID       string `json:"id"`
			Status   string `json:"status"`
			FileName string `json:"file_name"`
		} `json:"messages"`
	}
	listed, err = bp("messages", "list", "--format", "json", "--data-dir", contosoData, contoso).Output()
	if err := cmp.Or(err, json.Unmarshal(listed, &list)); err != nil || len(list.Messages) != 1 || list.Messages[0].Status != "delivered" {
		t.Fatalf("contoso's messages: %v\n%s", err, listed)
	}
	mdn := bp("messages", "mdn", "--data-dir", contosoData, list.Messages[0].ID, contoso)
	verify := exec.Command("openssl", "smime", "-verify", "-CAfile", filepath.Join(root, "examples", "quickstart", "partner", "ca.pem"))
	report, err := pipe(t, mdn, verify)
	if err != nil {
		t.Fatalf("messages mdn | openssl smime -verify: %v\n%s", err, report)
	}
	for _, want := range []string{"Disposition: automatic-action/MDN-sent-automatically; processed", "Received-Content-MIC: ",
		"Final-Recipient: rfc822; FABRIKAM"} {
		if !bytes.Contains(report, []byte(want)) {
			t.Errorf("the MDN OpenSSL verified lacks %q:\n%s", want, report)
		}
	}

	// An asynchronous MDN: run --once does not wait for it.
	asyncVar := "--var=mdn=async"
	writeSettled(t, filepath.Join(contoso, "in", "order-1002.xml"), order)
	out, err = bp("run", "--once", "--data-dir", contosoData, portVar, contosoVar, asyncVar, contoso).CombinedOutput()
	if err != nil || !strings.Contains(lastLine(out), "received 1, delivered 0, retried 0, suspended 0, waiting for retry 0, awaiting MDN 1") {
		t.Fatalf("contoso run --once with an async MDN: %v\n%s", err, out)
	}
	awaiting, err := bp("messages", "list", "--status", "awaiting_mdn", "--data-dir", contosoData, contoso).Output()
	if err != nil || strings.Count(string(awaiting), "awaiting_mdn") != 1 || !strings.Contains(string(awaiting), "order-1002.xml") {
		t.Fatalf("messages list --status awaiting_mdn: %v\n%s", err, awaiting)
	}
	// A running Contoso takes the MDN of the next one at its as2_in.
	client := bp("run", "--data-dir", contosoData, portVar, contosoVar, asyncVar, contoso)
	var conLog bytes.Buffer
	client.Stdout, client.Stderr = &conLog, &conLog
	if err := client.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if t.Failed() && client.ProcessState == nil {
			client.Process.Signal(syscall.SIGTERM)
			client.Wait()
			t.Logf("contoso's log:\n%s", conLog.String())
		}
	}()
	writeSettled(t, filepath.Join(contoso, "in", "order-1003.xml"), order)
	waitFor(t, time.Minute, func() bool {
		listed, err := bp("messages", "list", "--format", "json", "--data-dir", contosoData, contoso).Output()
		list.Messages = nil
		if cmp.Or(err, json.Unmarshal(listed, &list)) != nil {
			return false
		}
		delivered := map[string]bool{}
		for _, m := range list.Messages {
			delivered[m.FileName] = m.Status == "delivered"
		}
		// order-1001 (sync) and order-1003 (async). order-1002's MDN,
		// refused while no Contoso ran, may come again meanwhile
		// (Fabrikam retries it a minute later) and deliver it too.
		return delivered["order-1001.xml"] && delivered["order-1003.xml"]
	})
	client.Process.Signal(syscall.SIGTERM)
	if err := client.Wait(); err != nil {
		t.Errorf("contoso run after SIGTERM: %v\n%s", err, conLog.String())
	}
}
