package live

import (
	"fmt"
	"os"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/model"
	"github.com/bizpipe/bizpipe/internal/validate/rules"
)

// checkInputs reports (BP1004) two receive locations running on server
// srv that take the same inputs from one directory that their
// configurations name differently: a symbolic link, a mount, or a name in
// another letter case on a file system that ignores it. The rules judge
// the names as written (rules.SharedInputs); only the server can tell that
// two names are one directory. A pair is judged when one of its locations
// runs in this process (Options.Host), and a directory that cannot be
// examined is passed over (BP6006 says why).
func (c *checker) checkInputs(cfg *model.Config, srv *model.Server) {
	type input struct {
		r    *model.ReceiveLocation
		ic   component.InputConfig
		key  string
		info os.FileInfo
	}
	var seen []input
	for _, r := range cfg.ReceiveLocations {
		if r.Host == nil || r.Transport == nil || !r.Host.RunsOn(srv) {
			continue
		}
		ic, ok := r.Transport.Config.(component.InputConfig)
		if !ok {
			continue
		}
		key, _, okKey := ic.InputPlace()
		dir, okDir := ic.InputDir()
		if !okKey || !okDir {
			continue
		}
		info, err := os.Stat(dir)
		if err != nil || !info.IsDir() {
			continue
		}
		in := input{r, ic, key, info}
		for _, prev := range seen {
			if prev.key == key || prev.r.Transport.Spec.Name != r.Transport.Spec.Name || !os.SameFile(prev.info, info) ||
				!c.runsHere(prev.r.Host) && !c.runsHere(r.Host) {
				continue // the same name is the rules' (rules.SharedInputs)
			}
			why, shared := ic.SharesInput(prev.ic)
			if !shared {
				continue
			}
			where := fmt.Sprintf("%s and %s, one directory on this server", placeShown(prev.ic), placeShown(ic))
			c.diags = append(c.diags, rules.SharedInputs(r, prev.r, where, why, srv.Name))
			break
		}
		seen = append(seen, in)
	}
}

// placeShown is where ic takes its inputs from, as the rules show it.
func placeShown(ic component.InputConfig) string {
	_, shown, _ := ic.InputPlace()
	return shown
}

// runsHere reports whether host h runs in the process checked
// (Options.Host: every host when empty).
func (c *checker) runsHere(h *model.Host) bool {
	return c.opts.Host == "" || h.Name == c.opts.Host
}
