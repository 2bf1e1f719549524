import { MqttBroker } from './broker.ts'
import type { Broker, BrokerOptions } from './types.ts'

export type { Broker, BrokerOptions, ListeningOn, LocalHandler, LocalSubscribeOptions, LimitKind } from './types.ts'
export type { AuthOptions, BrokerLimits, BrokerSettings, ListenerOptions, ListenerTlsOptions } from './options.ts'
export type { BrokerHooks, ClientIdentity, ConnectionInfo, AuthRequest, AuthResult } from './hooks.ts'
export { openHooks } from './hooks.ts'
export { MemoryRetainedStore, MemorySessionStore } from './persistence/memory.ts'
export { isLoopbackHost, listenerName, startListener, type ConnectionHandler, type StartedListener } from './listeners/index.ts'
export { tlsServerOptions } from './listeners/tls.ts'
export { parseFilter, topicNameProblem } from './topics.ts'

/** Builds the broker and restores persisted sessions and retained messages; call `listen()` to open the listeners. */
export async function createBroker(opts: BrokerOptions): Promise<Broker> {
  const broker = new MqttBroker(opts)
  await broker.init()
  return broker
}
