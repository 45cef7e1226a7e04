package file

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/value"
	"github.com/bizpipe/bizpipe/internal/message"
	"github.com/bizpipe/bizpipe/internal/message/messagetest"
	"github.com/bizpipe/bizpipe/internal/transport/transporttest"
)

func decodeFileName(t *testing.T, name message.Template) []*hcl.Diagnostic {
	t.Helper()
	var diags []*hcl.Diagnostic
	b := component.NewBody(`transport "file" of send_port "p"`, hcl.Range{}, func(d *hcl.Diagnostic) { diags = append(diags, d) })
	b.Set("path", value.Known("out", hcl.Range{}))
	b.Set("file_name", value.Known(name, hcl.Range{}))
	b.Set("copy_mode", value.Defaulted("create_new", hcl.Range{}))
	SendSpec.Decode(b)
	return diags
}

// TestDecodeSendFileNameAsDeliveryJudgesIt: validate refuses a constant
// file_name exactly when every delivery would refuse it (and suspend its
// message), as it refuses such a url, where "sub/x.xml" validated; and a
// file_name whose literal text before the message already makes every
// name unusable ("sub/${message.id}"). The reason never quotes a
// sensitive name.
func TestDecodeSendFileNameAsDeliveryJudgesIt(t *testing.T) {
	for _, tc := range []struct {
		name      string
		sensitive bool
	}{
		{"orders.xml", false},
		{"orders.xml", true},
		{"sub/x.xml", false},
		{`sub\x.xml`, false},
		{"", false},
		{"..", false},
		{".bizpipe-x", false},
		{"a\nb", false},
		{"a\u0085b", false},
		{strings.Repeat("a", 256), false},
		{"hunter22/secret", true},
	} {
		diags := decodeFileName(t, messagetest.Constant{Value: tc.name, Sensitive: tc.sensitive})
		var hidden []string
		if tc.sensitive {
			hidden = []string{"hunter22"}
		}
		transporttest.CheckJudgedAlike(t, fmt.Sprintf("file_name %q", tc.name), diags, checkDeliveredName(tc.name, tc.sensitive),
			"invalid file name", hidden...)
	}
	for _, tc := range []struct {
		prefix  string
		refused bool
	}{
		{"", false},
		{"order-", false},
		{".", false}, // ".x" is a name
		{".bizpipe", false},
		{"sub/", true},
		{`sub\`, true},
		{".bizpipe-", true},
		{".BIZPIPE-x", true},
		{"a\tb", true},
		{strings.Repeat("a", 256), true},
	} {
		diags := decodeFileName(t, messagetest.Prefixed(tc.prefix))
		if refused := len(diags) > 0; refused != tc.refused {
			t.Errorf("file_name %q + message: refused %v, want %v (%v)", tc.prefix, refused, tc.refused, diags)
			continue
		}
		// What is refused fails for every message, accepted does not for some.
		err := checkDeliveredName(tc.prefix+"01j0000000000000000000000", false)
		if (err != nil) != tc.refused {
			t.Errorf("file_name %q + message: a delivery's error %v, validate refused %v", tc.prefix, err, tc.refused)
		}
	}
	for _, tc := range []struct {
		parts   []string
		refused bool
	}{
		{nil, false},
		{[]string{".xml"}, false},
		{[]string{"-", ".bizpipe-"}, false}, // not at the start
		{[]string{"/"}, true},
		{[]string{"-", `\`, ".xml"}, true},
		{[]string{"\x00"}, true},
		{[]string{"\u009b2J"}, true},
	} {
		diags := decodeFileName(t, messagetest.Literal(tc.parts))
		if refused := len(diags) > 0; refused != tc.refused {
			t.Errorf("file_name with the literal texts %q: refused %v, want %v (%v)", tc.parts, refused, tc.refused, diags)
			continue
		}
		err := checkDeliveredName(messagetest.Literal(tc.parts).Value("01j0000000000000000000000"), false)
		if (err != nil) != tc.refused {
			t.Errorf("file_name with the literal texts %q: a delivery's error %v, validate refused %v", tc.parts, err, tc.refused)
		}
	}
}
