package hypertrie

import (
	"context"
	"fmt"
)

// ListOptions configure List and Iterate.
type ListOptions struct {
	// Recursive lists every key under the prefix; otherwise one node per
	// child name (the first one reached) is listed.
	Recursive bool
	// Hidden lists the hidden key space instead.
	Hidden bool
	// Gt leaves out the prefix key itself.
	Gt bool
	// Reverse walks the branches in the opposite order.
	Reverse bool
}

// Order of the children at each position, as pushed on the stack (so
// popped in reverse): the end marker 4 first, then 0..3 (lib/iterator.js).
var (
	sortOrder    = [5]int{3, 2, 1, 0, 4}
	reverseOrder = [5]int{4, 0, 1, 2, 3}
)

// Iterator walks the keys under a prefix depth first, in the reference's
// order: by component hash, a key before the keys under it. Not safe for
// concurrent use.
type Iterator struct {
	t      *Trie
	prefix string
	opts   ListOptions
	order  [5]int
	opened bool
	start  int
	end    int // position at which a node is yielded; -1 = its own length
	stack  []frame
	// seen holds the forked pushes made (position<<64|seq as a pair): only
	// they can meet twice (see push), so a valid trie without hash
	// collisions needs none and a listing holds O(depth) frames.
	seen map[[2]uint64]bool
	// loads counts node fetches, for tests of the walk's cost.
	loads int
}

// frame is a node at a position of the walk. forked marks a frame whose
// branch of the walk is shared with another frame: a hash collision, or a
// node pointing to its own branch in a malformed trie.
type frame struct {
	i      int
	seq    uint64
	node   *node
	forked bool
}

// Iterate returns an iterator over the keys under prefix (all keys for "").
func (t *Trie) Iterate(prefix string, opts ListOptions) *Iterator {
	it := &Iterator{t: t, prefix: normalizeKey(prefix), opts: opts, order: sortOrder}
	if opts.Reverse {
		it.order = reverseOrder
	}
	return it
}

// List returns every node Iterate yields.
func (t *Trie) List(ctx context.Context, prefix string, opts ListOptions) ([]*Node, error) {
	it := t.Iterate(prefix, opts)
	var out []*Node
	for {
		n, err := it.Next(ctx)
		if err != nil {
			return nil, err
		}
		if n == nil {
			return out, nil
		}
		out = append(out, n)
	}
}

func (it *Iterator) open(ctx context.Context) error {
	o := options{prefix: true, hidden: it.opts.Hidden}
	n, err := it.t.get(ctx, loader{t: it.t}, it.prefix, o)
	if err != nil {
		return err
	}
	it.start = newNode(it.prefix, nil, hiddenFlag(it.opts.Hidden)).length() - 1
	it.end = -1
	if !it.opts.Recursive {
		it.end = it.start + 32
	}
	if n != nil {
		it.stack = append(it.stack, frame{i: it.start, seq: n.seq, node: n})
	}
	return nil
}

// Next returns the next node, or nil when the iteration is over.
func (it *Iterator) Next(ctx context.Context) (*Node, error) {
	n, err := it.next(ctx)
	if err != nil {
		return nil, fmt.Errorf("list %q: %w", it.prefix, err)
	}
	return n, nil
}

// Open starts the walk at the trie's current head, if Next has not: the
// listing is of the trie as it is then.
func (it *Iterator) Open(ctx context.Context) error {
	if it.opened {
		return nil
	}
	if err := it.open(ctx); err != nil {
		return fmt.Errorf("list %q: %w", it.prefix, err)
	}
	it.opened = true
	return nil
}

func (it *Iterator) next(ctx context.Context) (*Node, error) {
	if !it.opened {
		if err := it.open(ctx); err != nil {
			return nil, err
		}
		it.opened = true
	}
	for len(it.stack) > 0 {
		top := it.stack[len(it.stack)-1]
		it.stack = it.stack[:len(it.stack)-1]
		length := top.node.length()
		if it.end >= 0 {
			length = min(length, it.end)
		}
		i := top.i
		top.i++
		if i >= length {
			n := top.node.public()
			n.Collided = top.forked
			return n, nil
		}
		bucket := top.node.bucket(i)
		own := top.node.path(i)
		for _, val := range it.order {
			if val == 4 && it.opts.Gt && i == it.start {
				continue
			}
			// More than one frame continues with val here (the node
			// itself and a pointer, or collision slots): the branch forks.
			n := 0
			if own == val {
				n++
			}
			for v := val; v < len(bucket); v += 5 {
				if bucket[v] != 0 {
					n++
				}
			}
			forked := top.forked || n > 1
			from := len(it.stack)
			if own == val {
				cont := top
				cont.forked = forked
				it.stack = append(it.stack, cont)
			}
			for v := val; v < len(bucket); v += 5 {
				if seq := bucket[v]; seq != 0 {
					if err := it.push(ctx, top.node, i, val, seq, forked); err != nil {
						return nil, err
					}
				}
			}
			if len(it.stack)-from > 1 {
				sortFrames(it.stack[from:])
			}
		}
	}
	return nil, nil
}

// push loads node seq, which from's bucket at position i holds under
// val, onto the stack at position i+1.
//
// The walk stays linear in the nodes it lists: a node that does not agree
// with from on every position up to i, and has val at i, does not belong
// to this branch (only a malformed trie points to one) and is left out, so
// every frame's node spells the branch it stands for. Frames of branches
// that never fork are then all different; only forked ones can meet again,
// and they are remembered.
func (it *Iterator) push(ctx context.Context, from *node, i, val int, seq uint64, forked bool) error {
	k := [2]uint64{uint64(i + 1), seq}
	if forked {
		if it.seen[k] {
			return nil
		}
		if it.seen == nil {
			it.seen = map[[2]uint64]bool{}
		}
		it.seen[k] = true
	}
	it.loads++
	n, err := it.t.getBySeq(ctx, seq)
	if err != nil {
		return err
	}
	if n != nil && n.path(i) == val && n.agrees(from, i) {
		it.stack = append(it.stack, frame{i: i + 1, seq: seq, node: n, forked: forked})
	}
	return nil
}

// sortFrames orders nodes that share a position (hash collisions) by key,
// greatest first, so they pop in ascending order (Iterator#_sort).
func sortFrames(fs []frame) {
	for i := 1; i < len(fs); i++ {
		for j := i; j > 0; j-- {
			if fs[j].node.key <= fs[j-1].node.key {
				break
			}
			fs[j], fs[j-1] = fs[j-1], fs[j]
		}
	}
}
