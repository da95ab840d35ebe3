'use strict'
// Feathers service calls over Primus through lib/primus-feathers.js (the
// transport-commons socket Service with method 'send', as iR Engine's client
// does it), with both client libraries:
// - every method of `messages` (six standard + join/leave/typing), results and
//   the events they publish to the caller (without `secret`);
// - the event frame reaches the caller BEFORE the ack frame;
// - errors come back as the right Feathers error classes;
// - raw frames: missing trailing arguments, slashes around the path, and a
//   method no service has (`bogus`);
// - @feathersjs/adapter-tests 5.0.50 over Primus on `people` / `people-customid`,
//   in memory and (against Roost) once more in SQLite.

const assert = require('node:assert')
const adapterTests = require('@feathersjs/adapter-tests')
const errors = require('@feathersjs/errors')
const { feathers } = require('@feathersjs/feathers')

const { startRealtimeServer, serverKind } = require('../lib/server')
const {
  CLIENTS,
  irEngineUrl,
  realtimeClientApp,
  primusFeathers,
  DeclaredPrimusService,
  connectPrimusClient
} = require('../lib/primus-feathers')
const { nextEvent, within, settledWithin, recordSocket, endSocket } = require('../lib/wait')
const { SKIPPED } = require('./skipped')

const WAIT_MS = 5000
// How long a call to a method no service has must stay unanswered (reference).
const NO_ANSWER_MS = 1000

/**
 * deepStrictEqual on JSON-shaped values. Needed because Primus.createSocket
 * runs the client library in a new vm context: the objects it decodes have
 * that context's Object/Array prototypes, which deepStrictEqual rejects.
 */
const plain = (value) => (value === undefined ? undefined : JSON.parse(JSON.stringify(value)))
const same = (actual, expected, message) => assert.deepStrictEqual(plain(actual), plain(expected), message)

/** A raw emitter send with an ack: resolves `{error}` (converted to a Feathers error) or `{result}`. */
function rawCall(primus, ...args) {
  return new Promise((resolve) => {
    primus.send(...args, (error, result) => resolve(error ? { error: errors.convert(error) } : { result }))
  })
}

/** The next object payload of `service`'s `event` for which `match(payload)` holds (bounded). */
function eventPayload(service, event, match = () => true, ms = WAIT_MS) {
  let listener
  const seen = new Promise((resolve) => {
    listener = (payload) => {
      if (payload !== null && typeof payload === 'object' && match(payload)) resolve(payload)
    }
    service.on(event, listener)
  })
  return within(seen, ms, `'${service.path} ${event}'`).finally(() => service.removeListener(event, listener))
}

/** Assert `promise` rejects with an instance of `Class` with `message` (and the class' name/code). */
async function rejectsWith(promise, Class, message) {
  const error = await within(promise.then(() => null, (e) => e), WAIT_MS, `a ${Class.name}`)
  assert.ok(error, `expected ${Class.name}, the call succeeded`)
  assert.ok(error instanceof Class, `expected ${Class.name}, got ${error && error.name}: ${error && error.message}`)
  const expected = new Class(message)
  assert.strictEqual(error.name, expected.name)
  assert.strictEqual(error.code, expected.code)
  assert.strictEqual(error.className, expected.className)
  assert.strictEqual(error.message, message)
}

describe(`Feathers over Primus against the ${serverKind()} server`, function () {
  let server

  before(async function () {
    this.timeout(30000)
    server = await startRealtimeServer()
  })

  after(async function () {
    this.timeout(15000)
    if (server) await server.stop()
  })

  for (const [clientName, connect] of Object.entries(CLIENTS)) {
    describe(`messages with ${clientName}`, function () {
      let primus
      let record
      let app
      let messages
      // Tag every record with the client so the two runs never match each other's data.
      const tag = clientName.split(' ')[0]

      before(async function () {
        primus = connect(irEngineUrl(server.url, { peerID: tag }))
        record = recordSocket(primus)
        app = realtimeClientApp(primus)
        messages = app.service('messages')
        await nextEvent(primus, 'open', WAIT_MS)
      })

      after(function () {
        endSocket(primus)
      })

      /**
       * Index in the recorded frames (from index `from` on) of the event `name`
       * about record `id`, and of the ack carrying that record.
       */
      function frameOrder(name, id, from) {
        const at = (predicate) => {
          const i = record.frames.slice(from).findIndex(predicate)
          return i < 0 ? -1 : from + i
        }
        const eventAt = at((f) => f && f.type === 0 && f.data[0] === name && f.data[1] && f.data[1].id === id)
        const ackAt = at((f) => f && f.type === 1 && f.data[0] === null && f.data[1] && f.data[1].id === id)
        return { eventAt, ackAt }
      }

      it('create → the result without `secret`; `created` reaches the caller without `secret`, before the ack', async function () {
        const text = `${tag} hello`
        const event = eventPayload(messages, 'created', (m) => m.text === text)
        const from = record.frames.length
        const created = await within(messages.create({ text, secret: 's3cret' }), WAIT_MS, 'create')
        assert.strictEqual(created.text, text)
        assert.strictEqual(typeof created.id, 'number')
        assert.ok(!('secret' in created), JSON.stringify(created))
        same(await event, created)

        // Raw frames: the "messages created" EVENT frame came before the ACK frame.
        const { eventAt, ackAt } = frameOrder('messages created', created.id, from)
        assert.ok(eventAt >= 0 && ackAt >= 0, JSON.stringify(record.frames))
        assert.ok(eventAt < ackAt, `event frame #${eventAt} must precede ack frame #${ackAt}`)
        same(record.frames[eventAt], { type: 0, data: ['messages created', created] })
      })

      it('create with an array (multi) → an array result and one `created` event per item', async function () {
        const texts = [`${tag} multi 1`, `${tag} multi 2`]
        const events = texts.map((text) => eventPayload(messages, 'created', (m) => m.text === text))
        const created = await within(messages.create(texts.map((text) => ({ text }))), WAIT_MS, 'multi create')
        assert.ok(Array.isArray(created) && created.length === 2, JSON.stringify(created))
        same(await Promise.all(events), created)
      })

      it('create with an array of items with `secret` → the events carry null (dispatch lookup quirk)', async function () {
        // The dispatcher looks each emitted item (the stored record, with
        // `secret`) up in the array `dispatch` by deep equality; the dispatch
        // items lack `secret`, so nothing matches and `null` goes out.
        const from = record.frames.length
        const created = await within(
          messages.create([{ text: `${tag} s1`, secret: 'x' }, { text: `${tag} s2`, secret: 'y' }]),
          WAIT_MS,
          'multi create'
        )
        assert.ok(Array.isArray(created) && created.length === 2, JSON.stringify(created))
        for (const item of created) assert.ok(!('secret' in item), JSON.stringify(item))
        const frames = record.frames.slice(from)
        const ackAt = frames.findIndex((f) => f && f.type === 1)
        const events = frames.slice(0, ackAt).filter((f) => f && f.type === 0 && f.data[0] === 'messages created')
        same(events, [
          { type: 0, data: ['messages created', null] },
          { type: 0, data: ['messages created', null] }
        ])
      })

      it('get → the stored record (only create strips `secret`)', async function () {
        const created = await messages.create({ text: `${tag} get me`, secret: 'kept' })
        const got = await within(messages.get(created.id), WAIT_MS, 'get')
        same(got, { ...created, secret: 'kept' })
      })

      it('find with a query → a plain array (paginate off), JSON-typed query values', async function () {
        const roomId = `${tag}-find-room`
        await messages.create({ text: `${tag} a`, roomId, n: 1 })
        await messages.create({ text: `${tag} b`, roomId, n: 2 })
        await messages.create({ text: `${tag} c`, roomId, n: 3 })
        const found = await within(
          messages.find({ query: { roomId, n: { $gt: 1 }, $sort: { n: -1 }, $select: ['text'] } }),
          WAIT_MS,
          'find'
        )
        same(
          found.map(({ id, ...rest }) => (assert.strictEqual(typeof id, 'number'), rest)),
          [{ text: `${tag} c` }, { text: `${tag} b` }]
        )
      })

      it('update → the replaced record and an `updated` event with it', async function () {
        const created = await messages.create({ text: `${tag} to update` })
        const event = eventPayload(messages, 'updated', (m) => m.id === created.id)
        const from = record.frames.length
        const updated = await within(
          messages.update(created.id, { text: `${tag} replaced` }),
          WAIT_MS,
          'update'
        )
        same(updated, { id: created.id, text: `${tag} replaced` })
        same(await event, updated)
        const { eventAt, ackAt } = frameOrder('messages updated', created.id, from)
        assert.ok(eventAt >= 0 && eventAt < ackAt, `event #${eventAt} before ack #${ackAt}`)
      })

      it('patch → the patched record; `patched` carries the per-channel data {id, redacted: true}', async function () {
        const created = await messages.create({ text: `${tag} to patch` })
        const event = eventPayload(messages, 'patched', (m) => m.id === created.id)
        const patched = await within(messages.patch(created.id, { text: `${tag} patched` }), WAIT_MS, 'patch')
        same(patched, { id: created.id, text: `${tag} patched` })
        same(await event, { id: created.id, redacted: true })
      })

      it('remove → the removed record and a `removed` event with it', async function () {
        const created = await messages.create({ text: `${tag} to remove` })
        const event = eventPayload(messages, 'removed', (m) => m.id === created.id)
        const from = record.frames.length
        const removed = await within(messages.remove(created.id), WAIT_MS, 'remove')
        same(removed, created)
        same(await event, removed)
        const { eventAt, ackAt } = frameOrder('messages removed', created.id, from)
        assert.ok(eventAt >= 0 && eventAt < ackAt, `event #${eventAt} before ack #${ackAt}`)
      })

      it('custom methods: join → {joined}, leave → {left}, typing → its data and a `typing` event', async function () {
        const roomId = `${tag}-custom-room`
        same(await within(messages.join({ roomId }), WAIT_MS, 'join'), { joined: roomId })
        const data = { roomId, name: tag }
        const event = eventPayload(messages, 'typing', (d) => d.name === tag && d.roomId === roomId)
        const from = record.frames.length
        same(await within(messages.typing(data), WAIT_MS, 'typing'), data)
        same(await event, data)
        const frames = record.frames.slice(from)
        const eventAt = frames.findIndex((f) => f && f.type === 0 && f.data[0] === 'messages typing')
        const ackAt = frames.findIndex((f) => f && f.type === 1)
        same(frames[eventAt], { type: 0, data: ['messages typing', data] })
        assert.ok(eventAt >= 0 && eventAt < ackAt, `typing event #${eventAt} before ack #${ackAt}`)
        same(await within(messages.leave({ roomId }), WAIT_MS, 'leave'), { left: roomId })
      })

      it('the call frames are ["<method>", "<path>", ...args, query] with an ack id', async function () {
        const sentBefore = record.sent.length
        await messages.find({ query: { text: 'frame check' } })
        await messages.typing({ name: 'frame check' })
        const sent = record.sent.slice(sentBefore).filter((f) => f && f.type === 0)
        assert.strictEqual(sent.length, 2, JSON.stringify(sent))
        same(sent[0].data, ['find', 'messages', { text: 'frame check' }])
        same(sent[1].data, ['typing', 'messages', { name: 'frame check' }, {}])
        for (const frame of sent) assert.strictEqual(typeof frame.id, 'number')
        assert.strictEqual(sent[1].id, sent[0].id + 1)
      })

      describe('errors', function () {
        it("get of a missing id → NotFound `No record found for id '9999'`", async function () {
          await rejectsWith(messages.get(9999), errors.NotFound, "No record found for id '9999'")
        })

        it('an unknown filter → BadRequest `Invalid filter value $foo`', async function () {
          await rejectsWith(messages.find({ query: { $foo: 1 } }), errors.BadRequest, 'Invalid filter value $foo')
        })

        it("a method the service does not expose (raw send) → MethodNotAllowed `Method 'update' not allowed on service 'broadcast'`", async function () {
          const { error } = await within(rawCall(primus, 'update', 'broadcast', 1, {}, {}), WAIT_MS, 'the ack')
          await rejectsWith(
            Promise.reject(error),
            errors.MethodNotAllowed,
            "Method 'update' not allowed on service 'broadcast'"
          )
        })

        it("an unknown service → NotFound `Service 'nope' not found`", async function () {
          await rejectsWith(app.service('nope').find(), errors.NotFound, "Service 'nope' not found")
        })

        it('a path that is not a string (raw send) → NotFound `Invalid service path`', async function () {
          const { error } = await within(rawCall(primus, 'find', 42, {}), WAIT_MS, 'the ack')
          await rejectsWith(Promise.reject(error), errors.NotFound, 'Invalid service path')
        })

        it("one argument too many (raw send) → BadRequest `Too many arguments for 'get' method`", async function () {
          const { error } = await within(rawCall(primus, 'get', 'messages', 1, {}, {}), WAIT_MS, 'the ack')
          await rejectsWith(Promise.reject(error), errors.BadRequest, "Too many arguments for 'get' method")
        })

        it('error acks carry exactly one element: the error JSON', async function () {
          const before = record.frames.length
          await messages.get(424242).catch(() => {})
          const ack = record.frames.slice(before).find((f) => f && f.type === 1)
          same(ack.data, [
            { name: 'NotFound', message: "No record found for id '424242'", code: 404, className: 'not-found' }
          ])
        })
      })

      describe('raw frames', function () {
        it('missing trailing arguments are fine: ["find","messages"], ["typing","messages"]', async function () {
          const found = await within(rawCall(primus, 'find', 'messages'), WAIT_MS, 'find ack')
          assert.ok(Array.isArray(found.result), JSON.stringify(found))
          const typed = await within(rawCall(primus, 'typing', 'messages'), WAIT_MS, 'typing ack')
          same(typed, { result: null })
        })

        it('slashes around the path are stripped: "/messages/"', async function () {
          const found = await within(rawCall(primus, 'find', '/messages/', { text: 'none' }), WAIT_MS, 'ack')
          same(found, { result: [] })
        })

        if (serverKind() === 'reference') {
          it('a method no service has (`bogus`) is never answered (reference)', async function () {
            const outcome = await settledWithin(rawCall(primus, 'bogus', 'messages', {}), NO_ANSWER_MS)
            same(outcome, { settled: false })
          })
        } else {
          // Documented difference (README): Roost answers instead of leaving the client hanging.
          it('a method no service has (`bogus`) → MethodNotAllowed (Roost; the reference never answers)', async function () {
            const { error } = await within(rawCall(primus, 'bogus', 'messages', {}), WAIT_MS, 'the ack')
            assert.ok(error instanceof errors.MethodNotAllowed, `got ${error && error.name}: ${error && error.message}`)
            assert.strictEqual(error.code, 405)
          })
        }
      })
    })
  }

  describeAdapterTests('@feathersjs/adapter-tests over Primus (primus-client 7.3.4)', () => server)
})

/**
 * @feathersjs/adapter-tests over Primus (primus-client 7.3.4) against the
 * server `getServer()` returns once its `before` hooks ran.
 */
function describeAdapterTests(title, getServer) {
  describe(title, function () {
    // adapter-tests' service options: events ['testing'] (see lib/primus-feathers.js DeclaredPrimusService).
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

    let primus
    let client
    const app = { service: (name) => client.service(name) }

    before(async function () {
      primus = connectPrimusClient(irEngineUrl(getServer().url, { peerID: 'adapter-tests' }))
      client = feathers()
      client.configure(primusFeathers(primus))
      for (const [name, decl] of Object.entries(SERVICES)) {
        client.use(name, new DeclaredPrimusService({ name, connection: primus, method: 'send' }, decl))
      }
      await nextEvent(primus, 'open', WAIT_MS)
    })

    after(function () {
      endSocket(primus)
    })

    after(function () {
      const unknown = SKIPPED.filter((name) => !defined.has(name))
      assert.deepStrictEqual(unknown, [], 'SKIPPED names that @feathersjs/adapter-tests does not define')
    })

    for (const [name, { id }] of Object.entries(SERVICES)) {
      adapterTests(testNames)(app, errors, name, id)
    }
  })
}

// The same adapter-tests with `people` / `people-customid` in SQLite (Roost only:
// the example's --storage option, a fresh temp data directory).
if (serverKind() === 'roost') {
  describe('Feathers over Primus against the roost server (SQLite storage)', function () {
    let server

    before(async function () {
      this.timeout(30000)
      server = await startRealtimeServer({ storage: 'sqlite' })
    })

    after(async function () {
      this.timeout(15000)
      if (server) await server.stop()
    })

    describeAdapterTests('@feathersjs/adapter-tests over Primus on SQLite (primus-client 7.3.4)', () => server)
  })
}
