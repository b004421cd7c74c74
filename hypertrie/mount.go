package hypertrie

import (
	"context"
	"fmt"
	"path"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/hyperfs/hyperfs/hypertrie/internal/schema"
)

// Mount records, as mountable-hypertrie 2 writes them: a mount of another
// trie at path P is the hidden key "mounts/P" holding a Mount record and
// the visible key P, both with user flag 1 (stored flags 257 and 256).
const (
	// MountPrefix is the hidden key prefix of mount records.
	MountPrefix = "mounts"
	// flagMount is the user flag of both keys of a mount.
	flagMount = 1
)

// MountRecord is the value of a hidden mounts/<path> node.
type MountRecord struct {
	Key        []byte // public key of the mounted trie's feed
	LocalPath  string // where it is mounted, no leading "/"
	Version    uint64 // a checkout of the mounted trie; 0 follows its head
	RemotePath string // a path inside the mounted trie (hyperdrive never sets it)
	Hash       []byte
}

// EncodeMount encodes a mount record; zero fields are left out.
func EncodeMount(m *MountRecord) []byte {
	msg := &schema.Mount{Key: m.Key, LocalPath: &m.LocalPath, Hash: m.Hash}
	if msg.Key == nil {
		msg.Key = []byte{}
	}
	if m.Version != 0 {
		msg.Version = &m.Version
	}
	if m.RemotePath != "" {
		msg.RemotePath = &m.RemotePath
	}
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(msg)
	return b
}

// DecodeMount decodes a mount record.
func DecodeMount(b []byte) (*MountRecord, error) {
	var msg schema.Mount
	if err := proto.Unmarshal(b, &msg); err != nil {
		return nil, fmt.Errorf("mount record: %w: %w", ErrCorrupt, err)
	}
	return &MountRecord{Key: msg.Key, LocalPath: msg.GetLocalPath(), Version: msg.GetVersion(),
		RemotePath: msg.GetRemotePath(), Hash: msg.Hash}, nil
}

// IsMount reports whether n is one of the two keys of a mount: user flags
// exactly 1, as mountable-hypertrie's _isNormalNode tests.
func IsMount(n *Node) bool { return n != nil && n.Flags == flagMount }

// MountError says a write went to a key under a mountpoint; it wraps
// ErrInMount.
type MountError struct {
	Path       string // the key written
	Mountpoint string // the mount above it
}

func (e *MountError) Error() string {
	return fmt.Sprintf("%q is inside the mount at %q", e.Path, e.Mountpoint)
}

func (e *MountError) Unwrap() error { return ErrInMount }

// MountResolver opens the trie a mount record points at (through a
// corestore, at rec.Version if set). The mounts package implements it; this
// package only stores and finds the records.
type MountResolver interface {
	ResolveMount(ctx context.Context, rec *MountRecord) (*Trie, error)
}

// MountOptions configure Mount.
type MountOptions struct {
	Version    uint64 // pin the mounted trie to this version
	RemotePath string
	// Value is stored under the visible key (hyperdrive: a Stat); nil
	// stores an empty value.
	Value []byte
}

// NormalizePath turns a path into a key as mountable-hypertrie does:
// backslashes become slashes and one leading "/" goes.
func NormalizePath(p string) string {
	return strings.TrimPrefix(strings.ReplaceAll(p, "\\", "/"), "/")
}

// mountKey is path.posix.join("/mounts", p) without its leading "/";
// Node's join keeps a trailing slash, Go's drops it.
func mountKey(p string) string {
	k := path.Join("/"+MountPrefix, p)[1:]
	if strings.HasSuffix(p, "/") && !strings.HasSuffix(k, "/") {
		k += "/"
	}
	return k
}

// Mount records the trie with public key key at p, as one batch of the
// hidden record and the visible mountpoint.
func (t *Trie) Mount(ctx context.Context, p string, key []byte, opts MountOptions) error {
	p = NormalizePath(p)
	if len(key) != 32 {
		return fmt.Errorf("mount %q: key has %d bytes, want 32", p, len(key))
	}
	rec := &MountRecord{Key: key, LocalPath: p, Version: opts.Version, RemotePath: NormalizePath(opts.RemotePath)}
	value := opts.Value
	if value == nil {
		value = []byte{}
	}
	_, err := t.Batch(ctx, []Op{
		{Type: OpPut, Key: mountKey(p), Value: EncodeMount(rec), Hidden: true, Flags: flagMount},
		{Type: OpPut, Key: p, Value: value, Flags: flagMount},
	})
	if err != nil {
		return fmt.Errorf("mount %q: %w", p, err)
	}
	return nil
}

// Unmount removes the mount at p (both keys, in one batch).
func (t *Trie) Unmount(ctx context.Context, p string) error {
	p = NormalizePath(p)
	if _, err := t.Batch(ctx, []Op{
		{Type: OpDel, Key: mountKey(p), Hidden: true},
		{Type: OpDel, Key: p},
	}); err != nil {
		return fmt.Errorf("unmount %q: %w", p, err)
	}
	return nil
}

// MountAt returns the mount p lies in (p itself or a parent of it), or an
// error wrapping ErrNotFound when p is in this trie. It reads only the
// hidden mounts/ subtree, as mountable-hypertrie's _getSubtrie does.
func (t *Trie) MountAt(ctx context.Context, p string) (*MountRecord, error) {
	p = NormalizePath(p)
	n, err := t.get(ctx, loader{t: t}, mountKey(p), options{hidden: true, closest: true})
	if err != nil {
		return nil, fmt.Errorf("mount at %q: %w", p, err)
	}
	if n == nil || n.flags>>8 != flagMount || !strings.HasPrefix(n.key, MountPrefix+"/") {
		return nil, fmt.Errorf("mount at %q: %w", p, ErrNotFound)
	}
	mp := strings.TrimSuffix(n.key[len(MountPrefix)+1:], "/")
	if p != mp && !strings.HasPrefix(p, mp+"/") {
		return nil, fmt.Errorf("mount at %q: %w", p, ErrNotFound)
	}
	rec, err := DecodeMount(n.value)
	if err != nil {
		return nil, fmt.Errorf("mount at %q (record %q): %w", p, n.key, err)
	}
	return rec, nil
}

// Mounts lists the mount records of this trie (not of mounted tries).
func (t *Trie) Mounts(ctx context.Context) ([]*MountRecord, error) {
	nodes, err := t.List(ctx, MountPrefix, ListOptions{Recursive: true, Hidden: true})
	if err != nil {
		return nil, err
	}
	var out []*MountRecord
	for _, n := range nodes {
		if !IsMount(n) {
			continue
		}
		rec, err := DecodeMount(n.Value)
		if err != nil {
			return nil, fmt.Errorf("mount record %q: %w", n.Key, err)
		}
		out = append(out, rec)
	}
	return out, nil
}
