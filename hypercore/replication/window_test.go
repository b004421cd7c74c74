package replication

import (
	"bytes"
	"net"
	"sort"
	"testing"
	"time"

	"github.com/hyperfs/hyperfs/hypercore"
	"github.com/hyperfs/hyperfs/hypercore/storage"
)

// bigBlocks returns a writable in-memory feed of n blocks of size bytes.
func bigBlocks(t testing.TB, n, size int) *hypercore.Feed {
	t.Helper()
	f, err := hypercore.OpenStorage(storage.NewMemory(), hypercore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	for i := range n {
		if _, err := f.Append(bytes.Repeat([]byte{byte(i)}, size)); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// simulate runs a peer's request window against a model link: requests
// reach the remote after rtt/2, it sends blocks one after another, each
// taking blockTime, and each reaches us rtt/2 later; a request goes out
// whenever the window has room. It returns the share of the last half
// of the run the link was busy, the mean queueing delay then (latency
// beyond the round trip and the block's own transmission) and the
// final window.
func simulate(t *testing.T, p *Peer, size int, rtt, blockTime time.Duration, responses int) (busy float64, queue time.Duration, window float64) {
	t.Helper()
	epoch := time.Unix(1e9, 0)
	var now, linkFree time.Duration
	type resp struct {
		sent, at time.Duration
		alone    bool
	}
	var out []resp // responses on their way, by arrival
	send := func() {
		start := max(now+rtt/2, linkFree)
		linkFree = start + blockTime
		out = append(out, resp{sent: now, at: linkFree + rtt/2, alone: len(out) == 0})
		sort.Slice(out, func(i, j int) bool { return out[i].at < out[j].at })
	}
	fill := func() {
		for len(out) < p.windowLimit() {
			send()
		}
	}
	fill()
	var halfAt time.Duration
	var busyTime, queued time.Duration
	counted := 0
	for k := range responses {
		r := out[0]
		out = out[1:]
		now = r.at
		if k == responses/2 {
			halfAt = now
		}
		if k > responses/2 {
			busyTime += blockTime
			queued += now - r.sent - rtt - blockTime
			counted++
		}
		p.adjustWindow(now-r.sent, size, r.alone, epoch.Add(now))
		fill()
	}
	return float64(busyTime) / float64(now-halfAt), queued / time.Duration(counted), p.window
}

// The request window fills links of every bandwidth-delay product, from a
// 33 Mbit/s link with 50 ms round trips and 512 KiB blocks to loopback,
// and keeps the queue at the remote near queueTarget.
func TestWindowFillsLink(t *testing.T) {
	for _, c := range []struct {
		name      string
		size      int
		mbit      float64
		rtt       time.Duration
		wantAtMax bool
	}{
		{"33mbit-50ms-512k", 512 << 10, 33, 50 * time.Millisecond, false},
		{"100mbit-50ms-512k", 512 << 10, 100, 50 * time.Millisecond, false},
		{"100mbit-50ms-64k", 64 << 10, 100, 50 * time.Millisecond, false},
		{"100mbit-200ms-64k", 64 << 10, 100, 200 * time.Millisecond, false},
		{"1gbit-1ms-64k", 64 << 10, 1000, time.Millisecond, false},
		{"loopback-64k", 64 << 10, 20000, 20 * time.Microsecond, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := bigBlocks(t, 4, c.size)
			p := &Peer{r: &Replicator{feed: f}, maxRequests: DefaultMaxRequests, urgentRequests: DefaultMaxRequests + 16}
			blockTime := time.Duration(float64(c.size*8) / (c.mbit * 1e6) * float64(time.Second))
			// Long enough for several base probes.
			responses := int(4 * baseEpoch / blockTime)
			busy, queue, window := simulate(t, p, c.size, c.rtt, blockTime, min(responses, 200000))
			t.Logf("busy %.3f, queue %v, window %.1f", busy, queue, window)
			if busy < 0.95 {
				t.Errorf("link busy %.2f of the time, want ≥ 0.95", busy)
			}
			if !c.wantAtMax && queue > 2*queueTarget {
				t.Errorf("mean queue %v, want ≤ %v", queue, 2*queueTarget)
			}
			if c.wantAtMax && window < float64(p.urgentRequests) {
				t.Errorf("window %.1f on loopback, want the maximum %d", window, p.urgentRequests)
			}
		})
	}
}

// slowConn sends at most rate bytes a second.
type slowConn struct {
	net.Conn
	rate float64
}

func (c slowConn) Write(b []byte) (int, error) {
	time.Sleep(time.Duration(float64(len(b)) / c.rate * float64(time.Second)))
	return c.Conn.Write(b)
}

// slowPair connects a serving stream, which sends at rate bytes a second,
// to a reading one.
func slowPair(t *testing.T, rate float64, serve, read Config) (*Stream, *Stream) {
	t.Helper()
	ca, cb := net.Pipe()
	return connect(t, slowConn{ca, rate}, cb, serve, read)
}

// A reader waiting for many blocks spreads them over its peers by how
// fast each sends: two fast peers and a slow one all serve, the slow one
// least, and no block comes twice. (One peer used to take every waited-for
// block its fixed window of 80 held, and the others idled.)
func TestWaitedBlocksSpreadAcrossPeers(t *testing.T) {
	log, _ := newLogger(t)
	const n, size = 40, 256 << 10
	w := bigBlocks(t, n, size)
	rf := replica(t, w, true)
	rw := NewReplicator(w, Options{Logger: log})
	rr := NewReplicator(rf, Options{Logger: log})
	t.Cleanup(func() { rr.Close(); rw.Close() })
	var readers []*Peer
	for _, rate := range []float64{4 << 20, 4 << 20, 1 << 20} {
		sa, sb := slowPair(t, rate, Config{Live: true, Logger: log}, Config{Live: true, Logger: log})
		mustReplicate(t, sa, rw, PeerOptions{})
		readers = append(readers, mustReplicate(t, sb, rr, PeerOptions{}))
	}
	ctx := ctxTimeout(t, 30*time.Second)
	for _, p := range readers {
		for p.RemoteLength() < n {
			select {
			case <-ctx.Done():
				t.Fatal("peers never announced the feed")
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
	if err := rr.Update(ctx, UpdateOptions{MinLength: n}); err != nil {
		t.Fatal(err)
	}
	if err := rf.Prefetch(ctx, 0, n); err != nil {
		t.Fatal(err)
	}
	// A peer counts a block just after storing it, which is what wakes
	// Prefetch: the last count may land a moment after it returns.
	var got []uint64
	var sum uint64
	for {
		got, sum = got[:0], 0
		for _, p := range readers {
			b := p.Stats().DownloadedBlocks
			got = append(got, b)
			sum += b
		}
		if sum >= n || ctx.Err() != nil {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("blocks per peer (fast, fast, slow): %v", got)
	if sum != n {
		t.Fatalf("downloaded %d blocks, want each of %d once", sum, n)
	}
	for i, b := range got {
		if b == 0 {
			t.Errorf("peer %d served nothing: %v", i, got)
		}
	}
	if got[2] >= got[0] || got[2] >= got[1] {
		t.Errorf("the slow peer served %d, the fast ones %d and %d: want it to serve least", got[2], got[0], got[1])
	}
}
