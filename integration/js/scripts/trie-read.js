'use strict'
// trie-read.js <dir> <queryfile>
//
// Opens the existing hypertrie 5 in <dir> read-only in spirit (no writes)
// and answers the queries of <queryfile>, one JSON value a line:
//   {"get":key,"hidden":bool}                 -> node or null
//   {"list":prefix,"recursive":bool,"hidden":bool,"gt":bool,"reverse":bool} -> [[key, seq], ...]
//   {"diff":version,"prefix":p}               -> [[key, leftSeq, rightSeq], ...] (0 = absent)
// Nodes are {key, value (hex or null), seq, flags, hidden}. Prints
// {key, version, subtype, metadata, results: [...]}.

const fs = require('fs')
const path = require('path')
const { parseArgs, usage, main } = require('./lib/common')
const { call, openTrie, closeTrie, readLines, nodeJSON } = require('./lib/trie')

main(async (argv) => {
  const { pos } = parseArgs(argv)
  if (pos.length !== 2) throw usage('trie-read.js <dir> <queryfile>')
  if (!fs.existsSync(path.join(pos[0], 'key'))) throw new Error('no hypertrie is stored in ' + pos[0])
  const db = await openTrie(pos[0])
  try {
    const header = await call(cb => db.feed.get(0, cb))
    const { Header } = require('hypertrie/lib/messages')
    const h = Header.decode(header)
    const results = []
    for (const q of readLines(pos[1])) {
      if (q.get !== undefined) {
        results.push(nodeJSON(await call(cb => db.get(q.get, { hidden: !!q.hidden }, cb))))
      } else if (q.list !== undefined) {
        const nodes = await call(cb => db.list(q.list, { recursive: !!q.recursive, hidden: !!q.hidden, gt: !!q.gt, reverse: !!q.reverse }, cb))
        results.push(nodes.map(n => [n.key, n.seq]))
      } else if (q.diff !== undefined) {
        const ite = db.diff(q.diff, q.prefix || '')
        const out = []
        for (;;) {
          const d = await call(cb => ite.next(cb))
          if (!d) break
          out.push([d.key, d.left ? d.left.seq : 0, d.right ? d.right.seq : 0])
        }
        results.push(out)
      } else {
        throw new Error('unknown query ' + JSON.stringify(q))
      }
    }
    return {
      key: db.key.toString('hex'),
      version: db.version,
      subtype: h.subtype || '',
      metadata: h.metadata ? h.metadata.toString('hex') : null,
      results
    }
  } finally {
    await closeTrie(db)
  }
})
