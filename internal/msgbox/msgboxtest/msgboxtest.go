// Package msgboxtest is the conformance suite every msgbox.Box
// implementation runs from its own tests:
//
//	func TestConformance(t *testing.T) {
//		msgboxtest.Run(t, func(t *testing.T) msgbox.Box { ... })
//	}
//
// The suite pins down what msgbox.Box's documentation leaves to the
// implementation, so that the embedded and the shared box behave alike:
//
//   - A duplicate SourceKey is detected before the body is read:
//     ReceiveRouted returns the stored message without reading body. The
//     key is compared byte for byte, and forgotten when its message is
//     purged.
//   - A body reader's error is returned by ReceiveRouted, wrapped
//     (errors.Is finds it), and nothing is stored.
//   - Strings are stored and returned alike by every box (msgbox.CleanText):
//     the body and the source key byte for byte; properties exactly, but
//     for invalid UTF-8 (U+FFFD per byte); other text without NUL and
//     invalid UTF-8 (U+FFFD per byte), control characters kept. Receive's
//     Message and a claimed Delivery are what was stored.
//   - Times are msgbox.Timestamp values (UTC, microseconds).
//   - Properties read back nil when empty, and so do SensitiveProperties;
//     those are read back sorted, without duplicates, and only for
//     properties the message has.
//   - Route gives duplicate ports one delivery; a routing failure's Reason
//     and history entry are msgbox.RoutingFailureReason of the reason given.
//   - ClaimBatch serves the delivery due longest ago first, ties in the order
//     the deliveries were made.
//   - A lease held by owner means: the delivery is in progress and owner is
//     its recorded owner. An expired lease nobody has claimed is still held
//     (Renew and Finish succeed); once another owner claims it, the first
//     owner gets ErrLeaseLost. The claim that takes over an expired lease
//     counts the abandoned attempt (outcome retrying, error
//     msgbox.LeaseExpiredError), so a poison message still runs out of
//     retries. That of a wait for an MDN (msgbox.AwaitOwner) whose
//     RetryAt is still to come counts it so too, but leaves the delivery
//     retrying until then, unclaimed.
//   - ClaimBatch never claims a delivery in except, expired lease or not,
//     and counts no attempt for it: its holder still holds it.
//   - Finish rejects an outcome msgbox.ValidateOutcome rejects (with
//     msgbox.ErrInvalidOutcome) and changes nothing.
//   - An Outcome's Receipt is stored by Finish and FinishBatch with the
//     outcome (data byte for byte, text cleaned), replaces an earlier
//     attempt's, is returned by Get with its delivery, and goes with Purge.
//   - Renew and Finish of a delivery that does not exist (purged):
//     msgbox.DeliveryNotFound, which is ErrNotFound and ErrLeaseLost.
//   - A message id that is malformed, or names a purged message: ErrNotFound
//     from every method taking one, a malformed one before the store is
//     touched. A body purged while being read: ErrNotFound from the reader.
//   - Recover returns owner's in-progress deliveries (and those of its
//     workers, "owner/...") as pending, due now, whether their leases are
//     live or expired, and counts each interrupted attempt as the takeover
//     of an expired lease does: Attempts + 1, an attempt by the lease owner
//     (outcome retrying, error msgbox.InterruptedError(lease owner), started
//     at the claim, finished at the Recover), that error as LastError, and
//     a pending event in the history saying so. A Recover that finds
//     nothing more counts nothing more.
//   - NextDue counts pending deliveries too (their due time may be past).
//   - Resume and Terminate of a message in a status they do not apply to,
//     Terminate of a terminated one included: ErrInvalidState. Terminate of a
//     message not yet routed is allowed; it is then never routed. Terminate
//     of a delivery in progress under an expired lease, or awaiting an MDN,
//     records its attempt as the takeover does, with
//     msgbox.CutOffAttempt's error and end, before the terminated entries.
//   - Unrouted and List treat a limit <= 0 as no limit; List rejects an
//     unknown status.
//   - An Incoming's MDN is stored with its message, in one transaction:
//     made once the body has been read to its end, never for a duplicate
//     found before; one that fails (or is invalid) fails the receive, and
//     nothing of the message is stored.
//   - Close may be called twice; methods called after it fail (no panic).
package msgboxtest

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
)

// namedTest is one subtest of the suite.
type namedTest struct {
	name string
	fn   func(t *testing.T, b msgbox.Box)
}

// Run runs the conformance suite. open must return a new, empty box each
// time it is called; subtests call it in parallel. It should close the box
// with t.Cleanup; a test may have closed it already.
func Run(t *testing.T, open func(t *testing.T) msgbox.Box) {
	tests := []namedTest{
		{"Receive", testReceive},
		{"ReceiveLargeBody", testReceiveLargeBody},
		{"ReceiveBodyError", testReceiveBodyError},
		{"ReceiveCanceled", testReceiveCanceled},
		{"ReceiveConcurrent", testReceiveConcurrent},
		{"SourceKey", testSourceKey},
		{"SourceKeyRace", testSourceKeyRace},
		{"SourceKeyIfDecoded", testSourceKeyIfDecoded},
		{"Route", testRoute},
		{"RouteNoPorts", testRouteNoPorts},
		{"RouteInvalid", testRouteInvalid},
		{"Unrouted", testUnrouted},
		{"Claim", testClaim},
		{"ClaimConcurrent", testClaimConcurrent},
		{"LeaseExpiry", testLeaseExpiry},
		{"ExpiredLeaseStillHeld", testExpiredLeaseStillHeld},
		{"Recover", testRecover},
		{"Release", testRelease},
		{"Renew", testRenew},
		{"FinishDelivered", testFinishDelivered},
		{"FinishRetrying", testFinishRetrying},
		{"FinishSuspended", testFinishSuspended},
		{"FinishInvalid", testFinishInvalid},
		{"NextDue", testNextDue},
		{"Retrying", testRetrying},
		{"StatusDerivation", testStatusDerivation},
		{"List", testList},
		{"ListStops", testListStops},
		{"Backlog", testBacklog},
		{"NotFound", testNotFound},
		{"Message", testMessage},
		{"ID", testID},
		{"DeliveryStates", testDeliveryStates},
		{"Purge", testPurge},
		{"Resume", testResume},
		{"ResumeRoutingFailure", testResumeRoutingFailure},
		{"ResumeDecodingFailed", testResumeDecodingFailed},
		{"Terminate", testTerminate},
		{"TerminateLiveLease", testTerminateLiveLease},
		{"TerminateSuspended", testTerminateSuspended},
		{"TerminateCutOff", testTerminateCutOff},
		{"History", testHistory},
		{"Origin", testOrigin},
		{"OriginTouches", testOriginTouches},
		{"ResubmitUnderWay", testResubmitUnderWay},
		{"ResumeCopies", testResumeCopies},
		{"ResumePurgedCopy", testResumePurgedCopy},
		{"Close", testClose},
		{"ReceiveRouted", testReceiveRouted},
		{"ReceiveRoutedNoPorts", testReceiveRoutedNoPorts},
		{"ReceiveRoutedDuplicate", testReceiveRoutedDuplicate},
		{"ReceiveRoutedLargeBody", testReceiveRoutedLargeBody},
		{"ClaimBatch", testClaimBatch},
		{"ClaimBatchTakeover", testClaimBatchTakeover},
		{"ClaimBatchExcept", testClaimBatchExcept},
		{"ClaimBatchPreload", testClaimBatchPreload},
		{"SensitiveProperties", testSensitiveProperties},
		{"Party", testParty},
		{"AsReceived", testAsReceived},
		{"Text", testText},
		{"LookupText", testLookupText},
		{"Purged", testPurged},
		{"MalformedID", testMalformedID},
		{"ReceiveBatch", testReceiveBatch},
		{"ReceiveHandoff", testReceiveHandoff},
		{"ReceiveBatchUnrouted", testReceiveBatchUnrouted},
		{"ReceiveBatchInvalid", testReceiveBatchInvalid},
		{"ReceiveBatchManyPorts", testReceiveBatchManyPorts},
		{"ReceiveBatchPurged", testReceiveBatchPurged},
		{"FinishBatch", testFinishBatch},
		{"RenewBatch", testRenewBatch},
		{"RenewMixed", testRenewMixed},
		{"Receipts", testReceipts},
		{"SentMDNs", testSentMDNs},
		{"ReceiveMDN", testReceiveMDN},
		{"ReceiveMDNFails", testReceiveMDNFails},
		{"AwaitMDN", testAwaitMDN},
		{"AwaitMDNRetry", testAwaitMDNRetry},
		{"SendingDeliveries", testSendingDeliveries},
		{"SettleLate", testSettleLate},
		{"AwaitingStatus", testAwaitingStatus},
	}
	// Two boxes have different identities (testID checks one box's).
	one, other := open(t), open(t)
	if one.ID() == other.ID() {
		t.Errorf("two new boxes have the same ID %q: their staged files would collide", one.ID())
	}
	one.Close()
	other.Close()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

func testReceive(t *testing.T, b msgbox.Box) {
	tests := []struct {
		name string
		in   msgbox.Incoming
		size int64
	}{
		{"empty body", msgbox.Incoming{ReceiveLocation: "http_in", ContentType: "text/plain"}, 0},
		{"one byte", msgbox.Incoming{ReceiveLocation: "files", FileName: "a.xml", ContentType: "application/xml",
			Properties: map[string]string{"partner": "fabrikam", "ünïcode": "välue\x00with nul", "": "empty key"}}, 1},
		{"4 KiB", inc("4k.xml"), 4 << 10},
		{"256 KiB - 1", inc("a"), 256<<10 - 1},
		{"256 KiB", inc("b"), 256 << 10},
		{"1 MiB", inc("c"), 1 << 20},
		{"1 MiB + 1", inc("d"), 1<<20 + 1},
		{"3 MiB + 7", inc("e"), 3<<20 + 7},
	}
	var ids []string
	for i, tc := range tests {
		before := now()
		body := &countingReader{r: pattern(uint64(i), tc.size)}
		var props map[string]string // what the box must keep, whatever the caller does to its map
		for k, v := range tc.in.Properties {
			if props == nil {
				props = map[string]string{}
			}
			props[k] = v
		}
		m, dup, err := b.ReceiveRouted(t.Context(), tc.in, body, nil)
		after := now()
		if err != nil {
			t.Fatalf("%s: Receive: %v", tc.name, err)
		}
		if dup {
			t.Errorf("%s: dup = true for a new message", tc.name)
		}
		if body.n != tc.size {
			t.Errorf("%s: Receive read %d bytes of the body, want all %d", tc.name, body.n, tc.size)
		}
		if !msgbox.ValidID(m.ID) {
			t.Errorf("%s: ID %q is not a valid message id", tc.name, m.ID)
		}
		want := msgbox.Message{ID: m.ID, ReceiveLocation: tc.in.ReceiveLocation, FileName: tc.in.FileName,
			ContentType: tc.in.ContentType, Properties: props, Size: tc.size, ReceivedAt: m.ReceivedAt,
			Status: msgbox.StatusReceived}
		sameMessage(t, tc.name+": Receive", m, want)
		inWindow(t, tc.name+": ReceivedAt", m.ReceivedAt, before, after)

		// The box must not alias the caller's map.
		if tc.in.Properties != nil {
			tc.in.Properties["added after Receive"] = "x"
		}
		d := get(t, b, m.ID)
		sameMessage(t, tc.name+": Get", d.Message, want)
		if len(d.Deliveries) != 0 || len(d.Attempts) != 0 {
			t.Errorf("%s: new message has deliveries %v, attempts %v", tc.name, d.Deliveries, d.Attempts)
		}
		if got := historyStatuses(d); len(got) != 1 || got[0] != string(msgbox.StatusReceived) {
			t.Errorf("%s: history = %v, want [received]", tc.name, got)
		}
		rc, err := b.Body(t.Context(), m.ID)
		if err != nil {
			t.Fatalf("%s: Body: %v", tc.name, err)
		}
		if err := sameStream(rc, pattern(uint64(i), tc.size)); err != nil {
			t.Errorf("%s: body read back differs: %v", tc.name, err)
		}
		rc.Close()
		ids = append(ids, m.ID)
	}

	unrouted, err := b.Unrouted(t.Context(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(unrouted) != len(ids) {
		t.Fatalf("Unrouted returned %d messages, want %d", len(unrouted), len(ids))
	}
	seen := map[string]bool{}
	for i, m := range unrouted {
		if m.ID != ids[i] {
			t.Errorf("Unrouted[%d] = %s, want %s (oldest first)", i, m.ID, ids[i])
		}
		if seen[m.ID] {
			t.Errorf("id %s given twice", m.ID)
		}
		seen[m.ID] = true
	}
}

func testReceiveLargeBody(t *testing.T, b msgbox.Box) {
	const size = 50 << 20
	body := &countingReader{r: pattern(42, size)}
	m, dup, err := b.ReceiveRouted(t.Context(), inc("big.bin"), body, nil)
	if err != nil {
		t.Fatalf("Receive of %d bytes: %v", size, err)
	}
	if dup || m.Size != size || body.n != size {
		t.Fatalf("Receive: dup=%v Size=%d read=%d, want false, %d, %d", dup, m.Size, body.n, size, size)
	}
	if got := get(t, b, m.ID).Message.Size; got != size {
		t.Errorf("Get: Size = %d, want %d", got, size)
	}
	rc, err := b.Body(t.Context(), m.ID)
	if err != nil {
		t.Fatalf("Body: %v", err)
	}
	defer rc.Close()
	if err := sameStream(rc, pattern(42, size)); err != nil {
		t.Fatalf("50 MiB body read back differs: %v", err)
	}
	// A second reader, read in odd-sized pieces, sees the same bytes.
	rc2, err := b.Body(t.Context(), m.ID)
	if err != nil {
		t.Fatalf("Body: %v", err)
	}
	defer rc2.Close()
	if err := sameStream(io.LimitReader(oddReader{rc2}, 5<<20+3), pattern(42, 5<<20+3)); err != nil {
		t.Errorf("body read in odd pieces differs: %v", err)
	}
}

// oddReader reads in 7919-byte pieces at most, to cross every chunk boundary
// at an odd offset.
type oddReader struct{ r io.Reader }

func (o oddReader) Read(p []byte) (int, error) { return o.r.Read(p[:min(len(p), 7919)]) }

func testReceiveBodyError(t *testing.T, b msgbox.Box) {
	for _, after := range []int64{0, 100, 1 << 20, 3<<20 + 5} {
		t.Run(fmt.Sprint(after), func(t *testing.T) {
			boom := fmt.Errorf("source unreadable after %d bytes", after)
			in := inc("broken.xml")
			in.SourceKey = fmt.Sprintf("broken-%d", after)
			_, _, err := b.ReceiveRouted(t.Context(), in, failingReader(after, boom), nil)
			if !errors.Is(err, boom) {
				t.Fatalf("Receive with a failing body: error = %v, want it to wrap %v", err, boom)
			}
			// Nothing was stored: the SourceKey is free for the retry.
			m, dup, err := b.ReceiveRouted(t.Context(), in, strings.NewReader("retried"), nil)
			if err != nil || dup {
				t.Fatalf("Receive after a failed one: dup=%v err=%v, want a new message", dup, err)
			}
			if got := string(readBody(t, b, m.ID)); got != "retried" {
				t.Errorf("body = %q, want %q", got, "retried")
			}
		})
	}
	all, err := msgbox.Collect(t.Context(), b, msgbox.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 4 {
		t.Errorf("List: %d messages, want only the 4 retried ones", len(all))
	}
	for _, m := range all {
		if m.Size != int64(len("retried")) {
			t.Errorf("message %s has size %d: a partial body was stored", m.ID, m.Size)
		}
	}
}

func testReceiveCanceled(t *testing.T, b msgbox.Box) {
	for _, size := range []int64{10, 3 << 20} {
		_, _, err := b.ReceiveRouted(ctxCanceled(t), inc("x"), pattern(1, size), nil)
		if err == nil {
			t.Errorf("Receive(%d bytes) with a canceled context succeeded", size)
		}
	}
	// A context canceled while the body is being read.
	ctx, cancel := context.WithCancel(t.Context())
	body := io.MultiReader(pattern(2, 2<<20), cancelReader{cancel}, pattern(3, 2<<20))
	if _, _, err := b.ReceiveRouted(ctx, inc("y"), body, nil); err == nil {
		t.Errorf("Receive whose context was canceled mid-body succeeded")
	}
	all, err := msgbox.Collect(t.Context(), b, msgbox.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 0 {
		t.Errorf("List after canceled Receives: %d messages, want 0", len(all))
	}
}

// cancelReader cancels a context when it is read, and returns EOF.
type cancelReader struct{ cancel context.CancelFunc }

func (c cancelReader) Read([]byte) (int, error) { c.cancel(); return 0, io.EOF }

func testReceiveConcurrent(t *testing.T, b msgbox.Box) {
	const workers, each = 6, 8
	var wg sync.WaitGroup
	ids := make(chan string, workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				body := fmt.Sprintf("worker %d message %d", w, i)
				if i == 0 {
					body = strings.Repeat(body, 100_000) // a multi-chunk body among small ones
				}
				m, _, err := b.ReceiveRouted(t.Context(), inc(fmt.Sprintf("%d-%d", w, i)), strings.NewReader(body), nil)
				if err != nil {
					t.Errorf("Receive: %v", err)
					return
				}
				// Not readBody: its t.Fatalf must not run off the test's
				// goroutine.
				got, err := bodyOf(t.Context(), b, m.ID)
				if err != nil {
					t.Errorf("reading body of %s: %v", m.ID, err)
					return
				}
				if string(got) != body {
					t.Errorf("body of %s: got %d bytes, want %q... (%d bytes)", m.ID, len(got), body[:20], len(body))
				}
				ids <- m.ID
			}
		}()
	}
	wg.Wait()
	close(ids)
	seen := map[string]bool{}
	for id := range ids {
		if seen[id] {
			t.Errorf("id %s given to two messages", id)
		}
		seen[id] = true
	}
	all, err := msgbox.Collect(t.Context(), b, msgbox.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != workers*each || len(seen) != workers*each {
		t.Errorf("List: %d messages, %d distinct ids, want %d", len(all), len(seen), workers*each)
	}
}

func testSourceKey(t *testing.T, b msgbox.Box) {
	in := inc("order.xml")
	in.SourceKey = "/in/orders/order.xml|1234|2024-05-01T10:00:00Z"
	first := receive(t, b, in, "original body")
	if err := b.Route(t.Context(), first.ID, []string{"a"}, ""); err != nil {
		t.Fatal(err)
	}

	// The same source again (a crash between commit and delete): the stored
	// message, the body not read.
	body := &countingReader{r: strings.NewReader("a second body that must not be stored")}
	again := in
	again.FileName = "renamed.xml"
	m, dup, err := b.ReceiveRouted(t.Context(), again, body, nil)
	if err != nil {
		t.Fatalf("Receive of a duplicate: %v", err)
	}
	if !dup {
		t.Errorf("dup = false for a SourceKey already stored")
	}
	if m.ID != first.ID {
		t.Errorf("duplicate returned id %s, want the stored %s", m.ID, first.ID)
	}
	if m.FileName != "order.xml" || m.Status != msgbox.StatusRouted {
		t.Errorf("duplicate returned %+v, want the stored message as it is now (order.xml, routed)", m)
	}
	if body.n != 0 {
		t.Errorf("Receive read %d bytes of a duplicate's body, want none", body.n)
	}
	if got := string(readBody(t, b, first.ID)); got != "original body" {
		t.Errorf("body after duplicate = %q, want the original", got)
	}

	// Another key, and no key (twice), are new messages.
	other := in
	other.SourceKey = in.SourceKey + "-2"
	m2 := receive(t, b, other, "x")
	noKey := inc("http")
	m3 := receive(t, b, noKey, "y")
	m4 := receive(t, b, noKey, "y")
	if m2.ID == first.ID || m3.ID == m4.ID {
		t.Errorf("distinct messages share an id: %s %s %s %s", first.ID, m2.ID, m3.ID, m4.ID)
	}
	all, err := msgbox.Collect(t.Context(), b, msgbox.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 4 {
		t.Errorf("List: %d messages, want 4", len(all))
	}
}

func testSourceKeyRace(t *testing.T, b msgbox.Box) {
	for _, size := range []int{10, 3<<20 + 1} {
		in := inc("race.xml")
		in.SourceKey = fmt.Sprintf("race-%d", size)
		const n = 6
		type result struct {
			id  string
			dup bool
		}
		results := make(chan result, n)
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				m, dup, err := b.ReceiveRouted(t.Context(), in, pattern(9, int64(size)), nil)
				if err != nil {
					t.Errorf("Receive: %v", err)
					return
				}
				results <- result{m.ID, dup}
			}()
		}
		wg.Wait()
		close(results)
		var ids []string
		fresh := 0
		for r := range results {
			ids = append(ids, r.id)
			if !r.dup {
				fresh++
			}
		}
		if fresh != 1 {
			t.Errorf("size %d: %d concurrent Receives of one SourceKey stored a new message, want exactly 1", size, fresh)
		}
		for _, id := range ids {
			if id != ids[0] {
				t.Errorf("size %d: concurrent Receives of one SourceKey returned ids %v, want one id", size, ids)
				break
			}
		}
		rc, err := b.Body(t.Context(), ids[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := sameStream(rc, pattern(9, int64(size))); err != nil {
			t.Errorf("size %d: body differs: %v", size, err)
		}
		rc.Close()
	}
	all, err := msgbox.Collect(t.Context(), b, msgbox.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 {
		t.Errorf("List: %d messages, want 2", len(all))
	}
}

func testRoute(t *testing.T, b msgbox.Box) {
	m := receive(t, b, inc("r.xml"), "body")
	before := now()
	if err := b.Route(t.Context(), m.ID, []string{"fabrikam", "archive", "fabrikam"}, "ignored"); err != nil {
		t.Fatalf("Route: %v", err)
	}
	after := now()
	d := get(t, b, m.ID)
	if d.Message.Status != msgbox.StatusRouted || d.Message.Reason != "" {
		t.Errorf("status %q reason %q, want routed and no reason", d.Message.Status, d.Message.Reason)
	}
	if len(d.Deliveries) != 2 {
		t.Fatalf("%d deliveries, want 2 (one per distinct port): %+v", len(d.Deliveries), d.Deliveries)
	}
	for i, port := range []string{"fabrikam", "archive"} {
		dl := d.Deliveries[i]
		if dl.Port != port || dl.MessageID != m.ID || dl.State != msgbox.DeliveryPending || dl.Attempts != 0 ||
			dl.LeaseOwner != "" || !dl.LeaseUntil.IsZero() || dl.LastError != "" {
			t.Errorf("delivery %d = %+v, want a fresh pending delivery to %s of %s", i, dl, port, m.ID)
		}
		inWindow(t, "NextAttemptAt", dl.NextAttemptAt, before, after)
	}
	if d.Deliveries[0].ID == d.Deliveries[1].ID {
		t.Errorf("two deliveries share id %d", d.Deliveries[0].ID)
	}
	want := []string{"received", "fabrikam:pending", "archive:pending"}
	if got := historyStatuses(d); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("history = %v, want %v", got, want)
	}
	if u, err := b.Unrouted(t.Context(), 0); err != nil || len(u) != 0 {
		t.Errorf("Unrouted = %v, %v; want none", u, err)
	}
}

func testRouteNoPorts(t *testing.T, b msgbox.Box) {
	for _, tc := range []struct{ reason, want string }{
		{"no send port filter matched receive_location=orders_in", "routing failure: no send port filter matched receive_location=orders_in"},
		{"", "routing failure: " + msgbox.DefaultRoutingFailure},
	} {
		m := receive(t, b, inc("lonely.xml"), "body")
		if err := b.Route(t.Context(), m.ID, nil, tc.reason); err != nil {
			t.Fatalf("Route with no ports: %v", err)
		}
		d := get(t, b, m.ID)
		if d.Message.Status != msgbox.StatusSuspended || d.Message.Reason != tc.want {
			t.Errorf("routing failure: status %q reason %q, want suspended, %q", d.Message.Status, d.Message.Reason, tc.want)
		}
		if len(d.Deliveries) != 0 {
			t.Errorf("routing failure has deliveries %+v", d.Deliveries)
		}
		if len(d.History) != 2 || d.History[1].Status != string(msgbox.StatusSuspended) ||
			d.History[1].Detail != tc.want {
			t.Errorf("history = %+v, want received then suspended naming the reason", d.History)
		}
	}
	if u, err := b.Unrouted(t.Context(), 0); err != nil || len(u) != 0 {
		t.Errorf("Unrouted = %v, %v; want none", u, err)
	}
	if s, err := msgbox.Collect(t.Context(), b, msgbox.Filter{Status: msgbox.StatusSuspended}); err != nil || len(s) != 2 {
		t.Errorf("List(suspended) = %d messages, %v; want 2", len(s), err)
	}
}

func testRouteInvalid(t *testing.T, b msgbox.Box) {
	ctx := t.Context()
	m := routed(t, b, "twice", "a")
	wantErr(t, "Route of a routed message", b.Route(ctx, m.ID, []string{"b"}, ""), msgbox.ErrInvalidState)
	if d := get(t, b, m.ID); len(d.Deliveries) != 1 {
		t.Errorf("second Route changed deliveries: %+v", d.Deliveries)
	}

	f := receive(t, b, inc("failed"), "x")
	if err := b.Route(ctx, f.ID, nil, "nobody"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "Route of a routing failure", b.Route(ctx, f.ID, []string{"a"}, ""), msgbox.ErrInvalidState)

	x := receive(t, b, inc("terminated"), "x")
	if err := b.Terminate(ctx, x.ID); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "Route of a terminated message", b.Route(ctx, x.ID, []string{"a"}, ""), msgbox.ErrInvalidState)

	wantErr(t, "Route of an unknown message", b.Route(ctx, msgbox.NewID(time.Now(), crand.Reader), []string{"a"}, ""),
		msgbox.ErrNotFound)

	e := receive(t, b, inc("empty port"), "x")
	if err := b.Route(ctx, e.ID, []string{"a", ""}, ""); err == nil {
		t.Errorf("Route to an empty port name succeeded")
	}
	wantStatus(t, b, e.ID, msgbox.StatusReceived)
}

func testUnrouted(t *testing.T, b msgbox.Box) {
	ctx := t.Context()
	var ms []msgbox.Message
	for i := range 6 {
		ms = append(ms, receive(t, b, inc(fmt.Sprint(i)), "x"))
	}
	if err := b.Route(ctx, ms[1].ID, []string{"a"}, ""); err != nil {
		t.Fatal(err)
	}
	if err := b.Route(ctx, ms[3].ID, nil, "nobody"); err != nil {
		t.Fatal(err)
	}
	if err := b.Terminate(ctx, ms[4].ID); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		limit int
		want  []msgbox.Message
	}{
		{0, []msgbox.Message{ms[0], ms[2], ms[5]}},
		{-1, []msgbox.Message{ms[0], ms[2], ms[5]}},
		{2, []msgbox.Message{ms[0], ms[2]}},
		{10, []msgbox.Message{ms[0], ms[2], ms[5]}},
	} {
		got, err := b.Unrouted(ctx, tc.limit)
		if err != nil {
			t.Fatalf("Unrouted(%d): %v", tc.limit, err)
		}
		if len(got) != len(tc.want) {
			t.Errorf("Unrouted(%d) = %d messages, want %d", tc.limit, len(got), len(tc.want))
			continue
		}
		for i := range got {
			sameMessage(t, fmt.Sprintf("Unrouted(%d)[%d]", tc.limit, i), got[i], tc.want[i])
		}
	}
}

func testClaim(t *testing.T, b msgbox.Box) {
	ctx := t.Context()
	m1 := routed(t, b, "m1", "a", "b")
	m2 := routed(t, b, "m2", "a")
	m3 := routed(t, b, "m3", "c")

	claimNone(t, b, "w1")
	claimNone(t, b, "w1", "no-such-port")

	before := now()
	d := claim(t, b, "w1", longLease, "a")
	after := now()
	if d.MessageID != m1.ID || d.Port != "a" {
		t.Errorf("first claim on a = %s/%s, want the oldest: %s/a", d.MessageID, d.Port, m1.ID)
	}
	if d.State != msgbox.DeliveryInProgress || d.LeaseOwner != "w1" || d.Attempts != 0 {
		t.Errorf("claimed delivery = %+v, want in progress, owned by w1, no attempts yet", d)
	}
	inWindow(t, "LeaseUntil", d.LeaseUntil, before.Add(longLease), after.Add(longLease))
	stored := deliveryTo(t, b, m1.ID, "a")
	if stored.State != msgbox.DeliveryInProgress || stored.LeaseOwner != "w1" || !stored.LeaseUntil.Equal(d.LeaseUntil) ||
		stored.ID != d.ID {
		t.Errorf("stored delivery = %+v, want it as Claim returned it: %+v", stored, d)
	}
	wantStatus(t, b, m1.ID, msgbox.StatusRouted)
	hist := get(t, b, m1.ID).History
	if last := hist[len(hist)-1]; last.Port != "a" || last.Status != string(msgbox.DeliveryInProgress) ||
		!strings.Contains(last.Detail, "w1") {
		t.Errorf("last history event = %+v, want the claim by w1 on a", last)
	}

	if d := claim(t, b, "w2", longLease, "a"); d.MessageID != m2.ID {
		t.Errorf("second claim on a = %s, want %s", d.MessageID, m2.ID)
	}
	claimNone(t, b, "w3", "a")

	// A short live lease protects as well as a long one.
	m4 := routed(t, b, "m4", "f")
	if d := claim(t, b, "w1", 30*time.Second, "f"); d.MessageID != m4.ID {
		t.Errorf("claim on f = %s, want %s", d.MessageID, m4.ID)
	}
	claimNone(t, b, "w2", "f")

	if d := claim(t, b, "w2", longLease, "c", "b"); d.MessageID != m1.ID || d.Port != "b" {
		t.Errorf("claim on [c b] = %s/%s, want the older %s/b", d.MessageID, d.Port, m1.ID)
	}
	if d := claim(t, b, "w2", longLease, "c", "b"); d.MessageID != m3.ID || d.Port != "c" {
		t.Errorf("claim on [c b] = %s/%s, want %s/c", d.MessageID, d.Port, m3.ID)
	}
	claimNone(t, b, "w3", "a", "b", "c")

	if _, err := ClaimOne(ctx, b, "", []string{"a"}, longLease); err == nil {
		t.Errorf("Claim with no owner succeeded")
	}
	if _, err := ClaimOne(ctx, b, "w", []string{"a"}, 0); err == nil {
		t.Errorf("Claim with a zero lease succeeded")
	}
}

func testClaimConcurrent(t *testing.T, b msgbox.Box) {
	const messages, workers = 25, 8
	ports := []string{"a", "b"}
	for i := range messages {
		routed(t, b, fmt.Sprint(i), ports...)
	}
	var mu sync.Mutex
	claims := map[int64][]string{} // delivery id -> owners that claimed it
	var wg sync.WaitGroup
	for w := range workers {
		owner := fmt.Sprintf("worker-%d", w)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				d, err := ClaimOne(t.Context(), b, owner, ports, longLease)
				if err != nil {
					t.Errorf("%s: Claim: %v", owner, err)
					return
				}
				if d == nil {
					return
				}
				mu.Lock()
				claims[d.ID] = append(claims[d.ID], owner)
				mu.Unlock()
				if err := b.Finish(t.Context(), d.ID, owner, delivered); err != nil {
					t.Errorf("%s: Finish(%d): %v", owner, d.ID, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if len(claims) != messages*len(ports) {
		t.Errorf("%d distinct deliveries claimed, want %d", len(claims), messages*len(ports))
	}
	for id, owners := range claims {
		if len(owners) != 1 {
			t.Errorf("delivery %d claimed %d times, by %v", id, len(owners), owners)
		}
	}
	done, err := msgbox.Collect(t.Context(), b, msgbox.Filter{Status: msgbox.StatusDelivered})
	if err != nil {
		t.Fatal(err)
	}
	if len(done) != messages {
		t.Errorf("%d messages delivered, want %d", len(done), messages)
	}
	for _, m := range done {
		for _, d := range get(t, b, m.ID).Deliveries {
			if d.Attempts != 1 {
				t.Errorf("delivery %d made %d attempts, want 1", d.ID, d.Attempts)
			}
		}
	}
}

func testLeaseExpiry(t *testing.T, b msgbox.Box) {
	ctx := t.Context()
	m := routed(t, b, "slow", "a")
	first := claim(t, b, "crashed", shortLease, "a")
	sleepPast(first.LeaseUntil)

	second := claim(t, b, "rescuer", longLease, "a")
	if second.ID != first.ID || second.LeaseOwner != "rescuer" {
		t.Fatalf("claim after expiry = delivery %d owned by %s, want %d owned by rescuer", second.ID, second.LeaseOwner, first.ID)
	}
	if second.Attempts != 1 {
		t.Errorf("Attempts after taking over an expired lease = %d, want 1 (the abandoned attempt counts)", second.Attempts)
	}
	wantErr(t, "Finish by the owner whose lease expired", b.Finish(ctx, first.ID, "crashed", delivered), msgbox.ErrLeaseLost)
	wantErr(t, "Renew by the owner whose lease expired", msgbox.RenewOne(ctx, b, first.ID, "crashed", longLease), msgbox.ErrLeaseLost)
	if d := deliveryTo(t, b, m.ID, "a"); d.State != msgbox.DeliveryInProgress || d.LeaseOwner != "rescuer" {
		t.Errorf("after the late Finish: delivery = %+v, want still held by rescuer", d)
	}

	finish(t, b, second, delivered)
	d := get(t, b, m.ID)
	if d.Message.Status != msgbox.StatusDelivered || d.Deliveries[0].Attempts != 2 {
		t.Errorf("status %q attempts %d, want delivered after 2 attempts", d.Message.Status, d.Deliveries[0].Attempts)
	}
	if len(d.Attempts) != 2 {
		t.Fatalf("attempts = %+v, want the abandoned one and the delivered one", d.Attempts)
	}
	a0, a1 := d.Attempts[0], d.Attempts[1]
	if a0.Owner != "crashed" || a0.Number != 1 || a0.Outcome != msgbox.DeliveryRetrying ||
		a0.Error != msgbox.LeaseExpiredError("crashed") || a0.DeliveryID != first.ID || a0.Port != "a" {
		t.Errorf("abandoned attempt = %+v", a0)
	}
	if a1.Owner != "rescuer" || a1.Number != 2 || a1.Outcome != msgbox.DeliveryDelivered || a1.Error != "" {
		t.Errorf("second attempt = %+v", a1)
	}
}

func testExpiredLeaseStillHeld(t *testing.T, b msgbox.Box) {
	ctx := t.Context()
	m := routed(t, b, "late", "a")
	d := claim(t, b, "w1", shortLease, "a")
	sleepPast(d.LeaseUntil)
	// Nobody claimed it meanwhile: w1 still holds it.
	before := now()
	if err := msgbox.RenewOne(ctx, b, d.ID, "w1", longLease); err != nil {
		t.Fatalf("Renew of an expired lease nobody took: %v", err)
	}
	if got := deliveryTo(t, b, m.ID, "a").LeaseUntil; got.Before(before.Add(longLease)) {
		t.Errorf("LeaseUntil after Renew = %s, want at least %s", got, before.Add(longLease))
	}
	claimNone(t, b, "w2", "a")

	m2 := routed(t, b, "late2", "b")
	d2 := claim(t, b, "w1", shortLease, "b")
	sleepPast(d2.LeaseUntil)
	if err := b.Finish(ctx, d2.ID, "w1", delivered); err != nil {
		t.Fatalf("Finish of an expired lease nobody took: %v", err)
	}
	wantStatus(t, b, m2.ID, msgbox.StatusDelivered)
	if n := len(get(t, b, m2.ID).Attempts); n != 1 {
		t.Errorf("%d attempts recorded, want 1", n)
	}
}

func testRecover(t *testing.T, b msgbox.Box) {
	ctx := t.Context()
	if e := msgbox.InterruptedError("srv1/w2"); !strings.Contains(e, "srv1/w2") || e == msgbox.LeaseExpiredError("srv1/w2") {
		t.Errorf("InterruptedError(srv1/w2) = %q, want it to name the owner and differ from LeaseExpiredError", e)
	}
	m1 := routed(t, b, "m1", "a", "b")
	m2 := routed(t, b, "m2", "c")
	m3 := routed(t, b, "m3", "d")
	m4 := routed(t, b, "m4", "e")
	m5 := routed(t, b, "m5", "f", "g")

	// claimed remembers when each recovered delivery was claimed: its
	// interrupted attempt started then.
	type claimWindow struct{ lo, hi time.Time }
	claimed := map[string]claimWindow{}
	claimAt := func(owner string, lease time.Duration, port string) *msgbox.Delivery {
		lo := now()
		d := claim(t, b, owner, lease, port)
		claimed[port] = claimWindow{lo, now()}
		return d
	}
	live := claimAt("srv1", longLease, "a")                                                     // held, live lease
	finish(t, b, claim(t, b, "srv1", longLease, "b"), retrying(time.Now().Add(time.Hour), "e")) // not in progress
	other := claim(t, b, "srv2", longLease, "c")                                                // another owner's
	finish(t, b, claim(t, b, "srv1", longLease, "d"), retrying(time.Now(), "first try failed"))
	retried := claimAt("srv1", longLease, "d") // in progress after one attempt
	expired := claimAt("srv1", shortLease, "e")
	sleepPast(expired.LeaseUntil)                     // expired, nobody took it: still srv1's
	worker := claimAt("srv1/w2", longLease, "f")      // one of srv1's workers
	lookalike := claim(t, b, "srv10", longLease, "g") // not srv1's

	before := now()
	n, err := b.Recover(ctx, "srv1")
	after := now()
	if err != nil {
		t.Fatalf("Recover: %v", err)
	}
	if n != 4 {
		t.Errorf("Recover returned %d, want 4 (a, d, e, f)", n)
	}
	for _, tc := range []struct {
		msg      msgbox.Message
		port     string
		owner    string // the lease owner, whose attempt was interrupted
		attempts int    // after Recover, the interrupted one included
		status   msgbox.Status
	}{
		{m1, "a", "srv1", 1, msgbox.StatusRetrying}, // b still waits for its retry
		{m3, "d", "srv1", 2, msgbox.StatusRouted},
		{m4, "e", "srv1", 1, msgbox.StatusRouted},
		{m5, "f", "srv1/w2", 1, msgbox.StatusRouted},
	} {
		lastErr := msgbox.InterruptedError(tc.owner)
		d := deliveryTo(t, b, tc.msg.ID, tc.port)
		if d.State != msgbox.DeliveryPending || d.LeaseOwner != "" || !d.LeaseUntil.IsZero() || d.Attempts != tc.attempts ||
			d.LastError != lastErr {
			t.Errorf("recovered delivery to %s = %+v, want pending, no lease, %d attempts, last error %q",
				tc.port, d, tc.attempts, lastErr)
		}
		inWindow(t, "recovered NextAttemptAt", d.NextAttemptAt, before, after)
		wantStatus(t, b, tc.msg.ID, tc.status)

		detail := get(t, b, tc.msg.ID)
		var attempts []msgbox.Attempt
		for _, a := range detail.Attempts {
			if a.DeliveryID == d.ID {
				attempts = append(attempts, a)
			}
		}
		if len(attempts) != tc.attempts {
			t.Fatalf("delivery to %s has attempt records %+v, want %d", tc.port, attempts, tc.attempts)
		}
		a := attempts[len(attempts)-1]
		if a.Number != tc.attempts || a.Owner != tc.owner || a.Port != tc.port || a.Outcome != msgbox.DeliveryRetrying ||
			a.Error != lastErr {
			t.Errorf("interrupted attempt to %s = %+v, want number %d by %s, retrying, error %q",
				tc.port, a, tc.attempts, tc.owner, lastErr)
		}
		inWindow(t, "interrupted attempt to "+tc.port+" StartedAt", a.StartedAt, claimed[tc.port].lo, claimed[tc.port].hi)
		inWindow(t, "interrupted attempt to "+tc.port+" FinishedAt", a.FinishedAt, before, after)

		var last *msgbox.Event
		for i := range detail.History {
			if detail.History[i].Port == tc.port {
				last = &detail.History[i]
			}
		}
		if last == nil || last.Status != string(msgbox.DeliveryPending) || !strings.Contains(last.Detail, lastErr) {
			t.Errorf("last event of %s = %+v, want pending, saying %q", tc.port, last, lastErr)
		} else {
			inWindow(t, "recovery event of "+tc.port, last.At, before, after)
		}
	}
	if a := get(t, b, m3.ID).Attempts[0]; a.Number != 1 || a.Error != "first try failed" {
		t.Errorf("Recover changed the attempt made before: %+v", a)
	}
	if d := deliveryTo(t, b, m1.ID, "b"); d.State != msgbox.DeliveryRetrying || d.Attempts != 1 {
		t.Errorf("Recover changed a retrying delivery: %+v", d)
	}
	if d := deliveryTo(t, b, m2.ID, "c"); d.State != msgbox.DeliveryInProgress || d.LeaseOwner != "srv2" || d.Attempts != 0 {
		t.Errorf("Recover changed another owner's delivery: %+v", d)
	}
	if d := deliveryTo(t, b, m5.ID, "g"); d.State != msgbox.DeliveryInProgress || d.LeaseOwner != "srv10" ||
		d.ID != lookalike.ID || d.Attempts != 0 {
		t.Errorf("Recover(srv1) changed srv10's delivery: %+v", d)
	}
	for _, m := range []msgbox.Message{m2, m5} {
		for _, a := range get(t, b, m.ID).Attempts {
			if a.Owner != "srv1" && a.Owner != "srv1/w2" {
				t.Errorf("Recover(srv1) recorded an attempt of %s: %+v", a.Owner, a)
			}
		}
	}
	// A second Recover finds nothing in progress: nothing is counted twice.
	if n, err := b.Recover(ctx, "srv1"); err != nil || n != 0 {
		t.Errorf("second Recover(srv1) = %d, %v; want 0", n, err)
	}
	if d := deliveryTo(t, b, m3.ID, "d"); d.Attempts != 2 || len(get(t, b, m3.ID).Attempts) != 2 {
		t.Errorf("after a second Recover: %+v, want still 2 attempts", d)
	}
	wantErr(t, "Finish by a recovered worker", b.Finish(ctx, worker.ID, "srv1/w2", delivered), msgbox.ErrLeaseLost)
	wantErr(t, "Finish of a recovered delivery", b.Finish(ctx, live.ID, "srv1", delivered), msgbox.ErrLeaseLost)
	wantErr(t, "Renew of a recovered delivery", msgbox.RenewOne(ctx, b, retried.ID, "srv1", longLease), msgbox.ErrLeaseLost)
	if d := claim(t, b, "srv1", longLease, "a"); d.ID != live.ID || d.Attempts != 1 ||
		d.LastError != msgbox.InterruptedError("srv1") {
		t.Errorf("claim after Recover = %+v, want the recovered %d with its interrupted attempt counted", d, live.ID)
	}
	if n, err := b.Recover(ctx, "nobody"); err != nil || n != 0 {
		t.Errorf("Recover(nobody) = %d, %v; want 0", n, err)
	}
	finish(t, b, other, delivered)

	// A server name beyond ASCII: its workers' names start with its bytes.
	routed(t, b, "unicode", "u")
	claim(t, b, "sérvér-ü/w0", longLease, "u")
	if n, err := b.Recover(ctx, "sérvér-ü"); err != nil || n != 1 {
		t.Errorf("Recover(sérvér-ü) = %d, %v; want the delivery its worker held", n, err)
	}
}

func testRenew(t *testing.T, b msgbox.Box) {
	ctx := t.Context()
	m := routed(t, b, "renew", "a")
	d := claim(t, b, "w1", shortLease, "a")
	before := now()
	if err := msgbox.RenewOne(ctx, b, d.ID, "w1", longLease); err != nil {
		t.Fatalf("Renew: %v", err)
	}
	after := now()
	got := deliveryTo(t, b, m.ID, "a")
	inWindow(t, "LeaseUntil after Renew", got.LeaseUntil, before.Add(longLease), after.Add(longLease))
	if got.LeaseOwner != "w1" || got.State != msgbox.DeliveryInProgress {
		t.Errorf("after Renew: %+v", got)
	}
	sleepPast(d.LeaseUntil) // the original lease is over; the renewed one is not
	claimNone(t, b, "w2", "a")

	wantErr(t, "Renew by another owner", msgbox.RenewOne(ctx, b, d.ID, "w2", longLease), msgbox.ErrLeaseLost)
	wantErr(t, "Renew of an unknown delivery", msgbox.RenewOne(ctx, b, d.ID+1_000_000, "w1", longLease), msgbox.ErrLeaseLost)
	finish(t, b, &msgbox.Delivery{ID: d.ID, LeaseOwner: "w1"}, delivered)
	wantErr(t, "Renew after Finish", msgbox.RenewOne(ctx, b, d.ID, "w1", longLease), msgbox.ErrLeaseLost)
}

func testFinishDelivered(t *testing.T, b msgbox.Box) {
	ctx := t.Context()
	m := routed(t, b, "ok", "a")
	claimedAt := now()
	d := claim(t, b, "w1", longLease, "a")
	finish(t, b, d, delivered)
	finished := now()

	got := get(t, b, m.ID)
	if got.Message.Status != msgbox.StatusDelivered || got.Message.Reason != "" {
		t.Errorf("status %q reason %q, want delivered", got.Message.Status, got.Message.Reason)
	}
	dl := got.Deliveries[0]
	if dl.State != msgbox.DeliveryDelivered || dl.Attempts != 1 || dl.LeaseOwner != "" || dl.LastError != "" {
		t.Errorf("delivery = %+v, want delivered after 1 attempt, no lease", dl)
	}
	if len(got.Attempts) != 1 {
		t.Fatalf("attempts = %+v, want 1", got.Attempts)
	}
	a := got.Attempts[0]
	if a.DeliveryID != d.ID || a.Port != "a" || a.Number != 1 || a.Owner != "w1" || a.Outcome != msgbox.DeliveryDelivered ||
		a.Error != "" {
		t.Errorf("attempt = %+v", a)
	}
	inWindow(t, "attempt StartedAt", a.StartedAt, claimedAt, finished)
	inWindow(t, "attempt FinishedAt", a.FinishedAt, a.StartedAt, finished)
	if last := got.History[len(got.History)-1]; last.Port != "a" || last.Status != string(msgbox.DeliveryDelivered) {
		t.Errorf("last event = %+v, want a:delivered", last)
	}

	wantErr(t, "second Finish", b.Finish(ctx, d.ID, "w1", delivered), msgbox.ErrLeaseLost)
	claimNone(t, b, "w2", "a")
	if _, ok, err := b.NextDue(ctx, []string{"a"}); err != nil || ok {
		t.Errorf("NextDue after delivery: ok=%v err=%v, want nothing waiting", ok, err)
	}
}

func testFinishRetrying(t *testing.T, b msgbox.Box) {
	ctx := t.Context()
	m := routed(t, b, "flaky", "a")
	d := claim(t, b, "w1", longLease, "a")
	retryAt := time.Now().Add(time.Hour)
	finish(t, b, d, retrying(retryAt, "connection refused"))

	dl := deliveryTo(t, b, m.ID, "a")
	if dl.State != msgbox.DeliveryRetrying || dl.Attempts != 1 || dl.LastError != "connection refused" ||
		!dl.NextAttemptAt.Equal(msgbox.Timestamp(retryAt)) || dl.LeaseOwner != "" {
		t.Errorf("delivery = %+v, want retrying at %s after 1 attempt", dl, msgbox.Timestamp(retryAt))
	}
	wantStatus(t, b, m.ID, msgbox.StatusRetrying)
	claimNone(t, b, "w2", "a")
	at, ok, err := b.NextDue(ctx, []string{"a"})
	if err != nil || !ok || !at.Equal(msgbox.Timestamp(retryAt)) {
		t.Errorf("NextDue = %s, %v, %v; want %s", at, ok, err, msgbox.Timestamp(retryAt))
	}

	// Not a moment before it is due, however near (30s: a margin no test
	// machine stalls for between two calls).
	m3 := routed(t, b, "flaky3", "c")
	finish(t, b, claim(t, b, "w1", longLease, "c"), retrying(time.Now().Add(30*time.Second), "busy"))
	claimNone(t, b, "w2", "c")
	wantStatus(t, b, m3.ID, msgbox.StatusRetrying)

	// A retry due soon becomes claimable once due.
	m2 := routed(t, b, "flaky2", "b")
	d2 := claim(t, b, "w1", longLease, "b")
	soon := time.Now().Add(shortLease)
	finish(t, b, d2, retrying(soon, "timeout"))
	sleepPast(soon)
	again := claim(t, b, "w2", longLease, "b")
	if again.ID != d2.ID || again.Attempts != 1 {
		t.Errorf("retry claim = delivery %d with %d attempts, want %d with 1", again.ID, again.Attempts, d2.ID)
	}
	wantStatus(t, b, m2.ID, msgbox.StatusRouted) // in progress again: not waiting
	finish(t, b, again, delivered)
	got := get(t, b, m2.ID)
	if got.Message.Status != msgbox.StatusDelivered || got.Deliveries[0].Attempts != 2 || len(got.Attempts) != 2 {
		t.Fatalf("after the retry: status %q, delivery %+v, attempts %+v", got.Message.Status, got.Deliveries[0], got.Attempts)
	}
	if a := got.Attempts[0]; a.Number != 1 || a.Outcome != msgbox.DeliveryRetrying || a.Error != "timeout" || a.Owner != "w1" {
		t.Errorf("first attempt = %+v", a)
	}
	if a := got.Attempts[1]; a.Number != 2 || a.Outcome != msgbox.DeliveryDelivered || a.Owner != "w2" {
		t.Errorf("second attempt = %+v", a)
	}
}

func testFinishSuspended(t *testing.T, b msgbox.Box) {
	ctx := t.Context()
	m := routed(t, b, "bad", "fabrikam")
	d := claim(t, b, "w1", longLease, "fabrikam")
	finish(t, b, d, suspended("certificate 4A7B expired"))
	got := get(t, b, m.ID)
	if got.Message.Status != msgbox.StatusSuspended {
		t.Errorf("status = %q, want suspended", got.Message.Status)
	}
	if want := msgbox.SuspendedReason("fabrikam", "certificate 4A7B expired"); got.Message.Reason != want {
		t.Errorf("reason = %q, want %q", got.Message.Reason, want)
	}
	dl := got.Deliveries[0]
	if dl.State != msgbox.DeliverySuspended || dl.Attempts != 1 || dl.LastError != "certificate 4A7B expired" {
		t.Errorf("delivery = %+v", dl)
	}
	if a := got.Attempts[0]; a.Outcome != msgbox.DeliverySuspended || a.Error != "certificate 4A7B expired" {
		t.Errorf("attempt = %+v", a)
	}
	claimNone(t, b, "w2", "fabrikam")
	if _, ok, err := b.NextDue(ctx, []string{"fabrikam"}); err != nil || ok {
		t.Errorf("NextDue with only a suspended delivery: ok=%v err=%v, want nothing waiting", ok, err)
	}
}

func testFinishInvalid(t *testing.T, b msgbox.Box) {
	ctx := t.Context()
	m := routed(t, b, "x", "a")
	d := claim(t, b, "w1", longLease, "a")
	wantErr(t, "Finish by another owner", b.Finish(ctx, d.ID, "w2", delivered), msgbox.ErrLeaseLost)
	wantErr(t, "Finish of an unknown delivery", b.Finish(ctx, d.ID+1_000_000, "w1", delivered), msgbox.ErrLeaseLost)
	for _, o := range []msgbox.Outcome{
		{State: msgbox.DeliveryPending},
		{State: msgbox.DeliveryInProgress},
		{State: msgbox.DeliveryTerminated},
		{State: ""},
		{State: msgbox.DeliveryRetrying, Error: "no RetryAt"},
	} {
		wantErr(t, fmt.Sprintf("Finish(%+v)", o), b.Finish(ctx, d.ID, "w1", o), msgbox.ErrInvalidOutcome)
	}
	got := get(t, b, m.ID)
	if dl := got.Deliveries[0]; dl.State != msgbox.DeliveryInProgress || dl.LeaseOwner != "w1" || dl.Attempts != 0 ||
		len(got.Attempts) != 0 {
		t.Errorf("after rejected Finishes: delivery %+v, attempts %+v; want unchanged", dl, got.Attempts)
	}
	finish(t, b, d, delivered)
	wantStatus(t, b, m.ID, msgbox.StatusDelivered)
}

func testNextDue(t *testing.T, b msgbox.Box) {
	ctx := t.Context()
	if _, ok, err := b.NextDue(ctx, []string{"a"}); err != nil || ok {
		t.Errorf("NextDue on an empty box: ok=%v err=%v", ok, err)
	}
	m := routed(t, b, "x", "a")
	if _, ok, err := b.NextDue(ctx, nil); err != nil || ok {
		t.Errorf("NextDue(no ports): ok=%v err=%v", ok, err)
	}
	if _, ok, err := b.NextDue(ctx, []string{"other"}); err != nil || ok {
		t.Errorf("NextDue(other port): ok=%v err=%v", ok, err)
	}
	pending := deliveryTo(t, b, m.ID, "a")
	at, ok, err := b.NextDue(ctx, []string{"other", "a"})
	if err != nil || !ok || !at.Equal(pending.NextAttemptAt) {
		t.Errorf("NextDue with a pending delivery = %s, %v, %v; want its NextAttemptAt %s", at, ok, err, pending.NextAttemptAt)
	}
	d := claim(t, b, "w1", longLease, "a")
	at, ok, err = b.NextDue(ctx, []string{"a"})
	if err != nil || !ok || !at.Equal(d.LeaseUntil) {
		t.Errorf("NextDue with a leased delivery = %s, %v, %v; want its lease expiry %s", at, ok, err, d.LeaseUntil)
	}
	// The earliest of several.
	routed(t, b, "y", "b")
	later := time.Now().Add(2 * time.Hour)
	earlier := time.Now().Add(time.Hour)
	finish(t, b, d, retrying(later, "x"))
	db := claim(t, b, "w1", longLease, "b")
	finish(t, b, db, retrying(earlier, "y"))
	at, ok, err = b.NextDue(ctx, []string{"a", "b"})
	if err != nil || !ok || !at.Equal(msgbox.Timestamp(earlier)) {
		t.Errorf("NextDue = %s, %v, %v; want the earlier retry %s", at, ok, err, msgbox.Timestamp(earlier))
	}
	at, ok, err = b.NextDue(ctx, []string{"a"})
	if err != nil || !ok || !at.Equal(msgbox.Timestamp(later)) {
		t.Errorf("NextDue(a) = %s, %v, %v; want %s", at, ok, err, msgbox.Timestamp(later))
	}
}

// action is what testStatusDerivation does to one delivery.
type action int

const (
	leave      action = iota // pending
	inProgress               // claimed, lease held
	deliver
	retry
	suspend
	retryThenClaim // failed once, in progress again
)

func testStatusDerivation(t *testing.T, b msgbox.Box) {
	tests := []struct {
		name string
		a, c action // what happens to the deliveries to ports a and c
		want msgbox.Status
	}{
		{"both pending", leave, leave, msgbox.StatusRouted},
		{"in progress + pending", inProgress, leave, msgbox.StatusRouted},
		{"delivered + pending", deliver, leave, msgbox.StatusRouted},
		{"delivered + in progress", deliver, inProgress, msgbox.StatusRouted},
		{"delivered + retrying", deliver, retry, msgbox.StatusRetrying},
		{"in progress + retrying", inProgress, retry, msgbox.StatusRetrying},
		{"retrying + retrying", retry, retry, msgbox.StatusRetrying},
		{"delivered + retried, in progress again", deliver, retryThenClaim, msgbox.StatusRouted},
		{"all delivered", deliver, deliver, msgbox.StatusDelivered},
		{"delivered + suspended", deliver, suspend, msgbox.StatusSuspended},
		{"retrying + suspended", retry, suspend, msgbox.StatusSuspended},
		{"suspended + pending", suspend, leave, msgbox.StatusSuspended},
		{"suspended + suspended", suspend, suspend, msgbox.StatusSuspended},
	}
	for i, tc := range tests {
		// Ports are unique per case, so that claims find this case's
		// deliveries only.
		pa, pc := fmt.Sprintf("a%d", i), fmt.Sprintf("c%d", i)
		m := routed(t, b, tc.name, pa, pc)
		for _, step := range []struct {
			port string
			act  action
		}{{pa, tc.a}, {pc, tc.c}} {
			if step.act == leave {
				continue
			}
			d := claim(t, b, "w", longLease, step.port)
			switch step.act {
			case deliver:
				finish(t, b, d, delivered)
			case retry:
				finish(t, b, d, retrying(time.Now().Add(time.Hour), "e"))
			case suspend:
				finish(t, b, d, suspended("e"))
			case retryThenClaim:
				finish(t, b, d, retrying(time.Now(), "e"))
				claim(t, b, "w", longLease, step.port)
			}
		}
		if got := status(t, b, m.ID); got != tc.want {
			t.Errorf("%s: status = %q, want %q", tc.name, got, tc.want)
		}
		listed, err := msgbox.Collect(t.Context(), b, msgbox.Filter{Status: tc.want})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, l := range listed {
			found = found || l.ID == m.ID
			if l.Status != tc.want {
				t.Errorf("List(%s) returned a message in status %q", tc.want, l.Status)
			}
		}
		if !found {
			t.Errorf("%s: List(%s) does not include the message", tc.name, tc.want)
		}
	}
}

func testBacklog(t *testing.T, b msgbox.Box) {
	ctx := t.Context()
	check := func(when string, want map[msgbox.Status]int) {
		t.Helper()
		got, err := b.Backlog(ctx)
		if err != nil {
			t.Fatalf("Backlog %s: %v", when, err)
		}
		if !maps.Equal(got, want) {
			t.Errorf("Backlog %s = %v, want %v", when, got, want)
		}
	}
	zero := map[msgbox.Status]int{}
	for _, st := range msgbox.BacklogStatuses() {
		zero[st] = 0
	}
	check("of an empty box", zero)

	receive(t, b, inc("received"), "x")
	receive(t, b, inc("received2"), "x")
	routed(t, b, "routed", "a")
	routed(t, b, "delivered", "b")
	finish(t, b, claim(t, b, "w", longLease, "b"), delivered)
	sp := routed(t, b, "suspended", "c")
	finish(t, b, claim(t, b, "w", longLease, "c"), suspended("e"))
	routed(t, b, "retrying", "d")
	finish(t, b, claim(t, b, "w", longLease, "d"), retrying(time.Now().Add(time.Hour), "e"))
	tm := routed(t, b, "terminated", "e")
	if err := b.Terminate(ctx, tm.ID); err != nil {
		t.Fatal(err)
	}
	rf := receive(t, b, inc("routing failure"), "x")
	if err := b.Route(ctx, rf.ID, nil, ""); err != nil {
		t.Fatal(err)
	}
	// Delivered and terminated messages are finished: not counted.
	check("with one message in each status", map[msgbox.Status]int{
		msgbox.StatusReceived: 2, msgbox.StatusRouted: 1, msgbox.StatusRetrying: 1, msgbox.StatusSuspended: 2})

	for _, id := range []string{sp.ID, rf.ID} {
		if err := b.Terminate(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	check("after terminating the suspended ones", map[msgbox.Status]int{
		msgbox.StatusReceived: 2, msgbox.StatusRouted: 1, msgbox.StatusRetrying: 1, msgbox.StatusSuspended: 0})
}

// testListStops: List hands the messages on one at a time, newest first,
// and an error from the callback stops the listing and is returned as it
// is, not wrapped as the box's, nor retried.
func testListStops(t *testing.T, b msgbox.Box) {
	var ids []string
	for _, name := range []string{"a", "b", "c"} {
		ids = append(ids, receive(t, b, inc(name), "x").ID)
	}
	stop := errors.New("stop here")
	var got []string
	err := b.List(t.Context(), msgbox.Filter{}, func(m msgbox.Message) error {
		got = append(got, m.ID)
		if len(got) == 2 {
			return stop
		}
		return nil
	})
	if err != stop {
		t.Errorf("List = %v, want the callback's error as it is", err)
	}
	if want := []string{ids[2], ids[1]}; !slices.Equal(got, want) {
		t.Errorf("List handed on %v, want %v", got, want)
	}
}

func testList(t *testing.T, b msgbox.Box) {
	ctx := t.Context()
	r := receive(t, b, inc("received"), "x")
	rt := routed(t, b, "routed", "a")
	dv := routed(t, b, "delivered", "b")
	finish(t, b, claim(t, b, "w", longLease, "b"), delivered)
	sleepPast(now().Add(time.Millisecond))
	mid := now() // dv and the earlier ones were received before it, the rest at or after
	sp := routed(t, b, "suspended", "c")
	finish(t, b, claim(t, b, "w", longLease, "c"), suspended("e"))
	ry := routed(t, b, "retrying", "d")
	finish(t, b, claim(t, b, "w", longLease, "d"), retrying(time.Now().Add(time.Hour), "e"))
	tm := routed(t, b, "terminated", "e")
	if err := b.Terminate(ctx, tm.ID); err != nil {
		t.Fatal(err)
	}
	r2 := receive(t, b, inc("received2"), "x")
	signedIn := inc("signed")
	signedIn.ReceiveLocation, signedIn.Party, signedIn.Decoding = "as2_in", "contoso", msgbox.Decoded
	pt := receive(t, b, signedIn, "x")
	newestFirst := []string{pt.ID, r2.ID, tm.ID, ry.ID, sp.ID, dv.ID, rt.ID, r.ID}

	tests := []struct {
		f    msgbox.Filter
		want []string
	}{
		{msgbox.Filter{}, newestFirst},
		{msgbox.Filter{Limit: 3}, newestFirst[:3]},
		{msgbox.Filter{Limit: -1}, newestFirst},
		{msgbox.Filter{Status: msgbox.StatusReceived}, []string{pt.ID, r2.ID, r.ID}},
		{msgbox.Filter{Status: msgbox.StatusReceived, Limit: 1}, []string{pt.ID}},
		// Narrowed by location, party, send port and time, with a status
		// or not; a name that matches nothing gives nothing.
		{msgbox.Filter{Location: "as2_in"}, []string{pt.ID}},
		{msgbox.Filter{Location: "orders_in", Limit: 2}, []string{r2.ID, tm.ID}},
		{msgbox.Filter{Location: "orders_in", Status: msgbox.StatusReceived}, []string{r2.ID, r.ID}},
		{msgbox.Filter{Location: "nosuch"}, nil},
		{msgbox.Filter{Location: "\xff\xfe", Party: "\x00", Port: "\xff"}, nil}, // cleaned as stored names are, not an error
		{msgbox.Filter{Party: "contoso"}, []string{pt.ID}},
		{msgbox.Filter{Port: "c"}, []string{sp.ID}},
		{msgbox.Filter{Port: "c", Status: msgbox.StatusSuspended}, []string{sp.ID}},
		{msgbox.Filter{Port: "b", Status: msgbox.StatusSuspended}, nil},
		{msgbox.Filter{Since: mid}, []string{pt.ID, r2.ID, tm.ID, ry.ID, sp.ID}},
		{msgbox.Filter{Since: mid, Status: msgbox.StatusReceived, Location: "orders_in", Limit: 5}, []string{r2.ID}},
		{msgbox.Filter{Status: msgbox.StatusRouted}, []string{rt.ID}},
		{msgbox.Filter{Status: msgbox.StatusDelivered}, []string{dv.ID}},
		{msgbox.Filter{Status: msgbox.StatusSuspended}, []string{sp.ID}},
		{msgbox.Filter{Status: msgbox.StatusRetrying}, []string{ry.ID}},
		{msgbox.Filter{Status: msgbox.StatusTerminated}, []string{tm.ID}},
	}
	for _, tc := range tests {
		got, err := msgbox.Collect(ctx, b, tc.f)
		if err != nil {
			t.Fatalf("List(%+v): %v", tc.f, err)
		}
		var ids []string
		for _, m := range got {
			ids = append(ids, m.ID)
			if m.ID == r.ID {
				sameMessage(t, "List", m, r)
			}
		}
		if strings.Join(ids, " ") != strings.Join(tc.want, " ") {
			t.Errorf("List(%+v) = %v, want %v", tc.f, ids, tc.want)
		}
	}
	if _, err := msgbox.Collect(ctx, b, msgbox.Filter{Status: "lost"}); err == nil {
		t.Errorf("List with an unknown status succeeded")
	}
}

// testNotFound: an unknown or malformed id is ErrNotFound, and the error
// names the id once (`messages show` printed "get ID: ID: message not
// found").
func testNotFound(t *testing.T, b msgbox.Box) {
	ctx := t.Context()
	receive(t, b, inc("exists"), "x")
	for _, id := range []string{msgbox.NewID(time.Now(), crand.Reader), "not-an-id", ""} {
		check := func(what string, err error) {
			t.Helper()
			what = fmt.Sprintf("%s(%q)", what, id)
			wantErr(t, what, err, msgbox.ErrNotFound)
			if id != "" && err != nil && strings.Count(err.Error(), id) != 1 {
				t.Errorf("%s: %q names the id %d times; want once", what, err, strings.Count(err.Error(), id))
			}
		}
		_, err := b.Get(ctx, id)
		check("Get", err)
		_, err = b.Message(ctx, id)
		check("Message", err)
		_, err = b.Body(ctx, id)
		check("Body", err)
		check("Route", b.Route(ctx, id, []string{"a"}, ""))
		check("Resume", b.Resume(ctx, id))
		check("Terminate", b.Terminate(ctx, id))
	}
}

// testPurge: Purge deletes delivered and terminated messages untouched
// since the cutoff, with their bodies and records, and nothing else;
// Purgeable counts them and deletes nothing.
func testPurge(t *testing.T, b msgbox.Box) {
	ctx := t.Context()
	delivered := routed(t, b, "delivered.xml", "fabrikam")
	finish(t, b, claim(t, b, "w1", longLease, "fabrikam"), msgbox.Outcome{State: msgbox.DeliveryDelivered})
	terminated := routed(t, b, "terminated.xml", "tailspin")
	if err := b.Terminate(ctx, terminated.ID); err != nil {
		t.Fatal(err)
	}
	suspendedMsg := routed(t, b, "suspended.xml", "contoso")
	finish(t, b, claim(t, b, "w1", longLease, "contoso"), suspended("partner down"))
	pending := routed(t, b, "pending.xml", "northwind")
	unrouted := receive(t, b, inc("unrouted.xml"), "x")

	// A cutoff before the activity purges nothing.
	if n, err := b.Purgeable(ctx, now().Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("Purgeable(an hour ago) = %d, %v; want 0: everything is newer", n, err)
	}
	if n, err := b.Purge(ctx, now().Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("Purge(an hour ago) = %d, %v; want 0: everything is newer", n, err)
	}
	sleepPast(now().Add(time.Millisecond))
	// Counting deletes nothing, and counts what Purge then deletes.
	for range 2 {
		if n, err := b.Purgeable(ctx, now()); err != nil || n != 2 {
			t.Fatalf("Purgeable(now) = %d, %v; want the delivered and the terminated message", n, err)
		}
	}
	n, err := b.Purge(ctx, now())
	if err != nil || n != 2 {
		t.Fatalf("Purge(now) = %d, %v; want the delivered and the terminated message", n, err)
	}
	for _, id := range []string{delivered.ID, terminated.ID} {
		if _, err := b.Get(ctx, id); !errors.Is(err, msgbox.ErrNotFound) {
			t.Errorf("Get of purged %s: %v, want ErrNotFound", id, err)
		}
		if _, err := b.Body(ctx, id); !errors.Is(err, msgbox.ErrNotFound) {
			t.Errorf("Body of purged %s: %v, want ErrNotFound", id, err)
		}
	}
	for _, m := range []msgbox.Message{suspendedMsg, pending, unrouted} {
		if got := readBody(t, b, m.ID); len(got) == 0 {
			t.Errorf("%s lost its body", m.FileName)
		}
	}
	wantStatus(t, b, suspendedMsg.ID, msgbox.StatusSuspended)
	wantStatus(t, b, pending.ID, msgbox.StatusRouted)
	if n, err := b.Purgeable(ctx, now()); err != nil || n != 0 {
		t.Errorf("Purgeable after Purge = %d, %v; want 0", n, err)
	}
	if n, err := b.Purge(ctx, now()); err != nil || n != 0 {
		t.Errorf("second Purge = %d, %v; want 0", n, err)
	}
	// What remains still works: the pending delivery is claimed and done.
	d := claim(t, b, "w2", longLease, "northwind")
	finish(t, b, d, msgbox.Outcome{State: msgbox.DeliveryDelivered})
	if msgs, err := msgbox.Collect(ctx, b, msgbox.Filter{}); err != nil || len(msgs) != 3 {
		t.Errorf("List after purge = %d messages, %v; want 3", len(msgs), err)
	}
}

// testDeliveryStates: the states of the deliveries asked for, as they
// change; unknown ids are absent.
func testDeliveryStates(t *testing.T, b msgbox.Box) {
	m := routed(t, b, "s.xml", "fabrikam", "tailspin")
	d := claim(t, b, "w1", longLease, "fabrikam")
	finish(t, b, d, msgbox.Outcome{State: msgbox.DeliveryDelivered})
	other := deliveryTo(t, b, m.ID, "tailspin")
	got, err := b.DeliveryStates(t.Context(), []int64{d.ID, other.ID, 987654321})
	if err != nil {
		t.Fatal(err)
	}
	want := map[int64]msgbox.DeliveryState{d.ID: msgbox.DeliveryDelivered, other.ID: msgbox.DeliveryPending}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("DeliveryStates = %v, want %v", got, want)
	}
	if got, err := b.DeliveryStates(t.Context(), nil); err != nil || len(got) != 0 {
		t.Errorf("DeliveryStates(nil) = %v, %v; want empty", got, err)
	}
}

// testID: a box has a non-empty identity that does not change; a second
// box (open returns a new, empty one) has another.
func testID(t *testing.T, b msgbox.Box) {
	id := b.ID()
	if id == "" || b.ID() != id {
		t.Fatalf("ID = %q then %q, want one non-empty identity", id, b.ID())
	}
	if strings.Trim(id, "abcdefghijklmnopqrstuvwxyz0123456789") != "" || len(id) > 32 {
		t.Errorf("ID %q: want lower-case letters and digits, at most 32 (it names files)", id)
	}
	receive(t, b, inc("x"), "x")
	if b.ID() != id {
		t.Errorf("ID changed to %q after a write", b.ID())
	}
}

// testMessage: Message returns what Get returns as the message, as its
// status changes.
func testMessage(t *testing.T, b msgbox.Box) {
	m := routed(t, b, "m.xml", "fabrikam")
	check := func(when string) {
		t.Helper()
		got, err := b.Message(t.Context(), m.ID)
		if err != nil {
			t.Fatalf("Message %s: %v", when, err)
		}
		sameMessage(t, "Message "+when, got, get(t, b, m.ID).Message)
	}
	check("after routing")
	d := claim(t, b, "w1", longLease, "fabrikam")
	finish(t, b, d, suspended("partner down"))
	check("after suspension")
	if got, _ := b.Message(t.Context(), m.ID); got.Status != msgbox.StatusSuspended || got.Reason == "" {
		t.Errorf("Message after suspension = %+v, want suspended with a reason", got)
	}
}

func testResume(t *testing.T, b msgbox.Box) {
	ctx := t.Context()
	m := routed(t, b, "resume", "a", "b", "c")
	finish(t, b, claim(t, b, "w", longLease, "a"), suspended("partner down"))
	finish(t, b, claim(t, b, "w", longLease, "b"), delivered)
	finish(t, b, claim(t, b, "w", longLease, "c"), retrying(time.Now().Add(time.Hour), "slow"))
	wantStatus(t, b, m.ID, msgbox.StatusSuspended)

	before := now()
	if err := b.Resume(ctx, m.ID); err != nil {
		t.Fatalf("Resume: %v", err)
	}
	after := now()
	got := get(t, b, m.ID)
	if got.Message.Status != msgbox.StatusRetrying || got.Message.Reason != "" {
		t.Errorf("after Resume: status %q reason %q, want retrying (c still waits), no reason", got.Message.Status, got.Message.Reason)
	}
	byPort := map[string]msgbox.Delivery{}
	for _, d := range got.Deliveries {
		byPort[d.Port] = d
	}
	if a := byPort["a"]; a.State != msgbox.DeliveryPending || a.Attempts != 0 || a.LeaseOwner != "" {
		t.Errorf("resumed delivery = %+v, want pending with attempts reset", a)
	} else {
		inWindow(t, "resumed NextAttemptAt", a.NextAttemptAt, before, after)
	}
	if b := byPort["b"]; b.State != msgbox.DeliveryDelivered || b.Attempts != 1 {
		t.Errorf("delivered delivery changed by Resume: %+v", b)
	}
	if c := byPort["c"]; c.State != msgbox.DeliveryRetrying || c.Attempts != 1 {
		t.Errorf("retrying delivery changed by Resume: %+v", c)
	}
	if n := len(got.Attempts); n != 3 {
		t.Errorf("Resume changed the attempt records: %d, want 3", n)
	}
	if last := got.History[len(got.History)-1]; last.Port != "a" || last.Status != string(msgbox.DeliveryPending) {
		t.Errorf("last event = %+v, want a:pending (resumed)", last)
	}
	wantErr(t, "Resume of a message no longer suspended", b.Resume(ctx, m.ID), msgbox.ErrInvalidState)

	d := claim(t, b, "w2", longLease, "a")
	if d.Port != "a" || d.MessageID != m.ID || d.Attempts != 0 {
		t.Errorf("claim after Resume = %+v", d)
	}
	finish(t, b, d, delivered)
	if a := deliveryTo(t, b, m.ID, "a"); a.Attempts != 1 || a.State != msgbox.DeliveryDelivered {
		t.Errorf("after the resumed attempt: %+v, want delivered, 1 attempt", a)
	}

	// Statuses Resume does not apply to.
	rec := receive(t, b, inc("received"), "x")
	wantErr(t, "Resume of a received message", b.Resume(ctx, rec.ID), msgbox.ErrInvalidState)
	rt := routed(t, b, "routed", "x")
	wantErr(t, "Resume of a routed message", b.Resume(ctx, rt.ID), msgbox.ErrInvalidState)
	dv := routed(t, b, "delivered", "y")
	finish(t, b, claim(t, b, "w", longLease, "y"), delivered)
	wantErr(t, "Resume of a delivered message", b.Resume(ctx, dv.ID), msgbox.ErrInvalidState)
	wantErr(t, "Resume of a retrying message", b.Resume(ctx, m.ID), msgbox.ErrInvalidState)
	wantStatus(t, b, m.ID, msgbox.StatusRetrying)
}

// testResumeDecodingFailed: a message its receive pipeline refused was
// never authenticated, so Resume refuses it (ErrInvalidState, saying why)
// and changes nothing: it stays suspended with its reason and history, and
// is not offered for routing again.
func testResumeDecodingFailed(t *testing.T, b msgbox.Box) {
	ctx := t.Context()
	in := inc("refused.p7m")
	in.Decoding = msgbox.DecodingFailed
	m := receive(t, b, in, "not S/MIME")
	if err := b.Route(ctx, m.ID, nil, "decoding failed: no signature"); err != nil {
		t.Fatal(err)
	}
	before := get(t, b, m.ID)
	err := b.Resume(ctx, m.ID)
	wantErr(t, "Resume of a message that failed decoding", err, msgbox.ErrInvalidState)
	if err != nil && (!strings.Contains(err.Error(), "receive pipeline refused it") || !strings.Contains(err.Error(), "decoding failed: no signature")) {
		t.Errorf("Resume error %q does not say why (the refusal and its reason)", err)
	}
	after := get(t, b, m.ID)
	if after.Message.Status != msgbox.StatusSuspended || after.Message.Reason != before.Message.Reason {
		t.Errorf("after the refused Resume: status %q reason %q, want suspended, %q", after.Message.Status, after.Message.Reason, before.Message.Reason)
	}
	if len(after.History) != len(before.History) {
		t.Errorf("the refused Resume added history: %v", historyStatuses(after))
	}
	if u, err := b.Unrouted(ctx, 0); err != nil || len(u) != 0 {
		t.Errorf("Unrouted = %v, %v; want none", u, err)
	}
}

func testResumeRoutingFailure(t *testing.T, b msgbox.Box) {
	ctx := t.Context()
	m := receive(t, b, inc("orphan"), "x")
	if err := b.Route(ctx, m.ID, nil, "nobody subscribes"); err != nil {
		t.Fatal(err)
	}
	if err := b.Resume(ctx, m.ID); err != nil {
		t.Fatalf("Resume of a routing failure: %v", err)
	}
	got := get(t, b, m.ID)
	if got.Message.Status != msgbox.StatusReceived || got.Message.Reason != "" {
		t.Errorf("after Resume: status %q reason %q, want received", got.Message.Status, got.Message.Reason)
	}
	u, err := b.Unrouted(ctx, 0)
	if err != nil || len(u) != 1 || u[0].ID != m.ID {
		t.Errorf("Unrouted = %v, %v; want the resumed message", u, err)
	}
	if err := b.Route(ctx, m.ID, []string{"new_port"}, ""); err != nil {
		t.Fatalf("Route after Resume: %v", err)
	}
	wantStatus(t, b, m.ID, msgbox.StatusRouted)
	claim(t, b, "w", longLease, "new_port")
}

func testTerminate(t *testing.T, b msgbox.Box) {
	ctx := t.Context()
	tests := []struct {
		name  string
		setup func(t *testing.T) msgbox.Message
		ports []string // ports a claim must not find work on afterwards
		kept  int      // deliveries that stay delivered
	}{
		{"received", func(t *testing.T) msgbox.Message { return receive(t, b, inc("r"), "x") }, nil, 0},
		{"routed", func(t *testing.T) msgbox.Message { return routed(t, b, "p", "p1", "p2") }, []string{"p1", "p2"}, 0},
		{"routing failure", func(t *testing.T) msgbox.Message {
			m := receive(t, b, inc("f"), "x")
			if err := b.Route(ctx, m.ID, nil, "nobody"); err != nil {
				t.Fatal(err)
			}
			return m
		}, nil, 0},
		{"suspended", func(t *testing.T) msgbox.Message {
			m := routed(t, b, "s", "s1", "s2")
			finish(t, b, claim(t, b, "w", longLease, "s1"), suspended("bad certificate"))
			finish(t, b, claim(t, b, "w", longLease, "s2"), delivered)
			return m
		}, []string{"s1", "s2"}, 1},
		{"retrying soon", func(t *testing.T) msgbox.Message {
			m := routed(t, b, "t", "t1")
			finish(t, b, claim(t, b, "w", longLease, "t1"), retrying(time.Now().Add(shortLease), "e"))
			return m
		}, []string{"t1"}, 0},
		{"expired lease", func(t *testing.T) msgbox.Message {
			m := routed(t, b, "e", "e1")
			d := claim(t, b, "gone", shortLease, "e1")
			sleepPast(d.LeaseUntil)
			return m
		}, []string{"e1"}, 0},
	}
	for _, tc := range tests {
		m := tc.setup(t)
		prevReason := get(t, b, m.ID).Message.Reason
		if err := b.Terminate(ctx, m.ID); err != nil {
			t.Fatalf("%s: Terminate: %v", tc.name, err)
		}
		got := get(t, b, m.ID)
		if got.Message.Status != msgbox.StatusTerminated {
			t.Errorf("%s: status = %q, want terminated", tc.name, got.Message.Status)
		}
		if want := msgbox.TerminatedReason(prevReason); got.Message.Reason != want {
			t.Errorf("%s: reason = %q, want %q", tc.name, got.Message.Reason, want)
		}
		kept := 0
		for _, d := range got.Deliveries {
			switch d.State {
			case msgbox.DeliveryDelivered:
				kept++
			case msgbox.DeliveryTerminated:
				if d.LeaseOwner != "" {
					t.Errorf("%s: terminated delivery keeps a lease: %+v", tc.name, d)
				}
			default:
				t.Errorf("%s: delivery to %s left %s", tc.name, d.Port, d.State)
			}
		}
		if kept != tc.kept {
			t.Errorf("%s: %d deliveries stayed delivered, want %d", tc.name, kept, tc.kept)
		}
		if last := got.History[len(got.History)-1]; last.Status != string(msgbox.StatusTerminated) {
			t.Errorf("%s: last event = %+v, want terminated", tc.name, last)
		}
		wantErr(t, tc.name+": Terminate again", b.Terminate(ctx, m.ID), msgbox.ErrInvalidState)
		wantErr(t, tc.name+": Resume", b.Resume(ctx, m.ID), msgbox.ErrInvalidState)
		wantErr(t, tc.name+": Route", b.Route(ctx, m.ID, []string{"z"}, ""), msgbox.ErrInvalidState)
		if len(tc.ports) > 0 {
			sleepPast(time.Now().Add(shortLease)) // past the retry and any lease
			claimNone(t, b, "w", tc.ports...)
			if _, ok, err := b.NextDue(ctx, tc.ports); err != nil || ok {
				t.Errorf("%s: NextDue: ok=%v err=%v, want nothing waiting", tc.name, ok, err)
			}
		}
		if u, err := b.Unrouted(ctx, 0); err != nil || len(u) != 0 {
			t.Errorf("%s: Unrouted = %v, %v; want none", tc.name, u, err)
		}
	}

	// The owner of the expired lease finds it gone.
	for _, m := range mustList(t, b, msgbox.StatusTerminated) {
		for _, d := range get(t, b, m.ID).Deliveries {
			if d.Port == "e1" {
				wantErr(t, "Finish after Terminate", b.Finish(ctx, d.ID, "gone", delivered), msgbox.ErrLeaseLost)
			}
		}
	}

	dv := routed(t, b, "done", "d1")
	finish(t, b, claim(t, b, "w", longLease, "d1"), delivered)
	wantErr(t, "Terminate of a delivered message", b.Terminate(ctx, dv.ID), msgbox.ErrInvalidState)
	wantStatus(t, b, dv.ID, msgbox.StatusDelivered)
}

func mustList(t *testing.T, b msgbox.Box, s msgbox.Status) []msgbox.Message {
	t.Helper()
	l, err := msgbox.Collect(t.Context(), b, msgbox.Filter{Status: s})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// testTerminateSuspended: TerminateSuspended ends a message that is
// suspended when it runs, and refuses, changing nothing, one that is not
// (any more): a bulk terminate must not end a message resumed after it
// listed it as suspended.
func testTerminateSuspended(t *testing.T, b msgbox.Box) {
	ctx := t.Context()
	m := routed(t, b, "resumed-since", "a")
	finish(t, b, claim(t, b, "w", longLease, "a"), suspended("partner down"))
	wantStatus(t, b, m.ID, msgbox.StatusSuspended)
	if err := b.Resume(ctx, m.ID); err != nil {
		t.Fatalf("Resume: %v", err)
	}
	wantErr(t, "TerminateSuspended of a resumed message", b.TerminateSuspended(ctx, m.ID), msgbox.ErrInvalidState)
	wantStatus(t, b, m.ID, msgbox.StatusRouted)
	// Still due: claimed, and suspended again, it is terminated.
	finish(t, b, claim(t, b, "w", longLease, "a"), suspended("partner down again"))
	if err := b.TerminateSuspended(ctx, m.ID); err != nil {
		t.Fatalf("TerminateSuspended of a suspended message: %v", err)
	}
	wantStatus(t, b, m.ID, msgbox.StatusTerminated)

	orphan := receive(t, b, inc("orphan"), "x")
	wantErr(t, "TerminateSuspended of a message not routed", b.TerminateSuspended(ctx, orphan.ID), msgbox.ErrInvalidState)
	wantStatus(t, b, orphan.ID, msgbox.StatusReceived)
	if err := b.Route(ctx, orphan.ID, nil, "nobody subscribes"); err != nil {
		t.Fatal(err)
	}
	if err := b.TerminateSuspended(ctx, orphan.ID); err != nil {
		t.Fatalf("TerminateSuspended of a routing failure: %v", err)
	}
	wantStatus(t, b, orphan.ID, msgbox.StatusTerminated)
}

func testTerminateLiveLease(t *testing.T, b msgbox.Box) {
	ctx := t.Context()
	m := routed(t, b, "busy", "a", "b")
	d := claim(t, b, "w1", longLease, "a")
	before := get(t, b, m.ID)
	wantErr(t, "Terminate under a live lease", b.Terminate(ctx, m.ID), msgbox.ErrInvalidState)
	after := get(t, b, m.ID)
	if after.Message.Status != msgbox.StatusRouted || after.Deliveries[0].State != msgbox.DeliveryInProgress ||
		after.Deliveries[1].State != msgbox.DeliveryPending || len(after.History) != len(before.History) {
		t.Errorf("a refused Terminate changed the message: %+v", after)
	}
	// Once the attempt is over, Terminate applies.
	finish(t, b, d, retrying(time.Now().Add(time.Hour), "e"))
	if err := b.Terminate(ctx, m.ID); err != nil {
		t.Fatalf("Terminate after the attempt finished: %v", err)
	}
	wantStatus(t, b, m.ID, msgbox.StatusTerminated)
}

func testHistory(t *testing.T, b msgbox.Box) {
	m := routed(t, b, "life", "a")
	d := claim(t, b, "w1", longLease, "a")
	finish(t, b, d, retrying(time.Now(), "refused"))
	d = claim(t, b, "w2", longLease, "a")
	finish(t, b, d, suspended("refused again"))
	if err := b.Resume(t.Context(), m.ID); err != nil {
		t.Fatal(err)
	}
	d = claim(t, b, "w3", longLease, "a")
	finish(t, b, d, delivered)

	got := get(t, b, m.ID)
	want := []string{"received", "a:pending", "a:in_progress", "a:retrying", "a:in_progress", "a:suspended",
		"a:pending", "a:in_progress", "a:delivered"}
	if s := historyStatuses(got); strings.Join(s, " ") != strings.Join(want, " ") {
		t.Errorf("history = %v\nwant      %v", s, want)
	}
	for i := 1; i < len(got.History); i++ {
		if got.History[i].At.Before(got.History[i-1].At) {
			t.Errorf("history goes back in time at %d: %+v", i, got.History)
		}
	}
	for _, e := range got.History {
		if e.Status == string(msgbox.DeliveryRetrying) && !strings.Contains(e.Detail, "refused") {
			t.Errorf("retrying event %+v does not say why", e)
		}
	}
	if n := len(got.Attempts); n != 3 {
		t.Errorf("%d attempts, want 3", n)
	}
	if dl := got.Deliveries[0]; dl.Attempts != 1 {
		t.Errorf("attempts since Resume = %d, want 1", dl.Attempts)
	}
}

func testClose(t *testing.T, b msgbox.Box) {
	m := receive(t, b, inc("x"), "x")
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := b.Get(t.Context(), m.ID); err == nil {
		t.Errorf("Get after Close succeeded")
	}
	if _, _, err := b.ReceiveRouted(t.Context(), inc("y"), strings.NewReader("y"), nil); err == nil {
		t.Errorf("Receive after Close succeeded")
	}
	_ = b.Close() // must not panic
}

// testRetrying: Retrying counts retrying deliveries of the ports asked
// about, also those of a message shown as suspended because another of
// its deliveries is.
func testRetrying(t *testing.T, b msgbox.Box) {
	ctx := t.Context()
	count := func(what string, want int, ports ...string) {
		t.Helper()
		if n, err := b.Retrying(ctx, ports); err != nil || n != want {
			t.Errorf("Retrying(%s) = %d, %v; want %d", what, n, err, want)
		}
	}
	count("empty box", 0, "a")
	m := routed(t, b, "x", "a", "b", "c")
	count("pending only", 0, "a", "b", "c")
	finish(t, b, claim(t, b, "w1", longLease, "a"), retrying(time.Now().Add(time.Hour), "try again"))
	finish(t, b, claim(t, b, "w1", longLease, "b"), suspended("refused"))
	finish(t, b, claim(t, b, "w1", longLease, "c"), msgbox.Outcome{State: msgbox.DeliveryDelivered})
	wantStatus(t, b, m.ID, msgbox.StatusSuspended)
	count("all ports", 1, "a", "b", "c")
	count("the retrying port", 1, "a")
	count("the others", 0, "b", "c")
	count("no ports", 0)
	count("an unknown port", 0, "other")
}

// testOrigin: a message stored with an Incoming.Origin (a resubmitted
// copy) has that, with its size, as its first history entry in place of
// "received from ...", and, with a ResubmitOf, the message it copies has
// the entry naming it last in its history, written with it; whichever way
// the box stores it: one chunk or several, with ReceiveRouted or in a
// batch. A copy of a message that is gone (purged) is stored all the same;
// one whose SourceKey is stored adds no entry.
func testOrigin(t *testing.T, b msgbox.Box) {
	ctx := t.Context()
	orig := routed(t, b, "orig.xml", "x")
	finish(t, b, claim(t, b, "w", longLease, "x"), delivered)
	base := len(get(t, b, orig.ID).History) // received, routed, claimed, delivered
	origin := msgbox.ResubmittedFromDetail(orig.ID)
	entries := 0
	check := func(what string, m msgbox.Message) {
		t.Helper()
		h := get(t, b, m.ID).History
		want := fmt.Sprintf("%s (%d bytes)", origin, m.Size)
		if len(h) == 0 || h[0].Status != string(msgbox.StatusReceived) || h[0].Detail != want {
			t.Errorf("%s: first history entry %+v; want received: %q", what, h, want)
		}
		entries++
		oh := get(t, b, orig.ID).History
		last := oh[len(oh)-1]
		if len(oh) != base+entries || last.Status != msgbox.ResubmittedStatus || last.Detail != msgbox.ResubmittedAsDetail(m.ID) || last.Port != "" {
			t.Errorf("%s: the original's history %+v; want %d entries, the last %q", what, oh, base+entries, msgbox.ResubmittedAsDetail(m.ID))
		}
	}
	in := inc("copy.xml")
	in.Origin, in.ResubmitOf = origin, orig.ID
	toP := func(msgbox.Message) ([]string, string) { return []string{"p"}, "" }
	// Unrouted and routed: boxes take different paths for each.
	for i, route := range []msgbox.Router{nil, toP} {
		small, _, err := b.ReceiveRouted(ctx, in, strings.NewReader("<order/>"), route)
		if err != nil {
			t.Fatal(err)
		}
		check("one chunk", small)
		large, _, err := b.ReceiveRouted(ctx, in, pattern(3, 3<<20+17), route)
		if err != nil {
			t.Fatal(err)
		}
		check("several chunks", large)
		if bb, ok := b.(msgbox.Batcher); ok {
			res := bb.ReceiveBatch(ctx, []msgbox.Receipt{{In: in, Body: strings.NewReader("<a/>")}}, route)
			if len(res) != 1 || res[0].Err != nil {
				t.Fatalf("ReceiveBatch: %+v", res)
			}
			check("a batch", res[0].Message)
		}
		keyed := in
		keyed.SourceKey = msgbox.ResubmitKey(orig.ID, 100+i)
		first, _, err := b.ReceiveRouted(ctx, keyed, strings.NewReader("<order/>"), route)
		if err != nil {
			t.Fatal(err)
		}
		check("with a key", first)
		again, dup, err := b.ReceiveRouted(ctx, keyed, strings.NewReader("<order/>"), route)
		if err != nil || !dup || again.ID != first.ID {
			t.Fatalf("the same key again = %+v, %v, %v; want %s, a duplicate", again, dup, err, first.ID)
		}
		if oh := get(t, b, orig.ID).History; len(oh) != base+entries {
			t.Errorf("a duplicate added to the original's history: %+v", oh)
		}
	}
	gone := in
	gone.ResubmitOf = "01j0000000000000000000000z"
	if m, _, err := b.ReceiveRouted(ctx, gone, strings.NewReader("<order/>"), nil); err != nil || len(get(t, b, m.ID).History) != 1 {
		t.Errorf("a copy of a message gone = %+v, %v; want it stored", m, err)
	}
}

// ListPages checks that b's List, reading setPage(n) messages at a time,
// lists what it lists in one page, for limits below, at and above a page
// and filters that skip messages, newest or oldest first; and that a
// listing oldest first that acts on each message as it is listed (routes
// it, so that its filter no longer selects it; receives another) neither
// misses one nor lists one twice, nor one received meanwhile: a box's test
// passes a setPage that sets its page size.
func ListPages(t *testing.T, b msgbox.Box, setPage func(n int)) {
	t.Helper()
	var ids []string // newest first
	for i := range 7 {
		m := receive(t, b, inc(fmt.Sprintf("m%d", i)), "x")
		if i%3 == 0 {
			if err := b.Route(t.Context(), m.ID, []string{"p"}, ""); err != nil {
				t.Fatal(err)
			}
		}
		ids = append([]string{m.ID}, ids...)
	}
	routedIDs := []string{ids[0], ids[3], ids[6]}
	for _, tc := range []struct {
		f    msgbox.Filter
		want []string
	}{
		{msgbox.Filter{}, ids},
		{msgbox.Filter{Limit: 1}, ids[:1]},
		{msgbox.Filter{Limit: 2}, ids[:2]},
		{msgbox.Filter{Limit: 3}, ids[:3]},
		{msgbox.Filter{Limit: 6}, ids[:6]},
		{msgbox.Filter{Limit: 7}, ids},
		{msgbox.Filter{Limit: 9}, ids},
		{msgbox.Filter{Status: msgbox.StatusRouted}, routedIDs},
		{msgbox.Filter{Status: msgbox.StatusRouted, Limit: 2}, routedIDs[:2]},
		{msgbox.Filter{Port: "p"}, routedIDs},
		{msgbox.Filter{OldestFirst: true}, reversed(ids)},
		{msgbox.Filter{OldestFirst: true, Limit: 2}, reversed(ids)[:2]},
		{msgbox.Filter{OldestFirst: true, Limit: 7}, reversed(ids)},
		{msgbox.Filter{OldestFirst: true, Status: msgbox.StatusRouted}, reversed(routedIDs)},
		{msgbox.Filter{OldestFirst: true, Port: "p"}, reversed(routedIDs)},
	} {
		for _, page := range []int{1, 2, 3, 500} {
			setPage(page)
			var got []string
			err := b.List(t.Context(), tc.f, func(m msgbox.Message) error {
				got = append(got, m.ID)
				return nil
			})
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("List(%+v) by pages of %d = %v, %v; want %v", tc.f, page, got, err, tc.want)
			}
		}
	}

	received := reversed(slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return slices.Contains(routedIDs, id) }))
	setPage(2)
	var got []string
	err := b.List(t.Context(), msgbox.Filter{Status: msgbox.StatusReceived, OldestFirst: true}, func(m msgbox.Message) error {
		got = append(got, m.ID)
		receive(t, b, inc(fmt.Sprintf("meanwhile%d", len(got))), "x")
		return b.Route(t.Context(), m.ID, []string{"p"}, "")
	})
	if err != nil || !slices.Equal(got, received) {
		t.Errorf("List(received, oldest first) routing each = %v, %v; want %v, each once", got, err, received)
	}
}

// reversed returns a reversed copy of s.
func reversed(s []string) []string {
	r := slices.Clone(s)
	slices.Reverse(r)
	return r
}

// PurgeBatches checks that a purge of more messages than one batch, set
// small by setBatch, among messages it keeps (not finished, or touched
// since the cutoff) before, between and after them, deletes every one it
// should and nothing else: each batch goes on past the last, and none
// skips one. A box's test passes a setBatch that sets its batch size.
func PurgeBatches(t *testing.T, b msgbox.Box, setBatch func(n int)) {
	t.Helper()
	ctx := t.Context()
	setBatch(3)
	var old, kept []string
	keep := func(name string) { kept = append(kept, routed(t, b, name, "q").ID) } // nobody claims q
	keep("pending-first")
	for i := range 10 {
		m := routed(t, b, fmt.Sprint("old-", i), "p")
		finish(t, b, claim(t, b, "w", longLease, "p"), msgbox.Outcome{State: msgbox.DeliveryDelivered})
		old = append(old, m.ID)
		if i%4 == 1 {
			keep(fmt.Sprint("pending-", i))
		}
	}
	sleepPast(now().Add(time.Millisecond))
	cutoff := now()
	sleepPast(cutoff.Add(time.Millisecond))
	for i := range 4 {
		routed(t, b, fmt.Sprint("new-", i), "p")
		finish(t, b, claim(t, b, "w", longLease, "p"), msgbox.Outcome{State: msgbox.DeliveryDelivered})
	}
	if n, err := b.Purgeable(ctx, cutoff); err != nil || n != len(old) {
		t.Fatalf("Purgeable = %d, %v; want %d", n, err, len(old))
	}
	if n, err := b.Purge(ctx, cutoff); err != nil || n != len(old) {
		t.Fatalf("Purge = %d, %v; want %d", n, err, len(old))
	}
	for _, id := range old {
		if _, err := b.Message(ctx, id); !errors.Is(err, msgbox.ErrNotFound) {
			t.Errorf("old message %s: %v, want it purged", id, err)
		}
	}
	for _, id := range kept {
		if _, err := b.Message(ctx, id); err != nil {
			t.Errorf("kept message %s: %v", id, err)
		}
	}
	if msgs, err := msgbox.Collect(ctx, b, msgbox.Filter{}); err != nil || len(msgs) != len(kept)+4 {
		t.Errorf("List after purge = %d messages, %v; want %d", len(msgs), err, len(kept)+4)
	}
}
