import type { LocalBroker, Message, Status } from '../../src/core/index.ts'

function matches(filter: string, topic: string): boolean {
  const f = filter.split('/')
  const t = topic.split('/')
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true
    if (i >= t.length) return false
    if (f[i] !== '+' && f[i] !== t[i]) return false
  }
  return f.length === t.length
}

/** A tiny in-test LocalBroker: records what is published and routes it to in-process subscribers. */
export class FakeBroker implements LocalBroker {
  readonly published: Message[] = []
  private subs: Array<{ filter: string; fn: (m: Message) => void | Promise<void> }> = []

  async publish(m: Message): Promise<void> {
    this.published.push(m)
    await this.deliver(m)
  }

  subscribe(filter: string, onMessage: (m: Message) => void | Promise<void>): () => void {
    const s = { filter, fn: onMessage }
    this.subs.push(s)
    return () => {
      this.subs = this.subs.filter((x) => x !== s)
    }
  }

  /** Delivers as a client publish would, waiting for handlers (as a QoS 1 PUBACK would). */
  async deliver(m: Message): Promise<void> {
    await Promise.all(this.subs.filter((s) => matches(s.filter, m.topic)).map((s) => s.fn(m)))
  }

  get subscriptions(): string[] {
    return this.subs.map((s) => s.filter)
  }

  on(topic: string): Array<Record<string, unknown>> {
    return this.published.filter((m) => m.topic === topic).map((m) => JSON.parse(m.payload.toString()) as Record<string, unknown>)
  }

  status(): Status {
    return { health: 'ok', details: {} }
  }

  async close(): Promise<void> {}
}
