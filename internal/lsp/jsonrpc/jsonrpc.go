// Package jsonrpc is the base protocol of the Language Server Protocol:
// JSON-RPC 2.0 messages framed by a Content-Length header on a byte stream
// (the server's stdin and stdout).
//
// It is a small hand-written layer rather than a library: the base protocol
// is two headers and one JSON object, and the maintained Go LSP libraries
// bring generated type trees (and, for some, their own JSON and logging
// stacks) many times the size of the server that uses them.
package jsonrpc

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
)

// Error codes of JSON-RPC 2.0 and LSP.
const (
	CodeParseError           = -32700
	CodeInvalidRequest       = -32600
	CodeMethodNotFound       = -32601
	CodeInvalidParams        = -32602
	CodeInternalError        = -32603
	CodeServerNotInitialized = -32002
	CodeRequestCancelled     = -32800
)

// Limits on what a peer may send. A message is one JSON document; the
// largest an editor sends is a whole file, and a configuration file is at
// most 4 MiB, so 64 MiB leaves room for any document the loader can still
// refuse with a diagnostic of its own.
const (
	MaxBody       = 64 << 20
	maxHeaderLine = 4 << 10
	maxHeaders    = 32
)

// Message is a request (ID and Method), a notification (Method only) or a
// response (ID and Result or Error).
type Message struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id,omitempty"`
	Method  string          `json:"method,omitempty"`
	Params  json.RawMessage `json:"params,omitempty"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *Error          `json:"error,omitempty"`
}

// IsRequest reports whether m expects a response.
func (m *Message) IsRequest() bool { return m.Method != "" && len(m.ID) > 0 }

// Error is a JSON-RPC error object.
type Error struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return fmt.Sprintf("jsonrpc error %d: %s", e.Code, e.Message) }

// FrameError is a message that could not be read but was skipped whole: the
// stream is still in step and the next Read may succeed. Any other error
// from Read means the stream is unusable.
type FrameError struct {
	Err error
	// Code, when not 0, is the JSON-RPC error the peer is to be answered
	// with (CodeParseError, CodeInvalidRequest), for the request ID, or
	// null when the message gives none that can be read.
	Code int
	ID   json.RawMessage
}

// Reply answers the message e is about as JSON-RPC 2.0 asks of a message
// that is not JSON (Parse error) or not a request object (Invalid
// Request): with an error response whose id is the message's, or null.
// A message skipped for its size, never parsed, has no Code: nothing is
// sent.
func (e *FrameError) Reply(c *Conn) error {
	if e.Code == 0 {
		return nil
	}
	id := e.ID
	if len(id) == 0 {
		id = json.RawMessage("null")
	}
	return c.Reply(id, nil, &Error{Code: e.Code, Message: e.Err.Error()})
}

func (e *FrameError) Error() string { return e.Err.Error() }
func (e *FrameError) Unwrap() error { return e.Err }

// Conn reads and writes framed messages. Read is for one goroutine; Write
// may be called from several.
type Conn struct {
	r  *bufio.Reader
	mu sync.Mutex
	w  io.Writer
}

// NewConn returns a Conn reading from r and writing to w.
func NewConn(r io.Reader, w io.Writer) *Conn {
	return &Conn{r: bufio.NewReaderSize(r, 64<<10), w: w}
}

// Read reads the next message. io.EOF means the peer closed the stream
// between messages; io.ErrUnexpectedEOF, in the middle of one.
func (c *Conn) Read() (*Message, error) {
	length := -1
	for n := 0; ; n++ {
		line, err := c.readLine()
		if err != nil {
			if errors.Is(err, io.EOF) && n == 0 {
				return nil, io.EOF
			}
			if errors.Is(err, io.EOF) {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if line == "" {
			break
		}
		if n >= maxHeaders {
			return nil, fmt.Errorf("more than %d header lines", maxHeaders)
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("malformed header line %q", line)
		}
		if strings.EqualFold(strings.TrimSpace(name), "Content-Length") {
			v, err := strconv.Atoi(strings.TrimSpace(value))
			if err != nil || v < 0 {
				return nil, fmt.Errorf("invalid Content-Length %q", strings.TrimSpace(value))
			}
			length = v
		}
	}
	if length < 0 {
		return nil, errors.New("message without Content-Length")
	}
	if length > MaxBody {
		// Skip it whole so that the next message is read in step.
		if _, err := io.CopyN(io.Discard, c.r, int64(length)); err != nil {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, &FrameError{Err: fmt.Errorf("message of %d bytes is larger than the %d MiB limit; skipped", length, MaxBody>>20)}
	}
	body := make([]byte, length)
	if _, err := io.ReadFull(c.r, body); err != nil {
		return nil, io.ErrUnexpectedEOF
	}
	return decode(body)
}

// decode reads one message body. What is not JSON is a Parse error; JSON
// that is not a message object is an Invalid Request: a batch (an array,
// which LSP never sends, and so is not supported, one error answering it
// whole), or an object whose members have the wrong types, answered with
// its id when that can be read.
func decode(body []byte) (*Message, error) {
	if !json.Valid(body) {
		return nil, &FrameError{Err: errors.New("parse error: the message is not JSON"), Code: CodeParseError}
	}
	switch trimmed := bytes.TrimLeft(body, " \t\r\n"); {
	case len(trimmed) > 0 && trimmed[0] == '[':
		return nil, &FrameError{Err: errors.New("invalid request: a batch (JSON array); this server takes one message at a time"), Code: CodeInvalidRequest}
	case len(trimmed) == 0 || trimmed[0] != '{':
		return nil, &FrameError{Err: errors.New("invalid request: the message is not a JSON object"), Code: CodeInvalidRequest}
	}
	var m Message
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, &FrameError{Err: fmt.Errorf("invalid request: %w", err), Code: CodeInvalidRequest, ID: requestID(body)}
	}
	return &m, nil
}

// requestID is the id of the object body when it is a number or a string,
// which a response may repeat; nil otherwise.
func requestID(body []byte) json.RawMessage {
	var o struct {
		ID json.RawMessage `json:"id"`
	}
	if json.Unmarshal(body, &o) != nil || len(o.ID) == 0 {
		return nil
	}
	switch o.ID[0] {
	case '"', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return o.ID
	}
	return nil
}

// readLine reads one header line without its CRLF (or LF), bounded. A
// line the stream ends in is cut off: io.ErrUnexpectedEOF.
func (c *Conn) readLine() (string, error) {
	var buf []byte
	for {
		part, err := c.r.ReadSlice('\n')
		buf = append(buf, part...)
		if len(buf) > maxHeaderLine {
			return "", fmt.Errorf("header line longer than %d bytes", maxHeaderLine)
		}
		switch {
		case err == nil:
			return string(bytes.TrimRight(buf, "\r\n")), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(buf) > 0:
			return "", io.ErrUnexpectedEOF
		default:
			return "", err
		}
	}
}

// Write sends m with its Content-Length header.
func (c *Conn) Write(m *Message) error {
	m.JSONRPC = "2.0"
	body, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encoding message: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := fmt.Fprintf(c.w, "Content-Length: %d\r\n\r\n", len(body)); err != nil {
		return fmt.Errorf("writing message: %w", err)
	}
	if _, err := c.w.Write(body); err != nil {
		return fmt.Errorf("writing message: %w", err)
	}
	return nil
}

// Notify sends a notification.
func (c *Conn) Notify(method string, params any) error {
	p, err := json.Marshal(params)
	if err != nil {
		return fmt.Errorf("encoding %s: %w", method, err)
	}
	return c.Write(&Message{Method: method, Params: p})
}

// Reply answers the request with id with result, or with rerr when it is
// not nil.
func (c *Conn) Reply(id json.RawMessage, result any, rerr *Error) error {
	m := &Message{ID: id}
	if rerr != nil {
		m.Error = rerr
	} else {
		r, err := json.Marshal(result)
		if err != nil {
			m.Error = &Error{Code: CodeInternalError, Message: "encoding the result: " + err.Error()}
		} else {
			m.Result = r
		}
	}
	return c.Write(m)
}
