#!/usr/bin/env node
'use strict'
// Reference server process: `node server.js --config <file.json>`.
// Listens on 127.0.0.1 (config server.host) and on env PORT if set, else
// config server.port. SIGTERM/SIGINT: tear down and exit 0.

const fs = require('node:fs')
const path = require('node:path')
const { createApp } = require('./app')

const SHUTDOWN_GRACE_MS = 2000

function parseArgs(argv) {
  const args = { config: process.env.REFERENCE_CONFIG }
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--config') {
      args.config = argv[++i]
    } else if (argv[i].startsWith('--config=')) {
      args.config = argv[i].slice('--config='.length)
    } else {
      throw new Error(`unknown argument '${argv[i]}'`)
    }
  }
  if (!args.config) {
    throw new Error('usage: node server.js --config <file.json> (or REFERENCE_CONFIG=<file.json>)')
  }
  return args
}

async function main() {
  const args = parseArgs(process.argv.slice(2))
  const config = JSON.parse(fs.readFileSync(path.resolve(args.config), 'utf8'))
  const host = (config.server && config.server.host) || '127.0.0.1'
  const port = Number(process.env.PORT || (config.server && config.server.port) || 3030)

  const app = createApp(config)
  const server = await app.listen(port, host)
  console.log(`reference server listening on http://${host}:${server.address().port}`)

  let stopping = false
  const stop = (signal) => {
    if (stopping) return
    stopping = true
    console.log(`reference server: ${signal}, shutting down`)
    // Never let a stuck keep-alive connection hold the process open.
    setTimeout(() => process.exit(0), SHUTDOWN_GRACE_MS).unref()
    server.closeIdleConnections()
    app.teardown().then(
      () => process.exit(0),
      (error) => {
        console.error('reference server: teardown failed', error)
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
