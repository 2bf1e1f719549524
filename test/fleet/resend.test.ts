import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { connectAsync, type MqttClient } from 'mqtt'
import { OperatorLink } from '../../src/fleet/ops/index.ts'
import { pushConfig } from '../../src/fleet/ops/config-rollout.ts'
import { startMosquitto, type MosquittoHandle } from '../helpers/mosquitto.ts'

/**
 * The operator's config push when a request or its answer is lost, as happens with a cluster node
 * that stops (the real thing: cluster.test.ts). The gateway side here is a scripted MQTT.js client on a
 * real Mosquitto that drops what a stopped node would have taken with it, copy by copy.
 */
let mq: MosquittoHandle
let link: OperatorLink
let peer: MqttClient

type Step = 'lost' | 'received, answer lost' | { state: string; reason?: string }
let script: Step[] = []
const copies: number[] = []

before(async () => {
  mq = await startMosquitto()
  link = await OperatorLink.connect({ url: `mqtt://127.0.0.1:${mq.port}` })
  peer = await connectAsync(`mqtt://127.0.0.1:${mq.port}`, { protocolVersion: 5, reconnectPeriod: 0 })
  peer.on('message', (_topic, _payload, packet) => {
    copies.push(Date.now())
    const step = script.shift() ?? 'lost'
    const corr = packet.properties?.correlationData
    const replyTo = packet.properties?.responseTopic
    if (step === 'lost' || !corr || !replyTo) return
    void peer.publishAsync('fieldgate/gw-x/mgmt/events', JSON.stringify({ id: 'gw-x', state: 'received', correlation_data: corr.toString() }), { qos: 1 })
    if (step === 'received, answer lost') return
    void peer.publishAsync(replyTo, JSON.stringify({ ok: step.state !== 'refused', ...step }), { qos: 1, properties: { correlationData: corr } })
  })
  await peer.subscribeAsync('fieldgate/gw-x/mgmt/req/#', { qos: 1 })
})

after(async () => {
  await peer?.endAsync()
  await link?.close()
  await mq?.stop()
})

function run(steps: Step[], o: { resendMs: number; deadlineMs: number; timeoutMs: number }) {
  script = [...steps]
  copies.length = 0
  const lines: string[] = []
  const started = Date.now()
  return {
    lines,
    started,
    done: pushConfig(link, 'gw-x', { config: 'x = 1' }, { ...o, progress: (l) => lines.push(l) }),
  }
}

test('a request lost on its way (a broker node stopped) is sent again after resendMs, and the second copy\'s answer counts', async () => {
  const r = run(['lost', { state: 'committed' }], { resendMs: 600, deadlineMs: 5000, timeoutMs: 20_000 })
  const { reply, copies: sent } = await r.done
  assert.equal(reply.state, 'committed')
  assert.equal(sent, 2)
  assert.ok((copies[1] ?? 0) - (copies[0] ?? 0) >= 500, 'sent again only after resendMs')
  assert.match(r.lines.join('\n'), /gw-x: no answer yet; sending the config again \(copy 2\)/)
})

test('a request received but not answered (its answer lost) is sent again only after the commit window; an earlier copy still being tried is asked again; unchanged ends it', async () => {
  const r = run(['received, answer lost', { state: 'refused', reason: 'another config is being tried; wait for its outcome on the events topic' }, { state: 'unchanged' }], { resendMs: 500, deadlineMs: 1500, timeoutMs: 30_000 })
  const { reply, copies: sent } = await r.done
  assert.equal(reply.state, 'unchanged')
  assert.equal(sent, 3)
  assert.ok((copies[1] ?? 0) - (copies[0] ?? 0) >= 1900, `the second copy waited for the commit window (deadline + resendMs): ${(copies[1] ?? 0) - (copies[0] ?? 0)} ms`)
  assert.ok((copies[2] ?? 0) - (copies[1] ?? 0) >= 1500, 'a busy refusal is asked again after a pause')
})

test('the first copy refused as busy is someone else\'s push: reported as it is, not sent again', async () => {
  const { reply, copies: sent } = await run([{ state: 'refused', reason: 'another config is being tried; wait for its outcome on the events topic' }], { resendMs: 500, deadlineMs: 1000, timeoutMs: 10_000 }).done
  assert.equal(reply.state, 'refused')
  assert.equal(sent, 1)
})

test('a gateway that never answers fails at the timeout, with a bounded number of copies', async () => {
  const r = run([], { resendMs: 500, deadlineMs: 1000, timeoutMs: 2600 })
  await assert.rejects(r.done, /no answer from gw-x to config within 3 s \(6 copies sent\)/)
  assert.ok(Date.now() - r.started < 4000)
  assert.equal(copies.length, 6)
})
