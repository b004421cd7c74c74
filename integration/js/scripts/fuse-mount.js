'use strict'
// fuse-mount.js <dir> <mountpoint>
//
// Mounts the default drive of the corestore at <dir> (as lib/drive.js
// opens it, created if the folder is empty) at <mountpoint> with
// hyperdrive-fuse on fuse-native (libfuse 2), the JS FUSE stack fusebench
// compares against. Prints {"event":"mounted","key":hex,"pid":N} once the
// mount is up; when stdin closes it unmounts, closes the drive and prints
// {"event":"closed","peak_rss":bytes}, the process's peak RSS so far.

const Corestore = require('corestore')
const hyperdrive = require('hyperdrive')
const { HyperdriveFuse } = require('hyperdrive-fuse')
const { usage, main } = require('./lib/common')
const { call } = require('./lib/drive')

main(async (argv) => {
  if (argv.length !== 2) throw usage('fuse-mount.js <dir> <mountpoint>')
  const [dir, mnt] = argv
  const store = new Corestore(dir)
  await call(cb => store.ready(cb))
  const drive = hyperdrive(store)
  drive.on('error', () => {})
  await call(cb => drive.ready(cb))
  const fuse = new HyperdriveFuse(drive, mnt)
  await fuse.mount()
  process.stdout.write(JSON.stringify({ event: 'mounted', key: drive.key.toString('hex'), pid: process.pid }) + '\n')
  await new Promise(resolve => {
    process.stdin.on('end', resolve)
    process.stdin.on('close', resolve)
    process.stdin.resume()
  })
  await fuse.unmount()
  await call(cb => drive.close(cb))
  await call(cb => store.close(cb))
  // resourceUsage().maxRSS is in kilobytes.
  return { event: 'closed', peak_rss: process.resourceUsage().maxRSS * 1024 }
})
