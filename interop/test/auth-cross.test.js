'use strict'
// Tokens cross between the real Feathers stack and Roost: with the same secret and the same
// seed users, an access token issued by @feathersjs/authentication 5.0.50 (the reference chat
// app) is accepted by Roost, and a Roost token is accepted by Feathers — both as
// `{strategy: 'jwt', accessToken}` logins that return the same token and the same user.
// Runs when the suite targets Roost (it starts both servers).

const assert = require('node:assert')
const { startChatServer, serverKind } = require('../lib/server')

const SECRET = 'cross-check-secret-shared-by-both-servers'

async function post(url, body) {
  const res = await fetch(url + '/authentication', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10000)
  })
  return { status: res.status, json: await res.json() }
}

const login = (url) =>
  post(url, { strategy: 'local', email: 'alice@example.com', password: 'alice-pw' })

const describeRoost = serverKind() === 'roost' ? describe : describe.skip

describeRoost('JWTs cross between @feathersjs/authentication and Roost', function () {
  this.timeout(60000)
  let roost
  let reference

  before(async function () {
    roost = await startChatServer({ kind: 'roost', secret: SECRET })
    reference = await startChatServer({ kind: 'reference', secret: SECRET })
  })

  after(async function () {
    if (roost) await roost.stop()
    if (reference) await reference.stop()
  })

  for (const [issuer, verifier] of [
    ['reference', 'roost'],
    ['roost', 'reference']
  ]) {
    it(`a token issued by ${issuer} logs in on ${verifier}`, async function () {
      const servers = { roost, reference }
      const issued = await login(servers[issuer].url)
      assert.strictEqual(issued.status, 201, JSON.stringify(issued.json))
      const token = issued.json.accessToken
      const [header] = token.split('.')
      assert.deepStrictEqual(JSON.parse(Buffer.from(header, 'base64url')), { alg: 'HS256', typ: 'access' })

      const accepted = await post(servers[verifier].url, { strategy: 'jwt', accessToken: token })
      assert.strictEqual(accepted.status, 201, JSON.stringify(accepted.json))
      assert.strictEqual(accepted.json.accessToken, token, 'the same token comes back')
      assert.strictEqual(accepted.json.authentication.strategy, 'jwt')
      assert.strictEqual(accepted.json.user.email, 'alice@example.com')
      assert.strictEqual(accepted.json.user.password, undefined)
    })
  }

  it('a token signed with another secret is refused by both', async function () {
    const other = await startChatServer({ kind: 'roost', secret: 'a-different-secret-entirely' })
    try {
      const token = (await login(other.url)).json.accessToken
      for (const server of [roost, reference]) {
        const res = await post(server.url, { strategy: 'jwt', accessToken: token })
        assert.strictEqual(res.status, 401)
        assert.strictEqual(res.json.message, 'invalid signature')
      }
    } finally {
      await other.stop()
    }
  })
})
