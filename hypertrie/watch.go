package hypertrie

import (
	"context"
	"sync"

	"github.com/hyperfs/hyperfs/hypercore"
)

// Watch calls fn each time the keys under prefix change (lib/watch.js: the
// newest node on prefix's path moves on). Changes already made when Watch
// is called are not reported (the reference reports one at start if the
// prefix holds anything). fn runs on a goroutine of the watcher, one call at
// a time; changes during a call are coalesced into one more call. After
// stop returns, fn is not called again. A checkout is watched as its live
// trie.
func (t *Trie) Watch(prefix string, fn func()) (stop func()) {
	live := &Trie{shared: t.shared}
	prefix = normalizeKey(prefix)
	ctx, cancel := context.WithCancel(context.Background())
	kick := make(chan struct{}, 1)
	from := live.Version()
	unsubscribe := t.feed.Subscribe(func(ev hypercore.Event) {
		if ev.Kind == hypercore.EventAppend {
			select {
			case kick <- struct{}{}:
			default:
			}
		}
	})
	go func() {
		o := options{prefix: true}
		var closest uint64
		base := live.Checkout(from)
		if n, err := base.get(ctx, loader{t: base}, prefix, o); err == nil && n != nil && from > 1 {
			closest = n.seq
		}
		for {
			select {
			case <-ctx.Done():
				return
			case <-kick:
			}
			n, err := live.get(ctx, loader{t: live}, prefix, o)
			if err != nil || ctx.Err() != nil {
				continue // a read that failed is retried on the next append
			}
			if s := seqOf(n); s > closest {
				closest = s
				fn()
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			unsubscribe()
			cancel()
		})
	}
}
