// Command fusebench measures a hyperfs mount against a go-fuse loopback
// mount of a local folder on this machine, in one run, and prints a table
// of times, ratios and peak RSS.
//
//	go run ./bench/fusebench               # full sizes
//	go run ./bench/fusebench -scale 0.1    # a tenth of every size
//
// Cases: a sequential read of a 256 MiB file (first read, then a re-read
// from a fresh descriptor, which hyperfs serves from the page cache since a
// version's content never changes), find and ls -lR over 10,000 files, and
// an untar of 1,000 small files into the mount, four such untars at once,
// cp -r, rm -rf and a git clone of the same files; with -huge, folders of 10k to 100k (or -huge-files)
// files and the mount of that drive; with -load N, N CPU-bound processes run
// throughout, on both file systems alike; -cpuprofile writes pprof profiles. The loopback mount has FUSE
// passthrough off, so its daemon serves every read, as hyperfs's does.
// The jsfuse rows run the same cases on the JS FUSE stack, hyperdrive-fuse
// 1.2 on fuse-native (libfuse 2, Debian's libfuse2), mounting the same
// corestore folders through integration/js/scripts/fuse-mount.js; where it
// cannot mount, its rows say "not run" and why.
//
// Every case runs in its own process (this binary re-run with -child), so
// peak RSS is per case; the data is written by a separate setup process
// first, and only the operation itself is timed. Mounts are fresh for each
// case, so the kernel holds nothing of them yet.
package main

import (
	"archive/tar"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/hyperfs/hyperfs/bench/internal/child"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/hyperfs/hyperfs/cache"
	"github.com/hyperfs/hyperfs/corestore"
	hfs "github.com/hyperfs/hyperfs/fs"
	"github.com/hyperfs/hyperfs/fs/memback"
	"github.com/hyperfs/hyperfs/hyperdrive"
)

// result is what a child prints as JSON.
type result struct {
	Seconds  float64 `json:"seconds"`
	Seconds2 float64 `json:"seconds2"` // the re-read, for read cases
	Bytes    int64   `json:"bytes"`
	PeakRSS  int64   `json:"peak_rss"`
	// CPU is the CPU time of the Go daemon's process while the case ran
	// (the first read, for read cases, whose reader is that process too):
	// steadier than wall time on a busy machine. 0 for jsfuse.
	CPU float64 `json:"cpu"`
}

func main() {
	child := flag.String("child", "", "run one step in this process (internal): setup-read, setup-tree, read, find, ls, untar")
	backend := flag.String("backend", "", "hyperdrive, memback, loopback or jsfuse, for -child")
	dir := flag.String("dir", "", "working directory for -child")
	scale := flag.Float64("scale", 1, "fraction of every size to run")
	cacheMiB := flag.Int64("cache", 256, "cache budget of the drive in MiB")
	peer := flag.String("peer", "", "address of the serving child, for -child cold-read and raw-replication")
	key := flag.String("key", "", "drive key, for -child cold-read and raw-replication")
	huge := flag.Bool("huge", false, "also run the huge-folder rows: ls -f of folders of 10k, 50k and 100k files, ls -l of the largest, mount time, rm -rf of the smallest with the kernel knowing few or all of the files")
	flag.StringVar(&hugeCache, "huge-cache", "", "keep the huge-folder drive and folders in this directory and reuse them in later runs")
	hugeFiles := flag.Int("huge-files", 0, "files in the largest huge folder (default 100k × scale), e.g. 1000000")
	flag.StringVar(&casesFilter, "cases", "", "run only these cases, comma-separated: read, find, ls, cat-parallel, untar, untar-parallel, cp, rm, git-clone, ls-f, ls-l, mount-huge, rm-huge, remote (default all)")
	flag.IntVar(&runs, "runs", 1, "runs of every case on every backend, interleaved; the table shows medians")
	load := flag.Int("load", 0, "CPU-bound background processes to run during every case (both file systems get the same load)")
	flag.StringVar(&backendsFilter, "backends", "", "run only these backends, comma-separated: loopback, hyperdrive, hyperdrive-noverify, hyperdrive-nosync_close, memback, jsfuse (default all; loopback always runs, as the reference)")
	flag.StringVar(&memPrefix, "memprofile", "", "write a heap profile of every Go backend's run, taken when the case ends and before the unmount, to this prefix (<prefix>-<case>-<backend>.heap)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of every Go backend's run to this prefix (<prefix>-<case>-<backend>.prof)")
	flag.Parse()
	hugeN = hugeFolders(*scale, *hugeFiles)
	profilePrefix = *cpuProfile
	sz := sizes(*scale)
	if *child == "burn" {
		burn()
		return
	}
	if *child == "serve" {
		if err := serve(*dir, *cacheMiB<<20); err != nil {
			fmt.Fprintln(os.Stderr, "fusebench:", err)
			os.Exit(1)
		}
		return
	}
	if *child != "" {
		var res result
		var err error
		switch *child {
		case "cold-read":
			res, err = coldRead(*dir, *peer, *key, *cacheMiB<<20)
		case "raw-replication":
			res, err = rawReplication(*dir, *peer, *key, *cacheMiB<<20)
		default:
			res, err = runChild(*child, *backend, *dir, sz, *cacheMiB<<20)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "fusebench:", err)
			os.Exit(1)
		}
		if res.PeakRSS == 0 { // else the daemon's, another process (jsfuse)
			var ru syscall.Rusage
			syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
			res.PeakRSS = ru.Maxrss * 1024
		}
		json.NewEncoder(os.Stdout).Encode(res)
		return
	}
	loadN = *load
	if *load > 0 {
		if err := startLoad(*load); err != nil {
			fmt.Fprintln(os.Stderr, "fusebench:", err)
			os.Exit(1)
		}
	}
	err := drive(sz, *cacheMiB, *huge, *hugeFiles)
	stopLoad()
	if err != nil {
		fmt.Fprintln(os.Stderr, "fusebench:", err)
		os.Exit(1)
	}
}

type sizeSet struct {
	file  int64 // bytes of the sequential-read file
	tree  int   // files in the find/ls tree
	small int   // files in the tarball
}

func sizes(scale float64) sizeSet {
	return sizeSet{
		file:  max(1<<20, int64(float64(256<<20)*scale)),
		tree:  max(100, int(10000*scale)),
		small: max(10, int(1000*scale)),
	}
}

// casesFilter is -cases, backendsFilter -backends.
var casesFilter, backendsFilter string

// selected reports whether -cases includes step (ls-f:N matches ls-f).
func selected(step string) bool {
	if casesFilter == "" {
		return true
	}
	name, _, _ := strings.Cut(step, ":")
	return slices.Contains(strings.Split(casesFilter, ","), name)
}

// runs is how often each case runs on each backend; loadN the -load.
var runs, loadN int

// profilePrefix and memPrefix, if set, are where children write CPU and
// heap profiles.
var profilePrefix, memPrefix string

// memRoom is the heap allowed beyond the cache budget (app/storage.go).
const memRoom = 48 << 20

// hugeN are the huge folders' sizes.
var hugeN []int

// drive runs every case on every backend and prints the table.
func drive(sz sizeSet, cacheMiB int64, huge bool, hugeFiles int) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "fusebench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	run := func(step, backend string) (result, error) {
		r, err := spawn(self, "-child", step, "-backend", backend, "-dir", tmp,
			"-scale", strconv.FormatFloat(float64(sz.file)/(256<<20), 'g', -1, 64),
			"-cache", strconv.FormatInt(cacheMiB, 10), "-huge-files", strconv.Itoa(hugeFiles), "-cpuprofile", profilePrefix, "-memprofile", memPrefix, "-huge-cache", hugeCache)
		if err != nil {
			return r, fmt.Errorf("%s on %s: %w", step, backend, err)
		}
		fmt.Fprintf(os.Stderr, "done: %s on %s\n", step, backend)
		return r, nil
	}
	var setups []string
	if selected("read") || selected("remote") {
		setups = append(setups, "setup-read")
	}
	if selected("find") || selected("ls") || selected("cat-parallel") {
		setups = append(setups, "setup-tree")
	}
	if selected("untar") || selected("untar-parallel") || selected("cp") || selected("rm") || selected("git-clone") {
		setups = append(setups, "setup-tar")
	}
	if huge {
		setups = append(setups, "setup-huge")
	}
	for _, s := range setups {
		if _, err := run(s, "hyperdrive"); err != nil {
			return err
		}
	}

	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "case\tbackend\tseconds\tMB/s or files/s\tvs loopback\tpeak RSS MiB\tdaemon CPU s\tCPU vs loopback\t\n")
	type row struct {
		name, step string
		rate       func(result, bool) float64
		unit       string
	}
	mbps := func(r result, second bool) float64 {
		s := r.Seconds
		if second {
			s = r.Seconds2
		}
		return float64(r.Bytes) / (1 << 20) / s
	}
	perSec := func(n int) func(result, bool) float64 {
		return func(r result, _ bool) float64 { return float64(n) / r.Seconds }
	}
	rows := []row{
		{fmt.Sprintf("read %d MiB", sz.file>>20), "read", mbps, "MB/s"},
		{fmt.Sprintf("find, %d files", sz.tree), "find", perSec(sz.tree), "files/s"},
		{fmt.Sprintf("ls -lR, %d files", sz.tree), "ls", perSec(sz.tree), "files/s"},
		{fmt.Sprintf("cat, 100 parallel readers, %d files", sz.tree), "cat-parallel", perSec(sz.tree), "files/s"},
		{fmt.Sprintf("untar %d files", sz.small), "untar", perSec(sz.small), "files/s"},
		{fmt.Sprintf("4 untars at once, %d files", 4*sz.small), "untar-parallel", perSec(4 * sz.small), "files/s"},
		{fmt.Sprintf("cp -r %d files", sz.small), "cp", perSec(sz.small), "files/s"},
		{fmt.Sprintf("rm -rf %d files", sz.small), "rm", perSec(sz.small), "files/s"},
		{fmt.Sprintf("git clone, %d files", sz.small), "git-clone", perSec(sz.small), "files/s"},
	}
	if huge {
		for _, n := range hugeN {
			rows = append(rows, row{fmt.Sprintf("ls -f, folder of %d", n), "ls-f:" + strconv.Itoa(n), perSec(n), "files/s"})
		}
		last := hugeN[len(hugeN)-1]
		rows = append(rows, row{fmt.Sprintf("ls -l, folder of %d", last), "ls-l:" + strconv.Itoa(last), perSec(last), "files/s"})
		total := 0
		for _, n := range hugeN {
			total += n
		}
		rows = append(rows, row{fmt.Sprintf("mount, drive of %d files", total), "mount-huge", perSec(1), "mounts/s"})
		// The same removal with the kernel knowing few inodes and all
		// of the drive's (as many as the cache budget lets hyperfs keep):
		// a removal must not cost more when the kernel knows more.
		rows = append(rows,
			row{fmt.Sprintf("rm -rf, folder of %d", hugeN[0]), "rm-huge:cold", perSec(hugeN[0]), "files/s"},
			row{fmt.Sprintf("rm -rf, folder of %d, %d known", hugeN[0], total), "rm-huge:known", perSec(hugeN[0]), "files/s"})
	}
	if casesFilter != "" {
		keep := rows[:0]
		for _, rw := range rows {
			if selected(rw.step) {
				keep = append(keep, rw)
			}
		}
		rows = keep
	}
	backends := []string{"loopback", "hyperdrive", "hyperdrive-noverify", "hyperdrive-nosync_close", "memback", "jsfuse"}
	if backendsFilter != "" {
		backends = slices.DeleteFunc(backends, func(b string) bool {
			return b != "loopback" && !slices.Contains(strings.Split(backendsFilter, ","), b)
		})
	}
	jsNotRun := "" // why jsfuse cannot mount, once a case found it
	for _, rw := range rows {
		runsOf := map[string][]result{}
		notRun := map[string]string{}
		// Runs are interleaved across backends, so a burst of load on the
		// machine hits them alike; each row reports the median run.
		for range runs {
			for _, b := range backends {
				if b == "memback" && isHugeStep(rw.step) {
					continue // holds nothing of the huge drive
				}
				if b == "hyperdrive-noverify" && rw.step != "read" || b == "hyperdrive-nosync_close" && !writeStep(rw.step) {
					continue // only where verification or syncing costs
				}
				if _, ok := notRun[b]; ok {
					continue
				}
				if b == "jsfuse" && jsNotRun != "" {
					notRun[b] = jsNotRun
					continue
				}
				r, err := run(rw.step, b)
				if err != nil && b == "jsfuse" {
					// The JS stack is optional: report why, go on.
					notRun[b] = reason(err)
					if strings.Contains(err.Error(), errNoMount.Error()) {
						jsNotRun = notRun[b]
					}
					fmt.Fprintf(os.Stderr, "not run: %s on %s: %v\n", rw.step, b, err)
					continue
				}
				if err != nil {
					return err
				}
				runsOf[b] = append(runsOf[b], r)
			}
		}
		res := map[string]result{}
		for b, rs := range runsOf {
			res[b] = median(rs)
		}
		for _, b := range backends {
			if _, ok := res[b]; !ok && notRun[b] == "" {
				continue
			}
			if why, ok := notRun[b]; ok {
				// The reason is a trailing cell, which widens no column.
				fmt.Fprintf(tw, "%s\t%s\t-\t\t\t\t  not run: %s\n", rw.name, b, why)
				continue
			}
			r := res[b]
			cpu, cpuRatio := "", ""
			if r.CPU > 0 {
				cpu = fmt.Sprintf("%.3f", r.CPU)
				if lc := res["loopback"].CPU; lc > 0 {
					cpuRatio = fmt.Sprintf("%.2f×", lc/r.CPU)
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%.3f\t%.1f %s\t%.2f×\t%.0f\t%s\t%s\t\n", rw.name, b, r.Seconds,
				rw.rate(r, false), rw.unit, res["loopback"].Seconds/r.Seconds, float64(r.PeakRSS)/(1<<20), cpu, cpuRatio)
			if rw.step == "read" {
				fmt.Fprintf(tw, "%s, re-read\t%s\t%.3f\t%.1f %s\t%.2f×\t\t\t\t\n", rw.name, b, r.Seconds2,
					rw.rate(r, true), rw.unit, res["loopback"].Seconds2/r.Seconds2)
			}
		}
	}
	if selected("remote") {
		cold, raw, err := remoteRows(self, tmp, cacheMiB)
		if err != nil {
			return err
		}
		name := fmt.Sprintf("read %d MiB", sz.file>>20)
		fmt.Fprintf(tw, "%s, remote\treplication only\t%.3f\t%.1f MB/s\t\t%.0f\t\n", name, raw.Seconds, mbps(raw, false), float64(raw.PeakRSS)/(1<<20))
		fmt.Fprintf(tw, "%s, remote, cold\thyperdrive\t%.3f\t%.1f MB/s\t%.2f× of replication\t%.0f\t\n", name, cold.Seconds, mbps(cold, false), raw.Seconds/cold.Seconds, float64(cold.PeakRSS)/(1<<20))
	}
	tw.Flush()
	fmt.Printf("\nvs loopback = loopback time / this time (higher is faster). Drive cache budget %d MiB.\n", cacheMiB)
	fmt.Println("daemon CPU = CPU time of the Go daemon's process during the case (for read, with the reader in it); CPU vs loopback = loopback's / this.")
	fmt.Printf("Median of %d interleaved runs per case and backend (peak RSS: the largest); %d CPU-bound background processes.\n", runs, loadN)
	if selected("remote") {
		fmt.Println("remote rows: the drive served by another process over loopback TCP; \"replication only\" downloads the file's blocks with no mount.")
	}
	fmt.Println("memback holds its content in memory: its RSS includes the data.")
	fmt.Println("hyperdrive-noverify: blocks read from disk are not checked against the tree (--no-verify); hyperdrive-nosync_close: mounted with -o nosync_close, a close returns once its commit is appended and signed, not synced.")
	fmt.Println("jsfuse: hyperdrive-fuse on fuse-native (libfuse 2) on the same corestore folders; its RSS is the node process's.")
	return nil
}

// median returns the run with the median time (the re-read time and the
// CPU time are the medians of the runs', peak RSS the largest).
func median(rs []result) result {
	sorted := slices.Clone(rs)
	slices.SortFunc(sorted, func(a, b result) int { return cmp.Compare(a.Seconds, b.Seconds) })
	m := sorted[len(sorted)/2]
	s2 := make([]float64, len(rs))
	cpu := make([]float64, len(rs))
	for i, r := range rs {
		s2[i], cpu[i] = r.Seconds2, r.CPU
		m.PeakRSS = max(m.PeakRSS, r.PeakRSS)
	}
	slices.Sort(s2)
	slices.Sort(cpu)
	m.Seconds2, m.CPU = s2[len(s2)/2], cpu[len(cpu)/2]
	return m
}

// spawn runs one child and decodes its result.
func spawn(prog string, args ...string) (result, error) {
	var r result
	_, err := child.Run(&r, prog, args...) // the child reports its own peak RSS
	return r, err
}

// pattern is deterministic content.
func pattern(n int64, seed byte) []byte {
	b := make([]byte, n)
	x := uint32(seed) + 1
	for i := range b {
		x = x*1664525 + 1013904223
		b[i] = byte(x >> 24)
	}
	return b
}

// treeFile is the i-th file of the find/ls tree: 100 files per directory.
func treeFile(i int) string { return fmt.Sprintf("d%03d/f%05d.txt", i/100, i) }

func openDrive(storeDir string, cacheBytes int64) (*hfs.Drive, func(), error) {
	d, _, done, err := openDriveOpts(storeDir, cacheBytes, false)
	return d, done, err
}

// openDriveOpts is openDrive, with the check of blocks read from disk
// against the tree turned off if noVerify.
func openDriveOpts(storeDir string, cacheBytes int64, noVerify bool) (*hfs.Drive, *cache.Cache, func(), error) {
	// As hyperfs does: the heap may use the cache budget plus working room.
	debug.SetMemoryLimit(cacheBytes + memRoom)
	ch, err := cache.New(cache.Options{MaxBytes: cacheBytes})
	if err != nil {
		return nil, nil, nil, err
	}
	store, err := corestore.Open(storeDir, corestore.Options{Cache: ch, NoVerifyReads: noVerify})
	if err != nil {
		return nil, nil, nil, err
	}
	d, err := hyperdrive.Open(context.Background(), store, hyperdrive.Options{GroupCommit: hyperdrive.DefaultGroupCommit})
	if err != nil {
		store.Close()
		return nil, nil, nil, err
	}
	return hfs.NewDrive(d, storeDir), ch, func() { d.Close(); store.Close(); ch.Close() }, nil
}

// runChild runs one step; setup steps write the data every backend reads.
func runChild(step, backend, dir string, sz sizeSet, cacheBytes int64) (res result, err error) {
	ctx := context.Background()
	switch step {
	case "setup-read":
		data := pattern(sz.file, 1)
		if err := os.MkdirAll(dir+"/read-local", 0755); err != nil {
			return result{}, err
		}
		if err := os.WriteFile(dir+"/read-local/big", data, 0644); err != nil {
			return result{}, err
		}
		d, done, err := openDrive(dir+"/read-store", cacheBytes)
		if err != nil {
			return result{}, err
		}
		defer done()
		return result{}, d.WriteFile(ctx, "/big", 0644, bytes.NewReader(data), sz.file)
	case "setup-tree":
		d, done, err := openDrive(dir+"/tree-store", cacheBytes)
		if err != nil {
			return result{}, err
		}
		defer done()
		for i := range sz.tree {
			name := treeFile(i)
			body := []byte(name + "\n")
			p := filepath.Join(dir, "tree-local", name)
			if err := os.MkdirAll(filepath.Dir(p), 0755); err != nil {
				return result{}, err
			}
			if err := os.WriteFile(p, body, 0644); err != nil {
				return result{}, err
			}
			if err := d.WriteFile(ctx, "/"+name, 0644, bytes.NewReader(body), int64(len(body))); err != nil {
				return result{}, err
			}
		}
		return result{}, nil
	case "setup-tar":
		f, err := os.Create(dir + "/small.tar")
		if err != nil {
			return result{}, err
		}
		defer f.Close()
		tw := tar.NewWriter(f)
		for i := range sz.small {
			body := pattern(int64(1024+i%3072), byte(i))
			hdr := &tar.Header{Name: fmt.Sprintf("d%02d/f%04d", i/100, i), Mode: 0644, Size: int64(len(body)), ModTime: time.Unix(1600000000, 0)}
			if err := tw.WriteHeader(hdr); err != nil {
				return result{}, err
			}
			tw.Write(body)
		}
		if err := tw.Close(); err != nil {
			return result{}, err
		}
		// The same files as a local folder (for cp -r) and a git
		// repository (for git clone).
		return result{}, shell(fmt.Sprintf(`set -e; mkdir -p %[1]s/small-local %[1]s/small-repo
tar -xf %[1]s/small.tar -C %[1]s/small-local
tar -xf %[1]s/small.tar -C %[1]s/small-repo
cd %[1]s/small-repo && git init -q && git add -A && git -c user.name=bench -c user.email=bench@example.com commit -qm files`, dir))
	case "setup-huge":
		return result{}, setupHuge(dir, hugeN, cacheBytes)
	}

	// Measured steps: mount the backend, run, unmount.
	mnt, err := os.MkdirTemp(dir, "mnt-")
	if err != nil {
		return result{}, err
	}
	var local, store string
	switch step {
	case "read":
		local, store = dir+"/read-local", dir+"/read-store"
	case "find", "ls", "cat-parallel":
		local, store = dir+"/tree-local", dir+"/tree-store"
	case "untar", "untar-parallel", "cp", "rm", "git-clone":
		local, err = os.MkdirTemp(dir, "untar-local-")
		if err != nil {
			return result{}, err
		}
		store = local + "-store"
	default:
		if isHugeStep(step) {
			local, store = hugeRoot(dir)+"/huge-local", hugeRoot(dir)+"/huge-store"
		}
		if strings.HasPrefix(step, "rm-huge:") {
			// The removal works on copies: the drive's files, and the
			// folder as hard links.
			scratch, err := os.MkdirTemp(dir, "rm-huge-")
			if err != nil {
				return result{}, err
			}
			defer os.RemoveAll(scratch)
			if err := shell(fmt.Sprintf("cp -a %s %s/store && cp -al %s %s/local", store, scratch, local, scratch)); err != nil {
				return result{}, err
			}
			local, store = scratch+"/local", scratch+"/store"
		}
	}
	mountStart := time.Now()
	unmount, err := mount(backend, mnt, local, store, step, sz, cacheBytes)
	if err != nil {
		return result{}, err
	}
	if step == "mount-huge" {
		if _, err := os.Stat(mnt + "/" + hugeDir(hugeN[0])); err != nil {
			return result{}, err
		}
		res.Seconds = time.Since(mountStart).Seconds()
	}
	defer func() {
		rss, uerr := unmount()
		if err == nil {
			err = uerr
		}
		res.PeakRSS = rss
	}()

	if step == "rm-huge:known" { // the kernel gets to know every file, not timed
		for _, n := range hugeN {
			if err := shell("ls -f " + mnt + "/" + hugeDir(n) + " >/dev/null"); err != nil {
				return res, err
			}
		}
	}
	if step == "rm" { // the tree to remove, not timed
		if err := shell("tar -xf " + dir + "/small.tar -C " + mnt); err != nil {
			return res, err
		}
	}
	if profilePrefix != "" && backend != "jsfuse" {
		name := fmt.Sprintf("%s-%s-%s.prof", profilePrefix, strings.ReplaceAll(step, ":", ""), backend)
		f, err := os.Create(name)
		if err != nil {
			return result{}, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return result{}, err
		}
		defer pprof.StopCPUProfile()
	}
	if memPrefix != "" && backend != "jsfuse" {
		defer func() {
			name := fmt.Sprintf("%s-%s-%s.heap", memPrefix, strings.ReplaceAll(step, ":", ""), backend)
			if f, err := os.Create(name); err == nil {
				pprof.WriteHeapProfile(f)
				f.Close()
			}
		}()
	}
	start, cpu := time.Now(), cpuTime()
	cpuSince := func() float64 {
		if backend == "jsfuse" {
			return 0 // its daemon is another process
		}
		return (cpuTime() - cpu).Seconds()
	}
	switch step {
	case "read":
		n, err := readAll(mnt + "/big")
		if err != nil {
			return res, err
		}
		res.Seconds, res.CPU = time.Since(start).Seconds(), cpuSince()
		start = time.Now()
		if _, err := readAll(mnt + "/big"); err != nil {
			return res, err
		}
		res.Seconds2 = time.Since(start).Seconds()
		res.Bytes = n
		return res, nil
	case "find":
		err = shell("find " + mnt + " >/dev/null")
	case "ls":
		err = shell("ls -lR " + mnt + " >/dev/null")
	case "cat-parallel":
		err = shell("cd " + mnt + " && find . -type f | xargs -P 100 -n 20 cat >/dev/null")
	case "untar":
		err = shell("tar -xf " + dir + "/small.tar -C " + mnt)
	case "untar-parallel": // four writers at once: their commits and syncs can be shared
		err = shell(fmt.Sprintf(`set -e; for i in 1 2 3 4; do mkdir %[2]s/p$i; tar -xf %[1]s/small.tar -C %[2]s/p$i & done; for j in 1 2 3 4; do wait -n; done`, dir, mnt))
	case "cp":
		err = shell("cp -r " + dir + "/small-local " + mnt + "/copy")
	case "rm":
		err = shell("rm -rf " + mnt + "/d00 " + mnt + "/d0[1-9] " + mnt + "/d[1-9]*")
	case "git-clone":
		err = shell("git clone -q --no-hardlinks " + dir + "/small-repo " + mnt + "/clone")
	case "mount-huge":
		return res, nil
	default:
		err = hugeStep(step, mnt)
	}
	res.Seconds, res.CPU = time.Since(start).Seconds(), cpuSince()
	return res, err
}

// cpuTime is the CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func isHugeStep(step string) bool {
	return step == "mount-huge" || strings.HasPrefix(step, "ls-f:") || strings.HasPrefix(step, "ls-l:") || strings.HasPrefix(step, "rm-huge:")
}

func shell(script string) error {
	out, err := exec.Command("bash", "-c", script).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", script, err, out)
	}
	return nil
}

// readAll reads p sequentially in 1 MiB reads, as cp and cat do.
func readAll(p string) (int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return io.CopyBuffer(io.Discard, struct{ io.Reader }{f}, make([]byte, 1<<20))
}

// mount mounts one backend at mnt. unmount unmounts it and returns the
// peak RSS of its daemon if that is another process, else 0.
func mount(backend, mnt, local, store, step string, sz sizeSet, cacheBytes int64) (unmount func() (int64, error), err error) {
	if backend == "jsfuse" {
		return mountJS(store, mnt)
	}
	server, cleanup, err := mountGo(backend, mnt, local, store, step, sz, cacheBytes)
	if err != nil {
		return nil, err
	}
	return func() (int64, error) {
		// The kernel may hold the mount busy for a while after a case
		// (a million inodes to forget): retry, or Wait would hang.
		var err error
		for range 100 {
			if err = server.Unmount(); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			return 0, fmt.Errorf("unmount %s: %w", mnt, err)
		}
		server.Wait()
		cleanup()
		return 0, nil
	}, nil
}

// mountGo mounts one of the Go backends at mnt.
func mountGo(backend, mnt, local, store, step string, sz sizeSet, cacheBytes int64) (*fuse.Server, func(), error) {
	ctx := context.Background()
	switch backend {
	case "loopback":
		root, err := fusefs.NewLoopbackRoot(local)
		if err != nil {
			return nil, nil, err
		}
		sec := time.Second
		server, err := fusefs.Mount(mnt, &noPassthrough{root.(*fusefs.LoopbackNode)}, &fusefs.Options{
			MountOptions: fuse.MountOptions{MaxWrite: 1 << 20, MaxReadAhead: 1 << 20, FsName: "loopback"},
			EntryTimeout: &sec, AttrTimeout: &sec,
		})
		return server, func() {}, err
	case "hyperdrive", "hyperdrive-noverify", "hyperdrive-nosync_close":
		d, ch, done, err := openDriveOpts(store, cacheBytes, backend == "hyperdrive-noverify")
		if err != nil {
			return nil, nil, err
		}
		// nosync_close: what `-o nosync_close` gives, a close that returns
		// once its commit is appended and signed (fsync still syncs). As
		// hyperfs mounts, the kernel's inodes count against the budget.
		server, err := hfs.Mount(mnt, d, hfs.Options{StagingDir: filepath.Dir(mnt), NoSyncOnClose: backend == "hyperdrive-nosync_close", Memory: ch})
		if err != nil {
			done()
		}
		return server, done, err
	case "memback":
		b := memback.New()
		switch step {
		case "read":
			data, err := os.ReadFile(local + "/big")
			if err != nil {
				return nil, nil, err
			}
			b.WriteFile(ctx, "/big", 0644, bytes.NewReader(data), int64(len(data)))
		case "find", "ls", "cat-parallel":
			for i := range sz.tree {
				body := []byte(treeFile(i) + "\n")
				b.WriteFile(ctx, "/"+treeFile(i), 0644, bytes.NewReader(body), int64(len(body)))
			}
		}
		server, err := hfs.Mount(mnt, b, hfs.Options{StagingDir: filepath.Dir(mnt)})
		return server, func() {}, err
	}
	return nil, nil, fmt.Errorf("unknown backend %q", backend)
}

// reason shortens a child's error to one line for a "not run" row.
func reason(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, "fusebench: "); i >= 0 {
		s = s[i+len("fusebench: "):]
	}
	s = firstLine(s)
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return s
}

// noPassthrough is a loopback node whose files do not offer a passthrough
// descriptor, so the daemon serves every read and write.
type noPassthrough struct{ *fusefs.LoopbackNode }

func (n *noPassthrough) WrapChild(ctx context.Context, ops fusefs.InodeEmbedder) fusefs.InodeEmbedder {
	return &noPassthrough{ops.(*fusefs.LoopbackNode)}
}

func (n *noPassthrough) Open(ctx context.Context, flags uint32) (fusefs.FileHandle, uint32, syscall.Errno) {
	fh, fl, errno := n.LoopbackNode.Open(ctx, flags)
	if errno != 0 {
		return nil, 0, errno
	}
	return plainFile{fh}, fl, 0
}

func (n *noPassthrough) Create(ctx context.Context, name string, flags, mode uint32, out *fuse.EntryOut) (*fusefs.Inode, fusefs.FileHandle, uint32, syscall.Errno) {
	in, fh, fl, errno := n.LoopbackNode.Create(ctx, name, flags, mode, out)
	if errno != 0 {
		return nil, nil, 0, errno
	}
	return in, plainFile{fh}, fl, 0
}

// plainFile forwards a loopback file's operations, except PassthroughFd.
type plainFile struct{ f fusefs.FileHandle }

func (p plainFile) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	return p.f.(fusefs.FileReader).Read(ctx, dest, off)
}
func (p plainFile) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	return p.f.(fusefs.FileWriter).Write(ctx, data, off)
}
func (p plainFile) Flush(ctx context.Context) syscall.Errno {
	return p.f.(fusefs.FileFlusher).Flush(ctx)
}
func (p plainFile) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	return p.f.(fusefs.FileFsyncer).Fsync(ctx, flags)
}
func (p plainFile) Release(ctx context.Context) syscall.Errno {
	return p.f.(fusefs.FileReleaser).Release(ctx)
}
func (p plainFile) Getattr(ctx context.Context, out *fuse.AttrOut) syscall.Errno {
	return p.f.(fusefs.FileGetattrer).Getattr(ctx, out)
}
func (p plainFile) Setattr(ctx context.Context, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	return p.f.(fusefs.FileSetattrer).Setattr(ctx, in, out)
}

// writeStep reports whether a case writes through the mount.
func writeStep(step string) bool {
	return step == "untar" || step == "untar-parallel" || step == "cp" || step == "git-clone"
}
