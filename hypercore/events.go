package hypercore

// EventKind says what changed in a feed.
type EventKind int

const (
	// EventAppend: the feed grew (local append or verified remote length).
	EventAppend EventKind = iota
	// EventDownload: a block was stored from a peer.
	EventDownload
	// EventClear: blocks were cleared from local storage.
	EventClear
)

// Event describes a change to a feed: blocks [Start, Start+Length).
type Event struct {
	Kind   EventKind
	Start  uint64
	Length uint64
	// From identifies the peer a downloaded block came from (nil if local).
	From any
}

// Subscribe calls fn after every change, on the goroutine that made it; fn
// must not block. The returned function unsubscribes.
func (f *Feed) Subscribe(fn func(Event)) (cancel func()) {
	f.mu.Lock()
	id := f.nextListen
	f.nextListen++
	f.listeners[id] = fn
	f.mu.Unlock()
	return func() {
		f.mu.Lock()
		delete(f.listeners, id)
		f.mu.Unlock()
	}
}

type pendingEvents struct {
	fns []func(Event)
	evs []Event
}

// eventsLocked snapshots the listeners so events are delivered after mu is
// released (a listener may call back into the feed).
func (f *Feed) eventsLocked(evs ...Event) pendingEvents {
	if len(f.listeners) == 0 {
		return pendingEvents{}
	}
	p := pendingEvents{evs: evs}
	for _, fn := range f.listeners {
		p.fns = append(p.fns, fn)
	}
	return p
}

func (f *Feed) emit(p pendingEvents) {
	for _, ev := range p.evs {
		for _, fn := range p.fns {
			fn(ev)
		}
	}
}

// Fetcher is how a feed asks peers for blocks it lacks; the replication
// layer installs one. Fetch must not block.
type Fetcher interface {
	// Fetch asks for block index at top priority.
	Fetch(index uint64)
	// Cancel withdraws interest in a block nobody waits for any more.
	Cancel(index uint64)
}

// SetFetcher installs (or, with nil, removes) the fetcher reads wait on.
// Readers waiting on the old one look again: with none left they fail with
// ErrNotAvailable instead of waiting for blocks nobody will fetch.
func (f *Feed) SetFetcher(fetcher Fetcher) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fetcher = fetcher
	for i, ws := range f.waiting {
		for _, w := range ws {
			close(w)
		}
		delete(f.waiting, i)
	}
}

// HasFetcher reports whether missing blocks are asked from peers.
func (f *Feed) HasFetcher() bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.fetcher != nil
}
