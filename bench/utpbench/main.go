// Command utpbench measures bulk transfer over uTP against TCP: a reader
// downloads a 256 MiB file of a replicated drive from a seeder it found
// through a DHT, dialling over holepunch+uTP only or over TCP only, side
// by side in one run. It also reports the CPU time both processes spent
// per GiB.
//
//	go run ./bench/utpbench                  # loopback and a 100 Mbit/s link
//	go run ./bench/utpbench -size 64 -rounds 1
//
// Cases: loopback (127.0.0.1, no shaping) and "tbf 100mbit": the seeder and
// the reader in two network namespaces (internal/natsim, routed without
// NAT) whose links are shaped with tc tbf to 100 Mbit/s, where uTP should
// reach at least 90% of the link. The second case needs root.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/hyperfs/hyperfs/bench/internal/events"
	"github.com/hyperfs/hyperfs/corestore"
	"github.com/hyperfs/hyperfs/discovery"
	"github.com/hyperfs/hyperfs/discovery/dht"
	"github.com/hyperfs/hyperfs/hypercore/hcrypto"
	"github.com/hyperfs/hyperfs/hyperdrive"
	"github.com/hyperfs/hyperfs/internal/natsim"
	"github.com/hyperfs/hyperfs/peers"
)

type event struct {
	events.Event
	Key     string  `json:"key,omitempty"`
	Bytes   int64   `json:"bytes,omitempty"`
	Seconds float64 `json:"seconds,omitempty"`
	CPU     float64 `json:"cpu,omitempty"` // seconds, user+system
	SHA256  string  `json:"sha256,omitempty"`
	Via     string  `json:"via,omitempty"`
}

func emit(v event) {
	b, _ := json.Marshal(v)
	fmt.Printf("%s\n", b)
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func cpuSeconds() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

func pattern(b []byte, off int64) {
	for i := range b {
		p := off + int64(i)
		b[i] = byte(p*7 + p>>12)
	}
}

// makeDrive writes a drive with /big.bin of size bytes into dir.
func makeDrive(dir string, size int64) (key string, sum string, err error) {
	ctx := context.Background()
	s, err := corestore.Open(dir, corestore.Options{})
	if err != nil {
		return "", "", err
	}
	defer s.Close()
	d, err := hyperdrive.Open(ctx, s, hyperdrive.Options{})
	if err != nil {
		return "", "", err
	}
	defer d.Close()
	w, err := d.Create(ctx, "/big.bin", 0o644)
	if err != nil {
		return "", "", err
	}
	h := sha256.New()
	chunk := make([]byte, 1<<20)
	for off := int64(0); off < size; off += int64(len(chunk)) {
		pattern(chunk, off)
		h.Write(chunk)
		if _, err := w.Write(chunk); err != nil {
			return "", "", err
		}
	}
	if err := w.Close(); err != nil {
		return "", "", err
	}
	return hex.EncodeToString(d.Key()), hex.EncodeToString(h.Sum(nil)), nil
}

// serve is the seeder: it announces the drive in dir and serves it until
// stdin closes, then reports its CPU time.
func serve(dir, boot, host string) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := corestore.Open(dir, corestore.Options{})
	if err != nil {
		return err
	}
	defer s.Close()
	d, err := hyperdrive.Open(ctx, s, hyperdrive.Options{})
	if err != nil {
		return err
	}
	defer d.Close()
	if _, err := d.Content(ctx); err != nil {
		return err
	}
	ps := peers.New(s, peers.Options{Logger: quiet})
	defer ps.Close()
	sw, err := discovery.Listen(ctx, discovery.Options{Host: host, Bootstrap: []string{boot}, NoMDNS: true, Logger: quiet})
	if err != nil {
		return err
	}
	defer sw.Close()
	go func() {
		for {
			c, err := sw.Accept(ctx)
			if err != nil {
				return
			}
			go ps.Serve(ctx, c, c.Initiator)
		}
	}()
	sw.Join(d.DiscoveryKey(), discovery.JoinOptions{Announce: true})
	if err := sw.Flush(ctx); err != nil {
		return err
	}
	cpu0 := cpuSeconds()
	emit(event{Event: events.Event{Event: "ready"}, Key: hex.EncodeToString(d.Key())})
	io.Copy(io.Discard, os.Stdin)
	emit(event{Event: events.Event{Event: "cpu"}, CPU: cpuSeconds() - cpu0})
	return nil
}

// read is the reader: it finds the drive, downloads /big.bin over the
// given transport only and reports the time from its first connection to
// the last block, its CPU time and the file's digest.
func read(key, boot, host, via string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	k, err := hex.DecodeString(key)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "utpbench-read-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	s, err := corestore.Open(dir, corestore.Options{})
	if err != nil {
		return err
	}
	defer s.Close()
	ps := peers.New(s, peers.Options{Logger: quiet})
	defer ps.Close()
	sw, err := discovery.Listen(ctx, discovery.Options{Host: host, Bootstrap: []string{boot}, NoMDNS: true, NoTCP: via == "utp", NoUTP: via == "tcp", Logger: quiet})
	if err != nil {
		return err
	}
	defer sw.Close()
	connected := make(chan time.Time, 1)
	var transport string
	go func() {
		for {
			c, err := sw.Accept(ctx)
			if err != nil {
				return
			}
			select {
			case connected <- time.Now():
				transport = c.Transport.String()
			default:
			}
			go ps.Serve(ctx, c, c.Initiator)
		}
	}()
	sw.Join(hcrypto.DiscoveryKey(k), discovery.JoinOptions{Lookup: true, Wait: true})
	d, err := hyperdrive.Open(ctx, s, hyperdrive.Options{Key: k, Sparse: true, Update: ps.Update})
	if err != nil {
		return err
	}
	defer d.Close()
	t0 := <-connected
	cpu0 := cpuSeconds()
	if err := d.Download(ctx, "/big.bin", nil); err != nil {
		return err
	}
	secs := time.Since(t0).Seconds()
	cpu := cpuSeconds() - cpu0
	f, err := d.OpenFile(ctx, "/big.bin")
	if err != nil {
		return err
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	f.Close()
	if err != nil {
		return err
	}
	emit(event{Event: events.Event{Event: "done"}, Bytes: n, Seconds: secs, CPU: cpu, SHA256: hex.EncodeToString(h.Sum(nil)), Via: transport})
	return nil
}

// proc is a child printing JSON lines.
type proc = events.Proc[event]

func start(cmd *exec.Cmd) (*proc, error) { return events.Start[event](cmd) }

type result struct {
	mbps    float64 // MB/s (10^6 bytes) from first connection to last block
	cpuGiB  float64 // seconds of CPU per GiB, seeder and reader together
	via     string
	seconds float64
}

// round runs one seeder and one reader; wrap puts a command in a namespace.
func round(dir, boot, seedHost, readHost string, wrapSeed, wrapRead func(...string) *exec.Cmd, via, wantSum string) (result, error) {
	exe, err := os.Executable()
	if err != nil {
		return result{}, err
	}
	seed, err := start(wrapSeed(exe, "-role", "seed", "-dir", dir, "-bootstrap", boot, "-host", seedHost))
	if err != nil {
		return result{}, err
	}
	defer func() { seed.Cmd.Process.Kill(); seed.Cmd.Wait() }()
	ready, err := seed.Wait("ready", 60*time.Second)
	if err != nil {
		return result{}, fmt.Errorf("seeder: %w", err)
	}
	rd, err := start(wrapRead(exe, "-role", "read", "-key", ready.Key, "-bootstrap", boot, "-host", readHost, "-via", via))
	if err != nil {
		return result{}, err
	}
	done, err := rd.Wait("done", 10*time.Minute)
	rd.Cmd.Wait()
	if err != nil {
		return result{}, fmt.Errorf("reader (%s): %w", via, err)
	}
	seed.Stdin.Close()
	cpu, err := seed.Wait("cpu", 30*time.Second)
	if err != nil {
		return result{}, fmt.Errorf("seeder: %w", err)
	}
	if done.SHA256 != wantSum {
		return result{}, fmt.Errorf("reader (%s) got different bytes: sha256 %s, want %s", via, done.SHA256, wantSum)
	}
	gib := float64(done.Bytes) / (1 << 30)
	return result{mbps: float64(done.Bytes) / done.Seconds / 1e6, cpuGiB: (done.CPU + cpu.CPU) / gib, via: done.Via, seconds: done.Seconds}, nil
}

func run(sizeMiB int64, rounds int, rate string) error {
	tmp, err := os.MkdirTemp("", "utpbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	dir := filepath.Join(tmp, "seed")
	fmt.Fprintf(os.Stderr, "writing a %d MiB drive\n", sizeMiB)
	_, sum, err := makeDrive(dir, sizeMiB<<20)
	if err != nil {
		return err
	}
	os.Chmod(tmp, 0o755)

	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "case\ttransport\tMB/s\tuTP/TCP\tof link\tCPU s/GiB\tconnected over\t\n")
	type kase struct {
		name               string
		boot               string
		seedHost, readHost string
		wrapSeed, wrapRead func(...string) *exec.Cmd
		link               float64 // MB/s, 0 if unshaped
	}
	plain := func(argv ...string) *exec.Cmd { return exec.Command(argv[0], argv[1:]...) }
	// Loopback: a DHT node in this process.
	node, err := dht.Listen(context.Background(), dht.Config{Addr: "127.0.0.1:0", Bootstrap: []string{}, Persistent: true, Logger: quiet})
	if err != nil {
		return err
	}
	defer node.Close()
	cases := []kase{{name: "loopback", boot: node.Addr().String(), seedHost: "127.0.0.1", readHost: "127.0.0.1", wrapSeed: plain, wrapRead: plain}}
	if os.Geteuid() == 0 && natsim.Tools() == nil {
		n, err := natsim.New(natsim.None)
		if err != nil {
			return err
		}
		defer n.Close()
		if err := n.Shape(rate); err != nil {
			return err
		}
		exe, _ := os.Executable()
		bootCmd := n.Command(n.Pub, exe, "-role", "dht", "-host", n.PubIP)
		bp, err := start(bootCmd)
		if err != nil {
			return err
		}
		defer func() { bp.Cmd.Process.Kill(); bp.Cmd.Wait() }()
		if _, err := bp.Wait("ready", 10*time.Second); err != nil {
			return err
		}
		var mbit float64
		fmt.Sscanf(strings.TrimSuffix(rate, "mbit"), "%g", &mbit)
		cases = append(cases, kase{name: "tbf " + rate, boot: n.PubIP + ":49737",
			wrapSeed: func(argv ...string) *exec.Cmd { return n.Command(n.HA, argv...) },
			wrapRead: func(argv ...string) *exec.Cmd { return n.Command(n.HB, argv...) },
			link:     mbit * 1e6 / 8 / 1e6})
	} else {
		fmt.Fprintln(os.Stderr, "not root (or no ip/iptables): the shaped-link case is not run")
	}
	for _, c := range cases {
		res := map[string][]result{}
		for range rounds {
			for _, via := range []string{"tcp", "utp"} {
				r, err := round(dir, c.boot, c.seedHost, c.readHost, c.wrapSeed, c.wrapRead, via, sum)
				if err != nil {
					return fmt.Errorf("%s: %w", c.name, err)
				}
				res[via] = append(res[via], r)
			}
		}
		med := func(rs []result) result {
			slices.SortFunc(rs, func(a, b result) int {
				switch {
				case a.mbps < b.mbps:
					return -1
				case a.mbps > b.mbps:
					return 1
				}
				return 0
			})
			return rs[len(rs)/2]
		}
		tcp, utp := med(res["tcp"]), med(res["utp"])
		for _, r := range []struct {
			name string
			r    result
		}{{"tcp", tcp}, {"utp", utp}} {
			ofLink := "-"
			if c.link > 0 {
				ofLink = fmt.Sprintf("%.0f%%", 100*r.r.mbps/c.link)
			}
			ratio := "-"
			if r.name == "utp" {
				ratio = fmt.Sprintf("%.2f×", utp.mbps/tcp.mbps)
			}
			fmt.Fprintf(tw, "%s\t%s\t%.1f\t%s\t%s\t%.2f\t%s\t\n", c.name, r.name, r.r.mbps, ratio, ofLink, r.r.cpuGiB, r.r.via)
		}
		fmt.Fprintf(os.Stderr, "done: %s\n", c.name)
	}
	tw.Flush()
	fmt.Println()
	fmt.Printf("%d MiB file of a replicated drive, hyperfs seeder to hyperfs reader found through a DHT; median of %d rounds.\n", sizeMiB, rounds)
	fmt.Println("MB/s from the first connection to the last block stored; CPU is seeder + reader (user + system) per GiB moved.")
	return nil
}

func dhtNode(host string) error {
	n, err := dht.Listen(context.Background(), dht.Config{Addr: host + ":49737", Bootstrap: []string{}, Persistent: true, Logger: quiet})
	if err != nil {
		return err
	}
	defer n.Close()
	emit(event{Event: events.Event{Event: "ready"}})
	io.Copy(io.Discard, os.Stdin)
	return nil
}

func main() {
	size := flag.Int64("size", 256, "MiB to transfer")
	rounds := flag.Int("rounds", 3, "rounds per case and transport")
	rate := flag.String("rate", "100mbit", "tc tbf rate of the shaped link")
	role := flag.String("role", "", "internal: seed, read or dht")
	dir := flag.String("dir", "", "internal: the seeder's storage")
	key := flag.String("key", "", "internal: the drive to read")
	boot := flag.String("bootstrap", "", "internal: DHT bootstrap node")
	host := flag.String("host", "", "internal: address to listen on")
	via := flag.String("via", "", "internal: tcp or utp")
	flag.Parse()
	var err error
	switch *role {
	case "seed":
		err = serve(*dir, *boot, *host)
	case "read":
		err = read(*key, *boot, *host, *via)
	case "dht":
		err = dhtNode(*host)
	case "":
		if *size < 1 || *rounds < 1 {
			fmt.Fprintln(os.Stderr, "utpbench: -size and -rounds must be at least 1")
			os.Exit(2)
		}
		err = run(*size, *rounds, *rate)
	default:
		err = fmt.Errorf("unknown -role %q", *role)
	}
	if err != nil {
		if *role != "" {
			emit(event{Event: events.Event{Event: "error", Error: err.Error()}})
		}
		fmt.Fprintln(os.Stderr, "utpbench:", err)
		os.Exit(1)
	}
}
