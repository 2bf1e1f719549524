import assert from 'node:assert/strict'
import { after, describe, test } from 'node:test'
import { ServerTCP } from 'modbus-serial'
import { SerialPort } from 'serialport'
import { silentLogger, systemClock, type Reading } from '../../src/core/index.ts'
import { DriverFactory, type FieldDriver } from '../../src/drivers/index.ts'
import { freePort } from '../helpers/ports.ts'
import { ptyPair } from '../helpers/socat.ts'
import { tempDir, waitFor } from '../helpers/tmp.ts'
import { device } from './devices.ts'
import { RegisterBank } from './modbus-sim.ts'

interface Subject {
  driver: FieldDriver
  points: string[]
  cleanup(): Promise<void>
}

const factory = new DriverFactory({ logger: silentLogger, clock: systemClock })
const { dir, cleanup: rmDir } = tempDir('fieldgate-conf-')
after(async () => {
  await factory.close()
  rmDir()
})

/** The behaviour every driver shares, run against each implementation (STYLE #5). */
function conformance(name: string, make: () => Promise<Subject>): void {
  describe(`driver conformance: ${name}`, { timeout: 20_000 }, () => {
    test('emits good readings for its configured points, stamped with the measuring time, and reports them in status', async () => {
      const s = await make()
      const got: Reading[] = []
      const states: string[] = []
      s.driver.onState((st) => states.push(st))
      const before = Date.now()
      await s.driver.start((r) => got.push(r), new AbortController().signal)
      await waitFor(() => got.filter((r) => r.quality === 'good').length >= 2, 5000, 10, 'two good readings')
      const r = got.find((x) => x.quality === 'good') as Reading
      assert.equal(r.device, s.driver.id)
      assert.ok(s.points.includes(r.point), r.point)
      assert.ok(r.ts >= before - 5 && r.ts <= Date.now())
      const st = s.driver.status()
      assert.equal(st.health, 'ok')
      assert.equal(st.details.state, 'running')
      assert.ok((st.details.successes as number) >= 2)
      const last = (st.details.points as Record<string, { value: unknown; ts: number; quality: string }>)[r.point]
      assert.equal(last?.quality, 'good')
      assert.equal(typeof last?.ts, 'number')
      assert.ok(states.includes('running'))
      await s.driver.stop()
      await s.cleanup()
    })

    test('stops emitting once stopped, also when its abort signal fires', async () => {
      const s = await make()
      const got: Reading[] = []
      const ac = new AbortController()
      await s.driver.start((r) => got.push(r), ac.signal)
      await waitFor(() => got.length >= 1, 5000, 10, 'a reading')
      ac.abort()
      await waitFor(() => s.driver.status().details.state === 'stopped', 2000, 10, 'stopped')
      await new Promise((r) => setTimeout(r, 100))
      const n = got.length
      await new Promise((r) => setTimeout(r, 150))
      assert.equal(got.length, n)
      await s.cleanup()
    })

    test('refuses a command for a point it does not have with DRIVER_WRITE_REJECTED', async () => {
      const s = await make()
      await assert.rejects(s.driver.writeConfirmed('no-such-point', 1), (e: Error & { code?: string }) => e.code === 'DRIVER_WRITE_REJECTED')
      await s.cleanup()
    })
  })
}

conformance('simulated', async () => {
  const cfg = device({ id: 'sim', driver: 'simulated', poll_interval: 20 })
  return { driver: factory.create(cfg), points: cfg.points.map((p) => p.name), cleanup: async () => undefined }
})

let ptyN = 0
conformance('serial', async () => {
  const pair = await ptyPair(dir, `c${ptyN++}`)
  const cfg = device({ id: 'line', driver: 'serial', port: pair.a, format: 'kv', points: [{ name: 't' }] })
  const dev = new SerialPort({ path: pair.b, baudRate: 9600, autoOpen: false })
  dev.on('error', () => undefined)
  await new Promise<void>((res, rej) => dev.open((e) => (e ? rej(e) : res())))
  const timer = setInterval(() => dev.write('t=1.5\n'), 20)
  return {
    driver: factory.create(cfg),
    points: ['t'],
    async cleanup() {
      clearInterval(timer)
      await new Promise((r) => dev.close(r))
      await pair.unplug()
    },
  }
})

conformance('modbus-tcp', async () => {
  const port = await freePort()
  const bank = new RegisterBank().set(1, 'holding', 0, [1, 2])
  const srv = new ServerTCP(bank.vector(), { host: '127.0.0.1', port, unitID: 255 })
  srv.on('socketError', () => undefined)
  await new Promise<void>((r) => srv.on('initialized', () => r()))
  const cfg = device({ id: 'plc', driver: 'modbus-tcp', host: '127.0.0.1', port, poll_interval: 20, points: [{ name: 'a', address: 0 }, { name: 'b', address: 1 }] })
  return {
    driver: factory.create(cfg),
    points: ['a', 'b'],
    async cleanup() {
      for (const s of srv.socks.keys()) s.destroy()
      await new Promise<void>((r) => srv.close(() => r()))
    },
  }
})
