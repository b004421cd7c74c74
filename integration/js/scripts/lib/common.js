'use strict'
// Helpers shared by the scripts: argument parsing, promise wrappers around
// hypercore 9's callback API, and the main() runner that prints one JSON
// object on stdout or the error on stderr with a non-zero exit.

const fs = require('fs')
const path = require('path')
const hypercore = require('hypercore')
const { Summer } = require('./blocks')

// parseArgs splits argv into positionals and --flags. Flags named in
// valued take the next argument; the rest are booleans.
function parseArgs (argv, valued = []) {
  const pos = []
  const flags = {}
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (!a.startsWith('--')) {
      pos.push(a)
      continue
    }
    const name = a.slice(2)
    if (valued.includes(name)) {
      if (i + 1 >= argv.length) throw new Error('missing value for ' + a)
      flags[name] = argv[++i]
    } else {
      flags[name] = true
    }
  }
  return { pos, flags }
}

// uint parses a non-negative integer argument.
function uint (s, what) {
  if (!/^[0-9]+$/.test(String(s))) throw new Error(what + ' must be a non-negative integer, got ' + s)
  const n = Number(s)
  if (!Number.isSafeInteger(n)) throw new Error(what + ' too large: ' + s)
  return n
}

function usage (text) {
  const err = new Error('usage: ' + text)
  err.usage = true
  return err
}

function call (fn) {
  return new Promise((resolve, reject) => {
    fn((err, val) => (err ? reject(err) : resolve(val)))
  })
}

// open opens a feed with hypercore 9's default directory storage (which
// flocks the bitfield file). With mustExist it refuses a directory without a
// key file instead of creating a new feed there.
async function open (dir, { mustExist = false } = {}) {
  if (mustExist && !fs.existsSync(path.join(dir, 'key'))) {
    throw new Error('no hypercore is stored in ' + dir)
  }
  const feed = hypercore(dir, { createIfMissing: !mustExist })
  // Open errors (ELOCKED when another process holds the bitfield lock) are
  // also emitted as 'error' events; ready() reports them, so don't throw.
  feed.on('error', () => {})
  await call(cb => feed.ready(cb))
  return feed
}

const ready = feed => call(cb => feed.ready(cb))
const append = (feed, data) => call(cb => feed.append(data, cb))
const get = (feed, i) => call(cb => feed.get(i, cb))
const audit = feed => call(cb => feed.audit(cb))
const close = feed => call(cb => feed.close(cb))

// summary audits the feed, reads every block back and describes it.
async function summary (feed) {
  const report = await audit(feed)
  const sum = new Summer()
  for (let i = 0; i < feed.length; i++) sum.add(await get(feed, i))
  return {
    key: feed.key.toString('hex'),
    length: feed.length,
    byteLength: feed.byteLength,
    writable: feed.writable,
    audit: { valid: report.valid, invalid: report.invalid },
    blocksSha256: sum.hex()
  }
}

// main runs fn and prints its result as one JSON line. Errors go to stderr
// and exit with status 1 (2 for usage errors).
function main (fn) {
  fn(process.argv.slice(2)).then(
    out => {
      process.stdout.write(JSON.stringify(out) + '\n')
    },
    err => {
      process.stderr.write((err.usage ? err.message : (err.stack || String(err))) + '\n')
      process.exitCode = err.usage ? 2 : 1
    }
  )
}

module.exports = { parseArgs, uint, usage, open, ready, append, get, audit, close, summary, main }
