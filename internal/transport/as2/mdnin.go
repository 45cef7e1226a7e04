package as2

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"regexp"

	"github.com/bizpipe/bizpipe/internal/as2"
	"github.com/bizpipe/bizpipe/internal/component"
	httptransport "github.com/bizpipe/bizpipe/internal/transport/http"
)

// mdnPeek is how much of a multipart/signed body is read to tell a signed
// MDN from a signed message: the first part's header fields.
const mdnPeek = 8 << 10

// reportType matches a Content-Type field of multipart/report.
var reportType = regexp.MustCompile(`(?im)^content-type:[ \t]*multipart/report\b`)

// looksLikeMDN reports whether a POST whose Content-Type is ct carries an
// MDN: a multipart/report, or a multipart/signed whose first part is one.
// It returns the body to read from then on (with what it peeked at).
func looksLikeMDN(ct string, body io.Reader) (bool, io.Reader) {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return false, body
	}
	switch mt {
	case "multipart/report":
		return true, body
	case "multipart/signed":
	default:
		return false, body
	}
	br := bufio.NewReaderSize(body, mdnPeek)
	head, _ := br.Peek(mdnPeek) // fewer at the end of a short body
	delim := []byte("--" + params["boundary"])
	i := bytes.Index(head, delim)
	if params["boundary"] == "" || i < 0 {
		return false, br
	}
	part := head[i+len(delim):]
	if end := bytes.Index(part, []byte("\r\n\r\n")); end >= 0 {
		part = part[:end]
	} else if end := bytes.Index(part, []byte("\n\n")); end >= 0 {
		part = part[:end]
	}
	return reportType.Match(part), br
}

// serveMDN takes an asynchronous MDN from party for one of our sends and
// has the runner settle the delivery awaiting it: 200 once it is judged
// (whatever the verdict: the partner need not send it again), 400 when it
// settles nothing (unreadable, or no delivery awaits it), 503 when the box
// failed (the partner sends it again). It reads body through br (what
// looksLikeMDN peeked at, then the rest); a read that fails is answered
// as a message's would be (Body.Refuse: 408, 413, 503 when run stops),
// and nothing is settled.
func (rc *receiver) serveMDN(w http.ResponseWriter, r *http.Request, log *slog.Logger, party string, body *httptransport.Body, br io.Reader) {
	b, err := io.ReadAll(io.LimitReader(br, as2.MaxMDNSize+1))
	if err != nil {
		body.Refuse(w, log, plain)
		return
	}
	if len(b) > as2.MaxMDNSize {
		plain(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("an MDN is at most %d bytes", as2.MaxMDNSize))
		return
	}
	// Kept as received, but without what authenticates the partner's
	// HTTP requests: the box is no place for its credentials.
	h := r.Header.Clone()
	for _, f := range []string{"Authorization", "Proxy-Authorization", "Cookie"} {
		h.Del(f)
	}
	raw := as2.JoinEntity(h, b)
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
		log.Info("asynchronous MDN received")
		w.WriteHeader(http.StatusOK)
	case errors.Is(err, component.ErrReceiptUnusable):
		log.Warn("asynchronous MDN refused", "error", err)
		plain(w, http.StatusBadRequest, "MDN refused: it settles no delivery")
	default:
		log.Error("settling an asynchronous MDN failed", "error", fmt.Errorf("receive location %q, party %q: %w", rc.loc, party, err))
		w.Header().Set("Retry-After", "5")
		plain(w, http.StatusServiceUnavailable, "MDN not recorded; send it again later")
	}
}
