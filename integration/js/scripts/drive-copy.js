'use strict'
// drive-copy.js export <store-dir> <out-dir>
// drive-copy.js import <folder> <store-dir>
//
// The JavaScript side of bench/transferbench: copies the default
// hyperdrive 10 of the corestore at <store-dir> into a local folder (every
// folder, file and symlink, mounts descended into), or a local folder into
// that drive (writeFile of each file, awaiting each), with the public API.
// Prints {seconds, files, bytes}; only the copy is timed.

const fs = require('fs')
const path = require('path')
const { usage, main } = require('./lib/common')
const { call } = require('./lib/drive')
const Corestore = require('corestore')
const hyperdrive = require('hyperdrive')

async function open (dir) {
  const store = new Corestore(dir)
  await call(cb => store.ready(cb))
  const drive = hyperdrive(store)
  drive.on('error', () => {})
  await call(cb => drive.ready(cb))
  return { store, drive }
}

main(async (argv) => {
  if (argv.length !== 3 || !['export', 'import'].includes(argv[0])) throw usage('drive-copy.js export <store-dir> <out-dir> | import <folder> <store-dir>')
  const [verb, a, b] = argv
  const { store, drive } = await open(verb === 'export' ? a : b)
  let files = 0
  let bytes = 0
  const start = process.hrtime.bigint()
  if (verb === 'export') {
    const visit = async (p, local) => {
      const st = await call(cb => drive.lstat(p, cb))
      if (st.isDirectory()) {
        fs.mkdirSync(local, { recursive: true })
        for (const n of await call(cb => drive.readdir(p, cb))) await visit(path.posix.join(p, n), path.join(local, n))
      } else if (st.isSymbolicLink()) {
        fs.symlinkSync(st.linkname, local)
        files++
      } else {
        const data = await call(cb => drive.readFile(p, cb))
        fs.writeFileSync(local, data)
        files++
        bytes += data.length
      }
    }
    await visit('/', b)
  } else {
    const visit = async (local, p) => {
      for (const e of fs.readdirSync(local, { withFileTypes: true })) {
        const lp = path.join(local, e.name)
        const dp = path.posix.join(p, e.name)
        if (e.isDirectory()) {
          await call(cb => drive.mkdir(dp, cb))
          await visit(lp, dp)
        } else if (e.isFile()) {
          const data = fs.readFileSync(lp)
          await call(cb => drive.writeFile(dp, data, cb))
          files++
          bytes += data.length
        }
      }
    }
    await visit(a, '/')
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9
  await call(cb => drive.close(cb))
  await call(cb => store.close(cb))
  return { seconds, files, bytes }
})
