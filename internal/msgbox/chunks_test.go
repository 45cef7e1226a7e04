package msgbox

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// TestChunkReader: a body read back whole verifies; a damaged, missing,
// longer or failing chunk store is an error, never content handed over;
// with the CRC-32C boxes record now and the SHA-256 they recorded before.
func TestChunkReader(t *testing.T) {
	body := []byte("0123456789abcdefghij")
	crc := NewChecksum()
	crc.Write(body)
	sha := sha256.Sum256(body)
	for _, sum := range [][]byte{crc.Sum(nil), sha[:]} {
		testChunkReader(t, body, sum)
	}
}

func testChunkReader(t *testing.T, body, sum []byte) {
	chunks := func(parts ...string) ChunkFetcher {
		return func(seq int64, buf []byte) ([]byte, error) {
			if seq >= int64(len(parts)) {
				return buf[:0], nil
			}
			return append(buf[:0], parts[seq]...), nil
		}
	}
	wrap := func(err error) error { return err }
	for _, tc := range []struct {
		name  string
		fetch ChunkFetcher
		size  int64
		want  string // error substring; "" means success
	}{
		{"whole", chunks("0123456", "789abcdefghij"), 20, ""},
		{"damaged", chunks("0123456", "789abcdefghiX"), 20, "checksum mismatch"},
		{"missing chunk", chunks("0123456"), 20, "chunk 1 missing"},
		{"longer", chunks("0123456", "789abcdefghij", "extra"), 19, "longer than its recorded"},
		{"store fails", func(int64, []byte) ([]byte, error) { return nil, errors.New("disk gone") }, 20, "disk gone"},
	} {
		t.Run(fmt.Sprintf("%s/%d-byte sum", tc.name, len(sum)), func(t *testing.T) {
			got, err := io.ReadAll(NewChunkReader(tc.size, sum, tc.fetch, wrap))
			if tc.want == "" {
				if err != nil || string(got) != string(body) {
					t.Fatalf("read %q, %v; want the body", got, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
	r := NewChunkReader(20, sum, chunks(string(body)), wrap)
	r.Close()
	if _, err := r.Read(make([]byte, 4)); err == nil {
		t.Error("read after Close succeeded")
	}
}

func TestReadUpTo(t *testing.T) {
	tests := []struct {
		size, limit int
		wantLen     int
	}{
		{0, 10, 0},
		{5, 10, 5},
		{10, 10, 10},
		{11, 10, 11},
		{100_000, 10, 11},
		{100_000, 200_000, 100_000},
		{200_001, 200_000, 200_001},
	}
	for _, tc := range tests {
		src := bytes.Repeat([]byte("0123456789"), tc.size/10+1)[:tc.size]
		// A reader that returns little at a time, as a pipe does.
		got, err := ReadUpTo(iotest.HalfReader(bytes.NewReader(src)), tc.limit)
		if err != nil || len(got) != tc.wantLen || !bytes.Equal(got, src[:tc.wantLen]) {
			t.Errorf("ReadUpTo(%d bytes, limit %d) = %d bytes, %v; want the first %d", tc.size, tc.limit, len(got), err, tc.wantLen)
		}
	}
	// A reader that tells its size (a file as listed): read into a buffer
	// of that size and one byte more, which still holds whatever the
	// reader really gives (a file that grew or shrank since).
	for _, tc := range []struct {
		told, size, limit int
		wantLen, wantCap  int
	}{
		{4096, 4096, 200_000, 4096, 4097},
		{0, 0, 200_000, 0, 1},
		{4096, 4000, 200_000, 4000, 4097},
		{4096, 10_000, 200_000, 10_000, 0},
		{4096, 300_000, 200_000, 200_001, 0},
		{300_000, 300_000, 200_000, 200_001, 0},
	} {
		src := bytes.Repeat([]byte("0123456789"), tc.size/10+1)[:tc.size]
		got, err := ReadUpTo(sizedReader{iotest.HalfReader(bytes.NewReader(src)), int64(tc.told)}, tc.limit)
		if err != nil || len(got) != tc.wantLen || !bytes.Equal(got, src[:tc.wantLen]) || (tc.wantCap > 0 && cap(got) != tc.wantCap) {
			t.Errorf("ReadUpTo(%d bytes told as %d, limit %d) = %d bytes in %d, %v; want the first %d (in %d)",
				tc.size, tc.told, tc.limit, len(got), cap(got), err, tc.wantLen, tc.wantCap)
		}
	}
	boom := errors.New("boom")
	if _, err := ReadUpTo(iotest.ErrReader(boom), 10); !errors.Is(err, boom) {
		t.Errorf("read error: %v", err)
	}
}

// sizedReader is a reader that tells a size, as a FileBody does.
type sizedReader struct {
	io.Reader
	n int64
}

func (r sizedReader) Size() int64 { return r.n }
