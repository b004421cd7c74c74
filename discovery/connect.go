package discovery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/hyperfs/hyperfs/discovery/dht"
)

// Transport says how a connection was made.
type Transport struct {
	Name        string // "tcp" or "utp"
	Holepunched bool   // a UDP holepunch through a DHT node came first
}

func (t Transport) String() string {
	if t.Holepunched {
		return t.Name + " (holepunched)"
	}
	return t.Name
}

// A Connector dials found peers over one transport. The swarm runs every
// connector at once for each peer it dials and keeps the first connection
// made, as @hyperswarm/network's connect races TCP and holepunch+uTP.
// Adding a transport is adding a Connector.
type Connector interface {
	// Connect connects to p until ctx is done; first is true on the first
	// attempt for this peer. It returns ErrNotApplicable at once if it
	// cannot try p at all.
	Connect(ctx context.Context, p Peer, first bool) (net.Conn, Transport, error)
}

// ErrNotApplicable: a connector cannot try this peer (uTP needs a DHT
// node that referred the peer, to holepunch through).
var ErrNotApplicable = errors.New("discovery: transport not applicable to this peer")

// tcpConnector dials TCP.
type tcpConnector struct{}

func (tcpConnector) Connect(ctx context.Context, p Peer, _ bool) (net.Conn, Transport, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp4", p.Addr.String())
	if err != nil {
		return nil, Transport{}, err
	}
	nc.(*net.TCPConn).SetNoDelay(true)
	return nc, Transport{Name: "tcp"}, nil
}

// holepunchConnector holepunches through the DHT node that referred the
// peer and then dials uTP from the DHT's socket, as @hyperswarm/network's
// onholepunch. Peers found on the LAN (no referrer) get TCP only, as
// there.
type holepunchConnector struct {
	node *dht.Node
	sock *utpSocket
}

func (h holepunchConnector) Connect(ctx context.Context, p Peer, first bool) (net.Conn, Transport, error) {
	if !p.Referrer.IsValid() {
		return nil, Transport{}, ErrNotApplicable
	}
	if err := h.node.Holepunch(ctx, p.Addr, p.Referrer, dht.HolepunchOptions{Fast: first}); err != nil {
		return nil, Transport{}, err
	}
	nc, err := h.sock.Dial(ctx, p.Addr)
	if err != nil {
		return nil, Transport{}, fmt.Errorf("utp after holepunch: %w", err)
	}
	return nc, Transport{Name: "utp", Holepunched: true}, nil
}

// raceResult is one connector's outcome.
type raceResult struct {
	nc  net.Conn
	tr  Transport
	err error
}

// race runs every connector for p at once and returns the first
// connection made; the others are cancelled, and any of them that
// connects anyway is closed. It fails when all have failed or ctx ends.
func race(ctx context.Context, cs []Connector, p Peer, first bool) (net.Conn, Transport, error) {
	ctx, cancel := context.WithCancel(ctx)
	ch := make(chan raceResult, len(cs))
	for _, c := range cs {
		go func() {
			nc, tr, err := c.Connect(ctx, p, first)
			ch <- raceResult{nc, tr, err}
		}()
	}
	var errs []error
	for left := len(cs); left > 0; left-- {
		r := <-ch
		if r.err == nil {
			cancel()
			go func() {
				for left--; left > 0; left-- {
					if o := <-ch; o.err == nil {
						o.nc.Close()
					}
				}
			}()
			return r.nc, r.tr, nil
		}
		if !errors.Is(r.err, ErrNotApplicable) {
			errs = append(errs, r.err)
		}
	}
	cancel()
	if ctx.Err() != nil && len(errs) == 0 {
		return nil, Transport{}, ctx.Err()
	}
	return nil, Transport{}, oneLine(errs)
}

// oneLine joins errors on one line (errors.Join puts each on its own),
// keeping them for errors.Is.
func oneLine(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return joinedError{errs, strings.Join(msgs, "; ")}
}

type joinedError struct {
	errs []error
	msg  string
}

func (e joinedError) Error() string   { return e.msg }
func (e joinedError) Unwrap() []error { return e.errs }
