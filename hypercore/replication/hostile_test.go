package replication

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hyperfs/hyperfs/hypercore"
	"github.com/hyperfs/hyperfs/hypercore/wire"
)

// hostilePeer plays a peer that knows the feed (it serves real proofs from
// src) but misbehaves as told once asked for a block.
type hostilePeer struct {
	conn *wire.Conn
	fr   *wire.Framer
	src  *hypercore.Feed
}

// runHostile does the handshake as responder on c, opens the feed, answers
// Wants with src's bitfield and calls onRequest for every Request. Before
// the first frame it calls atStart (if set).
func runHostile(t *testing.T, c net.Conn, src *hypercore.Feed, atStart func(h *hostilePeer) bool, onRequest func(h *hostilePeer, r *wire.Request)) {
	conn, err := wire.Handshake(context.Background(), c, wire.HandshakeConfig{})
	if err != nil {
		t.Logf("hostile handshake: %v", err)
		return
	}
	h := &hostilePeer{conn: conn, fr: wire.NewFramer(conn, conn), src: src}
	if atStart != nil && !atStart(h) {
		return
	}
	dk := src.DiscoveryKey()
	for {
		f, err := h.fr.ReadFrame()
		if err != nil {
			return
		}
		if f.KeepAlive || !f.Type.IsProtobuf() {
			continue
		}
		m, err := wire.DecodeMessage(f.Type, f.Body)
		if err != nil {
			return
		}
		switch m := m.(type) {
		case *wire.Open:
			h.fr.WriteMessage(1, wire.NewOpen(dk[:], conn.Capability(src.Key())))
		case *wire.Want:
			h.fr.WriteMessage(1, wire.NewHave(src.Length()-1))
			h.fr.WriteMessage(1, wire.NewHaveRange(m.GetStart(), m.GetLength(), src.CompressBitfield(m.GetStart(), m.GetLength())))
		case *wire.Request:
			if onRequest != nil {
				onRequest(h, m)
			}
		}
	}
}

// honestData is the Data an honest uploader sends for r.
func (h *hostilePeer) honestData(t *testing.T, r *wire.Request) *wire.Data {
	p, err := h.src.Proof(r.GetIndex(), r.GetNodes(), false, nil)
	if err != nil {
		t.Errorf("proof: %v", err)
		return nil
	}
	v, err := h.src.GetLocal(r.GetIndex())
	if err != nil {
		t.Errorf("block: %v", err)
		return nil
	}
	nodes := make([]*wire.Data_Node, len(p.Nodes))
	for k, n := range p.Nodes {
		nodes[k] = wire.NewNode(n.Index, append([]byte(nil), n.Hash[:]...), n.Size)
	}
	return wire.NewData(r.GetIndex(), v, nodes, p.Signature)
}

func TestHostilePeers(t *testing.T) {
	cases := []struct {
		name      string
		timeout   time.Duration
		atStart   func(h *hostilePeer) bool
		onRequest func(t *testing.T, h *hostilePeer, r *wire.Request)
		want      error  // sentinel the stream's error wraps
		wantText  string // or text in it
	}{
		{name: "bad signature", want: hypercore.ErrBadSignature,
			onRequest: func(t *testing.T, h *hostilePeer, r *wire.Request) {
				d := h.honestData(t, r)
				d.Signature[10] ^= 1
				h.fr.WriteMessage(1, d)
			}},
		{name: "bad proof", want: hypercore.ErrBadProof,
			onRequest: func(t *testing.T, h *hostilePeer, r *wire.Request) {
				d := h.honestData(t, r)
				d.Nodes = d.Nodes[1:] // the sibling missing
				h.fr.WriteMessage(1, d)
			}},
		{name: "wrong block", want: hypercore.ErrBadSignature,
			onRequest: func(t *testing.T, h *hostilePeer, r *wire.Request) {
				d := h.honestData(t, r)
				d.Value = append(d.Value, 'x')
				h.fr.WriteMessage(1, d)
			}},
		{name: "short node hash", want: hypercore.ErrBadProof,
			onRequest: func(t *testing.T, h *hostilePeer, r *wire.Request) {
				d := h.honestData(t, r)
				d.Nodes[0].Hash = d.Nodes[0].Hash[:5]
				h.fr.WriteMessage(1, d)
			}},
		{name: "data never requested", want: ErrUnrequested,
			onRequest: func(t *testing.T, h *hostilePeer, r *wire.Request) {
				i := (r.GetIndex() + 1) % h.src.Length()
				h.fr.WriteMessage(1, h.honestData(t, wire.NewRequest(i, 0, false, 0)))
			}},
		{name: "oversize frame", want: wire.ErrFrameTooLarge,
			onRequest: func(t *testing.T, h *hostilePeer, r *wire.Request) {
				h.conn.Write([]byte{0x80, 0x80, 0x80, 0x05, 0x91}) // L = 10 MiB
			}},
		{name: "garbage after handshake", want: wire.ErrBadFrame,
			atStart: func(h *hostilePeer) bool {
				h.conn.Write([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
				return false
			}},
		{name: "undecodable message", wantText: "malformed message",
			onRequest: func(t *testing.T, h *hostilePeer, r *wire.Request) {
				h.fr.WriteFrame(1, wire.TypeData, []byte{0x0a, 0x05, 0x01})
			}},
		{name: "stall", timeout: 300 * time.Millisecond, want: ErrTimeout,
			atStart: func(h *hostilePeer) bool {
				time.Sleep(time.Hour)
				return false
			}},
		{name: "never answers", timeout: 400 * time.Millisecond, want: ErrRequestTimeout,
			onRequest: func(t *testing.T, h *hostilePeer, r *wire.Request) {
				go func() { // keep the stream alive without answering
					for range 10 {
						time.Sleep(100 * time.Millisecond)
						h.fr.WriteKeepAlive()
					}
				}()
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			log, tl := newLogger(t)
			w := writer(t, 40)
			rf := replica(t, w, true)
			rr := NewReplicator(rf, Options{Logger: log})
			rw := NewReplicator(w, Options{Logger: log})

			// An honest peer that does not upload yet.
			hs1, hs2 := pair(t, false, Config{Live: true, Logger: log}, Config{Live: true, Logger: log})
			no := false
			honest := mustReplicate(t, hs1, rw, PeerOptions{Upload: &no})
			mustReplicate(t, hs2, rr, PeerOptions{})

			a, b := net.Pipe()
			go runHostile(t, b, w, tc.atStart, func(h *hostilePeer, r *wire.Request) { tc.onRequest(t, h, r) })
			ctx := ctxTimeout(t, 10*time.Second)
			bad, err := NewStream(ctx, a, Config{Initiator: true, Live: true, Timeout: tc.timeout, Logger: log})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { bad.Close(); b.Close() })
			mustReplicate(t, bad, rr, PeerOptions{})

			got := make(chan error, 1)
			go func() {
				_, err := rf.Get(ctx, 17)
				got <- err
			}()
			if err := bad.Wait(ctx); err == nil || tc.want != nil && !errors.Is(err, tc.want) || tc.wantText != "" && !strings.Contains(err.Error(), tc.wantText) {
				t.Fatalf("hostile stream ended with %v, want %v %q", err, tc.want, tc.wantText)
			}
			if rf.Has(17) || rf.Length() != 0 || rf.HasNode(34) {
				t.Fatalf("something from the hostile peer was stored (length %d)", rf.Length())
			}
			found := false
			for _, w := range tl.Warnings() {
				found = found || strings.Contains(w, "dropped") && strings.Contains(w, "reason=") && strings.Contains(w, "peer=")
			}
			if !found {
				t.Fatalf("no warning naming the peer and the reason: %v", tl.Warnings())
			}
			// The honest peer carries on.
			select {
			case <-hs2.Done():
				t.Fatalf("honest stream ended: %v", hs2.Err())
			default:
			}
			honest.SetUploading(true)
			if err := <-got; err != nil {
				t.Fatal(err)
			}
			checkBlocks(t, rf, 17, 18)
		})
	}
}

// TestRemoteOpensWithoutKey: a remote that opens a feed first without
// proving it knows the key gets that channel refused (Close carrying the
// discovery key); the stream itself stays up.
func TestRemoteOpensWithoutKey(t *testing.T) {
	log, _ := newLogger(t)
	w := writer(t, 5)
	rw := NewReplicator(w, Options{Logger: log})
	a, b := net.Pipe()
	closes := make(chan []byte, 1)
	go func() {
		conn, err := wire.Handshake(context.Background(), b, wire.HandshakeConfig{})
		if err != nil {
			return
		}
		fr := wire.NewFramer(conn, conn)
		dk := w.DiscoveryKey()
		fr.WriteMessage(1, wire.NewOpen(dk[:], make([]byte, 32)))
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				return
			}
			if f.Type == wire.TypeClose {
				m, _ := wire.DecodeMessage(f.Type, f.Body)
				closes <- m.(*wire.Close).DiscoveryKey
			}
		}
	}()
	peers := make(chan *Peer, 1)
	ctx := ctxTimeout(t, 10*time.Second)
	s, err := NewStream(ctx, a, Config{Initiator: true, Live: true, Logger: log,
		OnDiscoveryKey: func(s *Stream, dk [32]byte) {
			p, err := s.Replicate(rw, PeerOptions{})
			if err != nil {
				t.Error(err)
			}
			peers <- p
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); b.Close() })
	p := <-peers
	select {
	case <-p.Done():
	case <-ctx.Done():
		t.Fatal("peer not refused")
	}
	if !errors.Is(p.Err(), ErrBadCapability) {
		t.Fatalf("peer ended with %v", p.Err())
	}
	dk := w.DiscoveryKey()
	if got := <-closes; string(got) != string(dk[:]) {
		t.Fatalf("Close carried %x", got)
	}
	if s.Err() != nil {
		t.Fatalf("stream ended: %v", s.Err())
	}
	if rw.Stats().UploadedBlocks != 0 {
		t.Fatal("uploaded to a peer without the key")
	}
}
