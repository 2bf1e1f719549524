import assert from 'node:assert/strict'
import { test } from 'node:test'
import { validateConfig } from '../../src/config/index.ts'
import { planReload } from '../../src/gateway/reload-plan.ts'

const base = {
  gateway: { id: 'gw' },
  broker: { listeners: [{ port: 21883 }] },
  uplinks: [
    { name: 'cloud', url: 'mqtt://127.0.0.1:21884' },
    { name: 'backup', url: 'mqtt://127.0.0.1:21885' },
  ],
  devices: [
    { id: 'a', driver: 'simulated' },
    { id: 'b', driver: 'simulated' },
  ],
}

const with_ = (patch: (c: typeof base) => void) => {
  const c = structuredClone(base)
  patch(c)
  return validateConfig(c)
}

test('an identical config plans nothing', () => {
  const p = planReload(validateConfig(base), validateConfig(structuredClone(base)))
  assert.deepEqual(p, { uplinksAdded: [], uplinksRemoved: [], uplinksChanged: [], devicesChanged: [], listenersChanged: false, logLevel: null, refused: [] })
})

test('only the uplinks, devices and listeners that changed are planned for a restart', () => {
  const next = with_((c) => {
    c.uplinks[0] = { name: 'cloud', url: 'mqtt://127.0.0.1:21999' }
    c.uplinks.splice(1, 1, { name: 'third', url: 'mqtt://127.0.0.1:21886' })
    c.devices[1] = { id: 'b', driver: 'simulated', poll_interval: '5s' } as (typeof c.devices)[number]
    c.broker.listeners[0] = { port: 21990 }
  })
  const p = planReload(validateConfig(base), next)
  assert.deepEqual(p.uplinksChanged, ['cloud'])
  assert.deepEqual(p.uplinksAdded, ['third'])
  assert.deepEqual(p.uplinksRemoved, ['backup'])
  assert.deepEqual(p.devicesChanged, ['b'])
  assert.equal(p.listenersChanged, true)
  assert.deepEqual(p.refused, [])
})

test('changes that need a restart are refused with the key that changed', () => {
  const next = with_((c) => {
    c.gateway.id = 'other'
    ;(c as Record<string, unknown>).storage = { data_dir: '/var/lib/elsewhere' }
  })
  const p = planReload(validateConfig(base), next)
  assert.deepEqual(p.refused, ['gateway.id changed', 'storage changed'])
})
