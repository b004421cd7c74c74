package hypertrie

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// nodeFields are the fields of a Node message (schema.Node).
type nodeFields struct {
	key    string
	hasKey bool
	value  []byte // nil when absent; a copy, never the block's memory
	trie   []byte // aliases the block
	seq    uint64
	flags  uint64
}

// errNoKey is a Node without its required key.
var errNoKey = errors.New("required field key not set")

// decodeNodeFields decodes a Node message as proto.Unmarshal decodes
// schema.Node, without its reflection: every read of a node from storage
// decodes one, and the generic decoder cost as much as the rest of the
// read. As there, the last occurrence of a field wins, unknown fields and
// known ones sent with another wire type are skipped, and a message
// without its key fails. FuzzDecodeNodeFields holds it to proto.Unmarshal.
func decodeNodeFields(b []byte) (nodeFields, error) {
	var m nodeFields
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return m, protowire.ParseError(n)
		}
		if num > protowire.MaxValidNumber {
			return m, fmt.Errorf("field number %d out of range", num)
		}
		b = b[n:]
		switch {
		case (num == 1 || num == 2 || num == 3) && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return m, protowire.ParseError(n)
			}
			switch num {
			case 1:
				m.key, m.hasKey = string(v), true
			case 2:
				m.value = append([]byte{}, v...)
			case 3:
				m.trie = v
			}
			b = b[n:]
		case (num == 4 || num == 5) && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return m, protowire.ParseError(n)
			}
			if num == 4 {
				m.seq = v
			} else {
				m.flags = v
			}
			b = b[n:]
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return m, protowire.ParseError(n)
			}
			b = b[n:]
		}
	}
	if !m.hasKey {
		return m, errNoKey
	}
	return m, nil
}

// decodeNode decodes block seq. The seq field of the message is ignored (as
// in the reference: a node's seq is its block index), and trie pointers
// must point to earlier blocks, which keeps every walk finite.
func decodeNode(b []byte, seq uint64) (*node, error) {
	msg, err := decodeNodeFields(b)
	if err != nil {
		return nil, fmt.Errorf("block %d: %w: %w", seq, ErrCorrupt, err)
	}
	n := newNode(msg.key, msg.value, msg.flags)
	n.seq = seq
	if n.sparse, err = decodeTrie(msg.trie, n.length(), seq); err != nil {
		return nil, fmt.Errorf("block %d (key %q): %w: %w", seq, n.key, ErrCorrupt, err)
	}
	return n, nil
}
