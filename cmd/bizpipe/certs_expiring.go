package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/bizpipe/bizpipe/internal/certuse"
	"github.com/bizpipe/bizpipe/internal/config/model"
	"github.com/bizpipe/bizpipe/internal/metrics"
	"github.com/bizpipe/bizpipe/internal/pki/certstore"
	"github.com/bizpipe/bizpipe/internal/validate/rules"
)

// expiringDocument is what certs --expiring-within --format json prints.
// The doc tags describe the fields in the reference (docs/cli.md). It holds
// nothing that depends on the clock, so the same stores give the same
// document all day.
type expiringDocument struct {
	ExpiringWithin string           `json:"expiring_within" doc:"The --expiring-within value, as a Go duration."`
	Certificates   []expiringCert   `json:"certificates" doc:"The certificates in use that expire within it (or have expired), by use, soonest first; [] when none."`
	NotFound       []notFoundNeeded `json:"not_found" doc:"Certificates the configuration uses that were not found where they are needed, so their expiry cannot be checked (bizpipe validate says why); [] when none."`
	Problems       []string         `json:"problems" doc:"Stores, or files of them, that could not be read, decrypted or parsed, with the reason: a certificate in one of them cannot be checked; [] when none."`
}

type expiringCert struct {
	Use      string   `json:"use" doc:"signing, signing_rollover, encryption, decryption or party."`
	SHA1     string   `json:"sha1" doc:"The SHA-1 thumbprint, upper-case hex; (sensitive value) when the configuration's thumbprint is sensitive."`
	SHA256   string   `json:"sha256" doc:"The SHA-256 thumbprint, upper-case hex; (sensitive value) likewise."`
	Subject  string   `json:"subject" doc:"The subject's distinguished name."`
	NotAfter string   `json:"not_after" doc:"End of validity, RFC 3339 in UTC."`
	Files    []string `json:"files" doc:"The store files that hold it, one per store it is needed from."`
	NeededBy []string `json:"needed_by" doc:"Every place it is needed: send port or receive location, instance, and store."`
}

type notFoundNeeded struct {
	Use        string   `json:"use" doc:"What it would be used for."`
	Thumbprint string   `json:"thumbprint" doc:"The thumbprint as the configuration gives it, upper-case hex; (sensitive value) when sensitive; (no value) when it has none (a variable without a value), (malformed) when it is not a thumbprint."`
	NeededBy   []string `json:"needed_by" doc:"Every place it is needed but missing."`
}

// expiring builds the document: the certificates of certs whose notAfter
// is at or before now+within, and those not found.
func expiring(certs []certuse.Certificate, now time.Time, within time.Duration, red *redactor) expiringDocument {
	doc := expiringDocument{ExpiringWithin: within.String(), Certificates: []expiringCert{}, NotFound: []notFoundNeeded{}, Problems: []string{}}
	deadline := now.Add(within)
	for _, c := range certs {
		var needed []string
		for _, n := range c.Needs {
			needed = append(needed, red.String(n.Where()))
		}
		if c.Cert == nil {
			tp := strings.ToUpper(c.Thumbprint.Hex)
			switch {
			case c.Unresolved != "":
				// Which certificate is unknown: its expiry cannot be
				// checked any more than a missing one's.
				tp = "(" + string(c.Unresolved) + ")"
			case c.Sensitive:
				tp = redacted
			}
			doc.NotFound = append(doc.NotFound, notFoundNeeded{Use: string(c.Use), Thumbprint: tp, NeededBy: needed})
			continue
		}
		x := c.Cert.Cert
		if x.NotAfter.After(deadline) {
			continue
		}
		sha1, sha256 := strings.ToUpper(c.Cert.SHA1), strings.ToUpper(c.Cert.SHA256)
		if c.Sensitive {
			sha1, sha256 = redacted, redacted
		}
		doc.Certificates = append(doc.Certificates, expiringCert{
			Use:      string(c.Use),
			SHA1:     sha1,
			SHA256:   sha256,
			Subject:  red.String(x.Subject.String()),
			NotAfter: x.NotAfter.UTC().Format(time.RFC3339),
			Files:    neededFiles(c.Needs, red),
			NeededBy: needed,
		})
	}
	return doc
}

// neededFiles names the file that holds the certificate in each store it
// is needed from, as validate names store files.
func neededFiles(needs []certuse.Need, red *redactor) []string {
	seen := map[*model.CertificateStore]bool{}
	var files []string
	for _, n := range needs {
		if n.Store == nil || n.Cert == nil || seen[n.Store] {
			continue
		}
		seen[n.Store] = true
		files = append(files, red.String(storeFile(n.Store, n.Cert.File)))
	}
	return files
}

// writeExpiringText prints doc for a person:
//
//	signing  4E077EB5555B50DCBCBF3D7261281954D2A1999D  expires 2027-01-02T03:28:39Z, in 28 days
//	  subject    CN=Contoso Signing (DEMO ONLY),O=bizpipe demo
//	  file       quickstart/stores/svc_send/contoso-signing.p12
//	  needed by  send port "fabrikam" on the instance of host ...
//
//	1 certificate in use expires within 30 days.
func writeExpiringText(w io.Writer, doc expiringDocument, now time.Time) {
	for _, c := range doc.Certificates {
		notAfter, _ := time.Parse(time.RFC3339, c.NotAfter)
		fmt.Fprintf(w, "%s  %s  expires %s, %s\n", c.Use, c.SHA1, c.NotAfter, daysLeft(notAfter.Sub(now)))
		fmt.Fprintf(w, "  subject    %s\n", safe(c.Subject))
		for _, f := range c.Files {
			fmt.Fprintf(w, "  file       %s\n", safe(f))
		}
		for _, n := range c.NeededBy {
			fmt.Fprintf(w, "  needed by  %s\n", safe(n))
		}
		fmt.Fprintln(w)
	}
	for _, c := range doc.NotFound {
		fmt.Fprintf(w, "%s  %s  not found where needed: its expiry cannot be checked (bizpipe validate says why)\n", c.Use, c.Thumbprint)
		for _, n := range c.NeededBy {
			fmt.Fprintf(w, "  needed by  %s\n", safe(n))
		}
		fmt.Fprintln(w)
	}
	for _, p := range doc.Problems {
		fmt.Fprintf(w, "problem: %s\n", safe(p))
	}
	if len(doc.Problems) > 0 {
		fmt.Fprintln(w)
	}
	within := withinText(doc.ExpiringWithin)
	switch n := len(doc.Certificates); {
	case n == 0:
		fmt.Fprintf(w, "No certificate in use expires within %s", within)
	case n == 1:
		fmt.Fprintf(w, "1 certificate in use expires within %s", within)
	default:
		fmt.Fprintf(w, "%d certificates in use expire within %s", n, within)
	}
	if n := len(doc.NotFound); n > 0 {
		fmt.Fprintf(w, "; %d not found where needed", n)
	}
	if n := len(doc.Problems); n > 0 {
		what := "stores or files"
		if n == 1 {
			what = "store or file"
		}
		fmt.Fprintf(w, "; %d %s could not be read", n, what)
	}
	fmt.Fprintln(w, ".")
}

// withinText is an expiring_within value for a person: whole days as
// days ("30 days" rather than "720h0m0s"), and any other in the form the
// flag reads, without Go's zero units ("1d12h", "12h", "1h30m" rather
// than "36h0m0s").
func withinText(goDuration string) string {
	const day = 24 * time.Hour
	d, err := time.ParseDuration(goDuration)
	if err != nil || d <= 0 {
		return goDuration
	}
	if d%day == 0 {
		return plural(int64(d/day), "day")
	}
	var days string
	if d > day {
		days = strconv.FormatInt(int64(d/day), 10) + "d"
		d %= day
	}
	rest := d.String()
	if strings.HasSuffix(rest, "m0s") {
		rest = strings.TrimSuffix(rest, "0s")
	}
	if strings.HasSuffix(rest, "h0m") {
		rest = strings.TrimSuffix(rest, "0m")
	}
	return days + rest
}

// daysLeft says how long until d has passed, in whole days.
func daysLeft(d time.Duration) string {
	day := 24 * time.Hour
	switch {
	case d < 0:
		n := int64(-d / day)
		if n == 0 {
			return "expired today"
		}
		return fmt.Sprintf("expired %s ago", plural(n, "day"))
	case d < day:
		return "today"
	}
	return "in " + plural(int64(d/day), "day")
}

func plural(n int64, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// certificateExpiry returns the series of the expiry gauge at a time:
// the certificates the instances run runs (those on server, of host when
// set) use then, one per certificate and use, with the subject and
// thumbprint redacted as every output is. The time matters from a
// signing_rollover's at on, when the old signing certificate is no
// longer in use. A certificate not found is not served: run does not
// start without the ones it needs, and validate reports the rest.
func certificateExpiry(cfg *model.Config, checked *rules.Result, server, host string) func(now time.Time) []metrics.CertificateExpiry {
	red := newRedactor(cfg)
	runs := func(in *model.Instance) bool {
		return in.Server.Name == server && (host == "" || in.Host.Name == host)
	}
	return func(now time.Time) []metrics.CertificateExpiry {
		var out []metrics.CertificateExpiry
		for _, c := range certuse.Group(certuse.List(cfg, certuse.Options{Stores: checked.Stores, Instance: runs, Now: now})) {
			if c.Cert == nil {
				continue
			}
			tp := strings.ToUpper(c.Cert.SHA1)
			if c.Sensitive {
				tp = redacted
			}
			out = append(out, metrics.CertificateExpiry{
				Thumbprint: tp,
				Use:        string(c.Use),
				Subject:    red.String(c.Cert.Cert.Subject.String()),
				NotAfter:   c.Cert.Cert.NotAfter,
			})
		}
		return out
	}
}

// runExpiring is certs --expiring-within: exit 1 when a certificate in use
// expires within the duration, or cannot be checked because it was not
// found where it is needed, or a store or a file of one could not be read
// (problems, loadStores'): a certificate in use may be in it, and plain
// certs exits 1 for the same store.
func runExpiring(e *env, cfg *model.Config, stores map[*model.CertificateStore]*certstore.Store, problems []string, format string, within time.Duration, now time.Time) error {
	red := newRedactor(cfg)
	doc := expiring(certuse.Group(certuse.List(cfg, certuse.Options{Stores: stores, Now: now})), now, within, red)
	doc.Problems = append(doc.Problems, problems...)
	if format == "json" {
		enc := json.NewEncoder(e.stdout)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(doc); err != nil {
			return &exitError{code: exitUsage, err: err}
		}
	} else {
		writeExpiringText(e.stdout, doc, now)
	}
	if len(doc.Certificates) > 0 || len(doc.NotFound) > 0 || len(doc.Problems) > 0 {
		return &exitError{code: exitFindings}
	}
	return nil
}
