package msgboxtest

import (
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/msgbox"
)

// testSourceKeyIfDecoded: a SourceKey that is only the sender's claim
// (SourceKeyIfDecoded, an AS2 Message-ID) is held by a message the
// decoders accepted, never by one they refused: the refused one is stored
// as a new message each time, neither answered as a duplicate nor keeping
// the key from the authentic message that comes after it, by ReceiveRouted
// and by ReceiveBatch alike; a decoded one de-duplicates as any SourceKey.
func testSourceKeyIfDecoded(t *testing.T, b msgbox.Box) {
	in := func(key string, d msgbox.Decoding) msgbox.Incoming {
		x := inc("as2")
		x.SourceKey, x.SourceKeyIfDecoded, x.Decoding = key, true, d
		return x
	}
	junk := receive(t, b, in("as2:fabrikam:1", msgbox.DecodingFailed), "junk")
	junk2 := receive(t, b, in("as2:fabrikam:1", msgbox.DecodingFailed), "junk again")
	real := receive(t, b, in("as2:fabrikam:1", msgbox.Decoded), "authentic")
	if junk.ID == junk2.ID || real.ID == junk.ID || real.ID == junk2.ID {
		t.Errorf("refused messages share an id with each other or the authentic one: %s %s %s", junk.ID, junk2.ID, real.ID)
	}
	body := &countingReader{r: strings.NewReader("authentic, resent")}
	again, dup, err := b.ReceiveRouted(t.Context(), in("as2:fabrikam:1", msgbox.Decoded), body, nil)
	if err != nil || !dup || again.ID != real.ID || body.n != 0 {
		t.Errorf("the authentic message again: %s, dup %v, %v, %d bytes read; want %s, a duplicate, no body read", again.ID, dup, err, body.n, real.ID)
	}
	// Refused after the authentic one: stored on its own, the authentic
	// one untouched.
	late := receive(t, b, in("as2:fabrikam:1", msgbox.DecodingFailed), "late junk")
	if late.ID == real.ID {
		t.Errorf("a refused message was answered as the authentic one's duplicate")
	}
	if got := string(readBody(t, b, real.ID)); got != "authentic" {
		t.Errorf("authentic body %q after refused ones", got)
	}

	// ReceiveBatch: the same rules, and a plain SourceKey of a refused
	// message still de-duplicates (a file's claim, recovered after a crash).
	res := b.ReceiveBatch(t.Context(), []msgbox.Receipt{
		{In: in("as2:fabrikam:2", msgbox.DecodingFailed), Body: strings.NewReader("junk")},
		{In: in("as2:fabrikam:2", msgbox.Decoded), Body: strings.NewReader("authentic")},
		{In: in("as2:fabrikam:1", msgbox.DecodingFailed), Body: strings.NewReader("junk")},
	}, func(msgbox.Message) ([]string, string) { return []string{"orders"}, "" })
	if len(res) != 3 {
		t.Fatalf("ReceiveBatch: %d results", len(res))
	}
	for i, r := range res {
		if r.Err != nil || r.Dup {
			t.Errorf("ReceiveBatch item %d: dup %v, %v; want a new message", i, r.Dup, r.Err)
		}
	}
	if res[0].Message.ID == res[1].Message.ID {
		t.Errorf("ReceiveBatch: the refused and the authentic message share id %s", res[0].Message.ID)
	}
	plain := inc("file.p7m")
	plain.SourceKey, plain.Decoding = "from_fabrikam/claim-1", msgbox.DecodingFailed
	first := receive(t, b, plain, "raw")
	if m, dup, err := b.ReceiveRouted(t.Context(), plain, strings.NewReader("raw"), nil); err != nil || !dup || m.ID != first.ID {
		t.Errorf("a refused message with a plain SourceKey again: %s, dup %v, %v; want the duplicate of %s", m.ID, dup, err, first.ID)
	}
}
