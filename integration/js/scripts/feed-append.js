'use strict'
// feed-append.js <dir> <count> [--seed N] [--start K]
//
// Opens the existing writable hypercore 9 feed in <dir> and appends blocks
// K..K+count-1 of lib/blocks.js for seed N (default 1), following the append
// schedule there. K defaults to the feed's length, so the blocks continue
// the sequence feed-write.js started. Then prints the same summary as
// feed-read.js: {key, length, byteLength, writable, audit, blocksSha256}.

const { block, chunks } = require('./lib/blocks')
const { parseArgs, uint, usage, open, append, close, summary, main } = require('./lib/common')

main(async (argv) => {
  const { pos, flags } = parseArgs(argv, ['seed', 'start'])
  if (pos.length !== 2) throw usage('feed-append.js <dir> <count> [--seed N] [--start K]')
  const count = uint(pos[1], 'count')
  const seed = flags.seed === undefined ? 1 : uint(flags.seed, '--seed')
  if (seed > 0xffffffff) throw new Error('--seed must fit in 32 bits')

  const feed = await open(pos[0], { mustExist: true })
  try {
    if (!feed.writable) throw new Error('feed in ' + pos[0] + ' is not writable')
    const start = flags.start === undefined ? feed.length : uint(flags.start, '--start')
    const want = feed.length + count
    for (const [s, e] of chunks(start, start + count)) {
      const list = []
      for (let i = s; i < e; i++) list.push(block(seed, i))
      await append(feed, list.length === 1 ? list[0] : list)
    }
    if (feed.length !== want) throw new Error('feed has length ' + feed.length + ', want ' + want)
    return await summary(feed)
  } finally {
    await close(feed)
  }
})
