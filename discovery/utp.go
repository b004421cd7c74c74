package discovery

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"time"

	utp "github.com/anacrolix/go-libutp"
)

// uTP (BEP 29) comes from github.com/anacrolix/go-libutp, a cgo wrapper of
// libutp, the C++ library that utp-native (the JavaScript stack's uTP)
// wraps too. Interoperating with utp-native then needs no second
// implementation of its congestion control, packet loss and reset rules:
// both ends run the same code. It also splits datagrams the way
// utp-native does, because the split is libutp's own (utp_process_udp
// claims a datagram of at least 20 bytes whose first byte has version 1;
// whatever it does not claim is handed on): go-libutp's Socket is a uTP
// dialer and listener and, for those other datagrams, the net.PacketConn
// the DHT node reads and writes, exactly as hyperswarm 2 shares one UDP
// socket between utp-native and dht-rpc.

// utpSocket is the swarm's UDP socket: uTP connections plus the DHT's
// datagrams. libutp frees its connections' state with the socket, so
// every connection is closed (and its calls drained) before the socket
// is: a Read or Write racing the close would otherwise touch freed memory.
type utpSocket struct {
	s *utp.Socket

	mu     sync.RWMutex // held shared by calls into a connection; exclusively to close
	closed bool
	cmu    sync.Mutex
	conns  map[*utpConn]struct{}
	once   sync.Once
}

func listenUTP(addr string) (*utpSocket, error) {
	s, err := utp.NewSocket("udp4", addr)
	if err != nil {
		return nil, err
	}
	return &utpSocket{s: s, conns: map[*utpConn]struct{}{}}, nil
}

// LocalAddr is the UDP address.
func (u *utpSocket) LocalAddr() net.Addr { return u.s.LocalAddr() }

// Dial connects to a uTP peer.
func (u *utpSocket) Dial(ctx context.Context, addr netip.AddrPort) (net.Conn, error) {
	u.mu.RLock()
	if u.closed {
		u.mu.RUnlock()
		return nil, net.ErrClosed
	}
	c, err := u.s.DialContext(ctx, "udp4", addr.String())
	u.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	return u.track(c.(*utp.Conn))
}

// Accept returns the next uTP connection from a peer.
func (u *utpSocket) Accept() (net.Conn, error) {
	c, err := u.s.Accept()
	if err != nil {
		return nil, net.ErrClosed // go-libutp says "closed" only once the socket is
	}
	return u.track(c.(*utp.Conn))
}

func (u *utpSocket) Addr() net.Addr { return u.s.Addr() }

func (u *utpSocket) track(c *utp.Conn) (net.Conn, error) {
	uc := &utpConn{Conn: c, u: u}
	u.cmu.Lock()
	defer u.cmu.Unlock()
	u.mu.RLock()
	closed := u.closed
	u.mu.RUnlock()
	if closed {
		return nil, net.ErrClosed
	}
	u.conns[uc] = struct{}{}
	return uc, nil
}

// Close closes every uTP connection, then the socket.
func (u *utpSocket) Close() error {
	u.once.Do(func() {
		u.cmu.Lock()
		conns := make([]*utpConn, 0, len(u.conns))
		for c := range u.conns {
			conns = append(conns, c)
		}
		u.cmu.Unlock()
		for _, c := range conns {
			c.Conn.Close() // wakes blocked reads and writes
		}
		u.mu.Lock()
		u.closed = true
		u.mu.Unlock()
		u.s.Close()
	})
	return nil
}

// packetConn is the DHT's view of the socket: the datagrams libutp did not
// claim. Closing it closes the socket.
func (u *utpSocket) packetConn() net.PacketConn { return utpPacketConn{u} }

type utpPacketConn struct{ u *utpSocket }

func (p utpPacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, a, err := p.u.s.ReadFrom(b)
	if err != nil {
		return n, a, net.ErrClosed
	}
	return n, a, nil
}
func (p utpPacketConn) WriteTo(b []byte, a net.Addr) (int, error) { return p.u.s.WriteTo(b, a) }
func (p utpPacketConn) Close() error                              { return p.u.Close() }
func (p utpPacketConn) LocalAddr() net.Addr                       { return p.u.s.LocalAddr() }

// go-libutp's Socket has no deadlines; the DHT sets none.
func (utpPacketConn) SetDeadline(time.Time) error      { return errors.ErrUnsupported }
func (utpPacketConn) SetReadDeadline(time.Time) error  { return errors.ErrUnsupported }
func (utpPacketConn) SetWriteDeadline(time.Time) error { return errors.ErrUnsupported }

// utpConn is a uTP connection that refuses calls once its socket closes.
type utpConn struct {
	*utp.Conn
	u    *utpSocket
	once sync.Once
}

func (c *utpConn) Read(b []byte) (int, error) {
	c.u.mu.RLock()
	defer c.u.mu.RUnlock()
	if c.u.closed {
		return 0, net.ErrClosed
	}
	return c.Conn.Read(b)
}

func (c *utpConn) Write(b []byte) (int, error) {
	c.u.mu.RLock()
	defer c.u.mu.RUnlock()
	if c.u.closed {
		return 0, net.ErrClosed
	}
	return c.Conn.Write(b)
}

func (c *utpConn) Close() error {
	c.once.Do(func() {
		c.u.cmu.Lock()
		delete(c.u.conns, c)
		c.u.cmu.Unlock()
	})
	c.u.mu.RLock()
	defer c.u.mu.RUnlock()
	if c.u.closed {
		return nil
	}
	return c.Conn.Close()
}

func (c *utpConn) SetDeadline(t time.Time) error {
	return c.whileOpen(func() error { return c.Conn.SetDeadline(t) })
}

func (c *utpConn) SetReadDeadline(t time.Time) error {
	return c.whileOpen(func() error { return c.Conn.SetReadDeadline(t) })
}

func (c *utpConn) SetWriteDeadline(t time.Time) error {
	return c.whileOpen(func() error { return c.Conn.SetWriteDeadline(t) })
}

// whileOpen runs f unless the socket has closed (libutp has freed the
// connection then), holding the socket open until f returns.
func (c *utpConn) whileOpen(f func() error) error {
	c.u.mu.RLock()
	defer c.u.mu.RUnlock()
	if c.u.closed {
		return net.ErrClosed
	}
	return f()
}
