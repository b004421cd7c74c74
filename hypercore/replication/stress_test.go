package replication

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// TestManyPeersChurn connects hundreds of peers to one sparse reader and one
// writer, lets them request blocks and drops them at random moments while the
// writer appends (every append and every close walks the peer list). Peers
// closing on their own streams' loops used to rewrite the replicator's peer
// list in place while other loops ranged over it: a nil peer panic, and a
// data race under -race. Afterwards a fresh peer must still serve every block.
func TestManyPeersChurn(t *testing.T) {
	n := 200
	if testing.Short() {
		n = 50
	}
	log, _ := newLogger(t)
	w := writer(t, 400)
	rf := replica(t, w, true)
	rw := NewReplicator(w, Options{Logger: log})
	rr := NewReplicator(rf, Options{Logger: log})
	ctx := ctxTimeout(t, 60*time.Second)

	type link struct{ seeder, reader *Stream }
	links := make([]link, n)
	for i := range links {
		sa, sb := pair(t, false, Config{Live: true, Logger: log}, Config{Live: true, Logger: log})
		mustReplicate(t, sa, rw, PeerOptions{})
		mustReplicate(t, sb, rr, PeerOptions{})
		links[i] = link{sa, sb}
	}

	var wg sync.WaitGroup
	// Drop every link at a random moment, from either end.
	for i, l := range links {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(rand.IntN(300)) * time.Millisecond)
			if i%2 == 0 {
				l.seeder.Close()
			} else {
				l.reader.Close()
			}
		}()
	}
	// Requests for random blocks race the drops; a request may fail with
	// its peer gone, which is fine, as long as nothing panics.
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				gctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
				i := uint64(rand.IntN(400))
				if b, err := rf.Get(gctx, i); err == nil && string(b) != string(block(int(i))) {
					t.Errorf("block %d = %q", i, b)
				}
				cancel()
			}
		}()
	}
	// Appends walk both replicators' peer lists while they change.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 400; i < 440; i++ {
			if _, err := w.Append(block(i)); err != nil {
				t.Error(err)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	wg.Wait()
	for _, l := range links {
		<-l.seeder.Done()
		<-l.reader.Done()
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(rw.Peers()) > 0 || len(rr.Peers()) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("peers left after every stream closed: writer %d, reader %d", len(rw.Peers()), len(rr.Peers()))
		}
		time.Sleep(10 * time.Millisecond)
	}

	// The replicators are intact: a new peer serves every block.
	sa, sb := pair(t, false, Config{Live: true, Logger: log}, Config{Live: true, Logger: log})
	mustReplicate(t, sa, rw, PeerOptions{})
	mustReplicate(t, sb, rr, PeerOptions{})
	for i := range 440 {
		b, err := rf.Get(ctx, uint64(i))
		if err != nil {
			t.Fatalf("get %d after churn: %v", i, err)
		}
		if string(b) != string(block(i)) {
			t.Fatalf("block %d = %q", i, b)
		}
	}
}
