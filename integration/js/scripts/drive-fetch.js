'use strict'
// drive-fetch.js <dir> <key> <host:port> <path>...
//
// Opens the drive <key> (not stored in <dir> yet) in a corestore at <dir>,
// sparse, connects to a peer at <host:port> over TCP (replicating the whole
// store, as hyperdrive does) and reads each <path>. Prints {files: {path:
// sha256}, version} once all are read.

const net = require('net')
const crypto = require('crypto')
const Corestore = require('corestore')
const hyperdrive = require('hyperdrive')
const { usage, main } = require('./lib/common')

const call = fn => new Promise((resolve, reject) => fn((err, val) => (err ? reject(err) : resolve(val))))

main(async (argv) => {
  if (argv.length < 4) throw usage('drive-fetch.js <dir> <key> <host:port> <path>...')
  const [dir, key, addr, ...paths] = argv
  const store = new Corestore(dir)
  await call(cb => store.ready(cb))
  const drive = hyperdrive(store, Buffer.from(key, 'hex'), { sparse: true })
  drive.on('error', () => {})
  await call(cb => drive.ready(cb))
  const [host, port] = addr.split(':')
  const socket = net.connect(Number(port), host)
  const stream = drive.replicate(true, { live: true })
  socket.on('error', () => {})
  stream.on('error', () => {})
  socket.pipe(stream).pipe(socket)
  const files = {}
  for (const p of paths) {
    const data = await call(cb => drive.readFile(p, cb))
    files[p] = crypto.createHash('sha256').update(data).digest('hex')
  }
  const out = { files, version: drive.version }
  socket.destroy()
  await call(cb => drive.close(cb))
  return out
})
