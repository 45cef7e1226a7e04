//go:build linux

package pgbox

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/cpubench"
	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/msgbox/msgboxtest"
)

// The benchmarks run against the test server pgtest starts: on this machine,
// over TCP on 127.0.0.1, with fsync off. They measure the box's round trips
// and the database's work, not a disk's sync latency, which a production
// server adds to every commit (a Receive, a Route, a Claim and a Finish
// commit once each).

var body4K = bytes.Repeat([]byte("<order/>"), 512) // 4 KiB

func in4K() msgbox.Incoming {
	return msgbox.Incoming{ReceiveLocation: "orders_in", FileName: "order.xml", ContentType: "application/xml",
		Properties: map[string]string{"partner": "fabrikam"}}
}

// parallel runs op b.N times in total, from workers goroutines, and
// reports the rate.
func parallel(b *testing.B, workers int, op func(worker, i int) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				if err := op(w, i); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkReceiveRoute stores a 4 KiB message and routes it to one port
// (two commits), from 1 and 4 goroutines.
func BenchmarkReceiveRoute(b *testing.B) {
	for _, workers := range []int{1, 4} {
		b.Run(fmt.Sprintf("goroutines=%d", workers), func(b *testing.B) {
			box, _ := openNew(b, Options{})
			ctx := context.Background()
			b.SetBytes(int64(len(body4K)))
			b.ReportAllocs()
			parallel(b, workers, func(_, _ int) error {
				m, _, err := box.ReceiveRouted(ctx, in4K(), bytes.NewReader(body4K), nil)
				if err != nil {
					return err
				}
				return box.Route(ctx, m.ID, []string{"p"}, "")
			})
		})
	}
}

// BenchmarkClaimFinish claims a due delivery of a 4 KiB message and records
// it delivered (two commits), the transport left out, from 1 and 4
// goroutines.
func BenchmarkClaimFinish(b *testing.B) {
	for _, workers := range []int{1, 4} {
		b.Run(fmt.Sprintf("goroutines=%d", workers), func(b *testing.B) {
			box, _ := openNew(b, Options{})
			ctx := context.Background()
			// Filled before the timer, from 4 goroutines to keep it short.
			var filled atomic.Int64
			var wg sync.WaitGroup
			for range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for filled.Add(1) <= int64(b.N) {
						m, _, err := box.ReceiveRouted(ctx, in4K(), bytes.NewReader(body4K), nil)
						if err == nil {
							err = box.Route(ctx, m.ID, []string{"p"}, "")
						}
						if err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportAllocs()
			parallel(b, workers, func(w, _ int) error {
				owner := fmt.Sprintf("srv1/w%d", w)
				d, err := msgboxtest.ClaimOne(ctx, box, owner, []string{"p"}, time.Minute)
				if err != nil {
					return err
				}
				if d == nil {
					return fmt.Errorf("Claim: nothing due")
				}
				return box.Finish(ctx, d.ID, owner, msgbox.Outcome{State: msgbox.DeliveryDelivered})
			})
		})
	}
}

// BenchmarkLargeBody receives a 100 MiB body and reads it back, and reports
// the Go heap that took above what was in use before (peak-heap-MiB,
// sampled every millisecond): a few chunks, not the body.
func BenchmarkLargeBody(b *testing.B) {
	const size = 100 << 20
	box, _ := openNew(b, Options{})
	ctx := context.Background()
	b.SetBytes(size)
	b.ReportAllocs()
	var peakHeap uint64
	for i := 0; i < b.N; i++ {
		runtime.GC()
		base := heapObjects()
		stop := sampleHeap()
		m, _, err := box.ReceiveRouted(ctx, in4K(), io.LimitReader(rand.NewChaCha8([32]byte{byte(i)}), size), nil)
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
		if peak := stop(); peak > base && peak-base > peakHeap {
			peakHeap = peak - base
		}
	}
	b.ReportMetric(float64(peakHeap)/(1<<20), "peak-heap-MiB")
}

func heapObjects() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// sampleHeap samples the heap every millisecond until the returned function
// is called, which returns the highest value seen.
func sampleHeap() func() uint64 {
	var peak atomic.Uint64
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			if h := heapObjects(); h > peak.Load() {
				peak.Store(h)
			}
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
		return max(peak.Load(), heapObjects())
	}
}

// BenchmarkReceiveBatch stores and routes 4 KiB messages in batches of
// msgbox.MaxBatch, as a file receive location hands them over (one
// transaction of three round trips per batch). It reports this process's
// CPU per message besides B/op; the server's is not counted.
func BenchmarkReceiveBatch(b *testing.B) {
	box, _ := openNew(b, Options{})
	ctx := context.Background()
	route := func(msgbox.Message) ([]string, string) { return []string{"p"}, "" }
	b.SetBytes(int64(len(body4K)))
	b.ReportAllocs()
	reportCPU := cpubench.Start(b, "msg")
	b.ResetTimer()
	for done := 0; done < b.N; {
		items := make([]msgbox.Receipt, min(msgbox.MaxBatch, b.N-done))
		for i := range items {
			in := in4K()
			in.SourceKey = fmt.Sprintf("bench/%d", done+i)
			items[i] = msgbox.Receipt{In: in, Body: bytes.NewReader(body4K)}
		}
		for _, r := range box.ReceiveBatch(ctx, items, route) {
			if r.Err != nil || r.Dup {
				b.Fatalf("%+v", r)
			}
		}
		done += len(items)
	}
	b.StopTimer()
	reportCPU()
}
