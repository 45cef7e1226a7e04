package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/testhttp"
)

// logRecord is what the tests read of a --log-format json line.
type logRecord struct {
	Level    string `json:"level"`
	Msg      string `json:"msg"`
	Severity string `json:"severity"`
	Code     string `json:"code"`
	Detail   string `json:"detail"`
	Filename string `json:"filename"`
	Line     int    `json:"line"`
	Column   int    `json:"column"`
	Object   string `json:"object"`
	Server   string `json:"server"`
}

// TestRunLogFormatJSON: with --log-format json every line run writes to
// stderr is one JSON object with time, level and msg — the findings of
// its validation (whatever --log-level), its engine's log lines and the
// error it ends with — while the summary stays on stdout. Each case runs
// on a copy of the quickstart with files of its own added.
func TestRunLogFormatJSON(t *testing.T) {
	const unused = "pipeline \"unused\" {\n  encoder \"smime\" {\n    signature = \"clear\"\n    digest    = \"sha256\"\n  }\n}\n"
	const bad = "pipeline \"bad\" {\n  encoder \"smime\" {\n    signature = \"clear\"\n    digest    = \"md5\"\n  }\n}\n"
	// The secret, written in the file as a literal too: the finding about
	// it would show it but for the redaction every report applies.
	const secret = "hunter2-secret"
	const leak = "variable \"secret\" {\n  type      = string\n  sensitive = true\n}\n\n" +
		"pipeline \"" + secret + "\" {\n  encoder \"smime\" {\n    signature = \"clear\"\n    digest    = \"" + secret + "\"\n  }\n}\n"
	// Without --server, as the server is not looked for in a
	// configuration with errors.
	refusal := logRecord{Level: "ERROR", Msg: "not starting: the configuration has errors"}
	tests := []struct {
		name     string
		files    map[string]string // added to the configuration
		args     []string          // after run --once --log-format json --data-dir DIR
		wantCode int
		want     []logRecord // each the fields it sets of a record, in this order among the records
		last     *logRecord  // the last record, when it is said
		noLevel  string      // no record has this level
		stdout   string      // stdout starts with this
		hidden   string      // in neither stdout nor stderr, in any case
	}{
		{
			name:     "warning",
			files:    map[string]string{"unused.hcl": unused},
			args:     []string{"."},
			wantCode: exitOK,
			want: []logRecord{
				{Level: "WARN", Msg: "Unused pipeline", Severity: "warning", Code: "BP5002",
					Filename: "unused.hcl", Line: 1, Column: 1, Object: `pipeline "unused"`, Server: "srv1",
					Detail: `Pipeline "unused" is declared but no send port or receive location uses it.`},
				{Level: "INFO", Msg: "starting"},
				{Level: "INFO", Msg: "delivered"},
			},
			stdout: "received 1, delivered 1, retried 0, suspended 0, waiting for retry 0\n",
		},
		{
			name:     "warning below --log-level",
			files:    map[string]string{"unused.hcl": unused},
			args:     []string{"--log-level", "error", "."},
			wantCode: exitOK,
			want: []logRecord{
				{Level: "WARN", Msg: "Unused pipeline", Code: "BP5002", Filename: "unused.hcl", Line: 1},
			},
			noLevel: "INFO",
			stdout:  "received 1, delivered 1,",
		},
		{
			name:     "error",
			files:    map[string]string{"bad.hcl": bad},
			args:     []string{"--server", "srv1", "."},
			wantCode: exitFindings,
			want: []logRecord{
				{Level: "ERROR", Msg: "Invalid value for digest", Severity: "error", Code: "BP1004",
					Filename: "bad.hcl", Line: 4, Column: 17, Object: `pipeline "bad"`, Server: "srv1"},
			},
			last:    &logRecord{Level: refusal.Level, Msg: refusal.Msg, Server: "srv1"},
			noLevel: "INFO",
		},
		{
			name:     "usage error after parsing",
			args:     []string{"--log-level", "verbose", "."},
			wantCode: exitUsage,
			last:     &logRecord{Level: "ERROR", Msg: `unknown --log-level "verbose": use debug, info, warn or error`},
		},
		{
			name:     "sensitive",
			files:    map[string]string{"leak.hcl": leak},
			args:     []string{"--var", "secret=" + secret, "."},
			wantCode: exitFindings,
			want: []logRecord{
				{Level: "ERROR", Code: "BP1004", Filename: "leak.hcl", Line: 9, Object: `pipeline "(sensitive value)"`,
					Detail: `The digest attribute of encoder "smime" of pipeline "(sensitive value)" must be one of "sha256", "sha384", "sha512" or "sha1"; got "(sensitive value)".`},
			},
			last:   &refusal,
			hidden: "hunter2",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.CopyFS(dir, os.DirFS(filepath.Join(examplesDir, "quickstart"))); err != nil {
				t.Fatal(err)
			}
			sample, err := os.ReadFile(filepath.Join(dir, "samples", "order-1001.xml"))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "in", "order-1001.xml"), sample, 0o644); err != nil {
				t.Fatal(err)
			}
			for name, src := range tt.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			t.Chdir(dir)
			data := filepath.Join(t.TempDir(), "data")
			args := append([]string{"run", "--once", "--log-format", "json", "--data-dir", data}, tt.args...)
			var stdout, stderr bytes.Buffer
			code := run(args, &stdout, &stderr, noEnv)
			if code != tt.wantCode {
				t.Fatalf("exit status %d, want %d; stderr:\n%s", code, tt.wantCode, &stderr)
			}
			if !strings.HasPrefix(stdout.String(), tt.stdout) || (tt.stdout == "") != (stdout.Len() == 0) {
				t.Errorf("stdout %q, want it to start with %q (and be empty when that is)", &stdout, tt.stdout)
			}
			records := decodeLogLines(t, stderr.String())
			next := 0
			for _, r := range records {
				if next < len(tt.want) && matches(r, tt.want[next]) {
					next++
				}
				if tt.noLevel != "" && r.Level == tt.noLevel {
					t.Errorf("a %s record: %+v", tt.noLevel, r)
				}
			}
			if next < len(tt.want) {
				t.Errorf("no record %+v (in order) in stderr:\n%s", tt.want[next], &stderr)
			}
			if tt.last != nil {
				if len(records) == 0 || records[len(records)-1] != *tt.last {
					t.Errorf("last record is not %+v; stderr:\n%s", *tt.last, &stderr)
				}
			}
			if tt.hidden != "" {
				out := strings.ToLower(stdout.String() + stderr.String())
				if strings.Contains(out, tt.hidden) {
					t.Errorf("the output shows %q:\n%s", tt.hidden, out)
				}
			}
			if tt.wantCode != exitOK {
				if _, err := os.Stat(data); !os.IsNotExist(err) {
					t.Errorf("run refused to start but made its data directory (%v)", err)
				}
			}
		})
	}
}

// decodeLogLines decodes every line of stderr, each of which must be one
// JSON object with time, level and msg.
func decodeLogLines(t *testing.T, stderr string) []logRecord {
	t.Helper()
	if stderr == "" {
		t.Fatal("nothing on stderr")
	}
	if !strings.HasSuffix(stderr, "\n") {
		t.Errorf("stderr does not end with a newline: %q", stderr)
	}
	var records []logRecord
	for line := range strings.Lines(stderr) {
		var fields map[string]any
		if err := json.Unmarshal([]byte(line), &fields); err != nil {
			t.Errorf("a line of stderr is not a JSON object (%v): %q", err, line)
			continue
		}
		for _, key := range []string{"time", "level", "msg"} {
			if _, ok := fields[key].(string); !ok {
				t.Errorf("no %s in %q", key, line)
			}
		}
		var r logRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Errorf("%q: %v", line, err)
		}
		records = append(records, r)
	}
	return records
}

// matches reports whether r has every field that want sets.
func matches(r, want logRecord) bool {
	eq := func(got, want string) bool { return want == "" || got == want }
	return eq(r.Level, want.Level) && eq(r.Msg, want.Msg) && eq(r.Severity, want.Severity) &&
		eq(r.Code, want.Code) && eq(r.Detail, want.Detail) && eq(r.Filename, want.Filename) &&
		eq(r.Object, want.Object) && eq(r.Server, want.Server) && (want.Line == 0 || r.Line == want.Line) &&
		(want.Column == 0 || r.Column == want.Column)
}

// TestRunLogFormatJSONStandardLog: what net/http reports through Go's
// standard logger (here a partner that answers twice to one request: "an
// unsolicited response on an idle channel") is a JSON line of the run's log
// too, not a raw line in the middle of them.
func TestRunLogFormatJSONStandardLog(t *testing.T) {
	addr, answered := testhttp.RawPartner(t, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(examplesDir, "quickstart"))); err != nil {
		t.Fatal(err)
	}
	sample, err := os.ReadFile(filepath.Join(dir, "samples", "order-1001.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "in", "order-1001.xml"), sample, 0o644); err != nil {
		t.Fatal(err)
	}
	port := "send_port \"twice\" {\n  host   = host.send_host\n  filter = true\n  transport \"http\" {\n    url = \"http://" +
		addr + "/in\"\n  }\n}\n"
	if err := os.WriteFile(filepath.Join(dir, "twice.hcl"), []byte(port), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	var stdout, stderr bytes.Buffer
	code := run([]string{"run", "--once", "--log-format", "json", "--data-dir", filepath.Join(t.TempDir(), "data"), "."}, &stdout, &stderr, noEnv)
	if code != exitOK {
		t.Fatalf("exit status %d; stderr:\n%s", code, &stderr)
	}
	select {
	case <-answered:
	default:
		t.Fatal("the partner was not asked")
	}
	found := false
	for _, r := range decodeLogLines(t, stderr.String()) {
		found = found || strings.Contains(r.Msg, "Unsolicited response")
	}
	if !found {
		t.Errorf("no JSON record of net/http's complaint in stderr:\n%s", &stderr)
	}
}
