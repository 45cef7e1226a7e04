// Package lang decodes bizpipe's HCL configuration language into the typed
// model of package model. The block table (Blocks), the message object
// (MessageAttributes), the functions (Functions) and LanguageFacts are what
// the language reference in docs/ is generated from.
//
// Decoding reports every problem it finds as a coded diagnostic and keeps
// going, so that one run of validate shows all of them. Expressions that
// depend on the message (filters and templates) are type-checked here against
// an unknown message and kept as expressions for the run-time engine.
package lang

import (
	"os"
	"regexp"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/config/model"
	"github.com/bizpipe/bizpipe/internal/registry"
)

// Mode says what the configuration is loaded for.
type Mode int

const (
	// ModeValidate: variables and env() without a value are unknown, checked
	// for type but not value, as Terraform's validate does.
	ModeValidate Mode = iota
	// ModeRun: every value must be known; a missing one is an error.
	ModeRun
)

// Options controls Load.
type Options struct {
	Mode Mode
	// Vars are --var NAME=VALUE arguments, in command-line order.
	Vars []string
	// VarFiles are --var-file paths, in command-line order.
	VarFiles []string
	// LookupEnv reads the environment (BIZPIPE_VAR_* and env()); nil means
	// os.LookupEnv. Tests pass their own to stay hermetic.
	LookupEnv func(string) (string, bool)
	// Registry holds the components transport and encoder blocks name;
	// nil means the built-in ones.
	Registry *component.Registry
	// Overlay maps configuration file paths to texts that replace the
	// files on disk, and stand for files not saved yet: the language server
	// lays the editor's unsaved buffers over the disk with it. Paths are
	// compared cleaned (filepath.Clean); FindFilesOverlay finds the unsaved
	// files. It is not used for --var-file, file() or stores. The size
	// limit of a configuration file applies to its texts too.
	Overlay map[string][]byte
	// ParseCache, when set, keeps the parsed files for the next Load with
	// the same cache: an unchanged file is not parsed again.
	ParseCache *ParseCache
	// NeedMessageBox makes the message_box block's backend (its sqlite
	// path or postgres url) a value that must be known in ModeValidate too,
	// as every value must be in ModeRun: a command that opens the box
	// (bizpipe messages) needs it, and no other value (no store password).
	// Each variable and env() without a value that it depends on is an
	// error, as in ModeRun.
	NeedMessageBox bool
	// Host, in ModeRun, loads for a process that runs only host Host's
	// instances on server Server (run --host): each may run as its own
	// service account, whose variables (its store's password) are given
	// only on its own machine. A variable or env() without a value is then
	// an error only where what that process needs depends on it: the group,
	// the parties, the message box, every send port's filter (it routes to
	// any), Host itself, its send ports and receive locations and their
	// pipelines, and its instances on Server with their service accounts,
	// stores and server. Elsewhere the value stays unknown, as in
	// ModeValidate: those objects are neither checked nor run for Host
	// (rules.Options.Host, runner.Options.Host).
	Host string
	// Server is the server of Host's instances; empty means the one server
	// declared, or, with several, every server.
	Server string
}

// Block type names of the language.
const (
	blockGroup           = "group"
	blockSigningRollover = "signing_rollover" // nested in group
	blockVariable        = "variable"
	blockLocals          = "locals"
	blockStore           = "certificate_store"
	blockAccount         = "service_account"
	blockServer          = "server"
	blockHost            = "host"
	blockParty           = "party"
	blockPipeline        = "pipeline"
	blockReceiveLocation = "receive_location"
	blockSendPort        = "send_port"
	blockMessageBox      = "message_box"
)

// namePattern is the identifier syntax of block labels.
const namePattern = `[A-Za-z_][A-Za-z0-9_-]*`

var validName = regexp.MustCompile(`^` + namePattern + `$`)

// Facts are rules of the language that the reference states, taken from the
// constants the loader applies.
type Facts struct {
	// NamePattern is the syntax of names (block labels), a regular
	// expression.
	NamePattern string
	// EnvVarPrefix prefixes the environment variables that set input
	// variables: BIZPIPE_VAR_NAME.
	EnvVarPrefix string
	// MaxConfigFileSize and MaxVarFileSize bound a configuration file and
	// a --var-file; MaxFileFunctionSize a file read by file().
	MaxConfigFileSize, MaxVarFileSize, MaxFileFunctionSize int64
	// MaxNesting bounds brackets, blocks and interpolations open at once,
	// MaxChain the operators chained in one expression, MaxInvalid the
	// characters HCL does not use, in one file (BP1000 beyond).
	MaxNesting, MaxChain, MaxInvalid int
	// MaxExprTokens bounds the tokens of one expression, MaxFileTokens
	// those of one file (BP1000 beyond).
	MaxExprTokens, MaxFileTokens int
	// MaxSyntaxErrors is how many syntax errors are shown per file.
	MaxSyntaxErrors int
	// MaxNumberChars bounds a number literal (BP1000 beyond) and a
	// string read as a number (BP1004).
	MaxNumberChars int
	// MaxValueElements and MaxValueText bound what one value holds,
	// MaxEvalElements and MaxEvalText what evaluating a configuration
	// reads and builds in all (BP1004 beyond).
	MaxValueElements, MaxEvalElements int
	MaxValueText, MaxEvalText         int64
	// SizeUnits are the units of a size.
	SizeUnits []string
}

// LanguageFacts returns the Facts of this version of the language.
func LanguageFacts() Facts {
	return Facts{
		NamePattern:         namePattern,
		EnvVarPrefix:        envVarPrefix,
		MaxConfigFileSize:   maxConfigFileSize,
		MaxVarFileSize:      maxVarFileSize,
		MaxFileFunctionSize: maxFileFunctionSize,
		MaxNesting:          maxNesting,
		MaxChain:            maxChain,
		MaxInvalid:          maxInvalid,
		MaxExprTokens:       maxExprTokens,
		MaxFileTokens:       maxFileTokens,
		MaxSyntaxErrors:     maxSyntaxDiags,
		MaxNumberChars:      maxNumberChars,
		MaxValueElements:    maxValueElements,
		MaxValueText:        maxValueText,
		MaxEvalElements:     maxEvalElements,
		MaxEvalText:         maxEvalText,
		SizeUnits:           SizeUnits(),
	}
}

// Load parses and decodes the given configuration files (see FindFiles). The
// returned Config is usable, as far as it goes, even when diags has errors;
// it is nil only when no file could be parsed.
func Load(files []string, opts Options) (*model.Config, hcl.Diagnostics) {
	cfg, diags, _ := load(files, opts)
	return cfg, diags
}

// load is Load, also returning what its evaluation used of the budget.
func load(files []string, opts Options) (*model.Config, hcl.Diagnostics, valueSize) {
	if opts.LookupEnv == nil {
		opts.LookupEnv = os.LookupEnv
	}
	if opts.Registry == nil {
		opts.Registry = registry.Builtin()
	}
	// Everything the Load evaluates counts against one budget (meter);
	// what is evaluated after, at run time, has a meter of its own.
	m := newMeter()
	defer m.closed.Store(true)
	parser := hclparse.NewParser()
	parsed, sources, equalities, diags := parseFiles(parser, files, cleanOverlay(opts.Overlay), opts.ParseCache)
	restore := meterEqualities(equalities, m)
	defer restore()
	cfg := &model.Config{Files: parser.Files(), Sources: sources, EvalContexts: map[string]*hcl.EvalContext{}}
	if len(parsed) == 0 {
		return cfg, finish(diags), m.used
	}

	d := &decoder{opts: opts, registry: opts.Registry, cfg: cfg, parser: parser, names: map[string]map[string]hcl.Range{}, meter: m,
		deferInputs: opts.Mode == ModeRun && opts.Host != ""}
	var blocks []*hcl.Block
	for _, f := range parsed {
		content, ds := f.Body.Content(rootSchema)
		d.add(diag.Tag(ds, diag.CodeInvalidValue)...)
		blocks = append(blocks, withUnlabeled(f.Body, rootSchema, content.Blocks)...)
		for _, t := range mislabeled(f.Body, rootSchema) {
			d.skipped(t)
		}
	}

	// Variables and locals first: every other attribute may use them.
	for _, b := range blocks {
		if b.Type == blockVariable {
			d.decodeVariableBlock(b)
		}
	}
	d.assignVariables()
	d.buildContexts(parsed)
	defer m.attach(d.root)()
	var localBlocks []*hcl.Block
	for _, b := range blocks {
		if b.Type == blockLocals {
			localBlocks = append(localBlocks, b)
		}
	}
	d.decodeLocals(localBlocks)

	for _, b := range blocks {
		d.block = blockKey(b.Type, b.Labels)
		switch b.Type {
		case blockGroup:
			d.decodeGroupBlock(b)
		case blockStore:
			d.decodeStoreBlock(b)
		case blockAccount:
			d.decodeAccountBlock(b)
		case blockServer:
			d.decodeServerBlock(b)
		case blockHost:
			d.decodeHostBlock(b)
		case blockParty:
			d.decodePartyBlock(b)
		case blockPipeline:
			d.decodePipelineBlock(b)
		case blockReceiveLocation:
			d.decodeReceiveLocationBlock(b)
		case blockSendPort:
			d.decodeSendPortBlock(b)
		case blockMessageBox:
			d.decodeMessageBoxBlock(b)
		}
	}
	d.block = ""
	d.checkGroupCount()
	d.resolve()
	if d.deferInputs {
		d.reportNeededInputs()
	}
	cfg.Secrets = sensitiveStrings(cfg, d.registry)
	// The fast paths recognise == and != by HCL's own operators, which
	// the Load metered until now.
	restore()
	for _, c := range d.compiled {
		c.compileFast()
	}
	return cfg, finish(d.diags.Extend(diags)), m.used
}

// finish strips what renderers must never print and orders the diagnostics.
// HCL's text writer prints the values of variables an expression uses, which
// would reveal sensitive ones, so Expression and EvalContext are dropped.
func finish(diags hcl.Diagnostics) hcl.Diagnostics {
	for _, d := range diags {
		d.Expression = nil
		d.EvalContext = nil
	}
	diag.Sort(diags)
	return diags
}

// decoder carries the state of one Load.
type decoder struct {
	opts     Options
	registry *component.Registry
	cfg      *model.Config
	parser   *hclparse.Parser
	root     *hcl.EvalContext // shared parent of the per-file contexts
	meter    *meter           // what the Load's evaluation may still read and build
	diags    hcl.Diagnostics
	// names maps block type to declared name to declaration range (BP1002).
	names map[string]map[string]hcl.Range
	// vars and locals by name, for reference checks.
	vars   map[string]*model.Variable
	locals map[string]*model.Local
	// typeDefaults are the defaults of the optional object attributes
	// of each variable's type (optional(number, 3)), by variable name.
	typeDefaults map[string]*typeexpr.Defaults
	// compiled are the filters and templates compiled so far, whose fast
	// paths the end of the Load sets (compileFast).
	compiled []interface{ compileFast() }
	// partyRefs are the party.NAME references of component blocks (an as2
	// transport's partner), checked once every party has been read.
	partyRefs []model.Ref
	// needKnown makes eval report an unknown value as ModeRun does, while
	// it decodes what Options.NeedMessageBox needs.
	needKnown bool
	// deferInputs is Options.Host in ModeRun: a value without a value of
	// its own is kept in pending until the host's needs are known.
	deferInputs bool
	pending     []pendingInput
	// block is the key (blockKey) of the top-level block being decoded.
	block string
}

func (d *decoder) add(ds ...*hcl.Diagnostic) { d.diags = append(d.diags, ds...) }

// declare checks a block's label and records it; it returns false when the
// block must be skipped (invalid or duplicate name).
func (d *decoder) declare(b *hcl.Block) bool {
	name := b.Labels[0]
	if !validName.MatchString(name) {
		d.add(diag.Errorf(diag.CodeInvalidValue, b.LabelRanges[0], "Invalid name",
			"The %s name %q is not a valid identifier: a name starts with a letter or underscore, followed by letters, digits, underscores and dashes.", b.Type, name))
		d.skipped(b.Type)
		return false
	}
	seen := d.names[b.Type]
	if seen == nil {
		seen = map[string]hcl.Range{}
		d.names[b.Type] = seen
	}
	if first, dup := seen[name]; dup {
		d.add(diag.Errorf(diag.CodeDuplicate, b.LabelRanges[0], "Duplicate "+b.Type+" name",
			"A %s named %q was already declared at %s. Names must be unique per block type across all files.", b.Type, name, first))
		d.skipped(b.Type)
		return false
	}
	seen[name] = b.DefRange
	return true
}

// mislabeled returns the types of the blocks of body that schema declares
// but with another number of labels, which HCL reports ("Missing name for
// group") and leaves out of the body's content: a check that finds no such
// block must not say there is none ("No group block"), one mistake giving
// two errors that contradict each other.
func mislabeled(body hcl.Body, schema *hcl.BodySchema) []string {
	sb, ok := body.(*hclsyntax.Body)
	if !ok {
		return mislabeledJSON(body, schema)
	}
	var types []string
	for _, b := range sb.Blocks {
		for _, bs := range schema.Blocks {
			// (withUnlabeled decodes one that has labels it should not.)
			if b.Type == bs.Type && len(bs.LabelNames) > 0 && len(b.Labels) != len(bs.LabelNames) {
				types = append(types, b.Type)
			}
		}
	}
	return types
}

// mislabeledJSON is mislabeled for a body of a JSON file, where a block's
// labels are the keys of nested objects: one written without its name
// ("group": {"signing_certificate": "..."}) takes an attribute for its
// label and a string for its body, which HCL reports and leaves out. Such
// a block type is found by decoding its property alone, which fails where
// decoding no property does not (that is about the body as a whole).
func mislabeledJSON(body hcl.Body, schema *hcl.BodySchema) []string {
	_, _, base := body.PartialContent(&hcl.BodySchema{})
	var types []string
	for _, bs := range schema.Blocks {
		if len(bs.LabelNames) == 0 {
			continue
		}
		_, _, ds := body.PartialContent(&hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{bs}})
		if len(ds.Errs()) > len(base.Errs()) {
			types = append(types, bs.Type)
		}
	}
	return types
}

// skipped records a block left out of the model (model.Config.Skipped).
func (d *decoder) skipped(blockType string) {
	if d.cfg.Skipped == nil {
		d.cfg.Skipped = map[string]bool{}
	}
	d.cfg.Skipped[blockType] = true
}

func (d *decoder) checkGroupCount() {
	groups := d.cfg.Groups
	switch {
	case len(groups) == 0 && !d.cfg.Skipped[blockGroup]:
		// (A group left out, for its name or labels, is one reported.)
		d.add(diag.New(hcl.DiagError, diag.CodeGroupCount, hcl.Range{}, "No group block",
			"A configuration needs exactly one group block, which names the group and its signing certificate; none of the configuration files declares one."))
	case len(groups) > 1:
		for _, g := range groups[1:] {
			d.add(diag.Errorf(diag.CodeGroupCount, g.DeclRange, "More than one group block",
				"A configuration has exactly one group; group %q is declared here and group %q at %s.", g.Name, groups[0].Name, groups[0].DeclRange))
		}
	}
	if len(groups) > 0 {
		d.cfg.Group = groups[0]
	}
}
