package file

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/transport"
)

const secret = "s3cr3t-T0KEN"

// noSecret fails when text holds the secret or any of more.
func noSecret(t *testing.T, what, text string, more ...string) {
	t.Helper()
	for _, s := range append([]string{secret}, more...) {
		if strings.Contains(text, s) {
			t.Errorf("%s shows %q: %s", what, s, text)
		}
	}
}

// TestFileSensitiveName: a file name derived from a sensitive value never
// appears in an error, neither an invalid one's nor one the operating
// system or a conflict names; the errors still wrap what they did.
func TestFileSensitiveName(t *testing.T) {
	f, dir := newFileTransport(t, false)
	ctx := context.Background()
	for _, name := range []string{secret + "/x", secret + "\n", ".bizpipe-" + secret, strings.Repeat(secret, 30), ""} {
		d := fileDelivery(1, name)
		d.FileNameSensitive = true
		err := f.Send(ctx, d, transport.Payload{Data: []byte("x")})
		if !errors.Is(err, transport.ErrInvalidFileName) || !transport.Permanent(err) {
			t.Errorf("Send to %q: %v, want a permanent ErrInvalidFileName", name, err)
			continue
		}
		// Nor which rule it breaks: that tells something of the value.
		noSecret(t, "invalid name error", err.Error(), "contains a path separator", "contains a control character",
			"longer than", "reserved for", "empty")
	}
	// A conflict with an existing file, and a name that is a directory.
	writeBytes(t, filepath.Join(dir, secret+".xml"), []byte("other"))
	if err := os.Mkdir(filepath.Join(dir, secret+".dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{secret + ".xml", secret + ".dir"} {
		d := fileDelivery(int64(10+i), name)
		d.FileNameSensitive = true
		err := f.Send(ctx, d, transport.Payload{Data: []byte("mine")})
		if err == nil {
			t.Fatalf("Send to the existing %s succeeded", name)
		}
		if !strings.Contains(err.Error(), filepath.Join(dir, "(sensitive value)")) {
			t.Errorf("error %q does not show the file as dir/(sensitive value)", err)
		}
		noSecret(t, "conflict error", err.Error())
		if i == 0 && !errors.Is(err, ErrFileExists) {
			t.Errorf("error %v no longer wraps ErrFileExists", err)
		}
	}
	// Not sensitive: the name is shown as before.
	err := f.Send(ctx, fileDelivery(20, secret+".xml"), transport.Payload{Data: []byte("mine")})
	if err == nil || !strings.Contains(err.Error(), secret) {
		t.Errorf("error %v: a name that is not sensitive is shown", err)
	}
}
