package smime

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/bizpipe/bizpipe/internal/cms"
	"github.com/bizpipe/bizpipe/internal/component"
)

// NewDecoder builds the decoder with the keys its Needs asked for: the
// host's decryption identity when it decrypts, the parties' signing
// certificates when it verifies.
func (c *DecoderConfig) NewDecoder(env *component.DecoderEnv) (component.DecodeStage, error) {
	d := &decoder{
		decrypt:           c.Decrypt.V,
		verify:            c.Verify.V,
		requireEncryption: c.RequireEncryption.V,
		spoolDir:          env.SpoolDir,
		// A later stage may verify what this one does not: the
		// signature must reach it.
		keepSignatures: !c.Verify.V && env.Followed,
	}
	if d.decrypt {
		if env.Keys.Decrypter == nil || env.Keys.Decrypter.Cert == nil || env.Keys.Decrypter.Key == nil {
			return nil, errors.New("smime decoder: decrypt = true, but no decryption certificate with its private key was provided")
		}
		d.cert, d.key = env.Keys.Decrypter.Cert, env.Keys.Decrypter
		for _, p := range env.Keys.PreviousDecrypters {
			if p == nil || p.Cert == nil || p.Key == nil {
				return nil, errors.New("smime decoder: a previous decryption certificate was provided without its private key")
			}
			d.previous = append(d.previous, cms.Recipient{Cert: p.Cert, Key: p.Key})
		}
	}
	if d.verify {
		if len(env.Keys.PartySigners) == 0 {
			return nil, errors.New("smime decoder: verify = true, but no party signing certificate was provided")
		}
		// The parties' certificates are the trust anchors themselves: a
		// signature is accepted only when made with one of them (checked
		// again after verification, see Decode), not with anything a CA
		// among them issued, nor with the embedded certificate alone.
		d.roots = x509.NewCertPool()
		for _, pc := range env.Keys.PartySigners {
			d.roots.AddCert(pc.Cert)
			d.certs = append(d.certs, pc.Cert)
		}
		d.parties, d.absent = env.Keys.PartySigners, env.Keys.AbsentPartySigners
	}
	return d, nil
}

type decoder struct {
	decrypt, verify, requireEncryption bool
	keepSignatures                     bool
	spoolDir                           string
	cert                               *x509.Certificate
	key                                *component.DecryptionIdentity
	previous                           []cms.Recipient
	roots                              *x509.CertPool
	certs                              []*x509.Certificate
	parties                            []component.PartyCertificate
	absent                             []component.AbsentPartyCertificate
}

// Decode decodes one message with DecodeStream (bounded memory, spooled to
// d.spoolDir) and applies the location's policy: encryption required,
// signature required, signer among the parties. The policy is checked
// once DecodeStream has written dst, so a refused message may have left
// output there, which the caller discards (component.DecodeStage).
func (d *decoder) Decode(ctx context.Context, in component.Header, src io.Reader, dst io.Writer, at time.Time) (component.Decoded, error) {
	// A location that does not verify unwraps signatures unchecked: what
	// it decodes is as unauthenticated as the unsigned messages it
	// accepts, and gets no party. Followed by another stage, it leaves
	// them to that one.
	opts := DecodeOptions{Roots: d.roots, Certs: d.certs, Parties: d.parties, AbsentParties: d.absent, Now: at, SpoolDir: d.spoolDir, Unverified: !d.verify,
		KeepSignatures: d.keepSignatures, MICHash: component.MICHash(ctx)}
	if d.decrypt {
		opts.Cert, opts.Key, opts.Previous = d.cert, d.key.Key, d.previous
	}
	if in.MIME {
		// The transport read the header (HTTP): DecodeStream reads an
		// entity, so it gets its header back in front of the body.
		var h bytes.Buffer
		for _, f := range in.Fields {
			fmt.Fprintf(&h, "%s: %s\r\n", f.Name, f.Value)
		}
		h.WriteString("\r\n")
		var err error
		if src, err = entityOf(h.Bytes(), src); err != nil {
			return component.Decoded{}, fmt.Errorf("smime: reading the message: %w", err)
		}
	}
	res, err := DecodeStream(ctx, src, dst, opts)
	if err != nil {
		return component.Decoded{}, err
	}
	out, err := d.judge(res)
	if err != nil && res.Unauthenticated {
		// The signature or the signer refused past a CBC decryption
		// answers as a bad padding does (component.Unauthenticated).
		err = component.Unauthenticated(err)
	}
	return out, err
}

// judge applies the location's policy to what DecodeStream found.
func (d *decoder) judge(res *DecodeResult) (component.Decoded, error) {
	if d.requireEncryption && !res.Encrypted {
		return component.Decoded{}, component.Refusal(component.ErrInsufficientSecurity, errors.New("smime: the message is not encrypted, and this location requires encryption"))
	}
	out := component.Decoded{Header: component.Header{Fields: []component.Field{{Name: "Content-Type", Value: res.ContentType}}, MIME: true},
		DecryptedWith: res.DecryptedWith, MIC: res.MIC, Unauthenticated: res.Unauthenticated}
	if res.Whole {
		// dst holds the signed entity, header included, for the next
		// stage to read whole.
		out.Header = component.Header{}
	}
	if !d.verify {
		return out, nil
	}
	if !res.Signed || res.Signer == nil {
		return component.Decoded{}, component.Refusal(component.ErrInsufficientSecurity, errors.New("smime: the message is not signed, and this location requires a signature"))
	}
	for _, pc := range d.parties {
		// Every party that lists the certificate, not only the first:
		// an AS2 sink keeps the one named by the AS2-From.
		if bytes.Equal(pc.Cert.Raw, res.Signer.Raw) && !slices.Contains(out.Parties, pc.Party) {
			out.Parties = append(out.Parties, pc.Party)
		}
	}
	if len(out.Parties) == 0 {
		return component.Decoded{}, component.Refusal(component.ErrAuthenticationFailed, notPartySignerError(res.Signer, d.absent))
	}
	// By name, not by declaration: the order of the blocks and the names
	// of the files never change the meaning (language §2).
	slices.Sort(out.Parties)
	out.Party = out.Parties[0]
	return out, nil
}
