// Command pjdbench runs pjdfstest, the POSIX conformance suite, on a
// hyperfs mount and, for reference in the same run, on go-fuse loopback
// mounts of a local folder and on tmpfs, and prints a table of failed
// subtests per test directory.
//
//	PJDFSTEST=/path/to/pjdfstest go run ./bench/pjdbench
//	go run ./bench/pjdbench -pjdfstest /path/to/pjdfstest -dirs chmod,rename -v
//
// "nodev" is the loopback refusing what a drive cannot hold (fifos,
// sockets, device nodes, hard links) with EPERM, as hyperfs does: pjdfstest
// goes on after a failed mkfifo as if the file existed, so one refusal
// fails many later subtests. The last column counts the subtests that
// fail on hyperfs but not on nodev, the defects; -v lists them.
//
// pjdfstest is not shipped with hyperfs: build it yourself (its source
// tree, with the pjdfstest binary built next to tests/) and name that tree.
// It must run as root (its tests switch users), with prove(1) installed.
// The mounts allow other users, as its tests need.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/hyperfs/hyperfs/corestore"
	hfs "github.com/hyperfs/hyperfs/fs"
	"github.com/hyperfs/hyperfs/hyperdrive"
)

// byDesign are the test directories about what a drive cannot hold: hard
// links, fifos, device nodes and sockets (link(2) and mknod(2) fail with
// EPERM, as documented for file systems without them).
var byDesign = map[string]string{
	"link":   "no hard links",
	"mkfifo": "no fifos",
	"mknod":  "no device nodes or fifos",
}

func main() {
	tree := flag.String("pjdfstest", os.Getenv("PJDFSTEST"), "pjdfstest source tree with the pjdfstest binary built (or $PJDFSTEST)")
	dirs := flag.String("dirs", "", "comma-separated test directories to run (default: all)")
	backends := flag.String("backends", "hyperfs,nodev,loopback,tmpfs", "file systems to run on (hyperfs, nodev, loopback, tmpfs)")
	timeout := flag.Duration("timeout", 30*time.Minute, "time allowed per file system")
	flag.BoolVar(&verbose, "v", false, "list the subtests failing on hyperfs but not on nodev")
	flag.Parse()
	if *tree == "" {
		fatal("name the pjdfstest tree with -pjdfstest or $PJDFSTEST")
	}
	if _, err := os.Stat(filepath.Join(*tree, "pjdfstest")); err != nil {
		fatal("no pjdfstest binary in %s: build it first (%v)", *tree, err)
	}
	if _, err := exec.LookPath("prove"); err != nil {
		fatal("prove(1) not found: install perl")
	}
	if os.Getuid() != 0 {
		fatal("pjdfstest must run as root")
	}
	testDirs, err := listDirs(filepath.Join(*tree, "tests"), *dirs)
	if err != nil {
		fatal("%v", err)
	}
	// ^C, or a closed output pipe, must not leave a mount behind: the
	// run stops and unmounts.
	signal.Ignore(syscall.SIGPIPE)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	names := strings.Split(*backends, ",")
	results := map[string]map[string]counts{}
	for _, b := range names {
		start := time.Now()
		res, err := runOn(ctx, b, *tree, testDirs, *timeout)
		if err != nil {
			fmt.Fprintf(os.Stderr, "pjdbench: %s: %v\n", b, err)
			continue
		}
		results[b] = res
		fmt.Fprintf(os.Stderr, "pjdbench: %s done in %s\n", b, time.Since(start).Round(time.Second))
	}
	print(testDirs, names, results)
}

var verbose bool

// counts are the subtests of one test directory.
type counts struct {
	tests, failed int
	fails         map[string]string // failed subtest ("file #n") → prove's line
}

func listDirs(testsDir, only string) ([]string, error) {
	ents, err := os.ReadDir(testsDir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	if only != "" {
		want := strings.Split(only, ",")
		out = slicesFilter(out, func(d string) bool {
			for _, w := range want {
				if w == d {
					return true
				}
			}
			return false
		})
	}
	sort.Strings(out)
	if len(out) == 0 {
		return nil, fmt.Errorf("no test directories in %s", testsDir)
	}
	return out, nil
}

func slicesFilter(s []string, keep func(string) bool) []string {
	var out []string
	for _, x := range s {
		if keep(x) {
			out = append(out, x)
		}
	}
	return out
}

// runOn mounts backend in a fresh folder and runs each test directory in
// it.
func runOn(ctx context.Context, backend, tree string, dirs []string, timeout time.Duration) (map[string]counts, error) {
	base, err := os.MkdirTemp("", "pjdbench-"+backend+"-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(base)
	mnt := filepath.Join(base, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		return nil, err
	}
	unmount, err := mount(backend, base, mnt)
	if err != nil {
		return nil, err
	}
	defer unmount()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out := map[string]counts{}
	for _, d := range dirs {
		work := filepath.Join(mnt, d)
		if err := os.Mkdir(work, 0o755); err != nil {
			return nil, err
		}
		// cd in the shell: a chdir into the mount between fork and exec
		// of a process that serves the mount can deadlock.
		cmd := exec.CommandContext(ctx, "sh", "-c", "cd "+shellQuote(work)+" && exec prove -v -r "+shellQuote(filepath.Join(tree, "tests", d)))
		cmd.Stderr = nil
		b, _ := cmd.Output() // prove exits non-zero when a test fails
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: stopped (timeout %s or a signal)", d, timeout)
		}
		c := parseProve(string(b))
		c.fails = failures(string(b))
		out[d] = c
	}
	return out, nil
}

var (
	failedRe = regexp.MustCompile(`Failed (\d+)/(\d+) subtests`)
	testsRe  = regexp.MustCompile(`Files=\d+, Tests=(\d+)`)
	planRe   = regexp.MustCompile(`Parse errors: Bad plan.  You planned (\d+) tests but ran (\d+)`)
)

// parseProve counts subtests and failures from prove's summary. Tests a
// file planned but never ran (it died) count as failed.
func parseProve(out string) counts {
	var c counts
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if m := failedRe.FindStringSubmatch(line); m != nil {
			n, _ := strconv.Atoi(m[1])
			c.failed += n
		}
		if m := planRe.FindStringSubmatch(line); m != nil {
			planned, _ := strconv.Atoi(m[1])
			ran, _ := strconv.Atoi(m[2])
			if planned > ran {
				c.failed += planned - ran
				c.tests += planned - ran
			}
		}
		if m := testsRe.FindStringSubmatch(line); m != nil {
			n, _ := strconv.Atoi(m[1])
			c.tests += n
		}
	}
	return c
}

var fileRe = regexp.MustCompile(`^(\S+\.t) \.*`)

// failures lists the failed subtests in prove -v output by file and number.
func failures(out string) map[string]string {
	fails := map[string]string{}
	file := ""
	for _, line := range strings.Split(out, "\n") {
		if m := fileRe.FindStringSubmatch(line); m != nil {
			file = filepath.Base(m[1])
			continue
		}
		rest, ok := strings.CutPrefix(line, "not ok ")
		if !ok {
			continue
		}
		num, _, _ := strings.Cut(rest, " ")
		fails[file+" #"+num] = line
	}
	return fails
}

// beyond lists the failures of a that b does not have.
func beyond(a, b counts) []string {
	var out []string
	for k, line := range a.fails {
		if _, ok := b.fails[k]; !ok {
			out = append(out, k+": "+line)
		}
	}
	sort.Strings(out)
	return out
}

// mount mounts backend at mnt, its data under base.
func mount(backend, base, mnt string) (func(), error) {
	mo := fuse.MountOptions{AllowOther: true, FsName: backend, Options: []string{"default_permissions"}}
	switch backend {
	case "hyperfs":
		dir := filepath.Join(base, "store")
		store, err := corestore.Open(dir, corestore.Options{})
		if err != nil {
			return nil, err
		}
		d, err := hyperdrive.Open(context.Background(), store, hyperdrive.Options{})
		if err != nil {
			store.Close()
			return nil, err
		}
		quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
		server, err := hfs.Mount(mnt, hfs.NewDrive(d, dir), hfs.Options{AllowOther: true, StagingDir: base, Logger: quiet})
		if err != nil {
			d.Close()
			store.Close()
			return nil, err
		}
		return func() {
			unmountServer(server, mnt)
			d.Close()
			store.Close()
		}, nil
	case "loopback":
		local := filepath.Join(base, "local")
		if err := os.Mkdir(local, 0o755); err != nil {
			return nil, err
		}
		root, err := fusefs.NewLoopbackRoot(local)
		if err != nil {
			return nil, err
		}
		server, err := fusefs.Mount(mnt, root, &fusefs.Options{MountOptions: mo, NullPermissions: true})
		if err != nil {
			return nil, err
		}
		return func() { unmountServer(server, mnt) }, nil
	case "nodev":
		// The loopback without what a drive cannot hold: mknod of
		// anything but a regular file (fifos, sockets, devices) and
		// link fail with EPERM, as on hyperfs. Its failures are the
		// ones a file system without those types has.
		local := filepath.Join(base, "local")
		if err := os.Mkdir(local, 0o755); err != nil {
			return nil, err
		}
		root, err := fusefs.NewLoopbackRoot(local)
		if err != nil {
			return nil, err
		}
		rootNode := &noDevNode{root.(*fusefs.LoopbackNode)}
		server, err := fusefs.Mount(mnt, rootNode, &fusefs.Options{MountOptions: mo, NullPermissions: true})
		if err != nil {
			return nil, err
		}
		return func() { unmountServer(server, mnt) }, nil
	case "tmpfs":
		if err := syscall.Mount("pjdbench", mnt, "tmpfs", 0, "mode=0755"); err != nil {
			return nil, fmt.Errorf("mount -t tmpfs: %w", err)
		}
		return func() { syscall.Unmount(mnt, syscall.MNT_DETACH) }, nil
	}
	return nil, fmt.Errorf("unknown file system %q (hyperfs, nodev, loopback or tmpfs)", backend)
}

// noDevNode is a loopback node that holds only regular files,
// directories and symlinks, and no hard links.
type noDevNode struct{ *fusefs.LoopbackNode }

// WrapChild makes every node of the mount a noDevNode.
func (n *noDevNode) WrapChild(ctx context.Context, ops fusefs.InodeEmbedder) fusefs.InodeEmbedder {
	return &noDevNode{ops.(*fusefs.LoopbackNode)}
}

func (n *noDevNode) Mknod(ctx context.Context, name string, mode, rdev uint32, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	if t := mode & syscall.S_IFMT; t != 0 && t != syscall.S_IFREG {
		return nil, syscall.EPERM
	}
	return n.LoopbackNode.Mknod(ctx, name, mode, rdev, out)
}

func (n *noDevNode) Link(ctx context.Context, target fusefs.InodeEmbedder, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	return nil, syscall.EPERM
}

func unmountServer(server *fuse.Server, mnt string) {
	for range 50 {
		if server.Unmount() == nil {
			server.Wait()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	exec.Command("fusermount3", "-u", "-z", mnt).Run()
}

func print(dirs, names []string, results map[string]map[string]counts) {
	tw := tabwriter.NewWriter(os.Stdout, 2, 8, 2, ' ', tabwriter.AlignRight)
	_, haveRef := results["nodev"]
	fmt.Fprint(tw, "directory\tsubtests\t")
	for _, n := range names {
		fmt.Fprintf(tw, "%s failed\t", n)
	}
	if haveRef {
		fmt.Fprint(tw, "hyperfs beyond nodev\t")
	}
	fmt.Fprintln(tw, "\t")
	totals := map[string]int{}
	extra, tests := 0, 0
	var extraLines []string
	for _, d := range dirs {
		var n int
		for _, b := range names {
			if c, ok := results[b][d]; ok && c.tests > n {
				n = c.tests
			}
		}
		tests += n
		fmt.Fprintf(tw, "%s\t%d\t", d, n)
		for _, b := range names {
			c, ok := results[b][d]
			if !ok {
				fmt.Fprint(tw, "not run\t")
				continue
			}
			totals[b] += c.failed
			fmt.Fprintf(tw, "%d\t", c.failed)
		}
		if haveRef {
			h, ok1 := results["hyperfs"][d]
			r, ok2 := results["nodev"][d]
			if ok1 && ok2 {
				lines := beyond(h, r)
				extra += len(lines)
				for _, l := range lines {
					extraLines = append(extraLines, d+"/"+l)
				}
				fmt.Fprintf(tw, "%d\t", len(lines))
			} else {
				fmt.Fprint(tw, "-\t")
			}
		}
		fmt.Fprintf(tw, "%s\t\n", byDesign[d])
	}
	fmt.Fprintf(tw, "total\t%d\t", tests)
	for _, b := range names {
		fmt.Fprintf(tw, "%d\t", totals[b])
	}
	if haveRef {
		fmt.Fprintf(tw, "%d\t", extra)
	}
	fmt.Fprintln(tw, "\t")
	tw.Flush()
	if haveRef {
		fmt.Println("\nnodev: the go-fuse loopback refusing what a drive cannot hold (fifos, sockets, device nodes, hard")
		fmt.Println("links) with EPERM. \"hyperfs beyond nodev\": subtests failing on hyperfs but not there. By design")
		fmt.Println("among them: atime (a drive stores none; atime shows mtime) and a directory's link count (1, as on")
		fmt.Println("btrfs: counting subdirectories would list the directory at every stat).")
		if verbose {
			for _, l := range extraLines {
				fmt.Println(l)
			}
		}
	}
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func fatal(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "pjdbench: "+format+"\n", args...)
	os.Exit(1)
}
