package http

import (
	"maps"
	"slices"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/value"
	"github.com/bizpipe/bizpipe/internal/message"
)

// CheckHeaders reports (BP1004) the configured headers of attribute attr
// that no request can carry (checkHeader), each at its entry: a name that
// is not a token, or a constant value with a control character. A value
// that reads the message is checked when it is evaluated (Target.Eval),
// and its delivery suspended: a retry would evaluate it the same.
func CheckHeaders(b *component.Body, attr string, headers value.Value[map[string]message.Template]) {
	if !headers.Usable() {
		return
	}
	for _, name := range slices.Sorted(maps.Keys(headers.V)) {
		v := ""
		if k, ok := headers.V[name].(message.Constant); ok {
			// A sensitive value is judged too: checkHeader never quotes it.
			t, _ := k.ConstantText() // "" when it reads the message: the name alone is checked
			v = t.Value
		}
		if err := checkHeader(name, v); err != nil {
			b.Errorf(b.EntryRange(attr, name, headers.Range), "Invalid header",
				"The headers of %s cannot be sent: %s.", b.What, err)
		}
	}
}
