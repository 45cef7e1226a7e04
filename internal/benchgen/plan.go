package benchgen

import "fmt"

// pipelineSpec is one pipeline block of the generated configuration.
type pipelineSpec struct {
	name          string
	sign, encrypt bool
	body          string // the encoder block
}

// pipelineSpecs are the pipelines, in the order portPipeline refers to them.
func pipelineSpecs() []pipelineSpec {
	return []pipelineSpec{
		{"sign_encrypt", true, true, `  encoder "smime" {
    signature            = "clear"
    digest               = "sha256"
    encrypt              = true
    encryption_algorithm = "aes256-cbc"
  }
`},
		{"sign_encrypt_gcm", true, true, `  encoder "smime" {
    signature                 = "opaque"
    digest                    = "sha384"
    encrypt                   = true
    encryption_algorithm      = "aes256-gcm"
    content_transfer_encoding = "base64"
  }
`},
		{"sign", true, false, `  encoder "smime" {
    signature = "clear"
  }
`},
		{"sign_opaque", true, false, `  encoder "smime" {
    signature           = "opaque"
    digest              = "sha512"
    include_certificate = false
  }
`},
		{"encrypt", false, true, `  encoder "smime" {
    encrypt              = true
    encryption_algorithm = "aes128-cbc"
  }
`},
	}
}

// pipelineCycle assigns pipelines to send ports in turn: index into
// pipelineSpecs, or -1 for a pass-through port (no pipeline). Of ten ports,
// four sign and encrypt, three only sign, one only encrypts and two pass
// through.
func pipelineCycle() []int { return []int{0, 0, 0, 1, 2, 2, 3, 4, -1, -1} }

// portPipeline is the pipeline of send port i, or -1.
func portPipeline(i int) int {
	c := pipelineCycle()
	return c[i%len(c)]
}

// Fault kinds, in the order Params.Faults cycles through them.
const (
	faultMissingCert   = iota // the encryption certificate is in no store: BP4002
	faultNoKey                // an extra instance whose store lacks the signing key: BP3002
	faultBadThumbprint        // an invisible U+200E in a thumbprint: BP2004
	faultKinds
)

// fault is one deliberate error.
type fault struct {
	index  int // in plan.faults; names the fault's account and store
	kind   int
	port   int // the send port involved
	host   int // its host
	code   string
	errors int // how many error diagnostics it causes
}

// plan is the shape of a configuration, decided before any certificate is
// made: which instance runs where, which port has which pipeline and fault.
type plan struct {
	p      Params
	faults []fault
	// portFault and hostFault map a send port or host to its fault.
	portFault, hostFault map[int]*fault
}

func newPlan(p Params) *plan {
	pl := &plan{p: p, portFault: map[int]*fault{}, hostFault: map[int]*fault{}}
	if p.Faults == 0 {
		return pl
	}
	// Faults go on ports that sign and encrypt, spread over the
	// configuration, at most one per host so that they do not interact.
	var candidates []int
	for i := range p.SendPorts {
		if pi := portPipeline(i); pi >= 0 && pipelineSpecs()[pi].sign && pipelineSpecs()[pi].encrypt {
			candidates = append(candidates, i)
		}
	}
	// Visit the candidates spread out first: every stride-th, then the
	// ones after those, and so on.
	stride := max(1, len(candidates)/p.Faults)
	taken := map[int]bool{}
	for off := 0; off < stride && len(pl.faults) < p.Faults; off++ {
		for c := off; c < len(candidates) && len(pl.faults) < p.Faults; c += stride {
			port := candidates[c]
			host := pl.portHost(port)
			if taken[host] {
				continue
			}
			taken[host] = true
			n := len(pl.faults)
			f := fault{index: n, kind: n % faultKinds, port: port, host: host}
			switch f.kind {
			case faultMissingCert:
				f.code, f.errors = "BP4002", p.InstancesPerHost
			case faultNoKey:
				f.code, f.errors = "BP3002", pl.signingPorts(host)
			case faultBadThumbprint:
				f.code, f.errors = "BP2004", 1
			}
			pl.faults = append(pl.faults, f)
		}
	}
	for i := range pl.faults {
		pl.portFault[pl.faults[i].port] = &pl.faults[i]
		pl.hostFault[pl.faults[i].host] = &pl.faults[i]
	}
	return pl
}

// portHost is the host of send port i: ports are dealt out to hosts in turn.
func (pl *plan) portHost(i int) int { return i % pl.p.Hosts }

// signingPorts counts the send ports of host h whose pipeline signs.
func (pl *plan) signingPorts(h int) int {
	n := 0
	for i := h; i < pl.p.SendPorts; i += pl.p.Hosts {
		if pi := portPipeline(i); pi >= 0 && pipelineSpecs()[pi].sign {
			n++
		}
	}
	return n
}

// instanceServer is the server of instance k of host h: consecutive, so that
// a host's instances are on distinct servers and all servers are used.
func (pl *plan) instanceServer(h, k int) int {
	return (h*pl.p.InstancesPerHost + k) % pl.p.Servers
}

// instanceAccount is the service account of instance k of host h.
func (pl *plan) instanceAccount(h, k int) int {
	return (h*pl.p.InstancesPerHost + k) % pl.p.Accounts()
}

// Names of the generated objects.
func hostName(h int) string      { return fmt.Sprintf("h_%04d", h) }
func serverName(s int) string    { return fmt.Sprintf("srv_%02d", s) }
func accountName(a int) string   { return fmt.Sprintf("svc_%03d", a) }
func portName(i int) string      { return fmt.Sprintf("port_%04d", i) }
func receiveName(r int) string   { return fmt.Sprintf("in_%03d", r) }
func partnerName(j int) string   { return fmt.Sprintf("partner_%02d", j) }
func personalStore(a int) string { return fmt.Sprintf("personal_%03d", a) }
func otherStore(s int) string    { return fmt.Sprintf("other_people_%02d", s) }
func faultAccount(j int) string  { return fmt.Sprintf("svc_fault_%d", j) }
func faultStore(j int) string    { return fmt.Sprintf("personal_fault_%d", j) }
