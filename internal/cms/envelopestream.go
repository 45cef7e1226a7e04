package cms

import (
	"crypto/cipher"
	crand "crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"io"

	"github.com/bizpipe/bizpipe/internal/ber"
	"github.com/bizpipe/bizpipe/internal/grow"
)

// Envelope is one message being enveloped as a stream: the key, IV or
// nonce and recipient infos are made by NewEnvelope, the content is
// encrypted as it is written to the writer Wrap returns. Use it for one
// message only.
//
// The output is the BER form "openssl cms -encrypt -stream" writes:
// indefinite-length ContentInfo, EnvelopedData (CBC algorithms) or
// AuthEnvelopedData (GCM) and EncryptedContentInfo, the ciphertext as a
// constructed [0] OCTET STRING of definite-length chunks, and for GCM the
// tag in mac at the end. The structure and algorithm parameters are those
// of Encrypt, which produces the DER form.
type Envelope struct {
	spec   *cipherSpec
	block  cipher.Block
	header []byte           // everything before the first ciphertext chunk
	cbc    cipher.BlockMode // CBC: the content encrypter, IV set
	nonce  []byte           // GCM nonce
	used   bool
}

// NewEnvelope prepares the envelope of one message for recipients (RSA
// key transport, as Encrypt). rand supplies the content-encryption key and
// the IV or nonce; nil means crypto/rand.Reader.
func NewEnvelope(rand io.Reader, alg Algorithm, recipients ...*x509.Certificate) (*Envelope, error) {
	if rand == nil {
		rand = crand.Reader
	}
	spec, block, newCBC, ris, err := contentKey(rand, alg, recipients)
	if err != nil {
		return nil, err
	}

	e := &Envelope{spec: spec, block: block}
	var algID, ctype []byte
	if spec.gcm {
		e.nonce = make([]byte, gcmNonceSize)
		if _, err := io.ReadFull(rand, e.nonce); err != nil {
			return nil, fmt.Errorf("envelope: reading random nonce: %w", err)
		}
		params := tlv(0x30, tlv(0x04, e.nonce), []byte{0x02, 0x01, gcmTagSize})
		algID = tlv(0x30, tlv(0x06, spec.oid), params)
		ctype = oidAuthEnvelopedData
	} else {
		iv := make([]byte, block.BlockSize())
		if _, err := io.ReadFull(rand, iv); err != nil {
			return nil, fmt.Errorf("envelope: reading random IV: %w", err)
		}
		if e.cbc, err = newCBC(iv); err != nil {
			return nil, fmt.Errorf("envelope: %w", err)
		}
		algID = tlv(0x30, tlv(0x06, spec.oid), tlv(0x04, iv))
		ctype = oidEnvelopedData
	}
	h := ber.AppendIndefinite(nil, 0x30) // ContentInfo
	h = append(h, tlv(0x06, ctype)...)
	h = ber.AppendIndefinite(h, 0xa0)   // [0] EXPLICIT
	h = ber.AppendIndefinite(h, 0x30)   // (Auth)EnvelopedData
	h = append(h, 0x02, 0x01, 0x00)     // version 0
	h = append(h, tlv(0x31, ris...)...) // recipientInfos
	h = ber.AppendIndefinite(h, 0x30)   // EncryptedContentInfo
	h = append(h, tlv(0x06, oidData)...)
	h = append(h, algID...)
	h = ber.AppendIndefinite(h, 0xa0) // [0] IMPLICIT OCTET STRING, constructed
	e.header = h
	return e, nil
}

// Wrap returns the writer the content is written to; the ContentInfo goes
// to dst. Close writes the last block (with padding) or the GCM tag and
// the end-of-contents octets, without closing dst. Wrap may be called
// once: the writer of a second call fails.
func (e *Envelope) Wrap(dst io.Writer) io.WriteCloser {
	if e.used {
		return &envelopeWriter{err: errors.New("envelope: Wrap called twice (an Envelope is one message)")}
	}
	e.used = true
	w := &envelopeWriter{dst: dst, header: e.header, chunks: ber.NewChunkWriter(dst, ber.DefaultChunk)}
	if e.spec.gcm {
		w.gcm = newGCMStream(e.block, e.nonce)
	} else {
		w.cbc = e.cbc
	}
	return w
}

type envelopeWriter struct {
	dst    io.Writer
	header []byte // not yet written when non-nil
	chunks *ber.ChunkWriter
	cbc    cipher.BlockMode
	gcm    *gcmStream
	buf    []byte // CBC: the pending partial block; work space, up to ber.DefaultChunk
	err    error
	closed bool
}

func (w *envelopeWriter) start() error {
	if w.header != nil {
		if _, err := w.dst.Write(w.header); err != nil {
			return err
		}
		w.header = nil
	}
	return nil
}

func (w *envelopeWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.closed {
		return 0, errors.New("envelope: write after Close")
	}
	if err := w.start(); err != nil {
		w.err = err
		return 0, err
	}
	n := len(p)
	var err error
	if w.gcm != nil {
		err = w.writeGCM(p)
	} else {
		err = w.writeCBC(p)
	}
	if err != nil {
		w.err = fmt.Errorf("envelope: %w", err)
		return 0, w.err
	}
	return n, nil
}

func (w *envelopeWriter) writeGCM(p []byte) error {
	for len(p) > 0 {
		w.buf = grow.Room(w.buf[:0], len(p), ber.DefaultChunk)
		k := min(len(p), cap(w.buf))
		out := w.buf[:k]
		if err := w.gcm.encrypt(out, p[:k]); err != nil {
			return err
		}
		if _, err := w.chunks.Write(out); err != nil {
			return err
		}
		p = p[k:]
	}
	return nil
}

// writeCBC encrypts whole blocks; a partial block waits in buf.
func (w *envelopeWriter) writeCBC(p []byte) error {
	bs := w.cbc.BlockSize()
	for len(p) > 0 {
		w.buf = grow.Room(w.buf, len(p), ber.DefaultChunk)
		k := copy(w.buf[len(w.buf):cap(w.buf)], p)
		w.buf = w.buf[:len(w.buf)+k]
		p = p[k:]
		full := len(w.buf) / bs * bs
		if full == 0 {
			continue
		}
		w.cbc.CryptBlocks(w.buf[:full], w.buf[:full])
		if _, err := w.chunks.Write(w.buf[:full]); err != nil {
			return err
		}
		rest := copy(w.buf, w.buf[full:])
		w.buf = w.buf[:rest]
	}
	return nil
}

// Close ends the ciphertext and the structure.
func (w *envelopeWriter) Close() error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return nil
	}
	w.closed = true
	if err := w.finish(); err != nil {
		w.err = fmt.Errorf("envelope: %w", err)
		return w.err
	}
	return nil
}

func (w *envelopeWriter) finish() error {
	if err := w.start(); err != nil {
		return err
	}
	var trailer []byte
	if w.gcm != nil {
		tag := w.gcm.tag()
		if err := w.chunks.Flush(); err != nil {
			return err
		}
		trailer = append(trailer, 0, 0, 0, 0) // [0] content, EncryptedContentInfo
		trailer = append(trailer, 0x04, gcmTagSize)
		trailer = append(trailer, tag[:]...)
	} else {
		// PKCS #7 padding: 1..bs octets, so that there is always a last block.
		bs := w.cbc.BlockSize()
		n := len(w.buf)
		w.buf = grow.Room(w.buf, bs, ber.DefaultChunk) // nothing written: nil
		last := w.buf[:bs]
		for i := n; i < bs; i++ {
			last[i] = byte(bs - n)
		}
		w.cbc.CryptBlocks(last, last)
		if _, err := w.chunks.Write(last); err != nil {
			return err
		}
		if err := w.chunks.Flush(); err != nil {
			return err
		}
		trailer = append(trailer, 0, 0, 0, 0)
	}
	trailer = append(trailer, 0, 0, 0, 0, 0, 0) // (Auth)EnvelopedData, [0], ContentInfo
	_, err := w.dst.Write(trailer)
	return err
}
