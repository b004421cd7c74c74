'use strict'
// blocks.js <count> [--seed N] [--start K]
//
// Generates blocks K..K+count-1 of lib/blocks.js for seed N (default 1, K
// default 0) without any feed and prints {count, byteLength, blocksSha256,
// sizes} (sizes only when count <= 64), for checking the Go twin of the
// generator quickly.

const { block, Summer } = require('./lib/blocks')
const { parseArgs, uint, usage, main } = require('./lib/common')

main(async (argv) => {
  const { pos, flags } = parseArgs(argv, ['seed', 'start'])
  if (pos.length !== 1) throw usage('blocks.js <count> [--seed N] [--start K]')
  const count = uint(pos[0], 'count')
  const seed = flags.seed === undefined ? 1 : uint(flags.seed, '--seed')
  if (seed > 0xffffffff) throw new Error('--seed must fit in 32 bits')
  const start = flags.start === undefined ? 0 : uint(flags.start, '--start')
  const sum = new Summer()
  const sizes = []
  for (let i = start; i < start + count; i++) {
    const b = block(seed, i)
    sum.add(b)
    if (count <= 64) sizes.push(b.length)
  }
  const out = { count, byteLength: sum.bytes, blocksSha256: sum.hex() }
  if (count <= 64) out.sizes = sizes
  return out
})
