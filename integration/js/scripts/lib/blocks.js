'use strict'
// Deterministic test blocks, shared by the feed-*.js scripts. The Go twin is
// integration/jsref/blocks.go; TestBlocksMatchJS keeps the two identical.
//
// PRNG: mulberry32 over a uint32 state a. Each call does
//   a = a + 0x6D2B79F5                     (mod 2^32)
//   t = (a ^ (a >>> 15)) * (a | 1)         (mod 2^32)
//   t = (t + (t ^ (t >>> 7)) * (t | 61)) ^ t
//   return t ^ (t >>> 14)                  (uint32)
//
// Block i of seed s (i = 0, 1, 2, ...) uses its own generator, so any block can
// be made without the ones before it:
//   a0   = s ^ (i * 0x9E3779B9)             (mod 2^32)
//   r    = next()
//   size = by r % 16:
//            0     -> 0                       (about 1 in 16 blocks is empty)
//            1..9  -> next() % 256
//            10..13-> next() % 4096
//            14    -> next() % 16384
//            15    -> next() % 65537          (so at most 64 KiB)
//   bytes: each following next() gives 4 bytes, least significant byte
//          first; the last word is cut to the size.
//
// Append schedule used by feed-write.js and feed-append.js: chunk c (c = 0,
// 1, ...) appends SCHEDULE[c % SCHEDULE.length] blocks, cut at the end (and
// at the reopen point); a chunk of 1 is appended as a single buffer
// (feed.append(buf)), a longer chunk as an array (feed.append([...])).

const crypto = require('crypto')

const SCHEDULE = [1, 3, 1, 1, 10, 1, 50, 2, 1, 100]

function mulberry32 (a) {
  return function next () {
    a = (a + 0x6D2B79F5) | 0
    let t = Math.imul(a ^ (a >>> 15), a | 1)
    t = (t + Math.imul(t ^ (t >>> 7), t | 61)) ^ t
    return (t ^ (t >>> 14)) >>> 0
  }
}

// fill writes the mulberry32 byte stream starting at state into buf.
function fill (buf, state) {
  const next = mulberry32(state >>> 0)
  fillFrom(buf, next)
  return buf
}

function fillFrom (buf, next) {
  let j = 0
  for (; j + 4 <= buf.length; j += 4) buf.writeUInt32LE(next(), j)
  if (j < buf.length) {
    const w = next()
    for (let k = 0; j < buf.length; j++, k++) buf[j] = (w >>> (8 * k)) & 0xff
  }
}

// block returns block i of seed.
function block (seed, i) {
  const next = mulberry32((seed ^ Math.imul(i, 0x9E3779B9)) >>> 0)
  const r = next() % 16
  let size
  if (r === 0) size = 0
  else if (r <= 9) size = next() % 256
  else if (r <= 13) size = next() % 4096
  else if (r === 14) size = next() % 16384
  else size = next() % 65537
  const buf = Buffer.alloc(size)
  fillFrom(buf, next)
  return buf
}

// Summer hashes blocks as sha256 over (uint32be length || bytes) of each.
class Summer {
  constructor () {
    this.hash = crypto.createHash('sha256')
    this.count = 0
    this.bytes = 0
  }

  add (buf) {
    const len = Buffer.alloc(4)
    len.writeUInt32BE(buf.length, 0)
    this.hash.update(len)
    this.hash.update(buf)
    this.count++
    this.bytes += buf.length
  }

  hex () {
    return this.hash.digest('hex')
  }
}

// chunks splits [start, end) by SCHEDULE; cuts are extra indexes where a
// chunk must end (the reopen point).
function chunks (start, end, cuts = []) {
  const out = []
  let c = 0
  let i = start
  while (i < end) {
    let n = Math.min(SCHEDULE[c % SCHEDULE.length], end - i)
    for (const cut of cuts) {
      if (cut > i && cut < i + n) n = cut - i
    }
    out.push([i, i + n])
    i += n
    c++
  }
  return out
}

module.exports = { mulberry32, fill, block, Summer, chunks, SCHEDULE }
