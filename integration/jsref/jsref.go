// Package jsref runs the pinned JavaScript reference stack from tests and
// benchmarks.
//
// The reference lives in integration/js: package.json and package-lock.json
// pin hypercore 9 and its neighbours, node_modules is installed by
// `npm ci` there, and scripts/ holds the Node.js programs the Go tests drive
// (feed-write.js, feed-read.js, feed-append.js, feed-bench.js, blocks.js).
// Each script prints one JSON object on stdout when it is done and reports
// errors on stderr with a non-zero exit status.
//
// A missing Node.js or node_modules fails the test rather than skipping it:
// compatibility with the reference is part of what the tests check.
// Blocks, Block and Fill regenerate in Go the exact bytes the scripts
// append, so a test can check what a JavaScript feed holds.
package jsref

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Dir returns the absolute path of integration/js: it walks up from the
// working directory to the nearest go.mod and looks for
// integration/js/package.json next to it.
func Dir() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("jsref: %w", err)
	}
	for d := wd; ; {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			js := filepath.Join(d, "integration", "js")
			if _, err := os.Stat(filepath.Join(js, "package.json")); err != nil {
				return "", fmt.Errorf("jsref: module root %s has no integration/js/package.json", d)
			}
			return js, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("jsref: no go.mod above %s", wd)
		}
		d = parent
	}
}

// scriptPath returns scripts/<script>, adding ".js" when script has no
// extension.
func scriptPath(script string) string {
	if filepath.Ext(script) == "" {
		script += ".js"
	}
	return filepath.Join("scripts", script)
}

// Command returns the command `node scripts/<script> args...` with its
// directory set to integration/js. A ".js" suffix is added to script when
// it has none. If integration/js cannot be found, the command's Err is set
// and starting it fails with that error. ctx kills the process as in
// exec.CommandContext.
func Command(ctx context.Context, script string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "node", append([]string{scriptPath(script)}, args...)...)
	dir, err := Dir()
	if err != nil {
		cmd.Err = err
		return cmd
	}
	cmd.Dir = dir
	return cmd
}

// check reports why the reference cannot run: no node on PATH, no
// integration/js, or no installed node_modules.
func check() error {
	if _, err := exec.LookPath("node"); err != nil {
		return errors.New("node (Node.js) not found on PATH")
	}
	dir, err := Dir()
	if err != nil {
		return err
	}
	// npm ci writes node_modules/.package-lock.json; hypercore is the package
	// every script needs.
	for _, p := range []string{".package-lock.json", "hypercore/package.json"} {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", p)); err != nil {
			return fmt.Errorf("%s missing", filepath.Join(dir, "node_modules", p))
		}
	}
	return nil
}

// Require fails the test, without skipping, when the JavaScript reference
// cannot run: Node.js is not on PATH or integration/js/node_modules is not
// installed. Run and Start call it themselves.
func Require(t testing.TB) {
	t.Helper()
	if err := check(); err != nil {
		t.Fatalf("jsref: the JavaScript reference cannot run: %v; install Node.js and run npm ci in integration/js", err)
	}
}

// commandLine describes a script run for messages.
func commandLine(script string, args []string) string {
	return strings.Join(append([]string{"node", scriptPath(script)}, args...), " ")
}

// Run runs script to completion and returns its stdout. A start failure or
// a non-zero exit fails the test with the script's stderr. The script is
// killed when the test's context ends.
func Run(t testing.TB, script string, args ...string) []byte {
	t.Helper()
	Require(t)
	cmd := Command(t.Context(), script, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\nstderr:\n%s", commandLine(script, args), err, stderr.Bytes())
	}
	if stderr.Len() > 0 {
		t.Logf("%s stderr:\n%s", commandLine(script, args), stderr.Bytes())
	}
	return out
}

// RunJSON runs script like Run and decodes the last non-empty line of its
// stdout, the JSON object every script prints at the end, into v.
func RunJSON(t testing.TB, v any, script string, args ...string) {
	t.Helper()
	out := Run(t, script, args...)
	line := lastLine(out)
	if err := json.Unmarshal(line, v); err != nil {
		t.Fatalf("%s: decoding output %q: %v", commandLine(script, args), line, err)
	}
}

func lastLine(out []byte) []byte {
	out = bytes.TrimRight(out, " \t\r\n")
	if i := bytes.LastIndexByte(out, '\n'); i >= 0 {
		out = out[i+1:]
	}
	return bytes.TrimSpace(out)
}
