'use strict'
// utp-peer.js listen [--expect N] [--reply M] [--reset-after R]
// utp-peer.js connect <host:port> [--send N] [--expect M]
//
// One end of a raw uTP connection on utp-native (libutp), for the uTP
// interop tests: no hyperswarm, no DHT. Bytes sent are the pattern
// byte(p*7 + p>>12) at stream offset p. Prints one JSON line per event:
//
//   {"event":"listening","port"}             (listen)
//   {"event":"connected"}                    (connect)
//   {"event":"received","bytes","sha256"}    once `expect` bytes arrived
//   {"event":"end","bytes","sha256"}         the remote ended cleanly
//   {"event":"error","code","message"}
//   {"event":"reset"}                        (listen) the socket was torn
//                                            down after R bytes and opened
//                                            again on the same port
//   {"event":"closed"}
//
// listen takes one connection: after --expect bytes it writes --reply
// bytes and ends. connect writes --send bytes, then reads until the remote
// ends. Closing stdin exits.

const crypto = require('crypto')
const utp = require('utp-native')
const { parseArgs, uint, usage } = require('./lib/common')
const { emit, watchdog, lines } = require('./swarm-common')

const USAGE = 'utp-peer.js listen [--expect N] [--reply M] [--reset-after R] | connect <host:port> [--send N] [--expect M]'

function pattern (off, n) {
  const b = Buffer.allocUnsafe(n)
  for (let i = 0; i < n; i++) {
    const p = off + i
    b[i] = (p * 7 + Math.floor(p / 4096)) & 0xff
  }
  return b
}

// send writes n pattern bytes with backpressure, then calls done.
function send (socket, n, done) {
  let off = 0
  function more () {
    while (off < n) {
      const k = Math.min(65536, n - off)
      const ok = socket.write(pattern(off, k))
      off += k
      if (!ok) return socket.once('drain', more)
    }
    if (done) done()
  }
  more()
}

// track counts and hashes what socket receives.
function track (socket, expect, onExpected) {
  const h = crypto.createHash('sha256')
  let bytes = 0
  let fired = false
  const st = { h, get bytes () { return bytes } }
  socket.on('data', d => {
    h.update(d)
    bytes += d.length
    if (!fired && expect && bytes >= expect) {
      fired = true
      onExpected(bytes, h.copy().digest('hex'))
    }
  })
  socket.on('end', () => emit('end', { bytes, sha256: h.digest('hex') }))
  socket.on('error', err => emit('error', { code: err.code || null, message: err.message }))
  socket.on('close', () => emit('closed'))
  return st
}

function main (argv) {
  const { pos, flags } = parseArgs(argv, ['expect', 'reply', 'reset-after', 'send'])
  watchdog(120000)
  const expect = flags.expect ? uint(flags.expect, 'expect') : 0
  if (pos[0] === 'listen') {
    const reply = flags.reply ? uint(flags.reply, 'reply') : 0
    const resetAfter = flags['reset-after'] ? uint(flags['reset-after'], 'reset-after') : 0
    let server = utp.createServer(onconn)
    function onconn (socket) {
      const st = track(socket, expect, (bytes, sha256) => {
        emit('received', { bytes, sha256 })
        send(socket, reply, () => socket.end())
      })
      if (resetAfter) {
        socket.on('data', () => {
          if (st.bytes < resetAfter || !server) return
          // Tear the whole uTP instance down without a FIN and listen
          // again on the same port: libutp answers the peer's next
          // packets, for a connection it no longer knows, with ST_RESET.
          const port = server.address().port
          const old = server
          server = null
          old._closing = true
          old.connections.length = 0 // forget them: no FIN is sent
          old.once('close', () => {
            const again = utp.createServer(() => {})
            again.listen(port, '127.0.0.1', () => emit('reset'))
          })
          old._closeMaybe()
        })
      }
    }
    server.listen(0, '127.0.0.1', () => emit('listening', { port: server.address().port }))
  } else if (pos[0] === 'connect' && pos[1]) {
    const [host, port] = pos[1].split(':')
    const socket = utp.connect(Number(port), host)
    socket.on('connect', () => emit('connected'))
    track(socket, expect, (bytes, sha256) => emit('received', { bytes, sha256 }))
    send(socket, flags.send ? uint(flags.send, 'send') : 0)
  } else {
    throw usage(USAGE)
  }
  lines(() => {}, () => process.exit(0))
}

try {
  main(process.argv.slice(2))
} catch (err) {
  console.error(err.message)
  process.exit(err.usage ? 2 : 1)
}
