package msgboxtest

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/msgbox"
)

// testAsReceived: a message received with its bytes as received apart
// (a decoded one) keeps both: Body reads the body given, AsReceived the
// bytes as received, exactly, small or larger than a chunk, whatever the
// body's size; through ReceiveBatch too. A duplicate does not read them.
// Without them, AsReceived reads the body. Purge deletes them with the
// message; an unknown or malformed id is ErrNotFound.
func testAsReceived(t *testing.T, b msgbox.Box) {
	ctx := t.Context()
	in := func(name string, received io.Reader) msgbox.Incoming {
		return msgbox.Incoming{ReceiveLocation: "from_fabrikam", FileName: name, SourceKey: "from_fabrikam/" + name,
			Decoding: msgbox.Decoded, Party: "fabrikam", AsReceived: received}
	}
	readAs := func(id string) io.Reader {
		t.Helper()
		rc, err := b.AsReceived(ctx, id)
		if err != nil {
			t.Fatalf("AsReceived(%s): %v", id, err)
		}
		t.Cleanup(func() { rc.Close() })
		return rc
	}
	var ids []string
	for i, sizes := range [][2]int64{{5, 7}, {1<<20 + 1, 9}, {11, 3<<20 + 5}, {2<<20 + 3, 1<<20 + 1}} {
		body, received := sizes[0], sizes[1]
		name := fmt.Sprintf("%d.edi", i)
		m, dup, err := b.ReceiveRouted(ctx, in(name, pattern(uint64(2*i+1), received)), pattern(uint64(2*i), body),
			func(msgbox.Message) ([]string, string) { return []string{"orders"}, "" })
		if err != nil || dup {
			t.Fatalf("Receive %s: dup %v, %v", name, dup, err)
		}
		if m.Size != body {
			t.Errorf("%s: Size %d, want the body's %d", name, m.Size, body)
		}
		rc, err := b.Body(ctx, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := sameStream(rc, pattern(uint64(2*i), body)); err != nil {
			t.Errorf("%s: Body: %v", name, err)
		}
		rc.Close()
		if err := sameStream(readAs(m.ID), pattern(uint64(2*i+1), received)); err != nil {
			t.Errorf("%s: AsReceived: %v", name, err)
		}
		// A duplicate reads neither.
		again, dup, err := b.ReceiveRouted(ctx, in(name, failingReader(0, errors.New("read"))), failingReader(0, errors.New("read")), nil)
		if err != nil || !dup || again.ID != m.ID {
			t.Errorf("Receive %s again: %s, dup %v, %v; want the first, unread", name, again.ID, dup, err)
		}
		ids = append(ids, m.ID)
	}
	res := b.ReceiveBatch(ctx, []msgbox.Receipt{
		{In: in("batch.edi", strings.NewReader("as received")), Body: strings.NewReader("decoded")},
		{In: inc("plain.xml"), Body: strings.NewReader("<order/>")},
	}, nil)
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("ReceiveBatch item %d: %v", i, r.Err)
		}
	}
	if got := readBody(t, b, res[0].Message.ID); string(got) != "decoded" {
		t.Errorf("Body of a batch's message = %q, want \"decoded\"", got)
	}
	if got, _ := io.ReadAll(readAs(res[0].Message.ID)); string(got) != "as received" {
		t.Errorf("AsReceived of a batch's message = %q, want \"as received\"", got)
	}
	if got, _ := io.ReadAll(readAs(res[1].Message.ID)); string(got) != "<order/>" {
		t.Errorf("AsReceived of a message without = %q, want its body", got)
	}
	for _, id := range []string{"01m90t975xynms96fkgxj0fybe", "../etc"} {
		if _, err := b.AsReceived(ctx, id); !errors.Is(err, msgbox.ErrNotFound) {
			t.Errorf("AsReceived(%q) = %v, want ErrNotFound", id, err)
		}
	}
	for _, id := range ids {
		if err := b.Terminate(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	sleepPast(now())
	if n, err := b.Purge(ctx, now()); err != nil || n != len(ids) {
		t.Fatalf("Purge = %d, %v; want %d", n, err, len(ids))
	}
	for _, id := range ids {
		if _, err := b.AsReceived(ctx, id); !errors.Is(err, msgbox.ErrNotFound) {
			t.Errorf("AsReceived of purged %s: %v, want ErrNotFound", id, err)
		}
	}
}
