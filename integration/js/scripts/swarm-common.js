'use strict'
// Helpers of the swarm-*.js scripts: one JSON line per event on stdout,
// buffers as hex; a list flag split on commas; a watchdog so a script
// never outlives a test run.

function emit (event, fields) {
  process.stdout.write(JSON.stringify(Object.assign({ event }, plain(fields || {}))) + '\n')
}

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

function list (s) {
  return s ? String(s).split(',').filter(Boolean) : []
}

function hostPorts (peers) {
  return (peers || []).map(p => p.host + ':' + p.port)
}

// watchdog exits with status 2 after ms (default 60 s); the timer does not
// keep the process alive.
function watchdog (ms) {
  setTimeout(() => {
    emit('timeout')
    process.exit(2)
  }, ms || 60000).unref()
}

// lines calls fn with every line read from stdin; onend when it closes.
function lines (fn, onend) {
  let buf = ''
  process.stdin.setEncoding('utf8')
  process.stdin.on('data', d => {
    buf += d
    let i
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i).trim()
      buf = buf.slice(i + 1)
      if (line) fn(line)
    }
  })
  process.stdin.on('end', () => onend && onend())
}

module.exports = { emit, plain, list, hostPorts, watchdog, lines }
