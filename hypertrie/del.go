package hypertrie

import (
	"context"
	"fmt"
)

// Del removes key (trap 23: by appending the closest remaining node again,
// without a pointer to the removed one, or a reset node if none remains).
// A missing key gives an error wrapping ErrNotFound. Options: Hidden,
// DelIf, Closest (for the condition), StopAtMounts.
func (t *Trie) Del(ctx context.Context, key string, opts ...Option) error {
	if err := t.writable(); err != nil {
		return fmt.Errorf("del %q: %w", key, err)
	}
	o := collect(opts)
	t.write.Lock()
	defer t.write.Unlock()
	found, err := t.del(ctx, loader{t: t}, key, o)
	if err != nil {
		return fmt.Errorf("del %q: %w", key, err)
	}
	if !found {
		return fmt.Errorf("del %q: %w", key, ErrNotFound)
	}
	return nil
}

// del finds key as lib/del.js does, remembering the closest other node on
// its path, and re-puts that one. It reports whether the key was found
// (true also when a condition declined).
func (t *Trie) del(ctx context.Context, l loader, key string, o options) (bool, error) {
	target := newNode(key, nil, hiddenFlag(o.hidden))
	head, err := l.head(ctx)
	if err != nil {
		return false, err
	}
	if head == nil && l.batch == nil {
		return false, nil
	}
	var closest uint64
	// terminate ends a search that did not find the key; the reference
	// still shows the node it stopped at to a closest condition (that is
	// how mountable-hypertrie notices a key inside a mount).
	terminate := func() (bool, error) {
		if o.stopAtMounts && head != nil && head.flags>>8&flagMount != 0 && head.key != target.key {
			return false, &MountError{Path: target.key, Mountpoint: head.key}
		}
		if o.closest && o.delIf != nil {
			_, err := o.delIf(publicOrNil(head))
			return false, err
		}
		return false, nil
	}
	if head == nil {
		return terminate()
	}
	for i := 0; i < target.length(); i++ {
		val := target.path(i)
		bucket := head.bucket(i)
		if head.path(i) == val {
			if c := firstOther(bucket, val); c != 0 {
				closest = c
			}
			continue
		}
		seq := slot(bucket, val)
		if seq == 0 {
			return terminate()
		}
		closest = head.seq
		if head, err = l.get(ctx, seq); err != nil {
			return false, err
		}
		if head == nil {
			return terminate()
		}
	}
	// Like the reference, hash collisions are not told apart here.
	if head.key != target.key {
		return terminate()
	}
	var keep *node
	if closest != 0 {
		if keep, err = l.get(ctx, closest); err != nil {
			return false, err
		}
	}
	if o.delIf != nil {
		ok, err := o.delIf(head.public())
		if err != nil || !ok {
			return true, err
		}
	}
	var n *node
	if keep != nil {
		n = newNode(keep.key, keep.value, keep.flags>>8<<8|keep.flags&flagHidden)
	} else {
		n = newNode("", nil, head.flags&flagHidden)
	}
	if _, err := t.put(ctx, l, n, head.seq, options{}); err != nil {
		return true, err
	}
	return true, nil
}

// firstOther returns the first pointer of bucket outside slot v.
func firstOther(bucket []uint64, v int) uint64 {
	for j, seq := range bucket {
		if j != v && seq != 0 {
			return seq
		}
	}
	return 0
}
