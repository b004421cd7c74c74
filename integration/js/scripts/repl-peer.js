'use strict'
// repl-peer.js (--listen | --connect <port>) --feed <spec> [--feed <spec> ...]
//              [--live] [--sparse] [--ack] [--timeout ms] [--ext name] [--stream-ext name]
//
// A JS hypercore 9 peer replicating over TCP on 127.0.0.1, driven by the Go
// replication interop tests. Each --feed is <dir> (a new writable feed,
// filled with --blocks N blocks of lib/blocks.js, seed = feed number + 1)
// or <dir>:<hex key> (a replica of that key). All feeds replicate on the
// one connection (hypercore-protocol 8 stream; --connect is the initiator).
//
// --ext name registers a per-feed extension on every feed, --stream-ext
// name a stream extension; both answer every message with "echo:" + message.
//
// Commands arrive as JSON lines on stdin:
//   {"cmd":"get","feed":0,"index":5}             -> {"event":"got","feed":0,"index":5,"hex":"…"}
//   {"cmd":"append","feed":0,"from":N,"to":M}    -> {"event":"appended","feed":0,"length":M}
//   {"cmd":"update","feed":0,"minLength":N,"ifAvailable":true} -> {"event":"updated","error":…,"length":…}
//   {"cmd":"download","feed":0,"start":a,"end":b} (or "blocks":[…]) -> {"event":"downloaded",…}
//   {"cmd":"ext","feed":0,"name":"x","msg":"hi"} (feed -1: stream extension)
//   {"cmd":"stats"}  -> {"event":"stats",…}
//   {"cmd":"end"}    -> ends the stream, then exits
// Events on stdout, one JSON object per line: listening, ready, connected,
// download, upload, append, sync, extension, stream-close, and the command
// replies above.

const net = require('net')
const hypercore = require('hypercore')
const Protocol = require('hypercore-protocol')
const readline = require('readline')
const { block } = require('./lib/blocks')

function emit (event, fields) {
  process.stdout.write(JSON.stringify(Object.assign({ event }, fields || {})) + '\n')
}

function parse (argv) {
  const o = { feeds: [], blocks: 0, exts: [], streamExts: [], timeout: 20000 }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const val = () => {
      if (i + 1 >= argv.length) throw new Error('missing value for ' + a)
      return argv[++i]
    }
    if (a === '--listen') o.listen = true
    else if (a === '--connect') o.connect = Number(val())
    else if (a === '--feed') o.feeds.push(val())
    else if (a === '--blocks') o.blocks = Number(val())
    else if (a === '--live') o.live = true
    else if (a === '--sparse') o.sparse = true
    else if (a === '--ack') o.ack = true
    else if (a === '--timeout') o.timeout = Number(val())
    else if (a === '--ext') o.exts.push(val())
    else if (a === '--stream-ext') o.streamExts.push(val())
    else throw new Error('unknown argument ' + a)
  }
  if (!o.listen && !o.connect) throw new Error('need --listen or --connect')
  if (!o.feeds.length) throw new Error('need --feed')
  return o
}

const call = fn => new Promise((resolve, reject) => fn((err, v) => err ? reject(err) : resolve(v)))

async function main () {
  const o = parse(process.argv.slice(2))
  const feeds = []
  const counters = []
  for (let n = 0; n < o.feeds.length; n++) {
    const [dir, key] = o.feeds[n].split(':')
    const feed = hypercore(dir, key || null, { sparse: !!o.sparse })
    await call(cb => feed.ready(cb))
    if (!key && o.blocks > 0 && feed.length === 0) {
      const batch = []
      for (let i = 0; i < o.blocks; i++) {
        batch.push(block(n + 1, i))
        if (batch.length === 1000 || i === o.blocks - 1) {
          await call(cb => feed.append(batch.splice(0), cb))
        }
      }
    }
    const c = { download: 0, downloadBytes: 0, upload: 0, uploadBytes: 0 }
    counters.push(c)
    feed.on('download', (index, data) => {
      c.download++
      c.downloadBytes += data.length
      emit('download', { feed: n, index, bytes: data.length })
    })
    feed.on('upload', (index, data) => {
      c.upload++
      c.uploadBytes += data.length
    })
    feed.on('append', () => emit('append', { feed: n, length: feed.length }))
    feed.on('sync', () => emit('sync', { feed: n, length: feed.length }))
    for (const name of o.exts) {
      const ext = feed.registerExtension(name, {
        encoding: 'binary',
        onmessage (msg, peer) {
          emit('extension', { feed: n, name, msg: msg.toString() })
          ext.send(Buffer.from('echo:' + msg.toString()), peer)
        }
      })
      feed._exts = feed._exts || {}
      feed._exts[name] = ext
    }
    feeds.push(feed)
  }
  emit('ready', { feeds: feeds.map(f => ({ key: f.key.toString('hex'), discoveryKey: f.discoveryKey.toString('hex'), length: f.length })) })

  const socket = await new Promise((resolve, reject) => {
    if (o.listen) {
      const server = net.createServer(s => { server.close(); resolve(s) })
      server.on('error', reject)
      server.listen(0, '127.0.0.1', () => emit('listening', { port: server.address().port }))
    } else {
      const s = net.connect(o.connect, '127.0.0.1', () => resolve(s))
      s.on('error', reject)
    }
  })
  socket.on('error', err => emit('socket-error', { error: err.message }))
  const stream = new Protocol(!!o.connect, { live: !!o.live, timeout: o.timeout })
  const streamExts = {}
  for (const name of o.streamExts) {
    const ext = stream.registerExtension(name, {
      encoding: 'binary',
      onmessage (msg) {
        emit('extension', { feed: -1, name, msg: msg.toString() })
        ext.send(Buffer.from('echo:' + msg.toString()))
      }
    })
    streamExts[name] = ext
  }
  for (const feed of feeds) feed.replicate(stream, { live: !!o.live, ack: !!o.ack })
  stream.on('error', err => emit('stream-error', { error: err.message }))
  stream.on('close', () => emit('stream-close', { bytesSent: stream.bytesSent, bytesReceived: stream.bytesReceived }))
  stream.pipe(socket).pipe(stream)
  emit('connected', {})

  const rl = readline.createInterface({ input: process.stdin })
  rl.on('line', line => {
    if (!line.trim()) return
    const c = JSON.parse(line)
    const feed = feeds[c.feed || 0]
    switch (c.cmd) {
      case 'get':
        feed.get(c.index, (err, data) => emit('got', { feed: c.feed || 0, index: c.index, error: err ? err.message : null, hex: data ? data.toString('hex') : null }))
        break
      case 'append': {
        const batch = []
        for (let i = c.from; i < c.to; i++) batch.push(block((c.feed || 0) + 1, i))
        feed.append(batch, err => emit('appended', { feed: c.feed || 0, error: err ? err.message : null, length: feed.length }))
        break
      }
      case 'update': {
        const opts = { ifAvailable: !!c.ifAvailable }
        if (c.minLength) opts.minLength = c.minLength
        if (c.hash === false) opts.hash = false
        feed.update(opts, err => emit('updated', { feed: c.feed || 0, error: err ? err.message : null, length: feed.length }))
        break
      }
      case 'download': {
        const range = c.blocks ? c.blocks : { start: c.start, end: c.end }
        feed.download(range, err => emit('downloaded', { feed: c.feed || 0, error: err ? err.message : null }))
        break
      }
      case 'ext':
        if (c.feed === -1) streamExts[c.name].send(Buffer.from(c.msg))
        else feed._exts[c.name].broadcast(Buffer.from(c.msg))
        break
      case 'stats':
        emit('stats', {
          feeds: feeds.map((f, n) => Object.assign({ length: f.length, downloaded: f.downloaded(0, f.length) }, counters[n])),
          bytesSent: stream.bytesSent,
          bytesReceived: stream.bytesReceived
        })
        break
      case 'end':
        stream.finalize()
        break
      default:
        emit('error', { error: 'unknown command ' + c.cmd })
    }
  })
  rl.on('close', () => process.exit(0))
}

main().catch(err => {
  process.stderr.write((err.stack || String(err)) + '\n')
  process.exit(1)
})
