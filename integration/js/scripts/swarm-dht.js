'use strict'
// swarm-dht.js [--bootstrap host:port,...] [--host 127.0.0.1] [--port N] [--persistent]
//
// One @hyperswarm/dht 4 node (dht-rpc 4), for the discovery tests. With no
// --bootstrap it is the first node of a new DHT (a bootstrap node). It
// prints {"event":"listening","host","port","id"} once bound and
// {"event":"ready"} once bootstrapped, then reads commands, one JSON object
// a line, on stdin:
//
//   {"op":"announce"|"lookup"|"unannounce","topic":hex,"port":N,"localAddress":"h:p"}
//
// and answers each with {"event":"result","op","peers":["h:p"...],
// "localPeers":[...],"nodes":N,"error":msg|null}. The node's own "announce",
// "unannounce" and "lookup" events (records it stores or serves) are
// printed as they happen with the topic and the peer. Closing stdin exits.

const dht = require('@hyperswarm/dht')
const { parseArgs, uint } = require('./lib/common')
const { emit, list, hostPorts, watchdog, lines } = require('./swarm-common')

function main (argv) {
  const { flags } = parseArgs(argv, ['bootstrap', 'host', 'port', 'timeout'])
  watchdog(flags.timeout ? uint(flags.timeout, 'timeout') : 60000)
  const node = dht({ bootstrap: list(flags.bootstrap), ephemeral: !flags.persistent, adaptive: false })
  node.on('announce', (topic, from) => emit('announce', { topic, from: from.host + ':' + from.port }))
  node.on('unannounce', (topic, from) => emit('unannounce', { topic, from: from.host + ':' + from.port }))
  node.on('lookup', (topic, from) => emit('lookup', { topic, from: from.host + ':' + from.port }))
  node.on('warning', () => {})
  node.listen(flags.port ? uint(flags.port, 'port') : 0, flags.host || '127.0.0.1', () => {
    const a = node.address()
    emit('listening', { host: a.address, port: a.port, id: node.id })
    node.ready(() => emit('ready', { nodes: node.getNodes().length }))
  })

  lines(line => {
    const cmd = JSON.parse(line)
    const topic = Buffer.from(cmd.topic, 'hex')
    const opts = {}
    if (cmd.port) opts.port = cmd.port
    if (cmd.localAddress) {
      const [host, port] = cmd.localAddress.split(':')
      opts.localAddress = { host, port: Number(port) }
    }
    const peers = []
    const localPeers = []
    node[cmd.op](topic, opts, (err, res) => {
      for (const r of res || []) {
        peers.push(...hostPorts(r.peers))
        localPeers.push(...hostPorts(r.localPeers))
      }
      emit('result', { op: cmd.op, peers: [...new Set(peers)], localPeers: [...new Set(localPeers)], nodes: node.getNodes().length, error: err ? err.message : null })
    })
  }, () => {
    node.destroy()
    process.exit(0)
  })
}

main(process.argv.slice(2))
