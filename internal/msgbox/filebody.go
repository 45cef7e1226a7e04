package msgbox

import "io"

// A FileBody is a body that is one whole regular file on disk: a file
// receive location's input. A box that keeps large bodies as files may
// keep this one's file itself, by a hard link on the same file system,
// instead of copying it: a 1 GiB input then costs a link, a checksum pass
// and a sync of data the producer has usually synced already, instead of
// a copy written to disk a second time.
type FileBody interface {
	io.Reader
	// Size is the file's size as listed: a box uses it to choose, before
	// reading anything, where the body goes.
	Size() int64
	// LinkTo makes path (which must not exist) a hard link to the file and
	// reports true, when the box may keep the file as it is: nothing of it
	// has been read, this process owns it, it has no other link (nobody
	// else can reach it by name), no process has it open for writing
	// (nobody can change it any more), and it is still as listed. Otherwise,
	// or when the link fails (another file system, a platform without
	// hard links), it reports false, leaves nothing behind, and the body
	// is read as usual.
	LinkTo(path string) bool
}
