package lang

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/json"
	"github.com/zclconf/go-cty/cty"

	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/fsop"
)

// FindFiles expands the command-line paths into configuration files (§2):
// every *.hcl and *.hcl.json directly in each named directory, plus files named
// directly; no path means the current directory. The result is sorted and free
// of duplicates: a file named twice, by two paths (relative and absolute, or
// through a symbolic link), is there once, under the name first in lexical
// order. An error means the command cannot run (exit 2).
func FindFiles(paths []string) ([]string, error) {
	return FindFilesOverlay(paths, nil)
}

// Every entry of a directory with a configuration file's name is returned,
// whatever it is: a dangling or looping symbolic link, a FIFO, a device or a
// directory named x.hcl is part of the configuration that cannot be read,
// and Load reports it (BP1000) rather than validating the rest as if the
// configuration were complete (a Kubernetes mount of symbolic links may be
// broken for a moment). Reading such an entry never blocks (see
// readConfigFile); a caller that reads the files itself should use
// ReadConfigFile.
//
// FindFilesOverlay is FindFiles with overlay (see Options.Overlay) laid over
// the disk, as if its files had been saved: a file of the overlay in a named
// directory is found when its name is a configuration file's, even when it
// is not on disk yet (nor its directory).
func FindFilesOverlay(paths []string, overlay map[string][]byte) ([]string, error) {
	if len(paths) == 0 {
		paths = []string{"."}
	}
	overlay = cleanOverlay(overlay)
	unsaved := map[string][]string{} // the overlay's files by directory
	for name := range overlay {
		unsaved[filepath.Dir(name)] = append(unsaved[filepath.Dir(name)], name)
	}
	seen := map[string]bool{}
	same := sameFiles{}
	var files []string
	add := func(p string) {
		if seen[p] {
			return
		}
		seen[p] = true
		// A configuration is a set of files (§2): one named twice, by
		// a relative and an absolute path or through a symbolic link,
		// is read once, or each of its blocks would be a duplicate of
		// itself (BP1002). It keeps the name first in lexical order,
		// so that the order of the paths changes nothing (a file's
		// relative paths resolve against its name's directory).
		if overlay[p] == nil {
			if i, ok := same.index(p, len(files)); ok {
				files[i] = min(files[i], p)
				return
			}
		}
		files = append(files, p)
	}
	for _, p := range paths {
		clean := filepath.Clean(p)
		st, err := os.Stat(p)
		switch {
		case err != nil && overlay[clean] != nil:
			add(clean) // a file named directly, not saved yet
			continue
		case err != nil && len(unsaved[clean]) > 0:
			// A directory not created yet, holding unsaved files only.
		case err != nil:
			return nil, fmt.Errorf("configuration path %s: %w", p, err)
		case !st.IsDir() && len(unsaved[clean]) > 0:
			// A file on disk, which the overlay takes for a directory.
			return nil, fmt.Errorf("configuration path %s: not a directory, yet the unsaved %s would be in it", p, filepath.Base(slices.Min(unsaved[clean])))
		case !st.IsDir():
			add(clean)
			continue
		default:
			entries, err := os.ReadDir(p)
			if err != nil {
				return nil, fmt.Errorf("reading configuration directory %s: %w", p, err)
			}
			for _, e := range entries {
				if name := e.Name(); IsConfigFileName(name) {
					add(filepath.Join(p, name))
				}
			}
		}
		for _, name := range unsaved[clean] {
			if IsConfigFileName(filepath.Base(name)) {
				add(name)
			}
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no configuration files (*.hcl, *.hcl.json) in %s", strings.Join(paths, ", "))
	}
	sort.Strings(files)
	return files, nil
}

// sameFiles remembers the files FindFiles has taken, to tell when another
// name is one of them. A file is found among those of its size and
// modification time, which two names of one file share, so that each is
// compared with few others.
type sameFiles map[sameFileKey][]takenFile

type sameFileKey struct {
	size    int64
	modTime int64
}

type takenFile struct {
	info  fs.FileInfo
	index int // in FindFiles' list
}

// index returns where in FindFiles' list the file name is, when it was
// taken under another name; otherwise it records it at next. A name that
// cannot be examined (a dangling symbolic link) is never the same as
// another: Load reports it.
func (s sameFiles) index(name string, next int) (int, bool) {
	info, err := os.Stat(name)
	if err != nil {
		return 0, false
	}
	k := sameFileKey{info.Size(), info.ModTime().UnixNano()}
	for _, other := range s[k] {
		if os.SameFile(info, other.info) {
			return other.index, true
		}
	}
	s[k] = append(s[k], takenFile{info, next})
	return 0, false
}

// cleanOverlay returns overlay with its paths cleaned, as FindFiles cleans
// the paths it returns; a nil text is an empty one, so that a lookup's
// result says whether the file is in the overlay.
func cleanOverlay(overlay map[string][]byte) map[string][]byte {
	if overlay == nil {
		return nil
	}
	out := make(map[string][]byte, len(overlay))
	for name, text := range overlay {
		if text == nil {
			text = []byte{}
		}
		out[filepath.Clean(name)] = text
	}
	return out
}

// IsConfigFileName reports whether name, a file's base name, is one that
// FindFiles finds in a directory: *.hcl and *.hcl.json, dot files excepted.
func IsConfigFileName(name string) bool {
	return !strings.HasPrefix(name, ".") && (strings.HasSuffix(name, ".hcl") || strings.HasSuffix(name, ".hcl.json"))
}

// parseFiles parses every file, taking its text from overlay when it is
// there and from the disk otherwise, and from cache when that is not nil and
// holds the same text; syntax errors are BP1000. It returns the parsed files
// and the text of every file read.
// It also returns the files' == and != operations (prepareMetering).
func parseFiles(parser *hclparse.Parser, files []string, overlay map[string][]byte, cache *ParseCache) ([]*hcl.File, map[string][]byte, []*hclsyntax.BinaryOpExpr, hcl.Diagnostics) {
	var out []*hcl.File
	var equalities []*hclsyntax.BinaryOpExpr
	sources := make(map[string][]byte, len(files))
	var diags hcl.Diagnostics
	for _, name := range files {
		src, err := readConfigFile(name, overlay)
		if err != nil {
			diags = append(diags, diag.AboutFile(diag.CodeSyntax, name, "Cannot read configuration file",
				fmt.Sprintf("Reading %s: %s.", name, err)))
			continue
		}
		sources[name] = src
		e := cache.lookup(name, src)
		if e == nil {
			e = parseFile(src, name)
			cache.store(name, src, e)
		}
		if e.file != nil && !e.diags.HasErrors() {
			equalities = append(equalities, e.equalities...)
		}
		if e.file != nil {
			// Kept for snippets and cfg.Files, as if parsed here.
			parser.Files()[name] = e.file
		}
		for _, d := range slices.Concat(e.diags, e.valueDiags) {
			c := *d // finish() clears fields of what it returns
			diags = append(diags, &c)
		}
		if e.file != nil && !e.diags.HasErrors() {
			out = append(out, e.file)
		}
	}
	cache.prune(files)
	return out, sources, equalities, diags
}

// readConfigFile reads one configuration file, from overlay (whose paths
// are clean) when it is there. The size limit applies to both. An overlay
// text stands in for a file not on disk and for a dangling symbolic link
// (saving creates the link's target), not for a FIFO, directory or link
// loop, which saving leaves what they are: those are refused as on disk.
func readConfigFile(name string, overlay map[string][]byte) ([]byte, error) {
	src, ok := overlay[filepath.Clean(name)]
	if !ok {
		return ReadConfigFile(name)
	}
	if info, err := os.Stat(name); !errors.Is(err, fs.ErrNotExist) {
		if err := usableConfigFile(name, info, err); err != nil {
			return nil, err
		}
	}
	if int64(len(src)) > maxConfigFileSize {
		return nil, errTooLarge(maxConfigFileSize)
	}
	return src, nil
}

// ReadConfigFile reads a configuration file as Load does, refusing what is
// not a regular file with the reason (a dangling symbolic link and its
// target, a link loop, a FIFO, a device, a directory) without ever waiting
// on it, and a file above the size limit. A FIFO or character device named
// directly with another name than a configuration file's (a shell's
// <(...), /dev/stdin) is read as a stream.
func ReadConfigFile(name string) ([]byte, error) {
	// One stat serves both the stream check and usableConfigFile.
	info, err := os.Stat(name)
	if err == nil && !IsConfigFileName(filepath.Base(name)) && info.Mode().Type()&(fs.ModeNamedPipe|fs.ModeCharDevice) != 0 {
		return readLimited(name, maxConfigFileSize)
	}
	if err := usableConfigFile(name, info, err); err != nil {
		return nil, err
	}
	// Opened without waiting (a FIFO swapped in since the check does not
	// block the open) and checked again on the descriptor.
	b, err := fsop.ReadRegular(name, maxConfigFileSize)
	if errors.Is(err, fsop.ErrTooLarge) {
		return nil, errTooLarge(maxConfigFileSize)
	}
	return b, unwrapPathError(err)
}

// usableConfigFile says why name, links followed, is not a regular file
// (nil when it is one, or when it cannot be examined: opening it then
// reports the error). info and err are what os.Stat(name) returned.
func usableConfigFile(name string, info fs.FileInfo, err error) error {
	switch {
	case err == nil && info.Mode().IsRegular():
		return nil
	case err == nil:
		return notRegular(info.Mode())
	case errors.Is(err, syscall.ELOOP):
		return errors.New("a symbolic link loop (too many levels of symbolic links), not a file")
	case errors.Is(err, fs.ErrNotExist):
		if target, lerr := os.Readlink(name); lerr == nil {
			return fmt.Errorf("a dangling symbolic link: its target %q does not exist", target)
		}
	}
	return nil
}

func notRegular(m fs.FileMode) error {
	return fmt.Errorf("a %s, not a regular file", fsop.TypeName(m))
}

// parseFile parses one file's text.
func parseFile(src []byte, name string) *parsedFile {
	if d := checkUTF16(src, name, "configuration"); d != nil {
		return &parsedFile{diags: hcl.Diagnostics{d}}
	}
	// A file nested too deeply would crash the parser: it is reported
	// and left out, and not handed to the parser (nor kept for snippets,
	// which the renderer would parse again).
	if d := CheckNesting(src, name); d != nil {
		return &parsedFile{diags: hcl.Diagnostics{d}}
	}
	var f *hcl.File
	var ds hcl.Diagnostics
	if strings.HasSuffix(name, ".json") {
		f, ds = json.Parse(jsonText(src), name)
	} else {
		f, ds = hclsyntax.ParseConfig(src, name, hcl.InitialPos)
	}
	e := &parsedFile{file: f, diags: syntaxDiags(ds, name, src)}
	if body, ok := f.Body.(*hclsyntax.Body); ok && !ds.HasErrors() {
		e.valueDiags = hugeNumbers(body)
		e.equalities = prepareMetering(body, nil)
		markIndexKeys(body)
	}
	return e
}

// SyntaxErrors returns the syntax errors of src, the text of the
// configuration file name, as Load reports them (BP1000): a file in UTF-16
// as one error, of many the first few and a count of the rest, none past
// the file's last line. bizpipe fmt, which rewrites no file that has one,
// says the same as validate.
func SyntaxErrors(src []byte, name string) hcl.Diagnostics {
	var out hcl.Diagnostics
	for _, d := range parseFile(src, name).diags {
		if d.Severity == hcl.DiagError {
			out = append(out, d)
		}
	}
	return out
}

// UTF8BOM is the byte order mark that Windows editors, and PowerShell's
// -Encoding utf8, put at the start of a UTF-8 file.
const UTF8BOM = "\xef\xbb\xbf"

// jsonText returns src, the text of a JSON file, with a leading UTF-8 byte
// order mark blanked. HCL's native syntax skips one, but its JSON parser
// refuses it ("Invalid start of value" at a character no editor shows),
// though RFC 8259 §8.1 lets a parser ignore it. The mark becomes three
// spaces rather than going, so that every position in the file, which
// diagnostics and the language server give, stays that of its bytes.
func jsonText(src []byte) []byte {
	if !bytes.HasPrefix(src, []byte(UTF8BOM)) {
		return src
	}
	out := bytes.Clone(src)
	copy(out, "   ")
	return out
}

// checkUTF16 reports a file, of the given kind ("configuration",
// "variables"), that starts with a UTF-16 byte order mark: what Notepad's
// "Unicode" and PowerShell 5's > and Out-File write. Read as UTF-8 it would
// make an error of each of its first characters, whose snippets print its
// NUL bytes; the diagnostic is about the file as a whole (no snippet).
func checkUTF16(src []byte, name, kind string) *hcl.Diagnostic {
	if !bytes.HasPrefix(src, []byte{0xff, 0xfe}) && !bytes.HasPrefix(src, []byte{0xfe, 0xff}) {
		return nil
	}
	return diag.AboutFile(diag.CodeSyntax, name, "File is not UTF-8",
		fmt.Sprintf("%s is encoded in UTF-16 (it starts with a UTF-16 byte order mark); bizpipe reads %s files as UTF-8. "+
			"Save it as UTF-8 (in Notepad: Save As, Encoding UTF-8; in PowerShell: Out-File -Encoding utf8).", name, kind))
}

// hugeNumbers reports the number literals whose decimal form would have
// thousands of digits (maxNumberExponent), and makes each unknown: a
// dozen characters (1e300000000) would otherwise take minutes and
// gigabytes to print wherever the value becomes text (a template, a
// property), in validate and in the language server as the user types.
// So are string literals of more than maxNumberChars characters that
// would be read as numbers where one is needed ("999...9" + 1): go-cty
// reads one in time that grows with the square of its digits.
// It also makes the arithmetic operators refuse a result too large
// (boundedOperation), which a few squarings of a fine number reach. node
// is a file's body, or the template of a JSON file's string (evalJSON).
func hugeNumbers(node hclsyntax.Node) hcl.Diagnostics {
	var diags hcl.Diagnostics
	_ = hclsyntax.VisitAll(node, func(n hclsyntax.Node) hcl.Diagnostics {
		if bin, ok := n.(*hclsyntax.BinaryOpExpr); ok {
			if op, ok := boundedOperations[bin.Op]; ok {
				bin.Op = op
			}
			return nil
		}
		lit, ok := n.(*hclsyntax.LiteralValueExpr)
		if !ok || !lit.Val.IsKnown() || lit.Val.IsNull() {
			return nil
		}
		switch lit.Val.Type() {
		case cty.Number:
			if f := lit.Val.AsBigFloat(); tooManyDigits(f) {
				diags = append(diags, numberOutOfRange(f, lit.SrcRange))
				lit.Val = cty.UnknownVal(cty.Number)
			}
		case cty.String:
			if s := lit.Val.AsString(); len(s) > maxNumberChars && looksNumeric(s) {
				diags = append(diags, evalRefused(lit.SrcRange, tooLargeText("This string", valueSize{number: true})))
				lit.Val = cty.UnknownVal(cty.String)
			}
		}
		return nil
	})
	return diags
}

// boundedOperations are the arithmetic operators, each refusing a result
// too large to print (boundedOperation): made once, shared by every file.
var boundedOperations = func() map[*hclsyntax.Operation]*hclsyntax.Operation {
	m := map[*hclsyntax.Operation]*hclsyntax.Operation{}
	for _, op := range []*hclsyntax.Operation{hclsyntax.OpAdd, hclsyntax.OpSubtract, hclsyntax.OpMultiply, hclsyntax.OpDivide, hclsyntax.OpModulo} {
		m[op] = boundedOperation(op)
	}
	return m
}()

// ParseCache keeps parsed configuration files from one Load to the next,
// so that a file whose text has not changed is not lexed and parsed again:
// the language server keeps one, and a keystroke re-parses only the buffer
// that changed. The parsed files are shared by the Loads that use them,
// which only read them. A ParseCache is for one Load at a time.
type ParseCache struct {
	entries map[string]*parsedFile
}

// NewParseCache returns an empty ParseCache.
func NewParseCache() *ParseCache { return &ParseCache{entries: map[string]*parsedFile{}} }

type parsedFile struct {
	src   []byte
	file  *hcl.File // nil when the file was refused before parsing
	diags hcl.Diagnostics
	// valueDiags are errors in values the parse found (hugeNumbers): the
	// file is still decoded, the values made unknown.
	valueDiags hcl.Diagnostics
	// equalities are its == and != operations (prepareMetering).
	equalities []*hclsyntax.BinaryOpExpr
}

func (c *ParseCache) lookup(name string, src []byte) *parsedFile {
	if c == nil {
		return nil
	}
	if e := c.entries[name]; e != nil && bytes.Equal(e.src, src) {
		return e
	}
	return nil
}

func (c *ParseCache) store(name string, src []byte, e *parsedFile) {
	if c == nil {
		return
	}
	e.src = src
	c.entries[name] = e
}

// prune forgets the files that are not in files any more.
func (c *ParseCache) prune(files []string) {
	if c == nil {
		return
	}
	keep := make(map[string]bool, len(files))
	for _, f := range files {
		keep[f] = true
	}
	for name := range c.entries {
		if !keep[name] {
			delete(c.entries, name)
		}
	}
}

// maxSyntaxDiags bounds the syntax errors reported for one file: HCL reports
// every character it does not know, and a file of them (`@@@@...`) made
// millions of diagnostics, each shown with its line.
const maxSyntaxDiags = 10

// syntaxDiags tags the diagnostics of parsing file name, whose text is src,
// as syntax errors (BP1000), keeping the first maxSyntaxDiags and counting
// the rest in one more, at the first of them; a position past the file's
// last line is moved to its end (clampRange).
func syntaxDiags(ds hcl.Diagnostics, name string, src []byte) hcl.Diagnostics {
	for _, d := range ds {
		clampRange(d.Subject, src)
		clampRange(d.Context, src)
	}
	if len(ds) > maxSyntaxDiags {
		more := len(ds) - maxSyntaxDiags
		ds = append(ds[:maxSyntaxDiags:maxSyntaxDiags], &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "More syntax errors",
			Detail:   fmt.Sprintf("%s has %d more syntax errors from here on, which are not shown.", name, more),
			Subject:  ds[maxSyntaxDiags].Subject,
		})
	}
	return diag.Tag(ds, diag.CodeSyntax)
}

// clampRange moves the ends of r (nil: none) that lie past the last line of
// src back to that line's end. HCL reports an error at the end of the file
// (an unterminated heredoc or string, a missing expression) at the start of
// the empty line after the final newline: "line 4" of a 3-line file, which
// no editor shows and no snippet can quote.
func clampRange(r *hcl.Range, src []byte) {
	if r == nil {
		return
	}
	end := len(src)
	if end > 0 && src[end-1] == '\n' {
		end--
		if end > 0 && src[end-1] == '\r' {
			end--
		}
	}
	for _, p := range []*hcl.Pos{&r.Start, &r.End} {
		if p.Byte <= end {
			continue
		}
		lineStart := bytes.LastIndexByte(src[:end], '\n') + 1
		// HCL counts columns in characters; runes are near enough
		// for the last line of a file.
		*p = hcl.Pos{Line: 1 + bytes.Count(src[:end], []byte{'\n'}), Column: 1 + utf8.RuneCount(src[lineStart:end]), Byte: end}
	}
}

// Limits on what the loader reads: a configuration file is text a person
// writes. The largest generated benchmark file is 70 KB, and the whole
// benchmark configuration (1,000 hosts, 2,000 send ports) in one file is
// under 1 MB. HCL holds some 500 bytes per token of a file while parsing it:
// a 16 MB file of `[1,1,1,...` took a minute and 9 GB (4 MiB, 12 s and 2 GB),
// which maxExprTokens and maxFileTokens now refuse before parsing.
const (
	maxConfigFileSize = 4 << 20
	maxVarFileSize    = 1 << 20
)

// readLimited reads a file named on the command line, refusing one larger
// than limit: /dev/zero must end in an error, not an out-of-memory crash.
// Pipes are allowed (--var-file <(...)).
func readLimited(name string, limit int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, unwrapPathError(err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, unwrapPathError(err)
	}
	if int64(len(b)) > limit {
		return nil, errTooLarge(limit)
	}
	return b, nil
}

func errTooLarge(limit int64) error {
	return fmt.Errorf("larger than %d MiB; this is not a configuration file", limit>>20)
}
