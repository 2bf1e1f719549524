import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { build } from 'esbuild'

export interface BundleOptions {
  /** As scripts/exe/bundle.ts builds the release; false shows what the `__name` calls cost. */
  keepNames: boolean
  /** false keeps profiles readable. */
  minify: boolean
  /** Replace the `debug` package (mqtt-packet calls it several times per packet) with a no-op. */
  stubDebug: boolean
}

/** CommonJS, because mqtt-packet does `require('debug')('mqtt-packet:parser')`. */
const DEBUG_STUB = `function createDebug() { const d = function () {}; d.enabled = false; d.extend = createDebug; d.log = d; return d }
createDebug.enable = function () {}; createDebug.disable = function () { return '' }; createDebug.enabled = function () { return false }
module.exports = createDebug; module.exports.default = createDebug
`

/**
 * Bundles bench/lib/fieldgate-server.ts with esbuild, like the release build (scripts/exe/bundle.ts),
 * so the broker runs on plain `node` without tsx's loader thread.
 */
export async function bundleFieldgateServer(repoRoot: string, o: BundleOptions): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'fieldgate-bench-'))
  const stub = join(dir, 'debug-stub.cjs')
  if (o.stubDebug) writeFileSync(stub, DEBUG_STUB)
  const outfile = join(dir, 'fieldgate-server.mjs')
  await build({
    entryPoints: [join(repoRoot, 'bench', 'lib', 'fieldgate-server.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    minify: o.minify,
    keepNames: o.keepNames,
    outfile,
    logLevel: 'warning',
    alias: o.stubDebug ? { debug: stub } : {},
    // CommonJS dependencies inside an ESM bundle still call require() for Node built-ins.
    banner: { js: "import { createRequire as __fgCreateRequire } from 'node:module'; const require = __fgCreateRequire(import.meta.url);" },
  })
  return outfile
}
