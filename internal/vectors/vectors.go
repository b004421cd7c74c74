// Package vectors gives tests the values the JavaScript reference stack
// computed (vectors.json, produced by the reference's vectors-gen.js), so every
// layer can check itself against the reference byte for byte.
package vectors

import (
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
)

//go:embed vectors.json
var raw []byte

// Load decodes the entry at a dotted path such as "crypto.leafHash" into v.
func Load(t testing.TB, path string, v any) {
	t.Helper()
	msg, err := Lookup(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(msg, v); err != nil {
		t.Fatalf("vector %s: %v", path, err)
	}
}

// Lookup returns the raw JSON of the entry at a dotted path.
func Lookup(path string) (json.RawMessage, error) {
	cur := json.RawMessage(raw)
	for _, part := range strings.Split(path, ".") {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(cur, &m); err != nil {
			return nil, &PathError{path, err.Error()}
		}
		next, ok := m[part]
		if !ok {
			return nil, &PathError{path, "no key " + part}
		}
		cur = next
	}
	return cur, nil
}

// PathError reports a vector path that does not resolve.
type PathError struct{ Path, Reason string }

func (e *PathError) Error() string { return "vector " + e.Path + ": " + e.Reason }

// Hex decodes a hex string from a vector, failing the test if it is malformed.
func Hex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex in vector: %v", err)
	}
	return b
}
