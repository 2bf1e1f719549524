import assert from 'node:assert/strict'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { after, before, test } from 'node:test'
import { startFaultProxy } from '../helpers/fault-proxy.ts'
import { waitFor } from '../helpers/tmp.ts'
import { sleep } from './fixtures.ts'

let echo: Server
let echoPort = 0
const serverSockets = new Set<Socket>()

before(async () => {
  echo = createServer((s) => {
    serverSockets.add(s)
    s.on('close', () => serverSockets.delete(s))
    s.on('error', () => undefined)
    s.pipe(s)
  })
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', () => resolve()))
  const a = echo.address()
  echoPort = typeof a === 'object' && a ? a.port : 0
})
after(async () => {
  for (const s of serverSockets) s.destroy()
  await new Promise<void>((resolve) => echo.close(() => resolve()))
})

async function open(port: number): Promise<{ s: Socket; data: () => string; closed: () => boolean }> {
  const s = connect({ port, host: '127.0.0.1' })
  let buf = ''
  let closed = false
  s.on('data', (d: Buffer) => (buf += d.toString()))
  s.on('close', () => (closed = true))
  s.on('error', () => undefined)
  await new Promise<void>((resolve) => s.once('connect', () => resolve()))
  return { s, data: () => buf, closed: () => closed }
}

test('the fault proxy passes bytes both ways until cut, and cut closes the client side', { timeout: 10_000 }, async () => {
  const p = await startFaultProxy(echoPort)
  try {
    const c = await open(p.port)
    c.s.write('hello')
    await waitFor(() => c.data() === 'hello', 2000)
    assert.ok(p.lastUpstreamByteAt() > 0)
    p.cut()
    await waitFor(() => c.closed(), 2000)
  } finally {
    await p.close()
  }
})

test('a black hole drops bytes both ways but keeps both sockets open; restore drops the broken connection', { timeout: 10_000 }, async () => {
  const p = await startFaultProxy(echoPort)
  try {
    const c = await open(p.port)
    await waitFor(() => serverSockets.size > 0, 2000)
    p.blackhole()
    c.s.write('lost')
    await sleep(200)
    assert.equal(c.data(), '')
    assert.equal(c.closed(), false, 'the client sees no close')
    assert.equal(p.connections(), 1)
    c.s.destroy()
    await sleep(100)
    assert.ok(serverSockets.size > 0, 'the server does not learn that the client went away')
    const c2 = await open(p.port)
    c2.s.write('also lost')
    await sleep(150)
    assert.equal(c2.data(), '', 'new connections fall into the hole too')
    p.restore()
    await waitFor(() => c2.closed(), 2000)
    const c3 = await open(p.port)
    c3.s.write('back')
    await waitFor(() => c3.data() === 'back', 2000)
    c3.s.destroy()
  } finally {
    await p.close()
  }
})

test('down refuses new connections until restored', { timeout: 10_000 }, async () => {
  const p = await startFaultProxy(echoPort)
  try {
    p.down()
    const c = await open(p.port)
    await waitFor(() => c.closed(), 2000)
    p.restore()
    const c2 = await open(p.port)
    c2.s.write('ok')
    await waitFor(() => c2.data() === 'ok', 2000)
    c2.s.destroy()
  } finally {
    await p.close()
  }
})

test('delay holds bytes back and throttle paces them, keeping their order', { timeout: 10_000 }, async () => {
  const p = await startFaultProxy(echoPort)
  try {
    const c = await open(p.port)
    p.delay(150)
    const t0 = Date.now()
    c.s.write('slow')
    await waitFor(() => c.data() === 'slow', 3000)
    assert.ok(Date.now() - t0 >= 290, 'delayed on the way there and back')
    p.delay(0)
    p.throttle(10_000)
    const big = Array.from({ length: 500 }, (_, i) => String(i % 10)).join('').repeat(4)
    const t1 = Date.now()
    c.s.write(big)
    await waitFor(() => c.data() === 'slow' + big, 5000)
    assert.ok(Date.now() - t1 >= 190, '2000 bytes at 10 kB/s each way take at least 0.2 s')
    c.s.destroy()
  } finally {
    await p.close()
  }
})
