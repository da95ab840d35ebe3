#!/usr/bin/env node
'use strict'
// The official clients across a drain: a Feathers client over `primus` 8.0.9 (emitter plugin)
// and one over `socket.io-client` 4.8.4 + `@feathersjs/socketio-client` reach node A through a
// small TCP balancer. SIGTERM to A: A's /readyz turns 503 (server.drain_delay_ms keeps it
// listening meanwhile), the balancer sends new connections to node B, A closes every socket
// after acknowledging the calls in flight and exits 0, and both clients reconnect by
// themselves — to B — and their next calls succeed there.
//
//   ROOST_BIN=target/debug/roost node interop/ops/drain-reconnect.js
const assert = require('node:assert/strict')
const net = require('node:net')
const path = require('node:path')
const feathers = require('@feathersjs/feathers')
const socketioClient = require('@feathersjs/socketio-client')
const { io } = require('socket.io-client')
const { primusFeathers, connectPrimusNode } = require('../lib/primus-feathers')
const { startRoost } = require(path.join(__dirname, '../browser/roost'))

/** A TCP balancer that sends each new connection to `target.port`. */
function balancer(target) {
  const sockets = new Set()
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, '127.0.0.1')
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('error', () => {})
      s.on('close', () => {
        sockets.delete(s)
        client.destroy()
        upstream.destroy()
      })
    }
    client.pipe(upstream)
    upstream.pipe(client)
  })
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        url: `http://127.0.0.1:${server.address().port}`,
        close: () => {
          for (const s of sockets) s.destroy()
          server.close()
        }
      })
    )
  )
}

const portOf = (url) => Number(new URL(url).port)
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
async function until(what, fn, ms = 20000) {
  const end = Date.now() + ms
  for (;;) {
    const v = await fn()
    if (v) return v
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(50)
  }
}

async function main() {
  const a = await startRoost({ env: { ROOST_SERVER__DRAIN_DELAY_MS: '1500' } })
  const b = await startRoost()
  const target = { port: portOf(a.url) }
  const lb = await balancer(target)
  const seen = { primusReconnected: 0, sioReconnected: 0, primusServerClose: false }

  const primus = connectPrimusNode(lb.url, { reconnect: { min: 100, max: 500, retries: 50 } })
  primus.on('reconnected', () => seen.primusReconnected++)
  primus.on('data', (d) => {
    if (d === 'primus::server::close') seen.primusServerClose = true
  })
  const viaPrimus = feathers().configure(primusFeathers(primus))
  const socket = io(lb.url, { transports: ['websocket'], reconnectionDelay: 100, reconnectionDelayMax: 500 })
  socket.io.on('reconnect', () => seen.sioReconnected++)
  const viaSocketio = feathers().configure(socketioClient(socket))

  try {
    const first = await viaPrimus.service('messages').create({ text: 'primus before' })
    const second = await viaSocketio.service('messages').create({ text: 'socket.io before' })
    assert.deepEqual([first.id, second.id], [1, 2], 'both on node A')

    a.child.kill('SIGTERM')
    const exited = new Promise((resolve) => a.child.once('exit', (code) => resolve(code)))
    // The balancer's health check: A's /readyz turns 503 while A still listens.
    const status = await until('A /readyz 503', async () => {
      try {
        return (await fetch(`${a.url}/readyz`)).status === 503 && 503
      } catch {
        return false
      }
    })
    assert.equal(status, 503)
    target.port = portOf(b.url)

    await until('both clients reconnected', () => seen.primusReconnected > 0 && seen.sioReconnected > 0)
    assert.equal(await exited, 0, 'node A exits 0')
    assert.equal(seen.primusServerClose, false, 'no primus::server::close during a drain')
    const third = await viaPrimus.service('messages').create({ text: 'primus after' })
    const fourth = await viaSocketio.service('messages').create({ text: 'socket.io after' })
    assert.deepEqual([third.id, fourth.id], [1, 2], 'both on node B now')
    console.log('drain: primus 8.0.9 and socket.io-client 4.8.4 reconnected to the second node: ok')
  } finally {
    primus.end()
    socket.close()
    lb.close()
    await b.stop()
    await a.stop()
  }
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
