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

const { serverKind } = require('../lib/server')
const { clusterEnv, startNode, primusClient, socketioClient, count } = require('../lib/cluster')
const { ALICE, BOB, local } = require('../lib/chat-client')
const { until } = require('../lib/wait')

const WAIT_MS = 10000
const describeCluster = serverKind() === 'roost' && clusterEnv() ? describe : describe.skip

const primus = (url) => primusClient(url)
const socketio = (url) => socketioClient(url, { transports: ['websocket'] })

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
