package smime

import (
	"bytes"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"

	"github.com/bizpipe/bizpipe/internal/b64"
	"github.com/bizpipe/bizpipe/internal/ber"
)

// clearSignWriter writes the multipart/signed body: the preamble and the
// first delimiter, then the signed entity as it is written (hashed on the
// way), and at Close the detached signature part and the close delimiter.
type clearSignWriter struct {
	next     io.WriteCloser
	prefix   []byte // header lines (inner entity), preamble, first delimiter
	boundary string
	scan     boundaryScanner
	h        hash.Hash
	s        *Signer
	d        digestSpec
	include  bool
}

func newClearSignWriter(next io.WriteCloser, prefix []byte, boundary string, s *Signer, d digestSpec, include bool) *clearSignWriter {
	return &clearSignWriter{next: next, prefix: prefix, boundary: boundary,
		scan: boundaryScanner{pat: []byte("--" + boundary)}, h: d.hash.New(), s: s, d: d, include: include}
}

func (w *clearSignWriter) start() error {
	if w.prefix == nil {
		return nil
	}
	_, err := w.next.Write(w.prefix)
	w.prefix = nil
	return err
}

func (w *clearSignWriter) Write(p []byte) (int, error) {
	if err := w.start(); err != nil {
		return 0, err
	}
	if w.scan.found(p) {
		// Only by chance (the boundary is 128 random bits): the part
		// would end early for every reader. Encode can draw a new boundary;
		// a stream already sent its header.
		return 0, errors.New("smime: the MIME boundary occurs in the signed entity; encode the message again")
	}
	w.h.Write(p)
	return w.next.Write(p)
}

func (w *clearSignWriter) Close() error {
	if err := w.start(); err != nil {
		return err
	}
	si, err := signerInfoFor(w.s, w.d, w.h.Sum(nil), time.Now())
	if err != nil {
		return err
	}
	sig := detachedSignedData(w.s, w.d, w.include, si)
	var b []byte
	b = append(b, "\r\n--"...)
	b = append(b, w.boundary...)
	b = append(b, "\r\nContent-Type: application/pkcs7-signature; name=smime.p7s\r\n"+
		"Content-Transfer-Encoding: base64\r\n"+
		"Content-Disposition: attachment; filename=smime.p7s\r\n\r\n"...)
	b = b64.AppendLines(b, sig)
	b = append(b, "--"...)
	b = append(b, w.boundary...)
	b = append(b, "--\r\n"...)
	if _, err := w.next.Write(b); err != nil {
		return err
	}
	return w.next.Close()
}

// boundaryScanner finds a pattern in a stream, also across writes.
type boundaryScanner struct {
	pat  []byte
	tail []byte // the last len(pat)-1 octets seen
	join []byte // scratch: tail and the start of the next write
}

func (s *boundaryScanner) found(p []byte) bool {
	k := len(s.pat) - 1
	if len(s.tail) > 0 {
		s.join = append(append(s.join[:0], s.tail...), p[:min(len(p), k)]...)
		if bytes.Contains(s.join, s.pat) {
			return true
		}
	}
	if bytes.Contains(p, s.pat) {
		return true
	}
	if len(p) >= k {
		s.tail = append(s.tail[:0], p[len(p)-k:]...)
	} else {
		s.tail = append(s.tail, p...)
		if len(s.tail) > k {
			s.tail = s.tail[len(s.tail)-k:]
		}
	}
	return false
}

// opaqueSignWriter writes a SignedData ContentInfo that encapsulates what
// is written to it, in the BER form of "openssl cms -sign -stream": the
// content as a constructed OCTET STRING of chunks, hashed on the way, and
// the certificates and SignerInfo after it, at Close.
type opaqueSignWriter struct {
	next    io.WriteCloser
	head    []byte // not yet written when non-nil
	chunks  *ber.ChunkWriter
	h       hash.Hash
	s       *Signer
	d       digestSpec
	include bool
}

func newOpaqueSignWriter(next io.WriteCloser, s *Signer, d digestSpec, include bool) *opaqueSignWriter {
	head := signedDataHead(d)
	head = ber.AppendIndefinite(head, 0x30) // EncapsulatedContentInfo
	head = append(head, derOID(oidData)...)
	head = ber.AppendIndefinite(head, 0xa0) // [0] EXPLICIT eContent
	head = ber.AppendIndefinite(head, 0x24) // OCTET STRING, constructed
	return &opaqueSignWriter{next: next, head: head, chunks: ber.NewChunkWriter(next, ber.DefaultChunk),
		h: d.hash.New(), s: s, d: d, include: include}
}

func (w *opaqueSignWriter) start() error {
	if w.head == nil {
		return nil
	}
	_, err := w.next.Write(w.head)
	w.head = nil
	return err
}

func (w *opaqueSignWriter) Write(p []byte) (int, error) {
	if err := w.start(); err != nil {
		return 0, err
	}
	w.h.Write(p)
	return w.chunks.Write(p)
}

func (w *opaqueSignWriter) Close() error {
	if err := w.start(); err != nil {
		return err
	}
	if err := w.chunks.Flush(); err != nil {
		return err
	}
	si, err := signerInfoFor(w.s, w.d, w.h.Sum(nil), time.Now())
	if err != nil {
		return err
	}
	b := []byte{0, 0, 0, 0, 0, 0} // OCTET STRING, [0], EncapsulatedContentInfo
	b = append(b, certificatesField(w.s, w.include)...)
	b = ber.AppendTLV(b, 0x31, si)
	b = append(b, 0, 0, 0, 0, 0, 0) // SignedData, [0], ContentInfo
	if _, err := w.next.Write(b); err != nil {
		return fmt.Errorf("smime: writing the signature: %w", err)
	}
	return w.next.Close()
}
