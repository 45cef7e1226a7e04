package lang

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"

	"github.com/bizpipe/bizpipe/internal/fsop"
	"github.com/bizpipe/bizpipe/internal/redact"
)

// markSensitive is the cty mark carried by values derived from sensitive
// variables and from message properties set from them; anything that
// prints a value checks for it.
const markSensitive = "sensitive"

// markSender is the cty mark carried by the message attributes a message's
// sender chose (file_name, content_type) and by what is derived from them:
// a url whose scheme or host carries it is refused (see Template).
const markSender = "sender"

// stdFunctions returns the go-cty standard library, mostly under the names
// Terraform gives it (functionDocs says where a function is not
// Terraform's), plus env(). file() is added per file by fileFunction.
func stdFunctions(mode Mode, lookupEnv func(string) (string, bool)) map[string]function.Function {
	return meteredFunctions(mode, lookupEnv, nil)
}

// meteredFunctions is stdFunctions measuring what each function builds,
// and charging it and its arguments to m (metered), nil for none.
func meteredFunctions(mode Mode, lookupEnv func(string) (string, bool), m *meter) map[string]function.Function {
	fns := map[string]function.Function{
		"abs":             stdlib.AbsoluteFunc,
		"ceil":            stdlib.CeilFunc,
		"chomp":           stdlib.ChompFunc,
		"chunklist":       stdlib.ChunklistFunc,
		"coalesce":        stdlib.CoalesceFunc,
		"coalescelist":    stdlib.CoalesceListFunc,
		"compact":         stdlib.CompactFunc,
		"concat":          stdlib.ConcatFunc,
		"contains":        stdlib.ContainsFunc,
		"csvdecode":       withArgCheck(stdlib.CSVDecodeFunc, checkCSV, ""),
		"distinct":        bounded(stdlib.DistinctFunc, maxDistinct, false),
		"element":         stdlib.ElementFunc,
		"flatten":         stdlib.FlattenFunc,
		"floor":           stdlib.FloorFunc,
		"format":          withArgCheck(stdlib.FormatFunc, checkFormatArgs(false), formatLimits),
		"formatdate":      stdlib.FormatDateFunc,
		"formatlist":      withArgCheck(stdlib.FormatListFunc, checkFormatArgs(true), formatLimits),
		"indent":          withArgCheck(stdlib.IndentFunc, checkIndent, fmt.Sprintf(" At most %d spaces.", maxPadding)),
		"index":           stdlib.IndexFunc,
		"join":            withArgCheck(stdlib.JoinFunc, checkJoin, ""),
		"jsondecode":      withArgCheck(stdlib.JSONDecodeFunc, checkJSONText, jsonLimits),
		"jsonencode":      withArgCheck(stdlib.JSONEncodeFunc, checkNumbers, numberLimit),
		"keys":            stdlib.KeysFunc,
		"length":          stdlib.LengthFunc,
		"log":             withArgCheck(stdlib.LogFunc, floatCheck(logProblem), " It takes a positive number and a positive base other than 1."),
		"lookup":          stdlib.LookupFunc,
		"lower":           stdlib.LowerFunc,
		"max":             stdlib.MaxFunc,
		"merge":           stdlib.MergeFunc,
		"min":             stdlib.MinFunc,
		"parseint":        withArgCheck(stdlib.ParseIntFunc, checkParseInt, ""),
		"pow":             withArgCheck(stdlib.PowFunc, floatCheck(powProblem), " A result that is infinite (an overflow, or 0 to a negative power) or not a real number (a negative number to a fractional power) is refused."),
		"range":           stdlib.RangeFunc,
		"regex":           withArgCheck(stdlib.RegexFunc, checkRegex(0), regexLimits),
		"regexall":        withArgCheck(stdlib.RegexAllFunc, checkRegexAll, regexLimits),
		"regex_replace":   withArgCheck(stdlib.RegexReplaceFunc, checkRegexReplace, regexLimits),
		"replace":         withArgCheck(stdlib.ReplaceFunc, checkReplace, ""),
		"reverse":         stdlib.ReverseListFunc,
		"setintersection": stdlib.SetIntersectionFunc,
		"setproduct":      bounded(stdlib.SetProductFunc, maxProduct, true),
		"setsubtract":     stdlib.SetSubtractFunc,
		"setunion":        stdlib.SetUnionFunc,
		"signum":          stdlib.SignumFunc,
		"slice":           stdlib.SliceFunc,
		"sort":            stdlib.SortFunc,
		"split":           withArgCheck(stdlib.SplitFunc, checkSplit, ""),
		"strlen":          stdlib.StrlenFunc,
		"strrev":          stdlib.ReverseFunc,
		"substr":          stdlib.SubstrFunc,
		"timeadd":         stdlib.TimeAddFunc,
		"title":           stdlib.TitleFunc,
		"trim":            stdlib.TrimFunc,
		"trimprefix":      stdlib.TrimPrefixFunc,
		"trimspace":       stdlib.TrimSpaceFunc,
		"trimsuffix":      stdlib.TrimSuffixFunc,
		"upper":           stdlib.UpperFunc,
		"urlencode":       urlencodeFunction,
		"values":          stdlib.ValuesFunc,
		"zipmap":          stdlib.ZipmapFunc,
		"env":             envFunction(mode, lookupEnv),
		"startswith": stringPredicate("prefix", strings.HasPrefix,
			"Returns true if the given string starts with the given prefix."),
		"endswith": stringPredicate("suffix", strings.HasSuffix,
			"Returns true if the given string ends with the given suffix."),
		"strcontains": stringPredicate("substr", strings.Contains,
			"Returns true if the given string contains the given substring."),
	}
	for name, f := range fns {
		// Every function refuses a result with a number too large to
		// print: one that takes a number converts a string argument
		// ("1e300000000") to it, and max or abs would pass it on.
		f = refusingHugeResults(f, f.Description(), "the result has ")
		// Outermost: no wrapper's error may show a sensitive argument.
		fns[name] = hidingSensitiveErrors(name, anyCollectionArgs(metered(f, m, freeArguments[name], extraCosts[name])))
	}
	return fns
}

// extraCosts are what calls of some functions cost beyond their arguments
// and result (metered): compiling a regular expression, and searching text
// with it.
var extraCosts = map[string]func(args []cty.Value) valueSize{
	"regex":         regexCost(0, 1),
	"regexall":      regexCost(0, 1),
	"regex_replace": regexCost(1, 0),
}

// regexLimits states the bound on a regular expression.
var regexLimits = fmt.Sprintf(" A pattern may be at most %s characters long and compile to at most %s instructions (a{1000} is a thousand).", thousands(maxRegexPattern), thousands(maxRegexProgram))

// Bounds on the functions whose cost grows faster than their input: a
// configuration lists partners, ports and stores, thousands at most, and
// within the expression size limit a hostile one could otherwise make
// validate run for minutes or exhaust memory (go-cty's distinct compares
// every element with every other; setproduct of three 300-element lists
// is 2.7 million elements, 15 s and 1.25 GB).
const (
	maxDistinct = 1000  // elements distinct takes (1,000 distinct ones: under a second)
	maxProduct  = 10000 // elements setproduct makes
)

// bounded refuses calls of f whose collection arguments hold more than max
// elements: their lengths multiplied when product is set, else summed with
// the elements nested in them (distinct compares whole elements: 1,000
// lists of 100 elements would be 50 million comparisons).
func bounded(f function.Function, max int, product bool) function.Function {
	limit := fmt.Sprintf(" Its arguments may hold at most %d elements in all, nested ones included.", max)
	if product {
		limit = fmt.Sprintf(" Its result may hold at most %d elements.", max)
	}
	spec := &function.Spec{
		Description: f.Description() + limit,
		Params:      f.Params(),
		VarParam:    f.VarParam(),
		Type: func(args []cty.Value) (cty.Type, error) {
			return f.ReturnTypeForValues(args)
		},
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			n := 0
			if product {
				n = 1
			}
			for i, a := range args {
				a, _ = a.Unmark()
				if !a.IsKnown() || a.IsNull() || !a.CanIterateElements() {
					continue
				}
				if product {
					n *= a.LengthInt()
				} else {
					n += int(measure(a, valueSize{elements: int64(max), text: maxValueText}).elements)
				}
				if n > max {
					what := "elements"
					if product {
						what = "elements in its result"
					}
					return cty.NilVal, function.NewArgErrorf(i, "too many %s (more than %d): no configuration needs that many, and computing them would take minutes", what, max)
				}
			}
			return f.Call(args)
		},
	}
	return function.New(spec)
}

// maxPadding bounds the width and precision of a format verb and indent's
// spaces. go-cty pads with strings.Repeat and formats numbers to the
// precision asked: format("%1500000000s", "x") took 4.3 s and 4.4 GB, and
// the language server evaluates as the user types. A value in a message's
// properties, headers or URL needs a few dozen characters of padding.
const maxPadding = 4096

// withArgCheck returns f with check run on its arguments before its type is
// decided and before it runs: a known argument it refuses is an error that
// points at that argument, also during validate when other arguments are
// not known yet.
func withArgCheck(f function.Function, check func(args []cty.Value) error, limits string) function.Function {
	return function.New(&function.Spec{
		Description: f.Description() + limits,
		Params:      f.Params(),
		VarParam:    f.VarParam(),
		Type: func(args []cty.Value) (cty.Type, error) {
			if err := check(args); err != nil {
				return cty.DynamicPseudoType, err
			}
			return f.ReturnTypeForValues(args)
		},
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			if err := check(args); err != nil {
				return cty.NilVal, err
			}
			return f.Call(args)
		},
	})
}

// jsonLimits states jsondecode's limits in its description; like every
// function's, its result is refused when it holds a number checkNumbers
// refuses (jsondecode("1e300000000") would otherwise be printed wherever it
// becomes text).
var jsonLimits = fmt.Sprintf(" Arrays and objects nested more than %d levels deep are refused.", maxNesting) + numberLimit

// checkJSONNesting refuses jsondecode's text when it opens arrays and
// objects more than maxNesting levels deep. go-cty's decoder recurses once
// per "[" or "{" it reads, and encoding/json's own depth limit (10,000) only
// applies to text that is well formed up to there: a string of a few
// million "[" (a short expression can build one: replace, format, join)
// overflowed the goroutine stack, a fatal error that recover cannot catch,
// which killed validate, run and the language server. The scan is linear
// and allocates nothing; brackets inside JSON strings do not count.
func checkJSONNesting(args []cty.Value) error {
	if len(args) == 0 {
		return nil
	}
	v, _ := args[0].UnmarkDeep()
	if !v.IsKnown() || v.IsNull() || v.Type() != cty.String {
		return nil
	}
	if at := jsonTooDeep(v.AsString(), maxNesting); at >= 0 {
		return function.NewArgErrorf(0, "jsondecode's text nests arrays and objects more than %d levels deep (at offset %d); no configuration value is nested that deeply, and decoding it would exhaust the stack", maxNesting, at)
	}
	return nil
}

// jsonTooDeep returns the offset of the first "[" or "{" of s that opens a
// level beyond limit, outside JSON strings, or -1 when there is none. It
// does not check the syntax (go-cty does): a stray closing bracket closes
// nothing, so that no text can look shallower than it is to the decoder.
func jsonTooDeep(s string, limit int) int {
	depth := 0
	inString, escaped := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			if depth++; depth > limit {
				return i
			}
		case (c == ']' || c == '}') && depth > 0:
			depth--
		}
	}
	return -1
}

// boundedOperation is op (an arithmetic operator of the language) refusing
// a result whose magnitude checkNumbers refuses: a few squarings in
// locals of a number that is fine on its own reach one that takes minutes
// to print wherever it becomes text.
func boundedOperation(op *hclsyntax.Operation) *hclsyntax.Operation {
	return &hclsyntax.Operation{Type: op.Type, Impl: refusingHugeResults(op.Impl, op.Impl.Description(), "the result would be ")}
}

// refusingHugeResults is f, described by description, with an error
// (what, then why checkNumbers refuses it) instead of a result holding a number
// checkNumbers refuses.
func refusingHugeResults(f function.Function, description, what string) function.Function {
	return function.New(&function.Spec{
		Description: description,
		Params:      f.Params(),
		VarParam:    f.VarParam(),
		Type:        f.ReturnTypeForValues,
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			v, err := f.Call(args)
			if err != nil {
				return v, err
			}
			if err := checkNumbers([]cty.Value{v}); err != nil {
				return cty.NilVal, errors.New(what + err.Error()) // the ArgError's text alone
			}
			return v, nil
		},
	})
}

// maxNumberExponent bounds the binary exponent of a number that format,
// formatlist and jsonencode print: 1e300000000 is a short literal, but its
// digits (300 million of them) took minutes to produce. 2^16384 has 4,933
// decimal digits, beyond any number a configuration holds.
const maxNumberExponent = 16384

// The limits as the functions' descriptions state them.
var (
	numberLimit  = fmt.Sprintf(" Numbers of more than about %d digits are refused.", maxNumberDigits)
	formatLimits = fmt.Sprintf(" Widths and precisions are at most %d.", maxPadding) + numberLimit
)

// checkFormatArgs checks format's (list false) and formatlist's widths,
// numbers and the size of their result (checkFormatOutput).
func checkFormatArgs(list bool) func(args []cty.Value) error {
	output := checkFormatOutput(list)
	return func(args []cty.Value) error {
		if err := checkFormatWidths(args); err != nil {
			return err
		}
		if err := checkNumbers(args); err != nil {
			return err
		}
		return output(args)
	}
}

// hugeNumberText says why a number is refused (checkNumbers).
var hugeNumberText = fmt.Sprintf("a number with more than %d binary digits of magnitude (about %d decimal digits), which cannot be printed: no configuration value is that large or that small", maxNumberExponent, maxNumberDigits)

// infiniteNumberText says why an infinite number is refused (a division
// by zero makes one): its text ("+Inf") is no value any partner or path
// expects.
const infiniteNumberText = "an infinite number (a division by zero, or an overflow), which no value can hold"

// floatCheck is the argument check (withArgCheck) of a function of two
// numbers computed in floating point (pow, log): problem's text refuses
// the known arguments for which it would give an infinite result or none
// (NaN, on which go-cty panics).
func floatCheck(problem func(a, b float64) string) func(args []cty.Value) error {
	return func(args []cty.Value) error {
		if len(args) != 2 {
			return nil
		}
		a, _ := args[0].Unmark()
		b, _ := args[1].Unmark()
		if !a.IsKnown() || a.IsNull() || !b.IsKnown() || b.IsNull() {
			return nil
		}
		x, _ := a.AsBigFloat().Float64()
		y, _ := b.AsBigFloat().Float64()
		if why := problem(x, y); why != "" {
			return errors.New(why)
		}
		return nil
	}
}

// logProblem says why log(num, base) has no finite real result.
func logProblem(num, base float64) string {
	if num <= 0 || base <= 0 || base == 1 {
		return "log takes a positive number and a positive base other than 1"
	}
	return ""
}

// powProblem says why pow(num, power) has no finite real result.
func powProblem(num, power float64) string {
	switch r := math.Pow(num, power); {
	case math.IsNaN(r):
		return "a negative number to a fractional power has no real value"
	case math.IsInf(r, 0):
		return "the result is infinite (an overflow, or 0 to a negative power)"
	}
	return ""
}

// numberProblem says why checkNumbers refuses f, "" when it does not.
func numberProblem(f *big.Float) string {
	if f.IsInf() {
		return infiniteNumberText
	}
	if tooManyDigits(f) {
		return hugeNumberText
	}
	return ""
}

// The bound maxNumberExponent puts on a number, in decimal: 2^16384 is
// about 1.19 × 10^4932, so a number refused is at least about 10^4932 (or
// below about 10^-4932) in magnitude, and the largest accepted has 4,933
// digits before its point.
var (
	maxDecimalExponent = int(maxNumberExponent * math.Log10(2))
	maxNumberDigits    = maxDecimalExponent + 1
)

// decimalExponent returns the exponent of finite, non-zero f written in
// scientific notation (5e999999 is 5 × 10^999999: 999999), from its binary
// exponent: f's decimal digits are what cannot be computed. Writing the
// binary exponent times 0.301 for it, as the message of a number out of
// range did, was off by a hundred thousand at 1e999999 (log10(2) is
// 0.30103). The small slack keeps an exact power of ten, whose logarithm
// float64 may compute a hair low, from reading as the power below.
func decimalExponent(f *big.Float) int {
	mant := new(big.Float)
	e := f.MantExp(mant) // |f| = |mant| × 2^e, 0.5 <= |mant| < 1
	m, _ := mant.Abs(mant).Float64()
	return int(math.Floor(math.Log10(m) + float64(e)*math.Log10(2) + 1e-6))
}

// tooManyDigits reports whether the decimal form of finite f would have
// thousands of digits (maxNumberExponent).
func tooManyDigits(f *big.Float) bool {
	if f.IsInf() {
		return false
	}
	e := f.MantExp(nil)
	return e > maxNumberExponent || e < -maxNumberExponent
}

// checkNumbers refuses a known number, in any argument or nested in one,
// whose decimal form would have thousands of digits (see
// maxNumberExponent), before it is printed.
func checkNumbers(args []cty.Value) error {
	for i, a := range args {
		a, _ = a.UnmarkDeep()
		var bad error
		_ = cty.Walk(a, func(_ cty.Path, v cty.Value) (bool, error) {
			if bad != nil || !v.IsKnown() || v.IsNull() {
				return false, nil
			}
			if v.Type() == cty.Number {
				if why := numberProblem(v.AsBigFloat()); why != "" {
					bad = function.NewArgErrorf(i, "%s", why)
				}
			}
			return true, nil
		})
		if bad != nil {
			return bad
		}
	}
	return nil
}

// checkFormatWidths refuses a format string (the first argument of format
// and formatlist) with a width or precision above maxPadding. It scans the
// characters go-cty's format grammar allows between "%" and the verb
// (flags, width, ".", precision, "[n]" argument index); an argument index
// is not a width and is left to go-cty.
func checkFormatWidths(args []cty.Value) error {
	if len(args) == 0 {
		return nil
	}
	v, _ := args[0].UnmarkDeep()
	if !v.IsKnown() || v.IsNull() || v.Type() != cty.String {
		return nil
	}
	s := v.AsString()
	return formatVerbSpecs(s, func(start, end int) error {
		inIndex, what := false, "width"
		for i := start; i < end; i++ {
			switch c := s[i]; {
			case c == '[':
				inIndex = true
			case c == ']':
				inIndex = false
			case c == '.':
				what = "precision"
			case c >= '1' && c <= '9' && !inIndex:
				j := i
				for j < end && s[j] >= '0' && s[j] <= '9' {
					j++
				}
				// A run of digits may be too long for an int.
				if n, err := strconv.Atoi(s[i:j]); err != nil || j-i > 9 || n > maxPadding {
					return function.NewArgErrorf(0, "the format's %s %s (at offset %d) is larger than the limit of %d characters", what, shortDigits(s[i:j]), i, maxPadding)
				}
				i = j - 1
			}
		}
		return nil
	})
}

// shortDigits shows a run of digits, shortened when it is long: it may be
// thousands of digits long.
func shortDigits(n string) string {
	if len(n) > 20 {
		return n[:20] + fmt.Sprintf("... (%d digits)", len(n))
	}
	return n
}

// checkIndentSpaces refuses indent's spaces above maxPadding (go-cty repeats
// a space that many times) or below zero (strings.Repeat panics).
func checkIndentSpaces(args []cty.Value) error {
	if len(args) == 0 {
		return nil
	}
	v, _ := args[0].UnmarkDeep()
	if !v.IsKnown() || v.IsNull() || v.Type() != cty.Number {
		return nil
	}
	bf := v.AsBigFloat()
	if bf.Sign() < 0 || bf.Cmp(big.NewFloat(maxPadding)) > 0 {
		return function.NewArgErrorf(0, "indent's spaces must be between 0 and %d", maxPadding)
	}
	return nil
}

// stringPredicate makes Terraform's startswith, endswith and strcontains,
// which filters on file names need and go-cty's library lacks; other names
// the second parameter as Terraform does.
func stringPredicate(other string, f func(s, x string) bool, description string) function.Function {
	return function.New(&function.Spec{
		Description: description,
		Params:      []function.Parameter{{Name: "string", Type: cty.String}, {Name: other, Type: cty.String}},
		Type:        function.StaticReturnType(cty.Bool),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			return cty.BoolVal(f(args[0].AsString(), args[1].AsString())), nil
		},
	})
}

// urlencodeFunction is Terraform's urlencode: url.QueryEscape, so that a
// value interpolated into a URL's query (spaces become "+") or path cannot
// add delimiters, parameters or a fragment.
var urlencodeFunction = function.New(&function.Spec{
	Description: "Escapes a string for use in a URL's query string.",
	Params:      []function.Parameter{{Name: "str", Type: cty.String}},
	Type:        function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		return cty.StringVal(url.QueryEscape(args[0].AsString())), nil
	},
})

// envFunction reads an environment variable. During validate an unset
// variable is unknown (checked for type only); during run it is an error.
func envFunction(mode Mode, lookupEnv func(string) (string, bool)) function.Function {
	return function.New(&function.Spec{
		Description: "Returns the value of an environment variable.",
		Params:      []function.Parameter{{Name: "name", Type: cty.String}},
		Type:        function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			name := args[0].AsString()
			v, ok := lookupEnv(name)
			if !ok {
				if mode == ModeValidate {
					return cty.UnknownVal(cty.String), nil
				}
				return cty.NilVal, fmt.Errorf("environment variable %q is not set", name)
			}
			return cty.StringVal(v), nil
		},
	})
}

// fileFunction reads a file relative to dir, the directory of the file that
// calls it (§2), never the working directory.
func fileFunction(dir string) function.Function {
	return hidingSensitiveErrors("file", function.New(&function.Spec{
		Description: "Reads a file, relative to the configuration file that calls file(); a UTF-8 byte order mark at its start is dropped.",
		Params: []function.Parameter{{
			Name: "path", Type: cty.String,
			// Marked values reach Impl so that a sensitive path is never
			// echoed in an error.
			AllowMarked: true,
		}},
		Type: function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			raw, marks := args[0].Unmark()
			p := raw.AsString()
			_, sensitive := marks[markSensitive]
			shown := p
			if sensitive {
				shown = redact.Shown
			}
			if !filepath.IsAbs(p) {
				p = filepath.Join(dir, p)
				if !sensitive {
					shown = p
				}
			}
			b, err := readSmallFile(p)
			if err != nil {
				return cty.NilVal, fmt.Errorf("reading %s: %w", shown, err)
			}
			if !utf8.Valid(b) {
				return cty.NilVal, fmt.Errorf("%s is not valid UTF-8 text", shown)
			}
			// A byte order mark, which Notepad writes, is no part of the
			// text: left in, a password read from such a file would
			// just be wrong (BP2003), and trimspace keeps it.
			b = bytes.TrimPrefix(b, []byte(UTF8BOM))
			return cty.StringVal(string(b)).WithMarks(marks), nil
		},
	}))
}

// unwrapPathError drops the path an *os.PathError repeats, which could be a
// sensitive value, keeping only the reason.
func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// maxFileFunctionSize bounds what file() reads: configuration values, not
// data. Without it, file("/dev/zero") would exhaust memory.
const maxFileFunctionSize = 4 << 20

// readSmallFile reads a regular file of at most maxFileFunctionSize bytes
// (fsop.ReadRegular): devices, FIFOs and directories are refused without
// waiting on them, so that file("/dev/stdin") cannot hang validate.
func readSmallFile(p string) ([]byte, error) {
	b, err := fsop.ReadRegular(p, maxFileFunctionSize)
	if errors.Is(err, fsop.ErrTooLarge) {
		return nil, fmt.Errorf("above file()'s limit of %d bytes", maxFileFunctionSize)
	}
	return b, unwrapPathError(err)
}

// Function documents a function the language provides.
type Function struct {
	Name string
	// Params are the parameter names; Variadic names the last one when it
	// takes any number of arguments.
	Params   []string
	Variadic string
	// Description is the function's own description (go-cty's for its
	// standard library), or functionDocs' where that one is wrong or
	// does not say how the function differs from Terraform's.
	Description string
	// NotTerraform is set when the function behaves otherwise than
	// Terraform's function of the same name, or Terraform has none of
	// that name: its Description says how.
	NotTerraform bool
}

// functionDoc is a description that replaces a function's go-cty one,
// and whether the function is not Terraform's (Function.NotTerraform): one
// entry, so that a function marked as not Terraform's always says how.
type functionDoc struct {
	notTerraform bool
	description  string
}

// functionDocs replaces the descriptions of the functions whose go-cty
// description is wrong (trimsuffix, csvdecode) and of those that are not
// Terraform's (notTerraform): most of the standard library is what
// Terraform calls under the same names, but Terraform has its own index,
// length, lookup, coalesce and replace, and no regex_replace nor strlen.
// TestFunctionDocs checks each claim.
var functionDocs = map[string]functionDoc{
	"coalesce": {notTerraform: true, description: "Returns the first of the given arguments that isn't null, or raises an error if there are no non-null arguments. " +
		"An empty string counts: coalesce(\"\", \"a\") is \"\" (Terraform's coalesce skips empty strings)."},
	"csvdecode": {description: "Parses the given string as Comma Separated Values (as defined by RFC 4180) and returns a list of objects, " +
		"one per row after the first, whose attributes are named by the first row."},
	"index": {notTerraform: true, description: "Returns the element of the given list or tuple at the given index, or of the given map at the given key " +
		"(what collection[key] gives), or raises an error if there is no such element. " +
		"Not Terraform's index, which returns the position of a value in a list: here index([\"a\", \"b\"], 1) is \"b\", " +
		"and index([\"a\", \"b\"], \"b\") is an error."},
	"length": {notTerraform: true, description: "Returns the number of elements in the given list, tuple or map. Unlike Terraform's length it does not take " +
		"a string: strlen counts a string's characters."},
	"lookup": {notTerraform: true, description: "Returns the value of the element with the given key from the given map, or returns the default value " +
		"if there is no such element. The default is required and must not be null (Terraform's lookup may leave it out)."},
	"regex_replace": {notTerraform: true, description: "Replaces every match of the given regular expression (RE2 syntax, as regex) in the given string " +
		"with the given replacement string, in which $1 or ${name} stands for a submatch. Terraform has no regex_replace: " +
		"its replace takes a pattern between slashes." + regexLimits},
	"replace": {notTerraform: true, description: "Replaces all instances of the given substring in the given string with the given replacement string. " +
		"The substring is literal, also between slashes (Terraform's replace reads /.../ as a regular expression): use regex_replace for a pattern."},
	"strlen": {notTerraform: true, description: "Returns the number of Unicode characters (technically: grapheme clusters) in the given string. " +
		"Terraform has no strlen: its length takes a string too."},
	"trimsuffix": {description: "Removes the given suffix from the end of the given string, if present."},
}

// Functions returns every function a configuration can call, sorted by
// name: the table the decoder's evaluation contexts are built from
// (stdFunctions), plus file(), which each file binds to its own directory.
func Functions() []Function {
	fns := stdFunctions(ModeValidate, func(string) (string, bool) { return "", false })
	fns["file"] = fileFunction(".")
	out := make([]Function, 0, len(fns))
	for name, f := range fns {
		fd := Function{Name: name, Description: f.Description()}
		if d, ok := functionDocs[name]; ok {
			fd.Description, fd.NotTerraform = d.description, d.notTerraform
		}
		for _, p := range f.Params() {
			fd.Params = append(fd.Params, p.Name)
		}
		if vp := f.VarParam(); vp != nil {
			fd.Variadic = vp.Name
		}
		out = append(out, fd)
	}
	slices.SortFunc(out, func(a, b Function) int { return strings.Compare(a.Name, b.Name) })
	return out
}
