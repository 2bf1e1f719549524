import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { loadDeviceTemplate, templatesDirs } from '../../src/config/sections/drivers.ts'
import { tempDir } from '../helpers/tmp.ts'

test('a template missing from every directory is taken from the built-in copies', () => {
  const t = loadDeviceTemplate('meter', ['/nonexistent'], { meter: 'driver = "modbus-rtu"\nbaud = 2400\n[template]\ndescription = "x"\n' })
  assert.deepEqual(t, { driver: 'modbus-rtu', baud: 2400 })
})

test('a template in FIELDGATE_TEMPLATES_DIR is found first and overrides a built-in one of the same name', () => {
  const { dir, cleanup } = tempDir()
  try {
    mkdirSync(join(dir, 'mine'))
    writeFileSync(join(dir, 'mine', 'meter.toml'), 'driver = "simulated"\n')
    const dirs = templatesDirs({ FIELDGATE_TEMPLATES_DIR: join(dir, 'mine') })
    assert.equal(dirs[0], join(dir, 'mine'))
    assert.deepEqual(loadDeviceTemplate('meter', dirs, { meter: 'driver = "modbus-rtu"\n' }), { driver: 'simulated' })
  } finally {
    cleanup()
  }
})

test('run from source in any directory, the repository templates are found; an unknown name lists the built-in ones', () => {
  const cwd = process.cwd()
  const { dir, cleanup } = tempDir()
  try {
    process.chdir(dir)
    assert.equal(loadDeviceTemplate('eastron-sdm120').driver, 'modbus-rtu')
    assert.throws(() => loadDeviceTemplate('nope', ['/nonexistent'], { a: '', b: '' }), /template "nope" not found in \/nonexistent nor among the built-in ones \(a, b\)/)
  } finally {
    process.chdir(cwd)
    cleanup()
  }
})
