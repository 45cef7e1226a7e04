package main

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/msgbox/msgboxtest"
)

// TestSensitivePropertyShownHidden: a sensitive property's value is shown
// as (sensitive value) by messages show and messages list, text and JSON,
// and a resubmitted copy keeps the property sensitive, so that its value
// stays hidden there too; the box keeps the value itself for filters and
// templates, in the copy as in the original.
func TestSensitivePropertyShownHidden(t *testing.T) {
	ctx := context.Background()
	box := sqliteHandles(t)()
	defer box.Close()
	const secret = "s3cr3t-api-token"
	orig, _, err := box.ReceiveRouted(ctx, msgbox.Incoming{ReceiveLocation: "in", FileName: "o.edi",
		Properties: map[string]string{"partner": "fabrikam", "token": secret}, SensitiveProperties: []string{"token"}},
		strings.NewReader("order"), func(msgbox.Message) ([]string, string) { return []string{"p"}, "" })
	if err != nil {
		t.Fatal(err)
	}
	d, err := msgboxtest.ClaimOne(ctx, box, "srv1/w0", []string{"p"}, time.Hour)
	if err != nil || d == nil {
		t.Fatalf("Claim = %v, %v", d, err)
	}
	if err := box.Finish(ctx, d.ID, "srv1/w0", msgbox.Outcome{State: msgbox.DeliveryDelivered}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := resubmitMessage(ctx, &env{stdout: &out}, box, orig.ID, messagesFlags{format: "text"}); err != nil {
		t.Fatal(err)
	}
	copies := copiesOf(t, box, orig.ID)
	if len(copies) != 1 {
		t.Fatalf("copies %v, want one", copies)
	}
	for _, id := range []string{orig.ID, copies[0]} {
		m, err := box.Message(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(m.SensitiveProperties, []string{"token"}) || m.Properties["token"] != secret {
			t.Errorf("message %s: properties %q, sensitive %q; want token kept, and sensitive", id, m.Properties, m.SensitiveProperties)
		}
		detail, err := box.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, format := range []string{"text", "json"} {
			var shown, listed bytes.Buffer
			if err := showMessage(&shown, detail, format); err != nil {
				t.Fatal(err)
			}
			if err := listMessages(ctx, &env{stdout: &listed}, box, nil, messagesFlags{format: format}, msgbox.Filter{}); err != nil {
				t.Fatal(err)
			}
			for what, text := range map[string]string{"messages show": shown.String(), "messages list": listed.String()} {
				if what == "messages list" && !strings.Contains(text, "partner") {
					continue // the text listing shows no properties
				}
				if strings.Contains(text, secret) || !strings.Contains(text, msgbox.SensitiveValue) || !strings.Contains(text, "fabrikam") {
					t.Errorf("%s --format %s of %s shows the secret, or not the other property:\n%s", what, format, id, text)
				}
			}
		}
	}
}
