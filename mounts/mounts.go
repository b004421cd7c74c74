// Package mounts resolves paths through the mounts of a hypertrie, as
// mountable-hypertrie 2 does: a mount at path P of trie T is the hidden key
// "mounts/P" (a hypertrie.MountRecord naming another trie, optionally
// pinned to a version) plus the visible key P with user flag 1, and every
// path below P lives in the mounted trie, where P itself is the root.
//
// # Where it sits
//
// Imports run hyperdrive → mounts → hypertrie. This package knows tries
// and mount records only; it opens a mounted trie through an Opener the
// caller supplies. package hyperdrive implements the Opener over its
// corestore, so the mounted drive's feeds are opened (and reference counted)
// by the same store, which is also what replicates every feed it has open
// over the store's connections. Options.OnOpen is the hook for anything
// else that must see each mounted trie as it is opened.
//
// # Cycles
//
// A resolution keeps the chain of (key, version) pairs it has crossed; a
// mount of a pair already on the chain is ErrMountCycle, so a drive that
// mounts itself, directly or through others, gives an error instead of an
// endless tree or a hang. Every mount crossed consumes at least one path
// component, so a Get is bounded by the path's length anyway; the check
// matters for recursive listings and for the mountpoint itself.
package mounts

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"strings"
	"sync"

	"github.com/hyperfs/hyperfs/hypertrie"
)

// ErrMountCycle is returned when a path leads into a trie it is already
// inside.
var ErrMountCycle = errors.New("mount cycle")

// Opener opens the live trie whose feed has the given public key.
type Opener interface {
	OpenTrie(ctx context.Context, key ed25519.PublicKey) (*hypertrie.Trie, error)
}

// OpenerFunc adapts a function to Opener.
type OpenerFunc func(ctx context.Context, key ed25519.PublicKey) (*hypertrie.Trie, error)

// OpenTrie calls f.
func (f OpenerFunc) OpenTrie(ctx context.Context, key ed25519.PublicKey) (*hypertrie.Trie, error) {
	return f(ctx, key)
}

// Options configure New.
type Options struct {
	// OnOpen is called once for every mounted trie the namespace opens
	// (the root excluded), before it is used: the hook for replication or
	// bookkeeping that has to follow the tries a drive reaches.
	OnOpen func(key ed25519.PublicKey, t *hypertrie.Trie)
}

// Namespace is a root trie together with everything mounted in it.
// It is safe for concurrent use.
type Namespace struct {
	root *hypertrie.Trie
	*shared
}

// shared is what a namespace and its checkouts have in common.
type shared struct {
	opener Opener
	onOpen func(ed25519.PublicKey, *hypertrie.Trie)

	mu    sync.Mutex
	tries map[string]*opening // guarded by mu: live tries by hex key
}

// opening lets concurrent resolutions wait for one Open of a trie.
type opening struct {
	done chan struct{}
	trie *hypertrie.Trie
	err  error
}

// New returns the namespace rooted at root.
func New(root *hypertrie.Trie, opener Opener, opts Options) *Namespace {
	return &Namespace{root: root, shared: &shared{opener: opener, onOpen: opts.OnOpen, tries: map[string]*opening{}}}
}

// WithRoot returns a namespace over another root (a checkout of the root)
// sharing the tries already opened.
func (n *Namespace) WithRoot(root *hypertrie.Trie) *Namespace {
	return &Namespace{root: root, shared: n.shared}
}

// Root returns the root trie.
func (n *Namespace) Root() *hypertrie.Trie { return n.root }

// Tries returns the mounted tries opened so far (live ones, by hex key).
func (n *Namespace) Tries() map[string]*hypertrie.Trie {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := map[string]*hypertrie.Trie{}
	for k, o := range n.tries {
		select {
		case <-o.done:
			if o.err == nil {
				out[k] = o.trie
			}
		default:
		}
	}
	return out
}

// Location is where a path of the namespace lives.
type Location struct {
	// Trie holds the entry.
	Trie *hypertrie.Trie
	// Key is the entry's key in Trie ("" for the root of a mounted trie).
	Key string
	// Mountpoint is where Trie is mounted in the namespace, no leading
	// slash ("" for the root trie).
	Mountpoint string
	// Chain lists the tries crossed, the root first and Trie last.
	Chain []Link
}

// Link is one trie on a resolution's chain.
type Link struct {
	Key     ed25519.PublicKey
	Version uint64 // 0 = live
}

// Path maps a key of l.Trie back to a namespace key.
func (l *Location) Path(key string) string {
	return joinKey(l.Mountpoint, key)
}

// Entry is the result of Get: a location and the node found there.
type Entry struct {
	Location
	// Node is the entry (nil if absent), its Key given as a namespace key.
	Node *hypertrie.Node
}

// Get looks up namespace key p (no leading slash needed) across mounts.
// A mountpoint itself is found in the trie that holds the mount (its
// value is that trie's, e.g. hyperdrive's directory Stat); everything
// below it in the mounted trie. The Location is set even when the node is
// absent: it is where a Put of p belongs.
func (n *Namespace) Get(ctx context.Context, p string) (*Entry, error) {
	return n.get(ctx, hypertrie.NormalizePath(p), false)
}

// Enter is Get, except that a mountpoint resolves to the root of the
// mounted trie (Key "" and no Node): where a listing of p starts.
func (n *Namespace) Enter(ctx context.Context, p string) (*Entry, error) {
	return n.get(ctx, hypertrie.NormalizePath(p), true)
}

func (n *Namespace) get(ctx context.Context, p string, enter bool) (*Entry, error) {
	p = strings.TrimSuffix(p, "/")
	loc := Location{Trie: n.root, Key: p, Chain: []Link{{Key: n.root.Key(), Version: checkoutOf(n.root)}}}
	for {
		node, err := loc.Trie.Get(ctx, loc.Key, hypertrie.Closest())
		if err != nil && !errors.Is(err, hypertrie.ErrNotFound) {
			return nil, fmt.Errorf("resolve %q: %w", p, err)
		}
		if node == nil {
			return &Entry{Location: loc}, nil
		}
		if !hypertrie.IsMount(node) {
			if node.Key != loc.Key {
				node = nil
			}
			return n.entry(loc, node), nil
		}
		if node.Key == loc.Key && !enter {
			return n.entry(loc, node), nil
		}
		if node.Key != loc.Key && !inside(loc.Key, node.Key) {
			return &Entry{Location: loc}, nil
		}
		next, err := n.cross(ctx, loc)
		if err != nil {
			return nil, fmt.Errorf("resolve %q: %w", p, err)
		}
		if next == nil { // flags say mount, but no record: an ordinary entry
			if node.Key != loc.Key {
				node = nil
			}
			return n.entry(loc, node), nil
		}
		loc = *next
	}
}

// entry maps node's key back into the namespace.
func (n *Namespace) entry(loc Location, node *hypertrie.Node) *Entry {
	if node != nil {
		loc.Key = node.Key
		c := *node
		c.Key = loc.Path(node.Key)
		node = &c
	}
	return &Entry{Location: loc, Node: node}
}

// cross moves loc into the mount its key lies in (or is), nil if there is
// no mount record for it.
func (n *Namespace) cross(ctx context.Context, loc Location) (*Location, error) {
	rec, err := loc.Trie.MountAt(ctx, loc.Key)
	if errors.Is(err, hypertrie.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return n.into(ctx, loc, rec)
}

// into returns the location of loc.Key inside the trie rec mounts.
func (n *Namespace) into(ctx context.Context, loc Location, rec *hypertrie.MountRecord) (*Location, error) {
	mp := strings.TrimSuffix(rec.LocalPath, "/")
	link := Link{Key: rec.Key, Version: rec.Version}
	for _, l := range loc.Chain {
		if bytes.Equal(l.Key, link.Key) && l.Version == link.Version {
			return nil, fmt.Errorf("%q mounts %x, which it is inside: %w", loc.Path(mp), rec.Key, ErrMountCycle)
		}
	}
	t, err := n.ResolveMount(ctx, rec)
	if err != nil {
		return nil, fmt.Errorf("mount at %q: %w", loc.Path(mp), err)
	}
	rest := strings.TrimPrefix(strings.TrimPrefix(loc.Key, mp), "/")
	// mountable-hypertrie joins the rest before remotePath (pathToMount);
	// hyperdrive never sets remotePath.
	if rec.RemotePath != "" {
		rest = strings.TrimPrefix(path.Join(rest, rec.RemotePath), "/")
	}
	chain := append(append([]Link(nil), loc.Chain...), link)
	return &Location{Trie: t, Key: rest, Mountpoint: loc.Path(mp), Chain: chain}, nil
}

// ResolveMount opens the trie rec points at (a checkout if rec.Version is
// set); it implements hypertrie.MountResolver.
func (n *Namespace) ResolveMount(ctx context.Context, rec *hypertrie.MountRecord) (*hypertrie.Trie, error) {
	if len(rec.Key) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("mount record key has %d bytes, want %d", len(rec.Key), ed25519.PublicKeySize)
	}
	t, err := n.open(ctx, rec.Key)
	if err != nil {
		return nil, err
	}
	if rec.Version != 0 {
		t = t.Checkout(rec.Version)
	}
	return t, nil
}

var _ hypertrie.MountResolver = (*Namespace)(nil)

// open returns the live trie of key, opening it once.
func (n *Namespace) open(ctx context.Context, key ed25519.PublicKey) (*hypertrie.Trie, error) {
	id := hex.EncodeToString(key)
	n.mu.Lock()
	o, ok := n.tries[id]
	if !ok || (isDone(o) && o.err != nil) {
		o = &opening{done: make(chan struct{})}
		n.tries[id] = o
		n.mu.Unlock()
		o.trie, o.err = n.opener.OpenTrie(ctx, key)
		if o.err == nil && n.onOpen != nil {
			n.onOpen(key, o.trie)
		}
		close(o.done)
	} else {
		n.mu.Unlock()
	}
	select {
	case <-o.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return o.trie, o.err
}

func isDone(o *opening) bool {
	select {
	case <-o.done:
		return true
	default:
		return false
	}
}

// checkoutOf is the version a trie is pinned to, 0 for a live one.
func checkoutOf(t *hypertrie.Trie) uint64 {
	if t.Version() == t.Feed().Length() {
		return 0 // live, or a checkout at the head: the same trie now
	}
	return t.Version()
}

// inside reports whether key lies strictly below mountpoint.
func inside(key, mountpoint string) bool {
	mountpoint = strings.TrimSuffix(mountpoint, "/")
	return strings.HasPrefix(key, mountpoint+"/")
}

// joinKey joins a mountpoint and a key inside it.
func joinKey(mountpoint, key string) string {
	switch {
	case mountpoint == "":
		return key
	case key == "":
		return mountpoint
	}
	return mountpoint + "/" + key
}
