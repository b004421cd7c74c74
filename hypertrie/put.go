package hypertrie

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Put stores value under key and returns the node written, or nil if a
// condition declined. Options: Hidden, WithFlags, PutIf, IfNotExists,
// Closest (for the condition), StopAtMounts.
func (t *Trie) Put(ctx context.Context, key string, value []byte, opts ...Option) (*Node, error) {
	if err := t.writable(); err != nil {
		return nil, fmt.Errorf("put %q: %w", key, err)
	}
	if value == nil {
		value = []byte{} // a value given is always stored, if empty
	}
	o := collect(opts)
	t.write.Lock()
	defer t.write.Unlock()
	n := newNode(key, value, o.flags<<8|hiddenFlag(o.hidden))
	written, err := t.put(ctx, loader{t: t}, n, 0, o)
	if err != nil {
		return nil, fmt.Errorf("put %q: %w", key, err)
	}
	if written == nil {
		return nil, nil
	}
	return written.public(), nil
}

// put links the new node n into the trie (lib/put.js) and appends it (to
// the batch, in a Batch). del is a seq the new trie must not point to (the
// node a Del removes). Called with t.write held.
func (t *Trie) put(ctx context.Context, l loader, n *node, del uint64, o options) (*node, error) {
	head, err := l.head(ctx)
	if err != nil {
		return nil, err
	}
	pushed := func(i, v int, seq uint64) {
		if seq != del {
			push(&n.trie, i, v, seq)
		}
	}
	// last is the node the walk ended on when the new key's path shares
	// every position with it; the reference keeps it only when it is
	// reached through the loop (not when a pointer leads nowhere).
	var last *node
walk:
	for i := 0; head != nil; {
		for ; i < n.length(); i++ {
			check := terminator(i)
			val := n.path(i)
			bucket := head.bucket(i)
			headVal := head.path(i)
			var collidable [][2]uint64 // slot, seq: kept only if its key collides
			for j, seq := range bucket {
				if (j == val && !check) || seq == 0 {
					continue
				}
				if !check {
					pushed(i, j, seq)
				} else {
					collidable = append(collidable, [2]uint64{uint64(j), seq})
				}
			}
			if headVal == val && (!check || !n.collides(head, i)) {
				if err := t.pushColliding(ctx, l, n, i, collidable, pushed); err != nil {
					return nil, err
				}
				continue
			}
			pushed(i, headVal, head.seq)
			// The reference loads colliding candidates asynchronously, so
			// they land after the head's own pointer.
			if err := t.pushColliding(ctx, l, n, i, collidable, pushed); err != nil {
				return nil, err
			}
			if check {
				var next *node
				for j := val; j < len(bucket) && bucket[j] != 0; j += 5 {
					c, err := l.get(ctx, bucket[j])
					if err != nil {
						return nil, err
					}
					if c != nil && !c.collides(n, i) {
						next = c
					}
				}
				head = next
				i++
				continue walk
			}
			seq := slot(bucket, val)
			if seq == 0 {
				break
			}
			if head, err = l.get(ctx, seq); err != nil {
				return nil, err
			}
			i++
			continue walk
		}
		last = head
		break
	}
	return t.finishPut(ctx, l, n, last, o)
}

// pushColliding adds the pointers of a terminator bucket whose keys really
// differ from n's at position i.
func (t *Trie) pushColliding(ctx context.Context, l loader, n *node, i int, slots [][2]uint64, pushed func(i, v int, seq uint64)) error {
	for _, s := range slots {
		c, err := l.get(ctx, s[1])
		if err != nil {
			return err
		}
		if c != nil && c.collides(n, i) {
			pushed(i, int(s[0]), s[1])
		}
	}
	return nil
}

// finishPut runs the conditions and appends n.
func (t *Trie) finishPut(ctx context.Context, l loader, n *node, closest *node, o options) (*node, error) {
	existing := closest
	if existing != nil && existing.key != n.key {
		existing = nil
	}
	if o.stopAtMounts && closest != nil && closest.flags>>8&flagMount != 0 && insideMount(n.key, closest.key) {
		return nil, &MountError{Path: n.key, Mountpoint: closest.key}
	}
	if o.putIf != nil {
		cond := existing
		if o.closest {
			cond = closest
		}
		ok, err := o.putIf(publicOrNil(cond), n.public())
		if err != nil || !ok {
			return nil, err
		}
	}
	if l.batch != nil {
		l.batch.append(n)
		return n, nil
	}
	if t.group.delay > 0 {
		n.seq = t.length()
		if err := t.addPending(n); err != nil {
			return nil, err
		}
		return n, nil
	}
	n.seq = t.feed.Length()
	b, err := n.encode()
	if err != nil {
		return nil, err
	}
	seq, err := t.feed.Append(b)
	if err != nil {
		return nil, err
	}
	if seq != n.seq {
		return nil, fmt.Errorf("feed %x grew under the trie (node written at %d, not %d)", t.feed.Key(), seq, n.seq)
	}
	n.compact()
	t.cache.put(n)
	return n, nil
}

// insideMount reports whether key lies below mountpoint. The reference
// tests a plain string prefix, which would also send "ab" into a mount at
// "a"; this requires a whole component.
func insideMount(key, mountpoint string) bool {
	return strings.HasPrefix(key, strings.TrimSuffix(mountpoint, "/")+"/")
}

func publicOrNil(n *node) *Node {
	if n == nil {
		return nil
	}
	return n.public()
}

// push stores seq in bucket i at slot v, or the next free collision slot
// v+5k; a seq already in the bucket is not stored twice (lib/put.js push).
func push(trie *[][]uint64, i, v int, seq uint64) {
	v %= 5
	for len(*trie) <= i {
		*trie = append(*trie, nil)
	}
	bucket := (*trie)[i]
	for v < len(bucket) && bucket[v] != 0 {
		v += 5
	}
	if slices.Contains(bucket, seq) {
		return
	}
	for len(bucket) <= v {
		bucket = append(bucket, 0)
	}
	bucket[v] = seq
	(*trie)[i] = bucket
}
