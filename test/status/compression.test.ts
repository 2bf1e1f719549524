import assert from 'node:assert/strict'
import { request } from 'node:http'
import { test } from 'node:test'
import { gunzipSync } from 'node:zlib'
import { acceptsGzip } from '../../src/status/http.ts'
import { PAGE_HTML } from '../../src/status/page.ts'
import { PAGE } from '../../src/status/server.ts'
import { startServer } from './helpers.ts'

/** A plain HTTP GET that hands back the bytes as sent (fetch would decompress them). */
function get(url: string, headers: Record<string, string>): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}

test('the page is sent gzipped to a client that accepts gzip, the bytes compressed once at start, and plain to one that does not', { timeout: 10_000 }, async () => {
  const { server, url } = await startServer()
  try {
    const gz = await get(url('/'), { 'accept-encoding': 'gzip, deflate, br' })
    assert.equal(gz.status, 200)
    assert.equal(gz.headers['content-encoding'], 'gzip')
    assert.equal(gz.headers.vary, 'accept-encoding')
    assert.equal(Number(gz.headers['content-length']), gz.body.length)
    assert.equal(gunzipSync(gz.body).toString('utf8'), PAGE_HTML)
    assert.ok(gz.body.length < Buffer.byteLength(PAGE_HTML) / 2, `gzip ${gz.body.length} B of ${Buffer.byteLength(PAGE_HTML)} B`)
    assert.match(String(gz.headers['content-security-policy']), /default-src 'none'/)
    // The buffer made when the module loaded, not a fresh compression per request.
    assert.ok(gz.body.equals(PAGE.gzip))
    const again = await get(url('/'), { 'accept-encoding': 'gzip' })
    assert.ok(again.body.equals(gz.body))

    const refusing: Array<Record<string, string>> = [{}, { 'accept-encoding': 'identity' }, { 'accept-encoding': 'gzip;q=0, br' }]
    for (const headers of refusing) {
      const plain = await get(url('/'), headers)
      assert.equal(plain.status, 200)
      assert.equal(plain.headers['content-encoding'], undefined, JSON.stringify(headers))
      assert.equal(plain.headers.vary, 'accept-encoding', 'a cache must not hand the gzip form to this client')
      assert.equal(plain.body.toString('utf8'), PAGE_HTML)
      assert.equal(Number(plain.headers['content-length']), plain.body.length)
    }
  } finally {
    await server.close()
  }
})

test('Accept-Encoding admits gzip only with a q above 0, by name or by *', () => {
  const cases: Array<[string | undefined, boolean]> = [
    [undefined, false],
    ['', false],
    ['gzip', true],
    ['GZIP', true],
    ['deflate, gzip;q=0.5', true],
    ['x-gzip', true],
    ['gzip;q=0', false],
    ['gzip; q=0.0, br', false],
    ['br, deflate', false],
    ['*', true],
    ['*;q=0', false],
    ['gzip;q=0, *', false],
    ['identity', false],
  ]
  for (const [header, want] of cases) assert.equal(acceptsGzip(header), want, String(header))
})
