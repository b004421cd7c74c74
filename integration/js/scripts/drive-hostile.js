'use strict'
// drive-hostile.js <dir> <outside> <phase>
//
// Writes, with the public hyperdrive 10 API, the drive an attacker would
// hand to `hyperfs export`, in the corestore at <dir>:
//   phase 1: ordinary files beside entries named "..", "a/../../x",
//            "dir/./x", a NUL name, a symlink /x to the folder <outside>, a
//            relative symlink climbing out, and a file "below" that symlink;
//   phase 2: /x replaced by a folder holding swapped.txt (the symlink swap).
// Prints {key, version, names} with names the root listing.

const { parseArgs, usage, main } = require('./lib/common')
const Corestore = require('corestore')
const hyperdrive = require('hyperdrive')

const call = fn => new Promise((resolve, reject) => fn((err, val) => (err ? reject(err) : resolve(val))))

main(async (argv) => {
  const { pos } = parseArgs(argv)
  if (pos.length !== 3) throw usage('drive-hostile.js <dir> <outside> <phase>')
  const [dir, outside, phase] = pos
  const store = new Corestore(dir)
  await call(cb => store.ready(cb))
  const drive = hyperdrive(store)
  drive.on('error', () => {})
  await call(cb => drive.ready(cb))
  if (phase === '1') {
    await call(cb => drive.writeFile('/ok.txt', 'ok', cb))
    await call(cb => drive.writeFile('/docs/readme.txt', 'readme', cb))
    for (const name of ['/..', '/../escape1.txt', '/a/../../escape2.txt', '/dir/./x.txt', '/sub/..', '/sub/../../escape3.txt', '/n\0ul', '/../../../../../../tmp/hyperfs-escape4.txt']) {
      await call(cb => drive.writeFile(name, 'hostile ' + JSON.stringify(name), cb))
    }
    await call(cb => drive.symlink(outside, '/x', cb))
    await call(cb => drive.symlink('../../..', '/rel', cb))
    await call(cb => drive.writeFile('/rel/through.txt', 'below a symlink', cb))
  } else if (phase === '2') {
    await call(cb => drive.unlink('/x', cb))
    await call(cb => drive.writeFile('/x/swapped.txt', 'swapped', cb))
  } else {
    throw usage('phase is 1 or 2')
  }
  const names = await call(cb => drive.readdir('/', cb))
  const out = { key: drive.key.toString('hex'), version: drive.version, names }
  await call(cb => drive.close(cb))
  await call(cb => store.close(cb))
  return out
})
