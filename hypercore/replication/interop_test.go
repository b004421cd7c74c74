// Interop tests against JS hypercore 9 (integration/js/scripts/repl-peer.js)
// over TCP on 127.0.0.1, both directions.
package replication_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hyperfs/hyperfs/hypercore"
	"github.com/hyperfs/hyperfs/hypercore/replication"
	"github.com/hyperfs/hyperfs/integration/jsref"
)

// jsPeer is a repl-peer.js process: a JS hypercore 9 replicating over TCP.
type jsPeer struct {
	t    *testing.T
	p    *jsref.Process
	mu   sync.Mutex
	seen []map[string]any // events read while looking for another
}

func startJSPeer(t *testing.T, args ...string) *jsPeer {
	t.Helper()
	return &jsPeer{t: t, p: jsref.Start(t, "repl-peer.js", args...)}
}

// next returns the next event named name, keeping the others for later.
func (j *jsPeer) next(name string) map[string]any {
	j.t.Helper()
	j.mu.Lock()
	for k, ev := range j.seen {
		if ev["event"] == name {
			j.seen = append(j.seen[:k], j.seen[k+1:]...)
			j.mu.Unlock()
			return ev
		}
	}
	j.mu.Unlock()
	for {
		var ev map[string]any
		j.p.Next(&ev)
		if ev["event"] == name {
			return ev
		}
		if ev["event"] == "stream-error" {
			j.t.Logf("JS stream error: %v", ev["error"])
		}
		j.mu.Lock()
		j.seen = append(j.seen, ev)
		j.mu.Unlock()
	}
}

func (j *jsPeer) cmd(v map[string]any) {
	j.t.Helper()
	b, _ := json.Marshal(v)
	if _, err := j.p.Stdin().Write(append(b, '\n')); err != nil {
		j.t.Fatal(err)
	}
}

// dial connects to a listening JS peer as the initiator.
func (j *jsPeer) dial(t *testing.T, cfg replication.Config) *replication.Stream {
	t.Helper()
	port := int(j.next("listening")["port"].(float64))
	conn, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Initiator = true
	s, err := replication.NewStream(ctxT(t, 10*time.Second), conn, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// listenGo listens on loopback; accept runs the handshake as responder.
func listenGo(t *testing.T) (port string, accept func(cfg replication.Config) *replication.Stream) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	_, port, _ = net.SplitHostPort(l.Addr().String())
	return port, func(cfg replication.Config) *replication.Stream {
		t.Helper()
		conn, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		s, err := replication.NewStream(ctxT(t, 10*time.Second), conn, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// goWriter is a Go feed holding blocks [0, n) of seed.
func goWriter(t *testing.T, seed uint32, n int) *hypercore.Feed {
	t.Helper()
	f, err := hypercore.Open(t.TempDir(), hypercore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	goAppend(t, f, seed, 0, n)
	return f
}

func goAppend(t *testing.T, f *hypercore.Feed, seed uint32, from, to int) {
	t.Helper()
	var batch [][]byte
	for i := from; i < to; i++ {
		batch = append(batch, jsref.Block(seed, uint64(i)))
		if len(batch) == 1000 || i == to-1 {
			if _, err := f.Append(batch...); err != nil {
				t.Fatal(err)
			}
			batch = nil
		}
	}
}

func goReplica(t *testing.T, keyHex string, sparse bool) *hypercore.Feed {
	t.Helper()
	key, err := hex.DecodeString(keyHex)
	if err != nil {
		t.Fatal(err)
	}
	f, err := hypercore.Open(t.TempDir(), hypercore.Options{PublicKey: key, Sparse: sparse})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func checkGoBlocks(t *testing.T, f *hypercore.Feed, seed uint32, idx ...uint64) {
	t.Helper()
	for _, i := range idx {
		b, err := f.GetLocal(i)
		if err != nil {
			t.Fatalf("block %d: %v", i, err)
		}
		if string(b) != string(jsref.Block(seed, i)) {
			t.Fatalf("block %d differs", i)
		}
	}
}

func feedKey(ev map[string]any, n int) string {
	return ev["feeds"].([]any)[n].(map[string]any)["key"].(string)
}

func TestReplicationJSToGoFull(t *testing.T) {
	const n = 3000
	js := startJSPeer(t, "--listen", "--feed", t.TempDir(), "--blocks", strconv.Itoa(n))
	key := feedKey(js.next("ready"), 0)
	f := goReplica(t, key, false)
	r := replication.NewReplicator(f, replication.Options{})
	s := js.dial(t, replication.Config{})
	if _, err := s.Replicate(r, replication.PeerOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Wait(ctxT(t, 30*time.Second)); err != nil {
		t.Fatalf("stream: %v", err)
	}
	if f.Length() != n || !f.HasRange(0, n) {
		t.Fatalf("length %d, %d blocks", f.Length(), f.Downloaded(0, n))
	}
	all := make([]uint64, n)
	for i := range all {
		all[i] = uint64(i)
	}
	checkGoBlocks(t, f, 1, all...)
	js.next("stream-close")
}

func TestReplicationGoToJSFull(t *testing.T) {
	const n = 3000
	w := goWriter(t, 1, n)
	r := replication.NewReplicator(w, replication.Options{})
	port, accept := listenGo(t)
	js := startJSPeer(t, "--connect", port, "--feed", t.TempDir()+":"+hex.EncodeToString(w.Key()))
	s := accept(replication.Config{})
	if _, err := s.Replicate(r, replication.PeerOptions{}); err != nil {
		t.Fatal(err)
	}
	js.next("sync")
	if err := s.Wait(ctxT(t, 30*time.Second)); err != nil {
		t.Fatalf("stream: %v", err)
	}
	js.next("stream-close")
	js.cmd(map[string]any{"cmd": "stats"})
	st := js.next("stats")["feeds"].([]any)[0].(map[string]any)
	if st["length"].(float64) != n || st["downloaded"].(float64) != n {
		t.Fatalf("JS replica: %v", st)
	}
	for _, i := range []int{0, 1234, n - 1} {
		js.cmd(map[string]any{"cmd": "get", "index": i})
		got := js.next("got")
		if got["hex"] != hex.EncodeToString(jsref.Block(1, uint64(i))) {
			t.Fatalf("JS block %d: %v", i, got)
		}
	}
	if u := r.Stats().UploadedBlocks; u != n {
		t.Fatalf("uploaded %d blocks", u)
	}
}

// TestReplicationSparse checks that a sparse read moves only the chosen
// blocks (and their proofs), in both directions.
func TestReplicationSparse(t *testing.T) {
	const n = 5000
	chosen := []uint64{5, 1000, 4999}
	var chosenBytes uint64
	for _, i := range chosen {
		chosenBytes += uint64(len(jsref.Block(1, i)))
	}
	// Proofs: ≤ 2·log2(n) nodes of 32+~12 bytes each plus a 64-byte
	// signature per block, and a few hundred bytes of handshake, Open,
	// Want/Have and Request frames.
	budget := chosenBytes + uint64(len(chosen))*(30*45+80) + 2000

	t.Run("JS to Go", func(t *testing.T) {
		js := startJSPeer(t, "--listen", "--live", "--feed", t.TempDir(), "--blocks", strconv.Itoa(n))
		f := goReplica(t, feedKey(js.next("ready"), 0), true)
		r := replication.NewReplicator(f, replication.Options{})
		s := js.dial(t, replication.Config{Live: true})
		if _, err := s.Replicate(r, replication.PeerOptions{}); err != nil {
			t.Fatal(err)
		}
		ctx := ctxT(t, 20*time.Second)
		for _, i := range chosen {
			if _, err := f.Get(ctx, i); err != nil {
				t.Fatal(err)
			}
		}
		checkGoBlocks(t, f, 1, chosen...)
		if got := f.Downloaded(0, n); got != uint64(len(chosen)) {
			t.Fatalf("downloaded %d blocks", got)
		}
		js.cmd(map[string]any{"cmd": "stats"})
		st := js.next("stats")
		if up := st["feeds"].([]any)[0].(map[string]any)["upload"].(float64); up != float64(len(chosen)) {
			t.Fatalf("JS uploaded %v blocks", up)
		}
		if rd := s.BytesRead(); rd > budget {
			t.Fatalf("read %d bytes for %d block bytes (budget %d)", rd, chosenBytes, budget)
		}
		t.Logf("%d blocks, %d block bytes, %d bytes on the wire", len(chosen), chosenBytes, s.BytesRead())
	})
	t.Run("Go to JS", func(t *testing.T) {
		w := goWriter(t, 1, n)
		r := replication.NewReplicator(w, replication.Options{})
		port, accept := listenGo(t)
		js := startJSPeer(t, "--connect", port, "--live", "--sparse", "--feed", t.TempDir()+":"+hex.EncodeToString(w.Key()))
		s := accept(replication.Config{Live: true})
		if _, err := s.Replicate(r, replication.PeerOptions{}); err != nil {
			t.Fatal(err)
		}
		for _, i := range chosen {
			js.cmd(map[string]any{"cmd": "get", "index": i})
			if got := js.next("got"); got["hex"] != hex.EncodeToString(jsref.Block(1, i)) {
				t.Fatalf("JS block %d: %v", i, got)
			}
		}
		if st := r.Stats(); st.UploadedBlocks != uint64(len(chosen)) || st.UploadedBytes != chosenBytes {
			t.Fatalf("uploaded %+v", st)
		}
		if wr := s.BytesWritten(); wr > budget {
			t.Fatalf("wrote %d bytes for %d block bytes (budget %d)", wr, chosenBytes, budget)
		}
	})
}

func TestReplicationLiveAppends(t *testing.T) {
	t.Run("JS appends", func(t *testing.T) {
		js := startJSPeer(t, "--listen", "--live", "--feed", t.TempDir(), "--blocks", "10")
		f := goReplica(t, feedKey(js.next("ready"), 0), false)
		r := replication.NewReplicator(f, replication.Options{})
		s := js.dial(t, replication.Config{Live: true})
		if _, err := s.Replicate(r, replication.PeerOptions{}); err != nil {
			t.Fatal(err)
		}
		ctx := ctxT(t, 20*time.Second)
		if err := r.Update(ctx, replication.UpdateOptions{MinLength: 10}); err != nil {
			t.Fatal(err)
		}
		js.cmd(map[string]any{"cmd": "append", "from": 10, "to": 15})
		if err := r.Update(ctx, replication.UpdateOptions{MinLength: 15}); err != nil {
			t.Fatal(err)
		}
		d := r.Download(replication.Range{Start: 0, End: 15})
		if err := d.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		checkGoBlocks(t, f, 1, 0, 9, 10, 14)
	})
	t.Run("Go appends", func(t *testing.T) {
		w := goWriter(t, 1, 10)
		r := replication.NewReplicator(w, replication.Options{})
		port, accept := listenGo(t)
		js := startJSPeer(t, "--connect", port, "--live", "--feed", t.TempDir()+":"+hex.EncodeToString(w.Key()))
		s := accept(replication.Config{Live: true})
		if _, err := s.Replicate(r, replication.PeerOptions{}); err != nil {
			t.Fatal(err)
		}
		js.next("sync")
		goAppend(t, w, 1, 10, 13)
		for {
			ev := js.next("download")
			if ev["index"].(float64) == 12 {
				break
			}
		}
		js.cmd(map[string]any{"cmd": "get", "index": 12})
		if got := js.next("got"); got["hex"] != hex.EncodeToString(jsref.Block(1, 12)) {
			t.Fatalf("JS block 12: %v", got)
		}
	})
}

func TestReplicationSeveralFeeds(t *testing.T) {
	js := startJSPeer(t, "--listen", "--feed", t.TempDir(), "--feed", t.TempDir(), "--feed", t.TempDir(), "--blocks", "500")
	ready := js.next("ready")
	s := js.dial(t, replication.Config{})
	var feeds []*hypercore.Feed
	for k := range 3 {
		f := goReplica(t, feedKey(ready, k), false)
		feeds = append(feeds, f)
		if _, err := s.Replicate(replication.NewReplicator(f, replication.Options{}), replication.PeerOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Wait(ctxT(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	for k, f := range feeds {
		if !f.HasRange(0, 500) || f.Length() != 500 {
			t.Fatalf("feed %d: length %d", k, f.Length())
		}
		checkGoBlocks(t, f, uint32(k+1), 0, 250, 499)
	}
}

func TestReplicationRefused(t *testing.T) {
	t.Run("unknown key", func(t *testing.T) {
		// Go asks for a feed the JS peer does not have: nothing flows.
		js := startJSPeer(t, "--listen", "--live", "--feed", t.TempDir(), "--blocks", "5")
		js.next("ready")
		other := goWriter(t, 9, 1)
		f := goReplica(t, hex.EncodeToString(other.Key()), true)
		r := replication.NewReplicator(f, replication.Options{})
		s := js.dial(t, replication.Config{Live: true})
		if _, err := s.Replicate(r, replication.PeerOptions{}); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
		defer cancel()
		if _, err := f.Get(ctx, 0); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("get from a peer without the feed: %v", err)
		}
		if ps := r.Peers(); len(ps) != 1 || ps[0].RemoteLength() != 0 {
			t.Fatal("remote should never have opened the feed")
		}
	})
	t.Run("missing capability", func(t *testing.T) {
		// A JS peer that knows the discovery key but not the key: its Open
		// carries a capability made from a wrong key. Go opened the channel
		// first, so the stream is destroyed, as the reference does.
		w := goWriter(t, 1, 5)
		r := replication.NewReplicator(w, replication.Options{})
		dk := w.DiscoveryKey()
		wrong := make([]byte, 32)
		rand.Read(wrong)
		js := jsref.Start(t, "wire-peer.js", "--listen", "--key", hex.EncodeToString(wrong), "--discovery-key", hex.EncodeToString(dk[:]))
		var ev map[string]any
		js.Next(&ev)
		conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%v", ev["port"]))
		if err != nil {
			t.Fatal(err)
		}
		s, err := replication.NewStream(ctxT(t, 10*time.Second), conn, replication.Config{Initiator: true, Live: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Replicate(r, replication.PeerOptions{}); err != nil {
			t.Fatal(err)
		}
		// Both ends check: whichever sees the other's Open first destroys
		// the stream (Go with ErrBadCapability, or JS, which Go sees as
		// the stream ending).
		err = s.Wait(ctxT(t, 10*time.Second))
		if err != nil && !errors.Is(err, replication.ErrBadCapability) {
			t.Fatalf("stream ended with %v, want ErrBadCapability", err)
		}
		if r.Stats().UploadedBlocks != 0 {
			t.Fatal("uploaded to a peer without the key")
		}
	})
}

func TestReplicationExtensions(t *testing.T) {
	js := startJSPeer(t, "--listen", "--live", "--sparse", "--feed", t.TempDir(), "--blocks", "3", "--ext", "echo", "--stream-ext", "sx")
	f := goReplica(t, feedKey(js.next("ready"), 0), true)
	r := replication.NewReplicator(f, replication.Options{})
	got := make(chan string, 10)
	var ext *replication.Extension
	ext = r.RegisterExtension("echo", func(p *replication.Peer, msg []byte) {
		got <- "feed:" + string(msg)
		if string(msg) == "from js" {
			ext.Send(p, []byte("reply to js"))
		}
	})
	r.RegisterExtension("aaa-unused", nil) // different local ids (trap 10)
	s := js.dial(t, replication.Config{Live: true})
	sx := s.RegisterExtension("sx", func(_ *replication.Stream, msg []byte) { got <- "stream:" + string(msg) })
	peer, err := s.Replicate(r, replication.PeerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_ = peer
	ctx := ctxT(t, 20*time.Second)
	if err := r.Update(ctx, replication.UpdateOptions{MinLength: 3}); err != nil {
		t.Fatal(err)
	}
	// JS sends, Go's handler replies, JS receives the reply.
	js.cmd(map[string]any{"cmd": "ext", "name": "echo", "msg": "from js"})
	if m := <-got; m != "feed:from js" {
		t.Fatalf("Go got %q", m)
	}
	ev := js.next("extension")
	if ev["msg"] != "reply to js" {
		t.Fatalf("JS got %v", ev)
	}
	if m := <-got; m != "feed:echo:reply to js" {
		t.Fatalf("Go got %q", m)
	}
	// Stream level, Go first.
	sx.Broadcast([]byte("hello"))
	if ev := js.next("extension"); ev["msg"] != "hello" || ev["feed"].(float64) != -1 {
		t.Fatalf("JS got %v", ev)
	}
	select {
	case m := <-got:
		if m != "stream:echo:hello" {
			t.Fatalf("Go got %q", m)
		}
	case <-ctx.Done():
		t.Fatal("no stream extension reply")
	}
}

func TestReplicationJSUpdateIfAvailable(t *testing.T) {
	w := goWriter(t, 1, 20)
	r := replication.NewReplicator(w, replication.Options{})
	port, accept := listenGo(t)
	js := startJSPeer(t, "--connect", port, "--live", "--sparse", "--feed", t.TempDir()+":"+hex.EncodeToString(w.Key()))
	s := accept(replication.Config{Live: true})
	if _, err := s.Replicate(r, replication.PeerOptions{}); err != nil {
		t.Fatal(err)
	}
	js.cmd(map[string]any{"cmd": "update", "ifAvailable": true, "minLength": 20})
	if ev := js.next("updated"); ev["error"] != nil || ev["length"].(float64) != 20 {
		t.Fatalf("JS update: %v", ev)
	}
	js.cmd(map[string]any{"cmd": "update", "ifAvailable": true})
	if ev := js.next("updated"); ev["error"] == nil {
		t.Fatalf("JS update past the end: %v", ev)
	}
	// After an append the Have is on its way: an ifAvailable update may
	// still see the old length, but once the Have is in it must return
	// the block.
	goAppend(t, w, 1, 20, 21)
	for try := 0; ; try++ {
		js.cmd(map[string]any{"cmd": "update", "ifAvailable": true, "minLength": 21, "hash": false})
		ev := js.next("updated")
		if ev["error"] == nil && ev["length"].(float64) == 21 {
			break
		}
		if try == 50 {
			t.Fatalf("JS update after append: %v", ev)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
