package docgen

import (
	"fmt"
	"strings"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/lang"
)

// language is docs/language.md.
func language(reg *component.Registry) string {
	facts := lang.LanguageFacts()
	blocks := lang.Blocks()
	var b strings.Builder
	b.WriteString("# The configuration language\n\n")
	b.WriteString("A bizpipe configuration declares, in HCL, a BizTalk group and its signing\n" +
		"certificate, the hosts and the servers their instances run on, the service\n" +
		"accounts they run as and their certificate stores, pipelines, receive locations\n" +
		"and send ports. This page is the reference of the language; the transports and\n" +
		"pipeline stages have [their own page](" + fileComponents + ").\n\n")

	b.WriteString("* [Files](#files)\n* [Names and references](#names-and-references)\n* [Blocks](#blocks)\n" +
		"* [Values](#values)\n* [Variables](#variables)\n* [Local values](#local-values)\n* [Sensitive values](#sensitive-values)\n" +
		"* [Functions](#functions)\n* [Filters and templates](#filters-and-templates)\n" +
		"* [The message object](#the-message-object)\n* [Thumbprints](#thumbprints)\n" +
		"* [Certificate stores](#certificate-stores)\n\n")

	// Files.
	b.WriteString("## Files\n\n")
	b.WriteString("A configuration is every `*.hcl` and `*.hcl.json` file directly in each\n" +
		"directory named on the command line (not recursively; names starting with a dot\n" +
		"are skipped), plus files named directly. No path means the current directory.\n" +
		"Files are read in lexical order; the order never changes the meaning: every\n" +
		"name is visible in every file. Symbolic links are followed (a Kubernetes\n" +
		"ConfigMap mounts its files as links). A file named twice, by two paths or\n" +
		"through a symbolic link, is read once, under the name first in lexical order.\n" +
		"An entry with a configuration file's name that is not a readable regular file\n" +
		"(a dangling symbolic link, a link loop, a FIFO, a device, a directory named\n" +
		"`x.hcl`) is BP1000 naming it and why, never left out: a configuration with a\n" +
		"part missing does not validate.\n\n")
	b.WriteString("Configuration and variables files are UTF-8; a UTF-8 byte order mark at the\n" +
		"start, which Windows editors write, is ignored, in JSON files too. A file in\n" +
		"UTF-16 (Notepad's \"Unicode\", what PowerShell 5's `>` writes) is BP1000:\n" +
		"save it as UTF-8.\n\n")
	b.WriteString("Relative paths inside a file (store paths, transport paths, `file()`) resolve\n" +
		"against **the directory of the file that contains them**, never the working\n" +
		"directory.\n\n")
	fmt.Fprintf(&b, "A configuration file is at most %s, a `--var-file` %s. A file that nests\n"+
		"brackets, blocks or interpolations more than %d levels deep, chains more than\n"+
		"%s operators in one expression, has an expression (an attribute's value) of\n"+
		"more than %s tokens or more than %s tokens in all, opens a `/*` comment that\n"+
		"it never closes, has a number of more than %s characters, or has more than\n"+
		"%s characters HCL does not use is refused with BP1000 before HCL parses it;\n"+
		"at most %d syntax errors are shown per file.\n\n",
		spacedSize(facts.MaxConfigFileSize), spacedSize(facts.MaxVarFileSize),
		facts.MaxNesting, thousands(facts.MaxChain), thousands(facts.MaxExprTokens), thousands(facts.MaxFileTokens),
		thousands(facts.MaxNumberChars), thousands(facts.MaxInvalid), facts.MaxSyntaxErrors)

	// Names and references.
	b.WriteString("## Names and references\n\n")
	fmt.Fprintf(&b, "Names (block labels) match `%s`: a letter or underscore, then letters,\n"+
		"digits, underscores and dashes. They are unique per block type across all files\n"+
		"(BP1002).\n\n", facts.NamePattern)
	var refs []string
	for _, t := range referencedTypes(blocks, reg) {
		refs = append(refs, fmt.Sprintf("`%s.NAME`", t))
	}
	fmt.Fprintf(&b, "An attribute that refers to another object names it as TYPE.NAME, without\n"+
		"quotes: %s. An undeclared object, or one of the wrong type, is BP1001.\n"+
		"Expressions read variables as `var.NAME` and locals as `local.NAME`.\n\n", andList(refs))

	// Blocks.
	b.WriteString("## Blocks\n\n")
	b.WriteString("| block | labels | how many | what |\n|---|---|---|---|\n")
	for _, bl := range blocks {
		fmt.Fprintf(&b, "| [`%s`](#%s) | %s | %s | %s |\n", bl.Type, Anchor(bl.Type), cell(labels(bl)), bl.Occurs, cell(bl.Summary))
	}
	b.WriteString("\n")
	for _, bl := range blocks {
		writeBlock(&b, reg, bl, "")
	}

	// Values.
	b.WriteString("## Values\n\n")
	b.WriteString("Attribute values are HCL expressions: strings (`\"...\"`, with `${...}`\n" +
		"interpolation), numbers, `true` and `false`, lists `[...]`, maps `{ k = v }`,\n" +
		"references, operators and function calls. A number whose decimal form would\n" +
		"have thousands of digits, as a literal or a result, and an infinite one (a\n" +
		"division by zero) are refused (BP1004): no value can print them.\n\n")
	fmt.Fprintf(&b, "Evaluation is bounded too. A value holds at most %s elements (the members\n"+
		"of its lists, sets, tuples, maps and objects, nested ones included) and %s of\n"+
		"text (its strings, and its numbers as they print), and a string of more than\n"+
		"%s characters that reads as a number is refused (reading it takes time that\n"+
		"grows with the square of its digits). Evaluating a whole configuration may read\n"+
		"and build at most %s elements and %s of text: every attribute, local and\n"+
		"variable counts, each function's arguments and result, each interpolation, both\n"+
		"sides of `==` and `!=`, and each iteration of a `for` expression. Beyond these\n"+
		"an expression is refused with BP1004, and once the budget is spent nothing more\n"+
		"is evaluated. No configuration comes near them (1,000 hosts and 2,000 send ports\n"+
		"use under 1%% of the budget), and a few lines beyond them would take minutes and\n"+
		"gigabytes.\n\n",
		thousands(facts.MaxValueElements), spacedSize(facts.MaxValueText), thousands(facts.MaxNumberChars),
		thousands(facts.MaxEvalElements), spacedSize(facts.MaxEvalText))
	b.WriteString("The types of the reference:\n\n")
	fmt.Fprintf(&b, "* **duration**: a positive Go duration string: `\"90s\"`, `\"5m\"`, `\"720h\"`.\n"+
		"* **size**: a whole number of bytes with an optional unit, %s: `\"512KiB\"`,\n"+
		"  `\"64MiB\"`, `\"1GiB\"`. `KiB` is 1024 bytes, `KB` 1000.\n"+
		"* **path**: a file or directory, relative to the directory of the file that\n"+
		"  declares it.\n"+
		"* **thumbprint**: a certificate's thumbprint, see [Thumbprints](#thumbprints).\n"+
		"* **reference to TYPE**: `TYPE.NAME`, see [Names and references](#names-and-references).\n"+
		"* **filter expression**, **template**, **map of templates**: evaluated per\n"+
		"  message, see [Filters and templates](#filters-and-templates).\n\n",
		orList(codeList(facts.SizeUnits)))

	// Variables.
	b.WriteString("## Variables\n\n")
	fmt.Fprintf(&b, "A [variable](#variable) takes its value from, first to last:\n\n"+
		"1. `--var NAME=VALUE` on the command line (repeatable; the last one wins);\n"+
		"2. `--var-file FILE`: `NAME = VALUE` lines in HCL, or a JSON object when FILE\n"+
		"   ends in `.json` (repeatable; a later file wins);\n"+
		"3. the environment variable `%sNAME`;\n"+
		"4. its `default`.\n\n", facts.EnvVarPrefix)
	b.WriteString("Keep a var-file out of the configuration directory (`vars/dev.hcl`:\n" +
		"directories are not read recursively), or give it a name that does not end in\n" +
		"`.hcl` or `.hcl.json` (`dev.hclvars`): a `*.hcl` file there is configuration,\n" +
		"and a `--var-file` that is also a configuration file is refused (exit 2).\n\n")
	b.WriteString("On the command line and in the environment, the value of a variable of type\n" +
		"`string` (or without a type) is taken literally; any other is parsed as an HCL\n" +
		"expression: `--var 'partners=[\"fabrikam\", \"litware\"]'`. Setting a variable\n" +
		"no block declares, with `--var` or in a `--var-file`, is BP1001; an environment\n" +
		"variable `" + facts.EnvVarPrefix + "NAME` that no block declares is ignored, as one environment\n" +
		"may serve several configurations.\n\n")
	b.WriteString("During `validate`, a variable (or `env()`) with no value is *unknown*, as in\n" +
		"Terraform's validate: it is checked for type, not value, and the rules that need\n" +
		"its value are skipped, with a warning: BP2005 for a store whose password is\n" +
		"unknown, BP1009 for an attribute that decides whether a stage signs, encrypts,\n" +
		"decrypts or verifies, for the group's `certificate_expiry_warning`, and for a\n" +
		"receive location's `properties` as a whole when the routing rules (BP1007,\n" +
		"BP1008) depend on them; `validate --live` warns BP1009 too for a value its\n" +
		"live rules read (a directory, a TLS file, a store path, a user, the box url).\n" +
		"During `run` it is an error (BP1004). Give secrets through the environment\n" +
		"(`" + facts.EnvVarPrefix + "p12_password`), not on the command line.\n\n")

	// Locals.
	b.WriteString("## Local values\n\n")
	b.WriteString("A [locals](#locals) block names values computed once from variables,\n" +
		"other locals and functions. Locals are evaluated in dependency order, whatever\n" +
		"the order of files and blocks; a cycle, or a reference to an undeclared local,\n" +
		"is BP1001.\n\n")

	// Sensitive values.
	b.WriteString("## Sensitive values\n\n")
	b.WriteString("Sensitivity carries, as in Terraform: whatever derives from a `sensitive`\n" +
		"variable is sensitive, and is never printed — not in diagnostics, logs, errors\n" +
		"or the message box's history. A receive location property set from one\n" +
		"(`properties = { token = var.token }`) is stored as sensitive with each\n" +
		"message: filters and templates use its value, `bizpipe messages` shows\n" +
		"`(sensitive value)`. A map that is sensitive as a whole, whose names would\n" +
		"derive from the secret, is refused (BP1004), and so is a header name derived\n" +
		"from one (`headers = { (var.token) = \"x\" }`). A template that uses a sensitive\n" +
		"value is shown nowhere: errors, logs and the message box show a `url` as\n" +
		"`https://partner.example/(sensitive value)` (only `(sensitive value)` when its\n" +
		"scheme or host derives from it, and then network errors only by kind, such as\n" +
		"\"connection refused\"), never quote a partner's answer to such a request (it\n" +
		"could echo the value), and show a sensitive `file_name` or transport path as\n" +
		"`(sensitive value)`. A malformed sensitive thumbprint's BP2004 names no\n" +
		"character, position or digit count. A function call that fails with a\n" +
		"sensitive argument says which function and that the argument is sensitive,\n" +
		"not what is wrong, which could quote a piece of the value\n" +
		"(`parseint(strrev(var.token), 10)`). A store's `password` written as a\n" +
		"literal is a secret too, and so are the literals of the locals and variable\n" +
		"defaults it uses (a variable not marked `sensitive` included), through other\n" +
		"locals and from any file (`password = local.pw`), and so is the password in\n" +
		"a postgres message box's `url`, and a send transport's credentials: its\n" +
		"`url`'s password and the values of its `Authorization`,\n" +
		"`Proxy-Authorization`, `Cookie` and API key or token headers (a name with\n" +
		"`api-key`, `apikey`, `api_key`, `token`, `secret` or `password` in it, in\n" +
		"any case), not an authentication scheme before an interpolation\n" +
		"(`\"Bearer ${var.token}\"`): diagnostics and `bizpipe fmt --diff` show them\n" +
		"as `(sensitive value)`; a `--var-file`'s value for such a variable is masked\n" +
		"in the snippets of its lines, as a sensitive variable's is.\n\n")

	// Functions.
	b.WriteString("## Functions\n\n")
	var differ []string
	for _, f := range lang.Functions() {
		if f.NotTerraform {
			differ = append(differ, "`"+f.Name+"`")
		}
	}
	fmt.Fprintf(&b, "Expressions can call these functions: the go-cty standard library (HCL's),\n"+
		"`startswith`, `endswith`, `strcontains`, `urlencode`, `env` and `file`. There\n"+
		"are no others. Most have the names and the behaviour of Terraform's functions,\n"+
		"but not all: Terraform has no function of that name, or its own does something\n"+
		"else, for %s. Their entries below say how.\n\n", andList(differ))
	fmt.Fprintf(&b, "* `env(\"NAME\")` reads an environment variable. During `validate` an unset one\n"+
		"  is unknown (see [Variables](#variables)); during `run` it is an error.\n"+
		"* `file(\"path\")` reads a UTF-8 text file of at most %s, relative to the\n"+
		"  directory of the file that calls it, without the UTF-8 byte order mark Notepad\n"+
		"  may put at its start; devices, FIFOs and directories are refused.\n"+
		"* `urlencode` is Go's `url.QueryEscape` (a space becomes `+`): put message values\n"+
		"  in a `url` through it.\n\n", spacedSize(facts.MaxFileFunctionSize))
	b.WriteString("| function | description |\n|---|---|\n")
	for _, f := range lang.Functions() {
		params := append([]string(nil), f.Params...)
		if f.Variadic != "" {
			params = append(params, f.Variadic+"...")
		}
		desc := strings.ReplaceAll(f.Description, `\"`, `"`)
		fmt.Fprintf(&b, "| `%s(%s)` | %s |\n", f.Name, strings.Join(params, ", "), cell(desc))
	}
	b.WriteString("\n")

	// Filters and templates.
	b.WriteString("## Filters and templates\n\n")
	b.WriteString("A send port's `filter` is an expression that must be boolean (BP1005): the\n" +
		"messages it holds for are the ones the port subscribes to. Every send port\n" +
		"whose filter holds gets its own delivery; a message no port subscribes to is\n" +
		"suspended as a routing failure. A send port without a filter subscribes to\n" +
		"nothing. A filter that is null whatever the message (`filter = null`, or a\n" +
		"local or variable that is null) is BP1005 too; one that is null only for\n" +
		"some messages fails their routing at run time.\n\n")
	if ts := templateAttributes(reg); len(ts) > 0 {
		fmt.Fprintf(&b, "Templates are evaluated per message and must produce a string (BP1005), never null: %s.\n\n", andList(ts))
	}
	b.WriteString("Both see the [message object](#the-message-object) as `message`, besides\n" +
		"variables, locals and functions. A reference to an attribute the message does\n" +
		"not have is BP1005, found by `validate`, not at run time. A filter that compares\n" +
		"`message.receive_location` with a name no receive location declares is warning\n" +
		"BP1006. A receive location whose messages no filter can match, judged from its\n" +
		"name and `properties` with everything else about a message unknown, is warning\n" +
		"BP1007; a filter that reads `message.properties.KEY` when no receive location\n" +
		"sets KEY is warning BP1008. During `validate`, a property value from a variable\n" +
		"without a value counts as unknown, and its name as set; `properties` unknown as\n" +
		"a whole (`properties = var.props`) could set anything, so BP1007 and BP1008 are\n" +
		"not judged where they depend on it, and warning BP1009 says so.\n\n")
	b.WriteString("```hcl\nfilter = message.receive_location == \"orders_in\" && message.properties.partner == \"fabrikam\"\n```\n\n")

	// The message object.
	b.WriteString("## The message object\n\n")
	b.WriteString("| attribute | type | meaning |\n|---|---|---|\n")
	for _, a := range lang.MessageAttributes() {
		fmt.Fprintf(&b, "| `message.%s` | %s | %s |\n", a.Name, a.Type.FriendlyName(), cell(a.Doc))
	}
	b.WriteString("\n")

	// Thumbprints.
	b.WriteString("## Thumbprints\n\n")
	b.WriteString("A thumbprint is the hex SHA-1 (40 digits, what BizTalk and Windows show) or\n" +
		"SHA-256 (64 digits) of the certificate's DER encoding. Case, spaces and colons\n" +
		"are ignored. Anything else — including invisible characters such as U+200E,\n" +
		"which Windows' certificate dialog puts in front of copied thumbprints — is error\n" +
		"BP2004, whose detail names the character (`U+200E LEFT-TO-RIGHT MARK`) and its\n" +
		"position. `bizpipe certs` lists both thumbprints of every certificate in the\n" +
		"stores, to paste.\n\n")

	// Certificate stores.
	b.WriteString("## Certificate stores\n\n")
	b.WriteString("A [certificate store](#certificate_store) is a directory. Its files are\n" +
		"recognised by content, not only by extension:\n\n" +
		"* PEM files (`.pem .crt .cer .key`): any number of CERTIFICATE blocks and\n" +
		"  private keys (PKCS#8, PKCS#1 RSA, SEC1 EC);\n" +
		"* DER certificates (`.der .cer .crt`);\n" +
		"* PKCS#12 (`.p12 .pfx`), decrypted with the store's `password` (modern\n" +
		"  PBES2/AES and legacy RC2/3DES files both): every certificate and private\n" +
		"  key in it, however many (a keytool keystore of several keys, a truststore\n" +
		"  of certificates only, a key exported without its certificate). A file\n" +
		"  without a MAC (`openssl pkcs12 -nomac`) is opened with the store's\n" +
		"  password, else with the empty one.\n\n" +
		"A private key belongs to the certificate whose public key it matches,\n" +
		"whichever files they came from. Files that are none of these are ignored\n" +
		"(`--verbose` says so); a file that looks like one of them but cannot be\n" +
		"parsed is error BP2002, naming the file. A PKCS#12 file the store's password\n" +
		"does not open, with or without a MAC, is BP2003. A PKCS#12 file whose MAC or\n" +
		"encryption states a key-derivation iteration count above 1,000,000 is BP2002\n" +
		"too, refused unopened; so is one that holds more than 32 private keys, or\n" +
		"whose derivations would add up to more than 4,000,000 iterations, refused\n" +
		"when the walk reaches that point: exporters write counts of 2,000 to\n" +
		"600,000, and deriving with a count of billions, or for thousands of keys,\n" +
		"would stall whoever opens the store.\n" +
		"Private key material never appears in any output.\n")
	return b.String()
}

// writeBlock writes the section of a block; parent is the enclosing block's
// type for a nested one.
func writeBlock(b *strings.Builder, reg *component.Registry, bl lang.Block, parent string) {
	if parent == "" {
		fmt.Fprintf(b, "### %s\n\n", bl.Type)
	} else {
		fmt.Fprintf(b, "#### %s (in %s)\n\n", bl.Type, parent)
	}
	b.WriteString(bl.Summary + "\n\n")
	syntax := bl.Type
	for _, l := range bl.Labels {
		syntax += fmt.Sprintf(" %q", strings.ToUpper(l))
	}
	fmt.Fprintf(b, "`%s { ... }`: %s", syntax, bl.Occurs)
	switch {
	case parent == "":
		b.WriteString(" per configuration.\n\n")
	default:
		fmt.Fprintf(b, " per %s block.\n\n", parent)
	}
	if bl.Doc != "" {
		b.WriteString(bl.Doc + "\n\n")
	}
	if bl.Component != 0 {
		title, anchor := kindSection(bl.Component)
		fmt.Fprintf(b, "The label names one of the [%s](%s#%s), and the block's body is that component's: %s.\n\n",
			strings.ToLower(title), fileComponents, anchor, componentLinks(reg, bl.Component))
	}
	if bl.AnyAttributes {
		b.WriteString("Any attribute name; each attribute is one value.\n\n")
	}
	if t := attrTable(langRows(bl.Attributes)); t != "" {
		b.WriteString(t + "\n")
	}
	if len(bl.Blocks) > 0 {
		var nested []string
		for _, n := range bl.Blocks {
			nested = append(nested, fmt.Sprintf("[`%s`](#%s)", n.Type, Anchor(n.Type+" (in "+bl.Type+")")))
		}
		fmt.Fprintf(b, "Nested blocks: %s.\n\n", andList(nested))
	}
	if bl.Example != "" {
		b.WriteString("```hcl\n" + bl.Example + "\n```\n\n")
	}
	for _, n := range bl.Blocks {
		writeBlock(b, reg, n, bl.Type)
	}
}

// labels describes a block's labels for the overview table.
func labels(bl lang.Block) string {
	if len(bl.Labels) == 0 {
		return "none"
	}
	return strings.Join(bl.Labels, ", ")
}

// referencedTypes are the block types attributes refer to, in block-table
// order.
func referencedTypes(blocks []lang.Block, reg *component.Registry) []string {
	used := map[string]bool{}
	// The components' attributes too: an as2 transport's partner is
	// party.NAME.
	for _, s := range reg.Specs() {
		for _, a := range s.Attributes {
			if t, ok := strings.CutPrefix(a.Type.String(), "reference to "); ok {
				used[t] = true
			}
		}
	}
	var walk func([]lang.Block)
	walk = func(bs []lang.Block) {
		for _, b := range bs {
			for _, a := range b.Attributes {
				if t, ok := strings.CutPrefix(a.Type, "reference to "); ok {
					used[t] = true
				}
			}
			walk(b.Blocks)
		}
	}
	walk(blocks)
	var out []string
	for _, b := range blocks {
		if used[b.Type] {
			out = append(out, b.Type)
		}
	}
	return out
}

// templateAttributes lists the registered components' template attributes.
func templateAttributes(reg *component.Registry) []string {
	var out []string
	for _, s := range reg.Specs() {
		for _, a := range s.Attributes {
			if a.Type == component.Template || a.Type == component.TemplateMap {
				out = append(out, fmt.Sprintf("`%s` of [%s](%s#%s)", a.Name, s.Kind.Block()+" \""+s.Name+"\" ("+s.Kind.String()+")", fileComponents, componentAnchor(s)))
			}
		}
	}
	return out
}

// thousands writes n with comma separators: 4,096.
func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// spacedSize writes a size in prose: "4 MiB".
func spacedSize(n int64) string {
	s := component.FormatSize(n)
	i := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	if i <= 0 {
		return s
	}
	return s[:i] + " " + s[i:]
}
