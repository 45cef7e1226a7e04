package msgboxtest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/msgbox"
)

// testParty: the party a decoder verified and what decoding made of the
// message are stored with it and read back by every read (Receive, the
// router of ReceiveRouted, Get, List, Message, a duplicate's Receive,
// ReceiveBatch, Unrouted), whatever the body's size; a message received
// without them has "" for both; an unknown decoding state is refused.
func testParty(t *testing.T, b msgbox.Box) {
	in := func(name string, d msgbox.Decoding) msgbox.Incoming {
		return msgbox.Incoming{ReceiveLocation: "from_fabrikam", FileName: name, ContentType: "application/edi-x12",
			SourceKey: "from_fabrikam/" + name, Party: "fabrikam", Decoding: d}
	}
	check := func(what string, m msgbox.Message, want msgbox.Decoding) {
		t.Helper()
		if m.Party != "fabrikam" || m.Decoding != want {
			t.Errorf("%s: Party %q, Decoding %q; want \"fabrikam\", %q", what, m.Party, m.Decoding, want)
		}
	}
	for _, size := range []int{5, 1<<20 + 1} {
		body := strings.Repeat("x", size)
		name := fmt.Sprintf("%d.edi", size)
		var seen msgbox.Message
		m, dup, err := b.ReceiveRouted(t.Context(), in(name, msgbox.Decoded), strings.NewReader(body),
			func(m msgbox.Message) ([]string, string) {
				seen = m
				return []string{"orders"}, ""
			})
		if err != nil || dup {
			t.Fatalf("Receive of %d bytes: dup %v, %v", size, dup, err)
		}
		check("ReceiveRouted", m, msgbox.Decoded)
		check("ReceiveRouted's router", seen, msgbox.Decoded)
		check("Get", get(t, b, m.ID).Message, msgbox.Decoded)
		got, err := b.Message(t.Context(), m.ID)
		if err != nil {
			t.Fatal(err)
		}
		check("Message", got, msgbox.Decoded)
		again, dup, err := b.ReceiveRouted(t.Context(), in(name, msgbox.Decoded), strings.NewReader(body), nil)
		if err != nil || !dup || again.ID != m.ID {
			t.Fatalf("Receive again: %s, dup %v, %v; want the first message", again.ID, dup, err)
		}
		check("Receive of a duplicate", again, msgbox.Decoded)
	}
	res := b.ReceiveBatch(t.Context(), []msgbox.Receipt{{In: in("batch.edi", msgbox.DecodingFailed), Body: strings.NewReader("raw")}},
		func(msgbox.Message) ([]string, string) { return nil, "decoding failed" })
	if len(res) != 1 || res[0].Err != nil {
		t.Fatalf("ReceiveBatch = %+v", res)
	}
	check("ReceiveBatch", res[0].Message, msgbox.DecodingFailed)
	check("Get of a batch's message", get(t, b, res[0].Message.ID).Message, msgbox.DecodingFailed)
	unrouted := receive(t, b, in("unrouted.edi", msgbox.Decoded), "<order/>")
	list, err := b.Unrouted(t.Context(), 10)
	if err != nil || len(list) != 1 || list[0].ID != unrouted.ID {
		t.Fatalf("Unrouted = %v, %v; want %s", list, err, unrouted.ID)
	}
	check("Unrouted", list[0], msgbox.Decoded)
	all, err := msgbox.Collect(t.Context(), b, msgbox.Filter{})
	if err != nil || len(all) != 4 {
		t.Fatalf("List = %d messages, %v; want 4", len(all), err)
	}
	for _, m := range all {
		if m.Party != "fabrikam" || m.Decoding == msgbox.NotDecoded {
			t.Errorf("List: %s has Party %q, Decoding %q", m.ID, m.Party, m.Decoding)
		}
	}
	plain := receive(t, b, inc("plain.xml"), "<order/>")
	if d := get(t, b, plain.ID); d.Message.Party != "" || d.Message.Decoding != msgbox.NotDecoded {
		t.Errorf("a message received without a party: Party %q, Decoding %q; want none", d.Message.Party, d.Message.Decoding)
	}
	bad := inc("bad.xml")
	bad.Decoding = "maybe"
	if _, _, err := b.ReceiveRouted(t.Context(), bad, strings.NewReader("x"), nil); err == nil {
		t.Error("Receive with Decoding \"maybe\": no error")
	}
}
