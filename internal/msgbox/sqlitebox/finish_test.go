package sqlitebox

import (
	"errors"
	"slices"
	"testing"
)

func TestInShares(t *testing.T) {
	tests := []struct {
		n    int
		want []int
	}{
		{0, nil},
		{1, []int{1}},
		{13, []int{8, 4, 1}},
		{16, []int{16}},
		{64, []int{64}},
		{100, []int{64, 32, 4}},
		{200, []int{64, 64, 64, 8}},
	}
	for _, tc := range tests {
		var got []int
		if err := inShares(tc.n, func(k int) error { got = append(got, k); return nil }); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("inShares(%d) = %v, want %v", tc.n, got, tc.want)
		}
	}
	boom := errors.New("boom")
	calls := 0
	if err := inShares(13, func(int) error { calls++; return boom }); err != boom || calls != 1 {
		t.Errorf("inShares with a failing fn: %v after %d calls, want boom after 1", err, calls)
	}
}
