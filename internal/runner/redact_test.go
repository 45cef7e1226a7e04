package runner

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/config/model"
)

// TestSecrets: sensitive transport values are replaced in texts, errors
// (which still wrap what they did) and every part of a log line; values
// that are not sensitive are not secrets.
func TestSecrets(t *testing.T) {
	s := secrets{}.with("t0ken").withValues(
		model.Value[string]{V: "/srv/hidden", Set: true, Known: true, Sensitive: true},
		model.Value[string]{V: "/srv/hidden/deeper", Set: true, Known: true, Sensitive: true},
		model.Value[string]{V: "/srv/plain", Set: true, Known: true},
		model.Value[string]{Set: true, Sensitive: true}, // unknown
	)
	if want := []string{"/srv/hidden/deeper", "/srv/hidden", "t0ken"}; !slices.Equal(s.r.Values(), want) {
		t.Fatalf("secrets = %q, want %q: the sensitive values, longest first", s.r.Values(), want)
	}
	if got := s.text("open /srv/hidden/deeper/x: denied; /srv/plain; T0KEN"); got != "open (sensitive value)/x: denied; /srv/plain; (sensitive value)" {
		t.Errorf("text = %q", got)
	}
	if none := (secrets{}).with(); !none.r.Empty() || none.text("t0ken") != "t0ken" {
		t.Error("no secrets replace something")
	}
	base := errors.New("base")
	err := s.err(fmt.Errorf("reading /srv/hidden: %w", base))
	if err.Error() != "reading (sensitive value): base" || !errors.Is(err, base) {
		t.Errorf("err = %v (wraps base: %v)", err, errors.Is(err, base))
	}
	if s.err(nil) != nil || (secrets{}).err(base) != base {
		t.Error("err changes nil, or an error when there are no secrets")
	}
	var buf bytes.Buffer
	log := s.logger(slog.New(slog.NewTextHandler(&buf, nil))).With("dir", "/srv/hidden").WithGroup("g")
	log.Info("cannot read /srv/hidden", "error", fmt.Errorf("open /srv/hidden/deeper: %w", base),
		slog.Group("sub", "path", "/srv/hidden/x"), "list", []string{"/srv/hidden"}, "n", 7, "plain", "/srv/plain")
	out := buf.String()
	if strings.Contains(out, "/srv/hidden") {
		t.Errorf("log line shows a secret: %s", out)
	}
	for _, want := range []string{`msg="cannot read (sensitive value)"`, `dir="(sensitive value)"`, `g.sub.path="(sensitive value)/x"`, "g.n=7", "g.plain=/srv/plain"} {
		if !strings.Contains(out, want) {
			t.Errorf("log line %q lacks %q", out, want)
		}
	}
}
