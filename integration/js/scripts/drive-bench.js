'use strict'
// drive-bench.js <dir> <case> [--ops N]
//
// The JavaScript side of bench/drivebench: runs one case per invocation on
// the default hyperdrive 10 of the corestore at <dir> and prints
// {case, seconds, ops, bytes}. Only the operation is timed: opening, the
// setup of read-big and closing are not.
//
// Cases (stat-all and list-all open the drive put-files wrote in <dir>):
//   put-files   writeFile of N files (default 10,000) /dDD/fNNNNN, 100
//               bytes each (DD = i % 100), awaiting each
//   stat-all    stat of each of those N paths, awaiting each
//   list-all    readdir('/', {recursive: true}): every path
//   read-big    writes a file of N MiB (default 256; lib/drive.js bigFile
//               content, untimed), reopens, then times readFile of it
//   cold-lookup --key K --port P --path F: a fresh in-memory corestore
//               opens drive K sparse, connects to 127.0.0.1:P (a
//               drive-serve.js) and replicates; times everything from
//               connecting to the stat of F; bytes = metadata blocks
//               fetched (<dir> is not used)
// --ops N replaces the file count (MiB for read-big).

const { parseArgs, uint, usage, main } = require('./lib/common')
const { call, bigFile } = require('./lib/drive')
const Corestore = require('corestore')
const hyperdrive = require('hyperdrive')

const DEFAULTS = { 'put-files': 10000, 'stat-all': 10000, 'list-all': 10000, 'read-big': 256, 'cold-lookup': 1 }

function filePath (i) {
  return '/d' + String(i % 100).padStart(2, '0') + '/f' + String(i).padStart(5, '0')
}

function fileContent (i) {
  const b = Buffer.alloc(100)
  b.write('file ' + i)
  return b
}

async function open (dir) {
  const store = new Corestore(dir)
  await call(cb => store.ready(cb))
  const drive = hyperdrive(store)
  drive.on('error', () => {})
  await call(cb => drive.ready(cb))
  return { store, drive }
}

async function close ({ store, drive }) {
  await call(cb => drive.close(cb))
  await call(cb => store.close(cb))
}

async function coldLookup (res, flags) {
  const net = require('net')
  const ram = require('random-access-memory')
  const t0 = process.hrtime.bigint()
  const store = new Corestore(ram)
  await call(cb => store.ready(cb))
  const drive = hyperdrive(store, Buffer.from(flags.key, 'hex'), { sparse: true, sparseMetadata: true })
  drive.on('error', () => {})
  const socket = net.connect(Number(flags.port), '127.0.0.1')
  socket.on('error', () => {})
  const stream = drive.replicate(true, { live: true })
  stream.on('error', () => {})
  socket.pipe(stream).pipe(socket)
  await call(cb => drive.ready(cb))
  const st = await call(cb => drive.stat(flags.path, cb))
  res.seconds = Number(process.hrtime.bigint() - t0) / 1e9
  res.ops = 1
  res.bytes = drive.metadata.downloaded(0, drive.metadata.length)
  if (!st.isFile()) throw new Error(flags.path + ' is not a file')
  stream.destroy()
  socket.destroy()
  await call(cb => drive.close(cb))
  return res
}

main(async (argv) => {
  const { pos, flags } = parseArgs(argv, ['ops', 'key', 'port', 'path'])
  if (pos.length !== 2 || !(pos[1] in DEFAULTS)) throw usage('drive-bench.js <dir> <' + Object.keys(DEFAULTS).join('|') + '> [--ops N]')
  const [dir, name] = pos
  const n = flags.ops === undefined ? DEFAULTS[name] : uint(flags.ops, '--ops')
  const res = { case: name, seconds: 0, ops: 0, bytes: 0 }
  if (name === 'cold-lookup') return coldLookup(res, flags)
  let d = await open(dir)
  const t0 = process.hrtime.bigint()
  const elapsed = () => Number(process.hrtime.bigint() - t0) / 1e9
  switch (name) {
    case 'put-files':
      for (let i = 0; i < n; i++) await call(cb => d.drive.writeFile(filePath(i), fileContent(i), cb))
      res.seconds = elapsed()
      res.ops = n
      res.bytes = n * 100
      break
    case 'stat-all':
      for (let i = 0; i < n; i++) {
        const st = await call(cb => d.drive.stat(filePath(i), cb))
        res.bytes += st.size
      }
      res.seconds = elapsed()
      res.ops = n
      break
    case 'list-all': {
      const names = await call(cb => d.drive.readdir('/', { recursive: true }, cb))
      res.seconds = elapsed()
      res.ops = names.length
      break
    }
    case 'read-big': {
      await call(cb => d.drive.writeFile('/big.bin', bigFile(n << 20), cb))
      await close(d)
      d = await open(dir)
      const t1 = process.hrtime.bigint()
      const data = await call(cb => d.drive.readFile('/big.bin', cb))
      res.seconds = Number(process.hrtime.bigint() - t1) / 1e9
      res.ops = 1
      res.bytes = data.length
      break
    }
  }
  await close(d)
  return res
})
