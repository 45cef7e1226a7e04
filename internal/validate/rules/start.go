package rules

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/config/model"
)

// locationsOn are the receive locations the checks cover that run on
// server srv (their host has an instance there), in declaration order.
func (c *checker) locationsOn(srv *model.Server) []*model.ReceiveLocation {
	var out []*model.ReceiveLocation
	for _, r := range c.cfg.ReceiveLocations {
		if r.Host != nil && r.Transport != nil && r.Transport.Config != nil && r.Host.RunsOn(srv) {
			out = append(out, r)
		}
	}
	return out
}

// checkListeners reports (BP1004) a receive location that listens on the
// address another location running on the same server listens on: run
// there starts the first and then fails to start the second ("address
// already in use"). Only the same host and port number are judged (an IP
// address as written in any of its forms, a name as written): whether a
// name and an address, or a wildcard and an address, meet depends on the
// machine. Port 0 and an unknown listen are not judged. With
// Options.Host, a pair is judged when one of its locations is the host's:
// its process and the other's share the server's ports.
func (c *checker) checkListeners() {
	for _, srv := range c.cfg.Servers {
		if c.host != "" && srv.Name != c.server {
			continue
		}
		first := map[string]*model.ReceiveLocation{}
		for _, r := range c.locationsOn(srv) {
			lc, ok := r.Transport.Config.(component.ListenConfig)
			if !ok {
				continue
			}
			addr := lc.ListenAddress()
			key, ok := listenKey(addr.V)
			if !addr.Usable() || !ok {
				continue
			}
			prev, dup := first[key]
			if !dup {
				first[key] = r
				continue
			}
			if !c.runs(prev.Host) && !c.runs(r.Host) {
				continue
			}
			shown := fmt.Sprintf("%q", addr.V)
			if addr.Sensitive || prevSensitive(prev) {
				shown = "(sensitive value)"
			}
			c.add(diag.Errorf(diag.CodeInvalidValue, addr.Range, "Listen address already used on the server",
				"Receive location %q (host %q) listens on %s, as receive location %q (host %q) does, and both run on server %q: run there would fail to start the second with \"address already in use\". Give each location its own port, or run them on hosts with instances on different servers.",
				r.Name, r.Host.Name, shown, prev.Name, prev.Host.Name, srv.Name))
		}
	}
}

// checkInputs reports (BP1004) a receive location that can take the same
// inputs as another location running on the same server (a file both
// their patterns match, in one directory): each would go to whichever
// location took it first, through that one's pipeline and routing, as
// in BizTalk two receive locations on one folder with overlapping file
// masks split its files between them. The places are compared as
// written (resolved against the declaring file); places that are one only
// on the server (a symbolic link) are the live rules' (live.Check). With
// Options.Host, as checkListeners.
func (c *checker) checkInputs() {
	type place struct{ transport, key string }
	for _, srv := range c.cfg.Servers {
		if c.host != "" && srv.Name != c.server {
			continue
		}
		at := map[place][]*model.ReceiveLocation{}
		for _, r := range c.locationsOn(srv) {
			ic, ok := r.Transport.Config.(component.InputConfig)
			if !ok {
				continue
			}
			key, shown, ok := ic.InputPlace()
			if !ok {
				continue
			}
			p := place{r.Transport.Spec.Name, key}
			for _, prev := range at[p] {
				if !c.runs(prev.Host) && !c.runs(r.Host) {
					continue
				}
				why, shared := ic.SharesInput(prev.Transport.Config)
				if !shared {
					continue
				}
				c.add(SharedInputs(r, prev, shown, why, srv.Name))
				break
			}
			at[p] = append(at[p], r)
		}
	}
}

// SharedInputs is the error (BP1004) of receive locations r and prev,
// both running on server srv, that both take from where (as a noun:
// `directory "in"`) an input such as why says: the rule of checkInputs,
// which the live rules apply too, to places that are one only on the
// server.
func SharedInputs(r, prev *model.ReceiveLocation, where, why, srv string) *hcl.Diagnostic {
	return diag.Errorf(diag.CodeInvalidValue, r.Transport.DeclRange, "Receive locations take the same inputs",
		"Receive location %q (host %q) and receive location %q (host %q) both take from %s (%s), and both run on server %q: each input would go to whichever took it first, through that location's pipeline and routing. Make what they take exclusive, or run them on hosts with instances on different servers.",
		r.Name, r.Host.Name, prev.Name, prev.Host.Name, where, why, srv)
}

// prevSensitive reports whether r's listen derives from a sensitive value.
func prevSensitive(r *model.ReceiveLocation) bool {
	lc, ok := r.Transport.Config.(component.ListenConfig)
	return ok && lc.ListenAddress().Sensitive
}

// listenKey is addr as the address listened on: its host (an IP address
// in its canonical form, a name in lower case) and its port number; false
// for port 0, a port by name, or an address net.Listen refuses (BP1004
// already).
func listenKey(addr string) (string, bool) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", false
	}
	n, err := strconv.ParseUint(strings.TrimPrefix(port, "+"), 10, 16)
	if err != nil || n == 0 {
		return "", false
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		host = ip.Unmap().String()
	} else {
		host = strings.ToLower(host)
	}
	return net.JoinHostPort(host, strconv.FormatUint(n, 10)), true
}

// checkOwners reports (BP1004) a server whose name a receive transport
// that runs there cannot work under (component.OwnerConfig: the file
// transport's claims carry it, and a name too long does not fit in a
// file name): run on that server would refuse to start. The name is the
// server's, or with Options.Host the one run --host works under
// (component.Owner). The diagnostic points at the server's name.
func (c *checker) checkOwners() {
	for _, srv := range c.cfg.Servers {
		if c.host != "" && srv.Name != c.server {
			continue
		}
		for _, r := range c.locationsOn(srv) {
			oc, ok := r.Transport.Config.(component.OwnerConfig)
			if !ok || !c.runs(r.Host) {
				continue
			}
			owner := component.Owner(srv.Name, c.host)
			err := oc.CheckOwner(owner)
			if err == nil || !c.once("owner "+owner) {
				continue
			}
			what := fmt.Sprintf("server %q", srv.Name)
			if c.host != "" {
				what = fmt.Sprintf("server %q with host %q (run --host works under %q)", srv.Name, c.host, owner)
			}
			c.add(diag.Errorf(diag.CodeInvalidValue, srv.DeclRange, "Server name too long for a receive location",
				"Receive location %q (transport %q of host %q) runs on %s, and its transport refuses that name: %v. run there would refuse to start. Give the server a shorter name.",
				r.Name, r.Transport.Spec.Name, r.Host.Name, what, err))
		}
	}
}
