import { test } from 'node:test'
import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'
import { readFileSync } from 'node:fs'
import { ESLint, type Linter } from 'eslint'
import tseslint from 'typescript-eslint'

const root = fileURLToPath(new URL('../../', import.meta.url))
const eslint = new ESLint({ cwd: root })
const RULE = 'fieldgate/module-boundaries'

/** Lints `code` as if it were the file `filePath` (it need not exist) and returns the module-table messages. */
async function boundaryErrors(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath })
  assert.ok(result, 'ESLint returned no result')
  return result.messages.filter((m) => m.ruleId === RULE).map((m) => m.message)
}

test('a driver importing the broker, MQTT.js or LevelDB fails lint, naming the forbidden import', async () => {
  const errors = await boundaryErrors(
    'src/drivers/modbus/fixture.ts',
    [
      "import { createBroker } from '../../broker/index.ts'",
      "import mqtt from 'mqtt'",
      "import { ClassicLevel } from 'classic-level'",
      "import { Backoff } from '../../core/backoff.ts'",
      "import { SerialPort } from 'serialport'",
      "import { readFileSync } from 'node:fs'",
      'export const all = [createBroker, mqtt, ClassicLevel, Backoff, SerialPort, readFileSync]',
    ].join('\n'),
  )
  assert.equal(errors.length, 3, errors.join('\n'))
  assert.match(errors[0] ?? '', /^drivers \(src\/drivers\/modbus\/fixture\.ts\) may not import broker; drivers may import: core, serialport, modbus-serial/)
  assert.match(errors[1] ?? '', /may not import mqtt \(npm\)/)
  assert.match(errors[2] ?? '', /may not import classic-level \(npm\)/)
})

test('relative paths are resolved, so the same text is a neighbour at one depth and another module at the next', async () => {
  assert.deepEqual(await boundaryErrors('src/broker/auth/fixture.ts', "export { TopicTrie } from '../trie.ts'"), [])
  const errors = await boundaryErrors('src/broker/fixture.ts', "export { something } from '../trie.ts'")
  assert.equal(errors.length, 1)
  assert.match(errors[0] ?? '', /belongs to no module/)
  assert.equal((await boundaryErrors('src/broker/auth/fixture.ts', "export * from '../../bridge/index.ts'")).length, 1)
})

test('a part given typeOnly (a known deviation) may import types from that part, never values; others not even types', async () => {
  // No part of the real table has the deviation any more, so the rule runs here on a table of its own.
  type Table = { root: string; units: TableUnit[]; exceptions: TableException[] }
  const { moduleBoundaries } = (await import(new URL('../../scripts/lint/module-boundaries.js', import.meta.url).href)) as { moduleBoundaries: (t: Table) => unknown }
  const units: TableUnit[] = [
    { name: 'config', paths: ['src/config'] },
    { name: 'lenient', paths: ['src/broker'], typeOnly: ['config'] },
    { name: 'strict', paths: ['src/status'] },
  ]
  const own = new ESLint({
    cwd: root,
    overrideConfigFile: true,
    overrideConfig: [
      { languageOptions: { parser: tseslint.parser } },
      { files: ['src/**/*.ts'], plugins: { fieldgate: { rules: { 'module-boundaries': moduleBoundaries({ root, units, exceptions: [] }) } } }, rules: { [RULE]: 'error' } },
    ] as Linter.Config[],
  })
  const errorsOf = async (filePath: string, code: string): Promise<string[]> => {
    const [result] = await own.lintText(code, { filePath })
    assert.ok(result, 'ESLint returned no result')
    return result.messages.map((m) => m.message)
  }
  assert.deepEqual(await errorsOf('src/broker/fixture.ts', "import type { Config } from '../config/index.ts'\nexport type C = Config"), [])
  assert.deepEqual(await errorsOf('src/broker/fixture.ts', "import { type Config } from '../config/index.ts'\nexport type C = Config"), [])
  const errors = await errorsOf('src/broker/fixture.ts', "import { validateConfig } from '../config/index.ts'\nexport const v = validateConfig")
  assert.equal(errors.length, 1)
  assert.match(errors[0] ?? '', /may import only types from config/)
  assert.equal((await errorsOf('src/status/fixture.ts', "import type { Config } from '../config/index.ts'\nexport type C = Config")).length, 1)
})

test('broker, bridge and store-forward take their own options: importing config there fails lint, even for types only', async () => {
  for (const file of ['src/broker/fixture.ts', 'src/bridge/fixture.ts', 'src/store-forward/fixture.ts']) {
    for (const code of ["import type { Config } from '../config/index.ts'\nexport type C = Config", "import { type StorageConfig } from '../config/sections/storage.ts'\nexport type C = StorageConfig"]) {
      const errors = await boundaryErrors(file, code)
      assert.equal(errors.length, 1, `${file}: ${code}`)
      assert.match(errors[0] ?? '', /may not import config/)
    }
  }
})

test('drivers take their own options: importing config fails lint there, even for types only', async () => {
  const texts = [
    "import type { DeviceConfig } from '../../config/sections/drivers.ts'\nexport type D = DeviceConfig",
    "import { type DeviceConfig } from '../../config/index.ts'\nexport type D = DeviceConfig",
    "export type D = import('../../config/index.ts').DeviceConfig",
    "import { validateConfig } from '../../config/index.ts'\nexport const v = validateConfig",
  ]
  for (const text of texts) {
    const errors = await boundaryErrors('src/drivers/modbus/fixture.ts', text)
    assert.equal(errors.length, 1, `${text}\n${errors.join('\n')}`)
    assert.match(errors[0] ?? '', /^drivers \(src\/drivers\/modbus\/fixture\.ts\) may not import config; drivers may import: core, serialport, modbus-serial/)
  }
  // What they import instead: their own options.
  assert.deepEqual(await boundaryErrors('src/drivers/modbus/fixture.ts', "import type { ModbusDeviceOptions } from '../options.ts'\nexport type D = ModbusDeviceOptions"), [])
})

test('dynamic import() and import types are checked like static imports', async () => {
  const errors = await boundaryErrors(
    'src/status/fixture.ts',
    "export const load = () => import('mqtt-packet')\nexport type T = import('../drivers/index.ts').Driver",
  )
  assert.equal(errors.length, 2, errors.join('\n'))
  assert.match(errors[0] ?? '', /may not import mqtt-packet \(npm\)/)
  assert.match(errors[1] ?? '', /may not import drivers/)
})

test('core imports nothing of ours and no npm package', async () => {
  const errors = await boundaryErrors('src/core/fixture.ts', "import { z } from 'zod'\nimport { VERSION } from '../version.ts'\nimport { EventEmitter } from 'node:events'\nexport const x = [z, VERSION, EventEmitter]")
  assert.equal(errors.length, 2, errors.join('\n'))
  assert.match(errors[0] ?? '', /core may import: nothing outside itself but Node built-ins/)
})

test('an exception covers its one file only: the broker may import zod in auth/acl.ts and nowhere else', async () => {
  const code = "import { z } from 'zod'\nexport const s = z.string()"
  assert.deepEqual(await boundaryErrors('src/broker/auth/acl.ts', code), [])
  assert.equal((await boundaryErrors('src/broker/auth/files.ts', code)).length, 1)
})

test('the broker is given the version: reading VERSION in src/broker fails lint, $SYS included', async () => {
  const code = "import { VERSION } from '../version.ts'\nexport const v = VERSION"
  assert.equal((await boundaryErrors('src/broker/sys.ts', code)).length, 1)
  assert.equal((await boundaryErrors('src/broker/trie.ts', code)).length, 1)
})

test('only the command line imports the composition root', async () => {
  assert.deepEqual(await boundaryErrors('src/commands/fixture.ts', "export { buildGateway } from '../gateway/build.ts'"), [])
  assert.equal((await boundaryErrors('src/status/fixture.ts', "export { buildGateway } from '../gateway/build.ts'")).length, 1)
  assert.equal((await boundaryErrors('src/bridge/fixture.ts', "export { run } from '../main.ts'")).length, 1)
})

test('a file in a folder the table does not know fails lint and says where to add it', async () => {
  const errors = await boundaryErrors('src/uplink/fixture.ts', 'export const x = 1')
  assert.equal(errors.length, 1)
  assert.match(errors[0] ?? '', /src\/uplink\/fixture\.ts belongs to no module: add a row .* eslint\.config\.js and docs\/architecture\.md/)
})

test('the tree as it is follows the table', async () => {
  const results = await eslint.lintFiles(['src'])
  const errors = results.flatMap((r) => r.messages.filter((m) => m.ruleId === RULE).map((m) => `${r.filePath}:${m.line} ${m.message}`))
  assert.deepEqual(errors, [])
  assert.ok(results.length > 100, `linted only ${results.length} files`)
})

interface TableUnit {
  name: string
  paths: string[]
  may?: string[]
  files?: string[]
  packages?: string[] | '*'
  typeOnly?: string[]
}
interface TableException {
  file: string
  imports: string
}

test('docs/architecture.md shows the same module table and deviations that ESLint enforces', async () => {
  // Loaded by URL so that TypeScript does not try to type the plain-JS config.
  const configUrl = new URL('../../eslint.config.js', import.meta.url).href
  const { units, exceptions } = (await import(configUrl)) as { units: TableUnit[]; exceptions: TableException[] }
  const doc = readFileSync(new URL('../../docs/architecture.md', import.meta.url), 'utf8')
  const rows = new Map<string, string[]>()
  for (const line of doc.split('\n')) {
    const cells = line.split(' | ').map((c) => c.replace(/^\|\s*|\s*\|$/g, '').trim())
    if (cells.length === 4 && cells[1]?.startsWith('`src/')) rows.set(cells[0] ?? '', cells)
  }
  assert.deepEqual([...rows.keys()].sort(), units.map((u) => u.name).sort())
  for (const u of units) {
    const [, files = '', , may = ''] = rows.get(u.name) ?? []
    const docPaths = [...files.matchAll(/`([^`]+)`/g)].map((m) => (m[1] ?? '').replace(/\/$/, ''))
    assert.deepEqual(docPaths.sort(), [...u.paths].sort(), `${u.name}: files`)
    const items = may.split(/[;,]/).map((s) => s.trim()).filter((s) => s !== '' && s !== 'nothing')
    const quoted = items.filter((s) => s.startsWith('`')).map((s) => s.slice(1, -1))
    const docFiles = quoted.filter((s) => s.includes('.json') || s.includes('/'))
    const docPackages = items.includes('any npm package') ? '*' : quoted.filter((s) => !docFiles.includes(s)).sort()
    const docUnits = items.filter((s) => !s.startsWith('`') && s !== 'any npm package').sort()
    assert.deepEqual(docUnits, [...(u.may ?? [])].sort(), `${u.name}: parts it may import`)
    assert.deepEqual(docFiles.sort(), [...(u.files ?? [])].sort(), `${u.name}: files it may import`)
    assert.deepEqual(docPackages, u.packages === '*' ? '*' : [...(u.packages ?? [])].sort(), `${u.name}: npm packages`)
  }
  const deviations = doc.slice(doc.indexOf('## Known deviations'), doc.indexOf('## The durable path'))
  // Each part allowed type imports is named in that bullet ("Broker: 9 files use …").
  const typeBullet = deviations.slice(deviations.indexOf('**Type imports of'), deviations.indexOf('**Runtime exceptions**'))
  for (const u of units) {
    for (const t of u.typeOnly ?? []) {
      assert.ok(typeBullet.startsWith(`**Type imports of ${t}**`), `no bullet for type imports of ${t}`)
      assert.ok(typeBullet.includes(`${u.name[0]?.toUpperCase()}${u.name.slice(1)}:`), `${u.name} is not named under type imports of ${t}`)
    }
  }
  for (const e of exceptions) {
    assert.ok(deviations.includes(`\`${e.file}\``), `${e.file} is not listed under Known deviations`)
    assert.ok(deviations.includes(`\`${e.imports}\``) || deviations.includes(`\`src/${e.imports}.ts\``), `${e.file} -> ${e.imports} is not listed under Known deviations`)
  }
})

test('every exception in the table is still needed: without it, its file fails lint', async () => {
  const { exceptions } = (await import(new URL('../../eslint.config.js', import.meta.url).href)) as { exceptions: TableException[] }
  for (const e of exceptions) {
    const [result] = await eslint.lintFiles([e.file])
    assert.ok(result && result.messages.every((m) => m.ruleId !== RULE), `${e.file} fails the table even with its exception`)
    const text = readFileSync(new URL(`../../${e.file}`, import.meta.url), 'utf8')
    // The same import in a sibling file, which no exception covers, must be reported.
    const sibling = e.file.replace(/[^/]+$/, 'exception-probe.ts')
    const errors = await boundaryErrors(sibling, text)
    assert.ok(
      errors.some((m) => m.includes(`may not import ${e.imports}`)),
      `${e.file} no longer imports ${e.imports}: remove its exception from eslint.config.js and docs/architecture.md`,
    )
  }
})
