package main

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/msgbox/sqlitebox"
)

// TestCorruptBodyIsNotOutput: messages body writes a body the box stored
// as it was, and one that no longer matches the checksum stored with it
// not at all: exit 1, naming the corruption, and nothing on stdout, as
// its help says. It wrote the corrupt bytes and then failed, leaving them
// in the file an operator redirected stdout to.
func TestCorruptBodyIsNotOutput(t *testing.T) {
	for _, tt := range []struct {
		name string
		size int
		// corrupt changes the stored body of the box in data.
		corrupt func(t *testing.T, data string)
	}{
		{"one chunk", 100, func(t *testing.T, data string) {
			db, err := sql.Open("sqlite", filepath.Join(data, "messagebox.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Exec("UPDATE body_chunks SET data = zeroblob(length(data))"); err != nil {
				t.Fatal(err)
			}
		}},
		// Larger than what messages body holds in memory, and than a
		// chunk: a body file.
		{"body file", 2*bodyInMemory + 3, func(t *testing.T, data string) {
			files, err := filepath.Glob(filepath.Join(data, "messagebox.db.bodies", "*"))
			if err != nil || len(files) != 1 {
				t.Fatalf("body files %v, %v; want one", files, err)
			}
			f, err := os.OpenFile(files[0], os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteAt([]byte("corrupt"), int64(bodyInMemory+1)); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			data := t.TempDir()
			box, err := sqlitebox.Open(filepath.Join(data, "messagebox.db"), sqlitebox.Options{})
			if err != nil {
				t.Fatal(err)
			}
			body := strings.Repeat("0123456789abcdef", tt.size/16+1)[:tt.size]
			msg, _, err := box.ReceiveRouted(context.Background(), msgbox.Incoming{ReceiveLocation: "in", FileName: "a.edi", ContentType: "application/edi-x12"},
				strings.NewReader(body), nil)
			if err != nil {
				t.Fatal(err)
			}
			box.Close()

			var stdout, stderr bytes.Buffer
			if code := run([]string{"messages", "body", "--data-dir", data, msg.ID}, &stdout, &stderr, noEnv); code != exitOK || stdout.String() != body {
				t.Fatalf("messages body of the intact body: exit %d, %d bytes (want %d), stderr %s", code, stdout.Len(), len(body), &stderr)
			}

			tt.corrupt(t, data)
			stdout.Reset()
			stderr.Reset()
			code := run([]string{"messages", "body", "--data-dir", data, msg.ID}, &stdout, &stderr, noEnv)
			if code != exitFindings || !strings.Contains(stderr.String(), "corrupt") {
				t.Errorf("messages body of the corrupt body: exit %d, stderr %q; want %d, naming the corruption", code, &stderr, exitFindings)
			}
			if stdout.Len() != 0 {
				t.Errorf("messages body of the corrupt body wrote %d bytes, want none", stdout.Len())
			}
		})
	}
}
