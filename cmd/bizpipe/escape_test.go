package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/msgbox/msgboxtest"
	"github.com/bizpipe/bizpipe/internal/msgbox/sqlitebox"
	"github.com/bizpipe/bizpipe/internal/testpki"
)

// Hostile strings, as a partner, a client or a file dropped in a directory
// can make them: escape sequences that clear the screen or set the window
// title, and newlines that forge rows and lines.
const (
	hostileFile    = "evil\x1b[2J\nforged-row\tx.xml"
	hostileReason  = "HTTP 500: \x1b]0;pwned\a<html>\x1b[31mboom"
	hostileContent = "text/plain\x1b[8m"
)

// terminalSafe fails unless out holds no control character but the
// newline, and no invalid UTF-8: what a terminal acts on, or a row forged.
func terminalSafe(t *testing.T, what string, out []byte) {
	t.Helper()
	for i, r := range string(out) {
		if (r < 0x20 && r != '\n') || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\uFFFD' {
			t.Errorf("%s: control character %q at byte %d:\n%s", what, r, i, out)
			return
		}
	}
}

// runCLI runs the CLI in-process and returns its stdout, failing unless it
// exits with want.
func runCLI(t *testing.T, want int, args ...string) []byte {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run(args, &stdout, &stderr, noEnv); code != want {
		t.Fatalf("bizpipe %s: exit %d, want %d; stderr:\n%s", strings.Join(args, " "), code, want, &stderr)
	}
	terminalSafe(t, "stderr of bizpipe "+args[0], stderr.Bytes())
	return stdout.Bytes()
}

// messages list and show print message-derived strings (file names,
// content types, reasons and errors that may quote a partner's answer)
// escaped, one row and one line each; JSON keeps them exact.
func TestMessagesTextEscapesHostileStrings(t *testing.T) {
	data := t.TempDir()
	box, err := sqlitebox.Open(filepath.Join(data, "messagebox.db"), sqlitebox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	in := msgbox.Incoming{ReceiveLocation: "in", FileName: hostileFile, ContentType: hostileContent,
		Properties: map[string]string{"partner": "fab\x1b[1mrikam"}}
	unrouted, _, err := box.ReceiveRouted(ctx, in, strings.NewReader("x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := box.Route(ctx, unrouted.ID, nil, hostileReason); err != nil {
		t.Fatal(err)
	}
	failed, _, err := box.ReceiveRouted(ctx, in, strings.NewReader("y"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := box.Route(ctx, failed.ID, []string{"p"}, ""); err != nil {
		t.Fatal(err)
	}
	d, err := msgboxtest.ClaimOne(ctx, box, "srv1/w0", []string{"p"}, time.Hour)
	if err != nil || d == nil {
		t.Fatalf("Claim = %v, %v", d, err)
	}
	if err := box.Finish(ctx, d.ID, "srv1/w0", msgbox.Outcome{State: msgbox.DeliverySuspended, Error: hostileReason}); err != nil {
		t.Fatal(err)
	}
	box.Close()

	list := runCLI(t, exitOK, "messages", "list", "--data-dir", data)
	terminalSafe(t, "messages list", list)
	if rows := strings.Count(string(list), "\n"); rows != 3 {
		t.Errorf("messages list printed %d lines, want a header and 2 rows:\n%s", rows, list)
	}
	if !bytes.Contains(list, []byte(`"evil\x1b[2J\nforged-row\tx.xml"`)) {
		t.Errorf("messages list does not show the file name escaped:\n%s", list)
	}
	for _, id := range []string{unrouted.ID, failed.ID} {
		show := runCLI(t, exitOK, "messages", "show", id, "--data-dir", data)
		terminalSafe(t, "messages show", show)
		for _, line := range strings.Split(string(show), "\n") {
			if strings.HasPrefix(line, "forged") {
				t.Errorf("messages show: a forged line %q", line)
			}
		}
		for _, want := range []string{`"evil\x1b[2J\nforged-row\tx.xml"`, `"text/plain\x1b[8m"`, `\x1b]0;pwned\a`} {
			if !bytes.Contains(show, []byte(want)) {
				t.Errorf("messages show %s does not show %s:\n%s", id, want, show)
			}
		}

		var js struct {
			Message struct {
				FileName    string            `json:"file_name"`
				ContentType string            `json:"content_type"`
				Properties  map[string]string `json:"properties"`
				Reason      string            `json:"reason"`
			} `json:"message"`
			Deliveries []struct {
				LastError string `json:"last_error"`
			} `json:"deliveries"`
		}
		if err := json.Unmarshal(runCLI(t, exitOK, "messages", "show", id, "--format", "json", "--data-dir", data), &js); err != nil {
			t.Fatal(err)
		}
		m := js.Message
		if m.FileName != hostileFile || m.ContentType != hostileContent || m.Properties["partner"] != "fab\x1b[1mrikam" {
			t.Errorf("messages show --format json changed the message: %+v", m)
		}
		if id == failed.ID && (len(js.Deliveries) != 1 || js.Deliveries[0].LastError != hostileReason) {
			t.Errorf("messages show --format json changed the delivery error: %+v", js.Deliveries)
		}
	}
	// An error quoting what it was given.
	runCLI(t, exitFindings, "messages", "show", "nope\x1b[2J\x1b]0;pwned\a", "--data-dir", data)

	var js struct {
		Messages []struct {
			FileName string `json:"file_name"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(runCLI(t, exitOK, "messages", "list", "--format", "json", "--data-dir", data), &js); err != nil {
		t.Fatal(err)
	}
	if len(js.Messages) != 2 || js.Messages[0].FileName != hostileFile {
		t.Errorf("messages list --format json = %+v, want the file names exact", js.Messages)
	}
}

// A partner's certificate dropped in a store is attacker-controlled: its
// subject, its issuer and its file name. certs and validate print them
// escaped; certs --format json keeps them exact.
func TestCertsAndValidateEscapeHostileCertificates(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "quickstart")
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(examplesDir, "quickstart"))); err != nil {
		t.Fatal(err)
	}
	const cn = "Evil\x1b[2J\n    subject      CN=forged"
	evil := testpki.SelfSigned(t, testpki.Options{CommonName: cn, KeyType: testpki.ECDSAP256})
	store := filepath.Join(dir, "stores", "srv1_other_people")
	const certFile = "evil\x1b]0;pwned\a\n  forged.pem"
	const junkFile = "junk\x1b[31m\nError: forged.pem"
	testpki.WriteFile(t, store, certFile, evil.CertPEM())
	testpki.WriteFile(t, store, junkFile, []byte("not a certificate"))
	t.Chdir(filepath.Dir(dir))

	// The junk file cannot be parsed: listed as a problem, exit 1.
	out := runCLI(t, exitFindings, "certs", "quickstart")
	terminalSafe(t, "certs", out)
	for _, want := range []string{
		`  "quickstart/stores/srv1_other_people/evil\x1b]0;pwned\a\n  forged.pem"` + "\n",
		`    subject      "CN=Evil\x1b[2J\n    subject      CN=forged"` + "\n",
		`    issuer       "CN=Evil\x1b[2J\n    subject      CN=forged"` + "\n",
		`  problem: "quickstart/stores/srv1_other_people/junk\x1b[31m\nError: forged.pem: `,
	} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("certs does not print %q:\n%s", want, out)
		}
	}
	var js struct {
		Stores []struct {
			Certificates []struct{ File, Subject, Issuer string }
		}
	}
	if err := json.Unmarshal(runCLI(t, exitFindings, "certs", "--format", "json", "quickstart"), &js); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range js.Stores {
		for _, c := range s.Certificates {
			if c.File == "quickstart/stores/srv1_other_people/"+certFile && c.Subject == "CN="+cn && c.Issuer == "CN="+cn {
				found = true
			}
		}
	}
	if !found {
		t.Errorf("certs --format json does not keep the file name and subject exact: %+v", js)
	}

	out = runCLI(t, exitFindings, "validate", "quickstart")
	terminalSafe(t, "validate", out)
	if !bytes.Contains(out, []byte(`[BP2002]`)) || !bytes.Contains(out, []byte(`"quickstart/stores/srv1_other_people/junk\x1b[31m\nError:`)) {
		t.Errorf("validate does not name the unparsable file escaped:\n%s", out)
	}
	errorLines := 0
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "Error: ") {
			errorLines++
		}
	}
	if errorLines != 1 {
		t.Errorf("validate printed %d lines starting an error, want 1:\n%s", errorLines, out)
	}

	// A configuration file's own name, in the "on FILE line N" line.
	bad := filepath.Join(t.TempDir(), "bad\x1b[2J\n.hcl")
	if err := os.WriteFile(bad, []byte("group {\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out = runCLI(t, exitFindings, "validate", bad)
	terminalSafe(t, "validate of a hostile file name", out)
	if !bytes.Contains(out, []byte(`[BP1000]`)) || !bytes.Contains(out, []byte(`bad\x1b[2J\n.hcl" line 1`)) {
		t.Errorf("validate does not name the configuration file escaped:\n%s", out)
	}
	if !bytes.Contains(out, []byte("1: group {")) {
		t.Errorf("validate lost the source snippet of the escaped file name:\n%s", out)
	}
}
