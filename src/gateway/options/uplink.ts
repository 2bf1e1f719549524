import type { DownlinkRule, ForwardRule, StatusMessage, UplinkOptions, UplinkTlsOptions } from '../../bridge/index.ts'
import type { UplinkConfig } from '../../config/index.ts'

type TlsConfig = NonNullable<UplinkConfig['tls']>

/**
 * One `[[uplinks]]` entry as the bridge takes it. `window`, `replay_rate` and `replay_mode` go to the
 * uplink's pipeline (uplinks.ts) and `management` to the fleet channel (fleet.ts), not to the bridge.
 */
export function uplinkOptions(c: UplinkConfig): UplinkOptions {
  return {
    name: c.name,
    url: c.url,
    servers: [...c.servers],
    clientId: c.client_id,
    protocolVersion: c.protocol_version,
    clean: c.clean,
    sessionExpiry: c.session_expiry,
    username: c.username,
    passwordFile: c.password_file,
    password: c.password,
    tls: c.tls === undefined ? undefined : tlsOptions(c.tls),
    keepalive: c.keepalive,
    connectTimeout: c.connect_timeout,
    backoff: { min: c.backoff.min, max: c.backoff.max },
    will: statusMessage(c.will),
    birth: statusMessage(c.birth),
    forward: c.forward.map(forwardRule),
    downlink: c.downlink.map(downlinkRule),
    probe: { interval: c.probe.interval, timeout: c.probe.timeout, topic: c.probe.topic },
  }
}

function tlsOptions(t: TlsConfig): UplinkTlsOptions {
  return {
    caFile: t.ca_file,
    certFile: t.cert_file,
    keyFile: t.key_file,
    passphraseFile: t.passphrase_file,
    rejectUnauthorized: t.reject_unauthorized,
    servername: t.servername,
  }
}

function statusMessage(m: UplinkConfig['will']): StatusMessage {
  return { topic: m.topic, payload: m.payload, qos: m.qos, retain: m.retain }
}

function forwardRule(r: UplinkConfig['forward'][number]): ForwardRule {
  return { filter: r.filter, remote: r.remote, stripPrefix: r.strip_prefix, qos: r.qos, retain: r.retain, format: r.format, metadata: { ...r.metadata } }
}

function downlinkRule(r: UplinkConfig['downlink'][number]): DownlinkRule {
  return { remoteFilter: r.remote_filter, local: r.local, stripPrefix: r.strip_prefix, qos: r.qos, retain: r.retain }
}
