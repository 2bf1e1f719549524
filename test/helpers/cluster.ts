import { spawn, type ChildProcess } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { track } from './children.ts'
import { waitListening } from './mosquitto.ts'
import { freePort } from './ports.ts'
import { tempDir } from './tmp.ts'

/**
 * The cloud as a real cluster: Debian's redis-server and Aedes nodes in their own processes sharing it
 * through mqemitter-redis and aedes-persistence-redis (aedes-node.ts). Every process is tracked, on a
 * free loopback port, and Redis keeps nothing on disk outside its temporary directory.
 */

const TSX = import.meta.resolve('tsx')
const NODE_SCRIPT = join(import.meta.dirname, 'aedes-node.ts')

type Exit = { code: number | null; signal: NodeJS.Signals | null }

export interface ProcessHandle {
  port: number
  proc: ChildProcess
  log: string[]
  exited: Promise<Exit>
  /** Sends `signal` (SIGTERM by default; SIGKILL for a crash) and waits for the exit, SIGKILL after 5 s. */
  stop(signal?: NodeJS.Signals): Promise<Exit>
}

function handle(port: number, proc: ChildProcess): ProcessHandle {
  const log: string[] = []
  proc.stdout?.on('data', (d: Buffer) => log.push(d.toString()))
  proc.stderr?.on('data', (d: Buffer) => log.push(d.toString()))
  const exited = new Promise<Exit>((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })))
  return {
    port,
    proc,
    log,
    exited,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal)
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000)
      const r = await exited
      clearTimeout(t)
      return r
    },
  }
}

/** redis-server on a free loopback port, no snapshots, no append-only file, its directory a temporary one. */
export async function startRedis(): Promise<ProcessHandle & { cleanup(): void }> {
  const port = await freePort()
  const { dir, cleanup } = tempDir('fieldgate-redis-')
  const conf = join(dir, 'redis.conf')
  writeFileSync(conf, [`port ${port}`, 'bind 127.0.0.1', 'protected-mode yes', 'daemonize no', 'save ""', 'appendonly no', `dir ${dir}`, 'logfile ""', 'loglevel warning', ''].join('\n'))
  const h = handle(port, track(spawn('redis-server', [conf], { stdio: ['ignore', 'pipe', 'pipe'] })))
  await Promise.race([
    waitListening(port, 10_000),
    h.exited.then((e) => {
      throw new Error(`redis-server exited at start (${e.code ?? e.signal}):\n${h.log.join('')}`)
    }),
  ]).catch(async (err: unknown) => {
    await h.stop('SIGKILL')
    cleanup()
    throw err
  })
  return { ...h, cleanup }
}

export interface NodeOptions {
  redisPort: number
  /** Users the node accepts (user → password); anyone else is refused. */
  users: Record<string, string>
  /** Aedes heartbeatInterval: a dead node's wills go out 3–4 of these after its last heartbeat. */
  heartbeatMs: number
  /** Start on this port (a restart); a free one otherwise. */
  port?: number
}

export interface AedesNode extends ProcessHandle {
  /** The node's Aedes broker id (new at every start, as Aedes does by default). */
  id: string
  opts: NodeOptions
}

/** One Aedes node in its own process; resolves once it listens (READY on stdout). */
export async function startAedesNode(opts: NodeOptions): Promise<AedesNode> {
  const port = opts.port ?? (await freePort())
  const env = {
    ...process.env,
    CLUSTER_PORT: String(port),
    CLUSTER_REDIS_PORT: String(opts.redisPort),
    CLUSTER_HEARTBEAT_MS: String(opts.heartbeatMs),
    CLUSTER_USERS: JSON.stringify(opts.users),
  }
  const h = handle(port, track(spawn(process.execPath, ['--import', TSX, NODE_SCRIPT], { env, stdio: ['ignore', 'pipe', 'pipe'] })))
  const id = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`aedes node on ${port} not ready within 30 s:\n${h.log.join('')}`)), 30_000)
    const onData = (): void => {
      const m = /READY \d+ (\S+)/.exec(h.log.join(''))
      if (m) {
        clearTimeout(t)
        h.proc.stdout?.off('data', onData)
        resolve(m[1] as string)
      }
    }
    h.proc.stdout?.on('data', onData)
    void h.exited.then((e) => {
      clearTimeout(t)
      reject(new Error(`aedes node on ${port} exited at start (${e.code ?? e.signal}):\n${h.log.join('')}`))
    })
  }).catch(async (err: unknown) => {
    await h.stop('SIGKILL')
    throw err
  })
  return { ...h, id, opts: { ...opts, port } }
}

export interface Cluster {
  redis: ProcessHandle
  nodes: AedesNode[]
  /** Starts node `i` again on its port (after a stop or a kill -9). */
  restart(i: number): Promise<AedesNode>
  stop(): Promise<void>
}

/** Redis and `count` Aedes nodes sharing it. */
export async function startCluster(o: { users: Record<string, string>; heartbeatMs?: number; count?: number }): Promise<Cluster> {
  const redis = await startRedis()
  const nodes: AedesNode[] = []
  try {
    for (let i = 0; i < (o.count ?? 2); i++) nodes.push(await startAedesNode({ redisPort: redis.port, users: o.users, heartbeatMs: o.heartbeatMs ?? 1000 }))
  } catch (err) {
    await Promise.all(nodes.map((n) => n.stop('SIGKILL')))
    await redis.stop('SIGKILL')
    redis.cleanup()
    throw err
  }
  return {
    redis,
    nodes,
    async restart(i) {
      const old = nodes[i]
      if (!old) throw new RangeError(`no node ${i}`)
      await old.stop('SIGKILL')
      const n = await startAedesNode(old.opts)
      nodes[i] = n
      return n
    },
    async stop() {
      await Promise.all(nodes.map((n) => n.stop()))
      await redis.stop()
      redis.cleanup()
    },
  }
}
