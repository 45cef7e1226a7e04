package jsonrpc

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func frame(body string) string {
	return "Content-Length: " + itoa(len(body)) + "\r\n\r\n" + body
}

func itoa(n int) string {
	var b []byte
	if n == 0 {
		return "0"
	}
	for n > 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}

// TestRead reads a stream of one input and checks each Read in turn: a
// message's method, or the kind of error (frame: skipped, the stream
// stays in step; fatal: the stream is unusable).
func TestRead(t *testing.T) {
	ok := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}`
	tests := []struct {
		name  string
		input string
		want  []string // method, "EOF", "unexpected EOF", "frame" or "fatal"
	}{
		{"one message", frame(ok), []string{"initialize", "EOF"}},
		{"two messages", frame(ok) + frame(`{"jsonrpc":"2.0","method":"exit"}`), []string{"initialize", "exit", "EOF"}},
		{"content type header and LF only", "Content-Type: application/vscode-jsonrpc; charset=utf-8\nContent-Length: " + itoa(len(ok)) + "\n\n" + ok, []string{"initialize", "EOF"}},
		{"header name case", "content-length: " + itoa(len(ok)) + "\r\n\r\n" + ok, []string{"initialize", "EOF"}},
		{"not JSON, then a message", frame("{nope") + frame(ok), []string{"frame", "initialize", "EOF"}},
		{"too large, skipped whole", "Content-Length: " + itoa(MaxBody+1) + "\r\n\r\n" + strings.Repeat(" ", MaxBody+1) + frame(ok), []string{"frame", "initialize", "EOF"}},
		{"no Content-Length", "X: 1\r\n\r\n" + ok, []string{"fatal"}},
		{"negative length", "Content-Length: -1\r\n\r\n", []string{"fatal"}},
		{"length not a number", "Content-Length: 1e3\r\n\r\n", []string{"fatal"}},
		{"header without colon", "Content-Length 3\r\n\r\n{}", []string{"fatal"}},
		{"endless header line", strings.Repeat("x", 10000), []string{"fatal"}},
		{"endless headers", strings.Repeat("X: 1\r\n", 100), []string{"fatal"}},
		{"cut in the headers", "Content-Len", []string{"unexpected EOF"}},
		{"cut after the headers", "Content-Length: 10\r\n\r\n", []string{"unexpected EOF"}},
		{"cut in the body", "Content-Length: 10\r\n\r\n{\"a\"", []string{"unexpected EOF"}},
		{"cut in a skipped body", "Content-Length: " + itoa(MaxBody+1) + "\r\n\r\n{", []string{"unexpected EOF"}},
		{"empty", "", []string{"EOF"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewConn(strings.NewReader(tt.input), io.Discard)
			for i, want := range tt.want {
				m, err := c.Read()
				var got string
				var fe *FrameError
				switch {
				case err == nil:
					got = m.Method
				case errors.Is(err, io.ErrUnexpectedEOF):
					got = "unexpected EOF"
				case err == io.EOF:
					got = "EOF"
				case errors.As(err, &fe):
					got = "frame"
				default:
					got = "fatal"
				}
				if got != want {
					t.Fatalf("read %d: %s (%v), want %s", i, got, err, want)
				}
			}
		})
	}
}

// TestWrite: the frame's length is the body's in bytes (not characters),
// and a response carries "result": null when the result is nil.
func TestWrite(t *testing.T) {
	var out bytes.Buffer
	c := NewConn(strings.NewReader(""), &out)
	if err := c.Notify("window/logMessage", map[string]string{"message": "é"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Reply([]byte("3"), nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Reply([]byte(`"x"`), nil, &Error{Code: CodeMethodNotFound, Message: "no"}); err != nil {
		t.Fatal(err)
	}
	r := NewConn(&out, io.Discard)
	m, err := r.Read()
	if err != nil || m.Method != "window/logMessage" || string(m.Params) != `{"message":"é"}` || m.JSONRPC != "2.0" {
		t.Fatalf("notification: %+v %v", m, err)
	}
	m, err = r.Read()
	if err != nil || string(m.ID) != "3" || string(m.Result) != "null" || m.Error != nil {
		t.Fatalf("response: %+v %v", m, err)
	}
	m, err = r.Read()
	if err != nil || string(m.ID) != `"x"` || m.Error == nil || m.Error.Code != CodeMethodNotFound || m.Result != nil {
		t.Fatalf("error response: %+v %v", m, err)
	}
}

// TestFrameErrorReply: a message that is not JSON is answered with a Parse
// error, one that is JSON but not a request object (a batch, an empty
// batch, a scalar, members of the wrong type) with an Invalid Request, as
// JSON-RPC 2.0 asks; the id is the message's when it can be read, null
// otherwise. A message skipped for its size is not answered.
func TestFrameErrorReply(t *testing.T) {
	tests := []struct {
		name, body string
		code       int    // 0: no reply
		id         string // the reply's id, as JSON
	}{
		{"not JSON", "{not json", CodeParseError, "null"},
		{"cut JSON", `{"jsonrpc":"2.0","id":1`, CodeParseError, "null"},
		{"empty batch", "[]", CodeInvalidRequest, "null"},
		{"batch", `[{"jsonrpc":"2.0","id":1,"method":"shutdown"}]`, CodeInvalidRequest, "null"},
		{"scalar", "5", CodeInvalidRequest, "null"},
		{"method not a string", `{"jsonrpc":"2.0","id":7,"method":5}`, CodeInvalidRequest, "7"},
		{"string id kept", `{"jsonrpc":"2.0","id":"a","params":3,"method":[]}`, CodeInvalidRequest, `"a"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			c := NewConn(strings.NewReader(frame(tt.body)), &out)
			_, err := c.Read()
			var fe *FrameError
			if !errors.As(err, &fe) {
				t.Fatalf("Read: %v, want a FrameError", err)
			}
			if err := fe.Reply(c); err != nil {
				t.Fatal(err)
			}
			r := NewConn(strings.NewReader(out.String()), io.Discard)
			m, err := r.Read()
			if err != nil {
				t.Fatalf("reply %q: %v", out.String(), err)
			}
			if m.Error == nil || m.Error.Code != tt.code || string(m.ID) != tt.id || m.Method != "" {
				t.Errorf("reply %q, want error %d with id %s", out.String(), tt.code, tt.id)
			}
		})
	}
	var out strings.Builder
	c := NewConn(strings.NewReader("Content-Length: "+itoa(MaxBody+1)+"\r\n\r\n"+strings.Repeat(" ", MaxBody+1)), &out)
	_, err := c.Read()
	var fe *FrameError
	if !errors.As(err, &fe) || fe.Reply(c) != nil || out.Len() != 0 {
		t.Errorf("too large: %v, reply %q; want a FrameError and no reply", err, out.String())
	}
}
