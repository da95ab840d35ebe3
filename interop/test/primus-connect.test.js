'use strict'
// Primus connections: the Primus HTTP endpoints, the WebSocket handshake with
// both client libraries (prebuilt primus-client 7.3.4 as iR Engine ships it,
// and primus 8.0.9's Primus.createSocket), the heartbeat, robustness against
// garbage frames, and reconnects after a server restart.
//
// The server runs with --ping-interval-ms 300 so several heartbeats pass
// quickly; the assertions count pings/pongs and check their frames, never
// timings.

const assert = require('node:assert')
const WebSocket = require('ws')

const { startRealtimeServer, serverKind } = require('../lib/server')
const { CLIENTS, irEngineUrl, realtimeClientApp } = require('../lib/primus-feathers')
const { nextEvent, until, recordSocket, endSocket, within } = require('../lib/wait')

const PING_INTERVAL_MS = 300
const WAIT_MS = 8000

describe(`Primus connections against the ${serverKind()} server`, function () {
  let server
  const sockets = []

  before(async function () {
    this.timeout(30000)
    server = await startRealtimeServer({ pingIntervalMs: PING_INTERVAL_MS })
  })

  afterEach(function () {
    while (sockets.length) endSocket(sockets.pop())
  })

  after(async function () {
    this.timeout(15000)
    if (server) await server.stop()
  })

  describe('plain HTTP on /primus', function () {
    it('GET /primus without an upgrade → 426 Upgrade Required (text/plain)', async function () {
      const res = await fetch(`${server.url}/primus`, { signal: AbortSignal.timeout(5000) })
      assert.strictEqual(res.status, 426)
      assert.strictEqual(res.headers.get('content-type'), 'text/plain')
      assert.strictEqual(await res.text(), 'Upgrade Required')
    })

    it('GET /primus/spec → the Primus spec JSON with the configured pingInterval', async function () {
      const res = await fetch(`${server.url}/primus/spec`, { signal: AbortSignal.timeout(5000) })
      assert.strictEqual(res.status, 200)
      assert.match(res.headers.get('content-type'), /^application\/json/)
      assert.deepStrictEqual(await res.json(), {
        pingInterval: PING_INTERVAL_MS,
        pathname: '/primus',
        version: '8.0.9',
        parser: 'json',
        transformer: 'websockets'
      })
    })
  })

  for (const [clientName, connect] of Object.entries(CLIENTS)) {
    describe(`with ${clientName}`, function () {
      function open(query) {
        const primus = connect(irEngineUrl(server.url, query))
        sockets.push(primus)
        const record = recordSocket(primus)
        return { primus, record }
      }

      it('connects to /primus with ?pathName=…&peerID=… and gets a spark id', async function () {
        const { primus, record } = open({ pathName: '/location/abc', peerID: 'peer-A' })
        await nextEvent(primus, 'open', WAIT_MS)
        const id = await within(new Promise((resolve) => primus.id(resolve)), WAIT_MS, 'the spark id')
        assert.match(id, /^[A-Za-z0-9_-]{21}$/, `spark id ${id}`)
        // The spark id answer is a protocol string frame: "primus::id::<id>".
        assert.ok(record.frames.includes(`primus::id::${id}`), JSON.stringify(record.frames))
      })

      it('stays connected through 3 heartbeats: "primus::ping::<ms>" answered with the same "primus::pong::<ms>"', async function () {
        const { primus, record } = open()
        await nextEvent(primus, 'open', WAIT_MS)
        await until(() => record.pongs.length >= 3, WAIT_MS, '3 pings answered with pongs')

        assert.deepStrictEqual(record.events, ['open'], 'no close/reconnect while heartbeats pass')
        const pingFrames = record.frames.filter((f) => typeof f === 'string' && f.startsWith('primus::ping::'))
        assert.ok(pingFrames.length >= 3, JSON.stringify(record.frames))
        for (const frame of pingFrames) assert.match(frame, /^primus::ping::\d+$/)
        const pongFrames = record.sent.filter((f) => typeof f === 'string' && f.startsWith('primus::pong::'))
        // Each pong echoes its ping's timestamp.
        assert.deepStrictEqual(
          pongFrames.slice(0, 3),
          pingFrames.slice(0, 3).map((f) => f.replace('ping', 'pong'))
        )
        assert.deepStrictEqual(record.pongs.slice(0, 3).map(String), record.pings.slice(0, 3).map(String))

        // Still usable after the heartbeats.
        const app = realtimeClientApp(primus)
        assert.ok(Array.isArray(await within(app.service('messages').find(), WAIT_MS, 'find')))
      })

      it('reconnects by itself after the server restarts, with a new spark, and calls work again', async function () {
        this.timeout(40000)
        const { primus, record } = open()
        const app = realtimeClientApp(primus)
        await nextEvent(primus, 'open', WAIT_MS)
        const before = await within(new Promise((resolve) => primus.id(resolve)), WAIT_MS, 'the spark id')
        await within(app.service('messages').find(), WAIT_MS, 'find before the restart')

        const reconnected = nextEvent(primus, 'reconnected', 30000)
        await server.restart()
        await reconnected
        await until(() => record.events.filter((e) => e === 'open').length >= 2, WAIT_MS, "'open' again")

        // The socket was lost, not ended by the server on purpose: no
        // "primus::server::close" frame, and the client never emitted 'end'.
        assert.ok(!record.frames.includes('primus::server::close'), JSON.stringify(record.frames))
        assert.ok(!record.events.includes('end'), record.events.join(', '))
        const order = record.events.filter((e) => ['close', 'reconnect scheduled', 'reconnected', 'open'].includes(e))
        assert.deepStrictEqual(order.slice(0, 2), ['open', 'close'])
        assert.ok(order.indexOf('reconnect scheduled') > order.indexOf('close'), order.join(', '))
        assert.strictEqual(order.slice(-2).join(', '), 'reconnected, open')

        const after = await within(new Promise((resolve) => primus.id(resolve)), WAIT_MS, 'the new spark id')
        assert.notStrictEqual(after, before, 'a reconnect is a new spark')
        const created = await within(app.service('messages').create({ text: 'after restart' }), WAIT_MS, 'create')
        assert.strictEqual(created.text, 'after restart')
      })
    })
  }

  describe('raw WebSocket', function () {
    /** A raw `ws` connection to /primus; `frames` collects text frames as sent. */
    function rawSocket(path = '/primus') {
      const ws = new WebSocket(`ws://127.0.0.1:${server.port}${path}`)
      const frames = []
      ws.on('message', (data, isBinary) => frames.push(isBinary ? data : data.toString()))
      const closed = new Promise((resolve) => ws.once('close', (code) => resolve(code)))
      const opened = new Promise((resolve, reject) => {
        ws.once('open', resolve)
        ws.once('error', reject)
      })
      return { ws, frames, closed, opened }
    }

    it('the upgrade answers 101 without permessage-deflate or a subprotocol', async function () {
      const { ws, opened } = rawSocket('/primus?pathName=%2Flocation%2Ftest&peerID=A')
      const upgrade = new Promise((resolve) => ws.once('upgrade', resolve))
      try {
        const res = await within(upgrade, WAIT_MS, 'the 101')
        await within(opened, WAIT_MS, 'open')
        assert.strictEqual(res.statusCode, 101)
        assert.strictEqual(res.headers['sec-websocket-extensions'], undefined)
        assert.strictEqual(res.headers['sec-websocket-protocol'], undefined)
      } finally {
        ws.terminate()
      }
    })

    it('frames that are not JSON, not emitter packets or binary are ignored; the connection stays usable', async function () {
      const { ws, frames, opened } = rawSocket()
      try {
        await within(opened, WAIT_MS, 'open')
        ws.send('not json')
        ws.send(Buffer.from([1, 2, 3]), { binary: true })
        ws.send('"hello"')
        ws.send('"primus::foo::bar"')
        ws.send(JSON.stringify({ type: 0, data: 'find' }))
        const query = { text: 'no message has this text' }
        ws.send(JSON.stringify({ type: 0, data: ['find', 'messages', query], id: '5' })) // string id: dropped
        ws.send(JSON.stringify({ type: 0, data: ['find', 'messages', query], id: 7 }))
        const isAck = (f) => typeof f === 'string' && f.startsWith('{"id"')
        await until(() => frames.find(isAck), WAIT_MS, 'the ack of id 7')
        const acks = frames.filter(isAck).map((f) => JSON.parse(f))
        assert.deepStrictEqual(acks, [{ id: 7, type: 1, data: [null, []] }])
        assert.strictEqual(ws.readyState, WebSocket.OPEN)
      } finally {
        ws.terminate()
      }
    })

    it('a client that never answers pings is closed without "primus::server::close" (close code 1005)', async function () {
      const { ws, frames, closed, opened } = rawSocket()
      try {
        await within(opened, WAIT_MS, 'open')
        const code = await within(closed, WAIT_MS, 'the server to drop the silent client')
        assert.strictEqual(code, 1005)
        assert.ok(frames.length >= 1, 'at least one ping before the drop')
        for (const frame of frames) assert.match(frame, /^"primus::ping::\d+"$/)
      } finally {
        ws.terminate()
      }
    })

    it('WebSocket ping control frames alone keep a client alive', async function () {
      const { ws, frames, opened } = rawSocket()
      const onPing = () => ws.ping()
      try {
        await within(opened, WAIT_MS, 'open')
        // Answer each Primus ping with a WS ping control frame, not a pong message.
        ws.on('message', onPing)
        await until(() => frames.length >= 4, WAIT_MS, '4 Primus pings')
        assert.strictEqual(ws.readyState, WebSocket.OPEN)
      } finally {
        ws.terminate()
      }
    })
  })
})
