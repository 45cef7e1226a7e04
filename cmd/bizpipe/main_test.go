package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/bizpipe/bizpipe/internal/msgbox/sqlitebox"
)

// TestMain makes the test binary double as the bizpipe binary, so that the
// scripts run the real command in a subprocess: real exit codes, real
// stdout/stderr files (not terminals), real working directories.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"bizpipe": main,
	})
}

// examplesDir is the repository's examples directory, with the demo PKI
// (valid to 2080) that the scripts use as certificate stores.
const examplesDir = "../../examples"

// TestScript runs testdata/script/*.txtar. Every script starts with a copy
// of examples/ in $WORK/examples (stores: $WORK/examples/quickstart/stores,
// $WORK/examples/misconfigured/stores).
//
// Extra commands:
//
//	exitcode N CMD [ARGS...]   run CMD and fail unless it exits with status N
//	jsondoc stdout|stderr|FILE  fail unless the content is exactly one JSON value
//	perm MODE FILE              fail unless FILE's permission bits are MODE (octal)
//	islink FILE                 fail unless FILE is a symbolic link
//	holdbox DB                  open the SQLite message box DB in the test
//	                            process with its lock (as run does), until
//	                            the script ends
//	msgid VAR                   set $VAR to the id of the first message of the
//	                            last stdout, a messages list --format json
func TestScript(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Setup: func(env *testscript.Env) error {
			return os.CopyFS(filepath.Join(env.WorkDir, "examples"), os.DirFS(examplesDir))
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exitcode": cmdExitCode,
			"jsondoc":  cmdJSONDoc,
			"perm":     cmdPerm,
			"islink":   cmdIsLink,
			"holdbox":  cmdHoldBox,
			"msgid":    cmdMsgID,
		},
	})
}

// cmdExitCode runs a command like exec and checks its exact exit status;
// stdout and stderr are then available to the stdout and stderr commands.
func cmdExitCode(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! exitcode")
	}
	if len(args) < 2 {
		ts.Fatalf("usage: exitcode N command [args...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exitcode: %v", err)
	}
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("exitcode: %v", err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited with status %d, want %d", args[1], got, want)
	}
}

// cmdJSONDoc checks that stdout, stderr or a file holds exactly one JSON
// value (whitespace around it allowed): what `--format json` promises.
func cmdJSONDoc(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: jsondoc stdout|stderr|FILE")
	}
	err := singleJSON([]byte(ts.ReadFile(args[0])))
	switch {
	case neg && err == nil:
		ts.Fatalf("%s is a single JSON document", args[0])
	case !neg && err != nil:
		ts.Fatalf("%s: %v", args[0], err)
	}
}

// singleJSON returns an error unless data is exactly one JSON value.
func singleJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	var v any
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("not a JSON document: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("more than one JSON document (or trailing text)")
	}
	return nil
}

func cmdPerm(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: perm MODE FILE")
	}
	want, err := strconv.ParseUint(args[0], 8, 32)
	if err != nil {
		ts.Fatalf("perm: %v", err)
	}
	fi, err := os.Stat(ts.MkAbs(args[1]))
	ts.Check(err)
	if got := fi.Mode().Perm(); got != os.FileMode(want) {
		ts.Fatalf("%s has mode %#o, want %#o", args[1], got, want)
	}
}

func cmdIsLink(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: islink FILE")
	}
	fi, err := os.Lstat(ts.MkAbs(args[0]))
	ts.Check(err)
	if isLink := fi.Mode()&os.ModeSymlink != 0; isLink == neg {
		ts.Fatalf("%s: symbolic link is %v", args[0], isLink)
	}
}

// cmdHoldBox holds a message box's lock from the test process, so that a
// script sees what a second run meets while one runs, deterministically.
func cmdHoldBox(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: holdbox DB")
	}
	box, err := sqlitebox.Open(ts.MkAbs(args[0]), sqlitebox.Options{Lock: true})
	ts.Check(err)
	ts.Defer(func() { box.Close() })
}

// cmdMsgID sets an environment variable to the id of the first message
// that `messages list --format json` printed last, for messages show.
func cmdMsgID(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: msgid VAR")
	}
	var list struct {
		Messages []struct {
			ID string `json:"id"`
		} `json:"messages"`
	}
	ts.Check(json.Unmarshal([]byte(ts.ReadFile("stdout")), &list))
	if len(list.Messages) == 0 {
		ts.Fatalf("msgid: the last stdout lists no message")
	}
	ts.Setenv(args[0], list.Messages[0].ID)
}
