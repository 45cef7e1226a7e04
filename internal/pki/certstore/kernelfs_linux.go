package certstore

import (
	"os"
	"syscall"
)

// Magic numbers of kernel pseudo-filesystems, from <linux/magic.h>.
var kernelFilesystems = map[uint32]string{
	0x9fa0:     "proc",
	0x62656572: "sysfs",
	0x64626720: "debugfs",
	0x74726163: "tracefs",
	0x73636673: "securityfs",
}

// kernelFS returns the name of the kernel pseudo-filesystem f is on ("proc",
// "sysfs", "debugfs", "tracefs" or "securityfs"), or "" for any other
// filesystem or when that cannot be told. readFile asks only about
// zero-size files, so a non-empty store file costs no extra system call.
func kernelFS(f *os.File) string {
	rc, err := f.SyscallConn()
	if err != nil {
		return ""
	}
	var st syscall.Statfs_t
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			serr = syscall.Fstatfs(int(fd), &st)
			if serr != syscall.EINTR {
				return
			}
		}
	}); err != nil || serr != nil {
		return ""
	}
	return kernelFilesystems[uint32(st.Type)]
}
