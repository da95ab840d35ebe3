'use strict'
// Roost cluster nodes for the interop tests (test/cluster.test.js, test/cluster-nginx.test.js):
// the chat app under `roost serve` with `[cluster]` set through the environment, on the Redis
// and PostgreSQL of scripts/services/with-databases.sh.
//
//   const { clusterEnv, startNode } = require('../lib/cluster')
//   if (clusterEnv()) { const node = await startNode('a-1', 'prefix'); … await node.stop() }

const { feathers, defaultServiceMethods } = require('@feathersjs/feathers')
const feathersSocketio = require('@feathersjs/socketio-client')
const authClient = require('@feathersjs/authentication-client')
const io = require('socket.io-client')

const { startChatServer } = require('./server')
const { primusChatClient } = require('./chat-client')
const { within } = require('./wait')

const WAIT_MS = 10000
/** One JWT secret for the whole cluster, as an operator sets it. */
const CLUSTER_SECRET = 'cluster-interop-secret-0123456789abcdef'

/** `{ redis, postgres }` when both ROOST_TEST_REDIS_URL and ROOST_TEST_POSTGRES_URL are set. */
function clusterEnv() {
  const redis = process.env.ROOST_TEST_REDIS_URL
  const postgres = process.env.ROOST_TEST_POSTGRES_URL
  return redis && postgres ? { redis, postgres } : null
}

/**
 * Starts one node (`node_id` = `nodeId`, channels under `prefix`) and resolves once its
 * `/readyz` answers 200 (storage and the cluster broker connected):
 * `{ url, port, pid, output(), stop() }` as startChatServer.
 */
async function startNode(nodeId, prefix) {
  const env = clusterEnv()
  if (!env) throw new Error('startNode needs ROOST_TEST_REDIS_URL and ROOST_TEST_POSTGRES_URL')
  const cluster = {
    ROOST_CLUSTER__URL: env.redis,
    ROOST_CLUSTER__KEY_PREFIX: prefix,
    ROOST_CLUSTER__NODE_ID: nodeId,
    ROOST_STORAGE__URL: env.postgres
  }
  const saved = {}
  for (const [key, value] of Object.entries(cluster)) {
    saved[key] = process.env[key]
    process.env[key] = value
  }
  let server
  try {
    server = await startChatServer({ kind: 'roost', secret: CLUSTER_SECRET })
  } finally {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key]
      else process.env[key] = value
    }
  }
  const start = Date.now()
  for (;;) {
    const res = await fetch(`${server.url}/readyz`).catch(() => null)
    if (res && res.status === 200) break
    if (Date.now() - start > WAIT_MS) {
      await server.stop()
      throw new Error(`${nodeId}: /readyz never became ready`)
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return server
}

/** The texts of `messages created` events a client app receives (filled as they come). */
function listen(app) {
  const texts = []
  app.service('messages').on('created', (message) => texts.push(message.text))
  return texts
}

/** How many times `text` is in `texts`. */
const count = (texts, text) => texts.filter((t) => t === text).length

/**
 * A Primus chat client (primus-client 7.3.4, lib/chat-client.js) with the texts it receives:
 * `{ kind: 'primus', app, texts, end() }`. `options` go to the Primus client (e.g.
 * `{ transport: { localAddress } }`, handed to `ws`).
 */
async function primusClient(url, options = {}) {
  const client = await primusChatClient(url, options)
  return { ...client, texts: listen(client.app) }
}

/**
 * A Socket.IO chat client (socket.io-client 4.8 + @feathersjs/socketio-client +
 * authentication-client), resolved once connected: `{ kind: 'socketio', app, socket, texts,
 * end() }`. `options` go to `io()` (reconnection is off).
 */
async function socketioClient(url, options = {}) {
  const socket = io(url, { reconnection: false, ...options })
  try {
    await within(
      new Promise((resolve, reject) => {
        socket.once('connect', resolve)
        socket.once('connect_error', reject)
      }),
      WAIT_MS,
      'socket.io connect'
    )
  } catch (error) {
    socket.close()
    throw error
  }
  const app = feathers()
  const connection = feathersSocketio(socket)
  app.configure(connection)
  app.use('messages', connection.service('messages'), { methods: [...defaultServiceMethods, 'join', 'leave'] })
  app.configure(authClient({ storage: new authClient.MemoryStorage() }))
  return { kind: 'socketio', app, socket, texts: listen(app), end: () => socket.close() }
}

module.exports = { clusterEnv, startNode, CLUSTER_SECRET, listen, count, primusClient, socketioClient }
