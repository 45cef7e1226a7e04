package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/msgbox/sqlitebox"
)

// countingBox is a box that counts the messages its List has handed on.
type countingBox struct {
	msgbox.Box
	read int
}

func (b *countingBox) List(ctx context.Context, f msgbox.Filter, fn func(msgbox.Message) error) error {
	return b.Box.List(ctx, f, func(m msgbox.Message) error {
		b.read++
		return fn(m)
	})
}

// firstWrite records how many messages the box had read when it was first
// written to.
type firstWrite struct {
	bytes.Buffer
	box *countingBox
	at  int // -1: not written yet
}

func (w *firstWrite) Write(p []byte) (int, error) {
	if w.at < 0 {
		w.at = w.box.read
	}
	return w.Buffer.Write(p)
}

// filledBox opens a box in a temporary directory holding the messages ins
// describe, received in order.
func filledBox(t *testing.T, ins []msgbox.Incoming) *sqlitebox.Box {
	t.Helper()
	box, err := sqlitebox.Open(filepath.Join(t.TempDir(), "messagebox.db"), sqlitebox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { box.Close() })
	for _, in := range ins {
		m, _, err := box.ReceiveRouted(t.Context(), in, strings.NewReader("x"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if in.FileName == "suspended.edi" { // a reason to show
			if err := box.Route(t.Context(), m.ID, nil, "no route\tmatched\nat all"); err != nil {
				t.Fatal(err)
			}
		}
	}
	return box
}

// TestListJSONSpooled: messages list --format json does not hold every
// message in memory (its messages wait in a spool, which moves to a
// temporary file when they are many: TestListOutputUnchanged), and
// writes nothing before the box has read the last, so that a listing that
// fails part way prints nothing (TestListFailsMidway); the document is
// the one it always wrote.
func TestListJSONSpooled(t *testing.T) {
	const n = 40
	big := strings.Repeat("v", 4000) // 40 messages overflow any output buffer
	var ins []msgbox.Incoming
	for i := range n {
		ins = append(ins, msgbox.Incoming{ReceiveLocation: "in", FileName: fmt.Sprintf("m%d.edi", i), ContentType: "text/plain",
			Properties: map[string]string{"big": big}})
	}
	box := &countingBox{Box: filledBox(t, ins)}
	w := &firstWrite{box: box, at: -1}
	if err := listMessages(t.Context(), &env{stdout: w, spoolInMemory: 1 << 10}, box, nil, messagesFlags{format: "json"}, msgbox.Filter{}); err != nil {
		t.Fatal(err)
	}
	if box.read != n {
		t.Fatalf("listed %d messages, want %d", box.read, n)
	}
	if w.at != n {
		t.Errorf("first written after %d of %d messages were read, want after the last", w.at, n)
	}
	if want := wantList(t, box, "json"); w.String() != want {
		t.Errorf("json output:\n%s\nwant:\n%s", w.String(), want)
	}
}

// TestListOutputUnchanged: messages list prints the bytes it printed when
// it held the whole list (writeJSON, a tabwriter), in text and JSON,
// whether the text rows wait in memory or in a temporary file.
func TestListOutputUnchanged(t *testing.T) {
	plain := []msgbox.Incoming{
		{ReceiveLocation: "in", FileName: "a.edi", ContentType: "text/plain"},
		{ReceiveLocation: "a-longer-location", FileName: "", ContentType: "text/plain"},
	}
	escaped := []msgbox.Incoming{
		{ReceiveLocation: "in", FileName: "tab\there\nnew.edi", ContentType: "text/plain"},
		{ReceiveLocation: "in", FileName: "suspended.edi", ContentType: "text/plain"},
		// Narrow text: tabwriter counts runes, and wide text takes two
		// columns a rune (TestListAlignsWideText).
		{ReceiveLocation: "éé", FileName: "ñandú.edi", ContentType: "text/plain", Properties: map[string]string{"k": "<&>"}},
	}
	parties := []msgbox.Incoming{
		{ReceiveLocation: "in", FileName: "a.edi", ContentType: "text/plain"},
		{ReceiveLocation: "in", FileName: "b.edi", ContentType: "text/plain", Party: "acme-corporation"},
	}
	for _, tc := range []struct {
		name string
		ins  []msgbox.Incoming
	}{{"empty", nil}, {"plain", plain}, {"escaped", escaped}, {"parties", parties}} {
		box := filledBox(t, tc.ins)
		for _, spill := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/spill=%v", tc.name, spill), func(t *testing.T) {
				for _, format := range []string{"text", "json"} {
					var out bytes.Buffer
					e := &env{stdout: &out}
					if spill {
						e.spoolInMemory = 1 // every row is longer
					}
					if err := listMessages(t.Context(), e, box, nil, messagesFlags{format: format}, msgbox.Filter{}); err != nil {
						t.Fatal(err)
					}
					if want := wantList(t, box, format); out.String() != want {
						t.Errorf("%s output:\n%q\nwant:\n%q", format, out.String(), want)
					}
				}
			})
		}
	}
}

// wantList is what messages list printed from the whole list at once.
func wantList(t *testing.T, box msgbox.Box, format string) string {
	t.Helper()
	msgs, err := msgbox.Collect(t.Context(), box, msgbox.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var w bytes.Buffer
	if format == "json" {
		out := jsonMessageList{Messages: make([]jsonMessage, 0, len(msgs))}
		for _, m := range msgs {
			out.Messages = append(out.Messages, toJSONMessage(m))
		}
		if err := writeJSON(&w, out); err != nil {
			t.Fatal(err)
		}
		return w.String()
	}
	parties := false
	for _, m := range msgs {
		parties = parties || m.Party != ""
	}
	tw := tabwriter.NewWriter(&w, 0, 4, 2, ' ', 0)
	if parties {
		fmt.Fprintln(tw, "ID\tSTATUS\tRECEIVED\tLOCATION\tFILE\tPARTY\tSIZE\tREASON")
	} else {
		fmt.Fprintln(tw, "ID\tSTATUS\tRECEIVED\tLOCATION\tFILE\tSIZE\tREASON")
	}
	for _, m := range msgs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t", safe(m.ID), safe(string(m.Status)), m.ReceivedAt.UTC().Format(time.RFC3339),
			safe(m.ReceiveLocation), safe(m.FileName))
		if parties {
			fmt.Fprintf(tw, "%s\t", safe(m.Party))
		}
		fmt.Fprintf(tw, "%d\t%s\n", m.Size, safe(oneLine(m.Reason)))
	}
	tw.Flush()
	return w.String()
}

// failingBox is a box whose List fails after handing on after messages.
type failingBox struct {
	msgbox.Box
	after int
}

var errListBroke = errors.New("the box broke")

func (b *failingBox) List(ctx context.Context, f msgbox.Filter, fn func(msgbox.Message) error) error {
	n := 0
	return b.Box.List(ctx, f, func(m msgbox.Message) error {
		if n == b.after {
			return errListBroke
		}
		n++
		return fn(m)
	})
}

// TestListFailsMidway: a box that fails part way through messages list
// (a damaged row, a PostgreSQL connection lost) is an error, and stdout
// holds nothing, in text as in JSON: not the first part of a document,
// cut wherever a buffer happened to be flushed, that a consumer cannot
// tell from a list, or parse. Enough messages are read before the failure
// to overflow any output buffer.
func TestListFailsMidway(t *testing.T) {
	const n = 40
	big := strings.Repeat("v", 4000)
	var ins []msgbox.Incoming
	for i := range n {
		ins = append(ins, msgbox.Incoming{ReceiveLocation: "in", FileName: fmt.Sprintf("m%d.edi", i), ContentType: "text/plain",
			Properties: map[string]string{"big": big}})
	}
	box := &failingBox{Box: filledBox(t, ins), after: n - 1}
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			var out bytes.Buffer
			err := listMessages(t.Context(), &env{stdout: &out}, box, nil, messagesFlags{format: format}, msgbox.Filter{})
			if !errors.Is(err, errListBroke) {
				t.Fatalf("error %v, want %v", err, errListBroke)
			}
			if out.Len() > 0 {
				t.Errorf("stdout holds %d bytes, want none; it ends %q", out.Len(), out.String()[max(0, out.Len()-80):])
			}
		})
	}
}
