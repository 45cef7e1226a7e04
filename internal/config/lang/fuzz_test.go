package lang_test

import (
	"bytes"
	"encoding/pem"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/config/lang"
	"github.com/bizpipe/bizpipe/internal/config/model"
	"github.com/bizpipe/bizpipe/internal/pki/certstore"
	"github.com/bizpipe/bizpipe/internal/validate/rules"
)

// Bits of FuzzLoad's kind argument.
const (
	kindMainJSON  = 1 << iota // the first input is written as main.hcl.json
	kindExtraJSON             // the second input is written as extra.hcl.json
	kindExtraSub              // the second input goes to sub/ and is named directly, as on a command line
	kindRun                   // load in run mode instead of validate mode
)

// Limits of one fuzz execution. A normal input takes about a millisecond;
// these only trip on a hang or unbounded allocation, which the watchdog turns
// into a crash that the fuzzer records, instead of a frozen worker or an
// out-of-memory kill that takes the machine with it.
const (
	execTimeLimit = 30 * time.Second
	execHeapLimit = 2 << 30
)

// FuzzLoad feeds arbitrary configuration files to the whole validate path —
// FindFiles, lang.Load, rules.Check — and checks that nothing panics and
// that every diagnostic is well formed: it has a code, a severity and a
// summary, and its source range, when it has one, is in one of the
// configuration files (and within its bytes, except in JSON files, where
// HCL's positions are approximate: see checkDiags). Load must also be
// deterministic. Inputs are loaded in validate mode, or in run mode when
// kind says so.
//
// Each execution gets a fresh directory holding the configuration files and
// stores/, a link to a copy of the stores of examples/misconfigured plus a
// store of damaged files, so that inputs naming stores/... exercise the
// certificate rules. The first input is main.hcl (or main.hcl.json); a
// non-empty second input is a second file; kind selects the variants (see
// kindMainJSON ...).
//
// The run is hermetic: the environment is a fixed map, certificates are
// checked against a fixed date, and certificate stores outside the execution
// directory and the fixture are not read. file() cannot be sandboxed from
// outside lang, so inputs that spell a device or pseudo-file system path
// are skipped (see mentionsSpecialPath); the watchdog catches whatever gets
// past that.
//
// Fuzzing creates a directory per execution: point TMPDIR at a tmpfs
// (TMPDIR=/dev/shm) to make it several times faster.
func FuzzLoad(f *testing.F) {
	// The stores are written once and linked into every execution
	// directory: creating files dominates the cost of an execution.
	fixture := f.TempDir()
	for name, data := range storeFixture(f) {
		writeFile(f, filepath.Join(fixture, name), data)
	}
	for _, s := range fuzzSeeds(f) {
		f.Add(s.main, s.extra, s.kind)
	}
	f.Fuzz(func(t *testing.T, main, extra []byte, kind uint8) {
		if mentionsSpecialPath(main) || mentionsSpecialPath(extra) {
			t.Skip("input names a device or pseudo-file system path (see mentionsSpecialPath)")
		}
		dir := t.TempDir()
		if err := os.Symlink(filepath.Join(fixture, "stores"), filepath.Join(dir, "stores")); err != nil {
			t.Fatal(err)
		}
		paths, written := writeConfig(t, dir, main, extra, kind)

		defer watchdog(execTimeLimit, execHeapLimit)()
		loadAndCheck(t, []string{dir, fixture}, paths, written, kind&kindRun != 0)
	})
}

// loadAndCheck runs the validate path on the configuration and checks every
// invariant. paths are the command-line arguments and written the files;
// only stores inside the sandbox directories are read.
func loadAndCheck(t *testing.T, sandbox, paths []string, written map[string][]byte, run bool) {
	files, err := lang.FindFiles(paths)
	if err != nil {
		t.Fatalf("FindFiles(%q): %v", paths, err)
	}
	for _, f := range files {
		if _, ok := written[f]; !ok {
			t.Fatalf("FindFiles returned %q, which is not one of the files written", f)
		}
	}
	opts := lang.Options{Mode: lang.ModeValidate, LookupEnv: fuzzEnv}
	if run {
		opts.Mode = lang.ModeRun
	}
	cfg, diags := lang.Load(files, opts)
	checkDiags(t, "Load", diags, written)

	// The same files give the same diagnostics.
	_, again := lang.Load(files, opts)
	first := diagStrings(diags)
	if second := diagStrings(again); first != second {
		t.Fatalf("Load is not deterministic:\nfirst:\n%s\nsecond:\n%s", first, second)
	}
	t.Logf("Load:\n%s", first)

	if cfg == nil {
		return
	}
	sandboxStores(t, sandbox, cfg)
	res, rdiags := rules.Check(cfg, rules.Options{
		Now:   time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC),
		Cache: certstore.NewCache(),
	})
	checkDiags(t, "rules.Check", rdiags, written)
	t.Logf("rules.Check:\n%s", diagStrings(rdiags))
	if res == nil {
		t.Fatal("rules.Check returned a nil Result")
	}
	declared := map[*model.CertificateStore]bool{}
	for _, s := range cfg.Stores {
		declared[s] = true
	}
	for s, st := range res.Stores {
		if !declared[s] || st == nil {
			t.Fatalf("rules.Check returned store %q (%v), which is not a declared, loaded store", s.Name, st)
		}
	}
}

// checkDiags checks the invariants every diagnostic must satisfy.
func checkDiags(t *testing.T, who string, diags hcl.Diagnostics, written map[string][]byte) {
	t.Helper()
	for _, d := range diags {
		if d == nil {
			t.Fatalf("%s returned a nil diagnostic", who)
		}
		if diag.CodeOf(d) == "" {
			t.Errorf("%s: diagnostic without a code: %s", who, d.Error())
		}
		if d.Severity != hcl.DiagError && d.Severity != hcl.DiagWarning {
			t.Errorf("%s: diagnostic with severity %v: %s", who, d.Severity, d.Error())
		}
		if d.Summary == "" {
			t.Errorf("%s: diagnostic without a summary: %s", who, d.Error())
		}
		if d.Subject == nil {
			continue
		}
		src, ok := written[d.Subject.Filename]
		if !ok {
			t.Errorf("%s: diagnostic %s points at %q, which is not a configuration file", who, diag.CodeOf(d), d.Subject.Filename)
			continue
		}
		limit := len(src)
		if strings.HasSuffix(d.Subject.Filename, ".json") {
			// HCL's JSON decoder does not keep source positions exact:
			// it parses what it reads of a string (a type, a reference)
			// from the decoded text, so escapes and invalid UTF-8 shift
			// those ranges (a template's bizpipe maps back to the file:
			// parseJSONTemplate; testdata/fuzz/FuzzLoad/709f86025674082a),
			// and it ends an unterminated string one byte past the end of
			// the file (9bb933d6ff749ce4). The renderers cope; only check
			// that the range is well formed.
			limit = math.MaxInt
		}
		if r := *d.Subject; r.Start.Byte < 0 || r.Start.Byte > r.End.Byte || r.End.Byte > limit {
			t.Errorf("%s: diagnostic %s has range bytes %d–%d outside the %d-byte file: %s",
				who, diag.CodeOf(d), r.Start.Byte, r.End.Byte, len(src), d.Error())
		}
	}
}

// diagStrings renders diagnostics for comparison and logs.
func diagStrings(diags hcl.Diagnostics) string {
	var sb strings.Builder
	for _, d := range diags {
		fmt.Fprintf(&sb, "%s %s\n", diag.CodeOf(d), d.Error())
	}
	return sb.String()
}

// sandboxStores makes every store outside the sandbox directories unknown,
// so that rules.Check never reads a directory such as /proc, where a regular
// file like /proc/kmsg blocks (and reading it consumes the kernel log).
func sandboxStores(t *testing.T, sandbox []string, cfg *model.Config) {
	roots := make([]string, len(sandbox))
	for i, dir := range sandbox {
		root, err := filepath.EvalSymlinks(dir)
		if err != nil {
			t.Fatal(err)
		}
		roots[i] = root
	}
	inside := func(p string) bool {
		for _, root := range roots {
			if rel, err := filepath.Rel(root, p); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
				return true
			}
		}
		return false
	}
	for _, s := range cfg.Stores {
		if !s.Path.Usable() {
			continue
		}
		real, err := filepath.EvalSymlinks(s.Path.V)
		if err != nil {
			continue // does not exist: BP2001, nothing is read
		}
		if !inside(real) {
			s.Path.Known = false
		}
	}
}

// mentionsSpecialPath reports whether an input spells (in any case) a part of
// the path of a device, FIFO or pseudo-file, which file() would read without
// a size limit or forever: file("/dev/zero"), file("/dev/stdin"),
// file("/proc/kmsg"). It is a heuristic — an input can assemble a path out
// of pieces — and the watchdog catches what it misses.
func mentionsSpecialPath(b []byte) bool {
	lower := bytes.ToLower(b)
	for _, w := range []string{"dev", "proc", "sys", "run/", "fd/", "zero", "random", "stdin", "kmsg", "fifo", "tty"} {
		if bytes.Contains(lower, []byte(w)) {
			return true
		}
	}
	return false
}

// fuzzEnv is the fixed environment of the fuzz target.
func fuzzEnv(name string) (string, bool) {
	switch name {
	case "HOME":
		return "/home/fuzz", true
	case "PARTNER", "BIZPIPE_VAR_partner":
		return "fabrikam", true
	case "BIZPIPE_VAR_retries":
		return "4", true
	}
	return "", false
}

// watchdog panics, printing every goroutine, when the execution it guards
// runs longer than limit or the heap grows beyond maxHeap. The returned
// function stops it.
func watchdog(limit time.Duration, maxHeap uint64) (stop func()) {
	done := make(chan struct{})
	go func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		deadline := time.Now().Add(limit)
		sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		for {
			select {
			case <-done:
				return
			case now := <-tick.C:
				metrics.Read(sample)
				var why string
				switch heap := sample[0].Value.Uint64(); {
				case now.After(deadline):
					why = fmt.Sprintf("the input has run for more than %s", limit)
				case heap > maxHeap:
					why = fmt.Sprintf("the input made the heap grow to %d MiB (limit %d MiB)", heap>>20, maxHeap>>20)
				default:
					continue
				}
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				panic(fmt.Sprintf("watchdog: %s\n\n%s", why, buf))
			}
		}
	}()
	return func() { close(done) }
}

// writeConfig writes the inputs as configuration files and returns the
// command-line arguments that name them and the files written (name as
// FindFiles returns it → content).
func writeConfig(t *testing.T, dir string, main, extra []byte, kind uint8) ([]string, map[string][]byte) {
	written := map[string][]byte{}
	name := filepath.Join(dir, "main.hcl")
	if kind&kindMainJSON != 0 {
		name += ".json"
	}
	writeFile(t, name, main)
	written[name] = main
	paths := []string{dir}
	if len(extra) > 0 {
		edir := dir
		if kind&kindExtraSub != 0 {
			edir = filepath.Join(dir, "sub")
		}
		name := filepath.Join(edir, "extra.hcl")
		if kind&kindExtraJSON != 0 {
			name += ".json"
		}
		writeFile(t, name, extra)
		written[name] = extra
		if edir != dir {
			paths = append(paths, name)
		}
	}
	return paths, written
}

func writeFile(t testing.TB, name string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// storeFixture returns the files of the certificate stores every execution
// sees, by path relative to the execution directory: the stores of
// examples/misconfigured (a PKCS#12 file with the demo signing key, the
// signing certificate without its key, and the partner certificate in two
// other-people stores) and stores/damaged, whose files cannot be parsed or
// decrypted.
func storeFixture(f *testing.F) map[string][]byte {
	out := map[string][]byte{}
	src := filepath.Join("..", "..", "..", "examples", "misconfigured", "stores")
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(filepath.Join(src, ".."), p)
		out[rel] = data
		return err
	})
	if err != nil || len(out) == 0 {
		f.Fatalf("reading the store fixture %s: %v (%d files)", src, err, len(out))
	}
	partner := out[filepath.Join("stores", "srv1_other_people", "fabrikam.pem")]
	block, _ := pem.Decode(partner)
	if block == nil {
		f.Fatal("stores/srv1_other_people/fabrikam.pem holds no PEM block")
	}
	damaged := filepath.Join("stores", "damaged")
	out[filepath.Join(damaged, "partner.der")] = block.Bytes
	out[filepath.Join(damaged, "truncated.crt")] = block.Bytes[:len(block.Bytes)/2]
	out[filepath.Join(damaged, "bad.pem")] = []byte("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
	out[filepath.Join(damaged, "empty.cer")] = nil
	out[filepath.Join(damaged, "garbage.p12")] = []byte("\x30\x82\x01\x00\x02\x01\x03\x30\x80\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x01")
	out[filepath.Join(damaged, "notes.txt")] = []byte("not a certificate")
	out[filepath.Join(damaged, "signing.p12")] = out[filepath.Join("stores", "svc_send", "contoso-signing.p12")]
	return out
}

// fuzzSeed is one f.Add call.
type fuzzSeed struct {
	main, extra []byte
	kind        uint8
}

// fuzzSeeds returns the seed corpus: the example configurations, the
// lang fixtures, and hostile inputs.
func fuzzSeeds(f *testing.F) []fuzzSeed {
	var seeds []fuzzSeed
	add := func(main, extra string, kind uint8) {
		seeds = append(seeds, fuzzSeed{[]byte(main), []byte(extra), kind})
	}
	read := func(glob string) map[string]string {
		names, err := filepath.Glob(glob)
		if err != nil || len(names) == 0 {
			f.Fatalf("seed files %s: %v", glob, err)
		}
		out := map[string]string{}
		for _, n := range names {
			b, err := os.ReadFile(n)
			if err != nil {
				f.Fatal(err)
			}
			out[filepath.Base(n)] = string(b)
		}
		return out
	}

	// The examples: each file alone, and the whole configuration.
	quick := read("../../../examples/quickstart/*.hcl")
	for _, src := range quick {
		add(src, "", 0)
	}
	mis := read("../../../examples/misconfigured/*.hcl")
	for _, src := range mis {
		add(src, "", 0)
	}
	add(mis["servers.hcl"], mis["group.hcl"]+mis["ports.hcl"], 0)
	add(mis["servers.hcl"], mis["group.hcl"]+mis["ports.hcl"], kindExtraSub)
	add(mis["servers.hcl"], mis["group.hcl"]+mis["ports.hcl"], kindRun)
	add(quick["bizpipe.hcl"], "", kindRun)

	// The lang fixtures.
	for name, src := range read("testdata/*-files/*") {
		var kind uint8
		if strings.HasSuffix(name, ".json") {
			kind = kindMainJSON
		}
		add(src, "", kind)
	}

	for _, s := range hostileSeeds() {
		add(s.main, s.extra, s.kind)
	}
	return seeds
}

type hostileSeed struct {
	main, extra string
	kind        uint8
}

// validBase is a small configuration that validates clean against the store
// fixture; hostile seeds append to it or replace parts of it.
const validBase = `
group "contoso" {
  signing_certificate = "4E077EB5555B50DCBCBF3D7261281954D2A1999D"
}
variable "p12_password" {
  type      = string
  default   = "demo-only"
  sensitive = true
}
certificate_store "personal" {
  path     = "stores/svc_send"
  password = var.p12_password
}
certificate_store "others" {
  path = "stores/srv1_other_people"
}
service_account "svc" {
  personal_store = certificate_store.personal
}
server "srv1" {
  other_people_store = certificate_store.others
}
host "h" {
  instance {
    server          = server.srv1
    service_account = service_account.svc
  }
}
pipeline "se" {
  encoder "smime" {
    signature = "clear"
    encrypt   = true
  }
}
send_port "p" {
  host                   = host.h
  pipeline               = pipeline.se
  encryption_certificate = "CCFE302DA296CC18B316BA3063F069169382D9FC"
  filter                 = message.properties.partner == "fabrikam"
  transport "file" {
    path = "out"
  }
}
`

// hostileSeeds are inputs written to break a parser or decoder.
func hostileSeeds() []hostileSeed {
	deep := func(open, close string, n int) string {
		return strings.Repeat(open, n) + "1" + strings.Repeat(close, n)
	}
	huge := strings.Repeat("a", 1<<16)
	sub := func(old, repl string) string {
		if !strings.Contains(validBase, old) {
			panic("hostile seed: validBase has no " + old)
		}
		return strings.Replace(validBase, old, repl, 1)
	}
	return []hostileSeed{
		// Deep nesting.
		{main: validBase + "locals { x = " + deep("[", "]", 2000) + " }\n"},
		{main: validBase + "locals { x = " + deep("(", ")", 2000) + " }\n"},
		{main: validBase + "locals { x = " + deep("{a=", "}", 1000) + " }\n"},
		{main: validBase + "locals { x = " + deep("!", "", 2000) + " }\n"},
		{main: validBase + "locals { x = \"" + deep("${", "}", 1000) + "\" }\n"},
		{main: `{"group": {"g": {"signing_certificate": ` + deep("[", "]", 2000) + `}}}`, kind: kindMainJSON},
		{main: validBase, extra: strings.Repeat(`host "h" { instance { `, 500) + strings.Repeat("} }", 500)},
		// Deep enough to overflow the stack if parsed (see nesting.go).
		{main: validBase + "locals { x = " + deep("[", "]", 100000) + " }\n"},
		{main: validBase + "locals { x = " + deep("!", "", 100000) + " }\n"},
		{main: validBase + "locals { x = 1" + strings.Repeat(" + 1", 100000) + " }\n"},
		{main: validBase + "locals { x = \"" + deep("%{if true}", "%{endif}", 100000) + "\" }\n"},
		{main: validBase, extra: strings.Repeat("host \"h\" {\n", 100000)},
		{main: `{"group": {"g": {"signing_certificate": ` + deep("[", "]", 100000) + `}}}`, kind: kindMainJSON},
		{main: `{"group": {"g": {"signing_certificate": "${` + deep("(", ")", 100000) + `}"}}}`, kind: kindMainJSON},
		// Huge labels, names and values.
		{main: validBase + `server "` + huge + `" {}` + "\n"},
		{main: validBase + `server "s` + strings.Repeat("-", 1<<15) + `" {}` + "\n"},
		{main: validBase + `locals { x = "` + huge + `" }` + "\n"},
		{main: validBase + `locals { ` + huge + ` = 1 }` + "\n"},
		{main: sub(`"CCFE302DA296CC18B316BA3063F069169382D9FC"`, `"`+strings.Repeat("CC", 1<<12)+`"`)},
		// Invalid UTF-8 and NUL bytes.
		{main: validBase + "server \"\xff\xfe\" {}\n"},
		{main: validBase + "locals { x = \"\xc3\x28\xa0\xa1\" }\n"},
		{main: validBase + "# comment \xff\n locals { \xe2\x82 = 1 }\n"},
		{main: "\xef\xbb\xbf" + validBase},
		{main: validBase + "locals { x = \"a\x00b\" }\n\x00\x00"},
		{main: "\x00" + validBase},
		{main: `{"group": {"g\u0000": {"signing_certificate": "\ud800"}}}`, kind: kindMainJSON},
		{main: "{\"group\": {\"\xff\": {}}}", kind: kindMainJSON},
		// An invisible character in a thumbprint (BP2004).
		{main: sub(`"4E077EB5`, "\"\u200e4E077EB5")},
		// Unterminated templates, strings, blocks and heredocs.
		{main: validBase + `locals { x = "${var.p12_password` + "\n"},
		{main: validBase + `locals { x = "${` + "\n}\n"},
		{main: validBase + `locals { x = "%{ if true }` + "\n"},
		{main: validBase + `locals { x = "abc` + "\n"},
		{main: validBase + `host "h2" {`},
		{main: validBase + "locals {\n  x = <<EOT\nunterminated\n"},
		{main: `{"group": {"g": {"signing_certificate": "${"}}}`, kind: kindMainJSON},
		{main: `{"group": {"g": {`, kind: kindMainJSON},
		// Cyclic and self-referencing locals.
		{main: validBase + "locals {\n  a = local.b\n  b = local.a\n  c = local.c\n  d = local.a\n}\n"},
		{main: validBase + "locals { a = local.b }\n", extra: "locals { b = local.a }\n"},
		{main: validBase + "locals { a = local }\n"},
		{main: validBase + "locals { a = local[\"a\"] }\n"},
		{main: validBase + "locals { a = var }\n"},
		{main: validBase + "locals { a = var[0] }\n"},
		// file(): absolute, escaping, directories, binary, itself, sensitive.
		{main: validBase + `locals { x = file("/etc/passwd") }` + "\n"},
		{main: validBase + `locals { x = file("../../..") }` + "\n"},
		{main: validBase + `locals { x = file("") }` + "\n"},
		{main: validBase + `locals { x = file(".") }` + "\n"},
		{main: validBase + `locals { x = file("main.hcl") }` + "\n"},
		{main: validBase + `locals { x = file("nope/nope") }` + "\n"},
		{main: validBase + `locals { x = file("stores/svc_send/contoso-signing.p12") }` + "\n"},
		{main: validBase + `locals { x = file(var.p12_password) }` + "\n"},
		{main: validBase + `locals { x = file(null) }` + "\n"},
		{main: validBase, extra: `locals { x = file("extra.hcl") }` + "\n", kind: kindExtraSub},
		{main: sub(`"4E077EB5555B50DCBCBF3D7261281954D2A1999D"`, `trimspace(file("tp.txt"))`)},
		// Heredocs.
		{main: validBase + "locals {\n  x = <<EOT\nline ${var.p12_password}\nEOT\n  y = <<-EOT\n    indented\n    EOT\n}\n"},
		{main: sub(`"4E077EB5555B50DCBCBF3D7261281954D2A1999D"`, "<<EOT\n4E077EB5555B50DCBCBF3D7261281954D2A1999D\nEOT")},
		// env() and variables with and without values.
		{main: validBase + `locals { home = env("HOME") }` + "\n"},
		{main: validBase + `locals { x = env("NOPE") }` + "\n", kind: kindRun},
		{main: validBase + `locals { x = env(var.p12_password) }` + "\n"},
		{main: validBase + `locals { x = env(1) }` + "\n"},
		{main: validBase + "variable \"partner\" {}\nvariable \"retries\" { type = number }\n" +
			`locals { dir = "out/${var.partner}" }` + "\n"},
		{main: validBase + "variable \"x\" {\n  type    = list(map(object({ a = string })))\n  default = [{ k = { a = 1 } }]\n}\n"},
		{main: validBase + "variable \"x\" { type = foo(bar) }\nvariable \"y\" { type = string\n default = [] }\nvariable \"z\" { default = var.x }\n"},
		{main: validBase + "variable \"retries\" { type = number }\n", kind: kindRun},
		{main: sub(`"stores/svc_send"`, `env("STORE")`)},
		{main: sub(`"CCFE302DA296CC18B316BA3063F069169382D9FC"`, `var.p12_password`)},
		{main: sub(`password = var.p12_password`, `password = env("NOPE")`)},
		// Functions and expressions.
		{main: validBase + `locals {
  a = format("%999999s", "x")
  b = indent(99999, "x\ny")
  c = range(100000)
  d = regex("(a{1000}){1000}", "a")
  e = jsondecode("[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]")
  f = csvdecode("a,b\n1")
  g = formatdate("YYYY", "not a date")
  h = timeadd("2020-01-01T00:00:00Z", "999999999999h")
  i = [for x in range(10) : x if x > 5]
  j = { for k, v in { a = 1 } : k => v... }
  k = [1, 2, 3][*]
  l = parseint("ff", 99)
  m = pow(10, 400)
  n = 1e400
  o = substr("abc", -1, 99999)
  p = setproduct(range(30), range(30), range(30))
  q = upper(1, 2)
  r = nosuchfunction()
  s = title(null)
}
`},
		// Values of the wrong type or out of range.
		{main: sub(`path = "out"`, "path = \"out\"\n    file_name = message\n    copy_mode = 1") + `
send_port "q" {
  host   = host.h
  filter = message.size > 1 ? message.properties : true
  transport "http" {
    url     = message.properties
    headers = { (message.id) = "x", "" = "y", "X" = [1] }
    timeout = "0s"
    tls {
      ca_file = ""
    }
  }
  retry {
    attempts = 1e400
    interval = "9223372036854775807h"
  }
  retry {}
}
receive_location "r" {
  host       = host.h
  properties = { a = [1] }
  transport "http" {
    listen   = "x"
    max_body = "9999999999999999TiB"
  }
}
receive_location "r2" {
  host = host.h
  transport "file" {
    path          = "in"
    pattern       = "[["
    poll_interval = "-1s"
  }
}
message_box {
  sqlite { path = "" }
  postgres { url = var.p12_password }
}
message_box {}
`},
		// Maps with null and sensitive elements (both used to panic in stringMap).
		{main: validBase + "receive_location \"r\" {\n  host = host.h\n  properties = { a = null, b = \"x\" }\n  transport \"file\" { path = \"in\" }\n}\n"},
		{main: validBase + "receive_location \"r\" {\n  host = host.h\n  properties = { a = var.p12_password }\n  transport \"file\" { path = \"in\" }\n}\n"},
		{main: validBase + "variable \"m\" {\n  type = map(string)\n  sensitive = true\n  default = { a = \"x\" }\n}\n" +
			"receive_location \"r\" {\n  host = host.h\n  properties = var.m\n  transport \"file\" { path = \"in\" }\n}\n"},
		{main: validBase + "receive_location \"r\" {\n  host = host.h\n  properties = { a = env(\"NOPE\") }\n  transport \"file\" { path = \"in\" }\n}\n"},
		// Filters and templates that misuse message.
		{main: sub(`message.properties.partner == "fabrikam"`,
			`message["properties"]["partner"] == "x" && message.properties[*] == [] && message.nope && message[0] && message`)},
		{main: sub(`message.properties.partner == "fabrikam"`, `local.nope || var.nope || host.h || foo.bar`)},
		{main: sub(`path = "out"`, `path = message.id`)},
		// References of the wrong shape.
		{main: sub(`host                   = host.h`, `host = "host.h"`) +
			"server \"s2\" { other_people_store = certificate_store.others.path }\n" +
			"service_account \"a2\" { personal_store = certificate_store[\"personal\"] }\n" +
			"host \"h2\" {\n instance {\n server = server\n service_account = service_account.svc.x\n }\n instance {}\n}\n"},
		// Stores that are not directories, missing, escaping, or damaged.
		{main: sub(`"stores/svc_send"`, `"main.hcl"`)},
		{main: sub(`"stores/svc_send"`, `"stores/damaged"`)},
		{main: sub(`"stores/srv1_other_people"`, `"stores/damaged"`)},
		{main: sub(`"stores/svc_send"`, `"stores/svc_send2"`)},
		{main: sub(`"stores/svc_send"`, `"/etc"`)},
		{main: sub(`"stores/svc_send"`, `"../../../../../../.."`)},
		{main: sub(`"demo-only"`, `"wrong"`)},
		{main: sub("  password = var.p12_password\n", "")},
		// Duplicates and groups across files.
		{main: validBase, extra: validBase},
		{main: validBase, extra: "group \"other\" {}\nhost \"h\" {}\nlocals { x = 1 }\nlocals { x = 2 }\n"},
		{main: validBase, extra: `{"group": {"g": {}}, "locals": {"a": "${local.a}"}, "host": {"h": []}}`, kind: kindExtraJSON},
		{main: `{"group": [], "locals": [{"a": 1}, {"a": 2}], "//": "comment"}`, kind: kindMainJSON},
		{main: `{"group": {"g": {"signing_certificate": null}}, "variable": {"v": {"type": "list(string)", "default": ["a"]}}}`, kind: kindMainJSON},
		{main: `[]`, kind: kindMainJSON},
		{main: ``},
		{main: `{}`, kind: kindMainJSON},
		// Block shapes the schema does not expect.
		{main: validBase + "group {}\nhost \"a\" \"b\" {}\nnope \"x\" {}\nlocals \"l\" {}\nx = 1\nmessage_box { sqlite {} }\n"},
		{main: validBase + "pipeline \"p2\" {\n encoder \"smime\" { signature = var.p12_password\n digest = \"sha1\"\n encrypt = true\n encryption_algorithm = \"des3\" }\n encoder {}\n}\n"},
	}
}
