package hypercore

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hyperfs/hyperfs/hypercore/bitfield"
	"github.com/hyperfs/hyperfs/hypercore/flat"
	"github.com/hyperfs/hyperfs/hypercore/hcrypto"
	"github.com/hyperfs/hyperfs/hypercore/storage"
)

// Append adds blocks to the end of the feed as one signed batch and returns
// the index of the first. Appending no blocks is a no-op.
func (f *Feed) Append(blocks ...[]byte) (uint64, error) {
	if f.secretKey == nil {
		return 0, ErrNotWritable
	}
	total := 0
	for _, b := range blocks {
		if len(b) > MaxBlockSize {
			return 0, ErrBlockTooLarge
		}
		total += len(b)
	}
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return 0, ErrClosed
	}
	if err := f.appendErr; err != nil {
		f.mu.Unlock()
		return 0, err
	}
	if err := f.held; err != nil {
		f.mu.Unlock()
		return 0, err
	}
	start := f.length
	if len(blocks) == 0 {
		f.mu.Unlock()
		return start, nil
	}
	err := f.appendLocked(blocks, total)
	events := f.eventsLocked(Event{Kind: EventAppend, Start: start, Length: uint64(len(blocks))})
	f.mu.Unlock()
	if err != nil {
		return 0, err
	}
	f.emit(events)
	return start, nil
}

// appendLocked writes data, nodes and signature, then updates the bitfield
// and writes its dirty pages last (see the package doc on crash safety).
func (f *Feed) appendLocked(blocks [][]byte, total int) error {
	if f.roots == nil && f.length > 0 {
		roots, err := f.loadRoots(f.length)
		if err != nil {
			return err
		}
		f.roots = roots
	}
	first := 2 * f.length
	// Nodes inside [first, first+2n-1) go out in one write, as the
	// reference does; parents left of it are written one by one.
	batch := make([]hcrypto.Node, 2*len(blocks)-1)
	var outside []hcrypto.Node
	roots := append(make([]hcrypto.Node, 0, len(f.roots)+8), f.roots...) // f.roots stays intact if a write fails
	// The data does not depend on the hashes: write it while they are
	// computed. (Crash safety holds: the bitfield still goes last.)
	dataDone := make(chan error, 1)
	if total >= parallelHashBytes {
		go func() { dataDone <- f.writeData(blocks) }()
	} else {
		dataDone <- f.writeData(blocks)
	}
	leaves := hashLeaves(first, blocks, total)
	for i := range blocks {
		leaf := leaves[i]
		batch[2*i] = leaf
		roots = append(roots, leaf)
		for len(roots) > 1 {
			l, r := roots[len(roots)-2], roots[len(roots)-1]
			if flat.Sibling(l.Index) != r.Index {
				break
			}
			p := hcrypto.Parent(l, r, flat.Parent(l.Index))
			roots = append(roots[:len(roots)-2], p)
			if p.Index >= first && p.Index-first < uint64(len(batch)) {
				batch[p.Index-first] = p
			} else {
				outside = append(outside, p)
			}
		}
	}
	newLength := f.length + uint64(len(blocks))

	if err := <-dataDone; err != nil {
		return err
	}
	buf := make([]byte, len(batch)*nodeRecordSize)
	for i, n := range batch {
		if n.Index == first+uint64(i) { // zero records stay for nodes that cannot exist yet
			encodeNode(buf[i*nodeRecordSize:], n)
		}
	}
	err := writeFull(f.treeFile, buf, nodeOffset(first))
	f.pageGens.bump(first, first+uint64(len(batch))-1)
	if err != nil {
		return err
	}
	if err := f.putNodes(outside); err != nil {
		return err
	}
	sig := hcrypto.Sign(f.secretKey, roots, newLength)
	if err := writeFull(f.sigFile, sig, signatureOffset(newLength-1)); err != nil {
		return err
	}

	for i := f.length; i < newLength; i++ {
		f.bits.Set(i, true)
		f.tree.Set(2 * i)
	}
	f.verified.set(f.length, newLength) // written from the bytes just hashed
	f.length = newLength
	f.byteLength += uint64(total)
	f.roots = roots
	return f.syncBitfieldLocked()
}

// writeData writes appended blocks at the end of the data file.
func (f *Feed) writeData(blocks [][]byte) error {
	if err := storage.WriteVecAt(f.dataFile, blocks, int64(f.byteLength)); err != nil {
		return fmt.Errorf("%s: appending at offset %d: %w", f.dataFile.Name(), f.byteLength, err)
	}
	return nil
}

// parallelHashBytes is the batch size from which leaves are hashed on
// several cores; below it the goroutines cost more than they save.
const parallelHashBytes = 256 << 10

// hashLeaves returns the leaf nodes of blocks appended at node index first.
func hashLeaves(first uint64, blocks [][]byte, total int) []hcrypto.Node {
	leaves := make([]hcrypto.Node, len(blocks))
	workers := min(runtime.GOMAXPROCS(0), len(blocks))
	if total < parallelHashBytes || workers < 2 {
		for i, b := range blocks {
			leaves[i] = hcrypto.Leaf(first+2*uint64(i), b)
		}
		return leaves
	}
	var wg sync.WaitGroup
	var next atomic.Int64
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(blocks) {
					return
				}
				leaves[i] = hcrypto.Leaf(first+2*uint64(i), blocks[i])
			}
		})
	}
	wg.Wait()
	return leaves
}

// syncBitfieldLocked writes every bitfield page changed since the last sync.
func (f *Feed) syncBitfieldLocked() error {
	f.lastSync = time.Now()
	for _, p := range f.bits.TakeDirty() {
		if err := writeFull(f.bitfieldFile, p.Bytes, headerSize+int64(p.Index)*bitfield.PageSize); err != nil {
			return err
		}
	}
	return nil
}

// HoldAppends makes Append fail with err until ReleaseAppends: for a writer
// that must learn how long its feed is from peers before it may sign
// anything (see ErrMayFork).
func (f *Feed) HoldAppends(err error) {
	f.mu.Lock()
	f.held = err
	f.mu.Unlock()
}

// ReleaseAppends undoes HoldAppends.
func (f *Feed) ReleaseAppends() {
	f.mu.Lock()
	f.held = nil
	f.mu.Unlock()
}

// AppendErr is why Append would fail now (a damaged feed, HoldAppends),
// nil if it would not.
func (f *Feed) AppendErr() error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.appendErr != nil {
		return f.appendErr
	}
	return f.held
}
