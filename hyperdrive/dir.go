package hyperdrive

import (
	"context"
	"path"
	"strings"
	"time"

	"github.com/hyperfs/hyperfs/hypertrie"
	"github.com/hyperfs/hyperfs/mounts"
)

// DirEntry is one name in a directory.
type DirEntry struct {
	Name string
	// Stat is the entry's own Stat (a symlink is not followed); a child
	// directory with no entry of its own gets a synthesized one.
	Stat *Stat
}

// Readdir lists the directory at p (following a symlink at p), one entry
// per name, mountpoints included, in the trie's order (by name hash, as
// the reference lists them).
func (d *Drive) Readdir(ctx context.Context, p string) ([]DirEntry, error) {
	r, err := d.OpenDir(ctx, p)
	if err != nil {
		return nil, err
	}
	var out []DirEntry
	for {
		ents, err := r.Next(ctx, 1024)
		if err != nil || len(ents) == 0 {
			return out, err
		}
		out = append(out, ents...)
	}
}

// DirReader lists one directory in parts, in Readdir's order: a listing
// of any size holds one part and the trie walk's path in memory, and each
// part resumes the walk where the last one stopped. The listing is of the
// drive as it was at OpenDir. Not safe for concurrent use.
type DirReader struct {
	d    *Drive
	path string // the directory, symlinks resolved
	key  string
	it   *mounts.Iterator
	// seen holds the names of entries the walk reached on a branch
	// shared with other nodes (hash collisions): only those can repeat.
	seen map[string]bool
	done bool
}

// OpenDir starts a listing of the directory at p (following a symlink at
// p).
func (d *Drive) OpenDir(ctx context.Context, p string) (*DirReader, error) {
	cp, err := cleanPath(p)
	if err != nil {
		return nil, pathErr("readdir", p, err)
	}
	f, err := d.resolve(ctx, cp)
	if err != nil {
		return nil, pathErr("readdir", cp, err)
	}
	if !f.stat.IsDir() {
		return nil, pathErr("readdir", cp, ErrNotDir)
	}
	key := trieKey(f.path)
	r := &DirReader{d: d, path: f.path, key: key, it: d.ns.Iterate(key, mounts.IterateOptions{})}
	// The walk starts now, so the listing is of the drive as it is now.
	if err := r.it.Open(ctx); err != nil {
		return nil, pathErr("readdir", f.path, translate(err))
	}
	return r, nil
}

// Next returns up to n more entries; none once the listing is over.
func (r *DirReader) Next(ctx context.Context, n int) ([]DirEntry, error) {
	var out []DirEntry
	for !r.done && len(out) < n {
		e, err := r.next(ctx)
		if err != nil {
			return nil, pathErr("readdir", r.path, err)
		}
		if e == nil {
			r.done = true
			break
		}
		out = append(out, *e)
	}
	return out, nil
}

// next returns the next entry, nil at the end. The one-level trie listing
// gives one node per child name; a node further down stands for a
// directory.
func (r *DirReader) next(ctx context.Context) (*DirEntry, error) {
	d := r.d
	for {
		e, err := r.it.Next(ctx)
		if err != nil {
			return nil, translate(err)
		}
		if e == nil {
			return nil, nil
		}
		rel, ok := childOf(r.key, e.Node.Key)
		if !ok {
			continue // the directory's own entry
		}
		name, deeper, _ := strings.Cut(rel, "/")
		if e.Node.Collided {
			if r.seen[name] {
				continue
			}
			if r.seen == nil {
				r.seen = map[string]bool{}
			}
			r.seen[name] = true
		}
		var st *Stat
		if deeper == "" {
			if st, err = decodeEntry(e); err != nil {
				return nil, err
			}
			st = d.withCore(ctx, st)
		} else if name == "" || name == "." || name == ".." {
			// Not a path component (a hostile trie key such as
			// "a/../b"): nothing to look up by path.
			st = newStat(ModeDir, 0, d.created)
		} else {
			// The trie gave a node below the child: the child is a
			// directory whose own entry, if it has one, is elsewhere.
			// Its attributes are never its first child's. With no entry
			// it is implicit (lstat's implicitDir, without looking for
			// the children this node already is).
			f, err := d.get(ctx, path.Join(r.path, name))
			if err != nil {
				return nil, err
			}
			if st = f.stat; st == nil {
				st = newStat(ModeDir, 0, d.created)
			}
		}
		return &DirEntry{Name: name, Stat: st}, nil
	}
}

// childOf returns k relative to directory key dir, false if k is dir
// itself or not below it.
func childOf(dir, k string) (string, bool) {
	k = strings.Trim(k, "/")
	if dir == "" {
		return k, k != ""
	}
	rest, ok := strings.CutPrefix(k, dir+"/")
	return rest, ok && rest != ""
}

// hasChildren reports whether directory key dir has anything below it.
func (d *Drive) hasChildren(ctx context.Context, dir string) (bool, error) {
	it := d.ns.Iterate(dir, mounts.IterateOptions{})
	for {
		e, err := it.Next(ctx)
		if err != nil || e == nil {
			return false, translate(err)
		}
		if _, ok := childOf(dir, e.Node.Key); ok {
			return true, nil
		}
	}
}

// Mkdir creates an explicit directory entry at p (mode 0: 0755; with type
// bits, ModeDir|0, the permissions are 0). As in the
// reference, a directory that exists only implicitly gets its entry; an
// existing entry is ErrExist.
func (d *Drive) Mkdir(ctx context.Context, p string, mode uint32) error {
	cp, err := entryPath(p)
	if err != nil {
		if cp, _ := cleanPath(p); cp == "/" {
			return pathErr("mkdir", cp, ErrExist)
		}
		return pathErr("mkdir", p, err)
	}
	return pathErr("mkdir", cp, d.mkdir(ctx, cp, mode, nil))
}

// mkdir writes the directory Stat (set adjusts it first).
func (d *Drive) mkdir(ctx context.Context, p string, mode uint32, set func(*Stat)) error {
	f, err := d.newEntry(ctx, p)
	if err != nil {
		return err
	}
	st := newStat(ModeDir, mode, d.now())
	if err := d.placeInContent(ctx, f.entry.Trie, st); err != nil {
		return err
	}
	if set != nil {
		set(st)
	}
	return d.putNew(ctx, f.entry, st)
}

// newEntry checks that p can be created: writable, free, parent a
// directory.
func (d *Drive) newEntry(ctx context.Context, p string) (*found, error) {
	if err := d.writable(); err != nil {
		return nil, err
	}
	f, err := d.get(ctx, p)
	if err != nil {
		return nil, err
	}
	if f.stat != nil {
		return nil, ErrExist
	}
	if err := d.checkParent(ctx, p); err != nil {
		return nil, err
	}
	return f, nil
}

// placeInContent records where the content feed of trie's drive ends, as
// the reference's _createStat does for directories and mounts.
func (d *Drive) placeInContent(ctx context.Context, trie *hypertrie.Trie, st *Stat) error {
	c, err := d.contentOf(ctx, trie)
	if err != nil {
		return err
	}
	st.Offset, st.ByteOffset = c.feed.Length(), c.feed.ByteLength()
	return nil
}

// putNew puts st at e only if nothing is there (ErrExist otherwise).
func (d *Drive) putNew(ctx context.Context, e *mounts.Entry, st *Stat) error {
	n, err := e.Trie.Put(ctx, e.Key, EncodeStat(st), hypertrie.IfNotExists())
	if err != nil {
		return translate(err)
	}
	if n == nil {
		return ErrExist
	}
	return nil
}

// Rmdir removes the empty directory at p.
func (d *Drive) Rmdir(ctx context.Context, p string) error {
	cp, err := entryPath(p)
	if err != nil {
		return pathErr("rmdir", p, err)
	}
	return pathErr("rmdir", cp, d.rmdir(ctx, cp))
}

func (d *Drive) rmdir(ctx context.Context, p string) error {
	if err := d.writable(); err != nil {
		return err
	}
	f, err := d.lstat(ctx, p)
	if err != nil {
		return err
	}
	switch {
	case !f.stat.IsDir():
		return ErrNotDir
	case f.stat.Mount != nil:
		return ErrIsMount
	}
	full, err := d.hasChildren(ctx, trieKey(p))
	if err != nil {
		return err
	}
	if full {
		return ErrNotEmpty
	}
	return translate(f.entry.Trie.Del(ctx, f.entry.Key))
}

// Unlink removes the file or symlink at p (a core mounted as a file too).
func (d *Drive) Unlink(ctx context.Context, p string) error {
	cp, err := entryPath(p)
	if err != nil {
		return pathErr("unlink", p, err)
	}
	return pathErr("unlink", cp, d.unlink(ctx, cp))
}

func (d *Drive) unlink(ctx context.Context, p string) error {
	if err := d.writable(); err != nil {
		return err
	}
	f, err := d.lstat(ctx, p)
	if err != nil {
		return err
	}
	if f.stat.IsDir() {
		if f.stat.Mount != nil {
			return ErrIsMount
		}
		return ErrIsDir
	}
	return translate(f.entry.Trie.Del(ctx, f.entry.Key))
}

// Symlink creates a symlink at p pointing to target (stored as given,
// separators normalized; resolved against the drive's root or the link's
// directory when followed, never outside the drive).
func (d *Drive) Symlink(ctx context.Context, target, p string) error {
	cp, err := entryPath(p)
	if err != nil {
		return pathErr("symlink", p, err)
	}
	return pathErr("symlink", cp, d.symlink(ctx, target, cp, d.now()))
}

func (d *Drive) symlink(ctx context.Context, target, p string, now time.Time) error {
	if strings.IndexByte(target, 0) >= 0 || target == "" {
		return ErrInvalidPath
	}
	f, err := d.newEntry(ctx, p)
	if err != nil {
		return err
	}
	if has, err := d.hasChildren(ctx, trieKey(p)); err != nil || has {
		if err == nil {
			err = ErrExist
		}
		return err
	}
	st := newStat(ModeSymlink, 0, now)
	st.Linkname = unixify(target)
	return d.putNew(ctx, f.entry, st)
}

// ReaddirAll lists every entry below the directory at p, through mounts,
// one trie walk (the reference's readdir with recursive: true): names are
// paths relative to p; directories without an entry of their own are not
// listed, their contents are.
func (d *Drive) ReaddirAll(ctx context.Context, p string) ([]DirEntry, error) {
	cp, err := cleanPath(p)
	if err != nil {
		return nil, pathErr("readdir", p, err)
	}
	f, err := d.resolve(ctx, cp)
	if err != nil {
		return nil, pathErr("readdir", cp, err)
	}
	if !f.stat.IsDir() {
		return nil, pathErr("readdir", cp, ErrNotDir)
	}
	key := trieKey(f.path)
	it := d.ns.Iterate(key, mounts.IterateOptions{Recursive: true})
	var out []DirEntry
	for {
		e, err := it.Next(ctx)
		if err != nil {
			return nil, pathErr("readdir", f.path, translate(err))
		}
		if e == nil {
			return out, nil
		}
		rel, ok := childOf(key, e.Node.Key)
		if !ok {
			continue
		}
		st, err := decodeEntry(e)
		if err != nil {
			return nil, pathErr("readdir", f.path, err)
		}
		out = append(out, DirEntry{Name: rel, Stat: st})
	}
}

// Changed returns the paths of the entries added, changed or removed
// since version since, in the drive's own trie (not in mounted drives),
// at most max of them (ok false when there are more). The walk is
// proportional to the change, not to the drive.
func (d *Drive) Changed(ctx context.Context, since uint64, max int) (paths []string, ok bool, err error) {
	if since == 0 || since > d.trie.Version() {
		return nil, false, nil
	}
	it := d.trie.DiffIterate(d.trie.Checkout(since), "", hypertrie.DiffOptions{})
	for {
		c, err := it.Next(ctx)
		if err != nil {
			return nil, false, translate(err)
		}
		if c == nil {
			return paths, true, nil
		}
		if len(paths) == max {
			return nil, false, nil
		}
		paths = append(paths, fromKey(c.Key))
	}
}
