package as2

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	httptransport "github.com/bizpipe/bizpipe/internal/transport/http"

	"github.com/bizpipe/bizpipe/internal/msgbox"
)

// Asynchronous MDN delivery defaults (the receive transport's
// async_mdn_attempts and async_mdn_interval).
const (
	// DefaultAsyncMDNAttempts: ten POSTs a minute apart ride out a
	// partner's restart or a short outage; a longer one is the partner's
	// to notice (its own mdn_timeout) and resolve by sending again, which
	// queues the MDN anew.
	DefaultAsyncMDNAttempts = 10
	DefaultAsyncMDNInterval = time.Minute
	// mdnPostTimeout bounds one POST of an MDN, from its claim to the end
	// of the answer.
	mdnPostTimeout = 60 * time.Second
	// mdnLease is how long a claimed MDN is not claimed again: twice the
	// longest POST, counted from before the claim, so that no POST of it
	// is still running when another poster (a shared box) may claim it.
	mdnLease = 2 * mdnPostTimeout
	// mdnIdleCheck bounds the wait between looks at the box when nothing
	// is due: another instance (a shared box) may have queued MDNs.
	mdnIdleCheck = 30 * time.Second
	// mdnPosters bounds the POSTs in flight at once. Each one waits on a
	// partner's server, so they run side by side: an address that never
	// answers holds one of them until mdnPostTimeout, not the others.
	mdnPosters = 16
	// mdnUnauthenticatedPosters bounds those of them for messages whose
	// signature did not verify as their party's (msgbox.SentMDN's
	// Authenticated): anyone who can reach the listener can ask for such
	// MDNs, naming addresses that never answer, and would otherwise hold
	// every place, delaying the MDNs of partners' messages. Those are
	// claimed first, and always find the other places.
	mdnUnauthenticatedPosters = mdnPosters / 2
	// mdnMaxAnswerHeader bounds the header of the answer to an MDN's POST:
	// the address is the sender's, who may answer megabytes of fields
	// (Go's default allows 10 MiB, some 70 MiB to parse, for each POST).
	mdnMaxAnswerHeader = 64 << 10
	// mdnIdleTimeout closes a connection to an MDN address that is not used
	// again: each sender names its own, and a connection kept for each
	// would hold a file descriptor until the location stops.
	mdnIdleTimeout = 90 * time.Second
)

// sourceKey identifies an AS2 message at its source: its Message-ID from
// its party. The box stores one message per key (a repeat is a duplicate).
// The Message-ID is hashed: it is the sender's text, of any length.
func sourceKey(party, messageID string) string {
	sum := sha256.Sum256([]byte(messageID))
	return "as2:" + party + ":" + hex.EncodeToString(sum[:])
}

// redactURL is u for logs and errors: without user information, and cut.
func redactURL(u string) string {
	pu, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	pu.User = nil
	pu.RawQuery, pu.Fragment = "", ""
	return pu.String()
}

// wakePoster has the poster look for due MDNs now: one was stored
// pending (by PutMDN or with its message).
func (rc *receiver) wakePoster() {
	select {
	case rc.wake <- struct{}{}:
	default: // already woken
	}
}

// newMDNClient is the client asynchronous MDNs are POSTed with.
func newMDNClient() *http.Client { return mdnClient(mdnIdleTimeout) }

// mdnClient is newMDNClient with the given idle timeout.
func mdnClient(idle time.Duration) *http.Client {
	return &http.Client{
		Timeout: mdnPostTimeout,
		// The URL is the sender's; a redirect would take the MDN (and a
		// request from this host) to a place nobody declared.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{
			// No proxy from the environment: the MDN goes where the
			// sender said, and nowhere else.
			Proxy:                  nil,
			TLSHandshakeTimeout:    10 * time.Second,
			MaxResponseHeaderBytes: mdnMaxAnswerHeader,
			IdleConnTimeout:        idle,
			MaxIdleConns:           mdnPosters,
			MaxIdleConnsPerHost:    2,
		},
	}
}

// postMDNs POSTs the location's due asynchronous MDNs until ctx is done,
// up to mdnPosters at once, at most mdnUnauthenticatedPosters of them for
// messages not authenticated. Each is claimed in the box first (a lease),
// so that an MDN queued before a restart, or by another instance sharing
// the box, is sent too. Only as many are claimed as can start at once, so
// that none waits under its lease behind another's POST; and each POST
// ends mdnPostTimeout after its claim began, well inside the lease.
func (rc *receiver) postMDNs(ctx context.Context) {
	client := rc.mdnClient
	defer client.CloseIdleConnections()
	var wg sync.WaitGroup
	defer wg.Wait() // the POSTs end with ctx
	// One per POST ended, true for an unauthenticated one's: never blocks.
	done := make(chan bool, mdnPosters)
	inFlight, unauthenticated := 0, 0
	for {
		var claimErr error
		if free := mdnPosters - inFlight; free > 0 {
			claimed := time.Now() // before the box starts the lease
			var ms []msgbox.SentMDN
			ms, claimErr = rc.mdns.ClaimMDNs(ctx, rc.loc, mdnLease, free, mdnUnauthenticatedPosters-unauthenticated)
			if claimErr != nil && ctx.Err() == nil {
				rc.log.Error("claiming asynchronous MDNs failed", "error", claimErr)
			}
			for _, m := range ms {
				inFlight++
				if !m.Authenticated {
					unauthenticated++
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					rc.postOne(ctx, client, m, claimed.Add(mdnPostTimeout))
					done <- !m.Authenticated
				}()
			}
			if len(ms) == free && ctx.Err() == nil {
				continue // maybe more are due: claimed as places free up
			}
		}
		if ctx.Err() != nil {
			return
		}
		// With every place taken, only a POST ending is worth waking for
		// (a due MDN could not start): no timer then.
		var timer <-chan time.Time
		var t *time.Timer
		if inFlight < mdnPosters {
			wait := mdnIdleCheck
			if claimErr == nil {
				// With the unauthenticated places all taken, their due
				// MDNs could not start: only a POST ending frees one.
				if at, ok, err := rc.mdns.NextMDNDue(ctx, rc.loc, unauthenticated < mdnUnauthenticatedPosters); err == nil && ok {
					wait = min(max(time.Until(at), 0), mdnIdleCheck)
				}
			}
			t = time.NewTimer(wait)
			timer = t.C
		}
		select {
		case <-ctx.Done():
			return
		case <-rc.wake:
		case u := <-done:
			inFlight, unauthenticated = inFlight-1, unauthenticated-b2i(u)
		case <-timer:
		}
		if t != nil {
			t.Stop()
		}
		// Every other POST that ended meanwhile frees its place too.
		for drained := false; !drained; {
			select {
			case u := <-done:
				inFlight, unauthenticated = inFlight-1, unauthenticated-b2i(u)
			default:
				drained = true
			}
		}
	}
}

// b2i is 1 for true, 0 for false.
func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// postOne POSTs one claimed MDN and records the outcome: sent on a 2xx
// answer, else pending again after the interval, or failed after the
// last attempt.
// The POST ends at deadline, inside the claim's lease.
func (rc *receiver) postOne(ctx context.Context, client *http.Client, m msgbox.SentMDN, deadline time.Time) {
	log := rc.log.With("message_id", m.MessageID, "receipt_delivery_option", redactURL(m.URL), "attempt", m.Attempts)
	pctx, cancel := context.WithDeadline(ctx, deadline)
	err := postMDN(pctx, client, m)
	cancel()
	if err != nil && ctx.Err() != nil {
		// Stopping cut the POST short: the claim lapses and the MDN is
		// sent after the restart; the attempt counts, as a killed one
		// does.
		return
	}
	// A POST the sender answered is recorded even when stopping (the
	// stop waits for it): else the MDN would be sent again after the
	// restart.
	ctx = context.WithoutCancel(ctx)
	state, retryAt, why := msgbox.MDNSent, time.Time{}, ""
	if err != nil {
		why = err.Error()
		state, retryAt = msgbox.MDNPending, time.Now().Add(rc.mdnInterval)
		if m.Attempts >= rc.mdnAttempts {
			state = msgbox.MDNFailed
		}
	}
	if ferr := rc.mdns.FinishMDN(ctx, m, state, retryAt, why); errors.Is(ferr, msgbox.ErrLeaseLost) {
		// A repeat queued it again meanwhile: that one is sent too.
		log.Info("the asynchronous MDN was queued again while it was being sent")
		return
	} else if ferr != nil {
		log.Error("recording an asynchronous MDN's outcome failed", "error", ferr)
	}
	switch state {
	case msgbox.MDNSent:
		log.Info("asynchronous MDN sent")
	case msgbox.MDNPending:
		log.Warn("sending an asynchronous MDN failed; retrying", "error", why, "retry_at", retryAt)
	default:
		log.Error("sending an asynchronous MDN failed; giving up", "error", why, "attempts", m.Attempts)
	}
}

// postMDN POSTs one MDN entity: its header fields as HTTP headers, its
// body with a Content-Length.
func postMDN(ctx context.Context, client *http.Client, m msgbox.SentMDN) error {
	b, err := splitBuilt(m.Data)
	if err != nil {
		return fmt.Errorf("the kept MDN is unreadable: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.URL, bytes.NewReader(b.Body))
	if err != nil {
		return fmt.Errorf("POST to %s: %w", redactURL(m.URL), err)
	}
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		return fmt.Errorf("POST to %s: not an http(s) URL", redactURL(m.URL))
	}
	for k, vs := range b.Header {
		req.Header[k] = vs
	}
	req.ContentLength = int64(len(b.Body))
	req.Header.Set("Content-Length", strconv.Itoa(len(b.Body)))
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its text repeats the URL, user information included
		}
		return fmt.Errorf("POST to %s: %w", redactURL(m.URL), err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // reuse the connection
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST to %s: answered %s", redactURL(m.URL), httptransport.ShownStatus(resp))
	}
	return nil
}
