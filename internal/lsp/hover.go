package lsp

import (
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/bizpipe/bizpipe/internal/config/model"
	"github.com/bizpipe/bizpipe/internal/pki/certstore"
	"github.com/bizpipe/bizpipe/internal/pki/thumbprint"
	"github.com/bizpipe/bizpipe/internal/safetext"
)

// tokenAt returns the token of src that contains the byte offset off (or
// ends at it), from HCL's lexer, which reads broken text too.
func tokenAt(src []byte, off int, want hclsyntax.TokenType) (hclsyntax.Token, bool) {
	toks, _ := hclsyntax.LexConfig(src, "", hcl.InitialPos)
	for _, t := range toks {
		if t.Range.Start.Byte > off {
			break
		}
		if t.Type == want && off <= t.Range.End.Byte {
			return t, true
		}
	}
	return hclsyntax.Token{}, false
}

// hover shows the certificate of the thumbprint under the cursor: where it
// is, and which host instances reach it with its private key.
func (s *server) hover(p positionParams) *Hover {
	doc, snap := s.snapshotFor(p.TextDocument.URI)
	if doc == nil || snap == nil || !readable(doc.text, doc.path) {
		return nil
	}
	li := newLineIndex(doc.text)
	tok, ok := tokenAt(doc.text, offsetOf(doc.text, p.Position), hclsyntax.TokenQuotedLit)
	if !ok {
		return nil
	}
	tp, err := thumbprint.Parse(string(tok.Bytes))
	if err != nil {
		return nil
	}
	rng := toRange(tok.Range, li)
	return &Hover{Contents: markupContent{Kind: "markdown", Value: describeCertificate(tp, snap, s.opts.Now())}, Range: &rng}
}

// describeCertificate is the hover text of thumbprint tp: the certificate
// as the stores of snap hold it, and the instances and servers that reach
// it. Names and subjects come from files a user controls: escaped.
func describeCertificate(tp thumbprint.Thumbprint, snap *snapshot, now time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "**Certificate** `%s` (%s)\n\n", tp.String(), tp.Kind)
	if snap.res == nil {
		b.WriteString("The configuration has syntax errors: fix them to see where this certificate is.\n")
		return b.String()
	}
	var cert *certstore.Certificate
	type holder struct {
		store *model.CertificateStore
		key   bool
	}
	var holders []holder
	var unopened []string
	for _, st := range snap.cfg.Stores {
		loaded := snap.res.Stores[st]
		if loaded == nil {
			continue
		}
		if c := loaded.Find(tp); c != nil {
			if cert == nil {
				cert = c
			}
			holders = append(holders, holder{st, c.Key != nil})
		} else if len(loaded.UnopenedPKCS12) > 0 {
			unopened = append(unopened, st.Name)
		}
	}
	if cert == nil {
		b.WriteString("No certificate store of this configuration holds this certificate.\n")
		if len(unopened) > 0 {
			fmt.Fprintf(&b, "\nNot searched: the PKCS#12 files of %s, whose password is unknown.\n", nameList(unopened))
		}
		return b.String()
	}
	c := cert.Cert
	fmt.Fprintf(&b, "- Subject: %s\n", md(c.Subject.String()))
	fmt.Fprintf(&b, "- Issuer: %s\n", md(c.Issuer.String()))
	fmt.Fprintf(&b, "- Valid: %s to %s (%s)\n", c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339), validity(c.NotBefore, c.NotAfter, now))
	fmt.Fprintf(&b, "- SHA-1: `%s`\n- SHA-256: `%s`\n", strings.ToUpper(cert.SHA1), strings.ToUpper(cert.SHA256))

	b.WriteString("\n**Stores**\n\n")
	for _, h := range holders {
		key := "certificate only, no private key"
		if h.key {
			key = "with its private key"
		}
		fmt.Fprintf(&b, "- %s: %s\n", md(storeName(h.store)), key)
	}

	var withKey, withoutKey, servers []string
	seenServer := map[*model.Server]bool{}
	for _, h := range snap.cfg.Hosts {
		for _, in := range h.Instances {
			if in.Account != nil && in.Account.PersonalStore != nil {
				if loaded := snap.res.Stores[in.Account.PersonalStore]; loaded != nil {
					if c := loaded.Find(tp); c != nil && c.Key != nil {
						withKey = append(withKey, instanceName(in))
					} else if c != nil {
						withoutKey = append(withoutKey, instanceName(in))
					}
				}
			}
			if srv := in.Server; srv != nil && srv.OtherPeopleStore != nil && !seenServer[srv] {
				if loaded := snap.res.Stores[srv.OtherPeopleStore]; loaded != nil && loaded.Find(tp) != nil {
					seenServer[srv] = true
					servers = append(servers, fmt.Sprintf("server %q", srv.Name))
				}
			}
		}
	}
	list := func(title string, items []string) {
		if len(items) == 0 {
			return
		}
		fmt.Fprintf(&b, "\n**%s**\n\n", title)
		for _, it := range items {
			fmt.Fprintf(&b, "- %s\n", md(it))
		}
	}
	list("Instances that reach it with its private key", withKey)
	list("Instances whose store has it without the private key", withoutKey)
	list("Servers whose other-people store has it", servers)
	if len(withKey)+len(withoutKey) == 0 {
		b.WriteString("\nNo host instance's personal store holds it.\n")
	}
	return b.String()
}

func validity(from, to, now time.Time) string {
	switch {
	case now.Before(from):
		return "not yet valid"
	case now.After(to):
		return "expired"
	}
	days := int(to.Sub(now).Hours() / 24)
	return fmt.Sprintf("valid, expires in %d days", days)
}

// storeName names a store with its path escaped as diagnostics show it:
// md alone would turn a newline of the path into a space, another path.
func storeName(s *model.CertificateStore) string {
	if s.Path.Known && !s.Path.Sensitive {
		return fmt.Sprintf("certificate_store %q (%s)", s.Name, safetext.Field(s.Path.V))
	}
	return fmt.Sprintf("certificate_store %q", s.Name)
}

func instanceName(in *model.Instance) string {
	s := fmt.Sprintf("host %q", in.Host.Name)
	if in.Server != nil {
		s += fmt.Sprintf(" on server %q", in.Server.Name)
	}
	if in.Account != nil {
		s += fmt.Sprintf(" as service account %q", in.Account.Name)
	}
	return s
}

func nameList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}

// md makes untrusted text safe in a Markdown line: a code span, in which
// Markdown means nothing, with control characters escaped and backticks,
// which would end the span, replaced.
func md(s string) string {
	s = safetext.Prose(strings.ReplaceAll(s, "\n", " "))
	return "`" + strings.ReplaceAll(s, "`", "'") + "`"
}
