/**
 * The built-in config `fieldgate` runs with when no --config is given: a safe demo that listens on
 * loopback only, with simulated sensors, the embedded broker on 1883, LevelDB in ./data and the
 * status page on 8080. Device profiles in hardware/ show LAN deployments.
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

[[devices]]
id = "room1"
driver = "simulated"
poll_interval = "1s"

[[devices]]
id = "tracker"
driver = "simulated"
poll_interval = "2s"
points = [
  { name = "lat", kind = "gps_lat", unit = "°" },
  { name = "lon", kind = "gps_lon", unit = "°" },
  { name = "speed", kind = "gps_speed", unit = "km/h" },
]
`
