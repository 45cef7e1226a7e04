package msgbox

import (
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
)

// TestCleanText: NUL and each byte of an invalid UTF-8 sequence become
// U+FFFD; everything else is kept, control characters included.
func TestCleanText(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"orders.xml", "orders.xml"},
		{"é\uFFFD日本", "é\uFFFD日本"},
		{"\x01\x1b[2J\t\r\n\x7f", "\x01\x1b[2J\t\r\n\x7f"},
		{"\x00", "\uFFFD"},
		{"a\x00\x00b", "a\uFFFD\uFFFDb"},
		{"a\xff\xfeb", "a\uFFFD\uFFFDb"},                 // one per byte, not per run
		{"trail\xc3", "trail\uFFFD"},                     // a sequence cut short
		{"\xed\xa0\x80", "\uFFFD\uFFFD\uFFFD"},           // an encoded surrogate
		{"\xf4\x90\x80\x80", "\uFFFD\uFFFD\uFFFD\uFFFD"}, // beyond U+10FFFF
	} {
		if got := CleanText(tc.in); got != tc.want {
			t.Errorf("CleanText(%q) = %q, want %q", tc.in, got, tc.want)
		}
		// Properties are stored as JSON: the same rule but for NUL.
		if !strings.Contains(tc.in, "\x00") {
			js, _ := json.Marshal(tc.in)
			var back string
			if err := json.Unmarshal(js, &back); err != nil || back != tc.want {
				t.Errorf("%q through JSON = %q, %v; want %q, as CleanText", tc.in, back, err, tc.want)
			}
		}
	}
}

// TestNewMessage: the message a box returns is the one it reads back: text
// cleaned, properties and their sensitive names as DecodeProperties returns
// them, whether they needed cleaning or not.
func TestNewMessage(t *testing.T) {
	for _, in := range []Incoming{
		{ReceiveLocation: "in", FileName: "a.xml", ContentType: "application/xml"},
		{ReceiveLocation: "in\x00", FileName: "a\xff.xml", ContentType: "text/\xfe",
			Properties: map[string]string{"nul": "x\x00y", "é": "ü"}, SensitiveProperties: []string{"nul", "nul", "absent"}},
		{ReceiveLocation: "in", Properties: map[string]string{"bad": "x\xffy", "k\xfe": "1", "k\xff": "2"},
			SensitiveProperties: []string{"k\xfe"}},
		{ReceiveLocation: "in", Properties: map[string]string{}, SensitiveProperties: []string{"x"}},
	} {
		m, props, err := NewMessage(in)
		if err != nil {
			t.Fatalf("NewMessage(%#v): %v", in, err)
		}
		p, sensitive, err := DecodeProperties(props)
		if err != nil {
			t.Fatal(err)
		}
		want := Message{ReceiveLocation: CleanText(in.ReceiveLocation), FileName: CleanText(in.FileName),
			ContentType: CleanText(in.ContentType), Properties: p, SensitiveProperties: sensitive, Status: StatusReceived}
		if !reflect.DeepEqual(m, want) {
			t.Errorf("NewMessage(%#v) =\n %#v\nwant\n %#v", in, m, want)
		}
		if len(in.Properties) > 0 {
			in.Properties["changed"] = "after"
			if _, ok := m.Properties["changed"]; ok {
				t.Errorf("NewMessage(%#v) shares the caller's map", in)
			}
		}
	}
}

func TestCheckID(t *testing.T) {
	if err := CheckID("01m8djzxdf3m4vr2at1vy2kb3t"); err != nil {
		t.Errorf("CheckID of a valid id: %v", err)
	}
	long := "\x1b[2J" + strings.Repeat("x", 1<<20)
	for _, id := range []string{"", "01M8DJZXDF3M4VR2AT1VY2KB3T", "01m8djzxdf3m4vr2at1vy2kb3u", long} {
		err := CheckID(id)
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("CheckID(%.40q) = %v, want ErrNotFound", id, err)
		} else if msg := err.Error(); strings.Contains(msg, "\x1b") || len(msg) > 200 {
			t.Errorf("CheckID(%.40q) = %.80q: want the id quoted, and shortened", id, msg)
		}
	}
}

func TestDeliveryNotFound(t *testing.T) {
	err := DeliveryNotFound(42)
	if !errors.Is(err, ErrNotFound) || !errors.Is(err, ErrLeaseLost) || errors.Is(err, ErrInvalidState) {
		t.Errorf("DeliveryNotFound: Is(ErrNotFound)=%v Is(ErrLeaseLost)=%v Is(ErrInvalidState)=%v; want true, true, false",
			errors.Is(err, ErrNotFound), errors.Is(err, ErrLeaseLost), errors.Is(err, ErrInvalidState))
	}
	if !strings.Contains(err.Error(), "delivery 42") || !strings.Contains(err.Error(), "purged") {
		t.Errorf("DeliveryNotFound(42) = %q, want the delivery named and the purge said", err)
	}
}

func TestNewRouting(t *testing.T) {
	r, err := NewRouting([]string{"b", "a\x00", "b", "a\uFFFD"}, "ignored")
	if err != nil || !reflect.DeepEqual(r, Routing{Ports: []string{"b", "a\uFFFD"}, Status: StatusRouted}) {
		t.Errorf("NewRouting to ports = %#v, %v", r, err)
	}
	r, err = NewRouting(nil, "no filter\x00")
	if err != nil || !reflect.DeepEqual(r, Routing{Reason: "routing failure: no filter\uFFFD", Status: StatusSuspended}) {
		t.Errorf("NewRouting to none = %#v, %v", r, err)
	}
	if _, err := NewRouting([]string{"a", ""}, ""); err == nil {
		t.Errorf("NewRouting with an empty port name succeeded")
	}
}

func TestMigrations(t *testing.T) {
	fsys := fstest.MapFS{
		"m/0001_init.sql": {Data: []byte("one")},
		"m/0002_more.sql": {Data: []byte("two")},
		"m/README":        {Data: []byte("not a script")},
	}
	got, err := Migrations(fsys, "m")
	if err != nil || !reflect.DeepEqual(got, []string{"one", "two"}) {
		t.Errorf("Migrations = %q, %v", got, err)
	}
	fsys["m/0004_gap.sql"] = &fstest.MapFile{Data: []byte("four")}
	if _, err := Migrations(fsys, "m"); err == nil || !strings.Contains(err.Error(), "0004_gap.sql") {
		t.Errorf("Migrations with a gap: %v, want it named", err)
	}
}

func TestPurgeBatches(t *testing.T) {
	left := 7
	calls := 0
	n, err := PurgeBatches(func() (int, bool, error) {
		calls++
		k := min(left, 3)
		left -= k
		return k, k == 3, nil
	})
	if n != 7 || err != nil || calls != 3 {
		t.Errorf("PurgeBatches of 7 by 3 = %d, %v after %d calls; want 7, nil after 3", n, err, calls)
	}
	boom := errors.New("disk full")
	calls = 0
	n, err = PurgeBatches(func() (int, bool, error) {
		calls++
		if calls == 2 {
			return 3, true, boom // not committed: not counted
		}
		return 3, true, nil
	})
	if n != 3 || !errors.Is(err, boom) {
		t.Errorf("PurgeBatches failing at the second batch = %d, %v; want 3, %v", n, err, boom)
	}
}

// TestChunkReaderPurged: a chunk the fetcher says belongs to no message any
// more is a message purged while being read, not a corrupt body.
func TestChunkReaderPurged(t *testing.T) {
	fetch := func(seq int64, buf []byte) ([]byte, error) {
		if seq == 0 {
			return append(buf[:0], "abc"...), nil
		}
		return buf[:0], ErrNotFound
	}
	r := NewChunkReader(6, make([]byte, 32), fetch, func(err error) error { return err })
	_, err := io.ReadAll(r)
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "purged") || strings.Contains(err.Error(), "corrupt") {
		t.Errorf("reading a purged body: %v; want ErrNotFound, said purged", err)
	}
	missing := func(seq int64, buf []byte) ([]byte, error) {
		if seq == 0 {
			return append(buf[:0], "abc"...), nil
		}
		return buf[:0], nil
	}
	_, err = io.ReadAll(NewChunkReader(6, make([]byte, 32), missing, func(err error) error { return err }))
	if err == nil || errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "corrupt") {
		t.Errorf("reading a body missing a chunk: %v; want it said corrupt", err)
	}
}
