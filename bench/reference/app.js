'use strict'
// The reference application: the official Feathers 5 stack (Koa REST) serving
// the services declared in a config object that mirrors Roost's TOML config.
// server.js owns the process (config file, port, signals); this module only
// builds the app, so later transports (Primus, Socket.IO), authentication and
// the chat app can be added here as further `configure` steps.

const { feathers } = require('@feathersjs/feathers')
const { koa, rest, bodyParser, errorHandler, cors } = require('@feathersjs/koa')
const { MemoryService } = require('@feathersjs/memory')
const { coerceQueryHook } = require('./coerce-query')

const STANDARD_METHODS = ['find', 'get', 'create', 'update', 'patch', 'remove']

/** `GET /healthz` → 200 `{"status":"ok"}`, answered before any Feathers middleware. */
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

/** One declared service (`[services.<name>]`) → a Feathers service and its options. */
function declaredService(name, decl) {
  const adapter = decl.adapter || 'memory'
  if (adapter !== 'memory') {
    throw new Error(`service '${name}': adapter '${adapter}' is not supported by the reference server`)
  }
  const service = new MemoryService({
    id: decl.id || 'id',
    paginate: decl.paginate === undefined ? false : decl.paginate,
    multi: decl.multi === undefined ? false : decl.multi
  })
  const methods = decl.methods || STANDARD_METHODS
  const unknown = methods.filter((m) => !STANDARD_METHODS.includes(m))
  if (unknown.length) {
    throw new Error(`service '${name}': custom methods ${unknown.join(', ')} need code; not supported here`)
  }
  return { service, options: { methods } }
}

/** Declared services from `config.services`. */
function services(config) {
  return (app) => {
    for (const [name, decl] of Object.entries(config.services || {})) {
      const { service, options } = declaredService(name, decl)
      app.use(name, service, options)
      if (decl.schema) {
        app.service(name).hooks({ before: { all: [coerceQueryHook(decl.schema)] } })
      }
    }
  }
}

/**
 * Build the reference app. `config` has the shape of Roost's TOML config:
 * `{ server: {host, port}, cors?: {...@koa/cors options}, services: {name: {adapter, id, paginate, multi, methods, schema}} }`.
 */
function createApp(config) {
  const app = koa(feathers())

  app.use(healthz())
  if (config.cors) {
    app.use(cors(config.cors))
  }
  app.use(errorHandler())
  app.use(bodyParser())
  app.configure(rest())
  app.configure(services(config))

  return app
}

module.exports = { createApp }
