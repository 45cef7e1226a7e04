package runner_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/msgbox/sqlitebox"
)

// TestCorruptBodySuspendedAtOnce: a stored body that no longer reads back
// as it was stored (here a body file changed on disk) fails every attempt
// the same way, so its deliveries are suspended at the first attempt that
// meets it, with the reason, instead of using up their retries: through a
// pipeline (the smime encoder reads it) and without one (the file
// transport copies it).
func TestCorruptBodySuspendedAtOnce(t *testing.T) {
	p := newPKI(t)
	dir := setup(t, p, common+`
send_port "plain" {
  host   = host.h
  filter = true
  transport "file" { path = "plain" }
  retry {
    attempts = 5
    interval = "1s"
  }
}
send_port "signed" {
  host                   = host.h
  pipeline               = pipeline.sign_encrypt
  encryption_certificate = "{{.Partner}}"
  filter                 = true
  transport "file" { path = "signed" }
  retry {
    attempts = 5
    interval = "1s"
  }
}
`, map[string]string{"Max": "8MiB"})
	// Larger than a chunk: the box keeps the body as a file.
	put(t, dir, "big.edi", binaryBody(3<<20))
	r, box := start(t, dir)
	// The output directories are missing: the first attempts fail and
	// retry.
	if _, err := r.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	m := onlyMessage(t, box)
	files, err := filepath.Glob(box.(*sqlitebox.Box).Path() + ".bodies/*")
	if err != nil || len(files) != 1 {
		t.Fatalf("body files %v, %v; want one", files, err)
	}
	f, err := os.OpenFile(files[0], os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("CORRUPT"), 1<<20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	for _, d := range []string{"plain", "signed"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}

	time.Sleep(1100 * time.Millisecond) // the retries are due
	r, box = start(t, dir)
	if _, err := r.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	det, err := box.Get(context.Background(), m.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range det.Deliveries {
		if d.State != msgbox.DeliverySuspended || d.Attempts != 2 ||
			!strings.Contains(d.LastError, "checksum mismatch: the stored body is corrupt") ||
			!strings.Contains(d.LastError, "suspended at once") {
			t.Errorf("delivery to %s: %s after %d attempts, %q; want suspended at its second attempt for the corrupt body",
				d.Port, d.State, d.Attempts, d.LastError)
		}
	}
	if len(det.Deliveries) != 2 {
		t.Errorf("%d deliveries, want 2", len(det.Deliveries))
	}
}
