import { createBroker, type Broker } from '../broker/index.ts'
import { validateConfig } from '../config/index.ts'
import type { Logger } from '../core/index.ts'
import type { DemoCloudControl } from '../status/index.ts'
import { VERSION } from '../version.ts'
import { brokerSettings } from './options/broker.ts'

/** Where the built-in demo's stand-in cloud listens; the demo config's uplink points here. */
export const DEMO_CLOUD_HOST = '127.0.0.1'
export const DEMO_CLOUD_PORT = 1884

export interface DemoCloud extends DemoCloudControl {
  stop(): Promise<void>
}

/**
 * Only for `fieldgate run` without --config: a second in-process broker on loopback that stands in
 * for the cloud, so a newcomer sees the uplink, the backlog and its replay. Cutting it closes the
 * broker (the uplink sees the link drop); restoring opens a fresh one on the same port, as a cloud
 * broker that restarted without a persistent session would be.
 */
export async function startDemoCloud(log: Logger, port = DEMO_CLOUD_PORT): Promise<DemoCloud> {
  const settings = brokerSettings(validateConfig({ broker: { listeners: [{ name: 'demo-cloud', protocol: 'mqtt', host: DEMO_CLOUD_HOST, port }] } }).broker)
  const url = `mqtt://${DEMO_CLOUD_HOST}:${port}`
  const logger = log.child({ module: 'demo-cloud' })
  let broker: Broker | null = null
  let busy: Promise<void> = Promise.resolve()
  const open = async (): Promise<void> => {
    const b = await createBroker({ ...settings, logger, gatewayId: 'demo-cloud', version: VERSION })
    await b.listen()
    broker = b
  }
  const close = async (): Promise<void> => {
    const b = broker
    broker = null
    await b?.close()
  }
  await open()
  logger.info({ url }, 'demo: stand-in cloud broker listening (the demo uplink forwards readings to it)')
  // One change at a time: a double click must not open two brokers on one port.
  const serial = (fn: () => Promise<void>): Promise<void> => (busy = busy.then(fn, fn))
  return {
    state: () => ({ up: broker !== null, url }),
    set: (up) => serial(async () => (up ? (broker ? undefined : open()) : close())),
    stop: () => serial(close),
  }
}
