//go:build race

package sqlitebox

// raceEnabled: the race detector slows SQLite (Go code, every memory
// access checked) some fiftyfold; tests that make thousands of writes to
// show a behaviour at scale make fewer.
const raceEnabled = true
