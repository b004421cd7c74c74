'use strict'
// jsref-selftest.js <mode> [args...]: a trivial script for the tests of the
// Go package integration/jsref. Modes:
//   echo args...   prints {"args": [...]}
//   fail message   writes message to stderr and exits with status 3
//   serve          prints {"ready": true}, then {"line": s} for every line s
//                  read from stdin, and {"bye": n} when stdin ends (n lines)
//   hang           prints {"ready": true} and runs until killed

const readline = require('readline')

const [mode, ...args] = process.argv.slice(2)
const out = v => process.stdout.write(JSON.stringify(v) + '\n')

switch (mode) {
  case 'echo':
    out({ args })
    break
  case 'fail':
    process.stderr.write(args.join(' ') + '\n')
    process.exitCode = 3
    break
  case 'serve': {
    out({ ready: true })
    let n = 0
    const rl = readline.createInterface({ input: process.stdin })
    rl.on('line', line => { n++; out({ line }) })
    rl.on('close', () => out({ bye: n }))
    break
  }
  case 'hang':
    out({ ready: true })
    setInterval(() => {}, 1 << 30)
    break
  default:
    process.stderr.write('usage: jsref-selftest.js echo|fail|serve|hang [args...]\n')
    process.exitCode = 2
}
