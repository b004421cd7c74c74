// Command replbench measures hypercore replication over loopback TCP between
// every pair of implementations — JS→JS, JS→Go, Go→JS, Go→Go (uploader →
// downloader) — in one run, and prints a table of times, throughputs,
// ratios to JS→JS, bytes on the wire and peak RSS.
//
//	go run ./bench/replbench                       # full sizes
//	go run ./bench/replbench -scale 0.1            # a tenth of every size
//	go run ./bench/replbench -cpuprofile /tmp/p    # profile the Go→Go downloader
//
// Cases: 256 MiB in 64 KiB blocks and 100,000 × 1 KiB blocks, each fully
// downloaded by a non-sparse, non-live replica (the stream ends when done);
// and 1,000 sequential random Gets (mulberry32(42)) by a sparse live replica
// from a 1 GiB feed of 64 KiB blocks. Each side runs in its own process
// (the reference through node integration/js/scripts/repl-bench.js, ours
// through this binary re-run with -child), so peak RSS is per side; Go feeds
// get a 64 MiB node/block cache, as in bench/feedbench. The
// source feeds are written once, by Go, and served by both uploaders.
// Time runs from the downloader's connect to its last block stored.
package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/hyperfs/hyperfs/cache"
	"github.com/hyperfs/hyperfs/hypercore"
	"github.com/hyperfs/hyperfs/hypercore/replication"
	"github.com/hyperfs/hyperfs/integration/jsref"
)

// result is what a downloader prints (both implementations).
type result struct {
	Seconds   float64 `json:"seconds"`
	Blocks    uint64  `json:"blocks"`
	Bytes     uint64  `json:"bytes"`
	WireBytes uint64  `json:"wireBytes"`
	PeakRSS   uint64  `json:"-"`
	UpRSS     uint64  `json:"-"`
	DownCPU   float64 `json:"-"` // user+system seconds of each process
	UpCPU     float64 `json:"-"`
}

type benchCase struct {
	name         string
	blocks, size int
	gets         int // sparse random gets; 0 = full download
}

func main() {
	child := flag.String("child", "", "run one side in this process: up or down (internal)")
	dir := flag.String("dir", "", "feed directory for -child")
	key := flag.String("key", "", "feed key (hex) for -child down")
	port := flag.Int("port", 0, "uploader port for -child down")
	gets := flag.Int("gets", 0, "random gets for -child down (sparse)")
	length := flag.Int("length", 0, "feed length for -gets")
	live := flag.Bool("live", false, "live stream for -child up")
	scale := flag.Float64("scale", 1, "fraction of every case's size to run")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the Go→Go downloader (and uploader, .up) here")
	only := flag.String("case", "", "run only the case with this name prefix (64k, 1k, sparse)")
	flag.Parse()
	var err error
	switch *child {
	case "up":
		err = runUp(*dir, *live, *cpuprofile)
	case "down":
		err = runDown(*dir, *key, *port, *gets, *length, *cpuprofile)
	case "":
		err = drive(*scale, *cpuprofile, *only)
	default:
		err = fmt.Errorf("unknown -child %q", *child)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "replbench:", err)
		os.Exit(1)
	}
}

func drive(scale float64, cpuprofile, only string) error {
	cases := []benchCase{
		{name: "64k: 256 MiB, 64 KiB blocks", blocks: 4096, size: 64 << 10},
		{name: "1k: 100,000 × 1 KiB blocks", blocks: 100000, size: 1 << 10},
		{name: "sparse: 1,000 random gets, 1 GiB feed", blocks: 16384, size: 64 << 10, gets: 1000},
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	jsDir, err := jsref.Dir()
	if err != nil {
		return err
	}
	script := filepath.Join(jsDir, "scripts", "repl-bench.js")
	tmp, err := os.MkdirTemp("", "replbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "case\tup→down\ts\tMB/s\tvs JS→JS\twire MB\tdown RSS MiB\tup RSS MiB\tdown CPU s\tup CPU s\t\n")
	for _, c := range cases {
		if only != "" && (len(c.name) < len(only) || c.name[:len(only)] != only) {
			continue
		}
		if scale != 1 {
			c.blocks = max(1, int(float64(c.blocks)*scale))
			if c.gets > 0 {
				c.gets = max(1, int(float64(c.gets)*scale))
			}
		}
		src := filepath.Join(tmp, "src")
		os.RemoveAll(src)
		fkey, err := writeSource(src, c.blocks, c.size)
		if err != nil {
			return err
		}
		var base float64
		for _, pair := range []struct{ name, up, down string }{
			{"JS→JS", "js", "js"}, {"JS→Go", "js", "go"}, {"Go→JS", "go", "js"}, {"Go→Go", "go", "go"},
		} {
			prof := ""
			if pair.name == "Go→Go" {
				prof = cpuprofile
			}
			dst := filepath.Join(tmp, "dst")
			os.RemoveAll(dst)
			r, err := runPair(self, script, pair.up, pair.down, src, dst, fkey, c, prof)
			os.RemoveAll(dst)
			if err != nil {
				return fmt.Errorf("%s %s: %w", c.name, pair.name, err)
			}
			if pair.name == "JS→JS" {
				base = r.Seconds
			}
			fmt.Fprintf(tw, "%s\t%s\t%.3f\t%.1f\t%.2fx\t%.1f\t%.0f\t%.0f\t%.2f\t%.2f\t\n", c.name, pair.name, r.Seconds,
				float64(r.Bytes)/(1<<20)/r.Seconds, base/r.Seconds, float64(r.WireBytes)/(1<<20),
				float64(r.PeakRSS)/(1<<20), float64(r.UpRSS)/(1<<20), r.DownCPU, r.UpCPU)
		}
	}
	tw.Flush()
	fmt.Println("\nvs JS→JS = JS→JS time / this time (higher is faster). MB/s counts block bytes stored by the downloader.")
	fmt.Println("CPU s = user+system seconds of the whole process (the uploader's includes its idle wait and setup).")
	return nil
}

// writeSource writes the feed every uploader serves.
func writeSource(dir string, blocks, size int) (string, error) {
	f, err := hypercore.Open(dir, hypercore.Options{})
	if err != nil {
		return "", err
	}
	defer f.Close()
	pool := make([][]byte, 64)
	for j := range pool {
		pool[j] = make([]byte, size)
		jsref.Fill(pool[j], uint32(j))
	}
	batch := make([][]byte, 0, 256)
	for i := 0; i < blocks; i += cap(batch) {
		batch = batch[:0]
		for k := i; k < min(blocks, i+cap(batch)); k++ {
			b := append([]byte(nil), pool[k%len(pool)]...)
			b[0], b[1], b[2], b[3] = byte(k), byte(k>>8), byte(k>>16), byte(k>>24) // distinct blocks
			batch = append(batch, b)
		}
		if _, err := f.Append(batch...); err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(f.Key()), nil
}

func runPair(self, script, up, down, src, dst, key string, c benchCase, prof string) (result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	var upCmd *exec.Cmd
	live := c.gets > 0
	if up == "js" {
		args := []string{script, "up", src}
		if live {
			args = append(args, "--live")
		}
		upCmd = exec.CommandContext(ctx, "node", args...)
	} else {
		args := []string{"-child", "up", "-dir", src}
		if live {
			args = append(args, "-live")
		}
		if prof != "" {
			args = append(args, "-cpuprofile", prof+".up")
		}
		upCmd = exec.CommandContext(ctx, self, args...)
	}
	upCmd.Stderr = os.Stderr
	upOut, err := upCmd.StdoutPipe()
	if err != nil {
		return result{}, err
	}
	if err := upCmd.Start(); err != nil {
		return result{}, err
	}
	defer upCmd.Process.Kill()
	sc := bufio.NewScanner(upOut)
	if !sc.Scan() {
		upCmd.Wait()
		return result{}, fmt.Errorf("uploader printed no port")
	}
	var hello struct{ Port int }
	if err := json.Unmarshal(sc.Bytes(), &hello); err != nil {
		return result{}, fmt.Errorf("uploader: %q: %w", sc.Bytes(), err)
	}
	go func() {
		for sc.Scan() {
		}
	}()

	var downCmd *exec.Cmd
	p := strconv.Itoa(hello.Port)
	if down == "js" {
		args := []string{script, "down", dst, key, p}
		if c.gets > 0 {
			args = append(args, "--gets", strconv.Itoa(c.gets), "--length", strconv.Itoa(c.blocks))
		}
		downCmd = exec.CommandContext(ctx, "node", args...)
	} else {
		args := []string{"-child", "down", "-dir", dst, "-key", key, "-port", p}
		if c.gets > 0 {
			args = append(args, "-gets", strconv.Itoa(c.gets), "-length", strconv.Itoa(c.blocks))
		}
		if prof != "" {
			args = append(args, "-cpuprofile", prof)
		}
		downCmd = exec.CommandContext(ctx, self, args...)
	}
	downCmd.Stderr = os.Stderr
	outb, err := downCmd.Output()
	if err != nil {
		return result{}, fmt.Errorf("downloader: %w", err)
	}
	var r result
	if err := json.Unmarshal(lastLine(outb), &r); err != nil {
		return result{}, fmt.Errorf("downloader output %q: %w", outb, err)
	}
	if ru, ok := downCmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.PeakRSS = uint64(ru.Maxrss) * 1024
	}
	r.DownCPU = (downCmd.ProcessState.UserTime() + downCmd.ProcessState.SystemTime()).Seconds()
	waitErr := make(chan error, 1)
	go func() { waitErr <- upCmd.Wait() }()
	select {
	case <-waitErr:
	case <-time.After(10 * time.Second):
		upCmd.Process.Kill()
		<-waitErr
	}
	if upCmd.ProcessState != nil {
		if ru, ok := upCmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			r.UpRSS = uint64(ru.Maxrss) * 1024
		}
		r.UpCPU = (upCmd.ProcessState.UserTime() + upCmd.ProcessState.SystemTime()).Seconds()
	}
	want := uint64(c.blocks)
	if c.gets > 0 {
		want = 0 // repeated indexes are fetched once
	}
	if want > 0 && r.Blocks != want {
		return r, fmt.Errorf("downloaded %d blocks, want %d", r.Blocks, want)
	}
	return r, nil
}

func lastLine(b []byte) []byte {
	lines := splitLines(b)
	if len(lines) == 0 {
		return nil
	}
	return lines[len(lines)-1]
}

func splitLines(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		i := 0
		for i < len(b) && b[i] != '\n' {
			i++
		}
		if i > 0 {
			out = append(out, b[:i])
		}
		if i == len(b) {
			break
		}
		b = b[i+1:]
	}
	return out
}

func startProfile(path string) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// cacheBytes is the Go feeds' node and block cache (as bench/feedbench).
const cacheBytes = 64 << 20

// runUp serves the feed in dir to the first peer that connects.
func runUp(dir string, live bool, prof string) error {
	ch, err := cache.New(cache.Options{MaxBytes: cacheBytes})
	if err != nil {
		return err
	}
	defer ch.Close()
	f, err := hypercore.Open(dir, hypercore.Options{MustExist: true, Cache: ch})
	if err != nil {
		return err
	}
	defer f.Close()
	r := replication.NewReplicator(f, replication.Options{})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Printf("{\"port\":%d}\n", l.Addr().(*net.TCPAddr).Port)
	conn, err := l.Accept()
	l.Close()
	if err != nil {
		return err
	}
	stop, err := startProfile(prof)
	if err != nil {
		return err
	}
	defer stop()
	s, err := replication.NewStream(context.Background(), conn, replication.Config{Live: live})
	if err != nil {
		return err
	}
	if _, err := s.Replicate(r, replication.PeerOptions{}); err != nil {
		return err
	}
	s.Wait(context.Background()) // a live stream ends when the downloader goes
	fmt.Printf("{\"bytesSent\":%d}\n", s.BytesWritten())
	return nil
}

// runDown downloads (all, or gets random blocks sparsely) from port.
func runDown(dir, keyHex string, port, gets, length int, prof string) error {
	key, err := hex.DecodeString(keyHex)
	if err != nil {
		return err
	}
	sparse := gets > 0
	ch, err := cache.New(cache.Options{MaxBytes: cacheBytes})
	if err != nil {
		return err
	}
	defer ch.Close()
	f, err := hypercore.Open(dir, hypercore.Options{PublicKey: key, Sparse: sparse, Cache: ch})
	if err != nil {
		return err
	}
	defer f.Close()
	r := replication.NewReplicator(f, replication.Options{})
	stop, err := startProfile(prof)
	if err != nil {
		return err
	}
	conn, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return err
	}
	t0 := time.Now()
	ctx := context.Background()
	s, err := replication.NewStream(ctx, conn, replication.Config{Initiator: true, Live: sparse})
	if err != nil {
		return err
	}
	if _, err := s.Replicate(r, replication.PeerOptions{}); err != nil {
		return err
	}
	if sparse {
		next := jsref.Rand(42)
		for range gets {
			if _, err := f.Get(ctx, uint64(next())%uint64(length)); err != nil {
				return err
			}
		}
	} else if err := s.Wait(ctx); err != nil {
		return err
	}
	secs := time.Since(t0).Seconds()
	stop()
	if !sparse && !f.HasRange(0, f.Length()) {
		return fmt.Errorf("incomplete download: %d of %d blocks", f.Downloaded(0, f.Length()), f.Length())
	}
	st := r.Stats()
	res := result{Seconds: secs, Blocks: st.DownloadedBlocks, Bytes: st.DownloadedBytes, WireBytes: s.BytesRead() + s.BytesWritten()}
	s.Close()
	return json.NewEncoder(os.Stdout).Encode(res)
}
