'use strict'
// feed-write.js <dir> <count> [--seed N] [--reopen]
//
// Creates a live hypercore 9 feed with directory storage at <dir>
// (hypercore(dir), default storage, which flocks the bitfield) and appends
// blocks 0..count-1 of lib/blocks.js for seed N (default 1), following the
// append schedule there: some chunks as single buffers, some as arrays. With
// --reopen the feed is closed and reopened after block floor(count/2) and
// the rest is appended to the reopened feed. Refuses a <dir> that already
// holds blocks (use feed-append.js).
//
// Prints {key, length, byteLength, blocksSha256, seed, count, reopened} where
// blocksSha256 is sha256 over (uint32be length || bytes) of every block.

const { block, Summer, chunks } = require('./lib/blocks')
const { parseArgs, uint, usage, open, append, close, main } = require('./lib/common')

main(async (argv) => {
  const { pos, flags } = parseArgs(argv, ['seed'])
  if (pos.length !== 2) throw usage('feed-write.js <dir> <count> [--seed N] [--reopen]')
  const dir = pos[0]
  const count = uint(pos[1], 'count')
  const seed = flags.seed === undefined ? 1 : uint(flags.seed, '--seed')
  if (seed > 0xffffffff) throw new Error('--seed must fit in 32 bits')
  const half = Math.floor(count / 2)

  let feed = await open(dir)
  if (feed.length !== 0) {
    await close(feed)
    throw new Error(dir + ' already holds a feed of length ' + feed.length)
  }
  const key = feed.key.toString('hex')
  const sum = new Summer()

  for (const [start, end] of chunks(0, count, flags.reopen ? [half] : [])) {
    if (flags.reopen && start === half && half > 0) {
      await close(feed)
      feed = await open(dir, { mustExist: true })
      if (feed.length !== half) throw new Error('reopened feed has length ' + feed.length + ', want ' + half)
      if (!feed.writable) throw new Error('reopened feed is not writable')
    }
    const list = []
    for (let i = start; i < end; i++) {
      const b = block(seed, i)
      sum.add(b)
      list.push(b)
    }
    await append(feed, list.length === 1 ? list[0] : list)
  }

  const out = {
    key,
    length: feed.length,
    byteLength: feed.byteLength,
    blocksSha256: sum.hex(),
    seed,
    count,
    reopened: !!flags.reopen && half > 0
  }
  if (feed.key.toString('hex') !== key) throw new Error('key changed across reopen')
  if (out.length !== count || out.byteLength !== sum.bytes) {
    throw new Error('feed has length ' + out.length + '/' + out.byteLength + ' bytes, wrote ' + count + '/' + sum.bytes)
  }
  await close(feed)
  return out
})
