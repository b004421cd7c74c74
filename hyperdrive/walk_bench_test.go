package hyperdrive

import (
	"context"
	"fmt"
	"path"
	"syscall"
	"testing"
	"time"

	"github.com/hyperfs/hyperfs/cache"
	"github.com/hyperfs/hyperfs/corestore"
)

// The walk benchmarks match fusebench's find and ls -lR rows below the
// mount: a drive on disk holding 10,000 small files in 100 folders, opened
// afresh (an empty cache, as a new mount has) and listed folder by folder,
// as find does through READDIRPLUS; the Lstat variant also looks up every
// entry, as ls -lR's lookups do.

const walkFiles = 10000

// walkStore writes the tree to a store folder once per benchmark.
func walkStore(b *testing.B) string {
	b.Helper()
	dir := b.TempDir()
	s, err := corestore.Open(dir, corestore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	d, err := Open(context.Background(), s, Options{GroupCommit: DefaultGroupCommit})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for i := range walkFiles {
		name := fmt.Sprintf("/d%03d/f%05d.txt", i/100, i)
		w, err := d.Create(ctx, name, 0)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := w.Write([]byte(name + "\n")); err != nil {
			b.Fatal(err)
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
	must(b, d.Close())
	must(b, s.Close())
	return dir
}

// walk lists every folder of a freshly opened drive; lookup also Lstats
// every entry by path.
func walk(b *testing.B, dir string, lookup bool) {
	ctx := context.Background()
	ch, err := cache.New(cache.Options{MaxBytes: 256 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer ch.Close()
	s, err := corestore.Open(dir, corestore.Options{Cache: ch})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	d, err := Open(ctx, s, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	n := 0
	queue := []string{"/"}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		ents, err := d.Readdir(ctx, p)
		if err != nil {
			b.Fatal(err)
		}
		for _, e := range ents {
			c := path.Join(p, e.Name)
			if lookup {
				if _, err := d.Lstat(ctx, c); err != nil {
					b.Fatal(err)
				}
			}
			if e.Stat.IsDir() {
				queue = append(queue, c)
			} else {
				n++
			}
		}
	}
	if n != walkFiles {
		b.Fatalf("walked %d files, want %d", n, walkFiles)
	}
}

func BenchmarkWalkCold(b *testing.B) {
	dir := walkStore(b)
	for _, lookup := range []bool{false, true} {
		name := "Readdir"
		if lookup {
			name = "ReaddirLstat"
		}
		b.Run(name, func(b *testing.B) {
			cpu := cpuTime()
			for b.Loop() {
				walk(b, dir, lookup)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*walkFiles), "ns/file")
			// CPU time is steadier than wall time on a shared machine.
			b.ReportMetric(float64((cpuTime()-cpu).Nanoseconds())/float64(b.N*walkFiles), "cpu-ns/file")
		})
	}
}

// cpuTime is the CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
