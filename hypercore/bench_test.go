package hypercore

import (
	"fmt"
	"testing"
)

func benchAppend(b *testing.B, size, batch int) {
	f, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	blocks := make([][]byte, batch)
	for i := range blocks {
		blocks[i] = make([]byte, size)
		for k := range blocks[i] {
			blocks[i][k] = byte(i + k)
		}
	}
	b.SetBytes(int64(size * batch))
	b.ResetTimer()
	for b.Loop() {
		if _, err := f.Append(blocks...); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppend(b *testing.B) {
	for _, c := range []struct{ size, batch int }{{1024, 1}, {1024, 1000}, {64 << 10, 16}} {
		b.Run(fmt.Sprintf("%dBx%d", c.size, c.batch), func(b *testing.B) { benchAppend(b, c.size, c.batch) })
	}
}

func BenchmarkGetSequential(b *testing.B) {
	for _, size := range []int{1024, 64 << 10} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			f, err := Open(b.TempDir(), Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			blocks := make([][]byte, 1024)
			for i := range blocks {
				blocks[i] = make([]byte, size)
			}
			f.Append(blocks...)
			b.SetBytes(int64(size))
			b.ResetTimer()
			i := uint64(0)
			for b.Loop() {
				if _, err := f.Get(ctx, i%1024); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
