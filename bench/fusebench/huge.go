package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
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

// hugeCache is -huge-cache: where the huge drive and folder are kept
// between runs, "" for the run's own temporary directory.
var hugeCache string

// hugeRoot is the directory holding huge-store and huge-local: under
// -huge-cache, one per set of folder sizes, else the run's dir.
func hugeRoot(dir string) string {
	if hugeCache == "" {
		return dir
	}
	name := "huge"
	for _, n := range hugeN {
		name += "-" + strconv.Itoa(n)
	}
	return filepath.Join(hugeCache, name)
}

// setupHuge writes the folders into huge-store and huge-local under
// hugeRoot(dir), unless a finished copy is already there. The trie gets
// the entries in batches while other goroutines create the local files.
func setupHuge(dir string, folders []int, cacheBytes int64) error {
	root := hugeRoot(dir)
	done := filepath.Join(root, "complete")
	if _, err := os.Stat(done); err == nil {
		return nil
	}
	if err := os.RemoveAll(root); err != nil {
		return err
	}
	d, closeDrive, err := openDrive(root+"/huge-store", cacheBytes)
	if err != nil {
		return err
	}
	defer closeDrive()
	ctx := context.Background()
	trie := d.D.Trie()
	now := time.Unix(1600000000, 0)
	st := hyperdrive.EncodeStat(&hyperdrive.Stat{Mode: hyperdrive.ModeRegular | 0o644, Mtime: now, Ctime: now})
	const batch = 5000
	// Four goroutines create the local files.
	jobs := make(chan [2]int)
	var wg sync.WaitGroup
	var createErr error
	var errOnce sync.Once
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				local := filepath.Join(root, "huge-local", hugeDir(j[0]))
				for i := j[1]; i < min(j[0], j[1]+batch); i++ {
					f, err := os.Create(filepath.Join(local, hugeName(i)))
					if err != nil {
						errOnce.Do(func() { createErr = err })
						continue
					}
					f.Close()
				}
			}
		}()
	}
	defer func() { // on an early return
		if jobs != nil {
			close(jobs)
			wg.Wait()
		}
	}()
	for _, n := range folders {
		local := filepath.Join(root, "huge-local", hugeDir(n))
		if err := os.MkdirAll(local, 0o755); err != nil {
			return err
		}
		for lo := 0; lo < n; lo += batch {
			hi := min(n, lo+batch)
			jobs <- [2]int{n, lo}
			ops := make([]hypertrie.Op, 0, hi-lo)
			for i := lo; i < hi; i++ {
				ops = append(ops, hypertrie.Op{Type: hypertrie.OpPut, Key: hugeDir(n) + "/" + hugeName(i), Value: st})
			}
			if _, err := trie.Batch(ctx, ops); err != nil {
				return err
			}
		}
	}
	close(jobs)
	jobs = nil
	wg.Wait()
	if createErr != nil {
		return createErr
	}
	if err := d.Sync(ctx); err != nil {
		return err
	}
	return os.WriteFile(done, nil, 0o644)
}

func hugeName(i int) string { return fmt.Sprintf("file-%07d.txt", i) }

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
	case "rm-huge":
		return shell("rm -rf " + mnt + "/" + hugeDir(hugeN[0]))
	}
	return fmt.Errorf("unknown step %q", step)
}
