import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { commandTopics, formatReading, parseCommand, topicFor } from '../../src/drivers/payload.ts'

describe('topics and payloads', () => {
  test('substitutes gateway, device and point into the topic template', () => {
    assert.equal(topicFor('fieldgate/{gateway}/{device}/{point}', 'gw1', 'meter', 'kwh'), 'fieldgate/gw1/meter/kwh')
  })
  test('derives the command filter and extracts the point from a command topic', () => {
    const c = commandTopics('site/{gateway}/{device}/pt-{point}', 'gw', 'plc')
    assert.equal(c.filter, 'site/gw/plc/+/set')
    assert.equal(c.pointOf('site/gw/plc/pt-valve/set'), 'valve')
    assert.equal(c.pointOf('site/gw/plc/valve/set'), null)
    assert.equal(c.pointOf('site/gw/plc/pt-valve/set/result'), null)
  })
  test('formats JSON {v,u,ts,q}, errors with the last good value and the reason, or the raw value', () => {
    assert.equal(formatReading({ device: 'd', point: 'p', value: 21.5, unit: '°C', ts: 7, quality: 'good' }, 'json').toString(), '{"v":21.5,"u":"°C","ts":7,"q":"good"}')
    assert.equal(formatReading({ device: 'd', point: 'p', value: 0, ts: 8, quality: 'error', error: 'timeout' }, 'json', 21).toString(), '{"v":21,"ts":8,"q":"error","err":"timeout"}')
    assert.equal(formatReading({ device: 'd', point: 'p', value: true, ts: 7, quality: 'good' }, 'raw').toString(), 'true')
  })
  test('reads command values from JSON, {"v":…} objects and plain text', () => {
    assert.equal(parseCommand(Buffer.from('21.5')), 21.5)
    assert.equal(parseCommand(Buffer.from('{"v":true}')), true)
    assert.equal(parseCommand(Buffer.from('{"value":"on"}')), 'on')
    assert.equal(parseCommand(Buffer.from('hello')), 'hello')
    assert.equal(parseCommand(Buffer.from('  ')), undefined)
  })
})
