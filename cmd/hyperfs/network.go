package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/hyperfs/hyperfs/discovery"
	"github.com/hyperfs/hyperfs/peers"
)

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// netFlags are the flags of every command that talks to peers.
type netFlags struct {
	peers       listFlag
	listen      string
	noDiscovery bool
	noMDNS      bool
	bootstrap   listFlag
}

func (nf *netFlags) register(fs *flag.FlagSet) {
	fs.Var(&nf.peers, "peer", "connect to a peer at `host:port` (repeatable)")
	fs.StringVar(&nf.listen, "listen", "", "accept peers on `addr` (host:port)")
	fs.BoolVar(&nf.noDiscovery, "no-discovery", false, "find no peers through the DHT or the local network")
	fs.BoolVar(&nf.noMDNS, "no-mdns", false, "find no peers on the local network (multicast DNS), only through the DHT")
	fs.Var(&nf.bootstrap, "bootstrap", "DHT bootstrap node `host:port` (repeatable; default: the public hyperswarm nodes)")
}

// network is a running set of peers and, unless turned off, discovery.
type network struct {
	peers *peers.Set
	swarm *discovery.Swarm
}

// start connects s's store to peers until ctx is done.
func (nf *netFlags) start(ctx context.Context, s *session) (*network, error) {
	n := &network{peers: peers.New(s.store, peers.Options{})}
	for _, addr := range nf.peers {
		n.peers.Dial(ctx, addr)
	}
	if nf.listen != "" {
		addr, err := n.peers.Listen(ctx, nf.listen)
		if err != nil {
			n.Close()
			return nil, err
		}
		slog.Info("listening for peers", "addr", addr.String())
	}
	if !nf.noDiscovery {
		opts := discovery.Options{NoMDNS: nf.noMDNS}
		if len(nf.bootstrap) > 0 {
			opts.Bootstrap = nf.bootstrap
		}
		sw, err := discovery.Listen(ctx, opts)
		if err != nil {
			n.Close()
			return nil, fmt.Errorf("starting discovery (use --no-discovery to go without): %w", err)
		}
		n.swarm = sw
		go func() {
			for {
				c, err := sw.Accept(ctx)
				if err != nil {
					return
				}
				go n.peers.Serve(ctx, c, c.Initiator)
			}
		}()
	}
	return n, nil
}

// join announces and looks up a drive's discovery key.
func (n *network) join(dk [32]byte) {
	if n.swarm == nil {
		return
	}
	if err := n.swarm.Join(dk, discovery.JoinOptions{Announce: true, Lookup: true}); err != nil {
		slog.Warn("joining the swarm", "topic", fmt.Sprintf("%x", dk[:8]), "err", err)
	}
}

// joinUntil joins dk and, until done closes, joins it again every 10
// seconds: a drive we wait for may be announced after our first lookup, and
// the swarm's own refresh is minutes apart.
func (n *network) joinUntil(done <-chan struct{}, dk [32]byte) {
	n.join(dk)
	if n.swarm == nil {
		return
	}
	go func() {
		tick := time.NewTicker(10 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				n.join(dk) // joining again starts a new DHT round
			}
		}
	}()
}

// Close ends the replication streams first: closing the swarm closes its
// uTP connections under them.
func (n *network) Close() {
	n.peers.Close()
	if n.swarm != nil {
		n.swarm.Close()
	}
}
