package hyperdrive

import (
	"context"
	"errors"
	"fmt"
	"path"
	"time"

	"github.com/hyperfs/hyperfs/hypertrie"
	"github.com/hyperfs/hyperfs/mounts"
)

// maxLinks bounds the symlinks one lookup follows (Linux's MAXSYMLINKS).
const maxLinks = 40

// translate maps the errors of the layers below onto this package's
// sentinels, keeping the original in the chain.
func translate(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, hypertrie.ErrReadOnly) && !errors.Is(err, ErrReadOnly):
		return fmt.Errorf("%w: %w", ErrReadOnly, err)
	case errors.Is(err, mounts.ErrMountCycle) && !errors.Is(err, ErrMountCycle):
		return fmt.Errorf("%w: %w", ErrMountCycle, err)
	case errors.Is(err, hypertrie.ErrCorrupt) && !errors.Is(err, ErrCorrupt):
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return err
}

// found is an entry looked up by path.
type found struct {
	path  string        // clean drive path
	entry *mounts.Entry // where it lives (Node nil if absent or implicit)
	stat  *Stat         // nil if absent
}

// get looks up clean path p without synthesizing implicit directories.
func (d *Drive) get(ctx context.Context, p string) (*found, error) {
	e, err := d.ns.Get(ctx, trieKey(p))
	if err != nil {
		return nil, translate(err)
	}
	f := &found{path: p, entry: e}
	if e.Node == nil {
		return f, nil
	}
	if f.stat, err = decodeEntry(e); err != nil {
		return nil, err
	}
	f.stat = d.withCore(ctx, f.stat)
	return f, nil
}

// decodeEntry decodes the Stat of a node. A mount written by plain
// mountable-hypertrie (an empty value) reads as a directory.
func decodeEntry(e *mounts.Entry) (*Stat, error) {
	if hypertrie.IsMount(e.Node) && len(e.Node.Value) == 0 {
		st := newStat(ModeDir, 0, time.Now())
		st.Mount = &MountInfo{}
		return st, nil
	}
	st, err := DecodeStat(e.Node.Value)
	if err != nil {
		return nil, fmt.Errorf("entry %q (block %d): %w", e.Node.Key, e.Node.Seq, err)
	}
	return st, nil
}

// lstat looks up clean path p; a path with no entry but with children is
// an implicit directory.
func (d *Drive) lstat(ctx context.Context, p string) (*found, error) {
	f, err := d.get(ctx, p)
	if err != nil || f.stat != nil {
		return f, err
	}
	if f.stat, err = d.implicitDir(ctx, p); err != nil {
		return nil, err
	}
	return f, nil
}

// implicitDir synthesizes the Stat of a directory with no entry of its
// own. The reference's _statDirectory copies its first child's Stat (size,
// times, owner), so a listing showed a folder with a file's size and
// times, and which child is "first" changes as the trie grows. Here it has
// a directory's defaults and nothing of a child's: mode 0755, size 0, no
// owner, and the time the drive was opened (as the root), so its stat is
// stable while the drive is open.
func (d *Drive) implicitDir(ctx context.Context, p string) (*Stat, error) {
	if p == "/" {
		return newStat(ModeDir, 0, d.created), nil
	}
	has, err := d.hasChildren(ctx, trieKey(p))
	if err != nil {
		return nil, err
	}
	if !has {
		return nil, ErrNotFound
	}
	return newStat(ModeDir, 0, d.created), nil
}

// resolve is lstat that follows a symlink at p (not in its parents, as
// hyperdrive's stat).
func (d *Drive) resolve(ctx context.Context, p string) (*found, error) {
	for range maxLinks {
		f, err := d.lstat(ctx, p)
		if err != nil {
			return nil, err
		}
		if !f.stat.IsSymlink() {
			return f, nil
		}
		p = resolveLink(p, f.stat.Linkname)
	}
	return nil, ErrLoop
}

// Lstat returns the entry at p, not following a symlink there.
func (d *Drive) Lstat(ctx context.Context, p string) (*Stat, error) {
	cp, err := cleanPath(p)
	if err != nil {
		return nil, pathErr("lstat", p, err)
	}
	f, err := d.lstat(ctx, cp)
	if err != nil {
		return nil, pathErr("lstat", cp, err)
	}
	return f.stat, nil
}

// Stat returns the entry at p, following symlinks: an absolute target
// from the drive's root, a relative one from the link's directory.
func (d *Drive) Stat(ctx context.Context, p string) (*Stat, error) {
	cp, err := cleanPath(p)
	if err != nil {
		return nil, pathErr("stat", p, err)
	}
	f, err := d.resolve(ctx, cp)
	if err != nil {
		return nil, pathErr("stat", cp, err)
	}
	return f.stat, nil
}

// Readlink returns the target of the symlink at p.
func (d *Drive) Readlink(ctx context.Context, p string) (string, error) {
	cp, err := cleanPath(p)
	if err != nil {
		return "", pathErr("readlink", p, err)
	}
	f, err := d.lstat(ctx, cp)
	if err != nil {
		return "", pathErr("readlink", cp, err)
	}
	if !f.stat.IsSymlink() {
		return "", pathErr("readlink", cp, ErrNotLink)
	}
	return f.stat.Linkname, nil
}

// checkParent fails with ErrNotDir when p's parent has an entry that is
// not a directory (hyperdrive itself would store the key regardless).
func (d *Drive) checkParent(ctx context.Context, p string) error {
	dir := path.Dir(p)
	if dir == "/" {
		return nil
	}
	f, err := d.get(ctx, dir)
	if err != nil {
		return err
	}
	if f.stat != nil && !f.stat.IsDir() {
		return fmt.Errorf("parent %s: %w", dir, ErrNotDir)
	}
	return nil
}

// writable fails for checkouts and drives without their secret key.
func (d *Drive) writable() error {
	if d.readOnly {
		return fmt.Errorf("checkout at version %d: %w", d.trie.Version(), ErrReadOnly)
	}
	return nil
}

// entryPath returns the clean path of p for a write, refusing the root.
func entryPath(p string) (string, error) {
	cp, err := cleanPath(p)
	if err != nil {
		return "", err
	}
	if cp == "/" {
		return "", fmt.Errorf("the root: %w", ErrInvalidPath)
	}
	return cp, nil
}
