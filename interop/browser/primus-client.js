#!/usr/bin/env node
'use strict'
// Browser test: a page in headless Chromium loads /primus/primus.js from Roost (the library
// Roost embeds) and, over that client, joins a room, creates a message (a Feathers call
// answered through its ack) and receives the `messages created` event.
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { launch } = require('./cdp')
const { startRoost } = require('./roost')

function page(url) {
  return `<!doctype html><html><head><meta charset="utf-8"><title>primus.js</title>
<script src="${url}/primus/primus.js"></script></head><body><pre id="out">pending</pre>
<script>
window.result = { done: false }
const out = (v) => { window.result = v; document.getElementById('out').textContent = JSON.stringify(v) }
const primus = new Primus(${JSON.stringify(url)}, { strategy: false })
const call = (...args) => new Promise((resolve, reject) =>
  primus.send(...args, (error, data) => (error ? reject(error) : resolve(data))))
const event = new Promise((resolve) => primus.on('messages created', resolve))
primus.on('open', async () => {
  try {
    const joined = await call('join', 'messages', { roomId: 'lobby' }, {})
    const created = await call('create', 'messages', { text: 'hello from chromium', roomId: 'lobby' }, {})
    const received = await event
    let notFound
    try { await call('get', 'messages', 999999, {}) } catch (e) { notFound = e }
    out({ done: true, joined, created, received, notFound, pingTimeout: primus.options.pingTimeout })
  } catch (e) {
    out({ done: true, error: String(e && (e.message || e)) })
  }
})
</script></body></html>`
}

async function main() {
  const roost = await startRoost({ env: { ROOST_PRIMUS__PING_INTERVAL_MS: '4000' } })
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'roost-page-')), 'primus.html')
  fs.writeFileSync(file, page(roost.url))
  const { page: tab, close } = await launch()
  try {
    const library = await (await fetch(`${roost.url}/primus/primus.js`)).text()
    assert.match(library, /^\/\*!\n \* Primus 8\.0\.9 client library/)
    assert.match(library, /options\.pingTimeout : 6000;/)
    await tab.navigate(`file://${file}`)
    const result = await tab.waitFor('window.result && window.result.done && window.result')
    assert.equal(result.error, undefined, `page error: ${result.error}`)
    assert.deepEqual(result.joined, { roomId: 'lobby', joined: true })
    assert.equal(result.created.text, 'hello from chromium')
    assert.equal(result.received.id, result.created.id)
    assert.equal(result.received.text, 'hello from chromium')
    assert.equal(result.notFound.name, 'NotFound')
    assert.equal(result.notFound.code, 404)
    // The configured heartbeat (4000 ms) is baked into the served client: 1.5 × 4000.
    assert.equal(result.pingTimeout, 6000)
    const dom = await tab.evaluate('document.getElementById("out").textContent')
    assert.match(dom, /hello from chromium/)
    console.log('browser primus.js test: call, event and error through the served client library: ok')
  } finally {
    await close()
    await roost.stop()
  }
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
