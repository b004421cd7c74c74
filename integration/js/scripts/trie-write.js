'use strict'
// trie-write.js <dir> <opsfile>
//
// Opens (or creates) the hypertrie 5 in <dir> and applies the operations of
// <opsfile>, one JSON value a line, in order:
//   {"type":"put","key":k,"value":hex,"hidden":bool,"flags":n}
//   {"type":"del","key":k,"hidden":bool}
//   {"batch":[op, ...]}          applied with db.batch (one append)
// Prints {key, length, version}.

const { parseArgs, usage, main } = require('./lib/common')
const { call, openTrie, closeTrie, readLines, toOp } = require('./lib/trie')

main(async (argv) => {
  const { pos } = parseArgs(argv)
  if (pos.length !== 2) throw usage('trie-write.js <dir> <opsfile>')
  const db = await openTrie(pos[0])
  try {
    for (const o of readLines(pos[1])) {
      if (o.batch) {
        await call(cb => db.batch(o.batch.map(toOp), cb))
      } else if (o.type === 'put') {
        const op = toOp(o)
        await call(cb => db.put(op.key, op.value, { hidden: op.hidden, flags: op.flags }, cb))
      } else if (o.type === 'del') {
        await call(cb => db.del(o.key, { hidden: !!o.hidden }, cb))
      } else {
        throw new Error('unknown op ' + JSON.stringify(o))
      }
    }
    return { key: db.key.toString('hex'), length: db.feed.length, version: db.version }
  } finally {
    await closeTrie(db)
  }
})
