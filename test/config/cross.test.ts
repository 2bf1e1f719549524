import assert from 'node:assert/strict'
import { test } from 'node:test'
import { loadConfigText } from '../../src/config/index.ts'

/** Loads TOML text and returns the validation message (or '' when valid). */
function problems(toml: string): string {
  try {
    loadConfigText(toml, '/etc/fieldgate/gw.toml', {})
    return ''
  } catch (err) {
    return (err as Error).message
  }
}

const serial = (id: string, port: string, extra = ''): string => `[[devices]]\nid = "${id}"\ndriver = "serial"\nport = "${port}"\nformat = "json"\n${extra}[[devices.points]]\nname = "v"\n`
const rtu = (id: string, port: string, extra = ''): string =>
  `[[devices]]\nid = "${id}"\ndriver = "modbus-rtu"\nport = "${port}"\n${extra}[[devices.points]]\nname = "v"\naddress = 0\n`

test('an mqtts or wss listener without a tls table is refused at validation, naming the listener and the line', () => {
  for (const protocol of ['mqtts', 'wss']) {
    const m = problems(`[[broker.listeners]]\nname = "lan"\nprotocol = "${protocol}"\nport = 8883\n`)
    assert.match(m, new RegExp(`broker\\.listeners\\[0\\]\\.protocol \\(/etc/fieldgate/gw\\.toml:3\\): "${protocol}" needs a \\[broker\\.listeners\\.tls\\] table`))
  }
})

test('a regex serial device without a pattern, or with an invalid one, is refused', () => {
  assert.match(problems(serial('m', '/dev/ttyUSB0').replace('format = "json"', 'format = "regex"')), /devices\[0\]\.pattern .*required when format = "regex"/)
  assert.match(problems(serial('m', '/dev/ttyUSB0', 'pattern = "(unclosed"\n').replace('format = "json"', 'format = "regex"')), /devices\[0\]\.pattern \(\/etc\/fieldgate\/gw\.toml:6\): not a valid regular expression/)
})

test('duplicate device ids, uplink names and listener ports are refused, naming both entries', () => {
  const devs = `[[devices]]\nid = "a"\ndriver = "simulated"\n[[devices]]\nid = "a"\ndriver = "simulated"\n`
  assert.match(problems(devs), /devices\[1\]\.id \(\/etc\/fieldgate\/gw\.toml:5\): "a" is already the id of devices\[0\]/)
  const ups = `[[uplinks]]\nname = "cloud"\nurl = "mqtt://127.0.0.1:1883"\n[[uplinks]]\nname = "cloud"\nurl = "mqtt://127.0.0.1:1884"\n`
  assert.match(problems(ups), /uplinks\[1\]\.name .*"cloud" is already the name of uplinks\[0\]/)
  const ls = `[[broker.listeners]]\nport = 1883\n[[broker.listeners]]\nhost = "0.0.0.0"\nport = 1883\n`
  assert.match(problems(ls), /broker\.listeners\[1\]\.port \(\/etc\/fieldgate\/gw\.toml:5\): 0\.0\.0\.0:1883 is already used by broker\.listeners\[0\]/)
  // Different addresses on one port do not collide.
  assert.equal(problems(`[[broker.listeners]]\nhost = "127.0.0.1"\nport = 1883\n[[broker.listeners]]\nhost = "127.0.0.2"\nport = 1883\n`), '')
})

test('the status page on a listener port is refused', () => {
  assert.match(problems(`[status]\nport = 1883\n[[broker.listeners]]\nport = 1883\n`), /status\.port \(\/etc\/fieldgate\/gw\.toml:2\): 1883 is also the port of broker\.listeners\[0\]/)
  assert.equal(problems(`[status]\nenabled = false\nport = 1883\n[[broker.listeners]]\nport = 1883\n`), '')
})

test('devices sharing a serial port: one RS-485 line needs one set of line settings; a line-protocol device needs its own port', () => {
  assert.equal(problems(rtu('a', '/dev/ttyUSB0') + rtu('b', '/dev/ttyUSB0', 'unit_id = 2\n')), '')
  assert.match(problems(rtu('a', '/dev/ttyUSB0') + rtu('b', '/dev/ttyUSB0', 'baud = 19200\nparity = "even"\n')), /devices\[1\]\.baud .*shared with devices\[0\] \("a"\) but baud 19200 differs from 9600, parity even differs from none/)
  assert.match(problems(serial('a', '/dev/ttyUSB0') + rtu('b', '/dev/ttyUSB0')), /devices\[1\]\.port .*already opened by devices\[0\]/)
})

test('devices sharing a Modbus line (one serial port, or one RTU-over-TCP gateway) need the same frame_gap: the line has one', () => {
  const overTcp = (id: string, extra = ''): string => `[[devices]]\nid = "${id}"\ndriver = "modbus-rtu-over-tcp"\nhost = "10.0.0.5"\nport = 4196\n${extra}[[devices.points]]\nname = "v"\naddress = 0\n`
  assert.equal(problems(rtu('a', '/dev/ttyUSB0', 'frame_gap = "20ms"\n') + rtu('b', '/dev/ttyUSB0', 'unit_id = 2\nframe_gap = 20\n')), '')
  assert.match(problems(rtu('a', '/dev/ttyUSB0') + rtu('b', '/dev/ttyUSB0', 'unit_id = 2\nframe_gap = "20ms"\n')), /devices\[1\]\.frame_gap .*shared with devices\[0\] \("a"\) but frame_gap 20 differs from the default/)
  assert.equal(problems(overTcp('a') + overTcp('b', 'unit_id = 2\n')), '')
  assert.match(problems(overTcp('a', 'frame_gap = "5ms"\n') + overTcp('b', 'unit_id = 2\nframe_gap = "8ms"\n')), /devices\[1\]\.frame_gap .*10\.0\.0\.5:4196 is shared with devices\[0\] \("a"\) but frame_gap 8 differs from 5/)
  // Modbus TCP devices each get a line of their own, whatever their addresses.
  assert.equal(problems(overTcp('a').replace('modbus-rtu-over-tcp', 'modbus-tcp') + overTcp('b', 'unit_id = 2\nframe_gap = "8ms"\n').replace('modbus-rtu-over-tcp', 'modbus-tcp')), '')
})

test('values of the wrong form say what is allowed', () => {
  assert.match(problems(`[storage]\nmax_bytes = "lots"\n`), /storage\.max_bytes \(\/etc\/fieldgate\/gw\.toml:2\): expected a size like "512MB"/)
  assert.match(problems(`[[devices]]\nid = "d"\ndriver = "simulated"\npoll_interval = "5 sec"\n`), /devices\[0\]\.poll_interval .*expected a duration like "5s"/)
})

test('a Modbus point wider than one request may read is refused (the driver could not plan it)', () => {
  const tcp = (extra: string, point: string): string => `[[devices]]\nid = "m"\ndriver = "modbus-tcp"\nhost = "127.0.0.1"\n${extra}[[devices.points]]\nname = "p"\naddress = 0\n${point}`
  assert.match(problems(tcp('max_registers = 1\n', 'type = "float32"\n')), /devices\[0\]\.points\[0\]\.type .*point "p" spans 2 registers, more than one request may read \(max_registers = 1\)/)
  assert.match(problems(tcp('max_registers = 8\n', 'type = "string"\nlength = 10\n')), /devices\[0\]\.points\[0\]\.length .*spans 10 registers/)
  assert.equal(problems(tcp('max_registers = 2\n', 'type = "float32"\n')), '')
})
