package bitfield

// denseLimit is how many leading pages a pager keeps in a slice; pages past it
// (blocks beyond 2^29 for the feed bitfield) go in a map, so a far index costs
// one page, not a slice reaching it.
const denseLimit = 1 << 16

// pager is memory-pager 1.5.0: fixed-size pages allocated on first write,
// with a list of pages changed since the last flush. hypercore's three
// bitfields share one pager, each owning a byte range of every page.
//
// Two reference behaviours are deliberately not copied: deduplication of
// all-0xff pages (a memory saving with no visible effect), and the aliasing of
// page 32768 onto page 0 that memory-pager's grow() suffers when page 32768 is
// the first page past 32767 to be touched.
type pager struct {
	pageSize int
	// length is the reference's pages.length: one past the highest page
	// ever allocated or loaded, even if that page was all zero and dropped.
	length  uint64
	dense   []*page
	far     map[uint64]*page
	updates []*page // pages changed since the last takeUpdates, each once
}

type page struct {
	index   uint64
	buf     []byte
	updated bool // on the updates list
}

func newPager(pageSize int) *pager { return &pager{pageSize: pageSize} }

func (p *pager) lookup(i uint64) *page {
	if i < uint64(len(p.dense)) {
		return p.dense[i]
	}
	return p.far[i] // nil for a nil map too
}

func (p *pager) store(i uint64, pg *page) {
	if i < denseLimit {
		if i >= uint64(len(p.dense)) {
			n := max(2*len(p.dense), int(i)+1, 8)
			n = min(n, denseLimit)
			grown := make([]*page, n)
			copy(grown, p.dense)
			p.dense = grown
		}
		p.dense[i] = pg
		return
	}
	if p.far == nil {
		p.far = make(map[uint64]*page)
	}
	if pg == nil {
		delete(p.far, i)
		return
	}
	p.far[i] = pg
}

// get returns page i, allocating a zero page unless noAllocate is set
// (memory-pager get(i, noAllocate)).
func (p *pager) get(i uint64, noAllocate bool) *page {
	pg := p.lookup(i)
	if pg == nil && !noAllocate {
		pg = &page{index: i, buf: make([]byte, p.pageSize)}
		p.store(i, pg)
		if i >= p.length {
			p.length = i + 1
		}
	}
	return pg
}

// set installs a loaded page (memory-pager set): buf is copied and
// zero-padded to the page size; an all-zero buf leaves the page absent but
// still counts towards length.
func (p *pager) set(i uint64, buf []byte) {
	if i >= p.length {
		p.length = i + 1
	}
	if allZero(buf) {
		if p.lookup(i) != nil {
			p.store(i, nil)
		}
		return
	}
	b := make([]byte, p.pageSize)
	copy(b, buf)
	if pg := p.lookup(i); pg != nil {
		pg.buf = b
		return
	}
	p.store(i, &page{index: i, buf: b})
}

// updated records that pg changed (memory-pager updated).
func (p *pager) updated(pg *page) {
	if pg.updated {
		return
	}
	pg.updated = true
	p.updates = append(p.updates, pg)
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
