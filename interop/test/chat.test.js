'use strict'
// The chat app's channels and publishing (CHAT-APP.md "Channels") over Primus,
// once per publish preset (`default`, `reference`), with four sockets
// (primus-client 7.3.4 + @feathersjs/authentication-client):
//   A1, A2  alice, logged in over the socket (A2 with A1's token: a second tab)
//   B       bob, logged in over the socket
//   N       anonymous
// and two REST clients: anonymous, and alice with her token.
// Rooms: A1, B and N join `r1`; A2 does not. Everyone joins `sentinel`.
//
// "X receives nothing" is proven without timing: after the call under test an
// anonymous REST create in room `sentinel` (routed to room/sentinel by both
// presets) must reach every socket, and nothing published by the call may
// arrive after it: frames on one connection arrive in order and the call's
// events were published before its response.
//
// Then logout (the socket leaves every channel, rooms too) and, on a server
// with expiresIn 3s, token expiry on a live socket: no more channel events,
// the socket stays open, and a new login restores delivery.

const assert = require('node:assert')
const errors = require('@feathersjs/errors')

const { startChatServer, serverKind } = require('../lib/server')
const { ALICE, BOB, local, primusChatClient, restChatClient, secretsIn } = require('../lib/chat-client')
const { within, until } = require('../lib/wait')
const { assertFeathersError, same, sleep } = require('../lib/auth-suite')

const WAIT_MS = 5000
const ROOM = 'r1'
const SENTINEL_ROOM = 'sentinel'
const PEERS = ['A1', 'A2', 'B', 'N']

/** The `[name, payload]` of every emitter EVENT frame in `frames`. */
const eventsIn = (frames) => frames.filter((f) => f && f.type === 0 && Array.isArray(f.data)).map((f) => f.data)

/** A harness around a set of Primus peers and the anonymous REST client. */
function harness() {
  const h = { peers: {}, rest: null, sentinel: 0 }

  /** Frame positions of every peer now. */
  h.mark = () => Object.fromEntries(Object.entries(h.peers).map(([name, p]) => [name, p.record.frames.length]))

  /**
   * Run `action`, then a sentinel round over `room` (every peer in `names` must
   * be in it); resolves `{result, seen}`: the EVENT frames (`[name, payload]`)
   * each of `names` received after the mark, the sentinel excluded.
   */
  h.observe = async (action, names = Object.keys(h.peers), room = SENTINEL_ROOM) => {
    const start = h.mark()
    const result = await within(Promise.resolve().then(action), WAIT_MS, 'the call under test')
    const text = `sentinel ${++h.sentinel}`
    await within(h.rest.app.service('messages').create({ text, roomId: room }), WAIT_MS, 'the sentinel create')
    const isSentinel = (f) => f && f.type === 0 && f.data[0] === 'messages created' && f.data[1] && f.data[1].text === text
    await until(
      () => names.every((name) => h.peers[name].record.frames.slice(start[name]).some(isSentinel)),
      WAIT_MS,
      `${text} at ${names.join(', ')}`
    )
    const seen = {}
    for (const name of names) {
      const frames = h.peers[name].record.frames.slice(start[name])
      seen[name] = eventsIn(frames.slice(0, frames.findIndex(isSentinel)))
    }
    return { result, seen }
  }

  /** `seen` holds exactly one `[event, payload]` at each peer of `receivers` and nothing anywhere else. */
  h.assertDelivery = (seen, event, payload, receivers) => {
    for (const [name, events] of Object.entries(seen)) {
      const expected = receivers.includes(name) ? [[event, payload]] : []
      same(events, expected, `${name} (expected at ${receivers.join(', ') || 'nobody'})`)
    }
  }

  h.end = () => {
    for (const p of Object.values(h.peers)) p.end()
  }
  return h
}

for (const publishRules of ['default', 'reference']) {
  describe(`chat channels, publish rules '${publishRules}', against the ${serverKind()} server`, function () {
    let server
    const h = harness()
    let restAlice
    let aliceToken
    const byRules = (expected) => expected[publishRules]

    before(async function () {
      this.timeout(30000)
      server = await startChatServer({ publishRules })
      h.rest = restChatClient(server.url)
      for (const name of PEERS) h.peers[name] = await primusChatClient(server.url)
      const { A1, A2, B } = h.peers
      aliceToken = (await A1.app.authenticate(local(ALICE))).accessToken
      const second = await A2.app.authenticate({ strategy: 'jwt', accessToken: aliceToken })
      assert.strictEqual(second.user.id, 1)
      assert.strictEqual((await B.app.authenticate(local(BOB))).user.id, 2)
      restAlice = restChatClient(server.url)
      await restAlice.app.authenticate(local(ALICE))
    })

    after(async function () {
      this.timeout(15000)
      h.end()
      if (server) await server.stop()
    })

    it('join/leave answer {roomId, joined|left: true}; over REST join is 400', async function () {
      for (const name of PEERS) {
        same(await h.peers[name].app.service('messages').join({ roomId: SENTINEL_ROOM }), {
          roomId: SENTINEL_ROOM,
          joined: true
        })
      }
      for (const name of ['A1', 'B', 'N']) {
        same(await h.peers[name].app.service('messages').join({ roomId: ROOM }), { roomId: ROOM, joined: true })
      }
      // Leaving a room one is not in, then joining again, is harmless.
      const messages = h.peers.A2.app.service('messages')
      same(await messages.leave({ roomId: 'elsewhere' }), { roomId: 'elsewhere', left: true })

      const restMessages = h.rest.app.service('messages')
      const error = await restMessages.join({ roomId: ROOM }).then(
        () => null,
        (e) => e
      )
      assert.ok(error, 'join over REST must fail')
      assertFeathersError(error, errors.BadRequest, 'join needs a real-time connection')
    })

    // [case, how the message is created, receivers by preset]
    const cases = [
      {
        name: 'alice (socket A1) with roomId r1',
        create: () => h.peers.A1.app.service('messages').create({ text: 'alice in r1', roomId: ROOM }),
        userId: 1,
        receivers: { default: ['A1', 'B', 'N'], reference: ['A1', 'A2'] }
      },
      {
        name: 'alice (socket A1) without roomId',
        create: () => h.peers.A1.app.service('messages').create({ text: 'alice, no room' }),
        userId: 1,
        receivers: { default: ['A1', 'A2'], reference: ['A1', 'A2'] }
      },
      {
        name: 'bob (socket B) with roomId r1',
        create: () => h.peers.B.app.service('messages').create({ text: 'bob in r1', roomId: ROOM }),
        userId: 2,
        receivers: { default: ['A1', 'B', 'N'], reference: ['B'] }
      },
      {
        name: 'bob (socket B) without roomId',
        create: () => h.peers.B.app.service('messages').create({ text: 'bob, no room' }),
        userId: 2,
        receivers: { default: ['B'], reference: ['B'] }
      },
      {
        name: 'anonymous (socket N) with roomId r1',
        create: () => h.peers.N.app.service('messages').create({ text: 'anonymous socket in r1', roomId: ROOM }),
        receivers: { default: ['A1', 'B', 'N'], reference: ['A1', 'B', 'N'] }
      },
      {
        name: 'anonymous (socket N) without roomId',
        create: () => h.peers.N.app.service('messages').create({ text: 'anonymous socket, no room' }),
        receivers: { default: ['A1', 'A2', 'B'], reference: ['A1', 'A2', 'B'] }
      },
      {
        name: 'anonymous (REST, no token) with roomId r1',
        create: () => h.rest.app.service('messages').create({ text: 'anonymous REST in r1', roomId: ROOM }),
        receivers: { default: ['A1', 'B', 'N'], reference: ['A1', 'B', 'N'] }
      },
      {
        name: 'anonymous (REST, no token) without roomId',
        create: () => h.rest.app.service('messages').create({ text: 'anonymous REST, no room' }),
        receivers: { default: ['A1', 'A2', 'B'], reference: ['A1', 'A2', 'B'] }
      },
      {
        name: 'anonymous (REST) with a userId in the data: ignored, so no user channel',
        create: () => h.rest.app.service('messages').create({ text: 'claims to be bob', userId: 2 }),
        receivers: { default: ['A1', 'A2', 'B'], reference: ['A1', 'A2', 'B'] }
      },
      {
        name: 'alice over REST (token) with roomId r2, a room nobody joined',
        create: () => restAlice.app.service('messages').create({ text: 'alice REST in r2', roomId: 'r2' }),
        userId: 1,
        receivers: { default: [], reference: ['A1', 'A2'] }
      },
      {
        name: 'alice over REST (token) without roomId',
        create: () => restAlice.app.service('messages').create({ text: 'alice REST, no room' }),
        userId: 1,
        receivers: { default: ['A1', 'A2'], reference: ['A1', 'A2'] }
      }
    ]

    for (const c of cases) {
      const receivers = byRules(c.receivers)
      it(`messages created by ${c.name} → ${receivers.join(', ') || 'nobody'}`, async function () {
        const { result, seen } = await h.observe(c.create)
        assert.ok(Number.isInteger(result.id) && result.id >= 1, JSON.stringify(result))
        assert.ok(Number.isInteger(result.createdAt), JSON.stringify(result))
        if (c.userId === undefined) assert.ok(!('userId' in result), `anonymous message has userId: ${JSON.stringify(result)}`)
        else assert.strictEqual(result.userId, c.userId)
        h.assertDelivery(seen, 'messages created', result, receivers)
      })
    }

    it("alice's two sockets both get every user/1 event and bob none of them", async function () {
      const { seen } = await h.observe(async () => {
        const messages = h.peers.A1.app.service('messages')
        return [await messages.create({ text: 'to me 1' }), await messages.create({ text: 'to me 2' })]
      })
      const texts = (name) => seen[name].filter(([e]) => e === 'messages created').map(([, m]) => m.text)
      same(texts('A1'), ['to me 1', 'to me 2'])
      same(texts('A2'), ['to me 1', 'to me 2'])
      same(texts('B'), [])
      same(texts('N'), [])
    })

    it('users created (signup over REST) → authenticated (A1, A2, B), without password', async function () {
      const { result, seen } = await h.observe(() =>
        h.rest.app.service('users').create({ email: `dave-${publishRules}@example.com`, password: 'dave-pw' })
      )
      same(secretsIn(result), [])
      h.assertDelivery(seen, 'users created', result, ['A1', 'A2', 'B'])
    })

    it('logout: the socket leaves every channel (rooms too) and stays open; a new login gets authenticated back', async function () {
      const { B } = h.peers
      await B.app.logout()
      // B is in no channel now, not even the sentinel room: it joins a second sentinel room.
      same(await B.app.service('messages').join({ roomId: 'sentinel-b' }), { roomId: 'sentinel-b', joined: true })
      const observeB = (action) => h.observe(action, ['B'], 'sentinel-b')

      for (const create of [
        () => h.rest.app.service('messages').create({ text: 'r1 after logout', roomId: ROOM }),
        () => h.rest.app.service('messages').create({ text: 'authenticated after logout' }),
        () => h.peers.A1.app.service('messages').create({ text: 'alice after bob logout' })
      ]) {
        same((await observeB(create)).seen.B, [])
      }
      assert.ok(!B.record.events.includes('close') && !B.record.events.includes('end'), B.record.events.join())

      await B.app.authenticate(local(BOB))
      const { result, seen } = await observeB(() =>
        h.rest.app.service('messages').create({ text: 'authenticated after login' })
      )
      same(seen.B, [['messages created', result]])
      // Rooms are not restored by a login.
      same((await observeB(() => h.rest.app.service('messages').create({ text: 'r1 again', roomId: ROOM }))).seen.B, [])
    })
  })
}

describe(`chat: token expiry on a live Primus socket (expiresIn 3s) against the ${serverKind()} server`, function () {
  let server
  const h = harness()

  before(async function () {
    this.timeout(30000)
    server = await startChatServer({ expiresIn: '3s' })
    h.rest = restChatClient(server.url)
    h.peers.X = await primusChatClient(server.url)
  })

  after(async function () {
    this.timeout(15000)
    h.end()
    if (server) await server.stop()
  })

  /** An anonymous REST create without roomId: published to `authenticated`. */
  const toAuthenticated = (text) => () => h.rest.app.service('messages').create({ text })
  /** A message by alice over REST (a fresh login: tokens live 3 s): published to `user/1`. */
  const byAlice = (text) => async () => {
    const alice = restChatClient(server.url)
    await alice.app.authenticate(local(ALICE))
    return alice.app.service('messages').create({ text })
  }

  it('after expiry the socket gets no channel events and stays open; a new login restores delivery', async function () {
    this.timeout(30000)
    const { X } = h.peers
    const login = await X.app.authenticate(local(ALICE))
    same(await X.app.service('messages').join({ roomId: 'sentinel-x1' }), { roomId: 'sentinel-x1', joined: true })
    const live = await h.observe(toAuthenticated('before expiry'), ['X'], 'sentinel-x1')
    same(live.seen.X, [['messages created', live.result]])

    // Bounded polling until the server dropped the connection's authentication.
    const deadline = Date.now() + 10000
    for (;;) {
      const error = await X.app
        .service('users')
        .get(1)
        .then(
          () => null,
          (e) => e
        )
      if (error && error.message === 'Not authenticated') {
        assertFeathersError(error, errors.NotAuthenticated, 'Not authenticated')
        break
      }
      // Between `exp` and the server's expiry timer a call may still fail with `jwt expired`.
      if (error && error.message !== 'jwt expired') throw error
      if (Date.now() > deadline) throw new Error(`token exp ${login.authentication.payload.exp} still accepted`)
      await sleep(100)
    }
    assert.ok(!X.record.events.includes('close') && !X.record.events.includes('end'), X.record.events.join())

    // X left every channel, the sentinel room too: it joins another one to observe.
    same(await X.app.service('messages').join({ roomId: 'sentinel-x2' }), { roomId: 'sentinel-x2', joined: true })
    for (const create of [toAuthenticated('after expiry'), byAlice('to user/1 after expiry')]) {
      same((await h.observe(create, ['X'], 'sentinel-x2')).seen.X, [])
    }
    same((await h.observe(() => h.rest.app.service('messages').create({ text: 'x', roomId: 'sentinel-x1' }), ['X'], 'sentinel-x2')).seen.X, [])

    // A new login on the same socket: authenticated and user/1 again.
    const again = await X.app.authenticate(local(ALICE))
    assert.strictEqual(again.user.id, 1)
    for (const create of [toAuthenticated('after re-login'), byAlice('to user/1 after re-login')]) {
      const { result, seen } = await h.observe(create, ['X'], 'sentinel-x2')
      same(seen.X, [['messages created', result]])
    }
    assert.ok(!X.record.events.includes('close'), X.record.events.join())
  })
})

describe(`chat: the messages service over REST against the ${serverKind()} server`, function () {
  let server
  let messages

  before(async function () {
    this.timeout(30000)
    server = await startChatServer()
    messages = restChatClient(server.url).app.service('messages')
  })

  after(async function () {
    this.timeout(15000)
    if (server) await server.stop()
  })

  const refused = (promise) =>
    promise.then(
      (value) => assert.fail(`expected an error, got ${JSON.stringify(value)}`),
      (error) => error
    )

  it('text missing or empty → 400 `text is required`; over 10,000 characters → 400 `text is too long`', async function () {
    for (const data of [{}, { text: '' }, { roomId: ROOM }]) {
      assertFeathersError(await refused(messages.create(data)), errors.BadRequest, 'text is required')
    }
    assertFeathersError(await refused(messages.create({ text: 'x'.repeat(10001) })), errors.BadRequest, 'text is too long')
    const longest = await messages.create({ text: 'x'.repeat(10000) })
    assert.strictEqual(longest.text.length, 10000)
  })

  it('create: ids from 1, createdAt a ms timestamp, no userId without a token (never taken from the data)', async function () {
    const before = Date.now()
    const created = await messages.create({ text: 'hello', roomId: ROOM, userId: 42 })
    assert.ok(Number.isInteger(created.id) && created.id >= 1, JSON.stringify(created))
    assert.ok(created.createdAt >= before - 60000 && created.createdAt <= Date.now() + 60000, JSON.stringify(created))
    same({ ...created, id: 0, createdAt: 0 }, { text: 'hello', roomId: ROOM, id: 0, createdAt: 0 })
    same(await messages.get(created.id), created)
  })

  it('a logged-in author gets their userId', async function () {
    const bob = restChatClient(server.url)
    await bob.app.authenticate(local(BOB))
    const created = await bob.app.service('messages').create({ text: 'from bob', userId: 1 })
    assert.strictEqual(created.userId, 2)
  })

  it('find is paginated {default: 10, max: 50}', async function () {
    for (let i = 0; i < 12; i++) await messages.create({ text: `page ${i}` })
    const page = await messages.find()
    same({ limit: page.limit, skip: page.skip, length: page.data.length }, { limit: 10, skip: 0, length: 10 })
    assert.ok(page.total >= 12, JSON.stringify(page.total))
    const big = await messages.find({ query: { $limit: 500 } })
    assert.strictEqual(big.limit, 50)
  })
})
