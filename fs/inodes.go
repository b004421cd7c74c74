package fs

import (
	"sync"
	"sync/atomic"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
)

// Memory is a memory budget the mount shares with its backend's cache
// (*cache.Cache implements it). The mount takes a quarter of it as the
// heap's working room (requests in flight, and room for the collector: a
// heap kept full to its limit collects without pause), and charges the
// inodes the kernel holds to it, up to three eighths: a listing or a walk
// of any size then stays within the one budget.
type Memory interface {
	// MaxBytes is the whole budget.
	MaxBytes() int64
	// Reserve takes delta bytes of the budget for memory held outside
	// the cache, or gives them back when delta is negative.
	Reserve(delta int64)
}

// inodeBytes is the heap one inode the kernel knows costs: go-fuse's
// Inode, its place among its parent's children and in go-fuse's tables,
// the node, and its inode number's entry (930 bytes measured by
// TestInodeBytes, rounded up).
const inodeBytes = 1024

// reserveStep is how many inodes are charged or given back at a time.
const reserveStep = 256

// inodeBudget counts the inodes the kernel holds and, over the budget,
// asks the kernel to forget the oldest ones it does not use.
type inodeBudget struct {
	mem  Memory // nil: no budget
	room int64  // working room taken from mem
	max  int64  // inodes allowed
	live atomic.Int64

	mu       sync.Mutex
	reserved int64   // inodes charged to mem; guarded by mu
	queue    []*node // counted nodes, oldest first (some forgotten since); guarded by mu
	kick     chan struct{}
	done     chan struct{}
	wg       sync.WaitGroup
	prune    func(nodes []*node) // replaced in tests
	evicted  atomic.Int64        // inodes the kernel was asked to forget
}

func (b *inodeBudget) init(mem Memory) {
	b.mem = mem
	if mem == nil {
		return
	}
	b.room = mem.MaxBytes() / 4
	mem.Reserve(b.room)
	b.max = max(mem.MaxBytes()*3/8/inodeBytes, 1024)
	b.kick = make(chan struct{}, 1)
	b.done = make(chan struct{})
	b.prune = pruneNodes
	b.wg.Add(1)
	go b.loop()
}

// stop ends the evicting goroutine and gives the charge back.
func (b *inodeBudget) stop() {
	if b.mem == nil {
		return
	}
	close(b.done)
	b.wg.Wait()
	b.mu.Lock()
	b.mem.Reserve(-b.reserved*inodeBytes - b.room)
	b.reserved = 0
	b.mu.Unlock()
}

// full reports whether the kernel holds as many inodes as the budget
// allows: a listing then gives names without attributes, so the kernel
// makes no inodes for them until they are looked up.
func (b *inodeBudget) full() bool {
	return b.mem != nil && b.live.Load() >= b.max
}

// add counts a node the kernel was just given.
func (b *inodeBudget) add(n *node) {
	if b.mem == nil || !n.counted.CompareAndSwap(false, true) {
		return
	}
	live := b.live.Add(1)
	b.mu.Lock()
	b.queue = append(b.queue, n)
	b.charge(live)
	b.mu.Unlock()
	if live > b.max {
		select {
		case b.kick <- struct{}{}:
		default:
		}
	}
}

// forget uncounts a node the kernel forgot.
func (b *inodeBudget) forget(n *node) {
	if b.mem == nil || !n.counted.CompareAndSwap(true, false) {
		return
	}
	live := b.live.Add(-1)
	b.mu.Lock()
	b.charge(live)
	b.mu.Unlock()
}

// charge moves the reservation to live inodes, in steps. b.mu is held.
func (b *inodeBudget) charge(live int64) {
	if d := live - b.reserved; d >= reserveStep || d <= -reserveStep {
		b.mem.Reserve(d * inodeBytes)
		b.reserved = live
	}
}

// OnForget is called by go-fuse once the kernel forgot n: it no longer
// counts against the budget, and its number's entry goes if the table
// can do without it.
func (n *node) OnForget() {
	n.ms.inodes.forget(n)
	if n.ent != nil {
		n.ms.inos.release(n.ent, n.ino())
	}
}

func (b *inodeBudget) loop() {
	defer b.wg.Done()
	for {
		select {
		case <-b.done:
			return
		case <-b.kick:
		}
		b.evict()
	}
}

// evict asks the kernel to forget the oldest inodes beyond the budget, and
// a tenth of the budget more, so evictions come in batches. Inodes in use
// (open, being written, a directory with known entries, a working
// directory) stay with the kernel and go to the back of the queue.
func (b *inodeBudget) evict() {
	excess := b.live.Load() - b.max*9/10
	if excess <= 0 {
		return
	}
	b.mu.Lock()
	var batch []*node
	var keep []*node
	i := 0
	for ; i < len(b.queue) && int64(len(batch)) < excess; i++ {
		n := b.queue[i]
		if !n.counted.Load() {
			continue // forgotten already
		}
		if n.busy() {
			keep = append(keep, n)
			continue
		}
		batch = append(batch, n)
	}
	rest := b.queue[i:]
	// The queue is rebuilt so forgotten nodes are not kept alive by it.
	q := make([]*node, 0, len(rest)+len(batch)+len(keep))
	for _, n := range rest {
		if n.counted.Load() {
			q = append(q, n)
		}
	}
	q = append(q, keep...)
	q = append(q, batch...) // still counted until the kernel forgets them
	b.queue = q
	b.mu.Unlock()
	for len(batch) > 0 {
		k := min(len(batch), 1024)
		b.prune(batch[:k])
		b.evicted.Add(int64(k))
		batch = batch[k:]
	}
}

// busy reports whether n is open or being written.
func (n *node) busy() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.staged != nil || n.writers > 0
}

// pruneNodes asks the kernel to forget nodes it does not use
// (FUSE_NOTIFY_PRUNE), or, on kernels without it, to drop their names,
// which has the same effect on unused inodes.
func pruneNodes(nodes []*node) {
	ins := make([]*fusefs.Inode, len(nodes))
	for i, n := range nodes {
		ins[i] = n.EmbeddedInode()
	}
	errno := ins[0].NotifyPrune(ins)
	if errno != syscall.ENOSYS {
		return
	}
	for _, in := range ins {
		if name, parent := in.Parent(); parent != nil {
			parent.NotifyEntry(name)
		}
	}
}
