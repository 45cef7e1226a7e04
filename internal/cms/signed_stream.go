package cms

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
)

var oidSignedData = mustOIDBytes(1, 2, 840, 113549, 1, 7, 2)

// StreamSignedData splits a SignedData ContentInfo (BER or DER, size
// octets read from r) into its encapsulated content, which it writes to
// content in chunks, and the rest: the returned ContentInfo is the same
// SignedData with the eContent left out (the detached form), so the
// certificates and signer infos can be parsed and verified in memory while
// the content is hashed separately. The returned encoding keeps the input's
// BER forms inside the elements it copies.
//
// It checks only the structure around the content; the caller verifies the
// signatures and must not trust anything written to content before it has.
// The elements other than the content may total at most 8 MiB.
func StreamSignedData(ctx context.Context, r io.ReaderAt, size int64, content io.Writer) ([]byte, error) {
	w := newBERWalker(ctx, r, size)
	ci, err := w.head(0, size)
	if err != nil {
		return nil, err
	}
	if !ci.is(classUniversal, tagSequence) {
		return nil, fmt.Errorf("%w: ContentInfo is not a SEQUENCE", errMalformed)
	}
	end, err := w.end(ci, size, 0)
	if err != nil {
		return nil, err
	}
	if end != size {
		return nil, fmt.Errorf("%w: trailing data after ContentInfo", errMalformed)
	}
	cr, err := w.children(&ci, size, 0)
	if err != nil {
		return nil, err
	}
	ctH, err := cr.next()
	if err != nil {
		return nil, err
	}
	ctE, err := w.load(&ctH, cr.limit, 1, maxSmallElementLen)
	if err != nil {
		return nil, err
	}
	if oid, err := oidBody(&ctE); err != nil {
		return nil, err
	} else if !bytes.Equal(oid, oidSignedData) {
		return nil, errors.New("signed data: content type is not signedData")
	}
	explicit, err := cr.expect(classContext, 0)
	if err != nil {
		return nil, err
	}
	if err := cr.finish(); err != nil {
		return nil, err
	}
	er, err := w.children(&explicit, cr.limit, 1)
	if err != nil {
		return nil, err
	}
	sdH, err := er.expect(classUniversal, tagSequence)
	if err != nil {
		return nil, err
	}
	if err := er.finish(); err != nil {
		return nil, err
	}

	// SignedData ::= SEQUENCE { version, digestAlgorithms SET,
	//     encapContentInfo, certificates [0] OPTIONAL, crls [1] OPTIONAL,
	//     signerInfos SET }
	const depth = 3
	sr, err := w.children(&sdH, er.limit, depth)
	if err != nil {
		return nil, err
	}
	budget := maxSignedDataMetaLen
	loadNext := func(r *streamChildren, d int) (element, error) {
		h, err := r.next()
		if err != nil {
			return element{}, err
		}
		e, err := w.load(&h, r.limit, d, budget)
		if err != nil {
			return element{}, err
		}
		budget -= len(e.raw)
		return e, nil
	}
	version, err := loadNext(sr, depth+1)
	if err != nil {
		return nil, err
	}
	digestAlgs, err := loadNext(sr, depth+1)
	if err != nil {
		return nil, err
	}
	encap, err := sr.expect(classUniversal, tagSequence)
	if err != nil {
		return nil, err
	}
	ecr, err := w.children(&encap, sr.limit, depth+1)
	if err != nil {
		return nil, err
	}
	eType, err := loadNext(ecr, depth+2)
	if err != nil {
		return nil, err
	}
	if !eType.is(classUniversal, tagOID) {
		return nil, fmt.Errorf("%w: eContentType", errMalformed)
	}
	if ok, err := ecr.more(); err != nil {
		return nil, err
	} else if ok {
		ex, err := ecr.expect(classContext, 0)
		if err != nil {
			return nil, err
		}
		xr, err := w.children(&ex, ecr.limit, depth+2)
		if err != nil {
			return nil, err
		}
		oct, err := xr.expect(classUniversal, tagOctetString)
		if err != nil {
			return nil, err
		}
		if err := xr.finish(); err != nil {
			return nil, err
		}
		if err := copySegments(w, &oct, xr.limit, depth+3, content); err != nil {
			return nil, err
		}
	}
	if err := ecr.finish(); err != nil {
		return nil, err
	}
	var rest [][]byte
	for {
		ok, err := sr.more()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		e, err := loadNext(sr, depth+1)
		if err != nil {
			return nil, err
		}
		rest = append(rest, e.raw)
	}
	body := append([][]byte{version.raw, digestAlgs.raw, tlv(0x30, eType.raw)}, rest...)
	return tlv(0x30, ctE.raw, tlv(0xa0, tlv(0x30, body...))), nil
}

// copySegments writes the value of a (possibly constructed) OCTET STRING
// to dst in chunks.
func copySegments(w *berWalker, h *streamHead, limit int64, depth int, dst io.Writer) error {
	buf := make([]byte, streamChunk)
	return w.segments(h, limit, depth, func(off, n int64) error {
		for n > 0 {
			if err := w.ctx.Err(); err != nil {
				return fmt.Errorf("signed data: %w", err)
			}
			k := int(min(n, int64(len(buf))))
			if _, err := w.readAt(buf[:k], off, off+int64(k)); err != nil {
				return err
			}
			if _, err := dst.Write(buf[:k]); err != nil {
				return fmt.Errorf("signed data: writing content: %w", err)
			}
			off += int64(k)
			n -= int64(k)
		}
		return nil
	})
}
