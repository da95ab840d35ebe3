'use strict'
// feathers-roost: a Feathers 5 app behind Roost in gateway mode (docs/gateway.md).
//
//   const { roost } = require('feathers-roost')
//   app.configure(roost({ url: 'http://127.0.0.1:3030', secret: process.env.ROOST_SECRET }))
//
// Roost holds the sockets. For each call a client makes on Roost, Roost POSTs an envelope to
// `/_roost/call` here; the plugin runs the service method as the socket transport would
// (provider `primus`/`socketio`, the typed query, route, the connection's user and
// authentication, and `params.connection` = a proxy object standing for the Roost
// connection). Whatever the app's code does with that proxy —
// `app.channel(name).join(connection)`, `.leave(connection)`, a login or logout — is
// recorded and sent back with the answer, and Roost applies it to the real connection
// before the client gets its ack. The app's `app.publish(...)` rules run as usual; the
// plugin sends each event with the channels they chose to Roost's `/_roost/events`, and
// Roost delivers it to those channels' members.
//
// Plain JavaScript, no dependencies (Node >= 18 for fetch). Every request between the two
// carries the shared secret in `x-roost-secret`.

const { createRequire } = require('node:module')
const path = require('node:path')

const ROOST_ID = Symbol.for('feathers-roost/connection-id')
const NAME = Symbol.for('feathers-roost/channel-name')
const CHANNELS = Symbol.for('@feathersjs/transport-commons/channels')
const SERVICE_OPTIONS = Symbol.for('@feathersjs/service')
const SECRET_HEADER = 'x-roost-secret'
const PARAMS_POSITION = { find: 0, update: 2, patch: 2 }
const MAX_QUEUED_EVENTS = 10000

/** `require` relative to the app (its node_modules), for transport-commons when the app has no socket transport. */
function appRequire() {
  const base = require.main && require.main.filename ? require.main.filename : path.join(process.cwd(), 'index.js')
  return createRequire(base)
}

/** A Feathers error as JSON, the way the socket transport sends it (no stack). */
function errorJson(error) {
  const result = error && typeof error.toJSON === 'function' ? error.toJSON() : {}
  if (!(error && typeof error.toJSON === 'function')) {
    result.name = 'GeneralError'
    result.message = (error && error.message) || 'Error'
    result.code = 500
    result.className = 'general-error'
  }
  delete result.stack
  delete result.hook
  return result
}

function fail(name, code, className, message) {
  return { name, message, code, className }
}

/** Reads a JSON body from Koa (`ctx.request.body` when a body parser ran) or a Node request. */
async function readJson(req, parsed) {
  if (parsed !== undefined && parsed !== null && typeof parsed === 'object' && Object.keys(parsed).length > 0) {
    return parsed
  }
  const chunks = []
  for await (const chunk of req) chunks.push(chunk)
  const text = Buffer.concat(chunks).toString('utf8')
  return text ? JSON.parse(text) : {}
}

function roost(options = {}) {
  const { url, secret, prefix = '/_roost' } = options
  if (!url || !secret) throw new Error('feathers-roost: `url` (Roost) and `secret` are required')
  const roostUrl = url.replace(/\/+$/, '')

  return (app) => {
    if (typeof app.channel !== 'function' || typeof app.publish !== 'function') {
      // No socket transport in the app: channels and publishers still decide Roost's events.
      const { channels } = appRequire()('@feathersjs/transport-commons')
      app.configure(channels())
      // What transport-commons' socket transports do: logout and disconnect leave every channel.
      const leaveAll = (connection) => app.channels.length && app.channel(app.channels).leave(connection)
      app.on('disconnect', leaveAll)
      app.on('logout', (_result, params) => params && params.connection && leaveAll(params.connection))
    }

    const proxies = new Map() // Roost connection id → proxy connection
    let changes = [] // [id, 'join'|'leave', name] not yet sent to Roost
    let logins = [] // [id, user|null, authentication|null]
    let events = []
    let muted = false // while proxies are rebuilt or dropped: nothing to tell Roost
    let instance // the Roost process the proxies belong to (connection ids restart with it)

    // -- channel names and membership recording ------------------------------------------
    const channelOf = app.channel
    app.channel = function (...names) {
      const channel = channelOf.apply(this, names)
      if (names.length === 1 && typeof names[0] === 'string') channel[NAME] = names[0]
      return channel
    }
    const probe = '__feathers-roost-probe__'
    // Channel.prototype, reached through a throw-away channel. CombinedChannel's join/leave
    // call their children's, so patching the base class sees every change.
    const Channel = Object.getPrototypeOf(channelOf.call(app, probe))
    delete app[CHANNELS][probe]
    const join = Channel.join
    const leave = Channel.leave
    const send = Channel.send
    Channel.join = function (...connections) {
      const name = this[NAME]
      if (name !== undefined && !muted) {
        for (const c of connections) {
          if (c && c[ROOST_ID] !== undefined && this.connections.indexOf(c) === -1) changes.push([c[ROOST_ID], 'join', name])
        }
      }
      return join.apply(this, connections)
    }
    Channel.leave = function (...connections) {
      const name = this[NAME]
      if (name !== undefined && !muted) {
        for (const c of connections) {
          if (c && typeof c === 'object' && c[ROOST_ID] !== undefined && this.connections.indexOf(c) !== -1) {
            changes.push([c[ROOST_ID], 'leave', name])
          }
        }
      }
      return leave.apply(this, connections)
    }
    Channel.send = function (data) {
      const channel = send.call(this, data)
      if (this[NAME] !== undefined) channel[NAME] = this[NAME]
      return channel
    }
    // transport-commons emits `publish` only when the chosen channels have connections
    // here. A named channel is also Roost's: its members may be connections this app has no
    // proxy for (another Roost node's, in a cluster; connections that never called yet), so
    // a publish target naming a channel counts as non-empty and its event goes to Roost.
    // Only CombinedChannel (the publish target; never kept in app.channels, so its `empty`
    // cleanup is untouched) is changed.
    const probes = [`${probe}1`, `${probe}2`]
    const Combined = Object.getPrototypeOf(channelOf.call(app, ...probes))
    for (const name of probes) delete app[CHANNELS][name]
    const named = (channel) => channel[NAME] !== undefined || (Array.isArray(channel.children) && channel.children.some(named))
    const lengthOf = Object.getOwnPropertyDescriptor(Channel, 'length')
    if (Combined !== Channel && lengthOf && lengthOf.get) {
      Object.defineProperty(Combined, 'length', {
        configurable: true,
        get() {
          const n = lengthOf.get.call(this)
          return n > 0 || !Array.isArray(this.children) || !this.children.some(named) ? n : 1
        }
      })
    }

    // -- proxies -----------------------------------------------------------------------------
    /** The proxy of Roost connection `c`, created (and announced with `connection`) on first sight. */
    function proxyFor(c, provider, headers) {
      let proxy = proxies.get(c.id)
      const fresh = !proxy
      if (fresh) {
        proxy = { provider, headers }
        Object.defineProperty(proxy, ROOST_ID, { value: c.id })
        proxies.set(c.id, proxy)
      }
      // Roost holds the login: it survives an app restart.
      if (c.authentication) {
        proxy.authentication = c.authentication
        if (c.user !== undefined) proxy.user = c.user
      } else {
        delete proxy.authentication
        delete proxy.user
      }
      if (fresh) app.emit('connection', proxy)
      return proxy
    }

    // The app disconnected a proxy itself (its JWT strategy at token expiry): Roost does to
    // the real connection what a direct connection gets (login gone, channels left,
    // Socket.IO disconnected, a Primus socket left open).
    app.on('disconnect', (connection) => {
      if (connection && connection[ROOST_ID] !== undefined && proxies.has(connection[ROOST_ID])) {
        changes.push([connection[ROOST_ID], 'disconnect'])
        schedule()
      }
    })

    function authState(proxy) {
      return [proxy[ROOST_ID], proxy.user === undefined ? null : proxy.user, proxy.authentication || null]
    }

    function take() {
      const taken = { changes, logins }
      changes = []
      logins = []
      return taken
    }

    /** Roost restarted (a new instance): its connection ids name new connections, so every proxy goes. */
    function adopt(current) {
      if (current === undefined || current === instance) return
      if (instance !== undefined) {
        muted = true
        try {
          for (const [id, proxy] of proxies) {
            proxies.delete(id)
            app.emit('disconnect', proxy)
          }
        } finally {
          muted = false
        }
        changes = []
        logins = []
      }
      instance = current
    }

    // -- calls from Roost ---------------------------------------------------------------------
    async function runCall(envelope) {
      const { path: servicePath, method, id = null, data, query = {}, route = {}, provider, headers = {} } = envelope
      const lookup = app.lookup(servicePath)
      if (lookup === null) throw Object.assign(new Error(), { json: fail('NotFound', 404, 'not-found', `Service '${servicePath}' not found`) })
      const { service, params: found = {} } = lookup
      const { __id: _ignored, ...lookupRoute } = found // eslint-disable-line no-unused-vars
      const methods = (service[SERVICE_OPTIONS] && service[SERVICE_OPTIONS].methods) || []
      if (!methods.includes(method)) {
        throw Object.assign(new Error(), {
          json: fail('MethodNotAllowed', 405, 'method-not-allowed', `Method '${method}' not allowed on service '${servicePath}'`)
        })
      }
      let params
      let proxy = null
      if (envelope.connection) {
        proxy = proxyFor(envelope.connection, provider, headers)
        params = Object.assign({ query, route: { ...lookupRoute, ...route }, connection: proxy }, proxy)
      } else {
        params = { query, route: { ...lookupRoute, ...route }, provider, headers }
        if (envelope.authentication) params.authentication = envelope.authentication
        else {
          const header = headers.authorization
          const match = typeof header === 'string' && header.match(/^(Bearer|JWT)\s+(.+)$/i)
          if (match) params.authentication = { strategy: 'jwt', accessToken: match[2] }
        }
      }
      const before = proxy && JSON.stringify(authState(proxy))
      const position = PARAMS_POSITION[method] !== undefined ? PARAMS_POSITION[method] : 1
      const args = method === 'find' ? [] : method === 'get' || method === 'remove' ? [id] : method === 'update' || method === 'patch' ? [id, data] : [data]
      args[position] = params
      try {
        const context = service[method].createContext ? service[method].createContext() : undefined
        const returned = context ? await service[method](...args, context) : await service[method](...args)
        const result = context ? returned.dispatch || returned.result : returned
        return { result }
      } finally {
        if (proxy && JSON.stringify(authState(proxy)) !== before) logins.push(authState(proxy))
      }
    }

    async function onCall(body) {
      // After a restart, calls wait until the proxies are rebuilt, so the app's publishers
      // see every member again.
      await restored
      adopt(body.instance)
      try {
        const { result } = await runCall(body)
        return { result: result === undefined ? null : result, ...take() }
      } catch (error) {
        return { error: error.json || errorJson(error), ...take() }
      }
    }

    function onDisconnect(body) {
      if (!body || body.instance !== instance) return {}
      for (const id of body.ids || []) {
        const proxy = proxies.get(id)
        if (proxy) {
          proxies.delete(id)
          app.emit('disconnect', proxy)
        }
      }
      // Roost already left the channels; nothing needs to go back.
      changes = changes.filter(([id]) => proxies.has(id))
      return {}
    }

    // -- events to Roost ----------------------------------------------------------------------
    /** The channels of a publish target as Roost takes them: names, or connection ids for unnamed ones. */
    function describe(channel, out) {
      if (Array.isArray(channel.children)) {
        for (const child of channel.children) describe(child, out)
        return out
      }
      const data = channel.data === undefined ? null : channel.data
      if (channel[NAME] !== undefined) out.push(data === null ? { name: channel[NAME] } : { name: channel[NAME], data })
      else {
        const connections = channel.connections.filter((c) => c && c[ROOST_ID] !== undefined).map((c) => c[ROOST_ID])
        if (connections.length > 0) out.push(data === null ? { connections } : { connections, data })
      }
      return out
    }

    app.on('publish', (event, channel, hook, data) => {
      let payload = hook.dispatch || hook.result
      if (!Array.isArray(data) && Array.isArray(hook.result) && Array.isArray(payload)) {
        const wanted = JSON.stringify(data)
        payload = payload.find((item) => JSON.stringify(item) === wanted)
      }
      if (events.length >= MAX_QUEUED_EVENTS) {
        events.shift()
        console.error('feathers-roost: event queue full, oldest event dropped')
      }
      events.push({ path: hook.path || '', event, data: payload === undefined ? null : payload, channels: describe(channel, []) })
      schedule()
    })

    let flushing = false
    let scheduled = false
    function schedule() {
      if (scheduled) return
      scheduled = true
      setImmediate(flush)
    }
    async function flush() {
      scheduled = false
      if (flushing) return schedule()
      if (events.length === 0 && changes.length === 0 && logins.length === 0) return
      flushing = true
      const body = JSON.stringify({ instance, events, ...take() })
      events = []
      try {
        const res = await fetch(`${roostUrl}${prefix}/events`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', [SECRET_HEADER]: secret },
          body
        })
        await res.arrayBuffer()
        if (!res.ok) console.error(`feathers-roost: Roost refused events (${res.status})`)
      } catch (error) {
        console.error(`feathers-roost: cannot reach Roost at ${roostUrl}: ${error.message}`)
      } finally {
        flushing = false
        if (events.length || changes.length || logins.length) schedule()
      }
    }
    // Membership changes outside a call (an expiry timer, a server-side event handler).
    setInterval(() => {
      if (changes.length || logins.length) schedule()
    }, 50).unref()

    // -- after a restart: rebuild the proxies from Roost --------------------------------------
    async function restore() {
      try {
        const res = await fetch(`${roostUrl}${prefix}/connections`, { headers: { [SECRET_HEADER]: secret } })
        if (!res.ok) throw new Error(`status ${res.status}`)
        const list = await res.json()
        if (list.length > 0) adopt(list[0].instance)
        muted = true
        for (const c of list) {
          if (proxies.has(c.id)) continue
          const proxy = { provider: c.provider, headers: {} }
          Object.defineProperty(proxy, ROOST_ID, { value: c.id })
          if (c.authentication) {
            proxy.authentication = c.authentication
            if (c.user !== null) proxy.user = c.user
          }
          proxies.set(c.id, proxy)
          for (const name of c.channels || []) app.channel(name).join(proxy)
        }
      } catch (error) {
        console.error(`feathers-roost: connections not restored from Roost: ${error.message}`)
      } finally {
        muted = false
      }
    }
    let restored = Promise.resolve()
    const setup = app.setup
    app.setup = async function (...args) {
      const result = await setup.apply(this, args)
      restored = restore()
      await restored
      return result
    }

    // -- the HTTP endpoint (Koa or Express) ---------------------------------------------------
    const routes = {
      [`${prefix}/call`]: onCall,
      [`${prefix}/disconnect`]: onDisconnect
    }
    const authorized = (value) => typeof value === 'string' && value.length === secret.length && value === secret
    if (typeof app.callback === 'function') {
      // Koa (@feathersjs/koa)
      app.use(async (ctx, next) => {
        const handler = ctx.method === 'POST' && routes[ctx.path]
        if (!handler) return next()
        if (!authorized(ctx.get(SECRET_HEADER))) {
          ctx.status = 401
          ctx.body = fail('NotAuthenticated', 401, 'not-authenticated', 'Wrong or missing Roost secret')
          return
        }
        const body = await readJson(ctx.req, ctx.request.body)
        ctx.status = 200
        ctx.body = await handler(body)
      })
    } else {
      // Express (@feathersjs/express)
      app.use(async (req, res, next) => {
        const handler = req.method === 'POST' && routes[req.path]
        if (!handler) return next()
        if (!authorized(req.get(SECRET_HEADER))) {
          return res.status(401).json(fail('NotAuthenticated', 401, 'not-authenticated', 'Wrong or missing Roost secret'))
        }
        try {
          res.status(200).json(await handler(await readJson(req, req.body)))
        } catch (error) {
          next(error)
        }
      })
    }
  }
}

module.exports = { roost, ROOST_ID }
