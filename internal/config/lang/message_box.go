package lang

import (
	"fmt"
	"net/url"

	"github.com/hashicorp/hcl/v2"

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
