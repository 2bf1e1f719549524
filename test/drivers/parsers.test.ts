import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { parseCsvLine } from '../../src/drivers/serial/parsers/csv.ts'
import { parseJsonLine } from '../../src/drivers/serial/parsers/json.ts'
import { parseKvLine } from '../../src/drivers/serial/parsers/kv.ts'
import { nmeaChecksum, parseNmea } from '../../src/drivers/serial/parsers/nmea.ts'
import { regexParser } from '../../src/drivers/serial/parsers/regex.ts'

describe('JSON line parser', () => {
  test('flattens nested objects into dotted keys', () => {
    assert.deepEqual(parseJsonLine('{"t":21.5,"env":{"rh":40,"ok":true}}'), { fields: { t: 21.5, 'env.rh': 40, 'env.ok': true } })
  })
  test('reports non-JSON and non-object lines as garbage', () => {
    assert.deepEqual(parseJsonLine('{"t":'), { error: 'not JSON' })
    assert.deepEqual(parseJsonLine('[1,2]'), { error: 'JSON line is not an object' })
  })
})

describe('CSV parser', () => {
  test('names cells by the configured columns', () => {
    assert.deepEqual(parseCsvLine('21.5, 40,"ok"', ',', ['t', 'rh', 'status']), { fields: { t: '21.5', rh: '40', status: 'ok' } })
  })
  test('uses positions when no columns are configured', () => {
    assert.deepEqual(parseCsvLine('1;2', ';'), { fields: { 0: '1', 1: '2' } })
  })
  test('a line with the wrong number of columns is garbage', () => {
    assert.deepEqual(parseCsvLine('1,2,3', ',', ['a', 'b']), { error: 'expected 2 columns, got 3' })
  })
})

describe('key=value parser', () => {
  test('splits pairs on spaces, commas and semicolons', () => {
    assert.deepEqual(parseKvLine('T=21.5 RH=40,P=1013;x=y', '='), { fields: { T: '21.5', RH: '40', P: '1013', x: 'y' } })
  })
  test('supports another separator such as ":"', () => {
    assert.deepEqual(parseKvLine('temp:3', ':'), { fields: { temp: '3' } })
  })
  test('a token without a separator is garbage', () => {
    assert.ok('error' in (parseKvLine('T=1 noise', '=') ?? {}))
    assert.ok('error' in (parseKvLine('   ', '=') ?? {}))
  })
})

describe('regex parser', () => {
  test('returns named groups', () => {
    const p = regexParser('^T:(?<t>-?[0-9.]+)C H:(?<h>[0-9.]+)%$')
    assert.deepEqual(p('T:-3.5C H:80%'), { fields: { t: '-3.5', h: '80' } })
    assert.deepEqual(p('hello'), { error: 'line does not match pattern' })
  })
  test('refuses a pattern without named groups or one that does not compile, naming the option', () => {
    assert.throws(() => regexParser('([0-9]+)'), /pattern: needs at least one named group/)
    assert.throws(() => regexParser('(?<a>[0-9]'), /pattern: not a valid regular expression/)
  })
})

describe('NMEA 0183 parser', () => {
  // Sentences assembled here with their checksums computed by hand from the XOR rule.
  const gga = 'GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,'
  const rmc = 'GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W'
  test('computes the XOR checksum of the body', () => {
    assert.equal(nmeaChecksum(gga), '47')
    assert.equal(nmeaChecksum(rmc), '6A')
  })
  test('parses GGA position, fix, satellites, HDOP and altitude', () => {
    assert.deepEqual(parseNmea(`$${gga}*47`), {
      fields: { sentence: 'GGA', time: '123519', fix_quality: 1, satellites: 8, hdop: 0.9, alt: 545.4, lat: 48.1173, lon: 11.5166667 },
    })
  })
  test('parses RMC position, speed (knots and km/h) and course, southern/western hemispheres negative', () => {
    const body = 'GNRMC,010203,A,3351.000,S,15112.000,W,010.0,180.0,221126,,'
    const res = parseNmea(`$${body}*${nmeaChecksum(body)}`)
    assert.deepEqual(res, {
      fields: { sentence: 'RMC', time: '010203', valid: true, lat: -33.85, lon: -151.2, speed_kn: 10, speed: 18.52, course: 180, date: '221126' },
    })
  })
  test('a wrong or missing checksum is garbage', () => {
    assert.deepEqual(parseNmea(`$${gga}*48`), { error: 'NMEA checksum mismatch' })
    assert.deepEqual(parseNmea(`$${gga}`), { error: 'not an NMEA sentence with checksum' })
  })
  test('GGA without a fix carries no position; other sentence types are ignored', () => {
    const nofix = 'GPGGA,000001,,,,,0,00,99.9,,M,,M,,'
    const r = parseNmea(`$${nofix}*${nmeaChecksum(nofix)}`)
    assert.ok(r && 'fields' in r && !('lat' in r.fields))
    const gsv = 'GPGSV,1,1,00'
    assert.equal(parseNmea(`$${gsv}*${nmeaChecksum(gsv)}`), null)
  })
  test('proprietary sentences (u-blox $PUBX, MediaTek $PMTK, Garmin $PGRME) and encapsulated !AIVDM are valid but ignored, not garbage; a bad checksum on them still is', () => {
    const pubx = 'PUBX,00,081350.00,4717.113210,N,00833.915187,E,546.589,G3,2.1,2.0,0.007,77.52,0.007,,0.92,1.19,0.77,9,0,0'
    for (const body of [pubx, 'PUBX,04,073731.00,091202,113851.00,1196,15D,1930035,-2660.664,43', 'PMTK001,604,3', 'PGRME,15.0,M,45.0,M,25.0,M']) {
      assert.equal(parseNmea(`$${body}*${nmeaChecksum(body)}`), null, body)
    }
    const ais = 'AIVDM,1,1,,B,177KQJ5000G?tO`K>RA1wUbN0TKH,0'
    assert.equal(parseNmea(`!${ais}*${nmeaChecksum(ais)}`), null)
    const wrong = nmeaChecksum(pubx) === '00' ? '01' : '00'
    assert.deepEqual(parseNmea(`$${pubx}*${wrong}`), { error: 'NMEA checksum mismatch' })
  })
})
