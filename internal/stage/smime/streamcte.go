package smime

import (
	"bytes"
	"io"

	"github.com/bizpipe/bizpipe/internal/b64"
	"github.com/bizpipe/bizpipe/internal/grow"
)

// Streaming forms of the transfer encodings and of text canonicalisation.
// They produce exactly the octets of b64.AppendLines,
// appendQuotedPrintable and canonicalText for the concatenation of what is
// written, however the writes are split.

// base64Writer encodes in lines of 76 characters, each ending in CRLF.
type base64Writer struct {
	next io.WriteCloser
	line [b64.LineBytes]byte // a partial line
	n    int
	out  []byte // whole lines, up to base64Buf octets
}

// base64Buf is the most a base64Writer buffers: whole lines.
const base64Buf = streamBuf / (b64.LineChars + 2) * (b64.LineChars + 2)

func newBase64Writer(next io.WriteCloser) *base64Writer {
	return &base64Writer{next: next}
}

func (w *base64Writer) Write(p []byte) (int, error) {
	total := len(p)
	if w.n > 0 {
		k := copy(w.line[w.n:], p)
		w.n += k
		p = p[k:]
		if w.n < b64.LineBytes {
			return total, nil
		}
		if err := w.lineRoom(); err != nil {
			return 0, err
		}
		w.out = b64.AppendLines(w.out, w.line[:])
		w.n = 0
	}
	for len(p) >= b64.LineBytes {
		w.out = grow.Room(w.out, len(p)/b64.LineBytes*(b64.LineChars+2), base64Buf)
		room := (cap(w.out) - len(w.out)) / (b64.LineChars + 2)
		if room == 0 {
			if err := w.flush(); err != nil {
				return 0, err
			}
			continue
		}
		k := min(room, len(p)/b64.LineBytes) * b64.LineBytes
		w.out = b64.AppendLines(w.out, p[:k])
		p = p[k:]
	}
	w.n = copy(w.line[:], p)
	return total, nil
}

func (w *base64Writer) flush() error {
	if len(w.out) == 0 {
		return nil
	}
	_, err := w.next.Write(w.out)
	w.out = w.out[:0]
	return err
}

// lineRoom makes room in out for one more line, writing out first if it
// is full.
func (w *base64Writer) lineRoom() error {
	w.out = grow.Room(w.out, b64.LineChars+2, base64Buf)
	if cap(w.out)-len(w.out) < b64.LineChars+2 {
		return w.flush()
	}
	return nil
}

func (w *base64Writer) Close() error {
	if w.n > 0 {
		if err := w.lineRoom(); err != nil {
			return err
		}
		w.out = b64.AppendLines(w.out, w.line[:w.n])
		w.n = 0
	}
	if err := w.flush(); err != nil {
		return err
	}
	return w.next.Close()
}

// canonWriter puts text in canonical form: CRLF, bare LF and bare CR each
// become CRLF. A CR at the end of one write is remembered, so that an LF
// starting the next one is not doubled.
type canonWriter struct {
	next io.WriteCloser
	cr   bool // the last octet was CR (already written as CRLF)
	out  []byte
}

func newCanonWriter(next io.WriteCloser) *canonWriter {
	return &canonWriter{next: next}
}

func (w *canonWriter) Write(p []byte) (int, error) {
	total := len(p)
	for len(p) > 0 {
		if w.cr && p[0] == '\n' {
			p = p[1:]
		}
		w.cr = false
		// Copy up to the next CR or LF in one go.
		i := bytes.IndexAny(p, "\r\n")
		if i < 0 {
			i = len(p)
		}
		w.out = grow.Room(w.out, i+2, streamBuf)
		room := cap(w.out) - len(w.out) - 2
		if room <= 0 {
			if err := w.flush(); err != nil {
				return 0, err
			}
			continue
		}
		if i > room {
			w.out = append(w.out, p[:room]...)
			p = p[room:]
			continue
		}
		w.out = append(w.out, p[:i]...)
		p = p[i:]
		if len(p) == 0 {
			break
		}
		w.out = append(w.out, '\r', '\n')
		w.cr = p[0] == '\r'
		p = p[1:]
	}
	if err := w.flush(); err != nil {
		return 0, err
	}
	return total, nil
}

func (w *canonWriter) flush() error {
	if len(w.out) == 0 {
		return nil
	}
	_, err := w.next.Write(w.out)
	w.out = w.out[:0]
	return err
}

func (w *canonWriter) Close() error {
	if err := w.flush(); err != nil {
		return err
	}
	return w.next.Close()
}

// checkWriter checks the identity encodings' rules (identityChecker) on
// what passes through. A violation is found only when its octets arrive:
// the output written until then is already gone, and Write or Close
// returns the error (a delivery then fails and is suspended; nothing
// invalid is ever completed).
type checkWriter struct {
	next io.WriteCloser
	chk  identityChecker
}

func (w *checkWriter) Write(p []byte) (int, error) {
	if err := w.chk.check(p); err != nil {
		return 0, err
	}
	return w.next.Write(p)
}

func (w *checkWriter) Close() error {
	if err := w.chk.end(); err != nil {
		return err
	}
	return w.next.Close()
}

// qpWriter encodes quoted-printable. The encoder looks up to five octets
// ahead ("From ", white space before a line break), so the last few octets
// of each write wait for the next one or for Close.
type qpWriter struct {
	next io.WriteCloser
	enc  qpEncoder
	in   []byte // pending input
	out  []byte
}

func newQPWriter(next io.WriteCloser, text bool) *qpWriter {
	return &qpWriter{next: next, enc: qpEncoder{text: text},
		in: make([]byte, 0, streamBuf), out: make([]byte, 0, streamBuf+streamBuf/2)}
}

func (w *qpWriter) Write(p []byte) (int, error) {
	total := len(p)
	for len(p) > 0 {
		k := copy(w.in[len(w.in):cap(w.in)], p)
		w.in = w.in[:len(w.in)+k]
		p = p[k:]
		var used int
		w.out, used = w.enc.encode(w.out[:0], w.in, false)
		w.in = w.in[:copy(w.in, w.in[used:])]
		if len(w.out) > 0 {
			if _, err := w.next.Write(w.out); err != nil {
				return 0, err
			}
		}
	}
	return total, nil
}

func (w *qpWriter) Close() error {
	w.out, _ = w.enc.encode(w.out[:0], w.in, true)
	w.out = w.enc.finish(w.out)
	w.in = w.in[:0]
	if _, err := w.next.Write(w.out); err != nil {
		return err
	}
	return w.next.Close()
}

// encodeWriter returns the layer that applies the transfer encoding c,
// preceded by canonicalisation for text and by the identity check.
func encodeWriter(next io.WriteCloser, c transferEncoding, text bool) io.WriteCloser {
	var w io.WriteCloser
	switch c {
	case cteBase64:
		w = newBase64Writer(next)
	case cteQuotedPrintable:
		w = newQPWriter(next, text)
	case cteBinary:
		w = next
	default:
		w = &checkWriter{next: next, chk: identityChecker{cte: c}}
	}
	if text {
		w = newCanonWriter(w)
	}
	return w
}
