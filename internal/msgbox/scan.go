package msgbox

import "strings"

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
