package discovery

import (
	"net"
	"sync"
)

// Conn is a connection to a peer, as the swarm hands it out. Close it when
// done: the swarm counts it against MaxPeers until then, and dials the
// peer again (after a backoff) when a connection we dialled closes, unless
// it was banned or SetReconnect(false) was called.
type Conn struct {
	net.Conn
	// Initiator is true if we dialled the connection (hyperswarm's
	// info.client): the side that runs the Noise handshake as initiator.
	Initiator bool
	// Peer is the peer we dialled; for an incoming connection only Addr,
	// the remote address, is set.
	Peer Peer
	// Transport is how the connection was made.
	Transport Transport

	s     *Swarm
	info  *peerInfo // the queue entry for a dialled connection
	once  sync.Once
	mu    sync.Mutex // guards topics
	topic [][32]byte
}

// PeerTransport says how the connection was made: "tcp", "utp" or "utp
// (holepunched)".
func (c *Conn) PeerTransport() string { return c.Transport.String() }

// Topics returns the topics we found the peer for (none for an incoming
// connection: the remote side knows why it called).
func (c *Conn) Topics() [][32]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][32]byte(nil), c.topic...)
}

// Close closes the connection and frees its slot.
func (c *Conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.s.post(event{kind: evClosed, conn: c}) })
	return err
}

// Deduplicate reports whether c duplicates another connection to the same
// peer, as hyperswarm 2's info.deduplicate: call it once the handshake has
// told both sides' static public keys. Of two connections between the same
// pair of keys, both sides keep the one dialled by the side with the
// smaller key. If c is the duplicate, Deduplicate returns true and c should
// no longer be used: the swarm closes it if we dialled it (and does not
// dial that address again while the survivor lives), otherwise the remote
// side closes it. A connection to our own key is closed and reported as a
// duplicate.
func (c *Conn) Deduplicate(localKey, remoteKey []byte) bool {
	reply := make(chan bool, 1)
	if !c.s.post(event{kind: evDedup, conn: c, local: localKey, remote: remoteKey, reply: reply}) {
		return false
	}
	return <-reply
}

// Ban closes the connection and never dials its peer again.
func (c *Conn) Ban() {
	c.s.post(event{kind: evBan, conn: c})
	c.Close()
}

// SetReconnect sets whether the swarm dials the peer again when this
// connection (one we dialled) closes; it does by default.
func (c *Conn) SetReconnect(on bool) {
	c.s.post(event{kind: evReconnect, conn: c, on: on})
}
