package app

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func TestParseTarget(t *testing.T) {
	key := strings.Repeat("ab", 32)
	cases := []struct {
		in      string
		version uint64
		path    string
		bad     bool
	}{
		{in: key},
		{in: key + "/"},
		{in: key + "+5", version: 5},
		{in: "hyper://" + key, path: ""},
		{in: "hyper://" + key + "/", path: "/"},
		{in: "hyper://" + key + "+12/docs/a.txt", version: 12, path: "/docs/a.txt"},
		{in: "HYPER://" + key + "/x/../y", path: "/y"},
		{in: "dat://" + key + "+3", version: 3},
		{in: key + "+0", bad: true},
		{in: key + "+x", bad: true},
		{in: key + "+", bad: true},
		{in: "hyper://" + key[:62], bad: true},
		{in: "not-a-key", bad: true},
	}
	for _, c := range cases {
		tg, err := ParseTarget(c.in)
		if c.bad {
			var ue *UsageError
			if !errors.As(err, &ue) {
				t.Errorf("%q: %v, want a usage error", c.in, err)
			}
			continue
		}
		if err != nil || hex.EncodeToString(tg.Key) != key || tg.Version != c.version || tg.Path != c.path {
			t.Errorf("%q: %+v %v", c.in, tg, err)
		}
	}
	if _, err := ParseKey(key + "+5"); err == nil {
		t.Error("ParseKey took a version")
	}
}
