// Package testhttp holds what the tests of HTTP servers and clients share.
package testhttp

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Do sends req with c (http.DefaultClient when nil) and returns the
// response with its body read whole, and closed. Failing to send the
// request or to read the answer fails the test: what the answer says is
// the caller's to judge.
func Do(t testing.TB, c *http.Client, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the answer to %s %s: %v", req.Method, req.URL, err)
	}
	return resp, b
}

// Answer reads the answer on c, a raw connection a test wrote a request
// to by hand, and returns it with its body read whole, and closed. Failing
// to read the answer or its body fails the test; so does an answer that
// does not come within 30 seconds, which would otherwise hang the test.
func Answer(t testing.TB, c net.Conn) (*http.Response, string) {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the answer's body: %v", err)
	}
	return resp, string(b)
}

// RawPartner listens on 127.0.0.1 as a partner that answers every request
// with answer, bytes written as they are (a malformed or doubled answer, as
// no server library would write), once it has read the request whole; it
// then holds the connection until the client closes it. It returns the
// listener's address and a channel that receives a value each time it has
// answered (dropped when nobody waits). The listener closes with the test.
func RawPartner(t testing.TB, answer string) (addr string, answered <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	done := make(chan struct{}, 1)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				_, _ = io.Copy(io.Discard, req.Body)
				_, _ = io.WriteString(c, answer)
				select {
				case done <- struct{}{}:
				default:
				}
				_, _ = io.Copy(io.Discard, c) // until the client closes
			}()
		}
	}()
	return ln.Addr().String(), done
}

// InChild runs the test named name again in a process of its own, with
// env set, and fails t unless it passes there; it returns true in that
// child, which then runs the test's body. net/http reads the proxy
// variables once per process: a test that sets them needs a process of
// its own.
func InChild(t *testing.T, env, name string) (child bool) {
	t.Helper()
	if os.Getenv(env) != "" {
		return true
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+name+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env+"=1")
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "PASS") {
		t.Fatalf("%v\n%s", err, out)
	}
	return false
}

// ViaProxy makes proxyURL, with user "user" and password "pw", the
// process's HTTP_PROXY, and clears the variables that would send a request
// elsewhere; for a test run by InChild.
func ViaProxy(t *testing.T, proxyURL string) {
	t.Helper()
	for _, name := range []string{"HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy", "REQUEST_METHOD"} {
		t.Setenv(name, "")
	}
	t.Setenv("HTTP_PROXY", strings.Replace(proxyURL, "http://", "http://user:pw@", 1))
}
