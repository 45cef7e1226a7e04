package runner

import (
	"bytes"
	"encoding/json"
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

// TestSecretsEscapedForms: a secret that holds a quote, a backslash or a
// control character is replaced also as an error quotes it with %q, and
// as a JSON or an HCL string writes it, both for a sensitive variable's
// value (variableSecrets) and for a transport's (with): a run that quoted
// an http location's path ab"cd\ef (path "ab\"cd\\ef" must start with /)
// showed it so in its error and its log.
func TestSecretsEscapedForms(t *testing.T) {
	tests := []struct{ name, secret string }{
		{"quote", `ab"cd"ef`},
		{"backslash", `ab\cd\ef`},
		{"tab", "ab\tcd\tef"},
		{"newline", "abcdef\nghijkl"},
		{"format control", "ab\u200ecdef"},
	}
	quoted := func(v string) string { s := fmt.Sprintf("%q", v); return s[1 : len(s)-1] }
	jsoned := func(v string) string { b, _ := json.Marshal(v); return string(b[1 : len(b)-1]) }
	for _, tt := range tests {
		for _, src := range []struct {
			name string
			s    secrets
		}{
			{"variable", variableSecrets(&model.Config{Secrets: []string{tt.secret}})},
			{"transport", secrets{}.with(tt.secret)},
		} {
			t.Run(tt.name+"/"+src.name, func(t *testing.T) {
				for _, form := range []string{tt.secret, quoted(tt.secret), jsoned(tt.secret)} {
					text := "receive location \"in\": path \"" + form + "\" must start with /"
					got := src.s.text(text)
					if strings.Contains(got, form) || !strings.Contains(got, "(sensitive value)") {
						t.Errorf("text(%q) = %q: the secret's form %q is shown", text, got, form)
					}
					err := src.s.err(errors.New(text))
					if strings.Contains(err.Error(), form) {
						t.Errorf("err(%q) = %q: the secret's form %q is shown", text, err, form)
					}
					var buf bytes.Buffer
					src.s.logger(slog.New(slog.NewJSONHandler(&buf, nil))).Error(text, "error", errors.New(text))
					if strings.Contains(buf.String(), form) || strings.Contains(buf.String(), jsoned(form)) {
						t.Errorf("log line %s shows the secret's form %q", buf.String(), form)
					}
				}
			})
		}
	}
}

// TestLineLog: a lineLog writes the lines slog.Logger.With over the
// secrets' logger writes, byte for byte, in text and JSON, with secrets or
// none, through With and WithGroup; and shows no secret.
func TestLineLog(t *testing.T) {
	noTime := func(groups []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey && len(groups) == 0 {
			return slog.Attr{}
		}
		return a
	}
	handlers := map[string]func(*bytes.Buffer) slog.Handler{
		"text": func(b *bytes.Buffer) slog.Handler {
			return slog.NewTextHandler(b, &slog.HandlerOptions{ReplaceAttr: noTime})
		},
		"json": func(b *bytes.Buffer) slog.Handler {
			return slog.NewJSONHandler(b, &slog.HandlerOptions{ReplaceAttr: noTime})
		},
	}
	all := secrets{}.with("t0ken", "hidden")
	for name, newHandler := range handlers {
		for _, s := range []secrets{{}, all} {
			lines := func(log func(inner slog.Handler) *slog.Logger) string {
				var buf bytes.Buffer
				l := log(newHandler(&buf).WithAttrs([]slog.Attr{slog.String("server", "srv1")}))
				l.Info("delivered")
				l.Debug("not enabled")
				l.Warn("failed at T0KEN", "error", errors.New("open /hidden/x"), "n", 7, "list", []string{"t0ken"},
					slog.Group("sub", "path", "/hidden/y"))
				l.With("delivery", int64(9), "dir", "/hidden").Info("more")
				l.With("k", "v").WithGroup("g").With("in", "hidden").Error("grouped", "x", "t0ken", slog.Group("empty"))
				return buf.String()
			}
			first := slog.String("message_id", "m-t0ken")
			fixed := []slog.Attr{slog.String("send_port", "p"), slog.String("instance", `host "hidden"`)}
			rest := []slog.Attr{slog.Int("attempt", 2), slog.String("as2_message_id", "<Hidden@x>")}
			want := lines(func(inner slog.Handler) *slog.Logger {
				args := []any{first}
				for _, a := range slices.Concat(fixed, rest) {
					args = append(args, a)
				}
				return s.logger(slog.New(inner)).With(args...)
			})
			got := lines(func(inner slog.Handler) *slog.Logger {
				return s.lineLog(inner, first, s.attrs(fixed...), rest...)
			})
			if got != want {
				t.Errorf("%s, %d secret(s): lineLog wrote\n%s\nWith wrote\n%s", name, len(s.r.Values()), got, want)
			}
			if strings.Count(got, "\n") != 4 {
				t.Errorf("%s: %d lines, want 4:\n%s", name, strings.Count(got, "\n"), got)
			}
			if !s.r.Empty() && (strings.Contains(strings.ToLower(got), "t0ken") || strings.Contains(strings.ToLower(got), "hidden")) {
				t.Errorf("%s: a line shows a secret:\n%s", name, got)
			}
		}
	}
}
