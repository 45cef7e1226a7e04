package smime

import (
	"io"
	"sync"

	"github.com/bizpipe/bizpipe/internal/component"
)

// asyncWriter runs the layers below it (the envelope: encryption and its
// transfer encoding, and the transport's writes) in a goroutine of their
// own, a few chunks behind the layers above (the signature and the
// content's transfer encoding), so that a large message uses two cores:
// both halves cost about as much. The first chunk's worth is written
// through, in the caller's goroutine, as it comes: a message smaller than
// one chunk (the common case) never starts the goroutine nor needs a
// buffer.
//
// Close (or abort, after a failure above) must be called: it ends the
// goroutine.
type asyncWriter struct {
	next io.WriteCloser

	through int         // octets written through, up to asyncChunk
	cur     []byte      // the chunk being filled
	ch      chan []byte // filled chunks, to the goroutine
	free    chan []byte // chunks the goroutine is done with
	made    int         // chunks allocated
	started bool
	ended   bool
	done    chan struct{} // closed when the goroutine returns

	mu  sync.Mutex
	err error // the first error of next.Write
}

const (
	asyncChunk = 256 << 10
	asyncDepth = 4 // chunks in flight: about 1 MiB
)

func newAsyncWriter(next io.WriteCloser) *asyncWriter {
	return &asyncWriter{next: next}
}

func (a *asyncWriter) failed() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}

func (a *asyncWriter) Write(p []byte) (int, error) {
	n := 0
	if err := a.failed(); err != nil {
		return 0, err // nothing more goes below a failure, written through or not
	}
	if a.through < asyncChunk && len(p) > 0 {
		k := min(len(p), asyncChunk-a.through)
		k, err := a.next.Write(p[:k])
		a.through += k
		if err != nil {
			a.mu.Lock()
			a.err = err // Close reports it, and does not close next
			a.mu.Unlock()
			return k, err
		}
		p, n = p[k:], k
	}
	for len(p) > 0 {
		if err := a.failed(); err != nil {
			return n, err
		}
		if a.cur == nil {
			a.cur = a.chunk()
		}
		k := copy(a.cur[len(a.cur):cap(a.cur)], p)
		a.cur = a.cur[:len(a.cur)+k]
		p, n = p[k:], n+k
		if len(a.cur) == asyncChunk {
			a.send()
		}
	}
	return n, nil
}

// chunk returns an empty chunk: a new one while fewer than asyncDepth+1
// exist, else one the goroutine is done with.
func (a *asyncWriter) chunk() []byte {
	if a.made <= asyncDepth {
		a.made++
		return make([]byte, 0, asyncChunk)
	}
	return <-a.free
}

// send hands the current chunk to the goroutine, starting it first.
func (a *asyncWriter) send() {
	if !a.started {
		a.started = true
		a.ch = make(chan []byte, asyncDepth)
		a.free = make(chan []byte, asyncDepth+1)
		a.done = make(chan struct{})
		go a.run()
	}
	a.ch <- a.cur
	a.cur = nil
}

// run writes the chunks to next until the channel closes; after an error
// it drains them, so that Write never blocks on a goroutine that gave up.
func (a *asyncWriter) run() {
	defer close(a.done)
	for b := range a.ch {
		if a.failed() == nil {
			if err := a.write(b); err != nil {
				a.mu.Lock()
				a.err = err
				a.mu.Unlock()
			}
		}
		a.free <- b[:0]
	}
}

// write writes b to next, a panic below (a bug: the encryption's, or the
// transport's) its error: in this goroutine, nothing else could recover
// it, and the process would die with every delivery in flight.
func (a *asyncWriter) write(b []byte) (err error) {
	defer component.Recover(&err, "")
	_, err = a.next.Write(b)
	return err
}

// end stops the goroutine once it has written what it was given.
func (a *asyncWriter) end() {
	if a.ended {
		return
	}
	a.ended = true
	if a.started {
		close(a.ch)
		<-a.done
	}
}

// Close writes what remains, waits for the goroutine, then closes next.
func (a *asyncWriter) Close() error {
	if !a.ended && len(a.cur) > 0 {
		a.send()
	}
	a.end()
	if err := a.failed(); err != nil {
		return err
	}
	return a.next.Close()
}

// abort ends the goroutine without writing or closing anything more: the
// layers above failed.
func (a *asyncWriter) abort() { a.end() }
