package bitfield

// Lookup tables of lib/bitfield.js, computed as the reference computes them.
var (
	indexUpdateMask  = [4]byte{63, 207, 243, 252}
	indexIterateMask = [4]byte{0, 192, 240, 252}
	dataIterateMask  = [8]byte{128, 192, 224, 240, 248, 252, 254, 255}
	dataUpdateMask   = [8]byte{127, 191, 223, 239, 247, 251, 253, 254}

	// mapParentRight[b] condenses index byte b into the low nibble of its
	// parent: each nibble of b becomes 11 (all full), 00 (all empty) or 01.
	mapParentRight [256]byte
	mapParentLeft  [256]byte
	// nextData0Bit[b] is the position (MSB = 0) of the first zero bit of b,
	// -1 for 0xff; nextIndex0Bit is the same in 2-bit index entries.
	nextData0Bit  [256]int8
	nextIndex0Bit [256]int8
)

func init() {
	condense := func(n int) byte {
		switch n {
		case 15:
			return 3
		case 0:
			return 0
		}
		return 1
	}
	for i := 0; i < 256; i++ {
		mapParentRight[i] = condense(i>>4)<<2 | condense(i&15)
		mapParentLeft[i] = mapParentRight[i] << 4
		if i == 255 {
			nextData0Bit[i], nextIndex0Bit[i] = -1, -1
			continue
		}
		n := int8(0)
		for i&(0x80>>n) != 0 {
			n++
		}
		nextData0Bit[i] = n
		nextIndex0Bit[i] = n / 2
	}
}

// indexValue is the 2-bit index entry of a data byte, in the top bits:
// 11 for 0xff, 00 for 0x00, 01 otherwise (getIndexValue).
func indexValue(b byte) byte {
	switch b {
	case 255:
		return 192
	case 0:
		return 0
	}
	return 64
}
