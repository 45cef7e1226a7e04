package as2

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// hostileMDN is an MDN that is cheap to send and was expensive to parse.
type hostileMDN struct {
	name string
	// want is in the error ParseMDN refuses it with; "" for a shape that
	// exceeds no limit (one long folded field) and need only be cheap.
	want string
	raw  []byte
}

// hostileMDNs returns MDNs of about size octets: parts, fields and lines
// by the hundred thousand at MaxMDNSize.
func hostileMDNs(size int) []hostileMDN {
	const report = "Content-Type: multipart/report; report-type=disposition-notification; boundary=b\r\n"
	// fill appends line(i) for i = 0, 1, ... while the result stays
	// within size with tail after it.
	fill := func(head string, line func(i int) string, tail string) []byte {
		raw := []byte(head)
		for i := 0; ; i++ {
			l := line(i)
			if len(raw)+len(l)+len(tail) > size {
				break
			}
			raw = append(raw, l...)
		}
		return append(raw, tail...)
	}
	delimiter := func(int) string { return "--b\n" }
	folded := func(int) string { return " x\n" }
	param := func(i int) string { return fmt.Sprintf(";%x=v", i) }
	notification := report + "\r\n--b\r\nContent-Type: message/disposition-notification\r\n\r\nDisposition: a/b; processed\r\n"
	return []hostileMDN{
		{"report of empty parts", "more than 8 parts", fill(report+"\r\n", delimiter, "--b--\n")},
		{"signed MDN of empty parts", "more than 2 parts",
			fill("Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256; boundary=b\r\n\r\n", delimiter, "--b--\n")},
		{"distinct notification fields", "disposition-notification fields: smime: more than 1000 header fields",
			fill(notification, func(i int) string { return fmt.Sprintf("%x:\n", i) }, "\r\n--b--\r\n")},
		{"folded notification field", "", fill(notification, folded, "\r\n--b--\r\n")},
		{"folded header field", "", fill(report+"X: x\r\n", folded, "\r\n--b\r\n\r\n--b--\r\n")},
		{"report parameters", "more than 100 media type parameters", fill(strings.TrimSuffix(report, "\r\n"), param, "\r\n\r\n--b\r\n\r\n--b--\r\n")},
		{"part parameters", "more than 100 media type parameters", fill(report+"\r\n--b\r\nContent-Type: text/plain", param, "\r\n\r\n--b--\r\n")},
	}
}

// TestParseMDNBoundsMemory: ParseMDN refuses hostile MDNs of MaxMDNSize
// with an error naming the limit exceeded, allocating no more than a small
// multiple of their size. MaxMDNSize is what bounds an MDN received over
// HTTP; more than that escapes the transport's in-flight budget.
func TestParseMDNBoundsMemory(t *testing.T) {
	for _, tc := range hostileMDNs(MaxMDNSize) {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := ParseMDN(tc.raw, VerifyOptions{Unverified: true})
			runtime.ReadMemStats(&after)
			if tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("ParseMDN = %v, want an error containing %q", err, tc.want)
			}
			// TotalAlloc only grows; the bound is generous because other
			// goroutines of the test binary may allocate meanwhile.
			d := after.TotalAlloc - before.TotalAlloc
			if d > 8*uint64(len(tc.raw)) {
				t.Errorf("ParseMDN of %d octets allocated %d (%.1fx)", len(tc.raw), d, float64(d)/float64(len(tc.raw)))
			}
			t.Logf("%d octets, %d allocated: %v", len(tc.raw), d, err)
		})
	}
}
