package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hyperfs/hyperfs/hypercore"
)

// hyperfs runs the CLI in-process and returns its exit code and output.
func hyperfs(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, &streams{strings.NewReader(stdin), &out, &errOut})
	return code, out.String(), errOut.String()
}

func TestFeedCommands(t *testing.T) {
	st := t.TempDir()
	code, out, _ := hyperfs(t, "", "feed", "create", "--storage", st)
	if code != exitOK || len(strings.TrimSpace(out)) != 64 {
		t.Fatalf("create: %d %q", code, out)
	}
	key := strings.TrimSpace(out)
	if code, _, errOut := hyperfs(t, "", "feed", "create", "--storage", st); code != exitFailure || !strings.Contains(errOut, "already exists") {
		t.Fatalf("second create: %d %q", code, errOut)
	}
	if code, out, _ := hyperfs(t, "one\ntwo\n\nfour\n", "feed", "append", "--storage", st); code != exitOK || out != "4 blocks\n" {
		t.Fatalf("append: %d %q", code, out)
	}
	if code, out, _ := hyperfs(t, "", "feed", "cat", "--storage", st); code != exitOK || out != "one\ntwo\n\nfour\n" {
		t.Fatalf("cat: %d %q", code, out)
	}
	code, out, _ = hyperfs(t, "", "feed", "info", "--storage", st)
	if code != exitOK || !strings.Contains(out, key) || !strings.Contains(out, "length:        4 blocks") {
		t.Fatalf("info: %d %q", code, out)
	}
	if code, out, _ := hyperfs(t, "", "feed", "audit", "--storage", st); code != exitOK || out != "4 valid, 0 invalid\n" {
		t.Fatalf("audit: %d %q", code, out)
	}
	// A feed another process holds: a clear error and its own exit code.
	f, err := hypercore.Open(filepath.Join(st, "feeds", "default"), hypercore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	code, _, errOut := hyperfs(t, "", "feed", "cat", "--storage", st)
	if code != exitLocked || !strings.Contains(errOut, "locked") {
		t.Fatalf("locked feed: %d %q", code, errOut)
	}
}

func TestUsageAndErrors(t *testing.T) {
	if code, _, errOut := hyperfs(t, ""); code != exitUsage || !strings.Contains(errOut, "commands:") {
		t.Fatalf("no arguments: %d %q", code, errOut)
	}
	if code, _, errOut := hyperfs(t, "", "frobnicate"); code != exitUsage || !strings.Contains(errOut, "unknown command") {
		t.Fatalf("unknown command: %d %q", code, errOut)
	}
	if code, out, _ := hyperfs(t, "", "help", "feed", "append"); code != exitOK || !strings.Contains(out, "usage: hyperfs feed append") || !strings.Contains(out, "-storage") {
		t.Fatalf("help feed append: %d %q", code, out)
	}
	if code, _, _ := hyperfs(t, "", "feed", "info", "--no-such-flag"); code != exitUsage {
		t.Fatalf("bad flag: %d", code)
	}
	if code, _, errOut := hyperfs(t, "", "feed", "cat", "--storage", t.TempDir(), "--name", "missing"); code != exitNotFound || !strings.Contains(errOut, "hyperfs feed create") {
		t.Fatalf("missing feed: %d %q", code, errOut)
	}
	if code, out, _ := hyperfs(t, "", "version"); code != exitOK || !strings.HasPrefix(out, "hyperfs ") {
		t.Fatalf("version: %d %q", code, out)
	}
}
