'use strict'
// Start the server under test on a free 127.0.0.1 port and stop it again.
//
//   const { startServer } = require('../lib/server')
//   const server = await startServer('rest')   // config/rest.toml (Roost) or config/rest.json (reference)
//   (Roost gets a fresh temp data directory per start, ROOST_SERVER__DATA_DIR, removed on stop)
//   ... server.url ...                         // e.g. http://127.0.0.1:41234
//   await server.stop()
//
// Which server: env INTEROP_SERVER = 'roost' (default) or 'reference'; for the chat app also
// 'gateway' / 'gateway-rest' (Roost in gateway mode in front of the reference, startChatServer).
//   roost:     $ROOST_BIN (default ../target/debug/roost relative to interop/)
//              `serve --config config/<name>.toml`, port via ROOST_SERVER__PORT.
//   reference: node ../bench/reference/server.js --config config/<name>.json, port via PORT.
//
//   const server = await startRealtimeServer({ pingIntervalMs: 300 })  // REALTIME-APP.md
//   await server.restart()                     // stop, then start again on the same port
//   roost:     $ROOST_INTEROP_BIN (default ../target/debug/examples/interop) --port <p> [--ping-interval-ms N]
//   reference: node ../bench/reference/realtime.js --port <p> [--ping-interval-ms N]
//   startRealtimeServer({ storage: 'sqlite' })  // Roost only: people* in SQLite in a temp dir
//                                               // (--storage sqlite://<tmp>/roost.db)
// Every wait is bounded: a server that does not answer GET /healthz in time is
// killed and the error carries the tail of its output.

const { spawn } = require('node:child_process')
const fs = require('node:fs')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')

const INTEROP_DIR = path.resolve(__dirname, '..')
const REFERENCE_DIR = path.resolve(INTEROP_DIR, '..', 'bench', 'reference')

const STARTUP_TIMEOUT_MS = Number(process.env.INTEROP_STARTUP_TIMEOUT_MS || 20000)
const STOP_GRACE_MS = 5000
const KILL_WAIT_MS = 2000
const HEALTH_POLL_MS = 100
const HEALTH_REQUEST_TIMEOUT_MS = 1000
const OUTPUT_TAIL_BYTES = 8192

// Children still running when this process exits (mocha --exit, a crash) are
// killed here by PID, so a test run never leaves a server behind.
const running = new Set()
process.on('exit', () => {
  for (const child of running) {
    try {
      child.kill('SIGKILL')
    } catch {}
  }
})

const serverKind = () => process.env.INTEROP_SERVER || 'roost'

/** A new empty temp directory for one server's data; removed by `removeDir`. */
const tempDataDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'roost-interop-'))
const removeDir = (dir) => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true })
}

/**
 * The kernel's ephemeral port range (where outgoing connections get their local port), from
 * /proc; Linux's default when it cannot be read.
 */
function ephemeralRange() {
  try {
    const [low, high] = fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number)
    if (low > 0 && high >= low) return [low, high]
  } catch {}
  return [32768, 60999]
}

/** Resolves `port` if 127.0.0.1:`port` can be bound right now, else `null`. */
function tryPort(port) {
  return new Promise((resolve) => {
    const srv = net.createServer()
    srv.unref()
    srv.once('error', () => resolve(null))
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(port)))
  })
}

/**
 * A port that was free a moment ago, chosen below the ephemeral range: a port the kernel
 * hands out (listen on 0) is also what it gives outgoing connections, so between choosing it
 * and the server binding it, a client connecting somewhere (an app process to Redis) could
 * take it ("Address already in use", seen in CI). Below the range only listeners compete.
 */
async function freePort() {
  const [low] = ephemeralRange()
  const floor = 10000
  if (low - floor > 1000) {
    for (let attempt = 0; attempt < 50; attempt++) {
      const port = floor + Math.floor(Math.random() * (low - floor))
      if ((await tryPort(port)) !== null) return port
    }
  }
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.unref()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address()
      srv.close((err) => (err ? reject(err) : resolve(port)))
    })
  })
}

/** The command line for the selected server with config `name` on `port`. */
function command(kind, name, port) {
  const env = { ...process.env }
  if (kind === 'roost') {
    const bin = path.resolve(INTEROP_DIR, process.env.ROOST_BIN || '../target/debug/roost')
    if (!fs.existsSync(bin)) {
      throw new Error(`ROOST_BIN ${bin} does not exist (build it with cargo build, or set INTEROP_SERVER=reference)`)
    }
    const config = path.join(INTEROP_DIR, 'config', `${name}.toml`)
    env.ROOST_SERVER__PORT = String(port)
    const dataDir = tempDataDir()
    env.ROOST_SERVER__DATA_DIR = dataDir
    return { file: bin, args: ['serve', '--config', config], env, cwd: INTEROP_DIR, dataDir }
  }
  if (kind === 'reference') {
    const config = path.join(INTEROP_DIR, 'config', `${name}.json`)
    env.PORT = String(port)
    env.NODE_ENV = env.NODE_ENV || 'test'
    return {
      file: process.execPath,
      args: [path.join(REFERENCE_DIR, 'server.js'), '--config', config],
      env,
      cwd: REFERENCE_DIR
    }
  }
  throw new Error(`INTEROP_SERVER must be 'roost' or 'reference', not '${kind}'`)
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** Resolves with the exit code/signal once `child` has exited (or at once if it already has). */
function exited(child) {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode })
  }
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
}

/** Wait at most `ms` for `promise`; resolves `undefined` on timeout. */
function within(promise, ms) {
  let timer
  return Promise.race([promise, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]).finally(() =>
    clearTimeout(timer)
  )
}

async function healthy(url) {
  try {
    const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(HEALTH_REQUEST_TIMEOUT_MS) })
    await res.arrayBuffer()
    return res.status === 200
  } catch {
    return false
  }
}

/**
 * Spawn `cmd` and wait until `url`/healthz answers 200. Resolves
 * `{ pid, output(), stop() }`; on failure the child is stopped and the error
 * carries the tail of its output.
 */
async function launch(kind, cmd, url) {
  const child = spawn(cmd.file, cmd.args, { cwd: cmd.cwd, env: cmd.env, stdio: ['ignore', 'pipe', 'pipe'] })
  running.add(child)
  child.once('exit', () => running.delete(child))
  let output = ''
  const keep = (chunk) => {
    output = (output + chunk.toString()).slice(-OUTPUT_TAIL_BYTES)
    if (process.env.INTEROP_SERVER_LOG) process.stderr.write(chunk)
  }
  child.stdout.on('data', keep)
  child.stderr.on('data', keep)
  let spawnError = null
  child.on('error', (err) => (spawnError = err))

  const describe = () => `${kind} server (${cmd.file} ${cmd.args.join(' ')}, pid ${child.pid})`

  async function stop() {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return
    child.kill('SIGTERM')
    const res = await within(exited(child), STOP_GRACE_MS)
    if (res === undefined) {
      child.kill('SIGKILL')
      await within(exited(child), KILL_WAIT_MS)
      throw new Error(`${describe()} ignored SIGTERM for ${STOP_GRACE_MS} ms and was killed`)
    }
  }

  const deadline = Date.now() + STARTUP_TIMEOUT_MS
  for (;;) {
    if (spawnError) {
      throw new Error(`${describe()} could not be started: ${spawnError.message}`)
    }
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `${describe()} exited (code ${child.exitCode}, signal ${child.signalCode}) before /healthz answered.\n` +
          `--- server output ---\n${output}`
      )
    }
    if (await healthy(url)) break
    if (Date.now() > deadline) {
      await stop().catch(() => {})
      throw new Error(
        `${describe()} did not answer GET ${url}/healthz within ${STARTUP_TIMEOUT_MS} ms.\n` +
          `--- server output ---\n${output}`
      )
    }
    await sleep(HEALTH_POLL_MS)
  }

  return { pid: child.pid, output: () => output, stop }
}

/**
 * Start the selected server with config `name` (`config/<name>.toml|json`).
 * Resolves `{ url, kind, pid, output(), stop() }` once GET /healthz answers 200.
 */
async function startServer(name = 'rest') {
  const kind = serverKind()
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const cmd = command(kind, name, port)
  let launched
  try {
    launched = await launch(kind, cmd, url)
  } catch (err) {
    removeDir(cmd.dataDir)
    throw err
  }
  const { pid, output } = launched
  const stop = () => launched.stop().finally(() => removeDir(cmd.dataDir))
  return { url, kind, pid, output, stop }
}

/** The command line of the real-time app (REALTIME-APP.md) for `kind` on `port`. */
function realtimeCommand(kind, port, { pingIntervalMs, storageUrl } = {}) {
  const args = ['--port', String(port)]
  if (pingIntervalMs !== undefined) args.push('--ping-interval-ms', String(pingIntervalMs))
  if (kind === 'roost') {
    if (storageUrl) args.push('--storage', storageUrl)
    const bin = path.resolve(INTEROP_DIR, process.env.ROOST_INTEROP_BIN || '../target/debug/examples/interop')
    if (!fs.existsSync(bin)) {
      throw new Error(
        `ROOST_INTEROP_BIN ${bin} does not exist (build it with cargo build -p roost --example interop, ` +
          'or set INTEROP_SERVER=reference)'
      )
    }
    return { file: bin, args, env: { ...process.env }, cwd: INTEROP_DIR }
  }
  if (kind === 'reference') {
    const env = { ...process.env }
    env.NODE_ENV = env.NODE_ENV || 'test'
    return { file: process.execPath, args: [path.join(REFERENCE_DIR, 'realtime.js'), ...args], env, cwd: REFERENCE_DIR }
  }
  throw new Error(`INTEROP_SERVER must be 'roost' or 'reference', not '${kind}'`)
}

/**
 * Start the real-time app of REALTIME-APP.md (Roost: $ROOST_INTEROP_BIN,
 * default ../target/debug/examples/interop; reference: bench/reference/realtime.js)
 * on a free port, with `--ping-interval-ms` when `pingIntervalMs` is given.
 * Resolves `{ url, port, kind, pid, output(), stop(), restart() }` once GET
 * /healthz answers 200. `restart()` stops the server and starts a new one on
 * the SAME port (for reconnect tests); `pid` and `output()` then refer to it.
 */
async function startRealtimeServer({ pingIntervalMs, storage } = {}) {
  const kind = serverKind()
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  if (storage !== undefined && storage !== 'sqlite') throw new Error(`unknown storage '${storage}'`)
  if (storage && kind !== 'roost') throw new Error('storage is a Roost option')
  const dataDir = storage ? tempDataDir() : undefined
  const options = { pingIntervalMs, storageUrl: dataDir && `sqlite://${path.join(dataDir, 'roost.db')}` }
  let current
  try {
    current = await launch(kind, realtimeCommand(kind, port, options), url)
  } catch (err) {
    removeDir(dataDir)
    throw err
  }

  const server = {
    url,
    port,
    kind,
    get pid() {
      return current.pid
    },
    output: () => current.output(),
    stop: () => current.stop().finally(() => removeDir(dataDir)),
    async restart() {
      await current.stop()
      current = await launch(kind, realtimeCommand(kind, port, options), url)
    }
  }
  return server
}

/**
 * The command line of the chat app (CHAT-APP.md) for `kind` on `port`.
 * Roost: `$ROOST_BIN serve --config config/chat.toml` with the settings as
 * environment overrides and `dataDir` as its data directory; reference:
 * `node ../bench/reference/chat.js` with the equivalent flags and
 * `--seed config/chat-seed.json` (the same users as chat.toml).
 */
function chatCommand(kind, port, { expiresIn, publishRules, pingIntervalMs, secret } = {}, dataDir) {
  const env = { ...process.env }
  if (kind === 'roost') {
    const bin = path.resolve(INTEROP_DIR, process.env.ROOST_BIN || '../target/debug/roost')
    if (!fs.existsSync(bin)) {
      throw new Error(`ROOST_BIN ${bin} does not exist (build it with cargo build -p roost, or set INTEROP_SERVER=reference)`)
    }
    env.ROOST_SERVER__PORT = String(port)
    env.ROOST_SERVER__DATA_DIR = dataDir
    if (expiresIn !== undefined) env.ROOST_AUTH__JWT_OPTIONS__EXPIRES_IN = String(expiresIn)
    if (publishRules !== undefined) env.ROOST_APP__PUBLISH_RULES = publishRules
    if (pingIntervalMs !== undefined) env.ROOST_PRIMUS__PING_INTERVAL_MS = String(pingIntervalMs)
    if (secret !== undefined) env.ROOST_AUTH__SECRET = secret
    const config = path.join(INTEROP_DIR, 'config', 'chat.toml')
    return { file: bin, args: ['serve', '--config', config], env, cwd: INTEROP_DIR }
  }
  if (kind === 'reference') {
    env.NODE_ENV = env.NODE_ENV || 'test'
    const args = [path.join(REFERENCE_DIR, 'chat.js'), '--port', String(port)]
    args.push('--seed', path.join(INTEROP_DIR, 'config', 'chat-seed.json'))
    if (expiresIn !== undefined) args.push('--expires-in', String(expiresIn))
    if (publishRules !== undefined) args.push('--publish-rules', publishRules)
    if (pingIntervalMs !== undefined) args.push('--ping-interval-ms', String(pingIntervalMs))
    if (secret !== undefined) args.push('--secret', secret)
    return { file: process.execPath, args, env, cwd: REFERENCE_DIR }
  }
  throw new Error(`INTEROP_SERVER must be 'roost' or 'reference', not '${kind}'`)
}

/**
 * Start the chat app of CHAT-APP.md (Roost: `$ROOST_BIN serve --config
 * config/chat.toml`; reference: bench/reference/chat.js) on a free port with
 * the seed users alice (admin, `alice-pw`) and bob (user, `bob-pw`).
 * `expiresIn`: JWT lifetime ('2s', '1d'); `publishRules`: 'default' | 'reference';
 * `pingIntervalMs`: Primus heartbeat. Roost gets a fresh temporary data
 * directory, removed by `stop()`. Resolves `{ url, port, kind, pid, output(), stop() }`
 * once GET /healthz answers 200. `kind` ('roost' | 'reference') overrides INTEROP_SERVER;
 * `secret` sets the JWT secret.
 */
async function startChatServer(settings = {}) {
  const kind = settings.kind || serverKind()
  if (kind === 'gateway' || kind === 'gateway-rest') return startGatewayChat(settings, kind)
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'roost-chat-'))
  const removeDataDir = () => fs.rmSync(dataDir, { recursive: true, force: true })
  let current
  try {
    current = await launch(kind, chatCommand(kind, port, settings, dataDir), url)
  } catch (error) {
    removeDataDir()
    throw error
  }
  return {
    url,
    port,
    kind,
    pid: current.pid,
    output: () => current.output(),
    async stop() {
      try {
        await current.stop()
      } finally {
        removeDataDir()
      }
    }
  }
}

const GATEWAY_SECRET = 'interop-gateway-secret-0123456789'

/**
 * The chat app through Roost in gateway mode (docs/gateway.md): the reference chat app
 * (bench/reference/chat.js, the upstream) on one free port and `$ROOST_BIN serve --config
 * config/gateway.toml` in front of it on another; clients talk to Roost only (`url`).
 * `kind` 'gateway': plugin mode (the app runs the feathers-roost plugin, enabled by
 * ROOST_GATEWAY_URL); 'gateway-rest': zero-SDK forwarding, the app unchanged.
 * Resolves `{ url, port, kind, pid, upstream: {url, port, pid, stop(), start()}, restartRoost(), output(), stop() }`:
 * `upstream.stop()`/`upstream.start()` kill (SIGKILL) and restart the app on the same port.
 * `settings.env` / `settings.upstreamEnv`: extra environment for Roost / the app;
 * `settings.upstreamFile`: another app script run with chat.js' arguments (the Express app).
 */
async function startGatewayChat(settings, kind) {
  const [port, upstreamPort] = [await freePort(), await freePort()]
  const url = `http://127.0.0.1:${port}`
  const upstreamUrl = `http://127.0.0.1:${upstreamPort}`
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'roost-gateway-'))
  const upstreamCommand = chatCommand('reference', upstreamPort, { ...settings, pingIntervalMs: undefined })
  if (kind === 'gateway') {
    upstreamCommand.env.ROOST_GATEWAY_URL = url
    upstreamCommand.env.ROOST_GATEWAY_SECRET = GATEWAY_SECRET
  }
  Object.assign(upstreamCommand.env, settings.upstreamEnv || {})
  if (settings.upstreamFile) upstreamCommand.args[0] = settings.upstreamFile
  const bin = path.resolve(INTEROP_DIR, process.env.ROOST_BIN || '../target/debug/roost')
  const env = { ...process.env }
  env.ROOST_SERVER__PORT = String(port)
  env.ROOST_SERVER__DATA_DIR = dataDir
  env.ROOST_GATEWAY__UPSTREAM = upstreamUrl
  env.ROOST_GATEWAY__MODE = kind === 'gateway' ? 'plugin' : 'rest'
  env.ROOST_GATEWAY__SECRET = GATEWAY_SECRET
  if (settings.unavailableWaitMs !== undefined) env.ROOST_GATEWAY__UNAVAILABLE_WAIT_MS = String(settings.unavailableWaitMs)
  if (settings.pingIntervalMs !== undefined) env.ROOST_PRIMUS__PING_INTERVAL_MS = String(settings.pingIntervalMs)
  Object.assign(env, settings.env || {})
  const roostCommand = { file: bin, args: ['serve', '--config', path.join(INTEROP_DIR, 'config', 'gateway.toml')], env, cwd: INTEROP_DIR }
  let upstream
  let roost
  try {
    upstream = await launch('reference', upstreamCommand, upstreamUrl)
    roost = await launch('roost', roostCommand, url)
  } catch (error) {
    if (upstream) await upstream.stop().catch(() => {})
    fs.rmSync(dataDir, { recursive: true, force: true })
    throw error
  }
  const upstreamHandle = {
    url: upstreamUrl,
    port: upstreamPort,
    get pid() {
      return upstream.pid
    },
    /** Kills the app at once (SIGKILL): a crash, not a graceful stop. */
    async stop() {
      process.kill(upstream.pid, 'SIGKILL')
      await upstream.stop().catch(() => {})
    },
    async start() {
      upstream = await launch('reference', upstreamCommand, upstreamUrl)
    }
  }
  return {
    url,
    port,
    kind,
    pid: roost.pid,
    upstream: upstreamHandle,
    output: () => `--- roost ---\n${roost.output()}\n--- upstream ---\n${upstream.output()}`,
    /** Stops Roost (SIGTERM) and starts it again on the same port; the app keeps running. */
    async restartRoost() {
      await roost.stop()
      roost = await launch('roost', roostCommand, url)
    },
    async stop() {
      try {
        await roost.stop()
      } finally {
        await upstream.stop().catch(() => {})
        fs.rmSync(dataDir, { recursive: true, force: true })
      }
    }
  }
}

/**
 * Start a Cargo example of the `roost` package that is an application of its own
 * (crates/roost/examples/<name>, e.g. `seed`): `$ROOST_EXAMPLES_DIR/<name>` (default
 * ../target/debug/examples) `--port <p> --data-dir <fresh temp dir>`. Roost only: the
 * examples reproduce TypeScript apps that have no Node server here. Resolves
 * `{ url, port, kind, pid, output(), stop() }` once GET /healthz answers 200.
 */
async function startExampleServer(name) {
  const dir = path.resolve(INTEROP_DIR, process.env.ROOST_EXAMPLES_DIR || '../target/debug/examples')
  const bin = path.join(dir, name)
  if (!fs.existsSync(bin)) {
    throw new Error(`${bin} does not exist (build it with cargo build -p roost --examples, or set ROOST_EXAMPLES_DIR)`)
  }
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const dataDir = tempDataDir()
  const cmd = { file: bin, args: ['--port', String(port), '--data-dir', dataDir], env: { ...process.env }, cwd: INTEROP_DIR }
  let launched
  try {
    launched = await launch('roost', cmd, url)
  } catch (err) {
    removeDir(dataDir)
    throw err
  }
  const stop = () => launched.stop().finally(() => removeDir(dataDir))
  return { url, port, kind: 'roost', pid: launched.pid, output: launched.output, stop }
}

module.exports = { startServer, startRealtimeServer, startChatServer, startExampleServer, freePort, serverKind }
