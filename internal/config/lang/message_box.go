package lang

import (
	"fmt"
	"net/url"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/config/model"
)

var (
	messageBoxSchema = schemaOf(blockMessageBox)
	sqliteSchema     = schemaOf(blockMessageBox, "sqlite")
	postgresSchema   = schemaOf(blockMessageBox, "postgres")
)

func (d *decoder) decodeMessageBoxBlock(b *hcl.Block) {
	if d.cfg.MessageBox != nil {
		d.add(diag.Errorf(diag.CodeDuplicate, b.DefRange, "More than one message_box block",
			"A configuration has at most one message_box block; the first is at %s.", d.cfg.MessageBox.DeclRange))
		return
	}
	_, blocks := d.content(b, messageBoxSchema)
	mb := &model.MessageBox{DeclRange: b.DefRange}
	d.cfg.MessageBox = mb
	if len(blocks) != 1 {
		d.add(diag.Errorf(diag.CodeInvalidValue, b.DefRange, "message_box needs one backend",
			"The message_box block takes exactly one of sqlite { path = ... } or postgres { url = ... }."))
		if len(blocks) == 0 {
			return
		}
	}
	kb := blocks[0]
	d.needKnown = d.opts.NeedMessageBox
	defer func() { d.needKnown = false }()
	switch kb.Type {
	case "sqlite":
		at, _ := d.contentOf(b, kb, sqliteSchema)
		p := d.path(at, "path")
		mb.SQLitePath = &p
	case "postgres":
		at, _ := d.contentOf(b, kb, postgresSchema)
		u := d.str(at, "url")
		if u.Known && !validPostgresURL(u.V) {
			shown := "it"
			if !u.Sensitive {
				shown = fmt.Sprintf("%q", redactURL(u.V))
			}
			d.add(diag.Errorf(diag.CodeInvalidValue, u.Range, "Invalid PostgreSQL URL",
				"The url of the postgres message box must be a PostgreSQL connection URL such as \"postgres://bizpipe@db.example:5432/bizpipe\"; %s is not.", shown))
			u = model.Value[string]{Range: u.Range}
		}
		mb.PostgresURL = &u
	}
}

// validPostgresURL accepts the URL forms pgx accepts: postgres:// and
// postgresql:// with a host or a socket directory.
func validPostgresURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql")
}

// redactURL hides the password of a connection URL.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// missingInputs are the errors of the variables and env() calls without a
// value that expr depends on, directly or through locals: what makes its
// value unknown in ModeValidate, said as ModeRun says it.
func (d *decoder) missingInputs(expr hcl.Expression) hcl.Diagnostics {
	var out hcl.Diagnostics
	seenVars, seenLocals, seenEnv := map[string]bool{}, map[string]bool{}, map[string]bool{}
	var walk func(hcl.Expression)
	walk = func(expr hcl.Expression) {
		for _, tr := range expr.Variables() {
			name, _, ok := secondStep(tr)
			if !ok {
				continue
			}
			switch tr.RootName() {
			case "var":
				if v := d.vars[name]; v != nil && !seenVars[name] && !v.Value.IsWhollyKnown() {
					seenVars[name] = true
					out = append(out, noValue(v))
				}
			case "local":
				if l := d.locals[name]; l != nil && !seenLocals[name] && !l.Value.IsWhollyKnown() {
					seenLocals[name] = true
					walk(l.Expr)
				}
			}
		}
		// env() is a function: no traversal names what it reads. A call
		// with a literal name is found in native syntax (a JSON file's
		// expression has no such tree).
		node, ok := expr.(hclsyntax.Node)
		if !ok {
			return
		}
		_ = hclsyntax.VisitAll(node, func(n hclsyntax.Node) hcl.Diagnostics {
			call, ok := n.(*hclsyntax.FunctionCallExpr)
			if !ok || call.Name != "env" || len(call.Args) != 1 {
				return nil
			}
			arg, ds := call.Args[0].Value(nil)
			if ds.HasErrors() || !arg.IsKnown() || arg.IsNull() || arg.Type() != cty.String {
				return nil
			}
			name := arg.AsString()
			if _, set := d.opts.LookupEnv(name); set || seenEnv[name] {
				return nil
			}
			seenEnv[name] = true
			out = append(out, diag.Errorf(diag.CodeInvalidValue, call.Range(), "Environment variable not set",
				"env(%q) reads the environment variable %s, which is not set.", name, name))
			return nil
		})
	}
	walk(expr)
	return out
}
