package lang

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
	"unicode/utf8"

	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
)

// freeArguments are the functions that do not work through their
// arguments (they index them, or measure their length): their arguments
// are not charged (metered). A configuration that looks its partners up in
// a large map from every send port costs what the lookups cost.
var freeArguments = map[string]bool{
	"length": true, "lookup": true, "element": true, "index": true, "coalesce": true,
	"startswith": true, "endswith": true,
}

// metered is f, a function of one Load, measuring what it builds (the
// result is refused beyond valueLimit) and charging that and, unless
// free, its arguments to m (see meter). extra is what a call costs beyond
// its arguments and result (a regular expression's compilation), nil for
// none. Once m is stopped, f returns an unknown value without running.
func metered(f function.Function, m *meter, free bool, extra func(args []cty.Value) valueSize) function.Function {
	params, varParam := passThrough(f)
	return function.New(&function.Spec{
		Description: f.Description(),
		Params:      params,
		VarParam:    varParam,
		Type: func(args []cty.Value) (cty.Type, error) {
			if m.stopped() {
				return cty.DynamicPseudoType, nil
			}
			return f.ReturnTypeForValues(args)
		},
		Impl: func(args []cty.Value, retType cty.Type) (cty.Value, error) {
			if m.stopped() {
				return cty.UnknownVal(retType), nil
			}
			if !free && !m.chargeValues(args) {
				return cty.NilVal, errSpent
			}
			if extra != nil && !m.charge(extra(args)) {
				return cty.NilVal, errSpent
			}
			v, err := f.Call(args)
			if err != nil {
				return v, err
			}
			if why := m.account(v, "the result"); why != "" {
				return cty.NilVal, errors.New(why)
			}
			return v, nil
		},
	})
}

// Some functions build far more than their arguments hold: replace of
// each "a" of a 4 MiB string by that string is 16 TB, indent of 4,096
// spaces before each of four million lines 16 GB, split of a 4 MiB string
// four million elements. Each such function checks, before it runs, that
// what it would build stays within valueLimit (outputBounds), from its
// arguments and cheaply: its result is measured after it runs, but
// building it would exhaust memory first.

// knownString returns args[i] when it is a known, non-null string.
func knownString(args []cty.Value, i int) (string, bool) {
	if i >= len(args) {
		return "", false
	}
	v, _ := args[i].UnmarkDeep()
	if !v.IsKnown() || v.IsNull() || v.Type() != cty.String {
		return "", false
	}
	return v.AsString(), true
}

// textTooLong is the error of a function whose result would hold more text
// than a value may.
func textTooLong(what string) error {
	return fmt.Errorf("%s would be more than %d MiB of text: no configuration value is that large", what, maxValueText>>20)
}

func tooManyElements(what string) error {
	return fmt.Errorf("%s would hold more than %s elements: no configuration value is that large", what, thousands(maxValueElements))
}

// countOf counts the occurrences of sub in s as strings.Replace and
// strings.Split find them: an empty sub is found before each character
// and at the end.
func countOf(s, sub string) int {
	if sub == "" {
		return utf8.RuneCountInString(s) + 1
	}
	return strings.Count(s, sub)
}

// checkReplace: replace(str, substr, replacement).
func checkReplace(args []cty.Value) error {
	s, ok1 := knownString(args, 0)
	sub, ok2 := knownString(args, 1)
	repl, ok3 := knownString(args, 2)
	if !ok1 || !ok2 || !ok3 || len(repl) <= len(sub) {
		return nil
	}
	if n := int64(countOf(s, sub)); int64(len(s))+n*int64(len(repl)-len(sub)) > maxValueText {
		return textTooLong("the result")
	}
	return nil
}

// checkIndent: indent(spaces, str) puts spaces before every line but the
// first.
func checkIndent(args []cty.Value) error {
	if err := checkIndentSpaces(args); err != nil {
		return err
	}
	s, ok := knownString(args, 1)
	if !ok {
		return nil
	}
	v, _ := args[0].UnmarkDeep()
	if !v.IsKnown() || v.IsNull() || v.Type() != cty.Number {
		return nil
	}
	spaces, _ := v.AsBigFloat().Int64() // 0..maxPadding: checked above
	if int64(len(s))+int64(strings.Count(s, "\n"))*spaces > maxValueText {
		return textTooLong("the indented text")
	}
	return nil
}

// checkJoin: join(separator, lists...) puts the separator between every
// two elements.
func checkJoin(args []cty.Value) error {
	sep, ok := knownString(args, 0)
	if !ok {
		return nil
	}
	var size valueSize
	for _, a := range args[1:] {
		size = size.plus(measure(a, valueLimit))
		if size.beyond(valueLimit) {
			return nil // refused as an argument too large, or after: it holds as much
		}
	}
	if size.text+size.elements*int64(len(sep)) > maxValueText {
		return textTooLong("the joined text")
	}
	return nil
}

// checkSplit: split(separator, str) makes an element of each piece.
func checkSplit(args []cty.Value) error {
	sep, ok1 := knownString(args, 0)
	s, ok2 := knownString(args, 1)
	if ok1 && ok2 && countOf(s, sep)+1 > maxValueElements {
		return tooManyElements("the list of pieces")
	}
	return nil
}

// checkCSV: csvdecode(str) makes an object of each row and an attribute of
// each field: at most twice as many elements as fields, which commas and
// newlines separate (a quoted comma counts too: the bound is an upper one).
func checkCSV(args []cty.Value) error {
	s, ok := knownString(args, 0)
	if !ok {
		return nil
	}
	if fields := strings.Count(s, ",") + strings.Count(s, "\n") + 1; 2*fields > maxValueElements {
		return tooManyElements("the decoded rows")
	}
	return nil
}

// checkParseInt: parseint(number, base) reads a string of digits in time
// that grows with the square of its length.
func checkParseInt(args []cty.Value) error {
	if s, ok := knownString(args, 0); ok && len(s) > maxNumberChars {
		return function.NewArgErrorf(0, "a number of more than %d characters: no number has that many digits, and reading it would take minutes", maxNumberChars)
	}
	return nil
}

// checkFormatOutput is the check of format (list false) and formatlist:
// format's result is at most its format string plus, for each verb, its
// width and the largest argument as printed (a list printed with %v is
// about its text and a few characters per element). An argument index
// ("%[1]4000s" repeated) prints an argument many times. formatlist makes
// one such string for each element of its lists, each verb printing an
// element of a list argument, or the whole of another.
func checkFormatOutput(list bool) func(args []cty.Value) error {
	return func(args []cty.Value) error {
		format, ok := knownString(args, 0)
		if !ok {
			return nil
		}
		verbs, width := formatVerbs(format)
		rows, largest, lists := int64(1), int64(0), int64(0)
		for _, a := range args[1:] {
			s := measure(a, valueLimit)
			if s.beyond(valueLimit) {
				return nil // refused as it is
			}
			printed := s.text + 4*s.elements
			v, _ := a.Unmark()
			if list && v.IsKnown() && !v.IsNull() && (v.Type().IsListType() || v.Type().IsTupleType()) {
				rows = max(rows, int64(v.LengthInt()))
				lists += printed
				continue
			}
			largest = max(largest, printed)
		}
		if rows*(int64(len(format))+verbs*(width+largest))+verbs*lists > maxValueText {
			return textTooLong("the formatted text")
		}
		return nil
	}
}

// formatVerbs counts the verbs of a format string and returns the largest
// width or precision among them (checkFormatWidths bounds each).
func formatVerbs(s string) (verbs, width int64) {
	_ = formatVerbSpecs(s, func(start, end int) error {
		verbs++
		n := int64(0)
		for _, c := range []byte(s[start:end]) {
			switch {
			case c >= '0' && c <= '9':
				n = min(n*10+int64(c-'0'), maxPadding+1)
			default:
				width, n = max(width, n), 0
			}
		}
		width = max(width, n)
		return nil
	})
	return verbs, width
}

// formatVerbSpecs calls fn with where each verb's flags, index, width and
// precision stand in s (s[start:end], after its '%'; "%%" is no verb),
// stopping at fn's first error.
func formatVerbSpecs(s string, fn func(start, end int) error) error {
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			continue
		}
		if i+1 < len(s) && s[i+1] == '%' {
			i++
			continue
		}
		end := i + 1
		for end < len(s) && strings.IndexByte("+- #0123456789.[]", s[end]) >= 0 {
			end++
		}
		if err := fn(i+1, end); err != nil {
			return err
		}
		i = end - 1 // the verb character (or the end) is looked at by the loop
	}
	return nil
}

// checkJSONText is jsondecode's check: the nesting (checkJSONNesting), the
// values the text would decode to, and the length of its numbers.
func checkJSONText(args []cty.Value) error {
	if err := checkJSONNesting(args); err != nil {
		return err
	}
	s, ok := knownString(args, 0)
	if !ok {
		return nil
	}
	values, longest := jsonValues(s)
	if values > maxValueElements {
		return tooManyElements("the decoded value")
	}
	if longest > maxNumberChars {
		return function.NewArgErrorf(0, "jsondecode's text has a number of more than %d characters: no number has that many digits, and reading it would take minutes", maxNumberChars)
	}
	return nil
}

// jsonValues counts, outside the strings of JSON text s, the elements its
// arrays and objects would decode to (an array's commas and its first
// value, an object's colons), and returns the length of its longest
// number. It does not check the syntax (go-cty does) and expects the
// nesting checked (the stack of open brackets is at most maxNesting).
func jsonValues(s string) (values, longest int) {
	var open []byte // '[' or '{' for each open array or object
	inString, escaped := false, false
	run := 0       // length of the number being read
	first := false // just after a "[": a value there is an element
	for i := 0; i < len(s); i++ {
		c := s[i]
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		if (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case ']', '}':
			if len(open) > 0 {
				open = open[:len(open)-1]
			}
			first = false
			continue
		case ',':
			if len(open) > 0 && open[len(open)-1] == '[' {
				values++
			}
		case ':':
			values++
		default:
			if first {
				values++
			}
		}
		first = false
		switch c {
		case '"':
			inString = true
		case '[', '{':
			open = append(open, c)
			first = c == '['
		}
	}
	return values, longest
}

// maxRegexProgram bounds the instructions Go compiles a regular expression
// into: a{1000} is a thousand, and 146 of them in a pattern of a kilobyte
// took 300 ms to compile, which go-cty does at every call. maxRegexPattern
// bounds the pattern's length, which is checked first: parsing four
// million "(" took Go's regexp seconds.
const (
	maxRegexProgram = 10_000
	maxRegexPattern = 10_000
)

// regexTextWeight is what a byte a regular expression searches costs,
// against the budget's text: ten to a hundred times more than a byte
// copied.
const regexTextWeight = 16

// checkRegex is the check of regex, regexall and regex_replace: pattern is
// the index of their pattern argument.
func checkRegex(pattern int) func(args []cty.Value) error {
	return func(args []cty.Value) error {
		p, ok := knownString(args, pattern)
		if !ok {
			return nil
		}
		if len(p) > maxRegexPattern {
			return function.NewArgErrorf(pattern, "the regular expression is longer than %s characters: no filter needs one that long, and compiling it would take seconds", thousands(maxRegexPattern))
		}
		if n := regexProgramSize(p); n > maxRegexProgram {
			return function.NewArgErrorf(pattern, "the regular expression compiles to more than %s instructions (its repetitions count as many times as they repeat): no filter needs one that large, and compiling it would take seconds", thousands(maxRegexProgram))
		}
		return nil
	}
}

// regexCost is what a call of a regular expression function costs beyond
// its arguments: an element for each instruction of the pattern, which
// it compiles, and the text it searches, weighted.
func regexCost(pattern, text int) func(args []cty.Value) valueSize {
	return func(args []cty.Value) valueSize {
		var c valueSize
		if p, ok := knownString(args, pattern); ok {
			c.elements = regexProgramSize(p)
		}
		if s, ok := knownString(args, text); ok {
			c.text = int64(len(s)) * regexTextWeight
		}
		return c
	}
}

// regexProgramSize estimates the instructions Go's regexp compiles pattern
// into, from its parse tree (parsing is linear and cheap, unlike
// compiling a{1000}{1000}); a pattern that does not parse is 0, as go-cty
// refuses it, and a pattern too long counts as too large.
func regexProgramSize(pattern string) int64 {
	if len(pattern) > maxRegexPattern {
		return maxRegexProgram + 1
	}
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return 0
	}
	return programSize(re)
}

func programSize(re *syntax.Regexp) int64 {
	const limit = maxRegexProgram + 1 // no need to count further
	var n int64 = 1
	for _, sub := range re.Sub {
		n = min(n+programSize(sub), limit)
	}
	switch re.Op {
	case syntax.OpLiteral, syntax.OpCharClass:
		n += int64(len(re.Rune))
	case syntax.OpRepeat:
		times := int64(max(re.Max, re.Min, 1))
		n = min(n*times, limit)
	}
	return min(n, limit)
}

// checkRegexReplace: regex_replace(str, pattern, replacement) replaces each
// match; a replacement with $1 or ${name} in it adds at most a match for
// each. The matches are counted as go-cty finds them, building no more
// than str.
func checkRegexReplace(args []cty.Value) error {
	if err := checkRegex(1)(args); err != nil {
		return err
	}
	s, ok1 := knownString(args, 0)
	p, ok2 := knownString(args, 1)
	repl, ok3 := knownString(args, 2)
	if !ok1 || !ok2 || !ok3 || repl == "" {
		return nil
	}
	re, err := regexp.Compile(p)
	if err != nil {
		return nil // go-cty reports it
	}
	var matches, matched int64
	re.ReplaceAllStringFunc(s, func(m string) string {
		matches++
		matched += int64(len(m))
		return ""
	})
	dollars := int64(strings.Count(repl, "$"))
	if int64(len(s))-matched+matches*int64(len(repl))+dollars*matched > maxValueText {
		return textTooLong("the result")
	}
	return nil
}

// checkRegexAll: regexall(pattern, str) makes an element of each match, and
// of each of its groups: the matches are counted up to what would be too
// many.
func checkRegexAll(args []cty.Value) error {
	if err := checkRegex(0)(args); err != nil {
		return err
	}
	p, ok1 := knownString(args, 0)
	s, ok2 := knownString(args, 1)
	if !ok1 || !ok2 {
		return nil
	}
	re, err := regexp.Compile(p)
	if err != nil {
		return nil
	}
	per := re.NumSubexp() + 1
	if limit := maxValueElements/per + 1; len(re.FindAllStringIndex(s, limit)) >= limit {
		return tooManyElements("the list of matches")
	}
	return nil
}
