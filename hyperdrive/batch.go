package hyperdrive

import (
	"context"
	"fmt"
)

// Small files written at the same time share one append of the content
// feed, so one signature: a file whose bytes fit in one block joins the
// batch that waits for the content feed, and whichever of its writers
// gets the feed first appends the whole batch. A lone writer gets the
// feed at once and appends alone. The feed's blocks are the ones the
// files would have appended one by one (each file keeps its one block),
// in the order they joined; only the signatures between them are left
// out, as for any batch append.

// sharedBlock is one file's block in a batch: where it landed once the
// batch is appended.
type sharedBlock struct {
	data       []byte
	withdrawn  bool   // its writer gave up before the batch was taken
	offset     uint64 // block index, set by the append
	byteOffset uint64
}

// contentBatch is the blocks waiting for the content feed.
type contentBatch struct {
	blocks []*sharedBlock
	done   chan struct{} // closed once appended (or failed)
	err    error         // set before done closes
}

// appendShared appends block, as part of a batch with the small files
// being written meanwhile, and returns where it landed. ctx bounds the
// wait for the feed; a writer that gives up before its batch is taken
// leaves it.
func (c *content) appendShared(ctx context.Context, block []byte) (offset, byteOffset uint64, err error) {
	me := &sharedBlock{data: block}
	c.mu.Lock()
	b := c.batch
	if b == nil {
		b = &contentBatch{done: make(chan struct{})}
		c.batch = b
	}
	b.blocks = append(b.blocks, me)
	c.mu.Unlock()
	select {
	case <-b.done:
	case <-c.lock:
		c.mu.Lock()
		mine := c.batch == b
		if mine {
			c.batch = nil // writers from now on start the next batch
		}
		c.mu.Unlock()
		if mine {
			c.appendBatch(b)
		}
		c.release()
		<-b.done // another writer took the batch: it is being appended
	case <-ctx.Done():
		c.mu.Lock()
		if c.batch == b {
			me.withdrawn = true
			c.mu.Unlock()
			return 0, 0, ctx.Err()
		}
		c.mu.Unlock()
		<-b.done // taken already: it will be appended, with this block
	}
	if b.err != nil {
		return 0, 0, b.err
	}
	return me.offset, me.byteOffset, nil
}

// appendBatch appends a batch taken from c.batch; the caller holds the
// content feed.
func (c *content) appendBatch(b *contentBatch) {
	defer close(b.done)
	blocks := make([][]byte, 0, len(b.blocks))
	offset, byteOffset := c.feed.Length(), c.feed.ByteLength()
	for _, sb := range b.blocks {
		if sb.withdrawn {
			continue
		}
		sb.offset, sb.byteOffset = offset, byteOffset
		offset++
		byteOffset += uint64(len(sb.data))
		blocks = append(blocks, sb.data)
	}
	if _, err := c.feed.Append(blocks...); err != nil {
		b.err = fmt.Errorf("appending content: %w", err)
	}
}
