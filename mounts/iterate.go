package mounts

import (
	"bytes"
	"context"
	"fmt"

	"github.com/hyperfs/hyperfs/hypertrie"
)

// IterateOptions configure Iterate.
type IterateOptions struct {
	// Recursive lists every key under the prefix, descending into mounts;
	// otherwise one node per child name is listed (a mountpoint among
	// them, not what is below it).
	Recursive bool
	// NoMounts keeps a recursive listing out of mounted tries.
	NoMounts bool
}

// Iterator walks the keys under a prefix across mounts, in each trie's
// order (by key hash), a mountpoint before what is mounted under it.
// Not safe for concurrent use.
type Iterator struct {
	n      *Namespace
	prefix string
	opts   IterateOptions
	opened bool
	stack  []frame // innermost last
}

type frame struct {
	it  *hypertrie.Iterator
	loc Location
}

// Iterate returns an iterator over the visible keys under namespace key
// prefix ("" for all); a prefix that is a mountpoint lists the mounted trie.
func (n *Namespace) Iterate(prefix string, opts IterateOptions) *Iterator {
	return &Iterator{n: n, prefix: hypertrie.NormalizePath(prefix), opts: opts}
}

// Open starts the walk, if Next has not: the listing is of the tries as
// they are then.
func (it *Iterator) Open(ctx context.Context) error {
	if it.opened {
		return nil
	}
	e, err := it.n.Enter(ctx, it.prefix)
	if err != nil {
		return err
	}
	it.opened = true
	it.push(e.Location, e.Key)
	return it.stack[0].it.Open(ctx)
}

// Next returns the next entry (its Node key a namespace key), or nil at
// the end.
func (it *Iterator) Next(ctx context.Context) (*Entry, error) {
	if err := it.Open(ctx); err != nil {
		return nil, err
	}
	for len(it.stack) > 0 {
		top := &it.stack[len(it.stack)-1]
		node, err := top.it.Next(ctx)
		if err != nil {
			return nil, fmt.Errorf("list %q: %w", top.loc.Path(top.loc.Key), err)
		}
		if node == nil {
			it.stack = it.stack[:len(it.stack)-1]
			continue
		}
		loc := top.loc
		e := it.n.entry(loc, node)
		if hypertrie.IsMount(node) && it.opts.Recursive && !it.opts.NoMounts {
			inner := loc
			inner.Key = node.Key
			next, err := it.n.cross(ctx, inner)
			if err != nil {
				return nil, fmt.Errorf("list %q: %w", e.Node.Key, err)
			}
			if next != nil {
				it.push(*next, next.Key)
			}
		}
		return e, nil
	}
	return nil, nil
}

func (it *Iterator) push(loc Location, key string) {
	it.stack = append(it.stack, frame{
		it:  loc.Trie.Iterate(key, hypertrie.ListOptions{Recursive: it.opts.Recursive}),
		loc: loc,
	})
}

// List collects what Iterate yields.
func (n *Namespace) List(ctx context.Context, prefix string, opts IterateOptions) ([]*Entry, error) {
	it := n.Iterate(prefix, opts)
	var out []*Entry
	for {
		e, err := it.Next(ctx)
		if err != nil {
			return nil, err
		}
		if e == nil {
			return out, nil
		}
		out = append(out, e)
	}
}

// Mount records a mount of the trie with public key key at namespace key
// p, in the trie p belongs to (inside another mount if p is below one).
// Mounting a trie into itself, or into a trie it already contains on the
// path to p, is ErrMountCycle.
func (n *Namespace) Mount(ctx context.Context, p string, key []byte, opts hypertrie.MountOptions) error {
	e, err := n.Get(ctx, p)
	if err != nil {
		return err
	}
	for _, l := range e.Chain {
		if bytes.Equal(l.Key, key) && l.Version == opts.Version {
			return fmt.Errorf("mount %x at %q: %w", key, p, ErrMountCycle)
		}
	}
	return e.Trie.Mount(ctx, e.Key, key, opts)
}

// Unmount removes the mount at namespace key p from the trie holding it.
func (n *Namespace) Unmount(ctx context.Context, p string) error {
	e, err := n.Get(ctx, p)
	if err != nil {
		return err
	}
	return e.Trie.Unmount(ctx, e.Key)
}
