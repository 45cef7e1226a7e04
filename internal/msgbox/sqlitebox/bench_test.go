package sqlitebox

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/cpubench"
	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/msgbox/msgboxtest"
)

// The benchmarks run on the file system of the test's temporary directory,
// with synchronous=FULL: the numbers include a real fsync per commit.

func reportRate(b *testing.B, what string) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), what)
}

// BenchmarkReceiveRoute measures the receive side: store a 4 KiB message
// durably and route it to one port (two commits).
func BenchmarkReceiveRoute(b *testing.B) {
	box := openTemp(b, Options{})
	body := bytes.Repeat([]byte("<order/>"), 512) // 4 KiB
	ctx := context.Background()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m, _, err := box.ReceiveRouted(ctx, in("x"), bytes.NewReader(body), nil)
		if err != nil {
			b.Fatal(err)
		}
		if err := box.Route(ctx, m.ID, []string{"p"}, ""); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	reportRate(b, "msgs/s")
}

// BenchmarkReceiveRouteParallel is BenchmarkReceiveRoute from several
// goroutines, as several receive locations run.
func BenchmarkReceiveRouteParallel(b *testing.B) {
	box := openTemp(b, Options{})
	body := bytes.Repeat([]byte("<order/>"), 512)
	ctx := context.Background()
	b.SetBytes(int64(len(body)))
	b.SetParallelism(2) // 2 x GOMAXPROCS goroutines
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m, _, err := box.ReceiveRouted(ctx, in("x"), bytes.NewReader(body), nil)
			if err != nil {
				b.Error(err)
				return
			}
			if err := box.Route(ctx, m.ID, []string{"p"}, ""); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	reportRate(b, "msgs/s")
}

// BenchmarkReceiveRoute16 is BenchmarkReceiveRoute from 16 goroutines
// whatever GOMAXPROCS, as a busy engine's receive locations and routers
// are: the load group commit is for.
func BenchmarkReceiveRoute16(b *testing.B) {
	const goroutines = 16
	box := openTemp(b, Options{})
	body := bytes.Repeat([]byte("<order/>"), 512)
	ctx := context.Background()
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				m, _, err := box.ReceiveRouted(ctx, in("x"), bytes.NewReader(body), nil)
				if err != nil {
					b.Error(err)
					return
				}
				if err := box.Route(ctx, m.ID, []string{"p"}, ""); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	reportRate(b, "msgs/s")
	b.ReportMetric(float64(box.commits.Load())/float64(b.N), "commits/msg")
}

// fill stores n routed 4 KiB messages for the Claim benchmarks, outside the
// timer.
func fill(b *testing.B, box *Box, n int) {
	b.Helper()
	ctx := context.Background()
	body := bytes.Repeat([]byte("<order/>"), 512)
	for i := 0; i < n; i++ {
		m, _, err := box.ReceiveRouted(ctx, in("x"), bytes.NewReader(body), nil)
		if err != nil {
			b.Fatal(err)
		}
		if err := box.Route(ctx, m.ID, []string{"p"}, ""); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkClaimFinish measures the send side's bookkeeping: claim a due
// delivery and record it delivered (two commits), the transport left out.
func BenchmarkClaimFinish(b *testing.B) {
	box := openTemp(b, Options{})
	fill(b, box, b.N)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d, err := msgboxtest.ClaimOne(ctx, box, "srv1", []string{"p"}, time.Minute)
		if err != nil || d == nil {
			b.Fatalf("Claim: %v, %v", d, err)
		}
		if err := box.Finish(ctx, d.ID, "srv1", msgbox.Outcome{State: msgbox.DeliveryDelivered}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	reportRate(b, "msgs/s")
}

// BenchmarkClaimFinishParallel is BenchmarkClaimFinish with several workers.
func BenchmarkClaimFinishParallel(b *testing.B) {
	box := openTemp(b, Options{})
	fill(b, box, b.N)
	ctx := context.Background()
	var worker atomic.Int64
	b.SetParallelism(2)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		owner := fmt.Sprintf("w%d", worker.Add(1))
		for pb.Next() {
			d, err := msgboxtest.ClaimOne(ctx, box, owner, []string{"p"}, time.Minute)
			if err != nil || d == nil {
				b.Errorf("Claim: %v, %v", d, err)
				return
			}
			if err := box.Finish(ctx, d.ID, owner, msgbox.Outcome{State: msgbox.DeliveryDelivered}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	reportRate(b, "msgs/s")
}

// BenchmarkLargeBody receives a 100 MiB body and reads it back, and reports
// the memory that took: peak-heap-MiB is the highest Go heap (live and not
// yet collected objects) sampled during the operation, above what was in use
// before it; peak-rss-MiB the process's peak resident set (VmHWM, reset
// before each operation where Linux allows), which includes SQLite's own
// page cache and buffers outside the Go heap. B/op counts every byte
// allocated, collected or not.
func BenchmarkLargeBody(b *testing.B) {
	const size = 100 << 20
	box := openTemp(b, Options{})
	ctx := context.Background()
	b.SetBytes(size)
	b.ReportAllocs()
	var peakHeap, peakRSS uint64
	for i := 0; i < b.N; i++ {
		runtime.GC()
		resetPeakRSS()
		base := heapObjects()
		stop := sampleHeap()
		m, _, err := box.ReceiveRouted(ctx, in("big.bin"), pattern(byte(i), size), nil)
		if err != nil {
			b.Fatal(err)
		}
		rc, err := box.Body(ctx, m.ID)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil || n != size {
			b.Fatalf("read back %d bytes, %v", n, err)
		}
		peak := stop()
		if peak > base && peak-base > peakHeap {
			peakHeap = peak - base
		}
		if rss := peakRSSBytes(); rss > peakRSS {
			peakRSS = rss
		}
	}
	b.ReportMetric(float64(peakHeap)/(1<<20), "peak-heap-MiB")
	if peakRSS > 0 {
		b.ReportMetric(float64(peakRSS)/(1<<20), "peak-rss-MiB")
	}
}

func heapObjects() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// sampleHeap samples the heap every millisecond until the returned function
// is called, which returns the highest value seen.
func sampleHeap() func() uint64 {
	var mu sync.Mutex
	var peak uint64
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			h := heapObjects()
			mu.Lock()
			peak = max(peak, h)
			mu.Unlock()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		<-finished
		mu.Lock()
		defer mu.Unlock()
		return max(peak, heapObjects())
	}
}

// resetPeakRSS resets VmHWM (Linux: writing 5 to clear_refs). Where that is
// not allowed, the reported peak is that of the whole process so far.
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// peakRSSBytes returns VmHWM from /proc/self/status, or 0 where there is none.
func peakRSSBytes() uint64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}

// BenchmarkBatchCycle is the box's share of the engine's durable path per
// message, as run drives it: receive 4 KiB messages in batches of 64,
// routed to one port, claim their deliveries in batches of 16 with the
// messages and bodies preloaded, and record them delivered in one
// FinishBatch per claim. One goroutine, so ns/op is close to the CPU
// each message costs the box (fsyncs included, on the temporary
// directory's file system).
func BenchmarkBatchCycle(b *testing.B) {
	const claimBatch = 16
	box, receipts, reportCPU := startCycle(b)
	ctx := context.Background()
	for done := 0; done < b.N; {
		items := receipts(done)
		n := len(items)
		for _, r := range box.ReceiveBatch(ctx, items, cycleRoute) {
			if r.Err != nil {
				b.Fatal(r.Err)
			}
		}
		for left := n; left > 0; {
			ds, err := box.ClaimBatch(ctx, "w", []string{"p"}, time.Minute, claimBatch, nil)
			if err != nil || len(ds) == 0 {
				b.Fatalf("ClaimBatch: %d, %v", len(ds), err)
			}
			fin := make([]msgbox.Finishing, len(ds))
			for i, d := range ds {
				if d.Message == nil {
					b.Fatal("not preloaded")
				}
				fin[i] = msgbox.Finishing{DeliveryID: d.ID, Owner: "w", Outcome: msgbox.Outcome{State: msgbox.DeliveryDelivered}}
			}
			for _, err := range box.FinishBatch(ctx, fin) {
				if err != nil {
					b.Fatal(err)
				}
			}
			left -= len(ds)
		}
		done += n
	}
	b.StopTimer()
	reportRate(b, "msgs/s")
	reportCPU()
}

// BenchmarkHandoffCycle is the box's share of the engine's durable path
// per message when the workers keep up, as in most of a file-to-file
// run --once: receive 4 KiB messages in batches of 64, claiming their
// deliveries in the same transaction (ReceiveHandoff, with the messages
// and bodies in hand), then record them delivered as run's workers do, 16
// to a FinishBatch, the four calls at once, so that the box's writer
// folds them into fewer transactions as it does the workers' (commits/msg
// says how many it made). BenchmarkBatchCycle, with a claim and a finish of their own per 16, is
// the box's cost when the workers fall behind.
func BenchmarkHandoffCycle(b *testing.B) {
	const workerBatch = 16
	box, receipts, reportCPU := startCycle(b)
	ctx := context.Background()
	h := msgbox.Handoff{Owner: "w", Ports: []string{"p"}, Lease: time.Minute}
	for done := 0; done < b.N; {
		items := receipts(done)
		n := len(items)
		var fin []msgbox.Finishing
		for _, r := range box.ReceiveHandoff(ctx, items, cycleRoute, h) {
			if r.Err != nil || len(r.Claimed) != 1 || r.Claimed[0].Body == nil {
				b.Fatalf("ReceiveHandoff: %v, %d claimed", r.Err, len(r.Claimed))
			}
			fin = append(fin, msgbox.Finishing{DeliveryID: r.Claimed[0].ID, Owner: "w",
				Outcome: msgbox.Outcome{State: msgbox.DeliveryDelivered}})
		}
		var wg sync.WaitGroup
		for k := 0; k < len(fin); k += workerBatch {
			part := fin[k:min(k+workerBatch, len(fin))]
			wg.Go(func() {
				for _, err := range box.FinishBatch(ctx, part) {
					if err != nil {
						b.Error(err)
					}
				}
			})
		}
		wg.Wait()
		done += n
	}
	b.StopTimer()
	b.ReportMetric(float64(box.commits.Load())/float64(b.N), "commits/msg")
	reportRate(b, "msgs/s")
	reportCPU()
}

// cycleRoute routes every message of the cycle benchmarks to port "p".
func cycleRoute(msgbox.Message) ([]string, string) { return []string{"p"}, "" }

// startCycle opens the box of a cycle benchmark and starts its
// measurements; receipts(done) is its next batch of 4 KiB messages (64,
// or what is left of b.N), numbered from done. Each has a SourceKey
// shaped as the file transport's ("<location>/<second><random>-NAME"),
// as the engine's do: de-duplication (its lookup and its unique index)
// is part of what the box does per message, about a tenth of it.
func startCycle(b *testing.B) (box *Box, receipts func(done int) []msgbox.Receipt, reportCPU func()) {
	const receiveBatch = 64
	box = openTemp(b, Options{})
	body := bytes.Repeat([]byte("<order/>"), 512)
	rng := rand.New(rand.NewPCG(1, 2))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	reportCPU = cpubench.Start(b, "msg")
	b.ResetTimer()
	return box, func(done int) []msgbox.Receipt {
		items := make([]msgbox.Receipt, min(receiveBatch, b.N-done))
		for i := range items {
			name := fmt.Sprintf("m%d.xml", done+i)
			items[i] = msgbox.Receipt{In: in(name), Body: bytes.NewReader(body)}
			items[i].In.SourceKey = fmt.Sprintf("orders_in/%06x%010x-%s", time.Now().Unix()&0xffffff, rng.Uint64()&(1<<40-1), name)
		}
		return items
	}, reportCPU
}

// BenchmarkPurgeAmongKept is an hourly --retention purge in a box that
// keeps many more messages than it purges: 1,000 delivered messages
// older than the cutoff, then 50,000 delivered since. It reports how long
// the purge took, its commits, and the longest an engine's write (a
// probe committing nothing, in a loop beside it) waited: how long the
// purge held the write lock at once.
//
//	TMPDIR=/mnt/ext4 go test ./internal/msgbox/sqlitebox -run '^$' -bench PurgeAmongKept -benchtime 1x
func BenchmarkPurgeAmongKept(b *testing.B) {
	const old, kept = 1000, 50000
	ctx := context.Background()
	for range b.N {
		b.StopTimer()
		box := openTemp(b, Options{})
		body := bytes.Repeat([]byte("<order/>"), 512)
		h := msgbox.Handoff{Owner: "w", Ports: []string{"p"}, Lease: time.Minute}
		fillDelivered := func(n int) {
			for done := 0; done < n; done += 64 {
				items := make([]msgbox.Receipt, min(64, n-done))
				for i := range items {
					items[i] = msgbox.Receipt{In: in(fmt.Sprintf("m%d.xml", done+i)), Body: bytes.NewReader(body)}
				}
				var fin []msgbox.Finishing
				for _, r := range box.ReceiveHandoff(ctx, items, cycleRoute, h) {
					if r.Err != nil || len(r.Claimed) != 1 {
						b.Fatalf("ReceiveHandoff: %v", r.Err)
					}
					fin = append(fin, msgbox.Finishing{DeliveryID: r.Claimed[0].ID, Owner: "w", Outcome: msgbox.Outcome{State: msgbox.DeliveryDelivered}})
				}
				for _, err := range box.FinishBatch(ctx, fin) {
					if err != nil {
						b.Fatal(err)
					}
				}
			}
		}
		fillDelivered(old)
		time.Sleep(2 * time.Millisecond)
		cutoff := time.Now()
		time.Sleep(2 * time.Millisecond)
		fillDelivered(kept)
		commits := box.commits.Load()
		stop := make(chan struct{})
		var longest time.Duration
		var probes int64
		var probe sync.WaitGroup
		probe.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				if err := box.withWrite(ctx, func(context.Context, *cachedTx) error { return nil }); err != nil {
					b.Error(err)
					return
				}
				longest = max(longest, time.Since(start))
				probes++
				time.Sleep(time.Millisecond)
			}
		})
		b.StartTimer()
		start := time.Now()
		n, err := box.Purge(ctx, cutoff)
		took := time.Since(start)
		b.StopTimer()
		close(stop)
		probe.Wait()
		if err != nil || n != old {
			b.Fatalf("Purge = %d, %v; want %d", n, err, old)
		}
		b.ReportMetric(took.Seconds(), "purge-s")
		b.ReportMetric(float64(box.commits.Load()-commits-probes), "commits")
		b.ReportMetric(float64(longest.Microseconds())/1000, "longest-write-wait-ms")
		box.Close()
	}
}

// BenchmarkWriteBesideBusyEngine: how long another process's write (an
// operator's `bizpipe messages` command) waits for the write lock while
// the engine's writer always has work queued (-goroutines of them,
// delivering without pause), per write and at the 90th percentile and
// worst of -benchtime writes; and how many messages the engine delivers a
// second meanwhile.
//
//	TMPDIR=/mnt/ext4 go test ./internal/msgbox/sqlitebox -run '^$' -bench WriteBesideBusyEngine -benchtime 30x
func BenchmarkWriteBesideBusyEngine(b *testing.B) {
	for _, g := range []int{64, 256} {
		b.Run(fmt.Sprint("goroutines-", g), func(b *testing.B) {
			engine, cli := engineAndCLI(b)
			start := time.Now()
			waits, delivered, err := writesBesideBusyEngine(b.Context(), engine, cli, g, b.N)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(delivered)/time.Since(start).Seconds(), "engine-msgs/s")
			b.ReportMetric(float64(waits[len(waits)*9/10].Microseconds())/1000, "p90-ms")
			b.ReportMetric(float64(waits[len(waits)-1].Microseconds())/1000, "max-ms")
		})
	}
}

// BenchmarkRenewHeld renews the leases of 256 deliveries in flight, as a
// runner's renew loop does every third of the lease: "together" in one
// Renew (a transaction per msgbox.MaxBatch), "each" in one Renew per
// lease, one after the other, as the loop did before. ns/op is one round.
func BenchmarkRenewHeld(b *testing.B) {
	const held = 256
	ctx := context.Background()
	box := openTemp(b, Options{})
	items := make([]msgbox.Receipt, held)
	for i := range items {
		items[i] = msgbox.Receipt{In: in(fmt.Sprintf("m%d.xml", i)), Body: strings.NewReader("<order/>")}
	}
	for _, r := range box.ReceiveBatch(ctx, items, cycleRoute) {
		if r.Err != nil {
			b.Fatal(r.Err)
		}
	}
	var leases []msgbox.Renewal
	for len(leases) < held {
		ds, err := box.ClaimBatch(ctx, "w", []string{"p"}, time.Minute, 64, nil)
		if err != nil || len(ds) == 0 {
			b.Fatalf("claim: %d, %v", len(ds), err)
		}
		for _, d := range ds {
			leases = append(leases, msgbox.Renewal{DeliveryID: d.ID, Owner: "w"})
		}
	}
	check := func(errs []error) {
		for _, err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("together", func(b *testing.B) {
		for b.Loop() {
			check(box.Renew(ctx, time.Minute, leases...))
		}
	})
	b.Run("each", func(b *testing.B) {
		for b.Loop() {
			for _, l := range leases {
				check(box.Renew(ctx, time.Minute, l))
			}
		}
	})
}
