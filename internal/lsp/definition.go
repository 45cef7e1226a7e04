package lsp

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	hcljson "github.com/hashicorp/hcl/v2/json"

	"github.com/bizpipe/bizpipe/internal/config/lang"
)

// refBlocks maps the root of a reference to the block type that declares
// its target: host.x is declared by host "x", var.x by variable "x".
var refBlocks = map[string]string{
	"host":              "host",
	"server":            "server",
	"service_account":   "service_account",
	"certificate_store": "certificate_store",
	"pipeline":          "pipeline",
	"party":             "party",
	"var":               "variable",
	"local":             "locals",
}

// referenceAt returns the root and name of the reference (ROOT.NAME) whose
// root or name is under the byte offset off, from the lexer's tokens, so
// that it works in text that does not parse.
func referenceAt(src []byte, off int) (root, name string, ok bool) {
	toks, _ := hclsyntax.LexConfig(src, "", hcl.InitialPos)
	isIdent := func(i int) bool { return i >= 0 && i < len(toks) && toks[i].Type == hclsyntax.TokenIdent }
	isDot := func(i int) bool { return i >= 0 && i < len(toks) && toks[i].Type == hclsyntax.TokenDot }
	for i, t := range toks {
		if t.Type != hclsyntax.TokenIdent || off < t.Range.Start.Byte || off > t.Range.End.Byte {
			continue
		}
		r := i
		if isDot(i-1) && isIdent(i-2) {
			r = i - 2
		}
		if isDot(r-1) || !isDot(r+1) || !isIdent(r+2) {
			return "", "", false // not ROOT.NAME: an attribute of something else
		}
		root, name = string(toks[r].Bytes), string(toks[r+2].Bytes)
		if _, known := refBlocks[root]; !known {
			return "", "", false
		}
		return root, name, true
	}
	return "", "", false
}

// isJSON reports whether path is a configuration file in JSON syntax
// (*.hcl.json), as the loader tells them apart.
func isJSON(path string) bool { return strings.HasSuffix(path, ".json") }

// jsonReferenceAt is referenceAt for the text of a JSON file: the
// reference in the string value under the byte offset off, written as a
// reference attribute takes it in JSON ("host.x", the whole string, which
// the loader reads as a traversal) or in a template ("${local.x}/in"). A
// template is lexed as it is written, escapes and all, as HCL's quoted
// templates have JSON's, so that offsets need no mapping; only an escaped
// "$" or "{" (\u0024) hides an interpolation from it. Object keys are no
// references.
func jsonReferenceAt(src []byte, off int) (root, name string, ok bool) {
	for i := 0; i < len(src); i++ {
		if src[i] != '"' {
			continue
		}
		// The string's end: its closing quote, or the end of its line
		// while it is still being typed.
		end, closed := i+1, false
		for end < len(src) && src[end] != '\n' {
			if src[end] == '\\' && end+1 < len(src) && src[end+1] != '\n' {
				end += 2
				continue
			}
			if src[end] == '"' {
				closed = true
				break
			}
			end++
		}
		end = min(end, len(src))
		if off <= i || off > end {
			i = end
			continue
		}
		if closed {
			rest := bytes.TrimLeft(src[end+1:], " \t\r\n")
			if len(rest) > 0 && rest[0] == ':' {
				return "", "", false // a key
			}
		}
		lit := src[i:end]
		if closed {
			lit = src[i : end+1]
		}
		if root, name, ok := referenceAt(lit, off-i); ok {
			return root, name, true
		}
		var s string
		if !closed || json.Unmarshal(lit, &s) != nil {
			return "", "", false
		}
		tr, diags := hclsyntax.ParseTraversalAbs([]byte(s), "", hcl.InitialPos)
		if diags.HasErrors() || len(tr) != 2 {
			return "", "", false
		}
		step, isAttr := tr[1].(hcl.TraverseAttr)
		if _, known := refBlocks[tr.RootName()]; !isAttr || !known {
			return "", "", false
		}
		return tr.RootName(), step.Name, true
	}
	return "", "", false
}

// parseBuffer parses the text of an open document as the loader parses
// the file: JSON for a *.hcl.json, whose byte order mark is blanked as
// the loader does, keeping every offset.
func parseBuffer(src []byte, path string) hcl.Body {
	var f *hcl.File
	if isJSON(path) {
		if bytes.HasPrefix(src, []byte(lang.UTF8BOM)) {
			src = append([]byte("   "), src[len(lang.UTF8BOM):]...)
		}
		f, _ = hcljson.Parse(src, path)
	} else {
		f, _ = hclsyntax.ParseConfig(src, path, hcl.InitialPos)
	}
	if f == nil {
		return nil
	}
	return f.Body
}

// definition finds the declaration of the reference under the cursor in
// the files of the document's configuration, HCL or JSON.
func (s *server) definition(p positionParams) *Location {
	doc, snap := s.snapshotFor(p.TextDocument.URI)
	if doc == nil || snap == nil || !readable(doc.text, doc.path) {
		return nil
	}
	find := referenceAt
	if isJSON(doc.path) {
		find = jsonReferenceAt
	}
	root, name, ok := find(doc.text, offsetOf(doc.text, p.Position))
	if !ok {
		return nil
	}
	blockType := refBlocks[root]
	files := snap.files
	if !slices.Contains(files, doc.path) {
		files = append([]string{doc.path}, files...)
	}
	for _, f := range files {
		src := snap.cfg.Sources[f]
		var body hcl.Body
		if f == doc.path {
			// The buffer as it is now, which may be ahead of the snapshot.
			src = doc.text
			body = parseBuffer(src, f)
		} else if parsed := snap.cfg.Files[f]; parsed != nil {
			body = parsed.Body
		}
		if body == nil {
			continue // a file that could not be read
		}
		if rng, found := declaration(body, blockType, name); found {
			li := newDiskLineIndex(src)
			if _, open := snap.versions[f]; open || f == doc.path {
				li = newLineIndex(src)
			}
			return &Location{URI: pathToURI(f), Range: toRange(rng, li)}
		}
	}
	return nil
}

// declaration finds the label of block type "name", or the attribute name
// of a local, in body.
func declaration(body hcl.Body, blockType, name string) (hcl.Range, bool) {
	native, ok := body.(*hclsyntax.Body)
	if !ok {
		return jsonDeclaration(body, blockType, name)
	}
	for _, b := range native.Blocks {
		if b.Type != blockType {
			continue
		}
		if blockType == "locals" {
			if a, ok := b.Body.Attributes[name]; ok {
				return a.NameRange, true
			}
			continue
		}
		if len(b.Labels) > 0 && b.Labels[0] == name {
			return b.LabelRanges[0], true
		}
	}
	return hcl.Range{}, false
}

// jsonDeclaration is declaration for the body of a JSON file, whose
// blocks the json package reads with a schema: a block's label range is
// the object key that names it, quotes included, as a native label's.
func jsonDeclaration(body hcl.Body, blockType, name string) (hcl.Range, bool) {
	header := hcl.BlockHeaderSchema{Type: blockType}
	if blockType != "locals" {
		header.LabelNames = []string{"name"}
	}
	content, _, _ := body.PartialContent(&hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{header}})
	if content == nil {
		return hcl.Range{}, false
	}
	for _, b := range content.Blocks {
		if blockType == "locals" {
			attrs, _ := b.Body.JustAttributes()
			if a, ok := attrs[name]; ok {
				return a.NameRange, true
			}
			continue
		}
		if len(b.Labels) > 0 && b.Labels[0] == name {
			return b.LabelRanges[0], true
		}
	}
	return hcl.Range{}, false
}
