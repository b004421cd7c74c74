package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hyperfs/hyperfs/hyperdrive"
	"github.com/hyperfs/hyperfs/hypertrie"
)

// Huge folders: one drive (and one local folder, for loopback) holding
// folders of 10k, 50k and 100k empty files (scaled), written straight into
// the trie in batches, so setting them up takes seconds. The rows list
// each folder with ls -f (names only), list the largest with ls -l, and
// time a mount: from opening the storage to the root's first stat.

// hugeFolders are the folder sizes at scale 1 (-huge-files sets the
// largest, for a run with a 1M-file folder).
func hugeFolders(scale float64, largest int) []int {
	out := []int{}
	for _, n := range []int{10000, 50000, 100000} {
		out = append(out, max(100, int(float64(n)*scale)))
	}
	if largest > 0 {
		out[len(out)-1] = largest
	}
	return out
}

func hugeDir(n int) string { return "big" + strconv.Itoa(n) }

// setupHuge writes the folders into dir/huge-store and dir/huge-local.
func setupHuge(dir string, folders []int, cacheBytes int64) error {
	d, done, err := openDrive(dir+"/huge-store", cacheBytes)
	if err != nil {
		return err
	}
	defer done()
	ctx := context.Background()
	trie := d.D.Trie()
	now := time.Unix(1600000000, 0)
	st := hyperdrive.EncodeStat(&hyperdrive.Stat{Mode: hyperdrive.ModeRegular | 0o644, Mtime: now, Ctime: now})
	const batch = 2000
	for _, n := range folders {
		local := filepath.Join(dir, "huge-local", hugeDir(n))
		if err := os.MkdirAll(local, 0o755); err != nil {
			return err
		}
		var ops []hypertrie.Op
		for i := range n {
			name := fmt.Sprintf("file-%07d.txt", i)
			f, err := os.Create(filepath.Join(local, name))
			if err != nil {
				return err
			}
			f.Close()
			ops = append(ops, hypertrie.Op{Type: hypertrie.OpPut, Key: hugeDir(n) + "/" + name, Value: st})
			if len(ops) == batch || i == n-1 {
				if _, err := trie.Batch(ctx, ops); err != nil {
					return err
				}
				ops = ops[:0]
			}
		}
	}
	return nil
}

// hugeStep runs one measured huge-folder step on a mounted backend:
// "ls-f:<n>", "ls-l:<n>"; "mount" is timed by runChild around the mount.
func hugeStep(step, mnt string) error {
	kind, arg, _ := strings.Cut(step, ":")
	n, _ := strconv.Atoi(arg)
	switch kind {
	case "ls-f":
		return shell("ls -f " + mnt + "/" + hugeDir(n) + " >/dev/null")
	case "ls-l":
		return shell("ls -l " + mnt + "/" + hugeDir(n) + " >/dev/null")
	}
	return fmt.Errorf("unknown step %q", step)
}
