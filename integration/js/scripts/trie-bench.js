'use strict'
// trie-bench.js [--keys N]
//
// The JS side of hypertrie's Go benchmarks (hypertrie/bench_test.go): on a
// hypertrie 5 over random-access-memory, puts N keys "dir<i%100>/file<i>"
// (default 10000) one put per append, gets each back, and lists all keys
// recursively. Prints {keys, putNsPerKey, getNsPerKey, getColdNsPerKey,
// listNsPerKey}; "cold" reads through a fresh checkout with an empty cache.

const ram = require('random-access-memory')
const hypertrie = require('hypertrie')
const { parseArgs, uint, main } = require('./lib/common')
const { call } = require('./lib/trie')

const now = () => process.hrtime.bigint()
const key = i => 'dir' + (i % 100) + '/file' + i

main(async (argv) => {
  const { flags } = parseArgs(argv, ['keys'])
  const n = flags.keys === undefined ? 10000 : uint(flags.keys, '--keys')
  const db = hypertrie(ram)
  await call(cb => db.ready(cb))
  const value = Buffer.from('value')

  let t = now()
  for (let i = 0; i < n; i++) await call(cb => db.put(key(i), value, cb))
  const put = Number(now() - t) / n

  t = now()
  for (let i = 0; i < n; i++) {
    const node = await call(cb => db.get(key(i), cb))
    if (!node) throw new Error('missing ' + key(i))
  }
  const get = Number(now() - t) / n

  const cold = hypertrie(null, null, { feed: db.feed, extension: false, cache: require('array-lru')(32768) })
  await call(cb => cold.ready(cb))
  t = now()
  for (let i = 0; i < n; i++) {
    const node = await call(cb => cold.get(key(i), cb))
    if (!node) throw new Error('missing ' + key(i))
  }
  const getCold = Number(now() - t) / n

  t = now()
  const list = await call(cb => db.list('', { recursive: true }, cb))
  if (list.length !== n) throw new Error('listed ' + list.length)
  const listNs = Number(now() - t) / n

  return {
    keys: n,
    putNsPerKey: Math.round(put),
    getNsPerKey: Math.round(get),
    getColdNsPerKey: Math.round(getCold),
    listNsPerKey: Math.round(listNs)
  }
})
