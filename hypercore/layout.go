package hypercore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/hyperfs/hyperfs/hypercore/hcrypto"
	"github.com/hyperfs/hyperfs/hypercore/storage"
)

// File layout of hypercore 9 (lib/storage.js): tree, signatures and bitfield
// start with a 32-byte header; tree records are 40 bytes, signature slots 64.
const (
	headerSize     = 32
	nodeRecordSize = hcrypto.HashSize + 8
	signatureSize  = hcrypto.SignatureSize
)

// Header types written at byte 3.
const (
	headerBitfield   = 0
	headerSignatures = 1
	headerTree       = 2
)

// fileHeader returns the 32-byte header the reference writes on every open.
func fileHeader(typ byte, entrySize uint16, algorithm string) []byte {
	h := make([]byte, headerSize)
	h[0], h[1], h[2], h[3] = 5, 2, 87, typ
	binary.BigEndian.PutUint16(h[5:], entrySize)
	if algorithm != "" {
		h[7] = byte(len(algorithm))
		copy(h[8:], algorithm)
	}
	return h
}

// errNoNode marks a tree record that is absent (all zero).
var errNoNode = errors.New("no node found")

// errEOF is matched with errors.Is for reads past the end of a file.
var errEOF = io.EOF

// errNoSignature marks a signature slot that is blank.
var errNoSignature = errors.New("no signature found")

func nodeOffset(index uint64) int64 { return headerSize + nodeRecordSize*int64(index) }

func signatureOffset(index uint64) int64 { return headerSize + signatureSize*int64(index) }

// decodeNode parses one 40-byte tree record.
func decodeNode(index uint64, rec []byte) (hcrypto.Node, error) {
	if len(rec) != nodeRecordSize {
		return hcrypto.Node{}, fmt.Errorf("tree record %d: %d bytes, want %d", index, len(rec), nodeRecordSize)
	}
	n := hcrypto.Node{Index: index, Size: binary.BigEndian.Uint64(rec[hcrypto.HashSize:])}
	copy(n.Hash[:], rec)
	if n.Size == 0 && n.Hash == ([hcrypto.HashSize]byte{}) {
		return n, errNoNode
	}
	if index&1 == 0 && n.Size > MaxBlockSize {
		return n, fmt.Errorf("leaf %d claims %d bytes: %w", index, n.Size, ErrCorrupt)
	}
	return n, nil
}

func encodeNode(dst []byte, n hcrypto.Node) {
	copy(dst, n.Hash[:])
	binary.BigEndian.PutUint64(dst[hcrypto.HashSize:], n.Size)
}

// readFull reads len(p) bytes at off; a short read is reported as io.ErrUnexpectedEOF
// (io.EOF when nothing at all was there) wrapped with the file name.
func readFull(f storage.File, p []byte, off int64) error {
	n, err := f.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		if n == 0 {
			err = io.EOF
		} else {
			err = io.ErrUnexpectedEOF
		}
	}
	return fmt.Errorf("%s: reading %d bytes at offset %d: %w", f.Name(), len(p), off, err)
}

func writeFull(f storage.File, p []byte, off int64) error {
	if _, err := f.WriteAt(p, off); err != nil {
		return fmt.Errorf("%s: writing %d bytes at offset %d: %w", f.Name(), len(p), off, err)
	}
	return nil
}

func isBlank(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
