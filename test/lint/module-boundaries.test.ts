import { test } from 'node:test'
import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'
import { ESLint } from 'eslint'

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

test('config may be imported for types only by the modules (a known deviation), never at run time', async () => {
  assert.deepEqual(await boundaryErrors('src/bridge/fixture.ts', "import type { Config } from '../config/index.ts'\nexport type C = Config"), [])
  assert.deepEqual(await boundaryErrors('src/bridge/fixture.ts', "import { type Config } from '../config/index.ts'\nexport type C = Config"), [])
  const errors = await boundaryErrors('src/bridge/fixture.ts', "import { validateConfig } from '../config/index.ts'\nexport const v = validateConfig")
  assert.equal(errors.length, 1)
  assert.match(errors[0] ?? '', /may import only types from config/)
  // status never had the deviation: not even types.
  assert.equal((await boundaryErrors('src/status/fixture.ts', "import type { Config } from '../config/index.ts'\nexport type C = Config")).length, 1)
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

test('an exception covers its one file only: the broker may read VERSION in sys.ts and nowhere else', async () => {
  const code = "import { VERSION } from '../version.ts'\nexport const v = VERSION"
  assert.deepEqual(await boundaryErrors('src/broker/sys.ts', code), [])
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
