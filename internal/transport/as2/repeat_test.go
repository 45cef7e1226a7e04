package as2

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/as2"
	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/value"
	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/testhttp"
	"github.com/bizpipe/bizpipe/internal/testpki"
	"github.com/bizpipe/bizpipe/internal/transport/transporttest"
)

// judgingSink stands for the runner's decoding sink over a real box: a
// body containing "JUNK" is refused (as an unencrypted message is by a
// pipeline that requires encryption), any other is decoded, its MIC the
// requested hash of the whole entity; either way it is stored as the
// runner stores it, the Incoming as the transport made it, with the MDN
// the request makes (DecodeRequest.ForBox).
type judgingSink struct{ box msgbox.Box }

func (s judgingSink) Publish(ctx context.Context, in msgbox.Incoming, body io.Reader) (msgbox.Message, bool, error) {
	p, err := s.PublishOutcome(ctx, in, body, component.DecodeRequest{})
	return p.Message, p.Dup, err
}

func (s judgingSink) PublishOutcome(ctx context.Context, in msgbox.Incoming, body io.Reader, req component.DecodeRequest) (component.Published, error) {
	b, err := io.ReadAll(io.MultiReader(strings.NewReader(req.Head), body))
	if err != nil {
		return component.Published{}, err
	}
	var p component.Published
	if bytes.Contains(b, []byte("JUNK")) {
		in.Decoding = msgbox.DecodingFailed
		p.Refused = component.Refusal(component.ErrInsufficientSecurity, errors.New("not encrypted"))
	} else {
		h := req.MICHash.New()
		h.Write(b)
		in.Decoding, in.Party = msgbox.Decoded, req.Party
		p.Decoded, p.Party, p.MIC = true, req.Party, h.Sum(nil)
	}
	p.Message, p.Dup, err = s.box.ReceiveRouted(ctx, req.ForBox(in, p), bytes.NewReader(b), nil)
	return p, err
}

// repeatRig is an as2 receive location over a real box, its pipeline
// judgingSink, and a partner posting to it under one Message-ID.
type repeatRig struct {
	box    mdnBox
	signer *testpki.Cert
	url    string
	rc     *receiver
}

const repeatID = "<future-42@contoso>"

func newRepeatRig(t *testing.T) *repeatRig { return newRepeatRigWith(t, nil) }

// newRepeatRigWith is newRepeatRig with the sink wrapped by wrap (when not
// nil).
func newRepeatRigWith(t *testing.T, wrap func(component.OutcomeSink) component.OutcomeSink) *repeatRig {
	box := transporttest.NewBox(t)
	return newRepeatRigOn(t, rigOptions{box: box, mdns: box, wrap: wrap})
}

// mdnBox is a box that keeps MDNs, as both boxes do.
type mdnBox interface {
	msgbox.Box
	msgbox.MDNOutbox
}

// rigOptions are what a repeatRig is made of.
type rigOptions struct {
	box  mdnBox
	mdns msgbox.MDNOutbox // the location's: box, or one standing for it
	wrap func(component.OutcomeSink) component.OutcomeSink
	// keys sign the MDNs; the zero value: the rig's signer's.
	keys component.Keys
	// receipts, log and tune (applied before the location starts), when
	// set, are the location's.
	receipts component.ReceiptSink
	log      *slog.Logger
	tune     func(*receiver)
	// config, when set, changes the location's configuration.
	config func(*ReceiveConfig)
}

// newRepeatRigOn is the rig of an as2 receive location over o.box.
func newRepeatRigOn(t *testing.T, o rigOptions) *repeatRig {
	signer := testpki.NewCA(t, "Test CA").Issue(t, testpki.Options{CommonName: "Fabrikam Signing"})
	cfg := &ReceiveConfig{Listen: value.Value[string]{V: "127.0.0.1:0"}, Path: value.Value[string]{V: "/as2"}}
	if o.config != nil {
		o.config(cfg)
	}
	var sink component.OutcomeSink = judgingSink{o.box}
	if o.wrap != nil {
		sink = o.wrap(sink)
	}
	keys := o.keys
	if keys.Signer == nil {
		keys.Signer = &component.Identity{Cert: signer.Cert, Key: signer.Key}
	}
	rc := startReceiverWith(t, cfg, &component.ReceiveEnv{
		Location: "in", ContentType: "application/octet-stream", Sink: sink,
		AS2ID: "FABRIKAM", PartyAS2IDs: map[string]string{"contoso": "CONTOSO"}, MDNs: o.mdns, Keys: keys,
		Receipts: o.receipts, Log: o.log,
	}, o.tune)
	return &repeatRig{box: o.box, signer: signer, url: "http://" + rc.serving.Addr().String() + "/as2", rc: rc}
}

// post returns the answer's status and, for a 200, the MDN entity; else
// the text. It asks for a signed synchronous MDN unless header says
// otherwise ("" removes a field). The MDN's body alone identifies it: the
// HTTP header fields of the answer (Date) vary.
func (g *repeatRig) post(t *testing.T, body string, header map[string]string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, g.url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = requestHeader(header)
	resp, b := testhttp.Do(t, nil, req)
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, b
	}
	resp.Header.Del("Date")
	return resp.StatusCode, as2.JoinEntity(resp.Header, b)
}

// requestHeader is the header of the rig's requests: a message under
// repeatID asking for a signed synchronous MDN, unless header says
// otherwise ("" removes a field).
func requestHeader(header map[string]string) http.Header {
	h := http.Header{}
	for k, v := range map[string]string{"Content-Type": "application/edi-x12", "AS2-Version": "1.2", "AS2-From": "CONTOSO",
		"AS2-To": "FABRIKAM", "Message-ID": repeatID, "Disposition-Notification-To": "as2@contoso.example",
		"Disposition-Notification-Options": "signed-receipt-protocol=optional, pkcs7-signature; signed-receipt-micalg=optional, sha256"} {
		h.Set(k, v)
	}
	for k, v := range header {
		if v == "" {
			h.Del(k)
		} else {
			h.Set(k, v)
		}
	}
	return h
}

// mdnOf parses entity, an MDN that must be signed and answer repeatID.
func (g *repeatRig) mdnOf(t *testing.T, entity []byte) *as2.ReceivedMDN {
	t.Helper()
	m, err := as2.ParseMDN(entity, as2.VerifyOptions{Trusted: []*x509.Certificate{g.signer.Cert}})
	if err != nil {
		t.Fatalf("%v\n%s", err, entity)
	}
	if !m.Signed || m.OriginalMessageID != repeatID {
		t.Errorf("MDN signed %v, for %q; want signed, for %s", m.Signed, m.OriginalMessageID, repeatID)
	}
	return m
}

// stored is every message in the box.
func (g *repeatRig) stored(t *testing.T) []msgbox.Message {
	t.Helper()
	msgs, err := msgbox.Collect(t.Context(), g.box, msgbox.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

// noReceipt are the header fields of a message asking for no MDN.
var noReceipt = map[string]string{"Disposition-Notification-To": "", "Disposition-Notification-Options": ""}

// entityOf is the MIME entity the receiver stores for body.
func entityOf(body string) []byte { return []byte("Content-Type: application/edi-x12\r\n\r\n" + body) }

// TestReceiveRepeatAuthenticated: the Message-ID is held by the message
// the pipeline accepted, not by one it refused. Junk sent first under a
// partner's Message-ID is stored and refused, and the partner's message
// under that Message-ID is then stored and answered processed; the same
// content again is answered with its MDN, byte for byte, and not stored; a
// different content under that Message-ID is neither stored nor answered
// with the first one's MDN (whose MIC it does not match) but refused,
// naming the Message-ID, by MDN or, asking for none or an asynchronous
// one, by 409, while the first one's kept MDN stays as it was; junk after
// it is stored on its own.
func TestReceiveRepeatAuthenticated(t *testing.T) {
	g := newRepeatRig(t)
	box, post, mdnOf, stored := g.box, g.post, g.mdnOf, g.stored
	const id = repeatID

	_, junk := post(t, "JUNK", nil)
	if m := mdnOf(t, junk); m.Disposition.Description != "insufficient-message-security" {
		t.Fatalf("junk answered %q, want processed/error: insufficient-message-security", m.Disposition)
	}
	const order = "UNB+UNOC:3+CONTOSO+FABRIKAM'order 1'"
	_, first := post(t, order, nil)
	m := mdnOf(t, first)
	if !m.Disposition.Positive() || m.MIC == nil || !m.MIC.Equal(as2.ComputeMIC(as2.SHA256, entityOf(order))) {
		t.Fatalf("the partner's message after junk answered %q, MIC %v; want processed with its own MIC", m.Disposition, m.MIC)
	}
	msgs := stored(t)
	if len(msgs) != 2 {
		t.Fatalf("%d messages stored, want the junk and the partner's", len(msgs))
	}
	var real msgbox.Message
	for _, x := range msgs {
		if x.Decoding == msgbox.Decoded {
			real = x
		}
	}
	if real.ID == "" || real.Party != "contoso" {
		t.Fatalf("stored %+v; want the partner's message decoded, party contoso", msgs)
	}

	_, again := post(t, order, nil)
	if !bytes.Equal(again, first) {
		t.Errorf("the same content again answered with another MDN:\n%s", again)
	}
	if n := len(stored(t)); n != 2 {
		t.Errorf("%d messages stored after a repeat, want 2", n)
	}

	_, reused := post(t, "UNB+UNOC:3+CONTOSO+FABRIKAM'order 2'", nil)
	m = mdnOf(t, reused)
	if m.Disposition.String() != "automatic-action/MDN-sent-automatically; processed/error: unexpected-processing-error" ||
		m.MIC != nil || !strings.Contains(m.Text, id) {
		t.Errorf("another content under the same Message-ID answered %q, MIC %v, text %q; want processed/error naming %s",
			m.Disposition, m.MIC, m.Text, id)
	}
	for _, h := range []map[string]string{
		{"Receipt-Delivery-Option": "http://127.0.0.1:9/mdn"},
		noReceipt,
	} {
		code, text := post(t, "UNB+UNOC:3+CONTOSO+FABRIKAM'order 3'", h)
		if code != http.StatusConflict || !strings.Contains(string(text), id) {
			t.Errorf("another content, headers %v: %d %q; want 409 naming %s", h, code, text, id)
		}
	}
	kept, err := box.SentMDN(t.Context(), real.ID)
	if err != nil || !bytes.Equal(splitOrFatal(t, kept.Data), splitOrFatal(t, first)) || kept.State != msgbox.MDNSent {
		t.Errorf("the first message's kept MDN after refusals: %s, %v; want the processed one, sent", kept.State, err)
	}
	if n := len(stored(t)); n != 2 {
		t.Errorf("%d messages stored after the refusals, want 2", n)
	}
	if got, err := box.Body(t.Context(), real.ID); err == nil {
		b, _ := io.ReadAll(got)
		got.Close()
		if !bytes.Equal(b, entityOf(order)) {
			t.Errorf("the stored body became %q", b)
		}
	} else {
		t.Fatal(err)
	}

	_, late := post(t, "JUNK later", nil)
	if m := mdnOf(t, late); m.Disposition.Positive() {
		t.Errorf("junk after the partner's message answered %q", m.Disposition)
	}
	if n := len(stored(t)); n != 3 {
		t.Errorf("%d messages stored after more junk, want 3", n)
	}
	if _, again := post(t, order, nil); !bytes.Equal(again, first) {
		t.Errorf("the partner's message after more junk answered with another MDN:\n%s", again)
	}
}

// splitOrFatal is the body of an MDN entity.
func splitOrFatal(t *testing.T, entity []byte) []byte {
	t.Helper()
	b, err := splitBuilt(entity)
	if err != nil {
		t.Fatal(err)
	}
	return b.Body
}

// TestReceiveRepeatAfterNoReceipt: a message whose sender asked for no MDN
// still holds its Message-ID against another content. The record kept for
// it (its MIC, in an MDN never sent) makes another content under that
// Message-ID refused, by 409 or a processed/error MDN, instead of
// silently taken for a repeat or acknowledged with the new content's MIC;
// a content under another MIC algorithm, which nothing compares, is
// refused too; the same content again is answered with an MDN built as
// that request asks, which is then the one kept and replayed.
func TestReceiveRepeatAfterNoReceipt(t *testing.T) {
	g := newRepeatRig(t)
	const order = "UNB+UNOC:3+CONTOSO+FABRIKAM'order 1'"
	if code, text := g.post(t, order, noReceipt); code != http.StatusOK {
		t.Fatalf("first message, no receipt asked: %d %q", code, text)
	}
	msgs := g.stored(t)
	if len(msgs) != 1 {
		t.Fatalf("%d messages stored, want 1", len(msgs))
	}
	rec, err := g.box.SentMDN(t.Context(), msgs[0].ID)
	if err != nil || rec.State != msgbox.MDNUnrequested {
		t.Fatalf("kept for a message asking no receipt: %+v, %v; want its record, unrequested", rec, err)
	}
	if m, err := as2.ParseMDN(rec.Data, as2.VerifyOptions{Unverified: true}); err != nil ||
		m.MIC == nil || !m.MIC.Equal(as2.ComputeMIC(as2.SHA256, entityOf(order))) {
		t.Fatalf("the record: %v, %v; want the content's SHA-256 MIC", m, err)
	}

	const other = "UNB+UNOC:3+CONTOSO+FABRIKAM'order 2'"
	if code, text := g.post(t, other, noReceipt); code != http.StatusConflict || !strings.Contains(string(text), repeatID) {
		t.Errorf("another content, no receipt asked: %d %q; want 409 naming %s", code, text, repeatID)
	}
	_, refused := g.post(t, other, nil)
	if m := g.mdnOf(t, refused); m.Disposition.Positive() || m.MIC != nil || !strings.Contains(m.Text, repeatID) {
		t.Errorf("another content, sync MDN asked: %q, MIC %v, text %q; want processed/error naming %s", m.Disposition, m.MIC, m.Text, repeatID)
	}

	// Under another MIC algorithm nothing compares the two: refused,
	// whether the content is the same or not, rather than acknowledged
	// with a MIC of content the box does not hold.
	sha384 := map[string]string{"Disposition-Notification-Options": "signed-receipt-protocol=optional, pkcs7-signature; signed-receipt-micalg=optional, sha-384"}
	for _, body := range []string{other, order} {
		_, refused := g.post(t, body, sha384)
		if m := g.mdnOf(t, refused); m.Disposition.Positive() || m.MIC != nil || !strings.Contains(m.Text, "cannot be shown to be the same content") {
			t.Errorf("%q under sha-384, sync MDN asked: %q, MIC %v, text %q; want processed/error, not comparable", body, m.Disposition, m.MIC, m.Text)
		}
	}
	async384 := map[string]string{"Receipt-Delivery-Option": "http://127.0.0.1:9/mdn", "Disposition-Notification-Options": sha384["Disposition-Notification-Options"]}
	if code, text := g.post(t, other, async384); code != http.StatusConflict || !strings.Contains(string(text), "cannot be shown") {
		t.Errorf("another content under sha-384, async MDN asked: %d %q; want 409, not comparable", code, text)
	}
	if rec, err := g.box.SentMDN(t.Context(), msgs[0].ID); err != nil || rec.State != msgbox.MDNUnrequested {
		t.Fatalf("the record after the refusals: %+v, %v; want it unchanged, unrequested", rec, err)
	}

	_, first := g.post(t, order, nil)
	if m := g.mdnOf(t, first); !m.Disposition.Positive() || m.MIC == nil || !m.MIC.Equal(as2.ComputeMIC(as2.SHA256, entityOf(order))) {
		t.Errorf("the same content, sync MDN asked: %q, MIC %v; want processed with its MIC", m.Disposition, m.MIC)
	}
	if n := len(g.stored(t)); n != 1 {
		t.Errorf("%d messages stored after the repeats, want 1", n)
	}
	kept, err := g.box.SentMDN(t.Context(), msgs[0].ID)
	if err != nil || kept.State != msgbox.MDNSent || !bytes.Equal(splitOrFatal(t, kept.Data), splitOrFatal(t, first)) {
		t.Errorf("kept after the answered repeat: %s, %v; want the MDN sent", kept.State, err)
	}
	if _, again := g.post(t, order, nil); !bytes.Equal(again, first) {
		t.Errorf("the same content once more answered with another MDN:\n%s", again)
	}
	// Asking for no MDN, under a MIC algorithm other than the sent MDN's
	// (no options: SHA-256; the kept MDN reports sha-384 below), nothing
	// would let the sender compare: refused, 409.
	g2 := newRepeatRig(t)
	_, sent := g2.post(t, order, sha384)
	if !g2.mdnOf(t, sent).Disposition.Positive() {
		t.Fatal("the first message under sha-384 was not processed")
	}
	if code, text := g2.post(t, other, noReceipt); code != http.StatusConflict || !strings.Contains(string(text), "cannot be shown") {
		t.Errorf("another content asking no MDN after a sha-384 one: %d %q; want 409, not comparable", code, text)
	}
	// Asking for a synchronous MDN under SHA-256 instead: the original MDN
	// (sha-384) answers, for the sender to compare with what it sent.
	if _, again := g2.post(t, other, nil); !bytes.Equal(splitOrFatal(t, again), splitOrFatal(t, sent)) {
		t.Errorf("a repeat asking an MDN under another algorithm was not answered with the original MDN:\n%s", again)
	}
}

// gatedSink holds the first message it stores, after the box committed
// it, until gate is closed (or a few seconds pass): the instant between a
// message's commit and the MDN kept for it, when that was kept after.
type gatedSink struct {
	component.OutcomeSink
	stored, gate chan struct{}
	taken        *atomic.Bool  // the first message was held
	max          time.Duration // how long at most; 0: 5 s
}

func (s gatedSink) PublishOutcome(ctx context.Context, in msgbox.Incoming, body io.Reader, req component.DecodeRequest) (component.Published, error) {
	p, err := s.OutcomeSink.PublishOutcome(ctx, in, body, req)
	if s.taken.CompareAndSwap(false, true) {
		close(s.stored)
		max := s.max
		if max == 0 {
			max = 5 * time.Second
		}
		select {
		case <-s.gate:
		case <-time.After(max):
		}
	}
	return p, err
}

// TestReceiveRepeatWhileRecording: a message under the same Message-ID
// that arrives while the first (which asked for no MDN) is stored but its
// request not yet answered is judged by the record stored with it:
// another content is refused, not acknowledged with its own MIC.
func TestReceiveRepeatWhileRecording(t *testing.T) {
	stored, gate := make(chan struct{}), make(chan struct{})
	g := newRepeatRigWith(t, func(s component.OutcomeSink) component.OutcomeSink {
		return gatedSink{OutcomeSink: s, stored: stored, gate: gate, taken: &atomic.Bool{}}
	})
	firstDone := make(chan int, 1)
	go func() {
		code, _ := g.post(t, "UNB+UNOC:3+CONTOSO+FABRIKAM'order 1'", noReceipt)
		firstDone <- code
	}()
	<-stored
	second := make(chan []byte, 1)
	go func() {
		_, mdn := g.post(t, "UNB+UNOC:3+CONTOSO+FABRIKAM'order 2'", nil)
		second <- mdn
	}()
	// The repeat is answered within this time, while the first is held.
	time.Sleep(300 * time.Millisecond)
	close(gate)
	if code := <-firstDone; code != http.StatusOK {
		t.Fatalf("the first message: %d", code)
	}
	if m := g.mdnOf(t, <-second); m.Disposition.Positive() || !strings.Contains(m.Text, repeatID) {
		t.Errorf("another content under the Message-ID while the first was being recorded: %q, MIC %v; want processed/error naming %s", m.Disposition, m.MIC, repeatID)
	}
}
