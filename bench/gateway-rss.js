#!/usr/bin/env node
'use strict'
// Gateway mode, first look: the Node app's memory with N Primus clients connected to it
// directly, and with the same N clients connected to Roost in gateway mode in front of it
// (the feathers-roost plugin, docs/gateway.md). Every client joins a room through the app's
// own `messages.join`, then one message is created in that room and must reach every
// client. Prints the app's RSS (VmRSS from /proc) before and after, and the room event's
// delivery spread, for both setups; and the app's RSS again after SETTLE_MS (35 s) idle.
//
//   node bench/gateway-rss.js [clients=2000]
//   ROOST_BIN=target/release/roost node bench/gateway-rss.js 10000
//
// The release-build comparison with call and event p99 is bench/gateway.sh (roost-bench).
// Needs interop/node_modules and bench/reference/node_modules (interop/run.sh installs
// both) and a roost binary (default target/debug/roost). Figures go to BENCHMARKS.md by
// hand; nothing here asserts anything.

const { spawn } = require('node:child_process')
const fs = require('node:fs')
const net = require('node:net')
const path = require('node:path')
const { createRequire } = require('node:module')

const root = path.resolve(__dirname, '..')
const interopRequire = createRequire(path.join(root, 'interop', 'package.json'))
const PrimusClient = interopRequire('primus-client')

const CLIENTS = Number(process.argv[2] || 2000)
const BATCH = 200
const SETTLE_MS = Number(process.env.SETTLE_MS || 35000)
const SECRET = 'bench-gateway-secret-0123456789'
const ROOST_BIN = path.resolve(root, process.env.ROOST_BIN || 'target/debug/roost')

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
  })
}

async function healthy(url) {
  for (let i = 0; i < 300; i++) {
    try {
      const res = await fetch(`${url}/healthz`)
      if (res.ok) return
    } catch {}
    await sleep(100)
  }
  throw new Error(`${url} did not come up`)
}

function start(file, args, env) {
  const child = spawn(file, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] })
  process.on('exit', () => child.kill('SIGKILL'))
  return child
}

function rssKiB(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
  return Number(status.match(/^VmRSS:\s+(\d+) kB$/m)[1])
}

function cpuSeconds(pid) {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100 // utime + stime, in clock ticks of 10 ms
}

/** Connects `CLIENTS` sockets to `url`, each joining room `bench` with one call; resolves the sockets. */
async function connectAll(url) {
  const sockets = []
  for (let i = 0; i < CLIENTS; i += BATCH) {
    const batch = []
    for (let j = i; j < Math.min(CLIENTS, i + BATCH); j++) {
      const socket = new PrimusClient(url, { reconnect: { retries: 0 } })
      sockets.push(socket)
      batch.push(
        new Promise((resolve, reject) => {
          socket.once('open', () => socket.send('join', 'messages', { roomId: 'bench' }, {}, (error) => (error ? reject(new Error(JSON.stringify(error))) : resolve())))
          socket.once('end', () => reject(new Error('socket ended')))
        })
      )
    }
    await Promise.all(batch)
  }
  return sockets
}

/** Creates one message in room `bench` and resolves the ms until every socket had it. */
async function roomEvent(url, sockets) {
  let got = 0
  const done = new Promise((resolve) => {
    for (const socket of sockets) {
      socket.on('messages created', () => {
        if (++got === sockets.length) resolve()
      })
    }
  })
  const started = Date.now()
  await fetch(`${url}/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: 'bench', roomId: 'bench' }) })
  await Promise.race([done, sleep(60000)])
  return { ms: Date.now() - started, got }
}

async function measure(name, { gateway }) {
  const appPort = await freePort()
  const appUrl = `http://127.0.0.1:${appPort}`
  const env = {}
  let roost
  let roostUrl
  if (gateway) {
    const roostPort = await freePort()
    roostUrl = `http://127.0.0.1:${roostPort}`
    env.ROOST_GATEWAY_URL = roostUrl
    env.ROOST_GATEWAY_SECRET = SECRET
    roost = start(ROOST_BIN, ['serve', '--config', path.join(root, 'interop', 'config', 'gateway.toml')], {
      ROOST_SERVER__PORT: String(roostPort),
      ROOST_SERVER__DATA_DIR: fs.mkdtempSync('/tmp/roost-gateway-bench-'),
      ROOST_GATEWAY__UPSTREAM: appUrl,
      ROOST_GATEWAY__MODE: 'plugin',
      ROOST_GATEWAY__SECRET: SECRET,
      ROOST_LOG__LEVEL: 'warn'
    })
  }
  const app = start(process.execPath, [path.join(root, 'bench', 'reference', 'chat.js'), '--port', String(appPort)], env)
  await healthy(appUrl)
  if (gateway) await healthy(roostUrl)
  await sleep(500)
  const before = rssKiB(app.pid)
  const cpuBefore = cpuSeconds(app.pid)
  const url = gateway ? roostUrl : appUrl
  const sockets = await connectAll(url)
  await sleep(2000)
  const after = rssKiB(app.pid)
  const event = await roomEvent(url, sockets)
  const cpu = cpuSeconds(app.pid) - cpuBefore
  // Roost's pooled connections to the app close after 30 s idle; so do the app's buffers.
  await sleep(SETTLE_MS)
  const settled = rssKiB(app.pid)
  const roostRss = roost ? rssKiB(roost.pid) : null
  for (const socket of sockets) socket.end()
  app.kill('SIGKILL')
  if (roost) roost.kill('SIGKILL')
  const row = {
    setup: name,
    clients: CLIENTS,
    appRssBeforeMiB: +(before / 1024).toFixed(1),
    appRssAfterMiB: +(after / 1024).toFixed(1),
    appKiBPerClient: +((after - before) / CLIENTS).toFixed(2),
    appRssSettledMiB: +(settled / 1024).toFixed(1),
    appSettledKiBPerClient: +((settled - before) / CLIENTS).toFixed(2),
    appCpuSeconds: +cpu.toFixed(2),
    roomEventAllMs: event.ms,
    received: event.got,
    roostRssMiB: roostRss && +(roostRss / 1024).toFixed(1)
  }
  console.log(JSON.stringify(row))
  await sleep(500)
  return row
}

async function main() {
  const rows = [await measure('direct', { gateway: false }), await measure('gateway (plugin)', { gateway: true })]
  console.log('\n| setup | clients | app RSS before → after (MiB) | app KiB per client | … 35 s later (MiB, KiB per client) | app CPU s (connect + join + 1 event) | one room event at every client (ms) | Roost RSS (MiB) |')
  console.log('|---|---|---|---|---|---|---|---|')
  for (const r of rows) {
    console.log(
      `| ${r.setup} | ${r.clients} | ${r.appRssBeforeMiB} → ${r.appRssAfterMiB} | ${r.appKiBPerClient} | ${r.appRssSettledMiB}, ${r.appSettledKiBPerClient} | ${r.appCpuSeconds} | ${r.roomEventAllMs} (${r.received} received) | ${r.roostRssMiB ?? '–'} |`
    )
  }
  process.exit(0)
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
