package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hyperfs/hyperfs/app"
)

// TestForwardThroughService: with a service holding the storage, commands
// run in it: relative paths are the client's, output and exit codes come
// back as they would from a direct run.
func TestForwardThroughService(t *testing.T) {
	home := isolate(t)
	t.Setenv("XDG_RUNTIME_DIR", filepath.Join(home, "run"))
	st := filepath.Join(home, "st")
	s, err := app.Open(app.Options{Net: app.NetOptions{NoDiscovery: true}}, st)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var svc *app.Service
	if svc, err = app.Serve(s, serviceHandler(&svc)); err != nil {
		t.Fatal(err)
	}
	defer svc.Close()

	work := filepath.Join(home, "work")
	os.MkdirAll(filepath.Join(work, "src", "sub"), 0o755)
	os.WriteFile(filepath.Join(work, "src", "sub", "f.txt"), []byte("forwarded"), 0o644)
	wd, _ := os.Getwd()
	os.Chdir(work)
	defer os.Chdir(wd)

	if code, out, errOut := hyperfs(t, "", "import", "src", "--storage", st); code != exitOK || !strings.Contains(out, "1 files imported") {
		t.Fatalf("import: %d %q %q", code, out, errOut)
	}
	if code, out, _ := hyperfs(t, "", "cat", "/sub/f.txt", "--storage", st); code != exitOK || out != "forwarded" {
		t.Fatalf("cat: %d %q", code, out)
	}
	var info driveInfo
	if code, out, _ := hyperfs(t, "", "info", "--json", "--storage", st); code != exitOK || json.Unmarshal([]byte(out), &info) != nil || !info.Writable {
		t.Fatalf("info: %d %q", code, out)
	}
	if code, out, errOut := hyperfs(t, "", "export", st, "out", "--storage", st); code != exitOK || !strings.Contains(out, "1 files exported") {
		t.Fatalf("export: %d %q %q", code, out, errOut)
	}
	if b, err := os.ReadFile(filepath.Join(work, "out", "sub", "f.txt")); err != nil || string(b) != "forwarded" {
		t.Fatalf("export into the client's folder: %q %v", b, err)
	}
	code, out, errOut := hyperfs(t, "", "cat", "/missing", "--storage", st)
	if code != exitNotFound || out != "" || strings.Count(strings.TrimSpace(errOut), "\n") != 0 || !strings.Contains(errOut, "no such file") {
		t.Fatalf("cat of a missing file: %d %q %q", code, out, errOut)
	}
	if code, _, _ := hyperfs(t, "", "ls", "--nope", "--storage", st); code != exitUsage {
		t.Fatalf("bad flag: %d", code)
	}
}
