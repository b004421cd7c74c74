package integration

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hyperfs/hyperfs/integration/jsref"
)

// runCLIWithin runs hyperfs as runCLI does, failing the test if it has not
// ended within d: no command may hang on a hostile drive.
func runCLIWithin(t *testing.T, d time.Duration, env []string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, hyperfsBin(t), args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("hyperfs %s did not end within %s: %s", strings.Join(args, " "), d, out)
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), string(out)
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, string(out)
}

// TestExportHostileJSDrive: a drive written with the JS API holding "..",
// "a/../../x", "dir/./x", NUL names and symlinks out is exported deep in a
// tree; nothing appears outside the target and the command ends. Then the
// drive's symlink /x (to a folder outside) becomes a folder, and a second
// export into the same target must not write through the old link.
func TestExportHostileJSDrive(t *testing.T) {
	jsref.Require(t)
	root := t.TempDir()
	dir := filepath.Join(root, "js")
	outside := filepath.Join(root, "outside")
	if err := os.Mkdir(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	var v1 struct{ Names []string }
	jsref.RunJSON(t, &v1, "drive-hostile.js", dir, outside, "1")
	jail := filepath.Join(root, "jail")
	out := filepath.Join(jail, "a", "b", "c", "out")
	dl := filepath.Join(jail, "a", "b", "c", "dl")
	env := cliEnv(t)
	code, msg := runCLIWithin(t, time.Minute, env, "export", dir, out)
	if code != 0 || !strings.Contains(msg, "entries skipped") {
		t.Fatalf("export: exit %d: %s", code, msg)
	}
	checkOnlyUnder := func() {
		t.Helper()
		filepath.Walk(root, func(p string, _ os.FileInfo, err error) error {
			switch {
			case p == root, p == dir, strings.HasPrefix(p, dir+"/"), p == outside, strings.HasPrefix(p, out), strings.HasPrefix(p, dl),
				p == jail, p == filepath.Join(jail, "a"), p == filepath.Join(jail, "a", "b"), p == filepath.Join(jail, "a", "b", "c"):
			default:
				t.Errorf("%s written outside the export target", p)
			}
			return nil
		})
		if ents, _ := os.ReadDir(outside); len(ents) != 0 {
			t.Errorf("written into the folder a drive symlink points to: %v", ents)
		}
		if _, err := os.Lstat("/tmp/hyperfs-escape4.txt"); err == nil {
			t.Error("/tmp/hyperfs-escape4.txt written")
		}
	}
	// download --to follows the same rules.
	if code, msg := runCLIWithin(t, time.Minute, env, "download", dir, "--to", dl); code != 0 || !strings.Contains(msg, "entries skipped") {
		t.Fatalf("download --to: exit %d: %s", code, msg)
	}
	checkOnlyUnder()
	if b, err := os.ReadFile(filepath.Join(dl, "docs", "readme.txt")); err != nil || string(b) != "readme" {
		t.Fatalf("download --to: docs/readme.txt: %q %v", b, err)
	}
	if b, err := os.ReadFile(filepath.Join(out, "docs", "readme.txt")); err != nil || string(b) != "readme" {
		t.Fatalf("docs/readme.txt: %q %v", b, err)
	}
	if target, err := os.Readlink(filepath.Join(out, "x")); err != nil || target != outside {
		t.Fatalf("x: %q %v, want a link to %s", target, err, outside)
	}
	jsref.RunJSON(t, &v1, "drive-hostile.js", dir, outside, "2")
	code, msg = runCLIWithin(t, time.Minute, env, "export", dir, out)
	if code != 0 {
		t.Fatalf("second export: exit %d: %s", code, msg)
	}
	checkOnlyUnder()
	if b, err := os.ReadFile(filepath.Join(out, "x", "swapped.txt")); err != nil || string(b) != "swapped" {
		t.Fatalf("x/swapped.txt: %q %v", b, err)
	}
	if !strings.Contains(msg, "unchanged") {
		t.Errorf("second export does not report unchanged files: %s", msg)
	}
	// Into a file: one clear error, no summary.
	file := filepath.Join(root, "file")
	os.WriteFile(file, nil, 0o644)
	code, msg = runCLIWithin(t, time.Minute, env, "export", dir, file)
	if code == 0 || !strings.Contains(msg, "is a file") || strings.Contains(msg, "exported") {
		t.Fatalf("export into a file: exit %d: %s", code, msg)
	}
}
