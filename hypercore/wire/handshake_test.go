package wire

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hyperfs/hyperfs/hypercore/hcrypto"
	"github.com/hyperfs/hyperfs/internal/vectors"
)

func TestNoiseKeyPairFromSeed(t *testing.T) {
	var v seededKey
	vectors.Load(t, "crypto.noiseSeedKeyPair", &v)
	keyPairFromVector(t, v)
	if _, err := NoiseKeyPairFromSeed(make([]byte, 31)); err == nil {
		t.Fatal("a 31-byte seed was accepted")
	}
}

func TestCapabilityVector(t *testing.T) {
	var v struct{ SplitTx, SplitRx, FeedKey, Capability, RemoteCapability string }
	vectors.Load(t, "crypto.capability", &v)
	c := &Conn{txKey: [32]byte(vectors.Hex(t, v.SplitTx)), rxKey: [32]byte(vectors.Hex(t, v.SplitRx))}
	key := vectors.Hex(t, v.FeedKey)
	if got := c.Capability(key); !bytes.Equal(got, vectors.Hex(t, v.Capability)) {
		t.Errorf("Capability = %x, want %s", got, v.Capability)
	}
	if got := c.RemoteCapability(key); !bytes.Equal(got, vectors.Hex(t, v.RemoteCapability)) {
		t.Errorf("RemoteCapability = %x, want %s", got, v.RemoteCapability)
	}
}

// scriptedStream plays the remote side of a recorded session: reads return
// the remote's bytes (all of them at once, so the handshake reader sees
// transport bytes right behind the last handshake message), writes are
// recorded.
type scriptedStream struct {
	io.Reader
	writeRecorder
}

// TestHandshakeTranscript replays the wire.handshakeTranscript vector from
// each side, with the vector's ephemeral keys and nonces: the handshake
// messages, split keys, handshake hash and capabilities must match, and so
// must every encrypted transport chunk in both directions, written and read
// through a Framer.
func TestHandshakeTranscript(t *testing.T) {
	v := loadTranscript(t)
	feedKey := vectors.Hex(t, v.FeedKey)
	dk := hcrypto.DiscoveryKey(feedKey)
	if !bytes.Equal(dk[:], vectors.Hex(t, v.DiscoveryKey)) {
		t.Fatal("discovery key of the vector's feed key differs")
	}

	for _, initiator := range []bool{true, false} {
		name, remote := "initiator", "R->I"
		static, eph, nonce := v.InitiatorStatic, v.InitiatorEphemeral, v.InitiatorNonce
		ownSplit, ownCap, remoteCap := v.InitiatorSplit, v.InitiatorCapability, v.ResponderCapability
		remoteStatic := v.ResponderStatic
		if !initiator {
			name, remote = "responder", "I->R"
			static, eph, nonce = v.ResponderStatic, v.ResponderEphemeral, v.ResponderNonce
			ownSplit, ownCap, remoteCap = v.ResponderSplit, v.ResponderCapability, v.InitiatorCapability
			remoteStatic = v.InitiatorStatic
		}
		t.Run(name, func(t *testing.T) {
			var (
				remoteBytes      []byte
				ownHandshake     [][]byte
				ownTransport     []byte // ciphertext we must produce
				remotePlaintext  []byte // what we must decrypt
				handshakeChunks  = 3
				handshakeWritten = 0
			)
			for i, c := range v.Chunks {
				b := vectors.Hex(t, c.Bytes)
				switch {
				case c.Dir == remote:
					remoteBytes = append(remoteBytes, b...)
					if i >= handshakeChunks {
						remotePlaintext = append(remotePlaintext, vectors.Hex(t, *c.Plaintext)...)
					}
				case i < handshakeChunks:
					ownHandshake = append(ownHandshake, b)
				default:
					ownTransport = append(ownTransport, b...)
				}
			}

			kp := keyPairFromVector(t, static)
			var authKey []byte
			rw := &scriptedStream{Reader: bytes.NewReader(remoteBytes)}
			conn, err := Handshake(context.Background(), rw, HandshakeConfig{
				Initiator:     initiator,
				StaticKeyPair: &kp,
				Nonce:         vectors.Hex(t, nonce),
				Rand:          bytes.NewReader(vectors.Hex(t, eph.SecretKey)),
				Authenticate:  func(k []byte) error { authKey = bytes.Clone(k); return nil },
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(rw.writes) != len(ownHandshake) {
				t.Fatalf("%d handshake writes, want %d", len(rw.writes), len(ownHandshake))
			}
			for i, want := range ownHandshake {
				if !bytes.Equal(rw.writes[i], want) {
					t.Errorf("handshake message %d\n got %x\nwant %x", i, rw.writes[i], want)
				}
			}
			handshakeWritten = len(rw.writes)

			check := func(what string, got []byte, want string) {
				t.Helper()
				if !bytes.Equal(got, vectors.Hex(t, want)) {
					t.Errorf("%s\n got %x\nwant %s", what, got, want)
				}
			}
			check("split tx", conn.txKey[:], ownSplit.Tx[:64])
			check("split rx", conn.rxKey[:], ownSplit.Rx[:64])
			check("handshake hash", conn.HandshakeHash(), v.HandshakeHash)
			check("remote static key", conn.RemoteStaticKey(), remoteStatic.PublicKey)
			check("authenticated key", authKey, remoteStatic.PublicKey)
			check("capability", conn.Capability(feedKey), ownCap)
			check("remote capability", conn.RemoteCapability(feedKey), remoteCap)
			if conn.Initiator() != initiator {
				t.Errorf("Initiator() = %v", conn.Initiator())
			}

			// Our frames, encrypted: the initiator sends Open, Want and a
			// keep-alive, the responder Open and the Have answering the Want.
			fr := NewFramer(conn, conn)
			if err := fr.WriteMessage(1, NewOpen(dk[:], conn.Capability(feedKey))); err != nil {
				t.Fatal(err)
			}
			if initiator {
				if err := fr.WriteMessage(1, NewWant(0, 1048576)); err != nil {
					t.Fatal(err)
				}
				if err := fr.WriteKeepAlive(); err != nil {
					t.Fatal(err)
				}
			} else if err := fr.WriteMessage(1, NewHaveRange(0, 1048576, []byte{0x02, 0xe0})); err != nil {
				t.Fatal(err)
			}
			check("transport ciphertext", bytes.Join(rw.writes[handshakeWritten:], nil), fmt.Sprintf("%x", ownTransport))

			// The remote's frames, decrypted.
			var got []byte
			var gotFrames []string
			for {
				f, err := fr.ReadFrame()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if f.KeepAlive {
					got = append(got, 0)
					gotFrames = append(gotFrames, "keep-alive")
					continue
				}
				var b Batch
				if err := b.Frame(f.Channel, f.Type, f.Body); err != nil {
					t.Fatal(err)
				}
				got = append(got, b.Bytes()...)
				m, err := DecodeMessage(f.Type, f.Body)
				if err != nil {
					t.Fatal(err)
				}
				if o, ok := m.(*Open); ok && !conn.VerifyRemoteCapability(feedKey, o.Capability) {
					t.Error("the remote's Open capability does not verify")
				}
				gotFrames = append(gotFrames, f.Type.String())
			}
			check("decrypted transport", got, fmt.Sprintf("%x", remotePlaintext))
			t.Logf("read %v", gotFrames)
		})
	}
}

// pipePair runs a handshake between two Go ends over net.Pipe.
func pipePair(t *testing.T, icfg, rcfg HandshakeConfig) (ic, rc *Conn, ierr, rerr error) {
	t.Helper()
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	icfg.Initiator, rcfg.Initiator = true, false
	done := make(chan struct{})
	go func() {
		defer close(done)
		rc, rerr = Handshake(ctx, b, rcfg)
		if rerr != nil {
			b.Close()
		}
	}()
	ic, ierr = Handshake(ctx, a, icfg)
	if ierr != nil {
		a.Close()
	}
	<-done
	return ic, rc, ierr, rerr
}

// TestHandshakePipe: two Go ends agree on keys and exchange frames both
// ways, concurrently, through encrypted Framers.
func TestHandshakePipe(t *testing.T) {
	ikp, _ := NoiseKeyPairFromSeed(repeat(1, 32))
	rkp, _ := NoiseKeyPairFromSeed(repeat(2, 32))
	ic, rc, ierr, rerr := pipePair(t, HandshakeConfig{StaticKeyPair: &ikp}, HandshakeConfig{StaticKeyPair: &rkp})
	if ierr != nil || rerr != nil {
		t.Fatalf("handshake: initiator %v, responder %v", ierr, rerr)
	}
	if !bytes.Equal(ic.RemoteStaticKey(), rkp.PublicKey[:]) || !bytes.Equal(rc.RemoteStaticKey(), ikp.PublicKey[:]) {
		t.Fatal("remote static keys do not match")
	}
	if !bytes.Equal(ic.HandshakeHash(), rc.HandshakeHash()) || len(ic.HandshakeHash()) != 64 {
		t.Fatal("handshake hashes differ")
	}
	feedKey := repeat(7, 32)
	if !rc.VerifyRemoteCapability(feedKey, ic.Capability(feedKey)) || !ic.VerifyRemoteCapability(feedKey, rc.Capability(feedKey)) {
		t.Fatal("capabilities do not verify across the pipe")
	}
	if rc.VerifyRemoteCapability(repeat(8, 32), ic.Capability(feedKey)) {
		t.Fatal("a capability for another key verified")
	}

	block := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
	send := func(c *Conn, tag string) error {
		fr := NewFramer(c, nil)
		dk := hcrypto.DiscoveryKey(feedKey)
		var b Batch
		b.Message(1, NewOpen(dk[:], c.Capability(feedKey)))
		b.Message(1, NewOptions([]string{tag}, false))
		b.KeepAlive()
		b.Extension(1, 0, []byte(tag))
		if err := fr.WriteBatch(&b); err != nil {
			return err
		}
		return fr.WriteMessage(1, NewData(0, block, []*Data_Node{NewNode(0, repeat(1, 32), uint64(len(block)))}, repeat(2, 64)))
	}
	recv := func(c *Conn, tag string) error {
		fr := NewFramer(nil, c)
		var seen []string
		for len(seen) < 5 {
			f, err := fr.ReadFrame()
			if err != nil {
				return err
			}
			if f.KeepAlive {
				seen = append(seen, "keep-alive")
				continue
			}
			seen = append(seen, f.Type.String())
			switch f.Type {
			case TypeExtension:
				if _, p, err := ParseExtension(f.Body); err != nil || string(p) != tag {
					return fmt.Errorf("extension payload %q, %v", p, err)
				}
			default:
				m, err := DecodeMessage(f.Type, f.Body)
				if err != nil {
					return err
				}
				switch m := m.(type) {
				case *Open:
					if !c.VerifyRemoteCapability(feedKey, m.Capability) {
						return errors.New("bad capability")
					}
				case *Data:
					if !bytes.Equal(m.Value, block) {
						return errors.New("data block differs")
					}
				}
			}
		}
		if got := strings.Join(seen, " "); got != "Open Options keep-alive Extension Data" {
			return fmt.Errorf("read %s", got)
		}
		return nil
	}
	errc := make(chan error, 4)
	go func() { errc <- send(ic, "from-i") }()
	go func() { errc <- send(rc, "from-r") }()
	go func() { errc <- recv(ic, "from-r") }()
	go func() { errc <- recv(rc, "from-i") }()
	for range 4 {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
}

// TestHandshakeRejected: an Authenticate error aborts the handshake on the
// side that refuses; the other side sees the stream end.
func TestHandshakeRejected(t *testing.T) {
	errNotYou := errors.New("not you")
	reject := func([]byte) error { return errNotYou }

	t.Run("responder refuses", func(t *testing.T) {
		ic, _, _, rerr := pipePair(t, HandshakeConfig{}, HandshakeConfig{Authenticate: reject})
		if !errors.Is(rerr, ErrRejected) || !errors.Is(rerr, errNotYou) {
			t.Fatalf("responder: %v, want ErrRejected wrapping the hook's error", rerr)
		}
		// XX: the initiator has sent its last message before the responder
		// sees its key, so it only learns from the closed stream.
		if ic != nil {
			if _, err := ic.Read(make([]byte, 1)); err == nil {
				t.Fatal("initiator read from a refused session")
			}
		}
	})
	t.Run("initiator refuses", func(t *testing.T) {
		_, _, ierr, rerr := pipePair(t, HandshakeConfig{Authenticate: reject}, HandshakeConfig{})
		if !errors.Is(ierr, ErrRejected) || !errors.Is(ierr, errNotYou) {
			t.Fatalf("initiator: %v, want ErrRejected wrapping the hook's error", ierr)
		}
		if rerr == nil || !errors.Is(rerr, io.ErrUnexpectedEOF) {
			t.Fatalf("responder: %v, want an unexpected EOF", rerr)
		}
	})
}

// TestHandshakeCorrupt: a tampered message fails with ErrHandshake, a
// handshake length over the Noise limit with ErrFrameTooLarge, a payload
// without a 24-byte nonce with ErrBadPayload.
func TestHandshakeCorrupt(t *testing.T) {
	v := loadTranscript(t)
	msg1 := vectors.Hex(t, v.Chunks[0].Bytes)
	msg3 := vectors.Hex(t, v.Chunks[2].Bytes)
	rkp := keyPairFromVector(t, v.ResponderStatic)
	responder := func(in []byte) error {
		_, err := Handshake(context.Background(), &scriptedStream{Reader: bytes.NewReader(in)}, HandshakeConfig{
			StaticKeyPair: &rkp,
			Nonce:         vectors.Hex(t, v.ResponderNonce),
			Rand:          bytes.NewReader(vectors.Hex(t, v.ResponderEphemeral.SecretKey)),
		})
		return err
	}
	if err := responder(append(bytes.Clone(msg1), msg3...)); err != nil {
		t.Fatalf("untampered replay: %v", err)
	}
	bad := append(bytes.Clone(msg1), msg3...)
	bad[len(bad)-1] ^= 1
	if err := responder(bad); !errors.Is(err, ErrHandshake) {
		t.Errorf("tampered message 3: %v, want ErrHandshake", err)
	}
	if err := responder([]byte{0x80, 0x80, 0x04}); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("65536-byte message: %v, want ErrFrameTooLarge", err)
	}
	if err := responder(msg1[:20]); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated message 1: %v, want io.ErrUnexpectedEOF", err)
	}

	if _, err := DecodeNoisePayload(vectors.Hex(t, "0a17"+strings.Repeat("aa", 23))); !errors.Is(err, ErrBadPayload) {
		t.Errorf("23-byte nonce: %v, want ErrBadPayload", err)
	}
	if _, err := DecodeNoisePayload(nil); !errors.Is(err, ErrBadPayload) {
		t.Errorf("empty payload: %v, want ErrBadPayload", err)
	}
}

// TestHandshakeContext: a cancelled context unblocks a handshake stuck on a
// silent peer.
func TestHandshakeContext(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go io.Copy(io.Discard, b) // swallow message 1, never answer
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := Handshake(ctx, a, HandshakeConfig{Initiator: true})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Handshake = %v, want context.DeadlineExceeded", err)
	}
	// The deadline was cleared: the stream is usable again.
	go b.Write([]byte{1})
	a.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := a.Read(make([]byte, 1)); err != nil {
		t.Fatalf("read after the handshake gave up: %v", err)
	}
}
