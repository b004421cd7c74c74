// Package daemonstore opens hyperdrive-daemon's storage, so its users can
// move over.
//
// hyperdrive-daemon 1.x (npm hyperdrive-daemon 1.14.5, Dat2 era) keeps
// everything under its --storage folder, ~/.hyperdrive by default
// (hyperdrive-daemon-client/lib/constants.js):
//
//	~/.hyperdrive/config.json      RPC endpoint and token
//	~/.hyperdrive/storage/cores/   a plain corestore 5 (index.js lines 63-80:
//	                               no master key option, so cores/master_key)
//	~/.hyperdrive/storage/db/      a LevelDB (index.js line 140) indexing drives,
//	                               network settings and the FUSE root drive
//
// Each drive the daemon creates is the default feed of a random namespace of
// that corestore (lib/drives/index.js, DriveManager.get), so its metadata
// folder keeps a "name" file and the drive is writable again from the master
// key alone: hyperfs opens storage/cores as it is. The daemon's root drive
// (the one it mounted at ~/Hyperdrive) is recorded in the db under the key
// "!fuse!root-drive" as JSON {mnt, opts: {key: <hex>}} (lib/fuse/index.js
// line 520); hyperfs reads it with the small LevelDB reader below and makes
// it the default drive of a daemon folder.
package daemonstore

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Cores returns the corestore folder of a hyperdrive-daemon storage
// folder: dir is the daemon's root (~/.hyperdrive) or its storage
// subfolder (~/.hyperdrive/storage). ok is false for any other folder.
func Cores(dir string) (cores string, ok bool) {
	for _, c := range []string{filepath.Join(dir, "storage", "cores"), filepath.Join(dir, "cores")} {
		if st, err := os.Stat(filepath.Join(c, "master_key")); err == nil && !st.IsDir() {
			return c, true
		}
	}
	return "", false
}

// daemonRootKey returns the key of the daemon's root drive, for the store
// kept in cores (a Cores folder): the one recorded in its db, else
// the only drive the store owns. With neither, the error lists the drives
// to choose from.
func RootKey(cores string) ([]byte, error) {
	db := filepath.Join(filepath.Dir(cores), "db")
	if v, found, err := levelGet(db, []byte("!fuse!root-drive")); err == nil && found {
		var rec struct {
			Opts struct {
				Key string `json:"key"`
			} `json:"opts"`
		}
		if err := json.Unmarshal(v, &rec); err == nil {
			if k, err := hex.DecodeString(rec.Opts.Key); err == nil && len(k) == 32 {
				return k, nil
			}
		}
	}
	owned, err := OwnedDrives(cores)
	if err != nil {
		return nil, err
	}
	switch len(owned) {
	case 0:
		return nil, &ChooseError{Msg: fmt.Sprintf("%s is hyperdrive-daemon storage without a drive of its own: name a drive key", cores)}
	case 1:
		return owned[0], nil
	}
	list := make([]string, len(owned))
	for i, k := range owned {
		list[i] = hex.EncodeToString(k)
	}
	return nil, &ChooseError{Msg: fmt.Sprintf("%s is hyperdrive-daemon storage with no root drive recorded and %d drives: name one (hyperfs <command> --storage <dir> <key>) of %s", cores, len(owned), strings.Join(list, ", "))}
}

// ownedDrives lists, sorted, the keys of the drives created in a corestore:
// its named feeds but the content feeds, which hyperdrive 10 names
// "<metadata key hex>-content".
func OwnedDrives(cores string) ([][]byte, error) {
	names, err := filepath.Glob(filepath.Join(cores, "??", "??", "*", "name"))
	if err != nil {
		return nil, err
	}
	var keys [][]byte
	for _, n := range names {
		if b, err := os.ReadFile(n); err != nil || bytes.HasSuffix(b, []byte("-content")) {
			continue
		}
		k, err := os.ReadFile(filepath.Join(filepath.Dir(n), "key"))
		if err != nil || len(k) < 32 {
			continue
		}
		keys = append(keys, k[:32])
	}
	sort.Slice(keys, func(i, j int) bool { return bytes.Compare(keys[i], keys[j]) < 0 })
	return keys, nil
}

// ChooseError says a daemon storage folder has no single root drive, and
// which drives the user can name instead.
type ChooseError struct{ Msg string }

func (e *ChooseError) Error() string { return e.Msg }

// LevelGet reads the newest value of key from the LevelDB in dir (see
// levelGet).
func LevelGet(dir string, key []byte) (val []byte, found bool, err error) { return levelGet(dir, key) }

// levelGet reads the newest value of key from the LevelDB in dir, read-only
// and without the LOCK (the daemon may be running): the records of its
// write-ahead logs (*.log) and tables (*.ldb, *.sst), the highest sequence
// number winning. found is false when the key is absent or deleted.
func levelGet(dir string, key []byte) (val []byte, found bool, err error) {
	files, err := os.ReadDir(dir)
	if err != nil {
		return nil, false, err
	}
	var bestSeq uint64
	var have bool
	consider := func(seq uint64, kind byte, v []byte) {
		if !have || seq > bestSeq {
			have, bestSeq = true, seq
			found = kind == 1
			val = append([]byte(nil), v...)
		}
	}
	for _, f := range files {
		p := filepath.Join(dir, f.Name())
		switch filepath.Ext(f.Name()) {
		case ".log":
			if f.Name() == "LOG" {
				continue
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return nil, false, err
			}
			levelLogGet(b, key, consider)
		case ".ldb", ".sst":
			b, err := os.ReadFile(p)
			if err != nil {
				return nil, false, err
			}
			if err := levelTableGet(b, key, consider); err != nil {
				return nil, false, fmt.Errorf("%s: %w", p, err)
			}
		}
	}
	if !found {
		val = nil
	}
	return val, found, nil
}

// levelLogGet replays a LevelDB log: 32 KiB blocks of records (crc32c,
// length, type; full, first, middle, last) carrying write batches (sequence,
// count, then put/delete records). A torn tail is ignored.
func levelLogGet(b, key []byte, consider func(seq uint64, kind byte, v []byte)) {
	const block = 32 << 10
	var batch []byte
	for off := 0; off+7 <= len(b); {
		if left := block - off%block; left < 7 {
			off += left
			continue
		}
		n := int(binary.LittleEndian.Uint16(b[off+4:]))
		typ := b[off+6]
		if typ == 0 || off+7+n > len(b) {
			off += block - off%block // padding
			continue
		}
		frag := b[off+7 : off+7+n]
		off += 7 + n
		switch typ {
		case 1:
			batch = frag
		case 2:
			batch = append([]byte(nil), frag...)
			continue
		case 3:
			batch = append(batch, frag...)
			continue
		case 4:
			batch = append(batch, frag...)
		default:
			continue
		}
		levelBatchGet(batch, key, consider)
		batch = nil
	}
}

func levelBatchGet(b, key []byte, consider func(seq uint64, kind byte, v []byte)) {
	if len(b) < 12 {
		return
	}
	seq := binary.LittleEndian.Uint64(b)
	count := binary.LittleEndian.Uint32(b[8:])
	b = b[12:]
	for i := uint32(0); i < count && len(b) > 0; i++ {
		kind := b[0]
		b = b[1:]
		k, rest, ok := lengthPrefixed(b)
		if !ok {
			return
		}
		b = rest
		var v []byte
		if kind == 1 {
			if v, b, ok = lengthPrefixed(b); !ok {
				return
			}
		}
		if bytes.Equal(k, key) {
			consider(seq+uint64(i), kind, v)
		}
	}
}

func lengthPrefixed(b []byte) (field, rest []byte, ok bool) {
	n, k := binary.Uvarint(b)
	if k <= 0 || uint64(len(b)-k) < n {
		return nil, nil, false
	}
	return b[k : k+int(n)], b[k+int(n):], true
}

// levelTableGet scans a LevelDB table: the footer's index block names the
// data blocks, each entry of which is an internal key (user key, then
// sequence<<8|kind) and a value.
func levelTableGet(b, key []byte, consider func(seq uint64, kind byte, v []byte)) error {
	const footer = 48
	if len(b) < footer || binary.LittleEndian.Uint64(b[len(b)-8:]) != 0xdb4775248b80fb57 {
		return errors.New("not a LevelDB table")
	}
	f := b[len(b)-footer:]
	_, k1 := binary.Uvarint(f)
	_, k2 := binary.Uvarint(f[max(k1, 0):])
	if k1 <= 0 || k2 <= 0 {
		return errors.New("bad footer")
	}
	index, err := levelBlock(b, f[k1+k2:])
	if err != nil {
		return err
	}
	return levelEntries(index, func(_, handle []byte) error {
		data, err := levelBlock(b, handle)
		if err != nil {
			return err
		}
		return levelEntries(data, func(ik, v []byte) error {
			if len(ik) >= 8 && bytes.Equal(ik[:len(ik)-8], key) {
				tag := binary.LittleEndian.Uint64(ik[len(ik)-8:])
				consider(tag>>8, byte(tag), v)
			}
			return nil
		})
	})
}

// levelBlock reads the block a handle (varint offset, varint size) names,
// uncompressed.
func levelBlock(b, handle []byte) ([]byte, error) {
	off, k1 := binary.Uvarint(handle)
	size, k2 := binary.Uvarint(handle[max(k1, 0):])
	if k1 <= 0 || k2 <= 0 || off > uint64(len(b)) || size > uint64(len(b))-off || uint64(len(b))-off-size < 5 {
		return nil, errors.New("bad block handle")
	}
	blk := b[off : off+size]
	switch b[off+size] {
	case 0:
		return blk, nil
	case 1:
		return snappyDecode(blk)
	}
	return nil, fmt.Errorf("block compression %d not supported", b[off+size])
}

// levelEntries walks a block's prefix-compressed entries.
func levelEntries(blk []byte, fn func(k, v []byte) error) error {
	if len(blk) < 4 {
		return errors.New("short block")
	}
	restarts := int(binary.LittleEndian.Uint32(blk[len(blk)-4:]))
	end := len(blk) - 4 - 4*restarts
	if restarts < 0 || end < 0 {
		return errors.New("bad block restarts")
	}
	var key []byte
	for p := 0; p < end; {
		shared, k1 := binary.Uvarint(blk[p:end])
		if k1 <= 0 {
			return errors.New("bad block entry")
		}
		p += k1
		unshared, k2 := binary.Uvarint(blk[p:end])
		if k2 <= 0 {
			return errors.New("bad block entry")
		}
		p += k2
		vlen, k3 := binary.Uvarint(blk[p:end])
		if k3 <= 0 || shared > uint64(len(key)) || unshared > uint64(end-p-k3) || vlen > uint64(end-p-k3)-unshared {
			return errors.New("bad block entry")
		}
		p += k3
		key = append(key[:shared], blk[p:p+int(unshared)]...)
		p += int(unshared)
		if err := fn(key, blk[p:p+int(vlen)]); err != nil {
			return err
		}
		p += int(vlen)
	}
	return nil
}

// snappyDecode decodes a snappy block (LevelDB's compression).
func snappyDecode(src []byte) ([]byte, error) {
	n, k := binary.Uvarint(src)
	if k <= 0 || n > 64<<20 {
		return nil, errors.New("snappy: bad length")
	}
	dst := make([]byte, 0, n)
	bad := errors.New("snappy: corrupt input")
	for s := k; s < len(src); {
		tag := src[s]
		var length, offset int
		switch tag & 3 {
		case 0:
			length = int(tag >> 2)
			s++
			if length >= 60 {
				nb := length - 59
				if s+nb > len(src) {
					return nil, bad
				}
				length = 0
				for i := 0; i < nb; i++ {
					length |= int(src[s+i]) << (8 * i)
				}
				s += nb
			}
			length++
			if length <= 0 || s+length > len(src) || uint64(len(dst)+length) > n {
				return nil, bad
			}
			dst = append(dst, src[s:s+length]...)
			s += length
			continue
		case 1:
			if s+2 > len(src) {
				return nil, bad
			}
			length = 4 + int(tag>>2)&7
			offset = int(tag&0xe0)<<3 | int(src[s+1])
			s += 2
		case 2:
			if s+3 > len(src) {
				return nil, bad
			}
			length = 1 + int(tag>>2)
			offset = int(binary.LittleEndian.Uint16(src[s+1:]))
			s += 3
		case 3:
			if s+5 > len(src) {
				return nil, bad
			}
			length = 1 + int(tag>>2)
			offset = int(binary.LittleEndian.Uint32(src[s+1:]))
			s += 5
		}
		if offset <= 0 || offset > len(dst) || uint64(len(dst)+length) > n {
			return nil, bad
		}
		for i := 0; i < length; i++ { // may overlap
			dst = append(dst, dst[len(dst)-offset])
		}
	}
	if uint64(len(dst)) != n {
		return nil, bad
	}
	return dst, nil
}
