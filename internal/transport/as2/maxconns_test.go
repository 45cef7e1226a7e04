package as2

import (
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/config/value"
	"github.com/bizpipe/bizpipe/internal/transport/transporttest"
)

// TestReceiveMaxConnections: an as2 location holds no more connections
// than its max_connections: with its one slot held by a client that sent
// nothing, a partner's POST waits, and is answered once that client goes.
func TestReceiveMaxConnections(t *testing.T) {
	box := transporttest.NewBox(t)
	g := newRepeatRigOn(t, rigOptions{box: box, mdns: box, config: func(c *ReceiveConfig) {
		c.MaxConnections = value.Value[int]{V: 1}
	}})
	stalled, err := net.Dial("tcp", g.rc.serving.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	answered := make(chan int, 1)
	go func() {
		code, _ := g.post(t, "ISA*00~", nil)
		answered <- code
	}()
	// Not a timing assertion: the POST cannot be answered while the one
	// slot is held, however long this waits.
	select {
	case code := <-answered:
		t.Fatalf("POST answered %d while max_connections (1) were open", code)
	case <-time.After(300 * time.Millisecond):
	}
	stalled.Close()
	if code := <-answered; code != http.StatusOK {
		t.Fatalf("POST answered %d once the slot freed, want 200", code)
	}
}
