'use strict'
// drive-serve.js <dir>
//
// Serves the drives of the corestore at <dir> (its default drive and the
// drive of namespace "inner", as lib/drive.js opens them) to one TCP
// connection on 127.0.0.1: hyperdrive's replicate(), which replicates every
// core of the store on one hypercore-protocol 8 stream, live. Prints
// {"event":"listening","port":N,"key":hex} once listening and
// {"event":"stream-close","error":…} when the connection ends; exits when
// stdin closes.

const net = require('net')
const { usage, main } = require('./lib/common')
const { openDrives, closeDrives } = require('./lib/drive')

main(async (argv) => {
  if (argv.length !== 1) throw usage('drive-serve.js <dir>')
  const d = await openDrives(argv[0])
  const server = net.createServer(socket => {
    const stream = d.drive.replicate(false, { live: true })
    stream.on('error', () => {})
    socket.on('error', () => {})
    stream.on('close', () => {
      process.stdout.write(JSON.stringify({ event: 'stream-close' }) + '\n')
    })
    socket.pipe(stream).pipe(socket)
  })
  await new Promise(resolve => server.listen(0, '127.0.0.1', resolve))
  process.stdout.write(JSON.stringify({ event: 'listening', port: server.address().port, key: d.drive.key.toString('hex') }) + '\n')
  await new Promise(resolve => {
    process.stdin.on('end', resolve)
    process.stdin.on('close', resolve)
    process.stdin.resume()
  })
  server.close()
  await closeDrives(d)
  return { event: 'closed' }
})
