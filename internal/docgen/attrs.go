package docgen

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/lang"
)

// attrRow is one row of an attribute table, from a block of the language or
// of a component.
type attrRow struct {
	name     string
	typ      string
	values   []string
	required string // "yes", "no", or "when ..."
	def      any
	doc      string
}

func langRows(as []lang.Attribute) []attrRow {
	rows := make([]attrRow, len(as))
	for i, a := range as {
		req := "no"
		switch {
		case a.Required:
			req = "yes"
		case a.RequiredWhen != "":
			req = "when " + a.RequiredWhen
		}
		rows[i] = attrRow{name: a.Name, typ: a.Type, values: a.Values, required: req, def: a.Default, doc: a.Doc}
	}
	return rows
}

func componentRows(as []component.Attribute) []attrRow {
	rows := make([]attrRow, len(as))
	for i, a := range as {
		req := "no"
		if a.Required {
			req = "yes"
		}
		rows[i] = attrRow{name: a.Name, typ: a.Type.String(), values: a.Values, required: req, def: a.Default, doc: a.Doc}
	}
	return rows
}

// attrTable renders the attribute table of a block.
func attrTable(rows []attrRow) string {
	if len(rows) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("| attribute | type | required | default | description |\n")
	b.WriteString("|---|---|---|---|---|\n")
	for _, r := range rows {
		typ := r.typ
		if len(r.values) > 0 {
			typ = "one of " + orList(quotedCodeList(r.values))
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", r.name, cell(typ), cell(r.required), cell(formatDefault(r.def)), cell(r.doc))
	}
	return b.String()
}

// formatDefault renders a default as it is written in HCL, as a code span;
// "" for none. Its Go type is as component.Attribute.Default documents:
// an int64 is a size.
func formatDefault(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return "`" + strconv.Quote(v) + "`"
	case time.Duration:
		return "`" + strconv.Quote(formatDuration(v)) + "`"
	case int64:
		return "`" + strconv.Quote(component.FormatSize(v)) + "`"
	default:
		return fmt.Sprintf("`%v`", v)
	}
}

// formatDuration writes a duration as a person would: "720h", "5m", not
// time.Duration's "720h0m0s".
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
