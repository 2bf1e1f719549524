import assert from 'node:assert/strict'
import { after, describe, test } from 'node:test'
import { silentLogger, systemClock, type Reading } from '../../src/core/index.ts'
import { createDriverHost, DriverFactory, ModbusDriver } from '../../src/drivers/index.ts'
import { startPymodbus, startPymodbusRtu } from '../helpers/pymodbus.ts'
import { freePort } from '../helpers/ports.ts'
import { tempDir, waitFor } from '../helpers/tmp.ts'
import { modbusDevice } from './devices.ts'
import { FakeBroker } from './fake-broker.ts'

// Link-level faults (late answers, broken frames, lost connections) against pymodbus on a paced bus / TCP.
const { dir, cleanup } = tempDir('fieldgate-mblink-')
const closers: Array<() => Promise<void>> = []
after(async () => {
  for (const c of closers.reverse()) await c().catch(() => undefined)
  cleanup()
})

function make(cfg: Record<string, unknown>): { drv: ModbusDriver; factory: DriverFactory } {
  const factory = new DriverFactory({ logger: silentLogger, clock: systemClock })
  closers.push(() => factory.close())
  const drv = factory.create(modbusDevice({ id: 'dev', jitter: 0, max_gap: 0, ...cfg })) as ModbusDriver
  return { drv, factory }
}

/** Polls back to back until `ms` pass or `maxPolls` polls ran; returns every reading. */
async function pollFor(drv: ModbusDriver, ms: number, maxPolls = 200): Promise<Reading[]> {
  const rs: Reading[] = []
  const end = Date.now() + ms
  for (let i = 0; i < maxPolls && Date.now() < end; i++) await drv.pollOnce((r) => rs.push(r))
  return rs
}

const fourAndFour = [0, 1, 2, 3].flatMap((i) => [
  { name: `a${i}`, address: i },
  { name: `b${i}`, address: 100 + i },
])
const truth: Record<string, number> = Object.fromEntries([0, 1, 2, 3].flatMap((i) => [[`a${i}`, 10 + i], [`b${i}`, 500 + i]]))
const registers = { 1: { holding: { 0: [10, 11, 12, 13], 100: [500, 501, 502, 503] } } }

function wrongGood(rs: Reading[]): Reading[] {
  return rs.filter((r) => r.quality === 'good' && r.value !== truth[r.point])
}

describe('Modbus RTU: answers belong to their request', { timeout: 120_000 }, () => {
  test('a late answer arriving while another same-shape read is outstanding is discarded, never published as its value', async () => {
    const rtu = await startPymodbusRtu(dir, { baudRate: 9600, units: registers, name: 'late' })
    closers.push(() => rtu.stop())
    // Now and then "holding 0..3" answers 50 ms after the 300 ms timeout, so the retry is answered first and the
    // late answer arrives while "holding 100..103" (same unit, FC 3, length; slow but in time) is outstanding.
    await rtu.peer.fault({ action: 'delay', ms: 100, fc: 3, address: 100, count: 4 })
    const { drv, factory } = make({ driver: 'modbus-rtu', port: rtu.path, baud: 9600, timeout: 300, retries: 1, points: fourAndFour })
    const rs: Reading[] = []
    for (let poll = 0; poll < 9; poll++) {
      if (poll % 3 === 0) await rtu.peer.fault({ action: 'delay', ms: 350, fc: 3, address: 0, count: 4, times: 1 })
      await drv.pollOnce((r) => rs.push(r))
    }
    assert.deepEqual(wrongGood(rs), [], `${wrongGood(rs).length} of ${rs.length} readings marked good carry another request’s value`)
    const good = rs.filter((r) => r.quality === 'good').map((r) => r.point)
    assert.ok(good.includes('b0'), `the in-time read still succeeds (${good.length} good readings)`)
    assert.ok(good.includes('a0'), 'the retry of the late read is answered in time and used')
    const c = [...factory.lines.values()][0]?.counters()
    // Three answers were made late on purpose; under load an in-time one may time out too (and be counted),
    // or a late one beat a delayed timer (and was rightly taken): the count is not exact, only bounded.
    assert.ok(c && c.lateAnswers >= 1 && c.lateAnswers <= c.timeouts, `late answers discarded and counted, each after a timeout: ${JSON.stringify(c)}`)
  })
  // Unit 1 always answers late; unit 2 has the same register map shape. 280 ms: before its 200 ms timeout
  // has passed twice. 500 ms without retries: "holding 0..3" times out at 200 ms and, while the wait for a
  // late answer was one more timeout, "holding 100..103" went out at about 400 ms and took its answer at 500.
  for (const { delay, retries } of [{ delay: 280, retries: 1 }, { delay: 500, retries: 0 }]) test(`on a shared bus, a slow unit’s late answers (${delay} ms, timeout 200 ms, retries ${retries}) never reach the other unit or its own next read, and the other unit keeps being read`, async () => {
    const rtu = await startPymodbusRtu(dir, { baudRate: 19200, units: { ...registers, 2: { holding: { 0: [77, 78, 79, 80], 100: [900, 901, 902, 903] } } }, name: `shared${delay}` })
    closers.push(() => rtu.stop())
    await rtu.peer.fault({ action: 'delay', ms: delay, unit: 1 })
    const factory = new DriverFactory({ logger: silentLogger, clock: systemClock })
    closers.push(() => factory.close())
    const common = { driver: 'modbus-rtu', port: rtu.path, baud: 19200, timeout: 200, retries, jitter: 0, max_gap: 0, poll_interval: 50, backoff_min: 100, backoff_max: 200, points: fourAndFour }
    const slow = factory.create(modbusDevice({ ...common, id: 'slow', unit_id: 1 }))
    const fast = factory.create(modbusDevice({ ...common, id: 'fast', unit_id: 2 }))
    const got: Reading[] = []
    const ac = new AbortController()
    await slow.start((r) => got.push(r), ac.signal)
    await fast.start((r) => got.push(r), ac.signal)
    const line = [...factory.lines.values()][0]
    await waitFor(() => (line?.counters()?.lateAnswers ?? 0) >= 4 && got.filter((r) => r.device === 'fast' && r.quality === 'good').length >= 40, 20_000, 20, 'late answers and fast readings')
    ac.abort()
    await slow.stop()
    await fast.stop()
    const truth2: Record<string, number> = Object.fromEntries([0, 1, 2, 3].flatMap((i) => [[`a${i}`, 77 + i], [`b${i}`, 900 + i]]))
    assert.deepEqual(got.filter((r) => r.quality === 'good' && r.value !== (r.device === 'fast' ? truth2 : truth)[r.point]), [], 'no wrong value marked good')
    // Not asserted: that the slow unit is never read good. Under load a delayed request or timer can let
    // one of its answers land inside its own (retried) read, which is then rightly taken with the right
    // value (checked above); it failed that way once at load 15. The late answers discarded are counted
    // (at least 4, waited for above).
  })
})

describe('Modbus TCP and RTU over TCP: a broken answer costs one reconnect, never the stream', { timeout: 120_000 }, () => {
  const faults = [
    { action: 'truncate', keep: 9 },
    { action: 'mbap_length', length: 200 },
    { action: 'mbap_length', length: 4 },
    { action: 'random', n: 13 },
    { action: 'garbage', n: 3 },
    { action: 'tid_offset', n: 1 },
    { action: 'silence' },
    { action: 'delay', ms: 450 },
  ] as const

  test('Modbus TCP: after each kind of broken answer good readings resume, and none is wrong', async () => {
    const peer = await startPymodbus({ mode: 'tcp', units: registers })
    closers.push(() => peer.stop())
    const { drv, factory } = make({ driver: 'modbus-tcp', host: '127.0.0.1', port: peer.port, timeout: 300, retries: 1, points: fourAndFour })
    const line = [...factory.lines.values()][0]
    const after: Record<string, string> = {}
    const rs: Reading[] = []
    for (const f of faults) {
      await peer.fault({ ...f, fc: 3, address: 0, count: 4, times: 1 })
      const got = await pollFor(drv, 5000, 3)
      rs.push(...got)
      after[`${f.action} ${Object.values(f).slice(1).join()}`] = got.slice(-8).every((r) => r.quality === 'good') ? 'good' : got.slice(-8).map((r) => r.error).join()
    }
    assert.deepEqual(wrongGood(rs), [], 'no wrong value marked good')
    assert.ok(Object.values(after).every((v) => v === 'good'), JSON.stringify(after, null, 1))
    const c = line?.counters()
    // Truncated and too-long answers end in a timeout, the others are seen as out of step at once.
    assert.ok(c && c.framingErrors >= 4 && c.framingErrors + c.timeouts === faults.length, `each fault counted once: ${JSON.stringify(c)}`)
    assert.ok((line?.opens ?? 0) >= faults.length, `each broken answer reopened the connection (opens ${line?.opens})`)
  })

  test('RTU over TCP: truncated, random and late answers cost a reconnect; good readings resume', async () => {
    const peer = await startPymodbus({ mode: 'rtu-over-tcp', units: registers })
    closers.push(() => peer.stop())
    const { drv } = make({ driver: 'modbus-rtu-over-tcp', host: '127.0.0.1', port: peer.port, timeout: 300, retries: 1, points: fourAndFour })
    const rs: Reading[] = []
    const after: string[] = []
    for (const f of [{ action: 'truncate', keep: 6 }, { action: 'random', n: 9 }, { action: 'garbage', n: 2 }, { action: 'delay', ms: 350 }] as const) {
      await peer.fault({ ...f, fc: 3, address: 0, count: 4, times: 1 })
      const got = await pollFor(drv, 5000, 3)
      rs.push(...got)
      after.push(got.slice(-8).every((r) => r.quality === 'good') ? 'good' : `${f.action}: ${got.slice(-8).map((r) => r.error).join()}`)
    }
    assert.deepEqual(wrongGood(rs), [])
    assert.deepEqual(after, ['good', 'good', 'good', 'good'])
  })
})

describe('the cause of a dead link is told as it is', { timeout: 60_000 }, () => {
  test('points read or skipped while the connection is refused say "connection refused", not "timeout"', async () => {
    const port = await freePort()
    const { drv } = make({ driver: 'modbus-tcp', host: '127.0.0.1', port, timeout: 300, retries: 1, points: fourAndFour })
    const first = await pollFor(drv, 5000, 1)
    // Again during the reconnect backoff: the line fails fast, with the same cause.
    const second = await pollFor(drv, 5000, 1)
    for (const rs of [first, second]) {
      assert.equal(rs.length, 8)
      assert.deepEqual([...new Set(rs.map((r) => `${r.quality}: ${r.error}`))], ['error: connection refused'])
    }
    assert.equal(drv.status().details.state, 'disconnected')
  })

  test('an RTU port that does not exist says "no such port"', async () => {
    const { drv } = make({ driver: 'modbus-rtu', port: `${dir}/ttyGone`, timeout: 300, points: fourAndFour })
    const rs = await pollFor(drv, 5000, 1)
    assert.deepEqual([...new Set(rs.map((r) => `${r.quality}: ${r.error}`))], ['error: no such port'])
  })
})

describe('integrators’ options: request_delay and a backup host', { timeout: 60_000 }, () => {
  test('request_delay spaces the requests on a line by at least that pause', async () => {
    const peer = await startPymodbus({ mode: 'tcp', units: registers })
    closers.push(() => peer.stop())
    const { drv } = make({ driver: 'modbus-tcp', host: '127.0.0.1', port: peer.port, request_delay: '60ms', points: fourAndFour })
    await pollFor(drv, 5000, 3)
    const t = (await peer.stats()).log.map((q) => q.t * 1000)
    assert.equal(t.length, 6, 'two requests per poll')
    const gaps = t.slice(1).map((x, i) => x - (t[i] as number))
    // A lower bound only: the pause is waited after each answer, so requests cannot arrive closer than it.
    assert.ok(gaps.every((g) => g >= 59), `gaps ${gaps.map((g) => g.toFixed(1)).join(', ')} ms`)
  })

  test('frame_gap keeps at least that much silence on the line before each request (RTU over TCP)', async () => {
    const peer = await startPymodbus({ mode: 'rtu-over-tcp', units: registers })
    closers.push(() => peer.stop())
    const { drv } = make({ driver: 'modbus-rtu-over-tcp', host: '127.0.0.1', port: peer.port, frame_gap: '60ms', points: fourAndFour })
    await pollFor(drv, 5000, 3)
    const t = (await peer.stats()).log.map((q) => q.t * 1000)
    assert.equal(t.length, 6, 'two requests per poll')
    const gaps = t.slice(1).map((x, i) => x - (t[i] as number))
    // A lower bound only: each request waits for frame_gap after the last byte of the previous answer.
    assert.ok(gaps.every((g) => g >= 59), `gaps ${gaps.map((g) => g.toFixed(1)).join(', ')} ms`)
  })

  test('the longest request_delay of the devices on a shared RTU line applies to the line', async () => {
    const factory = new DriverFactory({ logger: silentLogger, clock: systemClock })
    closers.push(() => factory.close())
    const base = { driver: 'modbus-rtu', port: `${dir}/ttyShared`, jitter: 0, points: [{ name: 'x', address: 0 }] }
    factory.create(modbusDevice({ ...base, id: 'a', unit_id: 1, request_delay: '20ms' }))
    factory.create(modbusDevice({ ...base, id: 'b', unit_id: 2, request_delay: '50ms' }))
    factory.create(modbusDevice({ ...base, id: 'c', unit_id: 3 }))
    assert.equal(factory.lines.size, 1)
    assert.equal([...factory.lines.values()][0]?.requestDelay, 50)
  })

  test('a Modbus TCP device fails over to its backup host while the primary refuses, and back when it returns', async () => {
    const tag = (v: number) => ({ 1: { holding: { ...registers[1].holding, 200: [v] } } })
    const primary = await startPymodbus({ mode: 'tcp', units: tag(1) })
    closers.push(() => primary.stop())
    const backup = await startPymodbus({ mode: 'tcp', units: tag(2) })
    closers.push(() => backup.stop())
    await primary.down()
    const { drv, factory } = make({
      driver: 'modbus-tcp',
      host: '127.0.0.1',
      port: primary.port,
      backup_host: '127.0.0.1',
      backup_port: backup.port,
      failback_interval: '300ms',
      timeout: 300,
      points: [...fourAndFour, { name: 'source', address: 200 }],
    })
    const line = [...factory.lines.values()][0]
    const source = async (): Promise<unknown> => {
      const rs = await pollFor(drv, 5000, 1)
      assert.deepEqual(wrongGood(rs.filter((r) => r.point !== 'source')), [])
      const s = rs.find((r) => r.point === 'source')
      return s?.quality === 'good' ? s.value : `${s?.quality}: ${s?.error}`
    }
    assert.equal(await source(), 2, 'read from the backup while the primary is down')
    assert.equal(line?.onBackup, true)
    assert.equal(line?.endpoint, `127.0.0.1:${backup.port}`)
    await primary.up()
    assert.equal(await source(), 2, 'stays on the backup until failback_interval has passed')
    await new Promise((r) => setTimeout(r, 350))
    assert.equal(await source(), 1, 'back on the primary')
    assert.equal(line?.onBackup, false)
    await primary.down()
    assert.equal(await source(), 2, 'a primary that goes away mid-run costs no reading')
    await backup.down()
    assert.equal(await source(), 'error: connection refused', 'both down: the cause is told')
  })
})

describe('the line in the status', { timeout: 60_000 }, () => {
  test('the host status shows each line’s endpoint, counters and why it last reconnected', async () => {
    const peer = await startPymodbus({ mode: 'tcp', units: registers })
    closers.push(() => peer.stop())
    const dev = modbusDevice({ id: 'io', driver: 'modbus-tcp', host: '127.0.0.1', port: peer.port, poll_interval: 40, timeout: 300, jitter: 0, max_gap: 0, points: fourAndFour })
    const host = createDriverHost({ devices: [dev], gatewayId: 'gw', broker: new FakeBroker(), logger: silentLogger })
    closers.push(() => host.stop())
    await peer.fault({ action: 'tid_offset', n: 7, fc: 3, address: 100, count: 4, after: 2, times: 1 })
    await host.start()
    const line = async (): Promise<Record<string, unknown>> => {
      const lines = host.status().details.lines as Record<string, Record<string, unknown>>
      return Object.values(lines)[0] ?? {}
    }
    await waitFor(async () => ((await line()).answers as number) >= 10, 10_000, 20, '10 answers')
    const l = await line()
    assert.equal(l.endpoint, `127.0.0.1:${peer.port}`)
    assert.equal(l.framingErrors, 1)
    assert.equal(l.opens, 2)
    assert.match(String(l.lastLinkError), /transaction id \d+ where \d+ was due; reconnecting/)
    assert.equal(l.discardedFrames, 0)
    await host.stop()
  })
})
