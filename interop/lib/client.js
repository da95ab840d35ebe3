'use strict'
// A Feathers client app over @feathersjs/rest-client with Node's global fetch.

const { feathers } = require('@feathersjs/feathers')
const rest = require('@feathersjs/rest-client')

/**
 * The REST client service, plus the two facts a client cannot learn from the
 * server: the id field name and the custom events the service declares.
 * adapter-tests reads `service.id` and `service.events` from the service
 * object it is given (its '.id' and '.events' cases); over a transport that
 * object is the client's, so they are declared here as the client mirror of
 * the server's config. Nothing else is shimmed: every method goes over HTTP.
 */
class DeclaredRestService extends rest.FetchClient {
  constructor(settings, { id = 'id', events = [] } = {}) {
    super(settings)
    this.id = id
    this.events = events
  }
}

/**
 * `services`: `{ name: { id, events } }` to register with their id/events;
 * any other path still works through the rest client's default service.
 */
function restClientApp(url, services = {}) {
  const app = feathers()
  const connection = rest(url).fetch(fetch)
  app.configure(connection)
  for (const [name, decl] of Object.entries(services)) {
    app.use(name, new DeclaredRestService({ base: url, name, connection: fetch, options: {} }, decl))
  }
  return app
}

module.exports = { restClientApp, DeclaredRestService }
