//go:build unix

package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"
)

// After the first stop signal, a second one ends the process at once with
// exit code 1, instead of being ignored while the stop waits.
func TestSecondStopSignalExitsAtOnce(t *testing.T) {
	// The test's own catch: a SIGHUP sent before stopAtSecondSignal
	// listens must not kill the test binary.
	guard := make(chan os.Signal, 16)
	signal.Notify(guard, syscall.SIGHUP)
	defer signal.Stop(guard)

	codes := make(chan int, 1)
	exit := func(code int) { codes <- code }

	first, cancel := context.WithCancel(context.Background())
	cancel() // the first signal
	ran := make(chan struct{})
	defer close(ran)
	go stopAtSecondSignal(first, ran, slog.New(slog.DiscardHandler), exit)
	for deadline := time.Now().Add(10 * time.Second); ; {
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		select {
		case code := <-codes:
			if code != exitFindings {
				t.Errorf("exit code %d, want %d", code, exitFindings)
			}
			return
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("a second stop signal did not end the process")
		}
	}
}

// Before the first stop signal, and once run has returned, nothing is
// waited for.
func TestNoSecondSignalWaitAfterRun(t *testing.T) {
	ran := make(chan struct{})
	close(ran)
	done := make(chan struct{})
	go func() {
		stopAtSecondSignal(context.Background(), ran, slog.New(slog.DiscardHandler), os.Exit)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("stopAtSecondSignal outlived run")
	}
}
