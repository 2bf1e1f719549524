import type { Clock, TimerHandle } from '../../core/index.ts'
import type { ByteLink } from './byte-link.ts'
import { LinkDownError, ModbusExceptionError, ModbusFramingError, ModbusTimeoutError } from './errors.ts'
import { mbapFrame, scanMbap } from './mbap.ts'
import { answerLength, decodeAnswer, encodeRequest, type PduRequest } from './pdu.ts'
import { matchRtu, nextRtuFrame, rtuFrame } from './rtu-frame.ts'
import type { BitTable, LinkCounters, ModbusTransport, RegisterTable } from './transport-api.ts'

/**
 * RTU: how long after a request went out its answer may still come, in timeouts. A request that timed out
 * keeps the next request of the same function to that unit waiting until its answer has come or this
 * bound has passed: only an answer of the same function (normal or exception) can be taken for it.
 */
export const LATE_BOUND_TIMEOUTS = 5

/** Key of the late answer a unit may owe for one function code (an exception's code maps to its function). */
const owedKey = (unit: number, fcode: number): number => unit * 128 + (fcode & 0x7f)

/** What outlives one connection of a line: its counters and, for RTU, which units may still answer late. */
export class LinkState {
  readonly counters: LinkCounters = { requests: 0, answers: 0, exceptions: 0, timeouts: 0, framingErrors: 0, discardedFrames: 0, discardedBytes: 0, lateAnswers: 0 }
  /** owedKey(unit, fc) -> time until which the late answer of a request that timed out may come. */
  readonly owed = new Map<number, number>()
  lastRx = Number.NEGATIVE_INFINITY

  /** When `unit` owes no late answer of any function any more (0: now); the line uses it to pick a job. */
  readyAt(unit: number, now: number): number {
    let at = 0
    for (const [k, until] of this.owed) if (Math.floor(k / 128) === unit && until > now) at = Math.max(at, until)
    return at
  }
}

export interface FramedOptions {
  framing: 'rtu' | 'mbap'
  /** RTU: silence on the line before each request; at least 3.5 character times (more behind USB adapters). */
  frameGap: number
  /** TCP links: a timeout or a framing error closes the connection; the line reopens it with backoff. */
  closeOnError: boolean
  clock: Clock
  state: LinkState
  /** For messages: the port or host:port. */
  where: string
  endpoint?: string
  onBackup?: boolean
}

type Data = { bits?: boolean[]; words?: number[] }

interface Pending {
  unit: number
  req: PduRequest
  tid: number
  sentAt: number
  timeout: number
  timer: TimerHandle
  resolve: (d: Data) => void
  reject: (e: Error) => void
}

const MAX_BUFFER = 4096

/**
 * One Modbus link with our own framing (RTU or MBAP) over a byte pipe. The caller (ModbusLine) runs one
 * transaction at a time. An answer is accepted only if it belongs to the outstanding request: on TCP by
 * transaction id, unit, function and length, anything else puts the stream out of step and closes the
 * connection; on RTU by unit, function, length, byte count, echo and CRC. An RTU answer carries nothing
 * that says which request it answers, so a request goes out only when no earlier request of the same
 * function to that unit may still be answered: after a timeout the next one waits until the late answer
 * has come (and is discarded) or LATE_BOUND_TIMEOUTS have passed since the request that timed out. A
 * slave that answers each request at most once and within that bound can then never have its answer
 * taken for another request (test/drivers/rtu-attribution.test.ts checks this against a model slave).
 */
export class FramedTransport implements ModbusTransport {
  private buf: Buffer = Buffer.alloc(0)
  private pending: Pending | null = null
  private tid = 0
  private wake: (() => void) | null = null
  private down: Error | null = null

  constructor(
    private readonly link: ByteLink,
    private readonly opts: FramedOptions,
  ) {
    link.onData((b) => this.onData(b))
    link.onClose((err) => {
      this.down = err
      this.settle(err)
    })
  }

  get isOpen(): boolean {
    return this.down === null && this.link.isOpen
  }

  get closedBecause(): Error | null {
    return this.down
  }

  get endpoint(): string | undefined {
    return this.opts.endpoint
  }

  get onBackup(): boolean {
    return this.opts.onBackup === true
  }

  counters(): LinkCounters {
    return this.opts.state.counters
  }

  readyAt(unit: number): number {
    return this.opts.state.readyAt(unit, this.opts.clock.now())
  }

  async readBits(unit: number, table: BitTable, start: number, count: number, timeout: number): Promise<boolean[]> {
    return (await this.transact(unit, { fc: table === 'coil' ? 1 : 2, address: start, count }, timeout)).bits ?? []
  }

  async readRegisters(unit: number, table: RegisterTable, start: number, count: number, timeout: number): Promise<number[]> {
    return (await this.transact(unit, { fc: table === 'holding' ? 3 : 4, address: start, count }, timeout)).words ?? []
  }

  async writeCoil(unit: number, address: number, value: boolean, timeout: number): Promise<void> {
    await this.transact(unit, { fc: 5, address, value }, timeout)
  }

  async writeRegisters(unit: number, address: number, words: number[], timeout: number, fc?: 6 | 16): Promise<void> {
    if (words.length === 1 && fc !== 16) await this.transact(unit, { fc: 6, address, value: words[0] as number }, timeout)
    else await this.transact(unit, { fc: 16, address, values: words }, timeout)
  }

  async maskWriteRegister(unit: number, address: number, and: number, or: number, timeout: number): Promise<void> {
    await this.transact(unit, { fc: 22, address, and, or }, timeout)
  }

  async close(): Promise<void> {
    if (!this.down) this.down = new LinkDownError(`${this.opts.where} closed`)
    this.settle(this.down)
    this.wake?.()
    await this.link.close()
  }

  private async transact(unit: number, req: PduRequest, timeout: number): Promise<Data> {
    if (this.pending) throw new Error(`${this.opts.where}: a transaction is already outstanding (the line serialises them)`)
    if (this.opts.framing === 'rtu') await this.quiet(unit, req.fc)
    if (!this.isOpen) throw this.down ?? new LinkDownError(`${this.opts.where} is not open`)
    const owedUntil = this.opts.state.owed.get(owedKey(unit, req.fc))
    if (owedUntil !== undefined && owedUntil > this.opts.clock.now()) {
      // Only when the wait's own bound on wake-ups ran out: never send while the answer could be mistaken.
      throw new ModbusTimeoutError(`unit ${unit} at ${this.opts.where} may still answer an earlier request of function ${req.fc}; not asked`)
    }
    const c = this.opts.state.counters
    if (this.buf.length > 0) {
      if (this.opts.framing === 'mbap') {
        // Bytes nobody asked for: the stream cannot be trusted to be in step any more.
        this.outOfStep(`${this.buf.length} bytes arrived outside a transaction`)
        throw this.down ?? new ModbusFramingError(`${this.opts.where}: out of step`)
      }
      c.discardedBytes += this.buf.length
      this.buf = Buffer.alloc(0)
    }
    const pdu = encodeRequest(req)
    this.tid = (this.tid + 1) & 0xffff
    const frame = this.opts.framing === 'rtu' ? rtuFrame(unit, pdu) : mbapFrame(this.tid, unit, pdu)
    c.requests++
    return new Promise<Data>((resolve, reject) => {
      const timer = this.opts.clock.setTimeout(() => this.onTimeout(), timeout)
      this.pending = { unit, req, tid: this.tid, sentAt: this.opts.clock.now(), timeout, timer, resolve, reject }
      this.link.write(frame).catch((err: unknown) => this.settle(err instanceof Error ? err : new Error(String(err))))
    })
  }

  /** RTU: waits for line silence, and for a late answer of this function the unit may still owe; bounded. */
  private async quiet(unit: number, fcode: number): Promise<void> {
    const { clock, state, frameGap } = this.opts
    const key = owedKey(unit, fcode)
    const start = clock.now()
    const cap = Math.max(start + Math.max(20 * frameGap, 100), state.owed.get(key) ?? 0)
    for (let i = 0; i < 10_000 && this.isOpen; i++) {
      const now = clock.now()
      const owed = state.owed.get(key)
      if (owed !== undefined && now >= owed) state.owed.delete(key)
      const until = Math.max(state.lastRx + frameGap, state.owed.get(key) ?? 0)
      if (now >= until || now >= cap) return
      await this.sleep(Math.min(until, cap) - now)
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        this.opts.clock.clearTimeout(t)
        this.wake = null
        resolve()
      }
      const t = this.opts.clock.setTimeout(done, Math.max(0, Math.ceil(ms)))
      this.wake = done
    })
  }

  private onData(b: Buffer): void {
    const { state } = this.opts
    state.lastRx = this.opts.clock.now()
    this.buf = this.buf.length ? Buffer.concat([this.buf, b]) : b
    if (this.buf.length > MAX_BUFFER) {
      state.counters.discardedBytes += this.buf.length - MAX_BUFFER
      this.buf = this.buf.subarray(this.buf.length - MAX_BUFFER)
    }
    if (this.opts.framing === 'rtu') this.scanRtu()
    else this.scanTcp()
    // Wakes a request waiting for silence, so it measures the silence from this byte.
    this.wake?.()
  }

  private scanRtu(): void {
    const { counters, owed } = this.opts.state
    for (let i = 0; i < 64; i++) {
      // While the start of the buffer looks like the head of our answer, wait for all of it rather than
      // scan inside it (its data could happen to hold a CRC-valid frame).
      const p0 = this.pending
      const b = this.buf
      if (p0 && b.length >= 2 && b[0] === p0.unit && (b[1] === p0.req.fc || b[1] === (p0.req.fc | 0x80))) {
        if (b.length < ((b[1] as number) & 0x80 ? 5 : 3 + answerLength(p0.req))) return
      }
      const f = nextRtuFrame(this.buf)
      if (!f) return
      counters.discardedBytes += f.skipped
      this.buf = this.buf.subarray(f.end)
      const p = this.pending
      if (p) {
        const m = matchRtu(f.frame, p.unit, p.req)
        if (m.kind === 'answer') {
          this.settle(null, m.answer.kind === 'exception' ? m.answer.code : undefined, m.answer.kind === 'data' ? m.answer : undefined)
          continue
        }
      }
      counters.discardedFrames++
      if (owed.delete(owedKey(f.frame.unit, f.frame.pdu[0] as number))) counters.lateAnswers++
    }
  }

  private scanTcp(): void {
    for (let i = 0; i < 64 && this.buf.length > 0; i++) {
      const s = scanMbap(this.buf)
      if (s.kind === 'incomplete') return
      if (s.kind === 'bad') return this.outOfStep(s.reason)
      this.buf = this.buf.subarray(s.end)
      const p = this.pending
      if (!p) return this.outOfStep(`an answer (transaction id ${s.tid}) to no outstanding request`)
      if (s.tid !== p.tid) return this.outOfStep(`transaction id ${s.tid} where ${p.tid} was due`)
      if (s.unit !== p.unit) return this.outOfStep(`unit ${s.unit} answered a request to unit ${p.unit}`)
      const a = decodeAnswer(p.req, s.pdu)
      if (a.kind === 'mismatch') return this.outOfStep(a.reason)
      this.settle(null, a.kind === 'exception' ? a.code : undefined, a.kind === 'data' ? a : undefined)
    }
  }

  private onTimeout(): void {
    const p = this.pending
    if (!p) return
    const { state } = this.opts
    state.counters.timeouts++
    // The slave may still answer: no request of this function goes to it until that answer or the bound.
    if (this.opts.framing === 'rtu') state.owed.set(owedKey(p.unit, p.req.fc), p.sentAt + LATE_BOUND_TIMEOUTS * p.timeout)
    this.settle(new ModbusTimeoutError(`no answer from unit ${p.unit} at ${this.opts.where} within ${p.timeout} ms`))
    if (this.opts.closeOnError) this.shut(new LinkDownError(`${this.opts.where}: closed after a timeout, to start again in step`))
  }

  private outOfStep(reason: string): void {
    this.opts.state.counters.framingErrors++
    const err = new ModbusFramingError(`${this.opts.where}: ${reason}; reconnecting`)
    this.buf = Buffer.alloc(0)
    this.settle(err)
    this.shut(err)
  }

  private shut(err: Error): void {
    if (!this.down) this.down = err
    void this.link.close()
  }

  private settle(err: Error | null, exception?: number, data?: Data): void {
    const p = this.pending
    if (!p) return
    this.pending = null
    this.opts.clock.clearTimeout(p.timer)
    const c = this.opts.state.counters
    if (err) return p.reject(err)
    if (exception !== undefined) {
      c.exceptions++
      return p.reject(new ModbusExceptionError(exception))
    }
    c.answers++
    p.resolve(data ?? {})
  }
}
