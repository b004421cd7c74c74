package integration

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hyperfs/hyperfs/corestore"
	"github.com/hyperfs/hyperfs/hypercore/hcrypto"
	"github.com/hyperfs/hyperfs/integration/jsref"
)

const storeBlocks = 60

type storeCoreJSON struct {
	Label        string  `json:"label"`
	Name         *string `json:"name"`
	Key          string  `json:"key"`
	DiscoveryKey string  `json:"discoveryKey"`
	Length       uint64  `json:"length"`
	Writable     bool    `json:"writable"`
	BlocksSHA256 string  `json:"blocksSha256"`
}

// storeSpec is a line of the spec file store-read.js opens feeds by.
type storeSpec struct {
	Name         *string `json:"name,omitempty"`
	Namespace    string  `json:"namespace,omitempty"`
	Key          string  `json:"key,omitempty"`
	DiscoveryKey string  `json:"discoveryKey,omitempty"`
}

// openLikeJS opens in Go the feed store-write.js labelled label.
func openLikeJS(t *testing.T, s *corestore.Store, label string, kp *hcrypto.KeyPair, key []byte) *corestore.Core {
	t.Helper()
	ctx := context.Background()
	var c *corestore.Core
	var err error
	switch label {
	case "default":
		c, err = s.Default(ctx)
	case "ns":
		c, err = s.Namespace("ns").Default(ctx)
	case "keypair":
		if kp != nil {
			c, err = s.Get(ctx, corestore.GetOptions{KeyPair: kp})
		} else {
			c, err = s.Get(ctx, corestore.GetOptions{Key: key})
		}
	default:
		c, err = s.Get(ctx, corestore.GetOptions{Name: label})
	}
	if err != nil {
		t.Fatalf("%s: %v", label, err)
	}
	return c
}

var storeLabels = []string{"default", "one", "two/three", "ns", "keypair"}

// checkBlocks compares every block of c with seed's generator blocks and
// returns the digest store-read.js would print.
func checkBlocks(t *testing.T, c *corestore.Core, seed uint32, n int) string {
	t.Helper()
	d := jsref.NewDigest()
	for i := range uint64(c.Length()) {
		b, err := c.Get(context.Background(), i)
		if err != nil {
			t.Fatal(err)
		}
		if i < uint64(n) && !bytes.Equal(b, jsref.Block(seed, i)) {
			t.Fatalf("feed %x block %d differs from the generator", c.Key(), i)
		}
		d.Add(b)
	}
	return d.Hex()
}

// TestJSStoreOpensInGo: a corestore written by JS corestore 5 opens in Go
// with the same master key, keys, discovery keys and blocks; named feeds are
// writable again (their secret keys re-derived), the key-pair feed through
// its secret_key file; Go appends, and JS reads what Go appended.
func TestJSStoreOpensInGo(t *testing.T) {
	dir := t.TempDir()
	var wrote struct {
		MasterKey string          `json:"masterKey"`
		Cores     []storeCoreJSON `json:"cores"`
	}
	jsref.RunJSON(t, &wrote, "store-write.js", dir, "--blocks", "60")
	s, err := corestore.Open(dir, corestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(s.MasterKey()) != wrote.MasterKey {
		t.Fatalf("master key %x, JS %s", s.MasterKey(), wrote.MasterKey)
	}
	var specs []storeSpec
	for j, js := range wrote.Cores {
		c := openLikeJS(t, s, js.Label, nil, vectorsHex(t, js.Key))
		dk := c.DiscoveryKey()
		if hex.EncodeToString(c.Key()) != js.Key || hex.EncodeToString(dk[:]) != js.DiscoveryKey {
			t.Errorf("%s: key %x dk %x, JS %s %s", js.Label, c.Key(), dk, js.Key, js.DiscoveryKey)
		}
		if c.Length() != js.Length || !c.Writable() {
			t.Errorf("%s: length %d writable %v, JS %d %v", js.Label, c.Length(), c.Writable(), js.Length, js.Writable)
		}
		if sum := checkBlocks(t, c, uint32(100+j), storeBlocks); sum != js.BlocksSHA256 {
			t.Errorf("%s: digest %s, JS %s", js.Label, sum, js.BlocksSHA256)
		}
		if _, err := c.Append([]byte("appended by go")); err != nil {
			t.Errorf("%s: %v", js.Label, err)
		}
		specs = append(specs, storeSpec{DiscoveryKey: js.DiscoveryKey})
	}
	// Passive open of a feed nobody has open.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = corestore.Open(dir, corestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dk, _ := hex.DecodeString(wrote.Cores[1].DiscoveryKey)
	p, ok, err := s.LookupByDiscoveryKey([32]byte(dk))
	if err != nil || !ok || hex.EncodeToString(p.Key()) != wrote.Cores[1].Key || !p.Writable() {
		t.Fatalf("passive open: %v %v", ok, err)
	}
	s.Close()

	specFile := filepath.Join(t.TempDir(), "spec.jsonl")
	writeJSONLines(t, specFile, specs)
	var read struct{ Cores []storeCoreJSON }
	jsref.RunJSON(t, &read, "store-read.js", dir, specFile)
	for j, c := range read.Cores {
		if c.Length != storeBlocks+1 || !c.Writable {
			t.Errorf("%s: JS sees length %d writable %v after the Go append", wrote.Cores[j].Label, c.Length, c.Writable)
		}
	}
}

// TestGoStoreOpensInJS: a corestore written by Go opens in JS corestore 5
// with the same keys and blocks; JS can append to every feed (re-deriving
// named feeds' secret keys from the master key), and Go reads those appends.
func TestGoStoreOpensInJS(t *testing.T) {
	dir := t.TempDir()
	s, err := corestore.Open(dir, corestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	kp, err := hcrypto.NewKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	var specs []storeSpec
	var want []storeCoreJSON
	for j, label := range storeLabels {
		c := openLikeJS(t, s, label, &kp, nil)
		for _, ch := range jsref.Chunks(0, storeBlocks) {
			var batch [][]byte
			for i := ch[0]; i < ch[1]; i++ {
				batch = append(batch, jsref.Block(uint32(100+j), uint64(i)))
			}
			if _, err := c.Append(batch...); err != nil {
				t.Fatal(err)
			}
		}
		dk := c.DiscoveryKey()
		want = append(want, storeCoreJSON{Label: label, Key: hex.EncodeToString(c.Key()), DiscoveryKey: hex.EncodeToString(dk[:]),
			Length: storeBlocks, Writable: true, BlocksSHA256: jsref.SumBlocks(jsref.Blocks(uint32(100+j), storeBlocks))})
		switch label {
		case "ns":
			specs = append(specs, storeSpec{Namespace: "ns"})
		case "keypair":
			specs = append(specs, storeSpec{Key: hex.EncodeToString(c.Key())})
		default:
			l := label
			specs = append(specs, storeSpec{Name: &l})
		}
	}
	if _, err := os.Stat(filepath.Join(dir, corestore.MasterKeyFile)); err != nil {
		t.Fatal(err)
	}

	// While Go holds the store, JS cannot open its feeds.
	specFile := filepath.Join(t.TempDir(), "spec.jsonl")
	writeJSONLines(t, specFile, specs)
	cmd := jsref.Command(t.Context(), "store-read.js", dir, specFile)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err == nil || !strings.Contains(strings.ToLower(stderr.String()), "lock") {
		t.Errorf("JS opened feeds Go holds: %v\n%s", err, stderr.String())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	var read struct{ Cores []storeCoreJSON }
	jsref.RunJSON(t, &read, "store-read.js", dir, specFile, "--append")
	for j, c := range read.Cores {
		w := want[j]
		if c.Key != w.Key || c.DiscoveryKey != w.DiscoveryKey || c.Length != w.Length || !c.Writable || c.BlocksSHA256 != w.BlocksSHA256 {
			got, _ := json.Marshal(c)
			exp, _ := json.Marshal(w)
			t.Errorf("%s: JS read %s\n want %s", w.Label, got, exp)
		}
	}

	s, err = corestore.Open(dir, corestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, label := range storeLabels {
		c := openLikeJS(t, s, label, nil, vectorsHex(t, want[indexOf(storeLabels, label)].Key))
		b, err := c.Get(context.Background(), storeBlocks)
		if err != nil || string(b) != "appended by js" || !c.Writable() {
			t.Errorf("%s: block appended by JS = %q, %v (writable %v)", label, b, err, c.Writable())
		}
	}
}

func vectorsHex(t *testing.T, s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}
