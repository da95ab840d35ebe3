'use strict'
// The authentication cases of CHAT-APP.md, written once and run over REST
// (test/auth-rest.test.js) and over Primus (test/auth-primus.test.js) with the
// official @feathersjs/authentication-client 5.0.50. Every expected error is
// what the reference (Feathers 5.0.50) answers: class, code and message, and
// `data` where Feathers sends one.
//
// `authSuite({ transport, connect })`: `connect(url)` resolves a client of
// lib/chat-client.js. Each case opens its own clients; they are ended after it.

const assert = require('node:assert')
const errors = require('@feathersjs/errors')

const { startChatServer, serverKind } = require('./server')
const { ALICE, BOB, local, jwtPart, secretsIn } = require('./chat-client')
const { within } = require('./wait')

const CALL_MS = 5000
/** Long enough for a login and a few calls, short enough to wait for. */
const SHORT_EXPIRES_IN = '2s'
const EXPIRY_POLL_MS = 100
const EXPIRY_WAIT_MS = 8000

const plain = (value) => (value === undefined ? undefined : JSON.parse(JSON.stringify(value)))
const same = (actual, expected, message) => assert.deepStrictEqual(plain(actual), plain(expected), message)
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** The error `promise` rejects with (bounded); fails if it resolves. */
async function failure(promise, what = 'the call') {
  let value
  try {
    value = await within(Promise.resolve(promise), CALL_MS, what)
  } catch (error) {
    if (/^gave up after/.test(error.message)) throw error
    return error
  }
  throw new Error(`${what} should have failed, but resolved ${JSON.stringify(value)}`)
}

/**
 * `error` is the Feathers error `Class` (name, code, className) with `message`;
 * `data`: deep-equal when given, `'none'` when the error must carry no data.
 */
function assertFeathersError(error, Class, message, data) {
  const model = new Class()
  assert.ok(error instanceof errors.FeathersError, `expected a FeathersError, got ${error && error.stack}`)
  assert.ok(error instanceof Class, `expected ${model.name}, got ${error.name}: ${error.message}`)
  same(
    { name: error.name, code: error.code, className: error.className, message: error.message },
    { name: model.name, code: model.code, className: model.className, message }
  )
  if (data === 'none') assert.strictEqual(error.data, undefined, `unexpected data ${JSON.stringify(error.data)}`)
  else if (data !== undefined) same(error.data, data)
}

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

/** A Feathers 5 access token for `userId` as the chat app issues it (expiry `lifetime` seconds). */
function assertAccessToken(token, userId, lifetime) {
  assert.strictEqual(typeof token, 'string')
  assert.strictEqual(token.split('.').length, 3, token)
  same(jwtPart(token, 0), { alg: 'HS256', typ: 'access' })
  const payload = jwtPart(token, 1)
  same(Object.keys(payload).sort(), ['aud', 'exp', 'iat', 'jti', 'sub'])
  assert.strictEqual(payload.aud, 'https://yourdomain.com')
  assert.strictEqual(payload.sub, String(userId))
  assert.ok(Number.isInteger(payload.iat) && Number.isInteger(payload.exp), JSON.stringify(payload))
  if (lifetime !== undefined) assert.strictEqual(payload.exp - payload.iat, lifetime)
  assert.match(payload.jti, UUID_V4)
  return payload
}

/** `user` is the seed user `seed` (id `id`) as a client may see it: no password. */
function assertSeedUser(user, seed, id) {
  assert.strictEqual(user.id, id)
  assert.strictEqual(user.email, seed.email)
  same(user.roles, seed.roles)
  same(secretsIn(user), [])
}

/** A token with one character of its signature changed (same length, still base64url). */
function tamperSignature(token) {
  const [header, payload, signature] = token.split('.')
  const i = Math.floor(signature.length / 2)
  const swapped = signature[i] === 'A' ? 'B' : 'A'
  return `${header}.${payload}.${signature.slice(0, i)}${swapped}${signature.slice(i + 1)}`
}

function authSuite({ transport, connect }) {
  const kind = serverKind()

  describe(`authentication over ${transport} against the ${kind} server`, function () {
    let server
    let clients = []
    /** A new client (ended after the case). */
    const client = async () => {
      const c = await within(connect(server.url), CALL_MS, `a ${transport} client`)
      clients.push(c)
      return c
    }
    /** Everything every client of this file received, for the final password check. */
    const received = []

    before(async function () {
      this.timeout(30000)
      server = await startChatServer()
    })

    afterEach(function () {
      for (const c of clients) {
        received.push(...c.received)
        c.end()
      }
      clients = []
    })

    after(async function () {
      this.timeout(15000)
      if (server) await server.stop()
    })

    /** What the client sent so far (Primus frames) or received (REST bodies): a request counter. */
    const traffic = (c) => (c.kind === 'primus' ? c.record.sent.length : c.received.length)

    describe('local strategy', function () {
      it('alice logs in: {accessToken, authentication: {strategy: local, payload}, user} without password', async function () {
        const { app } = await client()
        const result = await app.authenticate(local(ALICE))
        same(Object.keys(result).sort(), ['accessToken', 'authentication', 'user'])
        const payload = assertAccessToken(result.accessToken, 1, 86400)
        same(result.authentication, { strategy: 'local', payload })
        assertSeedUser(result.user, ALICE, 1)
        assert.strictEqual(await app.authentication.getAccessToken(), result.accessToken, 'token stored')
        assert.strictEqual(app.authentication.authenticated, true)
      })

      it('the logged-in client calls protected users methods', async function () {
        const { app } = await client()
        await app.authenticate(local(BOB))
        assertSeedUser(await app.service('users').get(2), BOB, 2)
        const users = await app.service('users').find()
        assert.ok(Array.isArray(users), JSON.stringify(users))
        const byEmail = Object.fromEntries(users.map((u) => [u.email, u]))
        assertSeedUser(byEmail[ALICE.email], ALICE, 1)
        assertSeedUser(byEmail[BOB.email], BOB, 2)
      })

      it('wrong password → 401 NotAuthenticated `Invalid login` (no data); the client keeps no token', async function () {
        const { app } = await client()
        const error = await failure(app.authenticate({ ...local(ALICE), password: 'nope' }))
        assertFeathersError(error, errors.NotAuthenticated, 'Invalid login', 'none')
        assert.strictEqual(await app.authentication.getAccessToken(), null)
        assert.strictEqual(app.authentication.authenticated, false)
      })

      it('unknown email, missing password → the same `Invalid login`', async function () {
        const { app } = await client()
        const auth = app.service('authentication')
        for (const data of [
          local({ email: 'nobody@example.com', password: 'x' }),
          { strategy: 'local', email: ALICE.email },
          { strategy: 'local', email: ALICE.email, password: '' }
        ]) {
          assertFeathersError(await failure(auth.create(data)), errors.NotAuthenticated, 'Invalid login', 'none')
        }
      })

      it('no strategy → 401 `Invalid authentication information (no `strategy` set)`', async function () {
        const { app } = await client()
        const error = await failure(app.service('authentication').create({ email: ALICE.email, password: ALICE.password }))
        assertFeathersError(error, errors.NotAuthenticated, 'Invalid authentication information (no `strategy` set)')
      })

      it('unknown strategy → 401 `Invalid authentication information (strategy not allowed in authStrategies)`', async function () {
        const { app } = await client()
        const error = await failure(app.authenticate({ strategy: 'github', email: ALICE.email, password: ALICE.password }))
        assertFeathersError(
          error,
          errors.NotAuthenticated,
          'Invalid authentication information (strategy not allowed in authStrategies)'
        )
      })
    })

    describe('jwt strategy', function () {
      it('reAuthenticate() sends nothing; reAuthenticate(true) returns the SAME token with strategy jwt', async function () {
        const c = await client()
        const { app } = c
        const login = await app.authenticate(local(ALICE))
        const before = traffic(c)
        same(await app.reAuthenticate(), login)
        assert.strictEqual(traffic(c), before, 'reAuthenticate() without force must not call the server')

        const again = await app.reAuthenticate(true)
        assert.ok(traffic(c) > before, 'reAuthenticate(true) calls the server')
        same(Object.keys(again).sort(), ['accessToken', 'authentication', 'user'])
        assert.strictEqual(again.accessToken, login.accessToken)
        same(again.authentication, {
          strategy: 'jwt',
          accessToken: login.accessToken,
          payload: login.authentication.payload
        })
        assertSeedUser(again.user, ALICE, 1)
      })

      it('a second client logs in with the first one’s token (jwt strategy)', async function () {
        const first = await client()
        const { accessToken } = await first.app.authenticate(local(BOB))
        const second = await client()
        const result = await second.app.authenticate({ strategy: 'jwt', accessToken })
        assert.strictEqual(result.accessToken, accessToken)
        assert.strictEqual(result.authentication.strategy, 'jwt')
        assertSeedUser(result.user, BOB, 2)
        assertSeedUser(await second.app.service('users').get(2), BOB, 2)
      })

      it('malformed token → 401 `jwt malformed`, data {name: JsonWebTokenError}', async function () {
        const { app } = await client()
        const error = await failure(app.authenticate({ strategy: 'jwt', accessToken: 'not-a-jwt' }))
        assertFeathersError(error, errors.NotAuthenticated, 'jwt malformed', { name: 'JsonWebTokenError' })
        assert.strictEqual(await app.authentication.getAccessToken(), null)
      })

      it('tampered signature → 401 `invalid signature`, data {name: JsonWebTokenError}', async function () {
        const { app } = await client()
        const { accessToken } = await app.authenticate(local(ALICE))
        const error = await failure(app.authenticate({ strategy: 'jwt', accessToken: tamperSignature(accessToken) }))
        assertFeathersError(error, errors.NotAuthenticated, 'invalid signature', { name: 'JsonWebTokenError' })
      })

      it('jwt strategy without a token → 401 `No access token`', async function () {
        const { app } = await client()
        const error = await failure(app.service('authentication').create({ strategy: 'jwt' }))
        assertFeathersError(error, errors.NotAuthenticated, 'No access token')
      })
    })

    describe('logout', function () {
      it('logout → the jwt result for the same token; the client forgets it; users calls are 401 again', async function () {
        const c = await client()
        const { app } = c
        const login = await app.authenticate(local(ALICE))
        const result = await app.logout()
        assert.strictEqual(result.accessToken, login.accessToken)
        same(result.authentication, {
          strategy: 'jwt',
          accessToken: login.accessToken,
          payload: login.authentication.payload
        })
        assertSeedUser(result.user, ALICE, 1)
        assert.strictEqual(await app.authentication.getAccessToken(), null)
        assert.strictEqual(app.authentication.authenticated, false)
        const error = await failure(app.service('users').find())
        assertFeathersError(error, errors.NotAuthenticated, 'Not authenticated')
        if (c.kind === 'rest') {
          // JWTs are stateless: the server keeps no list of logged-out tokens, so the
          // token still works when sent again.
          const res = await fetch(`${server.url}/users/1`, { headers: { authorization: `Bearer ${login.accessToken}` } })
          assert.strictEqual(res.status, 200)
          c.received.push(await res.text())
        }
        if (c.kind === 'primus') {
          // The socket stays open and usable, and can log in again.
          assert.ok(!c.record.events.includes('close') && !c.record.events.includes('end'), c.record.events.join())
          const messages = await c.app.service('messages').find()
          assert.ok(Array.isArray(messages.data), JSON.stringify(messages))
          const again = await app.authenticate(local(ALICE))
          assertSeedUser(again.user, ALICE, 1)
          assertSeedUser(await app.service('users').get(1), ALICE, 1)
        }
      })

      it('logout without a login → 401 `Invalid authentication information (no `strategy` set)`', async function () {
        const { app } = await client()
        const error = await failure(app.service('authentication').remove(null))
        assertFeathersError(error, errors.NotAuthenticated, 'Invalid authentication information (no `strategy` set)')
      })
    })

    describe('users', function () {
      const carol = { email: `carol-${transport}@example.com`, password: 'carol-pw' }
      let carolId

      it('protected users methods without a token → 401 `Not authenticated`', async function () {
        const users = (await client()).app.service('users')
        for (const [name, call] of Object.entries({
          find: () => users.find(),
          get: () => users.get(1),
          update: () => users.update(1, { email: ALICE.email }),
          patch: () => users.patch(1, { email: ALICE.email }),
          remove: () => users.remove(2)
        })) {
          assertFeathersError(await failure(call(), name), errors.NotAuthenticated, 'Not authenticated')
        }
      })

      it('signup: a public create; roles/permissions from the client are dropped; no password in the result', async function () {
        const { app } = await client()
        const created = await app
          .service('users')
          .create({ ...carol, roles: ['admin'], permissions: ['everything'] })
        assert.ok(Number.isInteger(created.id) && created.id > 2, JSON.stringify(created))
        assert.strictEqual(created.email, carol.email)
        assert.ok(!(created.roles || []).includes('admin'), `roles were not dropped: ${JSON.stringify(created)}`)
        assert.ok(!(created.permissions || []).includes('everything'), JSON.stringify(created))
        same(secretsIn(created), [])
        carolId = created.id

        const login = await app.authenticate(local(carol))
        assert.strictEqual(login.user.id, carolId)
        assert.ok(!(login.user.roles || []).includes('admin'), JSON.stringify(login.user))
        assertAccessToken(login.accessToken, carolId, 86400)
      })

      it('signup with an email that exists → 409 Conflict', async function () {
        const { app } = await client()
        const error = await failure(app.service('users').create({ email: BOB.email, password: 'other' }))
        assert.ok(error instanceof errors.Conflict, `${error.name}: ${error.message}`)
        same({ code: error.code, className: error.className }, { code: 409, className: 'conflict' })
      })

      it('bob cannot change alice (403 `You can only change your own user`) but can change himself', async function () {
        const { app } = await client()
        await app.authenticate(local(BOB))
        const users = app.service('users')
        for (const [name, call] of Object.entries({
          patch: () => users.patch(1, { email: 'evil@example.com' }),
          update: () => users.update(1, { email: 'evil@example.com', password: 'x' }),
          remove: () => users.remove(1)
        })) {
          assertFeathersError(await failure(call(), name), errors.Forbidden, 'You can only change your own user')
        }
        assertSeedUser(await users.get(1), ALICE, 1)

        // Himself: a new password (hashed, never returned) works for the next login, then back.
        const patched = await users.patch(2, { password: 'bob-new-pw' })
        assert.strictEqual(patched.id, 2)
        same(secretsIn(patched), [])
        const other = await client()
        await other.app.authenticate(local({ email: BOB.email, password: 'bob-new-pw' }))
        assertFeathersError(await failure(other.app.authenticate(local(BOB))), errors.NotAuthenticated, 'Invalid login')
        await users.patch(2, { password: BOB.password })
        await other.app.authenticate(local(BOB))
      })

      it('alice (role admin) can change another user', async function () {
        const { app } = await client()
        await app.authenticate(local(ALICE))
        const users = app.service('users')
        const patched = await users.patch(2, { roles: ['user', 'editor'] })
        assert.strictEqual(patched.id, 2)
        same(patched.roles, ['user', 'editor'])
        assert.strictEqual(patched.email, BOB.email)
        same(secretsIn(patched), [])
        same((await users.patch(2, { roles: BOB.roles })).roles, BOB.roles)
      })

      it('a token of a removed user is refused (reference: 404 NotFound; Roost: 401)', async function () {
        assert.ok(carolId, 'needs the signup case')
        const carolClient = await client()
        const { accessToken } = await carolClient.app.authenticate(local(carol))
        const admin = await client()
        await admin.app.authenticate(local(ALICE))
        const removed = await admin.app.service('users').remove(carolId)
        assert.strictEqual(removed.id, carolId)
        same(secretsIn(removed), [])

        const fresh = await client()
        const error = await failure(fresh.app.authenticate({ strategy: 'jwt', accessToken }))
        if (kind === 'reference') {
          // Feathers looks the user up with users.get(sub): the memory adapter's NotFound goes out as is.
          assertFeathersError(error, errors.NotFound, `No record found for id '${carolId}'`)
        } else {
          // Documented difference: Roost refuses the token as not authenticated.
          assert.strictEqual(error.code, 401, `${error.name}: ${error.message}`)
          assert.ok(error instanceof errors.NotAuthenticated, `${error.name}: ${error.message}`)
        }
      })
    })

    describe('token expiry (a server with expiresIn 2s)', function () {
      let shortServer

      before(async function () {
        this.timeout(30000)
        shortServer = await startChatServer({ expiresIn: SHORT_EXPIRES_IN })
      })

      after(async function () {
        this.timeout(15000)
        if (shortServer) await shortServer.stop()
      })

      it('an expired token → 401 `jwt expired`, data {name: TokenExpiredError, expiredAt}; the client drops it', async function () {
        this.timeout(20000)
        const c = await within(connect(shortServer.url), CALL_MS, 'a client')
        clients.push(c)
        const { app } = c
        const login = await app.authenticate(local(ALICE))
        const payload = assertAccessToken(login.accessToken, 1, 2)
        const users = app.service('users')
        assertSeedUser(await users.get(1), ALICE, 1)

        // Bounded polling until the server refuses the token (REST: the header is
        // verified and fails `jwt expired`; Primus: at expiry the server drops the
        // connection's authentication, then calls are `Not authenticated`).
        const deadline = Date.now() + EXPIRY_WAIT_MS
        let error
        for (;;) {
          error = await users.get(1).then(
            () => null,
            (e) => e
          )
          if (error && (c.kind === 'rest' || error.message === 'Not authenticated')) break
          if (error && error.message !== 'jwt expired') throw error
          if (Date.now() > deadline) throw new Error(`the token (exp ${payload.exp}) was still accepted`)
          await sleep(EXPIRY_POLL_MS)
        }
        const expired = { name: 'TokenExpiredError', expiredAt: new Date(payload.exp * 1000).toISOString() }
        if (c.kind === 'rest') {
          assertFeathersError(error, errors.NotAuthenticated, 'jwt expired', expired)
        } else {
          assertFeathersError(error, errors.NotAuthenticated, 'Not authenticated')
          assert.ok(!c.record.events.includes('close'), 'the socket stays open at expiry')
        }

        // Re-authenticating with the stored (expired) token fails and the client drops it.
        const reauth = await failure(app.reAuthenticate(true))
        assertFeathersError(reauth, errors.NotAuthenticated, 'jwt expired', expired)
        assert.strictEqual(await app.authentication.getAccessToken(), null)

        // A new local login works again on the same client.
        const again = await app.authenticate(local(ALICE))
        assertSeedUser(again.user, ALICE, 1)
        assert.notStrictEqual(again.accessToken, login.accessToken)
      })
    })

    describe('secrets', function () {
      it('no response of this file contained a `password` field or a bcrypt hash', function () {
        for (const c of clients) received.push(...c.received)
        const found = []
        for (const item of received) {
          let value = item
          if (typeof item === 'string') {
            try {
              value = JSON.parse(item)
            } catch {
              value = item
            }
          }
          found.push(...secretsIn(value))
          if (JSON.stringify(value).includes('$2b$') || JSON.stringify(value).includes('$2a$')) found.push('hash text')
        }
        assert.ok(received.length > 20, `only ${received.length} responses recorded`)
        same(found, [])
      })
    })
  })
}

module.exports = { authSuite, failure, assertFeathersError, assertAccessToken, assertSeedUser, same, plain, sleep }
