import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import { FakeClock } from '../../src/core/index.ts'
import type { ByteLink } from '../../src/drivers/modbus/byte-link.ts'
import { ModbusExceptionError } from '../../src/drivers/modbus/errors.ts'
import { FramedTransport, LATE_BOUND_TIMEOUTS, LinkState } from '../../src/drivers/modbus/framed-transport.ts'
import { rtuFrame } from '../../src/drivers/modbus/rtu-frame.ts'

// Model test of RTU answer attribution: a slave that answers each request at most once, at any lateness
// below the bound (or never), against the transport's accept/discard decisions. An RTU answer names no
// request, so the slave model writes the index of the request it answers into the answer (first register,
// write echo value, exception code): the test can tell which request an accepted answer belongs to.

const T = 100
const BOUND = LATE_BOUND_TIMEOUTS * T

class FakeLink implements ByteLink {
  writes: Buffer[] = []
  isOpen = true
  private data: (b: Buffer) => void = () => undefined
  async write(b: Buffer): Promise<void> {
    this.writes.push(b)
  }
  onData(cb: (b: Buffer) => void): void {
    this.data = cb
  }
  onClose(): void {}
  feed(b: Buffer): void {
    this.data(b)
  }
  async close(): Promise<void> {
    this.isOpen = false
  }
}

const flush = async (): Promise<void> => {
  for (let i = 0; i < 4; i++) await new Promise((r) => setImmediate(r))
}

type Kind = 'holding' | 'input' | 'write'
interface Req {
  unit: 1 | 2
  kind: Kind
  address: 0 | 100
  /** ms from the request on the wire to its answer; null: never answered. */
  latency: number | null
  exception: boolean
  /** idle time before the next request is asked for */
  gap: number
}

const req: fc.Arbitrary<Req> = fc.record({
  unit: fc.constantFrom<1 | 2>(1, 2),
  kind: fc.constantFrom<Kind>('holding', 'holding', 'input', 'write'),
  address: fc.constantFrom<0 | 100>(0, 100),
  latency: fc.option(fc.oneof(fc.integer({ min: 1, max: T - 1 }), fc.integer({ min: T, max: BOUND - 1 })), { freq: 6 }),
  exception: fc.integer({ min: 0, max: 5 }).map((n) => n === 0),
  gap: fc.constantFrom(0, 0, 0, 5, 150, 400),
})

/** The answer the slave gives to request number `k` (the k-th frame on the wire). */
function answer(frame: Buffer, k: number, r: Req): Buffer {
  const unit = frame[0] as number
  const fcode = frame[1] as number
  if (r.exception) return rtuFrame(unit, Buffer.from([fcode | 0x80, k]))
  if (fcode === 6) return rtuFrame(unit, frame.subarray(1, 6))
  const words = [k, frame.readUInt16BE(2)]
  const pdu = Buffer.alloc(2 + 2 * words.length)
  pdu[0] = fcode
  pdu[1] = 2 * words.length
  words.forEach((w, i) => pdu.writeUInt16BE(w, 2 + 2 * i))
  return rtuFrame(unit, pdu)
}

type Outcome = { kind: 'data'; words?: number[] } | { kind: 'exception'; code: number } | { kind: 'error'; message: string }

async function simulate(reqs: Req[]): Promise<string[]> {
  const link = new FakeLink()
  const clock = new FakeClock(1000)
  const t = new FramedTransport(link, { framing: 'rtu', frameGap: 2, closeOnError: false, clock, state: new LinkState(), where: 'ttyM' })
  const due: Array<{ at: number; bytes: Buffer }> = []
  const problems: string[] = []
  let seen = 0
  // Runs the world until `done()` or `until`, delivering answers at their exact times.
  const run = async (done: () => boolean, until: number): Promise<void> => {
    for (let step = 0; step < 5000; step++) {
      await flush()
      for (; seen < link.writes.length; seen++) {
        const frame = link.writes[seen] as Buffer
        const r = reqs[seen]
        if (!r) throw new Error(`more frames than requests (${seen})`)
        if (r.latency !== null) due.push({ at: clock.now() + r.latency, bytes: answer(frame, seen, r) })
      }
      if (done() || clock.now() >= until) return
      due.sort((a, b) => a.at - b.at)
      const next = Math.min(until, clock.now() + 10, due[0]?.at ?? Infinity)
      clock.advance(Math.max(0, next - clock.now()))
      while (due.length > 0 && (due[0] as { at: number }).at <= clock.now()) link.feed((due.shift() as { bytes: Buffer }).bytes)
    }
    throw new Error('simulation did not settle')
  }
  for (let i = 0; i < reqs.length; i++) {
    const r = reqs[i] as Req
    let out: Outcome | null = null
    const p =
      r.kind === 'write'
        ? t.writeRegisters(r.unit, r.address, [i], T)
        : t.readRegisters(r.unit, r.kind, r.address, 2, T)
    void p.then(
      (w) => (out = { kind: 'data', words: w === undefined ? undefined : w }),
      (e: unknown) => (out = e instanceof ModbusExceptionError ? { kind: 'exception', code: e.modbusCode } : { kind: 'error', message: String(e) }),
    )
    await run(() => out !== null, Infinity)
    const o = out as Outcome | null
    if (!o) throw new Error('unsettled')
    const sentAs = link.writes.length - 1
    if (sentAs !== i) problems.push(`request ${i} went out as frame ${sentAs}`)
    const inTime = r.latency !== null && r.latency < T
    if (o.kind === 'data' && o.words && (o.words[0] !== i || o.words[1] !== r.address)) problems.push(`request ${i} took the answer of request ${o.words[0]}`)
    if (o.kind === 'exception' && o.code !== i) problems.push(`request ${i} took the exception of request ${o.code}`)
    if (inTime && o.kind === 'error') problems.push(`request ${i} answered in time but failed: ${o.message}`)
    if (!inTime && o.kind !== 'error') problems.push(`request ${i} answered late or never, yet ${o.kind}`)
    if (inTime && o.kind === 'data' && r.exception) problems.push(`request ${i} got data for an exception`)
    await run(() => false, clock.now() + r.gap)
  }
  await t.close()
  return problems
}

describe('RTU attribution (model: a slave answering each request at most once, within the bound or never)', () => {
  test('no request takes another request’s answer or exception; every answer in time is taken', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(req, { minLength: 1, maxLength: 24 }), async (reqs) => {
        assert.deepEqual(await simulate(reqs), [])
      }),
      { seed: 1415, numRuns: 150 },
    )
  })

  test('a read answered 2.5 timeouts late is not taken for the next read of the same shape at another address', async () => {
    // Before the bound was raised, the next read went out 2 timeouts after the slow one and took its answer.
    const slow: Req = { unit: 1, kind: 'holding', address: 0, latency: 2.5 * T, exception: false, gap: 0 }
    const next: Req = { unit: 1, kind: 'holding', address: 100, latency: T - 10, exception: false, gap: 0 }
    assert.deepEqual(await simulate([slow, next, { ...slow, latency: 10 }]), [])
  })
})
