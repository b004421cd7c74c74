package bitfield

// Internals the external tests compare with the reference's fields.

func IndexLength(b *Bitfield) uint64 { return b.index.Length() }
func PagerLength(b *Bitfield) uint64 { return b.pages.length }
func DataLength(b *Bitfield) uint64  { return b.data.Length() }
func IndexByte(b *Bitfield, i uint64) byte {
	return b.index.GetByte(i)
}
