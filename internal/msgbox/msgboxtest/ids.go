package msgboxtest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/msgbox"
)

// testMalformedID: a string that is not a message id is ErrNotFound to
// every method taking one, refused before the store is touched (a context
// already ended does not matter), and the error quotes it, so that it
// carries no control character, and not all of a long one.
func testMalformedID(t *testing.T, b msgbox.Box) {
	ctx := ctxCanceled(t)
	valid := receive(t, b, inc("exists.xml"), "x").ID
	for _, id := range []string{"not-an-id", "", strings.ToUpper(valid), valid + "\n", "evil\x1b[2J\r\n" + strings.Repeat("x", 1<<20)} {
		_, getErr := b.Get(ctx, id)
		_, msgErr := b.Message(ctx, id)
		_, bodyErr := b.Body(ctx, id)
		for what, err := range map[string]error{
			"Get":       getErr,
			"Message":   msgErr,
			"Body":      bodyErr,
			"Route":     b.Route(ctx, id, []string{"p"}, ""),
			"Resume":    b.Resume(ctx, id),
			"Terminate": b.Terminate(ctx, id),
		} {
			what := fmt.Sprintf("%s(%q)", what, shorten(id))
			wantErr(t, what, err, msgbox.ErrNotFound)
			if err == nil {
				continue
			}
			if msg := err.Error(); strings.ContainsAny(msg, "\x1b\r\n") || len(msg) > 1000 {
				t.Errorf("%s: error %q: want the id quoted, and shortened", what, shorten(msg))
			}
		}
	}
}

func shorten(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
