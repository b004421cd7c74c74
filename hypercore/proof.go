package hypercore

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/hyperfs/hyperfs/hypercore/flat"
	"github.com/hyperfs/hyperfs/hypercore/hcrypto"
	"github.com/hyperfs/hyperfs/hypercore/treeindex"
)

// Proof is what an uploader sends with a block: the tree nodes the receiver
// needs to hash the block up to a node it trusts or to the signed roots, and
// the signature of those roots when the proof reaches them.
type Proof struct {
	Nodes     []hcrypto.Node
	Signature []byte
}

// Digest tells an uploader which nodes this feed already has for block i
// (hypercore's Request.nodes).
func (f *Feed) Digest(i uint64) uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.tree.Digest(2 * i)
}

// HasNode reports whether tree node n is stored locally.
func (f *Feed) HasNode(n uint64) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.tree.Get(n)
}

// Proof builds the proof a remote needs for block i, given the digest it
// sent and what it is known to have (remote, kept per peer; may be nil). With
// hash set the block's own node leads the list (a hash-only reply).
func (f *Feed) Proof(i, digest uint64, hash bool, remote *treeindex.TreeIndex) (Proof, error) {
	f.mu.RLock()
	idx, verifiedBy, ok := f.tree.Proof(2*i, digest, hash, remote)
	live := f.live
	f.mu.RUnlock()
	if !ok {
		return Proof{}, fmt.Errorf("proof of block %d: %w", i, ErrNotAvailable)
	}
	p := Proof{Nodes: make([]hcrypto.Node, len(idx))}
	for k, n := range idx {
		node, err := f.getNode(n)
		if err != nil {
			return Proof{}, fmt.Errorf("proof of block %d: %w", i, err)
		}
		p.Nodes[k] = node
	}
	if live && verifiedBy > 0 {
		sig, err := f.readSignature(verifiedBy/2 - 1)
		if err != nil {
			return Proof{}, fmt.Errorf("proof of block %d: signature %d: %w", i, verifiedBy/2-1, err)
		}
		p.Signature = sig
	}
	return p, nil
}

// Put verifies block i (data nil for a hash-only reply, whose proof then
// starts with the block's own node) against its proof and stores it. Nothing
// is written unless the proof hashes up to a stored node or to roots signed
// by the feed's key. from names the peer, for events.
func (f *Feed) Put(i uint64, data []byte, proof Proof, from any) error {
	if len(data) > MaxBlockSize {
		return ErrBlockTooLarge
	}
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return ErrClosed
	}
	start := f.length
	grew, err := f.putLocked(i, data, proof)
	var evs []Event
	if err == nil && grew {
		evs = append(evs, Event{Kind: EventAppend, Start: start, Length: f.length - start, From: from})
	}
	if err == nil && data != nil {
		evs = append(evs, Event{Kind: EventDownload, Start: i, Length: 1, From: from})
	}
	pending := f.eventsLocked(evs...)
	f.mu.Unlock()
	if err != nil {
		return fmt.Errorf("block %d: %w", i, err)
	}
	f.emit(pending)
	return nil
}

func (f *Feed) putLocked(i uint64, data []byte, proof Proof) (grew bool, err error) {
	remote := proof.Nodes
	k := 0
	if data == nil {
		if len(remote) == 0 || remote[0].Index != 2*i {
			return false, fmt.Errorf("%w: hash-only reply without the block's node", ErrBadProof)
		}
		k = 1
	}
	// Walk up from the block to the first node stored locally, noting which
	// siblings the proof supplies and which must come from local storage.
	trusted := int64(-1)
	next := 2 * i
	var local []uint64
	for {
		if f.tree.Get(next) {
			trusted = int64(next)
			break
		}
		sib := flat.Sibling(next)
		next = flat.Parent(next)
		if k < len(remote) && remote[k].Index == sib {
			k++
			continue
		}
		if !f.tree.Get(sib) {
			break
		}
		local = append(local, sib)
	}
	if trusted == -1 && f.tree.Get(next) {
		trusted = int64(next)
	}
	var trustedNode *hcrypto.Node
	if trusted >= 0 {
		n, err := f.getNode(uint64(trusted))
		if err != nil {
			return false, err
		}
		trustedNode = &n
	}
	localNodes := make([]hcrypto.Node, len(local))
	for j, n := range local {
		if localNodes[j], err = f.getNode(n); err != nil {
			return false, err
		}
	}

	var top hcrypto.Node
	rest := remote
	if data != nil {
		top = hcrypto.Leaf(2*i, data)
	} else {
		top, rest = remote[0], remote[1:]
	}
	var visited []hcrypto.Node
	if matches(trustedNode, top) {
		return false, f.writeLocked(i, data, visited, nil, 0)
	}
	for {
		sib := flat.Sibling(top.Index)
		var node hcrypto.Node
		switch {
		case len(rest) > 0 && rest[0].Index == sib:
			node, rest = rest[0], rest[1:]
			visited = append(visited, node)
		case len(localNodes) > 0 && localNodes[0].Index == sib:
			node, localNodes = localNodes[0], localNodes[1:]
		default:
			// No more parents can be made: the remaining nodes are roots.
			return f.verifyRootsLocked(i, data, top, rest, proof.Signature, visited)
		}
		visited = append(visited, top)
		top = hcrypto.Parent(top, node, flat.Parent(top.Index))
		if matches(trustedNode, top) {
			return false, f.writeLocked(i, data, visited, nil, 0)
		}
	}
}

func matches(trusted *hcrypto.Node, n hcrypto.Node) bool {
	return trusted != nil && trusted.Index == n.Index && trusted.Size == n.Size && trusted.Hash == n.Hash
}

// verifyRootsLocked checks that top and the remaining proof nodes complete
// the roots of a length signed by the feed key.
func (f *Feed) verifyRootsLocked(i uint64, data []byte, top hcrypto.Node, rest []hcrypto.Node, sig []byte, visited []hcrypto.Node) (bool, error) {
	last := top.Index
	if len(rest) > 0 {
		last = rest[len(rest)-1].Index
	}
	verifiedBy := max(flat.RightSpan(top.Index), flat.RightSpan(last)) + 2
	length := verifiedBy / 2
	idx := flat.FullRoots(verifiedBy)
	roots := make([]hcrypto.Node, len(idx))
	var extra []hcrypto.Node
	for j, n := range idx {
		switch {
		case n == top.Index:
			roots[j] = top
			extra = append(extra, top)
		case len(rest) > 0 && rest[0].Index == n:
			roots[j] = rest[0]
			extra = append(extra, rest[0])
			rest = rest[1:]
		case f.tree.Get(n):
			node, err := f.getNode(n)
			if err != nil {
				return false, err
			}
			roots[j] = node
		default:
			return false, fmt.Errorf("%w: missing tree roots needed for verify", ErrBadProof)
		}
	}
	if sig == nil {
		// Only unsigned (non-live) feeds verify by tree hash = key.
		th := hcrypto.TreeHash(roots)
		if f.length > 0 && f.live || !bytes.Equal(th[:], f.key) {
			return false, fmt.Errorf("%w: no signature", ErrBadSignature)
		}
	} else if !hcrypto.Verify(f.key, roots, length, sig) {
		return false, ErrBadSignature
	}
	if err := f.writeLocked(i, data, append(visited, extra...), sig, length); err != nil {
		return false, err
	}
	if length > f.length {
		f.length = length
		f.byteLength = 0
		for _, r := range roots {
			f.byteLength += r.Size
		}
		if f.secretKey != nil {
			f.roots = nil // reloaded on the next append
		}
		return true, nil
	}
	return false, nil
}

// writeLocked stores a verified block, its new nodes and (if signedLength >
// 0) the signature, then the bits; bitfield pages go last.
func (f *Feed) writeLocked(i uint64, data []byte, nodes []hcrypto.Node, sig []byte, signedLength uint64) error {
	sorted := slices.SortedFunc(slices.Values(nodes), func(a, b hcrypto.Node) int { return cmp.Compare(a.Index, b.Index) })
	if err := f.putNodes(sorted); err != nil {
		return err
	}
	if len(data) > 0 {
		offset, err := f.offsetOfWith(i, nodes)
		if err != nil {
			return err
		}
		if err := writeFull(f.dataFile, data, int64(offset)); err != nil {
			return err
		}
	}
	if sig != nil {
		if err := writeFull(f.sigFile, sig, signatureOffset(signedLength-1)); err != nil {
			return err
		}
	}
	for _, n := range nodes {
		f.tree.Set(n.Index)
	}
	f.tree.Set(2 * i)
	if data != nil {
		f.bits.Set(i, true)
		f.verified.set(i, i+1) // Put hashed these bytes against the tree
		f.wakeLocked(i)
	}
	return f.syncBitfieldSoonLocked()
}

// replicaSyncDelay is how long the bitfield pages of downloaded blocks may
// wait before they are written. Writing them after the data is what makes a
// block count as stored, so a crash in between only loses the download, never
// correctness; batching them spares a 3.5 KiB page write per block.
const replicaSyncDelay = 100 * time.Millisecond

// syncBitfieldSoonLocked writes the dirty bitfield pages now if the last
// write is older than replicaSyncDelay, else schedules them.
func (f *Feed) syncBitfieldSoonLocked() error {
	if time.Since(f.lastSync) >= replicaSyncDelay {
		return f.syncBitfieldLocked()
	}
	if f.syncTimer == nil {
		f.syncTimer = time.AfterFunc(replicaSyncDelay, func() {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.syncTimer = nil
			if f.closed {
				return
			}
			if err := f.syncBitfieldLocked(); err != nil {
				f.log.Warn("writing bitfield", "feed", f.store.Location(), "err", err)
			}
		})
	}
	return nil
}

// offsetOfWith is offsetOf, preferring nodes just received over storage.
func (f *Feed) offsetOfWith(i uint64, fresh []hcrypto.Node) (uint64, error) {
	var offset uint64
	for _, r := range flat.FullRoots(2 * i) {
		found := false
		for _, n := range fresh {
			if n.Index == r {
				offset += n.Size
				found = true
				break
			}
		}
		if found {
			continue
		}
		n, err := f.getNode(r)
		if err != nil {
			return 0, fmt.Errorf("offset of block %d: %w", i, err)
		}
		offset += n.Size
	}
	return offset, nil
}
