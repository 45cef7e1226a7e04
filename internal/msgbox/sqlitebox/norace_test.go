//go:build !race

package sqlitebox

// raceEnabled: see race_test.go.
const raceEnabled = false
