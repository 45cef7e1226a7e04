package smime

// The MIME side of DecodeStream: the same rules as parseEntity,
// splitMultipart and decodeTransfer, applied to sections of a spool file
// with bounded buffers.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
)

// maxStreamHeader bounds the header section of one entity in DecodeStream;
// real ones are well under a kilobyte.
const maxStreamHeader = 256 << 10

// readHeaderSection returns the header fields of the entity in sec and the
// offset of its body, exactly as parseEntity splits it.
func readHeaderSection(sec *io.SectionReader) ([]HeaderField, int64, error) {
	br := bufio.NewReaderSize(io.NewSectionReader(sec, 0, sec.Size()), 4096)
	var hdr []byte
	lineStart := 0
	for {
		frag, err := br.ReadSlice('\n')
		hdr = append(hdr, frag...)
		if len(hdr) > maxStreamHeader {
			return nil, 0, fmt.Errorf("header section larger than %d octets", maxStreamHeader)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, 0, fmt.Errorf("reading header: %w", err)
		}
		line := bytes.TrimSuffix(bytes.TrimSuffix(hdr[lineStart:], []byte{'\n'}), []byte{'\r'})
		if len(line) == 0 || err != nil {
			break // the empty line, or the end of the entity
		}
		lineStart = len(hdr)
	}
	fields, body, err := parseEntity(hdr)
	if err != nil {
		return nil, 0, err
	}
	if len(body) != 0 { // cannot happen: hdr ends at the empty line
		return nil, 0, errors.New("internal error: header split")
	}
	return fields, int64(len(hdr)), nil
}

// sectionPart is a multipartPart over a spool file.
type sectionPart struct {
	body   *io.SectionReader
	lfBody *io.SectionReader // nil when the same as body
}

// maxSignedParts bounds the parts Decode and DecodeStream split a
// multipart/signed body into: it has two, and the few more allowed let the
// error say how many there were.
const maxSignedParts = 16

// splitMultipartSection is splitMultipart over a section: it scans line by
// line for delimiter lines and returns the parts as sections, and the
// epilogue, what follows the close delimiter line.
func splitMultipartSection(ctx context.Context, body *io.SectionReader, boundary string) ([]sectionPart, *io.SectionReader, error) {
	if boundary == "" || len(boundary) > 70 {
		return nil, nil, fmt.Errorf("invalid multipart boundary %q", clip(boundary))
	}
	dash := []byte("--" + boundary)
	type delim struct {
		start, end int64
		close      bool
	}
	var delims []delim
	br := bufio.NewReaderSize(io.NewSectionReader(body, 0, body.Size()), 64<<10)
	var pos int64 // offset of the current line
	for lines := 0; ; lines++ {
		if lines%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, nil, err
			}
		}
		frag, err := br.ReadSlice('\n')
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) && !errors.Is(err, io.EOF) {
			return nil, nil, fmt.Errorf("reading multipart body: %w", err)
		}
		if len(frag) == 0 && errors.Is(err, io.EOF) {
			break
		}
		start := pos
		pos += int64(len(frag))
		full := errors.Is(err, bufio.ErrBufferFull)
		eof := errors.Is(err, io.EOF)
		isDelim, closing := false, false
		if bytes.HasPrefix(frag, dash) {
			rest := frag[len(dash):]
			if bytes.HasPrefix(rest, []byte("--")) {
				closing, rest = true, rest[2:]
			}
			// Transport padding may continue past this fragment.
			for {
				rest = bytes.TrimLeft(rest, " \t")
				if len(rest) > 0 || !full {
					break
				}
				if rest, err = br.ReadSlice('\n'); err != nil && !errors.Is(err, bufio.ErrBufferFull) && !errors.Is(err, io.EOF) {
					return nil, nil, fmt.Errorf("reading multipart body: %w", err)
				}
				pos += int64(len(rest))
				full, eof = errors.Is(err, bufio.ErrBufferFull), errors.Is(err, io.EOF)
			}
			isDelim = (len(rest) == 0 && eof) || string(rest) == "\n" || string(rest) == "\r\n"
		}
		// Skip the rest of a long line.
		for full {
			frag, err = br.ReadSlice('\n')
			if err != nil && !errors.Is(err, bufio.ErrBufferFull) && !errors.Is(err, io.EOF) {
				return nil, nil, fmt.Errorf("reading multipart body: %w", err)
			}
			pos += int64(len(frag))
			full, eof = errors.Is(err, bufio.ErrBufferFull), errors.Is(err, io.EOF)
		}
		if isDelim {
			delims = append(delims, delim{start, pos, closing})
			if closing {
				break
			}
			if len(delims) > maxSignedParts {
				return nil, nil, errTooManyParts(maxSignedParts)
			}
		}
		if eof {
			break
		}
	}
	if len(delims) == 0 {
		return nil, nil, fmt.Errorf("multipart boundary %q not found", boundary)
	}
	if !delims[len(delims)-1].close {
		return nil, nil, errNoCloseDelimiter
	}
	if delims[0].close {
		return nil, nil, errors.New("multipart body has no parts")
	}
	parts := make([]sectionPart, 0, len(delims)-1)
	for k := 0; k+1 < len(delims); k++ {
		start, next := delims[k].end, delims[k+1].start
		if next <= start {
			parts = append(parts, sectionPart{body: io.NewSectionReader(body, start, 0)})
			continue
		}
		p := sectionPart{body: io.NewSectionReader(body, start, next-1-start)}
		if next-2 >= start {
			var c [1]byte
			if _, err := body.ReadAt(c[:], next-2); err != nil {
				return nil, nil, fmt.Errorf("reading multipart body: %w", err)
			}
			if c[0] == '\r' {
				p.lfBody = p.body
				p.body = io.NewSectionReader(body, start, next-2-start)
			}
		}
		parts = append(parts, p)
	}
	end := delims[len(delims)-1].end
	return parts, io.NewSectionReader(body, end, body.Size()-end), nil
}

// hasBareLF reports whether sec contains an LF not preceded by CR.
func hasBareLF(ctx context.Context, sec *io.SectionReader) (bool, error) {
	w := &lfScanner{prev: '\r'}
	if _, err := copyCtx(ctx, w, io.NewSectionReader(sec, 0, sec.Size())); err != nil {
		return false, err
	}
	return w.found, nil
}

type lfScanner struct {
	prev  byte
	found bool
}

func (s *lfScanner) Write(b []byte) (int, error) {
	n := len(b)
	for !s.found && len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			s.prev = b[len(b)-1]
			break
		}
		p := s.prev
		if i > 0 {
			p = b[i-1]
		}
		s.found = p != '\r'
		s.prev, b = '\n', b[i+1:]
	}
	return n, nil
}

// lfToCRLFWriter is lfToCRLF as a stream: it writes src to w with every
// bare LF preceded by a CR.
type lfToCRLFWriter struct {
	w    io.Writer
	prev byte
}

func (c *lfToCRLFWriter) Write(b []byte) (int, error) {
	start := 0
	for i, x := range b {
		if x != '\n' {
			continue
		}
		p := c.prev
		if i > 0 {
			p = b[i-1]
		}
		if p == '\r' {
			continue
		}
		if _, err := c.w.Write(b[start:i]); err != nil {
			return 0, err
		}
		if _, err := c.w.Write([]byte("\r")); err != nil {
			return 0, err
		}
		start = i
	}
	if _, err := c.w.Write(b[start:]); err != nil {
		return 0, err
	}
	if len(b) > 0 {
		c.prev = b[len(b)-1]
	}
	return len(b), nil
}

// decodeTransferTo undoes a Content-Transfer-Encoding from src to dst,
// accepting and rejecting what decodeTransfer does, except that
// quoted-printable lines longer than maxQPLine are rejected (RFC 2045
// allows 76 characters).
func decodeTransferTo(ctx context.Context, dst io.Writer, src *io.SectionReader, cte string) error {
	r := io.NewSectionReader(src, 0, src.Size())
	switch cte {
	case "", "7bit", "8bit", "binary":
		_, err := copyCtx(ctx, dst, r)
		return err
	case "base64":
		return decodeBase64To(ctx, dst, r)
	case "quoted-printable":
		return decodeQPTo(ctx, dst, r)
	}
	return fmt.Errorf("unsupported Content-Transfer-Encoding %q", clip(cte))
}

// decodeBase64To is decodeBase64 in chunks: whole quanta are decoded as
// they come and padding ends the data, so it accepts and rejects what
// decodeBase64 does. base64.Encoding.Decode skips CR and LF itself; spaces
// and tabs, rare, are dropped first.
func decodeBase64To(ctx context.Context, dst io.Writer, r io.Reader) error {
	buf := make([]byte, copyBuf+4)
	out := make([]byte, base64.StdEncoding.DecodedLen(len(buf)))
	newline := func(c byte) bool { return c == '\r' || c == '\n' }
	carry, padded := 0, false // carry: significant characters only
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, rerr := r.Read(buf[carry : carry+copyBuf])
		data := buf[:carry+n]
		if fresh := data[carry:]; bytes.IndexByte(fresh, ' ') >= 0 || bytes.IndexByte(fresh, '\t') >= 0 {
			k := carry
			for _, c := range fresh {
				if c != ' ' && c != '\t' {
					buf[k] = c
					k++
				}
			}
			data = buf[:k]
		}
		sig := len(data) - bytes.Count(data, []byte{'\r'}) - bytes.Count(data, []byte{'\n'})
		if sig > 0 && padded {
			return errors.New("invalid base64: data after the padding")
		}
		// Decode up to the last whole quantum; keep the rest.
		cut := len(data)
		for rem := sig % 4; rem > 0; {
			cut--
			if !newline(data[cut]) {
				rem--
			}
		}
		if sig >= 4 {
			m, err := base64.StdEncoding.Decode(out, data[:cut])
			if err != nil {
				return fmt.Errorf("invalid base64: %w", err)
			}
			if _, err := dst.Write(out[:m]); err != nil {
				return err
			}
			last := cut - 1
			for newline(data[last]) {
				last--
			}
			padded = data[last] == '='
		}
		carry = 0
		for _, c := range data[cut:] {
			if !newline(c) {
				buf[carry] = c
				carry++
			}
		}
		if errors.Is(rerr, io.EOF) {
			if carry != 0 {
				return errors.New("invalid base64: incomplete final quantum")
			}
			return nil
		}
		if rerr != nil {
			return fmt.Errorf("reading base64 body: %w", rerr)
		}
	}
}

const maxQPLine = 64 << 10

// decodeQPTo decodes quoted-printable line by line with
// decodeQuotedPrintable, whose lines are independent.
func decodeQPTo(ctx context.Context, dst io.Writer, r io.Reader) error {
	br := bufio.NewReaderSize(r, maxQPLine)
	for lineNo := 1; ; lineNo++ {
		if lineNo%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return fmt.Errorf("quoted-printable line %d is longer than %d octets", lineNo, maxQPLine)
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("reading quoted-printable body: %w", err)
		}
		if len(line) > 0 {
			out, derr := decodeQuotedPrintable(line)
			if derr != nil {
				return fmt.Errorf("invalid quoted-printable escape on line %d", lineNo)
			}
			if _, werr := dst.Write(out); werr != nil {
				return werr
			}
		}
		if err != nil {
			return nil
		}
	}
}
