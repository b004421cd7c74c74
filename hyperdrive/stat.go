package hyperdrive

import (
	"crypto/ed25519"
	"fmt"
	"strconv"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/hyperfs/hyperfs/hyperdrive/internal/schema"
)

// File type bits of Stat.Mode, as hyperdrive-schemas' Stat (and stat(2)).
const (
	ModeType    = 0o170000 // mask of the type bits
	ModeSocket  = 0o140000
	ModeSymlink = 0o120000
	ModeRegular = 0o100000
	ModeBlock   = 0o060000
	ModeDir     = 0o040000
	ModeChar    = 0o020000
	ModeFIFO    = 0o010000
	ModePerm    = 0o7777 // permission, setuid, setgid and sticky bits
)

// Default permissions of new entries (Stat.file, Stat.directory,
// Stat.symlink in the reference).
const (
	DefaultFileMode = 0o644
	DefaultDirMode  = 0o755
)

// WriteBlockSize is the largest content block a write appends (hyperdrive's
// WRITE_STREAM_BLOCK_SIZE).
const WriteBlockSize = 512 << 10

// Stat is the value of a drive entry: a file's place in the content feed,
// a directory, a symlink or a mountpoint.
type Stat struct {
	Mode     uint32 // permission bits | type bits (ModeRegular, ModeDir, ...)
	UID, GID uint32
	// Size is the file's length in bytes; Blocks the number of content
	// blocks it occupies, starting at block Offset, whose first byte is
	// byte ByteOffset of the content feed. An empty file written by
	// hyperdrive has one zero-length block.
	Size, Blocks, Offset, ByteOffset uint64
	// Mtime and Ctime are stored in milliseconds; a zero time is written as
	// the current time and read back as the current time, as the
	// reference's Stat constructor does.
	Mtime, Ctime time.Time
	// Linkname is a symlink's target.
	Linkname string
	// Mount is set on a mountpoint.
	Mount *MountInfo
	// Metadata are the extended attributes, in the reference's key order
	// (JS object order: integer-like keys ascending, then the others in
	// insertion order). A removed key stays with a nil Value.
	Metadata []MetadataEntry
}

// MountInfo is Stat.mount: the drive mounted at an entry (or, with
// Hypercore, a single core mounted as a file).
type MountInfo struct {
	Key       ed25519.PublicKey
	Version   uint64 // 0 follows the mounted drive's latest version
	Hash      []byte
	Hypercore bool

	// versionSet keeps a decoded version present on re-encoding: the
	// reference decodes an absent version as 0 and then writes it.
	versionSet bool
}

// MetadataEntry is one extended attribute.
type MetadataEntry struct {
	Key   string
	Value []byte // nil: removed
}

// IsDir reports whether the entry is a directory (mountpoints are).
func (s *Stat) IsDir() bool { return s.Mode&ModeType == ModeDir }

// IsFile reports whether the entry is a regular file. (The reference's
// isFile tests only the IFREG bit, which symlinks and sockets also carry.)
func (s *Stat) IsFile() bool { return s.Mode&ModeType == ModeRegular }

// IsSymlink reports whether the entry is a symbolic link.
func (s *Stat) IsSymlink() bool { return s.Mode&ModeType == ModeSymlink }

// IsMount reports whether a drive or core is mounted at the entry.
func (s *Stat) IsMount() bool { return s.Mount != nil }

// Get returns the value of metadata key k (nil, false if absent or removed).
func (s *Stat) Get(k string) ([]byte, bool) {
	for _, e := range s.Metadata {
		if e.Key == k {
			return e.Value, e.Value != nil
		}
	}
	return nil, false
}

// Clone returns a deep copy.
func (s *Stat) Clone() *Stat {
	c := *s
	if s.Mount != nil {
		m := *s.Mount
		c.Mount = &m
	}
	c.Metadata = append([]MetadataEntry(nil), s.Metadata...)
	return &c
}

// newStat builds a Stat of type typ with the permission bits of mode:
// mode 0 is the type's default, as the reference's `mode || DEFAULT`; a
// mode that carries type bits is taken as given, so permissions 0 can be
// asked for (ModeRegular|0).
func newStat(typ, mode uint32, now time.Time) *Stat {
	perm := mode & ModePerm
	if mode == 0 {
		perm = DefaultFileMode
		if typ == ModeDir {
			perm = DefaultDirMode
		}
	}
	return &Stat{Mode: typ | perm, Mtime: now, Ctime: now}
}

// setMetadata merges one entry as Object.assign({}, old, {k: v}) does: an
// existing key keeps its place, a new one goes where JS would enumerate it.
func (s *Stat) setMetadata(k string, v []byte) {
	for i := range s.Metadata {
		if s.Metadata[i].Key == k {
			s.Metadata[i].Value = v
			return
		}
	}
	s.Metadata = append(s.Metadata, MetadataEntry{Key: k, Value: v})
	s.Metadata = jsKeyOrder(s.Metadata)
}

// jsKeyOrder puts entries in JS object enumeration order: array-index keys
// ("0".."4294967294", canonical) ascending first, then the rest as given.
func jsKeyOrder(es []MetadataEntry) []MetadataEntry {
	var idx, rest []MetadataEntry
	for _, e := range es {
		if _, ok := arrayIndex(e.Key); ok {
			idx = append(idx, e)
		} else {
			rest = append(rest, e)
		}
	}
	if len(idx) == 0 {
		return es
	}
	for i := 1; i < len(idx); i++ { // insertion sort: few keys
		for j := i; j > 0; j-- {
			a, _ := arrayIndex(idx[j-1].Key)
			b, _ := arrayIndex(idx[j].Key)
			if a <= b {
				break
			}
			idx[j-1], idx[j] = idx[j], idx[j-1]
		}
	}
	return append(idx, rest...)
}

func arrayIndex(k string) (uint64, bool) {
	if k == "" || (len(k) > 1 && k[0] == '0') {
		return 0, false
	}
	n, err := strconv.ParseUint(k, 10, 64)
	if err != nil || n >= 1<<32-1 {
		return 0, false
	}
	return n, true
}

// EncodeStat encodes s as hyperdrive-schemas does: mode, uid, gid, size,
// blocks, offset, byteOffset, mtime and ctime always; linkname, mount and
// metadata only when set.
func EncodeStat(s *Stat) []byte {
	now := time.Now()
	msg := &schema.Stat{
		Mode:       proto.Uint32(s.Mode),
		Uid:        proto.Uint32(s.UID),
		Gid:        proto.Uint32(s.GID),
		Size:       proto.Uint64(s.Size),
		Blocks:     proto.Uint64(s.Blocks),
		Offset:     proto.Uint64(s.Offset),
		ByteOffset: proto.Uint64(s.ByteOffset),
		Mtime:      proto.Uint64(millis(s.Mtime, now)),
		Ctime:      proto.Uint64(millis(s.Ctime, now)),
	}
	if s.Linkname != "" {
		msg.Linkname = proto.String(s.Linkname)
	}
	if m := s.Mount; m != nil {
		key := m.Key
		if key == nil {
			key = []byte{}
		}
		msg.Mount = &schema.Mount{Key: key, Hash: m.Hash, Hypercore: proto.Bool(m.Hypercore)}
		if m.Version != 0 || m.versionSet {
			msg.Mount.Version = proto.Uint64(m.Version)
		}
	}
	for _, e := range s.Metadata {
		msg.Metadata = append(msg.Metadata, &schema.MetadataEntry{Key: proto.String(e.Key), Value: e.Value})
	}
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(msg)
	return b
}

// millis is a Stat time on disk: milliseconds since the epoch, "now" for
// a zero (or pre-epoch) time as the reference's Stat constructor does.
func millis(t, now time.Time) uint64 {
	if t.IsZero() || t.UnixMilli() <= 0 {
		t = now
	}
	return uint64(t.UnixMilli())
}

// maxMillis keeps decoded times inside what a JS Date (and time.Time)
// holds: ±8.64e15 ms.
const maxMillis = 8_640_000_000_000_000

// DecodeStat decodes an entry value. As in the reference, mode is
// required, absent or zero times read as the current time, a metadata
// entry without a value is kept as removed, and a repeated metadata key
// keeps its first place with the last value.
func DecodeStat(b []byte) (*Stat, error) {
	now := time.Now()
	if s, ok := decodePlainStat(b, now); ok {
		return s, nil
	}
	return decodeStat(b, now)
}

// decodePlainStat decodes the Stat of a plain file, directory or symlink
// (fields 1 to 10, each with its own wire type), without proto.Unmarshal's
// reflection: every lookup and listing decodes one, and the generic
// decoder cost as much as the rest of a cold lookup. Anything else (a
// mount, metadata, an unknown field, a field with another wire type, bad
// bytes) returns false and is left to decodeStat, so what is decoded here
// is what decodeStat decodes (FuzzDecodePlainStat).
func decodePlainStat(b []byte, now time.Time) (*Stat, bool) {
	var f [10]uint64
	var link []byte
	hasMode := false
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, false
		}
		b = b[n:]
		switch {
		case num >= 1 && num <= 9 && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return nil, false
			}
			f[num] = v
			hasMode = hasMode || num == 1
			b = b[n:]
		case num == 10 && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, false
			}
			link = v
			b = b[n:]
		default:
			return nil, false
		}
	}
	if !hasMode {
		return nil, false
	}
	return &Stat{
		Mode: uint32(f[1]), UID: uint32(f[2]), GID: uint32(f[3]),
		Size: f[4], Blocks: f[5], Offset: f[6], ByteOffset: f[7],
		Mtime: fromMillis(f[8], now), Ctime: fromMillis(f[9], now),
		Linkname: string(link),
	}, true
}

// decodeStat is DecodeStat through proto.Unmarshal, for every Stat.
func decodeStat(b []byte, now time.Time) (*Stat, error) {
	var msg schema.Stat
	if err := proto.Unmarshal(b, &msg); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	s := &Stat{
		Mode: msg.GetMode(), UID: msg.GetUid(), GID: msg.GetGid(),
		Size: msg.GetSize(), Blocks: msg.GetBlocks(), Offset: msg.GetOffset(), ByteOffset: msg.GetByteOffset(),
		Mtime: fromMillis(msg.GetMtime(), now), Ctime: fromMillis(msg.GetCtime(), now),
		Linkname: msg.GetLinkname(),
	}
	if m := msg.Mount; m != nil {
		s.Mount = &MountInfo{Key: m.Key, Version: m.GetVersion(), Hash: m.Hash, Hypercore: m.GetHypercore(), versionSet: true}
	}
	for _, e := range msg.Metadata {
		s.setMetadataDecoded(e.GetKey(), e.Value)
	}
	s.Metadata = jsKeyOrder(s.Metadata)
	return s, nil
}

func (s *Stat) setMetadataDecoded(k string, v []byte) {
	for i := range s.Metadata {
		if s.Metadata[i].Key == k {
			s.Metadata[i].Value = v
			return
		}
	}
	s.Metadata = append(s.Metadata, MetadataEntry{Key: k, Value: v})
}

func fromMillis(ms uint64, now time.Time) time.Time {
	if ms == 0 || ms > maxMillis {
		return now
	}
	return time.UnixMilli(int64(ms))
}
