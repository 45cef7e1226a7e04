package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/spf13/cobra"

	"github.com/bizpipe/bizpipe/internal/clidoc"
	"github.com/bizpipe/bizpipe/internal/config/lang"
	"github.com/bizpipe/bizpipe/internal/config/model"
	"github.com/bizpipe/bizpipe/internal/pki/certinfo"
	"github.com/bizpipe/bizpipe/internal/pki/certstore"
	"github.com/bizpipe/bizpipe/internal/validate/report"
	"github.com/bizpipe/bizpipe/internal/validate/rules"
)

func newCertsCmd(e *env) *cobra.Command {
	var format string
	var within time.Duration
	var verbose bool
	var vf varFlags
	cmd := &cobra.Command{
		Use:   "certs [flags] [PATH...]",
		Short: "List every store's certificates, with the thumbprints to paste",
		Long: `Certs lists the certificates of every certificate store the configuration
declares: SHA-1 and SHA-256 thumbprints, subject, issuer, serial number (in
hex, as errors give it), validity, key usage, and whether the
store holds the private key. Private keys are never printed.

PKCS#12 files are opened with the store's password; give it with
BIZPIPE_VAR_NAME (a secret on the command line shows in the process list and
the shell's history), --var-file or --var when it has no default. A store
that cannot be read, or a file of it that cannot be decrypted or parsed, is
listed with the reason, and certs exits 1; a password with no value only
leaves the PKCS#12 files unopened.

With --expiring-within, certs lists instead the certificates the
configuration uses (signing, signing_rollover, encryption, decryption and
party certificates, in the stores of the instances that need them) that
expire within DURATION or have expired, each with every place it is
needed, and exits 1 when there is any: for a daily cron job or a CI
schedule. A certificate in use that is not found where it is needed cannot
be checked, and also makes it exit 1, as does one whose thumbprint has no
value (a variable without one: give it as for validate) or is malformed,
and a store, or a file of one, that cannot be read, decrypted or parsed
(listed with the reason).
DURATION is days (30d), a duration (720h), or both (1d12h); a day is 24
hours.

With --format json, a configuration with errors is validate's JSON
document on stdout (its "valid" false), exit 1.`,
		Example: `  bizpipe certs ./config
  BIZPIPE_VAR_p12_password="$P12_PASSWORD" bizpipe certs --format json ./config
  bizpipe certs --expiring-within 30d ./config`,
		RunE: func(cmd *cobra.Command, args []string) error {
			var w *time.Duration // nil: not given (0 lists what has expired)
			if cmd.Flags().Changed("expiring-within") {
				w = &within
			}
			return runCerts(e, args, format, w, verbose, vf)
		},
	}
	clidoc.SetExitCodes(cmd,
		clidoc.ExitCode{Code: exitOK, Meaning: "listed; with --expiring-within, no certificate in use expires within DURATION"},
		clidoc.ExitCode{Code: exitFindings, Meaning: "the configuration has errors, or a store, or a file of one, cannot be read, decrypted or parsed (listed with the reason); with --expiring-within, a certificate in use expires within DURATION, was not found where it is needed, or its thumbprint has no value or is malformed"},
		clidoc.ExitCode{Code: exitUsage, Meaning: "certs could not run"})
	cmd.Flags().StringVar(&format, "format", "text", "output `FORMAT`: text or json")
	mustComplete(cmd, "format", completeValues([]string{"text", "json"}))
	durationVar(cmd.Flags(), &within, "expiring-within", 0, "list only the certificates in use that expire within `DURATION` (30d, 720h), and exit 1 when any does")
	cmd.Flags().BoolVar(&verbose, "verbose", false, "also print notes to stderr: store files ignored, keys that match no certificate")
	vf.register(cmd)
	return cmd
}

// certsDocument is what certs --format json prints. The doc tags describe
// the fields in the reference (docs/cli.md).
type certsDocument struct {
	Stores []certsStore `json:"stores" doc:"Every certificate store the configuration declares, in declaration order."`
}

// certsStore is one store in the certs output.
type certsStore struct {
	Name           string       `json:"name" doc:"The store's name."`
	Path           string       `json:"path" doc:"Its directory, as the configuration resolves it; (sensitive value) when it derives from a sensitive variable."`
	Error          string       `json:"error,omitempty" doc:"Why the store could not be read."`
	Certificates   []certsEntry `json:"certificates" doc:"Its certificates."`
	Problems       []string     `json:"problems,omitempty" doc:"Files of the store that could not be read, with the reason."`
	UnopenedPKCS12 []string     `json:"unopened_pkcs12,omitempty" doc:"PKCS#12 files not opened: the store's password has no value."`
}

type certsEntry struct {
	File        string   `json:"file" doc:"The file that holds the certificate."`
	Subject     string   `json:"subject" doc:"The subject's distinguished name."`
	Issuer      string   `json:"issuer" doc:"The issuer's distinguished name."`
	Serial      string   `json:"serial" doc:"The serial number, in hex."`
	SHA1        string   `json:"sha1" doc:"The SHA-1 thumbprint, upper-case hex."`
	SHA256      string   `json:"sha256" doc:"The SHA-256 thumbprint, upper-case hex."`
	NotBefore   string   `json:"not_before" doc:"Start of validity, RFC 3339 in UTC."`
	NotAfter    string   `json:"not_after" doc:"End of validity, RFC 3339 in UTC."`
	PublicKey   string   `json:"public_key" doc:"The public key's algorithm and size."`
	KeyUsage    []string `json:"key_usage" doc:"The key usages; empty when not restricted."`
	ExtKeyUsage []string `json:"ext_key_usage" doc:"The extended key usages."`
	PrivateKey  bool     `json:"private_key" doc:"Whether the store holds the certificate's private key (never printed)."`
}

// formatName is a --format value as the commands compare it: the name
// of a format is not case-sensitive, as report.ParseFormat has it for
// validate, and spaces around it do not count.
func formatName(s string) string {
	return strings.ToLower(strings.TrimSpace(s))
}

func runCerts(e *env, args []string, format string, within *time.Duration, verbose bool, vf varFlags) error {
	switch formatName(format) {
	case "text":
		format = "text"
	case "json":
		format = "json"
	default:
		return &exitError{code: exitUsage, err: fmt.Errorf("unknown format %q: must be one of text, json", format)}
	}
	cfg, diags, err := loadConfig(e, args, vf, lang.ModeValidate)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	red := newRedactor(cfg)
	if diags.HasErrors() {
		return reportConfigErrors(e, format == "json", diags, cfg)
	}
	cache := certstore.NewCache()
	if within != nil {
		stores, problems := loadStores(cache, cfg, red)
		return runExpiring(e, cfg, stores, problems, format, *within, time.Now())
	}
	var out []certsStore
	loadedStores := map[*model.CertificateStore]*certstore.Store{}
	var unreadable []string // stores, or files of them, that could not be opened
	for _, s := range cfg.Stores {
		cs, st := describeStore(cache, s, red)
		out = append(out, cs)
		if st != nil {
			loadedStores[s] = st
		}
		// A path or password with no value is not a failure (validate
		// warns, BP2005); a directory, file or password that fails is
		// (validate's errors BP2001-BP2003).
		if (st == nil && s.Path.Usable()) || (st != nil && len(st.Problems) > 0) {
			unreadable = append(unreadable, fmt.Sprintf("%q", s.Name))
		}
	}
	if verbose {
		writeStoreNotes(e, cfg.Stores, loadedStores, red)
	}
	if format == "json" {
		enc := json.NewEncoder(e.stdout)
		enc.SetEscapeHTML(false) // subjects may contain <, > and &
		enc.SetIndent("", "  ")
		if out == nil {
			out = []certsStore{}
		}
		if err := enc.Encode(certsDocument{Stores: out}); err != nil {
			return &exitError{code: exitUsage, err: err}
		}
	} else {
		writeCertsText(e.stdout, out)
	}
	if len(unreadable) > 0 {
		// The listing says why; the exit status tells a script that it is
		// incomplete.
		return &exitError{code: exitFindings, err: fmt.Errorf("certificate %s %s could not be opened in full (the listing says why)",
			map[bool]string{true: "store", false: "stores"}[len(unreadable) == 1], strings.Join(unreadable, ", "))}
	}
	return nil
}

// reportConfigErrors reports the errors of a configuration that a command
// cannot work with, exit 1: with --format json as validate's JSON document
// on stdout, so that a script that parses stdout gets a JSON document (its
// "valid" false) rather than nothing; otherwise as validate's text on
// stderr, stdout being left to the command's own output.
func reportConfigErrors(e *env, json bool, diags hcl.Diagnostics, cfg *model.Config) error {
	w, format := e.stderr, report.FormatText
	if json {
		w, format = e.stdout, report.FormatJSON
	}
	if werr := e.report(w, format, diags, cfg); werr != nil {
		return &exitError{code: exitUsage, err: werr}
	}
	return &exitError{code: exitFindings}
}

// loadStores loads every store whose path is known; a store that cannot
// be read is absent, and the certificates needed from it are not found.
// problems say which stores, or files of them, could not be read,
// decrypted or parsed, and why, as certs lists them.
func loadStores(cache *certstore.Cache, cfg *model.Config, red *redactor) (stores map[*model.CertificateStore]*certstore.Store, problems []string) {
	stores = map[*model.CertificateStore]*certstore.Store{}
	problems = []string{}
	for _, s := range cfg.Stores {
		if !s.Path.Usable() {
			continue
		}
		st, err := cache.Load(s.Path.V, rules.StorePassword(s))
		if err != nil {
			problems = append(problems, fmt.Sprintf("certificate_store %q: %s", s.Name, red.String("cannot read the store: "+loadErrorReason(err))))
			continue
		}
		stores[s] = st
		for _, p := range st.Problems {
			problems = append(problems, fmt.Sprintf("certificate_store %q: %s", s.Name, red.String(storeFile(s, p.File)+": "+cleanError(p.Err).Error())))
		}
	}
	return stores, problems
}

// describeStore lists one store. Every path is shown relative to the store
// path as the configuration resolves it (as validate shows them), and a store
// whose path comes from a sensitive variable shows none.
func describeStore(cache *certstore.Cache, s *model.CertificateStore, red *redactor) (certsStore, *certstore.Store) {
	cs := certsStore{Name: s.Name, Path: s.Path.V, Certificates: []certsEntry{}}
	if s.Path.Sensitive {
		cs.Path = redacted
	}
	if !s.Path.Usable() {
		cs.Path = "(not known)"
		cs.Error = "path not known: it depends on a variable with no value"
		return cs, nil
	}
	st, err := cache.Load(s.Path.V, rules.StorePassword(s))
	if err != nil {
		cs.Error = red.String("cannot read the store: " + loadErrorReason(err))
		return cs, nil
	}
	file := func(p string) string { return storeFile(s, p) }
	for _, c := range st.Certificates {
		x := c.Cert
		cs.Certificates = append(cs.Certificates, certsEntry{
			File:        file(c.File),
			Subject:     x.Subject.String(),
			Issuer:      x.Issuer.String(),
			Serial:      x.SerialNumber.Text(16),
			SHA1:        strings.ToUpper(c.SHA1),
			SHA256:      strings.ToUpper(c.SHA256),
			NotBefore:   x.NotBefore.UTC().Format(time.RFC3339),
			NotAfter:    x.NotAfter.UTC().Format(time.RFC3339),
			PublicKey:   certinfo.PublicKey(x),
			KeyUsage:    certinfo.KeyUsage(x.KeyUsage),
			ExtKeyUsage: certinfo.ExtKeyUsage(x.ExtKeyUsage),
			PrivateKey:  c.Key != nil,
		})
	}
	for _, p := range st.Problems {
		cs.Problems = append(cs.Problems, red.String(file(p.File)+": "+cleanError(p.Err).Error()))
	}
	for _, f := range st.UnopenedPKCS12 {
		cs.UnopenedPKCS12 = append(cs.UnopenedPKCS12, file(f))
	}
	return cs, st
}

// storeFile names a file of store s as validate does: the store path as the
// configuration resolves it, joined with the file's base name (certstore
// works with absolute paths). A store whose path is sensitive shows only the
// base name.
func storeFile(s *model.CertificateStore, p string) string {
	if s.Path.Sensitive {
		return filepath.Base(p)
	}
	return filepath.Join(s.Path.V, filepath.Base(p))
}

// writeStoreNotes prints the notes of the loaded stores (files ignored, keys
// that match no certificate) to stderr, for --verbose (language.md §5).
func writeStoreNotes(e *env, decls []*model.CertificateStore, stores map[*model.CertificateStore]*certstore.Store, red *redactor) {
	for _, s := range decls {
		st := stores[s]
		if st == nil {
			continue
		}
		for _, n := range st.Notes {
			// A note starts with the absolute path of its file.
			if rest, ok := strings.CutPrefix(n, st.Dir+string(filepath.Separator)); ok {
				name, msg, _ := strings.Cut(rest, ": ")
				n = storeFile(s, name) + ": " + msg
			}
			// Redacted, then escaped (a note names a file of the store).
			fmt.Fprintf(e.stderr, "bizpipe: note: certificate store %q: %s\n", s.Name, safe(red.String(n)))
		}
	}
}

// loadErrorReason is why a store directory cannot be read, without the
// directory (the caller names the store) and without system-call names.
func loadErrorReason(err error) string {
	var pe *fs.PathError
	switch {
	case errors.Is(err, certstore.ErrNotDirectory):
		return "not a directory"
	case errors.As(err, &pe):
		return pe.Err.Error()
	}
	return err.Error()
}

func writeCertsText(w io.Writer, stores []certsStore) {
	for i, s := range stores {
		if i > 0 {
			fmt.Fprintln(w)
		}
		// Every string from the store is escaped (see safe): a partner's
		// certificate names its own subject and issuer, and a file
		// dropped in a store its own name.
		fmt.Fprintf(w, "certificate_store %q  %s\n", s.Name, safe(s.Path))
		if s.Error != "" {
			fmt.Fprintf(w, "  error: %s\n", safe(s.Error))
			continue
		}
		if len(s.Certificates) == 0 {
			fmt.Fprintln(w, "  (no certificates)")
		}
		for _, c := range s.Certificates {
			key := "no"
			if c.PrivateKey {
				key = "yes"
			}
			usage := strings.Join(c.KeyUsage, ", ")
			if len(c.ExtKeyUsage) > 0 {
				usage += "; extended: " + strings.Join(c.ExtKeyUsage, ", ")
			}
			if usage == "" {
				usage = "(not restricted)"
			}
			fmt.Fprintf(w, "  %s\n", safe(c.File))
			fmt.Fprintf(w, "    subject      %s\n", safe(c.Subject))
			fmt.Fprintf(w, "    issuer       %s\n", safe(c.Issuer))
			fmt.Fprintf(w, "    serial       %s\n", c.Serial)
			fmt.Fprintf(w, "    sha1         %s\n", c.SHA1)
			fmt.Fprintf(w, "    sha256       %s\n", c.SHA256)
			fmt.Fprintf(w, "    valid        %s to %s\n", c.NotBefore, c.NotAfter)
			fmt.Fprintf(w, "    public key   %s\n", c.PublicKey)
			fmt.Fprintf(w, "    key usage    %s\n", usage)
			fmt.Fprintf(w, "    private key  %s\n", key)
		}
		for _, p := range s.Problems {
			fmt.Fprintf(w, "  problem: %s\n", safe(p))
		}
		for _, f := range s.UnopenedPKCS12 {
			// A password is a secret: name the ways that keep it out of
			// the process list, as certs --help does, not --var.
			fmt.Fprintf(w, "  not opened (password unknown; give it with BIZPIPE_VAR_NAME or --var-file): %s\n", safe(f))
		}
	}
}
