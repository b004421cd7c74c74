'use strict'
// wire-peer.js (--listen | --connect <port>) --key <hex> [--discovery-key <hex>] [--initiator]
//
// One end of a simple-hypercore-protocol 2 session (the wire layer of
// hypercore-protocol 8) on 127.0.0.1, for hypercore/wire's interop test.
// With --listen it prints {"event":"listening","port":N} and takes one
// connection; with --connect it dials <port>.
//
// It queues, before the handshake ends (as hypercore-protocol does), on
// channel 1: Open{discoveryKey, key} (the capability is computed from --key
// once the split is known), Options{extensions:["echo"], ack:false} and
// Status{uploading:true, downloading:false}. --discovery-key overrides the
// discovery key derived from --key, to play a peer that knows a feed's
// discovery key but not its key.
//
// It then answers: Want -> Have{start, length, bitfield:02e0}; Extension ->
// Extension{id 0, "echo:" + payload}; Request -> Data{index, value "block
// <index>", nodes [{2*index, aa.., 7}], signature dd..}; Close -> Close, then
// ends the socket. An Open whose capability does not match
// remoteCapability(--key) destroys the stream ("Invalid remote channel
// capability"), as hypercore-protocol does.
//
// Every event is one JSON line on stdout (buffers as hex, absent fields as
// null): listening, handshake, open, options, status, have, unhave, want,
// unwant, request, cancel, data, close, extension, destroy, end.

const net = require('net')
const SimpleProtocol = require('simple-hypercore-protocol')
const crypto = require('hypercore-crypto')
const { parseArgs, usage, uint } = require('./lib/common')

const USAGE = 'wire-peer.js (--listen | --connect <port>) --key <hex> [--discovery-key <hex>] [--initiator]'

function emit (event, fields) {
  process.stdout.write(JSON.stringify(Object.assign({ event }, plain(fields || {}))) + '\n')
}

// plain turns buffers into hex and undefined into null, recursively.
function plain (v) {
  if (Buffer.isBuffer(v)) return v.toString('hex')
  if (Array.isArray(v)) return v.map(plain)
  if (v === undefined) return null
  if (v && typeof v === 'object') {
    const out = {}
    for (const k of Object.keys(v)) out[k] = plain(v[k])
    return out
  }
  return v
}

function run (socket, opts) {
  const { key, discoveryKey, initiator } = opts
  const p = new SimpleProtocol(initiator, {
    send (data) { socket.write(data) },
    onhandshake () {
      emit('handshake', { publicKey: p.publicKey, remotePublicKey: p.remotePublicKey })
    },
    onopen (ch, m) {
      const ok = !!m.capability && m.capability.equals(p.remoteCapability(key))
      emit('open', { channel: ch, discoveryKey: m.discoveryKey, capability: m.capability, capabilityOk: ok })
      if (!ok) p.destroy(new Error('Invalid remote channel capability'))
    },
    onoptions (ch, m) { emit('options', Object.assign({ channel: ch }, m)) },
    onstatus (ch, m) { emit('status', Object.assign({ channel: ch }, m)) },
    onhave (ch, m) { emit('have', Object.assign({ channel: ch }, m)) },
    onunhave (ch, m) { emit('unhave', Object.assign({ channel: ch }, m)) },
    onwant (ch, m) {
      emit('want', Object.assign({ channel: ch }, m))
      p.have(ch, { start: m.start, length: m.length, bitfield: Buffer.from('02e0', 'hex') })
    },
    onunwant (ch, m) { emit('unwant', Object.assign({ channel: ch }, m)) },
    onrequest (ch, m) {
      emit('request', Object.assign({ channel: ch }, m))
      p.data(ch, {
        index: m.index,
        value: Buffer.from('block ' + m.index),
        nodes: [{ index: 2 * m.index, hash: Buffer.alloc(32, 0xaa), size: 7 }],
        signature: Buffer.alloc(64, 0xdd)
      })
    },
    oncancel (ch, m) { emit('cancel', Object.assign({ channel: ch }, m)) },
    ondata (ch, m) { emit('data', Object.assign({ channel: ch }, m)) },
    onclose (ch, m) {
      emit('close', Object.assign({ channel: ch }, m))
      p.close(ch)
      socket.end()
    },
    onextension (ch, id, payload) {
      emit('extension', { channel: ch, id, payload })
      p.extension(ch, 0, Buffer.concat([Buffer.from('echo:'), payload]))
    },
    destroy (err) {
      emit('destroy', { error: err ? err.message : null })
      socket.destroy()
    }
  })

  // Queued until the handshake is done; Open's key becomes a capability.
  p.open(1, { key, discoveryKey })
  p.options(1, { extensions: ['echo'], ack: false })
  p.status(1, { uploading: true, downloading: false })

  socket.on('data', data => p.recv(data))
  socket.on('error', err => emit('socket-error', { error: err.message }))
  socket.on('close', () => {
    emit('end')
    process.exit(0)
  })
}

function main (argv) {
  const { flags } = parseArgs(argv, ['connect', 'key', 'discovery-key'])
  if (!flags.key || !!flags.listen === !!flags.connect) throw usage(USAGE)
  const key = Buffer.from(flags.key, 'hex')
  const opts = {
    key,
    discoveryKey: flags['discovery-key'] ? Buffer.from(flags['discovery-key'], 'hex') : crypto.discoveryKey(key),
    initiator: !!flags.initiator
  }
  // Never hang a test run.
  setTimeout(() => {
    emit('timeout')
    process.exit(2)
  }, 30000).unref()

  if (flags.connect) {
    const socket = net.connect(uint(flags.connect, 'port'), '127.0.0.1', () => run(socket, opts))
    socket.once('error', err => {
      if (socket.connecting) {
        console.error(err.message)
        process.exit(1)
      }
    })
    return
  }
  const server = net.createServer(socket => {
    server.close()
    run(socket, opts)
  })
  server.listen(0, '127.0.0.1', () => emit('listening', { port: server.address().port }))
}

try {
  main(process.argv.slice(2))
} catch (err) {
  console.error(err.message)
  process.exit(1)
}
