'use strict'
// feed-read.js <dir>
//
// Opens the existing hypercore 9 feed in <dir> (no key given: it is read
// from <dir>/key), runs feed.audit(), reads every block and prints
// {key, length, byteLength, writable, audit: {valid, invalid}, blocksSha256}
// where blocksSha256 is sha256 over (uint32be length || bytes) of every block.

const { parseArgs, usage, open, close, summary, main } = require('./lib/common')

main(async (argv) => {
  const { pos } = parseArgs(argv)
  if (pos.length !== 1) throw usage('feed-read.js <dir>')
  const feed = await open(pos[0], { mustExist: true })
  try {
    return await summary(feed)
  } finally {
    await close(feed)
  }
})
