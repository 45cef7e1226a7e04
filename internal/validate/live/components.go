package live

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/config/model"
	"github.com/bizpipe/bizpipe/internal/config/value"
	"github.com/bizpipe/bizpipe/internal/safetext"
)

// compUser is a component a host runs, with what names it in a detail.
type compUser struct {
	// owner names the location or port ("receive location \"orders_in\"").
	owner string
	// what names the component in it ("transport \"file\" of receive
	// location \"orders_in\"").
	what string
	// receives: the component is in a receive location (its directory is
	// polled), not a send port (its directory is written).
	receives bool
	comp     *model.Component
}

// componentsOf returns the components of the receive locations and send
// ports that run on host h.
func componentsOf(cfg *model.Config, h *model.Host) []compUser {
	var out []compUser
	add := func(owner string, receives bool, pl *model.Pipeline, tr *model.Component) {
		if tr != nil && tr.Spec != nil {
			out = append(out, compUser{owner, fmt.Sprintf("transport %q of %s", tr.Spec.Name, owner), receives, tr})
		}
		if pl != nil {
			for _, st := range pl.Stages {
				if st.Spec != nil {
					out = append(out, compUser{owner, fmt.Sprintf("%s %q of pipeline %q of %s", st.Spec.Kind.Block(), st.Spec.Name, pl.Name, owner), receives, st})
				}
			}
		}
	}
	for _, r := range cfg.ReceiveLocations {
		if r.Host == h {
			add(fmt.Sprintf("receive location %q", r.Name), true, r.Pipeline, r.Transport)
		}
	}
	for _, p := range cfg.SendPorts {
		if p.Host == h {
			add(fmt.Sprintf("send port %q", p.Name), false, p.Pipeline, p.Transport)
		}
	}
	return out
}

// checkComponents runs the live checks that the components of the
// instance's host declare (component.LiveConfig): their directories
// (BP6006) and the files they load when they start (BP6007), for who.
func (c *checker) checkComponents(cfg *model.Config, in *model.Instance, who identity) {
	for _, u := range componentsOf(cfg, in.Host) {
		lc, ok := u.comp.Config.(component.LiveConfig)
		if !ok {
			continue // not decoded (reported), or uses nothing on the server
		}
		live := lc.Live()
		for _, d := range live.Dirs {
			if c.once(fmt.Sprintf("dir:%s:%p:%s", who.name, u.comp, d.Attribute)) {
				c.checkDir(u, d, in, who)
			}
		}
		for i, f := range live.Files {
			if c.once(fmt.Sprintf("files:%s:%p:%d", who.name, u.comp, i)) {
				c.checkFiles(u, f, in, who)
			}
		}
	}
}

// checkDir reports a directory a component uses that is missing, not a
// directory, or not usable by who as the component needs (BP6006).
func (c *checker) checkDir(u compUser, d component.LiveDir, in *model.Instance, who identity) {
	if d.Path.Set && !d.Path.Known {
		c.unknownValue(fmt.Sprintf("unknown:%p:%s", u.comp, d.Attribute), d.Path.Range, "Value unknown: directory check skipped",
			fmt.Sprintf("%s of %s", d.Attribute, u.what), "the directory is not examined",
			"BP6006 (whether it exists and the instance's user can use it, as bizpipe run does) is skipped", u.owner)
		return
	}
	if !d.Path.Usable() {
		return // absent: the decoder reports it
	}
	dir := d.Path.V
	shown := safetext.Field(dir)
	if d.Path.Sensitive {
		shown = "(sensitive path)"
	}
	consequence := "the location receives nothing from it until it is usable"
	if !u.receives {
		consequence = "the port's deliveries fail, and are retried, until it is usable"
	}
	where := fmt.Sprintf("on this machine (server %q, host %q, user %q)", c.opts.Server, in.Host.Name, who.name)
	warn := func(summary, problem string) {
		c.diags = append(c.diags, diag.Warningf(diag.CodeLiveDirectory, d.Path.Range, summary,
			"Directory %s (%s of %s) %s %s: %s. A warning, as it may be a share mounted later.",
			shown, d.Attribute, u.what, problem, where, consequence))
	}
	info, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		warn("Directory does not exist", "does not exist")
		return
	case err != nil:
		if a := blockedAncestor(who, dir); a != "" && !d.Path.Sensitive {
			warn("Directory not reachable", fmt.Sprintf("cannot be reached: directory %s on the way needs execute (search) permission (%s)", a, describeMode(a)))
			return
		}
		warn("Directory cannot be read", fmt.Sprintf("cannot be read (%s)", statReason(err)))
		return
	case !info.IsDir():
		warn("Not a directory", "is not a directory")
		return
	}
	if a := blockedAncestor(who, dir); a != "" {
		shownA := a
		if d.Path.Sensitive {
			shownA = "(a directory above it)"
		}
		warn("Directory not reachable", fmt.Sprintf("cannot be reached: directory %s on the way needs execute (search) permission (%s)", shownA, describeMode(a)))
		return
	}
	var need fs.FileMode = 1 // search
	var verbs []string
	if d.Access&component.Read != 0 {
		need |= 4
		verbs = append(verbs, "read")
	}
	if d.Access&component.Write != 0 {
		need |= 2
		verbs = append(verbs, "write")
	}
	if !permits(who, dir, need) {
		verbs = append(verbs, "execute")
		warn("Directory not usable by the instance's user", fmt.Sprintf("needs %s permission, which it does not grant (%s)", joinAnd(verbs), describeMode(dir)))
	}
}

// checkFiles loads files a component loads when it starts, as it loads
// them, and checks that who may read them (BP6007). The loader's error
// names files, never their content.
func (c *checker) checkFiles(u compUser, f component.LiveFiles, in *model.Instance, who identity) {
	names := make([]string, 0, len(f.Attributes))
	sensitive, unknown := false, false
	for name, v := range f.Attributes {
		unknown = unknown || !v.Usable()
		sensitive = sensitive || v.Sensitive
		names = append(names, name)
	}
	slices.Sort(names)
	if len(names) == 0 || f.Load == nil {
		return
	}
	block := ""
	if f.Block != "" {
		block = fmt.Sprintf("the %s block of ", f.Block)
	}
	if unknown {
		c.unknownFiles(u, f, names, block)
		return
	}
	report := func(attr string, v value.Value[string], problem string) {
		c.diags = append(c.diags, diag.Errorf(diag.CodeLiveFiles, v.Range, "TLS file cannot be loaded",
			"The %s of %s%s cannot be loaded on this machine (server %q, host %q): %s. bizpipe run would fail to start %s.",
			attr, block, u.what, c.opts.Server, in.Host.Name, problem, u.owner))
	}
	// The files as the instance's user reads them: the loader below runs
	// with this process's rights.
	for _, name := range names {
		v := f.Attributes[name]
		if _, err := os.Stat(v.V); err == nil && !canAccess(who, v.V, false) {
			shown := safetext.Field(v.V)
			if v.Sensitive {
				shown = "(sensitive path)"
			}
			report(name, v, fmt.Sprintf("file %s is not readable by user %q (%s)", shown, who.name, describeMode(v.V)))
			return
		}
	}
	attr, err := f.Load()
	if err == nil {
		return
	}
	v, ok := f.Attributes[attr]
	if !ok {
		attr, v = names[0], f.Attributes[names[0]]
	}
	problem := safetext.Prose(err.Error())
	if sensitive {
		// The loader's error names the files: hide it whole rather
		// than a part of a path.
		problem = "the details are hidden, as a path is sensitive"
	}
	report(attr, v, problem)
}

// unknownFiles warns (BP1009) at each attribute of f that has no value,
// once per component: the files cannot be loaded, so BP6007 is skipped for
// them.
func (c *checker) unknownFiles(u compUser, f component.LiveFiles, names []string, block string) {
	files := "its files are"
	if f.Block != "" {
		files = "the block's files are"
	}
	for _, name := range names {
		if v := f.Attributes[name]; !v.Known {
			c.unknownValue(fmt.Sprintf("unknown:%p:%s", u.comp, name), v.Range, "Value unknown: TLS file check skipped",
				fmt.Sprintf("%s of %s%s", name, block, u.what), files+" not loaded",
				"BP6007 (whether they load, as bizpipe run loads them when it starts) is skipped", u.owner)
		}
	}
}

// unknownValue notes, for one warning (BP1009) per key, that attr (what
// the attribute is, "path of transport ...") has no value during
// validate: validate --live reads the configuration as validate does, so
// a variable may have none, and then what a live rule does with the
// value (undone, "the directory is not examined") is not done on this
// machine, and the rule is skipped for whom, which must not pass for "it
// holds". The warning names every whom noted under its key. run needs
// every value its instances use, so only validate --live comes here.
func (c *checker) unknownValue(key string, rng hcl.Range, summary, attr, undone, skipped, whom string) {
	u := c.unknown[key]
	if u == nil {
		u = &unknownUse{rng: rng, summary: summary, attr: attr, undone: undone, skipped: skipped}
		c.unknown[key] = u
		c.unknownOrder = append(c.unknownOrder, u)
	}
	if !slices.Contains(u.whom, whom) {
		u.whom = append(u.whom, whom)
	}
}

// unknownUse is a warning unknownValue noted.
type unknownUse struct {
	rng                            hcl.Range
	summary, attr, undone, skipped string
	whom                           []string
}

// warnUnknown adds the warnings unknownValue noted, in the order noted.
func (c *checker) warnUnknown() {
	for _, u := range c.unknownOrder {
		c.diags = append(c.diags, Unknown(u.rng, u.summary, u.attr, u.undone, c.opts.Server, u.skipped+" for "+joinAnd(u.whom)))
	}
}

// Unknown is the warning (BP1009) of a live check that cannot run because
// the value it reads has none during validate: the attr (what the
// attribute is, "url of the message box's postgres block") has no value,
// so what the check does with it (undone, "the box is not connected to")
// is not done on this machine (server), and skipped says which rules are
// skipped ("BP6005 (...) is skipped"), and for what.
func Unknown(rng hcl.Range, summary, attr, undone, server, skipped string) *hcl.Diagnostic {
	return diag.Warningf(diag.CodeNeedUnknown, rng, summary,
		"The %s has no value during validate (give one with --var, --var-file or BIZPIPE_VAR_*), so %s on this machine (server %q), and %s.",
		attr, undone, server, skipped)
}

// statReason is an os.Stat error without the path and system call.
func statReason(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// joinAnd joins words as "a, b and c".
func joinAnd(words []string) string {
	switch len(words) {
	case 0:
		return ""
	case 1:
		return words[0]
	}
	out := words[0]
	for _, w := range words[1 : len(words)-1] {
		out += ", " + w
	}
	return out + " and " + words[len(words)-1]
}
