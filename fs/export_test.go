package fs

// Internals for the external tests (package fs_test), which can import
// memback where this package's own tests cannot.

// NewTestRoot is newRoot for node-level tests; close removes its staging
// directory.
func NewTestRoot(b Backend, opts Options) (root *node, close func(), err error) {
	root, err = newRoot(b, opts)
	if err != nil {
		return nil, nil, err
	}
	return root, root.ms.close, nil
}

// Invalidate runs one pass of the watcher.
var Invalidate = (*node).invalidate

// InodeBytes is what the budget charges per inode.
const InodeBytes = inodeBytes
