package lsp

import (
	"slices"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
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

// definition finds the declaration of the reference under the cursor in
// the files of the document's configuration.
func (s *server) definition(p positionParams) *Location {
	doc, snap := s.snapshotFor(p.TextDocument.URI)
	if doc == nil || snap == nil || !readable(doc.text) {
		return nil
	}
	root, name, ok := referenceAt(doc.text, offsetOf(doc.text, p.Position))
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
		var body *hclsyntax.Body
		if f == doc.path {
			// The buffer as it is now, which may be ahead of the snapshot.
			src = doc.text
			parsed, _ := hclsyntax.ParseConfig(src, f, hcl.InitialPos)
			body, _ = parsed.Body.(*hclsyntax.Body)
		} else if parsed := snap.cfg.Files[f]; parsed != nil {
			body, _ = parsed.Body.(*hclsyntax.Body)
		}
		if body == nil {
			continue // a JSON file, or one that could not be read
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
func declaration(body *hclsyntax.Body, blockType, name string) (hcl.Range, bool) {
	for _, b := range body.Blocks {
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
