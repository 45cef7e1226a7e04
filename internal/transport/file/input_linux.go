package file

import "golang.org/x/sys/unix"

// openedInput makes fd, an input opened by openNoFollow, a rawFile: an
// *os.File would cost a fcntl(2) and an epoll_ctl(2) more per input (see
// rawFile).
func openedInput(fd int, path string) inputFile { return newRawFile(fd, path) }

// holdUnwritten takes a read lease on f's file (fcntl F_SETLEASE F_RDLCK),
// which Linux grants only while no process has the file open for writing
// (a writable shared mapping holds it open too). A box may keep a file
// only so (msgbox.FileBody): a producer that still holds it open could
// otherwise rewrite the stored body after its input was acknowledged. ok
// is false when a process has it open for writing, or where no lease is
// to be had (a file system without leases, leases turned off): the input
// is copied then. A process that opens the file for writing while the
// lease is held waits for its release (a lease break, whose SIGIO to this
// process the Go runtime ignores), and may then write: release ends the
// lease and reports whether it was still whole, no such open having come.
func holdUnwritten(f inputFile) (release func() (held bool), ok bool) {
	d, isFd := f.(interface{ Fd() uintptr })
	if !isFd {
		return nil, false
	}
	fd := d.Fd()
	if _, err := unix.FcntlInt(fd, unix.F_SETLEASE, unix.F_RDLCK); err != nil {
		return nil, false
	}
	return func() bool {
		// While a break is pending, F_GETLEASE answers the type the
		// lease is being broken to (F_UNLCK for an open for writing).
		lease, err := unix.FcntlInt(fd, unix.F_GETLEASE, 0)
		_, _ = unix.FcntlInt(fd, unix.F_SETLEASE, unix.F_UNLCK)
		return err == nil && lease == unix.F_RDLCK
	}, true
}
