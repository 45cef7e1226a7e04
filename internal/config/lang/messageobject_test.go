package lang

import (
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/message"
)

// TestMessageObject: filters and templates see the message object of
// language §3.1, attribute by attribute with the contract's type and value:
// id, receive_location, file_name ("" when the message did not come from a
// file), content_type, received_at (RFC 3339 in UTC whatever the zone of
// the time of receipt) and party ("" when no decoder verified one) are
// strings, size a number, properties a map of strings. jsonencode shows the
// types (a number unquoted, a map as an object); each attribute is also read
// alone, through the fast paths where there are some.
func TestMessageObject(t *testing.T) {
	cfg := loadTemplateConfig(t, "")
	ctx := cfg.EvalContexts[cfg.ReceiveLocations[0].DeclRange.Filename]
	at := time.Date(2026, 12, 5, 10, 30, 0, 999_000_000, time.FixedZone("CET", 3600))
	full := &message.Message{ID: "01m92", ReceiveLocation: "in", FileName: "po 1.edi", ContentType: "application/edi-x12",
		Size: 1 << 40, ReceivedAt: at, Properties: map[string]string{"partner": "fabrikam", "n": "5"}, Party: "fabrikam"}
	bare := &message.Message{ID: "01m93", ReceiveLocation: "in", ContentType: "application/octet-stream", ReceivedAt: at.UTC()}

	templates := []struct {
		src        string
		full, bare string // "": not evaluated (a missing property is an error)
	}{
		{`jsonencode(message)`,
			`{"content_type":"application/edi-x12","file_name":"po 1.edi","id":"01m92","party":"fabrikam",` +
				`"properties":{"n":"5","partner":"fabrikam"},"receive_location":"in","received_at":"2026-12-05T09:30:00Z","size":1099511627776}`,
			`{"content_type":"application/octet-stream","file_name":"","id":"01m93","party":"",` +
				`"properties":{},"receive_location":"in","received_at":"2026-12-05T09:30:00Z","size":0}`},
		{`"${message.id}"`, "01m92", "01m93"},
		{`"${message.receive_location}"`, "in", "in"},
		{`"[${message.file_name}]"`, "[po 1.edi]", "[]"},
		{`"${message.content_type}"`, "application/edi-x12", "application/octet-stream"},
		{`"${message.received_at}"`, "2026-12-05T09:30:00Z", "2026-12-05T09:30:00Z"},
		{`"[${message.party}]"`, "[fabrikam]", "[]"},
		{`"${message.size}"`, "1099511627776", "0"},
		{`"${message.size + 1}"`, "1099511627777", "1"},
		{`"${message.properties.n}"`, "5", ""},
		{`"${length(message.properties)}"`, "2", "0"},
	}
	for _, tt := range templates {
		tmpl := newTemplate(parseTemplate(t, cfg, tt.src), ctx)
		tmpl.compileFast()
		for _, m := range []struct {
			msg  *message.Message
			want string
		}{{full, tt.full}, {bare, tt.bare}} {
			if m.want == "" {
				continue
			}
			got, err := tmpl.Eval(m.msg)
			if err != nil || got.Value != m.want {
				t.Errorf("%s on message %s = %q, %v; want %q", tt.src, m.msg.ID, got.Value, err, m.want)
			}
		}
	}

	filters := []struct {
		src        string
		full, bare bool
	}{
		{`message.size == 1099511627776`, true, false},
		{`message.size > 0`, true, false},
		{`message.size == "1099511627776"`, false, false}, // a number is not equal to a string
		{`message.received_at == "2026-12-05T09:30:00Z"`, true, true},
		// Times compared as numbers, as BP1005's hint says to.
		{`parseint(formatdate("YYYYMMDDhhmm", message.received_at), 10) >= 202612050930`, true, true},
		{`parseint(formatdate("YYYYMMDDhhmm", message.received_at), 10) > 202612050930`, false, false},
		{`message.file_name == ""`, false, true},
		{`message.party == ""`, false, true},
		{`join(",", keys(message.properties)) == "n,partner"`, true, false},
		{`message.properties.n == "5"`, true, false},
		{`lookup(message.properties, "n", "") == "5"`, true, false},
	}
	for _, tt := range filters {
		f := newFilter(parseTemplate(t, cfg, tt.src), ctx, "out")
		f.compileFast()
		for _, m := range []struct {
			msg  *message.Message
			want bool
		}{{full, tt.full}, {bare, tt.bare}} {
			if tt.src == `message.properties.n == "5"` && m.msg == bare {
				continue // a missing property is a routing error, not false
			}
			got, err := f.Match(m.msg)
			if err != nil || got != m.want {
				t.Errorf("filter %s on message %s = %v, %v; want %v", tt.src, m.msg.ID, got, err, m.want)
			}
		}
	}
}
