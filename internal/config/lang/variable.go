package lang

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/config/model"
	"github.com/bizpipe/bizpipe/internal/config/suggest"
	"github.com/bizpipe/bizpipe/internal/msgbox/pgbox"
)

var variableSchema = schemaOf(blockVariable)

// envVarPrefix is the prefix of environment variables that set input variables.
const envVarPrefix = "BIZPIPE_VAR_"

func (d *decoder) decodeVariableBlock(b *hcl.Block) {
	if !d.declare(b) {
		return
	}
	content, ds := b.Body.Content(variableSchema)
	d.add(diag.Tag(ds, diag.CodeInvalidValue)...)
	v := &model.Variable{Name: b.Labels[0], Type: cty.DynamicPseudoType, DeclRange: b.DefRange}
	if a, ok := content.Attributes["type"]; ok {
		// As with any invalid type, the variable keeps type any.
		file := d.cfg.Sources[a.Expr.Range().Filename]
		if nd := checkTypeNesting(a.Expr, file); nd != nil {
			d.add(nd)
		} else {
			// A JSON file's string is read as the json package reads
			// it, but with its positions in the file.
			typ := a.Expr
			if e := jsonTypeSyntax(a.Expr, file); e != nil {
				typ = e
			}
			// As in Terraform, optional(TYPE, DEFAULT) gives an
			// attribute a value when the object has none.
			ty, defaults, ds := typeexpr.TypeConstraintWithDefaults(typ)
			d.add(diag.Tag(ds, diag.CodeInvalidValue)...)
			if !ds.HasErrors() {
				v.Type = ty
				if defaults != nil {
					if d.typeDefaults == nil {
						d.typeDefaults = map[string]*typeexpr.Defaults{}
					}
					d.typeDefaults[v.Name] = defaults
				}
			}
		}
	}
	// Attributes of a variable block are constants: no references allowed.
	if a, ok := content.Attributes["description"]; ok {
		if val, ok := d.constant(a, cty.String); ok && !val.IsNull() {
			v.Description = val.AsString()
		}
	}
	if a, ok := content.Attributes["sensitive"]; ok {
		if val, ok := d.constant(a, cty.Bool); ok && !val.IsNull() {
			v.Sensitive = val.True()
		}
	}
	if a, ok := content.Attributes["default"]; ok {
		if val, ok := d.constantOf(a, v.Type, d.typeDefaults[v.Name]); ok {
			v.Default = val
		}
	}
	d.cfg.Variables = append(d.cfg.Variables, v)
}

// constant evaluates an expression that may not refer to anything.
func (d *decoder) constant(a *hcl.Attribute, ty cty.Type) (cty.Value, bool) {
	return d.constantOf(a, ty, nil)
}

// constantOf is constant for a value of a variable of type ty, whose
// optional attributes' defaults (nil: none) apply before it is converted.
func (d *decoder) constantOf(a *hcl.Attribute, ty cty.Type, defaults *typeexpr.Defaults) (cty.Value, bool) {
	if vars := variables(a.Expr, d.ctxFor(a.Range)); len(vars) > 0 {
		d.add(diag.Errorf(diag.CodeInvalidValue, vars[0].SourceRange(), "Variables not allowed",
			"The %s attribute of a variable block must be a constant; it cannot refer to anything.", a.Name))
		return cty.NilVal, false
	}
	val, ds := evaluateConstant(a.Expr, d.meter)
	if ds.HasErrors() {
		d.add(diag.Tag(ds, diag.CodeInvalidValue)...)
		return cty.NilVal, false
	}
	out, err := convertValue(withDefaults(val, defaults), ty)
	if err != nil {
		d.add(diag.Errorf(diag.CodeInvalidValue, a.Expr.Range(), "Invalid value for "+a.Name,
			"The %s attribute must be %s: %s.", a.Name, ty.FriendlyName(), err))
		return cty.NilVal, false
	}
	return out, true
}

// assignVariables gives every variable its value: --var, then --var-file
// (later files win), then BIZPIPE_VAR_NAME, then default. With none, the value
// is unknown in validate mode and an error in run mode.
func (d *decoder) assignVariables() {
	d.vars = map[string]*model.Variable{}
	for _, v := range d.cfg.Variables {
		d.vars[v.Name] = v
	}
	fromCLI := map[string]cty.Value{}
	fromFiles := map[string]cty.Value{}
	if len(d.opts.VarFiles) > 0 {
		// The configuration's files only, parsed so far: which of their
		// variables go where a secret goes, whose values in a variables
		// file are masked as a sensitive one's are.
		files := make([]*hcl.File, 0, len(d.parser.Files()))
		for _, f := range d.parser.Files() {
			files = append(files, f)
		}
		secrets := findSecrets(files, d.registry)
		for _, path := range d.opts.VarFiles {
			d.readVarFile(path, fromFiles, secrets)
		}
	}
	for _, arg := range d.opts.Vars {
		name, raw, ok := strings.Cut(arg, "=")
		if !ok || name == "" {
			d.add(diag.New(hcl.DiagError, diag.CodeInvalidValue, hcl.Range{}, "Invalid --var option",
				"The --var option takes NAME=VALUE; one of the values given has no \"=\" (it is not shown, in case it is a secret)."))
			continue
		}
		v, declared := d.vars[name]
		if !declared {
			d.add(diag.New(hcl.DiagError, diag.CodeUndeclared, hcl.Range{}, "Value for undeclared variable",
				fmt.Sprintf("The --var option sets variable %q, which no variable block declares.%s", name,
					suggest.Hint(name, sortedKeys(d.vars), "%q"))))
			continue
		}
		if val, ok := d.parseRawVar(v, raw, "--var "+name); ok {
			fromCLI[name] = val
		}
	}
	for _, v := range d.cfg.Variables {
		val, ok := fromCLI[v.Name]
		if !ok {
			val, ok = fromFiles[v.Name]
		}
		if !ok {
			if raw, set := d.opts.LookupEnv(envVarPrefix + v.Name); set {
				val, ok = d.parseRawVar(v, raw, envVarPrefix+v.Name)
			}
		}
		if !ok && v.Default != cty.NilVal {
			val, ok = v.Default, true
		}
		if !ok {
			// Under Options.Host, only where the host needs it
			// (reportNeededInputs).
			if d.opts.Mode == ModeRun && !d.deferInputs {
				d.add(noValue(v))
			}
			val = cty.UnknownVal(v.Type)
		}
		if v.Sensitive {
			val = val.Mark(markSensitive)
		}
		v.Value = val
	}
}

// parseRawVar turns a command-line or environment string into the variable's
// type: strings are taken literally, anything else is parsed as an HCL
// expression, as Terraform does.
func (d *decoder) parseRawVar(v *model.Variable, raw, source string) (cty.Value, bool) {
	var val cty.Value
	if v.Type == cty.String || v.Type == cty.DynamicPseudoType {
		val = cty.StringVal(raw)
	} else {
		// The value is not shown (it may be a secret), so neither is where
		// it is nested too deeply.
		if p, _ := hclNesting([]byte(raw), source, hcl.InitialPos, lexExpression, 0, maxFileTokens); p != nil {
			d.add(diag.New(hcl.DiagError, diag.CodeInvalidValue, hcl.Range{}, "Invalid value for variable",
				p.detail("The value of "+source)))
			return cty.NilVal, false
		}
		expr, ds := hclsyntax.ParseExpression([]byte(raw), source, hcl.InitialPos)
		if ds.HasErrors() {
			d.add(diag.New(hcl.DiagError, diag.CodeInvalidValue, hcl.Range{}, "Invalid value for variable",
				fmt.Sprintf("The value of %s is not a valid %s expression.", source, v.Type.FriendlyName())))
			return cty.NilVal, false
		}
		var vds hcl.Diagnostics
		val, vds = evaluateConstant(expr, d.meter)
		if vds.HasErrors() {
			// Only the summary of a refusal: its detail may quote
			// the value, a secret perhaps.
			why := fmt.Sprintf("must be a constant %s", v.Type.FriendlyName())
			for _, x := range vds {
				switch x.Summary {
				case "Number out of range":
					why = fmt.Sprintf("has a number out of range (bizpipe accepts numbers between about 10^-%d and 10^%d in magnitude)", maxDecimalExponent, maxDecimalExponent)
				case "Value too large", "Evaluation too costly":
					why = "is too large to evaluate"
				}
			}
			d.add(diag.New(hcl.DiagError, diag.CodeInvalidValue, hcl.Range{}, "Invalid value for variable",
				fmt.Sprintf("The value of %s %s.", source, why)))
			return cty.NilVal, false
		}
	}
	out, err := convertValue(withDefaults(val, d.typeDefaults[v.Name]), v.Type)
	if err != nil {
		d.add(diag.New(hcl.DiagError, diag.CodeInvalidValue, hcl.Range{}, "Invalid value for variable",
			fmt.Sprintf("The value of %s is not a valid %s: %s.", source, v.Type.FriendlyName(), err)))
		return cty.NilVal, false
	}
	// A string taken literally is measured too: one of a million digits
	// would take minutes to read where a number is needed.
	if s := measure(out, valueLimit); s.beyond(valueLimit) {
		d.add(diag.New(hcl.DiagError, diag.CodeInvalidValue, hcl.Range{}, "Invalid value for variable",
			tooLargeText("The value of "+source, s)+"."))
		return cty.NilVal, false
	}
	return out, true
}

// readVarFile reads NAME = VALUE assignments from an HCL or JSON file;
// secrets are the configuration's (keepVarFileSource).
func (d *decoder) readVarFile(path string, into map[string]cty.Value, secrets foundSecrets) {
	src, err := readLimited(path, maxVarFileSize)
	if err != nil {
		d.add(diag.AboutFile(diag.CodeInvalidValue, path, "Cannot read variables file",
			fmt.Sprintf("Reading --var-file %s: %s.", path, err)))
		return
	}
	if ud := checkUTF16(src, path, "variables"); ud != nil {
		d.add(ud)
		return
	}
	if nd := CheckNesting(src, path); nd != nil {
		d.add(nd)
		return
	}
	var f *hcl.File
	var ds hcl.Diagnostics
	if strings.HasSuffix(path, ".json") {
		f, ds = d.parser.ParseJSON(jsonText(src), path)
	} else {
		f, ds = d.parser.ParseHCL(src, path)
	}
	if ds.HasErrors() {
		d.add(syntaxDiags(ds, path, src)...)
		return
	}
	attrs, ds := f.Body.JustAttributes()
	d.add(diag.Tag(ds, diag.CodeInvalidValue)...)
	if !ds.HasErrors() {
		d.keepVarFileSource(path, f.Bytes, attrs, secrets)
	}
	for name, a := range attrs {
		v, declared := d.vars[name]
		if !declared {
			d.add(diag.Errorf(diag.CodeUndeclared, a.NameRange, "Value for undeclared variable",
				"The variables file %s sets %q, which no variable block declares.%s", path, name,
				suggest.Hint(name, sortedKeys(d.vars), "%q")))
			continue
		}
		if val, ok := d.constantOf(a, v.Type, d.typeDefaults[name]); ok {
			into[name] = val
		}
	}
}

// withDefaults is val with the defaults of its type's optional attributes
// (nil: none) where it has none.
func withDefaults(val cty.Value, defaults *typeexpr.Defaults) cty.Value {
	if defaults == nil {
		return val
	}
	return defaults.Apply(val)
}

// noValue is the error of a variable without a value where one is needed.
func noValue(v *model.Variable) *hcl.Diagnostic {
	return diag.Errorf(diag.CodeInvalidValue, v.DeclRange, "No value for required variable",
		"Variable %q has no default, and no value was given with --var, --var-file or %s%s.", v.Name, envVarPrefix, v.Name)
}

// keepVarFileSource records src, the text of variables file path, for the
// snippets of its diagnostics, with the values it gives a sensitive or an
// undeclared variable masked (model.Config.VarFileSources), and those of a
// variable whose value goes where a secret goes (secrets: a store's
// password, all of it; a postgres url, its password), as the literal
// written there is.
func (d *decoder) keepVarFileSource(path string, src []byte, attrs hcl.Attributes, secrets foundSecrets) {
	masked := bytes.Clone(src)
	mask := func(start, end int) {
		for i := start; i < end && i < len(masked); i++ {
			if masked[i] != '\n' && masked[i] != '\r' {
				masked[i] = '*'
			}
		}
	}
	for name, a := range attrs {
		r := a.Expr.Range()
		if v := d.vars[name]; v == nil || v.Sensitive || secrets.vars[name] {
			mask(r.Start.Byte, r.End.Byte)
			continue
		}
		if !secrets.urlVars[name] || r.End.Byte > len(src) {
			continue
		}
		// The URL's password, as the value's text writes it (escaped or
		// not), not the rest of the URL.
		val, _ := a.Expr.Value(nil)
		text := src[r.Start.Byte:r.End.Byte]
		for _, lit := range stringsIn(val) {
			for _, pw := range pgbox.SecretsOf(lit) {
				for off := 0; pw != ""; {
					i := bytes.Index(text[off:], []byte(pw))
					if i < 0 {
						break
					}
					mask(r.Start.Byte+off+i, r.Start.Byte+off+i+len(pw))
					off += i + len(pw)
				}
			}
		}
	}
	if d.cfg.VarFileSources == nil {
		d.cfg.VarFileSources = map[string][]byte{}
	}
	d.cfg.VarFileSources[path] = masked
}
