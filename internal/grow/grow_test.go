package grow

import "testing"

func TestRoom(t *testing.T) {
	tests := []struct {
		name     string
		len, cap int
		n, limit int
		wantCap  int
		wantSame bool // b itself, contents kept
	}{
		{"room enough", 10, 100, 90, 1000, 100, true},
		{"capacity at the limit", 100, 100, 1, 100, 100, true},
		{"short of room with contents", 5000, 5000, 1, 1 << 20, 5000, true},
		{"nil starts at first", 0, 0, 10, 1 << 20, first, false},
		{"nil, asks more than first", 0, 0, 10000, 1 << 20, 10000, false},
		{"empty doubles", 0, 5000, 6000, 1 << 20, 10000, false},
		{"empty, asks more than double", 0, 5000, 20000, 1 << 20, 20000, false},
		{"never beyond the limit", 0, 5000, 1 << 20, 6000, 6000, false},
		{"first capped by the limit", 0, 0, 10, 100, 100, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := make([]byte, tt.len, tt.cap)
			got := Room(b, tt.n, tt.limit)
			if cap(got) != tt.wantCap {
				t.Errorf("cap = %d, want %d", cap(got), tt.wantCap)
			}
			same := cap(b) > 0 && cap(got) > 0 && &got[:cap(got)][0] == &b[:cap(b)][0] && len(got) == len(b)
			if same != tt.wantSame {
				t.Errorf("returned b itself = %v, want %v", same, tt.wantSame)
			}
			if !same && len(got) != 0 {
				t.Errorf("a new buffer of length %d, want empty", len(got))
			}
		})
	}
}
