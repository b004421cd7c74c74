package hypercore

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/hyperfs/hyperfs/hypercore/flat"
	"github.com/hyperfs/hyperfs/hypercore/hcrypto"
)

// verifiedSet remembers the blocks whose stored bytes were hashed against
// their leaf node (or written from bytes that were), so each block read back
// from disk is hashed once per open feed rather than on every read. It is
// only memory: a block is verified again after the feed is reopened, which
// is when bytes that rotted on disk are caught.
type verifiedSet struct {
	mu       sync.Mutex
	words    []uint64                 // guarded by mu: bit i set = block i verified
	inflight map[uint64]chan struct{} // guarded by mu: groups being verified (see verifyGroup)
}

func (v *verifiedSet) has(i uint64) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	w := i / 64
	return w < uint64(len(v.words)) && v.words[w]&(1<<(i%64)) != 0
}

// all reports whether every block of [start, end) is verified.
func (v *verifiedSet) all(start, end uint64) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	for i := start; i < end; i++ {
		w := i / 64
		if w >= uint64(len(v.words)) || v.words[w]&(1<<(i%64)) == 0 {
			return false
		}
	}
	return true
}

func (v *verifiedSet) set(start, end uint64) {
	if end <= start {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if need := (end + 63) / 64; need > uint64(len(v.words)) {
		v.words = append(v.words, make([]uint64, need-uint64(len(v.words)))...)
	}
	for i := start; i < end; i++ {
		v.words[i/64] |= 1 << (i % 64)
	}
}

func (v *verifiedSet) unset(i uint64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if w := i / 64; w < uint64(len(v.words)) {
		v.words[w] &^= 1 << (i % 64)
	}
}

// Verifying reports whether blocks read from local storage are checked
// against the merkle tree (Options.NoVerifyReads unset).
func (f *Feed) Verifying() bool { return f.verifyReads }

// Verified reports whether every block of [start, end) was checked against
// the tree since the feed was opened (or verification is off).
func (f *Feed) Verified(start, end uint64) bool {
	return !f.verifyReads || f.verified.all(start, end)
}

// checkBlock verifies block i's bytes, read from offset of the data file,
// unless it was verified before. A mismatch clears the block (see
// corruptBlock) and returns ErrCorrupt naming the data file.
func (f *Feed) checkBlock(i, offset uint64, data []byte, node hcrypto.Node) error {
	if !f.verifyReads || f.verified.has(i) {
		return nil
	}
	if hcrypto.LeafHash(data) != node.Hash {
		if err := f.checkLeaf(node); err != nil {
			return err // the tree is what is damaged: a new copy of the block would not match either
		}
		return f.corruptBlock(i, offset, "its bytes do not match the tree's hash")
	}
	f.verified.set(i, i+1)
	return nil
}

// corruptBlock handles a stored block that failed verification (bit rot, a
// damaged or short data file): it is logged, and cleared from the bitfield
// so that it reads as missing and a peer can send it again, which heals an
// open feed. The bytes stay in the data file (a later download overwrites
// them); only the bit changes, so a writer loses nothing a repair of the
// tree could not give back.
func (f *Feed) corruptBlock(i, offset uint64, why string) error {
	f.verified.unset(i)
	f.mu.Lock()
	cleared := !f.closed && f.bits.Set(i, false)
	var syncErr error
	var pending pendingEvents
	if cleared {
		if f.cache != nil {
			f.cache.DelBlock(f.cacheID, i)
		}
		syncErr = f.syncBitfieldLocked()
		pending = f.eventsLocked(Event{Kind: EventClear, Start: i, Length: 1})
	}
	f.mu.Unlock()
	f.seq.set(0, 0)
	f.groups.forget()
	f.log.Error("stored block is corrupt; cleared it so peers can send it again",
		"feed", fmt.Sprintf("%x", f.key), "block", i, "file", f.dataFile.Name(), "offset", offset, "why", why)
	if syncErr != nil {
		f.log.Warn("writing bitfield after clearing a corrupt block", "file", f.bitfieldFile.Name(), "err", syncErr)
	}
	f.emit(pending)
	return fmt.Errorf("%s: block %d at offset %d: %s: %w (cleared: it is fetched again from peers)",
		f.dataFile.Name(), i, offset, why, ErrCorrupt)
}

// VerifyRange makes sure the stored bytes of blocks [start, end) match the
// tree, hashing the ones not verified yet, so that they can be handed out
// without passing through Get (a FUSE server splicing straight from the
// data file). With verification off it only checks that the data file is
// long enough. It fails with ErrNotAvailable if a block is not stored and
// ErrCorrupt (after clearing the block) if one does not match.
func (f *Feed) VerifyRange(start, end uint64) error {
	if end <= start {
		return nil
	}
	if !f.HasRange(start, end) {
		return fmt.Errorf("blocks %d-%d of %s: %w", start, end-1, f.store.Location(), ErrNotAvailable)
	}
	if !f.verifyReads {
		last, err := f.offsetOf(end)
		if err != nil {
			return err
		}
		return f.checkDataSize(end-1, last)
	}
	for g := start / verifyGroup; g*verifyGroup < end; g++ {
		if err := f.verifyGroup(g, max(start, g*verifyGroup), min(end, (g+1)*verifyGroup)); err != nil {
			return err
		}
	}
	return nil
}

// verifyGroup is the unit of VerifyRange's work: blocks are checked in
// aligned groups, so that a reader and a read-ahead verifying the same
// blocks at once wait for each other instead of hashing them twice.
const verifyGroup = 32

// verifyGroup verifies blocks [lo, hi) of group g.
func (f *Feed) verifyGroup(g, lo, hi uint64) error {
	for !f.verified.all(lo, hi) {
		f.verified.mu.Lock()
		if ch, busy := f.verified.inflight[g]; busy {
			f.verified.mu.Unlock()
			<-ch // then look again: it may have failed, or covered less
			continue
		}
		if f.verified.inflight == nil {
			f.verified.inflight = map[uint64]chan struct{}{}
		}
		ch := make(chan struct{})
		f.verified.inflight[g] = ch
		f.verified.mu.Unlock()
		err := f.verifyRuns(lo, hi)
		f.verified.mu.Lock()
		delete(f.verified.inflight, g)
		f.verified.mu.Unlock()
		close(ch)
		return err
	}
	return nil
}

// verifyRuns hashes the blocks of [lo, hi) not verified yet, reading each
// run of them at once.
func (f *Feed) verifyRuns(lo, hi uint64) error {
	for i := lo; i < hi; {
		for i < hi && f.verified.has(i) {
			i++
		}
		j := i
		for j < hi && !f.verified.has(j) {
			j++
		}
		if i == j {
			break
		}
		if err := f.verifyRun(i, j); err != nil {
			return err
		}
		i = j
	}
	return nil
}

// verifyBufs are the buffers verifyRun reads blocks into: a block is read
// and hashed while it is in the processor's cache, and nothing the size of
// the run is allocated (and cleared) for bytes nobody keeps.
var verifyBufs = sync.Pool{New: func() any { return new([]byte) }}

// verifyRun hashes stored blocks [start, end) against their leaves, which
// it reads at once; each block is read and hashed on its own, on every
// core when the run is large. A block that does not match goes through
// checkBlock, which reports (and clears) it.
func (f *Feed) verifyRun(start, end uint64) error {
	n := end - start
	// A run inside one tree page (a small file's blocks) takes its leaves
	// and offset from the page, through the cache; a longer one reads its
	// leaves at once.
	var page treePage
	var recs []byte
	if start/groupBlocks == (end-1)/groupBlocks {
		if err := f.loadPage(&page, 2*start, false); err != nil {
			return fmt.Errorf("blocks %d-%d: %w", start, end-1, err)
		}
		first := int((2*start)%treePageNodes) * nodeRecordSize
		if last := first + int(2*n-1)*nodeRecordSize; last <= len(page.data) {
			recs = page.data[first:last]
		}
	}
	if recs == nil {
		recs = make([]byte, (2*n-1)*nodeRecordSize)
		if err := readFull(f.treeFile, recs, nodeOffset(2*start)); err != nil {
			return fmt.Errorf("blocks %d-%d: %w", start, end-1, err)
		}
	}
	offset, ok := f.seq.get(start)
	if !ok {
		var err error
		if len(page.data) > 0 {
			offset, err = f.offsetIn(&page, start)
		} else {
			offset, err = f.offsetOf(start)
		}
		if err != nil {
			return err
		}
	}
	nodes := make([]hcrypto.Node, n)
	offsets := make([]uint64, n)
	total := uint64(0)
	for k := range nodes {
		node, err := decodeNode(2*(start+uint64(k)), recs[2*k*nodeRecordSize:][:nodeRecordSize])
		if err != nil {
			return fmt.Errorf("%s: %w", f.treeFile.Name(), err)
		}
		nodes[k], offsets[k] = node, offset+total
		total += node.Size
	}
	bad := make([]bool, n)
	errs := make([]error, n)
	check := func(k int) {
		bp := verifyBufs.Get().(*[]byte)
		defer verifyBufs.Put(bp)
		if uint64(cap(*bp)) < nodes[k].Size {
			*bp = make([]byte, nodes[k].Size)
		}
		data := (*bp)[:nodes[k].Size]
		if err := readFull(f.dataFile, data, int64(offsets[k])); err != nil {
			errs[k] = err
			return
		}
		if hcrypto.LeafHash(data) == nodes[k].Hash {
			f.verified.set(start+uint64(k), start+uint64(k)+1)
		} else {
			bad[k] = true
		}
	}
	if workers := min(runtime.GOMAXPROCS(0), int(n)); total < parallelHashBytes || workers < 2 {
		for k := range nodes {
			check(k)
		}
	} else {
		var wg sync.WaitGroup
		var next atomic.Int64
		for range workers {
			wg.Go(func() {
				for k := int(next.Add(1) - 1); k < int(n); k = int(next.Add(1) - 1) {
					check(k)
				}
			})
		}
		wg.Wait()
	}
	// In order: the first block that fails is reported; a data file cut
	// short is blamed on the first block it does not hold in full.
	for k, node := range nodes {
		i := start + uint64(k)
		switch {
		case errs[k] != nil:
			if errors.Is(errs[k], io.EOF) || errors.Is(errs[k], io.ErrUnexpectedEOF) {
				size, _ := f.dataFile.Size()
				return f.corruptBlock(i, offsets[k], fmt.Sprintf("the data file ends at byte %d, before the block's end at %d (file is truncated)", size, offsets[k]+node.Size))
			}
			return fmt.Errorf("block %d: %w", i, errs[k])
		case bad[k]:
			data := make([]byte, node.Size)
			if err := f.readData(i, data, offsets[k]); err != nil {
				return err
			}
			if err := f.checkBlock(i, offsets[k], data, node); err != nil {
				return err
			}
		}
	}
	f.seq.set(end, offset+total)
	return nil
}

// checkDataSize fails, naming the data file, if it ends before byte end,
// where block i ends.
func (f *Feed) checkDataSize(i, end uint64) error {
	size, err := f.dataFile.Size()
	if err != nil {
		return fmt.Errorf("%s: %w", f.dataFile.Name(), err)
	}
	if uint64(size) < end {
		return f.corruptBlock(i, end, fmt.Sprintf("the data file ends at byte %d, before the block's end at %d (file is truncated)", size, end))
	}
	return nil
}

// checkLeaf tells a damaged tree from a damaged data file: a leaf that does
// not hash with its sibling to its stored parent is itself corrupt. It
// returns nil when the leaf is consistent or cannot be checked.
func (f *Feed) checkLeaf(leaf hcrypto.Node) error {
	sib, err := f.getNode(flat.Sibling(leaf.Index))
	if err != nil {
		return nil
	}
	parent, err := f.getNode(flat.Parent(leaf.Index))
	if err != nil {
		return nil
	}
	l, r := leaf, sib
	if sib.Index < leaf.Index {
		l, r = sib, leaf
	}
	if p := hcrypto.Parent(l, r, parent.Index); p.Hash == parent.Hash && p.Size == parent.Size {
		return nil
	}
	f.log.Error("tree node does not match its parent", "feed", fmt.Sprintf("%x", f.key), "node", leaf.Index, "file", f.treeFile.Name())
	return fmt.Errorf("%s: node %d (block %d) does not hash to its parent node %d: %w (restore the file or fetch the feed again)",
		f.treeFile.Name(), leaf.Index, leaf.Index/2, parent.Index, ErrCorrupt)
}
