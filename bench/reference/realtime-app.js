'use strict'
// The real-time interop test app of interop/REALTIME-APP.md on the official
// stack: Feathers 5.0.50 + @feathersjs/koa + Primus 8.0.9 (websockets) +
// primus-emitter 3.1.1, wired by ./primus.js. realtime.js owns the process.
//
// Services:
//   people, people-customid  memory (id `id` / `customid`), paginate off, multi off, publish nothing
//   messages                 memory, multi, + join/leave/typing, events ['typing'], channel publishers
//   broadcast                toAll/toMe/toChannel: raw primus-emitter sends, publishes nothing

const { feathers } = require('@feathersjs/feathers')
const { koa, rest, bodyParser, errorHandler } = require('@feathersjs/koa')
const { MemoryService } = require('@feathersjs/memory')
const { primus } = require('./primus')
const socketio = require('@feathersjs/socketio')

const STANDARD_METHODS = ['find', 'get', 'create', 'update', 'patch', 'remove']

/** `GET /healthz` → 200 `{"status":"ok"}` (Primus answers /primus* before Koa sees it). */
function healthz() {
  return async (ctx, next) => {
    if (ctx.path === '/healthz' && (ctx.method === 'GET' || ctx.method === 'HEAD')) {
      ctx.status = 200
      ctx.body = { status: 'ok' }
      return
    }
    return next()
  }
}

/** `messages`: memory service plus the custom methods join/leave/typing. */
class MessageService extends MemoryService {
  constructor(app, options) {
    super(options)
    this.app = app
  }

  /** Joins the calling connection to `room/<roomId>`. */
  async join(data, params) {
    const roomId = data && data.roomId
    this.app.channel(`room/${roomId}`).join(params.connection)
    return { joined: roomId }
  }

  /** Makes the calling connection leave `room/<roomId>`. */
  async leave(data, params) {
    const roomId = data && data.roomId
    this.app.channel(`room/${roomId}`).leave(params.connection)
    return { left: roomId }
  }

  /** Emits the custom event `typing` (published like `created`). */
  async typing(data) {
    this.emit('typing', data)
    return data
  }
}

/** After create: clients see the result without `secret` (ack and events). */
function dispatchWithoutSecret(context) {
  const strip = (item) => {
    if (item === null || typeof item !== 'object') return item
    const { secret, ...rest } = item // eslint-disable-line no-unused-vars
    return rest
  }
  context.dispatch = Array.isArray(context.result) ? context.result.map(strip) : strip(context.result)
  return context
}

/** Spark of a Feathers connection (set by ./primus.js), or undefined (e.g. REST). */
const sparkOf = (connection) => connection && connection.primus

/** `broadcast`: custom events sent with primus-emitter outside Feathers' publishing. */
class BroadcastService {
  constructor(app) {
    this.app = app
  }

  /** `event` with `data` to every connection. */
  async toAll({ event, data } = {}) {
    this.app.primus.send(event, data)
    return { sent: true }
  }

  /** `event` with `data` to the calling connection only. */
  async toMe({ event, data } = {}, params = {}) {
    const spark = sparkOf(params.connection)
    if (spark) spark.send(event, data)
    return { sent: true }
  }

  /** `event` with `data` to the members of `channel`. */
  async toChannel({ channel, event, data } = {}) {
    for (const connection of this.app.channel(channel).connections) {
      const spark = sparkOf(connection)
      if (spark) spark.send(event, data)
    }
    return { sent: true }
  }
}

function services(app) {
  app.use('people', new MemoryService({ id: 'id', paginate: false, multi: false }), { methods: STANDARD_METHODS })
  app.use('people-customid', new MemoryService({ id: 'customid', paginate: false, multi: false }), {
    methods: STANDARD_METHODS
  })

  app.use('messages', new MessageService(app, { id: 'id', paginate: false, multi: true }), {
    methods: [...STANDARD_METHODS, 'join', 'leave', 'typing'],
    events: ['typing']
  })
  app.service('messages').hooks({ after: { create: [dispatchWithoutSecret] } })

  app.use('broadcast', new BroadcastService(app), { methods: ['toAll', 'toMe', 'toChannel'] })
}

function channels(app) {
  app.on('connection', (connection) => app.channel('anonymous').join(connection))

  const messages = app.service('messages')
  // A truthy `roomId` routes to the room, anything else to `anonymous`.
  const roomOrAnonymous = (data) =>
    data && data.roomId ? app.channel(`room/${data.roomId}`) : app.channel('anonymous')
  messages.publish('created', roomOrAnonymous)
  messages.publish('updated', roomOrAnonymous)
  messages.publish('typing', roomOrAnonymous)
  // Per-channel data: members of `anonymous` get a redacted payload.
  messages.publish('patched', (data) => app.channel('anonymous').send({ id: data.id, redacted: true }))
  // Two channels; a connection in both gets one frame.
  messages.publish('removed', (data) => [app.channel(`room/${data.roomId}`), app.channel('anonymous')])
}

/** Build the real-time app; `pingInterval` (ms) is Primus' heartbeat interval. */
function createRealtimeApp({ pingInterval = 10000 } = {}) {
  const app = koa(feathers())

  app.use(healthz())
  app.use(errorHandler())
  app.use(bodyParser())
  app.configure(rest())
  app.configure(primus({ transformer: 'websockets', pingInterval }))
  // Socket.IO on the same port (docs/protocol.md §13), as Roost serves it.
  app.configure(socketio())
  app.configure(services)
  app.configure(channels)

  return app
}

module.exports = { createRealtimeApp }
