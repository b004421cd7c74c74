package hyperdrive

import (
	"context"
	"encoding/hex"
	"fmt"
	"path"

	"github.com/hyperfs/hyperfs/hypertrie"
	"github.com/hyperfs/hyperfs/mounts"
)

// Download fetches the content of the file at p, or of every file below
// the directory at p (mounted drives included, which the reference's
// download leaves out by default), into local storage. progress, if not
// nil, is called after each block with the bytes done and the bytes in
// total (the total grows as the listing goes on). On a feed with every
// block local it only checks.
func (d *Drive) Download(ctx context.Context, p string, progress func(done, total uint64)) error {
	cp, err := cleanPath(p)
	if err != nil {
		return pathErr("download", p, err)
	}
	f, err := d.resolve(ctx, cp)
	if err != nil {
		return pathErr("download", cp, err)
	}
	dl := &downloader{d: d, progress: progress}
	if !f.stat.IsDir() {
		err = dl.file(ctx, f.entry.Trie, f.stat)
	} else {
		err = dl.tree(ctx, f.path)
	}
	return pathErr("download", cp, err)
}

type downloader struct {
	d           *Drive
	progress    func(done, total uint64)
	done, total uint64
}

// tree walks every entry below directory p across mounts.
func (dl *downloader) tree(ctx context.Context, p string) error {
	it := dl.d.ns.Iterate(trieKey(p), mounts.IterateOptions{Recursive: true})
	for {
		e, err := it.Next(ctx)
		if err != nil {
			return translate(err)
		}
		if e == nil {
			return nil
		}
		if hypertrie.IsMount(e.Node) {
			continue // the mounted drive's entries follow
		}
		st, err := decodeEntry(e)
		if err != nil {
			return err
		}
		if st.IsDir() || st.IsSymlink() || st.Blocks == 0 {
			continue
		}
		if err := dl.file(ctx, e.Trie, st); err != nil {
			return fmt.Errorf("%s: %w", path.Clean("/"+e.Node.Key), err)
		}
	}
}

// file fetches the blocks of one file.
func (dl *downloader) file(ctx context.Context, trie *hypertrie.Trie, st *Stat) error {
	if st.Mount != nil && st.Mount.Hypercore {
		feed, err := dl.d.openCore(ctx, st.Mount.Key)
		if err != nil {
			return err
		}
		st = &Stat{Blocks: feed.Length(), Size: feed.ByteLength()}
		return dl.blocks(ctx, func(i uint64) (int, error) {
			b, err := feed.Get(ctx, i)
			return len(b), err
		}, st)
	}
	c, err := dl.d.contentOf(ctx, trie)
	if err != nil {
		return err
	}
	if err := checkRange(st, c.feed); err != nil {
		return err
	}
	return dl.blocks(ctx, func(i uint64) (int, error) {
		if c.feed.Has(i) {
			return -1, nil
		}
		b, err := c.feed.Get(ctx, i)
		return len(b), err
	}, st)
}

// blocks fetches blocks [Offset, Offset+Blocks) with get (which returns -1
// for a block already local), reporting progress.
func (dl *downloader) blocks(ctx context.Context, get func(uint64) (int, error), st *Stat) error {
	dl.total += st.Size
	start := dl.done
	for i := st.Offset; i < st.Offset+st.Blocks; i++ {
		n, err := get(i)
		if err != nil {
			return fmt.Errorf("content block %d: %w", i, err)
		}
		if n < 0 {
			n = 0
		}
		dl.done = min(dl.done+uint64(n), start+st.Size)
		if dl.progress != nil {
			dl.progress(dl.done, dl.total)
		}
	}
	dl.done = start + st.Size
	if dl.progress != nil {
		dl.progress(dl.done, dl.total)
	}
	return nil
}

// Watch calls fn after every change to the entries under prefix, in this
// drive and in the drives mounted under prefix when Watch is called. fn
// runs on a watcher goroutine, one call at a time. stop ends it.
func (d *Drive) Watch(prefix string, fn func()) (stop func()) {
	cp, err := cleanPath(prefix)
	if err != nil {
		cp = "/"
	}
	stops := []func(){d.trie.Watch(trieKey(cp), fn)}
	ctx := context.Background()
	seen := map[string]bool{hex.EncodeToString(d.Key()): true}
	watch := func(p, key string) {
		e, err := d.ns.Enter(ctx, p)
		if err != nil || seen[hex.EncodeToString(e.Trie.Key())] {
			return
		}
		seen[hex.EncodeToString(e.Trie.Key())] = true
		stops = append(stops, e.Trie.Watch(key, fn))
	}
	// The drive prefix is in, if it is below a mountpoint.
	if e, err := d.ns.Enter(ctx, trieKey(cp)); err == nil && e.Mountpoint != "" {
		watch(e.Mountpoint, e.Key)
	}
	// Drives mounted below prefix: all of each.
	if ms, err := d.Mounts(ctx, cp); err == nil {
		for _, m := range ms {
			watch(trieKey(m.Path), "")
		}
	}
	return func() {
		for _, s := range stops {
			s()
		}
	}
}

// Usage is what the drive's own feeds hold, for statfs.
type Usage struct {
	ContentBytes, ContentBlocks, MetadataBlocks uint64
}

// Usage reports the sizes of the drive's metadata and content feeds
// (mounted drives not included).
func (d *Drive) Usage() Usage {
	u := Usage{MetadataBlocks: d.meta.Length()}
	d.mu.Lock()
	c := d.contents[hex.EncodeToString(d.meta.Key())]
	d.mu.Unlock()
	if c != nil {
		u.ContentBytes, u.ContentBlocks = c.feed.ByteLength(), c.feed.Length()
	}
	return u
}
