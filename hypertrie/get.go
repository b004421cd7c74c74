package hypertrie

import (
	"context"
	"fmt"
)

// loader reads nodes for a walk: from the batch being built first, then
// from the feed.
type loader struct {
	t     *Trie
	batch *batch // nil outside Batch
}

func (l loader) get(ctx context.Context, seq uint64) (*node, error) {
	if l.batch != nil {
		if n := l.batch.get(seq); n != nil {
			return n, nil
		}
	}
	return l.t.getBySeq(ctx, seq)
}

// head is the node walks start from.
func (l loader) head(ctx context.Context) (*node, error) {
	if l.batch != nil {
		return l.batch.head, nil
	}
	return l.t.begin(ctx)
}

func slot(bucket []uint64, v int) uint64 {
	if v < len(bucket) {
		return bucket[v]
	}
	return 0
}

// Get returns the node stored under key, or an error wrapping ErrNotFound.
// Options: Hidden, Closest, PrefixMatch.
func (t *Trie) Get(ctx context.Context, key string, opts ...Option) (*Node, error) {
	o := collect(opts)
	n, err := t.get(ctx, loader{t: t}, key, o)
	if err != nil {
		return nil, fmt.Errorf("get %q: %w", key, err)
	}
	if n == nil {
		return nil, fmt.Errorf("get %q: %w", key, ErrNotFound)
	}
	return n.public(), nil
}

// get walks from the head along key's path (lib/get.js). Each step moves
// one position on, so a walk reads at most one node per position.
func (t *Trie) get(ctx context.Context, l loader, key string, o options) (*node, error) {
	target := newNode(key, nil, hiddenFlag(o.hidden))
	length := target.length()
	if o.prefix {
		length--
	}
	head, err := l.head(ctx)
	if err != nil {
		return nil, err
	}
	for i := 0; head != nil && i < length; i++ {
		val := target.path(i)
		check := terminator(i)
		if head.path(i) == val && (!check || !target.collides(head, i)) {
			continue
		}
		bucket := head.bucket(i)
		if check {
			// A node whose component ends here with the same hash but
			// another string sits in a collision slot v+5k.
			var found *node
			for j := val; j < len(bucket) && bucket[j] != 0; j += 5 {
				n, err := l.get(ctx, bucket[j])
				if err != nil {
					return nil, err
				}
				if n != nil && !n.collides(target, i) {
					found = n
				}
			}
			head = found // the reference returns nothing here, even with closest
			continue
		}
		seq := slot(bucket, val)
		if seq == 0 {
			if o.closest {
				return head, nil
			}
			return nil, nil
		}
		if head, err = l.get(ctx, seq); err != nil {
			return nil, err
		}
	}
	return head, nil
}

func hiddenFlag(hidden bool) uint64 {
	if hidden {
		return flagHidden
	}
	return 0
}
