package integration

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/hyperfs/hyperfs/hypercore"
	"github.com/hyperfs/hyperfs/hypertrie"
	"github.com/hyperfs/hyperfs/integration/jsref"
)

// trieOp is one line of the ops file trie-write.js applies.
type trieOp struct {
	Type   string   `json:"type,omitempty"`
	Key    string   `json:"key"`
	Value  string   `json:"value,omitempty"` // hex
	Hidden bool     `json:"hidden,omitempty"`
	Flags  uint64   `json:"flags,omitempty"`
	Batch  []trieOp `json:"batch,omitempty"`
}

// trieWorkload makes n deterministic operations over a pool of nested keys:
// puts and overwrites, deletes of present and absent keys, hidden keys,
// user flags, batches, and keys with leading or trailing slashes.
func trieWorkload(seed uint32, n int) (ops []trieOp, pool []string) {
	rnd := jsref.Rand(seed)
	r := func(k int) int { return int(rnd() % uint32(k)) }
	for d := range 12 {
		pool = append(pool, fmt.Sprintf("d%d", d))
		for s := range 6 {
			pool = append(pool, fmt.Sprintf("d%d/s%d", d, s))
			for f := range 30 {
				pool = append(pool, fmt.Sprintf("d%d/s%d/f%d", d, s, f))
			}
		}
		for f := range 40 {
			pool = append(pool, fmt.Sprintf("d%d/file-%d.txt", d, f))
		}
	}
	pool = append(pool, "", "top", "ü/ñ", "a b/c")
	value := func() string {
		b := make([]byte, r(12))
		for i := range b {
			b[i] = byte(rnd())
		}
		return hex.EncodeToString(b)
	}
	spell := func(k string) string {
		switch r(20) {
		case 0:
			return "/" + k
		case 1:
			if k != "" {
				return k + "/"
			}
		}
		return k
	}
	one := func() trieOp {
		k := pool[r(len(pool))]
		switch x := r(100); {
		case x < 60:
			return trieOp{Type: "put", Key: spell(k), Value: value()}
		case x < 78:
			return trieOp{Type: "del", Key: spell(k)}
		case x < 88:
			return trieOp{Type: "put", Key: "h/" + k, Value: value(), Hidden: true}
		case x < 92:
			return trieOp{Type: "del", Key: "h/" + k, Hidden: true}
		default:
			return trieOp{Type: "put", Key: k, Value: value(), Flags: uint64(1 + r(5))}
		}
	}
	for len(ops) < n {
		if r(15) == 0 {
			var b []trieOp
			for range 2 + r(9) {
				b = append(b, one())
			}
			ops = append(ops, trieOp{Batch: b})
			continue
		}
		ops = append(ops, one())
	}
	return ops, pool
}

func writeJSONLines(t *testing.T, path string, vals any) {
	t.Helper()
	var buf bytes.Buffer
	rv := reflect.ValueOf(vals)
	for i := range rv.Len() {
		b, err := json.Marshal(rv.Index(i).Interface())
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func hexValue(t *testing.T, s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// applyGo applies ops to a Go trie in dir, as trie-write.js does.
func applyGo(t *testing.T, dir string, ops []trieOp) {
	t.Helper()
	ctx := context.Background()
	feed, err := hypercore.Open(dir, hypercore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer feed.Close()
	tr, err := hypertrie.New(feed, hypertrie.Options{})
	if err != nil {
		t.Fatal(err)
	}
	toOp := func(o trieOp) hypertrie.Op {
		op := hypertrie.Op{Type: hypertrie.OpPut, Key: o.Key, Hidden: o.Hidden, Flags: o.Flags}
		if o.Type == "del" {
			op.Type = hypertrie.OpDel
		} else {
			op.Value = hexValue(t, o.Value)
		}
		return op
	}
	for _, o := range ops {
		switch {
		case o.Batch != nil:
			var b []hypertrie.Op
			for _, x := range o.Batch {
				b = append(b, toOp(x))
			}
			if _, err := tr.Batch(ctx, b); err != nil {
				t.Fatal(err)
			}
		case o.Type == "put":
			opts := []hypertrie.Option{hypertrie.WithFlags(o.Flags)}
			if o.Hidden {
				opts = append(opts, hypertrie.Hidden())
			}
			if _, err := tr.Put(ctx, o.Key, hexValue(t, o.Value), opts...); err != nil {
				t.Fatal(err)
			}
		case o.Type == "del":
			var opts []hypertrie.Option
			if o.Hidden {
				opts = append(opts, hypertrie.Hidden())
			}
			if err := tr.Del(ctx, o.Key, opts...); err != nil && !errors.Is(err, hypertrie.ErrNotFound) {
				t.Fatal(err)
			}
		}
	}
}

// trieQuery is one line of the query file trie-read.js answers.
type trieQuery struct {
	Get       *string `json:"get,omitempty"`
	List      *string `json:"list,omitempty"`
	Diff      *uint64 `json:"diff,omitempty"`
	Prefix    string  `json:"prefix,omitempty"`
	Recursive bool    `json:"recursive,omitempty"`
	Hidden    bool    `json:"hidden,omitempty"`
	Gt        bool    `json:"gt,omitempty"`
	Reverse   bool    `json:"reverse,omitempty"`
}

func trieQueries(pool []string, version uint64) []trieQuery {
	var qs []trieQuery
	s := func(v string) *string { return &v }
	for _, k := range pool {
		qs = append(qs, trieQuery{Get: s(k)}, trieQuery{Get: s("h/" + k), Hidden: true})
	}
	qs = append(qs, trieQuery{Get: s("d1/s2/f3/")}, trieQuery{Get: s("/d2")}, trieQuery{Get: s("missing/key")})
	for _, p := range []string{"", "/", "d0", "d3/", "d5/s1", "d7/s2/f3", "nothing", "h"} {
		qs = append(qs,
			trieQuery{List: s(p), Recursive: true},
			trieQuery{List: s(p)},
			trieQuery{List: s(p), Recursive: true, Gt: true},
			trieQuery{List: s(p), Hidden: true, Recursive: true},
			trieQuery{List: s(p), Hidden: true},
			trieQuery{List: s(p), Recursive: true, Reverse: true})
	}
	for _, v := range []uint64{0, 1, version / 3, version / 2, version - 5, version} {
		qs = append(qs, trieQuery{Diff: &v}, trieQuery{Diff: &v, Prefix: "d4"})
	}
	return qs
}

type trieNodeJSON struct {
	Key    string  `json:"key"`
	Value  *string `json:"value"`
	Seq    uint64  `json:"seq"`
	Flags  uint64  `json:"flags"`
	Hidden bool    `json:"hidden"`
}

type trieReadJSON struct {
	Key      string            `json:"key"`
	Version  uint64            `json:"version"`
	Subtype  string            `json:"subtype"`
	Metadata *string           `json:"metadata"`
	Results  []json.RawMessage `json:"results"`
}

// readGo answers queries on the trie in dir the way trie-read.js does.
func readGo(t *testing.T, dir string, qs []trieQuery) trieReadJSON {
	t.Helper()
	ctx := context.Background()
	feed, err := hypercore.Open(dir, hypercore.Options{MustExist: true})
	if err != nil {
		t.Fatal(err)
	}
	defer feed.Close()
	tr, err := hypertrie.New(feed, hypertrie.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h, err := tr.Header(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := trieReadJSON{Key: hex.EncodeToString(feed.Key()), Version: tr.Version(), Subtype: h.Subtype}
	if h.Metadata != nil {
		m := hex.EncodeToString(h.Metadata)
		out.Metadata = &m
	}
	add := func(v any) {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		out.Results = append(out.Results, b)
	}
	for _, q := range qs {
		switch {
		case q.Get != nil:
			var opts []hypertrie.Option
			if q.Hidden {
				opts = append(opts, hypertrie.Hidden())
			}
			n, err := tr.Get(ctx, *q.Get, opts...)
			if errors.Is(err, hypertrie.ErrNotFound) {
				add(nil)
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			j := trieNodeJSON{Key: n.Key, Seq: n.Seq, Flags: n.Flags, Hidden: n.Hidden}
			if n.Value != nil {
				v := hex.EncodeToString(n.Value)
				j.Value = &v
			}
			add(j)
		case q.List != nil:
			nodes, err := tr.List(ctx, *q.List, hypertrie.ListOptions{Recursive: q.Recursive, Hidden: q.Hidden, Gt: q.Gt, Reverse: q.Reverse})
			if err != nil {
				t.Fatal(err)
			}
			l := [][]any{}
			for _, n := range nodes {
				l = append(l, []any{n.Key, n.Seq})
			}
			add(l)
		case q.Diff != nil:
			changes, err := tr.Diff(ctx, tr.Checkout(*q.Diff), q.Prefix)
			if err != nil {
				t.Fatal(err)
			}
			l := [][]any{}
			for _, c := range changes {
				var ls, rs uint64
				if c.Left != nil {
					ls = c.Left.Seq
				}
				if c.Right != nil {
					rs = c.Right.Seq
				}
				l = append(l, []any{c.Key, ls, rs})
			}
			add(l)
		}
	}
	return out
}

// compareTrieReads reports the first differences between two answers.
func compareTrieReads(t *testing.T, what string, got, want trieReadJSON, qs []trieQuery) {
	t.Helper()
	if got.Key != want.Key || got.Version != want.Version || got.Subtype != want.Subtype {
		t.Errorf("%s: key/version/subtype %s/%d/%q, want %s/%d/%q", what, got.Key, got.Version, got.Subtype, want.Key, want.Version, want.Subtype)
	}
	if len(got.Results) != len(want.Results) {
		t.Fatalf("%s: %d results, want %d", what, len(got.Results), len(want.Results))
	}
	bad := 0
	for i := range got.Results {
		var g, w any
		json.Unmarshal(got.Results[i], &g)
		json.Unmarshal(want.Results[i], &w)
		if !reflect.DeepEqual(g, w) {
			q, _ := json.Marshal(qs[i])
			t.Errorf("%s: query %s\n got %s\nwant %s", what, q, abbreviate(got.Results[i]), abbreviate(want.Results[i]))
			if bad++; bad > 5 {
				t.FailNow()
			}
		}
	}
}

func abbreviate(b []byte) string {
	if len(b) > 600 {
		return string(b[:600]) + "…"
	}
	return string(b)
}

// TestTrieInterop writes the same few thousand operations with JS
// hypertrie 5 and with Go, checks the two feeds hold byte-identical blocks,
// then has each side read the other's trie and compares every Get, List and
// Diff answer.
func TestTrieInterop(t *testing.T) {
	jsref.Require(t)
	ops, pool := trieWorkload(42, 3000)
	tmp := t.TempDir()
	opsFile := filepath.Join(tmp, "ops.jsonl")
	writeJSONLines(t, opsFile, ops)
	jsDir, goDir := filepath.Join(tmp, "js"), filepath.Join(tmp, "go")

	var wrote struct {
		Key     string
		Length  uint64
		Version uint64
	}
	jsref.RunJSON(t, &wrote, "trie-write.js", jsDir, opsFile)
	applyGo(t, goDir, ops)

	jsFeed, err := hypercore.Open(jsDir, hypercore.Options{MustExist: true})
	if err != nil {
		t.Fatal(err)
	}
	goFeed, err := hypercore.Open(goDir, hypercore.Options{MustExist: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d operations → %d blocks", len(ops), jsFeed.Length())
	for i := range min(jsFeed.Length(), goFeed.Length()) {
		a, err1 := jsFeed.Get(t.Context(), i)
		b, err2 := goFeed.Get(t.Context(), i)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if !bytes.Equal(a, b) {
			for j := max(i, 4) - 4; j < i; j++ {
				c, _ := jsFeed.Get(t.Context(), j)
				t.Logf("block %d: %x", j, c)
			}
			t.Fatalf("block %d differs:\n  JS %x\n  Go %x", i, a, b)
		}
	}
	if jsFeed.Length() != wrote.Length || goFeed.Length() != jsFeed.Length() {
		t.Fatalf("JS wrote %d blocks (feed has %d), Go %d", wrote.Length, jsFeed.Length(), goFeed.Length())
	}
	jsFeed.Close()
	goFeed.Close()

	qs := trieQueries(pool, wrote.Version)
	qFile := filepath.Join(tmp, "queries.jsonl")
	writeJSONLines(t, qFile, qs)
	var jsOnGo trieReadJSON
	jsref.RunJSON(t, &jsOnGo, "trie-read.js", goDir, qFile)
	goOnJS := readGo(t, jsDir, qs)
	goOnGo := readGo(t, goDir, qs)
	// The feeds differ only in their keys.
	goOnJS.Key = goOnGo.Key
	compareTrieReads(t, "Go reading the JS trie vs JS reading the Go trie", goOnJS, jsOnGo, qs)
	compareTrieReads(t, "Go reading its own trie vs JS reading it", goOnGo, jsOnGo, qs)

	// Sanity: the workload exercised what it should.
	var listAll [][]any
	json.Unmarshal(jsOnGo.Results[2*len(pool)+3], &listAll)
	hidden := strings.Count(string(jsOnGo.Results[2*len(pool)+3+3]), "[")
	if len(listAll) < 500 || hidden < 50 {
		t.Errorf("workload too thin: %d visible keys listed, %d hidden", len(listAll), hidden)
	}
}
