package dht

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// IDLen is the length of node ids and topics.
const IDLen = 32

// Record sizes of the compact encodings (ipv4-peers).
const (
	peerLen  = 6         // IPv4 address and big-endian port
	nodeLen  = IDLen + 6 // id followed by a peer
	localLen = 4         // last two address bytes and port
)

var errBadRecord = errors.New("bad peer record")

// encodePeer returns the 6-byte ipv4-peers record of addr, or nil if addr
// is not IPv4.
func encodePeer(addr netip.AddrPort) []byte {
	ip := addr.Addr().Unmap()
	if !ip.Is4() {
		return nil
	}
	b := make([]byte, peerLen)
	a := ip.As4()
	copy(b, a[:])
	binary.BigEndian.PutUint16(b[4:], addr.Port())
	return b
}

// decodePeer decodes one 6-byte record; port 0 is refused, as ipv4-peers
// does.
func decodePeer(b []byte) (netip.AddrPort, error) {
	if len(b) < peerLen {
		return netip.AddrPort{}, fmt.Errorf("%w: %d bytes", errBadRecord, len(b))
	}
	port := binary.BigEndian.Uint16(b[4:])
	if port == 0 {
		return netip.AddrPort{}, fmt.Errorf("%w: port 0", errBadRecord)
	}
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[:4])), port), nil
}

// DecodePeers decodes a "peers" list of 6-byte records as @hyperswarm/dht
// does: the whole list is refused if its length is not a multiple of 6 or
// any record has port 0 or address 0.0.0.0.
func DecodePeers(b []byte) ([]netip.AddrPort, error) {
	if len(b)%peerLen != 0 {
		return nil, fmt.Errorf("%w: peers list of %d bytes", errBadRecord, len(b))
	}
	out := make([]netip.AddrPort, 0, len(b)/peerLen)
	for i := 0; i < len(b); i += peerLen {
		p, err := decodePeer(b[i:])
		if err != nil {
			return nil, err
		}
		if p.Addr().IsUnspecified() {
			return nil, fmt.Errorf("%w: address 0.0.0.0", errBadRecord)
		}
		out = append(out, p)
	}
	return out, nil
}

// DecodeLocalPeers decodes a "localPeers" list of 4-byte records (the last
// two address bytes and the port) under prefix, the first two bytes of the
// querier's local address; port 0 refuses the list.
func DecodeLocalPeers(prefix [2]byte, b []byte) ([]netip.AddrPort, error) {
	if len(b)%localLen != 0 {
		return nil, fmt.Errorf("%w: local peers list of %d bytes", errBadRecord, len(b))
	}
	out := make([]netip.AddrPort, 0, len(b)/localLen)
	for i := 0; i < len(b); i += localLen {
		port := binary.BigEndian.Uint16(b[i+2:])
		if port == 0 {
			return nil, fmt.Errorf("%w: port 0", errBadRecord)
		}
		ip := netip.AddrFrom4([4]byte{prefix[0], prefix[1], b[i], b[i+1]})
		out = append(out, netip.AddrPortFrom(ip, port))
	}
	return out, nil
}

// NodeInfo is a DHT node: its id and UDP address.
type NodeInfo struct {
	ID   [IDLen]byte
	Addr netip.AddrPort
}

// encodeNodes encodes nodes as 38-byte records (id, address, port);
// nodes without an IPv4 address are left out.
func encodeNodes(nodes []NodeInfo) []byte {
	b := make([]byte, 0, len(nodes)*nodeLen)
	for _, n := range nodes {
		p := encodePeer(n.Addr)
		if p == nil {
			continue
		}
		b = append(b, n.ID[:]...)
		b = append(b, p...)
	}
	return b
}

// decodeNodes decodes 38-byte node records. A trailing partial record is
// ignored, and a record with port 0 refuses the list, as ipv4-peers does.
func decodeNodes(b []byte) ([]NodeInfo, error) {
	out := make([]NodeInfo, 0, len(b)/nodeLen)
	for i := 0; i+nodeLen <= len(b); i += nodeLen {
		p, err := decodePeer(b[i+IDLen:])
		if err != nil {
			return nil, err
		}
		out = append(out, NodeInfo{ID: [IDLen]byte(b[i : i+IDLen]), Addr: p})
	}
	return out, nil
}
