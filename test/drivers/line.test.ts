import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { FakeClock, silentLogger } from '../../src/core/index.ts'
import { ModbusLine, type ModbusTransport } from '../../src/drivers/index.ts'

/** A transport whose reads resolve when the test says so, recording overlap and order. */
class ScriptedTransport implements ModbusTransport {
  isOpen = true
  active = 0
  maxActive = 0
  readonly order: number[] = []
  private waiting: Array<() => void> = []

  async readRegisters(unit: number): Promise<number[]> {
    this.active++
    this.maxActive = Math.max(this.maxActive, this.active)
    this.order.push(unit)
    await new Promise<void>((r) => this.waiting.push(r))
    this.active--
    return [unit]
  }
  async readBits(): Promise<boolean[]> {
    return [true]
  }
  async writeCoil(): Promise<void> {}
  async writeRegisters(): Promise<void> {}
  async maskWriteRegister(): Promise<void> {}
  async close(): Promise<void> {
    this.isOpen = false
  }
  release(): boolean {
    const r = this.waiting.shift()
    r?.()
    return r !== undefined
  }
}

const tick = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r))
}

describe('Modbus line scheduler', () => {
  test('runs one transaction at a time in arrival order across unit ids', async () => {
    const t = new ScriptedTransport()
    const line = new ModbusLine('bus', async () => t, new FakeClock(), silentLogger)
    const results = [1, 2, 1, 3].map((u) => line.run(u, (tr) => tr.readRegisters(u, 'holding', 0, 1, 100)))
    for (let i = 0; i < 4; i++) {
      await tick()
      assert.equal(t.release(), true)
    }
    assert.deepEqual(await Promise.all(results), [[1], [2], [1], [3]])
    assert.deepEqual(t.order, [1, 2, 1, 3])
    assert.equal(t.maxActive, 1)
    await line.close()
  })

  test('a line that cannot open fails fast during its backoff and tries again after it', async () => {
    const clock = new FakeClock(0)
    let attempts = 0
    const line = new ModbusLine(
      'ttyX',
      async () => {
        attempts++
        throw new Error('No such file or directory, cannot open /dev/ttyX')
      },
      clock,
      silentLogger,
      { min: 1000, max: 1000 },
    )
    const job = (): Promise<number[]> => line.run(1, (tr) => tr.readRegisters(1, 'holding', 0, 1, 100))
    await assert.rejects(job(), (e: Error & { code?: string }) => e.code === 'DRIVER_PORT_UNAVAILABLE' && /cannot open modbus line ttyX/.test(e.message))
    await assert.rejects(job(), /retrying in 1000 ms/)
    assert.equal(attempts, 1)
    clock.advance(1000)
    await assert.rejects(job(), /cannot open/)
    assert.equal(attempts, 2)
    await line.close()
    await assert.rejects(job(), /closed/)
  })

  test('a transaction that finds the link gone drops the transport and the next one opens a new link', async () => {
    const clock = new FakeClock(0)
    const made: ScriptedTransport[] = []
    const line = new ModbusLine(
      'tcp',
      async () => {
        const t = new ScriptedTransport()
        made.push(t)
        return t
      },
      clock,
      silentLogger,
      { min: 10, max: 10 },
    )
    await assert.rejects(
      line.run(1, async () => {
        throw Object.assign(new Error('Port Not Open'), { name: 'PortNotOpenError' })
      }),
      /Port Not Open/,
    )
    assert.equal(made[0]?.isOpen, false)
    clock.advance(10)
    const p = line.run(1, (tr) => tr.readRegisters(1, 'holding', 0, 1, 100))
    await tick()
    made[1]?.release()
    assert.deepEqual(await p, [1])
    assert.equal(line.opens, 2)
    await line.close()
  })

  test('a unit still owing a late answer is passed over while another unit has a job queued', async () => {
    const clock = new FakeClock(0)
    const t = Object.assign(new ScriptedTransport(), { readyAt: (unit: number) => (unit === 1 ? 500 : 0) })
    const line = new ModbusLine('bus', async () => t, clock, silentLogger)
    const first = line.run(3, (tr) => tr.readRegisters(3, 'holding', 0, 1, 100))
    await tick()
    const rest = [1, 2, 1, 2].map((u) => line.run(u, (tr) => tr.readRegisters(u, 'holding', 0, 1, 100)))
    t.release()
    await first
    for (let i = 0; i < 2; i++) {
      await tick()
      t.release()
    }
    await tick()
    assert.deepEqual(t.order, [3, 2, 2], 'unit 2 goes ahead of unit 1 while unit 1 is not ready; the line waits for unit 1 rather than ask it early')
    clock.advance(500)
    await tick()
    assert.deepEqual(t.order, [3, 2, 2, 1], 'unit 1 once ready')
    for (let i = 0; i < 2; i++) {
      t.release()
      await tick()
    }
    assert.deepEqual(await Promise.all(rest), [[1], [2], [1], [2]])
    await line.close()
  })

  test('a lone job for a unit still owing a late answer does not hold the line: a job for another unit queued meanwhile goes first', async () => {
    const clock = new FakeClock(0)
    const t = Object.assign(new ScriptedTransport(), { readyAt: (unit: number) => (unit === 1 ? 500 : 0) })
    const line = new ModbusLine('bus', async () => t, clock, silentLogger)
    const warm = line.run(3, (tr) => tr.readRegisters(3, 'holding', 0, 1, 100))
    await tick()
    t.release()
    await warm
    const slow = line.run(1, (tr) => tr.readRegisters(1, 'holding', 0, 1, 100))
    await tick()
    clock.advance(100)
    await tick()
    assert.deepEqual(t.order, [3], 'unit 1 is not asked before it is ready')
    const other = line.run(2, (tr) => tr.readRegisters(2, 'holding', 0, 1, 100))
    await tick()
    assert.deepEqual(t.order, [3, 2])
    t.release()
    assert.deepEqual(await other, [2])
    await tick()
    clock.advance(399)
    await tick()
    assert.deepEqual(t.order, [3, 2])
    clock.advance(1)
    await tick()
    assert.deepEqual(t.order, [3, 2, 1], 'unit 1 once ready')
    t.release()
    assert.deepEqual(await slow, [1])
    await line.close()
  })
})
