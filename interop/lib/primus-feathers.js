'use strict'
// A Feathers 5 client over Primus, built the way iR Engine's client core does
// it (there is no maintained @feathersjs/primus-client for Feathers 5): the
// socket `Service` of @feathersjs/transport-commons/client with
// `method: 'send'`, so a call is a primus-emitter send with an ack callback:
//
//   app.service('messages').create(data, { query })
//     → {"type":0,"data":["create","messages",data,query],"id":<n>}
//     ← {"id":<n>,"type":1,"data":[null,result]}   or   [errorJSON]
//
// and `service.on('created', fn)` listens for `"messages created"` event
// frames on the Primus socket. Plus the two ways to get such a socket in Node:
// the prebuilt `primus-client` 7.3.4 (what iR Engine ships) and
// `Primus.createSocket` from `primus` 8.0.9.

const { feathers, defaultServiceMethods, defaultServiceEvents } = require('@feathersjs/feathers')
const { Service } = require('@feathersjs/transport-commons/client')

/** Events the client services listen for: the standard four and the app's custom `typing`. */
const EVENTS = [...defaultServiceEvents, 'typing']

/**
 * `app.configure(primusFeathers(primus))`: every `app.service(path)` becomes a
 * socket Service on `primus`. Custom methods are declared the Feathers 5 way:
 * `app.use(path, app.defaultService(path), { methods: [...] })`.
 */
function primusFeathers(connection, { events = EVENTS } = {}) {
  if (!connection || typeof connection.send !== 'function') {
    throw new Error('primusFeathers needs a Primus socket with the emitter plugin (primus.send)')
  }

  const defaultService = (name) => new Service({ name, connection, method: 'send', events: [...events] })

  const configure = (app) => {
    if (app.primus !== undefined) {
      throw new Error('Only one default client provider can be configured')
    }
    app.primus = connection
    app.defaultService = defaultService
    // Custom methods in `methods` of app.use(...) get a sending implementation.
    app.mixins.unshift((service, _location, options) => {
      if (options && options.methods && service instanceof Service) {
        const custom = options.methods.filter((name) => !defaultServiceMethods.includes(name))
        service.methods(...custom)
      }
    })
  }
  configure.Service = Service
  configure.service = defaultService
  return configure
}

/** The Feathers client app of REALTIME-APP.md on `primus` (messages and broadcast with their custom methods). */
function realtimeClientApp(primus) {
  const app = feathers()
  app.configure(primusFeathers(primus))
  app.use('messages', app.defaultService('messages'), {
    methods: [...defaultServiceMethods, 'join', 'leave', 'typing']
  })
  app.use('broadcast', app.defaultService('broadcast'), { methods: ['toAll', 'toMe', 'toChannel'] })
  return app
}

/**
 * A socket Service that also carries what adapter-tests reads from the service
 * object (`id`, `options`, `events` including its 'testing'); the client mirror of the
 * server's service options, like lib/client.js' DeclaredRestService.
 */
class DeclaredPrimusService extends Service {
  constructor(settings, { id = 'id', events = [] } = {}) {
    super({ ...settings, events: [...defaultServiceEvents, ...events] })
    this.id = id
    this.options = {}
  }
}

// ---------------------------------------------------------------------------
// Primus sockets in Node

/** Client options used by the tests: default reconnect strategies, backoff capped at 2 s. */
const CLIENT_OPTIONS = { reconnect: { max: 2000, retries: 20 } }

/** The iR Engine style URL: `<server>?pathName=…&peerID=…` (Primus replaces the pathname with /primus). */
function irEngineUrl(serverUrl, { pathName = '/location/test', peerID = 'peer-1' } = {}) {
  const query = new URLSearchParams({ pathName, peerID })
  return `${serverUrl}?${query}`
}

let PrimusClient
/** A socket from the prebuilt `primus-client` 7.3.4 (emitter plugin built in; `ws` as its WebSocket in Node). */
function connectPrimusClient(url, options = {}) {
  if (!PrimusClient) PrimusClient = require('primus-client')
  return new PrimusClient(url, { ...CLIENT_OPTIONS, ...options })
}

let NodeSocket
/** A socket from `primus` 8.0.9's `Primus.createSocket({transformer: 'websockets', plugin: {emitter}})`. */
function connectPrimusNode(url, options = {}) {
  if (!NodeSocket) {
    const Primus = require('primus')
    NodeSocket = Primus.createSocket({ transformer: 'websockets', plugin: { emitter: require('primus-emitter') } })
  }
  return new NodeSocket(url, { ...CLIENT_OPTIONS, ...options })
}

/** The two client libraries, by name, for tests that run against both. */
const CLIENTS = {
  'primus-client 7.3.4': connectPrimusClient,
  'primus 8.0.9 createSocket': connectPrimusNode
}

module.exports = {
  EVENTS,
  primusFeathers,
  realtimeClientApp,
  DeclaredPrimusService,
  irEngineUrl,
  connectPrimusClient,
  connectPrimusNode,
  CLIENTS
}
