package lang

import (
	"path/filepath"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/config/model"
)

// transportHeader is the schema entry for the transport block.
var transportHeader = hcl.BlockHeaderSchema{Type: "transport", LabelNames: []string{"kind"}}

// Defaults of transport attributes.
const (
	defaultPollInterval = time.Second
	defaultHTTPTimeout  = 30 * time.Second
	// defaultMaxBody matches the default max_message_size of the engine.
	defaultMaxBody = DefaultMaxMessageSize
)

var (
	receiveFileSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "path", Required: true}, {Name: "pattern"}, {Name: "poll_interval"},
	}}
	receiveHTTPSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "listen", Required: true}, {Name: "path"}, {Name: "max_body"},
	}}
	sendFileSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "path", Required: true}, {Name: "file_name"}, {Name: "copy_mode"},
	}}
	sendHTTPSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: "url", Required: true}, {Name: "headers"}, {Name: "timeout"}},
		Blocks:     []hcl.BlockHeaderSchema{{Type: "tls"}},
	}
	tlsSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "ca_file"}, {Name: "cert_file"}, {Name: "key_file"},
	}}
)

// transportBlock picks the single transport block of a receive location or
// send port, reporting none or several (BP1004).
func (d *decoder) transportBlock(owner *hcl.Block, blocks hcl.Blocks) *hcl.Block {
	var found []*hcl.Block
	for _, b := range blocks {
		if b.Type == transportHeader.Type {
			found = append(found, b)
		}
	}
	switch len(found) {
	case 0:
		d.add(diag.Errorf(diag.CodeInvalidValue, owner.DefRange, "Missing transport block",
			"%s needs one transport block: transport \"file\" { ... } or transport \"http\" { ... }.", describe(owner)))
		return nil
	case 1:
	default:
		d.add(diag.Errorf(diag.CodeInvalidValue, found[1].DefRange, "More than one transport block",
			"%s has more than one transport block; it takes exactly one.", describe(owner)))
	}
	b := found[0]
	if k := b.Labels[0]; k != "file" && k != "http" {
		d.add(diag.Errorf(diag.CodeInvalidValue, b.LabelRanges[0], "Unknown transport",
			"The transport of %s is %q; the known transports are \"file\" and \"http\".", describe(owner), k))
		return nil
	}
	return b
}

func (d *decoder) decodeReceiveTransport(owner, b *hcl.Block) *model.Transport {
	t := &model.Transport{Kind: b.Labels[0], DeclRange: b.DefRange}
	switch t.Kind {
	case "file":
		at, _ := d.contentOf(owner, b, receiveFileSchema)
		t.File = &model.FileTransport{
			Path:         d.path(at, "path"),
			Pattern:      d.str(at, "pattern"),
			PollInterval: d.duration(at, "poll_interval", defaultPollInterval),
		}
		if !t.File.Pattern.Set {
			t.File.Pattern = model.Defaulted("*", at.rng)
		} else if t.File.Pattern.Known {
			if _, err := filepath.Match(t.File.Pattern.V, ""); err != nil {
				d.add(diag.Errorf(diag.CodeInvalidValue, t.File.Pattern.Range, "Invalid file pattern",
					"The pattern of %s is not a valid glob pattern: %s.", at.what, err))
			}
		}
	case "http":
		at, _ := d.contentOf(owner, b, receiveHTTPSchema)
		t.HTTP = &model.HTTPTransport{
			Listen:  d.str(at, "listen"),
			Path:    d.str(at, "path"),
			MaxBody: d.size(at, "max_body", defaultMaxBody),
		}
		if !t.HTTP.Path.Set {
			t.HTTP.Path = model.Defaulted("/", at.rng)
		}
	}
	return t
}

func (d *decoder) decodeSendTransport(owner, b *hcl.Block) *model.Transport {
	t := &model.Transport{Kind: b.Labels[0], DeclRange: b.DefRange}
	switch t.Kind {
	case "file":
		at, _ := d.contentOf(owner, b, sendFileSchema)
		t.File = &model.FileTransport{
			Path:     d.path(at, "path"),
			CopyMode: d.enum(at, "copy_mode", "create_new", "create_new", "overwrite"),
		}
		if a, ok := at.m["file_name"]; ok {
			if d.checkTemplate(a.Expr, "file_name", at.what) {
				t.File.FileName = a.Expr
			}
		} else {
			t.File.FileName = defaultFileName(b.DefRange)
		}
	case "http":
		at, blocks := d.contentOf(owner, b, sendHTTPSchema)
		h := &model.HTTPTransport{Timeout: d.duration(at, "timeout", defaultHTTPTimeout)}
		if a, ok := at.m["url"]; ok && d.checkTemplate(a.Expr, "url", at.what) {
			h.URL = a.Expr
		}
		if a, ok := at.m["headers"]; ok {
			h.Headers = d.headers(a, at.what)
		}
		for _, tb := range blocks {
			h.TLS = d.decodeTLS(owner, tb)
		}
		t.HTTP = h
	}
	return t
}

// defaultFileName is the template "${message.id}", the file_name default.
func defaultFileName(rng hcl.Range) hcl.Expression {
	return &hclsyntax.ScopeTraversalExpr{
		Traversal: hcl.Traversal{
			hcl.TraverseRoot{Name: "message", SrcRange: rng},
			hcl.TraverseAttr{Name: "id", SrcRange: rng},
		},
		SrcRange: rng,
	}
}

// headers reads a map whose keys are constant header names and whose values
// are templates over the message.
func (d *decoder) headers(a *hcl.Attribute, what string) map[string]hcl.Expression {
	pairs, ds := hcl.ExprMap(a.Expr)
	if ds.HasErrors() {
		d.add(diag.Errorf(diag.CodeInvalidValue, a.Expr.Range(), "Invalid headers",
			"The headers attribute of %s must be a map of header names to templates, such as { \"X-Partner\" = \"fabrikam\" }.", what))
		return nil
	}
	out := map[string]hcl.Expression{}
	for _, p := range pairs {
		if !d.checkRefs(p.Key, false) {
			continue
		}
		k, ds := p.Key.Value(d.ctxFor(p.Key.Range()))
		k, _ = k.Unmark()
		if ds.HasErrors() || k.Type() != cty.String || !k.IsKnown() || k.IsNull() || k.AsString() == "" {
			d.add(diag.Errorf(diag.CodeInvalidValue, p.Key.Range(), "Invalid header name",
				"Header names in %s must be known, non-empty strings.", what))
			continue
		}
		if d.checkTemplate(p.Value, "header "+k.AsString(), what) {
			out[k.AsString()] = p.Value
		}
	}
	return out
}

func (d *decoder) decodeTLS(owner, b *hcl.Block) *model.TLSConfig {
	at, _ := d.contentOf(owner, b, tlsSchema)
	t := &model.TLSConfig{
		CAFile:    d.path(at, "ca_file"),
		CertFile:  d.path(at, "cert_file"),
		KeyFile:   d.path(at, "key_file"),
		DeclRange: b.DefRange,
	}
	if t.CertFile.Set != t.KeyFile.Set {
		d.add(diag.Errorf(diag.CodeInvalidValue, b.DefRange, "Incomplete client certificate",
			"The tls block of %s sets only one of cert_file and key_file; a client certificate needs both.", describe(owner)))
	}
	return t
}

// contentOf is content for a nested block, described by its owner so that
// messages say `transport "file" of send_port "x"`.
func (d *decoder) contentOf(owner, b *hcl.Block, schema *hcl.BodySchema) (attrs, hcl.Blocks) {
	at, blocks := d.content(b, schema)
	at.what = describe(b) + " of " + describe(owner)
	return at, blocks
}
