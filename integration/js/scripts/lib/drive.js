'use strict'
// Helpers shared by the drive-*.js scripts: promise wrappers around
// hyperdrive 10's callback API, the sample drive the interop tests write
// (drive-write.js here, its Go twin in integration/hyperdrive_test.go),
// and walk(), the report of a whole drive the Go tests compare.

const crypto = require('crypto')
const path = require('path').posix
const Corestore = require('corestore')
const hyperdrive = require('hyperdrive')

const call = fn => new Promise((resolve, reject) => fn((err, val) => (err ? reject(err) : resolve(val))))

// bigFile is the deterministic content of the sample's large file:
// byte i = (i*31 + (i >>> 9)) & 0xff.
function bigFile (size) {
  const b = Buffer.allocUnsafe(size)
  for (let i = 0; i < size; i++) b[i] = (i * 31 + (i >>> 9)) & 0xff
  return b
}

// openStore opens the corestore in dir and its default drive, plus the
// drive of namespace "inner" (the sample's mounted drive).
async function openDrives (dir) {
  const store = new Corestore(dir)
  await call(cb => store.ready(cb))
  const drive = hyperdrive(store)
  const inner = hyperdrive(store, null, { namespace: 'inner' })
  drive.on('error', () => {})
  inner.on('error', () => {})
  await call(cb => drive.ready(cb))
  await call(cb => inner.ready(cb))
  return { store, drive, inner }
}

async function closeDrives ({ store, drive, inner }) {
  await call(cb => inner.close(cb))
  await call(cb => drive.close(cb))
  await call(cb => store.close(cb))
}

// writeSample writes the sample drive: nested directories, a big file,
// many small files, a symlink, metadata, an empty directory and a mount of
// the inner drive.
async function writeSample ({ drive, inner }, { bigSize, smallCount }) {
  await call(cb => drive.writeFile('/a/b/c/file.txt', 'nested file', cb))
  await call(cb => drive.mkdir('/a/b', cb))
  await call(cb => drive.writeFile('/big.bin', bigFile(bigSize), cb))
  for (let i = 0; i < smallCount; i++) {
    await call(cb => drive.writeFile('/small/f' + String(i).padStart(4, '0'), 'small file ' + i, cb))
  }
  await call(cb => drive.symlink('/a/b/c/file.txt', '/link', cb))
  await call(cb => drive.setMetadata('/a/b/c/file.txt', 'user.tag', Buffer.from('hello'), cb))
  await call(cb => drive.mkdir('/emptydir', cb))
  await call(cb => drive.writeFile('/empty.txt', '', cb))
  await call(cb => inner.writeFile('/inner.txt', 'inside the mount', cb))
  await call(cb => inner.writeFile('/deep/x.txt', 'deep in the mount', cb))
  await call(cb => drive.mount('/mnt', inner.key, cb))
}

// walk reports every path of the drive: lstat fields for files and
// symlinks, the sorted names of directories (mounts descended into), the
// sha256 of every file.
async function walk (drive) {
  const entries = {}
  async function visit (p) {
    const st = await call(cb => drive.lstat(p, cb))
    const e = { mode: st.mode }
    if (st.mount) e.mount = st.mount.key.toString('hex')
    if (st.isDirectory()) {
      const names = (await call(cb => drive.readdir(p, cb))).sort()
      e.names = names
      entries[p] = e
      for (const n of names) await visit(path.join(p, n))
      return
    }
    Object.assign(e, {
      uid: st.uid,
      gid: st.gid,
      size: st.size,
      blocks: st.blocks,
      offset: st.offset,
      byteOffset: st.byteOffset,
      mtime: st.mtime.getTime(),
      ctime: st.ctime.getTime(),
      metadata: Object.keys(st.metadata || {}).map(k => [k, st.metadata[k] ? Buffer.from(st.metadata[k]).toString('hex') : null])
    })
    if (st.isSymbolicLink()) {
      e.linkname = st.linkname
    } else {
      const data = await call(cb => drive.readFile(p, cb))
      e.sha256 = crypto.createHash('sha256').update(data).digest('hex')
    }
    entries[p] = e
  }
  await visit('/')
  return entries
}

module.exports = { call, bigFile, openDrives, closeDrives, writeSample, walk }
