package pgbox

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestSilentConnect: an operation whose last retry ran out of its connect
// timeout (a server that accepts and never answers) fails saying the
// database did not answer, as one whose open connection went silent does,
// and still is the connect error underneath; other errors are left as
// they are.
func TestSilentConnect(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // accepted, never answered
		}
	}()
	connectErr := func(addr string) error {
		cfg, err := pgconn.ParseConfig("postgres://u@" + addr + "/db?sslmode=disable&connect_timeout=1")
		if err != nil {
			t.Fatal(err)
		}
		cfg.ConnectTimeout = 200 * time.Millisecond
		c, err := pgconn.ConnectConfig(context.Background(), cfg)
		if err == nil {
			c.Close(context.Background())
			t.Fatalf("connected to %s", addr)
		}
		return err
	}
	timedOut := connectErr(ln.Addr().String())
	refused := func() error {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		return connectErr(addr)
	}()
	silent := &noAnswerError{within: time.Second}
	other := errors.New("relation does not exist")
	for _, tc := range []struct {
		name   string
		err    error
		silent bool
	}{
		{"connect timed out", timedOut, true},
		{"connect refused", refused, false},
		{"already silent", silent, false},
		{"other", other, false},
	} {
		got := silentConnect(tc.err, 200*time.Millisecond)
		switch {
		case tc.silent && (!isNoAnswer(got) || !strings.Contains(got.Error(), "did not answer for 200ms") || !errors.Is(got, tc.err)):
			t.Errorf("%s: %v; want it said the database did not answer for 200ms, wrapping %v", tc.name, got, tc.err)
		case !tc.silent && got != tc.err:
			t.Errorf("%s: %v; want %v unchanged", tc.name, got, tc.err)
		}
	}
}
