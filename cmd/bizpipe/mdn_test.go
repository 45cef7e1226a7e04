package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/msgbox/msgboxtest"
	"github.com/bizpipe/bizpipe/internal/msgbox/sqlitebox"
)

// TestMessagesMDN: messages mdn writes the MDN a delivery received byte for
// byte; with MDNs from several send ports --port chooses, and without it
// the command fails naming them; a message without one, a port without
// one or without a delivery, and an unknown message fail with exit 1 and
// nothing on stdout; no ID is a usage error. messages show summarises the
// MDN.
func TestMessagesMDN(t *testing.T) {
	data := t.TempDir()
	box, err := sqlitebox.Open(filepath.Join(data, "messagebox.db"), sqlitebox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	mdnA := []byte("Content-Type: multipart/report; boundary=a\r\n\r\n--a\r\n\x00binary\xff\r\n--a--\r\n")
	mdnB := []byte("Content-Type: multipart/signed; boundary=b\r\n\r\n--b\r\nsigned\r\n--b--\r\n")
	// deliver stores a message routed to ports and delivers each, with
	// the receipt given for it.
	deliver := func(receipts map[string][]byte, ports ...string) string {
		t.Helper()
		m, _, err := box.ReceiveRouted(ctx, msgbox.Incoming{ReceiveLocation: "in", FileName: "o.edi", ContentType: "application/edi-x12"},
			strings.NewReader("x"), func(msgbox.Message) ([]string, string) { return ports, "" })
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ports {
			d, err := msgboxtest.ClaimOne(ctx, box, "srv1/w0", []string{p}, time.Hour)
			if err != nil || d == nil {
				t.Fatalf("claim %s: %v, %v", p, d, err)
			}
			o := msgbox.Outcome{State: msgbox.DeliveryDelivered}
			if data, ok := receipts[p]; ok {
				o.Receipt = &msgbox.DeliveryReceipt{ContentType: "multipart/report", Summary: "processed by " + p, Data: data}
			}
			if err := box.Finish(ctx, d.ID, "srv1/w0", o); err != nil {
				t.Fatal(err)
			}
		}
		return m.ID
	}
	one := deliver(map[string][]byte{"as2_a": mdnA}, "as2_a")
	two := deliver(map[string][]byte{"as2_a": mdnA, "as2_b": mdnB}, "as2_a", "as2_b", "files")
	none := deliver(nil, "files")
	box.Close()

	tests := []struct {
		name       string
		args       []string
		code       int
		stdout     []byte // exactly, when code is 0
		stderrWant []string
	}{
		{"one MDN", []string{one}, exitOK, mdnA, nil},
		{"one MDN, its port", []string{one, "--port", "as2_a"}, exitOK, mdnA, nil},
		{"several MDNs, --port chooses", []string{two, "--port", "as2_b"}, exitOK, mdnB, nil},
		{"several MDNs without --port", []string{two}, exitFindings, nil, []string{"MDNs from send ports as2_a, as2_b", "--port"}},
		{"a port without MDN", []string{two, "--port", "files"}, exitFindings, nil, []string{"no MDN from send port files"}},
		{"a port without delivery", []string{two, "--port", "nowhere"}, exitFindings, nil, []string{"no delivery to send port nowhere"}},
		{"no MDN", []string{none}, exitFindings, nil, []string{"no MDN"}},
		{"unknown message", []string{"01m8dz3rb5gnqxbtzw1wsc9fsz"}, exitFindings, nil, []string{"not found"}},
		{"no ID", nil, exitUsage, nil, []string{"give the ID of the message", "bizpipe messages mdn [flags] ID [PATH...]"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			args := append([]string{"messages", "mdn", "--data-dir", data}, tc.args...)
			code := run(args, &stdout, &stderr, noEnv)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr %s", code, tc.code, &stderr)
			}
			if tc.code == exitOK {
				if !bytes.Equal(stdout.Bytes(), tc.stdout) {
					t.Errorf("stdout %q, want the MDN %q", stdout.Bytes(), tc.stdout)
				}
				if stderr.Len() > 0 {
					t.Errorf("stderr %q, want none", &stderr)
				}
				return
			}
			if stdout.Len() > 0 {
				t.Errorf("stdout %q, want nothing", &stdout)
			}
			for _, w := range tc.stderrWant {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr %q does not say %q", &stderr, w)
				}
			}
		})
	}

	var stdout, stderr bytes.Buffer
	if code := run([]string{"messages", "show", "--data-dir", data, two}, &stdout, &stderr, noEnv); code != exitOK {
		t.Fatalf("show: exit %d, stderr %s", code, &stderr)
	}
	for _, w := range []string{"    MDN: processed by as2_a (", "    MDN: processed by as2_b ("} {
		if !strings.Contains(stdout.String(), w) {
			t.Errorf("show does not summarise the MDN %q:\n%s", w, &stdout)
		}
	}
}
