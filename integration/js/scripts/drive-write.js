'use strict'
// drive-write.js <dir> [--big-size N] [--small N]
//
// Creates the sample drive of lib/drive.js in the corestore at <dir> (its
// default drive, with the drive of namespace "inner" mounted at /mnt):
// nested directories, a big file of N bytes (default 64 MiB), <small>
// small files (default 1000), a symlink, metadata, an empty directory and
// an empty file. Prints {key, innerKey, version, entries} with entries the
// walk() report.

const { parseArgs, uint, usage, main } = require('./lib/common')
const { openDrives, closeDrives, writeSample, walk } = require('./lib/drive')

main(async (argv) => {
  const { pos, flags } = parseArgs(argv, ['big-size', 'small'])
  if (pos.length !== 1) throw usage('drive-write.js <dir> [--big-size N] [--small N]')
  const bigSize = flags['big-size'] === undefined ? 64 << 20 : uint(flags['big-size'], '--big-size')
  const smallCount = flags.small === undefined ? 1000 : uint(flags.small, '--small')
  const d = await openDrives(pos[0])
  await writeSample(d, { bigSize, smallCount })
  const entries = await walk(d.drive)
  const out = { key: d.drive.key.toString('hex'), innerKey: d.inner.key.toString('hex'), version: d.drive.version, entries }
  await closeDrives(d)
  return out
})
