package http

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox/pgbox"
	"github.com/bizpipe/bizpipe/internal/msgbox/sqlitebox"
	"github.com/bizpipe/bizpipe/internal/transport/transporttest"
)

// Clients that send part of a body and then nothing are answered 408 once
// the body idle timeout has passed without a byte, wherever their body is
// (spooled by the receiver, or streaming into the sink), and nothing of
// theirs is stored. A client that is slow but keeps sending, for longer in
// all than the timeout, is not cut off.
func TestHTTPStalledBodiesTimeOut(t *testing.T) {
	const idle = 500 * time.Millisecond
	rec, budget, h, base, lr := startBudgetRig(t, 0, idle)
	addr := h.Addr().String()

	part := bytes.Repeat([]byte("s"), 16<<10)
	big := bytes.Repeat([]byte("b"), spoolBytes+64<<10)
	kinds := []struct {
		name  string
		n     int
		parts [][]byte
	}{
		{"headers only", 50, [][]byte{header(1000)}},
		{"part of a declared length", 50, [][]byte{header(100_000), part}},
		{"one chunk of a chunked body", 50, [][]byte{header(-1), chunk(part)}},
		// Past what the receiver spools: the sink is reading when the
		// client stalls.
		{"past the spooled start", 10, [][]byte{header(3 << 20), big}},
	}
	type result struct {
		kind   string
		status int
		err    error
	}
	var results []chan result
	for _, k := range kinds {
		for range k.n {
			c := rawConn(t, addr, k.parts...)
			ch := make(chan result, 1)
			results = append(results, ch)
			go func() {
				status, err := readStatus(c)
				ch <- result{k.name, status, err}
			}()
		}
	}

	// Meanwhile: a slow client whose body takes longer than the idle
	// timeout in all, but never pauses that long.
	slow := rawConn(t, addr, header(8*100))
	for i := range 8 {
		time.Sleep(idle / 5) // the client's pace, not synchronisation
		if _, err := slow.Write(bytes.Repeat([]byte{byte('0' + i)}, 100)); err != nil {
			t.Fatal(err)
		}
	}
	if status, err := readStatus(slow); err != nil || status != http.StatusAccepted {
		t.Fatalf("slow but steady upload: %d, %v; want 202", status, err)
	}
	// And an ordinary upload.
	if resp, text := post(t, base+"/orders", "", strings.NewReader("ordinary"), nil); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("ordinary upload: %d %s", resp.StatusCode, text)
	}

	for _, ch := range results {
		r := <-ch
		if r.err != nil || r.status != http.StatusRequestTimeout {
			t.Errorf("%s: %d, %v; want 408", r.kind, r.status, r.err)
		}
	}
	got := rec.All()
	if len(got) != 2 || len(got[0].Body) != 800 || string(got[1].Body) != "ordinary" {
		var sizes []int
		for _, p := range got {
			sizes = append(sizes, len(p.Body))
		}
		t.Errorf("stored bodies of sizes %v, want only the slow (800) and the ordinary upload's", sizes)
	}
	if n := lr.Count(slog.LevelWarn, "the body stalled"); n != 160 {
		t.Errorf("%d stalled-body log lines, want 160", n)
	}
	transporttest.WaitFor(t, "the stalled uploads' memory given back", func() bool { return budget.Held() == 0 })
}

// The memory of uploads in flight is bounded by the Budget: stalled
// clients hold what they sent (a segment each here), an upload that finds
// no room waits without reading its body, and ordinary uploads, large or
// small, still go through while the stalled ones hold their share. The
// idle timeout is long: the stalled clients go away only when the test
// closes them.
func TestHTTPUploadBudget(t *testing.T) {
	const limit = 10 << 20 // 320 segments
	// Each stalled client that grows into the reserve lets the next have
	// its turn soon.
	rec, budget, h, base, _ := startBudgetRig(t, limit, time.Hour, 5*time.Millisecond)
	addr := h.Addr().String()
	part := bytes.Repeat([]byte("s"), 16<<10) // under a segment
	stall := func(n int) []net.Conn {
		var cs []net.Conn
		for i := range n {
			if i%2 == 0 {
				cs = append(cs, rawConn(t, addr, header(1<<20), part))
			} else {
				cs = append(cs, rawConn(t, addr, header(-1), chunk(part)))
			}
		}
		return cs
	}

	first := stall(200)
	transporttest.WaitFor(t, "200 stalled uploads holding a segment each", func() bool { return budget.Held() == 200*segmentBytes })

	// Ordinary uploads still go through: small (spooled whole) and large
	// (streamed into the sink, its spool kept for the box's chunk).
	small := "small order"
	large := strings.Repeat("L", 3<<20)
	for _, body := range []string{small, large} {
		if resp, text := post(t, base+"/orders", "", strings.NewReader(body), nil); resp.StatusCode != http.StatusAccepted {
			t.Fatalf("ordinary upload of %d bytes: %d %s", len(body), resp.StatusCode, text)
		}
	}
	got := rec.All()
	if len(got) != 2 || string(got[0].Body) != small || string(got[1].Body) != large {
		t.Fatalf("stored %d messages; want the two ordinary uploads intact", len(got))
	}
	if held := budget.Held(); held != 200*segmentBytes {
		t.Fatalf("held %d after the ordinary uploads, want the stalled uploads' %d", held, 200*segmentBytes)
	}

	// 200 more stalled clients: 120 fit, 88 in the shared room (of 288
	// segments) and 32 in the reserve, each taking its turn there, and 80
	// wait for room.
	second := stall(200)
	transporttest.WaitFor(t, "the budget full", func() bool { return budget.Held() == limit && budget.Waiting() == 80 })
	// Closing 100 of the first makes room for the 80 that wait, which
	// then hold their segment too.
	for _, c := range first[:100] {
		c.Close()
	}
	transporttest.WaitFor(t, "the waiting uploads admitted", func() bool {
		return budget.Held() == (320-100+80)*segmentBytes && budget.Waiting() == 0
	})
	if p := budget.Peak(); p != limit {
		t.Errorf("peak %d, want the limit %d and never more", p, limit)
	}

	for _, c := range append(first[100:], second...) {
		c.Close()
	}
	transporttest.WaitFor(t, "every stalled upload's memory given back", func() bool { return budget.Held() == 0 })
	if got := rec.All(); len(got) != 2 {
		t.Errorf("stored %d messages; a stalled upload was stored", len(got))
	}
	if resp, text := post(t, base+"/orders", "", strings.NewReader(small), nil); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("upload after the stalled ones left: %d %s", resp.StatusCode, text)
	}
}

// An upload that finds no room within the idle timeout is answered 503
// with Retry-After, and nothing is stored.
func TestHTTPUploadBudgetBusy(t *testing.T) {
	rec, budget, h, _, lr := startBudgetRig(t, MinInFlightBytes, 300*time.Millisecond)
	// Hold the whole budget, as stalled uploads would.
	if err := budget.acquire(t.Context(), nil, budget.Limit(), time.Second); err != nil {
		t.Fatal(err)
	}
	c := rawConn(t, h.Addr().String(), header(5), []byte("hello"))
	if err := c.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("answer %d Retry-After=%q, want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if len(rec.All()) != 0 {
		t.Error("stored without room in the budget")
	}
	if lr.Count(slog.LevelWarn, "too many uploads in flight") != 1 {
		t.Error("refusal not logged")
	}
	budget.release(budget.Limit())
}

// Uploads larger than spoolBytes that arrive together share the Budget:
// each holds its spool, and keeps it for the box's chunk, rather than
// waiting, spool held, for a second chunk that only another waiter could
// free. Two of them fill a budget of two spools and are both received
// at once; neither waits out the idle timeout to be answered 503.
func TestConcurrentLargeUploadsShareTheBudget(t *testing.T) {
	// Only a bound on the wrong answer's wait: the clients never pause
	// this long.
	rec, budget, h, _, _ := startBudgetRig(t, 2*spoolBytes, 3*time.Second)
	addr := h.Addr().String()

	// Each sends 900 KiB, which it holds as 29 segments, and then the
	// rest together: both complete their spools (6 segments were free),
	// filling the budget, and stream on.
	const size = spoolBytes + 512<<10
	first := bytes.Repeat([]byte("a"), 900<<10)
	rest := bytes.Repeat([]byte("b"), size-len(first))
	a := rawConn(t, addr, header(size), first)
	transporttest.WaitFor(t, "A's start spooled", func() bool { return budget.Held() == 29*segmentBytes })
	b := rawConn(t, addr, header(size), first)
	transporttest.WaitFor(t, "B's start spooled", func() bool { return budget.Held() == 58*segmentBytes })
	wrote := make(chan error, 2)
	for _, c := range []net.Conn{a, b} {
		go func() {
			_, err := c.Write(rest)
			wrote <- err
		}()
	}
	start := time.Now()
	sa, errA := readStatus(a)
	sb, errB := readStatus(b)
	if sa != http.StatusAccepted || sb != http.StatusAccepted {
		t.Fatalf("A %d (%v), B %d (%v) after %v; want both 202", sa, errA, sb, errB, time.Since(start).Round(time.Millisecond))
	}
	for range 2 {
		if err := <-wrote; err != nil {
			t.Fatal(err)
		}
	}
	want := append(append([]byte(nil), first...), rest...)
	got := rec.All()
	if len(got) != 2 || !bytes.Equal(got[0].Body, want) || !bytes.Equal(got[1].Body, want) {
		t.Errorf("stored %d messages; want both uploads intact", len(got))
	}
	transporttest.WaitFor(t, "the budget given back", func() bool { return budget.Held() == 0 })
}

// Uploads that arrive together and together need more than the Budget
// do not stall one another. Each holds what it spooled while it waits for
// more: without the reserve, three uploads of 900 KiB in a budget of
// 2 MiB (64 segments), each 600 KiB in (19 segments), would each wait for
// room only another could give back, until the idle timeout answered
// them all 503. With it, they take turns at the reserve, and all three
// are received.
func TestUploadsArrivingTogetherDoNotStall(t *testing.T) {
	// Only a bound on the wrong answer's wait: the clients never pause
	// this long.
	rec, budget, h, _, _ := startBudgetRig(t, MinInFlightBytes, 5*time.Second)
	addr := h.Addr().String()

	const size, start = 900 << 10, 600 << 10
	var bodies [][]byte
	var conns []net.Conn
	for i, held := range []int64{19, 38} {
		bodies = append(bodies, bytes.Repeat([]byte{'a' + byte(i)}, size))
		conns = append(conns, rawConn(t, addr, header(size), bodies[i][:start]))
		transporttest.WaitFor(t, fmt.Sprintf("upload %d's start spooled", i), func() bool { return budget.Held() == held*segmentBytes })
	}
	// The third: the shared half is full and the second has the reserve
	// (it grew into it), so it waits; without the reserve it would spool
	// its start too, leaving 7 segments for the 30 the three still need.
	bodies = append(bodies, bytes.Repeat([]byte{'c'}, size))
	conns = append(conns, rawConn(t, addr, header(size), bodies[2][:start]))
	transporttest.WaitFor(t, "the third upload waiting", func() bool {
		return budget.Held() == 57*segmentBytes || (budget.Held() == 38*segmentBytes && budget.Waiting() == 1)
	})

	wrote := make(chan error, len(conns))
	for i, c := range conns {
		go func() {
			_, err := c.Write(bodies[i][start:])
			wrote <- err
		}()
	}
	for i, c := range conns {
		if status, err := readStatus(c); status != http.StatusAccepted {
			t.Errorf("upload %d: %d (%v), want 202", i, status, err)
		}
	}
	for range conns {
		if err := <-wrote; err != nil {
			t.Error(err)
		}
	}
	got := rec.All()
	if len(got) != len(bodies) {
		t.Fatalf("stored %d messages, want %d", len(got), len(bodies))
	}
	for _, m := range got {
		if !slices.ContainsFunc(bodies, func(b []byte) bool { return bytes.Equal(b, m.Body) }) {
			t.Errorf("stored a body of %d bytes that no upload sent", len(m.Body))
		}
	}
	transporttest.WaitFor(t, "the budget given back", func() bool { return budget.Held() == 0 && budget.Waiting() == 0 })
	if p := budget.Peak(); p > budget.Limit() {
		t.Errorf("peak %d over the limit %d", p, budget.Limit())
	}
}

// The grower whose client pauses lets another upload have the reserve
// (turnWait): a client that stalls in its first MiB, or trickles, must
// not keep every upload that needs the reserve waiting until its idle
// timeout (here an hour). It keeps the room it took.
func TestPausedGrowerPassesTheTurn(t *testing.T) {
	rec, budget, h, _, _ := startBudgetRig(t, MinInFlightBytes, time.Hour)
	addr := h.Addr().String()
	shared := int64(MinInFlightBytes - reserveBytes)
	if err := budget.acquire(t.Context(), nil, shared, time.Second); err != nil {
		t.Fatal(err)
	}
	defer budget.release(shared)
	// The grower: 16 KiB of 100, then nothing.
	g := rawConn(t, addr, header(100<<10), bytes.Repeat([]byte("g"), 16<<10))
	transporttest.WaitFor(t, "the stalled upload in the reserve", func() bool { return budget.Held() == shared+segmentBytes })
	body := bytes.Repeat([]byte("w"), 100<<10)
	w := rawConn(t, addr, header(len(body)), body)
	if status, err := readStatus(w); status != http.StatusAccepted {
		t.Fatalf("the upload beside the stalled grower: %d (%v), want 202", status, err)
	}
	if got := rec.All(); len(got) != 1 || !bytes.Equal(got[0].Body, body) {
		t.Errorf("stored %d messages, want the second upload's", len(got))
	}
	if held := budget.Held(); held != shared+segmentBytes {
		t.Errorf("held %d, want the stalled upload's segment kept (%d)", held, shared+segmentBytes)
	}
	g.Close()
	transporttest.WaitFor(t, "the stalled upload's segment given back", func() bool { return budget.Held() == shared })
}

// A burst of uploads from partners on slow links, together more than the
// Budget: 40 of 600 KiB, each sent 64 KiB at a time, into 16 MiB. Each
// holds part of its spool while the others arrive; all are received.
// (Without the reserve, 23 of the 40 were answered 503 once the idle
// timeout had passed.)
func TestSlowLinkBurst(t *testing.T) {
	const n, size = 40, 600 << 10
	// Only a bound on the wrong answer's wait: no client pauses this long.
	rec, budget, _, base, _ := startBudgetRig(t, 16<<20, 5*time.Second)
	body := transporttest.Pattern(7, size)
	codes := make(chan int, n)
	for range n {
		go func() {
			resp, err := http.Post(base+"/orders", "application/octet-stream", &slowLink{b: body})
			if err != nil {
				codes <- 0
				return
			}
			resp.Body.Close()
			codes <- resp.StatusCode
		}()
	}
	for range n {
		if code := <-codes; code != http.StatusAccepted {
			t.Errorf("an upload answered %d, want 202", code)
		}
	}
	got := rec.All()
	if len(got) != n {
		t.Errorf("stored %d messages, want %d", len(got), n)
	}
	for _, m := range got {
		if !bytes.Equal(m.Body, body) {
			t.Fatalf("stored a body of %d bytes, not the one sent", len(m.Body))
		}
	}
	transporttest.WaitFor(t, "the budget given back", func() bool { return budget.Held() == 0 && budget.Waiting() == 0 })
}

// slowLink reads its bytes 64 KiB at a time, every 10 ms.
type slowLink struct{ b []byte }

func (r *slowLink) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	time.Sleep(10 * time.Millisecond)
	n := copy(p[:min(len(p), 64<<10)], r.b)
	r.b = r.b[n:]
	return n, nil
}

// The Budget's turns at the reserve, step by step: the shared half goes
// to whoever asks, in order; the reserve to one upload at a time, which
// keeps it until its spool ends (leave); a waiter that gives up leaves
// nothing taken.
func TestBudgetReserveTurns(t *testing.T) {
	ctx := t.Context()
	b := NewBudget(MinInFlightBytes)
	a, g, w := new(Upload), new(Upload), new(Upload)
	take := func(u *Upload, n int64) {
		t.Helper()
		if err := b.acquire(ctx, u, n, time.Second); err != nil {
			t.Fatal(err)
		}
	}
	take(a, reserveBytes) // the shared half, all of it
	take(g, segmentBytes) // into the reserve: g grows
	// w finds no room: the shared half is full, the reserve g's.
	if err := b.acquire(ctx, w, segmentBytes, 10*time.Millisecond); !errors.Is(err, errBusy) {
		t.Fatalf("acquire beside the grower: %v, want errBusy", err)
	}
	if b.Held() != reserveBytes+segmentBytes || b.Waiting() != 0 {
		t.Fatalf("held %d, %d waiting after a waiter gave up; want %d, 0", b.Held(), b.Waiting(), reserveBytes+segmentBytes)
	}
	take(g, reserveBytes-segmentBytes) // the grower has the rest of the reserve
	got := make(chan error, 1)
	go func() { got <- b.acquire(ctx, w, segmentBytes, time.Minute) }()
	transporttest.WaitFor(t, "w waiting", func() bool { return b.Waiting() == 1 })
	b.leave(g) // g's spool ends; it keeps its room, so w still waits
	b.release(segmentBytes)
	if err := <-got; err != nil {
		t.Fatalf("w, once the grower left and gave back a segment: %v", err)
	}
	// w took the reserve's room: it is the grower now, and a is not.
	if err := b.acquire(ctx, a, segmentBytes, 10*time.Millisecond); !errors.Is(err, errBusy) {
		t.Errorf("a beside the new grower: %v, want errBusy", err)
	}
	// The room held counts whoever holds it: once a and g gave theirs
	// back, a finds the shared half's again.
	b.release(reserveBytes)
	b.release(reserveBytes - segmentBytes)
	take(a, segmentBytes)
	if b.Held() != 2*segmentBytes {
		t.Errorf("held %d, want w's and a's segments", b.Held())
	}
	if b.Peak() != b.Limit() {
		t.Errorf("peak %d, want the limit %d", b.Peak(), b.Limit())
	}
}

// spoolBytes is the message boxes' chunk size, as its comment says: the
// size up to which a body reaches the box complete.
func TestSpoolBytesIsTheBoxChunk(t *testing.T) {
	for name, size := range map[string]int{"sqlitebox": sqlitebox.ChunkSize, "pgbox": pgbox.ChunkSize} {
		if size != spoolBytes {
			t.Errorf("%s.ChunkSize %d, spoolBytes %d: keep them equal", name, size, spoolBytes)
		}
	}
	if spoolBytes%segmentBytes != 0 {
		t.Errorf("spoolBytes %d is not a whole number of %d-byte segments", spoolBytes, segmentBytes)
	}
}

// Upload.ReadAll reads a body whole, up to and including max bytes, and
// no further, its segments counted against the Budget until Close; a
// longer body is not returned. The same after Spool read the start, which
// Head then returns.
func TestUploadReadAll(t *testing.T) {
	const max = 100<<10 + 7 // not a whole number of segments
	for _, tc := range []struct {
		name string
		n    int
		ok   bool
	}{
		{"empty", 0, true},
		{"a byte under max", max - 1, true},
		{"max", max, true},
		{"a byte over max", max + 1, false},
		{"far over max", 3 * max, false},
	} {
		for _, spoolFirst := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s, spooled first %v", tc.name, spoolFirst), func(t *testing.T) {
				data := transporttest.Pattern(1, tc.n)
				r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(data))
				budget := NewBudget(0)
				up := budget.NewUpload(NewBody(httptest.NewRecorder(), r, 1<<30, time.Minute, time.Hour), time.Second)
				read := min(tc.n, max+1) // all ReadAll reads of it
				if spoolFirst {
					if _, err := up.Spool(t.Context()); err != nil {
						t.Fatal(err)
					}
					if head := up.Head(segmentBytes + 10); !bytes.Equal(head, data[:min(tc.n, segmentBytes+10)]) {
						t.Errorf("Head: %d bytes, not the body's start", len(head))
					}
					read = tc.n // under spoolBytes: all of it
				}
				b, ok, err := up.ReadAll(t.Context(), max)
				if err != nil || ok != tc.ok {
					t.Fatalf("ReadAll: ok %v, %v; want ok %v", ok, err, tc.ok)
				}
				if ok && !bytes.Equal(b, data) {
					t.Errorf("ReadAll returned %d bytes, not the body's %d", len(b), len(data))
				}
				if !ok && b != nil {
					t.Errorf("ReadAll returned %d bytes of a body over max", len(b))
				}
				// What was read, in segments; one more for the read that
				// found the end, unless it stopped before.
				segs := read/segmentBytes + 1
				if read == max+1 {
					segs = (read + segmentBytes - 1) / segmentBytes
				}
				if held := budget.Held(); held != int64(segs)*segmentBytes {
					t.Errorf("held %d, want %d segments", held, segs)
				}
				up.Close()
				if held := budget.Held(); held != 0 {
					t.Errorf("held %d after Close", held)
				}
			})
		}
	}
}

// An upload waiting for room in the Budget when the stop's grace runs out
// is answered at once as the stop's doing, 503 "the receiver is stopping", and
// logged so: not "too many uploads in flight", which would send the
// operator looking at the budget.
func TestHTTPUploadWaitingForBudgetAtStop(t *testing.T) {
	o := httpOpts()
	o.BodyIdleTimeout = 20 * time.Second // the wait for room outlasts the stop
	budget := NewBudget(MinInFlightBytes)
	o.Budget = budget
	log, lr := transporttest.NewLog()
	h, err := NewListener(o, transporttest.NewRecorder(), log)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := budget.acquire(t.Context(), nil, budget.Limit(), time.Second); err != nil {
		t.Fatal(err)
	}
	defer budget.release(budget.Limit())
	c := rawConn(t, h.Addr().String(), header(5), []byte("hello"))
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		h.serving.mu.Lock()
		n := len(h.serving.uploads)
		h.serving.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the upload never began")
		}
	}
	time.Sleep(100 * time.Millisecond) // into the wait for room
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // no grace
	// Answered at once, within the stop: nothing was left to abort.
	if err := h.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown = %v, want nil", err)
	}
	if err := c.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(text), "stopping") {
		t.Errorf("answer %d %q, want 503 saying the receiver is stopping", resp.StatusCode, text)
	}
	if lr.Count(slog.LevelWarn, "too many uploads in flight") != 0 {
		t.Error("the stop's cancel logged as the budget's refusal")
	}
}

// A body read whole (Upload.ReadAll: AS2's asynchronous MDN, up to
// 4 MiB) does not take the reserve past its first spoolBytes: the reserve
// is what one spool needs, and a grower that needs more than it cannot
// finish, so it would hold the reserve while it waits, and every upload
// that needs the reserve would wait with it until the idle timeout. Here
// a budget of 4 MiB (128 segments) whose shared room (96) is held but for
// a streamed upload's 900 KiB start (29 segments); an MDN of 1500 KiB
// spools its first MiB (3 shared segments, 29 of the reserve) and waits
// for more; the streamed upload then needs 3 more segments to finish its
// spool, which the reserve has: it is received while the MDN still waits
// for the shared room, which it gets once the holder gives its back.
func TestBodyReadWholeDoesNotHoldTheReserve(t *testing.T) {
	const limit = 4 << 20
	budget := NewBudget(limit)
	// Only a bound on the wrong answer's wait.
	const idle = 10 * time.Second
	var s Serving
	if _, err := s.Start(context.Background(), ServeOptions{Location: "in", Listen: "127.0.0.1:0",
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// As AS2 reads a message (Stream) or an MDN (Spool, then
			// ReadAll).
			up := budget.NewUpload(NewBody(w, r, 8<<20, idle, time.Minute), idle)
			defer up.Close()
			_, err := up.Spool(r.Context())
			if err == nil && r.URL.Path == "/mdn" {
				_, _, err = up.ReadAll(r.Context(), 4<<20)
			} else if err == nil {
				var src io.Reader
				if src, err = up.Stream(r.Context()); err == nil {
					_, err = io.Copy(io.Discard, src)
				}
			}
			if err != nil {
				up.Refuse(w, slog.New(slog.DiscardHandler), err, writeError)
				return
			}
			w.WriteHeader(http.StatusAccepted)
		})}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	addr := s.Addr().String()
	req := func(path string, n int) []byte {
		return fmt.Appendf(nil, "POST %s HTTP/1.1\r\nHost: test\r\nContent-Length: %d\r\n\r\n", path, n)
	}

	holder := int64(limit - reserveBytes - 29*segmentBytes - 3*segmentBytes)
	if err := budget.acquire(t.Context(), nil, holder, time.Second); err != nil {
		t.Fatal(err)
	}
	msg := bytes.Repeat([]byte("m"), 1200<<10)
	mc := rawConn(t, addr, req("/msg", len(msg)), msg[:900<<10])
	transporttest.WaitFor(t, "the message's start spooled", func() bool { return budget.Held() == holder+29*segmentBytes })
	mdn := bytes.Repeat([]byte("n"), 1500<<10)
	dc := rawConn(t, addr, req("/mdn", len(mdn)), mdn)
	transporttest.WaitFor(t, "the MDN's first MiB spooled, and the MDN waiting for more", func() bool {
		return budget.Waiting() == 1 && budget.Held() >= holder+29*segmentBytes+spoolBytes
	})
	if _, err := mc.Write(msg[900<<10:]); err != nil {
		t.Fatal(err)
	}
	if status, err := readStatus(mc); status != http.StatusAccepted {
		t.Fatalf("the message: %d (%v), want 202", status, err)
	}
	if n := budget.Waiting(); n != 1 {
		t.Errorf("%d uploads waiting once the message was received, want the MDN waiting still", n)
	}
	budget.release(holder)
	if status, err := readStatus(dc); status != http.StatusAccepted {
		t.Errorf("the MDN: %d (%v), want 202 once the shared room was given back", status, err)
	}
	transporttest.WaitFor(t, "the budget given back", func() bool { return budget.Held() == 0 && budget.Waiting() == 0 })
}

// An upload waiting for room gives up as soon as the stop cancels its
// body, as a Read would, rather than when the stop's last grace ends
// (abortAnswer) or its own wait does.
func TestUploadWaitForRoomEndsAtCancel(t *testing.T) {
	b := NewBudget(MinInFlightBytes)
	if err := b.acquire(t.Context(), nil, b.Limit(), time.Second); err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("order"))
	body := NewBody(httptest.NewRecorder(), r, 1<<20, time.Hour, time.Hour)
	up := b.NewUpload(body, time.Hour)
	defer up.Close()
	got := make(chan error, 1)
	go func() {
		_, err := up.Spool(context.Background())
		got <- err
	}()
	transporttest.WaitFor(t, "the upload waiting for room", func() bool { return b.Waiting() == 1 })
	body.cancel()
	var err error
	transporttest.WaitFor(t, "the wait ended by the cancel", func() bool {
		select {
		case err = <-got:
			return true
		default:
			return false
		}
	})
	if !errors.Is(err, errBusy) || !errors.Is(err, errCancelled) {
		t.Errorf("Spool = %v, want the budget's refusal for the stop's cancel", err)
	}
	if b.Waiting() != 0 || b.Held() != b.Limit() {
		t.Errorf("%d waiting, %d held; want none waiting and only the test's hold", b.Waiting(), b.Held())
	}
}

// startBudgetRig starts a listener whose uploads, of up to 4 MiB, share a
// Budget of limit bytes and wait for room, or for a stalled body, up to
// idle; turn, when given, is the Budget's turnWait.
func startBudgetRig(t *testing.T, limit int64, idle time.Duration, turn ...time.Duration) (*transporttest.Recorder, *Budget, *Listener, string, *transporttest.LogRecorder) {
	t.Helper()
	rec := transporttest.NewRecorder()
	o := httpOpts()
	o.MaxBody = 4 << 20
	o.BodyIdleTimeout = idle
	o.Budget = NewBudget(limit)
	for _, d := range turn {
		o.Budget.turnWait = d
	}
	h, base, lr := startHTTP(t, o, rec)
	return rec, o.Budget, h, base, lr
}
