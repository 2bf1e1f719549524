import { dirname, join } from 'node:path'
import { build, type Plugin } from 'esbuild'
import { NATIVE_LOADER_SOURCE } from './native-loader.ts'

/** Which addon a `require('node-gyp-build')` belongs to, from the requiring file's path. */
export function addonName(importer: string): string {
  if (importer.includes('classic-level')) return 'classic-level'
  if (importer.includes('bindings-cpp')) return 'serialport'
  throw new Error(`build-exe: unexpected native addon loader in ${importer}; teach scripts/exe/bundle.ts its name`)
}

/** Optional dependencies that are absent or must stay unloaded; their require() sits in try/catch. */
const OPTIONAL_EXTERNALS = ['bufferutil', 'utf-8-validate', 'supports-color', 'pino-pretty', 'encoding']

const nativePlugin: Plugin = {
  name: 'fieldgate-native',
  setup(b) {
    b.onResolve({ filter: /^node-gyp-build$/ }, (args) => ({ path: addonName(args.importer), namespace: 'fg-native' }))
    b.onResolve({ filter: /^fg-native-loader$/ }, () => ({ path: 'loader', namespace: 'fg-loader' }))
    b.onLoad({ filter: /.*/, namespace: 'fg-loader' }, () => ({ contents: NATIVE_LOADER_SOURCE, loader: 'js' }))
    // node-gyp-build(dir) returns the addon; ours ignores the dir and loads by name.
    b.onLoad({ filter: /.*/, namespace: 'fg-native' }, (args) => ({
      contents: `const load = require("fg-native-loader"); module.exports = function () { return load(${JSON.stringify(args.path)}); };`,
      loader: 'js',
    }))
  },
}

/**
 * The `debug` package (used by mqtt-packet, MQTT.js, modbus-serial) costs ~17% of the broker's CPU in
 * the bundle even when disabled (measured by bench/broker.ts --runner bundle-nodebug: fan-in QoS 0
 * ~590k -> ~880k msg/s). The executable never enables it (pino is the log), so it gets a no-op.
 */
const DEBUG_STUB = `
function createDebug(namespace) {
  function debug() {}
  debug.namespace = namespace; debug.enabled = false; debug.log = function () {};
  debug.extend = function (sub, sep) { return createDebug(namespace + (sep === undefined ? ':' : sep) + sub); };
  debug.destroy = function () { return false; };
  return debug;
}
createDebug.enable = function () {}; createDebug.disable = function () { return ''; };
createDebug.enabled = function () { return false; }; createDebug.names = []; createDebug.skips = [];
createDebug.formatters = {}; createDebug.default = createDebug; createDebug.debug = createDebug;
module.exports = createDebug;
`

const debugStubPlugin: Plugin = {
  name: 'fieldgate-debug-stub',
  setup(b) {
    b.onResolve({ filter: /^debug$/ }, () => ({ path: 'debug', namespace: 'fg-debug' }))
    b.onLoad({ filter: /.*/, namespace: 'fg-debug' }, () => ({ contents: DEBUG_STUB, loader: 'js' }))
  },
}

/** hardware/devices/*.toml built into the executable, so `template = "…"` works wherever it runs. */
function templatesPlugin(dir: string): Plugin {
  return {
    name: 'fieldgate-templates',
    setup(b) {
      b.onLoad({ filter: /[\\/]templates-embedded\.ts$/ }, async () => {
        const { readdirSync, readFileSync } = await import('node:fs')
        const map = Object.fromEntries(
          readdirSync(dir)
            .filter((f) => f.endsWith('.toml'))
            .sort()
            .map((f) => [f.slice(0, -'.toml'.length), readFileSync(join(dir, f), 'utf8')]),
        )
        return { contents: `export const EMBEDDED_TEMPLATES = Object.freeze(${JSON.stringify(map)})`, loader: 'js', watchFiles: readdirSync(dir).map((f) => join(dir, f)) }
      })
    },
  }
}

export interface BundleResult {
  file: string
  bytes: number
  warnings: string[]
}

/** Bundles src/cli.ts into one CommonJS file that needs nothing but Node's built-ins and the addons. */
export async function bundle(entry: string, outfile: string, templatesDir = join(dirname(entry), '..', 'hardware', 'devices')): Promise<BundleResult> {
  const result = await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    minify: true,
    keepNames: true,
    legalComments: 'none',
    sourcemap: false,
    metafile: false,
    logLevel: 'silent',
    external: OPTIONAL_EXTERNALS,
    plugins: [nativePlugin, debugStubPlugin, templatesPlugin(templatesDir)],
    // CJS has no import.meta; the few users only want a file URL of themselves.
    define: { 'import.meta.url': '__fgImportMetaUrl' },
    banner: { js: 'var __fgImportMetaUrl = require("url").pathToFileURL(__filename).href;' },
  })
  const { statSync } = await import('node:fs')
  return { file: outfile, bytes: statSync(outfile).size, warnings: result.warnings.map((w) => `${w.location?.file ?? ''}: ${w.text}`) }
}
