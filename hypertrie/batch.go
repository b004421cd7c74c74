package hypertrie

import (
	"context"
	"fmt"
)

// OpType says what a batch operation does.
type OpType int

const (
	OpPut OpType = iota
	OpDel
)

// Op is one operation of a Batch.
type Op struct {
	Type   OpType
	Key    string
	Value  []byte // for OpPut; nil stores a node without a value
	Hidden bool
	Flags  uint64 // user flags, for OpPut
}

// batch is the in-memory tail of the feed while a Batch is built: its nodes
// take seqs from offset on and are appended at the end in one call.
type batch struct {
	offset uint64
	nodes  []*node
	head   *node
}

func (b *batch) get(seq uint64) *node {
	if seq < b.offset || seq-b.offset >= uint64(len(b.nodes)) {
		return nil
	}
	return b.nodes[seq-b.offset]
}

func (b *batch) append(n *node) {
	n.seq = b.offset + uint64(len(b.nodes))
	b.nodes = append(b.nodes, n)
}

// Batch applies ops in order as one append (one signature), each seeing
// the ones before it, and returns the nodes written. A Del of a missing key
// is skipped.
func (t *Trie) Batch(ctx context.Context, ops []Op) ([]*Node, error) {
	if err := t.writable(); err != nil {
		return nil, fmt.Errorf("batch: %w", err)
	}
	t.write.Lock()
	defer t.write.Unlock()
	head, err := t.begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("batch: %w", err)
	}
	b := &batch{offset: t.length(), head: head}
	l := loader{t: t, batch: b}
	for _, op := range ops {
		o := options{hidden: op.Hidden}
		start := len(b.nodes)
		switch op.Type {
		case OpPut:
			_, err = t.put(ctx, l, newNode(op.Key, op.Value, op.Flags<<8|hiddenFlag(op.Hidden)), 0, o)
		case OpDel:
			_, err = t.del(ctx, l, op.Key, o)
		default:
			err = fmt.Errorf("unknown operation type %d", op.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("batch %s %q: %w", op.Type, op.Key, err)
		}
		if len(b.nodes) > start {
			b.head = b.nodes[len(b.nodes)-1]
		}
	}
	if len(b.nodes) == 0 {
		return nil, nil
	}
	out := make([]*Node, len(b.nodes))
	for i, n := range b.nodes {
		out[i] = n.public()
	}
	if t.group.delay > 0 {
		if err := t.addPending(b.nodes...); err != nil {
			return nil, fmt.Errorf("batch: %w", err)
		}
		return out, nil
	}
	blocks := make([][]byte, len(b.nodes))
	for i, n := range b.nodes {
		if blocks[i], err = n.encode(); err != nil {
			return nil, err
		}
	}
	if _, err := t.feed.Append(blocks...); err != nil {
		return nil, fmt.Errorf("batch: %w", err)
	}
	for _, n := range b.nodes {
		n.compact()
		t.cache.put(n)
	}
	return out, nil
}

func (o OpType) String() string {
	switch o {
	case OpPut:
		return "put"
	case OpDel:
		return "del"
	}
	return fmt.Sprintf("op(%d)", int(o))
}
