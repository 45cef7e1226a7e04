package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/msgbox/msgboxtest"
	"github.com/bizpipe/bizpipe/internal/msgbox/sqlitebox"
)

// TestBulkSkipsWhatDoesNotApply: a suspended message whose other delivery
// is in progress under a live lease cannot be terminated; a bulk terminate
// says so for that message, with the box's reason, and still exits 0.
// Resume applies (it leaves the delivery in progress alone).
func TestBulkSkipsWhatDoesNotApply(t *testing.T) {
	data := t.TempDir()
	box, err := sqlitebox.Open(filepath.Join(data, "messagebox.db"), sqlitebox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	msg, _, err := box.ReceiveRouted(ctx, msgbox.Incoming{ReceiveLocation: "in", FileName: "a.edi", ContentType: "application/edi-x12"}, strings.NewReader("x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := box.Route(ctx, msg.ID, []string{"p", "q"}, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := msgboxtest.ClaimOne(ctx, box, "srv1/w0", []string{"p"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	q, err := msgboxtest.ClaimOne(ctx, box, "srv1/w1", []string{"q"}, time.Hour)
	if err != nil || q == nil {
		t.Fatalf("Claim q = %v, %v", q, err)
	}
	if err := box.Finish(ctx, q.ID, "srv1/w1", msgbox.Outcome{State: msgbox.DeliverySuspended, Error: "partner down"}); err != nil {
		t.Fatal(err)
	}
	box.Close()

	var stdout, stderr bytes.Buffer
	code := run([]string{"messages", "terminate", "--all-suspended", "--format", "json", "--data-dir", data}, &stdout, &stderr, noEnv)
	if code != exitOK {
		t.Fatalf("exit %d, stderr %s", code, &stderr)
	}
	var out struct {
		Terminated []string `json:"terminated"`
		Skipped    []struct {
			ID, Reason string
		} `json:"skipped"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("%v:\n%s", err, &stdout)
	}
	if len(out.Terminated) != 0 || len(out.Skipped) != 1 || out.Skipped[0].ID != msg.ID || !strings.Contains(out.Skipped[0].Reason, "lease") {
		t.Errorf("terminate --all-suspended = %+v, want %s skipped for its live lease", out, msg.ID)
	}

	stdout.Reset()
	if code := run([]string{"messages", "resume", "--all-suspended", "--data-dir", data}, &stdout, &stderr, noEnv); code != exitOK {
		t.Fatalf("resume exit %d, stderr %s", code, &stderr)
	}
	if got := stdout.String(); !strings.Contains(got, "resumed "+msg.ID+"\n") || !strings.HasSuffix(got, "resumed 1 suspended message(s)\n") {
		t.Errorf("resume --all-suspended printed %q", got)
	}
}
