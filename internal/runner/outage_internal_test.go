package runner

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestOutageEndsOnlyBySuccessBegunDuringIt: a success of an operation that
// began before the outage (another worker's claim, under way when the box
// failed) does not end it: only one that began during it does. Before, the
// first made the run say "works again" and the next failure log a new
// outage, three lines where none was due (TestClaimOutageLoggedOnce failed
// so on a loaded machine).
func TestOutageEndsOnlyBySuccessBegunDuringIt(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	o := outage{failed: "failed", works: "works again", now: time.Now}
	count := func(msg string) int { return strings.Count(logs.String(), `"msg":"`+msg+`"`) }

	before := o.began()
	o.fail(log, errors.New("disk full"))
	o.ok(log, before) // began before the outage
	o.fail(log, errors.New("disk full"))
	if f, w := count("failed"), count("works again"); f != 1 || w != 0 {
		t.Fatalf("%d failed and %d works-again lines, want 1 and 0:\n%s", f, w, logs.String())
	}
	during := o.began()
	o.ok(log, during)
	o.ok(log, during)
	if w := count("works again"); w != 1 {
		t.Fatalf("%d works-again lines, want 1:\n%s", w, logs.String())
	}
	o.ok(log, o.began()) // no outage: nothing to say
	o.fail(log, errors.New("disk full"))
	if f, w := count("failed"), count("works again"); f != 2 || w != 1 {
		t.Fatalf("a second outage: %d failed and %d works-again lines, want 2 and 1:\n%s", f, w, logs.String())
	}
}
