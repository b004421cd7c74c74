package mdns

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"strings"
	"testing"
)

// Packets encoded by dns-packet 5.6.1 as @hyperswarm/discovery 2 makes
// them (through multicast-dns 7.2.5): a query for a topic's SRV record,
// and the answer with SRV 0.0.0.0:4567, the TXT id and the referrer A
// record.
var (
	name    = strings.Repeat("ab", 20) + ".hyperswarm.local"
	jsQuery = mustHex("00000000000100000000000028616261626162616261626162616261626162616261626162616261626162616261626162616261620a6879706572737761726d056c6f63616c0000210001")
	jsReply = mustHex("00008400000000030000000028616261626162616261626162616261626162616261626162616261626162616261626162616261620a6879706572737761726d056c6f63616c000021000100000000000f0000000011d701300130013001300028616261626162616261626162616261626162616261626162616261626162616261626162616261620a6879706572737761726d056c6f63616c00001000010000000000242369643d05050505050505050505050505050505050505050505050505050505050505050872656665727265720a6879706572737761726d056c6f63616c00000100010000000000040a000009")
	jsID    = append([]byte("id="), bytes.Repeat([]byte{5}, 32)...)
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func TestDecodeJS(t *testing.T) {
	q, err := Decode(jsQuery)
	if err != nil {
		t.Fatal(err)
	}
	if q.Response || len(q.Questions) != 1 || q.Questions[0] != name {
		t.Fatalf("query %+v", q)
	}
	r, err := Decode(jsReply)
	if err != nil {
		t.Fatal(err)
	}
	want := Record{Name: name, Target: netip.IPv4Unspecified(), Port: 4567, ID: jsID}
	if !r.Response || len(r.Records) != 1 || r.Records[0].Name != want.Name || r.Records[0].Port != 4567 ||
		r.Records[0].Target != want.Target || !bytes.Equal(r.Records[0].ID, jsID) {
		t.Fatalf("response %+v", r)
	}
}

// TestEncodeMatchesJS: our query is byte for byte dns-packet's, and our
// answer decodes to the same records as the JS one.
func TestEncodeMatchesJS(t *testing.T) {
	q, err := EncodeQuery(name)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(q, jsQuery) {
		t.Errorf("query\n got %x\nwant %x", q, jsQuery)
	}
	b, err := EncodeResponse([]Record{{Name: name, Port: 4567, ID: jsID}}, "referrer.hyperswarm.local", netip.MustParseAddr("10.0.0.9"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, jsReply) {
		t.Errorf("response\n got %x\nwant %x", b, jsReply)
	}
}

// FuzzDecode: any packet decodes or fails without panicking; records
// decoded re-encode and decode to the same.
func FuzzDecode(f *testing.F) {
	f.Add(jsQuery)
	f.Add(jsReply)
	f.Add([]byte{})
	f.Add(jsReply[:40])
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Decode(b)
		if err != nil || len(p.Records) == 0 {
			return
		}
		var rs []Record
		for _, r := range p.Records {
			if len(r.ID) > 255 {
				return
			}
			rs = append(rs, r)
		}
		out, err := EncodeResponse(rs, "", netip.Addr{})
		if err != nil {
			return // names dnsmessage parses but will not build
		}
		p2, err := Decode(out)
		if err != nil {
			t.Fatalf("re-encoded response does not decode: %v", err)
		}
		if len(p2.Records) != len(rs) {
			t.Fatalf("%d records, re-encoded %d", len(rs), len(p2.Records))
		}
	})
}
