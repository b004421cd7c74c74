package replication

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hyperfs/hyperfs/hypercore"
)

func TestFullDownloadNonLive(t *testing.T) {
	for _, tcp := range []bool{false, true} {
		t.Run(map[bool]string{false: "pipe", true: "tcp"}[tcp], func(t *testing.T) {
			log, tl := newLogger(t)
			w := writer(t, 1000)
			rf := replica(t, w, false)
			rw := NewReplicator(w, Options{Logger: log})
			rr := NewReplicator(rf, Options{Logger: log})
			var mu sync.Mutex
			var kinds []EventKind
			rr.Subscribe(func(ev Event) {
				mu.Lock()
				if !slices.Contains(kinds, ev.Kind) {
					kinds = append(kinds, ev.Kind)
				}
				mu.Unlock()
			})
			sa, sb := pair(t, tcp, Config{Logger: log}, Config{Logger: log})
			mustReplicate(t, sa, rw, PeerOptions{})
			mustReplicate(t, sb, rr, PeerOptions{})
			ctx := ctxTimeout(t, 20*time.Second)
			if err := sb.Wait(ctx); err != nil {
				t.Fatalf("reader stream: %v", err)
			}
			if err := sa.Wait(ctx); err != nil {
				t.Fatalf("writer stream: %v", err)
			}
			if rf.Length() != 1000 || !rf.HasRange(0, 1000) {
				t.Fatalf("replica has length %d, %d blocks", rf.Length(), rf.Downloaded(0, 1000))
			}
			checkBlocks(t, rf, 0, 1000)
			st := rr.Stats()
			if st.DownloadedBlocks != 1000 || rw.Stats().UploadedBlocks != 1000 {
				t.Fatalf("stats: %+v / %+v", st, rw.Stats())
			}
			mu.Lock()
			for _, k := range []EventKind{EventPeerAdd, EventPeerOpen, EventDownload, EventAppend, EventSync, EventPeerRemove} {
				if !slices.Contains(kinds, k) {
					t.Errorf("no %v event (got %v)", k, kinds)
				}
			}
			mu.Unlock()
			if w := tl.Warnings(); len(w) > 0 {
				t.Fatalf("warnings: %v", w)
			}
		})
	}
}

func TestSparseGetAndLiveAppend(t *testing.T) {
	log, _ := newLogger(t)
	w := writer(t, 300)
	rf := replica(t, w, true)
	rw := NewReplicator(w, Options{Logger: log})
	rr := NewReplicator(rf, Options{Logger: log})
	sa, sb := pair(t, false, Config{Live: true, Logger: log}, Config{Live: true, Logger: log})
	mustReplicate(t, sa, rw, PeerOptions{})
	mustReplicate(t, sb, rr, PeerOptions{})
	ctx := ctxTimeout(t, 10*time.Second)
	for _, i := range []int{7, 250, 0, 299} {
		b, err := rf.Get(ctx, uint64(i))
		if err != nil {
			t.Fatalf("get %d: %v", i, err)
		}
		if string(b) != string(block(i)) {
			t.Fatalf("block %d = %q", i, b)
		}
	}
	if n := rf.Downloaded(0, 300); n != 4 {
		t.Fatalf("sparse replica downloaded %d blocks, want 4", n)
	}
	if st := rr.Stats(); st.DownloadedBlocks != 4 {
		t.Fatalf("stats %+v", st)
	}
	// Live: an append on the writer reaches the reader's Update.
	done := make(chan error, 1)
	go func() { done <- rr.Update(ctx, UpdateOptions{MinLength: 301}) }()
	appendBlocks(t, w, 300, 301)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if rf.Length() != 301 {
		t.Fatalf("length %d", rf.Length())
	}
	b, err := rf.Get(ctx, 300)
	if err != nil || string(b) != string(block(300)) {
		t.Fatalf("get 300: %q %v", b, err)
	}
	// ifAvailable: nothing more is there.
	if err := rr.Update(ctx, UpdateOptions{IfAvailable: true}); !errors.Is(err, ErrNoUpdate) {
		t.Fatalf("update ifAvailable: %v, want ErrNoUpdate", err)
	}
	appendBlocks(t, w, 301, 310)
	for rr.RemoteLength() < 310 { // the Have is on its way
		time.Sleep(time.Millisecond)
	}
	if err := rr.Update(ctx, UpdateOptions{MinLength: 310, IfAvailable: true}); err != nil {
		t.Fatalf("update ifAvailable after append: %v", err)
	}
}

func TestDownloadRangeAndCancel(t *testing.T) {
	log, _ := newLogger(t)
	w := writer(t, 500)
	rf := replica(t, w, true)
	rw := NewReplicator(w, Options{Logger: log})
	rr := NewReplicator(rf, Options{Logger: log})
	sa, sb := pair(t, false, Config{Live: true, Logger: log}, Config{Live: true, Logger: log})
	mustReplicate(t, sa, rw, PeerOptions{})
	mustReplicate(t, sb, rr, PeerOptions{})
	ctx := ctxTimeout(t, 10*time.Second)
	d := rr.Download(Range{Start: 100, End: 200, Linear: true})
	if err := d.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if rf.Downloaded(0, 500) != 100 || !rf.HasRange(100, 200) {
		t.Fatalf("downloaded %d", rf.Downloaded(0, 500))
	}
	d = rr.Download(Range{Blocks: []uint64{3, 400, 401}})
	if err := d.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if !rf.Has(3) || !rf.Has(400) || !rf.Has(401) || rf.Downloaded(0, 500) != 103 {
		t.Fatal("block list download")
	}
	rw.SetUploading(false)
	d = rr.Download(Range{Start: 0, End: 500})
	time.Sleep(50 * time.Millisecond)
	d.Cancel()
	if err := d.Wait(ctx); !errors.Is(err, ErrCanceled) {
		t.Fatalf("cancelled download: %v", err)
	}
	checkBlocks(t, rf, 100, 200)
}

func TestUnhaveAfterClear(t *testing.T) {
	log, _ := newLogger(t)
	w := writer(t, 50)
	rf := replica(t, w, true)
	rw := NewReplicator(w, Options{Logger: log})
	rr := NewReplicator(rf, Options{Logger: log})
	sa, sb := pair(t, false, Config{Live: true, Logger: log}, Config{Live: true, Logger: log})
	mustReplicate(t, sa, rw, PeerOptions{})
	pr := mustReplicate(t, sb, rr, PeerOptions{})
	ctx := ctxTimeout(t, 10*time.Second)
	if _, err := rf.Get(ctx, 1); err != nil {
		t.Fatal(err)
	}
	// A second replica gets block 10 from the first one's writer after
	// the writer clears... instead clear on the writer and watch the
	// reader's remote bitfield lose the block.
	if err := w.Clear(10, 11); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		has := make(chan bool, 1)
		sb.post(func() { has <- pr.remote.get(10) })
		if !<-has {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Unhave never arrived")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestAckAndExtensions(t *testing.T) {
	log, _ := newLogger(t)
	w := writer(t, 5)
	rf := replica(t, w, true)
	rw := NewReplicator(w, Options{Logger: log})
	rr := NewReplicator(rf, Options{Logger: log})
	acks := make(chan uint64, 10)
	rw.Subscribe(func(ev Event) {
		if ev.Kind == EventAck {
			acks <- ev.Index
		}
	})
	got := make(chan string, 10)
	rw.RegisterExtension("echo", func(p *Peer, msg []byte) {
		got <- "writer:" + string(msg)
	})
	ext := rr.RegisterExtension("echo", func(p *Peer, msg []byte) { got <- "reader:" + string(msg) })
	rr.RegisterExtension("aaa", nil) // shifts the reader's ids: trap 10
	sa, sb := pair(t, false, Config{Live: true, Logger: log}, Config{Live: true, Logger: log})
	sext := sa.RegisterExtension("stream-x", nil)
	sb.RegisterExtension("stream-x", func(s *Stream, msg []byte) { got <- "stream:" + string(msg) })
	mustReplicate(t, sa, rw, PeerOptions{Ack: true})
	mustReplicate(t, sb, rr, PeerOptions{})
	ctx := ctxTimeout(t, 10*time.Second)
	if _, err := rf.Get(ctx, 2); err != nil {
		t.Fatal(err)
	}
	select {
	case i := <-acks:
		if i != 2 {
			t.Fatalf("ack for %d", i)
		}
	case <-ctx.Done():
		t.Fatal("no ack")
	}
	ext.Broadcast([]byte("hi"))
	sext.Broadcast([]byte("yo"))
	want := map[string]bool{"writer:hi": true, "stream:yo": true}
	for len(want) > 0 {
		select {
		case m := <-got:
			if !want[m] {
				t.Fatalf("unexpected %q", m)
			}
			delete(want, m)
		case <-ctx.Done():
			t.Fatalf("missing %v", want)
		}
	}
}

func TestSeveralFeedsAndPeers(t *testing.T) {
	log, _ := newLogger(t)
	w1, w2 := writer(t, 200), writer(t, 300)
	r1, r2 := replica(t, w1, false), replica(t, w2, false)
	rw1, rw2 := NewReplicator(w1, Options{Logger: log}), NewReplicator(w2, Options{Logger: log})
	rr1, rr2 := NewReplicator(r1, Options{Logger: log}), NewReplicator(r2, Options{Logger: log})
	sa, sb := pair(t, false, Config{Logger: log}, Config{Logger: log})
	mustReplicate(t, sa, rw1, PeerOptions{})
	mustReplicate(t, sa, rw2, PeerOptions{})
	mustReplicate(t, sb, rr1, PeerOptions{})
	mustReplicate(t, sb, rr2, PeerOptions{})
	ctx := ctxTimeout(t, 20*time.Second)
	if err := sb.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	checkBlocks(t, r1, 0, 200)
	checkBlocks(t, r2, 0, 300)

	// A third replica downloads from two peers at once (the writer and
	// the first replica), the window spread across both.
	r3 := replica(t, w1, false)
	rr3 := NewReplicator(r3, Options{Logger: log, MaxRequests: 4})
	s1, s2 := pair(t, false, Config{Logger: log}, Config{Logger: log})
	s3, s4 := pair(t, false, Config{Logger: log}, Config{Logger: log})
	mustReplicate(t, s1, rw1, PeerOptions{})
	mustReplicate(t, s2, rr3, PeerOptions{})
	mustReplicate(t, s3, rr1, PeerOptions{})
	p4 := mustReplicate(t, s4, rr3, PeerOptions{})
	if err := s2.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s4.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	checkBlocks(t, r3, 0, 200)
	if p4.Stats().DownloadedBlocks == 0 {
		t.Log("second peer served nothing (timing)")
	}
	if rr3.Stats().DownloadedBlocks != 200 {
		t.Fatalf("downloaded %d blocks, want each once", rr3.Stats().DownloadedBlocks)
	}
	_ = hypercore.ErrBadProof
}

func TestEagerUpdate(t *testing.T) {
	log, _ := newLogger(t)
	w := writer(t, 3)
	rf := replica(t, w, true)
	rw := NewReplicator(w, Options{Logger: log})
	rr := NewReplicator(rf, Options{Logger: log, EagerUpdate: true})
	t.Cleanup(func() { rr.Close() })
	appended := make(chan uint64, 10)
	rr.Subscribe(func(ev Event) {
		if ev.Kind == EventAppend {
			appended <- ev.Length
		}
	})
	sa, sb := pair(t, false, Config{Live: true, Logger: log}, Config{Live: true, Logger: log})
	mustReplicate(t, sa, rw, PeerOptions{})
	mustReplicate(t, sb, rr, PeerOptions{})
	ctx := ctxTimeout(t, 10*time.Second)
	appendBlocks(t, w, 3, 4)
	for rf.Length() < 4 {
		select {
		case <-appended:
		case <-ctx.Done():
			t.Fatalf("length %d, want 4 without asking", rf.Length())
		}
	}
	if rf.Has(3) {
		t.Fatal("eager update fetched the block, not just its proof")
	}
}
