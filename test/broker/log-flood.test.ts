import assert from 'node:assert/strict'
import { test } from 'node:test'
import mqtt from 'mqtt'
import { FakeClock } from '../../src/core/clock.ts'
import type { Logger } from '../../src/core/logger.ts'
import { captureLogger, type LogLine } from '../helpers/logger.ts'
import { openHooks } from '../../src/broker/hooks.ts'
import { rawSocket, sleep, startBroker } from './helpers.ts'
import { connectBytes, publishBytes, CONTENT_TYPE_PAST_END } from './wire-packets.ts'

function recorder(): { logger: Logger; lines: LogLine[] } {
  const logger = captureLogger()
  return { logger, lines: logger.lines }
}

test('60 malformed connections and 40 refused logins write one line per reason, then one summary line each with the count', async () => {
  const { logger, lines } = recorder()
  // the broker's clock is fake: the 10 s summary period passes when the test says so
  const clock = new FakeClock(Date.now())
  const tb = await startBroker({
    logger,
    clock,
    hooks: { ...openHooks, authenticate: (req) => Promise.resolve(req.username === 'bad' ? { ok: false, reasonCode: 0x86, reason: 'bad user name or password' } : { ok: true }) },
  })
  try {
    const closes: Array<Promise<void>> = []
    for (let i = 0; i < 60; i++) {
      const r = await rawSocket(tb.port)
      // a malformed CONNECT: its will's Content Type runs past the packet
      r.socket.write(connectBytes({ clientId: `fz${i}`, v5: true, will: { topic: 'w', payload: '', qos: 0, props: CONTENT_TYPE_PAST_END } }))
      closes.push(r.closed)
    }
    await Promise.all(closes)
    for (let i = 0; i < 40; i++) {
      const c = mqtt.connect({ host: '127.0.0.1', port: tb.port, username: 'bad', password: 'x', clientId: `guess${i}`, reconnectPeriod: 0 })
      await new Promise<void>((resolve) => c.once('error', () => resolve()).once('close', () => resolve()))
      c.end(true)
    }
    const malformed = lines.filter((l) => l.level === 'warn' && l.msg.includes('malformed packet'))
    const refused = lines.filter((l) => l.level === 'info' && l.msg.includes('refused'))
    assert.equal(malformed.length, 1, 'one full line for the malformed connections')
    assert.equal(malformed[0]?.obj.clientId, 'fz0')
    assert.equal(refused.length, 1, 'one full line for the refused logins')
    clock.advance(10_000)
    const summaries = lines.filter((l) => l.obj.repeated !== undefined)
    assert.deepEqual(
      summaries.map((l) => [l.level, l.obj.repeated]).sort(),
      [
        ['info', 39],
        ['warn', 59],
      ],
    )
    assert.ok(lines.length <= 6, `${lines.length} lines in all`)
    // the limiter holds no client back: a well-formed client is served as before
    const ok = await rawSocket(tb.port)
    ok.socket.write(connectBytes({ clientId: 'fine', v5: false }))
    ok.socket.write(publishBytes({ topic: 'a', payload: 'b', qos: 1, id: 1, v5: false }))
    for (let i = 0; i < 100 && ok.data().length < 8; i++) await sleep(10)
    assert.deepEqual([...ok.data().subarray(0, 8)], [0x20, 2, 0, 0, 0x40, 2, 0, 1])
    ok.socket.destroy()
  } finally {
    await tb.close()
  }
})
