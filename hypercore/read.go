package hypercore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/hyperfs/hyperfs/hypercore/flat"
	"github.com/hyperfs/hyperfs/hypercore/hcrypto"
)

// seqHint remembers where the block after the last one read starts, so a
// sequential reader needs one tree read per block instead of one per root.
type seqHint struct {
	mu     sync.Mutex
	next   uint64 // guarded by mu: index of the block after the last read
	offset uint64 // guarded by mu: its byte offset
	valid  bool   // guarded by mu
}

func (h *seqHint) get(i uint64) (uint64, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.valid && h.next == i {
		return h.offset, true
	}
	return 0, false
}

func (h *seqHint) set(next, offset uint64) {
	h.mu.Lock()
	h.next, h.offset, h.valid = next, offset, true
	h.mu.Unlock()
}

// Has reports whether block i is stored locally.
func (f *Feed) Has(i uint64) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.bits.Get(i)
}

// HasRange reports whether every block of [start, end) is stored locally.
func (f *Feed) HasRange(start, end uint64) bool {
	if end <= start {
		return true
	}
	return f.Downloaded(start, end) == end-start
}

// Downloaded counts the blocks of [start, end) stored locally.
func (f *Feed) Downloaded(start, end uint64) uint64 {
	f.mu.Lock() // Total may rewrite index bytes, as in the reference
	defer f.mu.Unlock()
	return f.bits.Total(start, end)
}

// Get returns block i. A block not stored locally is fetched through the
// feed's Fetcher and waited for until ctx ends; without a fetcher Get fails
// at once with ErrNotAvailable.
func (f *Feed) Get(ctx context.Context, i uint64) ([]byte, error) {
	if err := f.waitFor(ctx, i); err != nil {
		return nil, err
	}
	data, _, err := f.readBlock(i, true)
	return data, err
}

// GetUncached is Get for a reader that caches the block in another form
// (a trie caches its decoded nodes): a block read from storage is not
// cached, so the budget is not spent on it twice.
func (f *Feed) GetUncached(ctx context.Context, i uint64) ([]byte, error) {
	if err := f.waitFor(ctx, i); err != nil {
		return nil, err
	}
	data, _, err := f.readBlock(i, false)
	return data, err
}

// waitFor returns once block i is stored locally.
func (f *Feed) waitFor(ctx context.Context, i uint64) error {
	f.mu.RLock()
	has, closed := f.bits.Get(i), f.closed
	f.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	if has {
		return nil
	}
	for {
		f.mu.Lock()
		if f.closed {
			f.mu.Unlock()
			return ErrClosed
		}
		if f.bits.Get(i) {
			f.mu.Unlock()
			return nil
		}
		fetcher := f.fetcher
		if fetcher == nil {
			f.mu.Unlock()
			return fmt.Errorf("block %d of %s: %w", i, f.store.Location(), ErrNotAvailable)
		}
		ch := make(chan struct{})
		f.waiting[i] = append(f.waiting[i], ch)
		f.mu.Unlock()
		fetcher.Fetch(i)
		select {
		case <-ch:
		case <-ctx.Done():
			f.mu.Lock()
			nobody := f.dropWaiterLocked(i, ch)
			f.mu.Unlock()
			if nobody {
				fetcher.Cancel(i)
			}
			return ctx.Err()
		}
	}
}

// Prefetch returns once blocks [start, end) are stored locally, asking the
// fetcher for every missing one at once so that they are requested in
// parallel (Get asks for one block at a time). Without a fetcher it fails
// with ErrNotAvailable if any is missing.
func (f *Feed) Prefetch(ctx context.Context, start, end uint64) error {
	for {
		f.mu.Lock()
		if f.closed {
			f.mu.Unlock()
			return ErrClosed
		}
		type wait struct {
			i  uint64
			ch chan struct{}
		}
		var waits []wait
		for i := start; i < end && i < f.length; i++ {
			if !f.bits.Get(i) {
				ch := make(chan struct{})
				f.waiting[i] = append(f.waiting[i], ch)
				waits = append(waits, wait{i, ch})
			}
		}
		fetcher := f.fetcher
		if len(waits) > 0 && fetcher == nil {
			for _, w := range waits {
				f.dropWaiterLocked(w.i, w.ch)
			}
			f.mu.Unlock()
			return fmt.Errorf("blocks %d-%d of %s: %w", start, end-1, f.store.Location(), ErrNotAvailable)
		}
		f.mu.Unlock()
		if len(waits) == 0 {
			return nil
		}
		for _, w := range waits {
			fetcher.Fetch(w.i)
		}
		for k, w := range waits {
			select {
			case <-w.ch:
			case <-ctx.Done():
				f.mu.Lock()
				var orphans []uint64
				for _, rest := range waits[k:] {
					if f.dropWaiterLocked(rest.i, rest.ch) {
						orphans = append(orphans, rest.i)
					}
				}
				f.mu.Unlock()
				for _, i := range orphans {
					fetcher.Cancel(i)
				}
				return ctx.Err()
			}
		}
		// Woken: every block arrived, or the fetcher changed; look again.
	}
}

// dropWaiterLocked removes one waiter of block i and reports whether none
// is left.
func (f *Feed) dropWaiterLocked(i uint64, ch chan struct{}) bool {
	ws := f.waiting[i]
	for k, w := range ws {
		if w == ch {
			ws = append(ws[:k], ws[k+1:]...)
			break
		}
	}
	if len(ws) == 0 {
		delete(f.waiting, i)
		return true
	}
	f.waiting[i] = ws
	return false
}

// wakeLocked releases readers waiting for block i.
func (f *Feed) wakeLocked(i uint64) {
	for _, w := range f.waiting[i] {
		close(w)
	}
	delete(f.waiting, i)
}

// Waiting lists the blocks readers wait for, for the replication scheduler.
func (f *Feed) Waiting() []uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make([]uint64, 0, len(f.waiting))
	for i := range f.waiting {
		out = append(out, i)
	}
	return out
}

// readBlock reads a locally stored block and its byte offset, verified
// against its leaf node unless verification is off. With keep the block
// is looked for in the cache and cached; without, the cache's blocks are
// left alone (a trie keeps its nodes decoded, never as blocks).
func (f *Feed) readBlock(i uint64, keep bool) ([]byte, uint64, error) {
	if keep && f.cache != nil {
		if b, ok := f.cache.GetBlock(f.cacheID, i); ok {
			return b, 0, nil // cached only after it was read and verified
		}
	}
	// The page of the tree that holds the leaf holds the leaves of the
	// blocks before it in its group: they give the offset too.
	var page treePage
	if err := f.loadPage(&page, 2*i, false); err != nil {
		return nil, 0, fmt.Errorf("block %d: %w", i, err)
	}
	var node hcrypto.Node
	var err error
	if rec, ok := page.record(2 * i); ok {
		node, err = f.decodeRecord(2*i, rec)
	} else {
		node, err = f.getNode(2 * i)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("block %d: %w", i, err)
	}
	offset, ok := f.seq.get(i)
	if !ok {
		if offset, err = f.offsetIn(&page, i); err != nil {
			return nil, 0, err
		}
	}
	data := make([]byte, node.Size)
	if err := f.readData(i, data, offset); err != nil {
		return nil, 0, err
	}
	if err := f.checkBlock(i, offset, data, node); err != nil {
		return nil, 0, err
	}
	f.seq.set(i+1, offset+node.Size)
	if keep && f.cache != nil {
		f.cache.SetBlock(f.cacheID, i, data)
	}
	return data, offset, nil
}

// readData reads stored bytes of the data file starting at block i. A data
// file shorter than the tree says is damage: the block is cleared (see
// corruptBlock) and the error names the file.
func (f *Feed) readData(i uint64, dst []byte, offset uint64) error {
	err := readFull(f.dataFile, dst, int64(offset))
	if err == nil {
		return nil
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		size, _ := f.dataFile.Size()
		return f.corruptBlock(i, offset, fmt.Sprintf("the data file ends at byte %d, before the %d bytes at %d (file is truncated)", size, len(dst), offset))
	}
	return fmt.Errorf("block %d: %w", i, err)
}

// offsetOf is the byte offset of block i: the sizes of the roots left of it.
func (f *Feed) offsetOf(i uint64) (uint64, error) {
	var buf [64]uint64
	var offset uint64
	for _, r := range flat.AppendFullRoots(buf[:0], 2*i) {
		n, err := f.getNode(r)
		if err != nil {
			return 0, fmt.Errorf("offset of block %d: %w", i, err)
		}
		offset += n.Size
	}
	return offset, nil
}

// groupBlocks is how many blocks' leaves a tree page holds: the blocks
// of a group, whose first block's offset is remembered (groupStarts).
const groupBlocks = treePageNodes / 2

// groupStart is the byte offset of group g's first block.
type groupStart struct{ g, offset uint64 }

// groupStarts remembers the offsets of groups read lately, by g modulo
// its size. The roots left of a block are the roots left of its group's
// first block, whose sum is remembered here, and the roots inside its
// group, which lie in its tree page: the offset of a block costs no
// lookup beyond its page. Offsets never change, but one computed from a
// damaged node would be wrong: corruptBlock forgets them.
type groupStarts [256]atomic.Pointer[groupStart]

func (gs *groupStarts) forget() {
	for k := range gs {
		gs[k].Store(nil)
	}
}

// offsetIn is offsetOf for block i, whose tree page is page.
func (f *Feed) offsetIn(page *treePage, i uint64) (uint64, error) {
	g := i / groupBlocks
	var buf [64]uint64
	var sum uint64
	for _, r := range flat.AppendFullRoots(buf[:0], 2*i) {
		if r/treePageNodes != g {
			continue // left of the group: in its start
		}
		rec, ok := page.record(r)
		if !ok {
			return f.offsetOf(i)
		}
		n, err := f.decodeRecord(r, rec)
		if err != nil {
			return 0, fmt.Errorf("offset of block %d: %w", i, err)
		}
		sum += n.Size
	}
	slot := &f.groups[g%uint64(len(f.groups))]
	if s := slot.Load(); s != nil && s.g == g {
		return s.offset + sum, nil
	}
	start, err := f.offsetOf(g * groupBlocks)
	if err != nil {
		return 0, err
	}
	slot.Store(&groupStart{g: g, offset: start})
	return start + sum, nil
}

// ByteOffset is the offset of block i's first byte in the feed. It needs
// the tree nodes left of the block, which a proof of block i brings.
func (f *Feed) ByteOffset(i uint64) (uint64, error) {
	off, err := f.offsetOf(i)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrNotAvailable, err)
	}
	return off, nil
}

// ReadLocal reads len(dst) bytes of the feed starting at byte offset off,
// which lie in blocks [start, end), with one read of the data file: the
// fast path for a whole file whose blocks are all stored. It fails with
// ErrNotAvailable unless every one of those blocks is local. Blocks not
// verified yet are verified first (VerifyRange).
func (f *Feed) ReadLocal(start, end, off uint64, dst []byte) error {
	if end <= start || !f.HasRange(start, end) {
		return fmt.Errorf("blocks %d-%d of %s: %w", start, end-1, f.store.Location(), ErrNotAvailable)
	}
	// The caller's idea of where the bytes are must match the tree's.
	first, err := f.offsetOf(start)
	if err != nil {
		return err
	}
	last, err := f.offsetOf(end)
	if err != nil {
		return err
	}
	if first != off || last < off+uint64(len(dst)) {
		return fmt.Errorf("bytes %d-%d are not in blocks %d-%d (%d-%d): %w", off, off+uint64(len(dst)), start, end-1, first, last, ErrOutOfBounds)
	}
	if f.verifyReads && !f.verified.all(start, end) {
		if err := f.VerifyRange(start, end); err != nil {
			return err
		}
	}
	if err := readFull(f.dataFile, dst, int64(off)); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return f.checkDataSize(end-1, last)
		}
		return err
	}
	return nil
}

// GetBatch returns blocks [start, end), fetching missing ones like Get.
func (f *Feed) GetBatch(ctx context.Context, start, end uint64) ([][]byte, error) {
	if end <= start {
		return nil, nil
	}
	for i := start; i < end; i++ {
		if err := f.waitFor(ctx, i); err != nil {
			return nil, err
		}
	}
	return f.readBatch(start, end)
}

// readBatch reads and verifies stored blocks [start, end) with one read of
// their leaves and one of their bytes.
func (f *Feed) readBatch(start, end uint64) ([][]byte, error) {
	offset, ok := f.seq.get(start)
	if !ok {
		var err error
		if offset, err = f.offsetOf(start); err != nil {
			return nil, err
		}
	}
	// Leaves are every other record in the tree file: read the run once.
	n := end - start
	recs := make([]byte, (2*n-1)*nodeRecordSize)
	if err := readFull(f.treeFile, recs, nodeOffset(2*start)); err != nil {
		return nil, fmt.Errorf("blocks %d-%d: %w", start, end-1, err)
	}
	nodes := make([]hcrypto.Node, n)
	var total uint64
	for k := range nodes {
		node, err := decodeNode(2*(start+uint64(k)), recs[2*k*nodeRecordSize:][:nodeRecordSize])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.treeFile.Name(), err)
		}
		nodes[k] = node
		total += node.Size
	}
	data := make([]byte, total)
	if err := readFull(f.dataFile, data, int64(offset)); err != nil {
		if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("blocks %d-%d: %w", start, end-1, err)
		}
		// Blame the first block the file does not hold in full.
		size, _ := f.dataFile.Size()
		at := offset
		for k, node := range nodes {
			if at+node.Size > uint64(size) {
				return nil, f.corruptBlock(start+uint64(k), at, fmt.Sprintf("the data file ends at byte %d, before the block's end at %d (file is truncated)", size, at+node.Size))
			}
			at += node.Size
		}
		return nil, fmt.Errorf("blocks %d-%d: %w", start, end-1, err)
	}
	out := make([][]byte, n)
	var pos uint64
	for k, node := range nodes {
		out[k] = data[pos : pos+node.Size : pos+node.Size]
		pos += node.Size
	}
	if f.verifyReads && total >= parallelHashBytes && !f.verified.all(start, end) {
		// Hash on every core; mismatches are then handled one by one.
		leaves := hashLeaves(2*start, out, int(total))
		for k, leaf := range leaves {
			if leaf.Hash == nodes[k].Hash {
				f.verified.set(start+uint64(k), start+uint64(k)+1)
			}
		}
	}
	pos = 0
	for k, node := range nodes {
		if err := f.checkBlock(start+uint64(k), offset+pos, out[k], node); err != nil {
			return nil, err
		}
		pos += node.Size
	}
	f.seq.set(end, offset+total)
	return out, nil
}

// Head returns the last block of the feed.
func (f *Feed) Head(ctx context.Context) ([]byte, error) {
	n := f.Length()
	if n == 0 {
		return nil, fmt.Errorf("head of empty feed: %w", ErrOutOfBounds)
	}
	return f.Get(ctx, n-1)
}

// Seek finds the block holding byte offset bytes of the feed and the offset
// inside it. It works from local tree nodes; where they are missing it fails
// with ErrNotAvailable.
func (f *Feed) Seek(bytes uint64) (index, offset uint64, err error) {
	f.mu.RLock()
	length, byteLength := f.length, f.byteLength
	f.mu.RUnlock()
	if bytes == byteLength {
		return length, 0, nil
	}
	if bytes > byteLength {
		return 0, 0, fmt.Errorf("seek to byte %d of %d: %w", bytes, byteLength, ErrOutOfBounds)
	}
	rem := bytes
	for _, r := range flat.FullRoots(2 * length) {
		node, err := f.getNode(r)
		if err != nil {
			return 0, 0, fmt.Errorf("seek to byte %d: %w", bytes, ErrNotAvailable)
		}
		if node.Size <= rem {
			rem -= node.Size
			continue
		}
		// Descend: the byte is inside this subtree.
		top := r
		for top&1 == 1 {
			left, _ := flat.LeftChild(top)
			ln, err := f.getNode(left)
			if err != nil {
				return 0, 0, fmt.Errorf("seek to byte %d: node %d: %w", bytes, left, ErrNotAvailable)
			}
			if ln.Size > rem {
				top = left
			} else {
				rem -= ln.Size
				top = flat.Sibling(left)
			}
		}
		return top / 2, rem, nil
	}
	return 0, 0, fmt.Errorf("seek to byte %d: %w", bytes, ErrOutOfBounds)
}

// Signature returns the first signature at or after block index i (only the
// last block of each append batch is signed) and the index it signs.
func (f *Feed) Signature(i uint64) (uint64, []byte, error) {
	length := f.Length()
	for ; i < length; i++ {
		sig, err := f.readSignature(i)
		if err == nil {
			return i, sig, nil
		}
		if err != errNoSignature {
			return 0, nil, err
		}
	}
	return 0, nil, fmt.Errorf("signature: %w", ErrOutOfBounds)
}

// RootHashes returns the merkle roots of the feed's first i+1 blocks.
func (f *Feed) RootHashes(i uint64) ([]hcrypto.Node, error) {
	return f.loadRoots(i + 1)
}

// Verify checks that sig signs the feed's first i+1 blocks.
func (f *Feed) Verify(i uint64, sig []byte) error {
	roots, err := f.RootHashes(i)
	if err != nil {
		return err
	}
	if !hcrypto.Verify(f.key, roots, i+1, sig) {
		return ErrBadSignature
	}
	return nil
}
