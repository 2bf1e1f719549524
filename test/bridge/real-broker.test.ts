import assert from 'node:assert/strict'
import { test } from 'node:test'
import { connect } from 'mqtt'
import { createBroker } from '../../src/broker/index.ts'
import { brokerSchema } from '../../src/config/sections/broker.ts'
import { silentLogger, type Message } from '../../src/core/index.ts'
import { startMosquitto } from '../helpers/mosquitto.ts'
import { freePort } from '../helpers/ports.ts'
import { sleep, startUplink, waitForValue, waitOnline, watch } from './fixtures.ts'
import { brokerSettings } from '../../src/gateway/options/broker.ts'

test('with the real local broker: LAN data goes up once, cloud commands reach LAN subscribers and never go back up, health is on $SYS', { timeout: 25_000 }, async () => {
  const mq = await startMosquitto()
  const lanPort = await freePort()
  const broker = await createBroker({
    ...brokerSettings(brokerSchema.parse({ listeners: [{ protocol: 'mqtt', host: '127.0.0.1', port: lanPort }], sys_interval: 0 })),
    logger: silentLogger,
    gatewayId: 'gw1',
  })
  await broker.listen()
  const u = startUplink(
    {
      name: 'rb',
      url: `mqtt://127.0.0.1:${mq.port}`,
      forward: [{ filter: '#', remote: 'site/{gateway}/{topic}' }],
      downlink: [{ remote_filter: 'site/gw1/cmd/#', strip_prefix: 'site/gw1/', local: '{topic}' }],
    },
    broker,
  )
  // The lead's wiring in src/main.ts, minus the queue.
  for (const f of u.forwardFilters()) {
    broker.subscribe(
      f,
      async (m: Message) => {
        const o = u.outbound(m, f)
        if (o) await u.publish(o)
      },
      { noLocalOrigin: u.origin },
    )
  }
  const cloud = await watch(mq.port, ['site/#'])
  const lan = connect(`mqtt://127.0.0.1:${lanPort}`, { reconnectPeriod: 0, protocolVersion: 5 })
  lan.on('error', () => undefined)
  const lanGot: string[] = []
  lan.on('message', (topic, payload) => lanGot.push(`${topic}=${payload.toString()}`))
  try {
    await new Promise<void>((resolve) => lan.once('connect', () => resolve()))
    await lan.subscribeAsync('cmd/#', { qos: 1 })
    await waitOnline(u)
    await lan.publishAsync('meters/m1', '42', { qos: 1 })
    await waitForValue(() => cloud.got.find((g) => g.topic === 'site/gw1/meters/m1'), 3000, 'LAN data upstream')
    await cloud.client.publishAsync('site/gw1/cmd/relay', 'on', { qos: 1 })
    await waitForValue(() => lanGot.find((s) => s === 'cmd/relay=on'), 3000, 'command on the LAN')
    await sleep(400)
    assert.equal(cloud.got.filter((g) => g.topic === 'site/gw1/meters/m1').length, 1)
    assert.equal(cloud.got.filter((g) => g.topic === 'site/gw1/cmd/relay').length, 1, 'only the cloud\u2019s own command, not an echo from the gateway')
    assert.equal(lanGot.filter((s) => s === 'cmd/relay=on').length, 1)
    await lan.subscribeAsync('$SYS/fieldgate/bridge/rb/+', { qos: 0 })
    await waitForValue(() => lanGot.find((s) => s === '$SYS/fieldgate/bridge/rb/state=online'), 3000, 'retained health topic on the LAN')
  } finally {
    await lan.endAsync(true)
    await cloud.close()
    await u.stop()
    await broker.close()
    await mq.stop()
  }
})
