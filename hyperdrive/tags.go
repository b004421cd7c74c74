package hyperdrive

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/hyperfs/hyperfs/hypertrie"
)

// tagPrefix is where hyperdrive's lib/tagging.js keeps tags: hidden keys
// whose value is varint(version).
const tagPrefix = "hyperdrive-tags/"

// CreateTag names a version of the drive (0: the current one).
func (d *Drive) CreateTag(ctx context.Context, name string, version uint64) error {
	if err := d.writable(); err != nil {
		return pathErr("tag", name, err)
	}
	if version == 0 {
		version = d.Version()
	}
	_, err := d.trie.Put(ctx, tagPrefix+name, binary.AppendUvarint(nil, version), hypertrie.Hidden())
	return pathErr("tag", name, translate(err))
}

// TaggedVersion returns the version a tag names.
func (d *Drive) TaggedVersion(ctx context.Context, name string) (uint64, error) {
	n, err := d.trie.Get(ctx, tagPrefix+name, hypertrie.Hidden())
	if errors.Is(err, hypertrie.ErrNotFound) {
		return 0, pathErr("tag", name, ErrNotFound)
	}
	if err != nil {
		return 0, pathErr("tag", name, translate(err))
	}
	v, k := binary.Uvarint(n.Value)
	if k <= 0 {
		return 0, pathErr("tag", name, fmt.Errorf("tag value %x: %w", n.Value, ErrCorrupt))
	}
	return v, nil
}

// DeleteTag removes a tag.
func (d *Drive) DeleteTag(ctx context.Context, name string) error {
	if err := d.writable(); err != nil {
		return pathErr("tag", name, err)
	}
	err := d.trie.Del(ctx, tagPrefix+name, hypertrie.Hidden())
	if errors.Is(err, hypertrie.ErrNotFound) {
		err = ErrNotFound
	}
	return pathErr("tag", name, translate(err))
}
