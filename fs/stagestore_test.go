package fs

import (
	"bytes"
	"io"
	"testing"
)

// TestStageStore checks the staged content against a plain byte slice
// through writes, reads and truncates, in memory and after it moves to a
// file.
func TestStageStore(t *testing.T) {
	s := newStageStore(t.TempDir())
	defer s.Close()
	var want []byte
	write := func(p []byte, off int64) {
		t.Helper()
		if n, err := s.WriteAt(p, off); n != len(p) || err != nil {
			t.Fatalf("WriteAt(%d bytes, %d): %d %v", len(p), off, n, err)
		}
		if end := off + int64(len(p)); end > int64(len(want)) {
			want = append(want, make([]byte, end-int64(len(want)))...)
		}
		copy(want[off:], p)
	}
	truncate := func(size int64) {
		t.Helper()
		if err := s.Truncate(size); err != nil {
			t.Fatal(err)
		}
		if size < int64(len(want)) {
			want = want[:size]
		} else {
			want = append(want, make([]byte, size-int64(len(want)))...)
		}
	}
	check := func(stage string) {
		t.Helper()
		got := make([]byte, len(want)+10)
		n, err := s.ReadAt(got, 0)
		if n != len(want) || (err != io.EOF && len(want) < len(got)) || !bytes.Equal(got[:n], want) {
			t.Fatalf("%s: read %d bytes (%v), want %d, equal %v", stage, n, err, len(want), bytes.Equal(got[:n], want))
		}
		if n, err := s.ReadAt(make([]byte, 4), int64(len(want))); n != 0 || err != io.EOF {
			t.Fatalf("%s: read at the end: %d %v", stage, n, err)
		}
	}
	write([]byte("hello"), 0)
	write([]byte("world"), 100) // a hole
	check("memory")
	truncate(50)
	check("memory, shortened")
	truncate(70)
	check("memory, lengthened with zeros")
	if s.f != nil {
		t.Fatal("small content left memory")
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), memStageMax/16+10)
	write(big, 10)
	if s.f == nil {
		t.Fatal("content past memStageMax still in memory")
	}
	check("file")
	write([]byte("tail"), int64(len(want)))
	truncate(memStageMax / 2)
	check("file, shortened")
	if _, err := s.Write([]byte("appended")); err != nil {
		t.Fatal(err)
	}
	want = append(want, "appended"...)
	check("file, appended")

	// Fallocate moves memory content to a file first.
	s2 := newStageStore(t.TempDir())
	defer s2.Close()
	s2.WriteAt([]byte("abc"), 0)
	if err := s2.Fallocate(0, 0, 4096); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 3)
	if n, _ := s2.ReadAt(got, 0); n != 3 || string(got) != "abc" {
		t.Fatalf("after fallocate: %q", got[:n])
	}
}
