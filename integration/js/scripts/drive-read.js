'use strict'
// drive-read.js <dir> [--write]
//
// Opens the default drive of the corestore at <dir> and prints
// {key, version, entries} (the walk() report of lib/drive.js: stats,
// directory listings and file digests, through mounts). With --write it
// then writes /js/after.txt, sets metadata on it, writes /mnt/from-js.txt
// (into the mounted drive) and adds "after" to the report: the walk once
// those writes are done.

const { parseArgs, usage, main } = require('./lib/common')
const { call, openDrives, closeDrives, walk } = require('./lib/drive')

main(async (argv) => {
  const { pos, flags } = parseArgs(argv)
  if (pos.length !== 1) throw usage('drive-read.js <dir> [--write]')
  const d = await openDrives(pos[0])
  const out = { key: d.drive.key.toString('hex'), version: d.drive.version, entries: await walk(d.drive) }
  if (flags.write) {
    await call(cb => d.drive.writeFile('/js/after.txt', 'written by js', cb))
    await call(cb => d.drive.setMetadata('/js/after.txt', 'user.by', Buffer.from('js'), cb))
    await call(cb => d.drive.writeFile('/mnt/from-js.txt', 'js through the mount', cb))
    out.after = await walk(d.drive)
  }
  await closeDrives(d)
  return out
})
