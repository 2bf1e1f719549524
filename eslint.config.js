import { fileURLToPath } from 'node:url'
import js from '@eslint/js'
import tseslint from 'typescript-eslint'
import { moduleBoundaries } from './scripts/lint/module-boundaries.js'

// The module table of docs/architecture.md: what each part of src/ may import. Node built-ins are
// always allowed; a module may always import its own files. Change this table and the document together.
/** @type {import('./scripts/lint/module-boundaries.js').Unit[]} */
export const units = [
  { name: 'core', paths: ['src/core'] },
  { name: 'config', paths: ['src/config'], may: ['core'], packages: ['smol-toml', 'zod'] },
  { name: 'broker', paths: ['src/broker'], may: ['core'], packages: ['mqtt-packet', 'ws'] },
  { name: 'drivers', paths: ['src/drivers'], may: ['core'], packages: ['serialport', 'modbus-serial'] },
  { name: 'store-forward', paths: ['src/store-forward'], may: ['core'], packages: ['classic-level'] },
  { name: 'bridge', paths: ['src/bridge'], may: ['core'], packages: ['mqtt'] },
  { name: 'status', paths: ['src/status'], may: ['core'], packages: ['prom-client'] },
  { name: 'update', paths: ['src/update'], may: ['core'] },
  { name: 'fleet', paths: ['src/fleet'], may: ['core'], packages: ['mqtt'] },
  { name: 'logging', paths: ['src/logging.ts'], may: ['core'], packages: ['pino'] },
  { name: 'version', paths: ['src/version.ts'], files: ['package.json'] },
  { name: 'demo-config', paths: ['src/demo-config.ts'] },
  {
    name: 'gateway',
    paths: ['src/gateway', 'src/main.ts'],
    may: ['core', 'config', 'broker', 'drivers', 'store-forward', 'bridge', 'status', 'update', 'fleet', 'logging', 'version', 'demo-config'],
    packages: '*',
  },
  {
    name: 'commands',
    paths: ['src/commands', 'src/cli.ts'],
    may: ['gateway', 'core', 'config', 'broker', 'drivers', 'store-forward', 'bridge', 'status', 'update', 'fleet', 'logging', 'version', 'demo-config'],
  },
]

// Known deviations from the table, one file and one import each (docs/architecture.md lists them).
export const exceptions = [
  { file: 'src/broker/auth/acl.ts', imports: 'smol-toml', why: 'the ACL file is TOML, parsed inside the broker' },
  { file: 'src/broker/auth/acl.ts', imports: 'zod', why: 'the ACL file is validated inside the broker' },
  { file: 'src/commands/check.ts', imports: 'mqtt', why: '`fieldgate check` connects to the cloud broker with MQTT.js directly, not through the bridge' },
]

const root = fileURLToPath(new URL('.', import.meta.url))

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'build/**', 'bin/**', 'eslint.config.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  {
    files: ['src/**/*.ts'],
    plugins: { fieldgate: { rules: { 'module-boundaries': moduleBoundaries({ root, units, exceptions }) } } },
    rules: {
      'fieldgate/module-boundaries': 'error',
      // The named export z is a namespace object: it keeps all of zod (locales, JSON Schema) in the
      // executable's bundle, ~370 KB of source and ~1.8 MB of idle memory (bench/README.md, idle).
      'no-restricted-syntax': [
        'error',
        {
          selector: "ImportDeclaration[source.value='zod'][importKind!='type'] > :matches(ImportSpecifier[imported.name='z'][importKind!='type'], ImportDefaultSpecifier)",
          message: "Use import * as z from 'zod', so the bundle keeps only what is used.",
        },
      ],
    },
  },
  {
    files: ['scripts/lint/*.js'],
    languageOptions: { globals: { URL: 'readonly' } },
  },
)
