// Command feedbench measures hyperfs's hypercore feeds against the
// JavaScript reference (hypercore 9.12) on this machine, in one run, and
// prints a table of times, throughputs, ratios and peak RSS.
//
//	go run ./bench/feedbench                # full sizes
//	go run ./bench/feedbench -scale 0.1     # a tenth of every size
//
// Every case runs in its own process (the reference's through node
// integration/js/scripts/feed-bench.js, ours through this binary re-run with
// -child), so peak RSS is per case; only the operation itself is timed. The
// cases and block contents are the same on both sides.
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
	"github.com/hyperfs/hyperfs/hypercore"
	"github.com/hyperfs/hyperfs/integration/jsref"
)

// benchCase mirrors feed-bench.js's CASES.
type benchCase struct {
	kind         string // append, read-seq, get-random
	blocks, size int
	batch, pool  int
	gets         int
}

var cases = map[string]benchCase{
	jsref.BenchAppend1KSingle: {kind: "append", blocks: 100000, size: 1024, batch: 1, pool: 1024},
	jsref.BenchAppend1KBatch:  {kind: "append", blocks: 100000, size: 1024, batch: 1000, pool: 1024},
	jsref.BenchAppend64K:      {kind: "append", blocks: 4096, size: 65536, batch: 16, pool: 16},
	jsref.BenchReadSeq:        {kind: "read-seq"},
	jsref.BenchGetRandom:      {kind: "get-random", gets: 10000},
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
	dir := flag.String("dir", "", "feed directory for -child")
	ops := flag.Int("ops", 0, "block or get count for -child (0: the case's own)")
	scale := flag.Float64("scale", 1, "fraction of every case's size to run")
	cacheMiB := flag.Int64("cache", 64, "cache budget of the Go feed in MiB")
	flag.Parse()
	if *child {
		// As the hyperfs command does: the heap may use the cache budget
		// plus working room, and the collector works harder near it.
		debug.SetMemoryLimit(*cacheMiB<<20 + 64<<20)
		res, err := runGo(*caseName, *dir, *ops, *cacheMiB<<20)
		if err != nil {
			fmt.Fprintln(os.Stderr, "feedbench:", err)
			os.Exit(1)
		}
		json.NewEncoder(os.Stdout).Encode(res)
		return
	}
	if err := drive(*scale, *cacheMiB); err != nil {
		fmt.Fprintln(os.Stderr, "feedbench:", err)
		os.Exit(1)
	}
}

// drive runs every series for both implementations and prints the table.
func drive(scale float64, cacheMiB int64) error {
	series := []struct {
		label, appendCase string
	}{
		{"1 KiB blocks, one per append", jsref.BenchAppend1KSingle},
		{"1 KiB blocks, 1000 per append", jsref.BenchAppend1KBatch},
		{"64 KiB blocks, 256 MiB", jsref.BenchAppend64K},
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "feedbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "case\tseries\tJS s\tGo s\tJS MB/s\tGo MB/s\tGo/JS speed\tJS peak RSS MiB\tGo peak RSS MiB\t\n")
	for _, s := range series {
		for _, name := range []string{s.appendCase, jsref.BenchReadSeq, jsref.BenchGetRandom} {
			c := cases[name]
			n := c.blocks
			if c.kind == "get-random" {
				n = c.gets
			}
			ops := 0
			if scale != 1 && n > 0 {
				ops = max(1, int(float64(n)*scale))
			}
			js, err := runChild(filepath.Join(tmp, "js-"+s.appendCase), "node", jsArgs(name, filepath.Join(tmp, "js-"+s.appendCase), ops)...)
			if err != nil {
				return fmt.Errorf("reference %s: %w", name, err)
			}
			goArgs := []string{"-child", "-case", name, "-dir", filepath.Join(tmp, "go-"+s.appendCase),
				"-ops", strconv.Itoa(ops), "-cache", strconv.FormatInt(cacheMiB, 10)}
			gr, err := runChild("", self, goArgs...)
			if err != nil {
				return fmt.Errorf("hyperfs %s: %w", name, err)
			}
			if js.Ops != gr.Ops || js.Bytes != gr.Bytes {
				return fmt.Errorf("%s: JS did %d ops / %d bytes, Go %d / %d", name, js.Ops, js.Bytes, gr.Ops, gr.Bytes)
			}
			fmt.Fprintf(os.Stderr, "done: %s (%s)\n", name, s.label)
			fmt.Fprintf(tw, "%s\t%s\t%.3f\t%.3f\t%.1f\t%.1f\t%.2f×\t%.0f\t%.0f\t\n", name, s.label,
				js.Seconds, gr.Seconds, mbps(js), mbps(gr), js.Seconds/gr.Seconds,
				float64(js.PeakRSS)/(1<<20), float64(gr.PeakRSS)/(1<<20))
		}
	}
	tw.Flush()
	fmt.Printf("\nGo cache budget %d MiB. Speed ratio = JS time / Go time (higher is better for Go).\n", cacheMiB)
	return nil
}

func mbps(r result) float64 { return float64(r.Bytes) / (1 << 20) / r.Seconds }

func jsArgs(name, dir string, ops int) []string {
	jsDir, err := jsref.Dir()
	if err != nil {
		jsDir = "integration/js"
	}
	args := []string{filepath.Join(jsDir, "scripts", "feed-bench.js"), dir, name}
	if ops > 0 {
		args = append(args, "--ops", strconv.Itoa(ops))
	}
	return args
}

// runChild runs one case in a child process and adds its peak RSS.
func runChild(_ string, prog string, args ...string) (result, error) {
	var r result
	rss, err := child.Run(&r, prog, args...)
	r.PeakRSS = rss
	return r, err
}

// runGo is the Go side of one case, timed like feed-bench.js times it.
func runGo(name, dir string, ops int, cacheBytes int64) (result, error) {
	c, ok := cases[name]
	if !ok {
		return result{}, fmt.Errorf("unknown case %q", name)
	}
	ch, err := cache.New(cache.Options{MaxBytes: cacheBytes})
	if err != nil {
		return result{}, err
	}
	defer ch.Close()
	f, err := hypercore.Open(dir, hypercore.Options{Cache: ch, MustExist: c.kind != "append"})
	if err != nil {
		return result{}, err
	}
	defer f.Close()
	ctx := context.Background()
	res := result{Case: name}
	switch c.kind {
	case "append":
		blocks := c.blocks
		if ops > 0 {
			blocks = ops
		}
		pool := make([][]byte, c.pool)
		for j := range pool {
			pool[j] = make([]byte, c.size)
			jsref.Fill(pool[j], uint32(j))
		}
		if f.Length() != 0 {
			return res, fmt.Errorf("%s already holds a feed", dir)
		}
		batch := make([][]byte, 0, c.batch)
		t0 := time.Now()
		for i := 0; i < blocks; i += c.batch {
			batch = batch[:0]
			for k := 0; k < min(c.batch, blocks-i); k++ {
				batch = append(batch, pool[(i+k)%c.pool])
			}
			if _, err := f.Append(batch...); err != nil {
				return res, err
			}
		}
		res.Seconds = time.Since(t0).Seconds()
		res.Ops, res.Bytes = uint64(blocks), f.ByteLength()
	case "read-seq":
		n := f.Length()
		if ops > 0 {
			n = min(n, uint64(ops))
		}
		t0 := time.Now()
		for i := range n {
			b, err := f.Get(ctx, i)
			if err != nil {
				return res, err
			}
			res.Bytes += uint64(len(b))
		}
		res.Seconds = time.Since(t0).Seconds()
		res.Ops = n
	case "get-random":
		gets := c.gets
		if ops > 0 {
			gets = ops
		}
		next := jsref.Rand(42)
		idx := make([]uint64, gets)
		for k := range idx {
			idx[k] = uint64(next()) % f.Length()
		}
		t0 := time.Now()
		for _, i := range idx {
			b, err := f.Get(ctx, i)
			if err != nil {
				return res, err
			}
			res.Bytes += uint64(len(b))
		}
		res.Seconds = time.Since(t0).Seconds()
		res.Ops = uint64(gets)
	}
	return res, nil
}
