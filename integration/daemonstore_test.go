package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hyperfs/hyperfs/integration/jsref"
)

// daemonReport is what daemon-write.js prints.
type daemonReport struct {
	Keys    []string `json:"keys"`
	RootKey string   `json:"rootKey"`
	DB      bool     `json:"db"` // the root drive is recorded in storage/db
}

// TestDaemonStorage opens a folder laid out as hyperdrive-daemon 1.x lays
// out ~/.hyperdrive (storage/cores, storage/db) with hyperfs, as a user
// moving over would: every drive by key, the root drive by default, and a
// mount of it, with the root drive recorded in the daemon's LevelDB as the
// daemon records it.
func TestDaemonStorage(t *testing.T) {
	jsref.Require(t)
	env := cliEnv(t)
	root := filepath.Join(t.TempDir(), "hyperdrive")
	var rep daemonReport
	jsref.RunJSON(t, &rep, "daemon-write.js", root, "--drives", "2")
	if len(rep.Keys) != 2 {
		t.Fatalf("daemon-write.js made %d drives", len(rep.Keys))
	}
	if !rep.DB {
		t.Fatal("daemon-write.js wrote no LevelDB (are level, subleveldown and buffer-json-encoding installed in integration/js?)")
	}

	// Every drive, by key, in the daemon's root or its storage folder, writable.
	for i, k := range rep.Keys {
		for _, storage := range []string{root, filepath.Join(root, "storage")} {
			code, out := runCLI(t, env, "cat", "--no-discovery", "--storage", storage, k, "/hello.txt")
			if want := "hello from daemon drive " + string(rune('0'+i)); code != 0 || out != want {
				t.Fatalf("cat --storage %s %s /hello.txt: exit %d, %q; want %q", storage, k, code, out, want)
			}
		}
		code, out := runCLI(t, env, "info", "--no-discovery", "--storage", root, k)
		if code != 0 || !strings.Contains(out, "writable:       true") {
			t.Fatalf("info %s: exit %d: %s", k, code, out)
		}
	}

	// The default drive: the recorded root drive, or no guess.
	code, out := runCLI(t, env, "ls", "--no-discovery", root) // offline: no warning that the DHT is out of reach
	if rep.DB {
		if code != 0 || out != "hello.txt\ndocs/\n" {
			t.Fatalf("ls %s: exit %d: %q", root, code, out)
		}
		code, out = runCLI(t, env, "info", "--storage", root)
		if code != 0 || !strings.Contains(out, rep.RootKey) {
			t.Fatalf("info --storage %s: exit %d, want root drive %s: %s", root, code, rep.RootKey, out)
		}
	} else if code == 0 || !strings.Contains(out, rep.Keys[0]) || !strings.Contains(out, rep.Keys[1]) {
		t.Fatalf("ls %s with two drives and no root recorded: exit %d, want both keys listed: %s", root, code, out)
	}

	// A daemon folder of one drive: that drive, by default, mounted.
	one := filepath.Join(t.TempDir(), "hyperdrive")
	var rep1 daemonReport
	jsref.RunJSON(t, &rep1, "daemon-write.js", one, "--drives", "1")
	mnt := t.TempDir()
	mountCLI(t, env, "--no-discovery", "--storage", one, mnt)
	for p, want := range map[string]string{"hello.txt": "hello from daemon drive 0", "docs/readme.md": "# drive 0"} {
		b, err := os.ReadFile(filepath.Join(mnt, p))
		if err != nil || string(b) != want {
			t.Fatalf("%s through the mount: %q, %v; want %q", p, b, err, want)
		}
	}
	// Not a drive of a fresh default storage: the daemon's.
	if _, err := os.Stat(filepath.Join(one, "storage", "cores", "master_key")); err != nil {
		t.Fatal(err)
	}
}
