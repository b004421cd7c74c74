package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"

	"github.com/hyperfs/hyperfs/discovery"
	"github.com/hyperfs/hyperfs/peers"
)

// NetOptions say how a network finds and accepts peers.
type NetOptions struct {
	Peers       []string // host:port to connect to directly
	Listen      string   // host:port to accept peers on
	NoDiscovery bool     // no DHT, no multicast DNS
	NoMDNS      bool     // no multicast DNS
	Bootstrap   []string // DHT bootstrap nodes (host:port); nil: the public ones
}

// checkHostPort validates a host:port flag value.
func checkHostPort(flag, v string, needHost bool) error {
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return Usagef("%s %q: want host:port (for example 192.0.2.7:7777)", flag, v)
	}
	if needHost && host == "" {
		return Usagef("%s %q: the host is missing (want host:port)", flag, v)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || (needHost && n == 0) {
		return Usagef("%s %q: the port must be a number from 1 to 65535", flag, v)
	}
	return nil
}

// Validate checks every address up front, so a typo is a one-line usage
// error rather than a drive no peer sends.
func (o NetOptions) Validate() error {
	for _, p := range o.Peers {
		if err := checkHostPort("--peer", p, true); err != nil {
			return err
		}
	}
	if o.Listen != "" {
		if err := checkHostPort("--listen", o.Listen, false); err != nil {
			return err
		}
	}
	for _, b := range o.Bootstrap {
		if err := checkHostPort("--bootstrap", b, true); err != nil {
			return err
		}
	}
	return nil
}

// Network is a running set of peers and, unless turned off, discovery.
type Network struct {
	Peers *peers.Set
	Swarm *discovery.Swarm // nil without discovery

	mu    sync.Mutex
	tried []string // addresses of the peers connected to or dialled
}

// StartNetwork connects s's store to peers until ctx is done.
func StartNetwork(ctx context.Context, s *Storage, o NetOptions) (*Network, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	n := &Network{Peers: peers.New(s.Store, peers.Options{})}
	for _, addr := range o.Peers {
		n.addTried(addr)
	}
	if o.Listen != "" {
		addr, err := n.Peers.Listen(ctx, o.Listen)
		if err != nil {
			n.Close()
			return nil, err
		}
		slog.Info("listening for peers", "addr", addr.String())
	}
	// --peer addresses are a finder of the swarm like the DHT and the
	// LAN: one pool dials them all.
	if !o.NoDiscovery || len(o.Peers) > 0 {
		opts := discovery.Options{NoMDNS: o.NoMDNS || o.NoDiscovery, NoDHT: o.NoDiscovery, Peers: o.Peers}
		if len(o.Bootstrap) > 0 {
			opts.Bootstrap = o.Bootstrap
		}
		sw, err := discovery.Listen(ctx, opts)
		if err != nil {
			n.Close()
			return nil, fmt.Errorf("starting discovery (use --no-discovery to go without): %w", err)
		}
		n.Swarm = sw
		go func() {
			for {
				c, err := sw.Accept(ctx)
				if err != nil {
					return
				}
				n.addTried(c.RemoteAddr().String())
				go n.Peers.Serve(ctx, c, c.Initiator)
			}
		}()
	}
	return n, nil
}

func (n *Network) addTried(addr string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !slices.Contains(n.tried, addr) && len(n.tried) < 64 {
		n.tried = append(n.tried, addr)
	}
}

// Tried lists the addresses of the peers dialled or connected so far.
func (n *Network) Tried() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.tried)
}

// Join announces and looks up a drive's discovery key.
func (n *Network) Join(dk [32]byte) {
	if n.Swarm == nil {
		return
	}
	if err := n.Swarm.Join(dk, discovery.JoinOptions{Announce: true, Lookup: true}); err != nil {
		slog.Warn("joining the swarm", "topic", fmt.Sprintf("%x", dk[:8]), "err", err)
	}
}

// JoinWaiting joins dk to open a drive from peers: the swarm looks it up
// again every 10 seconds while no peer of it is connected. announce is
// false for one-shot commands, which only look up.
func (n *Network) JoinWaiting(dk [32]byte, announce bool) {
	if n.Swarm == nil {
		return
	}
	if err := n.Swarm.Join(dk, discovery.JoinOptions{Announce: announce, Lookup: true, Wait: true}); err != nil {
		slog.Warn("joining the swarm", "topic", fmt.Sprintf("%x", dk[:8]), "err", err)
	}
}

// Unreachable is the swarm's word on a drive no peer sent: an error when
// peers of it were found but none could be reached, nil otherwise.
func (n *Network) Unreachable(dk [32]byte) error {
	if n == nil || n.Swarm == nil {
		return nil
	}
	return n.Swarm.Unreachable(dk)
}

// Close ends the replication streams, then discovery: closing the swarm
// closes its uTP connections under them.
func (n *Network) Close() {
	n.Peers.Close()
	if n.Swarm != nil {
		n.Swarm.Close()
	}
}
