package runner

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/bizpipe/bizpipe/internal/config/model"
	"github.com/bizpipe/bizpipe/internal/redact"
)

// secrets are values that derive from a sensitive value and that errors
// and log lines may quote: the values of sensitive variables (and of the
// locals derived from them), and a receive location's or send port's
// transport values that derive from one (a directory, a listen address, a
// TLS file). The runner replaces them, in any letter case, wherever they
// appear in what it logs, stores in the box or returns: a last line of
// defence behind the marks that keep what templates derive from them out
// of the transports' errors (see transport.Delivery). The zero value has none.
type secrets struct{ r redact.Replacer }

// variableSecrets are the strings of cfg's sensitive variables and locals
// (those of at least redact.MinLen, as bizpipe validate's reports), in
// every form an error may quote them (see with).
func variableSecrets(cfg *model.Config) secrets {
	return secrets{redact.New(redact.Long(redact.SourceForms(cfg.Secrets))...)}
}

// withValues adds the known sensitive values among vs, whatever their
// length: a transport's, quoted as a whole.
func (s secrets) withValues(vs ...model.Value[string]) secrets {
	var add []string
	for _, v := range vs {
		if v.Sensitive && v.Known && v.V != "" {
			add = append(add, v.V)
		}
	}
	return s.with(add...)
}

// with returns s plus vs, each also in the other forms an error or a log
// line may quote it (redact.SourceForms): as %q escapes it, which errors
// use for paths and patterns (a value ab"c is ab\"c there), and as JSON
// and HCL escape it. A value with a quote, a backslash or a control
// character in it would otherwise pass as its escaped form, which is not
// the value. The value itself is replaced whatever its length (a
// transport's, quoted whole); its other forms and lines when redact.Long
// keeps them.
func (s secrets) with(vs ...string) secrets {
	return secrets{s.r.With(vs...).With(redact.Long(redact.SourceForms(vs))...)}
}

// text returns t with every secret replaced by redact.Shown.
func (s secrets) text(t string) string { return s.r.String(t) }

// err returns err with its text passed through text; errors.Is and
// errors.As still see what it wraps.
func (s secrets) err(err error) error {
	if err == nil || s.r.Empty() {
		return err
	}
	return &redactedError{text: s.text(err.Error()), err: err}
}

type redactedError struct {
	text string
	err  error
}

func (e *redactedError) Error() string { return e.text }
func (e *redactedError) Unwrap() error { return e.err }

// logger returns log, with every secret replaced in its lines.
func (s secrets) logger(log *slog.Logger) *slog.Logger {
	if s.r.Empty() {
		return log
	}
	return slog.New(&redactingHandler{inner: log.Handler(), secrets: s})
}

// redactingHandler passes records on with the secrets replaced in the
// message and in every attribute.
type redactingHandler struct {
	inner   slog.Handler
	secrets secrets
}

func (h *redactingHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h *redactingHandler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, h.secrets.text(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.inner.Handle(ctx, out)
}

func (h *redactingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(as))
	for i, a := range as {
		red[i] = h.attr(a)
	}
	return &redactingHandler{inner: h.inner.WithAttrs(red), secrets: h.secrets}
}

func (h *redactingHandler) WithGroup(name string) slog.Handler {
	return &redactingHandler{inner: h.inner.WithGroup(name), secrets: h.secrets}
}

// attr renders a's value as text, secrets replaced, when it holds one.
func (h *redactingHandler) attr(a slog.Attr) slog.Attr { return h.secrets.attr(a) }

// attr renders a's value as text, secrets replaced, when it holds one.
func (s secrets) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindGroup:
		g := v.Group()
		red := make([]any, len(g))
		for i, ga := range g {
			red[i] = s.attr(ga)
		}
		return slog.Group(a.Key, red...)
	case slog.KindString:
		// fmt.Sprint of a string is the string: spared its allocations.
		t := v.String()
		if shown := s.text(t); shown != t {
			return slog.String(a.Key, shown)
		}
	case slog.KindAny:
		t := fmt.Sprint(v.Any())
		if shown := s.text(t); shown != t {
			return slog.String(a.Key, shown)
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}

// attrs returns as passed through attr: what lineLog takes as shown.
func (s secrets) attrs(as ...slog.Attr) []slog.Attr {
	out := make([]slog.Attr, len(as))
	for i, a := range as {
		out[i] = s.attr(a)
	}
	return out
}

// lineLog returns a logger of inner (the runner's, secrets not replaced)
// whose lines carry first, then shown, then rest, then their own
// attributes, with the secrets replaced in each line as in logger's. It is
// the logger of one message or delivery: made by the thousand, each logs a
// line or two, so its attributes are added to each line as it is logged
// rather than formatted ahead as slog.Logger.With does (by inner, after
// the secrets are replaced in them), which cost more than the lines. The
// lines are the same: a handler writes With's attributes first. shown
// are attributes already passed through s.attr, once for many loggers (a
// port's name and instance); the logger keeps shown, which must not change.
func (s secrets) lineLog(inner slog.Handler, first slog.Attr, shown []slog.Attr, rest ...slog.Attr) *slog.Logger {
	return slog.New(&lineHandler{inner: inner, secrets: s, first: first, shown: shown, rest: rest})
}

// lineHandler is lineLog's handler.
type lineHandler struct {
	inner   slog.Handler
	secrets secrets
	first   slog.Attr   // secrets replaced as each line is logged
	shown   []slog.Attr // secrets replaced already; shared, never changed
	rest    []slog.Attr // secrets replaced as each line is logged
}

func (h *lineHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h *lineHandler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, h.secrets.text(rec.Message), rec.PC)
	// Gathered first: one AddAttrs grows the record at most once. A
	// delivery's line fits buf.
	var buf [8]slog.Attr
	as := h.lead(buf[:0])
	rec.Attrs(func(a slog.Attr) bool {
		as = append(as, h.show(a))
		return true
	})
	out.AddAttrs(as...)
	return h.inner.Handle(ctx, out)
}

// lead appends the attributes every line starts with to as, secrets
// replaced.
func (h *lineHandler) lead(as []slog.Attr) []slog.Attr {
	as = append(as, h.show(h.first))
	as = append(as, h.shown...)
	for _, a := range h.rest {
		as = append(as, h.show(a))
	}
	return as
}

// show is a with the secrets replaced; a itself when there are none, as
// without a redactingHandler.
func (h *lineHandler) show(a slog.Attr) slog.Attr {
	if h.secrets.r.Empty() {
		return a
	}
	return h.secrets.attr(a)
}

func (h *lineHandler) WithAttrs(as []slog.Attr) slog.Handler {
	if len(as) == 0 {
		return h
	}
	c := *h
	c.rest = append(h.rest[:len(h.rest):len(h.rest)], as...)
	return &c
}

// WithGroup puts the attributes so far ahead of the group, as With does:
// the group's come in it.
func (h *lineHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	inner := h.inner.WithAttrs(h.lead(nil))
	if !h.secrets.r.Empty() {
		inner = &redactingHandler{inner: inner, secrets: h.secrets}
	}
	return inner.WithGroup(name)
}
