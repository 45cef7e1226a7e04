package pgbox

import (
	"context"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/bizpipe/bizpipe/internal/pgtest"
)

// statementSet collects the text of every statement a pool sends, alone or
// in a batch.
type statementSet struct {
	mu    sync.Mutex
	texts map[string]bool
}

func (s *statementSet) add(sql string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.texts[sql] = true
}

func (s *statementSet) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	s.add(data.SQL)
	return ctx
}

func (s *statementSet) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (s *statementSet) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}

func (s *statementSet) TraceBatchQuery(_ context.Context, _ *pgx.Conn, data pgx.TraceBatchQueryData) {
	s.add(data.SQL)
}

func (s *statementSet) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// seqScanOfKept matches a plan's sequential scan of a table that grows with
// the messages kept.
var seqScanOfKept = regexp.MustCompile(`Seq Scan on (messages|deliveries|events|attempts|body_chunks|received_chunks|receipts|sent_mdns|awaited_mdns)\b`)

// notPlanned are the statements a plan is not asked of: transaction
// control, and the migrations' scripts (several statements, DDL).
var notPlanned = regexp.MustCompile(`(?is)^\s*(BEGIN|COMMIT|ROLLBACK|SET|SELECT pg_advisory|CREATE|ALTER|--)`)

// checkNoStatementReadsATableWhole: every statement the conformance suite
// makes the box send (what the engine and the commands send) can find its
// rows through an index, not only by reading a table that holds every
// message kept. On a test's small tables PostgreSQL rightly prefers
// reading them whole, so each statement is planned with sequential scans
// priced out (enable_seqscan off) and for any parameters (a generic plan):
// a sequential scan left means that no index serves it. (A query whose
// plan is poor although an index serves it, as the purge's was, is not
// caught here: see its EXPLAIN ANALYZE in docs/performance.md.)
//
// TestConformance calls it once its suite is over, with the statements its
// boxes sent (seen): a run of the suite of its own took a fifth of the
// package's time.
func checkNoStatementReadsATableWhole(t *testing.T, seen *statementSet, url string) {
	t.Helper()
	if len(seen.texts) < 50 {
		t.Fatalf("only %d statements seen", len(seen.texts))
	}
	ctx := context.Background()
	conn := pgtest.Connect(t, url)
	for _, set := range []string{"SET enable_seqscan = off", "SET plan_cache_mode = force_generic_plan"} {
		if _, err := conn.Exec(ctx, set); err != nil {
			t.Fatal(err)
		}
	}
	params := regexp.MustCompile(`\$(\d+)`)
	for _, q := range slices.Sorted(maps.Keys(seen.texts)) {
		if notPlanned.MatchString(q) {
			continue
		}
		n := 0
		for _, m := range params.FindAllStringSubmatch(q, -1) {
			k, _ := strconv.Atoi(m[1])
			n = max(n, k)
		}
		flat := strings.Join(strings.Fields(q), " ")
		if _, err := conn.Exec(ctx, "PREPARE planned AS "+q); err != nil {
			t.Errorf("preparing %s: %v", flat, err)
			continue
		}
		explain := "EXPLAIN EXECUTE planned"
		if n > 0 {
			explain += "(" + strings.TrimSuffix(strings.Repeat("NULL, ", n), ", ") + ")"
		}
		var plan []string
		rows, err := conn.Query(ctx, explain)
		if err == nil {
			for rows.Next() {
				var step string
				if err := rows.Scan(&step); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, strings.TrimSpace(step))
			}
			rows.Close()
			err = rows.Err()
		}
		if _, derr := conn.Exec(ctx, "DEALLOCATE planned"); derr != nil {
			t.Fatal(derr)
		}
		if err != nil {
			t.Errorf("planning %s: %v", flat, err)
			continue
		}
		if seqScanOfKept.MatchString(strings.Join(plan, "\n")) {
			t.Errorf("%s\nreads a table whole:\n%s", flat, strings.Join(plan, "\n"))
		}
	}
}
