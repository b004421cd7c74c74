'use strict'
// store-read.js <dir> <specfile> [--append]
//
// Opens the corestore 5 in <dir> and, for each line of <specfile> (JSON:
// {"name": s} | {"key": hex} | {"discoveryKey": hex}, plus an optional
// "namespace"), opens that feed (name through store.get({name}), or the
// namespace's default() when "namespace" is given) and reads every block.
// With --append, appends one block "appended by js" to each writable feed.
// Prints {cores: [{key, discoveryKey, length, writable, blocksSha256}]}
// (length and digest taken before appending).

const Corestore = require('corestore')
const { Summer } = require('./lib/blocks')
const { parseArgs, usage, ready, append, get, close, main } = require('./lib/common')
const { call, readLines } = require('./lib/trie')

main(async (argv) => {
  const { pos, flags } = parseArgs(argv)
  if (pos.length !== 2) throw usage('store-read.js <dir> <specfile> [--append]')
  const store = new Corestore(pos[0])
  await store.ready()
  const out = []
  const opened = []
  for (const spec of readLines(pos[1])) {
    let core
    if (spec.namespace) core = store.namespace(spec.namespace).default()
    else if (spec.name !== undefined) core = store.get({ name: spec.name })
    else if (spec.key) core = store.get({ key: Buffer.from(spec.key, 'hex') })
    else core = store.get({ discoveryKey: Buffer.from(spec.discoveryKey, 'hex') })
    await ready(core)
    opened.push(core)
    const sum = new Summer()
    for (let i = 0; i < core.length; i++) sum.add(await get(core, i))
    out.push({
      key: core.key.toString('hex'),
      discoveryKey: core.discoveryKey.toString('hex'),
      length: core.length,
      writable: core.writable,
      blocksSha256: sum.hex()
    })
    if (flags.append && core.writable) await append(core, Buffer.from('appended by js'))
  }
  for (const core of opened) await close(core)
  await call(cb => store.close(cb))
  return { cores: out }
})
