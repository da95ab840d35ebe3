#!/usr/bin/env node
'use strict'
// Browser test of /dashboard: headless Chromium opens the page Roost serves, logs in as the
// admin seed user over Primus (the library Roost serves), waits for live figures, saves a
// screenshot (its path is printed) and checks the connection counts; a non-admin and a
// wrong token get no figures.
const assert = require('node:assert/strict')
const os = require('node:os')
const path = require('node:path')
const WebSocket = require('ws')
const { io } = require('socket.io-client')
const { launch } = require('./cdp')
const { startRoost } = require('./roost')

const CONFIG = `
[dashboard]
enabled = true
token = "dashboard-token-0123456789"
[[app.seed_users]]
email = "admin@example.com"
password = "admin-pass-1"
roles = ["admin"]
[[app.seed_users]]
email = "user@example.com"
password = "user-pass-1"
`

/** A raw Primus connection that answers heartbeats. */
function primusSocket(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/primus`)
    ws.on('message', (raw) => {
      const text = JSON.parse(raw.toString())
      if (typeof text === 'string' && text.startsWith('primus::ping::')) {
        ws.send(JSON.stringify(text.replace('ping', 'pong')))
      }
    })
    ws.once('open', () => resolve(ws))
    ws.once('error', reject)
  })
}

async function login(tab, email, password) {
  await tab.waitFor('!document.getElementById("login").hidden')
  await tab.evaluate(`(() => {
    document.getElementById('email').value = ${JSON.stringify(email)}
    document.getElementById('password').value = ${JSON.stringify(password)}
    document.getElementById('login').requestSubmit()
    return true
  })()`)
}

async function main() {
  const roost = await startRoost({ config: CONFIG })
  const sockets = await Promise.all([1, 2, 3].map(() => primusSocket(roost.url)))
  const sio = io(roost.url, { transports: ['websocket'] })
  await new Promise((resolve, reject) => {
    sio.once('connect', resolve)
    sio.once('connect_error', reject)
  })
  const { page: tab, close } = await launch({ width: 1100, height: 760 })
  try {
    // The admin: live figures. Three raw Primus sockets plus the page's own; one Socket.IO.
    await tab.navigate(`${roost.url}/dashboard`)
    await login(tab, 'admin@example.com', 'admin-pass-1')
    await tab.waitFor(
      'window.dashboard.figures && document.getElementById("conn-primus").textContent === "4"'
    )
    assert.equal(await tab.evaluate('document.getElementById("conn-socketio").textContent'), '1')
    assert.equal(await tab.evaluate('document.getElementById("connections").textContent'), '5')
    // Later polls give rates and the charts; the login form is gone.
    await tab.waitFor(
      '(document.querySelector("#calls-chart polyline") || {getAttribute: () => ""}).getAttribute("points").split(" ").length >= 3'
    )
    assert.notEqual(await tab.evaluate('document.getElementById("calls-rate").textContent'), '–')
    assert.equal(await tab.evaluate('getComputedStyle(document.getElementById("login")).display'), 'none')
    const figures = await tab.evaluate('window.dashboard.figures')
    const anonymous = figures.channels.find((c) => c.name === 'anonymous')
    assert.equal(anonymous && anonymous.members, 4, JSON.stringify(figures.channels))
    assert.ok(figures.channels.some((c) => c.name === 'role/admin' && c.members === 1))
    assert.ok(figures.logins >= 1)
    assert.notEqual(figures.p99Ms, null)
    const shot = path.join(os.tmpdir(), `roost-dashboard-${process.pid}.png`)
    await tab.screenshot(shot)
    console.log(`dashboard screenshot: ${shot}`)

    // A logged-in user without the role: an error, no figures.
    await tab.navigate(`${roost.url}/dashboard`)
    await login(tab, 'user@example.com', 'user-pass-1')
    const forbidden = await tab.waitFor('window.dashboard.error && window.dashboard.error')
    assert.equal(forbidden.name, 'Forbidden')
    assert.equal(await tab.evaluate('window.dashboard.figures'), null)
    assert.equal(await tab.evaluate('document.getElementById("conn-primus").textContent'), '–')
    assert.match(await tab.evaluate('document.getElementById("status").textContent'), /Forbidden/)

    // A wrong token: no figures either; the configured one opens them.
    await tab.navigate(`${roost.url}/dashboard?token=wrong-token-0123456789`)
    const refused = await tab.waitFor('window.dashboard.error && window.dashboard.error')
    assert.equal(refused.name, 'NotAuthenticated')
    assert.equal(await tab.evaluate('document.getElementById("connections").textContent'), '–')
    await tab.navigate(`${roost.url}/dashboard?token=dashboard-token-0123456789`)
    await tab.waitFor('window.dashboard.figures && window.dashboard.figures.connections >= 5')
    console.log('browser dashboard test: admin sees live figures; non-admin and wrong token see none: ok')
  } finally {
    await close()
    for (const ws of sockets) ws.terminate()
    sio.close()
    await roost.stop()
  }
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
