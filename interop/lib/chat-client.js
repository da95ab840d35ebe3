'use strict'
// Feathers client apps for the chat app (CHAT-APP.md) with the official
// @feathersjs/authentication-client 5.0.50, over REST (@feathersjs/rest-client
// with Node's fetch) or over Primus (lib/primus-feathers.js). Each client has
// its own MemoryStorage: the package's default storage is one module-level
// object shared by every app in the process, which would make alice's and
// bob's clients share a token.
//
// Every client records what the server sent it (REST response bodies, Primus
// incoming frames) in `received`, so a test can check that no password or
// hash ever reached a client.

const { feathers, defaultServiceMethods, defaultServiceEvents } = require('@feathersjs/feathers')
const rest = require('@feathersjs/rest-client')
const authClient = require('@feathersjs/authentication-client')
const { primusFeathers, connectPrimusClient } = require('./primus-feathers')
const { nextEvent, recordSocket, endSocket } = require('./wait')

const { MemoryStorage } = authClient
const OPEN_WAIT_MS = 5000

const ALICE = Object.freeze({ email: 'alice@example.com', password: 'alice-pw', roles: ['admin'] })
const BOB = Object.freeze({ email: 'bob@example.com', password: 'bob-pw', roles: ['user'] })
/** A local login for a seed user. */
const local = ({ email, password }) => ({ strategy: 'local', email, password })

/** `fetch` that also keeps every response body (text) in `bodies`. */
function recordingFetch(bodies) {
  return async (input, init) => {
    const res = await fetch(input, init)
    const text = await res.clone().text()
    bodies.push(text)
    return res
  }
}

/** The auth client with its own storage. */
const withAuth = (app) => app.configure(authClient({ storage: new MemoryStorage() }))

/**
 * A REST chat client: `{ kind: 'rest', app, received, end() }`. `app` has
 * `authenticate`/`reAuthenticate`/`logout`; every service goes over HTTP
 * (`Authorization: Bearer <token>` once logged in); `messages` also has
 * `join`/`leave` (POST with `X-Service-Method`).
 */
function restChatClient(url) {
  const received = []
  const app = feathers()
  const connection = rest(url).fetch(recordingFetch(received))
  app.configure(connection)
  app.use('messages', connection.service('messages'), { methods: [...defaultServiceMethods, 'join', 'leave'] })
  withAuth(app)
  return { kind: 'rest', app, received, end: () => {} }
}

/**
 * A Primus chat client on a new primus-client 7.3.4 socket, resolved once the
 * socket is open: `{ kind: 'primus', app, primus, record, received, end() }`.
 * `messages` has the custom methods `join`/`leave`; services listen for the
 * four standard events. `received` = the JSON-parsed incoming frames.
 * `options` go to the Primus client (connectPrimusClient).
 */
async function primusChatClient(url, options = {}) {
  const primus = connectPrimusClient(url, options)
  const record = recordSocket(primus)
  const opened = nextEvent(primus, 'open', OPEN_WAIT_MS)
  const app = feathers()
  app.configure(primusFeathers(primus, { events: [...defaultServiceEvents] }))
  app.use('messages', app.defaultService('messages'), { methods: [...defaultServiceMethods, 'join', 'leave'] })
  withAuth(app)
  try {
    await opened
  } catch (error) {
    endSocket(primus)
    throw error
  }
  return { kind: 'primus', app, primus, record, received: record.frames, end: () => endSocket(primus) }
}

/** Base64url JSON part `i` of a JWT. */
function jwtPart(token, i) {
  return JSON.parse(Buffer.from(token.split('.')[i], 'base64url').toString('utf8'))
}

/** Every key named `password` (at any depth) and every bcrypt-looking string in `value`. */
function secretsIn(value) {
  const found = []
  const walk = (v, where) => {
    if (typeof v === 'string') {
      if (/^\$2[aby]\$\d\d\$/.test(v)) found.push(`${where}: bcrypt hash`)
    } else if (Array.isArray(v)) {
      v.forEach((item, i) => walk(item, `${where}[${i}]`))
    } else if (v && typeof v === 'object') {
      for (const [key, item] of Object.entries(v)) {
        if (key === 'password') found.push(`${where}.password`)
        walk(item, `${where}.${key}`)
      }
    }
  }
  walk(value, '$')
  return found
}

module.exports = { ALICE, BOB, local, restChatClient, primusChatClient, jwtPart, secretsIn }
