/**
 * The update half of bench/fleet.ts: N gateways, each the real x64 executable in its own scratch root
 * under the unit supervisor of the tests (test/exe/supervisor.ts: ExecStartPre guard, Restart=,
 * exit 75), behind one Mosquitto. Measured with the operator library the fleet command uses:
 * a signed 40 MB update sent to all of them in one wave and staged (received, written, verified;
 * not installed), its time, the bytes through the broker and each gateway's memory during the transfer;
 * then an update that cannot start (/bin/false, signed) installed on all of them: the time until every
 * gateway has put its previous executable back and reported the roll-back.
 */
import { execFile } from 'node:child_process'
import { randomFillSync } from 'node:crypto'
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { fileChunks, OperatorLink, parseSelector, rolloutUpdate, type UpdatePayload } from '../../src/fleet/ops/index.ts'
import { parseManifest } from '../../src/update/manifest.ts'
import { Supervisor } from '../../test/exe/supervisor.ts'
import { freePort } from '../../test/helpers/ports.ts'
import { waitFor } from '../../test/helpers/tmp.ts'
import { fakeElf } from '../../test/update/helpers.ts'
import { rssKb } from './proc.ts'

const exec = promisify(execFile)

export interface UpdateBenchResult {
  staged: { mb: number; ms: number; brokerBytes: number; published: Record<string, number>; outcomes: Record<string, number>; rssIdleKb: number[]; rssPeakKb: number[] }
  rollback: { ms: number; perGatewayMs: number[]; outcomes: Record<string, number>; backOnlineMs: number }
}

interface Gw {
  id: string
  root: string
  sup: Supervisor
}

/** Byte counters of the broker: a function that returns received + sent now (from $SYS, ~1 s old). */
export type BrokerBytes = () => Promise<number>

export async function updateBench(o: { repoRoot: string; dist: string; dir: string; count: number; brokerPort: number; mb: number; brokerBytes: BrokerBytes; log(line: string): void }): Promise<UpdateBenchResult> {
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FIELDGATE_')))
  const fg = (args: string[]): Promise<unknown> => exec(o.dist, args, { env, cwd: o.dir, timeout: 120_000 })
  await fg(['keygen', join(o.dir, 'release')])
  const key = readFileSync(join(o.dir, 'release.pub'), 'utf8').trim()
  const unit = join(o.repoRoot, 'hardware/systemd/fieldgate.service')
  const gws: Gw[] = []
  let link: OperatorLink | null = null
  try {
    for (let i = 0; i < o.count; i++) {
      const id = `ota-${String(i).padStart(2, '0')}`
      const root = join(o.dir, id)
      const lib = join(root, 'usr/local/lib/fieldgate')
      mkdirSync(lib, { recursive: true })
      mkdirSync(join(root, 'etc/fieldgate'), { recursive: true })
      copyFileSync(o.dist, join(lib, 'fieldgate'))
      copyFileSync(join(o.repoRoot, 'hardware/systemd/fieldgate-update-guard'), join(lib, 'fieldgate-update-guard'))
      const cfg = join(root, 'etc/fieldgate/fieldgate.toml')
      writeFileSync(
        cfg,
        `[gateway]\nid = "${id}"\n[log]\nlevel = "warn"\n[storage]\ndata_dir = "${join(root, 'data')}"\n[status]\nenabled = false\n` +
          `[[broker.listeners]]\nhost = "127.0.0.1"\nport = ${await freePort()}\n` +
          `[[uplinks]]\nname = "cloud"\nurl = "mqtt://127.0.0.1:${o.brokerPort}"\nbackoff = { min = "200ms", max = "2s" }\n[uplinks.management]\nenabled = true\n` +
          `[update]\npublic_keys = ["${key}"]\nhealth_deadline = "60s"\n`,
      )
      const map = (p: string): string => p.replace('/usr/local/lib/fieldgate/', `${lib}/`).replace('/usr/local/bin/fieldgate', join(lib, 'fieldgate')).replace('/etc/fieldgate/fieldgate.toml', cfg)
      const sup = new Supervisor(unit, map, { ...env, XDG_RUNTIME_DIR: root }, root, 20)
      gws.push({ id, root, sup })
    }
    // A few at a time: 20 cold starts at once on 2 cores would time each other out.
    link = await OperatorLink.connect({ url: `mqtt://127.0.0.1:${o.brokerPort}` })
    const l = link
    const online = (g: Gw): boolean => l.inventory.get(g.id)?.online === true
    for (let i = 0; i < gws.length; i += 4) {
      const batch = gws.slice(i, i + 4)
      for (const g of batch) g.sup.start()
      await waitFor(() => batch.every(online), 120_000, 100, 'a batch of supervised gateways online')
    }
    o.log(`${o.count} supervised gateways online`)
    const pids = (): number[] => gws.map((g) => g.sup.pid ?? -1)

    // A signed 40 MB "executable" for x64 (random bytes behind an ELF header), staged.
    const big = join(o.dir, 'fieldgate-0.2.0')
    const body = Buffer.alloc(o.mb * 1_000_000 - 20)
    randomFillSync(body)
    writeFileSync(big, fakeElf('x64', body))
    await fg(['sign', big, '--key', join(o.dir, 'release'), '--version', '0.2.0', '--out', join(o.dir, 'big.json')])
    const rssIdle = gws.map((g) => rssKb(g.sup.pid ?? -1))
    const peak = [...rssIdle]
    const sampler = setInterval(() => {
      for (const [i, pid] of pids().entries()) peak[i] = Math.max(peak[i] ?? 0, rssKb(pid) || 0)
    }, 200)
    const b0 = await o.brokerBytes()
    const t0 = performance.now()
    const staged = await rollout(l, big, join(o.dir, 'big.json'), gws.length, false, o.log)
    const stagedMs = performance.now() - t0
    clearInterval(sampler)
    const b1 = await o.brokerBytes()

    // A build that cannot start, installed everywhere at once: each gateway restarts into it, it exits
    // at once, the guard puts the previous executable back, and the gateway reports the roll-back.
    const bad = join(o.dir, 'fieldgate-0.3.0')
    copyFileSync('/bin/false', bad)
    await fg(['sign', bad, '--key', join(o.dir, 'release'), '--version', '0.3.0', '--out', join(o.dir, 'bad.json')])
    const t1 = performance.now()
    const rolled = await rollout(l, bad, join(o.dir, 'bad.json'), gws.length, true, o.log)
    const rollbackMs = performance.now() - t1
    await waitFor(() => gws.every((g) => online(g) && (l.inventory.get(g.id)?.update as { outcome?: string } | undefined)?.outcome === 'rolled-back'), 120_000, 100, 'every gateway back, reporting the roll-back')
    const backOnlineMs = performance.now() - t1
    return {
      staged: { mb: o.mb, ms: stagedMs, brokerBytes: b1 - b0, published: staged.stats, outcomes: count(staged.results.map((r) => r.state)), rssIdleKb: rssIdle, rssPeakKb: peak },
      rollback: { ms: rollbackMs, perGatewayMs: rolled.results.map((r) => r.ms), outcomes: count(rolled.results.map((r) => r.state)), backOnlineMs },
    }
  } finally {
    await link?.close()
    await Promise.all(gws.map((g) => g.sup.stop()))
  }
}

async function rollout(link: OperatorLink, file: string, manifestFile: string, wave: number, install: boolean, log: (l: string) => void) {
  const text = readFileSync(manifestFile, 'utf8')
  const m = parseManifest(text)
  const chunks = await fileChunks(file, m.chunkSize, m.size)
  const payload: UpdatePayload = { manifestText: text, version: m.version, sha256: m.sha256, size: m.size, chunkSize: m.chunkSize, chunks: m.chunks.length, ...chunks }
  try {
    // One wave of everyone: one shared stream of chunks for the whole fleet.
    const out = await rolloutUpdate(link, payload, { selector: parseSelector('ota-*'), waves: { canary: wave, factor: 2, maxWave: wave }, maxFailures: wave, progress: (l) => /wave|done/.test(l) && log(l) }, { install, timeoutMs: 900_000 })
    return out
  } finally {
    await payload.close()
  }
}

function count(xs: string[]): Record<string, number> {
  const out: Record<string, number> = {}
  for (const x of xs) out[x] = (out[x] ?? 0) + 1
  return out
}
