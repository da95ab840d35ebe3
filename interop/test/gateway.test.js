'use strict'
// Roost in gateway mode (docs/gateway.md) in front of the reference chat app
// (bench/reference/chat.js), driven only through Roost by the official clients
// (primus-client 7.3.4 + @feathersjs/authentication-client, @feathersjs/rest-client).
//
//   zero-SDK ('gateway-rest'): the app unchanged; each call becomes a REST request upstream.
//   plugin ('gateway'): the app runs feathers-roost (one configure line, ROOST_GATEWAY_URL).
//
// The whole chat suite also runs through the plugin gateway:
//   INTEROP_SERVER=gateway interop/run.sh test/chat.test.js
//
// Whatever INTEROP_SERVER says (except 'reference', which skips it), this file starts Roost
// (ROOST_BIN) and the reference. GATEWAY_CLIENTS sets the sockets of the outage test
// (default 1000).

const assert = require('node:assert')

const { startChatServer, serverKind } = require('../lib/server')
const { ALICE, BOB, local, primusChatClient, restChatClient } = require('../lib/chat-client')
const { connectPrimusClient } = require('../lib/primus-feathers')
const { within, until, recordSocket, nextEvent, endSocket } = require('../lib/wait')

const WAIT_MS = 10000
const CLIENTS = Number(process.env.GATEWAY_CLIENTS || 1000)
// Gateway mode is Roost's: a run against the reference alone skips it.
const describeGateway = serverKind() === 'reference' ? describe.skip : describe

/** Names of the `messages created` events with `text` among `frames`. */
const createdWith = (frames, text) =>
  frames.filter((f) => f && f.type === 0 && Array.isArray(f.data) && f.data[0] === 'messages created' && f.data[1] && f.data[1].text === text)

async function rejects(promise, name, message) {
  const error = await within(promise.then(() => null, (e) => e), WAIT_MS, `a ${name} error`)
  assert.ok(error, `expected ${name}, the call succeeded`)
  assert.strictEqual(error.name, name, `${error.name}: ${error.message}`)
  if (message !== undefined) assert.strictEqual(error.message, message)
  return error
}

describeGateway('gateway, zero-SDK (rest mode): the reference chat app unchanged behind Roost', function () {
  this.timeout(60000)
  let server
  const clients = []
  before(async function () {
    server = await startChatServer({ kind: 'gateway-rest' })
  })
  after(async function () {
    for (const c of clients) c.end()
    if (server) await server.stop()
  })
  const primus = async () => {
    const c = await primusChatClient(server.url)
    clients.push(c)
    return c
  }

  it('REST through Roost: create and find with a typed query, the app\'s errors unchanged', async function () {
    const rest = restChatClient(server.url)
    const created = await rest.app.service('messages').create({ text: 'via rest', roomId: 'r-rest' })
    assert.strictEqual(created.text, 'via rest')
    const page = await rest.app.service('messages').find({ query: { roomId: 'r-rest', $limit: 1, $sort: { id: -1 } } })
    assert.strictEqual(page.limit, 1)
    assert.deepStrictEqual(page.data.map((m) => m.text), ['via rest'])
    await rejects(rest.app.service('messages').create({ text: '' }), 'BadRequest', 'text is required')
    await rejects(rest.app.service('users').find(), 'NotAuthenticated')
  })

  it('a socket login is kept on the connection; forwarded writes reach authenticated sockets; logout leaves every channel', async function () {
    const a = await primus()
    const b = await primus()
    const n = await primus()
    await rejects(n.app.service('users').find(), 'NotAuthenticated')
    const login = await a.app.authenticate(local(ALICE))
    assert.ok(login.accessToken)
    await b.app.authenticate(local(BOB))
    // Later calls carry the token: users.find needs a JWT upstream.
    const users = await a.app.service('users').find()
    assert.ok(Array.isArray(users) && users.some((u) => u.email === ALICE.email))

    await a.app.service('messages').create({ text: 'zero-sdk 1' })
    // Roost delivers a call's events before its ack, so the sender's frames are complete here.
    assert.strictEqual(createdWith(a.received, 'zero-sdk 1').length, 1)
    await until(() => createdWith(b.received, 'zero-sdk 1').length === 1, WAIT_MS, 'the event at bob')
    assert.strictEqual(createdWith(n.received, 'zero-sdk 1').length, 0, 'anonymous sockets are not in `authenticated`')

    await a.app.logout()
    await a.app.service('messages').create({ text: 'zero-sdk 2' })
    assert.strictEqual(createdWith(a.received, 'zero-sdk 2').length, 0, 'a logged-out socket is in no channel')
    await until(() => createdWith(b.received, 'zero-sdk 2').length === 1, WAIT_MS, 'the second event at bob')
    await rejects(a.app.service('users').find(), 'NotAuthenticated')
  })

  it("documented limit: the app's own join needs params.connection, which REST forwarding has not", async function () {
    const a = await primus()
    await rejects(a.app.service('messages').join({ roomId: 'r1' }), 'BadRequest', 'join needs a real-time connection')
  })
})

describeGateway('gateway, zero-SDK: token expiry of a socket login (expiresIn 2s)', function () {
  this.timeout(60000)
  let server
  let a
  before(async function () {
    server = await startChatServer({ kind: 'gateway-rest', expiresIn: '2s' })
  })
  after(async function () {
    if (a) a.end()
    if (server) await server.stop()
  })

  it('at expiry the socket leaves its channels and loses its login, stays open, and may log in again', async function () {
    a = await primusChatClient(server.url)
    await a.app.authenticate(local(ALICE))
    // A socket create publishes to `authenticated` before its ack: while logged in, the
    // sender has its own event when the ack arrives; once expired, it has not.
    let expired = false
    for (let i = 0; i < 100 && !expired; i++) {
      const text = `tick ${i}`
      try {
        await a.app.service('messages').create({ text })
      } catch (error) {
        // The app may refuse the token a moment before Roost's timer fires.
        assert.strictEqual(error.name, 'NotAuthenticated')
        await new Promise((resolve) => setTimeout(resolve, 100))
        continue
      }
      expired = createdWith(a.received, text).length === 0
      if (!expired) await new Promise((resolve) => setTimeout(resolve, 200))
    }
    assert.ok(expired, 'the login expired within the bound')
    assert.ok(!a.record.events.includes('end') && !a.record.events.includes('close'), 'the socket stayed open')
    await rejects(a.app.service('users').find(), 'NotAuthenticated')
    const metrics = await (await fetch(`${server.url}/metrics`)).text()
    assert.match(metrics, /^roost_gateway_expiries_total 1$/m)
    await a.app.authenticate(local(ALICE))
    await a.app.service('messages').create({ text: 'after a new login' })
    assert.strictEqual(createdWith(a.received, 'after a new login').length, 1)
  })
})

describeGateway('gateway with the feathers-roost plugin: the app decides channels and events', function () {
  this.timeout(60000)
  let server
  const clients = []
  before(async function () {
    server = await startChatServer({ kind: 'gateway' })
  })
  after(async function () {
    for (const c of clients) c.end()
    if (server) await server.stop()
  })
  const primus = async () => {
    const c = await primusChatClient(server.url)
    clients.push(c)
    return c
  }

  // First in this block: the old sockets get the first connection ids, which the new
  // Roost process hands out again.
  it('Roost restarted while the app runs: connection ids start again, and a new socket on an old id joins rooms for real', async function () {
    const rest = restChatClient(server.url)
    // Connections made before: the app keeps proxies for their ids, in room `before-restart`.
    const old = [await primusChatClient(server.url), await primusChatClient(server.url)]
    for (const c of old) await c.app.service('messages').join({ roomId: 'before-restart' })
    for (const c of old) c.end()
    await server.restartRoost()
    const fresh = [await primus(), await primus()]
    for (const c of fresh) {
      assert.deepStrictEqual(await c.app.service('messages').join({ roomId: 'before-restart' }), { roomId: 'before-restart', joined: true })
    }
    await rest.app.service('messages').create({ text: 'after roost restart', roomId: 'before-restart' })
    await until(
      () => fresh.every((c) => createdWith(c.received, 'after roost restart').length === 1),
      WAIT_MS,
      'the room event at both new sockets'
    )
  })

  it("a room joined by the app's own custom method gets the room's events; logout leaves every channel", async function () {
    const rest = restChatClient(server.url)
    const a = await primus()
    const n = await primus()
    await a.app.authenticate(local(ALICE))
    assert.deepStrictEqual(await a.app.service('messages').join({ roomId: 'r1' }), { roomId: 'r1', joined: true })
    assert.deepStrictEqual(await n.app.service('messages').join({ roomId: 'r1' }), { roomId: 'r1', joined: true })
    await rest.app.service('messages').create({ text: 'room 1', roomId: 'r1' })
    await until(() => createdWith(a.received, 'room 1').length === 1 && createdWith(n.received, 'room 1').length === 1, WAIT_MS, 'the room event')

    await a.app.logout()
    await rest.app.service('messages').create({ text: 'room 2', roomId: 'r1' })
    // The plugin sends events in publish order, so an event published after `room 2` and
    // reaching `a` proves `room 2` would have arrived first.
    await a.app.service('messages').join({ roomId: 'probe' })
    await rest.app.service('messages').create({ text: 'probe', roomId: 'probe' })
    await until(() => createdWith(a.received, 'probe').length === 1, WAIT_MS, 'the probe event')
    await until(() => createdWith(n.received, 'room 2').length === 1, WAIT_MS, 'room 2 at the anonymous member')
    assert.strictEqual(createdWith(a.received, 'room 2').length, 0, 'after logout the socket left the room')
  })

  it('/_roost/events needs the shared secret: refused (401) and counted otherwise', async function () {
    const post = (headers) =>
      fetch(`${server.url}/_roost/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ events: [{ path: 'messages', event: 'created', data: { text: 'forged' }, channels: [{ name: 'anonymous' }] }] })
      })
    const n = await primus()
    for (const headers of [{}, { 'x-roost-secret': 'wrong' }]) {
      const res = await post(headers)
      assert.strictEqual(res.status, 401)
      assert.strictEqual((await res.json()).name, 'NotAuthenticated')
    }
    const metrics = await (await fetch(`${server.url}/metrics`)).text()
    assert.match(metrics, /^roost_gateway_refused_requests_total 2$/m)
    // Nothing forged reached anyone: a real event published after it arrives alone.
    await n.app.service('messages').join({ roomId: 'secret-check' })
    await restChatClient(server.url).app.service('messages').create({ text: 'real', roomId: 'secret-check' })
    await until(() => createdWith(n.received, 'real').length === 1, WAIT_MS, 'the real event')
    assert.strictEqual(createdWith(n.received, 'forged').length, 0)
  })

  it(`the app killed and restarted under ${CLIENTS} sockets: none closes, calls fail fast with Unavailable, events flow again`, async function () {
    this.timeout(300000)
    const rest = restChatClient(server.url)
    const sockets = []
    let closes = 0
    try {
      for (let i = 0; i < CLIENTS; i += 100) {
        const batch = []
        for (let j = i; j < Math.min(CLIENTS, i + 100); j++) {
          const socket = connectPrimusClient(server.url, { reconnect: { retries: 0 } })
          const record = recordSocket(socket)
          socket.on('end', () => closes++)
          sockets.push({ socket, record })
          batch.push(nextEvent(socket, 'open', WAIT_MS))
        }
        await Promise.all(batch)
      }
      // Every socket joins the room through the app's own `join` (raw emitter frames).
      const { primusFeathers } = require('../lib/primus-feathers')
      const { feathers, defaultServiceMethods } = require('@feathersjs/feathers')
      const apps = sockets.map(({ socket }) => {
        const app = feathers().configure(primusFeathers(socket, { events: ['created'] }))
        app.use('messages', app.defaultService('messages'), { methods: [...defaultServiceMethods, 'join'] })
        return app
      })
      for (let i = 0; i < apps.length; i += 100) {
        await Promise.all(apps.slice(i, i + 100).map((app) => app.service('messages').join({ roomId: 'outage' })))
      }
      await rest.app.service('messages').create({ text: 'before', roomId: 'outage' })
      await until(() => sockets.every(({ record }) => createdWith(record.frames, 'before').length === 1), 60000, 'the event at every socket')

      await server.upstream.stop()
      // Calls during the outage: Unavailable after the bounded wait, never a hang.
      const during = await Promise.all(apps.slice(0, 20).map((app) => rejects(app.service('messages').find(), 'Unavailable')))
      assert.strictEqual(during[0].code, 503)
      await rejects(rest.app.service('messages').create({ text: 'lost', roomId: 'outage' }), 'Unavailable')

      await server.upstream.start()
      // Forwarding resumes by itself; the restarted app rebuilt its proxies from Roost.
      await rest.app.service('messages').create({ text: 'after', roomId: 'outage' })
      await until(() => sockets.every(({ record }) => createdWith(record.frames, 'after').length === 1), 60000, 'the event after the restart at every socket')
      const page = await apps[0].service('messages').find({ query: { roomId: 'outage' } })
      assert.deepStrictEqual(page.data.map((m) => m.text), ['after'], 'a call after the restart works (the memory app lost its data)')
      assert.strictEqual(closes, 0, 'no socket closed')
      const metrics = await (await fetch(`${server.url}/metrics`)).text()
      const counter = (name) => Number((metrics.match(new RegExp(`^roost_gateway_${name} (\\d+)$`, 'm')) || [])[1])
      assert.ok(counter('unavailable_total') >= 21, `roost_gateway_unavailable_total counts the outage:\n${metrics}`)
      assert.ok(counter('events_total') >= 2, 'roost_gateway_events_total counts delivered events')
      assert.ok(sockets.every(({ record }) => !record.events.includes('end') && !record.events.includes('close')))
    } finally {
      for (const { socket } of sockets) endSocket(socket)
    }
  })
})

describeGateway('gateway with the plugin in an Express app (@feathersjs/express: REST + Socket.IO, notFound/errorHandler last)', function () {
  this.timeout(60000)
  let server
  const clients = []
  before(async function () {
    // The reference chat app built on @feathersjs/express instead of Koa (CHAT_HTTP=express):
    // the plugin's Express middleware serves /_roost/call and /_roost/disconnect.
    server = await startChatServer({ kind: 'gateway', upstreamEnv: { CHAT_HTTP: 'express' } })
  })
  after(async function () {
    for (const c of clients) c.end()
    if (server) await server.stop()
  })

  /** An official Socket.IO client (socket.io-client + @feathersjs/socketio-client) on Roost. */
  async function socketio() {
    const { feathers, defaultServiceMethods } = require('@feathersjs/feathers')
    const socketioClient = require('@feathersjs/socketio-client')
    const authClient = require('@feathersjs/authentication-client')
    const io = require('socket.io-client')
    const socket = io(server.url, { reconnection: false, transports: ['websocket'] })
    await within(
      new Promise((resolve, reject) => {
        socket.once('connect', resolve)
        socket.once('connect_error', reject)
      }),
      WAIT_MS,
      'socket.io connect'
    )
    const app = feathers()
    const connection = socketioClient(socket)
    app.configure(connection)
    app.use('messages', connection.service('messages'), { methods: [...defaultServiceMethods, 'join', 'leave'] })
    app.configure(authClient({ storage: new authClient.MemoryStorage() }))
    const texts = []
    app.service('messages').on('created', (m) => texts.push(m.text))
    const client = { app, texts, socket, end: () => socket.close() }
    clients.push(client)
    return client
  }

  it("login, the app's own join, room events, errors unchanged, logout leaving every channel", async function () {
    const a = await socketio()
    const b = await socketio()
    const login = await a.app.authenticate(local(ALICE))
    assert.strictEqual(login.user.email, ALICE.email)
    assert.ok(!('password' in login.user))
    // The app's custom method runs with params.connection = the plugin's proxy.
    assert.deepStrictEqual(await a.app.service('messages').join({ roomId: 'x1' }), { roomId: 'x1', joined: true })
    assert.deepStrictEqual(await b.app.service('messages').join({ roomId: 'x1' }), { roomId: 'x1', joined: true })
    const created = await a.app.service('messages').create({ text: 'express 1', roomId: 'x1' })
    assert.strictEqual(created.text, 'express 1')
    assert.strictEqual(created.userId, login.user.id, 'the app saw the connection\'s user')
    await until(() => a.texts.includes('express 1') && b.texts.includes('express 1'), WAIT_MS, 'the room event at both sockets')
    // The app's errors come back unchanged.
    await rejects(a.app.service('messages').create({ text: '' }), 'BadRequest', 'text is required')
    await rejects(b.app.service('users').find(), 'NotAuthenticated')
    // REST through Roost reaches the Express app too, typed query and all.
    const rest = restChatClient(server.url)
    const page = await rest.app.service('messages').find({ query: { roomId: 'x1', $limit: 1 } })
    assert.deepStrictEqual(page.data.map((m) => m.text), ['express 1'])

    await a.app.logout()
    await rest.app.service('messages').create({ text: 'express 2', roomId: 'x1' })
    await b.app.service('messages').join({ roomId: 'x2' })
    await a.app.service('messages').join({ roomId: 'x2' })
    await rest.app.service('messages').create({ text: 'express probe', roomId: 'x2' })
    await until(() => a.texts.includes('express probe') && b.texts.includes('express 2'), WAIT_MS, 'the later events')
    assert.strictEqual(a.texts.filter((t) => t === 'express 2').length, 0, 'after logout the socket left the room')
    assert.strictEqual(b.texts.filter((t) => t === 'express 1').length, 1)
  })

  it('a Primus client through Roost, although the Express app serves only REST and Socket.IO', async function () {
    const p = await primusChatClient(server.url)
    clients.push(p)
    const s = await socketio()
    await p.app.authenticate(local(BOB))
    for (const c of [p, s]) await c.app.service('messages').join({ roomId: 'mixed' })
    await s.app.service('messages').create({ text: 'to primus', roomId: 'mixed' })
    await until(() => createdWith(p.received, 'to primus').length === 1 && s.texts.includes('to primus'), WAIT_MS, 'the event on both transports')
  })
})
