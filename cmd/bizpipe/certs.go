package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bizpipe/bizpipe/engine/certinfo"
	"github.com/bizpipe/bizpipe/engine/certstore"
	"github.com/bizpipe/bizpipe/engine/model"
	"github.com/bizpipe/bizpipe/engine/report"
	"github.com/bizpipe/bizpipe/engine/rules"
	"github.com/bizpipe/bizpipe/hclspec"
)

func newCertsCmd(e *env) *cobra.Command {
	var format string
	var vf varFlags
	cmd := &cobra.Command{
		Use:   "certs [PATH...]",
		Short: "List every store's certificates, with the thumbprints to paste",
		Long: `Certs lists the certificates of every certificate store the configuration
declares: SHA-1 and SHA-256 thumbprints, subject, issuer, validity, key usage,
and whether the store holds the private key. Private keys are never printed.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCerts(e, args, format, vf)
		},
	}
	cmd.Flags().StringVar(&format, "format", "text", "output format: text or json")
	vf.register(cmd)
	return cmd
}

// certsStore is one store in the certs output.
type certsStore struct {
	Name           string       `json:"name"`
	Path           string       `json:"path"`
	Error          string       `json:"error,omitempty"`
	Certificates   []certsEntry `json:"certificates"`
	Problems       []string     `json:"problems,omitempty"`
	UnopenedPKCS12 []string     `json:"unopened_pkcs12,omitempty"`
}

type certsEntry struct {
	File        string   `json:"file"`
	Subject     string   `json:"subject"`
	Issuer      string   `json:"issuer"`
	Serial      string   `json:"serial"`
	SHA1        string   `json:"sha1"`
	SHA256      string   `json:"sha256"`
	NotBefore   string   `json:"not_before"`
	NotAfter    string   `json:"not_after"`
	PublicKey   string   `json:"public_key"`
	KeyUsage    []string `json:"key_usage"`
	ExtKeyUsage []string `json:"ext_key_usage"`
	PrivateKey  bool     `json:"private_key"`
}

func runCerts(e *env, args []string, format string, vf varFlags) error {
	if format != "text" && format != "json" {
		return &exitError{code: exitUsage, err: fmt.Errorf("unknown format %q: use text or json", format)}
	}
	cfg, diags, err := loadConfig(e, args, vf, hclspec.ModeValidate)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	if diags.HasErrors() {
		if werr := writeReport(e.stderr, report.FormatText, diags, sources(cfg)); werr != nil {
			return &exitError{code: exitUsage, err: werr}
		}
		return &exitError{code: exitFindings}
	}
	cache := certstore.NewCache()
	var out []certsStore
	for _, s := range cfg.Stores {
		out = append(out, describeStore(cache, s))
	}
	if format == "json" {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if out == nil {
			out = []certsStore{}
		}
		return enc.Encode(struct {
			Stores []certsStore `json:"stores"`
		}{out})
	}
	writeCertsText(e.stdout, out)
	return nil
}

func describeStore(cache *certstore.Cache, s *model.CertificateStore) certsStore {
	cs := certsStore{Name: s.Name, Path: s.Path.V, Certificates: []certsEntry{}}
	if !s.Path.Usable() {
		cs.Error = "path not known (it depends on a variable with no value)"
		return cs
	}
	st, err := cache.Load(s.Path.V, rules.StorePassword(s))
	if err != nil {
		cs.Error = err.Error()
		return cs
	}
	for _, c := range st.Certificates {
		x := c.Cert
		cs.Certificates = append(cs.Certificates, certsEntry{
			File:        c.File,
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
		cs.Problems = append(cs.Problems, p.Error())
	}
	cs.UnopenedPKCS12 = append(cs.UnopenedPKCS12, st.UnopenedPKCS12...)
	return cs
}

func writeCertsText(w io.Writer, stores []certsStore) {
	for i, s := range stores {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "certificate_store %q  %s\n", s.Name, s.Path)
		if s.Error != "" {
			fmt.Fprintf(w, "  error: %s\n", s.Error)
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
			fmt.Fprintf(w, "  %s\n", c.File)
			fmt.Fprintf(w, "    subject      %s\n", c.Subject)
			fmt.Fprintf(w, "    issuer       %s\n", c.Issuer)
			fmt.Fprintf(w, "    sha1         %s\n", c.SHA1)
			fmt.Fprintf(w, "    sha256       %s\n", c.SHA256)
			fmt.Fprintf(w, "    valid        %s to %s\n", c.NotBefore, c.NotAfter)
			fmt.Fprintf(w, "    public key   %s\n", c.PublicKey)
			fmt.Fprintf(w, "    key usage    %s\n", usage)
			fmt.Fprintf(w, "    private key  %s\n", key)
		}
		for _, p := range s.Problems {
			fmt.Fprintf(w, "  problem: %s\n", p)
		}
		for _, f := range s.UnopenedPKCS12 {
			fmt.Fprintf(w, "  not opened (password unknown; give it with --var): %s\n", f)
		}
	}
}
