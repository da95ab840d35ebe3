'use strict'
// The Roost dashboard: a Roost client. It connects over Primus with the library Roost serves,
// logs in (or passes ?token=…), and asks the `roost-dashboard` service for figures every
// second. A caller who is not an administrator gets an error and no figures.
;(function () {
  const $ = (id) => document.getElementById(id)
  const token = new URLSearchParams(location.search).get('token')
  const primus = new Primus(location.origin)
  const history = { calls: [], events: [] }
  let last = null
  let timer = null
  window.dashboard = { figures: null, error: null }

  const call = (...args) =>
    new Promise((resolve, reject) =>
      primus.send(...args, (error, data) => (error ? reject(error) : resolve(data)))
    )
  const status = (text, error) => {
    $('status').textContent = text
    $('status').className = error ? 'error' : ''
  }
  const text = (id, value) => {
    $(id).textContent = value === null || value === undefined ? '–' : String(value)
  }
  const chart = (id, values) => {
    const svg = $(id)
    const max = Math.max(1, ...values)
    const step = 120 / Math.max(1, values.length - 1)
    const points = values.map((v, i) => `${i * step},${30 - (v / max) * 28 - 1}`).join(" ")
    svg.innerHTML = `<polyline points="${points}"></polyline>`
  }
  const rows = (id, items, cells) => {
    const body = $(id)
    body.textContent = ''
    for (const item of items) {
      const tr = document.createElement('tr')
      for (const cell of cells(item)) {
        const td = document.createElement('td')
        td.textContent = cell
        tr.appendChild(td)
      }
      body.appendChild(tr)
    }
  }

  function render(f) {
    const now = Date.now()
    if (last) {
      const secs = Math.max(0.001, (now - last.at) / 1000)
      const push = (list, v) => {
        list.push(Math.max(0, v))
        if (list.length > 60) list.shift()
      }
      push(history.calls, (f.calls - last.f.calls) / secs)
      push(history.events, (f.events - last.f.events) / secs)
      text('calls-rate', history.calls[history.calls.length - 1].toFixed(1))
      text('events-rate', history.events[history.events.length - 1].toFixed(1))
      chart('calls-chart', history.calls)
      chart('events-chart', history.events)
    }
    last = { at: now, f }
    const [p, s] = f.transports
    text('version', f.version)
    text('connections', f.connections)
    text('conn-primus', p.connections)
    text('conn-socketio', s.connections)
    text('logins', f.logins)
    text('login-failures', f.loginFailures)
    text('p50', f.p50Ms)
    text('p99', f.p99Ms)
    text('slow', p.slowClientsClosed + s.slowClientsClosed)
    rows('channels', f.channels, (c) => [c.name, c.members])
    rows('errors', f.recentErrors.slice().reverse(), (e) => [
      new Date(e.at).toLocaleTimeString(),
      `${e.provider} ${e.service}.${e.method}`,
      e.error
    ])
    window.dashboard.figures = f
  }

  async function poll() {
    try {
      const f = await call('find', 'roost-dashboard', token ? { token } : {})
      window.dashboard.error = null
      status('live')
      render(f)
    } catch (e) {
      window.dashboard.error = e
      window.dashboard.figures = null
      status(`${e.name || 'Error'}: ${e.message || e}`, true)
      clearInterval(timer)
      timer = null
      if (!token) $('login').hidden = false
      return
    }
  }
  const start = () => {
    if (timer) return
    poll()
    timer = setInterval(poll, 1000)
  }

  $('login').addEventListener('submit', async (ev) => {
    ev.preventDefault()
    try {
      await call('create', 'authentication', {
        strategy: 'local',
        email: $('email').value,
        password: $('password').value
      }, {})
      $('login').hidden = true
      start()
    } catch (e) {
      window.dashboard.error = e
      status(`${e.name || 'Error'}: ${e.message || e}`, true)
    }
  })
  primus.on('open', () => {
    status('connected')
    if (token) start()
    else $('login').hidden = false
  })
  primus.on('reconnect scheduled', () => status('reconnecting…', true))
})()
