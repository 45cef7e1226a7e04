package smime

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDecodeHostileSignedData: the same inputs inside an S/MIME message are
// refused by Decode (they never reach pkcs7).
func TestDecodeHostileSignedData(t *testing.T) {
	p := newPKI(t)
	sdPrefix := mustHex(t, "3080 06092a864886f70d010702 a080")
	deep := append(bytes.Clone(sdPrefix), bytes.Repeat([]byte{0x30, 0x80}, 1<<20)...)
	msg := append([]byte("Content-Type: application/pkcs7-mime; smime-type=signed-data\r\nContent-Transfer-Encoding: binary\r\n\r\n"), deep...)
	if _, err := decodeBoth(t, msg, p.decodeOpts()); err == nil || !strings.Contains(err.Error(), "nesting deeper") {
		t.Errorf("Decode: %v, want nesting error", err)
	}

	// Valid BER with a million children in one indefinite-length element:
	// pkcs7's converter needs minutes for this (it looks for the
	// end-of-contents marker from each child to the end of the input);
	// after ber.ToDER it is a fast, ordinary error.
	wide := append(bytes.Clone(sdPrefix), 0x30, 0x80)
	wide = append(wide, bytes.Repeat([]byte{0x05, 0x00}, 1<<20)...)
	wide = append(wide, 0, 0, 0, 0, 0, 0)
	msg = append([]byte("Content-Type: application/pkcs7-mime; smime-type=signed-data\r\nContent-Transfer-Encoding: binary\r\n\r\n"), wide...)
	start := time.Now()
	if _, err := decodeBoth(t, msg, p.decodeOpts()); err == nil {
		t.Error("Decode accepted a SignedData of a million NULLs")
	}
	t.Logf("wide BER: %d octets refused in %v", len(wide), time.Since(start))
}
