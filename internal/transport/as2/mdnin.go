package as2

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"strings"

	"github.com/bizpipe/bizpipe/internal/as2"
	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/stage/smime"
	httptransport "github.com/bizpipe/bizpipe/internal/transport/http"
)

// mdnPeek is how much of a multipart/signed body is read to tell a signed
// MDN from a signed message: the first part's header fields.
const mdnPeek = 8 << 10

// mayBeMDN reports whether a POST whose Content-Type is ct may carry an
// MDN (looksLikeMDN tells once its body is read): a multipart/report or a
// multipart/signed.
func mayBeMDN(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (mt == "multipart/report" || mt == "multipart/signed")
}

// looksLikeMDN reports whether a POST whose Content-Type is ct carries an
// MDN: a multipart/report, or a multipart/signed whose first part is one,
// told from head, the body's first mdnPeek bytes (fewer in a shorter one).
// The first part is found and its header read as as2.ParseMDN reads them
// (a delimiter at the start of a line; folded fields unfolded), so that an
// MDN it reads is never taken for a message.
func looksLikeMDN(ct string, head []byte) bool {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	switch mt {
	case "multipart/report":
		return true
	case "multipart/signed":
	default:
		return false
	}
	part, ok := firstPart(head, params["boundary"])
	if !ok {
		return false
	}
	// The part's header ends at its empty line, within head for any real
	// MDN; one cut short by mdnPeek is read as far as it goes.
	fields, _, err := smime.SplitEntity(part)
	if err != nil {
		return false
	}
	for _, f := range fields {
		if strings.EqualFold(f.Name, "Content-Type") {
			mt, _, err := smime.ParseMediaType(f.Value)
			return err == nil && mt == "multipart/report"
		}
	}
	return false
}

// firstPart returns what follows the first delimiter line of boundary in
// body (RFC 2046 §5.1.1: "--" boundary at the start of a line, transport
// padding, a line break), as smime.SplitMultipart finds it.
func firstPart(body []byte, boundary string) ([]byte, bool) {
	if boundary == "" {
		return nil, false
	}
	dash := []byte("--" + boundary)
	for pos := 0; ; {
		i := bytes.Index(body[pos:], dash)
		if i < 0 {
			return nil, false
		}
		i += pos
		pos = i + 1
		if i > 0 && body[i-1] != '\n' {
			continue
		}
		rest := bytes.TrimLeft(body[i+len(dash):], " \t")
		switch {
		case bytes.HasPrefix(rest, []byte("\n")):
			return rest[1:], true
		case bytes.HasPrefix(rest, []byte("\r\n")):
			return rest[2:], true
		}
	}
}

// serveMDN takes an asynchronous MDN from party for one of our sends and
// has the runner settle the delivery awaiting it: 200 once it is judged
// (whatever the verdict: the partner need not send it again), and for a
// copy of the MDN that settled it already, or that an earlier attempt of
// it got (the partner sent it again, our answer lost: nothing changes); 409 for another MDN for a settled
// delivery that keeps one, which changes nothing
// (component.ErrReceiptConflict); 400
// when it settles nothing (unreadable, or no delivery awaits it); 503
// with a Retry-After when it may settle its delivery later
// (component.ErrReceiptNotYet: being sent, its wait not recorded yet, or
// too many MDNs wait already) or
// the box failed: the partner sends it again. It reads the whole MDN from up,
// under the budget; a read that fails is answered as a message's would be
// (Upload.Refuse: 408, 413, 503 when run stops or the budget has no
// room), and nothing is settled.
func (rc *receiver) serveMDN(w http.ResponseWriter, r *http.Request, log *slog.Logger, party string, up *httptransport.Upload) {
	b, ok, err := up.ReadAll(r.Context(), as2.MaxMDNSize)
	switch {
	case err != nil:
		up.Refuse(w, log, err, plain)
		return
	case !ok:
		plain(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("an MDN is at most %d bytes", as2.MaxMDNSize))
		return
	}
	// Kept as received, but without what authenticates the partner's
	// HTTP requests (JoinEntity leaves it out).
	raw := as2.JoinEntity(r.Header, b)
	// Read once, unverified: the delivery it answers is found by its
	// Original-Message-ID, and only that delivery's port knows whose
	// signature counts; the port verifies this reading (ReceivedMDN.Verify).
	mdn, err := as2.ParseMDN(raw, as2.VerifyOptions{Unverified: true})
	if err != nil {
		err = fmt.Errorf("%w: %w", component.ErrReceiptUnusable, err) // unreadable: refused below
	} else {
		err = rc.receipts.SettleReceipt(r.Context(), component.IncomingReceipt{Party: party, Correlation: mdn.OriginalMessageID,
			Raw: raw, ContentType: r.Header.Get("Content-Type"), Parsed: mdn})
	}
	switch {
	case err == nil:
		// The runner's line about the receipt names the message; this
		// one names the AS2 Message-ID it answers, as the line that
		// awaited it did.
		log.Info("asynchronous MDN received", "as2_message_id", mdn.OriginalMessageID)
		w.WriteHeader(http.StatusOK)
	case errors.Is(err, component.ErrReceiptRepeated):
		log.Info("asynchronous MDN received again; nothing changes", "as2_message_id", mdn.OriginalMessageID, "detail", err)
		w.WriteHeader(http.StatusOK)
	case errors.Is(err, component.ErrReceiptConflict):
		// A partner's fault or a forgery: the operator hears of it, and
		// the partner learns that it was not taken.
		log.Warn("asynchronous MDN refused: its delivery is settled and keeps another MDN", "error", err)
		plain(w, http.StatusConflict, "MDN refused: the delivery it names is settled and keeps another MDN")
	case errors.Is(err, component.ErrReceiptNotYet):
		// Temporary (its delivery is being sent, or too many MDNs wait
		// for theirs): a partner retries a 503, seldom a 4xx.
		log.Warn("asynchronous MDN not settled yet; the partner is asked to send it again", "error", err)
		w.Header().Set("Retry-After", "5")
		plain(w, http.StatusServiceUnavailable, "MDN not settled yet; send it again later")
	case errors.Is(err, component.ErrReceiptUnusable):
		log.Warn("asynchronous MDN refused", "error", err)
		plain(w, http.StatusBadRequest, "MDN refused: it settles no delivery")
	default:
		log.Error("settling an asynchronous MDN failed", "error", fmt.Errorf("receive location %q, party %q: %w", rc.loc, party, err))
		w.Header().Set("Retry-After", "5")
		plain(w, http.StatusServiceUnavailable, "MDN not recorded; send it again later")
	}
}
