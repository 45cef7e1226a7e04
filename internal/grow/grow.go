// Package grow sizes the buffers of streaming writers to what flows
// through them: a writer whose buffer is sized for a 100 MiB message
// would otherwise allocate and clear it whole for every 4 KiB one, the
// common case, and the engine handles thousands of those per second.
package grow

// first is the least capacity Room allocates: about a small message's
// whole transfer-encoded body.
const first = 4 << 10

// Room returns a buffer for n more bytes after b's contents, when it can
// have one without copying them: b itself if it has the room or its
// capacity is limit already, a new empty buffer if b is empty (at least
// twice b's capacity and first, at most limit). Otherwise it returns b,
// short of room: the caller writes b out and asks again. So a writer's
// buffer is sized at its first write to what that write brings, and
// grows towards limit only while what flows through it fills it.
func Room(b []byte, n, limit int) []byte {
	if cap(b)-len(b) >= n || cap(b) >= limit || len(b) > 0 {
		return b
	}
	return make([]byte, 0, min(max(2*cap(b), n, first), limit))
}
