package cms

import (
	"context"
	"crypto"
	"crypto/cipher"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
)

// Caps on the elements DecryptStream and StreamSignedData load into memory.
// Real ones are a few kilobytes; the caps only stop hostile input from
// turning a bounded-memory decoder into an unbounded one.
const (
	maxRecipientInfosLen = 1 << 20
	maxSmallElementLen   = 64 << 10
	maxSignedDataMetaLen = 8 << 20 // certificates, CRLs and signer infos
	streamChunk          = 64 << 10
)

// DecryptStream is Decrypt for content too large to hold in memory: it
// reads the ContentInfo from r (size octets, BER or DER, as Decrypt
// accepts) and writes the decrypted content to dst in chunks, holding only
// the small elements (recipient infos, parameters, authenticated
// attributes) in memory. It needs random access because AuthEnvelopedData
// places the authenticated attributes and the tag after the content.
//
// dst receives plaintext before it is authenticated (AES-GCM) or its
// padding is checked (CBC). Only a nil error means the content is
// complete and, for GCM, authentic: on any error the caller must discard
// everything written to dst. The errors are those of Decrypt; ctx is
// checked between chunks. A CBC padding that does not check is
// ErrBadPadding, and dst has then received the whole content, its last
// block unpadded: a receiver that answers a bad padding sooner than a
// good one, whose content its later checks refuse, tells a sender which
// padding was good (a timing padding oracle, as Lucky Thirteen is for
// TLS), so such a receiver processes that content as it would any other
// and refuses it at the end.
func DecryptStream(ctx context.Context, r io.ReaderAt, size int64, cert *x509.Certificate, key crypto.Decrypter, dst io.Writer) error {
	_, err := DecryptStreamAny(ctx, r, size, []Recipient{{Cert: cert, Key: key}}, dst)
	return err
}

// DecryptStreamAny is DecryptStream for several identities, chosen as
// DecryptAny chooses: it returns the index in recips of the one that
// decrypted (-1 when none was chosen; after a failure past the choice, the
// one chosen).
func DecryptStreamAny(ctx context.Context, r io.ReaderAt, size int64, recips []Recipient, dst io.Writer) (int, error) {
	if err := checkRecipients(recips); err != nil {
		return -1, err
	}
	chosen := -1
	err := decryptStreamAny(ctx, r, size, recips, dst, &chosen)
	return chosen, err
}

func decryptStreamAny(ctx context.Context, r io.ReaderAt, size int64, recips []Recipient, dst io.Writer, chosen *int) error {
	w := newBERWalker(ctx, r, size)
	ci, err := w.head(0, size)
	if err != nil {
		return err
	}
	if !ci.is(classUniversal, tagSequence) {
		return fmt.Errorf("%w: ContentInfo is not a SEQUENCE", errMalformed)
	}
	end, err := w.end(ci, size, 0)
	if err != nil {
		return err
	}
	if end != size {
		return fmt.Errorf("%w: trailing data after ContentInfo", errMalformed)
	}
	cr, err := w.children(&ci, size, 0)
	if err != nil {
		return err
	}
	ctH, err := cr.next()
	if err != nil {
		return err
	}
	ctE, err := w.load(&ctH, cr.limit, 1, maxSmallElementLen)
	if err != nil {
		return err
	}
	ctOID, err := oidBody(&ctE)
	if err != nil {
		return err
	}
	auth, err := envelopeKind(ctOID)
	if err != nil {
		return err
	}
	explicit, err := cr.expect(classContext, 0)
	if err != nil {
		return err
	}
	if err := cr.finish(); err != nil {
		return err
	}
	er, err := w.children(&explicit, cr.limit, 1)
	if err != nil {
		return err
	}
	inner, err := er.expect(classUniversal, tagSequence)
	if err != nil {
		return err
	}
	if err := er.finish(); err != nil {
		return err
	}
	return decryptInnerStream(w, &inner, er.limit, auth, recips, chosen, dst)
}

func decryptInnerStream(w *berWalker, inner *streamHead, limit int64, auth bool, recips []Recipient, chosen *int, dst io.Writer) error {
	const depth = 3
	r, err := w.children(inner, limit, depth)
	if err != nil {
		return err
	}
	vH, err := r.next()
	if err != nil {
		return err
	}
	vE, err := w.load(&vH, r.limit, depth+1, maxSmallElementLen)
	if err != nil {
		return err
	}
	version, err := smallInt(&vE)
	if err != nil {
		return err
	}
	if auth && version != 0 || !auth && version != 0 && version != 2 && version != 3 && version != 4 {
		return fmt.Errorf("envelope: unsupported version %d", version)
	}
	if h, ok, err := r.peek(); err != nil {
		return err
	} else if ok && h.is(classContext, 0) { // originatorInfo: not needed for key transport
		if _, err := r.next(); err != nil {
			return err
		}
	}
	risH, err := r.expect(classUniversal, tagSet)
	if err != nil {
		return err
	}
	ris, err := w.load(&risH, r.limit, depth+1, maxRecipientInfosLen)
	if err != nil {
		return err
	}
	eci, err := r.expect(classUniversal, tagSequence)
	if err != nil {
		return err
	}
	eciLimit := r.limit
	var aad, mac []byte
	if auth {
		h, ok, err := r.peek()
		if err != nil {
			return err
		}
		if ok && h.is(classContext, 1) { // authAttrs: authenticated with the SET OF tag
			if _, err := r.next(); err != nil {
				return err
			}
			aa, err := w.load(&h, r.limit, depth+1, maxAuthAttrsLen)
			if err != nil {
				return err
			}
			if !aa.constructed {
				return fmt.Errorf("%w: authAttrs", errMalformed)
			}
			if aad, err = toDER(&aa); err != nil {
				return err
			}
			aad[0] = 0x31
		}
		mH, err := r.expect(classUniversal, tagOctetString)
		if err != nil {
			return err
		}
		m, err := w.load(&mH, r.limit, depth+1, maxSmallElementLen)
		if err != nil {
			return err
		}
		if mac, err = octets(&m); err != nil {
			return err
		}
		if h, ok, err := r.peek(); err != nil {
			return err
		} else if ok && h.is(classContext, 2) { // unauthAttrs
			if _, err := r.next(); err != nil {
				return err
			}
		}
	} else if h, ok, err := r.peek(); err != nil {
		return err
	} else if ok && h.is(classContext, 1) { // unprotectedAttrs
		if _, err := r.next(); err != nil {
			return err
		}
	}
	if err := r.finish(); err != nil {
		return err
	}

	// EncryptedContentInfo ::= SEQUENCE { contentType, contentEncryptionAlgorithm,
	//     encryptedContent [0] IMPLICIT OCTET STRING OPTIONAL }
	cr, err := w.children(&eci, eciLimit, depth+1)
	if err != nil {
		return err
	}
	if _, err := cr.expect(classUniversal, tagOID); err != nil {
		return err
	}
	algH, err := cr.next()
	if err != nil {
		return err
	}
	algE, err := w.load(&algH, cr.limit, depth+2, maxSmallElementLen)
	if err != nil {
		return err
	}
	algOID, params, err := algorithmIdentifier(&algE)
	if err != nil {
		return err
	}
	if ok, err := cr.more(); err != nil {
		return err
	} else if !ok {
		return errors.New("envelope: detached encrypted content is not supported")
	}
	ec, err := cr.expect(classContext, 0)
	if err != nil {
		return err
	}
	if err := cr.finish(); err != nil {
		return err
	}
	spec, ok := specByOID(algOID)
	if !ok {
		return fmt.Errorf("envelope: unsupported content-encryption algorithm %s", oidString(algOID))
	}
	if spec.gcm != auth {
		if auth {
			return fmt.Errorf("envelope: %s is not an authenticated algorithm (AuthEnvelopedData)", spec.name)
		}
		return fmt.Errorf("envelope: %s must be carried in AuthEnvelopedData (RFC 5084), not EnvelopedData", spec.name)
	}

	var (
		iv, nonce []byte
		tagLen    int
	)
	if spec.gcm {
		if nonce, tagLen, err = gcmParameters(params); err != nil {
			return err
		}
		if len(mac) != tagLen {
			return fmt.Errorf("%w: mac length %d, aes-ICVlen %d", errMalformed, len(mac), tagLen)
		}
	} else {
		if params == nil || !params.is(classUniversal, tagOctetString) {
			return fmt.Errorf("%w: CBC parameters are not an OCTET STRING", errMalformed)
		}
		if iv, err = octets(params); err != nil {
			return err
		}
	}

	cek, err := recipientKey(&ris, recips, spec.keyLen, chosen)
	if err != nil {
		return err
	}
	defer clear(cek)
	block, err := spec.newBlk(cek)
	if err != nil {
		return ErrDecrypt
	}

	buf := make([]byte, streamChunk)
	read := func(fn func([]byte) error) error {
		return w.segments(&ec, cr.limit, depth+2, func(off, n int64) error {
			for n > 0 {
				if err := w.ctx.Err(); err != nil {
					return fmt.Errorf("envelope: %w", err)
				}
				k := int(min(n, int64(len(buf))))
				if _, err := w.readAt(buf[:k], off, off+int64(k)); err != nil {
					return err
				}
				if err := fn(buf[:k]); err != nil {
					return err
				}
				off += int64(k)
				n -= int64(k)
			}
			return nil
		})
	}

	if spec.gcm {
		o, err := newGCMOpener(block, nonce, aad)
		if err != nil {
			return err
		}
		err = read(func(b []byte) error {
			if err := o.decrypt(b, b); err != nil {
				return err
			}
			return writeAll(dst, b)
		})
		if err != nil {
			return err
		}
		if !o.verify(mac) {
			return ErrDecrypt
		}
		return nil
	}

	bs := block.BlockSize()
	if len(iv) != bs {
		return fmt.Errorf("%w: IV length %d", errMalformed, len(iv))
	}
	cbc := cipher.NewCBCDecrypter(block, iv)
	// Ciphertext is decrypted whole blocks at a time; the last block is
	// held back until the end, when its padding is checked.
	pending := make([]byte, 0, streamChunk+bs)
	var total int64
	err = read(func(b []byte) error {
		total += int64(len(b))
		pending = append(pending, b...)
		n := len(pending) / bs * bs
		if n == len(pending) {
			n -= bs
		}
		if n <= 0 {
			return nil
		}
		cbc.CryptBlocks(pending[:n], pending[:n])
		if err := writeAll(dst, pending[:n]); err != nil {
			return err
		}
		pending = append(pending[:0], pending[n:]...)
		return nil
	})
	if err != nil {
		return err
	}
	if total == 0 || total%int64(bs) != 0 {
		return fmt.Errorf("%w: ciphertext length %d is not a positive multiple of the block size", errMalformed, total)
	}
	cbc.CryptBlocks(pending, pending)
	n, ok := unpad(pending, bs)
	if !ok {
		// The last block whole, so the caller may go on as with a good
		// padding (ErrBadPadding).
		if err := writeAll(dst, pending); err != nil {
			return err
		}
		return ErrBadPadding
	}
	return writeAll(dst, pending[:n])
}

// writeAll writes b to dst, wrapping the error: dst is the caller's
// (typically a spool file), so its failure is not a decryption failure.
func writeAll(dst io.Writer, b []byte) error {
	if _, err := dst.Write(b); err != nil {
		return fmt.Errorf("envelope: writing decrypted content: %w", err)
	}
	return nil
}
