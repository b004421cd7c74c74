'use strict'
// feed-bench.js <dir> <case> [--ops N]
//
// The JavaScript side of the hyperfs benchmarks: runs one case per
// invocation on a hypercore 9 feed with directory storage at <dir> and prints
// {case, seconds, ops, bytes, peakRssBytes, ...}. Only the operation is
// timed: opening the feed, making the blocks and closing are not.
// peakRssBytes is process.resourceUsage().maxRSS * 1024 for the whole run.
//
// Cases (the append cases need a new or empty <dir>; the read cases open the
// feed a previous append case wrote there):
//   append-1k-single  100,000 blocks of 1 KiB, appended one at a time,
//                     awaiting each append
//   append-1k-batch   100,000 blocks of 1 KiB, appended in arrays of 1000
//   append-64k        4096 blocks of 64 KiB (256 MiB), appended in arrays
//                     of 16 (1 MiB per append)
//   read-seq          feed.get of every block, 0 to length-1, awaiting each
//   get-random        10,000 feed.get of indexes mulberry32(42) % length,
//                     awaiting each
// --ops N replaces the block or get count (for smoke tests).
//
// Block i of size S is fill(S, i % P) from lib/blocks.js (the mulberry32 byte
// stream from state i % P, which the Go side has as jsref.Fill) with P = 1024
// for 1 KiB blocks and 16 for 64 KiB blocks; the P distinct buffers are made
// before timing starts and reused.

const { mulberry32, fill } = require('./lib/blocks')
const { parseArgs, uint, usage, open, append, get, close, main } = require('./lib/common')

const CASES = {
  'append-1k-single': { kind: 'append', blocks: 100000, size: 1024, batch: 1, pool: 1024 },
  'append-1k-batch': { kind: 'append', blocks: 100000, size: 1024, batch: 1000, pool: 1024 },
  'append-64k': { kind: 'append', blocks: 4096, size: 65536, batch: 16, pool: 16 },
  'read-seq': { kind: 'read-seq' },
  'get-random': { kind: 'get-random', gets: 10000, seed: 42 }
}

main(async (argv) => {
  const { pos, flags } = parseArgs(argv, ['ops'])
  if (pos.length !== 2 || !CASES[pos[1]]) {
    throw usage('feed-bench.js <dir> <' + Object.keys(CASES).join('|') + '> [--ops N]')
  }
  const [dir, name] = pos
  const c = CASES[name]
  const ops = flags.ops === undefined ? null : uint(flags.ops, '--ops')
  let res
  if (c.kind === 'append') res = await benchAppend(dir, c, ops === null ? c.blocks : ops)
  else if (c.kind === 'read-seq') res = await benchReadSeq(dir, ops)
  else res = await benchGetRandom(dir, c, ops === null ? c.gets : ops)
  return {
    case: name,
    seconds: res.seconds,
    ops: res.ops,
    bytes: res.bytes,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    ...res.extra
  }
})

function seconds (t0) {
  return Number(process.hrtime.bigint() - t0) / 1e9
}

async function benchAppend (dir, c, blocks) {
  const pool = []
  for (let j = 0; j < c.pool; j++) pool.push(fill(Buffer.alloc(c.size), j))
  const feed = await open(dir)
  try {
    if (feed.length !== 0) throw new Error(dir + ' already holds a feed of length ' + feed.length)
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < blocks; i += c.batch) {
      const n = Math.min(c.batch, blocks - i)
      if (n === 1) {
        await append(feed, pool[i % c.pool])
        continue
      }
      const list = new Array(n)
      for (let k = 0; k < n; k++) list[k] = pool[(i + k) % c.pool]
      await append(feed, list)
    }
    const secs = seconds(t0)
    if (feed.length !== blocks) throw new Error('feed has length ' + feed.length + ', want ' + blocks)
    return {
      seconds: secs,
      ops: blocks,
      bytes: feed.byteLength,
      extra: { blockSize: c.size, batch: c.batch, key: feed.key.toString('hex') }
    }
  } finally {
    await close(feed)
  }
}

async function benchReadSeq (dir, limit) {
  const feed = await open(dir, { mustExist: true })
  try {
    const n = limit === null ? feed.length : Math.min(limit, feed.length)
    let bytes = 0
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < n; i++) bytes += (await get(feed, i)).length
    const secs = seconds(t0)
    return { seconds: secs, ops: n, bytes, extra: { length: feed.length } }
  } finally {
    await close(feed)
  }
}

async function benchGetRandom (dir, c, gets) {
  const feed = await open(dir, { mustExist: true })
  try {
    if (feed.length === 0) throw new Error('feed in ' + dir + ' is empty')
    const next = mulberry32(c.seed)
    const idx = new Array(gets)
    for (let k = 0; k < gets; k++) idx[k] = next() % feed.length
    let bytes = 0
    const t0 = process.hrtime.bigint()
    for (let k = 0; k < gets; k++) bytes += (await get(feed, idx[k])).length
    const secs = seconds(t0)
    return { seconds: secs, ops: gets, bytes, extra: { length: feed.length, seed: c.seed } }
  } finally {
    await close(feed)
  }
}
