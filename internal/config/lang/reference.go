package lang

import (
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/component"
)

// Block documents a block type of the language. The table returned by Blocks
// is the one place a block's attributes and nested blocks are declared: the
// decoder's schemas derive from it (schemaOf), and the language reference in
// docs/ is generated from it, so that neither can drift from the other.
type Block struct {
	Type string
	// Labels are the names of the block's labels: {"name"} for
	// group "contoso"; none for locals and message_box.
	Labels []string
	// Occurs says how many blocks of the type a configuration (or the
	// enclosing block) may have: "exactly one", "at most one", "any number".
	Occurs string
	// Component is set for transport and encoder blocks: the label names a
	// component of this kind, whose registered spec gives the body.
	Component component.Kind
	// Summary is one sentence; Doc is the reference text (Markdown
	// paragraphs).
	Summary string
	Doc     string
	// Attributes and Blocks are the block's schema.
	Attributes []Attribute
	Blocks     []Block
	// AnyAttributes: the body is attributes of any name (locals).
	AnyAttributes bool
	// Example is an HCL snippet of the block for the reference.
	Example string
}

// Attribute documents an attribute of a block of the language.
type Attribute struct {
	Name string
	// Type is the value's type as the reference names it: "string",
	// "thumbprint", "reference to host", "duration", "map of strings", ...
	Type string
	// Required: the decoder reports the attribute missing (BP1004).
	Required bool
	// RequiredWhen, for an attribute that is not Required, says when the
	// rules require it anyway ("a pipeline signs").
	RequiredWhen string
	// Default applies when the attribute is absent; nil: none. Its Go type
	// is the decoded one (string, bool, int, time.Duration, int64 for a
	// size), as in component.Attribute. The decoder applies the same
	// constants (see TestReferenceDefaults).
	Default any
	// Values are the allowed values of an enumeration.
	Values []string
	Doc    string
}

// Attribute types of the reference that component.Type does not name.
const (
	typeThumbprint = "thumbprint"
	typeFilter     = "filter expression"
	typeTimestamp  = "timestamp"
)

func refTo(block string) string { return "reference to " + block }

// blocks is the language's block table, in the order of the reference (and
// of rootSchema).
var blocks = []Block{
	{
		Type: blockGroup, Labels: []string{"name"}, Occurs: "exactly one",
		Summary: "The BizTalk group: its name and the certificate it signs with.",
		Doc: `A configuration has exactly one group block (BP1003). Every signing pipeline
signs with the group's certificate, which must be, with its private key, in
the personal store of the service account of every host instance that runs a
signing send port (BP3001, BP3002).

A planned change of signing certificate is a signing_rollover block: from its
` + "`at`" + ` on, messages and MDNs are signed with the rollover certificate, which every
instance that signs must hold with its key beforehand (BP3007). A running
` + "`bizpipe run`" + ` switches at that instant by itself, without a restart.`,
		Attributes: []Attribute{
			{Name: "signing_certificate", Type: typeThumbprint, RequiredWhen: "a pipeline signs",
				Doc: "The thumbprint of the group signing certificate (see [Thumbprints](#thumbprints))."},
			{Name: "certificate_expiry_warning", Type: component.Duration.String(), Default: defaultExpiryWarning,
				Doc: "How long before a certificate expires validate starts to warn (BP3004, BP4004, BP7005, BP7008)."},
			{Name: "max_message_size", Type: component.Size.String(), Default: int64(DefaultMaxMessageSize),
				Doc: "The largest message body processed; a larger message is suspended with the reason, not processed. An http or as2 receive location without a `max_body` refuses a larger body as it arrives (413, nothing stored)."},
			{Name: "as2_id", Type: component.String.String(), RequiredWhen: "an as2 transport exists",
				Doc: "The group's AS2 identifier: the `AS2-From` of its AS2 messages, and the `AS2-To` its AS2 receive locations accept, compared exactly, case included (BP7009). 1 to 128 printable ASCII characters (RFC 4130)."},
		},
		Blocks: []Block{{
			Type: blockSigningRollover, Occurs: "at most one",
			Summary: "A planned change of the group signing certificate: from `at` on, the rollover certificate signs.",
			Doc: `Before ` + "`at`" + `, messages (and MDNs) are signed with signing_certificate; from
` + "`at`" + ` on, with ` + "`certificate`" + `. Every instance that signs must reach the rollover
certificate and its private key in its service account's personal store:
BP3007 is a warning until ` + "`at`" + ` is within certificate_expiry_warning, an error
from then on. Once ` + "`at`" + ` has passed, BP3008 asks to make the rollover
certificate signing_certificate and remove the block. The expiry rules
(BP3003, BP3004) judge signing_certificate up to ` + "`at`" + ` and the rollover
certificate from ` + "`at`" + ` on.`,
			Attributes: []Attribute{
				{Name: "certificate", Type: typeThumbprint, Required: true,
					Doc: "The thumbprint of the next group signing certificate (see [Thumbprints](#thumbprints))."},
				{Name: "at", Type: typeTimestamp, Required: true,
					Doc: "The instant the rollover certificate starts signing, in RFC 3339 with a time zone: `\"2027-01-15T00:00:00Z\"`."},
			},
		}},
		Example: `group "contoso" {
  signing_certificate        = "4E 07 7E B5 55 5B 50 DC BC BF 3D 72 61 28 19 54 D2 A1 99 9D"
  certificate_expiry_warning = "720h"
  signing_rollover {
    certificate = "A1 2B 7C 90 44 D3 1E 5F 62 08 9A BB C4 3D 71 E2 05 F6 18 C9"
    at          = "2027-01-15T00:00:00Z"
  }
}`,
	},
	{
		Type: blockVariable, Labels: []string{"name"}, Occurs: "any number",
		Summary: "An input variable, read as `var.NAME`.",
		Doc: `A variable takes its value from ` + "`--var NAME=VALUE`" + `, then ` + "`--var-file FILE`" + `,
then the environment variable ` + "`" + envVarPrefix + `NAME` + "`" + `, then its default (see
[Variables](#variables)). Its attributes are constants: they cannot refer to
anything.`,
		Attributes: []Attribute{
			{Name: "type", Type: "type constraint",
				Doc: "The value's type, as in Terraform: `string`, `number`, `bool`, `list(string)`, `map(string)`, `object({...})`, ... An object attribute may be `optional(TYPE)` or `optional(TYPE, DEFAULT)`: a value that leaves it out (or sets it to null) gets null or DEFAULT. Without a type, any value."},
			{Name: "default", Type: "value of the type",
				Doc: "The value when none is given. Without a default, `run` needs a value; `validate` treats the variable as unknown."},
			{Name: "description", Type: component.String.String(),
				Doc: "What the variable is for."},
			{Name: "sensitive", Type: component.Bool.String(), Default: false,
				Doc: "The value, and whatever derives from it, is never printed: not in diagnostics, logs or the message box's history."},
		},
		Example: `variable "p12_password" {
  type      = string
  sensitive = true
}`,
	},
	{
		Type: blockLocals, Occurs: "any number", AnyAttributes: true,
		Summary: "Named values computed from variables and other locals, read as `local.NAME`.",
		Doc: `Each attribute of a locals block declares one local value; names are unique
across all locals blocks of all files (BP1002). A local may use variables,
other locals (in any order; a cycle is BP1001), functions and ` + "`file()`" + `,
which reads relative to the file the local is declared in.`,
		Example: `locals {
  partner_dir = "out/${var.partner}"
}`,
	},
	{
		Type: blockStore, Labels: []string{"name"}, Occurs: "any number",
		Summary: "A directory of certificates and private keys.",
		Doc: `A store is a directory; its files are recognised by content (see
[Certificate stores](#certificate-stores)). Service accounts name their
personal store, servers their other-people store.`,
		Attributes: []Attribute{
			{Name: "path", Type: component.Path.String(), Required: true,
				Doc: "The store's directory, relative to the file that declares it."},
			{Name: "password", Type: component.String.String(),
				Doc: "The password of the PKCS#12 files in the store; use a sensitive variable. Unknown during validate, it gives warning BP2005."},
		},
		Example: `certificate_store "svc_send_personal" {
  path     = "stores/svc_send"
  password = var.p12_password
}`,
	},
	{
		Type: blockAccount, Labels: []string{"name"}, Occurs: "any number",
		Summary: "The identity a host instance runs as, with its personal store.",
		Attributes: []Attribute{
			{Name: "user", Type: component.String.String(),
				Doc: "The operating-system user; the live checks (`validate --live`, `run`) look it up. Without it, they judge the user running bizpipe."},
			{Name: "personal_store", Type: refTo(blockStore), Required: true,
				Doc: "The store with the certificates and private keys this account can use: the group signing certificate and its key, for hosts that sign; the host's decryption certificate and its key, for hosts that decrypt."},
		},
		Example: `service_account "svc_send" {
  user           = "bts-send"
  personal_store = certificate_store.svc_send_personal
}`,
	},
	{
		Type: blockServer, Labels: []string{"name"}, Occurs: "any number",
		Summary: "A machine that host instances run on.",
		Attributes: []Attribute{
			{Name: "other_people_store", Type: refTo(blockStore), RequiredWhen: "an encrypting send port or a verifying receive location runs on the server",
				Doc: "The store with partners' certificates: those encrypting send ports encrypt for (BP4002), and the parties' signing certificates verifying receive locations check signatures with (BP7006)."},
		},
		Example: `server "srv1" {
  other_people_store = certificate_store.srv1_other_people
}`,
	},
	{
		Type: blockHost, Labels: []string{"name"}, Occurs: "any number",
		Summary: "A logical host: its receive locations and send ports run on each of its instances.",
		Doc: `A host that runs a signing send port needs at least one instance (BP3006).
The validation rules check every (send port, host instance) and every
(receive location, host instance) pair.

To rotate the decryption certificate without suspending messages, make the
new certificate decryption_certificate (the one partners are asked to encrypt
for) and move the old one to previous_decryption_certificates: partners
switch at their own pace, and a message still encrypted for the old
certificate is decrypted with it, the key chosen by the message's recipient
info. The log line of each message received names the certificate that
decrypted it (decrypted_with); once no message names the old one any more,
remove it from the list.`,
		Attributes: []Attribute{
			{Name: "decryption_certificate", Type: typeThumbprint, RequiredWhen: "a receive location of the host decrypts",
				Doc: "The thumbprint of the certificate the host's decrypting receive locations decrypt with, the one partners are to encrypt for; it must be, with its private key, in the personal store of the service account of every instance (BP7001–BP7005)."},
			{Name: "previous_decryption_certificates", Type: "list of " + typeThumbprint + "s",
				Doc: "The thumbprints of the certificates the host still decrypts with while partners switch to decryption_certificate (a rotation). Each must be, like decryption_certificate, with its private key in the personal store of every instance (BP7002, BP7003) and usable for key transport (BP7004); an expired one, which no partner encrypts for any more, is a warning to remove it (BP7004), one that expires soon is BP7005. Listing a certificate twice, or decryption_certificate itself, is BP1004."},
		},
		Blocks: []Block{{
			Type: "instance", Occurs: "any number",
			Summary: "A host instance: the host running on a server as a service account.",
			Attributes: []Attribute{
				{Name: "server", Type: refTo(blockServer), Required: true, Doc: "The server the instance runs on."},
				{Name: "service_account", Type: refTo(blockAccount), Required: true, Doc: "The identity the instance runs as."},
			},
		}},
		Example: `host "receive_host" {
  decryption_certificate           = "5B 1E 0C 94 27 AF 60 3D 88 71 E4 2B 9C 06 D5 13 F8 4A C2 7E"
  previous_decryption_certificates = ["C3 9A 51 0E 7F 24 B8 66 D0 1B 93 4C 85 E7 2A F1 36 0D 5C 98"]
  instance {
    server          = server.srv1
    service_account = service_account.svc_recv
  }
}

host "send_host" {
  instance {
    server          = server.srv1
    service_account = service_account.svc_send
  }
}`,
	},
	{
		Type: blockParty, Labels: []string{"name"}, Occurs: "any number",
		Summary: "A trading partner: the certificates it signs with and its AS2 identifier.",
		Doc: `A verifying receive pipeline (` + "`decoder \"smime\" { verify = true }`" + `) resolves a
signed message to the party whose signing_certificates hold its signer, found
in the other-people store of the server the receiving instance runs on
(BP7006–BP7008); the party's name becomes ` + "`message.party`" + `. Parties may list one
certificate (two AS2 identities of one partner): a message received over AS2
is then the party of its AS2-From, one received otherwise the party whose
name sorts first (neither the order of the blocks nor the names of the
files change it). Refer to a party as ` + "`party.NAME`" + `.`,
		Attributes: []Attribute{
			{Name: "as2_id", Type: component.String.String(), RequiredWhen: "the party is an AS2 partner",
				Doc: "The party's AS2 identifier, 1 to 128 printable ASCII characters (RFC 4130): the `AS2-From` accepted from it, compared exactly, case and spaces included (RFC 4130 §6.2; `\"FABRIKAM\"` and `\"fabrikam\"` are two identifiers). Two parties cannot share one (BP7009)."},
			{Name: "signing_certificates", Type: "list of " + typeThumbprint + "s",
				Doc: "The thumbprints of the certificates the party signs with (messages and MDNs); several during its rollovers."},
		},
		Example: `party "fabrikam" {
  as2_id               = "FABRIKAM"
  signing_certificates = ["CCFE302DA296CC18B316BA3063F069169382D9FC"]
}`,
	},
	{
		Type: blockPipeline, Labels: []string{"name"}, Occurs: "any number",
		Summary: "The stages a message runs through: before delivery (encoders) or as it comes in (decoders).",
		Doc: "A pipeline's stages run in the order written, each on the entity the\n" +
			"one before made: `encoder \"smime\" { encrypt = true }` then\n" +
			"`encoder \"smime\" { signature = \"opaque\" }` signs the envelope. A send\n" +
			`pipeline has encoder stages and is used by send ports; a receive pipeline
has decoder stages and is used by receive locations. Mixing them, or using
one in the other's place, is BP1004. A send port without a pipeline delivers
the message as received; a receive location without one stores the body as
received.`,
		Blocks: []Block{
			{
				Type: component.Encoder.Block(), Labels: []string{"type"}, Occurs: "any number", Component: component.Encoder,
				Summary: "An encoder stage of a send pipeline; the label names the encoder.",
			},
			{
				Type: component.Decoder.Block(), Labels: []string{"type"}, Occurs: "any number", Component: component.Decoder,
				Summary: "A decoder stage of a receive pipeline; the label names the decoder.",
			},
		},
		Example: `pipeline "sign_encrypt" {
  encoder "smime" {
    signature = "clear"
    encrypt   = true
  }
}`,
	},
	{
		Type: blockReceiveLocation, Labels: []string{"name"}, Occurs: "any number",
		Summary: "Where messages come in.",
		Doc: `A receive location runs on every instance of its host. Each message it
receives is stored in the message box, stamped with the location's name and
properties, and routed to every send port whose filter it matches.`,
		Attributes: []Attribute{
			{Name: "host", Type: refTo(blockHost), Required: true, Doc: "The host whose instances run the location."},
			{Name: "pipeline", Type: refTo(blockPipeline),
				Doc: "The receive pipeline (decoder stages) each message runs through before it is stored for routing; without one, the body is stored as received."},
			{Name: "content_type", Type: component.String.String(), Default: defaultContentType,
				Doc: "The content type stamped on each message (`message.content_type`) that does not declare its own: an HTTP or AS2 request's `Content-Type` wins (unless the http transport's `request_content_type` is `\"ignore\"`), and so does the innermost entity's of a message the location's pipeline decoded. It must be a MIME content type, `type/subtype` with optional `; name=value` parameters (BP1004 otherwise)."},
			{Name: "properties", Type: component.StringMap.String(),
				Doc: "Context properties stamped on each message (`message.properties`). A value set from a sensitive variable is stored as sensitive; a map that is sensitive as a whole is refused (BP1004)."},
		},
		Blocks: []Block{{
			Type: "transport", Labels: []string{"kind"}, Occurs: "exactly one", Component: component.ReceiveTransport,
			Summary: "How messages are received; the label names the transport.",
		}},
		Example: `receive_location "orders_in" {
  host         = host.send_host
  content_type = "application/xml"
  properties   = { partner = "fabrikam" }
  transport "file" {
    path    = "in"
    pattern = "*.xml"
  }
}`,
	},
	{
		Type: blockSendPort, Labels: []string{"name"}, Occurs: "any number",
		Summary: "Where messages go out: a subscription, a pipeline and a transport.",
		Doc: `Every message whose filter holds gets its own delivery to the port: the
pipeline runs on the instance that takes the delivery, then the transport
delivers the result. A failed attempt is retried; when the retries are used
up the delivery is suspended.`,
		Attributes: []Attribute{
			{Name: "host", Type: refTo(blockHost), Required: true, Doc: "The host whose instances run the port."},
			{Name: "pipeline", Type: refTo(blockPipeline),
				Doc: "The pipeline to run; without one, the message is delivered as routed: as received, or, for one a receive pipeline decoded, its decoded payload (what `messages body` writes)."},
			{Name: "encryption_certificate", Type: typeThumbprint, RequiredWhen: "the pipeline encrypts",
				Doc: "The thumbprint of the partner certificate to encrypt for, found in the other-people store of each server where the port's host has an instance (BP4001, BP4002)."},
			{Name: "filter", Type: typeFilter,
				Doc: "A boolean expression over the [message object](#the-message-object): the messages the port subscribes to. Without a filter, the port subscribes to nothing."},
		},
		Blocks: []Block{
			{
				Type: "transport", Labels: []string{"kind"}, Occurs: "exactly one", Component: component.SendTransport,
				Summary: "How messages are delivered; the label names the transport.",
			},
			{
				Type: "retry", Occurs: "at most one",
				Summary: "How often and how far apart a failed delivery is retried before it is suspended.",
				Attributes: []Attribute{
					{Name: "attempts", Type: component.Int.String(), Default: defaultRetryAttempts,
						Doc: "Retries after the first attempt, from 0 to 1000."},
					{Name: "interval", Type: component.Duration.String(), Default: defaultRetryInterval,
						Doc: "The wait between attempts; a partner's longer `Retry-After` (429, 503) wins, up to a day."},
				},
			},
		},
		Example: `send_port "fabrikam" {
  host                   = host.send_host
  pipeline               = pipeline.sign_encrypt
  encryption_certificate = "CCFE302DA296CC18B316BA3063F069169382D9FC"
  filter                 = message.properties.partner == "fabrikam"
  transport "file" {
    path      = "out/fabrikam"
    file_name = "${message.id}.eml"
  }
  retry {
    attempts = 3
    interval = "5m"
  }
}`,
	},
	{
		Type: blockMessageBox, Occurs: "at most one",
		Summary: "The durable store between receiving and delivering: exactly one of sqlite and postgres.",
		Doc: `Without a message_box block, the embedded SQLite box is
` + "`messagebox.db`" + ` in the data directory (` + "`--data-dir`" + `, default ` + "`.bizpipe`" + `). A
PostgreSQL box is shared by every server that runs the configuration: work
spreads over them, and a dead server's work is taken over.`,
		Blocks: []Block{
			{
				Type: "sqlite", Occurs: "at most one",
				Summary: "The embedded SQLite box, used by one `run` at a time.",
				Attributes: []Attribute{
					{Name: "path", Type: component.Path.String(), Required: true,
						Doc: "The database file, relative to the file that declares it."},
				},
			},
			{
				Type: "postgres", Occurs: "at most one",
				Summary: "A PostgreSQL box shared by several servers.",
				Attributes: []Attribute{
					{Name: "url", Type: component.String.String(), Required: true,
						Doc: "The connection URL, `postgres://USER:PASSWORD@HOST:PORT/DATABASE`; it carries the password, so set it from a sensitive variable."},
				},
			},
		},
		Example: `message_box {
  postgres { url = var.database_url }
}`,
	},
}

// Blocks returns the language's top-level blocks, in reference order. The
// result is a deep copy: changing it changes neither the decoder nor the
// next call's result.
func Blocks() []Block {
	out := make([]Block, len(blocks))
	for i, b := range blocks {
		out[i] = b.clone()
	}
	return out
}

func (b Block) clone() Block {
	b.Labels = slices.Clone(b.Labels)
	b.Attributes = slices.Clone(b.Attributes)
	for i := range b.Attributes {
		b.Attributes[i].Values = slices.Clone(b.Attributes[i].Values)
	}
	nested := make([]Block, len(b.Blocks))
	for i, n := range b.Blocks {
		nested[i] = n.clone()
	}
	if b.Blocks != nil {
		b.Blocks = nested
	}
	return b
}

// rootSchema is the top level of a configuration file: the block types.
var rootSchema = func() *hcl.BodySchema {
	s := &hcl.BodySchema{}
	for _, b := range blocks {
		s.Blocks = append(s.Blocks, hcl.BlockHeaderSchema{Type: b.Type, LabelNames: b.Labels})
	}
	return s
}()

// schemaOf returns the decoding schema of the block at path (a top-level
// block type, then nested block types). It panics on a path the table does
// not have: the schemas are package variables, so a wrong path fails every
// test at package initialisation.
func schemaOf(path ...string) *hcl.BodySchema {
	b := findBlock(blocks, path)
	if b == nil || b.AnyAttributes {
		panic("lang: no schema for block " + joinPath(path))
	}
	s := &hcl.BodySchema{}
	for _, a := range b.Attributes {
		s.Attributes = append(s.Attributes, hcl.AttributeSchema{Name: a.Name, Required: a.Required})
	}
	for _, n := range b.Blocks {
		s.Blocks = append(s.Blocks, hcl.BlockHeaderSchema{Type: n.Type, LabelNames: n.Labels})
	}
	return s
}

// headerOf returns the schema header of the nested block at path.
func headerOf(path ...string) hcl.BlockHeaderSchema {
	b := findBlock(blocks, path)
	if b == nil {
		panic("lang: no block " + joinPath(path))
	}
	return hcl.BlockHeaderSchema{Type: b.Type, LabelNames: b.Labels}
}

func findBlock(bs []Block, path []string) *Block {
	for i := range bs {
		if bs[i].Type != path[0] {
			continue
		}
		if len(path) == 1 {
			return &bs[i]
		}
		return findBlock(bs[i].Blocks, path[1:])
	}
	return nil
}

func joinPath(path []string) string { return strings.Join(path, ".") }
