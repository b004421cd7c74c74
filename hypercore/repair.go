package hypercore

import (
	"errors"
	"fmt"

	"github.com/hyperfs/hyperfs/hypercore/bitfield"
	"github.com/hyperfs/hyperfs/hypercore/flat"
	"github.com/hyperfs/hyperfs/hypercore/hcrypto"
	"github.com/hyperfs/hyperfs/hypercore/treeindex"
)

// On open, the feed's length comes from the tree bits of the bitfield (as in
// the reference). A bitfield that was truncated, emptied or deleted would
// make the feed look shorter than what its tree and signatures prove, and a
// writer would then append over blocks it already signed: peers would see
// two histories under one key. So the bitfield is checked against the
// signatures file and, when it is behind, rebuilt from the tree (every node
// verified down from signed roots, every block hashed against its leaf).

// maxSignatureScan bounds how many signature slots a damaged feed checks
// when looking for the longest signed length (each is an Ed25519 verify).
const maxSignatureScan = 4096

// signedLength finds the largest length whose signature in the signatures
// file verifies against the roots stored in the tree file, looking at the
// slots from the end of the file down to slot floor. It returns 0 if none
// does, and the index of the highest non-blank slot (or -1).
func (f *Feed) signedLength(floor uint64) (length uint64, highest int64, err error) {
	size, err := f.sigFile.Size()
	if err != nil {
		return 0, -1, fmt.Errorf("%s: %w", f.sigFile.Name(), err)
	}
	highest = -1
	if size <= headerSize {
		return 0, -1, nil
	}
	slots := uint64(size-headerSize) / signatureSize
	tried := 0
	for s := slots; s > floor && tried < maxSignatureScan; s-- {
		sig, err := f.readSignature(s - 1)
		if errors.Is(err, errNoSignature) {
			continue
		}
		if err != nil {
			return 0, highest, err
		}
		if highest < 0 {
			highest = int64(s - 1)
		}
		tried++
		roots, err := f.loadRoots(s)
		if err != nil {
			continue // nodes missing or malformed: not a length we can prove
		}
		if hcrypto.Verify(f.key, roots, s, sig) {
			return s, highest, nil
		}
	}
	return 0, highest, nil
}

// rebuildBitfieldLocked replaces the bitfield with one rebuilt from the
// tree and data files for a feed of length blocks, whose signature was
// verified: tree nodes are kept if they hash up to the signed roots, and
// blocks if their bytes match their leaf. The new bitfield is written out
// in full.
func (f *Feed) rebuildBitfieldLocked(length uint64) error {
	roots, err := f.loadRoots(length)
	if err != nil {
		return err
	}
	bits := bitfield.New()
	tree := treeindex.New(bits.Tree())
	// Walk down from the roots: a child is trusted when it and its sibling
	// are stored and hash to their trusted parent.
	var trusted []hcrypto.Node
	stack := append([]hcrypto.Node(nil), roots...)
	for len(stack) > 0 {
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		trusted = append(trusted, p)
		l, r, ok := flat.Children(p.Index)
		if !ok {
			continue
		}
		ln, err1 := f.getNode(l)
		rn, err2 := f.getNode(r)
		if err1 != nil || err2 != nil {
			continue
		}
		if q := hcrypto.Parent(ln, rn, p.Index); q.Hash != p.Hash || q.Size != p.Size {
			continue
		}
		stack = append(stack, ln, rn)
	}
	leaves := map[uint64]hcrypto.Node{}
	for _, n := range trusted {
		tree.Set(n.Index)
		if n.Index&1 == 0 {
			leaves[n.Index/2] = n
		}
	}
	kept := uint64(0)
	for i := uint64(0); i < length; i++ {
		leaf, ok := leaves[i]
		if !ok {
			continue
		}
		offset, err := f.offsetOf(i)
		if err != nil {
			continue
		}
		data := make([]byte, leaf.Size)
		if readFull(f.dataFile, data, int64(offset)) != nil || hcrypto.LeafHash(data) != leaf.Hash {
			continue
		}
		bits.Set(i, true)
		f.verified.set(i, i+1)
		kept++
	}
	if got := tree.Blocks(); got != length {
		return fmt.Errorf("%s: rebuilt tree describes %d blocks, not the %d its signature covers: %w", f.treeFile.Name(), got, length, ErrCorrupt)
	}
	if err := f.bitfieldFile.Truncate(headerSize); err != nil {
		return fmt.Errorf("%s: %w", f.bitfieldFile.Name(), err)
	}
	f.bits, f.tree = bits, tree
	if err := f.syncBitfieldLocked(); err != nil {
		return err
	}
	f.log.Warn("rebuilt the bitfield from the tree and signatures",
		"file", f.bitfieldFile.Name(), "length", length, "blocks stored", kept)
	return nil
}

// restoreBlocksLocked gives a writer back blocks its bitfield lost (a
// damaged page) whose bytes are still stored and match the tree; at most
// limit of them are checked, so a writer that cleared blocks on purpose
// does not rehash them on every open.
func (f *Feed) restoreBlocksLocked(limit uint64) error {
	if f.length == 0 || f.bits.Total(0, f.length) == f.length || f.length-f.bits.Total(0, f.length) > limit {
		return nil
	}
	restored := uint64(0)
	for i := uint64(0); i < f.length; i++ {
		if f.bits.Get(i) {
			continue
		}
		node, err := f.getNode(2 * i)
		if err != nil {
			continue
		}
		offset, err := f.offsetOf(i)
		if err != nil {
			continue
		}
		data := make([]byte, node.Size)
		if readFull(f.dataFile, data, int64(offset)) != nil || hcrypto.LeafHash(data) != node.Hash {
			continue
		}
		f.bits.Set(i, true)
		f.verified.set(i, i+1)
		restored++
	}
	if restored == 0 {
		return nil
	}
	f.log.Warn("bitfield had lost blocks that are stored and verify; restored them",
		"file", f.bitfieldFile.Name(), "blocks", restored)
	return f.syncBitfieldLocked()
}
