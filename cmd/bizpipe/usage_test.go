package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/config/model"
)

// TestUsageErrors runs the CLI in process on command lines a new user gets
// wrong: each must exit with its status and say what is wrong, in words
// that name the fix. The configuration paths are written to a temporary
// directory; none of these opens a message box.
func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	broken := filepath.Dir(write("broken/main.hcl", "group \"x\" {\n"))
	twoServers := filepath.Dir(write("two/main.hcl", "group \"x\" {}\nserver \"srv1\" {}\nserver \"srv2\" {}\n"))
	data := filepath.Join(dir, "nobox")
	const id = "01m8dz3rb1z526sxb12kk01cqm"
	for _, tc := range []struct {
		name string
		args []string
		code int
		want []string // in stderr
	}{
		{"unknown messages command", []string{"messages", "nosuch"}, exitUsage,
			[]string{`unknown command "nosuch" for "bizpipe messages": use body, list, mdn, purge, resubmit, resume, show or terminate`}},
		{"unknown completion shell", []string{"completion", "tcsh"}, exitUsage,
			[]string{`unknown command "tcsh" for "bizpipe completion": use bash, fish, powershell or zsh`}},
		{"no command", nil, exitUsage,
			[]string{"Usage:", `missing command for "bizpipe": use certs, completion, fmt, lsp, messages, route, run, validate or version`}},
		{"messages without a command", []string{"messages"}, exitUsage,
			[]string{"Usage:", `missing command for "bizpipe messages": use body, list,`}},
		{"completion without a shell", []string{"completion"}, exitUsage,
			[]string{"Usage:", `missing command for "bizpipe completion": use bash, fish, powershell or zsh`}},
		{"help on an unknown topic", []string{"help", "bogus"}, exitUsage,
			[]string{`unknown command "bogus" for "bizpipe": use certs, completion, fmt, lsp, messages, route, run, validate or version`}},
		{"help on an unknown messages command", []string{"help", "messages", "lsit"}, exitUsage,
			[]string{`unknown command "lsit" for "bizpipe messages"`, "did you mean list?"}},
		{"show without ID", []string{"messages", "show", "--data-dir", data}, exitUsage,
			[]string{"give the ID of the message", "bizpipe messages show [flags] ID [PATH...]"}},
		{"mdn without ID", []string{"messages", "mdn", "--data-dir", data}, exitUsage,
			[]string{"give the ID of the message"}},
		{"resume --all-suspended with an ID", []string{"messages", "resume", "--all-suspended", id, "--data-dir", data}, exitUsage,
			[]string{"--all-suspended takes no message ID (got " + id + ")"}},
		{"terminate --all-suspended with an ID", []string{"messages", "terminate", "--all-suspended", id, "--data-dir", data}, exitUsage,
			[]string{"--all-suspended takes no message ID"}},
		{"purge without --older-than", []string{"messages", "purge", "--data-dir", data}, exitUsage,
			[]string{"--older-than is required"}},
		{"purge --older-than in days, no box", []string{"messages", "purge", "--older-than", "30d", "--data-dir", data}, exitFindings,
			[]string{"no message box"}},
		{"purge --older-than too short", []string{"messages", "purge", "--older-than", "30s", "--data-dir", data}, exitUsage,
			[]string{"give at least 1m0s"}},
		// A bad flag is bad usage whatever the box: checked before it is
		// opened, as purge's --older-than is, so that a typo is not
		// reported as a missing or unreachable box.
		{"list --status unknown, no box", []string{"messages", "list", "--status", "suspend", "--data-dir", data}, exitUsage,
			[]string{`unknown --status "suspend"`}},
		{"list --limit negative, no box", []string{"messages", "list", "--limit", "-1", "--data-dir", data}, exitUsage,
			[]string{"--limit -1: give a number of messages"}},
		{"list --since bad, no box", []string{"messages", "list", "--since", "yesterday", "--data-dir", data}, exitUsage,
			[]string{"--since yesterday: use a time ago"}},
		{"resubmit --port without a configuration, no box", []string{"messages", "resubmit", "--port", "a", id, "--data-dir", data}, exitUsage,
			[]string{"--port a: give the configuration (PATH)"}},
		{"resubmit --port undeclared, no box", []string{"messages", "resubmit", "--port", "a", id, "--data-dir", data, twoServers}, exitUsage,
			[]string{"--port a: the configuration declares no send port"}},
		{"run --retention in days", []string{"run", "--once", "--retention", "1x", broken}, exitUsage,
			[]string{`invalid argument "1x" for "--retention" flag`}},
		{"messages on a broken configuration", []string{"messages", "list", "--data-dir", data, broken}, exitFindings,
			[]string{"[BP1000] Unclosed configuration block", "the configuration has errors (above): not opening its message box"}},
		{"validate --live with two servers", []string{"validate", "--live", twoServers}, exitUsage,
			[]string{"--server is required: the configuration declares 2 servers, srv1 or srv2"}},
		{"run with two servers", []string{"run", "--once", "--data-dir", data, twoServers}, exitUsage,
			[]string{"--server is required: the configuration declares 2 servers, srv1 or srv2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tc.args, &stdout, &stderr, noEnv)
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstderr: %s", code, tc.code, &stderr)
			}
			if stdout.Len() > 0 {
				t.Errorf("stdout %q, want nothing", &stdout)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr %q does not say %q", &stderr, w)
				}
			}
			if _, err := os.Stat(data); err == nil {
				t.Errorf("%s was created", data)
			}
		})
	}
}

// TestServerOf: --server, or the only server declared, as run and
// validate --live choose it.
func TestServerOf(t *testing.T) {
	servers := func(names ...string) *model.Config {
		cfg := &model.Config{}
		for _, n := range names {
			cfg.Servers = append(cfg.Servers, &model.Server{Name: n})
		}
		return cfg
	}
	for _, tc := range []struct {
		cfg     *model.Config
		flag    string
		want    string
		wantErr string
	}{
		{servers("srv1"), "", "srv1", ""},
		{servers("srv1"), "other", "other", ""}, // checked later, against the declared ones
		{servers("srv1", "srv2"), "srv2", "srv2", ""},
		{servers("srv1", "srv2"), "", "", "--server is required: the configuration declares 2 servers, srv1 or srv2"},
		{servers(), "", "", "the configuration declares no server: declare the server this runs on (a server block, with the instances of the hosts it runs)"},
	} {
		got, err := serverOf(tc.cfg, tc.flag)
		if got != tc.want || (err == nil) != (tc.wantErr == "") || (err != nil && err.Error() != tc.wantErr) {
			t.Errorf("serverOf(%d servers, %q) = %q, %v; want %q, %q", len(tc.cfg.Servers), tc.flag, got, err, tc.want, tc.wantErr)
		}
	}
}

// TestDurationFlags: every duration flag takes days as certs
// --expiring-within does, and the same errors.
func TestDurationFlags(t *testing.T) {
	for _, flag := range []struct {
		cmd  []string
		name string
	}{
		{[]string{"certs"}, "expiring-within"},
		{[]string{"messages", "purge"}, "older-than"},
		{[]string{"run"}, "retention"},
		{[]string{"run"}, "lease"},
	} {
		c, _, err := newRootCmd(&env{lookupEnv: noEnv}).Find(flag.cmd)
		if err != nil {
			t.Fatal(err)
		}
		f := c.Flags().Lookup(flag.name)
		if f == nil {
			t.Fatalf("%v has no --%s", flag.cmd, flag.name)
		}
		for in, want := range map[string]time.Duration{"30d": 30 * 24 * time.Hour, "1d12h": 36 * time.Hour, "90m": 90 * time.Minute} {
			if err := f.Value.Set(in); err != nil || f.Value.String() != want.String() {
				t.Errorf("--%s %s: %v, %v; want %v", flag.name, in, f.Value, err, want)
			}
		}
		for _, in := range []string{"30", "-1d", "", "3 days"} {
			if err := f.Value.Set(in); err == nil {
				t.Errorf("--%s %q: no error", flag.name, in)
			}
		}
	}
}

// TestHelpTopics: help on a command that exists shows its usage and exits
// 0, however deep, like --help.
func TestHelpTopics(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"help", "validate"}, {"help", "messages", "list"}} {
		out := runCLI(t, exitOK, args...)
		want := "bizpipe " + strings.Join(args[1:], " ")
		if !strings.Contains(string(out), "Usage:") || !strings.Contains(string(out), strings.TrimSpace(want)) {
			t.Errorf("bizpipe %s printed:\n%s\nwant the usage of %q", strings.Join(args, " "), out, want)
		}
	}
}
