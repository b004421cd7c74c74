// Command mountbench measures the time from "hyperfs mount <key>" to the
// first byte of a file, with the peer found through the DHT on loopback,
// against the JavaScript stack doing the same read (hyperswarm 2 +
// hyperdrive 10), in one run, and prints a table with the ratio.
//
//	go run ./bench/mountbench [-rounds 5]
//
// One JS DHT bootstrap node and one JS peer announcing a drive run on
// 127.0.0.1 for the whole run. Each round starts a fresh reader with empty
// storage: hyperfs mounts the drive and reads the first byte of a small
// file (/small/f0000) through the folder; JS reads the same file.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/hyperfs/hyperfs/integration/jsref"
)

func main() {
	rounds := flag.Int("rounds", 5, "readers of each kind to time")
	flag.Parse()
	if err := run(*rounds); err != nil {
		fmt.Fprintln(os.Stderr, "mountbench:", err)
		os.Exit(1)
	}
}

// jsProc is a node script whose stdout is JSON lines.
type jsProc struct {
	cmd   *exec.Cmd
	lines *bufio.Scanner
}

func startJS(ctx context.Context, script string, args ...string) (*jsProc, error) {
	cmd := jsref.Command(ctx, script, args...)
	cmd.Stderr = os.Stderr
	// The scripts run until their stdin closes: keep it open.
	if _, err := cmd.StdinPipe(); err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &jsProc{cmd: cmd, lines: bufio.NewScanner(out)}, nil
}

// next decodes the next JSON line whose "event" is event.
func (p *jsProc) next(event string, v any) error {
	for p.lines.Scan() {
		var ev struct{ Event string }
		if json.Unmarshal(p.lines.Bytes(), &ev) == nil && ev.Event == event {
			return json.Unmarshal(p.lines.Bytes(), v)
		}
	}
	return fmt.Errorf("script ended before %q", event)
}

func run(rounds int) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tmp, err := os.MkdirTemp("", "mountbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	jsDir, err := jsref.Dir()
	if err != nil {
		return err
	}
	bin := filepath.Join(tmp, "hyperfs")
	if out, err := exec.Command("go", "build", "-o", bin, filepath.Join(jsDir, "..", "..", "cmd", "hyperfs")).CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v: %s", err, out)
	}

	boot, err := startJS(ctx, "swarm-dht.js", "--persistent")
	if err != nil {
		return err
	}
	var l struct {
		Host string
		Port int
	}
	if err := boot.next("listening", &l); err != nil {
		return err
	}
	bootstrap := fmt.Sprintf("%s:%d", l.Host, l.Port)
	drive := filepath.Join(tmp, "drive")
	if out, err := jsref.Command(ctx, "drive-write.js", drive, "--big-size", fmt.Sprint(4<<20), "--small", "10").CombinedOutput(); err != nil {
		return fmt.Errorf("drive-write.js: %v: %s", err, out)
	}
	peer, err := startJS(ctx, "drive-swarm.js", drive, "--bootstrap", bootstrap)
	if err != nil {
		return err
	}
	var joined struct{ Key string }
	if err := peer.next("joined", &joined); err != nil {
		return err
	}
	time.Sleep(time.Second) // let the announce land

	var goTimes, jsTimes []time.Duration
	for r := range rounds {
		d, err := goRound(ctx, bin, bootstrap, joined.Key, filepath.Join(tmp, fmt.Sprint("go", r)))
		if err != nil {
			return err
		}
		goTimes = append(goTimes, d)
		reader, err := startJS(ctx, "drive-swarm.js", filepath.Join(tmp, fmt.Sprint("js", r)), "--bootstrap", bootstrap, "--key", joined.Key, "--read", "/small/f0000")
		if err != nil {
			return err
		}
		var read struct{ Ms float64 }
		if err := reader.next("read", &read); err != nil {
			return err
		}
		reader.cmd.Wait()
		jsTimes = append(jsTimes, time.Duration(read.Ms*float64(time.Millisecond)))
		fmt.Fprintf(os.Stderr, "round %d: hyperfs %s, JS %s\n", r, d.Round(time.Millisecond), jsTimes[r].Round(time.Millisecond))
	}
	gm, jm := median(goTimes), median(jsTimes)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "case\tJS median\thyperfs median\thyperfs/JS speed\t\n")
	fmt.Fprintf(tw, "mount/open to first byte via DHT\t%s\t%s\t%.2f×\t\n", jm.Round(time.Millisecond), gm.Round(time.Millisecond), float64(jm)/float64(gm))
	tw.Flush()
	fmt.Println("\nhyperfs: from starting the process (hyperfs mount) to the first byte read through the folder;")
	fmt.Println("JS: from swarm.join to the file read (opening the store and node start-up not counted).")
	return nil
}

// goRound mounts the drive with hyperfs in fresh storage and reads the
// first byte of /big.bin through the folder.
func goRound(ctx context.Context, bin, bootstrap, key, dir string) (time.Duration, error) {
	mnt := filepath.Join(dir, "mnt")
	os.MkdirAll(mnt, 0o755)
	t0 := time.Now()
	cmd := exec.CommandContext(ctx, bin, "mount", "--no-mdns", "--bootstrap", bootstrap, "--storage", filepath.Join(dir, "st"), key, mnt)
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+filepath.Join(dir, "state"))
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGINT)
		cmd.Wait()
	}()
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "mounted ") {
			break
		}
	}
	f, err := os.Open(filepath.Join(mnt, "small", "f0000"))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.Read(b); err != nil {
		return 0, err
	}
	return time.Since(t0), nil
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
