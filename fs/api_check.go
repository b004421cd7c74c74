package fs

import fusefs "github.com/hanwen/go-fuse/v2/fs"

// Compile-time checks of the go-fuse interfaces each type implements.
var (
	_ fusefs.InodeEmbedder = (*node)(nil)

	_ fusefs.NodeLookuper       = (*node)(nil)
	_ fusefs.NodeOpendirHandler = (*node)(nil)
	_ fusefs.NodeGetattrer      = (*node)(nil)
	_ fusefs.NodeSetattrer      = (*node)(nil)
	_ fusefs.NodeStatfser       = (*node)(nil)
	_ fusefs.NodeReadlinker     = (*node)(nil)
	_ fusefs.NodeOpener         = (*node)(nil)
	_ fusefs.NodeCreater        = (*node)(nil)
	_ fusefs.NodeMkdirer        = (*node)(nil)
	_ fusefs.NodeSymlinker      = (*node)(nil)
	_ fusefs.NodeLinker         = (*node)(nil)
	_ fusefs.NodeUnlinker       = (*node)(nil)
	_ fusefs.NodeRmdirer        = (*node)(nil)
	_ fusefs.NodeRenamer        = (*node)(nil)
	_ fusefs.NodeGetxattrer     = (*node)(nil)
	_ fusefs.NodeListxattrer    = (*node)(nil)
	_ fusefs.NodeSetxattrer     = (*node)(nil)
	_ fusefs.NodeRemovexattrer  = (*node)(nil)
	_ fusefs.NodeMknoder        = (*node)(nil)

	_ fusefs.FileReader    = (*fileHandle)(nil)
	_ fusefs.FileWriter    = (*fileHandle)(nil)
	_ fusefs.FileFlusher   = (*fileHandle)(nil)
	_ fusefs.FileFsyncer   = (*fileHandle)(nil)
	_ fusefs.FileReleaser  = (*fileHandle)(nil)
	_ fusefs.FileLseeker   = (*fileHandle)(nil)
	_ fusefs.FileAllocater = (*fileHandle)(nil)

	_ fusefs.FileReaddirenter = (*dirHandle)(nil)
	_ fusefs.FileSeekdirer    = (*dirHandle)(nil)
	_ fusefs.FileLookuper     = (*dirHandle)(nil)
	_ fusefs.FileReleasedirer = (*dirHandle)(nil)
	_ fusefs.FileFsyncdirer   = (*dirHandle)(nil)
)

// The hyperdrive adapter's files offer zero-copy reads.
var _ Splicer = (*driveFile)(nil)
