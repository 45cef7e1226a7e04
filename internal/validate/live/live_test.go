package live_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"text/template"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/config/lang"
	"github.com/bizpipe/bizpipe/internal/testpki"
	"github.com/bizpipe/bizpipe/internal/validate/live"
	"github.com/bizpipe/bizpipe/internal/validate/rules"
)

// liveConfig: service account svc_send (user {{.User}}) runs send_host on
// srv1, with personal store "personal" (a PKCS#12 file protected by the
// store's password) and srv1's other-people store "other". Service account
// svc_recv, whose user does not exist anywhere, runs recv_host on srv2: no
// check for srv1 may mention it. send_host also runs the file receive
// location "files_in" (directory in1), the AS2 receive location "as2_in"
// over TLS (tls/server.pem and tls/server.key) and the http send port
// "partner_http" (trust anchors tls/ca.pem).
const liveConfig = `
group "contoso" {
  signing_certificate = "{{.Sign}}"
  as2_id              = "CONTOSO"
}
variable "svc_user" {
  type = string
}
certificate_store "personal" {
  path     = "stores/personal" # @personal
  password = "{{.Password}}"
}
certificate_store "other" {
  path = "stores/other" # @other
}
certificate_store "recv" {
  path = "stores/recv"
}
service_account "svc_send" {
{{- if .User}}
  user           = {{.User}} # @user
{{- end}}
  personal_store = certificate_store.personal
}
service_account "svc_recv" {
  user           = "bizpipe-no-such-user-7f3c" # @recv_user
  personal_store = certificate_store.recv
}
server "srv1" {
  other_people_store = certificate_store.other
}
server "srv2" {
}
host "send_host" {
  instance { # @inst
    server          = server.srv1
    service_account = service_account.svc_send
  }
}
host "recv_host" {
  instance {
    server          = server.srv2
    service_account = service_account.svc_recv
  }
}
pipeline "pl" {
  encoder "smime" {
    signature = "clear"
    encrypt   = true
  }
}
send_port "fabrikam" {
  host                   = host.send_host
  pipeline               = pipeline.pl
  encryption_certificate = "{{.Partner}}"
  transport "file" { path = "out" } # @out
}
receive_location "orders_in" {
  host = host.recv_host
  transport "file" { path = "in" } # @orders_in
}
receive_location "files_in" {
  host = host.send_host
  transport "file" { path = "in1" } # @in1
}
receive_location "as2_in" {
  host = host.send_host
  transport "as2" {
    listen = "127.0.0.1:0"
    tls {
      cert_file = "tls/server.pem" # @cert_file
      key_file  = "tls/server.key" # @key_file
    }
  }
}
send_port "partner_http" {
  host = host.send_host
  transport "http" {
    url = "https://partner.example/in"
    tls {
      ca_file = "tls/ca.pem" # @ca_file
    }
  }
}
`

const p12Password = "p12-pw"

// fakeUID and fakeGID are a user and group that exist on no test machine;
// injected users with them see files through the group or other bits.
const (
	fakeUID = 4242
	fakeGID = 4243
)

func fakeUser(name string, uid, gid int) *user.User {
	return &user.User{Username: name, Name: name, Uid: strconv.Itoa(uid), Gid: strconv.Itoa(gid), HomeDir: "/nonexistent"}
}

type certs struct {
	sign, partner *testpki.Cert
	// tls is the AS2 location's server certificate, other a certificate
	// whose key is not tls's.
	tls, other *testpki.Cert
}

// scene is one test directory with the live configuration and its stores.
type scene struct {
	t     *testing.T
	c     *certs
	dir   string
	file  string
	src   []byte
	lines map[string]int
}

// newScene creates the directory and the default stores, every directory
// 0755 and every file 0644 (the PKCS#12 file is password-protected), so that
// any user can read them. The temporary directories the testing package
// creates (0700) are opened up too; an ancestor outside the test's control
// that others cannot search fails the test, since nothing would then be
// readable by another user.
func newScene(t *testing.T, c *certs) *scene {
	t.Helper()
	s := &scene{t: t, c: c, dir: t.TempDir()}
	for _, d := range []string{s.dir, filepath.Dir(s.dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for p := filepath.Dir(filepath.Dir(s.dir)); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o001 == 0 {
			t.Fatalf("test directory %s is under %s (mode %s), which other users cannot search: set TMPDIR to a directory such as /tmp",
				s.dir, p, fi.Mode().Perm())
		}
		if p == filepath.Dir(p) {
			break
		}
	}
	s.put("personal", "sign.p12", 0o644, c.sign.PKCS12(s.t, p12Password, false))
	s.put("other", "partner.cer", 0o644, c.partner.DER)
	s.mkdir("recv", 0o755)
	// The file transports' directories, usable by anyone; the TLS files,
	// readable by anyone.
	for _, d := range []string{"out", "in1"} {
		s.dirAt(d, 0o777)
	}
	s.fileAt("tls/server.pem", 0o644, c.tls.CertPEM())
	s.fileAt("tls/server.key", 0o644, c.tls.KeyPEM())
	s.fileAt("tls/ca.pem", 0o644, c.other.CertPEM())
	return s
}

// dirAt creates the directory rel (relative to the scene) with mode.
func (s *scene) dirAt(rel string, mode os.FileMode) string {
	s.t.Helper()
	p := filepath.Join(s.dir, rel)
	if err := os.MkdirAll(p, 0o755); err != nil {
		s.t.Fatal(err)
	}
	s.chmod(p, mode)
	return p
}

// fileAt writes the file rel (relative to the scene) with mode.
func (s *scene) fileAt(rel string, mode os.FileMode, data []byte) string {
	s.t.Helper()
	s.dirAt(filepath.Dir(rel), 0o755)
	p := filepath.Join(s.dir, rel)
	if err := os.WriteFile(p, data, mode); err != nil {
		s.t.Fatal(err)
	}
	s.chmod(p, mode)
	return p
}

func (s *scene) storeDir(name string) string { return filepath.Join(s.dir, "stores", name) }

func (s *scene) mkdir(store string, mode os.FileMode) {
	s.t.Helper()
	d := s.storeDir(store)
	if err := os.MkdirAll(d, 0o755); err != nil {
		s.t.Fatal(err)
	}
	s.chmod(filepath.Dir(d), 0o755)
	s.chmod(d, mode)
}

// put writes stores/STORE/FILE with mode (not subject to the umask).
func (s *scene) put(store, file string, mode os.FileMode, data []byte) string {
	s.t.Helper()
	s.mkdir(store, 0o755)
	p := testpki.WriteFile(s.t, s.storeDir(store), file, data)
	s.chmod(p, mode)
	return p
}

// symlink makes stores/STORE/FILE a symbolic link to target.
func (s *scene) symlink(store, file, target string) {
	s.t.Helper()
	s.mkdir(store, 0o755)
	if err := os.Symlink(target, filepath.Join(s.storeDir(store), file)); err != nil {
		s.t.Fatal(err)
	}
}

func (s *scene) chmod(path string, mode os.FileMode) {
	s.t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		s.t.Fatal(err)
	}
}

var markerRe = regexp.MustCompile(`#\s*@([A-Za-z0-9_]+)`)

// write renders liveConfig with the account's user expression and loads it.
func (s *scene) write(userExpr string) {
	s.t.Helper()
	tmpl := template.Must(template.New("").Parse(liveConfig))
	var b bytes.Buffer
	err := tmpl.Execute(&b, map[string]string{
		"Sign": s.c.sign.SHA1(), "Partner": s.c.partner.SHA1(), "Password": p12Password, "User": userExpr,
	})
	if err != nil {
		s.t.Fatal(err)
	}
	s.src = b.Bytes()
	s.file = filepath.Join(s.dir, "main.hcl")
	if err := os.WriteFile(s.file, s.src, 0o644); err != nil {
		s.t.Fatal(err)
	}
	s.lines = map[string]int{}
	for i, line := range strings.Split(b.String(), "\n") {
		if m := markerRe.FindStringSubmatch(line); m != nil {
			s.lines[m[1]] = i + 1
		}
	}
}

// check loads the configuration, runs the static rules (which must find no
// error: the fixture is statically valid) and then the live rules.
func (s *scene) check(opts live.Options) hcl.Diagnostics {
	s.t.Helper()
	cfg, diags := lang.Load([]string{s.file}, lang.Options{
		Mode:      lang.ModeValidate,
		LookupEnv: func(string) (string, bool) { return "", false },
	})
	if len(diags) > 0 {
		s.t.Fatalf("lang.Load:\n%s", dump(diags))
	}
	res, diags := rules.Check(cfg, rules.Options{})
	if diags.HasErrors() {
		s.t.Fatalf("static rules found errors in the fixture:\n%s", dump(diags))
	}
	ds, err := live.Check(cfg, res, opts)
	if err != nil {
		s.t.Fatalf("live.Check: %v", err)
	}
	return ds
}

// finding is an expected diagnostic: code and severity, the marker of the
// line its range starts on, what the range's text starts with, and
// substrings of its detail.
type finding struct {
	code   diag.Code
	sev    hcl.DiagnosticSeverity
	at     string
	text   string
	detail []string
}

func dump(diags hcl.Diagnostics) string {
	var b strings.Builder
	for _, d := range diags {
		line := 0
		if d.Subject != nil {
			line = d.Subject.Start.Line
		}
		fmt.Fprintf(&b, "  %s sev=%d line %d: %s\n      %s\n", diag.CodeOf(d), d.Severity, line, d.Summary, d.Detail)
	}
	return b.String()
}

// expect checks that diags are exactly want.
func (s *scene) expect(diags hcl.Diagnostics, want []finding) {
	s.t.Helper()
	var got, exp []string
	for _, d := range diags {
		if d.Subject == nil {
			s.t.Fatalf("%s has no range:\n%s", diag.CodeOf(d), dump(diags))
		}
		got = append(got, fmt.Sprintf("%s/%d@%d", diag.CodeOf(d), d.Severity, d.Subject.Start.Line))
	}
	for _, w := range want {
		line, ok := s.lines[w.at]
		if !ok {
			s.t.Fatalf("no marker @%s", w.at)
		}
		exp = append(exp, fmt.Sprintf("%s/%d@%d", w.code, w.sev, line))
	}
	slices.Sort(got)
	slices.Sort(exp)
	if !slices.Equal(got, exp) {
		s.t.Fatalf("diagnostics (code/severity@line):\n  got  %q\n  want %q\n%s", got, exp, dump(diags))
	}
	used := make([]bool, len(diags))
next:
	for _, w := range want {
		for i, d := range diags {
			if used[i] || diag.CodeOf(d) != w.code || d.Subject.Start.Line != s.lines[w.at] || !containsAll(d.Detail, w.detail) {
				continue
			}
			used[i] = true
			if text := string(s.src[d.Subject.Start.Byte:d.Subject.End.Byte]); !strings.HasPrefix(text, w.text) {
				s.t.Errorf("%s: range text %q, want it to start with %q", w.code, text, w.text)
			}
			continue next
		}
		s.t.Errorf("%s at @%s: no diagnostic whose detail contains all of %q:\n%s", w.code, w.at, w.detail, dump(diags))
	}
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// nobody returns the real user "nobody", which the BP6002 tests read store
// files as. The files belong to the user running the test, so "nobody" sees
// them through the other bits whether or not the test runs as root.
func nobody(t *testing.T) *user.User {
	t.Helper()
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Fatalf("the live tests need the user nobody (from /etc/passwd): %v", err)
	}
	if u.Uid == strconv.Itoa(os.Getuid()) {
		t.Fatalf("the live tests read files as nobody, so they cannot run as nobody")
	}
	return u
}

// owned makes path belong to a user that is neither root nor nobody and
// returns that user's uid: the file's owner as root, the test's own user
// otherwise (a non-root process cannot give files away).
func owned(t *testing.T, path string) int {
	t.Helper()
	if os.Getuid() != 0 {
		return os.Getuid()
	}
	if err := os.Chown(path, fakeUID, -1); err != nil {
		t.Fatal(err)
	}
	return fakeUID
}

// srv2InMissing is what the scene's srv2 also finds, its account's user
// missing: the directory of orders_in, which the scene does not make
// there, judged without the user's rights.
var srv2InMissing = finding{diag.CodeLiveDirectory, hcl.DiagWarning, "orders_in", `"in"`,
	[]string{`receive location "orders_in"`, "does not exist", `server "srv2"`}}

func TestLive(t *testing.T) {
	keys := testpki.NewKeys()
	c := &certs{
		sign:    testpki.SelfSigned(t, testpki.Options{CommonName: "sign", Key: keys.Key(t, testpki.RSA2048, 0)}),
		partner: testpki.SelfSigned(t, testpki.Options{CommonName: "partner", Key: keys.Key(t, testpki.RSA2048, 1)}),
		tls:     testpki.SelfSigned(t, testpki.Options{CommonName: "as2.contoso.example", Key: keys.Key(t, testpki.RSA2048, 2)}),
		other:   testpki.SelfSigned(t, testpki.Options{CommonName: "other", Key: keys.Key(t, testpki.RSA2048, 3)}),
	}
	nob := nobody(t)
	deploy := fakeUser("deploy", fakeUID, fakeGID)
	// lookup resolves the fake user "bts-send" as fn says and every other
	// name for real.
	lookup := func(fn func() (*user.User, error)) func(string) (*user.User, error) {
		return func(name string) (*user.User, error) {
			if name == "bts-send" {
				return fn()
			}
			return user.Lookup(name)
		}
	}
	sendObjects := []string{`service account "svc_send"`, `certificate store "personal"`}

	cases := []struct {
		name  string
		user  string // the user attribute's expression; "" omits it
		setup func(s *scene, o *live.Options)
		want  []finding
	}{
		{name: "pass: readable stores, account without user"},
		{name: "pass: readable stores, real user nobody", user: `"nobody"`},

		// BP6001: the account's user does not exist here.
		{
			name: "BP6001 lookup reports an unknown user",
			user: `"bts-send"`,
			setup: func(s *scene, o *live.Options) {
				o.LookupUser = lookup(func() (*user.User, error) { return nil, user.UnknownUserError("bts-send") })
			},
			want: []finding{{diag.CodeLiveUser, hcl.DiagError, "user", `"bts-send"`,
				[]string{`Service account "svc_send"`, `OS user "bts-send"`, `server "srv1"`, "no such user"}}},
		},
		{
			// What is checked without the user's rights still is.
			name: "BP6001 and BP6003: a user that does not exist, and a key file readable by others",
			user: `"bts-send"`,
			setup: func(s *scene, o *live.Options) {
				o.LookupUser = lookup(func() (*user.User, error) { return nil, user.UnknownUserError("bts-send") })
				s.put("personal", "sign.pem", 0o644, append(c.sign.CertPEM(), c.sign.KeyPEM()...))
			},
			want: []finding{
				{diag.CodeLiveUser, hcl.DiagError, "user", `"bts-send"`, []string{`Service account "svc_send"`, `OS user "bts-send"`}},
				{diag.CodeLiveKeyExposed, hcl.DiagError, "personal", `"stores/personal"`, []string{"stores/personal/sign.pem", "chmod 600"}},
			},
		},
		{
			name: "BP6001 real lookup of a user that does not exist",
			user: `"bizpipe-no-such-user-7f3c"`,
			want: []finding{{diag.CodeLiveUser, hcl.DiagError, "user", `"bizpipe-no-such-user-7f3c"`,
				[]string{`Service account "svc_send"`, `"bizpipe-no-such-user-7f3c"`, `server "srv1"`}}},
		},
		{
			name:  "BP6001 on srv2 only when checking srv2",
			setup: func(s *scene, o *live.Options) { o.Server = "srv2" },
			want: []finding{{diag.CodeLiveUser, hcl.DiagError, "recv_user", `"bizpipe-no-such-user-7f3c"`,
				[]string{`Service account "svc_recv"`, `server "srv2"`}}, srv2InMissing},
		},

		// BP6002: store not readable by the account's user.
		{
			name: "BP6002 store file 0600 of another user, read as nobody",
			user: `"nobody"`,
			setup: func(s *scene, o *live.Options) {
				s.put("personal", "sign.p12", 0o600, c.sign.PKCS12(s.t, p12Password, false))
			},
			want: []finding{{diag.CodeLiveUnreadable, hcl.DiagError, "personal", `"stores/personal"`,
				append([]string{"stores/personal/sign.p12", `user "nobody"`, "-rw-------"}, sendObjects...)}},
		},
		{
			name:  "BP6002 store directory 0700, read as nobody",
			user:  `"nobody"`,
			setup: func(s *scene, o *live.Options) { s.chmod(s.storeDir("other"), 0o700) },
			want: []finding{{diag.CodeLiveUnreadable, hcl.DiagError, "other", `"stores/other"`,
				[]string{"stores/other", `certificate store "other"`, `user "nobody"`, `service account "svc_send"`, "cannot be listed", "mode -rwx------"}}},
		},
		{
			name:  "BP6002 parent directory others cannot search, read as nobody",
			user:  `"nobody"`,
			setup: func(s *scene, o *live.Options) { s.chmod(filepath.Join(s.dir, "stores"), 0o750) },
			want: []finding{
				{diag.CodeLiveUnreadable, hcl.DiagError, "personal", `"stores/personal"`,
					append([]string{"cannot be reached", "/stores on the way", "mode -rwxr-x---", `user "nobody"`}, sendObjects...)},
				{diag.CodeLiveUnreadable, hcl.DiagError, "other", `"stores/other"`,
					[]string{"cannot be reached", `certificate store "other"`, `user "nobody"`}},
			},
		},
		{
			name: "BP6002 owner bits apply to the owner, even when the group may read",
			user: `"bts-send"`,
			setup: func(s *scene, o *live.Options) {
				p := s.put("personal", "sign.p12", 0o044, c.sign.PKCS12(s.t, p12Password, false))
				uid := owned(s.t, p)
				o.LookupUser = lookup(func() (*user.User, error) { return fakeUser("bts-send", uid, fileGID(s.t, p)), nil })
			},
			want: []finding{{diag.CodeLiveUnreadable, hcl.DiagError, "personal", `"stores/personal"`,
				append([]string{"stores/personal/sign.p12", `user "bts-send"`, "----r--r--"}, sendObjects...)}},
		},
		{
			name: "BP6002 pass: owner may read a 0400 file",
			user: `"bts-send"`,
			setup: func(s *scene, o *live.Options) {
				p := s.put("personal", "sign.p12", 0o400, c.sign.PKCS12(s.t, p12Password, false))
				uid := owned(s.t, p)
				o.LookupUser = lookup(func() (*user.User, error) { return fakeUser("bts-send", uid, fakeGID), nil })
			},
		},
		{
			name: "BP6002 group bits apply to a group member, even when others may read",
			user: `"bts-send"`,
			setup: func(s *scene, o *live.Options) {
				p := s.put("personal", "sign.p12", 0o604, c.sign.PKCS12(s.t, p12Password, false))
				o.LookupUser = lookup(func() (*user.User, error) { return fakeUser("bts-send", fakeUID+10, fileGID(s.t, p)), nil })
			},
			want: []finding{{diag.CodeLiveUnreadable, hcl.DiagError, "personal", `"stores/personal"`,
				append([]string{"stores/personal/sign.p12", `user "bts-send"`, "-rw----r--"}, sendObjects...)}},
		},
		{
			name: "BP6002 pass: group member may read a 0640 file",
			user: `"bts-send"`,
			setup: func(s *scene, o *live.Options) {
				p := s.put("personal", "sign.p12", 0o640, c.sign.PKCS12(s.t, p12Password, false))
				o.LookupUser = lookup(func() (*user.User, error) { return fakeUser("bts-send", fakeUID+10, fileGID(s.t, p)), nil })
			},
		},
		{
			// The loader never opens a hidden file (an editor's swap
			// file, 0600 like vim's), so run, as nobody, loads the
			// store as it is: no reason to refuse to start.
			name: "BP6002 pass: a hidden file 0600 of another user, read as nobody",
			user: `"nobody"`,
			setup: func(s *scene, o *live.Options) {
				s.put("personal", ".sign.p12.swp", 0o600, []byte("swap"))
			},
		},
		{
			name: "BP6002 symbolic link to a file in a directory nobody cannot search",
			user: `"nobody"`,
			setup: func(s *scene, o *live.Options) {
				target := s.fileAt("secret/partner.pem", 0o644, c.partner.CertPEM())
				s.chmod(filepath.Dir(target), 0o700)
				s.symlink("other", "partner.pem", target)
			},
			want: []finding{{diag.CodeLiveUnreadable, hcl.DiagError, "other", `"stores/other"`,
				[]string{"stores/other/partner.pem", `certificate store "other"`, `user "nobody"`, "symbolic link", "/secret on the way", "mode -rwx------"}}},
		},
		{
			name: "BP6002 store directory a symbolic link into a directory nobody cannot search",
			user: `"nobody"`,
			setup: func(s *scene, o *live.Options) {
				target := s.fileAt("secret/other/partner.cer", 0o644, c.partner.DER)
				s.chmod(filepath.Join(s.dir, "secret"), 0o700)
				s.chmod(filepath.Dir(target), 0o755)
				removeAll(s.t, s.storeDir("other"))
				if err := os.Symlink(filepath.Dir(target), s.storeDir("other")); err != nil {
					s.t.Fatal(err)
				}
			},
			want: []finding{{diag.CodeLiveUnreadable, hcl.DiagError, "other", `"stores/other"`,
				[]string{"stores/other", `certificate store "other"`, `user "nobody"`, "cannot be reached", "/secret on the way", "mode -rwx------"}}},
		},
		{
			name: "BP6002 pass: root reads a 0600 file of another user",
			setup: func(s *scene, o *live.Options) {
				p := s.put("personal", "sign.p12", 0o600, c.sign.PKCS12(s.t, p12Password, false))
				owned(s.t, p)
				o.Current = func() (*user.User, error) { return fakeUser("root", 0, fakeGID), nil }
			},
		},
		{
			name: "BP6002 account without user is checked as the process's user",
			setup: func(s *scene, o *live.Options) {
				s.put("personal", "sign.p12", 0o600, c.sign.PKCS12(s.t, p12Password, false))
				o.Current = func() (*user.User, error) { return deploy, nil }
			},
			want: []finding{{diag.CodeLiveUnreadable, hcl.DiagError, "personal", `"stores/personal"`,
				append([]string{"stores/personal/sign.p12", `user "deploy"`}, sendObjects...)}},
		},
		{
			name: "BP6002 skipped: user from a variable without value is not judged, and BP1009 says so (BP6003 still is judged)",
			user: "var.svc_user",
			setup: func(s *scene, o *live.Options) {
				s.put("personal", "sign.p12", 0o600, c.sign.PKCS12(s.t, p12Password, false))
				s.put("other", "stray.key", 0o644, c.partner.KeyPEM())
				o.Current = func() (*user.User, error) { return deploy, nil }
			},
			want: []finding{
				{diag.CodeLiveKeyExposed, hcl.DiagError, "other", `"stores/other"`,
					[]string{"stores/other/stray.key", `certificate store "other"`}},
				{diag.CodeNeedUnknown, hcl.DiagWarning, "user", "var.svc_user",
					[]string{`user of service account "svc_send" has no value`, `server "srv1"`, "BP6001", "BP6002, BP6006 and BP6007", `skipped for host "send_host".`}},
			},
		},

		// BP6003: unencrypted private key readable or writable by others.
		{
			name: "BP6003 unencrypted PEM key 0644",
			setup: func(s *scene, o *live.Options) {
				s.put("personal", "sign.pem", 0o644, append(c.sign.CertPEM(), c.sign.KeyPEM()...))
			},
			want: []finding{{diag.CodeLiveKeyExposed, hcl.DiagError, "personal", `"stores/personal"`,
				[]string{"stores/personal/sign.pem", `certificate store "personal"`, "-rw-r--r--", "chmod 600"}}},
		},
		{
			name: "BP6003 unencrypted PKCS#1 key writable by the group",
			setup: func(s *scene, o *live.Options) {
				s.put("personal", "sign.key", 0o620, c.sign.KeyPKCS1PEM(s.t))
			},
			want: []finding{{diag.CodeLiveKeyExposed, hcl.DiagError, "personal", `"stores/personal"`,
				[]string{"stores/personal/sign.key", "-rw--w----"}}},
		},
		{
			name: "BP6003 PKCS#12 without password 0644 (in a store without password)",
			setup: func(s *scene, o *live.Options) {
				s.put("other", "open.p12", 0o644, c.partner.PKCS12(s.t, "", false))
			},
			want: []finding{{diag.CodeLiveKeyExposed, hcl.DiagError, "other", `"stores/other"`,
				[]string{"stores/other/open.p12", `certificate store "other"`}}},
		},
		{
			// The store's password guards only the file's MAC: openssl
			// -keypbe NONE leaves the key itself unencrypted.
			name: "BP6003 PKCS#12 0644 with the store's password but an unencrypted key bag",
			setup: func(s *scene, o *live.Options) {
				d := s.t.TempDir()
				cert := testpki.WriteFile(s.t, d, "cert.pem", c.sign.CertPEM())
				key := testpki.WriteFile(s.t, d, "key.pem", c.sign.KeyPEM())
				p12 := filepath.Join(d, "sign.p12")
				out, err := exec.Command(testpki.OpenSSL(s.t), "pkcs12", "-export", "-in", cert, "-inkey", key, "-keypbe", "NONE",
					"-passout", "pass:"+p12Password, "-out", p12).CombinedOutput()
				if err != nil {
					s.t.Fatalf("openssl pkcs12: %v\n%s", err, out)
				}
				data, err := os.ReadFile(p12)
				if err != nil {
					s.t.Fatal(err)
				}
				s.put("personal", "sign.p12", 0o644, data)
			},
			want: []finding{{diag.CodeLiveKeyExposed, hcl.DiagError, "personal", `"stores/personal"`,
				[]string{"stores/personal/sign.p12", `certificate store "personal"`, "-rw-r--r--", "a password that encrypts the key"}}},
		},
		{
			name: "BP6003 pass: unencrypted PEM key 0600",
			setup: func(s *scene, o *live.Options) {
				s.put("personal", "sign.pem", 0o600, append(c.sign.CertPEM(), c.sign.KeyPEM()...))
			},
		},
		{
			name: "BP6003 pass: password-protected PKCS#12 0644, certificate PEM 0644",
			setup: func(s *scene, o *live.Options) {
				s.put("other", "partner.pem", 0o644, c.partner.CertPEM())
			},
		},

		// BP6004: run as a different user than the service account.
		{
			name: "BP6004 run as deploy, account user nobody",
			user: `"nobody"`,
			setup: func(s *scene, o *live.Options) {
				o.Run = true
				o.Current = func() (*user.User, error) { return deploy, nil }
			},
			want: []finding{{diag.CodeLiveRunAs, hcl.DiagWarning, "inst", "instance {",
				[]string{`host "send_host"`, `server "srv1"`, `service account "svc_send"`, `OS user "nobody"`, `runs as "deploy"`}}},
		},
		{
			name: "BP6004 pass: validate --live (Run false) never reports it",
			user: `"nobody"`,
			setup: func(s *scene, o *live.Options) {
				o.Current = func() (*user.User, error) { return deploy, nil }
			},
		},
		{
			name: "BP6004 pass: run as the account's user",
			user: `"nobody"`,
			setup: func(s *scene, o *live.Options) {
				o.Run = true
				o.Current = func() (*user.User, error) { return nob, nil }
			},
		},
		{
			name: "BP6004 pass: account without user runs as the process's user",
			setup: func(s *scene, o *live.Options) {
				o.Run = true
				o.Current = func() (*user.User, error) { return deploy, nil }
			},
		},

		// BP6006: a file transport's directory, declared by the
		// component (component.LiveConfig), for the instances on srv1.
		{
			name:  "BP6006 send port's output directory missing",
			setup: func(s *scene, o *live.Options) { removeAll(s.t, filepath.Join(s.dir, "out")) },
			want: []finding{{diag.CodeLiveDirectory, hcl.DiagWarning, "out", `"out"`,
				[]string{"/out", `path of transport "file" of send port "fabrikam"`, "does not exist", `server "srv1"`, `host "send_host"`, "deliveries fail", "mounted later"}}},
		},
		{
			name:  "BP6006 receive location's directory missing",
			setup: func(s *scene, o *live.Options) { removeAll(s.t, filepath.Join(s.dir, "in1")) },
			want: []finding{{diag.CodeLiveDirectory, hcl.DiagWarning, "in1", `"in1"`,
				[]string{"/in1", `receive location "files_in"`, "does not exist", "receives nothing"}}},
		},
		{
			name: "BP6006 receive location's directory is a file",
			setup: func(s *scene, o *live.Options) {
				removeAll(s.t, filepath.Join(s.dir, "in1"))
				s.fileAt("in1", 0o644, []byte("not a directory"))
			},
			want: []finding{{diag.CodeLiveDirectory, hcl.DiagWarning, "in1", `"in1"`,
				[]string{`receive location "files_in"`, "is not a directory"}}},
		},
		{
			name:  "BP6006 output directory not writable by nobody",
			user:  `"nobody"`,
			setup: func(s *scene, o *live.Options) { s.chmod(filepath.Join(s.dir, "out"), 0o755) },
			want: []finding{{diag.CodeLiveDirectory, hcl.DiagWarning, "out", `"out"`,
				[]string{`send port "fabrikam"`, `user "nobody"`, "needs read, write and execute permission", "mode -rwxr-xr-x"}}},
		},
		{
			name:  "BP6006 receive directory not readable by nobody",
			user:  `"nobody"`,
			setup: func(s *scene, o *live.Options) { s.chmod(filepath.Join(s.dir, "in1"), 0o733) },
			want: []finding{{diag.CodeLiveDirectory, hcl.DiagWarning, "in1", `"in1"`,
				[]string{`receive location "files_in"`, `user "nobody"`, "needs read, write and execute", "mode -rwx-wx-wx"}}},
		},
		{
			name:  "BP6006 pass: missing directory of a location on another server",
			setup: func(s *scene, o *live.Options) { removeAll(s.t, filepath.Join(s.dir, "in")) },
		},

		// Host (run --host): only that host's instances on the server.
		{
			name: "Host: the findings about send_host's instance on srv1",
			user: `"nobody"`,
			setup: func(s *scene, o *live.Options) {
				hostScene(s, o, deploy)
				o.Host = "send_host"
			},
			want: []finding{
				{diag.CodeLiveRunAs, hcl.DiagWarning, "inst", "instance {", []string{`host "send_host"`, `runs as "deploy"`}},
				{diag.CodeLiveUnreadable, hcl.DiagError, "other", `"stores/other"`, []string{`certificate store "other"`, `user "nobody"`}},
				{diag.CodeLiveDirectory, hcl.DiagWarning, "out", `"out"`, []string{`send port "fabrikam"`, "does not exist"}},
			},
		},
		{
			name: "Host pass: another host on srv1 reports nothing about send_host",
			user: `"nobody"`,
			setup: func(s *scene, o *live.Options) {
				hostScene(s, o, deploy)
				o.Host = "recv_host"
			},
		},
		{
			name:  "Host pass: send_host has no instance on srv2, recv_host's is left out",
			setup: func(s *scene, o *live.Options) { o.Server, o.Host = "srv2", "send_host" },
		},
		{
			name:  "Host: recv_host's instance on srv2",
			setup: func(s *scene, o *live.Options) { o.Server, o.Host = "srv2", "recv_host" },
			want: []finding{{diag.CodeLiveUser, hcl.DiagError, "recv_user", `"bizpipe-no-such-user-7f3c"`,
				[]string{`Service account "svc_recv"`, `server "srv2"`}}, srv2InMissing},
		},

		// BP6007: the TLS files a transport loads when it starts,
		// loaded as it loads them.
		{
			name:  "BP6007 receive location's key file missing",
			setup: func(s *scene, o *live.Options) { removeAll(s.t, filepath.Join(s.dir, "tls", "server.key")) },
			want: []finding{{diag.CodeLiveFiles, hcl.DiagError, "key_file", `"tls/server.key"`,
				[]string{`key_file of the tls block of transport "as2" of receive location "as2_in"`, "server.key", "no such file", `start receive location "as2_in"`}}},
		},
		{
			name:  "BP6007 receive location's key does not match its certificate",
			setup: func(s *scene, o *live.Options) { s.fileAt("tls/server.key", 0o644, c.other.KeyPEM()) },
			want: []finding{{diag.CodeLiveFiles, hcl.DiagError, "key_file", `"tls/server.key"`,
				[]string{`receive location "as2_in"`, "server.key", "server.pem", "does not match"}}},
		},
		{
			name:  "BP6007 receive location's certificate file holds a key",
			setup: func(s *scene, o *live.Options) { s.fileAt("tls/server.pem", 0o644, c.tls.KeyPEM()) },
			want: []finding{{diag.CodeLiveFiles, hcl.DiagError, "cert_file", `"tls/server.pem"`,
				[]string{`cert_file of the tls block of transport "as2" of receive location "as2_in"`, "swapped"}}},
		},
		{
			name:  "BP6007 send port's ca_file missing",
			setup: func(s *scene, o *live.Options) { removeAll(s.t, filepath.Join(s.dir, "tls", "ca.pem")) },
			want: []finding{{diag.CodeLiveFiles, hcl.DiagError, "ca_file", `"tls/ca.pem"`,
				[]string{`ca_file of the tls block of transport "http" of send port "partner_http"`, "no such file"}}},
		},
		{
			name: "BP6007 key file not readable by the instance's user",
			user: `"nobody"`,
			setup: func(s *scene, o *live.Options) {
				s.chmod(filepath.Join(s.dir, "tls", "server.key"), 0o600)
			},
			want: []finding{
				{diag.CodeLiveFiles, hcl.DiagError, "key_file", `"tls/server.key"`,
					[]string{`receive location "as2_in"`, `not readable by user "nobody"`, "-rw-------"}},
				// A 0600 key is what BP6003 asks for; an unencrypted key
				// file out of a store is not a store file (no BP6003).
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newScene(t, c)
			opts := live.Options{Server: "srv1"}
			if tc.setup != nil {
				tc.setup(s, &opts)
			}
			s.write(tc.user)
			s.expect(s.check(opts), tc.want)
		})
	}
}

// hostScene makes send_host's instance on srv1 a finding of each kind:
// run (BP6004) as deploy, its server's other-people store unreadable by
// its user (BP6002), its port's directory missing (BP6006).
func hostScene(s *scene, o *live.Options, deploy *user.User) {
	o.Run = true
	o.Current = func() (*user.User, error) { return deploy, nil }
	s.chmod(s.storeDir("other"), 0o700)
	removeAll(s.t, filepath.Join(s.dir, "out"))
}

func removeAll(t *testing.T, path string) {
	t.Helper()
	if err := os.RemoveAll(path); err != nil {
		t.Fatal(err)
	}
}

// TestLiveNoKeyMaterial: whatever is wrong with a TLS key file, BP6007
// never shows what the file holds.
func TestLiveNoKeyMaterial(t *testing.T) {
	keys := testpki.NewKeys()
	c := &certs{
		sign:    testpki.SelfSigned(t, testpki.Options{CommonName: "sign", Key: keys.Key(t, testpki.RSA2048, 0)}),
		partner: testpki.SelfSigned(t, testpki.Options{CommonName: "partner", Key: keys.Key(t, testpki.RSA2048, 1)}),
		tls:     testpki.SelfSigned(t, testpki.Options{CommonName: "as2.contoso.example", Key: keys.Key(t, testpki.RSA2048, 2)}),
		other:   testpki.SelfSigned(t, testpki.Options{CommonName: "other", Key: keys.Key(t, testpki.RSA2048, 3)}),
	}
	key := c.other.KeyPEM()
	body := strings.Split(string(key), "\n")[1] // a line of the key's base64
	for name, data := range map[string][]byte{
		"other key":        key,
		"key as cert_file": key,
		"truncated key":    key[:len(key)/2],
		"key with garbage": append([]byte("garbage "+body+"\n"), key...),
	} {
		t.Run(name, func(t *testing.T) {
			s := newScene(t, c)
			file := "tls/server.key"
			if name == "key as cert_file" {
				file = "tls/server.pem"
			}
			s.fileAt(file, 0o644, data)
			s.write("")
			ds := s.check(live.Options{Server: "srv1"})
			if len(ds) != 1 || diag.CodeOf(ds[0]) != diag.CodeLiveFiles {
				t.Fatalf("want one BP6007:\n%s", dump(ds))
			}
			if strings.Contains(ds[0].Summary+ds[0].Detail, body[:16]) {
				t.Errorf("BP6007 shows key material:\n%s", dump(ds))
			}
		})
	}
}

// TestLiveUnknownServer: checking a server the configuration does not declare
// is a failure to run, not an empty success.
func TestLiveUnknownServer(t *testing.T) {
	keys := testpki.NewKeys()
	c := &certs{
		sign:    testpki.SelfSigned(t, testpki.Options{CommonName: "sign", Key: keys.Key(t, testpki.RSA2048, 0)}),
		partner: testpki.SelfSigned(t, testpki.Options{CommonName: "partner", Key: keys.Key(t, testpki.RSA2048, 1)}),
		tls:     testpki.SelfSigned(t, testpki.Options{CommonName: "as2.contoso.example", Key: keys.Key(t, testpki.RSA2048, 2)}),
		other:   testpki.SelfSigned(t, testpki.Options{CommonName: "other", Key: keys.Key(t, testpki.RSA2048, 3)}),
	}
	s := newScene(t, c)
	s.write("")
	cfg, diags := lang.Load([]string{s.file}, lang.Options{LookupEnv: func(string) (string, bool) { return "", false }})
	if len(diags) > 0 {
		t.Fatalf("lang.Load:\n%s", dump(diags))
	}
	res, _ := rules.Check(cfg, rules.Options{})
	ds, err := live.Check(cfg, res, live.Options{Server: "srv9"})
	if err == nil || !strings.Contains(err.Error(), `"srv9"`) {
		t.Errorf("live.Check for an undeclared server: err = %v, want one naming \"srv9\"", err)
	}
	if len(ds) != 0 {
		t.Errorf("live.Check for an undeclared server returned diagnostics:\n%s", dump(ds))
	}
}
