package jsonrpc

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// FuzzRead feeds Read one frame of any header lines and body, followed by
// a valid message. Read never panics; when it returns a message or a
// FrameError (skipped), the stream is in step: the next Read returns the
// message that follows. A message Write sends reads back as itself.
func FuzzRead(f *testing.F) {
	f.Add("Content-Type: application/vscode-jsonrpc; charset=utf-8", []byte(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}`))
	f.Add("X: y\nContent-Length: 99999999999", []byte(`[1]`))
	f.Add("Content-Length: -1\r\n\r", []byte(`{"id":{"a":1},"method":2}`))
	f.Add("a:b", []byte("\xff"))
	f.Fuzz(func(t *testing.T, headers string, body []byte) {
		if len(headers) > 1<<12 || len(body) > 1<<16 {
			return
		}
		// Header lines as a peer writes them, none empty (which would end
		// the header early), ours last so that its Content-Length counts.
		var in bytes.Buffer
		for _, l := range strings.Split(headers, "\n") {
			if l = strings.TrimRight(l, "\r"); l != "" {
				in.WriteString(l + "\r\n")
			}
		}
		in.WriteString(frame(string(body)))
		next := `{"jsonrpc":"2.0","method":"exit"}`
		in.WriteString(frame(next))
		c := NewConn(&in, nil)
		m, err := c.Read()
		var fe *FrameError
		switch {
		case err == nil && m == nil:
			t.Fatal("no message and no error")
		case err != nil && !errors.As(err, &fe):
			return // a malformed header: the stream is unusable, and said so
		}
		if m2, err2 := c.Read(); err2 != nil || m2.Method != "exit" {
			t.Fatalf("after %+v, %v: the next message read as %+v, %v", m, err, m2, err2)
		}
		if m == nil {
			return
		}
		// What was read writes and reads back the same.
		var out bytes.Buffer
		w := NewConn(nil, &out)
		if err := w.Write(m); err != nil {
			t.Fatalf("%+v does not write: %v", m, err)
		}
		back, err := NewConn(&out, nil).Read()
		if err != nil {
			t.Fatalf("%q reads back as error %v", out.Bytes(), err)
		}
		a, _ := json.Marshal(m)
		b, _ := json.Marshal(back)
		if !bytes.Equal(a, b) {
			t.Fatalf("%s reads back as %s", a, b)
		}
	})
}
