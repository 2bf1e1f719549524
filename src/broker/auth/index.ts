import { systemClock, type Clock, type TimerHandle } from '../../core/clock.ts'
import type { Logger } from '../../core/logger.ts'
import type { Status } from '../../core/types.ts'
import type { AuthRequest, AuthResult, BrokerHooks } from '../hooks.ts'
import { listenerAllowsAnonymous } from './anonymous.ts'
import { DEFAULT_GUARD, FailureGuard, type GuardOptions } from './guard.ts'
import { HashLimiter } from './limiter.ts'
import { PasswordChecker, type HashProbe } from './passwords.ts'
import { LogLimiter } from '../../core/log-limit.ts'
import { PublishRateLimiter } from './rate.ts'
import { loadFiles, revokedIdentities, type AuthFiles } from './files.ts'
import { TOKEN_USERNAME, tokenDigest } from './tokens.ts'
import { reloadCertificates } from '../listeners/tls.ts'
import type { BrokerLimits, BrokerSettings } from '../options.ts'

export { isLoopbackHost, listenerAllowsAnonymous } from './anonymous.ts'
export { hashPassword, upsertPasswordLine } from './passwords.ts'

/** What the security layer takes: the login files and throttles, the listeners (anonymous or not), the publish rate limit. */
export type SecurityOptions = Pick<BrokerSettings, 'auth' | 'listeners'> & { limits: Pick<BrokerLimits, 'publishRate' | 'publishBurst'> }

export interface Security extends BrokerHooks {
  /**
   * Re-reads the password, tokens and ACL files, and the certificates of listening TLS/WSS servers.
   * A bad file is logged and the previous one kept (status says so).
   */
  reload(): Promise<void>
  status(): Status
  close(): void
}

type RevokeListener = (who: Array<{ username?: string; deviceId?: string }>) => void

/**
 * The broker's security hooks built from its auth options, publish rate limit and listeners.
 * Throws FieldgateError AUTH_FILE at start when a configured file is missing or malformed.
 * `tuning.guard` tunes the login backoff beyond the options; `tuning.hashProbe` watches password
 * hashes start and end (tests and benches use both).
 */
export interface SecurityTuning {
  guard?: Partial<GuardOptions>
  hashProbe?: HashProbe
}

export async function createSecurity(cfg: SecurityOptions, logger: Logger, clock: Clock = systemClock, tuning: SecurityTuning = {}): Promise<Security> {
  const log = logger.child({ module: 'broker.auth' })
  let files: AuthFiles = await loadFiles(cfg.auth, log)
  const passwords = new PasswordChecker(files.users ?? new Map(), tuning.hashProbe)
  const guard = new FailureGuard({ ...DEFAULT_GUARD, window: cfg.auth.failureWindow, lockoutAfter: cfg.auth.lockoutFailures, ...tuning.guard }, clock)
  const rate =
    cfg.limits.publishRate > 0
      ? // The broker's limit counter logs the warning (once per client per minute); this adds the detail at debug.
        new PublishRateLimiter(cfg.limits.publishRate, cfg.limits.publishBurst, clock, (e) =>
          log.debug({ clientId: e.key, limit: 'publish_rate', waitMs: e.wait }, e.wait < 0 ? 'client far over its publish rate' : 'client at its publish rate; reading paused'),
        )
      : null
  const limiter = new HashLimiter({ maxRunning: cfg.auth.maxPasswordChecks, maxRunningPerAddress: 1, maxWaitingPerAddress: cfg.auth.maxWaitingLoginsPerAddress })
  const poolSize = Number(process.env.UV_THREADPOOL_SIZE) || 4
  if (files.users && cfg.auth.maxPasswordChecks >= poolSize) {
    log.warn({ max_password_checks: cfg.auth.maxPasswordChecks, threadPool: poolSize }, 'broker.auth.max_password_checks fills the thread pool the store writes with: a login storm can delay durable acknowledgements; set it below UV_THREADPOOL_SIZE')
  }
  // A storm of busy refusals writes one line, then a count every 10 s.
  const busyLog = new LogLimiter(log, clock)
  const revokeListeners: RevokeListener[] = []
  const sleeps = new Set<{ h: TimerHandle; done: () => void }>()
  let reloads = 0
  let lastReloadError: string | null = null
  let certErrors: string[] = []
  let refusedLocked = 0
  let refusedInFlight = 0

  for (const [i, l] of cfg.listeners.entries()) {
    if (!listenerAllowsAnonymous(l) && !files.users && !files.tokens && !l.tls?.useCnAsUsername) {
      log.warn({ listener: l.name ?? `${l.protocol}-${i}` }, 'listener refuses anonymous clients and no password, tokens or certificate login is configured: nobody can connect')
    }
  }

  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const entry = { h: clock.setTimeout(() => (sleeps.delete(entry), resolve()), ms), done: resolve }
      sleeps.add(entry)
    })

  interface Outcome {
    result: AuthResult
    /** A wrong secret: counts towards the address's backoff (a missing one, anonymous, does not). */
    guess: boolean
    /** Logged elsewhere (rate-limited), not as a refused login. */
    quiet?: boolean
  }

  const refused = (reasonCode: 0x86 | 0x87, reason: string, guess = true): Outcome => ({ result: { ok: false, reasonCode, reason }, guess })

  async function authenticate(req: AuthRequest): Promise<AuthResult> {
    const address = req.info.remoteAddress
    // Counted from here: parallel guesses from one address see each other before any hash is computed.
    const decision = guard.begin(address)
    if (decision.locked) {
      refusedLocked++
      return { ok: false, reasonCode: 0x87, reason: 'too many failed logins from this address; try again later' }
    }
    if (decision.busy) {
      refusedInFlight++
      busyLog.log('warn', 'in-flight', { address, clientId: req.clientId, failures: decision.failures }, 'login refused: server busy (failed and running logins from this address reach lockout_failures)')
      return { ok: false, reasonCode: 0x89, reason: 'too many logins in progress from this address; try again later' }
    }
    let out: Outcome
    try {
      if (decision.delay > 0) await sleep(decision.delay)
      out = await verify(req)
    } catch (err) {
      guard.finish(address, false)
      throw err
    }
    const failures = guard.finish(address, out.guess && !out.result.ok)
    if (!out.result.ok && out.quiet !== true) {
      // Never the password (or token): address, client id and user name are enough to investigate.
      log.warn(
        { address, port: req.info.remotePort, clientId: req.clientId, username: req.username, listener: req.info.listener, failures },
        `login refused: ${out.result.reason}`,
      )
    }
    return out.result
  }

  async function verify(req: AuthRequest): Promise<Outcome> {
    if (req.info.certCommonName !== undefined) return { result: { ok: true, username: req.info.certCommonName }, guess: false }
    if (req.username === undefined) {
      return req.info.allowAnonymous ? { result: { ok: true }, guess: false } : refused(0x87, 'anonymous clients are not allowed on this listener', false)
    }
    const password = req.password ?? Buffer.alloc(0)
    if (req.username === TOKEN_USERNAME && files.tokens) {
      const deviceId = files.tokens.byDigest.get(tokenDigest(password))
      return deviceId === undefined ? refused(0x86, 'unknown device token') : { result: { ok: true, deviceId }, guess: false }
    }
    if (files.users) {
      const slot = await limiter.acquire(req.info.remoteAddress, req.isOpen)
      if (slot === 'busy') {
        busyLog.log('warn', 'busy', { address: req.info.remoteAddress, clientId: req.clientId, waiting: limiter.waiting }, 'login refused: server busy (this address has too many logins waiting for a password check)')
        return { result: { ok: false, reasonCode: 0x89, reason: 'too many logins waiting from this address; try again later' }, guess: false, quiet: true }
      }
      if (slot === 'gone') return { result: { ok: false, reasonCode: 0x87, reason: 'connection closed before its password check' }, guess: false, quiet: true }
      try {
        return (await passwords.check(req.username, password)) ? { result: { ok: true, username: req.username }, guess: false } : refused(0x86, 'bad user name or password')
      } finally {
        slot()
      }
    }
    // Without a password file a user name proves nothing: treat the client as anonymous.
    return req.info.allowAnonymous ? { result: { ok: true }, guess: false } : refused(0x86, 'no password file is configured for user logins', false)
  }

  const security: Security = {
    authenticate,
    authorizePublish(who, topic) {
      // Only the broker itself publishes $SYS.
      if (topic.startsWith('$SYS')) return false
      return files.acl ? files.acl.canWrite(who, topic) : true
    },
    authorizeSubscribe(who, filter) {
      return files.acl ? files.acl.canSubscribe(who, filter) : true
    },
    onRevoke(listener) {
      revokeListeners.push(listener)
    },
    async reload() {
      reloads++
      const certs = reloadCertificates()
      certErrors = certs.failed.map((f) => `${f.listener}: ${f.error}`)
      for (const f of certs.failed) log.error({ listener: f.listener, err: f.error }, 'TLS certificate reload failed; the listener keeps its previous certificate')
      if (certs.reloaded.length > 0) log.info({ listeners: certs.reloaded }, 'TLS certificates reloaded')
      let next: AuthFiles
      try {
        next = await loadFiles(cfg.auth, log)
      } catch (err) {
        lastReloadError = (err as Error).message
        log.error({ err: lastReloadError }, 'security reload failed; the previous password, tokens and ACL files stay in force')
        return
      }
      lastReloadError = null
      const revoked = revokedIdentities(files, next)
      files = next
      passwords.replace(next.users ?? new Map())
      log.info({ users: next.users?.size ?? 0, tokens: next.tokens?.byDigest.size ?? 0, aclRules: next.acl?.size ?? 0, revoked: revoked.length }, 'security files reloaded')
      if (revoked.length > 0) for (const l of revokeListeners) l(revoked)
    },
    status() {
      const g = guard.status()
      const problem = lastReloadError ?? certErrors[0] ?? null
      return {
        health: problem ? 'degraded' : 'ok',
        ...(problem ? { reason: `last reload failed: ${problem}` } : {}),
        details: {
          passwordUsers: files.users?.size ?? null,
          deviceTokens: files.tokens?.byDigest.size ?? null,
          aclRules: files.acl?.size ?? null,
          // Named as the broker names them (src/broker/listeners/index.ts listenerName).
          anonymousListeners: cfg.listeners.flatMap((l, i) => (listenerAllowsAnonymous(l) ? [l.name ?? `${l.protocol}-${i}`] : [])),
          failedLogins: g.totalFailures,
          lockedAddresses: g.lockedAddresses,
          refusedWhileLocked: refusedLocked,
          refusedInFlight,
          // Password checks: bounded so that the store's disk writes always find a thread.
          passwordChecks: passwords.checks,
          passwordChecksRunning: limiter.running,
          passwordChecksPeak: limiter.peakRunning,
          loginsWaiting: limiter.waiting,
          loginsWaitingPeak: limiter.peakWaiting,
          refusedBusy: limiter.refused,
          loginsAbandoned: limiter.abandoned,
          publishRateLimited: rate?.limited ?? 0,
          publishRateRefused: rate?.refused ?? 0,
          reloads,
          lastReloadError,
          certificateReloadErrors: certErrors,
        },
      }
    },
    close() {
      busyLog.flush()
      for (const s of sleeps) {
        clock.clearTimeout(s.h)
        s.done()
      }
      sleeps.clear()
    },
  }
  if (cfg.auth.aclFile) security.authorizeDelivery = (who, topic) => (files.acl ? files.acl.canRead(who, topic) : true)
  if (rate) security.admitPublish = (who) => rate.admit(who.clientId)
  return security
}
