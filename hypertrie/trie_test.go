package hypertrie

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
	"time"
)

// TestAgainstMap applies random puts and deletes (some in batches) and
// checks every Get and a recursive List against a plain map.
func TestAgainstMap(t *testing.T) {
	ctx := context.Background()
	tr, _ := newMemTrie(t, Options{})
	rnd := rand.New(rand.NewPCG(1, 2))
	model := map[string]string{}
	var pool []string
	for i := range 60 {
		pool = append(pool, fmt.Sprintf("k%d", i), fmt.Sprintf("dir%d/k%d", i%5, i), fmt.Sprintf("dir%d/sub/k%d", i%3, i))
	}
	for step := range 1500 {
		k := pool[rnd.IntN(len(pool))]
		switch {
		case step%50 == 49:
			var ops []Op
			for range 5 {
				k := pool[rnd.IntN(len(pool))]
				if rnd.IntN(3) == 0 {
					ops = append(ops, Op{Type: OpDel, Key: k})
					delete(model, k)
				} else {
					v := fmt.Sprint(step, rnd.Int())
					ops = append(ops, Op{Type: OpPut, Key: k, Value: []byte(v)})
					model[k] = v
				}
			}
			if _, err := tr.Batch(ctx, ops); err != nil {
				t.Fatal(err)
			}
		case rnd.IntN(4) == 0:
			err := tr.Del(ctx, k)
			if _, ok := model[k]; ok != (err == nil) {
				t.Fatalf("del %q: %v (present %v)", k, err, ok)
			}
			delete(model, k)
		default:
			v := fmt.Sprint(step)
			mustPut(t, tr, k, v)
			model[k] = v
		}
	}
	for _, k := range pool {
		n, err := tr.Get(ctx, k)
		want, ok := model[k]
		if !ok {
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("get %q = %v, %v; want not found", k, n, err)
			}
			continue
		}
		if err != nil || string(n.Value) != want {
			t.Errorf("get %q = %v, %v; want %q", k, n, err, want)
		}
	}
	list, err := tr.List(ctx, "", ListOptions{Recursive: true})
	if err != nil {
		t.Fatal(err)
	}
	got := keys(list)
	var want []string
	for k := range model {
		want = append(want, k)
	}
	sort.Strings(want)
	sorted := slices.Clone(got)
	sort.Strings(sorted)
	if !slices.Equal(sorted, want) {
		t.Errorf("list has %d keys, model %d", len(got), len(want))
	}
	// One level: one representative per child of dir0.
	one, err := tr.List(ctx, "dir0", ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	children := map[string]bool{}
	for _, n := range one {
		children[splitKey(n.Key)[1]] = true
	}
	wantChildren := map[string]bool{}
	for k := range model {
		if s := splitKey(k); len(s) > 1 && s[0] == "dir0" {
			wantChildren[s[1]] = true
		}
	}
	if len(children) != len(one) || len(children) != len(wantChildren) {
		t.Errorf("one-level list of dir0: %d nodes, %d names, want %d names", len(one), len(children), len(wantChildren))
	}
}

func TestCheckoutAndVersion(t *testing.T) {
	ctx := context.Background()
	tr, _ := newMemTrie(t, Options{})
	if tr.Version() != 1 {
		t.Fatalf("version of a new trie %d, want 1 (the header)", tr.Version())
	}
	mustPut(t, tr, "a", "1")
	v := tr.Version()
	mustPut(t, tr, "a", "2")
	if err := tr.Del(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	old := tr.Checkout(v)
	n, err := old.Get(ctx, "a")
	if err != nil || string(n.Value) != "1" {
		t.Errorf("checkout get = %v, %v", n, err)
	}
	if _, err := tr.Get(ctx, "a"); !errors.Is(err, ErrNotFound) {
		t.Errorf("live get after delete: %v", err)
	}
	if _, err := old.Put(ctx, "b", nil); !errors.Is(err, ErrReadOnly) {
		t.Errorf("put on a checkout: %v", err)
	}
	if _, err := tr.Checkout(0).Get(ctx, "a"); !errors.Is(err, ErrNotFound) {
		t.Errorf("checkout(0) get: %v", err)
	}
}

func TestConditions(t *testing.T) {
	ctx := context.Background()
	tr, _ := newMemTrie(t, Options{})
	if n, err := tr.Put(ctx, "x", []byte("1"), IfNotExists()); err != nil || n == nil {
		t.Fatalf("first put: %v, %v", n, err)
	}
	if n, err := tr.Put(ctx, "x", []byte("2"), IfNotExists()); err != nil || n != nil {
		t.Fatalf("second put went through: %v, %v", n, err)
	}
	var sawClosest *Node
	mustPut(t, tr, "dir/y", "y")
	if _, err := tr.Put(ctx, "dir/z", []byte("z"), Closest(), PutIf(func(existing, next *Node) (bool, error) {
		sawClosest = existing
		return false, nil
	})); err != nil {
		t.Fatal(err)
	}
	if sawClosest == nil || sawClosest.Key != "dir/y" {
		t.Errorf("closest condition saw %v, want dir/y", sawClosest)
	}
	boom := errors.New("boom")
	if err := tr.Del(ctx, "x", DelIf(func(*Node) (bool, error) { return false, boom })); !errors.Is(err, boom) {
		t.Errorf("del condition error: %v", err)
	}
	if err := tr.Del(ctx, "x", DelIf(func(*Node) (bool, error) { return false, nil })); err != nil {
		t.Errorf("declined del: %v", err)
	}
	if _, err := tr.Get(ctx, "x"); err != nil {
		t.Errorf("declined del removed x: %v", err)
	}
	if n, err := tr.Get(ctx, "dir/w", Closest()); err != nil || n.Key != "dir/y" {
		t.Errorf("closest get = %v, %v", n, err)
	}
	if n, err := tr.Get(ctx, "dir", PrefixMatch()); err != nil || n.Key != "dir/y" {
		t.Errorf("prefix get = %v, %v", n, err)
	}
}

func TestDeleteLastKey(t *testing.T) {
	ctx := context.Background()
	tr, feed := newMemTrie(t, Options{})
	mustPut(t, tr, "only", "1")
	if err := tr.Del(ctx, "only"); err != nil {
		t.Fatal(err)
	}
	b, _ := feed.Get(ctx, feed.Length()-1)
	n, err := decodeNode(b, feed.Length()-1)
	if err != nil || n.key != "" || n.value != nil {
		t.Errorf("reset node = %+v, %v", n, err)
	}
	if l, err := tr.List(ctx, "", ListOptions{Recursive: true}); err != nil || len(l) != 0 {
		t.Errorf("list after deleting everything: %v, %v", keys(l), err)
	}
	mustPut(t, tr, "again", "2")
	if n, err := tr.Get(ctx, "again"); err != nil || string(n.Value) != "2" {
		t.Errorf("get after reset = %v, %v", n, err)
	}
}

func TestDiff(t *testing.T) {
	ctx := context.Background()
	tr, _ := newMemTrie(t, Options{})
	mustPut(t, tr, "a", "1")
	mustPut(t, tr, "b/c", "2")
	v := tr.Version()
	mustPut(t, tr, "d", "3")
	mustPut(t, tr, "a", "4")
	changes, err := tr.Diff(ctx, tr.Checkout(v), "")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][2]string{}
	for _, c := range changes {
		var l, r string
		if c.Left != nil {
			l = string(c.Left.Value)
		}
		if c.Right != nil {
			r = string(c.Right.Value)
		}
		got[c.Key] = [2]string{l, r}
	}
	want := map[string][2]string{"d": {"3", ""}, "a": {"4", "1"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("diff = %v, want %v", got, want)
	}
	all, err := tr.Diff(ctx, nil, "")
	if err != nil || len(all) != 3 {
		t.Errorf("diff against empty: %v, %v", all, err)
	}
}

func TestWatch(t *testing.T) {
	ctx := context.Background()
	tr, _ := newMemTrie(t, Options{})
	mustPut(t, tr, "w/before", "0")
	calls := make(chan struct{}, 10)
	stop := tr.Watch("w", func() { calls <- struct{}{} })
	defer stop()
	mustPut(t, tr, "elsewhere", "1")
	mustPut(t, tr, "w/x", "1")
	select {
	case <-calls:
	case <-time.After(5 * time.Second):
		t.Fatal("no change reported for w/x")
	}
	select {
	case <-calls:
		t.Fatal("a second change reported")
	case <-time.After(50 * time.Millisecond):
	}
	if err := tr.Del(ctx, "w/x"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-calls:
	case <-time.After(5 * time.Second):
		t.Fatal("no change reported for deleting w/x")
	}
	stop()
	mustPut(t, tr, "w/y", "1")
	select {
	case <-calls:
		t.Fatal("change reported after stop")
	case <-time.After(50 * time.Millisecond):
	}
}

func TestMounts(t *testing.T) {
	ctx := context.Background()
	tr, feed := newMemTrie(t, Options{Subtype: "hyperdrive", Metadata: []byte("content-key")})
	h, err := tr.Header(ctx)
	if err != nil || h.Subtype != "hyperdrive" || string(h.Metadata) != "content-key" {
		t.Fatalf("header %+v, %v", h, err)
	}
	key := make([]byte, 32)
	key[0] = 7
	if err := tr.Mount(ctx, "/mnt/inner", key, MountOptions{Version: 5, Value: []byte("stat")}); err != nil {
		t.Fatal(err)
	}
	// Two blocks, one append: the hidden record (flags 257) and the
	// visible mountpoint (256).
	for i, want := range []struct {
		key   string
		flags uint64
	}{{"mounts/mnt/inner", 257}, {"mnt/inner", 256}} {
		b, _ := feed.Get(ctx, feed.Length()-2+uint64(i))
		n, err := decodeNode(b, feed.Length()-2+uint64(i))
		if err != nil || n.key != want.key || n.flags != want.flags {
			t.Errorf("mount block %d = %q flags %d, %v; want %q %d", i, n.key, n.flags, err, want.key, want.flags)
		}
	}
	n, err := tr.Get(ctx, "mnt/inner")
	if err != nil || !IsMount(n) || string(n.Value) != "stat" {
		t.Errorf("mountpoint node %+v, %v", n, err)
	}
	rec, err := tr.MountAt(ctx, "/mnt/inner/a/b")
	if err != nil || rec.LocalPath != "mnt/inner" || rec.Version != 5 || rec.Key[0] != 7 {
		t.Errorf("mount at = %+v, %v", rec, err)
	}
	if _, err := tr.MountAt(ctx, "mnt/innerx"); !errors.Is(err, ErrNotFound) {
		t.Errorf("mount at a sibling: %v", err)
	}
	if _, err := tr.Put(ctx, "mnt/inner/file", []byte("x"), StopAtMounts()); !errors.Is(err, ErrInMount) {
		t.Errorf("put inside a mount: %v", err)
	}
	var me *MountError
	if err := tr.Del(ctx, "mnt/inner/file", StopAtMounts()); !errors.As(err, &me) || me.Mountpoint != "mnt/inner" {
		t.Errorf("del inside a mount: %v", err)
	}
	if _, err := tr.Put(ctx, "mnt/innerfile", []byte("x"), StopAtMounts()); err != nil {
		t.Errorf("put next to a mount: %v", err)
	}
	ms, err := tr.Mounts(ctx)
	if err != nil || len(ms) != 1 {
		t.Errorf("mounts = %v, %v", ms, err)
	}
	if err := tr.Unmount(ctx, "mnt/inner"); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.MountAt(ctx, "mnt/inner/a"); !errors.Is(err, ErrNotFound) {
		t.Errorf("mount at after unmount: %v", err)
	}
}

func TestMountRecordRoundTrip(t *testing.T) {
	in := &MountRecord{Key: make([]byte, 32), LocalPath: "a/b", Version: 3, RemotePath: "r", Hash: []byte{1}}
	out, err := DecodeMount(EncodeMount(in))
	if err != nil || fmt.Sprint(in) != fmt.Sprint(out) {
		t.Errorf("round trip %+v → %+v, %v", in, out, err)
	}
}

func TestUnsupportedHeader(t *testing.T) {
	f := &sliceFeed{}
	f.Append(EncodeHeader(&Header{Type: "hyperbee"}), []byte{0x0a, 0x01, 'a'})
	if _, err := New(f, Options{}); !errors.Is(err, ErrUnsupportedHeader) {
		t.Errorf("New on a hyperbee feed: %v", err)
	}
	// A replica that does not have block 0 yet is refused on first read.
	lazy := &lazyFeed{sliceFeed: f}
	tr, err := New(lazy, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Get(context.Background(), "a"); !errors.Is(err, ErrUnsupportedHeader) {
		t.Errorf("get on a hyperbee feed: %v", err)
	}
}

// lazyFeed claims to have no block locally, as a fresh sparse replica.
type lazyFeed struct{ *sliceFeed }

func (lazyFeed) Has(uint64) bool { return false }

// TestReadsOnlyWhatTheLookupNeeds checks that a Get on a big trie reads a
// handful of blocks, not the feed: what a sparse replica will fetch.
func TestReadsOnlyWhatTheLookupNeeds(t *testing.T) {
	ctx := context.Background()
	f := &sliceFeed{writable: true}
	w, err := New(f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var ops []Op
	for i := range 5000 {
		ops = append(ops, Op{Type: OpPut, Key: fmt.Sprintf("dir%d/file%d", i%50, i), Value: []byte("v")})
	}
	if _, err := w.Batch(ctx, ops); err != nil {
		t.Fatal(err)
	}
	r, err := New(&lazyFeed{f}, Options{}) // a cold reader
	if err != nil {
		t.Fatal(err)
	}
	f.reads = nil
	if n, err := r.Get(ctx, "dir7/file1357"); err != nil || n.Key != "dir7/file1357" {
		t.Fatalf("get = %v, %v", n, err)
	}
	total := 0
	for _, c := range f.reads {
		total += c
	}
	if len(f.reads) > 20 {
		t.Errorf("a cold get read %d distinct blocks (%d reads)", len(f.reads), total)
	}
	t.Logf("cold get in a trie of 5000 keys: %d blocks", len(f.reads))
}
