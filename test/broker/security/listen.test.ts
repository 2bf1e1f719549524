import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import type { MqttClient } from 'mqtt'
import { createSecurity } from '../../../src/broker/auth/index.ts'
import { createBroker } from '../../../src/broker/index.ts'
import { brokerSchema } from '../../../src/config/sections/broker.ts'
import { silentLogger } from '../../../src/core/logger.ts'
import { makeTestCerts } from '../../helpers/certs.ts'
import { waitFor } from '../../helpers/tmp.ts'
import { connectOk } from './setup.ts'
import { brokerSettings } from '../../../src/gateway/options/broker.ts'

test('listeners from config serve mqtt, mqtts, ws and wss side by side and messages cross between them', { timeout: 30_000 }, async () => {
  const certs = makeTestCerts([])
  const tls = { cert_file: certs.serverCert, key_file: certs.serverKey }
  const config = brokerSchema.parse({
    listeners: [
      { name: 'plain', protocol: 'mqtt', port: 0 },
      { name: 'tls', protocol: 'mqtts', port: 0, tls },
      { name: 'web', protocol: 'ws', port: 0 },
      { name: 'web-tls', protocol: 'wss', port: 0, tls },
    ],
  })
  const security = await createSecurity(brokerSettings(config), silentLogger)
  const broker = await createBroker({ ...brokerSettings(config), logger: silentLogger, gatewayId: 'listen-test', hooks: security })
  const clients: MqttClient[] = []
  try {
    const bound = await broker.listen()
    assert.deepEqual(
      bound.map((l) => [l.name, l.protocol]),
      [
        ['plain', 'mqtt'],
        ['tls', 'mqtts'],
        ['web', 'ws'],
        ['web-tls', 'wss'],
      ],
    )
    const ca = readFileSync(certs.caCert)
    const urls = [`mqtt://127.0.0.1:${bound[0]?.port}`, `mqtts://127.0.0.1:${bound[1]?.port}`, `ws://127.0.0.1:${bound[2]?.port}/mqtt`, `wss://127.0.0.1:${bound[3]?.port}/mqtt`]
    const received: string[][] = []
    for (const [i, url] of urls.entries()) {
      const c = await connectOk(url, { protocolVersion: 5, clientId: `c${i}`, ca })
      const got: string[] = []
      c.on('message', (_t, p) => got.push(p.toString()))
      await c.subscribeAsync('all/#', { qos: 1 })
      clients.push(c)
      received.push(got)
    }
    for (const [i, c] of clients.entries()) await c.publishAsync(`all/${i}`, `from-${i}`, { qos: 1 })
    await waitFor(() => received.every((r) => r.length === 4), 10_000, 10, 'every client to get every message')
    for (const r of received) assert.deepEqual([...r].sort(), ['from-0', 'from-1', 'from-2', 'from-3'])
    assert.deepEqual(security.status().details.anonymousListeners, ['plain', 'tls', 'web', 'web-tls'])
  } finally {
    await Promise.all(clients.map((c) => c.endAsync()))
    security.close()
    await broker.close()
    certs.cleanup()
  }
})
