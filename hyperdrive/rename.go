package hyperdrive

import (
	"context"
	"fmt"
	"strings"

	"github.com/hyperfs/hyperfs/hypertrie"
)

// Rename moves the entry at from to to. hyperdrive 10 has no rename; this
// one is built on the trie as one batch (one append, one signature): every
// key under from is put again under to, with its value and flags, and
// deleted under from, mount records included (a moved mountpoint keeps its
// mount). Content blocks are not copied, so both paths must be in the same
// drive: a rename into or out of a mounted drive is ErrCrossDrive, as
// rename(2) gives EXDEV across file systems. POSIX rules apply to what is
// at to: a file replaces a file, a directory replaces an empty directory.
func (d *Drive) Rename(ctx context.Context, from, to string) error {
	fp, err := entryPath(from)
	if err != nil {
		return pathErr("rename", from, err)
	}
	tp, err := entryPath(to)
	if err != nil {
		return pathErr("rename", to, err)
	}
	if err := d.rename(ctx, fp, tp); err != nil {
		return pathErr("rename", fp+" to "+tp, err)
	}
	return nil
}

func (d *Drive) rename(ctx context.Context, from, to string) error {
	if err := d.writable(); err != nil {
		return err
	}
	if strings.HasPrefix(to, from+"/") {
		return fmt.Errorf("%s is inside %s: %w", to, from, ErrInvalidPath)
	}
	src, err := d.lstat(ctx, from)
	if err != nil {
		return err
	}
	if from == to {
		return nil
	}
	dst, err := d.get(ctx, to)
	if err != nil {
		return err
	}
	trie := src.entry.Trie
	if !trie.Key().Equal(dst.entry.Trie.Key()) {
		return ErrCrossDrive
	}
	if err := d.checkParent(ctx, to); err != nil {
		return err
	}
	if err := d.checkTarget(ctx, src.stat, dst); err != nil {
		return err
	}
	fk, tk := src.entry.Key, dst.entry.Key
	ops, err := renameOps(ctx, trie, fk, tk, src.stat.IsDir())
	if err != nil {
		return err
	}
	// The moved entry's ctime is the rename's time, as rename(2) on
	// Linux file systems sets it; entries below it are unchanged.
	for i := range ops {
		op := &ops[i]
		if op.Type != hypertrie.OpPut || op.Hidden || op.Key != tk || len(op.Value) == 0 {
			continue
		}
		if st, err := DecodeStat(op.Value); err == nil {
			st.Ctime = d.now()
			op.Value = EncodeStat(st)
		}
	}
	if _, err := trie.Batch(ctx, ops); err != nil {
		return translate(err)
	}
	return nil
}

// checkTarget applies rename(2)'s rules to what is at the destination.
func (d *Drive) checkTarget(ctx context.Context, src *Stat, dst *found) error {
	st := dst.stat
	if st == nil {
		has, err := d.hasChildren(ctx, trieKey(dst.path))
		if err != nil || !has {
			return err
		}
		st = newStat(ModeDir, 0, d.now()) // an implicit directory
	}
	switch {
	case src.IsDir() && !st.IsDir():
		return ErrNotDir
	case !src.IsDir() && st.IsDir():
		return ErrIsDir
	case st.Mount != nil:
		return ErrIsMount
	case st.IsDir():
		has, err := d.hasChildren(ctx, trieKey(dst.path))
		if err != nil {
			return err
		}
		if has {
			return ErrNotEmpty
		}
	}
	return nil
}

// renameOps lists the puts under tk and the deletes under fk that move
// key fk (and, for a directory, everything below it) within one trie.
func renameOps(ctx context.Context, trie *hypertrie.Trie, fk, tk string, dir bool) ([]hypertrie.Op, error) {
	var nodes []*hypertrie.Node
	if dir {
		var err error
		if nodes, err = trie.List(ctx, fk, hypertrie.ListOptions{Recursive: true}); err != nil {
			return nil, translate(err)
		}
	} else {
		n, err := trie.Get(ctx, fk)
		if err != nil {
			return nil, translate(err)
		}
		nodes = []*hypertrie.Node{n}
	}
	var puts, dels []hypertrie.Op
	move := func(n *hypertrie.Node, hidden bool, prefixFrom, prefixTo string) error {
		rest, ok := strings.CutPrefix(n.Key, prefixFrom)
		if !ok || (rest != "" && rest[0] != '/') {
			return nil // a key beside the prefix, not below it
		}
		value := n.Value
		if hidden {
			rec, err := hypertrie.DecodeMount(n.Value)
			if err != nil {
				return translate(err)
			}
			rec.LocalPath = tk + strings.TrimPrefix(rec.LocalPath, fk)
			value = hypertrie.EncodeMount(rec)
		}
		puts = append(puts, hypertrie.Op{Type: hypertrie.OpPut, Key: prefixTo + rest, Value: value, Hidden: hidden, Flags: n.Flags})
		dels = append(dels, hypertrie.Op{Type: hypertrie.OpDel, Key: n.Key, Hidden: hidden})
		return nil
	}
	for _, n := range nodes {
		if err := move(n, false, fk, tk); err != nil {
			return nil, err
		}
	}
	// Mount records at or below fk move with their mountpoints.
	mountPrefix := hypertrie.MountPrefix + "/"
	recs, err := trie.List(ctx, mountPrefix+fk, hypertrie.ListOptions{Recursive: true, Hidden: true})
	if err != nil {
		return nil, translate(err)
	}
	for _, n := range recs {
		if !hypertrie.IsMount(n) {
			continue
		}
		if err := move(n, true, mountPrefix+fk, mountPrefix+tk); err != nil {
			return nil, err
		}
	}
	return append(puts, dels...), nil
}
