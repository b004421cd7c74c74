'use strict'
// store-write.js <dir> [--blocks N]
//
// Creates a corestore 5 in <dir> (master_key written by corestore) holding
// the default feed, the named feeds "one" and "two/three", the default feed
// of namespace "ns", and a feed opened with a fresh key pair. Feed number j
// (in that order) gets blocks 0..N-1 (default 50) of lib/blocks.js seed
// 100+j, appended by the usual schedule. Prints {masterKey, cores: [{label,
// name, key, discoveryKey, length, writable, blocksSha256}]}.

const Corestore = require('corestore')
const hypercoreCrypto = require('hypercore-crypto')
const { block, Summer, chunks } = require('./lib/blocks')
const { parseArgs, uint, usage, ready, append, close, main } = require('./lib/common')
const { call } = require('./lib/trie')

main(async (argv) => {
  const { pos, flags } = parseArgs(argv, ['blocks'])
  if (pos.length !== 1) throw usage('store-write.js <dir> [--blocks N]')
  const n = flags.blocks === undefined ? 50 : uint(flags.blocks, '--blocks')
  const store = new Corestore(pos[0])
  await store.ready()
  const cores = [
    ['default', store.default(), 'default'],
    ['one', store.get({ name: 'one' }), 'one'],
    ['two/three', store.get({ name: 'two/three' }), 'two/three'],
    ['ns', store.namespace('ns').default(), 'ns'],
    ['keypair', store.get({ keyPair: hypercoreCrypto.keyPair() }), null]
  ]
  const out = []
  for (let j = 0; j < cores.length; j++) {
    const [label, core, name] = cores[j]
    await ready(core)
    const sum = new Summer()
    for (const [start, end] of chunks(0, n)) {
      const list = []
      for (let i = start; i < end; i++) {
        const b = block(100 + j, i)
        sum.add(b)
        list.push(b)
      }
      await append(core, list.length === 1 ? list[0] : list)
    }
    out.push({
      label,
      name,
      key: core.key.toString('hex'),
      discoveryKey: core.discoveryKey.toString('hex'),
      length: core.length,
      writable: core.writable,
      blocksSha256: sum.hex()
    })
  }
  const masterKey = require('fs').readFileSync(require('path').join(pos[0], 'master_key')).toString('hex')
  for (const [, core] of cores) await close(core)
  await call(cb => store.close(cb))
  return { masterKey, cores: out }
})
