package as2

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/as2"
	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/value"
	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/msgbox/sqlitebox"
	"github.com/bizpipe/bizpipe/internal/testpki"
	"github.com/bizpipe/bizpipe/internal/transport/transporttest"
)

// deadlineRecorder passes requests on, noting the deadline each one's
// context carries, by URL path.
type deadlineRecorder struct {
	rt        http.RoundTripper
	mu        sync.Mutex
	deadlines map[string]time.Time
}

func (d *deadlineRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	dl, _ := req.Context().Deadline()
	d.mu.Lock()
	d.deadlines[req.URL.Path] = dl
	d.mu.Unlock()
	return d.rt.RoundTrip(req)
}

func (d *deadlineRecorder) deadline(path string) time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.deadlines[path]
}

// newMDNPoster returns an as2 receive location (not started) that keeps
// its MDNs in box.
func newMDNPoster(t *testing.T, box *sqlitebox.Box) *receiver {
	t.Helper()
	signer := testpki.NewCA(t, "Test CA").Issue(t, testpki.Options{CommonName: "Contoso Signing"})
	cfg := &ReceiveConfig{Listen: value.Value[string]{V: "127.0.0.1:0"}, Path: value.Value[string]{V: "/as2"}}
	built, err := cfg.NewReceiver(&component.ReceiveEnv{
		Location: "in", ContentType: "application/octet-stream", Sink: &recordingSink{},
		AS2ID: "CONTOSO", PartyAS2IDs: map[string]string{"fabrikam": "FABRIKAM"}, MDNs: box,
		Keys: component.Keys{Signer: &component.Identity{Cert: signer.Cert, Key: signer.Key}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return built.(*receiver)
}

// queueMDN stores a message (text its body) and queues, for rc to POST to
// url, the asynchronous MDN that answers it, as for a message not
// authenticated; it returns the message's id.
func queueMDN(t *testing.T, rc *receiver, box *sqlitebox.Box, url, text string) string {
	t.Helper()
	return queueMDNFor(t, rc, box, url, text, false)
}

// queueMDNFor is queueMDN for a message authenticated or not
// (msgbox.SentMDN.Authenticated).
func queueMDNFor(t *testing.T, rc *receiver, box *sqlitebox.Box, url, text string, authenticated bool) string {
	t.Helper()
	m, _, err := box.ReceiveRouted(t.Context(), msgbox.Incoming{ReceiveLocation: "in", ContentType: "application/edi-x12"},
		strings.NewReader(text), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := as2.BuildMDN(&as2.MDN{OriginalRecipient: "CONTOSO", FinalRecipient: "CONTOSO", OriginalMessageID: "<" + text + "@fabrikam.example>",
		Disposition: as2.Processed(), MIC: &as2.MIC{Alg: as2.SHA256, Digest: make([]byte, 32)}, Text: text},
		as2.BuildOptions{From: "CONTOSO", To: "FABRIKAM", Digest: as2.SHA256})
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.keepMDN(t.Context(), m.ID, &reply{built: b, state: msgbox.MDNPending, url: url, authenticated: authenticated}); err != nil {
		t.Fatal(err)
	}
	rc.wakePoster()
	return m.ID
}

// answeringAddress is an MDN address that answers 200 at once, handing
// each body it got over on answered.
func answeringAddress(t *testing.T) (url string, answered <-chan string) {
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- string(b)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, got
}

// TestAsyncMDNStalledURL: asynchronous MDNs are POSTed side by side. One
// partner's address accepts the POST and never answers; another partner's
// MDN, queued after it, reaches its address while that POST is still
// waiting, not after it gave up. The stalled POST carries a deadline
// before the end of its claim's lease, so that no other poster sharing
// the box can claim and send the MDN while it may still arrive.
func TestAsyncMDNStalledURL(t *testing.T) {
	var once sync.Once
	stallGot, stallEnded := make(chan struct{}), make(chan struct{})
	stall := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // then a client that leaves ends r's context
		once.Do(func() { close(stallGot) })
		<-r.Context().Done()
		close(stallEnded)
	}))
	t.Cleanup(stall.Close)
	answerURL, answered := answeringAddress(t)

	box := transporttest.NewBox(t)
	rc := newMDNPoster(t, box)
	rec := &deadlineRecorder{rt: rc.mdnClient.Transport, deadlines: map[string]time.Time{}}
	rc.mdnClient.Transport = rec
	if err := rc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rc.Stop(context.Background()) }) // before the servers close: ends the stalled POST

	stalled := queueMDN(t, rc, box, stall.URL+"/stall", "stalled")
	<-stallGot
	queueMDN(t, rc, box, answerURL+"/answer", "answered")
	select {
	case got := <-answered:
		if !strings.Contains(got, "answered") {
			t.Errorf("the answering address got %q", got)
		}
	case <-stallEnded:
		t.Fatal("the answering address got no MDN before the stalled POST ended: it waited for it")
	}
	select {
	case <-stallEnded:
		t.Fatal("the stalled POST ended before the test let it")
	default:
	}

	claim, err := box.SentMDN(t.Context(), stalled)
	if err != nil {
		t.Fatal(err)
	}
	if dl := rec.deadline("/stall"); dl.IsZero() || !dl.Before(claim.NextAttemptAt) {
		t.Errorf("the stalled POST's deadline is %v, want one before its lease ends at %v", dl, claim.NextAttemptAt)
	}
	if dl := rec.deadline("/answer"); dl.IsZero() {
		t.Errorf("the answered POST had no deadline")
	}
}

// TestAsyncMDNUnauthenticatedFlood: MDNs anyone can ask for (their
// messages not authenticated), naming an address that accepts the POST and
// never answers, take at most mdnUnauthenticatedPosters of the POSTs in
// flight, however many are due; the MDN of an authenticated message,
// queued after them, reaches its address while they all still wait.
func TestAsyncMDNUnauthenticatedFlood(t *testing.T) {
	var mu sync.Mutex
	inFlight, most := 0, 0
	full, stallEnded := make(chan struct{}), make(chan struct{}, 64)
	stall := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		inFlight++
		most = max(most, inFlight)
		if inFlight == mdnUnauthenticatedPosters {
			close(full)
		}
		mu.Unlock()
		<-r.Context().Done() // the client leaving: the poster stopped or gave up
		stallEnded <- struct{}{}
	}))
	t.Cleanup(stall.Close)
	answerURL, answered := answeringAddress(t)

	box := transporttest.NewBox(t)
	rc := newMDNPoster(t, box)
	for i := range 2 * mdnPosters {
		queueMDNFor(t, rc, box, stall.URL+"/stall", fmt.Sprintf("flood %d", i), false)
	}
	if err := rc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rc.Stop(context.Background()) }) // before the servers close: ends the stalled POSTs
	select {
	case <-full:
	case <-stallEnded:
		t.Fatal("a stalled POST ended before the test let it")
	}
	queueMDNFor(t, rc, box, answerURL+"/answer", "partner", true)
	select {
	case got := <-answered:
		if !strings.Contains(got, "partner") {
			t.Errorf("the answering address got %q", got)
		}
	case <-stallEnded:
		t.Fatal("the authenticated message's MDN was not POSTed before a stalled POST ended: the unauthenticated ones held every place")
	}
	mu.Lock()
	defer mu.Unlock()
	if most != mdnUnauthenticatedPosters {
		t.Errorf("%d unauthenticated POSTs in flight at most, want %d of the %d due", most, mdnUnauthenticatedPosters, 2*mdnPosters)
	}
}

// TestAsyncMDNDocLimits: the location's reference states the limits the
// poster has.
func TestAsyncMDNDocLimits(t *testing.T) {
	for _, want := range []string{fmt.Sprintf("Up to %d MDNs", mdnPosters), fmt.Sprintf("at most %d seconds", int(mdnPostTimeout.Seconds()))} {
		if !strings.Contains(strings.Join(strings.Fields(ReceiveSpec.Doc), " "), want) {
			t.Errorf("the as2 receive location's Doc does not say %q", want)
		}
	}
	if mdnPostTimeout >= mdnLease {
		t.Errorf("a POST may last %v, not less than the lease of %v", mdnPostTimeout, mdnLease)
	}
}

// stopOnAnswer is a RoundTripper that stops the location (Stop) once the
// MDN's address has answered, and hands the answer over only when the
// stop has reached the POST's context: the stop lands between the answer
// and its record.
type stopOnAnswer struct {
	rt      http.RoundTripper
	stop    func()
	stopped chan struct{}
}

func (s *stopOnAnswer) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := s.rt.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	go func() {
		s.stop()
		close(s.stopped)
	}()
	<-req.Context().Done()
	return resp, nil
}

// TestAsyncMDNAnsweredAtStop: an asynchronous MDN whose address answered
// 2xx just as the location stops is recorded as sent, not left claimed to
// be sent again after the restart.
func TestAsyncMDNAnsweredAtStop(t *testing.T) {
	answer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
	}))
	t.Cleanup(answer.Close)
	box := transporttest.NewBox(t)
	rc := newMDNPoster(t, box)
	s := &stopOnAnswer{rt: rc.mdnClient.Transport, stop: func() { rc.Stop(context.Background()) }, stopped: make(chan struct{})}
	rc.mdnClient.Transport = s
	if err := rc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	id := queueMDN(t, rc, box, answer.URL+"/mdn", "order")
	select {
	case <-s.stopped:
	case <-time.After(time.Minute):
		t.Fatal("the MDN was never POSTed, or the location never stopped")
	}
	got, err := box.SentMDN(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != msgbox.MDNSent || got.Attempts != 1 {
		t.Errorf("after the stop: MDN %s after %d attempts, want sent after 1", got.State, got.Attempts)
	}
}

// TestMDNClientBounds: the address an asynchronous MDN goes to is the
// sender's to name, so the client bounds what it may cost: an answer whose
// header runs to a megabyte fails the POST (unread past the limit), and a
// connection left idle is closed after the idle timeout, not kept until
// the location stops.
func TestMDNClientBounds(t *testing.T) {
	data := []byte("Content-Type: text/plain\r\n\r\nreceipt")

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if r.URL.Path == "/bomb" {
			field := strings.Repeat("x", 1000)
			for i := range 1000 { // about 1 MB of header
				w.Header().Set(fmt.Sprintf("X-Bomb-%d", i), field)
			}
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()

	err := postMDN(t.Context(), newMDNClient(), msgbox.SentMDN{Data: data, URL: srv.URL + "/bomb"})
	if err == nil || !strings.Contains(err.Error(), "exceeded") {
		t.Errorf("POST answered with a megabyte of header: %v, want it failed for its size", err)
	}

	// A server of its own, to see the one connection close.
	srv2 := httptest.NewUnstartedServer(srv.Config.Handler)
	var once sync.Once
	gone := make(chan struct{})
	srv2.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateClosed {
			once.Do(func() { close(gone) })
		}
	}
	srv2.Start()
	defer srv2.Close()
	client := mdnClient(100 * time.Millisecond)
	if err := postMDN(t.Context(), client, msgbox.SentMDN{Data: data, URL: srv2.URL + "/ok"}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-gone:
	case <-time.After(10 * time.Second):
		t.Error("the idle connection to the MDN address is still open 10 s after a 100 ms idle timeout")
	}
}
