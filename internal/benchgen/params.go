// Package benchgen writes large, realistic bizpipe configurations for
// benchmarks: many .hcl files, hundreds of certificate stores holding PEM,
// DER and password-protected PKCS#12 files, thousands of hosts, host
// instances and send ports. With Params.Faults zero the configuration
// validates clean; each fault adds a known error (see Params.Expected), so
// that benchmarks and tests exercise the error path and can check the exact
// diagnostics.
//
// Generating RSA keys is slow, so a configuration uses few of them: the group
// signing key and Params.PartnerKeys partner keys shared by the partner
// certificates. Every other certificate has an ECDSA P-256 key.
package benchgen

import (
	"errors"
	"fmt"
)

// Params sizes a generated configuration. Default returns the size of the
// BenchmarkValidate target; Scale derives smaller ones.
type Params struct {
	// Hosts is the number of host blocks; each has InstancesPerHost
	// instances, on distinct servers.
	Hosts            int
	InstancesPerHost int
	// Servers is the number of servers; each has an other-people store.
	Servers int
	// SendPorts is the number of send ports, spread evenly over the hosts.
	SendPorts int
	// Stores is the number of certificate stores: one other-people store
	// per server, and one personal store per service account for the rest
	// (so there are Stores - Servers service accounts).
	Stores int
	// CertsPerStore is the number of certificates in each store: the
	// signing certificate or the partner certificates, plus filler
	// certificates (CA chain, TLS client certificates, an expired
	// certificate ...).
	CertsPerStore int
	// Partners is the number of partner certificates; every other-people
	// store holds all of them, so that every encrypting port validates on
	// every server. At most CertsPerStore.
	Partners int
	// PartnerKeys is the number of RSA keys the partner certificates share.
	PartnerKeys int
	// PKCS12Every puts the signing certificate and key of every
	// PKCS12Every-th personal store in a password-protected PKCS#12 file
	// (the others hold them as PEM), alternately modern (AES) and legacy
	// (RC2/3DES); the stores half-way between get a PKCS#12 filler
	// certificate (when CertsPerStore leaves room for six fillers). Zero
	// means no PKCS#12 files.
	PKCS12Every int
	// ReceiveLocations is the number of receive locations; send port
	// filters refer to them.
	ReceiveLocations int
	// HostsPerFile and PortsPerFile split hosts and send ports over
	// several .hcl files.
	HostsPerFile, PortsPerFile int
	// Faults is the number of deliberate errors, cycling through three
	// kinds: an encryption certificate that no store holds (BP4002 on each
	// server of the port's host), a service account whose personal store
	// has the signing certificate but not its key (BP3002 for each signing
	// port of one host), and a thumbprint with an invisible U+200E (BP2004).
	Faults int
}

// Default is the configuration of the BenchmarkValidate target: 1,000 hosts
// with 2 instances each on 50 servers, 2,000 send ports, and 200 stores of
// about 10 certificates each. It validates clean.
func Default() Params {
	return Params{
		Hosts:            1000,
		InstancesPerHost: 2,
		Servers:          50,
		SendPorts:        2000,
		Stores:           200,
		CertsPerStore:    10,
		Partners:         8,
		PartnerKeys:      3,
		PKCS12Every:      5,
		ReceiveLocations: 50,
		HostsPerFile:     100,
		PortsPerFile:     200,
	}
}

// Scale returns p with hosts and send ports (and so host instances and
// (send port, instance) pairs) multiplied by f, keeping servers and stores.
// Counts are rounded and at least 1.
func (p Params) Scale(f float64) Params {
	scale := func(n int) int { return max(1, int(float64(n)*f+0.5)) }
	p.Hosts = scale(p.Hosts)
	p.SendPorts = scale(p.SendPorts)
	return p
}

// Accounts is the number of service accounts: Stores - Servers.
func (p Params) Accounts() int { return p.Stores - p.Servers }

// Instances is the number of host instances.
func (p Params) Instances() int { return p.Hosts * p.InstancesPerHost }

// Check reports parameters that cannot make a configuration that validates
// clean: every server, account, host and pipeline must be used (or BP5002
// warns), and a host's instances must be on distinct servers.
func (p Params) Check() error {
	var errs []error
	positive := func(name string, v int) {
		if v < 1 {
			errs = append(errs, fmt.Errorf("%s must be at least 1, not %d", name, v))
		}
	}
	positive("Hosts", p.Hosts)
	positive("InstancesPerHost", p.InstancesPerHost)
	positive("Servers", p.Servers)
	positive("SendPorts", p.SendPorts)
	positive("CertsPerStore", p.CertsPerStore)
	positive("Partners", p.Partners)
	positive("PartnerKeys", p.PartnerKeys)
	positive("ReceiveLocations", p.ReceiveLocations)
	positive("HostsPerFile", p.HostsPerFile)
	positive("PortsPerFile", p.PortsPerFile)
	if p.Accounts() < 1 {
		errs = append(errs, fmt.Errorf("parameter Stores (%d) must exceed Servers (%d): the stores beyond one per server are the service accounts' personal stores", p.Stores, p.Servers))
	}
	if p.InstancesPerHost > p.Servers {
		errs = append(errs, fmt.Errorf("InstancesPerHost (%d) exceeds Servers (%d): a host's instances are on distinct servers", p.InstancesPerHost, p.Servers))
	}
	if n := p.Instances(); n < p.Servers || n < p.Accounts() {
		errs = append(errs, fmt.Errorf("%d host instances cannot use all %d servers and %d service accounts", n, p.Servers, p.Accounts()))
	}
	if cycle := len(pipelineCycle()); p.SendPorts < p.Hosts || p.SendPorts < cycle {
		errs = append(errs, fmt.Errorf("SendPorts (%d) must be at least Hosts (%d) and %d, so that every host and pipeline is used", p.SendPorts, p.Hosts, cycle))
	}
	if p.ReceiveLocations > p.Hosts {
		errs = append(errs, fmt.Errorf("parameter ReceiveLocations (%d) exceeds Hosts (%d)", p.ReceiveLocations, p.Hosts))
	}
	if p.Partners > p.CertsPerStore {
		errs = append(errs, fmt.Errorf("parameter Partners (%d) exceeds CertsPerStore (%d)", p.Partners, p.CertsPerStore))
	}
	if p.PKCS12Every < 0 || p.Faults < 0 {
		errs = append(errs, errors.New("parameters PKCS12Every and Faults must not be negative"))
	}
	if p.Faults > 0 && len(errs) == 0 {
		if n := len(newPlan(p).faults); n < p.Faults {
			errs = append(errs, fmt.Errorf("parameter Faults (%d): only %d hosts have a port that signs and encrypts, and faults go on distinct hosts", p.Faults, n))
		}
		if p.Faults > faultNoKey && p.InstancesPerHost >= p.Servers {
			errs = append(errs, fmt.Errorf("parameter Faults (%d) adds an instance to a host, which needs InstancesPerHost (%d) below Servers (%d)", p.Faults, p.InstancesPerHost, p.Servers))
		}
	}
	return errors.Join(errs...)
}

// Expected returns the error diagnostics, by code, that validating the
// configuration reports: none when Faults is zero. There are no warnings.
func (p Params) Expected() map[string]int {
	out := map[string]int{}
	pl := newPlan(p)
	for _, f := range pl.faults {
		out[f.code] += f.errors
	}
	return out
}
