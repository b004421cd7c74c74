package hypertrie

import (
	"context"
	"fmt"
	"testing"
)

// The benchmarks match integration/js/scripts/trie-bench.js: 10,000 keys
// "dir<i%100>/file<i>", each put in its own append, read back by Get, and
// listed recursively, on an in-memory hypercore.

const benchKeys = 10000

func benchKey(i int) string { return fmt.Sprintf("dir%d/file%d", i%100, i) }

func filledTrie(b *testing.B) *Trie {
	tr, _ := newMemTrie(b, Options{})
	for i := range benchKeys {
		if _, err := tr.Put(context.Background(), benchKey(i), []byte("value")); err != nil {
			b.Fatal(err)
		}
	}
	return tr
}

func BenchmarkPut10k(b *testing.B) {
	for b.Loop() {
		filledTrie(b)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchKeys), "ns/key")
}

func BenchmarkGet10k(b *testing.B) {
	tr := filledTrie(b)
	ctx := context.Background()
	for b.Loop() {
		for i := range benchKeys {
			if _, err := tr.Get(ctx, benchKey(i)); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchKeys), "ns/key")
}

// BenchmarkGet10kCold reads with no node cache: every walk decodes.
func BenchmarkGet10kCold(b *testing.B) {
	tr := filledTrie(b)
	ctx := context.Background()
	for b.Loop() {
		cold := &Trie{shared: &shared{feed: tr.feed, cache: nodeCache{}}}
		cold.header.Store(&Header{Type: HeaderType})
		for i := range benchKeys {
			if _, err := cold.Get(ctx, benchKey(i)); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchKeys), "ns/key")
}

func BenchmarkList10k(b *testing.B) {
	tr := filledTrie(b)
	ctx := context.Background()
	for b.Loop() {
		l, err := tr.List(ctx, "", ListOptions{Recursive: true})
		if err != nil || len(l) != benchKeys {
			b.Fatal(len(l), err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchKeys), "ns/key")
}

// BenchmarkDecodeNode decodes the stored nodes of a 10,000-key trie, as a
// cold walk does.
func BenchmarkDecodeNode(b *testing.B) {
	tr := filledTrie(b)
	ctx := context.Background()
	blocks := make([][]byte, benchKeys)
	for i := range blocks {
		blk, err := tr.feed.Get(ctx, uint64(i+1))
		if err != nil {
			b.Fatal(err)
		}
		blocks[i] = blk
	}
	b.ResetTimer()
	for b.Loop() {
		for i, blk := range blocks {
			if _, err := decodeNode(blk, uint64(i+1)); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchKeys), "ns/node")
}
