package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/diff"

	"github.com/bizpipe/bizpipe/internal/msgbox"
)

var update = flag.Bool("update", false, "rewrite the golden files, docs/ and the README's exit code table (go test ./cmd/bizpipe -update)")

// TestGolden compares validate's text, JSON, SARIF, GitHub and GitLab reports byte for byte
// with testdata/golden/NAME.FORMAT.golden. Each case runs in-process from the
// directory that holds its configuration, so every path in the output is the
// relative one a user would type, the same on every machine.
func TestGolden(t *testing.T) {
	cases := []struct {
		name string
		dir  string // working directory, relative to this package
		args []string
		code int
	}{
		// A clean configuration: the quickstart example.
		{"quickstart", examplesDir, []string{"quickstart"}, exitOK},
		// The misconfigured example: BP3002 on srv2's instance.
		{"misconfigured", examplesDir, []string{"misconfigured"}, exitFindings},
		// Errors and warnings across two files (testdata/golden/multi).
		{"multi", "testdata/golden", []string{"multi"}, exitFindings},
		// Receive pipelines and parties (language §10): every inbound
		// rule, BP7001–BP7009, on real stores (testdata/golden/inbound).
		{"inbound", "testdata/golden", []string{"inbound"}, exitFindings},
		// Typos (issue 12): did-you-mean hints, a near-match thumbprint,
		// a broken reference without follow-ons, BP1007 and BP1008
		// (testdata/golden/typos).
		{"typos", "testdata/golden", []string{"typos"}, exitFindings},
		// A signing certificate rollover (language §12) on three
		// servers, past (BP3007 errors, BP3008) and years ahead (BP3007
		// warnings), with fixed dates (testdata/golden/rollover).
		{"rollover-due", "testdata/golden", []string{"rollover/common.hcl", "rollover/due.hcl"}, exitFindings},
		{"rollover-ahead", "testdata/golden", []string{"rollover/common.hcl", "rollover/ahead.hcl"}, exitOK},
		// Files named directly, one of them a .hcl.json file, one with a
		// syntax error: only the syntax errors are reported.
		{"syntax", "testdata/golden", []string{"syntax/group.hcl", "syntax/servers.hcl.json"}, exitFindings},
	}
	for _, c := range cases {
		for _, format := range []string{"text", "json", "sarif", "github", "gitlab"} {
			t.Run(c.name+"/"+format, func(t *testing.T) {
				golden, err := filepath.Abs(filepath.Join("testdata", "golden", c.name+"."+format+".golden"))
				if err != nil {
					t.Fatal(err)
				}
				t.Chdir(c.dir)
				var stdout, stderr bytes.Buffer
				args := append([]string{"validate", "--format", format}, c.args...)
				code := run(args, &stdout, &stderr, noEnv)
				if code != c.code {
					t.Errorf("exit status %d, want %d", code, c.code)
				}
				if stderr.Len() > 0 {
					t.Errorf("stderr is not empty:\n%s", &stderr)
				}
				got := normaliseVersion(stdout.Bytes())
				if *update {
					if err := os.WriteFile(golden, got, 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run go test ./cmd/bizpipe -update to create it)", err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s output differs from %s (run go test ./cmd/bizpipe -update if the change is intended):\n%s",
						format, golden, diff.Diff("want", want, "got", got))
				}
				if format != "text" && format != "github" {
					if err := singleJSON(got); err != nil {
						t.Error(err)
					}
				}
				if strings.Contains(string(got), "\x1b[") {
					t.Error("colour codes in output to a non-terminal")
				}
			})
		}
	}
}

// noEnv is an empty environment, so that no BIZPIPE_VAR_* or NO_COLOR of the
// developer's shell changes the output.
func noEnv(string) (string, bool) { return "", false }

// normaliseVersion replaces the bizpipe version in a SARIF report, which
// depends on how the test binary was built, with a fixed placeholder.
func normaliseVersion(out []byte) []byte {
	const uri = `"informationUri": "https://github.com/bizpipe/bizpipe",`
	old := uri + "\n          \"version\": \"" + version() + "\","
	return bytes.ReplaceAll(out, []byte(old), []byte(uri+"\n          \"version\": \"VERSION\","))
}

// TestGoldenMessageShow compares `messages show`'s text and JSON rendering
// of one message with testdata/golden/NAME.FORMAT.golden: sampleMessageDetail
// (no receipt), and sampleAS2Detail (a delivery with an AS2 MDN).
func TestGoldenMessageShow(t *testing.T) {
	for _, c := range []struct {
		name string
		d    *msgbox.Detail
	}{
		{"messages-show", sampleMessageDetail()},
		{"messages-show-as2", sampleAS2Detail()},
	} {
		for _, format := range []string{"text", "json"} {
			t.Run(c.name+"/"+format, func(t *testing.T) {
				var out bytes.Buffer
				if err := showMessage(&out, c.d, format); err != nil {
					t.Fatal(err)
				}
				golden := filepath.Join("testdata", "golden", c.name+"."+format+".golden")
				if *update {
					if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run go test ./cmd/bizpipe -update to create it)", err)
				}
				if !bytes.Equal(out.Bytes(), want) {
					t.Errorf("output differs from %s (run go test ./cmd/bizpipe -update if the change is intended):\n%s",
						golden, diff.Diff("want", want, "got", out.Bytes()))
				}
				if format == "json" {
					if err := singleJSON(out.Bytes()); err != nil {
						t.Error(err)
					}
				}
			})
		}
	}
}

// sampleMDN is an unsigned MDN entity as an AS2 partner answers it.
const sampleMDN = "Content-Type: multipart/report; report-type=disposition-notification; boundary=\"b\"\r\n" +
	"Message-Id: <mdn-1@FABRIKAM>\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nReceived.\r\n--b\r\n" +
	"Content-Type: message/disposition-notification\r\n\r\nFinal-Recipient: rfc822; FABRIKAM\r\n" +
	"Disposition: automatic-action/MDN-sent-automatically; processed\r\n--b--\r\n"

// sampleAS2Detail is a message delivered over AS2 to fabrikam, whose MDN
// the box kept, and delivered to a file port, without one.
func sampleAS2Detail() *msgbox.Detail {
	at := func(min int) time.Time { return time.Date(2026, 11, 27, 9, min, 0, 123456000, time.UTC) }
	const id = "01m8dz3rb5gnqxbtzw1wsc9fsd"
	return &msgbox.Detail{
		Message: msgbox.Message{ID: id, ReceiveLocation: "orders_in", FileName: "order-1002.edi",
			ContentType: "application/edi-x12", Size: 412, ReceivedAt: at(0), Status: msgbox.StatusDelivered},
		Deliveries: []msgbox.Delivery{
			{ID: 9, MessageID: id, Port: "fabrikam_as2", State: msgbox.DeliveryDelivered, Attempts: 1,
				Receipt: &msgbox.DeliveryReceipt{ContentType: "multipart/report; report-type=disposition-notification; boundary=\"b\"",
					Summary: "automatic-action/MDN-sent-automatically; processed; Received-Content-MIC 7v7F++fQaNJb2s+VKPe8sTQ4ZeLrKpDxR0O0vBB5yYg=, sha256",
					Data:    []byte(sampleMDN)}},
			{ID: 10, MessageID: id, Port: "archive", State: msgbox.DeliveryDelivered, Attempts: 1},
		},
		Attempts: []msgbox.Attempt{
			{DeliveryID: 9, Port: "fabrikam_as2", Number: 1, Owner: "srv1/w1", StartedAt: at(1), FinishedAt: at(1), Outcome: msgbox.DeliveryDelivered},
			{DeliveryID: 10, Port: "archive", Number: 1, Owner: "srv1/w2", StartedAt: at(1), FinishedAt: at(1), Outcome: msgbox.DeliveryDelivered},
		},
		History: []msgbox.Event{
			{At: at(0), Status: "received", Detail: "received from orders_in, file order-1002.edi (412 bytes)"},
			{At: at(0), Port: "fabrikam_as2", Status: "pending", Detail: "routed to send port fabrikam_as2"},
			{At: at(0), Port: "archive", Status: "pending", Detail: "routed to send port archive"},
			{At: at(1), Port: "fabrikam_as2", Status: "delivered", Detail: "attempt 1 by srv1/w1 delivered"},
			{At: at(1), Port: "archive", Status: "delivered", Detail: "attempt 1 by srv1/w2 delivered"},
		},
	}
}

// sampleMessageDetail is a message with a retrying and a suspended delivery,
// their attempts and history, properties out of order and an error spread
// over lines: the fixture of TestGoldenMessageShow and of the reference's
// JSON examples (TestDocs).
func sampleMessageDetail() *msgbox.Detail {
	at := func(min int) time.Time { return time.Date(2026, 11, 27, 9, min, 0, 123456000, time.UTC) }
	return &msgbox.Detail{
		Message: msgbox.Message{ID: "01m8dz3rb5gnqxbtzw1wsc9fsc", ReceiveLocation: "orders_in", FileName: "order-1001.xml",
			ContentType: "application/xml", Size: 189, ReceivedAt: at(0), Status: msgbox.StatusSuspended,
			Properties: map[string]string{"region": "emea", "partner": "fabrikam"},
			Reason:     "send port \"litware\": output directory out/litware does not exist"},
		Deliveries: []msgbox.Delivery{
			{ID: 7, MessageID: "01m8dz3rb5gnqxbtzw1wsc9fsc", Port: "fabrikam", State: msgbox.DeliveryRetrying, Attempts: 1,
				NextAttemptAt: at(10), LastError: "send port \"fabrikam\": POST https://as2.fabrikam.example/in: HTTP 503\nService Unavailable"},
			{ID: 8, MessageID: "01m8dz3rb5gnqxbtzw1wsc9fsc", Port: "litware", State: msgbox.DeliverySuspended, Attempts: 1,
				LastError: "send port \"litware\": output directory out/litware does not exist"},
		},
		Attempts: []msgbox.Attempt{
			{DeliveryID: 7, Port: "fabrikam", Number: 1, Owner: "srv1/w3", StartedAt: at(5), FinishedAt: at(5),
				Outcome: msgbox.DeliveryRetrying, Error: "send port \"fabrikam\": POST https://as2.fabrikam.example/in: HTTP 503\nService Unavailable"},
			{DeliveryID: 8, Port: "litware", Number: 1, Owner: "srv1/w4", StartedAt: at(5), FinishedAt: at(5),
				Outcome: msgbox.DeliverySuspended, Error: "send port \"litware\": output directory out/litware does not exist"},
		},
		History: []msgbox.Event{
			{At: at(0), Status: "received", Detail: "received from orders_in, file order-1001.xml (189 bytes)"},
			{At: at(0), Port: "fabrikam", Status: "pending", Detail: "routed to send port fabrikam"},
			{At: at(0), Port: "litware", Status: "pending", Detail: "routed to send port litware"},
			{At: at(5), Port: "fabrikam", Status: "retrying", Detail: "attempt 1 by srv1/w3 failed, retry at 2026-11-27T09:10:00Z:\n\tHTTP 503"},
			{At: at(5), Port: "litware", Status: "suspended", Detail: "attempt 1 by srv1/w4 failed, suspended"},
		},
	}
}
