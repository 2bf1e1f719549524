import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import { FakeClock } from '../../src/core/index.ts'
import type { ByteLink } from '../../src/drivers/modbus/byte-link.ts'
import { FramedTransport, LinkState } from '../../src/drivers/modbus/framed-transport.ts'
import { mbapFrame, scanMbap } from '../../src/drivers/modbus/mbap.ts'
import { decodeAnswer, encodeRequest } from '../../src/drivers/modbus/pdu.ts'
import { crc16, matchRtu, nextRtuFrame, rtuFrame } from '../../src/drivers/modbus/rtu-frame.ts'

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex')

/** A register-read answer PDU built by hand from the spec, independent of the code under test. */
function readAnswer(fcode: 3 | 4, words: number[]): Buffer {
  const b = Buffer.alloc(2 + 2 * words.length)
  b[0] = fcode
  b[1] = 2 * words.length
  words.forEach((w, i) => b.writeUInt16BE(w, 2 + 2 * i))
  return b
}

describe('Modbus framing (pure)', () => {
  test('byte fixtures: RTU request and answer with CRC, MBAP header, write echo', () => {
    // Modbus over Serial Line V1.02 example frame: read 10 holding registers of unit 1 from 0.
    assert.deepEqual(rtuFrame(1, encodeRequest({ fc: 3, address: 0, count: 10 })), hex('01 03 0000 000A C5CD'))
    assert.equal(crc16(hex('01 03 02 0102')), 0x1538)
    const ans = nextRtuFrame(hex('01 03 02 0102 3815'))
    assert.deepEqual(ans && matchRtu(ans.frame, 1, { fc: 3, address: 7, count: 1 }), { kind: 'answer', answer: { kind: 'data', words: [0x0102] } })
    assert.deepEqual(mbapFrame(0x1234, 9, encodeRequest({ fc: 4, address: 1, count: 2 })), hex('1234 0000 0006 09 04 0001 0002'))
    assert.deepEqual(decodeAnswer({ fc: 6, address: 5, value: 7 }, hex('06 0005 0007')), { kind: 'data' })
    assert.equal(decodeAnswer({ fc: 6, address: 5, value: 7 }, hex('06 0005 0008')).kind, 'mismatch')
    assert.deepEqual(decodeAnswer({ fc: 16, address: 5, values: [1, 2] }, hex('10 0005 0002')), { kind: 'data' })
    assert.deepEqual(decodeAnswer({ fc: 1, address: 0, count: 10 }, hex('01 02 0503')), { kind: 'data', bits: [true, false, true, false, false, false, false, false, true, true] })
    assert.deepEqual(decodeAnswer({ fc: 3, address: 0, count: 1 }, hex('83 02')), { kind: 'exception', code: 2 })
  })

  test('an RTU answer is taken only for its own request: unit, function, length and byte count must agree', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 247 }),
        fc.constantFrom(3 as const, 4 as const),
        fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 1, maxLength: 20 }),
        fc.integer({ min: 1, max: 247 }),
        fc.integer({ min: 1, max: 20 }),
        (unit, fcode, words, askUnit, askCount) => {
          const frame = rtuFrame(unit, readAnswer(fcode, words))
          const found = nextRtuFrame(frame)
          assert.ok(found && found.end === frame.length && found.skipped === 0)
          const m = matchRtu(found.frame, askUnit, { fc: fcode, address: 0, count: askCount })
          const ours = askUnit === unit && askCount === words.length
          assert.deepEqual(m.kind, ours ? 'answer' : 'foreign')
          if (ours) assert.deepEqual(m, { kind: 'answer', answer: { kind: 'data', words } })
          // No strict prefix is ever an answer to the request.
          for (let cut = 0; cut < frame.length; cut++) {
            const f = nextRtuFrame(frame.subarray(0, cut))
            assert.ok(!f || matchRtu(f.frame, unit, { fc: fcode, address: 0, count: words.length }).kind === 'foreign')
          }
        },
      ),
      { seed: 11, numRuns: 300 },
    )
  })

  test('any bytes either hold no frame or a frame with a good CRC; scanning never throws', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const buf = Buffer.from(bytes)
        const f = nextRtuFrame(buf)
        if (f) assert.equal(buf.readUInt16LE(f.end - 2), crc16(buf.subarray(f.skipped, f.end - 2)))
        const s = scanMbap(buf)
        if (s.kind === 'frame') assert.equal(s.end, 6 + buf.readUInt16BE(4))
      }),
      { seed: 12, numRuns: 2000 },
    )
  })

  test('MBAP: a header with another protocol id or an impossible length means out of step', () => {
    assert.deepEqual(scanMbap(hex('0001 0000 00')), { kind: 'incomplete' })
    assert.equal(scanMbap(hex('0001 0001 0005 01 03 02 0000')).kind, 'bad')
    assert.equal(scanMbap(hex('0001 0000 0002 01 03')).kind, 'bad')
    assert.equal(scanMbap(hex('0001 0000 00FF 01 03')).kind, 'bad')
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 255 }), fc.uint8Array({ minLength: 2, maxLength: 253 }), (tid, unit, pdu) => {
        const s = scanMbap(mbapFrame(tid, unit, Buffer.from(pdu)))
        assert.deepEqual(s, { kind: 'frame', tid, unit, pdu: Buffer.from(pdu), end: 7 + pdu.length })
      }),
      { seed: 13, numRuns: 300 },
    )
  })
})

/** A byte pipe the test feeds and reads. */
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
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r))
}

function rtuSetup(): { link: FakeLink; clock: FakeClock; state: LinkState; t: FramedTransport } {
  const link = new FakeLink()
  const clock = new FakeClock(1000)
  const state = new LinkState()
  const t = new FramedTransport(link, { framing: 'rtu', frameGap: 4, closeOnError: false, clock, state, where: 'ttyX' })
  return { link, clock, state, t }
}

describe('FramedTransport on RTU (fake link, fake clock)', () => {
  test('after a timeout, the next request to that unit waits for its late answer, which is discarded and counted', async () => {
    const { link, clock, state, t } = rtuSetup()
    const first = t.readRegisters(1, 'holding', 0, 2, 100)
    await flush()
    assert.equal(link.writes.length, 1)
    clock.advance(100)
    await assert.rejects(first, /within 100 ms/)
    const second = t.readRegisters(1, 'holding', 100, 2, 100)
    await flush()
    clock.advance(30)
    await flush()
    assert.equal(link.writes.length, 1, 'not sent while the late answer may still come')
    link.feed(rtuFrame(1, readAnswer(3, [11, 12])))
    clock.advance(3)
    await flush()
    assert.equal(link.writes.length, 1, 'not sent before 3.5 characters of silence after it')
    clock.advance(1)
    await flush()
    assert.equal(link.writes.length, 2)
    link.feed(rtuFrame(1, readAnswer(3, [500, 501])))
    assert.deepEqual(await second, [500, 501])
    assert.equal(state.counters.lateAnswers, 1)
    assert.equal(state.counters.discardedFrames, 1)
  })

  test('after a timeout, another unit and another function are asked at once; the same function of a silent unit only after the late-answer bound', async () => {
    const { link, clock, t } = rtuSetup()
    const first = t.readRegisters(1, 'holding', 0, 2, 100)
    await flush()
    clock.advance(100)
    await assert.rejects(first)
    const other = t.readRegisters(2, 'holding', 0, 1, 100)
    await flush()
    assert.equal(link.writes.length, 2, 'unit 2 does not wait for unit 1')
    link.feed(rtuFrame(2, readAnswer(3, [7])))
    assert.deepEqual(await other, [7])
    const input = t.readRegisters(1, 'input', 0, 2, 100)
    await flush()
    clock.advance(4) // 3.5 characters of silence after unit 2's answer
    await flush()
    assert.equal(link.writes.length, 3, 'a function whose answer cannot be taken for the late one goes at once')
    link.feed(rtuFrame(1, readAnswer(4, [5, 6])))
    assert.deepEqual(await input, [5, 6])
    const again = t.readRegisters(1, 'holding', 0, 2, 100)
    await flush()
    // The first request went out at 1000 ms; its answer may come until 1000 + 5 timeouts.
    clock.advance(1495 - clock.now())
    await flush()
    assert.equal(link.writes.length, 3)
    clock.advance(10)
    await flush()
    assert.equal(link.writes.length, 4, 'sent once the late-answer bound has passed')
    link.feed(rtuFrame(1, readAnswer(3, [1, 2])))
    assert.deepEqual(await again, [1, 2])
  })

  test('an answer whose data holds a whole CRC-valid frame is taken whole, not cut at the embedded frame', async () => {
    const { link, state, t } = rtuSetup()
    const inner = rtuFrame(2, hex('03 02 0007'))
    const data = Buffer.concat([hex('00'), inner])
    const words: number[] = []
    for (let i = 0; i < data.length; i += 2) words.push(data.readUInt16BE(i))
    let got: number[] | null = null
    const p = t.readRegisters(1, 'holding', 0, words.length, 100).then((w) => (got = w))
    await flush()
    for (const b of rtuFrame(1, readAnswer(3, words))) link.feed(Buffer.from([b]))
    await flush()
    assert.deepEqual(got, words)
    await p
    assert.equal(state.counters.discardedFrames, 0)
  })

  test('frames from other units, other shapes and noise before the answer are skipped; the answer is found', () => {
    return fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 12 }), fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 1, maxLength: 10 }), async (noise, words) => {
        const { link, state, t } = rtuSetup()
        const p = t.readRegisters(5, 'input', 3, words.length, 100)
        await flush()
        const stray = [rtuFrame(6, readAnswer(4, words)), rtuFrame(5, readAnswer(4, [...words, 1])), rtuFrame(5, hex('83 02'))]
        const answer = rtuFrame(5, readAnswer(4, words))
        const stream = Buffer.concat([...stray, Buffer.from(noise), answer])
        // Delivered in chunks of 5 bytes, as a serial port does.
        for (let i = 0; i < stream.length; i += 5) link.feed(stream.subarray(i, i + 5))
        assert.deepEqual(await p, words)
        assert.ok(state.counters.discardedFrames >= 3)
      }),
      { seed: 14, numRuns: 200 },
    )
  })
})

describe('FramedTransport on TCP (fake link, fake clock)', () => {
  function tcpSetup(): { link: FakeLink; state: LinkState; t: FramedTransport } {
    const link = new FakeLink()
    const state = new LinkState()
    const t = new FramedTransport(link, { framing: 'mbap', frameGap: 0, closeOnError: true, clock: new FakeClock(), state, where: 'h:502' })
    return { link, state, t }
  }

  test('the answer must carry the request’s transaction id; a wrong one closes the connection', async () => {
    const { link, state, t } = tcpSetup()
    const p = t.readRegisters(1, 'holding', 0, 1, 100)
    await flush()
    const tid = (link.writes[0] as Buffer).readUInt16BE(0)
    link.feed(mbapFrame(tid + 1, 1, readAnswer(3, [9])))
    await assert.rejects(p, /transaction id/)
    assert.equal(t.isOpen, false)
    assert.equal(link.isOpen, false)
    assert.equal(state.counters.framingErrors, 1)
  })

  test('an answer split across reads is reassembled; the wrong unit or length closes the connection', async () => {
    const { link, t } = tcpSetup()
    const p = t.readRegisters(1, 'holding', 0, 2, 100)
    await flush()
    const frame = mbapFrame(1, 1, readAnswer(3, [1, 2]))
    for (const b of frame) link.feed(Buffer.from([b]))
    assert.deepEqual(await p, [1, 2])
    const q = t.readRegisters(1, 'holding', 0, 2, 100)
    await flush()
    link.feed(mbapFrame(2, 1, readAnswer(3, [1])))
    await assert.rejects(q, /bytes where|byte count/)
    assert.equal(t.isOpen, false)
  })

  test('exception answers reject with the Modbus code', async () => {
    const { link, t } = tcpSetup()
    const p = t.writeRegisters(3, 10, [1], 100, 16)
    await flush()
    assert.equal((link.writes[0] as Buffer)[7], 16, 'FC 16 asked for one register')
    link.feed(mbapFrame(1, 3, hex('90 02')))
    await assert.rejects(p, (e: Error & { modbusCode?: number }) => e.modbusCode === 2)
    assert.equal(t.isOpen, true, 'an exception is an answer: the stream is in step')
  })
})

