//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package certstore

import (
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/testfs"
	"github.com/bizpipe/bizpipe/internal/testpki"
)

type loadResult struct {
	s   *Store
	err error
}

func loadWithin(t *testing.T, dir string) (*Store, error) {
	t.Helper()
	r := testfs.Within(t, "Load("+dir+")", func() loadResult {
		s, err := Load(dir, NoPassword())
		return loadResult{s, err}
	})
	return r.s, r.err
}

func requireExists(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		t.Skipf("%s: %v", path, err)
	}
}

// TestLoadSpecialFiles puts special files into a store next to a certificate:
// Load must return, list the certificate, and note each special file by name
// with what it is, never reading it.
func TestLoadSpecialFiles(t *testing.T) {
	fx := newFixtures(t)
	W := testpki.WriteFile
	cert := want{
		certs: []wantCert{{"ec leaf", "ok.pem", ""}},
		files: map[string]FileKind{"ok.pem": FilePEM},
	}
	with := func(w want, f func(*want)) want {
		w.files = map[string]FileKind{"ok.pem": FilePEM}
		f(&w)
		return w
	}
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  want
	}{
		{
			name: "named pipe without a writer",
			setup: func(t *testing.T, dir string) {
				testfs.MakeFIFO(t, filepath.Join(dir, "pipe.pem"))
			},
			want: with(cert, func(w *want) {
				w.notes = []string{"pipe.pem: ignored: not a regular file but a named pipe (FIFO)"}
			}),
		},
		{
			name: "symbolic link to a named pipe",
			setup: func(t *testing.T, dir string) {
				symlink(t, testfs.MakeFIFO(t, filepath.Join(t.TempDir(), "fifo")), filepath.Join(dir, "link.p12"))
			},
			want: with(cert, func(w *want) {
				w.notes = []string{"link.p12: ignored: not a regular file but a symbolic link to a named pipe (FIFO)"}
			}),
		},
		{
			name: "socket",
			setup: func(t *testing.T, dir string) {
				l, err := net.Listen("unix", filepath.Join(dir, "sock.pem"))
				if err != nil {
					t.Skipf("unix socket: %v", err)
				}
				t.Cleanup(func() { l.Close() })
			},
			want: with(cert, func(w *want) {
				w.notes = []string{"sock.pem: ignored: not a regular file but a socket"}
			}),
		},
		{
			name: "symbolic link to /dev/zero",
			setup: func(t *testing.T, dir string) {
				requireExists(t, "/dev/zero")
				symlink(t, "/dev/zero", filepath.Join(dir, "zero.der"))
			},
			want: with(cert, func(w *want) {
				w.notes = []string{"zero.der: ignored: not a regular file but a symbolic link to a character device"}
			}),
		},
		{
			name: "oversized sparse files",
			setup: func(t *testing.T, dir string) {
				for _, name := range []string{"big.bin", "big.p12"} {
					if err := os.Truncate(W(t, dir, name, nil), maxFileSize+1); err != nil {
						t.Fatal(err)
					}
				}
			},
			want: with(cert, func(w *want) {
				w.files["big.bin"] = FileIgnored
				w.files["big.p12"] = FilePKCS12
				w.problems = []wantProblem{{"big.p12", ProblemParse, "larger than 8 MiB, too large for a certificate, key or PKCS#12 file"}}
				w.notes = []string{"big.bin: ignored: larger than 8 MiB"}
			}),
		},
		{
			name: "symbolic link to a file in /proc",
			setup: func(t *testing.T, dir string) {
				requireExists(t, "/proc/self/status")
				symlink(t, "/proc/self/status", filepath.Join(dir, "status.pem"))
			},
			want: with(cert, func(w *want) {
				w.files["status.pem"] = FileIgnored
				w.notes = []string{"status.pem: ignored: a file of the kernel's proc filesystem, generated when read, not a certificate file"}
			}),
		},
		{
			// Reading /proc/kmsg as root waits for the next kernel message
			// (and consumes it); others may not open it.
			name: "symbolic link to /proc/kmsg",
			setup: func(t *testing.T, dir string) {
				requireExists(t, "/proc/kmsg")
				symlink(t, "/proc/kmsg", filepath.Join(dir, "kmsg.pem"))
			},
			want: with(cert, func(w *want) {
				if f, err := os.Open("/proc/kmsg"); err != nil {
					w.files["kmsg.pem"] = FilePEM
					w.problems = []wantProblem{{"kmsg.pem", ProblemRead, "cannot read: "}}
				} else {
					f.Close()
					w.files["kmsg.pem"] = FileIgnored
					w.notes = []string{"kmsg.pem: ignored: a file of the kernel's proc filesystem"}
				}
			}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			W(t, dir, "ok.pem", fx.ecLeaf.CertPEM())
			tt.setup(t, dir)
			s, err := loadWithin(t, dir)
			if err != nil {
				t.Fatal(err)
			}
			checkStore(t, dir, s, tt.want)
		})
	}
}

// TestLoadKernelDirectories loads directories of the kernel's proc
// filesystem as stores, which found hangs (/proc/kmsg) before: Load must
// return, and every note and problem must name a file in the directory.
func TestLoadKernelDirectories(t *testing.T) {
	for _, dir := range []string{"/proc/self", "/proc"} {
		t.Run(dir, func(t *testing.T) {
			requireExists(t, dir)
			s, err := loadWithin(t, dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range s.Notes {
				if !strings.HasPrefix(n, dir+"/") {
					t.Errorf("note %q does not name a file in %s", n, dir)
				}
			}
			for _, p := range s.Problems {
				if !strings.HasPrefix(p.Error(), dir+"/") {
					t.Errorf("problem %q does not name a file in %s", p, dir)
				}
			}
			// One file each that proves proc files are recognised (and not
			// read): a plain one, and /proc/kmsg that used to hang.
			name := "status"
			if dir == "/proc" {
				name = "kmsg"
			}
			path := filepath.Join(dir, name)
			if _, err := os.Stat(path); err != nil {
				return
			}
			wantNote := path + ": ignored: a file of the kernel's proc filesystem"
			if f, err := os.Open(path); err != nil {
				wantNote = "" // not root: a read problem instead
				if !hasProblem(s, path, ProblemRead) {
					t.Errorf("no read problem for %s (which this user cannot open): %v", path, s.Problems)
				}
			} else {
				f.Close()
			}
			if wantNote != "" && !hasNotePrefix(s, wantNote) {
				t.Errorf("no note %q among %d notes", wantNote, len(s.Notes))
			}
		})
	}
}

func hasProblem(s *Store, file string, kind ProblemKind) bool {
	for _, p := range s.Problems {
		if p.File == file && p.Kind == kind {
			return true
		}
	}
	return false
}

func hasNotePrefix(s *Store, prefix string) bool {
	for _, n := range s.Notes {
		if strings.HasPrefix(n, prefix) {
			return true
		}
	}
	return false
}

// TestReadFileRefusesWhatIsNotARegularFile calls readFile directly on what
// Load never opens, as when a store file is replaced after the directory was
// listed: readFile must return at once without reading.
func TestReadFileRefusesWhatIsNotARegularFile(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "sock")
	if l, err := net.Listen("unix", sock); err == nil {
		t.Cleanup(func() { l.Close() })
	} else {
		sock = ""
	}
	tests := []struct {
		name, path string
		want       string // "" = any error
	}{
		{"named pipe", testfs.MakeFIFO(t, filepath.Join(dir, "fifo")), "not a regular file but a named pipe (FIFO)"},
		{"character device", "/dev/zero", "not a regular file but a character device"},
		{"directory", dir, "not a regular file but a directory"},
		{"socket", sock, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.path == "" {
				t.Skip("no socket")
			}
			requireExists(t, tt.path)
			type result struct {
				data []byte
				err  error
			}
			r := testfs.Within(t, "readFile("+tt.path+")", func() result {
				data, err := readFile(tt.path)
				return result{data, err}
			})
			if r.err == nil || r.data != nil {
				t.Fatalf("readFile = %d bytes, %v; want an error", len(r.data), r.err)
			}
			var nr *notRegularError
			if tt.want != "" && (!errors.As(r.err, &nr) || r.err.Error() != tt.want) {
				t.Errorf("error %q, want %q", r.err, tt.want)
			}
		})
	}
}

// endless is an endless reader, like /dev/zero.
type endless struct{ n int }

func (e *endless) Read(p []byte) (int, error) {
	e.n += len(p)
	return len(p), nil
}

func TestReadBounded(t *testing.T) {
	e := &endless{}
	if data, err := readBounded(e); !errors.Is(err, errTooLarge) || data != nil {
		t.Errorf("endless reader: %d bytes, %v; want errTooLarge", len(data), err)
	}
	if e.n > maxFileSize+1 {
		t.Errorf("read %d bytes of an endless reader, want at most %d", e.n, maxFileSize+1)
	}
	if data, err := readBounded(io.LimitReader(&endless{}, maxFileSize)); err != nil || len(data) != maxFileSize {
		t.Errorf("a reader of exactly maxFileSize: %d bytes, %v", len(data), err)
	}
}

// TestStoreFileReaderNeverWaits reads a pipe with no data through
// storeFileReader: it must return errWouldBlock instead of waiting, as it
// must for /proc/kmsg, which the runtime poller would otherwise wait on.
func TestStoreFileReaderNeverWaits(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if _, err := w.WriteString("abc"); err != nil {
		t.Fatal(err)
	}
	type result struct {
		data []byte
		err  error
	}
	got := testfs.Within(t, "reading an empty pipe", func() result {
		data, err := readBounded(storeFileReader(r))
		return result{data, err}
	})
	if !errors.Is(got.err, errWouldBlock) || !strings.HasPrefix(got.err.Error(), "read "+r.Name()+": ") {
		t.Errorf("error %v, want a read error naming %s wrapping errWouldBlock", got.err, r.Name())
	}
	w.Close()
	got = testfs.Within(t, "reading a closed pipe", func() result {
		data, err := readBounded(storeFileReader(r))
		return result{data, err}
	})
	if got.err != nil || len(got.data) != 0 {
		t.Errorf("after the writer closed: %q, %v; want end of file", got.data, got.err)
	}
}
