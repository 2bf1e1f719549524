import type { Qos } from '../core/types.ts'

/**
 * Security hooks the broker calls. The broker ships permissive defaults (allow anonymous on
 * loopback-only setups); src/broker/auth builds the real ones from config (password file, tokens, ACL).
 */

export interface ConnectionInfo {
  /** Remote address and port as seen by the listener. */
  remoteAddress: string
  remotePort: number
  /** Listener name (from config) and protocol. */
  listener: string
  protocol: 'mqtt' | 'mqtts' | 'ws' | 'wss'
  /** Whether the listener accepts clients without credentials. */
  allowAnonymous: boolean
  /** TLS client certificate common name when mutual TLS verified one. */
  certCommonName?: string
}

export interface AuthRequest {
  clientId: string
  username?: string
  password?: Buffer
  info: ConnectionInfo
  /** False once the connection has closed (a login waiting for a password check then gives its turn away). */
  isOpen?: () => boolean
}

export type AuthResult =
  | { ok: true; /** identity used by the ACL (%u) */ username?: string; /** device id for token logins */ deviceId?: string }
  | {
      ok: false
      /** v5 reason code: 0x86 bad user name or password, 0x87 not authorized, 0x89 server busy (try again), 0x8C bad auth method */
      reasonCode: 0x86 | 0x87 | 0x89 | 0x8c
      reason: string
    }

export interface ClientIdentity {
  clientId: string
  username?: string
  deviceId?: string
  info: ConnectionInfo
}

export interface BrokerHooks {
  authenticate(req: AuthRequest): Promise<AuthResult>
  /** May this client publish to this topic? */
  authorizePublish(who: ClientIdentity, topic: string, qos: Qos, retain: boolean): boolean
  /** May this client subscribe to this filter (and so receive what matches it)? */
  authorizeSubscribe(who: ClientIdentity, filter: string, qos: Qos): boolean
  /** Checked before each delivery (ACL read rules on concrete topics, e.g. `$SYS`). */
  authorizeDelivery?(who: ClientIdentity, topic: string): boolean
  /**
   * Publish rate limiting: 0 to proceed, or how many ms the broker should stop reading this client's
   * socket before the publish is admitted (backpressure, nothing dropped). A negative value means the
   * client is far over its rate: a v5 client is disconnected with 0x96 (Message rate too high).
   */
  admitPublish?(who: ClientIdentity, bytes: number): number
  /** Called when identities are revoked (token file reload); returns client ids to disconnect. */
  onRevoke?(listener: (clientIds: Array<{ username?: string; deviceId?: string }>) => void): void
}

/** Default hooks: anonymous allowed only where the listener allows it; no ACL. */
export const openHooks: BrokerHooks = {
  async authenticate(req) {
    if (req.username === undefined && !req.info.allowAnonymous) {
      return { ok: false, reasonCode: 0x87, reason: 'anonymous clients are not allowed on this listener' }
    }
    return { ok: true, ...(req.username === undefined ? {} : { username: req.username }) }
  },
  authorizePublish: () => true,
  authorizeSubscribe: () => true,
}
