package hypercore

import (
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/hyperfs/hyperfs/hypercore/hcrypto"
)

// Tree nodes are read and cached by the page: treePageNodes records of the
// tree file, read with one pread and kept as one cache entry. A walk of
// the tree (a block's offset is the sum of the roots left of it) or of
// neighbouring blocks reads nodes close to each other, and a page costs
// the budget what a handful of single-node entries would.
//
// Writes make cached pages stale: every write of records bumps the
// generation of their pages (pageGens, after the write), and a cached page
// stamped with an older generation is read again. A page's generation is
// loaded before its read, so a page read while a write lands is never
// taken for current.
const (
	treePageNodes = 64
	pageGenSlots  = 256 // pages share generations modulo this
)

// pageGens are the generations of tree pages; page p's is p%pageGenSlots.
type pageGens [pageGenSlots]atomic.Uint64

// bump marks the pages holding nodes [first, last] as rewritten.
func (g *pageGens) bump(first, last uint64) {
	p, q := first/treePageNodes, last/treePageNodes
	if q-p >= pageGenSlots {
		p, q = 0, pageGenSlots-1
	}
	for ; p <= q; p++ {
		g[p%pageGenSlots].Add(1)
	}
}

// getNode reads tree node n, through the cache when there is one.
func (f *Feed) getNode(n uint64) (hcrypto.Node, error) {
	var rec [nodeRecordSize]byte
	if f.cache == nil {
		if err := f.readRecord(n, rec[:]); err != nil {
			return hcrypto.Node{}, err
		}
	} else {
		page, off := n/treePageNodes, int(n%treePageNodes)*nodeRecordSize
		got, stamp, ok := f.cache.ReadPage(f.cacheID, page, off, rec[:])
		if !ok || got < nodeRecordSize || stamp != f.pageGens[page%pageGenSlots].Load() {
			var p treePage
			if err := f.loadPage(&p, n, true); err != nil {
				return hcrypto.Node{}, err
			}
			r, ok := p.record(n)
			if !ok {
				// Past the file's whole records: n's own read gives the error.
				return hcrypto.Node{}, f.readRecord(n, rec[:])
			}
			copy(rec[:], r)
		}
	}
	return f.decodeRecord(n, rec[:])
}

func (f *Feed) decodeRecord(n uint64, rec []byte) (hcrypto.Node, error) {
	node, err := decodeNode(n, rec)
	if err != nil {
		return node, fmt.Errorf("%s: node %d: %w", f.treeFile.Name(), n, err)
	}
	return node, nil
}

// readRecord reads node n's record from the tree file.
func (f *Feed) readRecord(n uint64, rec []byte) error {
	if err := readFull(f.treeFile, rec, nodeOffset(n)); err != nil {
		if errors.Is(err, errEOF) {
			return fmt.Errorf("%s: node %d: %w", f.treeFile.Name(), n, errNoNode)
		}
		return fmt.Errorf("tree node %d: %w", n, err)
	}
	return nil
}

// treePage is one page of the tree file: the cached bytes themselves, or
// the bytes just read. Never modified.
type treePage struct {
	index uint64
	data  []byte // whole records only
}

// record returns node n's record if p holds it (a blank one if absent).
func (p *treePage) record(n uint64) ([]byte, bool) {
	off := int(n%treePageNodes) * nodeRecordSize
	if n/treePageNodes != p.index || off+nodeRecordSize > len(p.data) {
		return nil, false
	}
	return p.data[off : off+nodeRecordSize], true
}

// loadPage fills p with the page of the tree file that holds node n,
// from the cache (unless fresh) or the file, and caches what it reads.
func (f *Feed) loadPage(p *treePage, n uint64, fresh bool) error {
	page := n / treePageNodes
	p.index, p.data = page, nil
	gen := &f.pageGens[page%pageGenSlots]
	if f.cache != nil && !fresh {
		data, stamp, ok := f.cache.ViewPage(f.cacheID, page)
		if ok && stamp == gen.Load() {
			p.data = data
			return nil
		}
	}
	stamp := gen.Load() // before the read: a write landing during it makes the page stale
	buf := make([]byte, treePageNodes*nodeRecordSize)
	at := nodeOffset(page * treePageNodes)
	got, err := f.treeFile.ReadAt(buf, at)
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("tree node %d: %s: reading %d bytes at offset %d: %w", n, f.treeFile.Name(), len(buf), at, err)
	}
	got -= got % nodeRecordSize // a record cut short by the file's end is left out
	p.data = buf[:got:got]
	if got > 0 && f.cache != nil {
		f.cache.SetPage(f.cacheID, page, p.data, stamp)
	}
	return nil
}

// putNodes writes nodes to the tree file, coalescing runs of consecutive
// indexes into one write.
func (f *Feed) putNodes(nodes []hcrypto.Node) error {
	for i := 0; i < len(nodes); {
		j := i + 1
		for j < len(nodes) && nodes[j].Index == nodes[j-1].Index+1 {
			j++
		}
		buf := make([]byte, (j-i)*nodeRecordSize)
		for k := i; k < j; k++ {
			encodeNode(buf[(k-i)*nodeRecordSize:], nodes[k])
		}
		err := writeFull(f.treeFile, buf, nodeOffset(nodes[i].Index))
		f.pageGens.bump(nodes[i].Index, nodes[j-1].Index)
		if err != nil {
			return err
		}
		i = j
	}
	return nil
}

// readSignature reads signature slot i; errNoSignature if it is blank.
func (f *Feed) readSignature(i uint64) ([]byte, error) {
	sig := make([]byte, signatureSize)
	if err := readFull(f.sigFile, sig, signatureOffset(i)); err != nil {
		if errors.Is(err, errEOF) {
			return nil, errNoSignature
		}
		return nil, err
	}
	if isBlank(sig) {
		return nil, errNoSignature
	}
	return sig, nil
}
