import assert from 'node:assert/strict'
import { after, describe, test } from 'node:test'
import { systemClock, type Logger, type Reading } from '../../src/core/index.ts'
import { DriverFactory, probeDevice, type ModbusDriver } from '../../src/drivers/index.ts'
import { startPymodbus, startPymodbusRtu, type PymodbusPeer, type UnitData } from '../helpers/pymodbus.ts'
import { tempDir } from '../helpers/tmp.ts'
import { captureLogger } from '../helpers/logger.ts'
import { modbusDevice } from './devices.ts'

/** Findings 3–7 of issue 11 and write_function, each against pymodbus (an implementation we did not write). */

const closers: Array<() => Promise<void>> = []
after(async () => {
  for (const c of closers.reverse()) await c().catch(() => undefined)
})

async function peer(units: Record<number, UnitData>, strict = false): Promise<PymodbusPeer> {
  const p = await startPymodbus({ mode: 'tcp', units, strict })
  closers.push(() => p.stop())
  return p
}

function device(port: number, extra: Record<string, unknown>, logger: Logger = captureLogger()): ModbusDriver {
  const cfg = modbusDevice({ id: 'dev', driver: 'modbus-tcp', host: '127.0.0.1', port, timeout: 1000, retries: 0, jitter: 0, ...extra })
  const f = new DriverFactory({ logger, clock: systemClock })
  closers.push(() => f.close())
  return f.create(cfg) as ModbusDriver
}

async function poll(d: ModbusDriver): Promise<Map<string, Reading>> {
  const got = new Map<string, Reading>()
  await d.pollOnce((r) => got.set(r.point, r))
  return got
}

const value = (m: Map<string, Reading>, k: string): unknown => m.get(k)?.value

describe('Modbus data path against pymodbus', { timeout: 120_000 }, () => {
  test('a bool with `bit` reads that bit of a holding register: bit 1 of 0x0051 is false, bits 0, 4 and 6 true', async () => {
    const p = await peer({ 1: { holding: { 0: [0x0051] } } })
    const d = device(p.port, {
      points: [0, 1, 4, 6].map((bit) => ({ name: `b${bit}`, address: 0, type: 'bool', bit })),
    })
    const got = await poll(d)
    assert.deepEqual(['b0', 'b1', 'b4', 'b6'].map((k) => value(got, k)), [true, false, true, true])
    assert.ok([...got.values()].every((r) => r.quality === 'good'))
  })

  test('writing a register bit changes only that bit and reads it back: 0xFFFF with bit 0 cleared is 0xFFFE, 0x0051 with bit 1 set is 0x0053', async () => {
    const p = await peer({ 1: { holding: { 0: [0xffff, 0x0051] } } })
    const d = device(p.port, {
      points: [
        { name: 'relay0', address: 0, type: 'bool', bit: 0, writable: true },
        { name: 'relay1', address: 1, type: 'bool', bit: 1, writable: true },
        { name: 'mode', address: 1, type: 'bitfield', bit: 4, bits: 3, writable: true },
      ],
    })
    assert.deepEqual(await d.writeConfirmed('relay0', false), { point: 'relay0', value: false, readback: false })
    assert.deepEqual(await p.get(1, 'holding', 0, 1), [0xfffe])
    assert.deepEqual(await d.writeConfirmed('relay1', true), { point: 'relay1', value: true, readback: true })
    assert.deepEqual(await p.get(1, 'holding', 1, 1), [0x0053])
    // bits 4..6 of 0x0053 are 0b101; writing 2 there gives 0x0023, bits 0..3 and 7..15 untouched
    assert.deepEqual(await d.writeConfirmed('mode', 2), { point: 'mode', value: 2, readback: 2 })
    assert.deepEqual(await p.get(1, 'holding', 1, 1), [0x0023])
    const fcs = (await p.stats()).log.map((r) => r.fc)
    assert.ok(!fcs.includes(22), 'read-modify-write without mask_write')
  })

  test('concurrent bit writes to one register (and a poll between them) each keep the other bits: the read-modify-write holds the line', async () => {
    const p = await peer({ 1: { holding: { 0: [0x0000] } } })
    const d = device(p.port, { points: Array.from({ length: 8 }, (_, bit) => ({ name: `b${bit}`, address: 0, type: 'bool', bit, writable: true })) })
    const writes = Array.from({ length: 8 }, (_, bit) => d.writeConfirmed(`b${bit}`, bit % 2 === 0))
    const polled = poll(d)
    await Promise.all([...writes, polled])
    assert.deepEqual(await p.get(1, 'holding', 0, 1), [0b01010101])
  })

  test('over RTU at 9600 baud (paced bus) a bit write also leaves the other bits: 0xFFFF with bit 15 cleared is 0x7FFF', async () => {
    const { dir, cleanup } = tempDir('fieldgate-bits-')
    closers.push(async () => cleanup())
    const rtu = await startPymodbusRtu(dir, { baudRate: 9600, units: { 3: { holding: { 10: [0xffff] } } } })
    closers.push(() => rtu.stop())
    const cfg = modbusDevice({ id: 'rtu', driver: 'modbus-rtu', port: rtu.path, baud: 9600, unit_id: 3, timeout: 1000, retries: 0, points: [{ name: 'alarm', address: 10, type: 'bool', bit: 15, writable: true }] })
    const f = new DriverFactory({ logger: captureLogger(), clock: systemClock })
    closers.push(() => f.close())
    const d = f.create(cfg) as ModbusDriver
    assert.equal(value(await poll(d), 'alarm'), true)
    assert.deepEqual(await d.writeConfirmed('alarm', false), { point: 'alarm', value: false, readback: false })
    assert.deepEqual(await rtu.peer.get(3, 'holding', 10, 1), [0x7fff])
  })

  test('with mask_write = true a bit write is one FC 22 done by the device, other bits untouched', async () => {
    const p = await peer({ 1: { holding: { 0: [0xffff, 0x0051] } } })
    const d = device(p.port, {
      mask_write: true,
      points: [
        { name: 'relay0', address: 0, type: 'bool', bit: 0, writable: true },
        { name: 'relay3', address: 1, type: 'bool', bit: 3, writable: true },
      ],
    })
    assert.equal((await d.writeConfirmed('relay0', false)).readback, false)
    assert.equal((await d.writeConfirmed('relay3', true)).readback, true)
    assert.deepEqual(await p.get(1, 'holding', 0, 2), [0xfffe, 0x0059])
    const fcs = (await p.stats()).log.map((r) => r.fc)
    assert.deepEqual(fcs, [22, 3, 22, 3])
  })

  test('the old device key byte_order = "DCBA" leaves 16-bit registers alone (258 reads 258), decodes DCBA floats, and warns once that it is deprecated', async () => {
    // 231.1f = 0x4367199A; DCBA on the wire (low word first, bytes swapped): 9A19 6743
    const p = await peer({ 1: { holding: { 0: [258, 0x9a19, 0x6743, 0xfeff] } } })
    const log = captureLogger()
    const d = device(p.port, { byte_order: 'DCBA', points: [{ name: 'u16', address: 0 }, { name: 'f', address: 1, type: 'float32' }, { name: 'i16', address: 3, type: 'int16' }] }, log)
    const got = await poll(d)
    assert.deepEqual([value(got, 'u16'), value(got, 'f'), value(got, 'i16')], [258, 231.1, -257])
    const warnings = log.lines.filter((l) => l.level === 'warn' && /deprecated/.test(l.msg))
    assert.equal(warnings.length, 1)
    assert.match(warnings[0]?.msg ?? '', /word_order = "little"/)
    // `fieldgate check` says it too (the probe's detail line).
    const cfg = modbusDevice({ id: 'dev', driver: 'modbus-tcp', host: '127.0.0.1', port: p.port, byte_order: 'DCBA', points: [{ name: 'u16', address: 0 }] })
    const probe = await probeDevice(cfg, captureLogger())
    assert.ok(probe.ok)
    assert.match(probe.detail, /byte_order = "DCBA" is deprecated/)
  })

  test('byte_order = "little" swaps the bytes of every register, 16-bit included; word_order alone swaps only the registers of 32-bit values', async () => {
    const p = await peer({ 1: { holding: { 0: [0x0201, 0x199a, 0x4367] } } })
    const little = await poll(device(p.port, { byte_order: 'little', points: [{ name: 'u16', address: 0 }] }))
    assert.equal(value(little, 'u16'), 258)
    const words = await poll(device(p.port, { word_order: 'little', points: [{ name: 'u16', address: 0 }, { name: 'f', address: 1, type: 'float32' }] }))
    assert.deepEqual([value(words, 'u16'), value(words, 'f')], [0x0201, 231.1])
  })

  test('a slave refusing reads over holes is read in contiguous runs (not point by point), logged once, and status shows the plan it really uses', async () => {
    const holding = { 0: [1, 2, 3, 4], 6: [0x4367, 0x199a], 10: [10, 11], 20: [20] }
    const p = await peer({ 1: { holding } }, true)
    const log = captureLogger()
    const d = device(
      p.port,
      {
        points: [
          ...[0, 1, 2, 3].map((a) => ({ name: `r${a}`, address: a })),
          { name: 'f', address: 6, type: 'float32' },
          { name: 'r10', address: 10 },
          { name: 'r11', address: 11 },
          { name: 'r20', address: 20 },
        ],
      },
      log,
    )
    assert.equal(d.status().details.requestsPerPoll, 1)
    const first = await poll(d)
    assert.equal(first.size, 8)
    assert.ok([...first.values()].every((r) => r.quality === 'good'), JSON.stringify([...first.values()]))
    assert.deepEqual(
      d.plan().map((r) => `${r.start}+${r.count}`),
      ['0+4', '6+2', '10+2', '20+1'],
    )
    assert.equal(value(first, 'f'), 231.1)
    const before = (await p.stats()).requests
    await poll(d)
    assert.equal((await p.stats()).requests - before, 4, 'requests per poll after the fallback')
    const st = d.status().details
    assert.equal(st.requestsPerPoll, 4)
    assert.deepEqual(st.plan, ['holding 0..3', 'holding 6..7', 'holding 10..11', 'holding 20..20'])
    assert.equal(st.planFallback, 'contiguous')
    assert.equal(log.lines.filter((l) => /contiguous runs/.test(l.msg)).length, 1)
  })

  test('exception responses: each distinct one logged once (code name, table, range), points in error with the exception name, a device whose reads all fail is in error', async () => {
    const p = await peer({ 1: { holding: { 0: [1, 2] }, input: { 0: [5] } } })
    const log = captureLogger()
    const d = device(p.port, { points: [{ name: 'a', address: 0 }, { name: 'b', address: 1 }, { name: 'c', table: 'input', address: 0 }] }, log)
    await poll(d)
    assert.equal(d.status().details.state, 'running')
    await p.fault({ action: 'exception', code: 4 })
    let got = await poll(d)
    got = await poll(d)
    for (const k of ['a', 'b', 'c']) {
      assert.equal(got.get(k)?.quality, 'error')
      assert.match(got.get(k)?.error ?? '', /server device failure \(exception 4\)/)
    }
    const st = d.status()
    assert.equal(st.details.state, 'error')
    assert.notEqual(st.health, 'ok')
    assert.match(st.reason ?? '', /every read fails: modbus exception 4/)
    const lines = log.lines.filter((l) => /modbus exception/.test(l.msg))
    assert.equal(lines.length, 2, 'one line per distinct exception (holding 0..1 and input 0..0), not per poll')
    assert.deepEqual(
      lines.map((l) => [l.obj.exception, l.obj.name, l.obj.table, l.obj.start, l.obj.end]).sort(),
      [
        [4, 'server device failure', 'holding', 0, 1],
        [4, 'server device failure', 'input', 0, 0],
      ],
    )
    // The device's child logger already carries `device`; no line repeats it in its own fields.
    assert.ok(lines.every((l) => l.bindings.device === 'dev' && !('device' in l.obj)))
    await p.clearFaults()
    got = await poll(d)
    assert.equal(got.get('a')?.quality, 'good')
    assert.equal(d.status().details.state, 'running')
  })

  test('a refused single point is in error with the exception name while the rest of the device keeps running', async () => {
    const p = await peer({ 1: { holding: { 0: [7] } } }, true)
    const d = device(p.port, { points: [{ name: 'ok', address: 0 }, { name: 'missing', address: 50 }] })
    const got = await poll(d)
    assert.equal(got.get('ok')?.quality, 'good')
    assert.equal(got.get('missing')?.quality, 'error')
    assert.match(got.get('missing')?.error ?? '', /illegal data address \(exception 2\)/)
    assert.equal(d.status().details.state, 'running')
  })

  test('NaN and Inf in float registers are readings of quality error, never good; float32 is rounded to its precision or to `decimals`', async () => {
    const p = await peer({ 1: { holding: { 0: [0x7fc0, 0, 0x7f80, 0, 0xff80, 0, 0x4367, 0x199a, 0x4367, 0x199a], 10: [0x7ff8, 0, 0, 0] } } })
    const d = device(p.port, {
      points: [
        { name: 'nan', address: 0, type: 'float32' },
        { name: 'inf', address: 2, type: 'float32' },
        { name: 'ninf', address: 4, type: 'float32' },
        { name: 'v', address: 6, type: 'float32' },
        { name: 'v0', address: 8, type: 'float32', decimals: 0 },
        { name: 'nan64', address: 10, type: 'float64' },
      ],
    })
    const got = await poll(d)
    for (const k of ['nan', 'inf', 'ninf', 'nan64']) {
      assert.equal(got.get(k)?.quality, 'error', k)
      assert.match(got.get(k)?.error ?? '', /invalid value (NaN|Infinity|-Infinity)/)
    }
    assert.deepEqual([got.get('v')?.value, got.get('v')?.quality], [231.1, 'good'])
    assert.equal(value(got, 'v0'), 231)
  })

  test('write_function = 16 writes one register with FC 16 for a device that rejects FC 6', async () => {
    const p = await peer({ 1: { holding: { 0: [0, 0] } } })
    await p.fault({ action: 'exception', code: 1, fc: 6 })
    const d = device(p.port, { points: [{ name: 'fc6', address: 0, writable: true }, { name: 'fc16', address: 1, writable: true, write_function: 16 }] })
    await assert.rejects(d.writeConfirmed('fc6', 5), /illegal function/)
    assert.deepEqual(await d.writeConfirmed('fc16', 7), { point: 'fc16', value: 7, readback: 7 })
    assert.deepEqual(await p.get(1, 'holding', 0, 2), [0, 7])
    const d16 = device(p.port, { write_function: 16, points: [{ name: 'sp', address: 0, writable: true }] })
    assert.equal((await d16.writeConfirmed('sp', 9)).readback, 9)
    assert.deepEqual((await p.stats()).log.map((r) => r.fc), [6, 16, 3, 16, 3])
  })
})
