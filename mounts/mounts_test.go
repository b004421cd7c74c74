package mounts

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/hyperfs/hyperfs/hypercore"
	"github.com/hyperfs/hyperfs/hypercore/storage"
	"github.com/hyperfs/hyperfs/hypertrie"
)

// world is a set of in-memory tries an Opener serves by key.
type world struct {
	tries map[string]*hypertrie.Trie
	opens atomic.Int32
}

func (w *world) OpenTrie(_ context.Context, key ed25519.PublicKey) (*hypertrie.Trie, error) {
	w.opens.Add(1)
	t, ok := w.tries[hex.EncodeToString(key)]
	if !ok {
		return nil, fmt.Errorf("no trie %x", key)
	}
	return t, nil
}

func (w *world) newTrie(t *testing.T) *hypertrie.Trie {
	t.Helper()
	f, err := hypercore.OpenStorage(storage.NewMemory(), hypercore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	tr, err := hypertrie.New(f, hypertrie.Options{Subtype: "mountable-hypertrie"})
	if err != nil {
		t.Fatal(err)
	}
	w.tries[hex.EncodeToString(tr.Key())] = tr
	return tr
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func put(t *testing.T, tr *hypertrie.Trie, k, v string) {
	t.Helper()
	if _, err := tr.Put(context.Background(), k, []byte(v)); err != nil {
		t.Fatal(err)
	}
}

func keys(es []*Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Node.Key)
	}
	slices.Sort(out)
	return out
}

func TestResolveThroughNestedMounts(t *testing.T) {
	ctx := context.Background()
	w := &world{tries: map[string]*hypertrie.Trie{}}
	root, mid, leaf := w.newTrie(t), w.newTrie(t), w.newTrie(t)
	put(t, root, "top", "r")
	put(t, mid, "m/file", "m")
	put(t, leaf, "deep/file", "l")
	must(t, root.Mount(ctx, "a/mid", mid.Key(), hypertrie.MountOptions{Value: []byte("mp")}))
	must(t, mid.Mount(ctx, "m/leaf", leaf.Key(), hypertrie.MountOptions{}))
	var hooked []string
	ns := New(root, w, Options{OnOpen: func(k ed25519.PublicKey, _ *hypertrie.Trie) { hooked = append(hooked, hex.EncodeToString(k)) }})

	e, err := ns.Get(ctx, "/a/mid/m/leaf/deep/file")
	must(t, err)
	if e.Node == nil || string(e.Node.Value) != "l" || e.Node.Key != "a/mid/m/leaf/deep/file" {
		t.Fatalf("entry %+v", e.Node)
	}
	if e.Trie != leaf || e.Key != "deep/file" || e.Mountpoint != "a/mid/m/leaf" || len(e.Chain) != 3 {
		t.Fatalf("location %+v", e.Location)
	}
	// The mountpoint itself is in the outer trie; Enter goes inside.
	e, err = ns.Get(ctx, "a/mid")
	must(t, err)
	if e.Trie != root || string(e.Node.Value) != "mp" {
		t.Fatalf("mountpoint %+v", e)
	}
	e, err = ns.Enter(ctx, "a/mid")
	must(t, err)
	if e.Trie != mid || e.Key != "" || e.Node != nil {
		t.Fatalf("entered %+v", e)
	}
	// Absent keys still say where they belong.
	e, err = ns.Get(ctx, "a/mid/new")
	must(t, err)
	if e.Node != nil || e.Trie != mid || e.Key != "new" {
		t.Fatalf("absent %+v", e)
	}
	if e, _ := ns.Get(ctx, "a/midx"); e.Node != nil || e.Trie != root {
		t.Fatal("a sibling of a mountpoint resolved into it")
	}
	// Listings.
	all, err := ns.List(ctx, "", IterateOptions{Recursive: true})
	must(t, err)
	want := []string{"a/mid", "a/mid/m/file", "a/mid/m/leaf", "a/mid/m/leaf/deep/file", "top"}
	if got := keys(all); !slices.Equal(got, want) {
		t.Fatalf("recursive list %q, want %q", got, want)
	}
	if got, _ := ns.List(ctx, "", IterateOptions{Recursive: true, NoMounts: true}); len(got) != 2 {
		t.Fatalf("no-mounts list %q", keys(got))
	}
	one, err := ns.List(ctx, "a/mid/m", IterateOptions{})
	must(t, err)
	if got := keys(one); !slices.Equal(got, []string{"a/mid/m/file", "a/mid/m/leaf"}) {
		t.Fatalf("one level %q", got)
	}
	if w.opens.Load() != 2 || len(hooked) != 2 || len(ns.Tries()) != 2 {
		t.Fatalf("opened %d times, hooked %d", w.opens.Load(), len(hooked))
	}
}

func TestCyclesAndVersions(t *testing.T) {
	ctx := context.Background()
	w := &world{tries: map[string]*hypertrie.Trie{}}
	a, b := w.newTrie(t), w.newTrie(t)
	ns := New(a, w, Options{})
	if err := ns.Mount(ctx, "self", a.Key(), hypertrie.MountOptions{}); !errors.Is(err, ErrMountCycle) {
		t.Fatalf("self mount: %v", err)
	}
	put(t, b, "x", "1")
	v := b.Version()
	put(t, b, "y", "2")
	must(t, ns.Mount(ctx, "b", b.Key(), hypertrie.MountOptions{}))
	must(t, ns.Mount(ctx, "old", b.Key(), hypertrie.MountOptions{Version: v}))
	must(t, b.Mount(ctx, "a", a.Key(), hypertrie.MountOptions{}))
	if _, err := ns.Enter(ctx, "b/a"); !errors.Is(err, ErrMountCycle) {
		t.Fatalf("enter cycle: %v", err)
	}
	if _, err := ns.Get(ctx, "b/a/b/x"); !errors.Is(err, ErrMountCycle) {
		t.Fatalf("get through cycle: %v", err)
	}
	if _, err := ns.List(ctx, "", IterateOptions{Recursive: true}); !errors.Is(err, ErrMountCycle) {
		t.Fatalf("list with cycle: %v", err)
	}
	if e, err := ns.Get(ctx, "old/y"); err != nil || e.Node != nil {
		t.Fatalf("pinned mount sees y: %v %v", e, err)
	}
	if e, _ := ns.Get(ctx, "old/x"); e.Node == nil {
		t.Fatal("pinned mount lost x")
	}
	must(t, ns.Unmount(ctx, "old"))
	if e, _ := ns.Get(ctx, "old/x"); e.Node != nil {
		t.Fatal("unmounted")
	}
}
