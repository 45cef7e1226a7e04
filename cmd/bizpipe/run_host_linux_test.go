//go:build linux

package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// hostsConfig is the quickstart's send_host beside other_host, which runs
// on the same server as service account svc_other (OS user root) with a
// personal store of its own, whose password is a variable of its own (given
// only on its account's machine), a receive location and a send port. %[1]s is
// the test's directory, %[2]s the OS user of svc_send.
const hostsConfig = `
group "contoso" {
  signing_certificate = "4E077EB5555B50DCBCBF3D7261281954D2A1999D"
}
variable "p12_password" {
  type      = string
  sensitive = true
}
variable "other_p12_password" {
  type      = string
  sensitive = true
}
certificate_store "svc_send_personal" {
  path     = "%[1]s/stores/svc_send"
  password = var.p12_password
}
certificate_store "svc_other_personal" {
  path     = "%[1]s/stores/svc_other"
  password = var.other_p12_password
}
certificate_store "srv1_other_people" {
  path = "%[1]s/stores/srv1_other_people"
}
service_account "svc_send" {
  user           = "%[2]s"
  personal_store = certificate_store.svc_send_personal
}
service_account "svc_other" {
  user           = "root"
  personal_store = certificate_store.svc_other_personal
}
server "srv1" {
  other_people_store = certificate_store.srv1_other_people
}
host "send_host" {
  instance {
    server          = server.srv1
    service_account = service_account.svc_send
  }
}
host "other_host" {
  instance {
    server          = server.srv1
    service_account = service_account.svc_other
  }
}
pipeline "sign_encrypt" {
  encoder "smime" {
    signature = "clear"
    encrypt   = true
  }
}
receive_location "orders_in" {
  host         = host.send_host
  content_type = "application/xml"
  properties   = { partner = "fabrikam" }
  transport "file" {
    path = "%[1]s/in"
  }
}
send_port "fabrikam" {
  host                   = host.send_host
  pipeline               = pipeline.sign_encrypt
  encryption_certificate = "CCFE302DA296CC18B316BA3063F069169382D9FC"
  filter                 = message.properties.partner == "fabrikam"
  transport "file" {
    path      = "%[1]s/out"
    file_name = "${message.id}.eml"
  }
}
receive_location "other_in" {
  host       = host.other_host
  properties = { partner = "other" }
  transport "file" {
    path = "%[1]s/other_in"
  }
}
send_port "other_out" {
  host                   = host.other_host
  pipeline               = pipeline.sign_encrypt
  encryption_certificate = "CCFE302DA296CC18B316BA3063F069169382D9FC"
  filter                 = message.properties.partner == "other"
  transport "file" {
    path = "%[1]s/other_out"
  }
}
`

// TestRunHostPrivateStores: on a server where each host runs as its own
// service account with a personal store the others cannot read, whose
// password only its own account is given, run --host checks, loads and
// runs only what that host needs, and says nothing about the other host;
// run without --host, one process for every host, refuses to start as
// today, and so does run --host without a value the host needs. bizpipe
// runs as a user that cannot read other_host's store (mode 000): the
// test's own user, or, as root (who reads everything), nobody, in a copy
// of the test binary it can reach.
func TestRunHostPrivateStores(t *testing.T) {
	as, base, bin := privateStoresFixture(t)
	const (
		sendPassword  = "BIZPIPE_VAR_p12_password=demo-only"
		otherPassword = "BIZPIPE_VAR_other_p12_password=demo-only"
	)
	all := []string{"run", "--once", "--server", "srv1", "--data-dir", "data-all", "config"}
	host := []string{"run", "--once", "--server", "srv1", "--host", "send_host", "--data-dir", "data-host", "config"}
	// What run --host send_host must never print: anything about
	// other_host, its account, store, variable, location and port.
	aboutOther := []string{"other_host", "svc_other", "other_in", "other_out", "other_p12_password"}
	// In order: the runs that refuse to start leave the input for the last.
	cases := []struct {
		name string
		env  []string
		args []string
		code int
		// want are in stderr; unwanted in neither stdout nor stderr.
		want, unwanted []string
		delivers       bool
	}{
		{
			name: "without --host, every variable given: it reads other_host's store too, and refuses to start",
			env:  []string{sendPassword, otherPassword}, args: all, code: exitFindings,
			want: []string{
				`[BP2001] Certificate store cannot be read`, `certificate store "svc_other_personal"`,
				`[BP6004] Running as a different user`, `host "other_host"`,
				`[BP6006]`, `receive location "other_in"`,
				"not starting: the configuration has errors",
			},
		},
		{
			name: "without --host, other_host's password unset: every variable needs a value",
			env:  []string{sendPassword}, args: all, code: exitFindings,
			want: []string{`No value for required variable`, `Variable "other_p12_password" has no default`,
				"not starting: the configuration has errors"},
			unwanted: []string{`"p12_password"`, "[BP2", "[BP6"},
		},
		{
			name: "--host send_host without its own password: it needs it",
			env:  []string{otherPassword}, args: host, code: exitFindings,
			want: []string{`No value for required variable`, `Variable "p12_password" has no default`,
				`Value not known`, `password attribute of certificate_store "svc_send_personal"`,
				"not starting: the configuration has errors"},
			unwanted: append([]string{"[BP2", "[BP6"}, aboutOther...),
		},
		{
			name: "--host send_host, other_host's password unset: it starts, delivers and says nothing about other_host",
			env:  []string{sendPassword}, args: host, code: exitOK,
			unwanted: append([]string{"[BP", "level=WARN", "level=ERROR", "No value"}, aboutOther...),
			delivers: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runBizpipeAs(t, as, base, bin, tc.env, tc.args...)
			checkRun(t, code, stdout, stderr, tc.code, "stderr", tc.want, tc.unwanted)
			if !tc.delivers {
				if _, err := os.Stat(filepath.Join(base, "in", "order-1001.xml")); err != nil {
					t.Errorf("a run that did not start touched the input: %v", err)
				}
				return
			}
			if want := "received 1, delivered 1, retried 0, suspended 0, waiting for retry 0\n"; stdout != want {
				t.Errorf("stdout %q, want %q", stdout, want)
			}
			if out, _ := filepath.Glob(filepath.Join(base, "out", "*.eml")); len(out) != 1 {
				t.Errorf("delivered files %q, want one", out)
			}
		})
	}
}

// privateStoresFixture writes hostsConfig in a directory other users can
// reach, with the quickstart's stores (other_host's made unreadable: mode
// 000) and order in in/, and a copy of the test binary; it returns the
// user to run it as, the directory and the binary.
func privateStoresFixture(t *testing.T) (*user.User, string, string) {
	t.Helper()
	as := runAsUser(t)
	base := reachableTempDir(t)
	copyTree(t, filepath.Join(examplesDir, "quickstart", "stores", "svc_send"), filepath.Join(base, "stores", "svc_send"))
	copyTree(t, filepath.Join(examplesDir, "quickstart", "stores", "svc_send"), filepath.Join(base, "stores", "svc_other"))
	copyTree(t, filepath.Join(examplesDir, "quickstart", "stores", "srv1_other_people"), filepath.Join(base, "stores", "srv1_other_people"))
	// Directories the runs write, whichever user they run as.
	for _, d := range []string{"in", "out", "data-all", "data-host"} {
		mkdirMode(t, filepath.Join(base, d), 0o777)
	}
	mkdirMode(t, filepath.Join(base, "config"), 0o755)
	writeMode(t, filepath.Join(base, "config", "bizpipe.hcl"), 0o644, fmt.Appendf(nil, hostsConfig, base, as.Username))
	order, err := os.ReadFile(filepath.Join(examplesDir, "quickstart", "samples", "order-1001.xml"))
	if err != nil {
		t.Fatal(err)
	}
	writeMode(t, filepath.Join(base, "in", "order-1001.xml"), 0o666, order)
	// other_host's account's own store: nobody else may read it.
	chmodT(t, filepath.Join(base, "stores", "svc_other"), 0o000)
	t.Cleanup(func() { _ = os.Chmod(filepath.Join(base, "stores", "svc_other"), 0o755) })
	bin := filepath.Join(base, "bin", "bizpipe")
	copyExecutable(t, bin)
	return as, base, bin
}

// TestValidateHostPrivateStores: validate --live --host, as one host's
// service account, checks what run --host checks, and reports nothing
// about the other host, whose store it cannot read and whose password it
// is not given; without --host it reports that store, as before.
func TestValidateHostPrivateStores(t *testing.T) {
	as, base, bin := privateStoresFixture(t)
	sendPassword := []string{"BIZPIPE_VAR_p12_password=demo-only"}
	aboutOther := []string{"other_host", "svc_other", "other_in", "other_out", "other_p12_password"}
	for _, tc := range []struct {
		name string
		args []string
		code int
		// want are in stdout; unwanted in neither stdout nor stderr.
		want, unwanted []string
	}{
		{
			name: "every host: other_host's store cannot be read",
			args: []string{"validate", "--live", "--server", "srv1", "config"}, code: exitFindings,
			want: []string{`[BP2001] Certificate store cannot be read`, `certificate store "svc_other_personal"`,
				`[BP6006]`, `receive location "other_in"`},
		},
		{
			name: "--host send_host: nothing about other_host",
			args: []string{"validate", "--live", "--server", "srv1", "--host", "send_host", "config"}, code: exitOK,
			unwanted: append([]string{"[BP", "Error", "Warning"}, aboutOther...),
		},
		{
			name: "--host send_host, the server left out: the only one",
			args: []string{"validate", "--live", "--host", "send_host", "--format", "json", "config"}, code: exitOK,
			want:     []string{`"valid": true`, `"error_count": 0`, `"warning_count": 0`},
			unwanted: aboutOther,
		},
		{
			name: "--host other_host, as send_host's account: its store is reported, send_host's findings are not",
			args: []string{"validate", "--live", "--server", "srv1", "--host", "other_host", "config"}, code: exitFindings,
			want:     []string{`[BP2001] Certificate store cannot be read`, `certificate store "svc_other_personal"`, `[BP6006]`, `receive location "other_in"`},
			unwanted: []string{"svc_send_personal", `"orders_in"`, `"fabrikam"`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runBizpipeAs(t, as, base, bin, sendPassword, tc.args...)
			checkRun(t, code, stdout, stderr, tc.code, "stdout", tc.want, tc.unwanted)
		})
	}
}

// checkRun fails t unless a run exited wantCode (fatally), the output
// named by in, "stdout" or "stderr", holds each of want, and neither
// output holds any of unwanted.
func checkRun(t *testing.T, code int, stdout, stderr string, wantCode int, in string, want, unwanted []string) {
	t.Helper()
	if code != wantCode {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, wantCode, stdout, stderr)
	}
	out := stdout
	if in == "stderr" {
		out = stderr
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("%s lacks %q:\n%s", in, w, out)
		}
	}
	for _, u := range unwanted {
		if strings.Contains(stdout+stderr, u) {
			t.Errorf("prints %q:\nstdout:\n%s\nstderr:\n%s", u, stdout, stderr)
		}
	}
}

// runAsUser is the user the bizpipe processes of a test run as, one that
// permission bits bind: the test's own user, or nobody when it is root.
func runAsUser(t *testing.T) *user.User {
	t.Helper()
	if os.Geteuid() != 0 {
		u, err := user.Current()
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Fatalf("running as root, the test runs bizpipe as user nobody (from /etc/passwd): %v", err)
	}
	return u
}

// reachableTempDir is t.TempDir() opened up, with the directories above it
// up to the temporary directory, so that another user can reach it.
func reachableTempDir(t *testing.T) string {
	t.Helper()
	base := t.TempDir()
	tmp := filepath.Clean(os.TempDir())
	if rel, err := filepath.Rel(tmp, base); err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		t.Fatalf("%s is not inside %s", base, tmp)
	}
	for d := base; d != tmp; d = filepath.Dir(d) {
		chmodT(t, d, 0o755)
	}
	for d := tmp; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o001 == 0 {
			t.Fatalf("%s (mode %s) cannot be searched by other users: set TMPDIR to a directory such as /tmp", d, fi.Mode().Perm())
		}
		if d == filepath.Dir(d) {
			return base
		}
	}
}

// runBizpipeAs runs bin (a copy of the test binary, which acts as bizpipe
// under that name: TestMain) as user as in dir, with an environment of
// PATH and env alone, and returns its exit code and output.
func runBizpipeAs(t *testing.T, as *user.User, dir, bin string, env []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	if os.Geteuid() == 0 {
		uid, err := strconv.ParseUint(as.Uid, 10, 32)
		if err != nil {
			t.Fatal(err)
		}
		gid, err := strconv.ParseUint(as.Gid, 10, 32)
		if err != nil {
			t.Fatal(err)
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return ee.ExitCode(), stdout.String(), stderr.String()
	case err != nil:
		t.Fatalf("running %s: %v", bin, err)
	}
	return 0, stdout.String(), stderr.String()
}

// copyExecutable copies the test binary to path, executable by anyone.
func copyExecutable(t *testing.T, path string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	mkdirMode(t, filepath.Dir(path), 0o755)
	src, err := os.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	chmodT(t, path, 0o755)
}

// copyTree copies the files of directory from into a new directory to,
// readable by anyone (the demo PKCS#12 files are password-protected).
func copyTree(t *testing.T, from, to string) {
	t.Helper()
	mkdirMode(t, to, 0o755)
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		writeMode(t, filepath.Join(to, e.Name()), 0o644, data)
	}
}

// mkdirMode creates dir and its parents, and gives dir mode (whatever the
// umask).
func mkdirMode(t *testing.T, dir string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	chmodT(t, filepath.Dir(dir), 0o755)
	chmodT(t, dir, mode)
}

func writeMode(t *testing.T, path string, mode os.FileMode, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
	chmodT(t, path, mode)
}

func chmodT(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}
