package runner_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/bizpipe/bizpipe/internal/as2"
	"github.com/bizpipe/bizpipe/internal/as2/as2test"
	"github.com/bizpipe/bizpipe/internal/metrics"
	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/runner"
	"github.com/bizpipe/bizpipe/internal/stage/smime"
)

// as2Common is as2Parties with a pipeline that clear-signs and encrypts
// with AES-256-CBC, as AS2 partners expect.
const as2Common = as2Parties + `pipeline "sign_encrypt" {
  encoder "smime" {
    signature            = "clear"
    encrypt              = true
    encryption_algorithm = "aes256-cbc"
  }
}
receive_location "in" {
  host         = host.h
  content_type = "application/edi-x12"
  transport "file" { path = "in" }
}
`

// libas2Receiver starts libas2 as partner FABRIKAM receiving from us
// (CONTOSO), with p's partner key and our signing certificate, and cfg's
// other settings.
func libas2Receiver(t *testing.T, p *pki, cfg as2test.Config) *as2test.Partner {
	t.Helper()
	files := t.TempDir()
	cfg.Mode, cfg.ID = "receive", "FABRIKAM"
	cfg.Cert, cfg.Key = as2test.PEMFiles(t, files, "fabrikam", p.partner.CertPEM(), p.partner.KeyPEM())
	cfg.PartnerCert, _ = as2test.PEMFiles(t, files, "contoso", p.signer.CertPEM(), nil)
	return as2test.Start(t, cfg)
}

// TestAS2SendToLibas2: a message signed and encrypted by the pipeline is
// sent by transport "as2" to the independent libas2 partner, which
// decrypts it, verifies our signature and answers a synchronous MDN,
// signed or not as asked: the delivery is delivered, libas2 read the
// payload and the AS2 headers we meant, and the Received-Content-MIC libas2
// computed (with the digest of our signature) is the one our receipt check
// accepted.
func TestAS2SendToLibas2(t *testing.T) {
	p := newPKI(t)
	partner := libas2Receiver(t, p, as2test.Config{})
	for _, tc := range []struct {
		name      string
		algorithm string // encryption_algorithm
		digest    string // the signature's, which libas2 uses for the MIC
		signedMDN bool
	}{
		{"aes256-cbc signed MDN", "aes256-cbc", "sha256", true},
		{"des3 sha384 signed MDN", "des3", "sha384", true},
		{"aes256-cbc unsigned MDN", "aes256-cbc", "sha256", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := setup(t, p, as2Common+`
pipeline "p" {
  encoder "smime" {
    signature            = "clear"
    digest               = "{{.Digest}}"
    encrypt              = true
    encryption_algorithm = "{{.Algorithm}}"
  }
}
send_port "fabrikam" {
  host                   = host.h
  pipeline               = pipeline.p
  encryption_certificate = "{{.Partner}}"
  filter                 = true
  transport "as2" {
    url        = "{{.URL}}"
    partner    = party.fabrikam
    subject    = "Order ${message.file_name}"
    signed_mdn = {{.SignedMDN}}
  }
}
`, map[string]string{"URL": partner.URL(), "Digest": tc.digest, "Algorithm": tc.algorithm, "SignedMDN": strconv.FormatBool(tc.signedMDN)})
			payload := []byte("ISA*00*          *00*          *ZZ*CONTOSO~\r\nGS*PO*CONTOSO*FABRIKAM~\r\n")
			put(t, dir, "order.edi", payload)
			var log logBuffer
			r, box := startWith(t, dir, func(o *runner.Options) {
				o.Log = slog.New(slog.NewTextHandler(&log, nil))
			})
			sum, err := r.RunOnce(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if sum.Delivered != 1 || sum.Suspended != 0 || sum.Retried != 0 {
				msgs, _ := msgbox.Collect(context.Background(), box, msgbox.Filter{})
				for _, m := range msgs {
					if d, err := box.Get(context.Background(), m.ID); err == nil {
						for _, dl := range d.Deliveries {
							t.Logf("delivery: %s", dl.LastError)
						}
					}
				}
				t.Fatalf("summary %+v, want 1 delivered\npartner: %s", sum, partner.Stderr())
			}
			got := partner.Next(t, time.Minute)
			if got.Event != "received" {
				t.Fatalf("partner: %+v", got)
			}
			if got.From != "CONTOSO" || got.To != "FABRIKAM" || got.MDNMode != "sync" || got.SignedMDN != tc.signedMDN {
				t.Errorf("partner read AS2-From %q, AS2-To %q, mdn %q, signed %v", got.From, got.To, got.MDNMode, got.SignedMDN)
			}
			if !bytes.Equal(got.Content, payload) {
				t.Errorf("partner read %q, we sent %q", got.Content, payload)
			}
			if got.Disposition == nil || !got.Disposition.Processed {
				t.Errorf("partner's disposition %+v, want processed", got.Disposition)
			}
			// libas2 reports its MIC as base64 with the algorithm apart;
			// our receipt summary names the MIC that matched ours.
			mic := got.MIC
			if _, err := base64.StdEncoding.DecodeString(mic); err != nil || mic == "" {
				t.Fatalf("partner's MIC %q", mic)
			}
			alg, err := as2.ParseAlg(got.MICAlgorithm)
			if err != nil {
				t.Fatalf("partner's MIC algorithm %q: %v", got.MICAlgorithm, err)
			}
			if want, _ := as2.ParseAlg(tc.digest); alg != want {
				t.Errorf("libas2's MIC algorithm %s, want the signature's %s", alg, want)
			}
			want := "Received-Content-MIC " + mic + ", " + alg.String()
			if tc.signedMDN {
				want += "; signed"
			}
			if !strings.Contains(log.String(), want) {
				t.Errorf("log does not hold the receipt %q:\n%s", want, log.String())
			}
			msgs, err := msgbox.Collect(context.Background(), box, msgbox.Filter{Status: msgbox.StatusDelivered})
			if err != nil || len(msgs) != 1 {
				t.Fatalf("delivered messages: %d, %v", len(msgs), err)
			}
			// The box keeps the MDN libas2 answered with the delivery.
			d, err := box.Get(context.Background(), msgs[0].ID)
			if err != nil {
				t.Fatal(err)
			}
			rc := d.Deliveries[0].Receipt
			if rc == nil {
				t.Fatal("the delivery has no receipt in the box")
			}
			if !strings.Contains(rc.Summary, "processed") || !strings.Contains(rc.Summary, want) {
				t.Errorf("stored receipt summary %q, want processed and %q", rc.Summary, want)
			}
			if head, _, ok := bytes.Cut(rc.Data, []byte("\r\n\r\n")); !ok || !bytes.Contains(head, []byte("Content-Type: "+rc.ContentType)) {
				t.Errorf("stored receipt is not a MIME entity of type %q: %q", rc.ContentType, rc.Data)
			}
		})
	}
}

// fakeAS2 is a partner on 127.0.0.1 that answers every AS2 POST with an MDN
// built by mdn from the request's Message-ID, and counts the requests
// per path.
type fakeAS2 struct {
	url  string
	mu   sync.Mutex
	hits map[string]int
	sent map[string]*as2.Built  // the last MDN answered per path
	head map[string]http.Header // the last request's header fields per path
	// status is the HTTP status the MDN is answered with per path (200
	// when absent).
	status map[string]int
}

func startFakeAS2(t *testing.T, mdn func(path, messageID string, body []byte) (*as2.Built, error)) *fakeAS2 {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeAS2{url: "http://" + ln.Addr().String(), hits: map[string]int{}, sent: map[string]*as2.Built{},
		head: map[string]http.Header{}, status: map[string]int{}}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.hits[r.URL.Path]++
		f.head[r.URL.Path] = r.Header.Clone()
		f.mu.Unlock()
		if r.URL.Path == "/forbidden" {
			// What an AS2 server answers an AS2-From it does not know.
			http.Error(w, "unknown AS2-From or AS2-To", http.StatusForbidden)
			return
		}
		if r.ContentLength < 0 {
			http.Error(w, "no Content-Length", http.StatusLengthRequired)
			return
		}
		b, err := mdn(r.URL.Path, r.Header.Get("Message-Id"), body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		f.mu.Lock()
		f.sent[r.URL.Path] = b
		status := f.status[r.URL.Path]
		f.mu.Unlock()
		for k, vs := range b.Header {
			w.Header()[k] = vs
		}
		if status != 0 {
			w.WriteHeader(status)
		}
		_, _ = w.Write(b.Body)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return f
}

// answerWith has the partner answer the MDNs for path with HTTP status
// code.
func (f *fakeAS2) answerWith(path string, code int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status[path] = code
}

func (f *fakeAS2) lastMDN(path string) *as2.Built {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sent[path]
}

func (f *fakeAS2) header(path string) http.Header {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.head[path]
}

func (f *fakeAS2) count(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits[path]
}

// TestAS2Receipts: a receipt that proves nothing fails the attempt,
// which is retried and then suspended with the reason (an unsigned MDN
// when a signed one was asked for, a Received-Content-MIC that is not the
// one of what was sent, an MDN entity, header fields included, larger than
// as2.MaxMDNSize); a negative MDN (processed/error) suspends the delivery
// at once, naming its disposition. An answer other than 2xx is retried. A
// port without a pipeline digests the body itself, and a signed MDN with
// that MIC delivers, the box keeping it as received (an MDN that failed the
// delivery is kept too), as does one signed by
// anyone when no signed MDN was asked for; with mdn = "none", a
// 2xx answer delivers, and no receipt is kept.
func TestAS2Receipts(t *testing.T) {
	p := newPKI(t)
	partnerSigner := &smime.Signer{Cert: p.partner.Cert, Key: p.partner.Key}
	fake := startFakeAS2(t, func(path, id string, body []byte) (*as2.Built, error) {
		wrong := as2.ComputeMIC(as2.SHA256, []byte("not what was sent"))
		m := &as2.MDN{OriginalMessageID: id, FinalRecipient: "FABRIKAM", Disposition: as2.Processed(), MIC: &wrong}
		o := as2.BuildOptions{Signer: partnerSigner, Digest: as2.SHA256, From: "FABRIKAM", To: "CONTOSO"}
		switch path {
		case "/unsigned":
			o.Signer = nil
		case "/error":
			m.Disposition, m.MIC = as2.ProcessedError("decryption-failed"), nil
		case "/wrongmic":
		case "/plain", "/templated":
			right := as2.ComputeMIC(as2.SHA384, body)
			m.MIC = &right
		case "/unasked":
			// Signed although no signed MDN was asked for, and not by
			// the partner: read, not checked.
			right := as2.ComputeMIC(as2.SHA384, body)
			m.MIC = &right
			o.Signer = &smime.Signer{Cert: p.signer.Cert, Key: p.signer.Key}
		case "/none":
			return &as2.Built{Header: http.Header{}}, nil
		case "/garbage":
			h := http.Header{"Content-Type": {"multipart/report; report-type=disposition-notification; boundary=b"}}
			return &as2.Built{Header: h, Body: []byte("--b\r\nnot an MDN\x00\xff\r\n--b--\r\n")}, nil
		case "/big":
			// Within as2.MaxMDNSize, but not with its header fields:
			// more than the box would keep.
			h := http.Header{"Content-Type": {"multipart/report; report-type=disposition-notification; boundary=b"}}
			return &as2.Built{Header: h, Body: bytes.Repeat([]byte("x"), as2.MaxMDNSize-10)}, nil
		default:
			return nil, errors.New("unknown path")
		}
		return as2.BuildMDN(m, o)
	})
	var cfg strings.Builder
	cfg.WriteString(as2Common)
	for _, c := range []string{"unsigned", "wrongmic", "error", "down", "big", "garbage", "forbidden"} {
		cfg.WriteString(syncOncePort(c, `
  pipeline               = pipeline.sign_encrypt
  encryption_certificate = "{{.Partner}}"`))
	}
	cfg.WriteString(`
send_port "plain" {
  host   = host.h
  filter = message.file_name == "plain.edi"
  transport "as2" {
    url        = "{{.URL}}/plain"
    partner    = party.fabrikam
    mdn_digest = "sha384"
  }
}
send_port "templated" {
  host   = host.h
  filter = message.file_name == "templated.edi"
  transport "as2" {
    url        = "{{.URL}}/${message.receive_location == "in" ? "templated" : "elsewhere"}"
    headers    = { "X-Api-Key" = "key-${message.receive_location}" }
    partner    = party.fabrikam
    mdn_digest = "sha384"
  }
}
send_port "unasked" {
  host   = host.h
  filter = message.file_name == "unasked.edi"
  transport "as2" {
    url        = "{{.URL}}/unasked"
    partner    = party.fabrikam
    mdn_digest = "sha384"
    signed_mdn = false
  }
}
send_port "none" {
  host                   = host.h
  pipeline               = pipeline.sign_encrypt
  encryption_certificate = "{{.Partner}}"
  filter                 = message.file_name == "none.edi"
  transport "as2" {
    url     = "{{.URL}}/none"
    partner = party.fabrikam
    mdn     = "none"
  }
}
`)
	dir := setup(t, p, cfg.String(), map[string]string{"URL": fake.url})
	for _, c := range []string{"unsigned", "wrongmic", "error", "down", "big", "garbage", "forbidden", "plain", "templated", "unasked", "none"} {
		put(t, dir, c+".edi", []byte("ISA*00*~"+c))
	}
	m := metrics.New()
	r, box := startWith(t, dir, func(o *runner.Options) { o.Metrics = m })
	ctx := context.Background()
	runUntilSettled(t, r)
	delivered, err := msgbox.Collect(ctx, box, msgbox.Filter{Status: msgbox.StatusDelivered})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range delivered {
		names = append(names, m.FileName)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"none.edi", "plain.edi", "templated.edi", "unasked.edi"}) {
		t.Errorf("delivered %v, want none.edi, plain.edi, templated.edi and unasked.edi", names)
	}
	// url and headers are templates, as for transport "http".
	if h := fake.header("/templated"); h.Get("X-Api-Key") != "key-in" || h.Get("AS2-To") != "FABRIKAM" {
		t.Errorf("templated port sent X-Api-Key %q, AS2-To %q; want key-in, FABRIKAM", h.Get("X-Api-Key"), h.Get("AS2-To"))
	}
	for _, m := range delivered {
		d, err := box.Get(ctx, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		// The signature of an MDN not asked to be signed is not checked,
		// so its summary does not say signed.
		checkStoredMDN(t, m.FileName, d.Deliveries[0].Receipt, fake.lastMDN("/"+strings.TrimSuffix(m.FileName, ".edi")),
			m.FileName != "unasked.edi")
	}
	msgs, err := msgbox.Collect(ctx, box, msgbox.Filter{Status: msgbox.StatusSuspended})
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]string{}
	receipts := map[string]*msgbox.DeliveryReceipt{}
	for _, m := range msgs {
		d, err := box.Get(ctx, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, dl := range d.Deliveries {
			reasons[m.FileName] += dl.LastError
			receipts[m.FileName] = dl.Receipt
		}
	}
	// Receipts are counted by outcome: one per answer with an MDN (the
	// retried ones twice); none without an MDN.
	for _, c := range []struct {
		port, outcome string
		want          float64
	}{
		{"plain", metrics.ReceiptPositive, 1}, {"unasked", metrics.ReceiptPositive, 1},
		{"unsigned", metrics.ReceiptRejected, 2}, {"wrongmic", metrics.ReceiptRejected, 2},
		{"error", metrics.ReceiptNegative, 1}, {"error", metrics.ReceiptRejected, 0},
		{"none", metrics.ReceiptPositive, 0}, {"down", metrics.ReceiptRejected, 0}, {"big", metrics.ReceiptRejected, 0},
		{"garbage", metrics.ReceiptRejected, 2}, {"forbidden", metrics.ReceiptRejected, 0},
	} {
		var pb dto.Metric
		if err := m.Receipts.WithLabelValues(c.port, c.outcome).Write(&pb); err != nil {
			t.Fatal(err)
		}
		if got := pb.GetCounter().GetValue(); got != c.want {
			t.Errorf("bizpipe_receipts_total{send_port=%q,outcome=%q} = %v, want %v", c.port, c.outcome, got, c.want)
		}
	}
	// An MDN that did not prove delivery is kept with the failure: what
	// the partner answered, for the operator and for a dispute.
	for name, want := range map[string]string{"unsigned": "processed", "wrongmic": "processed", "error": "processed/error",
		"down": "", "big": "", "garbage": "unreadable MDN", "forbidden": ""} {
		rc := receipts[name+".edi"]
		switch {
		case want == "" && rc != nil:
			t.Errorf("%s: receipt %q kept, but the partner sent no usable MDN", name, rc.Summary)
		case want != "" && (rc == nil || !strings.Contains(rc.Summary, want) || len(rc.Data) == 0):
			t.Errorf("%s: receipt %+v, want the MDN kept, summarised as %q", name, rc, want)
		}
	}
	for _, tc := range []struct {
		name  string
		hits  int // 1 + the retry, or 1: suspended at once
		wants []string
	}{
		{"unsigned", 2, []string{`send port "unsigned"`, `party "fabrikam"`, "not signed"}},
		{"wrongmic", 2, []string{`send port "wrongmic"`, `party "fabrikam"`, "does not match"}},
		{"error", 1, []string{`send port "error"`, `party "fabrikam"`, "processed/error", "decryption-failed"}},
		{"down", 2, []string{`send port "down"`, "HTTP 500"}},
		{"big", 2, []string{`send port "big"`, "with its header fields exceeds"}},
		{"garbage", 2, []string{`send port "garbage"`, `party "fabrikam"`, "MDN part 1", "not a header field"}},
		{"forbidden", 2, []string{`send port "forbidden"`, "HTTP 403", "unknown AS2-From"}},
	} {
		if got := fake.count("/" + tc.name); got != tc.hits {
			t.Errorf("%s: partner saw %d attempts, want %d", tc.name, got, tc.hits)
		}
		reason, ok := reasons[tc.name+".edi"]
		if !ok {
			t.Errorf("%s: not suspended", tc.name)
			continue
		}
		for _, w := range tc.wants {
			if !strings.Contains(reason, w) {
				t.Errorf("%s: reason %q does not mention %q", tc.name, reason, w)
			}
		}
	}
}

// checkStoredMDN checks the receipt the box kept for the delivery of file
// against the MDN the partner sent: none with mdn = "none"; else the whole
// entity as received, the partner's header fields (net/http adds its own,
// such as Date) and its body byte for byte, with the disposition summarised
// (and "signed" when its signature was verified).
func checkStoredMDN(t *testing.T, file string, rc *msgbox.DeliveryReceipt, sent *as2.Built, verified bool) {
	t.Helper()
	if sent == nil || len(sent.Body) == 0 {
		if rc != nil {
			t.Errorf("%s: receipt %+v stored, but the partner sent no MDN", file, rc)
		}
		return
	}
	if rc == nil {
		t.Fatalf("%s: no receipt stored", file)
	}
	head, body, ok := bytes.Cut(rc.Data, []byte("\r\n\r\n"))
	head = append(head, "\r\n"...) // each field ends with CRLF
	if !ok || !bytes.Equal(body, sent.Body) {
		t.Errorf("%s: stored MDN body differs from the one sent:\n%q\nwant\n%q", file, body, sent.Body)
	}
	for k, vs := range sent.Header {
		for _, v := range vs {
			if !bytes.Contains(head, []byte(k+": "+v+"\r\n")) {
				t.Errorf("%s: stored MDN header lacks %s: %s:\n%s", file, k, v, head)
			}
		}
	}
	if want := sent.Header.Get("Content-Type"); rc.ContentType != want {
		t.Errorf("%s: stored content type %q, want %q", file, rc.ContentType, want)
	}
	if !strings.HasPrefix(rc.Summary, "automatic-action/MDN-sent-automatically; processed") || strings.HasSuffix(rc.Summary, "; signed") != verified {
		t.Errorf("%s: stored summary %q, want a processed disposition, signed: %v", file, rc.Summary, verified)
	}
}

// TestReceiptFitsTheBox: every MDN the as2 transport returns can be kept
// (the box refuses a receipt larger than msgbox.MaxReceiptSize).
func TestReceiptFitsTheBox(t *testing.T) {
	if as2.MaxMDNSize > msgbox.MaxReceiptSize {
		t.Errorf("as2.MaxMDNSize %d > msgbox.MaxReceiptSize %d", as2.MaxMDNSize, msgbox.MaxReceiptSize)
	}
}

// TestAS2MDNWithErrorStatus: some AS2 servers answer a synchronous MDN
// with a 4xx or 5xx status. Such an answer whose body is an MDN for the
// Message-ID sent is judged as the MDN (language §11): a negative one
// suspends the delivery at once, naming its disposition, and is kept; a
// positive one with the right MIC delivers, the odd status logged; one
// whose signature does not verify fails the attempt, as with a 2xx
// status, kept and retried, the error naming the status too. An MDN for
// another Message-ID proves nothing: the answer is what its status says
// (retried), and no receipt is kept.
func TestAS2MDNWithErrorStatus(t *testing.T) {
	p := newPKI(t)
	partnerSigner := &smime.Signer{Cert: p.partner.Cert, Key: p.partner.Key}
	otherSigner := &smime.Signer{Cert: p.signer.Cert, Key: p.signer.Key}
	fake := startFakeAS2(t, func(path, id string, body []byte) (*as2.Built, error) {
		right := as2.ComputeMIC(as2.SHA256, body)
		m := &as2.MDN{OriginalMessageID: id, FinalRecipient: "FABRIKAM", Disposition: as2.Processed(), MIC: &right}
		o := as2.BuildOptions{Signer: partnerSigner, Digest: as2.SHA256, From: "FABRIKAM", To: "CONTOSO"}
		switch path {
		case "/negative":
			m.Disposition, m.MIC = as2.ProcessedError("decryption-failed"), nil
		case "/positive":
		case "/another":
			m.OriginalMessageID = "<someone-else@example>"
			m.Disposition, m.MIC = as2.ProcessedError("decryption-failed"), nil
		case "/forged":
			m.Disposition, m.MIC = as2.ProcessedError("decryption-failed"), nil
			o.Signer = otherSigner
		default:
			return nil, errors.New("unknown path")
		}
		return as2.BuildMDN(m, o)
	})
	fake.answerWith("/negative", http.StatusInternalServerError)
	fake.answerWith("/positive", http.StatusBadRequest)
	fake.answerWith("/another", http.StatusInternalServerError)
	fake.answerWith("/forged", http.StatusInternalServerError)
	var cfg strings.Builder
	cfg.WriteString(as2Common)
	for _, c := range []string{"negative", "positive", "another", "forged"} {
		cfg.WriteString(syncOncePort(c, ""))
	}
	dir := setup(t, p, cfg.String(), map[string]string{"URL": fake.url})
	for _, c := range []string{"negative", "positive", "another", "forged"} {
		put(t, dir, c+".edi", []byte("ISA*00*~"+c))
	}
	log := &logBuffer{}
	r, box := startWith(t, dir, func(o *runner.Options) { o.Log = slog.New(slog.NewTextHandler(log, nil)) })
	runUntilSettled(t, r)
	msgs, err := msgbox.Collect(context.Background(), box, msgbox.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]msgbox.Delivery{}
	for _, m := range msgs {
		d, err := box.Get(context.Background(), m.ID)
		if err != nil {
			t.Fatal(err)
		}
		got[strings.TrimSuffix(m.FileName, ".edi")] = d.Deliveries[0]
	}
	for _, tc := range []struct {
		name    string
		state   msgbox.DeliveryState
		hits    int
		reason  []string // what LastError says
		receipt string   // the summary of the receipt kept; "" for none
	}{
		{"negative", msgbox.DeliverySuspended, 1, []string{"processed/error", "decryption-failed"}, "processed/error"},
		{"positive", msgbox.DeliveryDelivered, 1, nil, "processed; Received-Content-MIC"},
		{"another", msgbox.DeliverySuspended, 2, []string{"HTTP 500"}, ""},
		{"forged", msgbox.DeliverySuspended, 2, []string{"HTTP 500", "signature"}, "unreadable MDN"},
	} {
		d, ok := got[tc.name]
		if !ok {
			t.Errorf("%s: no message", tc.name)
			continue
		}
		if d.State != tc.state {
			t.Errorf("%s: %s (%s), want %s", tc.name, d.State, d.LastError, tc.state)
		}
		if n := fake.count("/" + tc.name); n != tc.hits {
			t.Errorf("%s: partner saw %d attempts, want %d", tc.name, n, tc.hits)
		}
		for _, w := range tc.reason {
			if !strings.Contains(d.LastError, w) {
				t.Errorf("%s: reason %q does not mention %q", tc.name, d.LastError, w)
			}
		}
		switch {
		case tc.receipt == "" && d.Receipt != nil:
			t.Errorf("%s: receipt %q kept, but no MDN of ours came", tc.name, d.Receipt.Summary)
		case tc.receipt != "" && (d.Receipt == nil || !strings.Contains(d.Receipt.Summary, tc.receipt) ||
			!bytes.Contains(d.Receipt.Data, fake.lastMDN("/"+tc.name).Body)):
			t.Errorf("%s: receipt %+v, want the MDN kept, summarised as %q", tc.name, d.Receipt, tc.receipt)
		}
	}
	// Logged as every line about a message is: naming it and its port.
	var positiveID string
	for _, m := range msgs {
		if m.FileName == "positive.edi" {
			positiveID = m.ID
		}
	}
	var odd string
	for line := range strings.Lines(log.String()) {
		if strings.Contains(line, "HTTP 400") {
			odd = line
		}
	}
	switch {
	case odd == "":
		t.Errorf("the positive MDN's odd status is not logged:\n%s", log)
	case !strings.Contains(odd, "message_id="+positiveID) || !strings.Contains(odd, "send_port=positive"):
		t.Errorf("the line of the positive MDN's odd status does not name message %s and send port positive:\n%s", positiveID, odd)
	}
}

// syncOncePort is an as2 send port named name, with the attributes extra
// (a pipeline, an encryption certificate), taking the messages whose file
// name is name.edi, that posts to {{.URL}}/name, asks for a synchronous
// MDN and makes one attempt.
func syncOncePort(name, extra string) string {
	return `
send_port "` + name + `" {
  host   = host.h` + extra + `
  filter = message.file_name == "` + name + `.edi"
  transport "as2" {
    url     = "{{.URL}}/` + name + `"
    partner = party.fabrikam
  }
  retry {
    attempts = 1
    interval = "1ms"
  }
}
`
}
