import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { after, before, test } from 'node:test'
import { waitFor } from '../helpers/tmp.ts'
import { collect, connectClient, endClient, startBroker, type TestBroker } from './helpers.ts'

let tb: TestBroker
before(async () => {
  tb = await startBroker()
})
after(async () => {
  await tb.close()
})

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs a Debian mosquitto client against our broker, killed after `timeoutMs`. */
function run(cmd: string, args: string[], timeoutMs = 8000): Promise<Run> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs)
    p.on('exit', (code) => {
      clearTimeout(t)
      resolve({ code, stdout, stderr })
    })
  })
}

for (const version of ['mqttv311', 'mqttv5'] as const) {
  for (const qos of [0, 1, 2]) {
    test(`mosquitto_pub (${version}, QoS ${qos}) reaches an MQTT.js subscriber`, { timeout: 15_000 }, async () => {
      const c = await connectClient(tb.port, { protocolVersion: version === 'mqttv5' ? 5 : 4 })
      const got = collect(c)
      const topic = `interop/pub/${version}/${qos}`
      await c.subscribeAsync(topic, { qos: 2 })
      const r = await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(tb.port), '-V', version, '-q', String(qos), '-t', topic, '-m', `hello ${qos}`])
      assert.equal(r.code, 0, r.stderr)
      await waitFor(() => got.length === 1, 5000, 10, 'message')
      assert.equal(got[0]?.payload, `hello ${qos}`)
      assert.equal(got[0]?.packet.qos, qos)
      await endClient(c)
    })

    test(`mosquitto_sub (${version}, QoS ${qos}) receives retained and live messages`, { timeout: 15_000 }, async () => {
      const topic = `interop/sub/${version}/${qos}`
      const c = await connectClient(tb.port, { protocolVersion: 4 })
      await c.publishAsync(topic, 'retained', { qos: 1, retain: true })
      const sub = run('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(tb.port), '-V', version, '-q', String(qos), '-t', `interop/sub/${version}/+`, '-C', '2', '-v'])
      // the retained message arrives on subscribe; then send a live one until mosquitto_sub has two
      const stop = Date.now() + 5000
      let done = false
      void sub.then(() => (done = true))
      while (!done && Date.now() < stop) {
        await new Promise((r) => setTimeout(r, 100))
        if (!done) await c.publishAsync(topic, 'live', { qos: 1 })
      }
      const r = await sub
      assert.equal(r.code, 0, r.stderr)
      const lines = r.stdout.trim().split('\n')
      assert.equal(lines[0], `${topic} retained`)
      assert.equal(lines[1], `${topic} live`)
      await c.publishAsync(topic, '', { qos: 1, retain: true })
      await endClient(c)
    })
  }
}

test('mosquitto_pub with a user property reaches a v5 subscriber with the property', { timeout: 15_000 }, async () => {
  const c = await connectClient(tb.port, { protocolVersion: 5 })
  const got = collect(c)
  await c.subscribeAsync('interop/props', { qos: 1 })
  const r = await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(tb.port), '-V', 'mqttv5', '-q', '1', '-t', 'interop/props', '-m', 'p', '-D', 'publish', 'user-property', 'site', 'north'])
  assert.equal(r.code, 0, r.stderr)
  await waitFor(() => got.length === 1, 5000, 10, 'message')
  assert.deepEqual({ ...got[0]?.packet.properties?.userProperties }, { site: 'north' })
  await endClient(c)
})

test('mosquitto_sub with a persistent session gets messages queued while it was away', { timeout: 15_000 }, async () => {
  const args = ['-h', '127.0.0.1', '-p', String(tb.port), '-V', 'mqttv311', '-q', '1', '-t', 'interop/persist', '-i', 'mosq-persist', '-c']
  // subscribe once to create the session, then leave
  await run('mosquitto_sub', [...args, '-W', '1'], 5000)
  const c = await connectClient(tb.port, { protocolVersion: 4 })
  await c.publishAsync('interop/persist', 'while away', { qos: 1 })
  const r = await run('mosquitto_sub', [...args, '-C', '1'])
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.stdout.trim(), 'while away')
  await endClient(c)
})
