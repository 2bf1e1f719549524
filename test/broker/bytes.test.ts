import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { captureLogger } from '../helpers/logger.ts'
import { waitFor } from '../helpers/tmp.ts'
import { collect, connectClient, endClient, rawSocket, sleep, startBroker, type TestBroker } from './helpers.ts'

/** Records log lines so tests can check that the log names the client and the reason. */
const recorded = captureLogger()
const lines = recorded.lines

let tb: TestBroker
before(async () => {
  tb = await startBroker({ logger: recorded, limits: { max_packet_size: 1024, connect_timeout: 300 } })
})
after(async () => {
  await tb.close()
})

function str(s: string | Buffer): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s) : s
  return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b])
}

function packet(first: number, body: Buffer): Buffer {
  const len: number[] = []
  let n = body.length
  do {
    let byte = n % 128
    n = Math.floor(n / 128)
    if (n > 0) byte |= 0x80
    len.push(byte)
  } while (n > 0)
  return Buffer.concat([Buffer.from([first, ...len]), body])
}

function connect(clientId: string | Buffer, version = 4, flags = 0x02): Buffer {
  const props = version === 5 ? Buffer.from([0]) : Buffer.alloc(0)
  return packet(0x10, Buffer.concat([str('MQTT'), Buffer.from([version, flags, 0, 60]), props, str(clientId)]))
}

function publish(topic: string | Buffer, payload: string, qos = 0, id = 1, v5 = false, dup = false): Buffer {
  const pid = qos > 0 ? Buffer.from([id >> 8, id & 0xff]) : Buffer.alloc(0)
  return packet(0x30 | (qos << 1) | (dup ? 8 : 0), Buffer.concat([str(topic), pid, v5 ? Buffer.from([0]) : Buffer.alloc(0), Buffer.from(payload)]))
}

/** Opens a raw client, runs `send`, and resolves with everything received once the broker closes the socket. */
async function expectClosed(send: (write: (b: Buffer) => void) => void, waitMs = 3000): Promise<Buffer> {
  const r = await rawSocket(tb.port)
  send((b) => r.socket.write(b))
  const closed = await Promise.race([r.closed.then(() => true), sleep(waitMs).then(() => false)])
  r.socket.destroy()
  assert.equal(closed, true, 'the broker closed the connection')
  return r.data()
}

/** A well-behaved client still gets service after each bad one. */
async function assertServiceOk(): Promise<void> {
  const c = await connectClient(tb.port, { protocolVersion: 4 })
  const got = collect(c)
  await c.subscribeAsync('health/check', { qos: 1 })
  await c.publishAsync('health/check', 'ok', { qos: 1 })
  await waitFor(() => got.length === 1, 3000, 10, 'echo')
  await endClient(c)
}

test('a first packet other than CONNECT closes the connection', { timeout: 10_000 }, async () => {
  const data = await expectClosed((w) => w(publish('a/b', 'early')))
  assert.equal(data.length, 0)
  await assertServiceOk()
})

test('a second CONNECT closes the connection and the log names the client and reason', { timeout: 10_000 }, async () => {
  lines.length = 0
  const data = await expectClosed((w) => {
    w(connect('twice'))
    setTimeout(() => w(connect('twice')), 50)
  })
  assert.deepEqual([...data.subarray(0, 4)], [0x20, 2, 0, 0])
  assert.ok(lines.some((l) => l.obj.clientId === 'twice' && /second CONNECT/.test(String(l.obj.reason))))
  await assertServiceOk()
})

test('a v5 client sending a second CONNECT gets DISCONNECT 0x82 (protocol error)', { timeout: 10_000 }, async () => {
  const data = await expectClosed((w) => {
    w(connect('twice5', 5))
    setTimeout(() => w(connect('twice5', 5)), 50)
  })
  const disc = data.indexOf(0xe0, 4)
  assert.ok(disc > 0, 'DISCONNECT sent')
  assert.equal(data[disc + 2], 0x82)
})

test('reserved flag bits close the connection', { timeout: 10_000 }, async () => {
  // SUBSCRIBE must have flags 0b0010 [MQTT-3.8.1-1]
  await expectClosed((w) => {
    w(connect('flags1'))
    w(packet(0x80, Buffer.concat([Buffer.from([0, 1]), str('a'), Buffer.from([0])])))
  })
  // the CONNECT reserved flag must be 0 [MQTT-3.1.2-3]
  await expectClosed((w) => w(connect('flags2', 4, 0x03)))
  await assertServiceOk()
})

test('an unsupported protocol level gets CONNACK 0x01 and is closed', { timeout: 10_000 }, async () => {
  const data = await expectClosed((w) => w(connect('level9', 9)))
  assert.deepEqual([...data.subarray(0, 4)], [0x20, 2, 0, 1])
})

test('a 3.1.1 client with an empty id and no clean session gets CONNACK 0x02', { timeout: 10_000 }, async () => {
  const data = await expectClosed((w) => w(connect('', 4, 0x00)))
  assert.deepEqual([...data.subarray(0, 4)], [0x20, 2, 0, 2])
})

test('invalid UTF-8 in a topic name closes the connection', { timeout: 10_000 }, async () => {
  lines.length = 0
  await expectClosed((w) => {
    w(connect('utf8'))
    w(publish(Buffer.from([0x61, 0xff, 0xfe]), 'x'))
  })
  assert.ok(lines.some((l) => l.obj.clientId === 'utf8'))
  await assertServiceOk()
})

test('DUP on a QoS 0 PUBLISH closes the connection', { timeout: 10_000 }, async () => {
  await expectClosed((w) => {
    w(connect('dup0'))
    w(publish('a/b', 'x', 0, 0, false, true))
  })
  await assertServiceOk()
})

test('a wildcard in a topic name closes the connection', { timeout: 10_000 }, async () => {
  await expectClosed((w) => {
    w(connect('wild'))
    w(publish('a/+/b', 'x'))
  })
})

test('a reused QoS 2 packet id before PUBREL closes the connection', { timeout: 10_000 }, async () => {
  const data = await expectClosed((w) => {
    w(connect('reuse'))
    w(publish('reuse/t', 'one', 2, 7))
    setTimeout(() => w(publish('reuse/t', 'two', 2, 7)), 50)
  })
  // CONNACK then PUBREC for id 7, then close
  assert.deepEqual([...data.subarray(4, 8)], [0x50, 2, 0, 7])
  await assertServiceOk()
})

test('a QoS 2 resend with DUP set gets PUBREC again and is not delivered twice', { timeout: 10_000 }, async () => {
  const sub = await connectClient(tb.port, { protocolVersion: 4 })
  const got = collect(sub)
  await sub.subscribeAsync('dup2/t', { qos: 2 })
  const r = await rawSocket(tb.port)
  r.socket.write(connect('dup2'))
  r.socket.write(publish('dup2/t', 'once', 2, 9))
  r.socket.write(publish('dup2/t', 'once', 2, 9, false, true))
  await waitFor(() => r.data().length >= 12, 3000, 10, 'two PUBRECs')
  r.socket.write(packet(0x62, Buffer.from([0, 9])))
  await waitFor(() => r.data().length >= 16, 3000, 10, 'PUBCOMP')
  assert.deepEqual([...r.data().subarray(12, 16)], [0x70, 2, 0, 9])
  await sleep(100)
  assert.equal(got.length, 1)
  r.socket.destroy()
  await endClient(sub)
})

test('an oversized packet is refused as soon as its length is known', { timeout: 10_000 }, async () => {
  const data = await expectClosed((w) => {
    w(connect('big5', 5))
    // after CONNACK, declare 10 MB but send only the header: the broker must not wait for the body
    setTimeout(() => w(Buffer.from([0x30, 0x80, 0x80, 0x80, 0x05])), 100)
  })
  const disc = data.indexOf(0xe0, 4)
  assert.ok(disc > 0, 'DISCONNECT sent')
  assert.equal(data[disc + 2], 0x95)
  const hits = (tb.broker.status().details as { limitHits: Record<string, number> }).limitHits
  assert.ok((hits.packet_size ?? 0) >= 1)
  await assertServiceOk()
})

test('max_packet_size counts the whole packet: exactly the limit passes, one byte more is refused', { timeout: 10_000 }, async () => {
  const sub = await connectClient(tb.port, { protocolVersion: 4 })
  const got = collect(sub)
  await sub.subscribeAsync('size/+')
  const fits = publish('size/a', 'x'.repeat(1024 - 3 - 2 - 6)) // 1 type byte + 2 length bytes + topic + payload
  assert.equal(fits.length, 1024)
  const r = await rawSocket(tb.port)
  r.socket.write(connect('size-ok'))
  r.socket.write(fits)
  await waitFor(() => got.length === 1, 3000, 10, 'the 1024-byte packet')
  r.socket.write(publish('size/b', 'x'.repeat(1024 - 3 - 2 - 6 + 1)))
  await r.closed
  await endClient(sub)
})

test('a socket that never sends CONNECT is closed after connect_timeout', { timeout: 10_000 }, async () => {
  const r = await rawSocket(tb.port)
  const t0 = Date.now()
  await r.closed
  assert.ok(Date.now() - t0 >= 250)
  const hits = (tb.broker.status().details as { limitHits: Record<string, number> }).limitHits
  assert.ok((hits.connect_timeout ?? 0) >= 1)
})

test('a truncated remaining length (malformed variable byte integer) closes the connection', { timeout: 10_000 }, async () => {
  await expectClosed((w) => {
    w(connect('varint'))
    w(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]))
  })
  await assertServiceOk()
})
