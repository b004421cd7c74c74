package hypercore

import (
	"errors"
	"fmt"

	"github.com/hyperfs/hyperfs/hypercore/hcrypto"
)

// getNode reads tree node n, through the cache when there is one.
func (f *Feed) getNode(n uint64) (hcrypto.Node, error) {
	if f.cache != nil {
		if hash, size, ok := f.cache.GetNode(f.cacheID, n); ok {
			return hcrypto.Node{Index: n, Size: size, Hash: hash}, nil
		}
	}
	var rec [nodeRecordSize]byte
	if err := readFull(f.treeFile, rec[:], nodeOffset(n)); err != nil {
		if errors.Is(err, errEOF) {
			return hcrypto.Node{}, fmt.Errorf("%s: node %d: %w", f.treeFile.Name(), n, errNoNode)
		}
		return hcrypto.Node{}, fmt.Errorf("tree node %d: %w", n, err)
	}
	node, err := decodeNode(n, rec[:])
	if err != nil {
		return node, fmt.Errorf("%s: node %d: %w", f.treeFile.Name(), n, err)
	}
	if f.cache != nil {
		f.cache.SetNode(f.cacheID, n, node.Hash, node.Size)
	}
	return node, nil
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
		if err := writeFull(f.treeFile, buf, nodeOffset(nodes[i].Index)); err != nil {
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
