'use strict'
// Three Roost nodes as one cluster (docs/cluster.md): `roost serve` with `[cluster]` on one
// Redis and one PostgreSQL database, the official clients on different nodes — Primus
// (primus-client + @feathersjs/authentication-client) and Socket.IO (socket.io-client +
// @feathersjs/socketio-client). The default channel rules across nodes: a room message from
// node A reaches room members on B and C exactly once; one user's sockets on two nodes both
// get `user/<id>` events; anonymous clients get nothing.
//
// Needs ROOST_TEST_REDIS_URL and ROOST_TEST_POSTGRES_URL (scripts/services/with-databases.sh);
// skipped otherwise, and against the reference server.

const assert = require('node:assert')
const { feathers, defaultServiceMethods } = require('@feathersjs/feathers')
const socketioClient = require('@feathersjs/socketio-client')
const authClient = require('@feathersjs/authentication-client')
const io = require('socket.io-client')

const { startChatServer, serverKind } = require('../lib/server')
const { primusChatClient, ALICE, BOB, local } = require('../lib/chat-client')
const { within, until } = require('../lib/wait')

const REDIS = process.env.ROOST_TEST_REDIS_URL
const PG = process.env.ROOST_TEST_POSTGRES_URL
const WAIT_MS = 10000
const describeCluster = serverKind() === 'roost' && REDIS && PG ? describe : describe.skip

/** One node: the chat app with `[cluster]` set through the environment. */
async function startNode(nodeId, prefix) {
  const cluster = {
    ROOST_CLUSTER__URL: REDIS,
    ROOST_CLUSTER__KEY_PREFIX: prefix,
    ROOST_CLUSTER__NODE_ID: nodeId,
    ROOST_STORAGE__URL: PG
  }
  const saved = {}
  for (const [key, value] of Object.entries(cluster)) {
    saved[key] = process.env[key]
    process.env[key] = value
  }
  let server
  try {
    // One secret for the whole cluster, as an operator sets it.
    server = await startChatServer({ kind: 'roost', secret: 'cluster-interop-secret-0123456789abcdef' })
  } finally {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key]
      else process.env[key] = value
    }
  }
  // Ready = storage and the cluster broker connected.
  const start = Date.now()
  for (;;) {
    const res = await fetch(`${server.url}/readyz`).catch(() => null)
    if (res && res.status === 200) break
    if (Date.now() - start > WAIT_MS) throw new Error(`${nodeId}: /readyz never became ready`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return server
}

/** The texts of `messages created` events a client app receives. */
function listen(app) {
  const texts = []
  app.service('messages').on('created', (message) => texts.push(message.text))
  return texts
}

async function primus(url) {
  const client = await primusChatClient(url)
  return { ...client, texts: listen(client.app) }
}

async function socketio(url) {
  const socket = io(url, { reconnection: false, transports: ['websocket'] })
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
  return { kind: 'socketio', app, texts: listen(app), end: () => socket.close() }
}

const count = (texts, text) => texts.filter((t) => t === text).length

describeCluster('three Roost nodes on Redis: the official clients across nodes', function () {
  this.timeout(60000)
  const nodes = []
  const clients = []
  before(async function () {
    const prefix = `interop${process.pid}${Date.now()}`
    // One after the other: the first creates the shared database's tables and seed users.
    for (const id of ['a', 'b', 'c']) nodes.push(await startNode(`${id}-${process.pid}`, prefix))
  })
  after(async function () {
    for (const c of clients) c.end()
    for (const n of nodes) await n.stop()
  })
  const client = async (make, node) => {
    const c = await make(nodes[node].url)
    clients.push(c)
    return c
  }

  it('a room message reaches members on every node once; user/<id> on two nodes; anonymous nothing', async function () {
    const sender = await client(primus, 0)
    await sender.app.authenticate(local(BOB))
    const memberB = await client(socketio, 1)
    const memberC = await client(primus, 2)
    const aliceB = await client(primus, 1)
    await aliceB.app.authenticate(local(ALICE))
    const aliceC = await client(socketio, 2)
    await aliceC.app.authenticate(local(ALICE))
    const anonymousB = await client(primus, 1)
    const anonymousC = await client(socketio, 2)
    for (const c of [sender, memberB, memberC]) await c.app.service('messages').join({ roomId: 'r1' })

    // A marker after each message: once it is in, a duplicate would have come before it.
    await sender.app.service('messages').create({ text: 'room', roomId: 'r1' })
    await sender.app.service('messages').create({ text: 'room marker', roomId: 'r1' })
    for (const c of [sender, memberB, memberC]) {
      await until(() => c.texts.includes('room marker'), WAIT_MS, `room marker on ${c.kind}`)
      assert.strictEqual(count(c.texts, 'room'), 1, `${c.kind}: ${c.texts}`)
    }

    // Alice's own message without a room goes to user/<alice>: her sockets on B and C.
    const aliceA = await client(primus, 0)
    await aliceA.app.authenticate(local(ALICE))
    await aliceA.app.service('messages').create({ text: 'mine' })
    await aliceA.app.service('messages').create({ text: 'mine marker' })
    for (const c of [aliceA, aliceB, aliceC]) {
      await until(() => c.texts.includes('mine marker'), WAIT_MS, `mine marker on ${c.kind}`)
      assert.strictEqual(count(c.texts, 'mine'), 1, `${c.kind}: ${c.texts}`)
      assert.strictEqual(count(c.texts, 'room'), 0, `${c.kind} is not in r1`)
    }
    assert.deepStrictEqual(memberB.texts, ['room', 'room marker'])
    assert.deepStrictEqual(memberC.texts, ['room', 'room marker'])
    assert.deepStrictEqual(anonymousB.texts, [])
    assert.deepStrictEqual(anonymousC.texts, [])
  })
})
