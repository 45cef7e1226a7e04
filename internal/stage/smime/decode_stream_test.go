package smime

import (
	"bytes"
	"context"
	"os"
	"testing"
)

// decodeStream runs DecodeStream over msg with a fresh spool directory and
// checks what must hold whatever the outcome: the spool directory is empty
// afterwards, and on error nothing reached dst.
func decodeStream(t testing.TB, ctx context.Context, msg []byte, opts DecodeOptions) (*DecodeResult, []byte, error) {
	t.Helper()
	opts.SpoolDir = t.TempDir()
	var dst bytes.Buffer
	res, err := DecodeStream(ctx, bytes.NewReader(msg), &dst, opts)
	checkSpoolEmpty(t, opts.SpoolDir)
	switch {
	case err != nil && (res != nil || dst.Len() > 0):
		t.Fatalf("DecodeStream failed (%v) but returned a result or wrote %d octets", err, dst.Len())
	case err == nil && res == nil:
		t.Fatal("DecodeStream: nil result without an error")
	case err == nil && res.Size != int64(dst.Len()):
		t.Fatalf("DecodeStream: Size %d, wrote %d", res.Size, dst.Len())
	case err == nil && res.Signed && res.Signer == nil:
		t.Fatal("DecodeStream: signed without a signer")
	}
	return res, dst.Bytes(), err
}

func checkSpoolEmpty(t testing.TB, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		t.Errorf("spool file left behind: %s", e.Name())
	}
}

// decodeBoth is Decode, checked against DecodeStream: both accept the same
// messages with the same results, and both reject the rest. The existing
// Decode tests call it, so every message they build also tests the
// streaming decoder.
func decodeBoth(t testing.TB, msg []byte, opts DecodeOptions) (*Decoded, error) {
	t.Helper()
	d, err := Decode(msg, opts)
	res, body, serr := decodeStream(t, context.Background(), msg, opts)
	switch {
	case err == nil && serr != nil:
		t.Errorf("Decode succeeded, DecodeStream failed: %v", serr)
	case err != nil && serr == nil:
		t.Errorf("Decode failed (%v), DecodeStream succeeded", err)
	case err == nil:
		if res.ContentType != d.ContentType || res.Signed != d.Signed || res.Encrypted != d.Encrypted ||
			(res.Signer == nil) != (d.Signer == nil) || (res.Signer != nil && !res.Signer.Equal(d.Signer)) {
			t.Errorf("DecodeStream result %+v differs from Decode's (%q signed=%v encrypted=%v)", res, d.ContentType, d.Signed, d.Encrypted)
		}
		if !bytes.Equal(body, d.Body) {
			t.Errorf("DecodeStream body (%d octets) differs from Decode's (%d)", len(body), len(d.Body))
		}
	}
	return d, err
}
