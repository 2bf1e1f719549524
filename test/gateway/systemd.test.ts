import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { test } from 'node:test'
import { startGateway } from '../helpers/gateway.ts'
import { freePort } from '../helpers/ports.ts'
import { tempDir, waitFor } from '../helpers/tmp.ts'

/**
 * A stand-in for systemd's notification socket: Python's AF_UNIX datagram server (Node has none) prints
 * each message on one line with the time it arrived, and closes the barrier fds systemd-notify sends
 * (it waits until the receiver has closed them, as systemd does).
 */
const NOTIFY_SERVER = `
import socket, sys, time, os
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("listening", flush=True)
end = time.time() + 60
while time.time() < end:
    msg, fds, flags, addr = socket.recv_fds(s, 4096, 8)
    for fd in fds: os.close(fd)
    print(repr(time.time()) + " " + msg.decode().replace("\\n", " "), flush=True)
`

function notifySocket(path: string): Promise<{ proc: ChildProcess; lines: string[] }> {
  const proc = spawn('/usr/bin/python3', ['-c', NOTIFY_SERVER, path], { stdio: ['ignore', 'pipe', 'inherit'] })
  const lines: string[] = []
  let buf = ''
  proc.stdout?.on('data', (d: Buffer) => {
    buf += d.toString()
    const parts = buf.split('\n')
    buf = parts.pop() ?? ''
    lines.push(...parts)
  })
  return waitFor(() => lines.includes('listening'), 5000, 20, 'notify socket').then(() => ({ proc, lines }))
}

function accepts(port: number): Promise<boolean> {
  return new Promise((r) => {
    const s = createServer()
    s.once('error', () => r(true))
    s.listen({ port, host: '127.0.0.1', exclusive: true }, () => s.close(() => r(false)))
  })
}

const cleanEnv = (): NodeJS.ProcessEnv => Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FIELDGATE_')))

test('under systemd (NOTIFY_SOCKET) the gateway sends READY=1 once its listeners are open, then WATCHDOG=1 at half the interval, and STOPPING=1', { timeout: 60_000 }, async () => {
  const { dir, cleanup } = tempDir()
  const sock = join(dir, 'notify.sock')
  const ns = await notifySocket(sock)
  const [mqtt, status] = [await freePort(), await freePort()]
  try {
    const gw = await startGateway(dir, `[storage]\ndata_dir = "${join(dir, 'data')}"\n[status]\nport = ${status}\n[[broker.listeners]]\nport = ${mqtt}\n[[devices]]\nid = "d"\ndriver = "simulated"\n`, {
      env: { ...cleanEnv(), NOTIFY_SOCKET: sock, WATCHDOG_USEC: '400000' },
    })
    try {
      const ready = await waitFor(() => ns.lines.find((l) => l.includes('READY=1')), 20_000, 10, 'READY=1')
      // Everything was open when READY=1 arrived.
      assert.ok(await accepts(mqtt), 'MQTT listener not open at READY=1')
      assert.ok(await accepts(status), 'status page not open at READY=1')
      assert.match(ready, new RegExp(`MAINPID=${gw.proc.pid}`))
      assert.ok(gw.log.join('').indexOf('fieldgate running') >= 0)
      const t0 = Number(ready.split(' ')[0])
      await waitFor(() => ns.lines.filter((l) => l.includes('WATCHDOG=1')).length >= 5, 10_000, 20, 'five watchdog pings')
      const pings = ns.lines.filter((l) => l.includes('WATCHDOG=1')).map((l) => Number(l.split(' ')[0]))
      assert.ok(pings.every((t) => t > t0), 'a watchdog ping came before READY=1')
      const exit = await gw.kill('SIGTERM')
      assert.equal(exit.code, 0)
      await waitFor(() => ns.lines.some((l) => l.includes('STOPPING=1')), 5000, 20, 'STOPPING=1')
    } finally {
      await gw.kill('SIGKILL')
    }
  } finally {
    ns.proc.kill()
    cleanup()
  }
})

test('a failed start never sends READY=1', { timeout: 60_000 }, async () => {
  const { dir, cleanup } = tempDir()
  const sock = join(dir, 'notify.sock')
  const ns = await notifySocket(sock)
  const mqtt = await freePort()
  const busy = createServer()
  await new Promise<void>((r) => busy.listen({ port: mqtt, host: '127.0.0.1' }, r))
  try {
    const gw = await startGateway(dir, `[storage]\ndata_dir = "${join(dir, 'data')}"\n[status]\nenabled = false\n[[broker.listeners]]\nport = ${mqtt}\n`, { env: { ...cleanEnv(), NOTIFY_SOCKET: sock } })
    const exit = await gw.exited
    assert.notEqual(exit.code, 0)
    assert.equal(ns.lines.filter((l) => l.includes('READY=1')).length, 0)
  } finally {
    busy.close()
    ns.proc.kill()
    cleanup()
  }
})
