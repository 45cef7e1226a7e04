//go:build unix

package certstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/bizpipe/bizpipe/internal/testpki"
)

// unreadableEnv makes the test binary act as the helper of TestUnreadable
// instead of running tests (see TestMain).
const unreadableEnv = "BIZPIPE_CERTSTORE_UNREADABLE_HELPER"

// nobody is the unprivileged user TestUnreadable runs its helper as when the
// tests run as root, for whom permission bits deny nothing.
const nobody = 65534

func TestMain(m *testing.M) {
	if base := os.Getenv(unreadableEnv); base != "" {
		if err := json.NewEncoder(os.Stdout).Encode(examineUnreadable(base)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// unreadableReport is what examineUnreadable observed; it crosses a process
// boundary when the tests run as root.
type unreadableReport struct {
	NoReadDirErr    string
	NoReadDirIsPerm bool
	Problems        []string // "<kind> <base name>: <message>"
	Certificates    []string
	Files           []string
}

func examineUnreadable(base string) unreadableReport {
	var r unreadableReport
	if _, err := Load(filepath.Join(base, "noread"), NoPassword()); err != nil {
		r.NoReadDirErr = err.Error()
		r.NoReadDirIsPerm = errors.Is(err, fs.ErrPermission)
	}
	s, err := Load(filepath.Join(base, "store"), NoPassword())
	if err != nil {
		r.NoReadDirErr += " | store: " + err.Error()
		return r
	}
	for _, p := range s.Problems {
		r.Problems = append(r.Problems, fmt.Sprintf("%v %s: %v", p.Kind, filepath.Base(p.File), p.Err))
	}
	for _, c := range s.Certificates {
		r.Certificates = append(r.Certificates, c.Cert.Subject.CommonName)
	}
	for _, f := range s.Files {
		r.Files = append(r.Files, filepath.Base(f.Path)+" "+f.Kind.String())
	}
	return r
}

// TestUnreadable checks that an unreadable store directory is a Load error
// (BP2001) and an unreadable file a ProblemRead. Run as root, the check runs
// in a copy of the test binary as user nobody, since root reads everything.
func TestUnreadable(t *testing.T) {
	fx := newFixtures(t)
	base := t.TempDir()
	store := filepath.Join(base, "store")
	testpki.WriteFile(t, store, "ok.pem", fx.ecLeaf.CertPEM())
	testpki.WriteFile(t, store, "secret.pem", fx.rsaLeaf.CertPEM())
	if err := os.Mkdir(filepath.Join(base, "noread"), 0o700); err != nil {
		t.Fatal(err)
	}
	chmod(t, filepath.Join(store, "ok.pem"), 0o644)
	chmod(t, filepath.Join(store, "secret.pem"), 0o000)
	chmod(t, filepath.Join(base, "noread"), 0o000)
	chmod(t, store, 0o755)
	t.Cleanup(func() { _ = os.Chmod(filepath.Join(base, "noread"), 0o700) })

	var r unreadableReport
	if os.Geteuid() != 0 {
		r = examineUnreadable(base)
	} else {
		r = examineAsNobody(t, base)
	}

	if r.NoReadDirErr == "" || !r.NoReadDirIsPerm {
		t.Errorf("unreadable directory: error %q (permission: %v), want a permission error", r.NoReadDirErr, r.NoReadDirIsPerm)
	}
	// The file is named once, by the Problem: its reason does not write
	// out the path (see pathless).
	if want := []string{"read secret.pem: cannot read: permission denied"}; fmt.Sprint(r.Problems) != fmt.Sprint(want) {
		t.Errorf("problems = %q, want %q", r.Problems, want)
	}
	if fmt.Sprint(r.Certificates) != "[ec leaf]" {
		t.Errorf("certificates = %q, want the readable one", r.Certificates)
	}
	if fmt.Sprint(r.Files) != "[ok.pem PEM secret.pem PEM]" {
		t.Errorf("files = %q", r.Files)
	}
}

func examineAsNobody(t *testing.T, base string) unreadableReport {
	t.Helper()
	// The copied test binary and base must be reachable by nobody: open up
	// the directories t.TempDir made, and nothing above the temp directory.
	tmp := filepath.Clean(os.TempDir())
	if rel, err := filepath.Rel(tmp, base); err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		t.Fatalf("%s is not inside %s", base, tmp)
	}
	for d := base; d != tmp; d = filepath.Dir(d) {
		chmod(t, d, 0o755)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(base, "certstore.test")
	copyFile(t, exe, bin)
	chmod(t, bin, 0o755)

	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), unreadableEnv+"="+base)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	cmd.Dir = base
	var stderr []byte
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok {
		stderr = ee.Stderr
	}
	if err != nil {
		t.Fatalf("helper as uid %d: %v\n%s", nobody, err, stderr)
	}
	var r unreadableReport
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("helper output %q: %v", out, err)
	}
	return r
}

func chmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}
