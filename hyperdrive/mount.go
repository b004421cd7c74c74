package hyperdrive

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/hyperfs/hyperfs/hypertrie"
	"github.com/hyperfs/hyperfs/mounts"
)

// MountOptions configure Mount.
type MountOptions struct {
	// Version pins the mounted drive to a version; 0 follows its latest.
	Version uint64
}

// Mount mounts the drive with public key key at p, as hyperdrive's mount
// does: the mountpoint is a directory Stat carrying Stat.Mount, stored with
// a mountable-hypertrie mount record in the trie p belongs to. The mounted
// drive is opened through the store when first read. Mounting a drive that
// p is already inside is ErrMountCycle.
func (d *Drive) Mount(ctx context.Context, p string, key ed25519.PublicKey, opts MountOptions) error {
	cp, err := entryPath(p)
	if err != nil {
		return pathErr("mount", p, err)
	}
	if len(key) != ed25519.PublicKeySize {
		return pathErr("mount", cp, fmt.Errorf("mount key has %d bytes, want %d: %w", len(key), ed25519.PublicKeySize, ErrInvalidPath))
	}
	return pathErr("mount", cp, d.mount(ctx, cp, key, opts))
}

func (d *Drive) mount(ctx context.Context, p string, key ed25519.PublicKey, opts MountOptions) error {
	f, err := d.newEntry(ctx, p)
	if err != nil {
		return err
	}
	st := newStat(ModeDir, 0, d.now())
	st.Mount = &MountInfo{Key: append(ed25519.PublicKey(nil), key...), Version: opts.Version}
	if err := d.placeInContent(ctx, f.entry.Trie, st); err != nil {
		return err
	}
	err = d.ns.Mount(ctx, trieKey(p), key, hypertrie.MountOptions{Version: opts.Version, Value: EncodeStat(st)})
	return translate(err)
}

// Unmount removes the mount at p (a core mounted as a file is unlinked).
func (d *Drive) Unmount(ctx context.Context, p string) error {
	cp, err := entryPath(p)
	if err != nil {
		return pathErr("unmount", p, err)
	}
	if err := d.writable(); err != nil {
		return pathErr("unmount", cp, err)
	}
	f, err := d.get(ctx, cp)
	if err != nil {
		return pathErr("unmount", cp, err)
	}
	switch {
	case f.stat == nil:
		return pathErr("unmount", cp, ErrNotFound)
	case f.stat.Mount == nil:
		return pathErr("unmount", cp, ErrNotMount)
	case f.stat.Mount.Hypercore:
		return pathErr("unmount", cp, translate(f.entry.Trie.Del(ctx, f.entry.Key)))
	}
	return pathErr("unmount", cp, translate(d.ns.Unmount(ctx, trieKey(cp))))
}

// MountPoint is a drive mounted somewhere in the tree.
type MountPoint struct {
	Path string // where, in this drive
	Key  ed25519.PublicKey
	// Version the mount pins (0 follows the latest).
	Version uint64
}

// Mounts lists the drives mounted at or below p (recursively through the
// mounted drives; a mount cycle is reported, not followed).
func (d *Drive) Mounts(ctx context.Context, p string) ([]MountPoint, error) {
	cp, err := cleanPath(p)
	if err != nil {
		return nil, pathErr("mounts", p, err)
	}
	var out []MountPoint
	it := d.ns.Iterate(trieKey(cp), mounts.IterateOptions{Recursive: true})
	for {
		e, err := it.Next(ctx)
		if err != nil {
			return out, pathErr("mounts", cp, translate(err))
		}
		if e == nil {
			return out, nil
		}
		if !hypertrie.IsMount(e.Node) {
			continue
		}
		rec, err := e.Trie.MountAt(ctx, e.Location.Key)
		if errors.Is(err, hypertrie.ErrNotFound) {
			continue
		}
		if err != nil {
			return out, pathErr("mounts", cp, translate(err))
		}
		out = append(out, MountPoint{Path: fromKey(e.Node.Key), Key: rec.Key, Version: rec.Version})
	}
}
