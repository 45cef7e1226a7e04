package sqlitebox

import (
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/msgbox/msgboxtest"
)

// wholeTable matches a step of a query plan that reads a table that grows
// with the messages kept, or one of its full indexes, from end to end,
// named or by the aliases the box's statements give them (m, d, a, ...).
// The partial indexes hold only what is not settled, and may be read
// whole.
var wholeTable = regexp.MustCompile(`\bSCAN (messages|deliveries|events|attempts|bodies|body_chunks|receipts|sent_mdns|awaited_mdns|m|d|e|b|rb|a|s|r)\b(?: USING (?:COVERING )?INDEX (\w+))?`)

// partialIndexes may be read whole (see wholeTable).
var partialIndexes = map[string]bool{"messages_unrouted": true, "deliveries_due": true, "bodies_staged": true, "sent_mdns_due": true}

// TestNoStatementReadsATableWhole: every statement the conformance suite
// makes the box run (what the engine and the commands run) finds its rows
// through a key or a partial index, rather than by reading a table that
// holds every message kept. Without statistics (the box keeps none),
// SQLite planned some by reading all deliveries: Recover, under the write
// lock at every start of run, and AwaitingMDNs at every end of one.
func TestNoStatementReadsATableWhole(t *testing.T) {
	var mu sync.Mutex
	texts := map[string]bool{}
	collect := func(m *sync.Map) {
		m.Range(func(k, _ any) bool {
			mu.Lock()
			texts[k.(string)] = true
			mu.Unlock()
			return true
		})
	}
	probe := openTemp(t, Options{})
	t.Cleanup(func() {
		if len(texts) < 50 {
			t.Fatalf("only %d statements seen", len(texts))
		}
		for _, q := range slices.Sorted(maps.Keys(texts)) {
			steps, err := queryPlan(probe, q, make([]any, strings.Count(q, "?"))...)
			if err != nil {
				t.Errorf("planning %q: %v", q, err)
				continue
			}
			flat := strings.Join(strings.Fields(q), " ")
			for _, step := range steps {
				m := wholeTable.FindStringSubmatch(step)
				if m == nil || partialIndexes[m[2]] {
					continue
				}
				t.Errorf("%s\nreads a table whole: %s", flat, strings.Join(steps, "; "))
			}
		}
	})
	msgboxtest.Run(t, func(t *testing.T) msgbox.Box {
		b := openTemp(t, Options{})
		// Before the box closes (openTemp's cleanup, registered first,
		// runs last).
		t.Cleanup(func() { collect(&b.stmts.stmts); collect(&b.stmts.pending) })
		return b
	})
}

// queryPlan returns the steps of SQLite's plan for query with args.
func queryPlan(b *Box, query string, args ...any) ([]string, error) {
	rows, err := b.db.Query("EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var steps []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			return nil, err
		}
		steps = append(steps, detail)
	}
	return steps, rows.Err()
}
