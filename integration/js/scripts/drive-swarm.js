'use strict'
// drive-swarm.js <dir> --bootstrap host:port,... [--key hex] [--read path,...]
//
// A JS hyperdrive 10 peer on hyperswarm 2, as a user of the JS stack runs
// one: opens the drive (the default drive of the corestore at <dir>, or
// drive <key> into it), joins its discovery key (announce and lookup) and
// replicates the whole store on every connection. Prints
// {"event":"joined","key"}; with --read it reads each path (waiting for a
// peer) and prints {"event":"read","files":{path: sha256},"ms"} (ms from the
// join call to the last byte), then exits. Otherwise it serves until stdin
// closes. With --connections every connection prints {"event":"connection",
// "type":"tcp"|"utp","client","remoteAddress","remotePort"}.

const crypto = require('crypto')
const Corestore = require('corestore')
const hyperdrive = require('hyperdrive')
const hyperswarm = require('hyperswarm')
const { parseArgs, usage } = require('./lib/common')
const { emit, list, watchdog, lines } = require('./swarm-common')

const call = fn => new Promise((resolve, reject) => fn((err, val) => (err ? reject(err) : resolve(val))))

async function main (argv) {
  const { pos, flags } = parseArgs(argv, ['bootstrap', 'key', 'read'])
  if (pos.length !== 1) throw usage('drive-swarm.js <dir> --bootstrap host:port,... [--key hex] [--read path,...]')
  watchdog(120000)
  const store = new Corestore(pos[0])
  await call(cb => store.ready(cb))
  const drive = hyperdrive(store, flags.key ? Buffer.from(flags.key, 'hex') : null, { sparse: true })
  drive.on('error', () => {})
  await call(cb => drive.ready(cb))
  const swarm = hyperswarm({ bootstrap: list(flags.bootstrap) })
  swarm.on('connection', (socket, info) => {
    if (flags.connections) emit('connection', { type: info.type, client: info.client, remoteAddress: socket.remoteAddress, remotePort: socket.remotePort })
    const stream = drive.replicate(info.client, { live: true })
    stream.on('error', () => {})
    socket.on('error', () => {})
    socket.pipe(stream).pipe(socket)
  })
  const start = Date.now()
  // "joined" once the first DHT round is done, so the announce is there
  // for whoever looks next.
  await new Promise(resolve => swarm.join(drive.discoveryKey, { announce: true, lookup: true }, resolve))
  emit('joined', { key: drive.key })
  if (flags.read) {
    const files = {}
    for (const p of list(flags.read)) {
      // A sparse replica answers from what it has: until a peer is found
      // the file is missing, so try again.
      let data = null
      while (data === null) {
        data = await call(cb => drive.readFile(p, cb)).catch(() => null)
        if (data === null) await new Promise(resolve => setTimeout(resolve, 100))
      }
      files[p] = crypto.createHash('sha256').update(data).digest('hex')
    }
    emit('read', { files, ms: Date.now() - start })
    swarm.destroy()
    process.exit(0)
  }
  lines(() => {}, () => {
    swarm.leave(drive.discoveryKey)
    swarm.destroy(() => process.exit(0))
    setTimeout(() => process.exit(0), 2000).unref()
  })
}

main(process.argv.slice(2)).catch(err => {
  console.error(err.message)
  process.exit(err.usage ? 2 : 1)
})
