// Command linkbench measures remote reads over real, slow links: hyperfs
// and the JS reference (hyperdrive 10) side by side in one run, over the
// same links, against the links' own capacity.
//
//	go run ./bench/linkbench                      # full sizes, 3 runs
//	go run ./bench/linkbench -scale 0.25 -runs 1  # quicker
//	go run ./bench/linkbench -rows a,c            # some rows only
//
// It needs root, ip and tc (iproute2) and node. It builds network
// namespaces (internal/linksim): a reader and three seeders, each joined to
// a hub by a veth pair shaped by tc tbf to -rate (100 Mbit/s) both ways. In
// the hub a delay proxy (internal/delayproxy) forwards the reader's
// connections to the seeders, holding bytes -rtt/2 each way, as netem
// would. Everything is removed at the end, on error and on ^C.
//
// Rows, each median of -runs, the implementations interleaved:
//
//	a  cold cat of a 256 MiB file: hyperfs reads through its FUSE mount
//	   (cat of the file in the folder), JS through hyperdrive's
//	   createReadStream; against a plain TCP transfer of as many bytes
//	   through the same path (the link's capacity).
//	b  time to the first byte of a small file, from connecting to the
//	   first byte read (hyperfs: through its mount, mount time included).
//	c  three seeders, each link shaped to -rate/3 (33 Mbit/s): the reader
//	   pulls from all three at once; against -rate and against three
//	   parallel TCP transfers.
//	d  one seeder, 8 cold readers (hyperfs mounts, all in the reader's
//	   namespace) of a 32 MiB file: aggregate throughput, and the seeder's
//	   CPU seconds per GiB served, hyperfs's seeder against a JS seeder.
//
// Each role is its own process (this binary re-run with -child, or node
// integration/js/scripts/link-peer.js), in its namespace; readers say when
// they are ready and start together on a "go" line, so only the transfer
// is timed (and the connect, for row b).
package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/hyperfs/hyperfs/bench/internal/events"
	"github.com/hyperfs/hyperfs/integration/jsref"
	"github.com/hyperfs/hyperfs/internal/linksim"
)

// event is what every child prints.
type event struct {
	events.Event
	Key     string  `json:"key,omitempty"`
	CPU     float64 `json:"cpu,omitempty"`
	Seconds float64 `json:"seconds,omitempty"`
	Bytes   int64   `json:"bytes,omitempty"`
	Open    float64 `json:"open,omitempty"`   // hyperfs ttfb: seconds to open the drive and mount
	Lookup  float64 `json:"lookup,omitempty"` // hyperfs ttfb: then to open the file
	PeakRSS int64   `json:"peak_rss,omitempty"`
}

type proc = events.Proc[event]

// Ports of the seeders' services; the proxy listens on port+10*i for
// seeder i (1-based).
const (
	portGo  = 7000
	portJS  = 7001
	portTCP = 7100
)

func main() {
	child := flag.String("child", "", "run one role in this process (internal): setup, proxy, seed, read, tcp-send, tcp-recv")
	dir := flag.String("dir", "", "storage folder, for -child")
	port := flag.Int("port", 0, "port to listen on, for -child seed and tcp-send")
	peersFlag := flag.String("peers", "", "host:port,... to connect to, for -child read and tcp-recv")
	key := flag.String("key", "", "drive key, for -child read")
	path := flag.String("path", "/big", "file to read, for -child read")
	ttfb := flag.Bool("ttfb", false, "time to the first byte, for -child read")
	nbytes := flag.Int64("bytes", 0, "bytes to transfer, for -child tcp-recv")
	forward := flag.String("forward", "", "listen=to,... for -child proxy")
	delay := flag.Duration("delay", 0, "one-way delay, for -child proxy")
	cacheMiB := flag.Int64("cache", 256, "cache budget of hyperfs peers in MiB")

	rows := flag.String("rows", "a,b,c,d", "rows to run")
	runs := flag.Int("runs", 3, "runs of every row; the table shows medians")
	scale := flag.Float64("scale", 1, "fraction of every file size")
	rate := flag.String("rate", "100mbit", "rate of every link (tc syntax: 100mbit, 1gbit)")
	rtt := flag.Duration("rtt", 50*time.Millisecond, "round-trip time the proxy adds")
	readers := flag.Int("readers", 8, "cold readers in row d")
	flag.Parse()

	var err error
	switch *child {
	case "":
		err = driver(config{rows: strings.Split(*rows, ","), runs: max(1, *runs), scale: *scale,
			rate: *rate, rtt: *rtt, readers: *readers, cacheMiB: *cacheMiB})
	case "setup":
		err = setup(*dir, *scale)
	case "proxy":
		err = runProxy(*forward, *delay)
	case "seed":
		err = seed(*dir, *port, *cacheMiB)
	case "read":
		err = read(*dir, *key, strings.Split(*peersFlag, ","), *path, *ttfb, *cacheMiB)
	case "tcp-send":
		err = tcpSend(*port)
	case "tcp-recv":
		err = tcpRecv(strings.Split(*peersFlag, ","), *nbytes)
	default:
		err = fmt.Errorf("unknown -child %q", *child)
	}
	if err != nil {
		if *child != "" {
			emit(event{Event: events.Event{Event: "error", Error: err.Error()}})
		}
		fmt.Fprintln(os.Stderr, "linkbench:", err)
		os.Exit(1)
	}
}

type config struct {
	rows     []string
	runs     int
	scale    float64
	rate     string
	rtt      time.Duration
	readers  int
	cacheMiB int64
}

// bench is a built set-up: the namespaces, the proxy and the data.
type bench struct {
	cfg   config
	net   *linksim.Net
	exe   string
	jsDir string
	tmp   string
	key   string
	sizes sizes

	mu    sync.Mutex
	procs map[*proc]bool // running children, stopped on ^C
}

type sizes struct{ big, mid int64 }

func fileSizes(scale float64) sizes {
	return sizes{big: max(1<<20, int64(float64(256<<20)*scale)), mid: max(1<<20, int64(float64(32<<20)*scale))}
}

func driver(cfg config) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("linkbench builds network namespaces: run it as root")
	}
	if err := linksim.Tools(); err != nil {
		return err
	}
	rateBits, err := parseRate(cfg.rate)
	if err != nil {
		return err
	}
	b := &bench{cfg: cfg, sizes: fileSizes(cfg.scale), procs: map[*proc]bool{}}
	if b.exe, err = os.Executable(); err != nil {
		return err
	}
	if b.jsDir, err = jsref.Dir(); err != nil {
		return err
	}
	if b.tmp, err = os.MkdirTemp("", "linkbench-"); err != nil {
		return err
	}
	defer os.RemoveAll(b.tmp)

	// ^C and kill stop the children and remove the namespaces.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sig)
	go func() {
		if _, ok := <-sig; ok {
			fmt.Fprintln(os.Stderr, "linkbench: interrupted; cleaning up")
			b.stopAll()
			if b.net != nil {
				b.net.Close()
			}
			os.RemoveAll(b.tmp)
			os.Exit(130)
		}
	}()

	loadStart, _ := os.ReadFile("/proc/loadavg")
	fmt.Fprintln(os.Stderr, "writing the drive")
	var ev event
	if err := runOnce(&ev, exec.Command(b.exe, "-child", "setup", "-dir", b.storeDir(1), "-scale", fmt.Sprint(cfg.scale))); err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	b.key = ev.Key
	for i := 2; i <= 3; i++ {
		if out, err := exec.Command("cp", "-a", b.storeDir(1), b.storeDir(i)).CombinedOutput(); err != nil {
			return fmt.Errorf("copying the store: %v: %s", err, out)
		}
	}

	if b.net, err = linksim.New(4); err != nil {
		return err
	}
	defer func() { b.stopAll(); b.net.Close() }()
	for i := range 4 {
		if err := b.net.Shape(i, cfg.rate); err != nil {
			return err
		}
	}
	var fw []string
	for i := 1; i <= 3; i++ {
		for _, p := range []int{portGo, portJS, portTCP} {
			fw = append(fw, fmt.Sprintf("%s:%d=%s:%d", b.net.Hosts[0].HubIP, p+10*i, b.net.Hosts[i].IP, p))
		}
	}
	proxy, err := b.start(b.net.Hub, b.exe, "-child", "proxy", "-forward", strings.Join(fw, ","), "-delay", (cfg.rtt / 2).String())
	if err != nil {
		return err
	}
	defer b.stop(proxy)
	if _, err := proxy.Wait("ready", time.Minute); err != nil {
		return fmt.Errorf("proxy: %w", err)
	}

	mbit := func(bytes int64, s float64) float64 { return float64(bytes) * 8 / s / 1e6 }
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "row\tmeasure\thyperfs\tJS\tlink (TCP)\thyperfs/link\tJS/link\thyperfs/JS\t\n")
	row := func(name, measure string, h, j, l float64, higherBetter bool, unit string) {
		r := func(a, b float64) string {
			if a == 0 || b == 0 {
				return "-"
			}
			if higherBetter {
				return fmt.Sprintf("%.2f", a/b)
			}
			return fmt.Sprintf("%.2f", b/a)
		}
		v := func(x float64) string {
			if x == 0 {
				return "-"
			}
			return fmt.Sprintf("%.1f %s", x, unit)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", name, measure, v(h), v(j), v(l), r(h, l), r(j, l), r(h, j))
	}
	var notes []string
	has := func(r string) bool { return slices.Contains(cfg.rows, r) }

	if has("a") {
		var tcp, hy, js, rss, hyCPU, jsCPU []float64
		for run := range cfg.runs {
			fmt.Fprintf(os.Stderr, "row a, run %d\n", run+1)
			t, err := b.tcp([]int{1}, b.sizes.big)
			if err != nil {
				return fmt.Errorf("row a, TCP: %w", err)
			}
			tcp = append(tcp, mbit(t.bytes, t.seconds))
			h, err := b.measure("go", []int{1}, 1, "/big", false)
			if err != nil {
				return fmt.Errorf("row a, hyperfs: %w", err)
			}
			hy = append(hy, mbit(h.bytes, h.seconds))
			rss = append(rss, float64(h.peakRSS)/(1<<20))
			hyCPU = append(hyCPU, h.readerCPU/(float64(h.bytes)/(1<<30)))
			j, err := b.measure("js", []int{1}, 1, "/big", false)
			if err != nil {
				return fmt.Errorf("row a, JS: %w", err)
			}
			js = append(js, mbit(j.bytes, j.seconds))
			jsCPU = append(jsCPU, j.readerCPU/(float64(j.bytes)/(1<<30)))
		}
		row("a", fmt.Sprintf("cold cat %d MiB, Mbit/s", b.sizes.big>>20), median(hy), median(js), median(tcp), true, "")
		row("a", "reader CPU s per GiB", median(hyCPU), median(jsCPU), 0, false, "")
		notes = append(notes, fmt.Sprintf("a: hyperfs reader peak RSS %.0f MiB; runs (Mbit/s): hyperfs %s, JS %s, TCP %s",
			median(rss), list(hy), list(js), list(tcp)))
	}
	if has("b") {
		var hy, js, open, lookup []float64
		for run := range cfg.runs {
			fmt.Fprintf(os.Stderr, "row b, run %d\n", run+1)
			h, err := b.measure("go", []int{1}, 1, "/small.txt", true)
			if err != nil {
				return fmt.Errorf("row b, hyperfs: %w", err)
			}
			hy, open, lookup = append(hy, h.readerSeconds*1000), append(open, h.open*1000), append(lookup, h.lookup*1000)
			j, err := b.measure("js", []int{1}, 1, "/small.txt", true)
			if err != nil {
				return fmt.Errorf("row b, JS: %w", err)
			}
			js = append(js, j.readerSeconds*1000)
		}
		notes = append(notes, fmt.Sprintf("b: runs (ms): hyperfs %s, JS %s", list(hy), list(js)))
		row("b", "first byte of a small file, ms", median(hy), median(js), float64(cfg.rtt.Milliseconds()), false, "")
		notes = append(notes, fmt.Sprintf("b: hyperfs: %.0f ms to open the drive and mount, %.0f ms more to open the file, then the first read; link = one round trip",
			median(open), median(lookup)))
	}
	if has("c") {
		third := fmt.Sprintf("%dkbit", rateBits/3/1000)
		for i := 1; i <= 3; i++ {
			if err := b.net.Shape(i, third); err != nil {
				return err
			}
		}
		var tcp, hy, js []float64
		for run := range cfg.runs {
			fmt.Fprintf(os.Stderr, "row c, run %d\n", run+1)
			t, err := b.tcp([]int{1, 2, 3}, b.sizes.big)
			if err != nil {
				return fmt.Errorf("row c, TCP: %w", err)
			}
			tcp = append(tcp, mbit(t.bytes, t.seconds))
			h, err := b.measure("go", []int{1, 2, 3}, 1, "/big", false)
			if err != nil {
				return fmt.Errorf("row c, hyperfs: %w", err)
			}
			hy = append(hy, mbit(h.bytes, h.seconds))
			j, err := b.measure("js", []int{1, 2, 3}, 1, "/big", false)
			if err != nil {
				return fmt.Errorf("row c, JS: %w", err)
			}
			js = append(js, mbit(j.bytes, j.seconds))
		}
		for i := 1; i <= 3; i++ {
			if err := b.net.Shape(i, cfg.rate); err != nil {
				return err
			}
		}
		row("c", fmt.Sprintf("3 seeders × %s, Mbit/s", third), median(hy), median(js), median(tcp), true, "")
		nominal := float64(rateBits) / 1e6
		notes = append(notes, fmt.Sprintf("c: of the %.0f Mbit/s the three links sum to: hyperfs %.2f, JS %.2f, TCP %.2f; runs (Mbit/s): hyperfs %s, JS %s, TCP %s",
			nominal, median(hy)/nominal, median(js)/nominal, median(tcp)/nominal, list(hy), list(js), list(tcp)))
	}
	if has("d") {
		var hy, js, hyCPU, jsCPU []float64
		for run := range cfg.runs {
			fmt.Fprintf(os.Stderr, "row d, run %d\n", run+1)
			h, err := b.measure("go", []int{1}, cfg.readers, "/mid", false)
			if err != nil {
				return fmt.Errorf("row d, hyperfs seeder: %w", err)
			}
			hy, hyCPU = append(hy, mbit(h.bytes, h.seconds)), append(hyCPU, h.seederCPU/(float64(h.bytes)/(1<<30)))
			j, err := b.measure("js-seeder", []int{1}, cfg.readers, "/mid", false)
			if err != nil {
				return fmt.Errorf("row d, JS seeder: %w", err)
			}
			js, jsCPU = append(js, mbit(j.bytes, j.seconds)), append(jsCPU, j.seederCPU/(float64(j.bytes)/(1<<30)))
		}
		row("d", fmt.Sprintf("%d readers × %d MiB, Mbit/s", cfg.readers, b.sizes.mid>>20), median(hy), median(js), float64(rateBits)/1e6, true, "")
		row("d", "seeder CPU s per GiB served", median(hyCPU), median(jsCPU), 0, false, "")
		notes = append(notes, fmt.Sprintf("d: the readers are hyperfs mounts in both; only the seeder differs; link = the nominal rate; runs (Mbit/s): hyperfs seeder %s, JS seeder %s",
			list(hy), list(js)))
	}
	tw.Flush()
	fmt.Printf("\nlinks %s, round trip +%v (delay proxy), medians of %d runs\n", cfg.rate, cfg.rtt, cfg.runs)
	for _, n := range notes {
		fmt.Println(n)
	}
	if out, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Printf("load average at the start: %sload average at the end:   %s", loadStart, out)
	}
	return nil
}

// parseRate reads a tc rate: a number with kbit, mbit or gbit.
func parseRate(s string) (int64, error) {
	for _, u := range []struct {
		suffix string
		mul    int64
	}{{"kbit", 1e3}, {"mbit", 1e6}, {"gbit", 1e9}} {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseFloat(n, 64)
			if err == nil && v > 0 {
				return int64(v * float64(u.mul)), nil
			}
		}
	}
	return 0, fmt.Errorf("-rate %q: want a number of kbit, mbit or gbit, e.g. 100mbit", s)
}

// list prints every run's figure.
func list(xs []float64) string {
	var parts []string
	for _, x := range xs {
		parts = append(parts, strconv.FormatFloat(x, 'f', 1, 64))
	}
	return strings.Join(parts, " ")
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func (b *bench) storeDir(i int) string { return filepath.Join(b.tmp, fmt.Sprintf("store%d", i)) }

// start runs argv in namespace ns as a child printing events.
func (b *bench) start(ns string, argv ...string) (*proc, error) {
	cmd := b.net.Command(ns, argv...)
	cmd.Dir = b.jsDir
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p, err := events.Start[event](cmd)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	b.procs[p] = true
	b.mu.Unlock()
	return p, nil
}

// stop asks p to finish (its stdin closes), so it cleans up after itself,
// and kills it if it has not ended in ten seconds.
func (b *bench) stop(p *proc) {
	b.mu.Lock()
	delete(b.procs, p)
	b.mu.Unlock()
	p.Stdin.Close()
	exited := make(chan struct{})
	go func() { p.Cmd.Wait(); close(exited) }()
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		p.Cmd.Process.Kill()
		<-exited
	}
}

func (b *bench) stopAll() {
	b.mu.Lock()
	ps := b.procs
	b.procs = map[*proc]bool{}
	b.mu.Unlock()
	for p := range ps {
		p.Stop()
	}
}

// outcome is one measurement.
type outcome struct {
	seconds       float64 // from "go" to the last reader done
	readerSeconds float64 // the slowest reader's own time
	open, lookup  float64 // hyperfs ttfb: time to open and mount, then to open the file
	bytes         int64   // read by all readers
	seederCPU     float64 // CPU seconds all seeders spent meanwhile
	peakRSS       int64   // the largest reader's
	readerCPU     float64 // CPU seconds all readers spent reading
}

// seeder starts a seeder of impl ("go" or "js") on seeder host i.
func (b *bench) seeder(impl string, i int) (*proc, error) {
	var p *proc
	var err error
	if impl == "go" {
		p, err = b.start(b.net.Hosts[i].NS, b.exe, "-child", "seed", "-dir", b.storeDir(i), "-port", strconv.Itoa(portGo), "-cache", strconv.FormatInt(b.cfg.cacheMiB, 10))
	} else {
		p, err = b.start(b.net.Hosts[i].NS, "node", filepath.Join(b.jsDir, "scripts", "link-peer.js"), "serve", b.storeDir(i), strconv.Itoa(portJS))
	}
	if err != nil {
		return nil, err
	}
	if _, err := p.Wait("ready", 2*time.Minute); err != nil {
		b.stop(p)
		return nil, fmt.Errorf("%s seeder: %w", impl, err)
	}
	return p, nil
}

// measure runs seeders on hosts seeders and n readers of path. impl "go"
// is hyperfs on both sides, "js" the reference on both sides, "js-seeder"
// a reference seeder with hyperfs readers.
func (b *bench) measure(impl string, seeders []int, n int, path string, ttfb bool) (outcome, error) {
	seedImpl, readImpl, port := "go", "go", portGo
	switch impl {
	case "js":
		seedImpl, readImpl, port = "js", "js", portJS
	case "js-seeder":
		seedImpl, port = "js", portJS
	}
	var seeds []*proc
	defer func() {
		for _, s := range seeds {
			b.stop(s)
		}
	}()
	var addrs []string
	for _, i := range seeders {
		s, err := b.seeder(seedImpl, i)
		if err != nil {
			return outcome{}, err
		}
		seeds = append(seeds, s)
		addrs = append(addrs, fmt.Sprintf("%s:%d", b.net.Hosts[0].HubIP, port+10*i))
	}
	var rds []*proc
	defer func() {
		for _, r := range rds {
			b.stop(r)
		}
	}()
	for k := range n {
		var argv []string
		if readImpl == "go" {
			dir := filepath.Join(b.tmp, fmt.Sprintf("reader%d", k))
			if err := os.RemoveAll(dir); err != nil { // cold: nothing of an earlier run
				return outcome{}, err
			}
			argv = []string{b.exe, "-child", "read", "-dir", dir, "-key", b.key,
				"-peers", strings.Join(addrs, ","), "-path", path, "-cache", strconv.FormatInt(b.cfg.cacheMiB, 10)}
			if ttfb {
				argv = append(argv, "-ttfb")
			}
		} else {
			argv = []string{"node", filepath.Join(b.jsDir, "scripts", "link-peer.js"), "read", b.key, strings.Join(addrs, ","), path}
			if ttfb {
				argv = append(argv, "--ttfb")
			}
		}
		r, err := b.start(b.net.Hosts[0].NS, argv...)
		if err != nil {
			return outcome{}, err
		}
		rds = append(rds, r)
	}
	for _, r := range rds {
		if _, err := r.Wait("ready", 5*time.Minute); err != nil {
			return outcome{}, fmt.Errorf("%s reader: %w", readImpl, err)
		}
	}
	cpu0, err := seederCPU(seeds)
	if err != nil {
		return outcome{}, err
	}
	start := time.Now()
	for _, r := range rds {
		io.WriteString(r.Stdin, "go\n")
	}
	var o outcome
	for _, r := range rds {
		ev, err := r.Wait("done", 20*time.Minute)
		if err != nil {
			return outcome{}, fmt.Errorf("%s reader: %w", readImpl, err)
		}
		o.bytes += ev.Bytes
		o.readerSeconds = max(o.readerSeconds, ev.Seconds)
		o.open = max(o.open, ev.Open)
		o.lookup = max(o.lookup, ev.Lookup)
		o.peakRSS = max(o.peakRSS, ev.PeakRSS)
		o.readerCPU += ev.CPU
	}
	o.seconds = time.Since(start).Seconds()
	cpu1, err := seederCPU(seeds)
	if err != nil {
		return outcome{}, err
	}
	o.seederCPU = cpu1 - cpu0
	return o, nil
}

// seederCPU asks every seeder for its CPU seconds so far.
func seederCPU(seeds []*proc) (float64, error) {
	var sum float64
	for _, s := range seeds {
		io.WriteString(s.Stdin, "stats\n")
		ev, err := s.Wait("stats", time.Minute)
		if err != nil {
			return 0, fmt.Errorf("seeder stats: %w", err)
		}
		sum += ev.CPU
	}
	return sum, nil
}

// tcp measures plain TCP through the same path: one stream from each of
// seeders, total bytes in all.
func (b *bench) tcp(seeders []int, total int64) (outcome, error) {
	var senders []*proc
	defer func() {
		for _, s := range senders {
			b.stop(s)
		}
	}()
	var addrs []string
	for _, i := range seeders {
		s, err := b.start(b.net.Hosts[i].NS, b.exe, "-child", "tcp-send", "-port", strconv.Itoa(portTCP))
		if err != nil {
			return outcome{}, err
		}
		senders = append(senders, s)
		if _, err := s.Wait("ready", time.Minute); err != nil {
			return outcome{}, fmt.Errorf("tcp sender: %w", err)
		}
		addrs = append(addrs, fmt.Sprintf("%s:%d", b.net.Hosts[0].HubIP, portTCP+10*i))
	}
	r, err := b.start(b.net.Hosts[0].NS, b.exe, "-child", "tcp-recv", "-peers", strings.Join(addrs, ","), "-bytes", strconv.FormatInt(total, 10))
	if err != nil {
		return outcome{}, err
	}
	defer b.stop(r)
	if _, err := r.Wait("ready", time.Minute); err != nil {
		return outcome{}, fmt.Errorf("tcp receiver: %w", err)
	}
	io.WriteString(r.Stdin, "go\n")
	ev, err := r.Wait("done", 20*time.Minute)
	if err != nil {
		return outcome{}, fmt.Errorf("tcp receiver: %w", err)
	}
	return outcome{seconds: ev.Seconds, readerSeconds: ev.Seconds, bytes: ev.Bytes}, nil
}

// runOnce runs cmd to its end and decodes its last event.
func runOnce(ev *event, cmd *exec.Cmd) error {
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%v: %s", err, stderr.String())
	}
	lines := bytes.Split(bytes.TrimSpace(out.Bytes()), []byte("\n"))
	return json.Unmarshal(lines[len(lines)-1], ev)
}

// emit prints one event line.
func emit(ev event) {
	b, _ := json.Marshal(ev)
	os.Stdout.Write(append(b, '\n'))
}

// waitLine reads the next line of stdin; false at its end.
var stdinLines = bufio.NewScanner(os.Stdin)

func waitLine() (string, bool) {
	if !stdinLines.Scan() {
		return "", false
	}
	return strings.TrimSpace(stdinLines.Text()), true
}

// waitGo waits for the driver's "go"; false if stdin ends first.
func waitGo() bool {
	for {
		l, ok := waitLine()
		if !ok {
			return false
		}
		if l == "go" {
			return true
		}
	}
}

// cpuSeconds is this process's user and system time.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func peakRSS() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Maxrss * 1024
}

// serveStats answers "stats" lines with the CPU used so far, until stdin
// ends.
func serveStats() {
	for {
		l, ok := waitLine()
		if !ok {
			return
		}
		if l == "stats" {
			emit(event{Event: events.Event{Event: "stats"}, CPU: cpuSeconds()})
		}
	}
}

// tcpSend serves count-prefixed requests for bytes on port.
func tcpSend(port int) error {
	ln, err := net.Listen("tcp", fmt.Sprintf(":%d", port))
	if err != nil {
		return err
	}
	defer ln.Close()
	go func() {
		buf := make([]byte, 1<<20)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				var hdr [8]byte
				if _, err := io.ReadFull(c, hdr[:]); err != nil {
					return
				}
				for left := int64(binary.BigEndian.Uint64(hdr[:])); left > 0; {
					n, err := c.Write(buf[:min(left, int64(len(buf)))])
					if err != nil {
						return
					}
					left -= int64(n)
				}
			}()
		}
	}()
	emit(event{Event: events.Event{Event: "ready"}})
	serveStats()
	return nil
}

// tcpRecv fetches total bytes split over peers, in parallel, on "go".
func tcpRecv(peers []string, total int64) error {
	emit(event{Event: events.Event{Event: "ready"}})
	if !waitGo() {
		return nil
	}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, len(peers))
	got := make([]int64, len(peers))
	for k, addr := range peers {
		want := total / int64(len(peers))
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				errs[k] = err
				return
			}
			defer c.Close()
			var hdr [8]byte
			binary.BigEndian.PutUint64(hdr[:], uint64(want))
			if _, err := c.Write(hdr[:]); err != nil {
				errs[k] = err
				return
			}
			got[k], errs[k] = io.Copy(io.Discard, c)
			if errs[k] == nil && got[k] != want {
				errs[k] = fmt.Errorf("%s sent %d bytes of %d", addr, got[k], want)
			}
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	var n int64
	for k := range peers {
		if errs[k] != nil {
			return errs[k]
		}
		n += got[k]
	}
	emit(event{Event: events.Event{Event: "done"}, Seconds: secs, Bytes: n})
	return nil
}
