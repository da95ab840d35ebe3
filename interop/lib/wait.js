'use strict'
// Bounded waits and a frame recorder for the Primus tests. Nothing here
// measures time: a bound only turns a hang into a failure with a message.

/** `promise`, or a rejection naming `what` after `ms`. */
function within(promise, ms, what) {
  let timer
  const timeout = new Promise((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`gave up after ${ms} ms waiting for ${what}`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/** Resolves with the first argument of the next `event` on `emitter` (bounded). */
function nextEvent(emitter, event, ms = 5000) {
  let listener
  const seen = new Promise((resolve) => {
    listener = (arg) => resolve(arg)
    emitter.once(event, listener)
  })
  return within(seen, ms, `'${event}'`).finally(() => emitter.removeListener(event, listener))
}

/** Polls `predicate` (sync or async) every 10 ms until it is truthy (bounded). */
async function until(predicate, ms, what) {
  const deadline = Date.now() + ms
  for (;;) {
    const value = await predicate()
    if (value) return value
    if (Date.now() > deadline) throw new Error(`gave up after ${ms} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** `{settled: false}` if `promise` has not settled after `ms`, else `{settled: true, value|error}`. */
async function settledWithin(promise, ms) {
  let timer
  const pending = new Promise((resolve) => (timer = setTimeout(() => resolve({ settled: false }), ms)))
  const settled = promise.then(
    (value) => ({ settled: true, value }),
    (error) => ({ settled: true, error })
  )
  try {
    return await Promise.race([settled, pending])
  } finally {
    clearTimeout(timer)
  }
}

/**
 * Records what a Primus client socket sees and does, from its raw events:
 * - `frames`: every incoming text frame, JSON-parsed (`incoming::data`), in arrival order;
 * - `sent`: every outgoing frame, JSON-parsed (`outgoing::data`);
 * - `pings` / `pongs`: the timestamps of `incoming::ping` / `outgoing::pong`;
 * - `events`: the names of the lifecycle events (`open`, `close`, `reconnected`, …) in order.
 */
function recordSocket(primus) {
  const record = { frames: [], sent: [], pings: [], pongs: [], events: [] }
  const parse = (raw) => {
    try {
      return JSON.parse(typeof raw === 'string' ? raw : raw.toString())
    } catch {
      return { unparsed: String(raw) }
    }
  }
  primus.on('incoming::data', (raw) => record.frames.push(parse(raw)))
  primus.on('outgoing::data', (raw) => record.sent.push(parse(raw)))
  primus.on('incoming::ping', (time) => record.pings.push(time))
  primus.on('outgoing::pong', (time) => record.pongs.push(time))
  for (const name of ['open', 'close', 'end', 'reconnect scheduled', 'reconnect', 'reconnected', 'offline', 'online']) {
    primus.on(name, () => record.events.push(name))
  }
  /** Emitter EVENT frames (`{type: 0, data: [name, ...]}`) named `name`, or all of them. */
  record.eventFrames = (name) =>
    record.frames.filter(
      (f) => f && f.type === 0 && Array.isArray(f.data) && (name === undefined || f.data[0] === name)
    )
  /** Emitter ACK frames (`{id, type: 1, data}`). */
  record.ackFrames = () => record.frames.filter((f) => f && f.type === 1)
  return record
}

/** End a Primus client socket (no reconnect); ignores sockets already ended. */
function endSocket(primus) {
  if (primus) {
    try {
      primus.end()
    } catch {}
  }
}

module.exports = { within, nextEvent, until, settledWithin, recordSocket, endSocket }
