import { join } from 'node:path'
import { createUplink } from '../src/bridge/index.ts'
import { uplinkSchema } from '../src/config/sections/bridge.ts'
import { storageSchema } from '../src/config/sections/storage.ts'
import { silentLogger, type Message } from '../src/core/index.ts'
import { Forwarder, openStore } from '../src/store-forward/index.ts'
import { startMosquitto } from '../test/helpers/mosquitto.ts'
import { tempDir } from '../test/helpers/tmp.ts'
const N = Number(process.argv[2] ?? 20000), W = Number(process.argv[3] ?? 512)
const up = await startMosquitto()
const tmp = tempDir('diag-')
const store = await openStore(storageSchema.parse({ data_dir: join(tmp.dir, 'd') }), silentLogger)
const queue = await store.openQueue('c')
for (let i = 0; i < N; i += 1000) { const b: Message[] = []; for (let k = i; k < Math.min(N, i + 1000); k++) b.push({ topic: `fg/${k%10}`, payload: Buffer.alloc(64), qos: 1, retain: false }); await queue.append(b) }
const uplink = createUplink(uplinkSchema.parse({ name: 'b', url: `mqtt://127.0.0.1:${up.port}`, protocol_version: 4, window: W, probe: { interval: 0 } }), { gatewayId: 'g', logger: silentLogger })
const f = new Forwarder({ queue, sink: uplink, window: W, replayRate: 0, logger: silentLogger })
f.start(); uplink.start()
const t0 = Date.now()
for (let i = 0; i < 40; i++) { await new Promise(r => setTimeout(r, 500)); const d = queue.stats().depth; console.log(Date.now()-t0, d, JSON.stringify(f.status().details), JSON.stringify(uplink.status().details.inflight)); if (d === 0) break }
await f.stop(); await uplink.stop(); await store.close(); await up.stop(); tmp.cleanup(); process.exit(0)
