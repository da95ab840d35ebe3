'use strict'
// Channels and publishing over Primus with three connections:
//   A (primus-client 7.3.4), B (primus-client 7.3.4), C (primus 8.0.9 createSocket).
// All three are in `anonymous` (joined on connection). A and B join `room/r1`
// with messages.join; C stays out. The cases run in order and share this state.
//
// "X receives nothing" is checked without timing: after the call under test,
// A sends a sentinel to everyone (broadcast.toAll) and waits until all three
// received it. Frames on one connection arrive in order, and the server sends
// an event to every receiver before it acks the call, so anything the call
// published to C would have arrived before C's sentinel. Calls that set up a
// case go through the same sentinel round, so their events never leak into
// the next observation.

const assert = require('node:assert')

const { startRealtimeServer, serverKind } = require('../lib/server')
const { irEngineUrl, realtimeClientApp, connectPrimusClient, connectPrimusNode } = require('../lib/primus-feathers')
const { nextEvent, within, until, recordSocket, endSocket } = require('../lib/wait')

const WAIT_MS = 5000
const ROOM = 'r1'

const plain = (value) => (value === undefined ? undefined : JSON.parse(JSON.stringify(value)))
const same = (actual, expected, message) => assert.deepStrictEqual(plain(actual), plain(expected), message)

describe(`Primus channels against the ${serverKind()} server`, function () {
  let server
  const peers = {} // name → { primus, record, app, messages, broadcast }
  let sentinel = 0

  before(async function () {
    this.timeout(30000)
    server = await startRealtimeServer()
    const connects = { A: connectPrimusClient, B: connectPrimusClient, C: connectPrimusNode }
    for (const [name, connect] of Object.entries(connects)) {
      const primus = connect(irEngineUrl(server.url, { peerID: name }))
      const record = recordSocket(primus)
      const app = realtimeClientApp(primus)
      peers[name] = { primus, record, app, messages: app.service('messages'), broadcast: app.service('broadcast') }
    }
    await Promise.all(Object.values(peers).map(({ primus }) => nextEvent(primus, 'open', WAIT_MS)))
  })

  after(async function () {
    this.timeout(15000)
    for (const { primus } of Object.values(peers)) endSocket(primus)
    if (server) await server.stop()
  })

  /** Frame positions of every peer now. */
  const mark = () => Object.fromEntries(Object.entries(peers).map(([name, p]) => [name, p.record.frames.length]))

  /**
   * Run `action`, then a sentinel round; resolves `{A, B, C}`: the EVENT
   * frames (`data` arrays) each peer received after the mark, sentinel excluded.
   */
  async function observe(action) {
    const start = mark()
    const result = await within(Promise.resolve().then(action), WAIT_MS, 'the call under test')
    const n = ++sentinel
    await within(peers.A.broadcast.toAll({ event: 'sentinel', data: n }), WAIT_MS, 'the sentinel broadcast')
    const isSentinel = (f) => f && f.type === 0 && f.data[0] === 'sentinel' && f.data[1] === n
    await until(() => Object.values(peers).every((p) => p.record.frames.some(isSentinel)), WAIT_MS, `sentinel ${n}`)
    const seen = {}
    for (const [name, p] of Object.entries(peers)) {
      const frames = p.record.frames.slice(start[name])
      const end = frames.findIndex(isSentinel)
      seen[name] = frames.slice(0, end).filter((f) => f && f.type === 0).map((f) => f.data)
    }
    return { result, seen }
  }

  /** Set-up call: `action` through a sentinel round, so its events are all delivered; resolves its result. */
  const settle = async (action) => (await observe(action)).result

  it('A and B join room/r1 (A twice: joining is idempotent), C does not', async function () {
    same(await peers.A.messages.join({ roomId: ROOM }), { joined: ROOM })
    same(await peers.A.messages.join({ roomId: ROOM }), { joined: ROOM })
    same(await peers.B.messages.join({ roomId: ROOM }), { joined: ROOM })
  })

  it('`created` with a roomId reaches only the room members, once each, without `secret`', async function () {
    const { result, seen } = await observe(() =>
      peers.A.messages.create({ text: 'to the room', roomId: ROOM, secret: 's' })
    )
    assert.ok(!('secret' in result))
    same(seen.A, [['messages created', result]])
    same(seen.B, [['messages created', result]])
    same(seen.C, [])
  })

  it('`created` without a roomId reaches everyone (anonymous)', async function () {
    const { result, seen } = await observe(() => peers.C.messages.create({ text: 'to everyone' }))
    for (const name of ['A', 'B', 'C']) same(seen[name], [['messages created', result]], name)
  })

  it('`typing` (custom event) with a roomId → room members; without → everyone', async function () {
    const inRoom = await observe(() => peers.B.messages.typing({ roomId: ROOM, who: 'B' }))
    same(inRoom.seen.A, [['messages typing', { roomId: ROOM, who: 'B' }]])
    same(inRoom.seen.B, [['messages typing', { roomId: ROOM, who: 'B' }]])
    same(inRoom.seen.C, [])

    const everyone = await observe(() => peers.C.messages.typing({ who: 'C' }))
    for (const name of ['A', 'B', 'C']) same(everyone.seen[name], [['messages typing', { who: 'C' }]], name)
  })

  it('`updated` with a roomId → room members only', async function () {
    const created = await settle(() => peers.A.messages.create({ text: 'will be updated', roomId: ROOM }))
    const { result, seen } = await observe(() => peers.C.messages.update(created.id, { text: 'updated', roomId: ROOM }))
    same(seen.A, [['messages updated', result]])
    same(seen.B, [['messages updated', result]])
    same(seen.C, [], 'C updated it but is not in the room')
  })

  it('`patched` → the per-channel data {id, redacted: true} to every `anonymous` member', async function () {
    const created = await settle(() => peers.A.messages.create({ text: 'will be patched', roomId: ROOM }))
    const { result, seen } = await observe(() => peers.A.messages.patch(created.id, { text: 'patched' }))
    same(result, { ...created, text: 'patched' }, 'the caller’s ack has the full record')
    const redacted = { id: created.id, redacted: true }
    for (const name of ['A', 'B', 'C']) same(seen[name], [['messages patched', redacted]], name)
  })

  it('`removed` goes to [room, anonymous]: ONE frame per connection, also for members of both', async function () {
    const created = await settle(() => peers.B.messages.create({ text: 'will be removed', roomId: ROOM }))
    const { result, seen } = await observe(() => peers.B.messages.remove(created.id))
    same(result, created)
    for (const name of ['A', 'B', 'C']) same(seen[name], [['messages removed', result]], name)
  })

  it('broadcast.toAll → a custom event to every connection', async function () {
    const { result, seen } = await observe(() =>
      peers.B.broadcast.toAll({ event: 'announcement', data: { text: 'hello everyone' } })
    )
    same(result, { sent: true })
    for (const name of ['A', 'B', 'C']) same(seen[name], [['announcement', { text: 'hello everyone' }]], name)
  })

  it('broadcast.toMe → only the calling connection', async function () {
    const { result, seen } = await observe(() => peers.B.broadcast.toMe({ event: 'private-note', data: { to: 'B' } }))
    same(result, { sent: true })
    same(seen.A, [])
    same(seen.B, [['private-note', { to: 'B' }]])
    same(seen.C, [])
  })

  it('broadcast.toChannel → only the channel members (the caller C is not one)', async function () {
    const { result, seen } = await observe(() =>
      peers.C.broadcast.toChannel({ channel: `room/${ROOM}`, event: 'room-note', data: { room: ROOM } })
    )
    same(result, { sent: true })
    same(seen.A, [['room-note', { room: ROOM }]])
    same(seen.B, [['room-note', { room: ROOM }]])
    same(seen.C, [])
  })

  it('broadcast.toChannel on a channel nobody is in → {sent: true}, nothing sent', async function () {
    const { result, seen } = await observe(() =>
      peers.A.broadcast.toChannel({ channel: 'room/empty', event: 'nobody', data: 1 })
    )
    same(result, { sent: true })
    for (const name of ['A', 'B', 'C']) same(seen[name], [], name)
  })

  it('after B leaves the room it no longer receives its events', async function () {
    same(await peers.B.messages.leave({ roomId: ROOM }), { left: ROOM })
    const created = await observe(() => peers.A.messages.create({ text: 'after B left', roomId: ROOM }))
    same(created.seen.A, [['messages created', created.result]])
    same(created.seen.B, [])
    same(created.seen.C, [])

    const typed = await observe(() => peers.A.messages.typing({ roomId: ROOM, who: 'A' }))
    same(typed.seen.A, [['messages typing', { roomId: ROOM, who: 'A' }]])
    same(typed.seen.B, [])

    const note = await observe(() => peers.A.broadcast.toChannel({ channel: `room/${ROOM}`, event: 'n', data: 2 }))
    same(note.seen.A, [['n', 2]])
    same(note.seen.B, [])
    same(note.seen.C, [])
  })
})
