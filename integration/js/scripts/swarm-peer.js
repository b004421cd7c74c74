'use strict'
// swarm-peer.js --topic <hex> [--announce] [--lookup] [--bootstrap host:port,...]
//               [--name <text>] [--max-peers N] [--timeout ms]
//
// A hyperswarm 2 peer (@hyperswarm/network 2, @hyperswarm/discovery 2 with
// its DHT and multicast DNS), for the discovery tests and benchmark. It
// joins the topic (lookup only if neither flag is given) and prints, one
// JSON line each:
//
//   {"event":"listening","port"}            TCP (and UDP) port bound
//   {"event":"joined","ms"}                 first DHT round of the join done
//   {"event":"peer","host","port","local"}  a peer discovered
//   {"event":"connection","client","type","remoteAddress","remotePort","ms"}
//   {"event":"line","text","remoteAddress","remotePort"}
//   {"event":"disconnection","client"}
//
// ms counts from the join call. On every connection it writes
// "<name>\n" (default "js") and prints the first line it reads back.
// An empty --bootstrap means no DHT (LAN discovery only). Closing stdin
// leaves the swarm and exits.

const hyperswarm = require('hyperswarm')
const { parseArgs, uint, usage } = require('./lib/common')
const { emit, list, watchdog, lines } = require('./swarm-common')

const USAGE = 'swarm-peer.js --topic <hex> [--announce] [--lookup] [--bootstrap host:port,...] [--name text] [--max-peers N] [--timeout ms]'

function main (argv) {
  const { flags } = parseArgs(argv, ['topic', 'bootstrap', 'name', 'max-peers', 'timeout'])
  if (!flags.topic || flags.topic.length !== 64) throw usage(USAGE)
  watchdog(flags.timeout ? uint(flags.timeout, 'timeout') : 60000)
  const name = flags.name || 'js'
  const topic = Buffer.from(flags.topic, 'hex')
  const announce = !!flags.announce
  const lookup = !!flags.lookup || !announce
  const swarm = hyperswarm({
    bootstrap: list(flags.bootstrap),
    maxPeers: flags['max-peers'] ? uint(flags['max-peers'], 'max-peers') : undefined
  })
  let start = 0

  swarm.on('listening', () => emit('listening', { port: swarm.address().port }))
  swarm.on('peer', peer => emit('peer', { host: peer.host, port: peer.port, local: !!peer.local }))
  swarm.on('connection', (socket, info) => {
    emit('connection', {
      client: info.client,
      type: info.type,
      remoteAddress: socket.remoteAddress,
      remotePort: socket.remotePort,
      ms: Date.now() - start
    })
    socket.write(name + '\n')
    let buf = ''
    let done = false
    socket.setEncoding('utf8')
    socket.on('data', d => {
      if (done) return
      buf += d
      const i = buf.indexOf('\n')
      if (i < 0) return
      done = true
      emit('line', { text: buf.slice(0, i), remoteAddress: socket.remoteAddress, remotePort: socket.remotePort })
    })
    socket.on('error', () => {})
  })
  swarm.on('disconnection', (socket, info) => emit('disconnection', { client: info.client }))
  swarm.on('error', err => {
    console.error(err.message)
    process.exit(1)
  })

  start = Date.now()
  swarm.join(topic, { announce, lookup }, () => emit('joined', { ms: Date.now() - start }))

  lines(() => {}, () => {
    swarm.leave(topic, () => swarm.destroy(() => process.exit(0)))
    setTimeout(() => process.exit(0), 2000).unref()
  })
}

try {
  main(process.argv.slice(2))
} catch (err) {
  console.error(err.message)
  process.exit(err.usage ? 2 : 1)
}
