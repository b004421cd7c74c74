// Package fs mounts a drive as a folder through FUSE (go-fuse's node API),
// so every program on the machine can read it, and write it when the drive
// is ours. It sees the drive only through the narrow Backend interface
// (backend.go); hyperdrive.go adapts a *hyperdrive.Drive, and package
// memback is an in-memory Backend for tests and benchmarks.
//
// The code is split by operation group: node_dir.go (lookup, readdir,
// create, mkdir, unlink, rename, symlink), node_file.go (open), node.go
// (getattr, setattr, statfs, readlink), node_xattr.go, file_handle.go
// (read, write, flush, fsync, release, lseek, fallocate), readahead.go,
// staging.go (writes), watch.go (live updates), errno.go (the one error
// table), mount.go (Mount, Unmount, RecoverStale) and api_check.go.
//
// # Nodes and paths
//
// Every entry is a node embedding fusefs.Inode. A node's backend path is
// its place in the go-fuse tree, so go-fuse's own rename and unlink
// bookkeeping keeps paths right; a node that left the tree (an open file
// that was unlinked or renamed over) keeps its last attributes and
// reports no links. Inode numbers come from a path table (inoTable), so a
// path keeps its number for the life of the mount even after the kernel
// forgets the inode, and a rename carries the number along; a path's
// number is its hash unless that is taken, so the table holds only what
// the kernel knows and what was renamed. With Options.Memory the inodes
// the kernel holds count against the cache's budget (inodes.go): past
// three eighths of it, listings give names without attributes and the kernel is
// asked to forget the oldest inodes it does not use. Nested mounts
// are shown as directories. Entries that store no owner (uid and gid 0)
// belong to the mounting user.
//
// # Reads
//
// Reads go through a reader per open file (readahead.go), on one path: a
// range whose bytes lie in an operating system file (a local drive's
// content feed) is spliced from it; anything else is read by the File
// straight into the request's buffer, under a context that ends with the
// request's interrupt (EINTR) or after Options.ReadTimeout (EIO), so a read
// waiting on the network never hangs. Sequential readers of a file that
// may come from the network get an adaptive read-ahead window (128 KiB
// doubling to Options.ReadAhead) of prefetches, on top of the kernel's own
// read-ahead (MaxReadAhead and MaxWrite are 1 MiB). A block that fails
// verification is EIO, after a warning naming the inode, path and block.
//
// # Writes
//
// A file opened for writing gets a staged copy, in memory while small and
// in a nameless file of the staging directory beyond 256 KiB (staging.go):
// writes can land anywhere and a multi-GB copy must not sit in memory. The
// whole file is committed to the backend (Backend.WriteFile) on flush
// (every close), fsync, and the last release; setattr, setxattr and rename
// commit first, so the times and modes they set stick. The commit of a
// close runs in FLUSH, which close(2) waits for (the kernel sends RELEASE
// later, without waiting): a backend that groups its writes (Flusher) is
// flushed, and synced (Syncer) unless Options.NoSyncOnClose, so close
// returns once the data is on stable storage; fsync syncs too. A file that
// is unlinked while open is never committed.
// Read-only backends, and Options.ReadOnly, refuse every change with EROFS
// (the kernel mount is also "ro").
//
// # Cache rules
//
// A drive version's content never changes, so the kernel may keep
// everything: files open with FOPEN_KEEP_CACHE, and entries and
// attributes are cached for Options.CacheTimeout (an hour by default).
// Changes made through the mount reach the kernel as replies. Changes
// made elsewhere (a remote writer) arrive through Backend.Watch: the
// watcher (watch.go) compares every inode the kernel knows with the
// backend and sends NotifyEntry for names that went away or changed type
// and NotifyContent (attributes and pages) for entries that changed. Failed
// lookups are not cached and listings are read at each opendir, so new
// names need no notification. Events caused by the mount's own writes are
// skipped by comparing Backend.Version with the version after the last
// own change.
//
// # Locking
//
// node.mu guards a node's attributes, staged copy, writer count and
// commit generation; it is held across staged-file I/O and commits, which
// serializes writers of one file, and never while calling into the kernel
// (Notify*). fileHandle.mu guards the handle's reader; reader.mu guards
// read-ahead state and is never held while waiting for a fetch. The
// inoTable has its own mutex and is a leaf lock. Lock order: fileHandle.mu,
// then node.mu.
//
// # Errors
//
// Backend errors become errnos in one place, errnoTable in errno.go:
// ErrNotFound is ENOENT, ErrReadOnly EROFS, ErrIntegrity and timeouts EIO,
// a cancelled context EINTR, and so on; unknown errors are EIO. Commits
// and changes run with contexts that are not cancelled by interrupts, so
// a signal never leaves half a change.
package fs
