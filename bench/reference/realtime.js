#!/usr/bin/env node
'use strict'
// The real-time reference server process (interop/REALTIME-APP.md):
//
//   node realtime.js --port <port> [--ping-interval-ms <ms>] [--host <host>]
//
// Host 127.0.0.1 by default, pingInterval 10000 ms by default. GET /healthz → 200.
// SIGTERM/SIGINT: every Primus connection is ended the way a dying process
// ends it (no `primus::server::close`, so clients reconnect), then the app is
// torn down and the process exits 0.

const { createRealtimeApp } = require('./realtime-app')

const SHUTDOWN_GRACE_MS = 2000

function usage(message) {
  return new Error(`${message}\nusage: node realtime.js --port <port> [--ping-interval-ms <ms>] [--host <host>]`)
}

function parseArgs(argv) {
  const args = { host: '127.0.0.1', port: undefined, pingInterval: 10000 }
  for (let i = 0; i < argv.length; i++) {
    let [flag, value] = argv[i].split(/=(.*)/s)
    if (value === undefined) value = argv[++i]
    if (value === undefined) throw usage(`missing value for ${flag}`)
    switch (flag) {
      case '--port':
        args.port = Number(value)
        break
      case '--ping-interval-ms':
        args.pingInterval = Number(value)
        break
      case '--host':
        args.host = value
        break
      default:
        throw usage(`unknown argument '${flag}'`)
    }
  }
  if (!Number.isInteger(args.port) || args.port < 0 || args.port > 65535) throw usage('--port must be a port number')
  if (!Number.isInteger(args.pingInterval) || args.pingInterval <= 0) {
    throw usage('--ping-interval-ms must be a positive integer')
  }
  return args
}

async function main() {
  const args = parseArgs(process.argv.slice(2))
  const app = createRealtimeApp({ pingInterval: args.pingInterval })
  const server = await app.listen(args.port, args.host)
  console.log(
    `reference realtime server listening on http://${args.host}:${server.address().port} (pingInterval ${args.pingInterval} ms)`
  )

  let stopping = false
  const stop = (signal) => {
    if (stopping) return
    stopping = true
    console.log(`reference realtime server: ${signal}, shutting down`)
    setTimeout(() => process.exit(0), SHUTDOWN_GRACE_MS).unref()
    // Close each socket without `primus::server::close` (reconnect: true), as
    // when the process dies: clients reconnect to whatever listens next.
    app.primus.forEach((spark) => spark.end(undefined, { reconnect: true }))
    server.closeIdleConnections()
    app.teardown().then(
      () => process.exit(0),
      (error) => {
        console.error('reference realtime server: teardown failed', error)
        process.exit(0)
      }
    )
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
}

main().catch((error) => {
  console.error(error && error.stack ? error.stack : error)
  process.exit(1)
})
