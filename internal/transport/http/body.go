package http

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"
)

// Body is a request body as the receive locations over HTTP read it (this
// transport's and AS2's, both the message and the asynchronous MDN): it
// wraps the limited request body and remembers why it failed, so that the
// answer (Refuse) reflects the cause whatever the Sink made of the error.
// Errors are sticky: once the limit is exceeded no later Read succeeds, so
// no Sink can commit an oversize body by reading on.
//
// Each Read may wait for the client for idle at most (and not past the
// whole request's deadline): the connection's read deadline is moved
// before it. A handler called directly, with no connection, has no
// deadlines.
//
// cancel, from another goroutine (Serving.Shutdown, for a Body it
// tracks), makes the Read in progress and every later one fail, unless the
// body was already read to its end: a complete body is stored and
// answered as usual, unless the stop gives up on it too (abort).
type Body struct {
	mu        sync.Mutex // guards the deadline, done, cancelled and aborted, which cancel and abort set
	done      bool       // the body was read to its end
	cancelled bool
	aborted   bool // complete, but the stop's grace ran out while it was stored
	// stopped is closed by cancel: an upload waiting for room in the
	// Budget gives up then, as a Read would.
	stopped chan struct{}

	r        io.Reader
	max      int64                    // MaxBody: above it the body is refused
	rc       *http.ResponseController // nil: deadlines not supported
	idle     time.Duration
	request  time.Duration // the whole request's bound (RequestTimeout)
	end      time.Time     // the whole request's deadline
	err      error
	tooLarge bool
	timedOut bool  // no byte for idle
	overran  bool  // the whole request's deadline passed
	readErr  error // another failure (the client went away)
}

// NewBody is r's body, refused above max bytes, each read waiting at most
// idle for a byte, and all of it read within request of now.
func NewBody(w http.ResponseWriter, r *http.Request, max int64, idle, request time.Duration) *Body {
	// The server's ReadTimeout, the same bound, set the connection's
	// deadline for the header; each body Read moves that deadline, so
	// this one, counted from the end of the header, is what ends a
	// request that takes too long, and says so.
	return &Body{
		r:       http.MaxBytesReader(w, r.Body, max),
		max:     max,
		rc:      http.NewResponseController(w),
		idle:    idle,
		request: request,
		end:     time.Now().Add(request),
		stopped: make(chan struct{}),
	}
}

// errCancelled is the error of a body read cancelled by a Shutdown.
var errCancelled = errors.New("reading request body: cancelled: the receive location is stopping")

// cancel makes the body's reads fail from now on, unless it was read to
// its end; it reports whether it did. The deadline in the past wakes a
// Read waiting for the client.
func (b *Body) cancel() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done || b.cancelled {
		return false
	}
	b.cancelled = true
	close(b.stopped)
	if b.rc != nil {
		_ = b.rc.SetReadDeadline(time.Unix(1, 0))
	}
	return true
}

// abort marks a body read to its end as one whose store the stop is about
// to cancel (its grace ran out), so that Refuse tells the failing store
// from the box's own failure; it reports whether it did.
func (b *Body) abort() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.done || b.cancelled || b.aborted {
		return false
	}
	b.aborted = true
	return true
}

func (b *Body) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	capped := false // this read's deadline is the request's, not the idle one
	// Under mu, so that a cancel is either seen here or sets its deadline
	// after this one.
	b.mu.Lock()
	if b.cancelled {
		b.err = errCancelled
		b.mu.Unlock()
		return 0, b.err
	}
	if b.rc != nil {
		d := time.Now().Add(b.idle)
		if !d.Before(b.end) {
			d, capped = b.end, true
		}
		if err := b.rc.SetReadDeadline(d); err != nil {
			b.rc = nil // http.ErrNotSupported: not served by net/http
		}
	}
	b.mu.Unlock()
	n, err := b.r.Read(p)
	b.mu.Lock()
	if err == io.EOF {
		b.done = true
		if b.rc != nil {
			// net/http reads on in the background to notice a client
			// going away, and cancels the request if that read fails:
			// it must not time out while the message is stored, which
			// may run past the request's deadline (the write timeout
			// leaves a minute for it). No deadline: the server ends
			// that read itself when the handler returns.
			_ = b.rc.SetReadDeadline(time.Time{})
		}
	}
	cancelled := b.cancelled && !b.done
	b.mu.Unlock()
	if cancelled {
		// Whatever this read returned (a timeout, or bytes that came
		// before the cancel's deadline), the body is not to be stored.
		b.err = errCancelled
		return n, b.err
	}
	if err != nil && err != io.EOF {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			b.tooLarge = true
			err = fmt.Errorf("request body larger than %d bytes: %w", mbe.Limit, err)
		case errors.Is(err, os.ErrDeadlineExceeded) && (capped || !time.Now().Before(b.end)):
			b.overran = true
			err = fmt.Errorf("reading request body: the request took longer than %v: %w", b.request, err)
		case errors.Is(err, os.ErrDeadlineExceeded):
			b.timedOut = true
			err = fmt.Errorf("reading request body: no data for %v: %w", b.idle, err)
		default:
			b.readErr = err
			err = fmt.Errorf("reading request body: %w", err)
		}
		b.err = err
	}
	return n, err
}

// Refuse answers the request whose body b failed to be read, or whose
// store the stop cancelled (abort), by the cause, with write (the
// transport's format of an error answer), logs why as a warning to log,
// and reports true; it does nothing and reports false when neither
// happened (the failure was the Sink's own). Nothing of such a body is
// stored: each answer tells the client to send again, or why it must not.
func (b *Body) Refuse(w http.ResponseWriter, log *slog.Logger, write func(w http.ResponseWriter, code int, msg string)) bool {
	b.mu.Lock()
	aborted, cancelled := b.aborted, b.cancelled
	b.mu.Unlock()
	switch {
	case aborted:
		// The box failed only because the stop cancelled its context:
		// not a storage problem, so not an error.
		log.Warn("stopping: storing a received message cancelled, the stop's grace ran out; nothing stored; the client is answered 503 and sends again")
		w.Header().Set("Retry-After", "30")
		write(w, http.StatusServiceUnavailable, "the receiver is stopping; message not stored; try again later")
	case b.err == nil && !cancelled:
		return false
	case cancelled || errors.Is(b.err, errCancelled):
		// Checked first: the read that failed then failed because of
		// the cancel, whatever error it returned. A body cancelled
		// before its first read (an upload waiting for room in the
		// Budget, which the stop's end cut short) failed because of the
		// stop too, not because the budget had no room.
		log.Warn("upload cancelled: the receive location is stopping; nothing stored")
		w.Header().Set("Connection", "close") // the rest of the body is not read
		w.Header().Set("Retry-After", "30")
		write(w, http.StatusServiceUnavailable, "the receiver is stopping; message not stored; try again later")
	case b.tooLarge:
		log.Warn("request refused: body too large", "max_body", b.max)
		write(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", b.max))
	case b.overran:
		// Not a stall: the client kept sending, too slowly for the cap
		// on a whole request. Saying so tells it (and the operator)
		// that request_timeout, not the network, is what to look at.
		log.Warn("request failed: the request took longer than request_timeout", "request_timeout", b.request.String())
		w.Header().Set("Connection", "close")
		write(w, http.StatusRequestTimeout, fmt.Sprintf("the request took longer than %v", b.request))
	case b.timedOut:
		log.Warn("request failed: the body stalled", "idle_timeout", b.idle.String())
		w.Header().Set("Connection", "close")
		write(w, http.StatusRequestTimeout, fmt.Sprintf("no request body data for %v", b.idle))
	default:
		log.Warn("request failed: reading the body", "error", b.readErr)
		write(w, http.StatusBadRequest, "could not read the request body")
	}
	return true
}

// RefuseUnsized answers 411 a request that declares neither a
// Content-Length nor chunked transfer encoding (chunked makes
// ContentLength -1), with write, logs it as a warning to log, and reports
// true; it reports false for any other. Such a body (an HTTP/1.0 POST
// without Content-Length) runs to the connection's end, which Go reads as
// empty: storing that empty message helps nobody.
func RefuseUnsized(w http.ResponseWriter, r *http.Request, log *slog.Logger, write func(w http.ResponseWriter, code int, msg string)) bool {
	if r.ContentLength != 0 || r.Header.Get("Content-Length") != "" {
		return false
	}
	log.Warn("request refused: no Content-Length")
	w.Header().Set("Connection", "close") // do not read a body that may follow as a request
	write(w, http.StatusLengthRequired, "Content-Length required (or chunked transfer encoding with HTTP/1.1)")
	return true
}
