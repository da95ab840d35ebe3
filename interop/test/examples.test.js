'use strict'
// The seed application written with Roost (crates/roost/examples/seed, its README maps each
// TypeScript file to a Rust one), driven by the official Primus client (`primus-client`
// 7.3.4) with the Feathers socket client: channel membership (anonymous, authenticated,
// user/<id>, role/<r>, permission/<p>), the publisher's branches, the messages hooks and
// the three kinds of custom events (everyone, one connection, a channel).
//
// Four connections: A1 and A2 are alice (admin, permission `reports`), B is bob (user), N
// stays anonymous. "X receives nothing" is checked without timing: after the call under
// test N sends a sentinel to everyone and each peer waits for it; frames on one connection
// arrive in order and the server sends an event before it acks the call.
// Roost only: the seed has no Node server here.

const assert = require('node:assert')

const { feathers, defaultServiceMethods } = require('@feathersjs/feathers')
const { startExampleServer, serverKind } = require('../lib/server')
const { irEngineUrl, primusFeathers, connectPrimusClient } = require('../lib/primus-feathers')
const { nextEvent, within, until, recordSocket, endSocket } = require('../lib/wait')

const WAIT_MS = 5000
const plain = (value) => (value === undefined ? undefined : JSON.parse(JSON.stringify(value)))
const same = (actual, expected, message) => assert.deepStrictEqual(plain(actual), plain(expected), message)

function clientApp(primus) {
  const app = feathers()
  app.configure(primusFeathers(primus))
  app.use('messages', app.defaultService('messages'), { methods: [...defaultServiceMethods, 'join'] })
  app.use('notifications', app.defaultService('notifications'), { methods: ['everyone', 'me', 'channel'] })
  return app
}

const describeRoost = serverKind() === 'roost' ? describe : describe.skip

describeRoost('the seed example (crates/roost/examples/seed) with primus-client 7.3.4', function () {
  let server
  const peers = {} // name → { primus, record, app, user }
  const names = ['A1', 'A2', 'B', 'N']
  let sentinel = 0

  before(async function () {
    this.timeout(30000)
    server = await startExampleServer('seed')
    for (const name of names) {
      const primus = connectPrimusClient(irEngineUrl(server.url, { peerID: name }))
      const record = recordSocket(primus)
      peers[name] = { primus, record, app: clientApp(primus) }
    }
    await Promise.all(names.map((name) => nextEvent(peers[name].primus, 'open', WAIT_MS)))
    const logins = { A1: ['alice@example.com', 'alice-pw'], A2: ['alice@example.com', 'alice-pw'], B: ['bob@example.com', 'bob-pw'] }
    for (const [name, [email, password]] of Object.entries(logins)) {
      const result = await peers[name].app.service('authentication').create({ strategy: 'local', email, password })
      peers[name].user = result.user
    }
  })

  after(async function () {
    this.timeout(15000)
    for (const { primus } of Object.values(peers)) endSocket(primus)
    if (server) await server.stop()
  })

  const service = (name, path) => peers[name].app.service(path)

  /** Runs `action`, then a sentinel round; resolves `{result, seen}`: the event frames each peer got. */
  async function observe(action) {
    const start = Object.fromEntries(names.map((name) => [name, peers[name].record.frames.length]))
    const result = await within(Promise.resolve().then(action), WAIT_MS, 'the call under test')
    const n = ++sentinel
    await within(service('N', 'notifications').everyone({ event: 'sentinel', data: n }), WAIT_MS, 'the sentinel')
    const isSentinel = (f) => f && f.type === 0 && f.data[0] === 'sentinel' && f.data[1] === n
    await until(() => names.every((name) => peers[name].record.frames.some(isSentinel)), WAIT_MS, `sentinel ${n}`)
    const seen = {}
    for (const name of names) {
      const frames = peers[name].record.frames.slice(start[name])
      seen[name] = frames.slice(0, frames.findIndex(isSentinel)).filter((f) => f && f.type === 0).map((f) => f.data)
    }
    return { result, seen }
  }

  /** Asserts that exactly `who` received `[event, data]` once, and nobody else anything. */
  function onlyTo(seen, who, frame) {
    for (const name of names) same(seen[name], who.includes(name) ? [frame] : [], name)
  }

  describe('channels (a custom event to each channel shows its members)', function () {
    const cases = [
      ['anonymous', ['N']],
      ['authenticated', ['A1', 'A2', 'B']],
      ['role/admin', ['A1', 'A2']],
      ['role/user', ['B']],
      ['permission/reports', ['A1', 'A2']]
    ]
    for (const [channel, who] of cases) {
      it(`${channel} → ${who.join(', ')}`, async function () {
        const { result, seen } = await observe(() =>
          service('A1', 'notifications').channel({ channel, event: 'hello', data: { channel } })
        )
        same(result, { sent: true })
        onlyTo(seen, who, ['hello', { channel }])
      })
    }

    it('user/<id> → every connection of that user', async function () {
      const channel = `user/${peers.B.user.id}`
      const { seen } = await observe(() => service('A1', 'notifications').channel({ channel, event: 'dm', data: 1 }))
      onlyTo(seen, ['B'], ['dm', 1])
    })
  })

  describe('the publisher and the messages hooks', function () {
    it('a logged-in author’s message goes to user/<author> (both of alice’s connections), as dispatch', async function () {
      const { result, seen } = await observe(() => service('A1', 'messages').create({ text: 'hi', extra: 'dropped' }))
      assert.strictEqual(result.userId, peers.A1.user.id)
      assert.strictEqual(result.text, 'hi')
      assert.strictEqual(typeof result.createdAt, 'number')
      assert.strictEqual(result.customData, 'This will be included in the event')
      assert.ok(!('extra' in result), 'the before hook keeps only text and roomId')
      onlyTo(seen, ['A1', 'A2'], ['messages created', result])
    })

    it('an anonymous message with a roomId goes to room/<roomId>; the result names the channel', async function () {
      same(await service('N', 'messages').join({ roomId: 'r1' }), { joined: 'r1' })
      const { result, seen } = await observe(() => service('N', 'messages').create({ text: 'in the room', roomId: 'r1' }))
      assert.ok(!('userId' in result))
      same(result.channels, ['room/r1'])
      onlyTo(seen, ['N'], ['messages created', result])
    })

    it('a task with a projectId goes to project/<id> (nobody joined it); without, to authenticated', async function () {
      const project = await observe(() => service('B', 'tasks').create({ title: 'p', projectId: 7 }))
      onlyTo(project.seen, [], null)
      const { result, seen } = await observe(() => service('B', 'tasks').create({ title: 'plain' }))
      onlyTo(seen, ['A1', 'A2', 'B'], ['tasks created', result])
    })

    it('a message without text is refused by the hook (400 BadRequest)', async function () {
      await assert.rejects(service('B', 'messages').create({ roomId: 'r1' }), (error) => {
        assert.strictEqual(error.name, 'BadRequest')
        assert.strictEqual(error.code, 400)
        assert.strictEqual(error.message, 'text is required')
        return true
      })
    })
  })

  describe('custom events', function () {
    it('to everyone: every connection, anonymous or not', async function () {
      const { result, seen } = await observe(() => service('B', 'notifications').everyone({ event: 'news', data: { n: 1 } }))
      same(result, { sent: true })
      onlyTo(seen, names, ['news', { n: 1 }])
    })

    it('to one connection: only the caller (A2, not A1)', async function () {
      const { seen } = await observe(() => service('A2', 'notifications').me({ event: 'note', data: 'for A2' }))
      onlyTo(seen, ['A2'], ['note', 'for A2'])
    })

    it('to a channel: only its members, and only from a logged-in caller (a hook on the custom method)', async function () {
      const { seen } = await observe(() =>
        service('B', 'notifications').channel({ channel: 'role/admin', event: 'alert', data: 'admins' })
      )
      onlyTo(seen, ['A1', 'A2'], ['alert', 'admins'])
      await assert.rejects(
        service('N', 'notifications').channel({ channel: 'role/admin', event: 'alert', data: 'x' }),
        (error) => {
          assert.strictEqual(error.name, 'NotAuthenticated')
          assert.strictEqual(error.code, 401)
          return true
        }
      )
    })
  })
})
