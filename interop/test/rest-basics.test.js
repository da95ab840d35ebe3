'use strict'
// REST wire details over raw fetch: status codes, error JSON, routing, body
// parsing. Every expected value here is what the Node reference server
// (Feathers 5.0.50 + @feathersjs/koa rest/bodyParser/errorHandler) answers.

const assert = require('node:assert')
const { startServer, serverKind } = require('../lib/server')

// Where Roost differs from the reference on purpose (README "Differences from the
// reference"), the Roost branch of a test asserts Roost's documented answer.
const ROOST = serverKind() === 'roost'

const JSON_TYPE = 'application/json; charset=utf-8'
const KOA_BODY_LIMIT = 1024 * 1024 // koa-body's default jsonLimit '1mb'

const feathersError = (name, code, className, message, data) => {
  const error = { name, message, code, className }
  if (data !== undefined) error.data = data
  return error
}
const notFound = (message, data) => feathersError('NotFound', 404, 'not-found', message, data)
const badRequest = (message, data) => feathersError('BadRequest', 400, 'bad-request', message, data)
const methodNotAllowed = (message) => feathersError('MethodNotAllowed', 405, 'method-not-allowed', message)

describe(`REST basics against the ${serverKind()} server`, function () {
  let server

  before(async function () {
    this.timeout(30000)
    server = await startServer('rest')
  })

  after(async function () {
    this.timeout(15000)
    if (server) await server.stop()
  })

  /** One HTTP request; `body` objects are sent as JSON, strings as they are. */
  async function call(method, path, { body, headers = {} } = {}) {
    const init = { method, headers: { ...headers }, signal: AbortSignal.timeout(5000) }
    if (body !== undefined) {
      init.body = typeof body === 'string' ? body : JSON.stringify(body)
      if (!Object.keys(init.headers).some((h) => h.toLowerCase() === 'content-type')) {
        init.headers['Content-Type'] = 'application/json'
      }
    }
    const res = await fetch(server.url + path, init)
    const text = await res.text()
    let json
    try {
      json = text === '' ? undefined : JSON.parse(text)
    } catch {
      json = undefined
    }
    return { status: res.status, headers: res.headers, text, json }
  }

  function assertJsonError(res, status, expected) {
    assert.strictEqual(res.status, status, `status (body: ${res.text})`)
    assert.strictEqual(res.headers.get('content-type'), JSON_TYPE)
    assert.deepStrictEqual(res.json, expected)
  }

  describe('standard methods', function () {
    it('POST creates with 201 and JSON body', async function () {
      const res = await call('POST', '/things', { body: { name: 'created', age: 1 } })
      assert.strictEqual(res.status, 201)
      assert.strictEqual(res.headers.get('content-type'), JSON_TYPE)
      assert.strictEqual(res.json.name, 'created')
      assert.strictEqual(res.json.age, 1)
      assert.strictEqual(typeof res.json.id, 'number')
    })

    it('GET /svc/:id, PATCH, PUT, DELETE answer 200 with the record', async function () {
      const { json: made } = await call('POST', '/things', { body: { name: 'crud', age: 2 } })
      const got = await call('GET', `/things/${made.id}`)
      assert.strictEqual(got.status, 200)
      assert.deepStrictEqual(got.json, made)

      const patched = await call('PATCH', `/things/${made.id}`, { body: { age: 3 } })
      assert.strictEqual(patched.status, 200)
      assert.deepStrictEqual(patched.json, { ...made, age: 3 })

      const updated = await call('PUT', `/things/${made.id}`, { body: { name: 'crud2' } })
      assert.strictEqual(updated.status, 200)
      assert.deepStrictEqual(updated.json, { name: 'crud2', id: made.id })

      const removed = await call('DELETE', `/things/${made.id}`)
      assert.strictEqual(removed.status, 200)
      assert.deepStrictEqual(removed.json, { name: 'crud2', id: made.id })

      assertJsonError(await call('GET', `/things/${made.id}`), 404, notFound(`No record found for id '${made.id}'`))
    })

    it('GET /svc finds with 200 and a plain array (paginate off)', async function () {
      const res = await call('GET', '/things')
      assert.strictEqual(res.status, 200)
      assert.strictEqual(res.headers.get('content-type'), JSON_TYPE)
      assert.ok(Array.isArray(res.json))
    })

    it('HEAD is answered like GET, without a body', async function () {
      const res = await call('HEAD', '/things')
      assert.strictEqual(res.status, 200)
      assert.strictEqual(res.headers.get('content-type'), JSON_TYPE)
      assert.strictEqual(res.text, '')
    })

    it('POST with an x-www-form-urlencoded body creates (values stay strings)', async function () {
      const res = await call('POST', '/things', {
        body: 'name=form&age=4',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' }
      })
      assert.strictEqual(res.status, 201)
      assert.strictEqual(res.json.name, 'form')
      assert.strictEqual(res.json.age, '4')
    })
  })

  describe('routing', function () {
    it('tolerates a trailing slash on /svc/ and /svc/:id/', async function () {
      const { json: made } = await call('POST', '/things', { body: { name: 'slash' } })
      const list = await call('GET', '/things/')
      assert.strictEqual(list.status, 200)
      assert.ok(list.json.some((t) => t.id === made.id))
      const one = await call('GET', `/things/${made.id}/`)
      assert.strictEqual(one.status, 200)
      assert.deepStrictEqual(one.json, made)
    })

    it('unknown path → 404 `Path <path> not found` without data (query not included)', async function () {
      assertJsonError(await call('GET', '/nope'), 404, notFound('Path /nope not found'))
      assertJsonError(await call('GET', '/nope/x/y?z=1'), 404, notFound('Path /nope/x/y not found'))
      assertJsonError(await call('POST', '/nope', { body: {} }), 404, notFound('Path /nope not found'))
    })

    it('paths deeper than /svc/:id → 404', async function () {
      assertJsonError(await call('GET', '/things/1/extra'), 404, notFound('Path /things/1/extra not found'))
    })

    it('service paths are case-sensitive', async function () {
      assertJsonError(await call('GET', '/Things'), 404, notFound('Path /Things not found'))
    })

    it('ids are not percent-decoded (the reference) / are decoded (Roost)', async function () {
      const id = ROOST ? 'a b' : 'a%20b'
      assertJsonError(await call('GET', '/things/a%20b'), 404, notFound(`No record found for id '${id}'`))
    })
  })

  describe('methods not exposed', function () {
    for (const [verb, path, method] of [
      ['POST', '/readonly', 'create'],
      ['PUT', '/readonly/1', 'update'],
      ['PATCH', '/readonly/1', 'patch'],
      ['DELETE', '/readonly/1', 'remove'],
      ['PATCH', '/readonly', 'patch'],
      ['DELETE', '/readonly', 'remove']
    ]) {
      it(`${verb} ${path} on a service without '${method}' → 405`, async function () {
        const res = await call(verb, path, verb === 'DELETE' ? {} : { body: { name: 'x' } })
        assertJsonError(res, 405, methodNotAllowed(`Method \`${method}\` is not supported by this endpoint.`))
        assert.strictEqual(res.headers.get('allow'), null, 'no Allow header')
      })
    }

    it('the listed methods of that service still answer', async function () {
      const res = await call('GET', '/readonly')
      assert.strictEqual(res.status, 200)
      assert.deepStrictEqual(res.json, [])
    })

    it('X-Service-Method naming an unlisted custom method → 405', async function () {
      const expected = methodNotAllowed('Method `nope` is not supported by this endpoint.')
      const headers = { 'X-Service-Method': 'nope' }
      assertJsonError(await call('POST', '/things', { body: {}, headers }), 405, expected)
      assertJsonError(await call('POST', '/readonly', { body: {}, headers }), 405, expected)
    })

    it('X-Service-Method naming a standard method → 405', async function () {
      const res = await call('POST', '/things', { body: {}, headers: { 'X-Service-Method': 'find' } })
      assertJsonError(res, 405, methodNotAllowed('Method `find` is not supported by this endpoint.'))
    })

    it('X-Service-Method is ignored on GET', async function () {
      const res = await call('GET', '/things', { headers: { 'X-Service-Method': 'nope' } })
      assert.strictEqual(res.status, 200)
      assert.ok(Array.isArray(res.json))
    })

    it('OPTIONS (no CORS configured) → 405 `Method OPTIONS not allowed`', async function () {
      assertJsonError(await call('OPTIONS', '/things'), 405, methodNotAllowed('Method OPTIONS not allowed'))
    })
  })

  describe('multi is off', function () {
    it('POST with an array → 405 `Can not create multiple entries`', async function () {
      const res = await call('POST', '/things', { body: [{ name: 'a' }, { name: 'b' }] })
      assertJsonError(res, 405, methodNotAllowed('Can not create multiple entries'))
    })

    it('PATCH /svc → 405 `Can not patch multiple entries`', async function () {
      const res = await call('PATCH', '/things', { body: { age: 1 } })
      assertJsonError(res, 405, methodNotAllowed('Can not patch multiple entries'))
    })

    it('DELETE /svc → 405 `Can not remove multiple entries`', async function () {
      assertJsonError(await call('DELETE', '/things'), 405, methodNotAllowed('Can not remove multiple entries'))
    })

    it('PUT /svc → 400 (update is never multi)', async function () {
      const res = await call('PUT', '/things', { body: { name: 'x' } })
      assertJsonError(res, 400, badRequest("You can not replace multiple instances. Did you mean 'patch'?"))
    })
  })

  describe('queries', function () {
    it('unknown top-level filter → 400 `Invalid filter value $foo`', async function () {
      assertJsonError(await call('GET', '/things?$foo=1'), 400, badRequest('Invalid filter value $foo'))
    })

    it('unknown property operator → 400 with the offending object as data', async function () {
      const res = await call('GET', '/things?name[$like]=x')
      assertJsonError(res, 400, badRequest('Invalid query parameter $like', { $like: 'x' }))
    })

    it('query strings are coerced by the declared schema', async function () {
      await call('POST', '/things', { body: { name: 'young', age: 7 } })
      await call('POST', '/things', { body: { name: 'old', age: 70 } })
      const res = await call('GET', '/things?age[$lt]=10&name[$in][]=young&name[$in][]=old')
      assert.strictEqual(res.status, 200)
      assert.deepStrictEqual(
        res.json.map((t) => t.name),
        ['young']
      )
      const eq = await call('GET', '/things?age=70')
      assert.deepStrictEqual(
        eq.json.map((t) => t.name),
        ['old']
      )
    })

    it('a garbage $limit is ignored', async function () {
      const all = await call('GET', '/things')
      const res = await call('GET', '/things?$limit=abc')
      assert.strictEqual(res.status, 200)
      assert.strictEqual(res.json.length, all.json.length)
    })
  })

  describe('request bodies', function () {
    // The reference answers bad bodies with a bare 500 `{message}` (koa errorHandler, not a
    // Feathers error); Roost answers 400 BadRequest as a Feathers error.
    function assertBadBody(res, referenceMessage) {
      if (ROOST) {
        assert.strictEqual(res.status, 400, `status (body: ${res.text})`)
        assert.strictEqual(res.headers.get('content-type'), JSON_TYPE)
        assert.strictEqual(res.json.name, 'BadRequest')
        assert.strictEqual(res.json.className, 'bad-request')
        assert.strictEqual(typeof res.json.message, 'string')
      } else if (referenceMessage === undefined) {
        assert.strictEqual(res.status, 500)
        assert.strictEqual(res.headers.get('content-type'), JSON_TYPE)
        assert.deepStrictEqual(Object.keys(res.json), ['message'])
        assert.strictEqual(typeof res.json.message, 'string')
      } else {
        assertJsonError(res, 500, { message: referenceMessage })
      }
    }

    it('truncated JSON → reference 500 `{message}` only / Roost 400 BadRequest', async function () {
      assertBadBody(await call('POST', '/things', { body: '{"name":' }), 'Unexpected end of JSON input')
    })

    it('JSON that is not an object or array → reference 500 / Roost 400', async function () {
      const message = 'invalid JSON, only supports object and array'
      assertBadBody(await call('POST', '/things', { body: 'nope' }), message)
      assertBadBody(await call('POST', '/things', { body: 'null' }), message)
    })

    it('other malformed JSON → reference 500 with only a message / Roost 400', async function () {
      assertBadBody(await call('POST', '/things', { body: '{"a":}' }))
    })

    it(`a JSON body of exactly ${KOA_BODY_LIMIT} bytes is accepted`, async function () {
      const body = JSON.stringify({ name: 'x'.repeat(KOA_BODY_LIMIT - '{"name":""}'.length) })
      assert.strictEqual(Buffer.byteLength(body), KOA_BODY_LIMIT)
      const res = await call('POST', '/things', { body })
      assert.strictEqual(res.status, 201)
      await call('DELETE', `/things/${res.json.id}`)
    })

    it('a JSON body over the limit → reference 500 `request entity too large` / Roost 400', async function () {
      const body = JSON.stringify({ name: 'x'.repeat(KOA_BODY_LIMIT - '{"name":""}'.length + 1) })
      const res = await call('POST', '/things', { body })
      if (ROOST) {
        assertJsonError(res, 400, badRequest(`Request body is larger than the limit of ${KOA_BODY_LIMIT} bytes`, { limit: KOA_BODY_LIMIT }))
      } else {
        assertJsonError(res, 500, { message: 'request entity too large' })
      }
    })
  })
})
