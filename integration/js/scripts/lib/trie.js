'use strict'
// Helpers shared by the trie-*.js scripts: promise wrappers around
// hypertrie 5's callback API and the JSON shapes the Go tests compare.

const fs = require('fs')
const hypertrie = require('hypertrie')

const call = fn => new Promise((resolve, reject) => fn((err, val) => (err ? reject(err) : resolve(val))))

// openTrie opens the hypertrie in <dir> (hypercore's default directory
// storage, which flocks the bitfield), creating it when missing.
async function openTrie (dir, opts = {}) {
  const db = hypertrie(dir, null, opts)
  db.on('error', () => {})
  await call(cb => db.ready(cb))
  return db
}

const closeTrie = db => call(cb => db.feed.close(cb))

// readLines parses a file of JSON values, one a line.
function readLines (file) {
  return fs.readFileSync(file, 'utf8').split('\n').filter(l => l.trim() !== '').map(l => JSON.parse(l))
}

// nodeJSON is the shape the Go side compares: value in hex, user flags.
function nodeJSON (node) {
  if (!node) return null
  return {
    key: node.key,
    value: node.value === null ? null : Buffer.from(node.value).toString('hex'),
    seq: node.seq,
    flags: node.flags,
    hidden: !!node.hidden
  }
}

// toOp turns an ops-file entry into a hypertrie batch op.
function toOp (o) {
  const op = { type: o.type, key: o.key, hidden: !!o.hidden }
  if (o.type === 'put') {
    op.value = Buffer.from(o.value || '', 'hex')
    op.flags = o.flags || 0
  }
  return op
}

module.exports = { call, openTrie, closeTrie, readLines, nodeJSON, toOp }
