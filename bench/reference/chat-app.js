'use strict'
// The default chat app of interop/CHAT-APP.md (what `roost serve` runs) on the
// official stack: Feathers 5.0.50 + @feathersjs/koa REST + Primus 8.0.9
// (websockets, primus-emitter, wired by ./primus.js) + @feathersjs/authentication
// (jwt) + @feathersjs/authentication-local (local) + memory services.
// chat.js owns the process.
//
// Services:
//   authentication  jwt + local (email/password), publishes nothing (built in)
//   users           memory, ids from 1; create public, the rest needs a JWT; only self unless admin
//   messages        memory, ids from 1, paginate {10, 50}, public; + join/leave (rooms)
// Channels: anonymous on connection; authenticated, user/<id>, role/<r>,
// permission/<p> on a socket login; everything left on logout/expiry/disconnect.

const { feathers } = require('@feathersjs/feathers')
const { koa, rest, bodyParser, errorHandler } = require('@feathersjs/koa')
const { AuthenticationService, JWTStrategy, authenticate } = require('@feathersjs/authentication')
const { LocalStrategy, hooks: localHooks } = require('@feathersjs/authentication-local')
const { MemoryService } = require('@feathersjs/memory')
const { BadRequest, Conflict, Forbidden } = require('@feathersjs/errors')
const { primus } = require('./primus')
const socketio = require('@feathersjs/socketio')

const { hashPassword, protect } = localHooks
const STANDARD_METHODS = ['find', 'get', 'create', 'update', 'patch', 'remove']
const ADMIN_ROLE = 'admin'
const MAX_TEXT_CHARS = 10000

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

// ---------------------------------------------------------------------------
// users

/** External creates may not set `roles`/`permissions`: they are dropped. */
function dropPrivilegesFromExternal(context) {
  if (context.params.provider && context.data && typeof context.data === 'object') {
    const { roles, permissions, ...data } = context.data // eslint-disable-line no-unused-vars
    context.data = data
  }
  return context
}

/** `email` is unique: a create with an email that exists → 409 Conflict. */
async function uniqueEmail(context) {
  const email = context.data && context.data.email
  if (email !== undefined) {
    const existing = await context.service.find({ query: { email, $limit: 1 }, paginate: false })
    if (existing.length > 0) throw new Conflict(`A user with email '${email}' already exists`)
  }
  return context
}

/** A user may change only themselves unless they have the admin role (external calls only). */
function onlySelfUnlessAdmin(context) {
  const { params, id } = context
  if (!params.provider) return context
  const user = params.user
  const roles = (user && Array.isArray(user.roles) && user.roles) || []
  if (roles.includes(ADMIN_ROLE)) return context
  if (!user || id === null || id === undefined || String(id) !== String(user.id)) {
    throw new Forbidden('You can only change your own user')
  }
  return context
}

function usersService(app) {
  app.use('users', new MemoryService({ id: 'id', startId: 1, paginate: false, multi: false }), {
    methods: STANDARD_METHODS
  })
  app.service('users').hooks({
    before: {
      find: [authenticate('jwt')],
      get: [authenticate('jwt')],
      create: [dropPrivilegesFromExternal, uniqueEmail, hashPassword('password')],
      update: [authenticate('jwt'), onlySelfUnlessAdmin, hashPassword('password')],
      patch: [authenticate('jwt'), onlySelfUnlessAdmin, hashPassword('password')],
      remove: [authenticate('jwt'), onlySelfUnlessAdmin]
    },
    after: {
      all: [protect('password')]
    }
  })
}

// ---------------------------------------------------------------------------
// messages

/** `messages`: memory service plus `join`/`leave`, which move the calling connection in/out of `room/<roomId>`. */
class MessageService extends MemoryService {
  constructor(app, options) {
    super(options)
    this.app = app
  }

  async join(data, params) {
    const roomId = data && data.roomId
    if (!params.connection) throw new BadRequest('join needs a real-time connection')
    this.app.channel(`room/${roomId}`).join(params.connection)
    return { roomId, joined: true }
  }

  async leave(data, params) {
    const roomId = data && data.roomId
    if (!params.connection) throw new BadRequest('leave needs a real-time connection')
    this.app.channel(`room/${roomId}`).leave(params.connection)
    return { roomId, left: true }
  }
}

/** Authenticates the call when it carries authentication (a token header, a logged-in socket); else anonymous. */
async function authenticateIfPresent(context) {
  if (context.params.authentication) {
    await authenticate('jwt')(context)
  }
  return context
}

/** The stored message: `text` (required, ≤ 10,000 characters), optional `roomId`, the caller's `userId`, `createdAt`. */
function shapeMessage(context) {
  const data = context.data || {}
  const { text, roomId } = data
  if (typeof text !== 'string' || text.length === 0) throw new BadRequest('text is required')
  if ([...text].length > MAX_TEXT_CHARS) throw new BadRequest('text is too long')
  const message = { text }
  if (roomId !== undefined && roomId !== null) message.roomId = roomId
  const user = context.params.user
  if (user && user.id !== undefined) message.userId = user.id
  message.createdAt = Date.now()
  context.data = message
  return context
}

function messagesService(app) {
  app.use('messages', new MessageService(app, { id: 'id', startId: 1, paginate: { default: 10, max: 50 } }), {
    methods: [...STANDARD_METHODS, 'join', 'leave']
  })
  app.service('messages').hooks({
    before: {
      create: [authenticateIfPresent, shapeMessage]
    }
  })
}

// ---------------------------------------------------------------------------
// authentication

function authentication(app) {
  const service = new AuthenticationService(app)
  service.register('jwt', new JWTStrategy())
  service.register('local', new LocalStrategy())
  app.use('authentication', service)
}

// ---------------------------------------------------------------------------
// channels

/** The publish presets of CHAT-APP.md: the channel name for an event's data, first match wins. */
const PUBLISH_RULES = {
  default: (data, path) => {
    if (path === 'messages' && data.roomId) return `room/${data.roomId}`
    if (data.userId) return `user/${data.userId}`
    if (data.projectId) return `project/${data.projectId}`
    return 'authenticated'
  },
  reference: (data, path) => {
    if (data.userId) return `user/${data.userId}`
    if (data.projectId) return `project/${data.projectId}`
    if (path === 'messages' && data.roomId) return `room/${data.roomId}`
    return 'authenticated'
  }
}

function channels(app, publishRules) {
  const rule = PUBLISH_RULES[publishRules]
  if (!rule) throw new Error(`unknown publish rules '${publishRules}' (default|reference)`)

  app.on('connection', (connection) => app.channel('anonymous').join(connection))

  // A socket login (REST logins have no connection). Logout, expiry and
  // disconnect make the connection leave every channel (transport-commons).
  app.on('login', (authResult, { connection }) => {
    if (!connection) return
    const user = authResult.user || {}
    app.channel('anonymous').leave(connection)
    app.channel('authenticated').join(connection)
    app.channel(`user/${user.id}`).join(connection)
    for (const role of Array.isArray(user.roles) ? user.roles : []) app.channel(`role/${role}`).join(connection)
    for (const permission of Array.isArray(user.permissions) ? user.permissions : []) {
      app.channel(`permission/${permission}`).join(connection)
    }
  })

  app.publish((data, context) => {
    if (data === null || typeof data !== 'object') return app.channel('authenticated')
    return app.channel(rule(data, context.path))
  })
}

// ---------------------------------------------------------------------------

/** Creates each seed user whose email does not exist yet (internal calls: roles/permissions kept). */
async function seedUsers(app, seed = []) {
  const users = app.service('users')
  for (const user of seed) {
    const existing = await users.find({ query: { email: user.email, $limit: 1 }, paginate: false })
    if (existing.length === 0) {
      await users.create(user)
    }
  }
}

/**
 * Build the chat app. `pingInterval` (ms): Primus heartbeat; `expiresIn`: the
 * JWT lifetime (jsonwebtoken syntax: '1d', '2s', or a number of seconds);
 * `publishRules`: 'default' | 'reference'; `secret`: the HMAC key.
 * Call `seedUsers(app, seed)` after `app.listen`.
 */
function createChatApp({ pingInterval = 10000, expiresIn = '1d', publishRules = 'default', secret } = {}) {
  if (!secret) throw new Error('createChatApp needs a secret')
  // CHAT_HTTP=express: the same app on @feathersjs/express as a generated Express app has it
  // (REST + Socket.IO, notFound and errorHandler last); the gateway tests run the plugin's
  // Express branch with it.
  const useExpress = process.env.CHAT_HTTP === 'express'
  const app = useExpress ? require('@feathersjs/express')(feathers()) : koa(feathers())

  app.set('authentication', {
    entity: 'user',
    service: 'users',
    secret,
    authStrategies: ['jwt', 'local'],
    jwtOptions: {
      header: { typ: 'access' },
      audience: 'https://yourdomain.com',
      algorithm: 'HS256',
      expiresIn
    },
    local: { usernameField: 'email', passwordField: 'password' }
  })

  if (useExpress) {
    const express = require('@feathersjs/express')
    app.get('/healthz', (_req, res) => res.json({ status: 'ok' }))
    app.use(express.json())
    app.use(express.urlencoded({ extended: true }))
    app.configure(express.rest())
  } else {
    app.use(healthz())
    app.use(errorHandler())
    app.use(bodyParser())
    app.configure(rest())
    app.configure(primus({ transformer: 'websockets', pingInterval }))
  }
  // Socket.IO on the same port (docs/protocol.md §13), as Roost serves it.
  app.configure(socketio())
  // Several app processes share their events over Redis (feathers-sync) only when asked;
  // before the services, whose events it takes over.
  if (process.env.FEATHERS_SYNC_URL) {
    app.configure(require('feathers-sync')({ uri: process.env.FEATHERS_SYNC_URL, key: process.env.FEATHERS_SYNC_KEY || 'feathers-sync' }))
  }
  app.configure(usersService)
  app.configure(messagesService)
  app.configure(authentication)
  app.configure((a) => channels(a, publishRules))
  // Behind Roost in gateway mode (docs/gateway.md) only when asked: the one line an app adds.
  if (process.env.ROOST_GATEWAY_URL) {
    app.configure(require('../../gateway/feathers-roost').roost({ url: process.env.ROOST_GATEWAY_URL, secret: process.env.ROOST_GATEWAY_SECRET }))
  }
  if (useExpress) {
    const express = require('@feathersjs/express')
    app.use(express.notFound())
    app.use(express.errorHandler({ logger: false }))
  }

  return app
}

module.exports = { createChatApp, seedUsers, PUBLISH_RULES }
