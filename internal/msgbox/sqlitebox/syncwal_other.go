//go:build !linux

package sqlitebox

import "errors"

// syncWALRaw is used on Linux only (see syncwal_linux.go); syncWAL opens
// the log with os.OpenFile elsewhere.
func syncWALRaw(string) error { return errors.New("syncWALRaw: Linux only") }
