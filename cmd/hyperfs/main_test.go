package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
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

// isolate keeps every XDG folder of the test's hyperfs inside the test.
func isolate(t *testing.T) string {
	home := t.TempDir()
	t.Setenv("XDG_DATA_HOME", filepath.Join(home, "data"))
	t.Setenv("XDG_STATE_HOME", filepath.Join(home, "state"))
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, "config"))
	return home
}

func TestFeedCommands(t *testing.T) {
	isolate(t)
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
	if code, out, _ := hyperfs(t, "", "--storage", st, "feed", "cat"); code != exitOK || out != "one\ntwo\n\nfour\n" {
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

// TestFeedNames: a feed name never reaches outside <storage>/feeds.
func TestFeedNames(t *testing.T) {
	isolate(t)
	root := t.TempDir()
	st := filepath.Join(root, "st")
	for _, name := range []string{"../../x", "..", ".", "", "a/b", ".hidden", "a\\b", "a\x00b"} {
		code, _, errOut := hyperfs(t, "", "feed", "create", "--storage", st, "--name", name)
		if code != exitUsage || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
			t.Errorf("--name %q: exit %d: %q", name, code, errOut)
		}
	}
	ents, _ := os.ReadDir(root)
	for _, e := range ents {
		if e.Name() != "st" {
			t.Errorf("%s written outside the storage", e.Name())
		}
	}
	if _, err := os.Stat(filepath.Join(st, "feeds", "key")); err == nil {
		t.Error("a feed was written into feeds/ itself")
	}
}

// TestUsageAndExitCodes: every command, with flags before and after its
// arguments, and the exit code of each kind of error.
func TestUsageAndExitCodes(t *testing.T) {
	isolate(t)
	st := filepath.Join(t.TempDir(), "st")
	key := strings.Repeat("ab", 32)
	cases := []struct {
		args []string
		code int
		out  string // in stdout or stderr
	}{
		{nil, exitUsage, "Mounting:"},
		{[]string{"frobnicate"}, exitUsage, "unknown command"},
		{[]string{"--version"}, exitOK, "hyperfs "},
		{[]string{"-V"}, exitOK, "hyperfs "},
		{[]string{"version"}, exitOK, "hyperfs "},
		{[]string{"help", "feed"}, exitOK, "append"},
		{[]string{"help", "key"}, exitOK, "export"},
		{[]string{"help", "feed", "append"}, exitOK, "--name"},
		{[]string{"help", "mount"}, exitOK, "allow_other"},
		{[]string{"completion", "bash"}, exitOK, "bash completion"},
		{[]string{"completion", "zsh"}, exitOK, "compdef"},
		{[]string{"completion", "fish"}, exitOK, "complete -c hyperfs"},
		{[]string{"feed", "info", "--no-such-flag"}, exitUsage, "unknown flag"},
		{[]string{"feed", "cat", "--storage", st, "--name", "missing"}, exitNotFound, "hyperfs feed create"},
		{[]string{"ls", "--storage", st, "/", "-l", "--nope"}, exitUsage, "unknown flag"},
		{[]string{"info", "--storage", st, "--cache-size", "-5"}, exitUsage, "at least 1"},
		{[]string{"info", "--storage", st, "--cache-size", "99999999"}, exitUsage, "memory"},
		{[]string{"info", key, "--peer", "bogus", "--storage", st}, exitUsage, "host:port"},
		{[]string{"info", key, "--peer", "host:99999", "--storage", st}, exitUsage, "port"},
		{[]string{"info", "--storage", ""}, exitUsage, "--storage is empty"},
		{[]string{"info", "--log-level", "loud", "--storage", st}, exitUsage, "--log-level"},
		{[]string{"info", "-q", "-v", "--storage", st}, exitUsage, "contradict"},
		{[]string{"info", "--log-file", "/nonexistent/dir/log", "--storage", st}, exitUsage, "--log-file"},
		{[]string{"info", "not-a-key"}, exitUsage, "not a drive key"},
		{[]string{"info", key + "+x"}, exitUsage, "version"},
		{[]string{"info", key + "+2", "--checkout", "3"}, exitUsage, "--checkout"},
		{[]string{"mount", "", ""}, exitUsage, "empty"},
		{[]string{"mount"}, exitUsage, "mount takes"},
		{[]string{"mount", "a", "b", "c"}, exitUsage, "mount takes"},
		{[]string{"mount", t.TempDir(), "-o", "frobnicate"}, exitUsage, "unknown mount option"},
		{[]string{"mount", t.TempDir(), "-o", "uid=x"}, exitUsage, "not a number"},
		{[]string{"mount", t.TempDir(), "--read-timeout", "-1s"}, exitUsage, "--read-timeout"},
		{[]string{"cat"}, exitUsage, "cat takes"},
		{[]string{"export", key}, exitUsage, "export takes"},
		{[]string{"import"}, exitUsage, "import takes"},
		{[]string{"download"}, exitUsage, "download takes"},
		{[]string{"seed"}, exitUsage, "seed takes"},
		{[]string{"seed", "nope"}, exitUsage, "not a drive key"},
		{[]string{"unseed", key}, exitFailure, "not seeded"},
		{[]string{"unmount"}, exitUsage, "unmount takes"},
		{[]string{"key"}, exitUsage, "subcommand"},
		{[]string{"key", "export"}, exitUsage, "export takes"},
		{[]string{"stats", "extra"}, exitUsage, "stats takes"},
		{[]string{"download", key, "--stall-timeout", "-1s"}, exitUsage, "--stall-timeout"},
		{[]string{"info", key, "--timeout", "0s"}, exitUsage, "--timeout"},
		{[]string{"cat", "--storage", st, "/missing.txt"}, exitNotFound, "no such file"},
	}
	for _, c := range cases {
		code, out, errOut := hyperfs(t, "", c.args...)
		if code != c.code || !strings.Contains(out+errOut, c.out) {
			t.Errorf("hyperfs %q: exit %d (want %d), output %q %q (want %q)", c.args, code, c.code, out, errOut, c.out)
		}
		if code == exitUsage && len(c.args) > 0 && strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
			t.Errorf("hyperfs %q: the error is not one line: %q", c.args, errOut)
		}
	}
}

// TestFlagsAnywhere: flags after the arguments are taken as flags, and the
// --json outputs decode.
func TestFlagsAnywhere(t *testing.T) {
	isolate(t)
	st := filepath.Join(t.TempDir(), "st")
	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "docs"), 0o755)
	os.WriteFile(filepath.Join(src, "docs", "a.txt"), []byte("first"), 0o644)
	if code, out, errOut := hyperfs(t, "", "import", src, "--storage", st, "-q"); code != exitOK || !strings.Contains(out, "1 files imported") {
		t.Fatalf("import: %d %q %q", code, out, errOut)
	}
	os.WriteFile(filepath.Join(src, "docs", "a.txt"), []byte("second!"), 0o644)
	if code, out, errOut := hyperfs(t, "", "import", src, "--storage", st); code != exitOK || !strings.Contains(out, "1 files imported") {
		t.Fatalf("import: %d %q %q", code, out, errOut)
	}
	var info driveInfo
	code, out, _ := hyperfs(t, "", "info", "--storage", st, "--json")
	if code != exitOK || json.Unmarshal([]byte(out), &info) != nil || len(info.Key) != 64 || !info.Writable || info.Version < 3 {
		t.Fatalf("info --json: %d %q", code, out)
	}
	var ls []lsEntry
	code, out, _ = hyperfs(t, "", "ls", "/docs", "--json", "--storage", st)
	if code != exitOK || json.Unmarshal([]byte(out), &ls) != nil || len(ls) != 1 || ls[0].Name != "a.txt" || ls[0].Size != 7 {
		t.Fatalf("ls --json: %d %q", code, out)
	}
	code, out, _ = hyperfs(t, "", "ls", info.Key, "/docs", "-l", "--storage", st)
	if code != exitOK || !strings.Contains(out, "a.txt") || !strings.Contains(out, "-rw-r--r--") {
		t.Fatalf("ls KEY /docs -l: %d %q", code, out)
	}
	// Versions: KEY+N, hyper:// links and --checkout read old content.
	var first uint64
	for v := uint64(1); v <= info.Version; v++ {
		if code, out, _ := hyperfs(t, "", "cat", "--storage", st, info.Key+"+"+itoa(v), "/docs/a.txt"); code == exitOK && out == "first" {
			first = v
			break
		}
	}
	if first == 0 {
		t.Fatal("no version holds the first content")
	}
	for _, args := range [][]string{
		{"cat", "hyper://" + info.Key + "+" + itoa(first) + "/docs/a.txt"},
		{"cat", "/docs/a.txt", "--checkout", itoa(first)},
		{"cat", "dat://" + info.Key + "+" + itoa(first), "/docs/a.txt"},
	} {
		if code, out, errOut := hyperfs(t, "", append(args, "--storage", st)...); code != exitOK || out != "first" {
			t.Errorf("%q: %d %q %q", args, code, out, errOut)
		}
	}
	if code, _, errOut := hyperfs(t, "", "ls", info.Key+"+999", "--storage", st); code != exitNotFound || !strings.Contains(errOut, "no version 999") {
		t.Errorf("a version beyond the latest: %d %q", code, errOut)
	}
	if code, out, _ := hyperfs(t, "", "cat", "hyper://"+info.Key+"/docs/a.txt", "--storage", st); code != exitOK || out != "second!" {
		t.Errorf("latest: %d %q", code, out)
	}
	var drives []struct {
		Key      string
		Writable bool
	}
	code, out, _ = hyperfs(t, "", "drives", "--json", "--storage", st)
	if code != exitOK || json.Unmarshal([]byte(out), &drives) != nil || len(drives) != 1 || drives[0].Key != info.Key || !drives[0].Writable {
		t.Fatalf("drives --json: %d %q", code, out)
	}
	var stats []driveStats
	if code, out, _ := hyperfs(t, "", "stats", "--json"); code != exitOK || json.Unmarshal([]byte(out), &stats) != nil {
		t.Fatalf("stats --json: %d %q", code, out)
	}
	if code, out, _ := hyperfs(t, "", "mounts", "--json"); code != exitOK || json.Unmarshal([]byte(out), &stats) != nil {
		t.Fatalf("mounts --json: %d %q", code, out)
	}
	// Export into a folder, then into a file.
	dst := filepath.Join(t.TempDir(), "out")
	if code, out, errOut := hyperfs(t, "", "export", st, dst, "-q"); code != exitOK || !strings.Contains(out, "1 files exported") {
		t.Fatalf("export: %d %q %q", code, out, errOut)
	}
	if code, out, _ := hyperfs(t, "", "export", st, dst); code != exitOK || !strings.Contains(out, "0 files exported") || !strings.Contains(out, "1 unchanged") {
		t.Fatalf("second export: %d %q", code, out)
	}
	file := filepath.Join(t.TempDir(), "f")
	os.WriteFile(file, nil, 0o644)
	if code, out, errOut := hyperfs(t, "", "export", st, file); code != exitFailure || out != "" || !strings.Contains(errOut, "is a file") {
		t.Fatalf("export into a file: %d %q %q", code, out, errOut)
	}
}

// TestSeedsAndKeys: seeds are kept per storage; key export covers every
// drive the storage writes, so after key import each is writable again.
func TestSeedsAndKeys(t *testing.T) {
	isolate(t)
	st := filepath.Join(t.TempDir(), "st")
	other := filepath.Join(t.TempDir(), "other")
	_, out, _ := hyperfs(t, "", "create", "--storage", st)
	created := strings.TrimSpace(out)
	var info driveInfo
	_, out, _ = hyperfs(t, "", "info", "--json", "--storage", st)
	json.Unmarshal([]byte(out), &info)
	if code, _, errOut := hyperfs(t, "", "seed", created, "--storage", st); code != exitOK {
		t.Fatalf("seed: %d %q", code, errOut)
	}
	_, out, _ = hyperfs(t, "", "seeds", "--storage", st)
	if !strings.Contains(out, created) {
		t.Fatalf("seeds: %q", out)
	}
	if _, out, _ = hyperfs(t, "", "seeds", "--storage", other); strings.Contains(out, created) {
		t.Fatalf("seeds of another storage: %q", out)
	}
	var all []struct{ Storage, Key string }
	_, out, _ = hyperfs(t, "", "seeds", "--all", "--json")
	if json.Unmarshal([]byte(out), &all) != nil || len(all) != 1 || all[0].Key != created {
		t.Fatalf("seeds --all --json: %q", out)
	}
	keyFile := filepath.Join(t.TempDir(), "keys")
	if code, out, errOut := hyperfs(t, "", "key", "export", keyFile, "--storage", st); code != exitOK || !strings.Contains(out, "2 writable drives") {
		t.Fatalf("key export: %d %q %q", code, out, errOut)
	}
	restored := filepath.Join(t.TempDir(), "restored")
	if code, _, errOut := hyperfs(t, "", "key", "import", keyFile, "--storage", restored); code != exitOK {
		t.Fatalf("key import: %d %q", code, errOut)
	}
	for _, k := range []string{created, info.Key} {
		var got driveInfo
		code, out, errOut := hyperfs(t, "", "info", k, "--json", "--no-discovery", "--timeout", "2s", "--storage", restored)
		if code != exitOK || json.Unmarshal([]byte(out), &got) != nil || !got.Writable {
			t.Errorf("drive %s after key import: %d %q %q, want writable", k, code, out, errOut)
		}
	}
	// Writing to a restored drive that no peer has described could fork
	// it: refused, unless --force.
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "f"), []byte("x"), 0o644)
	if code, _, errOut := hyperfs(t, "", "import", src, "--storage", restored, "-q"); code != exitFailure || !strings.Contains(errOut, "--force") {
		t.Errorf("import into a restored drive: %d %q", code, errOut)
	}
	if code, out, errOut := hyperfs(t, "", "import", src, "--storage", restored, "-q", "--force"); code != exitOK || !strings.Contains(out, "1 files imported") {
		t.Errorf("import --force: %d %q %q", code, out, errOut)
	}
	if code, _, errOut := hyperfs(t, "", "key", "import", keyFile, "--storage", restored); code != exitFailure || !strings.Contains(errOut, "already has a master key") {
		t.Fatalf("second key import: %d %q", code, errOut)
	}
}

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }

// TestNoVerifyReads: --no-verify-reads serves what the disk holds; by
// default a flipped byte in stored content is an error.
func TestNoVerifyReads(t *testing.T) {
	isolate(t)
	st := filepath.Join(t.TempDir(), "st")
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "f.txt"), []byte("the bytes of a file"), 0o644)
	if code, _, errOut := hyperfs(t, "", "import", src, "--storage", st, "-q"); code != exitOK {
		t.Fatalf("import: %d %q", code, errOut)
	}
	names, _ := filepath.Glob(filepath.Join(st, "??", "??", "*", "name"))
	flipped := false
	for _, n := range names {
		if b, _ := os.ReadFile(n); bytes.HasSuffix(b, []byte("-content")) {
			data := filepath.Join(filepath.Dir(n), "data")
			b, err := os.ReadFile(data)
			if err != nil || len(b) < 5 {
				t.Fatalf("content data: %v", err)
			}
			b[4] ^= 0xff
			os.WriteFile(data, b, 0o644)
			flipped = true
		}
	}
	if !flipped {
		t.Fatal("no content feed found")
	}
	if code, out, errOut := hyperfs(t, "", "cat", "/f.txt", "--storage", st, "--no-verify-reads"); code != exitOK || out == "the bytes of a file" || len(out) != len("the bytes of a file") {
		t.Fatalf("cat --no-verify-reads: %d %q %q", code, out, errOut)
	}
	if code, out, _ := hyperfs(t, "", "cat", "/f.txt", "--storage", st); code == exitOK {
		t.Fatalf("cat of a damaged block: exit 0, %q", out)
	}
}

// TestFlagPlacement: each command gives the same result with its flags
// before, between or after its arguments.
func TestFlagPlacement(t *testing.T) {
	isolate(t)
	st := filepath.Join(t.TempDir(), "st")
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "a.txt"), []byte("a"), 0o644)
	if code, _, errOut := hyperfs(t, "", "import", src, "--storage", st, "-q"); code != exitOK {
		t.Fatalf("import: %d %q", code, errOut)
	}
	_, out, _ := hyperfs(t, "", "info", "--json", "--storage", st)
	var info driveInfo
	json.Unmarshal([]byte(out), &info)
	out1, out2 := filepath.Join(t.TempDir(), "o1"), filepath.Join(t.TempDir(), "o2")
	for _, c := range []struct {
		before, after []string // the same command line, flags moved
	}{
		{[]string{"info", "--json", "--storage", st, info.Key}, []string{"info", info.Key, "--json", "--storage", st}},
		{[]string{"ls", "-l", "--storage", st, info.Key, "/"}, []string{"ls", info.Key, "/", "-l", "--storage", st}},
		{[]string{"ls", "-l", "--storage", st, info.Key, "/"}, []string{"ls", info.Key, "-l", "/", "--storage=" + st}},
		{[]string{"cat", "--storage", st, "--timeout", "5s", info.Key, "/a.txt"}, []string{"cat", info.Key, "/a.txt", "--timeout=5s", "--storage", st}},
		{[]string{"--storage", st, "drives", "--json"}, []string{"drives", "--json", "--storage", st}},
		{[]string{"export", "-q", "--storage", st, st, out1}, []string{"export", st, out2, "--storage", st, "-q"}},
		{[]string{"--storage", st, "seeds"}, []string{"seeds", "--storage", st}},
		{[]string{"feed", "info", "--storage", st, "--name", "f"}, []string{"--storage", st, "feed", "info", "--name", "f"}},
	} {
		c1, o1, e1 := hyperfs(t, "", c.before...)
		c2, o2, e2 := hyperfs(t, "", c.after...)
		o1, o2 = strings.ReplaceAll(o1, out1, "OUT"), strings.ReplaceAll(o2, out2, "OUT")
		if c1 != exitOK || c1 != c2 || o1 != o2 {
			t.Errorf("%q: %d %q %q\n%q: %d %q %q", c.before, c1, o1, e1, c.after, c2, o2, e2)
		}
	}
}
