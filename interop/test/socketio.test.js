'use strict'
// Socket.IO (docs/protocol.md §13, docs/feathers-semantics.md §H10–H20) with the official clients:
// socket.io-client 4.8.4 and @feathersjs/socketio-client 5.0.50
// (+ @feathersjs/authentication-client 5.0.50).
// - the realtime app (REALTIME-APP.md): every method of `messages`, events,
//   errors, a method no service has, polling and websocket-only clients, the
//   polling → websocket upgrade (then a packet longer than one fragment), and
//   @feathersjs/adapter-tests on people / people-customid (same SKIPPED list);
// - the chat app (CHAT-APP.md): login, reAuthenticate, logout; handshake
//   authentication with a good and a bad token (`connect_error` message and
//   `data`, websocket and polling); a room holding Primus and
//   Socket.IO connections delivers each room event exactly once to each.

const assert = require('node:assert')
const adapterTests = require('@feathersjs/adapter-tests')
const errors = require('@feathersjs/errors')
const { feathers, defaultServiceMethods, defaultServiceEvents } = require('@feathersjs/feathers')
const socketioClient = require('@feathersjs/socketio-client')
const authClient = require('@feathersjs/authentication-client')
const { Service } = require('@feathersjs/transport-commons/client')
const io = require('socket.io-client')

const { startRealtimeServer, startChatServer, serverKind } = require('../lib/server')
const { primusChatClient, ALICE, BOB, local } = require('../lib/chat-client')
const { within, until } = require('../lib/wait')
const { SKIPPED } = require('./skipped')

const WAIT_MS = 5000
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const plain = (value) => (value === undefined ? undefined : JSON.parse(JSON.stringify(value)))
const same = (actual, expected, message) => assert.deepStrictEqual(plain(actual), plain(expected), message)

/** A socket.io-client socket, resolved once connected (rejects on connect_error). */
async function connectSocket(url, options = {}) {
  const socket = io(url, { reconnection: false, ...options })
  await within(
    new Promise((resolve, reject) => {
      socket.once('connect', resolve)
      socket.once('connect_error', reject)
    }),
    WAIT_MS,
    'socket.io connect'
  )
  return socket
}

/** A raw call with an ack: `{error}` or `{result}`. */
function rawCall(socket, ...args) {
  return within(
    new Promise((resolve) => {
      socket.emit(...args, (error, result) => resolve(error ? { error: errors.convert(error) } : { result }))
    }),
    WAIT_MS,
    `${args[0]} ${args[1]}`
  )
}

/** A Feathers client app on `socket`, `messages` with join/leave(/typing). */
function clientApp(socket, { auth = false, extraMethods = ['join', 'leave', 'typing'] } = {}) {
  const app = feathers()
  const connection = socketioClient(socket)
  app.configure(connection)
  app.use('messages', connection.service('messages'), { methods: [...defaultServiceMethods, ...extraMethods] })
  if (auth) app.configure(authClient({ storage: new authClient.MemoryStorage() }))
  return app
}

async function rejectsWith(promise, Class, message) {
  const error = await within(promise.then(() => null, (e) => e), WAIT_MS, `a ${Class.name}`)
  assert.ok(error, `expected ${Class.name}, the call succeeded`)
  assert.ok(error instanceof Class, `expected ${Class.name}, got ${error && error.name}: ${error && error.message}`)
  assert.strictEqual(error.message, message)
  return error
}

describe(`Feathers over Socket.IO against the ${serverKind()} server (realtime app)`, function () {
  let server
  const sockets = []
  const open = async (options) => {
    const socket = await connectSocket(server.url, options)
    sockets.push(socket)
    return socket
  }

  before(async function () {
    this.timeout(30000)
    server = await startRealtimeServer()
  })
  afterEach(function () {
    while (sockets.length) sockets.pop().close()
  })
  after(async function () {
    if (server) await server.stop()
  })

  for (const transports of [undefined, ['websocket']]) {
    const label = transports ? 'websocket only' : 'polling + upgrade'
    it(`every method of messages and its event (${label})`, async function () {
      const socket = await open(transports ? { transports } : {})
      const app = clientApp(socket)
      const messages = app.service('messages')
      const created = new Promise((resolve) => messages.once('created', resolve))
      const item = await messages.create({ text: 'hello' })
      assert.strictEqual(item.text, 'hello')
      same(plain(await within(created, WAIT_MS, 'created')).text, 'hello')
      same((await messages.get(item.id)).text, 'hello')
      assert.ok((await messages.find({ query: { text: 'hello' } })).some((m) => m.id === item.id))
      const patchedEvent = new Promise((resolve) => messages.once('patched', resolve))
      assert.strictEqual((await messages.patch(item.id, { text: 'patched' })).text, 'patched')
      await within(patchedEvent, WAIT_MS, 'patched')
      assert.strictEqual((await messages.update(item.id, { text: 'updated' })).text, 'updated')
      assert.strictEqual((await messages.remove(item.id)).id, item.id)
      await rejectsWith(messages.get(item.id), errors.NotFound, `No record found for id '${item.id}'`)
    })
  }

  it('a polling session upgrades to websocket and keeps working (events, calls)', async function () {
    const socket = await open()
    const engine = socket.io.engine
    if (engine.transport.name !== 'websocket') {
      await within(new Promise((resolve) => engine.once('upgrade', resolve)), WAIT_MS, 'the upgrade')
    }
    assert.strictEqual(engine.transport.name, 'websocket')
    const messages = clientApp(socket).service('messages')
    const created = new Promise((resolve) => messages.once('created', resolve))
    // Longer than one websocket fragment (16 KiB), within the limit before login (64 KiB).
    const big = 'x'.repeat(60 * 1024)
    const item = await messages.create({ text: big })
    assert.strictEqual(item.text, big)
    assert.strictEqual((await within(created, WAIT_MS, 'created')).text, big)
    assert.strictEqual((await messages.remove(item.id)).id, item.id)
  })

  it('custom methods and room events', async function () {
    const a = clientApp(await open())
    const b = clientApp(await open({ transports: ['websocket'] }))
    await a.service('messages').join({ roomId: 'sio' })
    await b.service('messages').join({ roomId: 'sio' })
    const seen = [[], []]
    a.service('messages').on('created', (m) => seen[0].push(m))
    b.service('messages').on('created', (m) => seen[1].push(m))
    await a.service('messages').create({ text: 'room', roomId: 'sio' })
    await until(() => seen[0].length === 1 && seen[1].length === 1, WAIT_MS, 'both receive the room event')
    await sleep(200)
    same([seen[0].length, seen[1].length], [1, 1])
  })

  it('errors: unknown service, too many arguments, bad path, unknown method', async function () {
    const socket = await open()
    const unknown = await rawCall(socket, 'find', 'nowhere', {})
    assert.ok(unknown.error instanceof errors.NotFound)
    assert.strictEqual(unknown.error.message, "Service 'nowhere' not found")
    const many = await rawCall(socket, 'get', 'messages', 1, {}, {})
    assert.ok(many.error instanceof errors.BadRequest)
    assert.strictEqual(many.error.message, "Too many arguments for 'get' method")
    const bad = await rawCall(socket, 'find', 42, {})
    assert.strictEqual(bad.error.message, 'Invalid service path')
    if (serverKind() === 'roost') {
      // The reference never answers a method no service has (§H14); Roost answers.
      const bogus = await rawCall(socket, 'bogus', 'messages', {})
      assert.ok(bogus.error instanceof errors.MethodNotAllowed)
    }
  })

  describe('@feathersjs/adapter-tests over Socket.IO', function () {
    const SERVICES = {
      people: { id: 'id', events: ['testing'] },
      'people-customid': { id: 'customid', events: ['testing'] }
    }
    const defined = new Set()
    const testNames = {
      includes(name) {
        defined.add(name)
        return !SKIPPED.includes(name)
      },
      forEach() {}
    }
    let socket
    let client
    const app = { service: (name) => client.service(name) }
    before(async function () {
      socket = await connectSocket(server.url)
      client = feathers()
      client.configure(socketioClient(socket))
      for (const [name, decl] of Object.entries(SERVICES)) {
        const service = new Service({ name, connection: socket, method: 'emit', events: [...defaultServiceEvents, ...decl.events] })
        service.id = decl.id
        service.options = {}
        client.use(name, service)
      }
    })
    after(function () {
      if (socket) socket.close()
      const unknown = SKIPPED.filter((name) => !defined.has(name))
      assert.deepStrictEqual(unknown, [], 'SKIPPED names that @feathersjs/adapter-tests does not define')
    })
    for (const [name, { id }] of Object.entries(SERVICES)) {
      adapterTests(testNames)(app, errors, name, id)
    }
  })
})

describe(`Socket.IO authentication and mixed transports against the ${serverKind()} server (chat app)`, function () {
  let server
  const ends = []
  const track = (end) => ends.push(end)

  before(async function () {
    this.timeout(30000)
    server = await startChatServer()
  })
  afterEach(function () {
    while (ends.length) ends.pop()()
  })
  after(async function () {
    if (server) await server.stop()
  })

  async function sioClient(options = {}) {
    const socket = await connectSocket(server.url, options)
    track(() => socket.close())
    return { socket, app: clientApp(socket, { auth: true, extraMethods: ['join', 'leave'] }) }
  }

  it('login, calls as the user, reAuthenticate, logout', async function () {
    const { app } = await sioClient()
    const login = await app.authenticate(local(ALICE))
    assert.ok(login.accessToken)
    assert.strictEqual(login.user.email, ALICE.email)
    assert.strictEqual(login.user.password, undefined)
    const message = await app.service('messages').create({ text: 'as alice' })
    assert.strictEqual(message.userId, login.user.id)
    const again = await app.reAuthenticate(true)
    assert.strictEqual(again.user.email, ALICE.email)
    assert.ok(await app.service('users').find())
    const out = await app.logout()
    assert.strictEqual(out.accessToken, login.accessToken)
    await rejectsWith(app.service('users').find(), errors.NotAuthenticated, 'Not authenticated')
    const anonymous = await app.service('messages').create({ text: 'anonymous' })
    assert.strictEqual(anonymous.userId, undefined)
  })

  it('a bad login is NotAuthenticated', async function () {
    const { app } = await sioClient()
    await rejectsWith(app.authenticate(local({ ...ALICE, password: 'wrong' })), errors.NotAuthenticated, 'Invalid login')
  })

  it('handshake authentication: a good token logs the socket in before it connects', async function () {
    const { app } = await sioClient()
    const { accessToken, user } = await app.authenticate(local(BOB))
    const { app: second } = await sioClient({ transports: ['websocket'], extraHeaders: { Authorization: `Bearer ${accessToken}` } })
    const message = await second.service('messages').create({ text: 'handshake' })
    assert.strictEqual(message.userId, user.id)
  })

  it('handshake authentication: a bad token is refused with connect_error', async function () {
    const socket = io(server.url, { reconnection: false, transports: ['websocket'], extraHeaders: { Authorization: 'Bearer not-a-jwt' } })
    track(() => socket.close())
    const error = await within(
      new Promise((resolve, reject) => {
        socket.once('connect_error', resolve)
        socket.once('connect', () => reject(new Error('connected with a bad token')))
      }),
      WAIT_MS,
      'connect_error'
    )
    assert.strictEqual(error.message, 'jwt malformed')
    // CONNECT_ERROR `44{"message":"jwt malformed","data":{"name":"JsonWebTokenError"}}`:
    // the Feathers error's `data` reaches the client as `err.data`.
    assert.deepStrictEqual(error.data, { name: 'JsonWebTokenError' })
  })

  it('handshake authentication: a bad token over polling is refused the same way', async function () {
    const socket = io(server.url, { reconnection: false, transports: ['polling'], extraHeaders: { Authorization: 'Bearer not-a-jwt' } })
    track(() => socket.close())
    const error = await within(
      new Promise((resolve, reject) => {
        socket.once('connect_error', resolve)
        socket.once('connect', () => reject(new Error('connected with a bad token')))
      }),
      WAIT_MS,
      'connect_error'
    )
    assert.strictEqual(error.message, 'jwt malformed')
    assert.deepStrictEqual(error.data, { name: 'JsonWebTokenError' })
  })

  it('a room with Primus and Socket.IO clients: each receives every room event exactly once', async function () {
    const primus = await primusChatClient(server.url)
    track(() => primus.end())
    const { app: sio1 } = await sioClient()
    const { app: sio2 } = await sioClient({ transports: ['websocket'] })
    const clients = [primus.app, sio1, sio2]
    await Promise.all(clients.map((app, i) => app.authenticate(local(i % 2 ? BOB : ALICE))))
    await Promise.all(clients.map((app) => app.service('messages').join({ roomId: 'mixed' })))
    const seen = clients.map(() => [])
    clients.forEach((app, i) => app.service('messages').on('created', (m) => m.roomId === 'mixed' && seen[i].push(m.text)))
    const texts = ['one', 'two', 'three']
    for (const [i, text] of texts.entries()) {
      await clients[i].service('messages').create({ text, roomId: 'mixed' })
    }
    await until(() => seen.every((s) => s.length >= texts.length), WAIT_MS, 'every client receives every event')
    await sleep(300)
    for (const s of seen) same(s.slice().sort(), texts.slice().sort())
  })
})

describe(`Socket.IO token expiry against the ${serverKind()} server (chat app, expiresIn 2s)`, function () {
  let server
  before(async function () {
    this.timeout(30000)
    server = await startChatServer({ expiresIn: '2s' })
  })
  after(async function () {
    if (server) await server.stop()
  })

  it('at expiry the server disconnects the socket (docs/feathers-semantics.md §E22)', async function () {
    this.timeout(15000)
    const socket = await connectSocket(server.url, { transports: ['websocket'] })
    try {
      const app = clientApp(socket, { auth: true, extraMethods: ['join', 'leave'] })
      const disconnected = new Promise((resolve) => socket.once('disconnect', resolve))
      await app.authenticate(local(ALICE))
      const started = Date.now()
      const reason = await within(disconnected, 8000, 'the disconnect at expiry')
      assert.strictEqual(reason, 'io server disconnect')
      assert.ok(Date.now() - started > 1000, 'not before the token expired')
    } finally {
      socket.close()
    }
  })
})
