package filelock

import (
	"path/filepath"
	"testing"
)

// TestTurn: the holder sees a turn asked for exactly while a waiter holds
// it, whoever else has the file open; asking does not keep the other
// waiters out, and looking does not keep anyone from asking.
func TestTurn(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.turn")
	holder, err := OpenTurn(path, true)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	// Waiters open the file the holder created, read-only.
	a, err := OpenTurn(path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := OpenTurn(path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	if holder.Asked() {
		t.Fatal("Asked with no waiter: true")
	}
	if !a.Ask() {
		t.Fatal("a.Ask failed")
	}
	if !b.Ask() {
		t.Fatal("b.Ask beside a's: failed; want waiters to share")
	}
	for range 2 { // looking again finds the same
		if !holder.Asked() {
			t.Fatal("Asked while two waiters ask: false")
		}
	}
	a.Done()
	if !holder.Asked() {
		t.Fatal("Asked while b still asks: false")
	}
	b.Done()
	if holder.Asked() {
		t.Fatal("Asked once every waiter is done: true")
	}
	// Asked released the lock it took to look.
	if !a.Ask() {
		t.Fatal("Ask after Asked: failed")
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if holder.Asked() {
		t.Fatal("Asked after the waiter closed its file: true; closing must release")
	}
	if err := a.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestOpenTurnWithoutCreateNeedsTheFile(t *testing.T) {
	if _, err := OpenTurn(filepath.Join(t.TempDir(), "x.turn"), false); err == nil {
		t.Error("OpenTurn of a missing file without create: nil error")
	}
}
