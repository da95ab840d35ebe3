'use strict'
// Starts the `roost` binary (ROOST_BIN) with `--port 0` in a throw-away data directory and
// reads the address from its `listening on http://…` stdout line.
const { spawn } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

async function startRoost({ config, env = {} } = {}) {
  const bin = process.env.ROOST_BIN
  if (!bin) throw new Error('set ROOST_BIN to the roost binary')
  const data = fs.mkdtempSync(path.join(os.tmpdir(), 'roost-browser-'))
  const args = ['serve', '--port', '0', '--data-dir', data]
  if (config) {
    const file = path.join(data, 'roost.toml')
    fs.writeFileSync(file, config)
    args.push('--config', file)
  }
  const child = spawn(bin, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUST_LOG: '', ...env }
  })
  let stderr = ''
  child.stderr.on('data', (c) => {
    stderr += c
  })
  const url = await new Promise((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => reject(new Error(`roost did not start:\n${stderr}`)), 30000)
    child.stdout.on('data', (chunk) => {
      out += chunk
      const m = /^listening on (http:\/\/\S+)$/m.exec(out)
      if (m) {
        clearTimeout(timer)
        resolve(m[1])
      }
    })
    child.on('exit', (code) => reject(new Error(`roost exited (${code}):\n${stderr}`)))
  })
  const stop = async () => {
    child.kill('SIGTERM')
    await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)))
    fs.rmSync(data, { recursive: true, force: true })
  }
  return { url, stop, child, log: () => stderr }
}

module.exports = { startRoost }
