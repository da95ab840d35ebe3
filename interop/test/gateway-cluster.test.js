'use strict'
// Gateway mode across a cluster (docs/gateway.md, "Several Roost nodes"): Roost nodes on one
// Redis, each in gateway mode in front of its own process of the reference chat app
// (bench/reference/chat.js), driven only through Roost by the official clients (Primus:
// primus-client + @feathersjs/authentication-client; Socket.IO: socket.io-client +
// @feathersjs/socketio-client).
//
//   native ([cluster] mode = "roost"): an event the plugin posts to one node reaches the
//     members of its named channels on every node, exactly once each;
//   feathers-sync (mode = "feathers-sync"): the app's processes share events with the real
//     npm feathers-sync on the same Redis; with the plugin each Roost node gets every event
//     from its own app process, with the app's channels, and leaves the bus copy alone; in
//     zero-SDK mode Roost delivers the bus copy to `publish_channel` and emits nothing of its
//     own. Each connection gets each event once.
//
// Needs ROOST_TEST_REDIS_URL (scripts/services/with-databases.sh, or redis.sh start); skipped
// otherwise, and against the reference server.

const assert = require('node:assert')
const { feathers, defaultServiceMethods } = require('@feathersjs/feathers')
const socketioClient = require('@feathersjs/socketio-client')
const authClient = require('@feathersjs/authentication-client')
const io = require('socket.io-client')

const { startChatServer, serverKind } = require('../lib/server')
const { primusChatClient, restChatClient, ALICE, BOB, local } = require('../lib/chat-client')
const { within, until } = require('../lib/wait')

const REDIS = process.env.ROOST_TEST_REDIS_URL
const WAIT_MS = 15000
const describeRedis = serverKind() !== 'reference' && REDIS ? describe : describe.skip
const unique = () => `gw${process.pid}x${Date.now()}x${Math.floor(Math.random() * 1e6)}`

/** Resolves once `url`/readyz answers 200 (storage and the cluster broker connected). */
async function ready(url) {
  const start = Date.now()
  for (;;) {
    const res = await fetch(`${url}/readyz`).catch(() => null)
    if (res && res.status === 200) return
    if (Date.now() - start > WAIT_MS) throw new Error(`${url}: /readyz never became ready`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** One Roost node in gateway mode (`kind`) in front of its own app process, in cluster `cluster`. */
async function startPair(kind, nodeId, cluster) {
  const env = {
    ROOST_CLUSTER__URL: REDIS,
    ROOST_CLUSTER__KEY_PREFIX: cluster.prefix,
    ROOST_CLUSTER__NODE_ID: nodeId,
    ROOST_CLUSTER__MODE: cluster.mode
  }
  const upstreamEnv = {}
  if (cluster.mode === 'feathers-sync') {
    env.ROOST_CLUSTER__SYNC_KEY = cluster.syncKey
    upstreamEnv.FEATHERS_SYNC_URL = REDIS
    upstreamEnv.FEATHERS_SYNC_KEY = cluster.syncKey
  }
  const pair = await startChatServer({ kind, env, upstreamEnv })
  await ready(pair.url)
  return pair
}

/** A process of the app on the bus with no Roost in front (a worker, an admin API). */
async function startWorker(syncKey) {
  const saved = { FEATHERS_SYNC_URL: process.env.FEATHERS_SYNC_URL, FEATHERS_SYNC_KEY: process.env.FEATHERS_SYNC_KEY }
  process.env.FEATHERS_SYNC_URL = REDIS
  process.env.FEATHERS_SYNC_KEY = syncKey
  try {
    return await startChatServer({ kind: 'reference' })
  } finally {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key]
      else process.env[key] = value
    }
  }
}

/** `messages created` texts a client receives, and every event name with its data. */
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
  const frames = []
  socket.onAny((event, data) => frames.push({ event, data }))
  const app = feathers()
  const connection = socketioClient(socket)
  app.configure(connection)
  app.use('messages', connection.service('messages'), { methods: [...defaultServiceMethods, 'join', 'leave'] })
  app.configure(authClient({ storage: new authClient.MemoryStorage() }))
  return { kind: 'socketio', app, frames, texts: listen(app), end: () => socket.close() }
}

const count = (texts, text) => texts.filter((t) => t === text).length

/** A counter of `url`/metrics (NaN when absent). */
async function counter(url, name) {
  const text = await (await fetch(`${url}/metrics`)).text()
  return Number((text.match(new RegExp(`^${name} (\\d+)$`, 'm')) || [])[1])
}

describeRedis('gateway across a native cluster: plugin events reach every node once', function () {
  this.timeout(90000)
  const pairs = []
  const clients = []
  before(async function () {
    const cluster = { mode: 'roost', prefix: unique() }
    for (const id of ['a', 'b']) pairs.push(await startPair('gateway', `${id}-${process.pid}`, cluster))
  })
  after(async function () {
    for (const c of clients) c.end()
    for (const p of pairs) await p.stop()
  })
  const client = async (make, node) => {
    const c = await make(pairs[node].url)
    clients.push(c)
    return c
  }

  it("a room joined through each node's app: an event posted to one node reaches the members on both exactly once", async function () {
    const memberA = await client(primus, 0)
    const memberB = await client(socketio, 1)
    const otherB = await client(primus, 1)
    const anonymousB = await client(socketio, 1)
    await memberA.app.authenticate(local(ALICE))
    // Each join runs in the app process behind that client's node; Roost applies it there.
    for (const c of [memberA, memberB]) await c.app.service('messages').join({ roomId: 'cross' })
    await otherB.app.service('messages').join({ roomId: 'elsewhere' })
    await memberA.app.service('messages').join({ roomId: 'only-on-a' })

    // From node A's app: its plugin posts to node A, which publishes `room/cross`.
    await memberA.app.service('messages').create({ text: 'from a', roomId: 'cross' })
    // From node B's app over REST (no connection at all).
    await restChatClient(pairs[1].url).app.service('messages').create({ text: 'from b', roomId: 'cross' })
    // A room whose only member is on node A, written through node B: node B's app has no
    // connection in it, and its plugin still posts the event (the channel is named).
    await restChatClient(pairs[1].url).app.service('messages').create({ text: 'to a only', roomId: 'only-on-a' })
    // Markers after each: per node the plugin posts in publish order and Redis keeps the
    // order of one channel, so once a marker is in, a duplicate would have come before it.
    await memberA.app.service('messages').create({ text: 'marker a', roomId: 'cross' })
    await restChatClient(pairs[1].url).app.service('messages').create({ text: 'marker b', roomId: 'cross' })
    for (const c of [memberA, memberB]) {
      await until(() => c.texts.includes('marker a') && c.texts.includes('marker b'), WAIT_MS, `markers at ${c.kind}: ${c.texts}`)
      assert.strictEqual(count(c.texts, 'from a'), 1, `${c.kind}: ${c.texts}`)
      assert.strictEqual(count(c.texts, 'from b'), 1, `${c.kind}: ${c.texts}`)
    }
    await until(() => memberA.texts.includes('to a only'), WAIT_MS, 'the event of a room with members on node A only')
    assert.strictEqual(count(memberA.texts, 'to a only'), 1, `${memberA.texts}`)
    assert.strictEqual(count(memberB.texts, 'to a only'), 0)
    assert.deepStrictEqual(otherB.texts, [], 'a member of another room got nothing')
    assert.deepStrictEqual(anonymousB.texts, [], 'a socket in no room got nothing')
  })

  it("a user's sockets on both nodes get its user/<id> events once; logout on one node leaves there only", async function () {
    const aliceA = await client(primus, 0)
    const aliceB = await client(socketio, 1)
    for (const c of [aliceA, aliceB]) await c.app.authenticate(local(ALICE))
    // Alice's own message without a room goes to user/<alice> (the app's publish rule).
    await aliceB.app.service('messages').create({ text: 'mine' })
    await aliceB.app.service('messages').create({ text: 'mine marker' })
    for (const c of [aliceA, aliceB]) {
      await until(() => c.texts.includes('mine marker'), WAIT_MS, `mine marker at ${c.kind}`)
      assert.strictEqual(count(c.texts, 'mine'), 1, `${c.kind}: ${c.texts}`)
    }
    await aliceA.app.logout()
    await aliceB.app.service('messages').create({ text: 'after logout' })
    await until(() => aliceB.texts.includes('after logout'), WAIT_MS, 'the event at the socket still logged in')
    // Node B published it to user/<alice> after A's logout had been applied on A.
    const bob = await client(primus, 0)
    await bob.app.authenticate(local(BOB))
    await bob.app.service('messages').join({ roomId: 'fence' })
    await aliceA.app.service('messages').join({ roomId: 'fence' })
    await aliceB.app.service('messages').create({ text: 'fence', roomId: 'fence' })
    await until(() => aliceA.texts.includes('fence'), WAIT_MS, 'a later event at the logged-out socket')
    assert.strictEqual(count(aliceA.texts, 'after logout'), 0, `${aliceA.texts}`)
  })
})

describeRedis('zero-SDK gateway across a native cluster: forwarded writes reach publish_channel on every node once', function () {
  this.timeout(90000)
  const pairs = []
  const clients = []
  before(async function () {
    const cluster = { mode: 'roost', prefix: unique() }
    for (const id of ['a', 'b']) pairs.push(await startPair('gateway-rest', `rest-${id}-${process.pid}`, cluster))
  })
  after(async function () {
    for (const c of clients) c.end()
    for (const p of pairs) await p.stop()
  })

  it('a write through node A reaches logged-in sockets on A and B once, anonymous ones nowhere', async function () {
    const aliceA = await primus(pairs[0].url)
    const bobB = await socketio(pairs[1].url)
    const anonymousB = await primus(pairs[1].url)
    clients.push(aliceA, bobB, anonymousB)
    await aliceA.app.authenticate(local(ALICE))
    await bobB.app.authenticate(local(BOB))
    await aliceA.app.service('messages').create({ text: 'rest cross' })
    await aliceA.app.service('messages').create({ text: 'rest marker' })
    for (const c of [aliceA, bobB]) {
      await until(() => c.texts.includes('rest marker'), WAIT_MS, `the marker at ${c.kind}`)
      assert.strictEqual(count(c.texts, 'rest cross'), 1, `${c.kind}: ${c.texts}`)
    }
    assert.deepStrictEqual(anonymousB.texts, [])
  })
})

describeRedis('gateway on a feathers-sync bus shared with the app (plugin)', function () {
  this.timeout(90000)
  const pairs = []
  const clients = []
  let worker
  before(async function () {
    const cluster = { mode: 'feathers-sync', prefix: unique(), syncKey: unique() }
    for (const id of ['a', 'b']) pairs.push(await startPair('gateway', `${id}-${process.pid}`, cluster))
    worker = await startWorker(cluster.syncKey)
  })
  after(async function () {
    for (const c of clients) c.end()
    for (const p of pairs) await p.stop()
    if (worker) await worker.stop()
  })
  const client = async (make, node) => {
    const c = await make(pairs[node].url)
    clients.push(c)
    return c
  }

  it("events from any app process reach each room member once: the plugin's channels, the bus copy left alone", async function () {
    const memberA = await client(primus, 0)
    const memberB = await client(socketio, 1)
    const otherA = await client(primus, 0)
    for (const c of [memberA, memberB]) await c.app.service('messages').join({ roomId: 'bus' })
    await otherA.app.service('messages').join({ roomId: 'not-bus' })

    const before = await Promise.all(pairs.map((p) => counter(p.url, 'roost_gateway_bus_events_left_to_plugin_total')))
    // A call through node A (its app publishes on the bus), and a write made in the worker,
    // which no Roost node stands in front of: every app process hears both on the bus and
    // its plugin posts them to its own Roost node with the app's channels.
    await memberA.app.service('messages').create({ text: 'through roost', roomId: 'bus' })
    await restChatClient(worker.url).app.service('messages').create({ text: 'from the worker', roomId: 'bus' })
    for (const c of [memberA, memberB]) {
      await until(() => c.texts.includes('through roost') && c.texts.includes('from the worker'), WAIT_MS, `both at ${c.kind}: ${c.texts}`)
    }
    // Each Roost node also heard both events on the bus itself, and delivered nothing from
    // there: once the counters show it, a second copy could only have come already.
    for (const [i, p] of pairs.entries()) {
      await until(
        async () => (await counter(p.url, 'roost_gateway_bus_events_left_to_plugin_total')) >= before[i] + 2,
        WAIT_MS,
        `node ${i} heard both events on the bus`
      )
    }
    for (const c of [memberA, memberB]) {
      assert.strictEqual(count(c.texts, 'through roost'), 1, `${c.kind}: ${c.texts}`)
      assert.strictEqual(count(c.texts, 'from the worker'), 1, `${c.kind}: ${c.texts}`)
    }
    assert.deepStrictEqual(otherA.texts, [])
  })
})

describeRedis('gateway on a feathers-sync bus shared with the app (zero-SDK)', function () {
  this.timeout(90000)
  let pair
  let worker
  const clients = []
  before(async function () {
    const cluster = { mode: 'feathers-sync', prefix: unique(), syncKey: unique() }
    pair = await startPair('gateway-rest', `rest-${process.pid}`, cluster)
    worker = await startWorker(cluster.syncKey)
  })
  after(async function () {
    for (const c of clients) c.end()
    if (pair) await pair.stop()
    if (worker) await worker.stop()
  })

  it('writes made anywhere reach publish_channel once; a login result never travels', async function () {
    const alice = await primus(pair.url)
    const bob = await socketio(pair.url)
    const anonymous = await primus(pair.url)
    clients.push(alice, bob, anonymous)
    await alice.app.authenticate(local(ALICE))
    await bob.app.authenticate(local(BOB))
    const before = await counter(pair.url, 'roost_gateway_bus_events_total')
    await alice.app.service('messages').create({ text: 'forwarded' })
    await restChatClient(worker.url).app.service('messages').create({ text: 'elsewhere' })
    for (const c of [alice, bob]) {
      await until(() => c.texts.includes('forwarded') && c.texts.includes('elsewhere'), WAIT_MS, `both at ${c.kind}: ${c.texts}`)
    }
    await until(async () => (await counter(pair.url, 'roost_gateway_bus_events_total')) >= before + 2, WAIT_MS, 'both heard on the bus')
    for (const c of [alice, bob]) {
      assert.strictEqual(count(c.texts, 'forwarded'), 1, `${c.kind}: ${c.texts}`)
      assert.strictEqual(count(c.texts, 'elsewhere'), 1, `${c.kind}: ${c.texts}`)
    }
    assert.deepStrictEqual(anonymous.texts, [], 'anonymous sockets are not in `authenticated`')
    // Alice's login was published on the bus by the app (authentication `created`): Roost
    // never delivers it, so no other socket sees her access token.
    assert.ok(!bob.frames.some((f) => /^authentication /.test(f.event)), JSON.stringify(bob.frames))
  })
})
