'use strict'
// Headless Chromium (Debian's `chromium`) driven over the devtools protocol: launch, open a
// page, evaluate expressions, wait for a condition, save a screenshot. Uses `ws` from the
// interop packages; nothing else.
const { spawn } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const WebSocket = require('ws')

const CHROMIUM = process.env.CHROMIUM_BIN || 'chromium'

async function launch({ width = 1200, height = 900 } = {}) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'roost-chromium-'))
  const child = spawn(
    CHROMIUM,
    [
      '--headless=new',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--no-first-run',
      '--no-default-browser-check',
      `--window-size=${width},${height}`,
      `--user-data-dir=${profile}`,
      '--remote-debugging-address=127.0.0.1',
      '--remote-debugging-port=0',
      'about:blank'
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] }
  )
  const port = await new Promise((resolve, reject) => {
    let text = ''
    const timer = setTimeout(() => reject(new Error(`chromium did not start:\n${text}`)), 30000)
    child.stderr.on('data', (chunk) => {
      text += chunk
      const m = /DevTools listening on ws:\/\/127\.0\.0\.1:(\d+)\//.exec(text)
      if (m) {
        clearTimeout(timer)
        resolve(Number(m[1]))
      }
    })
    child.on('exit', (code) => reject(new Error(`chromium exited (${code}):\n${text}`)))
  })
  const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()
  const target = targets.find((t) => t.type === 'page')
  const ws = new WebSocket(target.webSocketDebuggerUrl, { perMessageDeflate: false })
  await new Promise((resolve, reject) => {
    ws.once('open', resolve)
    ws.once('error', reject)
  })
  let nextId = 1
  const pending = new Map()
  const consoleLines = []
  ws.on('message', (raw) => {
    const msg = JSON.parse(raw)
    if (msg.id && pending.has(msg.id)) {
      const { resolve, reject } = pending.get(msg.id)
      pending.delete(msg.id)
      if (msg.error) reject(new Error(`${msg.error.message} ${msg.error.data || ''}`))
      else resolve(msg.result)
    } else if (msg.method === 'Runtime.consoleAPICalled') {
      consoleLines.push(msg.params.args.map((a) => a.value ?? a.description).join(' '))
    } else if (msg.method === 'Runtime.exceptionThrown') {
      consoleLines.push(`exception: ${JSON.stringify(msg.params.exceptionDetails)}`)
    }
  })
  const send = (method, params = {}) =>
    new Promise((resolve, reject) => {
      const id = nextId++
      pending.set(id, { resolve, reject })
      ws.send(JSON.stringify({ id, method, params }))
    })
  await send('Page.enable')
  await send('Runtime.enable')

  const page = {
    send,
    console: consoleLines,
    async navigate(url) {
      await send('Page.navigate', { url })
    },
    async evaluate(expression) {
      const r = await send('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true })
      if (r.exceptionDetails) throw new Error(`evaluate ${expression}: ${JSON.stringify(r.exceptionDetails)}`)
      return r.result.value
    },
    /** Polls `expression` until it is truthy; returns its value. */
    async waitFor(expression, timeoutMs = 20000) {
      const until = Date.now() + timeoutMs
      for (;;) {
        let value
        try {
          value = await page.evaluate(expression)
        } catch {
          value = undefined
        }
        if (value) return value
        if (Date.now() > until) {
          throw new Error(`timed out waiting for ${expression}; console:\n${consoleLines.join('\n')}`)
        }
        await new Promise((r) => setTimeout(r, 100))
      }
    },
    async screenshot(file) {
      const r = await send('Page.captureScreenshot', { format: 'png' })
      fs.writeFileSync(file, Buffer.from(r.data, 'base64'))
      return file
    }
  }
  const close = async () => {
    try {
      ws.close()
    } catch {}
    child.kill('SIGTERM')
    await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)))
    fs.rmSync(profile, { recursive: true, force: true })
  }
  return { page, close }
}

module.exports = { launch }
