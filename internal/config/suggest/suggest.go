// Package suggest finds the name a misspelled one was probably meant to be,
// for "did you mean" hints in diagnostics.
//
// It follows HCL's own suggestion for misspelled attribute names (an edit
// distance under 3), so that every hint bizpipe gives behaves the same, and
// adds a case-insensitive match first: message.ID is message.id.
package suggest

import (
	"fmt"
	"strings"

	"github.com/agext/levenshtein"
)

// maxDistance is HCL's threshold: names closer than this are suggested.
const maxDistance = 3

// Name returns the candidate closest to given, or "" when none is close
// enough or given is itself a candidate. Ties go to the earlier candidate,
// so callers pass candidates in a stable order.
func Name(given string, candidates []string) string {
	best, bestDist := "", maxDistance
	for _, c := range candidates {
		if c == given {
			return ""
		}
		if strings.EqualFold(c, given) {
			return c
		}
	}
	for _, c := range candidates {
		if d := levenshtein.Distance(given, c, nil); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// Hint is " Did you mean NAME?" for the closest candidate, written as the
// user would write it (format, e.g. "var.%s", applied to the name), or ""
// when there is none. It starts with a space so that it can follow a
// sentence directly.
func Hint(given string, candidates []string, format string) string {
	s := Name(given, candidates)
	if s == "" {
		return ""
	}
	return fmt.Sprintf(" Did you mean %s?", fmt.Sprintf(format, s))
}
