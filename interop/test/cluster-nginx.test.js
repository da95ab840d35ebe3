'use strict'
// nginx in front of three Roost nodes, as docs/cluster.md tells an operator to run them: the
// site file deploy/nginx/roost-cluster.conf (websocket upgrade for /primus and /socket.io/,
// `hash $remote_addr consistent` so Socket.IO long-polling stays on one node) served by a real
// nginx of our own (scripts/services/nginx.sh: installed with apt-get when missing, on a free
// 127.0.0.1 port, stopped by PID), three `roost serve` nodes on one Redis and one PostgreSQL,
// and the official clients talking to nginx only — Primus over websockets, Socket.IO
// long-polling only, Socket.IO polling upgraded to a websocket, REST.
//
// Clients come from different loopback source addresses (127.0.0.x), which is what spreads
// them over the nodes: before the clients connect, a probe per address reads the
// `X-Roost-Upstream` header the test's nginx adds to learn which node that address lands on.
//
// Needs ROOST_TEST_REDIS_URL and ROOST_TEST_POSTGRES_URL (scripts/services/with-databases.sh);
// skipped otherwise, and against the reference server.

const assert = require('node:assert')
const fs = require('node:fs')
const http = require('node:http')
const os = require('node:os')
const path = require('node:path')
const { execFile } = require('node:child_process')

const { serverKind } = require('../lib/server')
const { clusterEnv, startNode, primusClient, socketioClient, count } = require('../lib/cluster')
const { restChatClient, ALICE, BOB, local } = require('../lib/chat-client')
const { within, until } = require('../lib/wait')

const ROOT = path.resolve(__dirname, '..', '..')
const NGINX_SH = path.join(ROOT, 'scripts', 'services', 'nginx.sh')
const SITE_CONF = path.join(ROOT, 'deploy', 'nginx', 'roost-cluster.conf')
const WAIT_MS = 10000
// apt-get may have to install nginx first.
const NGINX_START_MS = 300000
const describeNginx = serverKind() === 'roost' && clusterEnv() ? describe : describe.skip

/** Runs scripts/services/nginx.sh with `args`; resolves its KEY=VALUE output as an object. */
function nginxScript(args, timeout) {
  return new Promise((resolve, reject) => {
    execFile(NGINX_SH, args, { timeout, maxBuffer: 1 << 20 }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`nginx.sh ${args[0]} failed: ${error.message}\n${stderr}`))
      const out = {}
      for (const line of stdout.split('\n')) {
        const at = line.indexOf('=')
        if (at > 0) out[line.slice(0, at)] = line.slice(at + 1)
      }
      resolve(out)
    })
  })
}

/** GET `url` from source address `from`: `{ status, upstream }` (the test nginx's header). */
function probe(url, from) {
  const request = new Promise((resolve, reject) => {
    const req = http.get(url, { localAddress: from, agent: false }, (res) => {
      res.resume()
      res.on('end', () => resolve({ status: res.statusCode, upstream: res.headers['x-roost-upstream'] }))
    })
    req.on('error', reject)
  })
  return within(request, WAIT_MS, `GET ${url} from ${from}`)
}

/** `value` of the metric line `name` (no labels) in a Prometheus text, or undefined. */
function metric(text, name) {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `))
  return line === undefined ? undefined : Number(line.slice(name.length + 1))
}

describeNginx('nginx (deploy/nginx/roost-cluster.conf) in front of three Roost nodes', function () {
  this.timeout(NGINX_START_MS + 60000)
  const nodes = []
  const clients = []
  let nginx
  // Per node (index into `nodes`): the source addresses nginx sends to it.
  const addresses = [[], [], []]

  before(async function () {
    const prefix = `nginx${process.pid}${Date.now()}`
    for (const id of ['a', 'b', 'c']) nodes.push(await startNode(`${id}-${process.pid}`, prefix))
    const upstreams = nodes.map((n) => new URL(n.url).host)
    const envFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'roost-nginx-env-')), 'env')
    try {
      nginx = await nginxScript(['start', envFile, SITE_CONF, ...upstreams], NGINX_START_MS)
    } finally {
      fs.rmSync(path.dirname(envFile), { recursive: true, force: true })
    }
    assert.match(nginx.URL || '', /^http:\/\/127\.0\.0\.1:\d+$/, 'nginx.sh printed its URL')
    // Which node each source address lands on; stop once every node has two.
    for (let i = 2; i < 255 && addresses.some((a) => a.length < 2); i++) {
      const from = `127.0.0.${i}`
      const { status, upstream } = await probe(`${nginx.URL}/healthz`, from)
      assert.strictEqual(status, 200, `GET /healthz through nginx from ${from}`)
      const node = upstreams.indexOf(upstream)
      assert.ok(node >= 0, `X-Roost-Upstream ${upstream} is one of ${upstreams}`)
      addresses[node].push(from)
      // The same address again: the same node (hash, not round robin).
      assert.strictEqual((await probe(`${nginx.URL}/healthz`, from)).upstream, upstream, `${from} stays`)
    }
    for (const [i, list] of addresses.entries()) {
      assert.ok(list.length >= 2, `node ${i} got no source address out of 253: ${JSON.stringify(addresses)}`)
    }
  })

  after(async function () {
    for (const c of clients) c.end()
    if (nginx && nginx.PIDFILE) await nginxScript(['stop', nginx.PIDFILE], 30000)
    for (const n of nodes) await n.stop()
  })

  const track = (client) => {
    clients.push(client)
    return client
  }
  // Every client connects to nginx; `node` and `k` pick its source address, hence its node.
  const primusOn = async (node, k = 0) => {
    const from = addresses[node][k]
    return track(await primusClient(nginx.URL, { transport: { localAddress: from } }))
  }
  const socketioOn = async (node, k, transports) => {
    const from = addresses[node][k]
    // Polling requests go through the agent, the websocket through `localAddress`.
    const agent = new http.Agent({ keepAlive: true, localAddress: from })
    const client = track(await socketioClient(nginx.URL, { transports, agent, localAddress: from }))
    const end = client.end
    client.end = () => {
      end()
      agent.destroy()
    }
    return { ...client, from }
  }

  it('calls and room events cross the nodes through nginx, each exactly once; polling stays on its node', async function () {
    // Node 0: a Primus websocket publisher. Node 1: a Socket.IO client that only long-polls,
    // and an anonymous Primus client. Node 2: Socket.IO upgraded from polling to a websocket,
    // and a Primus member.
    const sender = await primusOn(0)
    await sender.app.authenticate(local(BOB))
    const polling = await socketioOn(1, 0, ['polling'])
    await polling.app.authenticate(local(ALICE))
    const anonymous = await primusOn(1, 1)
    const upgraded = await socketioOn(2, 0, ['polling', 'websocket'])
    await until(() => upgraded.socket.io.engine.transport.name === 'websocket', WAIT_MS, 'the websocket upgrade through nginx')
    const member = await primusOn(2, 1)
    const members = [sender, polling, upgraded, member]
    // A room of this run only (the database may hold other runs' messages).
    const roomId = `nginx-${process.pid}-${Date.now()}`
    for (const c of members) await c.app.service('messages').join({ roomId })

    // Each node holds what we meant it to (its own metrics), so crossing nodes is real.
    const scrape = async (i) => (await fetch(`${nodes[i].url}/metrics`)).text()
    const [m0, m1, m2] = await Promise.all([0, 1, 2].map(scrape))
    assert.strictEqual(metric(m1, 'roost_socketio_sessions_open'), 1, 'node 1: the polling session')
    assert.strictEqual(metric(m2, 'roost_socketio_sessions_open'), 1, 'node 2: the upgraded session')
    assert.strictEqual(metric(m0, 'roost_socketio_sessions_open'), 0, 'node 0: no Socket.IO session')

    // A marker after each message: once it is in, a duplicate would have come before it.
    const say = async (client, text) => {
      await client.app.service('messages').create({ text, roomId })
      await client.app.service('messages').create({ text: `${text} marker`, roomId })
      for (const c of members) {
        await until(() => c.texts.includes(`${text} marker`), WAIT_MS, `"${text} marker" on ${c.kind}`)
        assert.strictEqual(count(c.texts, text), 1, `${c.kind}: ${c.texts}`)
      }
    }
    await say(sender, 'from primus on node 0')
    await say(polling, 'from polling on node 1')
    await say(upgraded, 'from the upgraded socket on node 2')
    // REST through nginx (any node: REST needs no stickiness).
    const rest = track(restChatClient(nginx.URL))
    await rest.app.authenticate(local(BOB))
    await say(rest, 'over REST')
    const page = await rest.app.service('messages').find({ query: { roomId, $limit: 50 } })
    assert.strictEqual(page.total, 8, JSON.stringify(page))
    assert.deepStrictEqual(anonymous.texts, [])

    // The long-polling client never left polling, and every one of its requests reached node 1
    // (nginx's access log: client address, node, request).
    assert.strictEqual(polling.socket.io.engine.transport.name, 'polling')
    assert.ok(polling.socket.connected, 'the polling session is still open')
    const lines = fs
      .readFileSync(nginx.ACCESS_LOG, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith(`${polling.from} `) && l.includes('/socket.io/'))
    assert.ok(lines.length >= 5, `polling requests in the access log: ${lines.length}`)
    const upstream = new URL(nodes[1].url).host
    for (const line of lines) assert.strictEqual(line.split(' ')[1], upstream, line)
  })
})
