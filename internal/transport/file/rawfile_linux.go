package file

import (
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bizpipe/bizpipe/internal/fsop"
)

// rawFile is an open regular file as a bare descriptor: an input being
// read (openNoFollow) or an attempt's unnamed temporary file being written
// (openUnnamed). os.NewFile would cost each a fcntl(F_GETFL), and a
// non-blocking input an epoll_ctl that fails for a regular file too: two
// of the dozen or so system calls a message costs, for a poller that a
// regular file, whose reads and writes never wait for a peer, never uses.
// Like *os.File it is not for concurrent use with Close.
type rawFile struct {
	fd   int
	name string
	// os is the descriptor as an *os.File, once asOS made it one: it owns
	// the descriptor from then on, and Read and Close go through it.
	os *os.File
}

// maxRW bounds one read(2) or write(2), as package os does: Linux moves at
// most about 2 GiB per call anyway.
const maxRW = 1 << 30

func newRawFile(fd int, name string) *rawFile { return &rawFile{fd: fd, name: name} }

func (f *rawFile) Name() string { return f.name }

// Fd is the descriptor, valid until Close.
func (f *rawFile) Fd() uintptr { return uintptr(f.fd) }

func (f *rawFile) Read(p []byte) (int, error) {
	if f.os != nil {
		return f.os.Read(p)
	}
	if f.fd < 0 {
		return 0, f.wrap("read", os.ErrClosed)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if len(p) > maxRW {
		p = p[:maxRW]
	}
	var n int
	err := fsop.RetryEINTR(func() (err error) { n, err = unix.Read(f.fd, p); return err })
	switch {
	case err != nil:
		return 0, f.wrap("read", err)
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// Write writes all of p (a regular file takes it in one call but for an
// error, or more than maxRW).
func (f *rawFile) Write(p []byte) (int, error) {
	if f.os != nil {
		return f.os.Write(p)
	}
	if f.fd < 0 {
		return 0, f.wrap("write", os.ErrClosed)
	}
	n := 0
	for n < len(p) {
		var m int
		err := fsop.RetryEINTR(func() (err error) { m, err = unix.Write(f.fd, p[n:min(len(p), n+maxRW)]); return err })
		switch {
		case err != nil:
			return n, f.wrap("write", err)
		case m == 0:
			return n, f.wrap("write", io.ErrShortWrite)
		}
		n += m
	}
	return n, nil
}

func (f *rawFile) Sync() error {
	if f.os != nil {
		return f.os.Sync()
	}
	if f.fd < 0 {
		return f.wrap("sync", os.ErrClosed)
	}
	if err := fsop.RetryEINTR(func() error { return unix.Fsync(f.fd) }); err != nil {
		return f.wrap("sync", err)
	}
	return nil
}

// Stat is the descriptor's fstat(2). Its Sys is a *syscall.Stat_t, as an
// *os.File's is; os.SameFile does not take it (see sameFile).
func (f *rawFile) Stat() (fs.FileInfo, error) {
	if f.fd < 0 {
		return nil, f.wrap("stat", os.ErrClosed)
	}
	info := &rawInfo{name: filepath.Base(f.name)}
	if err := fsop.RetryEINTR(func() error { return syscall.Fstat(f.fd, &info.st) }); err != nil {
		return nil, f.wrap("stat", err)
	}
	return info, nil
}

func (f *rawFile) Close() error {
	if f.os != nil {
		f.fd = -1
		return f.os.Close()
	}
	if f.fd < 0 {
		return f.wrap("close", os.ErrClosed)
	}
	// close(2) is not retried on EINTR: Linux has released the descriptor
	// by then (as package os assumes).
	err := unix.Close(f.fd)
	f.fd = -1
	if err != nil {
		return f.wrap("close", err)
	}
	return nil
}

// asOS is the file as an *os.File, which then owns the descriptor: what
// the kernel copies of io.Copy take as a source (copy_file_range(2) from
// (*os.File).ReadFrom). Made on first use only, as it costs what rawFile
// spares.
func (f *rawFile) asOS() *os.File {
	if f.os == nil && f.fd >= 0 {
		f.os = os.NewFile(uintptr(f.fd), f.name)
	}
	return f.os
}

func (f *rawFile) wrap(op string, err error) error {
	return &fs.PathError{Op: op, Path: f.name, Err: err}
}

// rawInfo is a rawFile's fstat(2), as os.Stat reports it.
type rawInfo struct {
	name string
	st   syscall.Stat_t
}

func (i *rawInfo) Name() string       { return i.name }
func (i *rawInfo) Size() int64        { return i.st.Size }
func (i *rawInfo) ModTime() time.Time { return time.Unix(i.st.Mtim.Sec, i.st.Mtim.Nsec) }
func (i *rawInfo) IsDir() bool        { return i.Mode().IsDir() }
func (i *rawInfo) Sys() any           { return &i.st }

// Mode converts st_mode as package os does.
func (i *rawInfo) Mode() fs.FileMode {
	m := fs.FileMode(i.st.Mode & 0o777)
	switch i.st.Mode & syscall.S_IFMT {
	case syscall.S_IFBLK:
		m |= fs.ModeDevice
	case syscall.S_IFCHR:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case syscall.S_IFDIR:
		m |= fs.ModeDir
	case syscall.S_IFIFO:
		m |= fs.ModeNamedPipe
	case syscall.S_IFLNK:
		m |= fs.ModeSymlink
	case syscall.S_IFSOCK:
		m |= fs.ModeSocket
	}
	if i.st.Mode&syscall.S_ISGID != 0 {
		m |= fs.ModeSetgid
	}
	if i.st.Mode&syscall.S_ISUID != 0 {
		m |= fs.ModeSetuid
	}
	if i.st.Mode&syscall.S_ISVTX != 0 {
		m |= fs.ModeSticky
	}
	return m
}
