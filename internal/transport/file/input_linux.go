package file

import "golang.org/x/sys/unix"

// openedInput makes fd, an input opened by openNoFollow, a rawFile: an
// *os.File would cost a fcntl(2) and an epoll_ctl(2) more per input (see
// rawFile).
func openedInput(fd int, path string) inputFile { return newRawFile(fd, path) }

// holdUnwritten takes a read lease on f's file (fcntl F_SETLEASE F_RDLCK),
// which Linux grants only while no process has the file open for writing
// (a writable shared mapping holds it open too), and returns its release.
// A box may keep a file only so (msgbox.FileBody): a producer that still
// holds it open could otherwise rewrite the stored body after its input
// was acknowledged. ok is false when a process has it open for writing, or
// where no lease is to be had (a file system without leases, leases turned
// off): the input is copied then. While the lease is held, an open for
// writing waits for its release (a lease break, whose SIGIO to this
// process the Go runtime ignores).
func holdUnwritten(f inputFile) (release func(), ok bool) {
	d, isFd := f.(interface{ Fd() uintptr })
	if !isFd {
		return nil, false
	}
	fd := int(d.Fd())
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETLEASE, unix.F_RDLCK); err != nil {
		return nil, false
	}
	return func() { _, _ = unix.FcntlInt(uintptr(fd), unix.F_SETLEASE, unix.F_UNLCK) }, true
}
