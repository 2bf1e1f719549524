import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { test } from 'node:test'
import { waitFor } from '../helpers/tmp.ts'
import { rawSocket, startBroker } from './helpers.ts'

// No MQTT.js client in this file: constructing one switches mqtt-packet's cache off by itself, which
// would hide what the broker alone does.
const numbers = createRequire(import.meta.url)('mqtt-packet/numbers.js') as { cache: Record<number, Buffer> }

test('the broker answers CONNECT and SUBSCRIBE without building mqtt-packet\'s 65,536-entry number cache (6.5 MB of heap kept for good)', async () => {
  const tb = await startBroker()
  try {
    const r = await rawSocket(tb.port)
    // CONNECT 3.1.1, clean session, keep-alive 60, client id "nc"; then SUBSCRIBE id 1 to "a/b" QoS 1.
    r.socket.write(Buffer.from([0x10, 14, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 2, 0, 60, 0, 2, 0x6e, 0x63]))
    r.socket.write(Buffer.from([0x82, 8, 0, 1, 0, 3, 0x61, 0x2f, 0x62, 1]))
    // CONNACK (4 bytes) and SUBACK (5 bytes), both made by mqtt-packet's generate()
    await waitFor(() => r.data().length >= 9, 5000, 10, 'CONNACK and SUBACK')
    assert.deepEqual([...r.data().subarray(0, 9)], [0x20, 2, 0, 0, 0x90, 3, 0, 1, 1])
    assert.equal(Object.keys(numbers.cache).length, 0)
    r.socket.destroy()
  } finally {
    await tb.close()
  }
})
