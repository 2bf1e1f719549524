import assert from 'node:assert/strict'
import { test } from 'node:test'
import mqtt from 'mqtt'
import { createBroker } from '../../src/broker/index.ts'
import { brokerSchema } from '../../src/config/sections/broker.ts'
import { silentLogger } from '../../src/core/logger.ts'
import { freePort } from '../helpers/ports.ts'
import { waitFor } from '../helpers/tmp.ts'
import { brokerSettings, listenerOptions } from '../../src/gateway/options/broker.ts'

test('reconfiguring listeners keeps the clients of unchanged ones and moves a changed one to its new port', { timeout: 20_000 }, async () => {
  const [p1, p2, p3] = [await freePort(), await freePort(), await freePort()]
  const listeners = (second: number) => [
    { name: 'a', protocol: 'mqtt', host: '127.0.0.1', port: p1 },
    { name: 'b', protocol: 'mqtt', host: '127.0.0.1', port: second },
  ]
  const config = brokerSchema.parse({ listeners: listeners(p2), sys_interval: 0 })
  const broker = await createBroker({ ...brokerSettings(config), logger: silentLogger, gatewayId: 'gw' })
  await broker.listen()
  const onA = await mqtt.connectAsync({ host: '127.0.0.1', port: p1, clientId: 'on-a', reconnectPeriod: 0 })
  const onB = await mqtt.connectAsync({ host: '127.0.0.1', port: p2, clientId: 'on-b', reconnectPeriod: 0, protocolVersion: 5 })
  let bReason: number | undefined
  onB.on('disconnect', (p) => (bReason = p.reasonCode))
  try {
    const changed = await broker.reconfigureListeners(brokerSchema.parse({ listeners: listeners(p3) }).listeners.map(listenerOptions))
    assert.deepEqual(changed, ['b'])
    await waitFor(() => !onB.connected, 5000, 20, 'client of the changed listener disconnected')
    assert.equal(bReason, 0x8b)
    assert.ok(onA.connected, 'client of the unchanged listener stays')
    await onA.publishAsync('still/here', 'x', { qos: 1 })
    const moved = await mqtt.connectAsync({ host: '127.0.0.1', port: p3, clientId: 'moved', reconnectPeriod: 0 })
    await moved.endAsync(true)
    await assert.rejects(mqtt.connectAsync({ host: '127.0.0.1', port: p2, clientId: 'old-port', reconnectPeriod: 0, connectTimeout: 1000 }))
    const ports = (broker.status().details.listeners as Array<{ port: number }>).map((l) => l.port).sort()
    assert.deepEqual(ports, [p1, p3].sort())
  } finally {
    await onA.endAsync(true)
    await onB.endAsync(true)
    await broker.close()
  }
})
