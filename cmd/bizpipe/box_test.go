package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// closingListener accepts connections on 127.0.0.1 and closes each at
// once, as a port whose server is down but reachable would: a PostgreSQL
// client fails its connection attempt and may try again. It counts them.
func closingListener(t *testing.T) (addr string, accepted *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	accepted = new(atomic.Int64)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	return ln.Addr().String(), accepted
}

// TestOperatorCommandsFailFastOnAnUnreachableBox: an operator command on a
// postgres box it cannot reach fails at its first connection attempt, exit
// 1, naming the box, instead of retrying for run's reconnect timeout (30 s
// of silence).
func TestOperatorCommandsFailFastOnAnUnreachableBox(t *testing.T) {
	for _, args := range [][]string{
		{"messages", "list"},
		{"messages", "show", "01m8djzxdf3m4vr2at1vy2kb3t"},
		{"messages", "resume", "--all-suspended"},
		{"messages", "purge", "--older-than", "30d"},
		{"route", "--message", "01m8djzxdf3m4vr2at1vy2kb3t"},
	} {
		t.Run(strings.Join(args[:2], " "), func(t *testing.T) {
			addr, accepted := closingListener(t)
			dir := t.TempDir()
			url := fmt.Sprintf("postgres://bizpipe:pw@%s/bizpipe?sslmode=disable", addr)
			hcl := fmt.Sprintf("group \"g\" {}\nmessage_box {\n  postgres { url = %q }\n}\n", url)
			if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(hcl), 0o644); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			code := run(append(args, dir), &stdout, &stderr, noEnv)
			if code != exitFindings {
				t.Errorf("exit %d, stderr %q; want %d", code, &stderr, exitFindings)
			}
			if want := "message box postgres bizpipe@" + addr + "/bizpipe"; !strings.Contains(stderr.String(), want) {
				t.Errorf("stderr %q does not name the box (%s)", &stderr, want)
			}
			if n := accepted.Load(); n != 1 {
				t.Errorf("%d connection attempts, want 1", n)
			}
		})
	}
}
