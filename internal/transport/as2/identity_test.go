package as2

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/value"
	"github.com/bizpipe/bizpipe/internal/testhttp"
	"github.com/bizpipe/bizpipe/internal/testpki"
)

// TestReceiveIdentitiesCompareExactly: AS2-From and AS2-To name a party
// and the group by their as2_id exactly, case included (RFC 4130 §6.2
// compares AS2 names case-sensitively), once a quoted name is unquoted
// and the white space around the field value dropped: "fabrikam" and
// "FABRIKAM" are two parties' identifiers, "Fabrikam" neither's, and an
// AS2-To of "contoso" is not the group's "CONTOSO". An identifier with a
// space is matched quoted or not. Each refusal is a 403 and nothing
// reaches the sink; each message accepted reaches it as its party's.
func TestReceiveIdentitiesCompareExactly(t *testing.T) {
	signer := testpki.NewCA(t, "Test CA").Issue(t, testpki.Options{CommonName: "Contoso Signing"})
	sink := &recordingSink{}
	cfg := &ReceiveConfig{Listen: value.Value[string]{V: "127.0.0.1:0"}, Path: value.Value[string]{V: "/as2"}}
	url := "http://" + startReceiver(t, cfg, &component.ReceiveEnv{
		Location: "in", ContentType: "application/octet-stream", Sink: sink,
		AS2ID: "CONTOSO",
		PartyAS2IDs: map[string]string{
			"fabrikam": "FABRIKAM", "fabrikam_lower": "fabrikam", "fabrikam_eu": "FABRIKAM EU", "quote": `A"B`,
		},
		Keys: component.Keys{Signer: &component.Identity{Cert: signer.Cert, Key: signer.Key}},
	}) + "/as2"
	for i, tc := range []struct {
		from, to string
		party    string // "": refused with 403
	}{
		{"FABRIKAM", "CONTOSO", "fabrikam"},
		{"fabrikam", "CONTOSO", "fabrikam_lower"},
		{"Fabrikam", "CONTOSO", ""},
		{"FABRIKAM", "contoso", ""},
		{"FABRIKAM", "CONTOSO ", "fabrikam"}, // white space around a field value is no part of it
		{`"FABRIKAM"`, `"CONTOSO"`, "fabrikam"},
		{`"FABRIKAM EU"`, "CONTOSO", "fabrikam_eu"},
		{"FABRIKAM EU", "CONTOSO", "fabrikam_eu"},
		{`"FABRIKAM  EU"`, "CONTOSO", ""},
		{`" FABRIKAM"`, "CONTOSO", ""}, // quoted, the space is part of the name
		{`"A\"B"`, "CONTOSO", "quote"},
		{"FABRIKAMEU", "CONTOSO", ""},
	} {
		t.Run(fmt.Sprintf("%s to %s", tc.from, tc.to), func(t *testing.T) {
			sink.mu.Lock()
			sink.entity, sink.req = nil, component.DecodeRequest{}
			sink.mu.Unlock()
			req, err := http.NewRequest(http.MethodPost, url, strings.NewReader("UNB+UNOC:3+FABRIKAM+CONTOSO'"))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/edifact")
			req.Header.Set("AS2-Version", "1.2")
			req.Header.Set("AS2-From", tc.from)
			req.Header.Set("AS2-To", tc.to)
			req.Header.Set("Message-ID", fmt.Sprintf("<id%d@fabrikam.example>", i))
			resp, b := testhttp.Do(t, nil, req)
			sink.mu.Lock()
			defer sink.mu.Unlock()
			if tc.party == "" {
				if resp.StatusCode != http.StatusForbidden || sink.entity != nil {
					t.Errorf("%s %q, the sink got %q; want 403 and nothing stored", resp.Status, b, sink.entity)
				}
				return
			}
			if resp.StatusCode != http.StatusOK || sink.req.Party != tc.party {
				t.Errorf("%s %q, party %q; want 200 for party %q", resp.Status, b, sink.req.Party, tc.party)
			}
		})
	}
}
