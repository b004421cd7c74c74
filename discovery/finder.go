package discovery

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/hyperfs/hyperfs/discovery/dht"
	"github.com/hyperfs/hyperfs/discovery/mdns"
)

// A Finder finds peers of topics, and announces us on them if it can: the
// DHT, multicast DNS on the LAN, a static list of addresses. The swarm runs
// every finder it has for each joined topic and puts what they find in one
// connection pool; adding a way to find peers is adding a Finder.
type Finder interface {
	// Name names the finder in logs ("dht", "mdns", "static").
	Name() string
	// Find announces and/or looks up q.Topic, as q.JoinOptions say, until
	// ctx is done. It calls q.Found for every peer found and q.Round after
	// every lookup round, at least once soon after it starts.
	Find(ctx context.Context, q Query)
}

// A Query is one joined topic, as a Finder sees it.
type Query struct {
	Topic [32]byte
	JoinOptions
	// Found takes a peer found; it may be called from any goroutine.
	Found func(Peer)
	// Round reports the end of a lookup round and its error.
	Round func(error)
	// Waiting is true while the caller waits for a peer of the topic
	// (JoinOptions.Wait) and none is connected.
	Waiting func() bool
}

// unannouncer is a Finder that can withdraw an announcement (the DHT).
type unannouncer interface {
	Unannounce(ctx context.Context, topic [32]byte) error
}

// DefaultWaitRefresh is how often a topic joined with Wait is looked up
// again while no peer of it is connected: a drive being waited for may be
// announced after our first lookup, and the DHT's own refresh is minutes
// apart.
const DefaultWaitRefresh = 10 * time.Second

// dhtFinder announces and looks up topics on the DHT now and then again
// every Refresh to twice that, as @hyperswarm/discovery; every WaitRefresh
// while the caller waits for a peer.
type dhtFinder struct {
	node        *dht.Node
	refresh     time.Duration
	waitRefresh time.Duration
	opts        func() dht.PeersOptions
	log         *slog.Logger

	warnOnce  sync.Once
	bootstrap []string
}

func (f *dhtFinder) Name() string { return "dht" }

func (f *dhtFinder) Find(ctx context.Context, q Query) {
	for {
		err := f.round(ctx, q)
		if err != nil && ctx.Err() == nil {
			f.log.Debug("DHT round", "topic", hex.EncodeToString(q.Topic[:]), "err", err)
			f.warnNoBootstrap(err)
		}
		q.Round(err)
		wait := f.refresh + time.Duration(rand.Int64N(int64(f.refresh)))
		if q.Waiting() {
			wait = f.waitRefresh
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
	}
}

// warnNoBootstrap says once, at the first failure, that the DHT is out of
// reach and what still works.
func (f *dhtFinder) warnNoBootstrap(err error) {
	if !errors.Is(err, dht.ErrNoNodes) {
		return
	}
	f.warnOnce.Do(func() {
		f.log.Warn(fmt.Sprintf("no DHT bootstrap node answered (%s): peers are found only on the local network and through --peer host:port", joinShort(f.bootstrap)))
	})
}

func joinShort(l []string) string {
	if len(l) == 0 {
		return "none configured"
	}
	s := l[0]
	if len(l) > 1 {
		s += fmt.Sprintf(" and %d more", len(l)-1)
	}
	return s
}

func (f *dhtFinder) round(ctx context.Context, q Query) error {
	po := f.opts()
	onReply := func(r dht.PeersReply) {
		if !q.Lookup {
			return
		}
		for _, p := range r.LocalPeers {
			q.Found(Peer{Addr: p, Topic: q.Topic, Local: true, To: r.To})
		}
		for _, p := range r.Peers {
			q.Found(Peer{Addr: p, Topic: q.Topic, Referrer: r.Node, To: r.To})
		}
	}
	if q.Announce {
		return f.node.Announce(ctx, q.Topic, po, onReply)
	}
	return f.node.Lookup(ctx, q.Topic, po, onReply)
}

func (f *dhtFinder) Unannounce(ctx context.Context, topic [32]byte) error {
	return f.node.Unannounce(ctx, topic, f.opts())
}

// mdnsFinder answers and asks multicast DNS on the LAN, as
// @hyperswarm/discovery's multicast-dns part.
type mdnsFinder struct {
	server *mdns.Server
	port   func() uint16 // the port to announce
}

func (f *mdnsFinder) Name() string { return "mdns" }

func (f *mdnsFinder) Find(ctx context.Context, q Query) {
	var port uint16
	if q.Announce {
		port = f.port()
	}
	var onPeer func(netip.AddrPort)
	if q.Lookup {
		onPeer = func(a netip.AddrPort) { q.Found(Peer{Addr: a, Topic: q.Topic, Local: true}) }
	}
	leave := f.server.Join(q.Topic, port, q.Lookup, onPeer)
	q.Round(nil)
	<-ctx.Done()
	leave()
}

// staticFinder "finds" fixed addresses (--peer host:port) for every topic
// looked up. They are dialled over TCP and, unlike peers found otherwise,
// never forgotten: they are retried with backoff as long as the topic is
// joined.
type staticFinder struct {
	addrs []string
	log   *slog.Logger
}

func (f *staticFinder) Name() string { return "static" }

func (f *staticFinder) Find(ctx context.Context, q Query) {
	if q.Lookup {
		for _, a := range f.addrs {
			ap, err := resolveTCP(ctx, a)
			if err != nil {
				f.log.Warn("peer address", "peer", a, "err", err)
				continue
			}
			q.Found(Peer{Addr: ap, Topic: q.Topic, Static: true})
		}
	}
	q.Round(nil)
	<-ctx.Done()
}

// resolveTCP resolves host:port to an IPv4 address.
func resolveTCP(ctx context.Context, s string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return netip.AddrPort{}, err
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip4", host)
	if err != nil {
		return netip.AddrPort{}, err
	}
	if len(ips) == 0 {
		return netip.AddrPort{}, fmt.Errorf("no IPv4 address for %s", host)
	}
	ap, err := netip.ParseAddrPort(net.JoinHostPort(ips[0].Unmap().String(), port))
	if err != nil {
		return netip.AddrPort{}, err
	}
	return ap, nil
}
