package rules

import (
	"github.com/bizpipe/bizpipe/internal/config/diag"
)

// checkUnused warns about objects nothing refers to (BP5002). Objects of a
// kind that a broken reference was meant to name are left alone: one of
// them may be the one meant, and the BP1001 already says what to fix.
//
// With Options.Host nothing is reported: whether a declaration is used is a
// property of the whole configuration, which validate judges.
func (c *checker) checkUnused() {
	if c.host != "" {
		return
	}
	broken := c.cfg.BrokenRefKinds
	for _, s := range c.cfg.Stores {
		if !s.Used && !broken["certificate_store"] {
			c.add(diag.Warningf(diag.CodeUnused, s.DeclRange, "Unused certificate store",
				"Certificate store %q is declared but no service account or server uses it.", s.Name))
		}
	}
	for _, a := range c.cfg.Accounts {
		if !a.Used && !broken["service_account"] {
			c.add(diag.Warningf(diag.CodeUnused, a.DeclRange, "Unused service account",
				"Service account %q is declared but no host instance runs as it.", a.Name))
		}
	}
	for _, s := range c.cfg.Servers {
		if !s.Used && !broken["server"] {
			c.add(diag.Warningf(diag.CodeUnused, s.DeclRange, "Unused server",
				"Server %q is declared but no host has an instance on it.", s.Name))
		}
	}
	for _, p := range c.cfg.Pipelines {
		if !p.Used && !broken["pipeline"] {
			c.add(diag.Warningf(diag.CodeUnused, p.DeclRange, "Unused pipeline",
				"Pipeline %q is declared but no send port or receive location uses it.", p.Name))
		}
	}
	for _, h := range c.cfg.Hosts {
		if !h.Used && !broken["host"] {
			c.add(diag.Warningf(diag.CodeUnused, h.DeclRange, "Unused host",
				"Host %q is declared but no send port or receive location runs on it.", h.Name))
		}
	}
}
