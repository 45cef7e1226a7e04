package msgbox

import (
	"slices"
	"strings"
)

// A Scanner reads a row's columns into dest: database/sql's and pgx's rows
// both are one.
type Scanner interface{ Scan(dest ...any) error }

// ScanThen is s for a function that scans the first columns of a row (a
// box's message scanner) when the row has more after them: those go to
// more.
func ScanThen(s Scanner, more ...any) Scanner { return scanThen{s, more} }

type scanThen struct {
	s    Scanner
	more []any
}

func (t scanThen) Scan(dest ...any) error {
	return t.s.Scan(append(append(make([]any, 0, len(dest)+len(t.more)), dest...), t.more...)...)
}

// Qualified prefixes each column of a comma-separated column list with
// table and a dot, for a query that joins tables.
func Qualified(table, columns string) string {
	cols := strings.Split(columns, ", ")
	for i, c := range cols {
		cols[i] = table + "." + c
	}
	return strings.Join(cols, ", ")
}

// Replaced returns a comma-separated column list with column replaced by
// expr, selected under column's name, so that the same scan reads it.
// It panics when columns has no such column: a programming error the
// boxes' tests catch.
func Replaced(columns, column, expr string) string {
	cols := strings.Split(columns, ", ")
	i := slices.Index(cols, column)
	if i < 0 {
		panic("msgbox: no column " + column + " in " + columns)
	}
	cols[i] = expr + " AS " + column
	return strings.Join(cols, ", ")
}
