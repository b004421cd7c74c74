// Command natbench measures the time from a lookup to the first
// connection between two peers behind two NATs (internal/natsim: routers
// that masquerade and drop unsolicited traffic, a JS @hyperswarm/dht
// bootstrap node on the public side), for hyperfs's discovery package and
// for the JavaScript reference (hyperswarm 2.15.3, @hyperswarm/network
// 2.1), side by side in one run. It needs root, ip and iptables.
//
//	go run ./bench/natbench              # 10 rounds per case
//	go run ./bench/natbench -rounds 3
//
// Each round takes a fresh topic and an announcer in host A (JS
// swarm-peer.js, or a Go swarm) that has finished its announce; then a JS
// looker (swarm-peer.js, reporting the milliseconds from its join call to
// its first connection, so Node.js start-up is not counted) and a Go
// looker (this program re-run in host B's namespace, timing discovery.Listen,
// Join and the first Accept) each look the topic up. Across these NATs
// only a UDP holepunch followed by uTP gets through, so both report uTP.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/hyperfs/hyperfs/bench/internal/events"
	"github.com/hyperfs/hyperfs/discovery"
	"github.com/hyperfs/hyperfs/integration/jsref"
	"github.com/hyperfs/hyperfs/internal/natsim"
)

type event struct {
	events.Event
	Port      int     `json:"port"`
	Ms        float64 `json:"ms"`
	Type      string  `json:"type"`
	Transport string  `json:"transport"`
}

// proc is a process in a namespace printing JSON lines.
type proc = events.Proc[event]

func start(cmd *exec.Cmd) (*proc, error) { return events.Start[event](cmd) }

func node(n *natsim.Net, ns string, script string, args ...string) (*proc, error) {
	dir, err := jsref.Dir()
	if err != nil {
		return nil, err
	}
	cmd := n.Command(ns, append([]string{"node", filepath.Join(dir, "scripts", script)}, args...)...)
	cmd.Dir = dir
	return start(cmd)
}

func self(n *natsim.Net, ns string, args ...string) (*proc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return start(n.Command(ns, append([]string{exe}, args...)...))
}

func emit(v event) {
	b, _ := json.Marshal(v)
	fmt.Printf("%s\n", b)
}

// goPeer is a Go swarm in a namespace: it announces (and holds what
// connects) or looks up and reports its first connection.
func goPeer(role, topicHex, boot string) error {
	var topic [32]byte
	if _, err := hex.Decode(topic[:], []byte(topicHex)); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	t0 := time.Now()
	s, err := discovery.Listen(ctx, discovery.Options{Bootstrap: []string{boot}, NoMDNS: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return err
	}
	defer s.Close()
	if role == "announce" {
		s.Join(topic, discovery.JoinOptions{Announce: true})
		if err := s.Flush(ctx); err != nil {
			return err
		}
		emit(event{Event: events.Event{Event: "joined"}})
		go func() {
			for {
				c, err := s.Accept(ctx)
				if err != nil {
					return
				}
				defer c.Close()
			}
		}()
		io.Copy(io.Discard, os.Stdin)
		return nil
	}
	s.Join(topic, discovery.JoinOptions{Lookup: true})
	c, err := s.Accept(ctx)
	if err != nil {
		return err
	}
	emit(event{Event: events.Event{Event: "connection"}, Ms: float64(time.Since(t0)) / float64(time.Millisecond), Transport: c.Transport.String()})
	c.Close()
	return nil
}

func median(ds []float64) float64 {
	slices.Sort(ds)
	return ds[len(ds)/2]
}

func run(rounds int) error {
	if os.Geteuid() != 0 {
		return errors.New("needs root, to build network namespaces")
	}
	n, err := natsim.New(natsim.Cone)
	if err != nil {
		return err
	}
	defer n.Close()
	boot := n.PubIP + ":49737"
	dht, err := node(n, n.Pub, "swarm-dht.js", "--persistent", "--host", n.PubIP, "--port", "49737", "--timeout", "3600000")
	if err != nil {
		return err
	}
	defer dht.Stop()
	if _, err := dht.Wait("ready", 30*time.Second); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "announcer\trounds\tJS median ms\tGo median ms\tJS min ms\tGo min ms\tGo/JS speed\ttransports (JS, Go)\t\n")
	for _, goAnn := range []bool{false, true} {
		var jss, gos []float64
		var jsT, goT string
		for range rounds {
			var k [32]byte
			rand.Read(k[:])
			th := hex.EncodeToString(k[:])
			var ann *proc
			if goAnn {
				ann, err = self(n, n.HA, "-role", "announce", "-topic", th, "-bootstrap", boot)
			} else {
				ann, err = node(n, n.HA, "swarm-peer.js", "--topic", th, "--announce", "--bootstrap", boot, "--timeout", "120000")
			}
			if err != nil {
				return err
			}
			if _, err := ann.Wait("joined", 30*time.Second); err != nil {
				ann.Stop()
				return err
			}
			l, err := node(n, n.HB, "swarm-peer.js", "--topic", th, "--lookup", "--bootstrap", boot)
			if err != nil {
				ann.Stop()
				return err
			}
			ev, err := l.Wait("connection", 30*time.Second)
			l.Stop()
			if err != nil {
				ann.Stop()
				return fmt.Errorf("JS looker: %w", err)
			}
			jss, jsT = append(jss, ev.Ms), ev.Type
			g, err := self(n, n.HB, "-role", "lookup", "-topic", th, "-bootstrap", boot)
			if err != nil {
				ann.Stop()
				return err
			}
			ev, err = g.Wait("connection", 30*time.Second)
			g.Stop()
			ann.Stop()
			if err != nil {
				return fmt.Errorf("hyperfs looker: %w", err)
			}
			gos, goT = append(gos, ev.Ms), ev.Transport
		}
		name := "JS hyperswarm"
		if goAnn {
			name = "Go discovery"
		}
		jm, gm := median(slices.Clone(jss)), median(slices.Clone(gos))
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t%.2f×\t%s, %s\t\n", name, rounds, jm, gm, slices.Min(jss), slices.Min(gos), jm/gm, jsT, goT)
		fmt.Fprintf(os.Stderr, "done: announcer %s\n", name)
	}
	tw.Flush()
	fmt.Println()
	fmt.Println("Time from join (lookup) to the first connection, both peers behind masquerading routers that drop unsolicited traffic.")
	fmt.Println("Speed ratio = JS time / Go time (higher is better for Go). The Go time includes Listen (hyperswarm binds inside join).")
	return nil
}

func main() {
	rounds := flag.Int("rounds", 10, "rounds per case")
	role := flag.String("role", "", "internal: run as the Go peer in a namespace (announce or lookup)")
	topic := flag.String("topic", "", "internal: topic of -role, hex")
	boot := flag.String("bootstrap", "", "internal: bootstrap node of -role")
	flag.Parse()
	if *role != "" {
		if err := goPeer(*role, *topic, *boot); err != nil {
			emit(event{Event: events.Event{Event: "error", Error: err.Error()}})
			os.Exit(1)
		}
		return
	}
	if *rounds < 1 {
		fmt.Fprintln(os.Stderr, "natbench: -rounds must be at least 1")
		os.Exit(2)
	}
	if err := run(*rounds); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			err = fmt.Errorf("%w: install Node.js and run npm ci in integration/js", err)
		}
		fmt.Fprintln(os.Stderr, "natbench:", err)
		os.Exit(1)
	}
}
