import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { build } from 'esbuild'

/**
 * Bundles bench/lib/fieldgate-server.ts with esbuild, minified with `keepNames` as scripts/exe/bundle.ts
 * builds the release, so the broker runs on plain `node` without tsx's loader thread.
 * `keepNames: false` shows what the per-closure `__name` calls cost; `minify: false` keeps profiles readable.
 */
export async function bundleFieldgateServer(repoRoot: string, keepNames = true, minify = true): Promise<string> {
  const outfile = join(mkdtempSync(join(tmpdir(), 'fieldgate-bench-')), 'fieldgate-server.mjs')
  await build({
    entryPoints: [join(repoRoot, 'bench', 'lib', 'fieldgate-server.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    minify,
    keepNames,
    outfile,
    logLevel: 'warning',
    // CommonJS dependencies inside an ESM bundle still call require() for Node built-ins.
    banner: { js: "import { createRequire as __fgCreateRequire } from 'node:module'; const require = __fgCreateRequire(import.meta.url);" },
  })
  return outfile
}
