import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { isFieldgateError } from '../../src/core/index.ts'
import { createStatusServer } from '../../src/status/index.ts'
import { silentLogger } from '../../src/core/index.ts'
import { tempDir } from '../helpers/tmp.ts'
import { baseConfig, readEvents, startServer } from './helpers.ts'

test('with a token file every endpoint but /healthz and the page shell needs the bearer token', { timeout: 10_000 }, async () => {
  const { dir, cleanup } = tempDir()
  const tokenFile = join(dir, 'token')
  writeFileSync(tokenFile, 'tok-123\n')
  const { server, url } = await startServer({ config: { ...baseConfig, token_file: tokenFile } })
  try {
    assert.equal((await fetch(url('/healthz'))).status, 200)
    const shell = await fetch(url('/'))
    assert.equal(shell.status, 200)
    assert.ok(!(await shell.text()).includes('tok-123'))
    for (const p of ['/status', '/metrics', '/events']) {
      const res = await fetch(url(p))
      assert.equal(res.status, 401, p)
      assert.match(res.headers.get('www-authenticate') ?? '', /Bearer/)
    }
    assert.equal((await fetch(url('/status'), { headers: { authorization: 'Bearer wrong' } })).status, 401)
    assert.equal((await fetch(url('/status'), { headers: { authorization: 'Bearer tok-123' } })).status, 200)
    assert.equal((await fetch(url('/metrics?access_token=tok-123'))).status, 200)
    const frames = await readEvents(url('/events?access_token=tok-123'), (f) => f.length > 0)
    assert.match(frames[0] ?? '', /retry:/)
  } finally {
    await server.close()
    cleanup()
  }
})

test('with basic auth the browser is challenged for the page and the right user and password are let in', { timeout: 10_000 }, async () => {
  const { dir, cleanup } = tempDir()
  const pw = join(dir, 'pw')
  writeFileSync(pw, 'open sesame\n')
  const { server, url } = await startServer({ config: { ...baseConfig, basic_auth: { username: 'tech', password_file: pw } } })
  const basic = (u: string, p: string) => ({ authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}` })
  try {
    const page = await fetch(url('/'))
    assert.equal(page.status, 401)
    assert.match(page.headers.get('www-authenticate') ?? '', /^Basic realm="fieldgate"/)
    assert.equal((await fetch(url('/status'), { headers: basic('tech', 'wrong') })).status, 401)
    assert.equal((await fetch(url('/status'), { headers: basic('other', 'open sesame') })).status, 401)
    assert.equal((await fetch(url('/status'), { headers: basic('tech', 'open sesame') })).status, 200)
    assert.equal((await fetch(url('/'), { headers: basic('tech', 'open sesame') })).status, 200)
    assert.equal((await fetch(url('/healthz'))).status, 200)
  } finally {
    await server.close()
    cleanup()
  }
})

test('a missing or empty token file is a coded error naming the key and the file', () => {
  const { dir, cleanup } = tempDir()
  try {
    const empty = join(dir, 'empty')
    writeFileSync(empty, '\n')
    for (const file of [join(dir, 'missing'), empty]) {
      assert.throws(
        () => createStatusServer({ config: { ...baseConfig, token_file: file }, info: { version: '1', gatewayId: 'g', startedAt: 0 }, sources: () => ({}), logger: silentLogger }),
        (err: unknown) => isFieldgateError(err, 'AUTH_FILE') && err.message.includes('status.token_file') && err.message.includes(file),
      )
    }
  } finally {
    cleanup()
  }
})

test('POST /reload is refused unless allowed; when allowed it runs the reload and the page sees the outcome', { timeout: 10_000 }, async () => {
  let calls = 0
  let answer = { ok: false, reason: 'devices[0].port: /dev/ttyUSB9 does not exist' }
  const reload = async () => {
    calls++
    return answer
  }
  const off = await startServer({ reload })
  try {
    const res = await fetch(off.url('/reload'), { method: 'POST', headers: { 'x-fieldgate-reload': '1' } })
    assert.equal(res.status, 403)
    assert.equal(calls, 0)
    assert.equal((await fetch(off.url('/reload'))).status, 405)
  } finally {
    await off.server.close()
  }
  const on = await startServer({ reload, config: { ...baseConfig, allow_reload: true } })
  try {
    assert.equal((await fetch(on.url('/reload'), { method: 'POST' })).status, 400, 'a plain cross-site form post lacks the header')
    let res = await fetch(on.url('/reload'), { method: 'POST', headers: { 'x-fieldgate-reload': '1' } })
    assert.equal(res.status, 422)
    assert.equal(calls, 1)
    let st = (await (await fetch(on.url('/status'))).json()) as { reload: { allowed: boolean; last: { ok: boolean; reason: string; via: string } }; recent: Array<{ state: string }> }
    assert.equal(st.reload.allowed, true)
    assert.deepEqual({ ok: st.reload.last.ok, reason: st.reload.last.reason, via: st.reload.last.via }, { ok: false, reason: answer.reason, via: 'status page' })
    assert.equal(st.recent.at(-1)?.state, 'reload refused')
    answer = { ok: true, reason: '' }
    res = await fetch(on.url('/reload'), { method: 'POST', headers: { 'x-fieldgate-reload': '1' } })
    assert.equal(res.status, 200)
    on.server.reportReload({ ok: false, reason: 'SIGHUP: bad file' })
    st = (await (await fetch(on.url('/status'))).json()) as typeof st
    assert.equal(st.reload.last.via, 'signal')
    assert.equal(st.reload.last.reason, 'SIGHUP: bad file')
  } finally {
    await on.server.close()
  }
})
