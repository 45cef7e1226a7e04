package sqlitebox

import (
	"bytes"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
)

// TestClaimPreloads: a claim comes with each delivery's message and, for a
// body stored in one chunk whose checksum holds, the body (msgbox.Delivery);
// a body in a file, or one whose checksum fails, is left to Body, which
// streams it or reports the corruption.
func TestClaimPreloads(t *testing.T) {
	ctx := t.Context()
	b := openTemp(t, Options{})
	route := func(msgbox.Message) ([]string, string) { return []string{"p"}, "" }
	small := []byte("<order>1</order>")
	bodies := map[string][]byte{
		"small":   small,
		"empty":   {},
		"large":   mustRead(t, pattern(50, 2<<20)),
		"corrupt": []byte("<order>2</order>"),
	}
	ids := map[string]string{}
	for name, body := range bodies {
		m, _, err := b.ReceiveRouted(ctx, in(name), bytes.NewReader(body), route)
		if err != nil {
			t.Fatal(err)
		}
		ids[m.ID] = name
	}
	var corruptID string
	for id, name := range ids {
		if name == "corrupt" {
			corruptID = id
		}
	}
	if _, err := b.db.Exec("UPDATE messages SET checksum = x'00000000' WHERE id = ?", corruptID); err != nil {
		t.Fatal(err)
	}
	ds, err := b.ClaimBatch(ctx, "w", []string{"p"}, time.Minute, 10, nil)
	if err != nil || len(ds) != len(bodies) {
		t.Fatalf("claimed %d, %v; want %d", len(ds), err, len(bodies))
	}
	for _, d := range ds {
		name := ids[d.MessageID]
		want, err := b.Message(ctx, d.MessageID)
		if err != nil {
			t.Fatal(err)
		}
		if d.Message == nil || d.Message.ID != want.ID || d.Message.Size != want.Size || d.Message.FileName != want.FileName ||
			d.Message.Properties["partner"] != "fabrikam" {
			t.Errorf("%s: preloaded message %+v, want %+v", name, d.Message, want)
		}
		switch name {
		case "small", "empty":
			if d.Body == nil || !bytes.Equal(d.Body, bodies[name]) {
				t.Errorf("%s: preloaded body %q, want %q", name, d.Body, bodies[name])
			}
		default:
			if d.Body != nil {
				t.Errorf("%s: preloaded a body (%d bytes), want it left to Body", name, len(d.Body))
			}
		}
	}
}
