package replication

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/hyperfs/hyperfs/hypercore/rle"
	"github.com/hyperfs/hyperfs/hypercore/wire"
)

// FuzzBitset checks the remote bitfield against a map model: set, setByte
// (the Have bitfield path), next and last.
func FuzzBitset(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 200, 255, 7, 9, 0x80, 0x40})
	f.Fuzz(func(t *testing.T, ops []byte) {
		b := newBitset()
		model := map[uint64]bool{}
		for k := 0; k+3 < len(ops); k += 4 {
			i := uint64(ops[k+1])<<12 | uint64(ops[k+2])<<4 | uint64(ops[k+3])&15
			switch ops[k] % 3 {
			case 0:
				b.set(i, true)
				model[i] = true
			case 1:
				b.set(i, false)
				delete(model, i)
			case 2:
				v := ops[k+3]
				byteIdx := i / 8
				b.setByte(byteIdx, v)
				for j := uint64(0); j < 8; j++ {
					if v&(0x80>>j) != 0 {
						model[8*byteIdx+j] = true
					} else {
						delete(model, 8*byteIdx+j)
					}
				}
			}
		}
		var last uint64
		seen := false
		for i := range model {
			if !b.get(i) {
				t.Fatalf("bit %d lost", i)
			}
			if !seen || i > last {
				last, seen = i, true
			}
		}
		if l, ok := b.last(); ok != seen || ok && l != last {
			t.Fatalf("last = %d %v, want %d %v", l, ok, last, seen)
		}
		// next walks exactly the model's bits.
		n := 0
		for i, ok := b.next(0); ok; i, ok = b.next(i + 1) {
			if !model[i] {
				t.Fatalf("next found %d, not set", i)
			}
			n++
		}
		if n != len(model) {
			t.Fatalf("next found %d bits, want %d", n, len(model))
		}
	})
}

// FuzzHave feeds arbitrary Haves (the new decoder: an RLE bitfield into
// the remote bitfield) to a peer: no panic, bounded memory, and only
// errors wrapping ErrProtocol.
func FuzzHave(f *testing.F) {
	f.Add(uint64(0), uint64(1<<20), []byte{0x02, 0xe0}, true)
	f.Add(uint64(8192), uint64(0), rle.Encode([]byte{0xff, 0, 0xf0}), true)
	f.Add(uint64(3), uint64(5), []byte(nil), false)
	f.Fuzz(func(t *testing.T, start, length uint64, bf []byte, withBitfield bool) {
		w := writer(t, 3)
		rf := replica(t, w, true)
		r := NewReplicator(rf, Options{Logger: slog.New(slog.DiscardHandler)})
		s := &Stream{log: slog.New(slog.DiscardHandler), psig: make(chan struct{}, 1), closed: make(chan struct{})}
		p := newPeer(s, r, PeerOptions{})
		m := &wire.Have{Start: &start, Length: &length}
		if withBitfield {
			if bf == nil {
				bf = []byte{}
			}
			m.Bitfield = bf
		}
		if err := p.onHave(m); err != nil {
			return
		}
		// One Have touches at most the pages of its largest bitfield, plus
		// one when its start is not page-aligned.
		if maxPages := maxHaveBitfield*8/pageBits + 1; len(p.remote.pages) > maxPages {
			t.Fatalf("%d pages for one Have (at most %d)", len(p.remote.pages), maxPages)
		}
	})
}

// FuzzStreamInput writes arbitrary frames into an established channel (the
// fuzzing peer knows the key): the stream must end or keep going without a
// panic, and an unverifiable block is never stored.
func FuzzStreamInput(f *testing.F) {
	var b wire.Batch
	b.Message(1, wire.NewHaveRange(0, 1<<20, []byte{0x02, 0xff}))
	b.Message(1, wire.NewData(0, []byte("x"), nil, nil))
	f.Add(append([]byte(nil), b.Bytes()...))
	b.Reset()
	b.Message(1, wire.NewWant(0, 1<<20))
	b.Message(1, wire.NewRequest(0, 0, false, 0))
	b.Message(1, wire.NewStatus(false, false))
	b.Extension(0, 3, []byte("hi"))
	b.Message(1, wire.NewClose(nil))
	f.Add(append([]byte(nil), b.Bytes()...))
	f.Add([]byte{0x05, 0x13, 0x08, 0x01, 0x10, 0x00})
	f.Fuzz(func(t *testing.T, input []byte) {
		w := writer(t, 3)
		rf := replica(t, w, true)
		log := slog.New(slog.DiscardHandler)
		r := NewReplicator(rf, Options{Logger: log})
		a, c := net.Pipe()
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done := make(chan struct{})
		go func() {
			defer close(done)
			conn, err := wire.Handshake(ctx, c, wire.HandshakeConfig{})
			if err != nil {
				return
			}
			go io.Copy(io.Discard, conn)
			dk := w.DiscoveryKey()
			fr := wire.NewFramer(conn, nil)
			fr.WriteMessage(1, wire.NewOpen(dk[:], conn.Capability(w.Key())))
			conn.Write(input)
		}()
		s, err := NewStream(ctx, a, Config{Initiator: true, Live: true, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Replicate(r, PeerOptions{}); err != nil && !errors.Is(err, ErrClosed) {
			t.Fatal(err) // ErrClosed: the input ended the stream first
		}
		<-done
		time.Sleep(time.Millisecond)
		s.Close()
		if rf.Length() > 0 || rf.Has(0) {
			// Only a block with a valid signature could be stored, and the
			// fuzzer cannot sign.
			t.Fatal("stored a block the fuzzer made")
		}
	})
}
