package jsref

import (
	"strconv"
	"testing"
)

// WriteResult is what feed-write.js prints.
type WriteResult struct {
	Key          string `json:"key"` // hex public key
	Length       uint64 `json:"length"`
	ByteLength   uint64 `json:"byteLength"`
	BlocksSHA256 string `json:"blocksSha256"` // see Digest
	Seed         uint32 `json:"seed"`
	Count        uint64 `json:"count"`
	Reopened     bool   `json:"reopened"`
}

// FeedSummary is what feed-read.js and feed-append.js print.
type FeedSummary struct {
	Key          string `json:"key"` // hex public key
	Length       uint64 `json:"length"`
	ByteLength   uint64 `json:"byteLength"`
	Writable     bool   `json:"writable"`
	Audit        Audit  `json:"audit"`
	BlocksSHA256 string `json:"blocksSha256"` // see Digest
}

// Audit is the report of hypercore's feed.audit().
type Audit struct {
	Valid   uint64 `json:"valid"`
	Invalid uint64 `json:"invalid"`
}

// BenchResult is what feed-bench.js prints. The trailing fields are set
// only by the cases they apply to.
type BenchResult struct {
	Case         string  `json:"case"`
	Seconds      float64 `json:"seconds"` // the timed operation only
	Ops          uint64  `json:"ops"`     // blocks appended or read
	Bytes        uint64  `json:"bytes"`
	PeakRSSBytes uint64  `json:"peakRssBytes"` // of the whole node process
	BlockSize    int     `json:"blockSize,omitempty"`
	Batch        int     `json:"batch,omitempty"`
	Key          string  `json:"key,omitempty"`
	Length       uint64  `json:"length,omitempty"`
	Seed         uint32  `json:"seed,omitempty"`
}

// Bench cases of feed-bench.js.
const (
	BenchAppend1KSingle = "append-1k-single" // 100,000 × 1 KiB, one append each
	BenchAppend1KBatch  = "append-1k-batch"  // 100,000 × 1 KiB, appends of 1000
	BenchAppend64K      = "append-64k"       // 4096 × 64 KiB, appends of 16
	BenchReadSeq        = "read-seq"         // get every block in order
	BenchGetRandom      = "get-random"       // 10,000 gets, mulberry32(42)
)

// WriteFeed runs feed-write.js: a new feed in dir with blocks 0..count-1 of
// seed, closed and reopened halfway if reopen is set.
func WriteFeed(t testing.TB, dir string, count int, seed uint32, reopen bool) WriteResult {
	t.Helper()
	args := []string{dir, strconv.Itoa(count), "--seed", strconv.FormatUint(uint64(seed), 10)}
	if reopen {
		args = append(args, "--reopen")
	}
	var r WriteResult
	RunJSON(t, &r, "feed-write.js", args...)
	return r
}

// ReadFeed runs feed-read.js on the feed in dir.
func ReadFeed(t testing.TB, dir string) FeedSummary {
	t.Helper()
	var s FeedSummary
	RunJSON(t, &s, "feed-read.js", dir)
	return s
}

// AppendFeed runs feed-append.js: count more blocks of seed, continuing
// from the feed's length.
func AppendFeed(t testing.TB, dir string, count int, seed uint32) FeedSummary {
	t.Helper()
	var s FeedSummary
	RunJSON(t, &s, "feed-append.js", dir, strconv.Itoa(count), "--seed", strconv.FormatUint(uint64(seed), 10))
	return s
}

// Bench runs one feed-bench.js case on dir. ops > 0 replaces the case's
// block or get count (for smoke tests).
func Bench(t testing.TB, dir, benchCase string, ops int) BenchResult {
	t.Helper()
	args := []string{dir, benchCase}
	if ops > 0 {
		args = append(args, "--ops", strconv.Itoa(ops))
	}
	var r BenchResult
	RunJSON(t, &r, "feed-bench.js", args...)
	return r
}
