package runner

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/model"
	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/pki/certstore"
	"github.com/bizpipe/bizpipe/internal/pki/thumbprint"
	"github.com/bizpipe/bizpipe/internal/redact"
)

// port is a send port as this server runs it.
type port struct {
	decl     *model.SendPort
	instance *model.Instance
	// stages are the pipeline's stages, built for this instance.
	stages []component.Stage
	sender component.Sender
	// transport names the transport in the error of a panic in it:
	// `transport "file"`.
	transport string
	// who names the instance in logs: host, server and service account.
	who string
	// hide are the sensitive values the port's logs and outcomes must not
	// show: the variables' and its transport's; log is the runner's log
	// with them replaced.
	hide secrets
	log  *slog.Logger
	// lineAttrs are the attributes of deliveryLog's lines after the
	// message's: the port's name and instance, secrets replaced once.
	lineAttrs []slog.Attr
	inner     slog.Handler // the runner's log's, for deliveryLog
}

// portSecrets are the runner's secrets plus the values of p's transport
// that derive from a sensitive value: its output directory, its TLS files.
func (r *Runner) portSecrets(p *model.SendPort) secrets {
	if p.Transport == nil {
		return r.hide
	}
	return r.hide.with(p.Transport.Sensitive...)
}

// route is any send port of the configuration, as the router sees it.
type route struct {
	decl *model.SendPort
}

func (r *Runner) provision() error {
	cfg := r.opts.Config
	var srv *model.Server
	for _, s := range cfg.Servers {
		if s.Name == r.opts.Server {
			srv = s
		}
	}
	if srv == nil {
		return fmt.Errorf("server %q is not declared in the configuration", r.opts.Server)
	}
	if r.opts.Host != "" {
		found := false
		for _, h := range cfg.Hosts {
			found = found || h.Name == r.opts.Host
		}
		if !found {
			return fmt.Errorf("host %q is not declared in the configuration", r.opts.Host)
		}
	}
	// The instance of each host on this server (the first, if a host has
	// several here: the contract is silent, BizTalk allows one, and a
	// host runs once in a process; the others are named at start).
	instances := map[*model.Host]*model.Instance{}
	for _, h := range cfg.Hosts {
		if r.opts.Host != "" && h.Name != r.opts.Host {
			continue
		}
		var others []string
		for _, in := range h.Instances {
			switch {
			case in.Server != srv:
			case instances[h] == nil:
				instances[h] = in
			default:
				others = append(others, describeInstance(in))
			}
		}
		if len(others) > 0 {
			r.log.Warn("host has several instances on this server; it runs once, as the first, and the others are not run",
				"host", h.Name, "instance", describeInstance(instances[h]), "not_run", strings.Join(others, "; "))
		}
	}
	for _, p := range cfg.SendPorts {
		if p.Filter != nil {
			r.routes = append(r.routes, &route{decl: p})
			if len(p.Host.Instances) == 0 {
				// Validate's BP3006 covers a signing port only.
				r.log.Warn("send port's host has no instance on any server: the messages routed to it wait in the message box until one is declared",
					"send_port", p.Name, "host", p.Host.Name)
			}
		}
		in := instances[p.Host]
		if in == nil {
			continue
		}
		pt, err := r.buildPort(p, in)
		if err != nil {
			return fmt.Errorf("send port %q on %s: %w", p.Name, describeInstance(in), r.portSecrets(p).err(err))
		}
		r.ports[p.Name] = pt
	}
	r.portList = sortedNames(r.ports)
	for _, rl := range cfg.ReceiveLocations {
		in := instances[rl.Host]
		if in == nil {
			continue
		}
		rc, err := r.buildReceiver(rl, in)
		if err != nil {
			return fmt.Errorf("receive location %q: %w", rl.Name, err)
		}
		r.recv = append(r.recv, rc)
	}
	r.buildJudges(srv)
	if len(r.ports) == 0 && len(r.recv) == 0 {
		return fmt.Errorf("nothing to run on server %q: no host with an instance there has a send port or receive location", srv.Name)
	}
	return nil
}

// buildJudges builds, for each send port asking for asynchronous AS2
// MDNs that this runner does not run, what judges those MDNs when this
// server runs an as2 receive location (r.judges): with a message box
// shared by several servers (language §8), the MDN for one of its sends
// may reach this server, through one async_mdn_url behind a load
// balancer, or because the receive hosts and the send hosts run on
// different servers, as BizTalk groups often have them. It is settled
// here through the box rather than refused, as the server that sent it
// may never see it. Judging needs only the partner's signing
// certificates, found in this server's other-people store, as the
// location's own decoders find them; a port whose MDNs cannot be judged
// here is noted in r.unjudged, and its MDNs are answered as temporary:
// sent again, they may reach a server that can.
func (r *Runner) buildJudges(srv *model.Server) {
	as2Here := false
	for _, rl := range r.opts.Config.ReceiveLocations {
		if _, runs := r.locWho[rl.Name]; runs && rl.Transport != nil {
			_, ok := rl.Transport.Config.(component.AS2Config)
			as2Here = as2Here || ok
		}
	}
	if !as2Here {
		return
	}
	for _, p := range r.opts.Config.SendPorts {
		if r.ports[p.Name] != nil || !asyncMDNs(p) {
			continue
		}
		pt, err := r.buildJudge(p, srv)
		if err != nil {
			err = r.portSecrets(p).err(err)
			r.log.Warn("send port not run on this server: its asynchronous MDNs that reach this server cannot be judged here, and are answered 503",
				"send_port", p.Name, "error", err)
			r.unjudged[p.Name] = err
			continue
		}
		r.judges[p.Name] = pt
	}
}

// buildJudge builds port p, which no instance on srv runs, to judge its
// receipts only: its transport with the parties' signing certificates of
// srv's other-people store, and no pipeline.
func (r *Runner) buildJudge(p *model.SendPort, srv *model.Server) (*port, error) {
	in := &model.Instance{Host: p.Host, Server: srv}
	var keys component.Keys
	if p.Transport.Needs().PartySigning == component.Needed {
		var err error
		if keys.PartySigners, _, err = r.partySigners(in); err != nil {
			return nil, err
		}
	}
	cfg, ok := p.Transport.Config.(component.JudgeConfig)
	if !ok {
		return nil, fmt.Errorf("transport %q judges no receipts", p.Transport.Spec.Name)
	}
	pt := r.newPort(p, in, fmt.Sprintf("server %q, judging its MDNs only", srv.Name))
	// Not the whole transport: what only sending needs (the files of
	// its tls block) is on the servers that send, not necessarily here.
	ck, err := cfg.NewJudge(r.sendEnv(pt, keys))
	if err != nil {
		return nil, err
	}
	pt.sender = ck
	if err := r.provisionComponent(ck); err != nil {
		return nil, err
	}
	return pt, nil
}

func describeInstance(in *model.Instance) string {
	s := fmt.Sprintf("host %q on server %q", in.Host.Name, in.Server.Name)
	if in.Account != nil {
		s += fmt.Sprintf(" as service account %q", in.Account.Name)
	}
	return s
}

// deliveryLog is the logger of the lines about delivery d of this port:
// each names the message, the send port and the instance, the keys every
// line about a message carries (see Runner.messageLog for the receive
// side), then more.
func (pt *port) deliveryLog(d *msgbox.Delivery, more ...slog.Attr) *slog.Logger {
	// d is one of pt's: every caller finds pt as r.ports[d.Port].
	return pt.hide.lineLog(pt.inner, slog.String("message_id", d.MessageID), pt.lineAttrs, more...)
}

func (r *Runner) buildPort(p *model.SendPort, in *model.Instance) (*port, error) {
	keys, err := r.keysFor(p.Needs(), p.EncryptionCertificate, in)
	if err != nil {
		return nil, err
	}
	pt := r.newPort(p, in, describeInstance(in))
	if err := r.buildStages(pt, keys); err != nil {
		return nil, err
	}
	if err := r.buildSender(pt, keys); err != nil {
		return nil, err
	}
	return pt, nil
}

// newPort is send port p on instance in, described as who in its log
// lines, with its loggers, before its stages and transport are built.
func (r *Runner) newPort(p *model.SendPort, in *model.Instance, who string) *port {
	pt := &port{decl: p, instance: in, who: who, hide: r.portSecrets(p)}
	if p.Transport != nil {
		pt.transport = fmt.Sprintf("transport %q", p.Transport.Spec.Name)
	}
	pt.log = pt.hide.logger(r.opts.Log)
	pt.inner = r.opts.Log.Handler()
	pt.lineAttrs = pt.hide.attrs(slog.String("send_port", p.Name), slog.String("instance", who))
	return pt
}

// buildSender builds and provisions pt's transport with keys.
func (r *Runner) buildSender(pt *port, keys component.Keys) error {
	p := pt.decl
	if p.Transport == nil {
		return fmt.Errorf("no transport")
	}
	cfg, ok := p.Transport.Config.(component.SenderConfig)
	if !ok {
		return fmt.Errorf("transport %q cannot send", p.Transport.Spec.Name)
	}
	var err error
	if pt.sender, err = cfg.NewSender(r.sendEnv(pt, keys)); err != nil {
		return err
	}
	return r.provisionComponent(pt.sender)
}

// sendEnv is what pt's transport is built with, keys its keys.
func (r *Runner) sendEnv(pt *port, keys component.Keys) *component.SendEnv {
	// The instance, as the receive transports' logger has it: a line a
	// transport logs about a message names it as the runner's lines do.
	env := &component.SendEnv{Port: pt.decl.Name, Keys: keys, Namespace: r.opts.Box.ID(), SpoolDir: r.opts.SpoolDir,
		Log:    pt.log.With("instance", pt.who),
		Shared: r.shared, PartyAS2IDs: map[string]string{}}
	if g := r.opts.Config.Group; g != nil && g.AS2ID.Usable() {
		env.AS2ID = g.AS2ID.V
	}
	for _, party := range r.opts.Config.Parties {
		if party.AS2ID.Usable() {
			env.PartyAS2IDs[party.Name] = party.AS2ID.V
		}
	}
	return env
}

// provisionComponent provisions v, a component just built, when it is a
// component.Provisioner, and keeps it for Close when it is an io.Closer,
// before provisioning it: a Provision that fails may hold something
// already (as Caddy's modules, it is closed all the same).
func (r *Runner) provisionComponent(v any) error {
	if c, ok := v.(io.Closer); ok {
		r.closers = append(r.closers, c)
	}
	if p, ok := v.(component.Provisioner); ok {
		// New, which provisions, has no context: provisioning is
		// part of starting, which a stop does not interrupt.
		if err := p.Provision(context.Background()); err != nil {
			return fmt.Errorf("provisioning: %w", err)
		}
	}
	return nil
}

// Close releases what the runner's components hold (the connections of
// their pools, files, listeners), closing every component that is an
// io.Closer, the last built first. Call it once Run or RunOnce has
// returned; New closes them itself when it fails.
func (r *Runner) Close() error {
	var errs []error
	for i := len(r.closers) - 1; i >= 0; i-- {
		if err := r.closers[i].Close(); err != nil {
			errs = append(errs, err)
		}
	}
	r.closers = nil
	return errors.Join(errs...)
}

// buildStages builds the stages of pt's pipeline with keys.
func (r *Runner) buildStages(pt *port, keys component.Keys) error {
	p := pt.decl.Pipeline
	if p == nil {
		return nil
	}
	for i, st := range p.Stages {
		cfg, ok := st.Config.(component.StageConfig)
		if !ok {
			return fmt.Errorf("pipeline %q stage %d: %s is not a pipeline stage", p.Name, i+1, st.Spec.Name)
		}
		s, err := cfg.NewStage(&component.StageEnv{Keys: keys, Rand: r.opts.Rand})
		if err == nil {
			err = r.provisionComponent(s)
		}
		if err != nil {
			return fmt.Errorf("pipeline %q stage %d (%s): %w", p.Name, i+1, st.Spec.Name, err)
		}
		pt.stages = append(pt.stages, s)
	}
	return nil
}

// keysFor finds the keys the port's pipeline and transport need on this
// instance: the group signing certificate and key in the service account's
// personal store, and the encryption certificate in the server's
// other-people store.
func (r *Runner) keysFor(needs component.Needs, encryptionCertificate model.Value[string], in *model.Instance) (component.Keys, error) {
	var keys component.Keys
	if needs.Signing == component.Needed {
		var err error
		if keys.Signer, keys.Rollover, err = r.signingKeys(in); err != nil {
			return keys, err
		}
	}
	if needs.Encryption == component.Needed {
		tp, err := thumbprint.Parse(encryptionCertificate.V)
		if err != nil {
			return keys, fmt.Errorf("encryption certificate: %w", thumbprintError(encryptionCertificate, err))
		}
		ops := in.Server.OtherPeopleStore
		if ops == nil {
			return keys, fmt.Errorf("server %q has no other-people store", in.Server.Name)
		}
		st := r.opts.Checked.Stores[ops]
		if st == nil {
			return keys, fmt.Errorf("other-people store %q was not loaded", ops.Name)
		}
		c := st.Find(tp)
		if c == nil {
			return keys, fmt.Errorf("other-people store %q has no certificate %s", ops.Name, shownThumbprint(encryptionCertificate, tp))
		}
		keys.Recipient = c.Cert
	}
	if needs.Decryption == component.Needed {
		h := in.Host
		if !h.DecryptionCertificate.Set {
			return keys, fmt.Errorf("host %q declares no decryption_certificate", h.Name)
		}
		tp, err := thumbprint.Parse(h.DecryptionCertificate.V)
		if err != nil {
			return keys, fmt.Errorf("decryption certificate: %w", thumbprintError(h.DecryptionCertificate, err))
		}
		st, err := r.personalStore(in)
		if err != nil {
			return keys, err
		}
		c := st.Find(tp)
		if c == nil || c.Key == nil || c.Key.Decrypter() == nil {
			return keys, fmt.Errorf("personal store %q has no decryption certificate %s with a private key that decrypts", in.Account.PersonalStore.Name,
				shownThumbprint(h.DecryptionCertificate, tp))
		}
		keys.Decrypter = &component.DecryptionIdentity{Cert: c.Cert, Key: c.Key.Decrypter()}
		// The previous certificates still decrypt what partners encrypt
		// for them while they switch (in the order configured, which
		// decodingSink's log names rely on): each is needed as the
		// current one is.
		for i, v := range h.PreviousDecryptionCertificates {
			tp, err := thumbprint.Parse(v.V)
			if err != nil {
				return keys, fmt.Errorf("previous_decryption_certificates[%d] of host %q: %w", i, h.Name, thumbprintError(v, err))
			}
			c := st.Find(tp)
			if c == nil || c.Key == nil || c.Key.Decrypter() == nil {
				return keys, fmt.Errorf("personal store %q has no previous decryption certificate %s (previous_decryption_certificates[%d] of host %q) with a private key that decrypts",
					in.Account.PersonalStore.Name, shownThumbprint(v, tp), i, h.Name)
			}
			keys.PreviousDecrypters = append(keys.PreviousDecrypters, &component.DecryptionIdentity{Cert: c.Cert, Key: c.Key.Decrypter()})
		}
	}
	if needs.PartySigning == component.Needed {
		signers, absent, err := r.partySigners(in)
		if err != nil {
			return keys, err
		}
		keys.PartySigners, keys.AbsentPartySigners = signers, absent
	}
	return keys, nil
}

// signingKeys finds the group signing identity in the personal store of
// the service account in runs as and, with a signing_rollover (language
// §12), the rollover identity, which signs from its at on: the stages and
// receivers choose per message by r.opts.Now. A rollover that is already
// due needs no current certificate; one still ahead whose identity is
// missing does not stop the run (validate reported BP3007), but from its
// at on signing fails (suspended, with the reason) until a restart with it
// deployed.
func (r *Runner) signingKeys(in *model.Instance) (*component.Identity, *component.Rollover, error) {
	g := r.opts.Config.Group
	st, err := r.personalStore(in)
	if err != nil {
		return nil, nil, err
	}
	var next *component.Rollover
	if ro := g.SigningRollover; ro != nil {
		tp, err := thumbprint.Parse(ro.Thumbprint.V)
		if err != nil {
			return nil, nil, fmt.Errorf("signing_rollover certificate: %w", thumbprintError(ro.Thumbprint, err))
		}
		if !ro.At.Usable() {
			return nil, nil, fmt.Errorf("signing_rollover of group %q has no usable at", g.Name)
		}
		next = &component.Rollover{At: ro.At.V, Now: r.opts.Now}
		if c := st.Find(tp); c != nil && c.Key != nil {
			next.Signer = &component.Identity{Cert: c.Cert, Key: c.Key.Signer(), Chain: intermediates(st, c.Cert)}
		} else {
			next.Missing = fmt.Errorf("personal store %q has no signing_rollover certificate %s with its private key, which signs since %s: deploy it, restart, and resume the suspended messages",
				in.Account.PersonalStore.Name, shownThumbprint(ro.Thumbprint, tp), ro.At.V.UTC().Format(time.RFC3339))
		}
		if !r.opts.Now().Before(next.At) {
			if next.Signer == nil {
				return nil, nil, next.Missing
			}
			return next.Signer, nil, nil // rolled over: no switch ahead
		}
	}
	tp, err := thumbprint.Parse(g.SigningCertificate.V)
	if err != nil {
		return nil, nil, fmt.Errorf("group signing certificate: %w", thumbprintError(g.SigningCertificate, err))
	}
	c := st.Find(tp)
	if c == nil || c.Key == nil {
		return nil, nil, fmt.Errorf("personal store %q has no signing certificate %s with its private key", in.Account.PersonalStore.Name,
			shownThumbprint(g.SigningCertificate, tp))
	}
	return &component.Identity{Cert: c.Cert, Key: c.Key.Signer(), Chain: intermediates(st, c.Cert)}, next, nil
}

// personalStore is the loaded personal store of the service account
// instance in runs as: where its signing and decryption keys are.
func (r *Runner) personalStore(in *model.Instance) (*certstore.Store, error) {
	if in.Account == nil || in.Account.PersonalStore == nil {
		return nil, fmt.Errorf("no service account store")
	}
	st := r.opts.Checked.Stores[in.Account.PersonalStore]
	if st == nil {
		return nil, fmt.Errorf("personal store %q was not loaded", in.Account.PersonalStore.Name)
	}
	return st, nil
}

// partySigners finds the parties' signing certificates in the other-people
// store of the server in runs on: what a verifying decoder trusts. A
// listed certificate missing there is left out (validate reports it,
// BP7006); expired ones are kept, as the decoder checks validity at each
// message's time of receipt. None found at all is an error: every signed
// message would be refused.
func (r *Runner) partySigners(in *model.Instance) ([]component.PartyCertificate, []component.AbsentPartyCertificate, error) {
	ops := in.Server.OtherPeopleStore
	if ops == nil {
		return nil, nil, fmt.Errorf("server %q has no other-people store to find the parties' signing certificates in", in.Server.Name)
	}
	st := r.opts.Checked.Stores[ops]
	if st == nil {
		return nil, nil, fmt.Errorf("other-people store %q was not loaded", ops.Name)
	}
	var out []component.PartyCertificate
	var absent []component.AbsentPartyCertificate
	for _, p := range r.opts.Config.Parties {
		for _, v := range p.SigningCertificates {
			tp, err := thumbprint.Parse(v.V)
			if err != nil {
				return nil, nil, fmt.Errorf("party %q signing certificate: %w", p.Name, thumbprintError(v, err))
			}
			if c := st.Find(tp); c != nil {
				out = append(out, component.PartyCertificate{Party: p.Name, Cert: c.Cert})
			} else {
				// Not deployed here yet (validate warns only when a
				// party has none): a message signed with it is refused
				// saying so.
				absent = append(absent, component.AbsentPartyCertificate{Party: p.Name, Thumbprint: shownThumbprint(v, tp),
					Matches: tp.Matches, Store: ops.Name})
			}
		}
	}
	if len(out) == 0 {
		return nil, nil, fmt.Errorf("other-people store %q has none of the parties' signing_certificates", ops.Name)
	}
	return out, absent, nil
}

// shownThumbprint is tp, parsed from v, as an error shows it: not at all
// when v is sensitive.
func shownThumbprint(v model.Value[string], tp thumbprint.Thumbprint) string {
	if v.Sensitive {
		return redact.Shown
	}
	return tp.String()
}

// thumbprintError is err, the parse error of v, as an error shows it: for
// a sensitive v without the character, position or digit count it names.
func thumbprintError(v model.Value[string], err error) error {
	if v.Sensitive {
		return thumbprint.ErrHidden
	}
	return err
}

// intermediates returns the CA certificates in st that chain cert towards a
// root, leaf-most first, without the self-signed root: what S/MIME embeds so
// recipients who trust only the root can verify.
func intermediates(st *certstore.Store, cert *x509.Certificate) []*x509.Certificate {
	var chain []*x509.Certificate
	cur := cert
	for range 8 {
		var next *x509.Certificate
		for _, c := range st.Certificates {
			x := c.Cert
			if x.IsCA && x != cur && string(x.RawSubject) == string(cur.RawIssuer) && cur.CheckSignatureFrom(x) == nil {
				next = x
				break
			}
		}
		if next == nil || string(next.RawSubject) == string(next.RawIssuer) {
			break
		}
		chain = append(chain, next)
		cur = next
	}
	return chain
}
