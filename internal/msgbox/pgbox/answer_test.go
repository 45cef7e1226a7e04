package pgbox

import (
	"bytes"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// TestAnswerConnSlowTransfer: a database that takes a large write slowly
// but steadily (a batch of bodies over a slow link) is not silent: the
// write goes on as long as each answerWithin passes bytes on, and a read
// pgx makes meanwhile (its background reader, while it writes) waits for
// the answer, which comes once the database has read it all. Before, the
// write was given up once it had lasted answerWithin in all, and the read
// once it had waited answerWithin, and the pool reset: such a batch
// failed at every retry. A peer that takes nothing is still given up.
func TestAnswerConnSlowTransfer(t *testing.T) {
	// Not parallel: the peer's pace (40 ms a KiB) against within (200 ms)
	// assumes a machine that is not busy with the other tests.
	const within = 200 * time.Millisecond
	ours, theirs := net.Pipe()
	defer ours.Close()
	defer theirs.Close()
	var w atomic.Int64
	w.Store(int64(within))
	var silences atomic.Int32
	c := &answerConn{Conn: ours, within: &w, silent: func() { silences.Add(1) }}

	// The peer reads 1 KiB every 40 ms (about 3.5 times within for the
	// whole), then answers.
	sent := bytes.Repeat([]byte("x"), 18<<10)
	peer := make(chan error, 1)
	go func() {
		buf := make([]byte, 1<<10)
		for got := 0; got < len(sent); {
			time.Sleep(40 * time.Millisecond)
			n, err := io.ReadFull(theirs, buf[:min(len(buf), len(sent)-got)])
			got += n
			if err != nil {
				peer <- err
				return
			}
		}
		_, err := theirs.Write([]byte("answer"))
		peer <- err
	}()
	read := make(chan error, 1)
	var answer [6]byte
	go func() {
		time.Sleep(15 * time.Millisecond) // as pgx's background reader
		_, err := io.ReadFull(c, answer[:])
		read <- err
	}()
	if n, err := c.Write(sent); err != nil || n != len(sent) {
		t.Fatalf("a write the database takes slowly: %d of %d bytes, %v", n, len(sent), err)
	}
	if err := <-read; err != nil || string(answer[:]) != "answer" {
		t.Fatalf("the read made while writing: %q, %v", answer, err)
	}
	if err := <-peer; err != nil {
		t.Fatal(err)
	}
	if n := silences.Load(); n != 0 {
		t.Errorf("the connection was reported silent %d times", n)
	}

	// A peer that takes nothing more: the write and the read give up.
	start := time.Now()
	if _, err := c.Write(sent); !isNoAnswer(err) {
		t.Errorf("a write nobody takes: %v, want a noAnswerError", err)
	}
	if _, err := c.Read(answer[:]); !isNoAnswer(err) {
		t.Errorf("a read nobody answers: %v, want a noAnswerError", err)
	}
	if took := time.Since(start); took > 4*within {
		t.Errorf("giving up took %v, want about %v", took, 2*within)
	}
}
