package hyperdrive

import (
	"context"
	"fmt"
	"github.com/hyperfs/hyperfs/hypercore"
	"sync/atomic"
	"testing"

	"github.com/hyperfs/hyperfs/hypercore/storage"
)

// BenchmarkSmallFileSync is what a durable close of a small new file costs
// the drive: write it, set its mode and times (as tar does), then Sync.
func BenchmarkSmallFileSync(b *testing.B) {
	ctx := context.Background()
	d := openDrive(b, newStore(b), Options{GroupCommit: DefaultGroupCommit})
	body := make([]byte, 2048)
	mode := uint32(0o644)
	b.ResetTimer()
	syncs := storage.Syncs()
	defer func() { b.ReportMetric(float64(storage.Syncs()-syncs)/float64(b.N), "fdatasyncs/op") }()
	for i := range b.N {
		p := fmt.Sprintf("/d%02d/f%05d", i/100, i)
		if err := d.WriteFile(ctx, p, body, 0o644); err != nil {
			b.Fatal(err)
		}
		if err := d.SetAttr(ctx, p, Attr{Mode: &mode}); err != nil {
			b.Fatal(err)
		}
		if err := d.Sync(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSmallFileSyncParallel is BenchmarkSmallFileSync from several
// writers at once (a parallel build, xargs -P): their content appends and
// syncs are shared, so appends and fdatasyncs per file fall below one
// and eight.
func BenchmarkSmallFileSyncParallel(b *testing.B) {
	ctx := context.Background()
	d := openDrive(b, newStore(b), Options{GroupCommit: DefaultGroupCommit})
	content, err := d.Content(ctx)
	if err != nil {
		b.Fatal(err)
	}
	var appends, n atomic.Int64
	defer content.Subscribe(func(e hypercore.Event) {
		if e.Kind == hypercore.EventAppend {
			appends.Add(1)
		}
	})()
	body := make([]byte, 2048)
	b.SetParallelism(8)
	b.ResetTimer()
	syncs := storage.Syncs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			if err := d.WriteFile(ctx, fmt.Sprintf("/d%03d/f%06d", i/100, i), body, 0o644); err != nil {
				b.Error(err)
				return
			}
			if err := d.Sync(); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(storage.Syncs()-syncs)/float64(b.N), "fdatasyncs/op")
	b.ReportMetric(float64(appends.Load())/float64(b.N), "content-appends/op")
}
