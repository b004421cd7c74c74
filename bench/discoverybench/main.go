// Command discoverybench measures the time from joining a topic to the
// first connection to a peer found through the hyperswarm v2 DHT, for
// hyperfs's discovery package and for the JavaScript reference (hyperswarm
// 2.15.3), in one run, on loopback, and prints a table with ratios.
//
//	go run ./bench/discoverybench            # 10 rounds per case
//	go run ./bench/discoverybench -rounds 3
//
// A JS DHT bootstrap node (integration/js/scripts/swarm-dht.js) runs on
// 127.0.0.1 for the whole run. Each round takes a fresh topic and an
// announcer (JS hyperswarm or a Go swarm) that has finished its announce;
// then a JS looker (swarm-peer.js, which reports the milliseconds from its
// join call to its first connection, so Node.js start-up is not counted)
// and a Go looker (a discovery.Swarm in this process, timed the same way)
// each join the topic with lookup only. hyperswarm binds its sockets and
// makes its DHT node inside join, so the Go time includes Listen. mDNS is off on the Go side; the JS
// side runs it as hyperswarm always does, but the DHT answers first on
// loopback.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
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
)

type event struct {
	events.Event
	Host   string  `json:"host"`
	Port   int     `json:"port"`
	Ms     float64 `json:"ms"`
	Client bool    `json:"client"`
}

// proc is a node script printing JSON lines.
type proc = events.Proc[event]

func start(script string, args ...string) (*proc, error) {
	dir, err := jsref.Dir()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("node", append([]string{filepath.Join(dir, "scripts", script)}, args...)...)
	cmd.Dir = dir
	return events.Start[event](cmd)
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func goSwarm(ctx context.Context, boot string) (*discovery.Swarm, error) {
	return discovery.Listen(ctx, discovery.Options{Host: "127.0.0.1", Bootstrap: []string{boot}, NoMDNS: true, Logger: quiet})
}

func topicHex() ([32]byte, string) {
	var k [32]byte
	rand.Read(k[:])
	return k, hex.EncodeToString(k[:])
}

// round returns the JS and Go join-to-connection times for one topic.
func round(ctx context.Context, boot string, goAnnounces bool) (js, gt time.Duration, err error) {
	topic, th := topicHex()
	if goAnnounces {
		s, err := goSwarm(ctx, boot)
		if err != nil {
			return 0, 0, err
		}
		defer s.Close()
		go func() { // accept and hold the lookers' connections
			for {
				c, err := s.Accept(ctx)
				if err != nil {
					return
				}
				defer c.Close()
			}
		}()
		s.Join(topic, discovery.JoinOptions{Announce: true})
		if err := s.Flush(ctx); err != nil {
			return 0, 0, err
		}
	} else {
		a, err := start("swarm-peer.js", "--topic", th, "--announce", "--bootstrap", boot)
		if err != nil {
			return 0, 0, err
		}
		defer a.Stop()
		if _, err := a.Wait("joined", 30*time.Second); err != nil {
			return 0, 0, err
		}
	}

	l, err := start("swarm-peer.js", "--topic", th, "--lookup", "--bootstrap", boot)
	if err != nil {
		return 0, 0, err
	}
	ev, err := l.Wait("connection", 30*time.Second)
	l.Stop()
	if err != nil {
		return 0, 0, err
	}
	js = time.Duration(ev.Ms * float64(time.Millisecond))

	// hyperswarm binds its sockets and makes its DHT node in join, so
	// the Go time counts Listen too.
	t0 := time.Now()
	s, err := goSwarm(ctx, boot)
	if err != nil {
		return 0, 0, err
	}
	defer s.Close()
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	s.Join(topic, discovery.JoinOptions{Lookup: true})
	c, err := s.Accept(cctx)
	if err != nil {
		return 0, 0, fmt.Errorf("hyperfs looker: %w", err)
	}
	gt = time.Since(t0)
	c.Close()
	return js, gt, nil
}

func median(ds []time.Duration) time.Duration {
	slices.Sort(ds)
	return ds[len(ds)/2]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func run(rounds int) error {
	ctx := context.Background()
	boot, err := start("swarm-dht.js", "--persistent", "--timeout", "3600000")
	if err != nil {
		return err
	}
	defer boot.Stop()
	ev, err := boot.Wait("listening", 30*time.Second)
	if err != nil {
		return err
	}
	addr := fmt.Sprintf("%s:%d", ev.Host, ev.Port)

	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "announcer\trounds\tJS median ms\tGo median ms\tJS min ms\tGo min ms\tGo/JS speed\t\n")
	for _, goAnn := range []bool{false, true} {
		var jss, gos []time.Duration
		for range rounds {
			j, g, err := round(ctx, addr, goAnn)
			if err != nil {
				return err
			}
			jss = append(jss, j)
			gos = append(gos, g)
		}
		name := "JS hyperswarm"
		if goAnn {
			name = "Go discovery"
		}
		jm, gm := median(jss), median(gos)
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t%.2f×\t\n", name, rounds, ms(jm), ms(gm), ms(jss[0]), ms(gos[0]), ms(jm)/ms(gm))
		fmt.Fprintf(os.Stderr, "done: announcer %s\n", name)
	}
	tw.Flush()
	fmt.Println()
	fmt.Println("Time from join (lookup) to the first TCP connection via the DHT on 127.0.0.1, one JS bootstrap node.")
	fmt.Println("Speed ratio = JS time / Go time (higher is better for Go).")
	return nil
}

func main() {
	rounds := flag.Int("rounds", 10, "rounds per case")
	flag.Parse()
	if *rounds < 1 {
		fmt.Fprintln(os.Stderr, "discoverybench: -rounds must be at least 1")
		os.Exit(2)
	}
	if err := run(*rounds); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			err = fmt.Errorf("%w: install Node.js and run npm ci in integration/js", err)
		}
		fmt.Fprintln(os.Stderr, "discoverybench:", err)
		os.Exit(1)
	}
}
