/**
 * The built-in config `fieldgate` runs with when no --config is given: a safe demo that listens on
 * loopback only, with simulated sensors, the embedded broker on 1883, LevelDB in ./data, the status
 * page on 8080, and an uplink to a stand-in cloud broker that the demo runs inside the same process
 * on 127.0.0.1:1884 (src/gateway/demo-cloud.ts; its port is taken from this uplink's url). The status
 * page can cut and restore that stand-in, to watch the backlog grow and drain. Device profiles in
 * hardware/ show LAN deployments.
 */
export const DEMO_CONFIG = `
[gateway]
id = "fieldgate-demo"

[log]
level = "info"

[broker]
[[broker.listeners]]
name = "local"
protocol = "mqtt"
host = "127.0.0.1"
port = 1883

[storage]
data_dir = "./data"

[status]
host = "127.0.0.1"
port = 8080

# The demo's stand-in cloud: a second broker inside this process, on loopback.
[[uplinks]]
name = "demo-cloud"
url = "mqtt://127.0.0.1:1884"
forward = [{ filter = "fieldgate/#" }]
backoff = { min = "1s", max = "3s" }
replay_rate = 50

[[devices]]
id = "room1"
driver = "simulated"
poll_interval = "1s"
qos = 1
points = [
  { name = "temperature", kind = "random_walk", start = 21, step = 0.1, low = -10, high = 45, unit = "°C" },
  { name = "humidity", kind = "random_walk", start = 45, step = 0.5, low = 0, high = 100, unit = "%" },
  { name = "pulses", kind = "counter", step = 1 },
  { name = "setpoint", kind = "setpoint", start = 20, writable = true, min = 5, max = 30, unit = "°C" },
]

[[devices]]
id = "tracker"
driver = "simulated"
poll_interval = "2s"
qos = 1
points = [
  { name = "lat", kind = "gps_lat", unit = "°" },
  { name = "lon", kind = "gps_lon", unit = "°" },
  { name = "speed", kind = "gps_speed", unit = "km/h" },
]
`
