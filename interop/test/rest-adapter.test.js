'use strict'
// @feathersjs/adapter-tests 5.0.50 over @feathersjs/rest-client (fetch)
// against the `people` (id `id`) and `people-customid` (id `customid`)
// services, once per storage: memory (config/rest.{toml,json}) and, against
// Roost, SQLite (config/rest-sql.toml, a fresh data directory per run; set
// ROOST_STORAGE__URL to run that pass on PostgreSQL or MariaDB). Every case
// runs except the ones in ./skipped.js.

const assert = require('node:assert')
const adapterTests = require('@feathersjs/adapter-tests')
const errors = require('@feathersjs/errors')

const { startServer, serverKind } = require('../lib/server')
const { restClientApp } = require('../lib/client')
const { SKIPPED } = require('./skipped')

// adapter-tests events option for its services is ['testing'].
const SERVICES = {
  people: { id: 'id', events: ['testing'] },
  'people-customid': { id: 'customid', events: ['testing'] }
}

// adapter-tests asks `testNames.includes(name)` for each case it defines:
// answer "run" for every name not in SKIPPED, and remember what it asked so
// a SKIPPED name that adapter-tests does not define is reported.
const defined = new Set()
const testNames = {
  includes(name) {
    defined.add(name)
    return !SKIPPED.includes(name)
  },
  forEach() {}
}

// [describe title suffix, config name]; the reference server has memory only.
const STORAGES = [['memory', 'rest']]
if (serverKind() === 'roost') STORAGES.push([process.env.ROOST_STORAGE__URL ? 'SQL' : 'SQLite', 'rest-sql'])

for (const [storage, config] of STORAGES) describe(`REST adapter tests against the ${serverKind()} server (${storage})`, function () {
  let server
  let client

  // adapter-tests only touches `app` inside its hooks and cases, which run
  // after this `before`, so a stand-in that forwards to the real client works.
  const app = {
    service: (name) => client.service(name)
  }

  before(async function () {
    this.timeout(30000)
    server = await startServer(config)
    client = restClientApp(server.url, SERVICES)
  })

  after(async function () {
    this.timeout(15000)
    if (server) await server.stop()
  })

  after(function () {
    const unknown = SKIPPED.filter((name) => !defined.has(name))
    assert.deepStrictEqual(unknown, [], 'SKIPPED names that @feathersjs/adapter-tests does not define')
  })

  for (const [name, { id }] of Object.entries(SERVICES)) {
    adapterTests(testNames)(app, errors, name, id)
  }
})
