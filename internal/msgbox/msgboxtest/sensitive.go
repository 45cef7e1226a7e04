package msgboxtest

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/msgbox"
)

// testSensitiveProperties: which properties are sensitive is stored with
// the message and read back by every read (Get, List, Message, a
// duplicate's Receive, the router of ReceiveRouted), sorted, without
// duplicates and names the message has no property of, whatever the body's
// size; the values themselves are kept, for filters and templates.
func testSensitiveProperties(t *testing.T, b msgbox.Box) {
	props := map[string]string{"partner": "fabrikam", "token": "s3cr3t", "key": "k\x00ey"}
	want := []string{"key", "token"}
	in := func(name string) msgbox.Incoming {
		return msgbox.Incoming{ReceiveLocation: "orders_in", FileName: name, ContentType: "application/xml",
			Properties: props, SensitiveProperties: []string{"token", "absent", "key", "token"}, SourceKey: "orders_in/" + name}
	}
	check := func(what string, m msgbox.Message) {
		t.Helper()
		if !slices.Equal(m.SensitiveProperties, want) {
			t.Errorf("%s: SensitiveProperties = %q, want %q", what, m.SensitiveProperties, want)
		}
		if m.Properties["token"] != "s3cr3t" || m.Properties["key"] != "k\x00ey" || len(m.Properties) != 3 {
			t.Errorf("%s: Properties = %q, want the values themselves", what, m.Properties)
		}
	}
	var ids []string
	for _, size := range []int{5, 1<<20 + 1} {
		body := strings.Repeat("x", size)
		name := fmt.Sprintf("%d.xml", size)
		m, dup, err := b.ReceiveRouted(t.Context(), in(name), strings.NewReader(body), nil)
		if err != nil || dup {
			t.Fatalf("Receive of %d bytes: dup %v, %v", size, dup, err)
		}
		check("Receive", m)
		check("Get", get(t, b, m.ID).Message)
		got, err := b.Message(t.Context(), m.ID)
		if err != nil {
			t.Fatal(err)
		}
		check("Message", got)
		again, dup, err := b.ReceiveRouted(t.Context(), in(name), strings.NewReader(body), nil)
		if err != nil || !dup || again.ID != m.ID {
			t.Fatalf("Receive again: %s, dup %v, %v; want the first message", again.ID, dup, err)
		}
		check("Receive of a duplicate", again)
		ids = append(ids, m.ID)
	}
	var seen msgbox.Message
	m, _, err := b.ReceiveRouted(t.Context(), in("routed"), strings.NewReader("<order/>"),
		func(m msgbox.Message) ([]string, string) {
			seen = m
			return []string{"fabrikam"}, ""
		})
	if err != nil {
		t.Fatal(err)
	}
	check("ReceiveRouted", m)
	check("ReceiveRouted's router", seen)
	ids = append(ids, m.ID)
	list, err := msgbox.Collect(t.Context(), b, msgbox.Filter{})
	if err != nil || len(list) != len(ids) {
		t.Fatalf("List = %d messages, %v; want %d", len(list), err, len(ids))
	}
	for _, m := range list {
		check("List", m)
		if shown := m.ShownProperties(); shown["token"] != msgbox.SensitiveValue || shown["key"] != msgbox.SensitiveValue ||
			shown["partner"] != "fabrikam" {
			t.Errorf("ShownProperties = %q, want token and key hidden, partner shown", shown)
		}
	}
	// Without sensitive properties, none.
	plain := receive(t, b, inc("clear.xml"), "<order/>")
	if d := get(t, b, plain.ID); d.Message.SensitiveProperties != nil || plain.SensitiveProperties != nil {
		t.Errorf("SensitiveProperties of a message without any = %q, %q; want nil", plain.SensitiveProperties, d.Message.SensitiveProperties)
	}
}
