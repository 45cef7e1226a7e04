package lang

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// Under Options.Host (run --host), a value that depends on a variable or
// env() without a value is not an error when it is decoded: the block it is
// in may belong to another host, whose account's variables are given only
// on that account's machine. It is kept as a pendingInput, and once the
// references are resolved, reportNeededInputs reports those of the blocks
// the host needs, as ModeRun reports every one.

// pendingInput is one attribute, filter or template whose value depends on
// an input without a value.
type pendingInput struct {
	// block is the key of the top-level block it is in (blockKey).
	block string
	// filter: a send port's filter, which every process that routes
	// evaluates, whichever host the port is on.
	filter bool
	// missing are the errors of the variables and env() calls without a
	// value it depends on (missingInputs).
	missing []*hcl.Diagnostic
	// notKnown is the "Value not known" error of an attribute (nil for a
	// filter or template, whose value depends on the message anyway).
	notKnown *hcl.Diagnostic
}

// blockKey identifies a top-level block by its type and name (names are
// unique per type).
func blockKey(typ string, labels []string) string {
	if len(labels) == 0 {
		return typ
	}
	return typ + " " + labels[0]
}

// envMode is the mode of env() in the configuration's functions: under
// Options.Host an unset environment variable is unknown, as a variable
// without a value is, until the host is known to need it.
func (d *decoder) envMode() Mode {
	if d.deferInputs {
		return ModeValidate
	}
	return d.opts.Mode
}

// deferMessageInputs keeps, under Options.Host, the inputs without a value
// that a filter or template depends on: its value is unknown whatever the
// variables, so only its expression tells.
func (d *decoder) deferMessageInputs(expr hcl.Expression, filter bool) {
	if !d.deferInputs {
		return
	}
	if missing := d.missingInputs(expr); len(missing) > 0 {
		d.pending = append(d.pending, pendingInput{block: d.block, filter: filter, missing: missing})
	}
}

// reportNeededInputs reports the pending inputs of what host
// Options.Host's instances on Options.Server need: each variable or env()
// without a value once, and each attribute that depends on one.
func (d *decoder) reportNeededInputs() {
	need := d.hostNeeds()
	seen := map[string]bool{}
	for _, p := range d.pending {
		if !p.filter && !need[p.block] {
			continue
		}
		for _, m := range p.missing {
			// One error per variable (at its declaration) and per
			// environment variable, as ModeRun reports them.
			if k := m.Summary + "\x00" + m.Detail; !seen[k] {
				seen[k] = true
				d.add(m)
			}
		}
		if p.notKnown != nil {
			d.add(p.notKnown)
		}
	}
}

// hostNeeds returns the keys of the blocks a process running host
// Options.Host's instances on Options.Server reads the values of: see
// Options.Host. The rules and the runner with the same host read no
// other block's values.
func (d *decoder) hostNeeds() map[string]bool {
	cfg := d.cfg
	need := map[string]bool{blockMessageBox: true}
	for _, g := range cfg.Groups {
		need[blockKey(blockGroup, []string{g.Name})] = true
	}
	for _, p := range cfg.Parties {
		need[blockKey(blockParty, []string{p.Name})] = true
	}
	server := d.opts.Server
	if server == "" && len(cfg.Servers) == 1 {
		server = cfg.Servers[0].Name
	}
	for _, h := range cfg.Hosts {
		if h.Name != d.opts.Host {
			continue
		}
		need[blockKey(blockHost, []string{h.Name})] = true
		for _, in := range h.Instances {
			if in.Server == nil || (server != "" && in.Server.Name != server) {
				continue
			}
			need[blockKey(blockServer, []string{in.Server.Name})] = true
			if st := in.Server.OtherPeopleStore; st != nil {
				need[blockKey(blockStore, []string{st.Name})] = true
			}
			if a := in.Account; a != nil {
				need[blockKey(blockAccount, []string{a.Name})] = true
				if a.PersonalStore != nil {
					need[blockKey(blockStore, []string{a.PersonalStore.Name})] = true
				}
			}
		}
	}
	for _, p := range cfg.SendPorts {
		if p.Host != nil && p.Host.Name == d.opts.Host {
			need[blockKey(blockSendPort, []string{p.Name})] = true
			if p.Pipeline != nil {
				need[blockKey(blockPipeline, []string{p.Pipeline.Name})] = true
			}
		}
	}
	for _, r := range cfg.ReceiveLocations {
		if r.Host != nil && r.Host.Name == d.opts.Host {
			need[blockKey(blockReceiveLocation, []string{r.Name})] = true
			if r.Pipeline != nil {
				need[blockKey(blockPipeline, []string{r.Pipeline.Name})] = true
			}
		}
	}
	return need
}

// noValueError is the run-time error of a filter or template whose value is
// not known: it names the variables and locals it reads that have no value
// (a value run --host did not need at load), so that nothing proceeds with
// an empty one. ctx is the evaluation's context.
func noValueError(expr hcl.Expression, ctx *hcl.EvalContext) string {
	var names []string
	seen := map[string]bool{}
	for _, tr := range expr.Variables() {
		root := tr.RootName()
		if root != "var" && root != "local" || len(tr) < 2 {
			continue
		}
		v, ds := tr[:2].TraverseAbs(ctx)
		v, _ = v.UnmarkDeep()
		name := traversalString(tr[:2])
		if ds.HasErrors() || seen[name] || v.IsWhollyKnown() {
			continue
		}
		seen[name] = true
		names = append(names, name)
	}
	if len(names) == 0 {
		return "produced no value (it depends on a value that is not known, such as an unset environment variable)"
	}
	sort.Strings(names)
	return fmt.Sprintf("produced no value: %s %s no value", strings.Join(names, ", "), map[bool]string{true: "has", false: "have"}[len(names) == 1])
}
