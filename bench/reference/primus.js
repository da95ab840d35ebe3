'use strict'
// Feathers 5 over Primus, wired the way iR Engine's server core does it: a
// Primus server (websockets transformer + primus-emitter) created in an
// overridden `app.setup(server)`, handed to @feathersjs/transport-commons
// `socket()` through the `done` promise.
//
// - A Primus middleware at index 0 sets `req.feathers = {headers, provider: 'primus'}`
//   (headers with string values only). That object is the Feathers connection:
//   `getParams(spark)` returns `spark.request.feathers`, and every call over the
//   socket runs with `params = {query, route, connection, ...connection}`.
// - On `connection` the configurer adds `socketQuery` (the upgrade URL's parsed
//   query) and a non-enumerable `primus` property pointing back to the spark;
//   transport-commons finds the socket through `socketKey: 'primus'` and sends
//   events with `spark.send(name, payload)` (`emit: 'send'`).
// - On `disconnection` the app emits `disconnect`, which makes the connection
//   leave every channel.

const http = require('node:http')
const Primus = require('primus')
const Emitter = require('primus-emitter')
const { socket } = require('@feathersjs/transport-commons')

/** Request headers with plain string values (drops arrays such as set-cookie). */
function plainHeaders(headers) {
  const result = {}
  for (const [key, value] of Object.entries(headers)) {
    if (typeof value !== 'object') result[key] = value
  }
  return result
}

/**
 * `app.configure(primus(options, configurer))`. `options` go to `new Primus`
 * (transformer defaults to 'websockets'); `configurer(primus)` runs with the
 * app as `this` once the Primus server exists.
 */
function primus(options = {}, configurer) {
  return function (app) {
    const getParams = (spark) => spark.request.feathers

    const done = new Promise((resolve) => {
      const { setup } = app

      app.setup = function (server = http.createServer(), ...rest) {
        if (!this.primus) {
          const primusServer = new Primus(server, { transformer: 'websockets', ...options })
          primusServer.plugin('emitter', Emitter)
          primusServer.use(
            'feathers',
            function (req, res, next) {
              req.feathers = { headers: plainHeaders(req.headers), provider: 'primus' }
              next()
            },
            0
          )
          primusServer.on('connection', (spark) => {
            const connection = getParams(spark)
            connection.socketQuery = spark.query
            Object.defineProperty(connection, 'primus', { value: spark, enumerable: false })
          })
          primusServer.on('disconnection', (spark) => app.emit('disconnect', getParams(spark)))
          this.primus = primusServer
        }

        if (typeof configurer === 'function') {
          configurer.call(this, this.primus)
        }

        resolve(this.primus)
        return setup.call(this, server, ...rest)
      }
    })

    app.configure(socket({ done, emit: 'send', socketKey: 'primus', getParams }))
  }
}

module.exports = { primus }
