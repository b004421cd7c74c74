package hypertrie

import (
	"context"
	"fmt"
)

// Change is one key that differs between two versions: Left is its node
// in the trie Diff was called on, Right in the other one (nil where the
// key is absent). A key re-put with the same value still counts: it is a
// new node.
type Change struct {
	Key         string
	Left, Right *Node
}

// DiffOptions configure DiffIterate.
type DiffOptions struct {
	// Hidden compares the hidden key spaces instead.
	Hidden bool
}

// Diff returns the changes between t and other (often a checkout of the
// same feed, e.g. t.Checkout(v) for what changed since version v; nil
// compares with the empty trie) under prefix.
func (t *Trie) Diff(ctx context.Context, other *Trie, prefix string) ([]Change, error) {
	it := t.DiffIterate(other, prefix, DiffOptions{})
	var out []Change
	for {
		c, err := it.Next(ctx)
		if err != nil {
			return nil, err
		}
		if c == nil {
			return out, nil
		}
		out = append(out, *c)
	}
}

// DiffIterator walks two tries side by side (lib/diff.js), descending only
// where their pointers differ, so the work is proportional to the change,
// not to the size of the tries.
type DiffIterator struct {
	left, right *Trie
	prefix      string
	hidden      bool
	opened      bool
	stack       []*diffFrame
	seen        map[[3]uint64]bool // frames already expanded: bounds malformed tries
}

type diffFrame struct {
	i           int
	left, right *node
}

// DiffIterate returns an iterator over the changes Diff lists.
func (t *Trie) DiffIterate(other *Trie, prefix string, opts DiffOptions) *DiffIterator {
	if other == nil {
		other = t.Checkout(0)
	}
	return &DiffIterator{left: t, right: other, prefix: normalizeKey(prefix), hidden: opts.Hidden, seen: map[[3]uint64]bool{}}
}

// Next returns the next change, or nil at the end.
func (d *DiffIterator) Next(ctx context.Context) (*Change, error) {
	c, err := d.next(ctx)
	if err != nil {
		return nil, fmt.Errorf("diff %q: %w", d.prefix, err)
	}
	return c, nil
}

func (d *DiffIterator) open(ctx context.Context) error {
	o := options{prefix: true, hidden: d.hidden}
	a, err := d.left.get(ctx, loader{t: d.left}, d.prefix, o)
	if err != nil {
		return err
	}
	b, err := d.right.get(ctx, loader{t: d.right}, d.prefix, o)
	if err != nil {
		return err
	}
	i := newNode(d.prefix, nil, 0).length() - 1
	d.stack = append(d.stack, &diffFrame{i: i, left: a, right: b})
	return nil
}

func seqOf(n *node) uint64 {
	if n == nil {
		return 0
	}
	return n.seq
}

func (d *DiffIterator) next(ctx context.Context) (*Change, error) {
	if !d.opened {
		if err := d.open(ctx); err != nil {
			return nil, err
		}
		d.opened = true
	}
	for len(d.stack) > 0 {
		top := d.stack[len(d.stack)-1]
		d.stack = d.stack[:len(d.stack)-1]
		i, left, right := top.i, top.left, top.right
		if seqOf(left) == seqOf(right) {
			continue
		}
		k := [3]uint64{uint64(i), seqOf(left), seqOf(right)}
		if d.seen[k] {
			continue
		}
		d.seen[k] = true
		doneLeft := left != nil && i >= left.length()
		doneRight := right != nil && i >= right.length()
		if doneLeft && doneRight {
			return change(left, right), nil
		}
		leftVal, rightVal := 5, 6 // match no value
		var leftBucket, rightBucket []uint64
		if left != nil {
			leftVal, leftBucket = left.path(i), left.bucket(i)
		}
		if right != nil {
			rightVal, rightBucket = right.path(i), right.bucket(i)
		}
		for j := 0; j < 5; j++ {
			var leftSeq, rightSeq uint64
			if leftVal == j {
				leftSeq = left.seq
			}
			if rightVal == j {
				rightSeq = right.seq
			}
			// Left and right candidates are paired by their order. (The
			// reference then checks pairs for hash collisions at position
			// i+1, which is never a terminator, so it never splits one.)
			leftAt, rightAt := len(d.stack), len(d.stack)
			if leftSeq != rightSeq {
				if !doneLeft && leftSeq != 0 && notInBucket(j, leftSeq, rightBucket) {
					d.frameAt(leftAt, i+1).left = left
					leftAt++
				}
				if !doneRight && rightSeq != 0 && notInBucket(j, rightSeq, leftBucket) {
					d.frameAt(rightAt, i+1).right = right
					rightAt++
				}
			}
			if !doneLeft {
				for v := j; v < len(leftBucket) && leftBucket[v] != 0; v += 5 {
					seq := leftBucket[v]
					if seq != rightSeq && notInBucket(j, seq, rightBucket) {
						n, err := d.left.getBySeq(ctx, seq)
						if err != nil {
							return nil, err
						}
						d.frameAt(leftAt, i+1).left = n
						leftAt++
					}
				}
			}
			if !doneRight {
				for v := j; v < len(rightBucket) && rightBucket[v] != 0; v += 5 {
					seq := rightBucket[v]
					if seq != leftSeq && notInBucket(j, seq, leftBucket) {
						n, err := d.right.getBySeq(ctx, seq)
						if err != nil {
							return nil, err
						}
						d.frameAt(rightAt, i+1).right = n
						rightAt++
					}
				}
			}
		}
		if doneLeft {
			return change(left, nil), nil
		}
		if doneRight {
			return change(nil, right), nil
		}
	}
	return nil, nil
}

func (d *DiffIterator) frameAt(at, i int) *diffFrame {
	if at == len(d.stack) {
		d.stack = append(d.stack, &diffFrame{i: i})
	}
	return d.stack[at]
}

func notInBucket(v int, seq uint64, bucket []uint64) bool {
	for ; v < len(bucket); v += 5 {
		if bucket[v] == seq {
			return false
		}
	}
	return true
}

func change(left, right *node) *Change {
	c := &Change{Left: publicOrNil(left), Right: publicOrNil(right)}
	if left != nil {
		c.Key = left.key
	} else {
		c.Key = right.key
	}
	return c
}
