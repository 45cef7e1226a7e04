package benchgen

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Generate writes a configuration sized by p into dir, which must be empty or
// not exist: .hcl files directly in dir and the certificate stores under
// dir/stores. Validate it with `bizpipe validate dir`.
func Generate(dir string, p Params) error {
	if err := p.Check(); err != nil {
		return fmt.Errorf("benchgen: %w", err)
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("benchgen: %s is not empty", dir)
	}
	k, err := newPKI(p, time.Now())
	if err != nil {
		return fmt.Errorf("benchgen: %w", err)
	}
	g := &generator{dir: dir, p: p, plan: newPlan(p), pki: k}
	for _, step := range []func() error{g.writeStores, g.writeConfig} {
		if err := step(); err != nil {
			return fmt.Errorf("benchgen: %w", err)
		}
	}
	return nil
}

type generator struct {
	dir  string
	p    Params
	plan *plan
	pki  *pki
}

func (g *generator) write(rel string, data []byte) error {
	name := filepath.Join(g.dir, rel)
	if err := os.MkdirAll(filepath.Dir(name), 0o700); err != nil {
		return err
	}
	// Private keys are written 0600 so that the live checks (BP6003) find
	// nothing to complain about either.
	return os.WriteFile(name, data, 0o600)
}

// Store directories, relative to the configuration directory.
func personalDir(a int) string { return filepath.Join("stores", "personal", accountName(a)) }
func otherDir(s int) string    { return filepath.Join("stores", "other_people", serverName(s)) }
func faultDir(j int) string    { return filepath.Join("stores", "personal", faultAccount(j)) }

// writeStores writes every store directory.
func (g *generator) writeStores() error {
	for a := range g.p.Accounts() {
		if err := g.writePersonalStore(personalDir(a), a, true); err != nil {
			return err
		}
	}
	for s := range g.p.Servers {
		if err := g.writeOtherPeopleStore(s); err != nil {
			return err
		}
	}
	for j, f := range g.plan.faults {
		if f.kind == faultNoKey {
			if err := g.writePersonalStore(faultDir(j), g.p.Accounts()+j, false); err != nil {
				return err
			}
		}
	}
	return nil
}

// writePersonalStore writes a service account's personal store: the group
// signing certificate (with its key when withKey), the CA chain and filler
// certificates, about CertsPerStore in all, in every format a store takes.
func (g *generator) writePersonalStore(dir string, a int, withKey bool) error {
	k := g.pki
	files := map[string][]byte{}
	every := g.p.PKCS12Every
	switch {
	case !withKey:
		files["contoso-signing.cer"] = k.signing.certPEM()
	case every > 0 && a%every == 0:
		data, err := k.signing.pkcs12((a/every)%2 == 1, k.inter, k.root)
		if err != nil {
			return err
		}
		files["contoso-signing.pfx"] = data
	case a%2 == 0:
		// Certificate and PKCS#1 key in one file.
		key, err := k.signing.keyPEM(true)
		if err != nil {
			return err
		}
		files["contoso-signing.pem"] = append(k.signing.certPEM(), key...)
	default:
		// Certificate and PKCS#8 key in separate files.
		key, err := k.signing.keyPEM(false)
		if err != nil {
			return err
		}
		files["contoso-signing.crt"] = k.signing.certPEM()
		files["contoso-signing.key"] = key
	}
	files["chain.pem"] = append(k.inter.certPEM(), k.root.certPEM()...)
	for i := range max(0, g.p.CertsPerStore-3) {
		if err := g.addFiller(files, a, i); err != nil {
			return err
		}
	}
	return g.writeAll(dir, files)
}

// addFiller adds the i-th filler certificate of personal store a, cycling
// through the formats a store takes.
func (g *generator) addFiller(files map[string][]byte, a, i int) error {
	k := g.pki
	cn := fmt.Sprintf("%s filler %d", accountName(a), i)
	v := validFor(k.now, 2)
	kind := kindSMIME
	switch i % 6 {
	case 0:
		kind = kindTLSClient
	case 2:
		v = expired(k.now)
	}
	c, err := k.filler(cn, kind, v)
	if err != nil {
		return err
	}
	every := g.p.PKCS12Every
	switch i % 6 {
	case 0: // TLS client certificate and its SEC 1 key in two PEM files
		key, err := c.keyPEM(true)
		if err != nil {
			return err
		}
		files[fmt.Sprintf("tls-client-%d.crt", i)] = c.certPEM()
		files[fmt.Sprintf("tls-client-%d.key", i)] = key
	case 1: // DER, .cer
		files[fmt.Sprintf("ack-%d.cer", i)] = c.x509.Raw
	case 2: // an expired certificate left behind, PEM
		files[fmt.Sprintf("old-signing-%d.pem", i)] = c.certPEM()
	case 3: // DER, .der
		files[fmt.Sprintf("smime-%d.der", i)] = c.x509.Raw
	case 4: // certificate and PKCS#8 key in one PEM file
		key, err := c.keyPEM(false)
		if err != nil {
			return err
		}
		files[fmt.Sprintf("combined-%d.pem", i)] = append(c.certPEM(), key...)
	default: // PKCS#12 in some stores, PEM in the others
		if every > 0 && a%every == every/2 {
			data, err := c.pkcs12(i%2 == 1, k.inter)
			if err != nil {
				return err
			}
			files[fmt.Sprintf("client-%d.p12", i)] = data
		} else {
			files[fmt.Sprintf("client-%d.pem", i)] = c.certPEM()
		}
	}
	return nil
}

// writeOtherPeopleStore writes server s's other-people store: every partner
// certificate (PEM or DER), the CA certificates and unique fillers.
func (g *generator) writeOtherPeopleStore(s int) error {
	k := g.pki
	files := map[string][]byte{}
	for j, c := range k.partners {
		switch j % 3 {
		case 0:
			files[partnerName(j)+".pem"] = c.certPEM()
		case 1:
			files[partnerName(j)+".cer"] = c.x509.Raw
		default:
			files[partnerName(j)+".crt"] = c.certPEM()
		}
	}
	rest := g.p.CertsPerStore - len(k.partners)
	if rest > 0 {
		files["root-ca.pem"] = k.root.certPEM()
		rest--
	}
	if rest > 0 {
		files["issuing-ca.cer"] = k.inter.x509.Raw
		rest--
	}
	for i := range max(rest, 0) {
		c, err := k.filler(fmt.Sprintf("%s retired partner %d", serverName(s), i), kindSMIME, validFor(k.now, 1))
		if err != nil {
			return err
		}
		files[fmt.Sprintf("retired-%d.pem", i)] = c.certPEM()
	}
	if s%10 == 0 {
		files["README.txt"] = []byte("Partner certificates for " + serverName(s) + ". Managed by the platform team.\n")
	}
	return g.writeAll(otherDir(s), files)
}

func (g *generator) writeAll(dir string, files map[string][]byte) error {
	for name, data := range files {
		if err := g.write(filepath.Join(dir, name), data); err != nil {
			return err
		}
	}
	return nil
}

// writeConfig writes the .hcl files.
func (g *generator) writeConfig() error {
	files := map[string]string{
		"00-group.hcl":     g.groupHCL(),
		"01-stores.hcl":    g.storesHCL(),
		"02-accounts.hcl":  g.accountsHCL(),
		"03-servers.hcl":   g.serversHCL(),
		"04-pipelines.hcl": g.pipelinesHCL(),
		"05-receive.hcl":   g.receiveHCL(),
	}
	for first := 0; first < g.p.Hosts; first += g.p.HostsPerFile {
		files[fmt.Sprintf("10-hosts-%03d.hcl", first/g.p.HostsPerFile)] = g.hostsHCL(first, min(first+g.p.HostsPerFile, g.p.Hosts))
	}
	for first := 0; first < g.p.SendPorts; first += g.p.PortsPerFile {
		files[fmt.Sprintf("20-ports-%03d.hcl", first/g.p.PortsPerFile)] = g.portsHCL(first, min(first+g.p.PortsPerFile, g.p.SendPorts))
	}
	for name, src := range files {
		if err := g.write(name, []byte(src)); err != nil {
			return err
		}
	}
	return nil
}

func (g *generator) groupHCL() string {
	return fmt.Sprintf(`# Generated by internal/benchgen: %d hosts x %d instances on %d servers,
# %d send ports, %d certificate stores. BENCHMARK DATA ONLY.

group "contoso" {
  # SHA-1 thumbprint of the group signing certificate, as Windows shows it.
  signing_certificate        = %q
  certificate_expiry_warning = "720h"
}

variable "p12_password" {
  type        = string
  description = "Password of the PKCS#12 files in the personal stores."
  default     = %q
  sensitive   = true
}

locals {
  out_root = "out"
}
`, g.p.Hosts, g.p.InstancesPerHost, g.p.Servers, g.p.SendPorts, g.p.Stores, g.pki.signing.thumbprintForm(0), p12Password)
}

func (g *generator) storesHCL() string {
	var b strings.Builder
	for a := range g.p.Accounts() {
		fmt.Fprintf(&b, "certificate_store %q {\n  path     = %q\n  password = var.p12_password\n}\n\n", personalStore(a), filepath.ToSlash(personalDir(a)))
	}
	for s := range g.p.Servers {
		fmt.Fprintf(&b, "certificate_store %q {\n  path = %q\n}\n\n", otherStore(s), filepath.ToSlash(otherDir(s)))
	}
	for j, f := range g.plan.faults {
		if f.kind == faultNoKey {
			fmt.Fprintf(&b, "# Fault: the signing certificate without its key.\ncertificate_store %q {\n  path     = %q\n  password = var.p12_password\n}\n\n", faultStore(j), filepath.ToSlash(faultDir(j)))
		}
	}
	return b.String()
}

func (g *generator) accountsHCL() string {
	var b strings.Builder
	for a := range g.p.Accounts() {
		fmt.Fprintf(&b, "service_account %q {\n  user           = \"bts-%03d\"\n  personal_store = certificate_store.%s\n}\n\n", accountName(a), a, personalStore(a))
	}
	for j, f := range g.plan.faults {
		if f.kind == faultNoKey {
			fmt.Fprintf(&b, "service_account %q {\n  personal_store = certificate_store.%s\n}\n\n", faultAccount(j), faultStore(j))
		}
	}
	return b.String()
}

func (g *generator) serversHCL() string {
	var b strings.Builder
	for s := range g.p.Servers {
		fmt.Fprintf(&b, "server %q {\n  other_people_store = certificate_store.%s\n}\n\n", serverName(s), otherStore(s))
	}
	return b.String()
}

func (g *generator) pipelinesHCL() string {
	var b strings.Builder
	for _, pl := range pipelineSpecs() {
		fmt.Fprintf(&b, "pipeline %q {\n%s}\n\n", pl.name, pl.body)
	}
	return b.String()
}

func (g *generator) receiveHCL() string {
	var b strings.Builder
	for r := range g.p.ReceiveLocations {
		fmt.Fprintf(&b, `receive_location %q {
  host         = host.%s
  content_type = "application/xml"
  properties   = { partner = %q, kind = "order" }
  transport "file" {
    path    = "in/%03d"
    pattern = "*.xml"
  }
}

`, receiveName(r), hostName(r), partnerName(r%g.p.Partners), r)
	}
	return b.String()
}

func (g *generator) hostsHCL(first, end int) string {
	var b strings.Builder
	for h := first; h < end; h++ {
		fmt.Fprintf(&b, "host %q {\n", hostName(h))
		for k := range g.p.InstancesPerHost {
			fmt.Fprintf(&b, "  instance {\n    server          = server.%s\n    service_account = service_account.%s\n  }\n",
				serverName(g.plan.instanceServer(h, k)), accountName(g.plan.instanceAccount(h, k)))
		}
		if f := g.plan.hostFault[h]; f != nil && f.kind == faultNoKey {
			fmt.Fprintf(&b, "  # Fault: this account's store has the signing certificate but not its key.\n  instance {\n    server          = server.%s\n    service_account = service_account.%s\n  }\n",
				serverName(g.plan.instanceServer(h, g.p.InstancesPerHost)), faultAccount(f.index))
		}
		b.WriteString("}\n\n")
	}
	return b.String()
}

func (g *generator) portsHCL(first, end int) string {
	var b strings.Builder
	specs := pipelineSpecs()
	for i := first; i < end; i++ {
		r := i % g.p.ReceiveLocations
		partner := r % g.p.Partners
		fmt.Fprintf(&b, "send_port %q {\n  host = host.%s\n", portName(i), hostName(g.plan.portHost(i)))
		if pi := portPipeline(i); pi >= 0 {
			fmt.Fprintf(&b, "  pipeline = pipeline.%s\n", specs[pi].name)
			if specs[pi].encrypt {
				tp := g.pki.partners[partner].thumbprintForm(i)
				switch f := g.plan.portFault[i]; {
				case f != nil && f.kind == faultMissingCert:
					b.WriteString("  # Fault: no store holds this certificate.\n")
					tp = randomThumbprint()
				case f != nil && f.kind == faultBadThumbprint:
					b.WriteString("  # Fault: an invisible LEFT-TO-RIGHT MARK before the thumbprint.\n")
					tp = "\u200e" + tp
				}
				fmt.Fprintf(&b, "  encryption_certificate = %q\n", tp)
			}
		}
		switch i % 4 {
		case 0:
			fmt.Fprintf(&b, "  filter = message.receive_location == %q && message.properties.partner == %q\n", receiveName(r), partnerName(partner))
		case 1:
			fmt.Fprintf(&b, "  filter = contains([\"order\", \"invoice\"], message.properties.kind) && message.properties.partner == %q\n", partnerName(partner))
		case 2:
			fmt.Fprintf(&b, "  filter = message.receive_location == %q && message.size > 0\n", receiveName(r))
		default:
			fmt.Fprintf(&b, "  filter = lookup(message.properties, \"partner\", \"\") == %q && message.content_type == \"application/xml\"\n", partnerName(partner))
		}
		fmt.Fprintf(&b, "  transport \"file\" {\n    path      = \"${local.out_root}/%s/%s\"\n", partnerName(partner), portName(i))
		switch i % 3 {
		case 0:
			b.WriteString("    file_name = \"${message.id}.eml\"\n")
		case 1:
			b.WriteString("    file_name = \"${message.properties.partner}-${message.id}.p7m\"\n    copy_mode = \"overwrite\"\n")
		}
		b.WriteString("  }\n")
		if i%5 == 0 {
			b.WriteString("  retry {\n    attempts = 5\n    interval = \"10m\"\n  }\n")
		}
		b.WriteString("}\n\n")
	}
	return b.String()
}

// randomThumbprint is a SHA-1 thumbprint of no certificate.
func randomThumbprint() string {
	b := make([]byte, 20)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return strings.ToUpper(hex.EncodeToString(b))
}
