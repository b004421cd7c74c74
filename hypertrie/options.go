package hypertrie

// Option adjusts one Get, Put or Del; each says where it applies.
type Option func(*options)

type options struct {
	hidden       bool
	flags        uint64
	closest      bool
	prefix       bool
	putIf        func(existing, next *Node) (bool, error)
	delIf        func(existing *Node) (bool, error)
	stopAtMounts bool
}

func collect(opts []Option) options {
	var o options
	for _, fn := range opts {
		fn(&o)
	}
	return o
}

// Hidden addresses the hidden key space (Get, Put, Del), which lists and
// lookups of ordinary keys never see.
func Hidden() Option { return func(o *options) { o.hidden = true } }

// WithFlags stores user flags with a Put (kept shifted left by 8 on disk).
func WithFlags(flags uint64) Option { return func(o *options) { o.flags = flags } }

// Closest makes Get return the last node its walk reached when the key
// itself is absent, and hands the condition of PutIf or DelIf that node
// instead of nil.
func Closest() Option { return func(o *options) { o.closest = true } }

// PrefixMatch makes Get return some node whose key has key as a component
// prefix (the newest on its walk), ignoring the end of the key.
func PrefixMatch() Option { return func(o *options) { o.prefix = true } }

// PutIf makes a Put conditional: fn sees the node stored under the key
// (nil if none; with Closest, the closest node) and the node about to be
// written, and the Put happens only if it returns true.
func PutIf(fn func(existing, next *Node) (bool, error)) Option {
	return func(o *options) { o.putIf = fn }
}

// IfNotExists makes a Put happen only if the key is absent.
func IfNotExists() Option {
	return PutIf(func(existing, _ *Node) (bool, error) { return existing == nil, nil })
}

// DelIf makes a Del conditional: fn sees the node about to be deleted
// (with Closest, also called with the closest node when the key is absent,
// its answer then ignored) and the Del happens only if it returns true.
func DelIf(fn func(existing *Node) (bool, error)) Option {
	return func(o *options) { o.delIf = fn }
}

// StopAtMounts makes Put and Del fail with ErrInMount (in a *MountError)
// when the key lies under a mountpoint of this trie, as mountable-hypertrie
// does before redirecting the write to the mounted trie.
func StopAtMounts() Option { return func(o *options) { o.stopAtMounts = true } }
