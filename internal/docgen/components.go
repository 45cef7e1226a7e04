package docgen

import (
	"fmt"
	"strings"

	"github.com/bizpipe/bizpipe/internal/component"
)

// where says where a kind's blocks are written, for components.md.
func where(k component.Kind) string {
	switch k {
	case component.ReceiveTransport:
		return "`transport \"NAME\" { ... }` in a [receive_location](" + fileLanguage + "#receive_location): how messages come in. A receive location has exactly one."
	case component.SendTransport:
		return "`transport \"NAME\" { ... }` in a [send_port](" + fileLanguage + "#send_port): how messages are delivered. A send port has exactly one."
	case component.Encoder:
		return "`encoder \"NAME\" { ... }` in a [pipeline](" + fileLanguage + "#pipeline): what is done to a message before delivery. A pipeline's stages run in the order written."
	case component.Decoder:
		return "`decoder \"NAME\" { ... }` in a [pipeline](" + fileLanguage + "#pipeline) used by a receive location: what is done to a message as it comes in, before it is routed. A pipeline has encoder stages or decoder stages, never both."
	}
	return ""
}

// components is docs/components.md: every registered component.
func components(reg *component.Registry) string {
	var b strings.Builder
	b.WriteString("# Components\n\n")
	b.WriteString("Transports and pipeline stages are components. Each declares its block's\n" +
		"attributes — types, defaults, allowed values — and the configuration decoder\n" +
		"checks a block against that declaration: an unknown or missing attribute, or a\n" +
		"value of the wrong type or outside the allowed ones, is BP1004. This page lists\n" +
		"the components of this build.\n\n")
	for _, k := range component.Kinds() {
		title, _ := kindSection(k)
		fmt.Fprintf(&b, "* [%s](#%s): %s\n", title, Anchor(title), andList(codeList(reg.Names(k))))
	}
	b.WriteString("\n")
	for _, k := range component.Kinds() {
		title, _ := kindSection(k)
		fmt.Fprintf(&b, "## %s\n\n%s\n\n", title, where(k))
		names := reg.Names(k)
		if len(names) == 0 {
			b.WriteString("None is registered.\n\n")
		}
		for _, name := range names {
			s, _ := reg.Lookup(k, name)
			writeComponent(&b, s)
		}
	}
	return b.String()
}

func writeComponent(b *strings.Builder, s *component.Spec) {
	fmt.Fprintf(b, "### %s\n\n", componentHeading(s))
	b.WriteString(s.Summary + "\n\n")
	if s.Doc != "" {
		b.WriteString(strings.TrimSpace(s.Doc) + "\n\n")
	}
	if t := attrTable(componentRows(s.Attributes)); t != "" {
		b.WriteString(t + "\n")
	} else {
		b.WriteString("No attributes.\n\n")
	}
	for _, nb := range s.Blocks {
		fmt.Fprintf(b, "#### %s block\n\n", nb.Type)
		fmt.Fprintf(b, "`%s { ... }`: at most one.", nb.Type)
		if nb.Doc != "" {
			b.WriteString(" " + nb.Doc)
		}
		b.WriteString("\n\n")
		if t := attrTable(componentRows(nb.Attributes)); t != "" {
			b.WriteString(t + "\n")
		}
	}
	if s.Example != "" {
		b.WriteString("Example:\n\n```hcl\n" + strings.TrimSpace(s.Example) + "\n```\n\n")
	}
}
