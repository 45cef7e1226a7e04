package lang

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/jackc/pgx/v5/pgxpool"
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
		} else if u.Known {
			if err := PostgresURLError(u.V); err != nil {
				reason := ": " + err.Error()
				if u.Sensitive {
					reason = ""
				}
				d.add(diag.Errorf(diag.CodeInvalidValue, u.Range, "Invalid PostgreSQL URL",
					"The url of the postgres message box is refused by the PostgreSQL driver, as run would refuse it when it opens the box%s. Correct the URL (its port, sslmode, target_session_attrs, connect_timeout, pool_ settings).", reason))
				u = model.Value[string]{Range: u.Range}
			}
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

// machineParams are the URL parameters that name files (or a service in
// a file) the driver reads as it parses the URL: whether they can be read
// is the server's to say (BP6005), not the configuration's.
var machineParams = []string{"sslrootcert", "sslcert", "sslkey", "sslpassword", "passfile", "service", "servicefile"}

// PostgresURLError is why the PostgreSQL driver refuses s, a URL
// validPostgresURL accepts, as pgbox.Open parses it when run opens the
// message box (pgxpool.ParseConfig): a port that is not 1 to 65535, an
// unknown sslmode or target_session_attrs, a connect_timeout or pool_
// setting that is not a number, and so on. nil when the refusal may come
// from the machine instead: the files of machineParams, which are not
// read here, or the environment's PG* variables the driver reads for
// what the URL does not set (when a URL that sets nothing is refused too).
func PostgresURLError(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return nil // validPostgresURL reports it
	}
	q := u.Query()
	for _, p := range machineParams {
		q.Del(p)
	}
	u.RawQuery = q.Encode()
	_, err = pgxpool.ParseConfig(u.String())
	if err == nil {
		return nil
	}
	if _, envErr := pgxpool.ParseConfig("postgres:///"); envErr != nil {
		return nil // the environment's variables are refused: the server's may not be
	}
	// "cannot parse `URL`: why": the URL (its password redacted) is the
	// diagnostic's range already.
	msg := err.Error()
	if _, why, ok := strings.Cut(msg, "`: "); ok {
		msg = why
	}
	return errors.New(msg)
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
