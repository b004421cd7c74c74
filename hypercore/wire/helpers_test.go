package wire

import (
	"bytes"
	"encoding/hex"
	"testing"

	"github.com/hyperfs/hyperfs/internal/vectors"
)

// frameVector is one entry of the wire.frames vector.
type frameVector struct {
	Name    string  `json:"name"`
	Channel *uint64 `json:"channel"`
	Type    *uint8  `json:"type"`
	Frame   string  `json:"frame"`
}

func loadFrames(t testing.TB) []frameVector {
	t.Helper()
	var v struct {
		Frames []frameVector `json:"frames"`
	}
	vectors.Load(t, "wire.frames", &v)
	if len(v.Frames) == 0 {
		t.Fatal("wire.frames vector is empty")
	}
	return v.Frames
}

// transcript is the wire.handshakeTranscript vector.
type transcript struct {
	InitiatorStatic    seededKey `json:"initiatorStatic"`
	ResponderStatic    seededKey `json:"responderStatic"`
	InitiatorEphemeral seededKey `json:"initiatorEphemeral"`
	ResponderEphemeral seededKey `json:"responderEphemeral"`
	InitiatorNonce     string    `json:"initiatorNonce"`
	ResponderNonce     string    `json:"responderNonce"`
	FeedKey            string    `json:"feedKey"`
	DiscoveryKey       string    `json:"discoveryKey"`
	Chunks             []struct {
		Dir       string  `json:"dir"`
		Bytes     string  `json:"bytes"`
		Plaintext *string `json:"plaintext"`
	} `json:"chunks"`
	InitiatorSplit      split  `json:"initiatorSplit"`
	ResponderSplit      split  `json:"responderSplit"`
	HandshakeHash       string `json:"handshakeHash"`
	InitiatorCapability string `json:"initiatorCapability"`
	ResponderCapability string `json:"responderCapability"`
}

type seededKey struct {
	Seed      string `json:"seed"`
	PublicKey string `json:"publicKey"`
	SecretKey string `json:"secretKey"`
}

type split struct {
	Tx string `json:"tx"`
	Rx string `json:"rx"`
}

func loadTranscript(t testing.TB) transcript {
	t.Helper()
	var v transcript
	vectors.Load(t, "wire.handshakeTranscript", &v)
	return v
}

// keyPairFromVector builds a NoiseKeyPair from a vector entry, checking
// that the seed derivation gives the listed keys.
func keyPairFromVector(t testing.TB, k seededKey) NoiseKeyPair {
	t.Helper()
	kp, err := NoiseKeyPairFromSeed(vectors.Hex(t, k.Seed))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(kp.SecretKey[:], vectors.Hex(t, k.SecretKey)) || !bytes.Equal(kp.PublicKey[:], vectors.Hex(t, k.PublicKey)) {
		t.Fatalf("key pair from seed %s does not match the vector", k.Seed)
	}
	return kp
}

// writeRecorder records every Write as a separate chunk.
type writeRecorder struct{ writes [][]byte }

func (w *writeRecorder) Write(p []byte) (int, error) {
	w.writes = append(w.writes, bytes.Clone(p))
	return len(p), nil
}

func (w *writeRecorder) all() []byte { return bytes.Join(w.writes, nil) }

// mustHex decodes a hex constant of the test source.
func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func repeat(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }
