package rules

import (
	"github.com/bizpipe/bizpipe/internal/config/diag"
)

// checkWeakAlgorithms warns about SHA-1 digests and 3DES (BP5001). Key sizes
// are checked with the certificates.
func (c *checker) checkWeakAlgorithms() {
	for _, p := range c.cfg.Pipelines {
		for _, e := range p.Encoders {
			s := e.SMIME
			if s == nil {
				continue
			}
			if s.Signs() && s.Digest.Known && s.Digest.V == "sha1" {
				c.add(diag.Warningf(diag.CodeWeakAlgorithm, s.Digest.Range, "Weak digest algorithm",
					"Pipeline %q signs with SHA-1, which is broken for signatures; use \"sha256\" unless a partner cannot verify it.", p.Name))
			}
			if s.Encrypt.Known && s.Encrypt.V && s.EncryptionAlgorithm.Known && s.EncryptionAlgorithm.V == "des3" {
				c.add(diag.Warningf(diag.CodeWeakAlgorithm, s.EncryptionAlgorithm.Range, "Weak encryption algorithm",
					"Pipeline %q encrypts with 3DES, a 64-bit block cipher that is deprecated; use \"aes256-cbc\" or \"aes256-gcm\" unless a partner cannot decrypt it.", p.Name))
			}
		}
	}
}

// checkUnused warns about objects nothing refers to (BP5002).
func (c *checker) checkUnused() {
	for _, s := range c.cfg.Stores {
		if !s.Used {
			c.add(diag.Warningf(diag.CodeUnused, s.DeclRange, "Unused certificate store",
				"Certificate store %q is declared but no service account or server uses it.", s.Name))
		}
	}
	for _, a := range c.cfg.Accounts {
		if !a.Used {
			c.add(diag.Warningf(diag.CodeUnused, a.DeclRange, "Unused service account",
				"Service account %q is declared but no host instance runs as it.", a.Name))
		}
	}
	for _, s := range c.cfg.Servers {
		if !s.Used {
			c.add(diag.Warningf(diag.CodeUnused, s.DeclRange, "Unused server",
				"Server %q is declared but no host has an instance on it.", s.Name))
		}
	}
	for _, p := range c.cfg.Pipelines {
		if !p.Used {
			c.add(diag.Warningf(diag.CodeUnused, p.DeclRange, "Unused pipeline",
				"Pipeline %q is declared but no send port uses it.", p.Name))
		}
	}
	for _, h := range c.cfg.Hosts {
		if !h.Used {
			c.add(diag.Warningf(diag.CodeUnused, h.DeclRange, "Unused host",
				"Host %q is declared but no send port or receive location runs on it.", h.Name))
		}
	}
}
