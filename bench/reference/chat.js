#!/usr/bin/env node
'use strict'
// The reference chat server process (interop/CHAT-APP.md), the Node twin of `roost serve`:
//
//   node chat.js --port <port> [--host 127.0.0.1] [--ping-interval-ms 10000] [--expires-in 1d]
//                [--publish-rules default|reference] [--secret <s>] [--seed <file.json | inline JSON>]
//
// `--seed`: a JSON array of users `{email, password, roles, permissions}`,
// created at start when their email does not exist. `--expires-in`: the JWT
// lifetime in jsonwebtoken syntax ('2s', '1d'; digits alone = seconds).
// Environment: ROOST_GATEWAY_URL/ROOST_GATEWAY_SECRET put the app behind Roost (the
// feathers-roost plugin); FEATHERS_SYNC_URL (and FEATHERS_SYNC_KEY) share its events with other
// processes over Redis (feathers-sync); CHAT_HTTP=express builds it on @feathersjs/express
// (REST + Socket.IO, no Primus) instead of Koa. docs/gateway.md.
// GET /healthz → 200. SIGTERM/SIGINT: every Primus connection is ended the way a
// dying process ends it (no `primus::server::close`), teardown, exit 0.

const fs = require('node:fs')
const { createChatApp, seedUsers } = require('./chat-app')

const SHUTDOWN_GRACE_MS = 2000
const DEFAULT_SECRET = 'roost-chat-reference-secret-change-me'
const USAGE =
  'usage: node chat.js --port <port> [--host <host>] [--ping-interval-ms <ms>] [--expires-in <1d|2s|seconds>]\n' +
  '                    [--publish-rules default|reference] [--secret <secret>] [--seed <file.json|json>]'

function usage(message) {
  return new Error(`${message}\n${USAGE}`)
}

/** `--seed` value: inline JSON (starts with `[`) or a path to a JSON file. */
function readSeed(value) {
  const text = value.trimStart().startsWith('[') ? value : fs.readFileSync(value, 'utf8')
  const seed = JSON.parse(text)
  if (!Array.isArray(seed)) throw usage('--seed must be a JSON array of users')
  return seed
}

function parseArgs(argv) {
  const args = {
    host: '127.0.0.1',
    port: undefined,
    pingInterval: 10000,
    expiresIn: '1d',
    publishRules: 'default',
    secret: process.env.CHAT_SECRET || DEFAULT_SECRET,
    seed: []
  }
  for (let i = 0; i < argv.length; i++) {
    let [flag, value] = argv[i].split(/=(.*)/s)
    if (value === undefined) value = argv[++i]
    if (value === undefined) throw usage(`missing value for ${flag}`)
    switch (flag) {
      case '--port':
        args.port = Number(value)
        break
      case '--host':
        args.host = value
        break
      case '--ping-interval-ms':
        args.pingInterval = Number(value)
        break
      case '--expires-in':
        args.expiresIn = /^\d+$/.test(value) ? Number(value) : value
        break
      case '--publish-rules':
        args.publishRules = value
        break
      case '--secret':
        args.secret = value
        break
      case '--seed':
        args.seed = readSeed(value)
        break
      default:
        throw usage(`unknown argument '${flag}'`)
    }
  }
  if (!Number.isInteger(args.port) || args.port < 0 || args.port > 65535) throw usage('--port must be a port number')
  if (!Number.isInteger(args.pingInterval) || args.pingInterval <= 0) {
    throw usage('--ping-interval-ms must be a positive integer')
  }
  if (!['default', 'reference'].includes(args.publishRules)) {
    throw usage('--publish-rules must be default or reference')
  }
  return args
}

async function main() {
  const args = parseArgs(process.argv.slice(2))
  const app = createChatApp(args)
  // Seed before listening, so /healthz answers only once the seed users exist.
  await seedUsers(app, args.seed)
  const server = await app.listen(args.port, args.host)
  if (!server.listening) await new Promise((resolve) => server.once('listening', resolve))
  console.log(
    `reference chat server listening on http://${args.host}:${server.address().port} ` +
      `(publish rules ${args.publishRules}, expiresIn ${args.expiresIn}, pingInterval ${args.pingInterval} ms, ` +
      `${args.seed.length} seed users)`
  )

  let stopping = false
  const stop = (signal) => {
    if (stopping) return
    stopping = true
    console.log(`reference chat server: ${signal}, shutting down`)
    setTimeout(() => process.exit(0), SHUTDOWN_GRACE_MS).unref()
    if (app.primus) app.primus.forEach((spark) => spark.end(undefined, { reconnect: true }))
    server.closeIdleConnections()
    app.teardown().then(
      () => process.exit(0),
      (error) => {
        console.error('reference chat server: teardown failed', error)
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
