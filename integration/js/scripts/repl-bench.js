'use strict'
// repl-bench.js up <dir> [--live]
// repl-bench.js down <dir> <key hex> <port> [--gets N --length L]
//
// The JS side of bench/replbench: hypercore 9 replication over TCP on
// 127.0.0.1. "up" opens the existing feed in <dir>, listens, prints
// {"port":N}, replicates with the first peer (non-live unless --live) until
// the stream closes and prints {"peakRssBytes", "bytesSent", "bytesReceived"}.
// "down" replicates the feed <key> from <port> into a new feed in <dir>:
// without --gets, non-sparse and non-live until the stream ends; with
// --gets N, sparse and live, doing N sequential get()s of blocks
// mulberry32(42) % L. It prints {"seconds", "blocks", "bytes", "wireBytes",
// "peakRssBytes"}; seconds runs from connecting to the last block stored.

const net = require('net')
const hypercore = require('hypercore')
const Protocol = require('hypercore-protocol')
const { mulberry32 } = require('./lib/blocks')

const call = fn => new Promise((resolve, reject) => fn((err, v) => err ? reject(err) : resolve(v)))
const out = o => process.stdout.write(JSON.stringify(o) + '\n')

async function up (dir, live) {
  const feed = hypercore(dir, { createIfMissing: false })
  await call(cb => feed.ready(cb))
  const server = net.createServer(socket => {
    server.close()
    const stream = new Protocol(false, { live })
    feed.replicate(stream, { live })
    stream.pipe(socket).pipe(stream)
    socket.on('error', () => {})
    stream.on('error', () => {})
    stream.on('close', () => {
      out({ peakRssBytes: process.resourceUsage().maxRSS * 1024, bytesSent: stream.bytesSent, bytesReceived: stream.bytesReceived })
      feed.close(() => process.exit(0))
    })
  })
  server.listen(0, '127.0.0.1', () => out({ port: server.address().port }))
}

async function down (dir, key, port, gets, length) {
  const sparse = gets > 0
  const feed = hypercore(dir, Buffer.from(key, 'hex'), { sparse })
  await call(cb => feed.ready(cb))
  const socket = net.connect(port, '127.0.0.1')
  await new Promise((resolve, reject) => { socket.on('connect', resolve); socket.on('error', reject) })
  const t0 = process.hrtime.bigint()
  const stream = new Protocol(true, { live: sparse })
  feed.replicate(stream, { live: sparse })
  stream.pipe(socket).pipe(stream)
  let blocks = 0
  let bytes = 0
  feed.on('download', (i, data) => { blocks++; bytes += data.length })
  if (sparse) {
    const next = mulberry32(42)
    for (let k = 0; k < gets; k++) await call(cb => feed.get(next() % length, cb))
  } else {
    await new Promise(resolve => stream.on('close', resolve))
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9
  if (!sparse && feed.downloaded(0, feed.length) !== feed.length) throw new Error('incomplete download')
  out({ seconds, blocks, bytes, wireBytes: stream.bytesSent + stream.bytesReceived, peakRssBytes: process.resourceUsage().maxRSS * 1024 })
  stream.destroy()
  socket.destroy()
  feed.close(() => process.exit(0))
}

const [mode, ...rest] = process.argv.slice(2)
const flag = (name) => { const i = rest.indexOf(name); return i >= 0 ? Number(rest[i + 1]) : 0 }
const main = mode === 'up'
  ? up(rest[0], rest.includes('--live'))
  : down(rest[0], rest[1], Number(rest[2]), flag('--gets'), flag('--length'))
main.catch(err => {
  process.stderr.write((err.stack || String(err)) + '\n')
  process.exit(1)
})
