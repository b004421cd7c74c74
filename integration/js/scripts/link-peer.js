'use strict'
// link-peer.js serve <dir> <port>
// link-peer.js read <key> <host:port>[,<host:port>...] <path> [--ttfb]
//
// The JavaScript side of bench/linkbench, which runs it in network
// namespaces joined by shaped links. Both modes talk JSON lines on stdout
// and read commands from stdin.
//
// serve: serves the default drive of the corestore at <dir> on TCP port
// <port> of every address (hyperdrive's replicate(), live, one stream per
// connection). Prints {"event":"ready","key":hex}; answers each "stats"
// line with {"event":"stats","cpu":seconds of CPU used so far}; exits when
// stdin closes.
//
// read: opens drive <key> sparse in memory, connects to every peer and
// replicates with each. Without --ttfb it stats <path> first (the drive's
// metadata and the content feed are then known), prints {"event":"ready"},
// waits for a "go" line and reads the whole file through createReadStream
// (hyperdrive's read path, which downloads the file's range as it goes):
// {"event":"done","seconds","bytes","cpu"} (cpu: seconds the read took of
// this process's CPU). With --ttfb it prints ready before
// connecting and, on "go", times everything from connecting to the first
// byte of <path>.

const net = require('net')
const readline = require('readline')
const Corestore = require('corestore')
const hyperdrive = require('hyperdrive')
const ram = require('random-access-memory')
const { call } = require('./lib/drive')

const emit = o => process.stdout.write(JSON.stringify(o) + '\n')
const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6 }

function lines () {
  const rl = readline.createInterface({ input: process.stdin })
  const it = rl[Symbol.asyncIterator]()
  return async () => {
    const { value, done } = await it.next()
    return done ? null : value.trim()
  }
}

async function serve (dir, port) {
  const store = new Corestore(dir)
  await call(cb => store.ready(cb))
  const drive = hyperdrive(store)
  drive.on('error', () => {})
  await call(cb => drive.ready(cb))
  const server = net.createServer(socket => {
    socket.setNoDelay(true)
    const stream = drive.replicate(false, { live: true })
    stream.on('error', () => {})
    socket.on('error', () => {})
    socket.pipe(stream).pipe(socket)
  })
  await new Promise((resolve, reject) => {
    server.on('error', reject)
    server.listen(Number(port), resolve)
  })
  emit({ event: 'ready', key: drive.key.toString('hex') })
  const next = lines()
  for (let l = await next(); l !== null; l = await next()) {
    if (l === 'stats') emit({ event: 'stats', cpu: cpu() })
  }
  process.exit(0)
}

async function read (key, addrs, path, ttfb) {
  const next = lines()
  let t0
  const open = async () => {
    const store = new Corestore(ram)
    await call(cb => store.ready(cb))
    const drive = hyperdrive(store, Buffer.from(key, 'hex'), { sparse: true, sparseMetadata: true })
    drive.on('error', () => {})
    for (const a of addrs) {
      const [host, port] = a.split(':')
      const socket = net.connect(Number(port), host)
      socket.setNoDelay(true)
      const stream = drive.replicate(true, { live: true })
      socket.on('error', () => {})
      stream.on('error', () => {})
      socket.pipe(stream).pipe(socket)
    }
    await call(cb => drive.ready(cb))
    return drive
  }
  if (ttfb) {
    emit({ event: 'ready' })
    if (await next() !== 'go') process.exit(0)
    t0 = process.hrtime.bigint()
    const drive = await open()
    await new Promise((resolve, reject) => {
      const rs = drive.createReadStream(path)
      rs.once('data', () => { rs.destroy(); resolve() })
      rs.on('error', reject)
    })
    emit({ event: 'done', seconds: Number(process.hrtime.bigint() - t0) / 1e9, bytes: 1 })
    process.exit(0)
  }
  const drive = await open()
  await call(cb => drive.stat(path, cb))
  emit({ event: 'ready' })
  if (await next() !== 'go') process.exit(0)
  t0 = process.hrtime.bigint()
  const cpu0 = cpu()
  let bytes = 0
  await new Promise((resolve, reject) => {
    const rs = drive.createReadStream(path)
    rs.on('data', d => { bytes += d.length })
    rs.on('end', resolve)
    rs.on('error', reject)
  })
  emit({ event: 'done', seconds: Number(process.hrtime.bigint() - t0) / 1e9, bytes, cpu: cpu() - cpu0 })
  process.exit(0)
}

async function main () {
  const [mode, ...args] = process.argv.slice(2)
  if (mode === 'serve' && args.length === 2) return serve(args[0], args[1])
  if (mode === 'read' && (args.length === 3 || (args.length === 4 && args[3] === '--ttfb'))) {
    return read(args[0], args[1].split(','), args[2], args.length === 4)
  }
  throw new Error('usage: link-peer.js serve <dir> <port> | read <key> <host:port,...> <path> [--ttfb]')
}

main().catch(err => {
  emit({ event: 'error', error: String(err && err.stack ? err.message : err) })
  process.stderr.write(String(err && err.stack) + '\n')
  process.exit(1)
})
