package hyperdrive

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"slices"
	"strings"

	"github.com/hyperfs/hyperfs/hypertrie"
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
// mounted drives; a mount cycle is reported, not followed), by path. It
// reads each trie's mount records (the hidden mounts/ keys), so it costs
// the number of mounts, not of files.
func (d *Drive) Mounts(ctx context.Context, p string) ([]MountPoint, error) {
	cp, err := cleanPath(p)
	if err != nil {
		return nil, pathErr("mounts", p, err)
	}
	below := trieKey(cp)
	var out []MountPoint
	type level struct {
		at   string // namespace key where trie is mounted, "" for the root
		trie *hypertrie.Trie
	}
	todo := []level{{"", d.trie}}
	for len(todo) > 0 {
		l := todo[0]
		todo = todo[1:]
		recs, err := l.trie.Mounts(ctx)
		if err != nil {
			return out, pathErr("mounts", cp, translate(err))
		}
		for _, rec := range recs {
			at := strings.Trim(rec.LocalPath, "/")
			if l.at != "" {
				at = l.at + "/" + at
			}
			inside, above := keyWithin(at, below), keyWithin(below, at)
			if !inside && !above {
				continue
			}
			e, err := d.ns.Enter(ctx, at)
			if err != nil {
				return out, pathErr("mounts", cp, translate(err))
			}
			if e.Mountpoint != at || e.Key != "" {
				continue // a record whose mountpoint was replaced
			}
			if inside {
				out = append(out, MountPoint{Path: fromKey(at), Key: rec.Key, Version: rec.Version})
			}
			todo = append(todo, level{at, e.Trie})
		}
	}
	slices.SortFunc(out, func(a, b MountPoint) int { return strings.Compare(a.Path, b.Path) })
	return out, nil
}

// keyWithin reports whether namespace key k is dir or below it ("" is the
// root, above everything).
func keyWithin(k, dir string) bool {
	return dir == "" || k == dir || strings.HasPrefix(k, dir+"/")
}
