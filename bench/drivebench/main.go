// Command drivebench measures hyperfs's hyperdrive against the JavaScript
// reference (hyperdrive 10.21 on corestore 5) on this machine, in one run,
// and prints a table of times, rates, ratios and peak RSS.
//
//	go run ./bench/drivebench                # full sizes
//	go run ./bench/drivebench -scale 0.1     # a tenth of every size
//
// Every case runs in its own process (the reference's through node
// integration/js/scripts/drive-bench.js, ours through this binary re-run
// with -child), so peak RSS is per case; only the operation itself is
// timed. The cases, paths and contents are the same on both sides:
// put-files writes 10,000 files of 100 bytes, stat-all stats each of them,
// list-all lists the drive recursively, read-big reads a 256 MiB file.
//
// cold-lookup stats one path of a remote drive of 100,000 files (written by
// hyperfs, served by JS hyperdrive through drive-serve.js) from an empty
// store over a fresh replication connection, timing connect to answer, and
// counts the metadata blocks each side fetched.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/hyperfs/hyperfs/bench/internal/child"
	"github.com/hyperfs/hyperfs/cache"
	"github.com/hyperfs/hyperfs/corestore"
	"github.com/hyperfs/hyperfs/hyperdrive"
	"github.com/hyperfs/hyperfs/integration/jsref"
)

// defaults mirror drive-bench.js's DEFAULTS: files, or MiB for read-big.
var defaults = map[string]int{"put-files": 10000, "stat-all": 10000, "list-all": 10000, "read-big": 256, "cold-lookup": 100000}

// order is the table's row order; stat-all and list-all reuse put-files's
// drive.
var order = []struct{ name, label, dir string }{
	{"put-files", "writeFile of 10k files of 100 B", "files"},
	{"stat-all", "stat of each of the 10k paths", "files"},
	{"list-all", "recursive readdir of 10k paths", "files"},
	{"read-big", "readFile of a 256 MiB file", "big"},
}

// result is one case's outcome, the JSON both sides print.
type result struct {
	Case    string  `json:"case"`
	Seconds float64 `json:"seconds"`
	Ops     uint64  `json:"ops"`
	Bytes   uint64  `json:"bytes"`
	PeakRSS uint64  `json:"-"`
}

func main() {
	child := flag.Bool("child", false, "run one case in this process (internal)")
	caseName := flag.String("case", "", "case to run with -child")
	dir := flag.String("dir", "", "store directory for -child")
	ops := flag.Int("ops", 0, "file count (MiB for read-big) for -child; 0: the case's own")
	scale := flag.Float64("scale", 1, "fraction of every case's size to run")
	cacheMiB := flag.Int64("cache", 64, "cache budget of the Go store in MiB")
	flag.StringVar(&remote.key, "key", "", "drive key for -child -case cold-lookup")
	flag.StringVar(&remote.port, "port", "", "server port for -child -case cold-lookup")
	flag.StringVar(&remote.path, "path", "", "path for -child -case cold-lookup")
	flag.Parse()
	if *child {
		debug.SetMemoryLimit(*cacheMiB<<20 + 64<<20)
		var res result
		var err error
		if *caseName == "cold-lookup" {
			res, err = coldLookup(*dir, *cacheMiB<<20)
		} else {
			res, err = runGo(*caseName, *dir, *ops, *cacheMiB<<20)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "drivebench:", err)
			os.Exit(1)
		}
		json.NewEncoder(os.Stdout).Encode(res)
		return
	}
	if err := compare(*scale, *cacheMiB); err != nil {
		fmt.Fprintln(os.Stderr, "drivebench:", err)
		os.Exit(1)
	}
}

// compare runs every case for both implementations and prints the table.
func compare(scale float64, cacheMiB int64) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "drivebench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	jsDir, err := jsref.Dir()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "case\twhat\tops\tJS s\tGo s\tJS ops/s\tGo ops/s\tGo/JS speed\tJS peak RSS MiB\tGo peak RSS MiB\t\n")
	for _, c := range order {
		n := max(1, int(float64(defaults[c.name])*scale))
		js, err := runChild("node", filepath.Join(jsDir, "scripts", "drive-bench.js"),
			filepath.Join(tmp, "js-"+c.dir), c.name, "--ops", strconv.Itoa(n))
		if err != nil {
			return fmt.Errorf("reference %s: %w", c.name, err)
		}
		gr, err := runChild(self, "-child", "-case", c.name, "-dir", filepath.Join(tmp, "go-"+c.dir),
			"-ops", strconv.Itoa(n), "-cache", strconv.FormatInt(cacheMiB, 10))
		if err != nil {
			return fmt.Errorf("hyperfs %s: %w", c.name, err)
		}
		if js.Ops != gr.Ops || js.Bytes != gr.Bytes {
			return fmt.Errorf("%s: JS did %d ops / %d bytes, Go %d / %d", c.name, js.Ops, js.Bytes, gr.Ops, gr.Bytes)
		}
		fmt.Fprintf(os.Stderr, "done: %s\n", c.name)
		rate := func(r result) string {
			if c.name == "read-big" {
				return fmt.Sprintf("%.0f MB/s", float64(r.Bytes)/(1<<20)/r.Seconds)
			}
			return fmt.Sprintf("%.0f", float64(r.Ops)/r.Seconds)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.3f\t%.3f\t%s\t%s\t%.2f×\t%.0f\t%.0f\t\n", c.name, c.label, gr.Ops,
			js.Seconds, gr.Seconds, rate(js), rate(gr), js.Seconds/gr.Seconds,
			float64(js.PeakRSS)/(1<<20), float64(gr.PeakRSS)/(1<<20))
	}
	if err := coldRow(tw, self, tmp, jsDir, scale, cacheMiB); err != nil {
		return err
	}
	tw.Flush()
	fmt.Printf("\nGo cache budget %d MiB. Speed ratio = JS time / Go time (higher is better for Go).\n", cacheMiB)
	fmt.Println("cold-lookup: ops/s columns give the metadata blocks each side fetched.")
	return nil
}

// runChild runs one case in a child process and adds its peak RSS.
func runChild(prog string, args ...string) (result, error) {
	var r result
	rss, err := child.Run(&r, prog, args...)
	r.PeakRSS = rss
	return r, err
}

func filePath(i int) string { return fmt.Sprintf("/d%02d/f%05d", i%100, i) }

func fileContent(i int) []byte {
	b := make([]byte, 100)
	copy(b, fmt.Sprintf("file %d", i))
	return b
}

// bigFile is lib/drive.js bigFile.
func bigFile(size int) []byte {
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(uint32(i)*31 + uint32(i)>>9)
	}
	return b
}

type opened struct {
	store *corestore.Store
	drive *hyperdrive.Drive
}

func open(dir string, ch *cache.Cache) (*opened, error) {
	s, err := corestore.Open(dir, corestore.Options{Cache: ch})
	if err != nil {
		return nil, err
	}
	d, err := hyperdrive.Open(context.Background(), s, hyperdrive.Options{})
	if err != nil {
		s.Close()
		return nil, err
	}
	return &opened{s, d}, nil
}

func (o *opened) close() error {
	err := o.drive.Close()
	if err2 := o.store.Close(); err == nil {
		err = err2
	}
	return err
}

// runGo is the Go side of one case, timed as drive-bench.js times it.
func runGo(name, dir string, n int, cacheBytes int64) (result, error) {
	if _, ok := defaults[name]; !ok {
		return result{}, fmt.Errorf("unknown case %q", name)
	}
	if n == 0 {
		n = defaults[name]
	}
	ch, err := cache.New(cache.Options{MaxBytes: cacheBytes})
	if err != nil {
		return result{}, err
	}
	defer ch.Close()
	o, err := open(dir, ch)
	if err != nil {
		return result{}, err
	}
	ctx := context.Background()
	res := result{Case: name}
	t0 := time.Now()
	switch name {
	case "put-files":
		for i := range n {
			if err := o.drive.WriteFile(ctx, filePath(i), fileContent(i), 0); err != nil {
				return res, err
			}
		}
		res.Seconds, res.Ops, res.Bytes = time.Since(t0).Seconds(), uint64(n), uint64(n)*100
	case "stat-all":
		for i := range n {
			st, err := o.drive.Stat(ctx, filePath(i))
			if err != nil {
				return res, err
			}
			res.Bytes += st.Size
		}
		res.Seconds, res.Ops = time.Since(t0).Seconds(), uint64(n)
	case "list-all":
		es, err := o.drive.ReaddirAll(ctx, "/")
		if err != nil {
			return res, err
		}
		res.Seconds, res.Ops = time.Since(t0).Seconds(), uint64(len(es))
	case "read-big":
		if err := o.drive.WriteFile(ctx, "/big.bin", bigFile(n<<20), 0); err != nil {
			return res, err
		}
		if err := o.close(); err != nil {
			return res, err
		}
		if o, err = open(dir, ch); err != nil {
			return res, err
		}
		t1 := time.Now()
		b, err := o.drive.ReadFile(ctx, "/big.bin")
		if err != nil {
			return res, err
		}
		res.Seconds, res.Ops, res.Bytes = time.Since(t1).Seconds(), 1, uint64(len(b))
	}
	return res, o.close()
}
