package http

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// ServeOptions says what a Serving serves.
type ServeOptions struct {
	// Location names the receive location in errors.
	Location string
	// Listen is the address to listen on, host:port.
	Listen  string
	Handler http.Handler
	// Log takes the server's own errors; nil discards them. Name (the
	// transport: "http", "as2") starts the message when serving fails.
	Log  *slog.Logger
	Name string
	// CertFile and KeyFile, when CertFile is set, serve HTTPS with this
	// PEM certificate (intermediates after it) and key.
	CertFile, KeyFile string
	// RequestTimeout bounds a whole request, body included (the
	// locations' request_timeout); 0 means DefaultRequestTimeout.
	RequestTimeout time.Duration
	// MaxConnections is how many connections may be open at once (the
	// locations' max_connections, connCap); 0 means
	// DefaultMaxConnections.
	MaxConnections int
	// BodyIdleTimeout bounds the wait for a byte of a body that the
	// handler does not read (a request refused on its header): net/http
	// reads what is left of a small one before it answers. 0 means
	// DefaultBodyIdleTimeout.
	BodyIdleTimeout time.Duration
}

// Serving is the listening lifecycle of a receive location over HTTP
// (this transport's and AS2's): Start listens and serves with listen.go's
// limits, plain or TLS, in the background; Shutdown stops gracefully,
// cancelling the uploads (Track) still arriving once its context ends. The
// zero value is ready to Start, once.
type Serving struct {
	mu     sync.Mutex
	loc    string // the location, for Shutdown's errors
	log    *slog.Logger
	srv    *http.Server
	ln     *connCap
	served chan error         // Serve's result
	cancel context.CancelFunc // aborts requests still running when Shutdown gives up

	// running counts the handlers running, so that a Shutdown that gave
	// up returns only once the requests it aborted have returned: the
	// caller may close the message box next.
	running sync.WaitGroup

	// uploads are the request bodies being read, which Shutdown cancels
	// when its context ends; stopping is set then, so that an upload
	// that registers later is cancelled at once. Guarded by mu.
	uploads  map[*Body]struct{}
	stopping bool
}

// Start listens on o.Listen and serves in the background; it returns once
// the listener is open, or an error naming the location and address when
// it cannot be (address in use), or the files when the TLS certificate
// cannot be loaded (then nothing listens). ctx bounds only the listening
// itself.
//
// It returns the base context of the requests: it carries ctx's values
// but not its cancellation, so that a stopping runner's cancelled context
// does not abort requests in flight, and it is cancelled when Shutdown
// has waited for them (or gave up), for work that must end with them.
// A request's context ends only with it (or the handler), not when the
// client hangs up.
func (s *Serving) Start(ctx context.Context, o ServeOptions) (context.Context, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return nil, fmt.Errorf("receive location %q: already started", o.Location)
	}
	if o.Listen == "" {
		// net.Listen would take every address and a port of its choosing,
		// which no client could be told (CheckListen).
		return nil, fmt.Errorf("receive location %q: no listen address", o.Location)
	}
	// The certificate is loaded before listening: with one that cannot
	// be loaded, net/http's ServeTLS returns at once and leaves the port
	// open, where partners' connections would hang unanswered while the
	// location looked started.
	var tlsConfig *tls.Config
	if o.CertFile != "" {
		cert, err := loadKeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("receive location %q: loading the TLS certificate %s and its key %s: %w",
				o.Location, o.CertFile, o.KeyFile, err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", o.Listen)
	if err != nil {
		return nil, fmt.Errorf("receive location %q: listening on %s: %w", o.Location, o.Listen, err)
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	base, cancel := context.WithCancel(context.WithoutCancel(ctx))
	h := o.Handler
	idle := o.BodyIdleTimeout
	if idle <= 0 {
		idle = DefaultBodyIdleTimeout
	}
	srv := newServer(base, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.running.Add(1)
		defer s.running.Done()
		// A request refused on its header (another path, a stranger's
		// AS2-From, a malformed field) leaves its body unread, and
		// net/http/1 reads what is left of a small one (256 KiB) before
		// it writes the answer, until the connection's read deadline:
		// the whole request's, request_timeout (an hour by default). A
		// client that sends no byte of it would hold its connection,
		// and the answer, that long. The body idle timeout bounds that
		// wait as it bounds every read of a body; each Body.Read moves
		// the deadline on, and one read to its end clears it. Not
		// HTTP/2, which reads no unread body before answering, and
		// whose stream keeps a read deadline that has passed, whatever
		// is set later (an upload waiting for room in the Budget).
		if r.ProtoMajor < 2 {
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(idle))
		}
		// The handler's context ends with base (a Shutdown that gave up),
		// not with the connection, which net/http cancels when the
		// client hangs up once it sent the body: a message whose body
		// arrived whole is stored all the same, the answer perhaps lost
		// (a resend is at least once, or a duplicate found by its key).
		// A hang-up before the body's end fails its read instead.
		ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
		defer cancel()
		defer context.AfterFunc(base, cancel)()
		h.ServeHTTP(w, r.WithContext(ctx))
	}), log, o.RequestTimeout)
	srv.TLSConfig = tlsConfig
	capped := newConnCap(ln, o.MaxConnections, log, o.Location)
	srv.ConnState = capped.connState
	served := make(chan error, 1)
	go func() {
		var err error
		if tlsConfig != nil {
			err = srv.ServeTLS(capped, "", "") // the certificate of srv.TLSConfig
		} else {
			err = srv.Serve(capped)
		}
		if !errors.Is(err, http.ErrServerClosed) {
			log.Error(o.Name+" receive location stopped serving", "error", err)
		}
		served <- err
	}()
	s.loc, s.log, s.srv, s.ln, s.served, s.cancel = o.Location, log, srv, capped, served, cancel
	return base, nil
}

// Addr is the address listened on (useful with port 0), or nil before
// Start.
func (s *Serving) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Shutdown stops accepting connections and waits for the requests in
// flight to finish (their messages stored and answered). If ctx ends first
// (the runner's grace for uploads), the uploads still reading their body
// (Track) are cancelled: the body's reads fail at once, the box rolls the
// message back, and the handler answers 503 with Retry-After (Body.Refuse),
// so the client sends again. The requests still running abortAnswer later
// - answering, or storing a body that was complete - are aborted: their
// contexts are cancelled, the box rolls back, and those storing are
// answered 503 with Retry-After too, logged as the stop's (Body.Refuse);
// the connections still open abortAnswer after that are closed. Then the
// error wraps ctx's. It also reports why serving ended, when that was not
// Shutdown (an error accepting connections).
// Shutdown before Start does nothing; a second Shutdown answers as the
// first did.
func (s *Serving) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	loc, log, srv, served, cancel := s.loc, s.log, s.srv, s.served, s.cancel
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	if n := s.InProgress(); n > 0 {
		log.Info("stopping: waiting for uploads in progress", "uploads", n)
	}
	// The server's own shutdown outlives ctx by abortAnswer, for the
	// cancelled uploads to be answered.
	sctx, scancel := context.WithCancel(context.WithoutCancel(ctx))
	defer scancel()
	stop := context.AfterFunc(ctx, func() {
		if n := s.cancelUploads(); n > 0 {
			log.Warn("stopping: uploads in progress cancelled, nothing of them stored; their clients are answered 503 and send again", "uploads", n)
		}
		time.AfterFunc(abortAnswer, scancel)
	})
	defer stop()
	if err := srv.Shutdown(sctx); err != nil {
		// Marked before their contexts end, so that the stores failing
		// then are answered and logged as the stop's doing (Body.Refuse),
		// not as the box failing.
		if n := s.abortStores(); n > 0 {
			log.Warn("stopping: messages being stored cancelled, nothing of them stored; their clients are answered 503 and send again", "requests", n)
		}
		cancel()
		// The aborted handlers return promptly, their contexts cancelled:
		// their answers get abortAnswer to be written before the
		// connections still open are closed.
		actx, acancel := context.WithTimeout(context.Background(), abortAnswer)
		err := srv.Shutdown(actx)
		acancel()
		if err != nil {
			_ = srv.Close() // already failing; Close's error adds nothing
		}
		s.running.Wait()
		return fmt.Errorf("receive location %q: shutting down with requests in flight: %w", loc, ctx.Err())
	}
	cancel()
	err := <-served
	served <- err // for a second Shutdown
	if !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("receive location %q: serving: %w", loc, err)
	}
	return nil
}

// abortAnswer is how long a Shutdown whose context ended still waits for
// the uploads it cancelled to be answered 503, before it aborts the rest,
// and then for those to be answered, before it closes their connections:
// writing a small answer takes a moment, unless the client does not read
// it.
const abortAnswer = 2 * time.Second

// Track registers body as an upload in progress until the returned func
// is called, for Shutdown to cancel; it is cancelled at once when
// Shutdown already did.
func (s *Serving) Track(body *Body) func() {
	s.mu.Lock()
	if s.uploads == nil {
		s.uploads = map[*Body]struct{}{}
	}
	s.uploads[body] = struct{}{}
	if s.stopping {
		body.cancel()
	}
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		delete(s.uploads, body)
		s.mu.Unlock()
	}
}

// abortStores marks the uploads whose body arrived whole, still running,
// as aborted by the stop (Body.abort), and returns how many were.
func (s *Serving) abortStores() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for b := range s.uploads {
		if b.abort() {
			n++
		}
	}
	return n
}

// InProgress counts the uploads (Track) whose body is being read.
func (s *Serving) InProgress() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.uploads)
}

// cancelUploads cancels the uploads in progress, and those that start
// later, and returns how many were cancelled.
func (s *Serving) cancelUploads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopping = true
	n := 0
	for b := range s.uploads {
		if b.cancel() {
			n++
		}
	}
	return n
}

// newServer is the http.Server of a Serving: the limits of listen.go,
// whole requests bounded by request (DefaultRequestTimeout when 0), request contexts
// derived from base, and the server's own errors logged to log as
// warnings.
func newServer(base context.Context, h http.Handler, log *slog.Logger, request time.Duration) *http.Server {
	if request <= 0 {
		request = DefaultRequestTimeout
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       request,
		// From the end of the request header: it must cover reading the
		// body and storing it as well as writing the answer.
		WriteTimeout:   request + writeMargin,
		IdleTimeout:    idleTimeout,
		MaxHeaderBytes: maxHeaderBytes,
		BaseContext:    func(net.Listener) context.Context { return base },
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		// HTTP/2 (with TLS) reads a request's body ahead of the handler,
		// up to the windows it granted: small, so that each connection's
		// buffers stay small.
		// And each connection carries few requests at once, so that
		// max_connections bounds the requests too (h2MaxStreams).
		HTTP2: &http.HTTP2Config{MaxReceiveBufferPerConnection: h2Window, MaxReceiveBufferPerStream: h2Window,
			MaxConcurrentStreams: h2MaxStreams},
	}
}
