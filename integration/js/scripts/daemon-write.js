'use strict'
// daemon-write.js <root> [--drives N]
//
// Lays out <root> as hyperdrive-daemon 1.14.5 lays out its --storage folder
// (default ~/.hyperdrive) and writes N drives (default 2) there the way the
// daemon creates them, without starting the daemon (its gRPC server and
// hyperswarm networking are not needed, and must not reach the network):
//
//   <root>/storage/cores  a corestore 5, with the daemon's Corestore options
//                         (hyperdrive-daemon/index.js lines 63-80)
//   <root>/storage/db     the daemon's LevelDB (index.js line 140), with the
//                         root drive recorded under fuse/root-drive as
//                         lib/fuse/index.js line 520 records it; written only
//                         when the "level" packages resolve (they are not in
//                         this package.json: NODE_PATH may point at a
//                         hyperdrive-daemon install).
//
// Drive i holds /hello.txt ("hello from daemon drive i") and
// /docs/readme.md ("# drive i"). The first drive is the root drive.
// Prints {keys: [hex...], rootKey, db: bool}.

const path = require('path')
const Corestore = require('corestore')
const hyperdrive = require('hyperdrive')
const hypercoreCrypto = require('hypercore-crypto')
const defaultStorage = require('hypercore-default-storage')
const { parseArgs, uint, usage, main } = require('./lib/common')
const { call } = require('./lib/trie')

function tryRequire (name) {
  try {
    return require(name)
  } catch (err) {
    return null
  }
}

main(async (argv) => {
  const { pos, flags } = parseArgs(argv, ['drives'])
  if (pos.length !== 1) throw usage('daemon-write.js <root> [--drives N]')
  const n = flags.drives === undefined ? 2 : uint(flags.drives, '--drives')
  const root = pos[0]
  // index.js line 52: this.storage = p.join(this.root, 'storage')
  const storage = path.join(root, 'storage')

  // index.js lines 63-80 (the caches, and the networking stats, left out:
  // they do not change what is stored).
  const corestoreOpts = {
    storage: p => defaultStorage(`${storage}/cores/${p}`),
    sparse: true,
    ifAvailable: true
  }
  const corestore = new Corestore(corestoreOpts.storage, corestoreOpts)
  await corestore.ready()

  const keys = []
  const drives = []
  for (let i = 0; i < n; i++) {
    // lib/drives/index.js DriveManager.get, for a new drive (no key): a
    // random namespace of the daemon's corestore, and these options.
    const randomNamespace = hypercoreCrypto.randomBytes(32).toString('hex')
    const store = corestore.namespace(randomNamespace)
    const drive = hyperdrive(store, null, { version: null, key: null, sparse: true, sparseMetadata: true })
    await call(cb => drive.ready(cb))
    await call(cb => drive.writeFile('/hello.txt', `hello from daemon drive ${i}`, cb))
    await call(cb => drive.mkdir('/docs', cb))
    await call(cb => drive.writeFile('/docs/readme.md', `# drive ${i}`, cb))
    keys.push(drive.key.toString('hex'))
    drives.push(drive)
  }
  for (const d of drives) await call(cb => d.close(cb))
  await call(cb => corestore.close(cb))

  const level = tryRequire('level')
  const sub = tryRequire('subleveldown')
  const bjson = tryRequire('buffer-json-encoding')
  let db = false
  if (level && sub && bjson && n > 0) {
    // index.js lines 140-145, and lib/fuse/index.js line 520 (mnt is the
    // daemon's constants.mountpoint, ~/Hyperdrive).
    const ldb = level(`${storage}/db`, { valueEncoding: 'json' })
    const fuse = sub(ldb, 'fuse', { valueEncoding: bjson })
    // lib/drives/index.js lines 1124 and 432: the drive index.
    const driveIndex = sub(sub(ldb, 'drives', { valueEncoding: bjson }), 'drives', { valueEncoding: 'bjson' })
    for (const k of keys) await driveIndex.put(k, { version: null, key: null, sparse: true, sparseMetadata: true })
    await fuse.put('root-drive', { mnt: path.join(root, 'Hyperdrive'), opts: { key: keys[0] } })
    await ldb.close()
    // Opened again, as by a restarted daemon, LevelDB moves its log into a
    // table: the record is then in a (snappy-compressed) .ldb file.
    const again = level(`${storage}/db`)
    await again.close()
    db = true
  }
  return { keys, rootKey: n > 0 ? keys[0] : null, db }
})
