/**
 * The technician page: one self-contained document (no CDN, no external files) so it works on a
 * phone on a site without internet. Live from /events, refreshed from /status every few seconds.
 * The script avoids template literals so this file can hold it in one.
 */
const STYLE = `
:root{--ok:#1a7f37;--warn:#b7791f;--bad:#c62828;--off:#8a8f98;--bg:#f4f5f7;--card:#fff;--ink:#1d2330;--mute:#5b6372}
*{box-sizing:border-box}body{margin:0;font:15px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:var(--bg);color:var(--ink)}
header{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center;padding:.7rem 1rem;background:#1d2330;color:#fff}
header h1{font-size:1.1rem;margin:0}header .meta{color:#c9ced8;font-size:.85rem}
main{padding:.6rem;max-width:1100px;margin:auto}
section{margin:.6rem 0}h2{font-size:.95rem;margin:.4rem .2rem;color:var(--mute);text-transform:uppercase;letter-spacing:.04em}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(260px,1fr));gap:.6rem}
.card{min-width:0;overflow-wrap:anywhere;background:var(--card);border-radius:8px;padding:.6rem .7rem;border-left:6px solid var(--off);box-shadow:0 1px 2px #0002}
.card[data-health=ok]{border-color:var(--ok)}.card[data-health=degraded]{border-color:var(--warn)}.card[data-health=down]{border-color:var(--bad);background:#fff5f5}
.title{display:flex;justify-content:space-between;gap:.5rem;font-weight:600;word-break:break-all}
.pill{font-size:.75rem;font-weight:700;padding:.05rem .5rem;border-radius:99px;color:#fff;background:var(--off);white-space:nowrap;text-transform:uppercase}
.pill.ok{background:var(--ok)}.pill.degraded{background:var(--warn)}.pill.down{background:var(--bad)}
.reason{color:var(--bad);font-size:.85rem;margin:.2rem 0}.dim{color:var(--mute);font-size:.85rem}
table{width:100%;border-collapse:collapse;font-size:.88rem;margin-top:.3rem}td{padding:.15rem .2rem;border-top:1px solid #eee;vertical-align:top}
td.v{text-align:right;font-variant-numeric:tabular-nums;font-weight:600}td.v{overflow-wrap:anywhere}td.age{text-align:right;color:var(--mute);white-space:nowrap}
tr.q-error td.v{color:var(--bad)}tr.q-stale td.v{color:var(--warn)}
ul.recent{list-style:none;margin:0;padding:0;background:var(--card);border-radius:8px}ul.recent li{padding:.35rem .7rem;border-top:1px solid #eee;font-size:.88rem}
#live{font-size:.8rem}#live.on::before{content:"\\25CF ";color:#4ade80}#live.off::before{content:"\\25CF ";color:#f87171}
#auth{display:none;background:#fff3cd;padding:.7rem;border-radius:8px}input,button{font:inherit;padding:.35rem .6rem}
button{border:0;border-radius:6px;background:#1d2330;color:#fff;cursor:pointer}
`

const SCRIPT = `
"use strict";
var S = { status: null, devices: {}, recent: [], token: null, es: null, timer: null };
var $ = function (id) { return document.getElementById(id); };
function esc(v) { return String(v).replace(/[&<>"']/g, function (c) { return "&#" + c.charCodeAt(0) + ";"; }); }
function age(ts) {
  if (!ts) return "";
  var s = Math.max(0, Math.round((Date.now() - ts) / 1000));
  if (s < 60) return s + " s"; if (s < 3600) return Math.floor(s / 60) + " min";
  if (s < 86400) return Math.floor(s / 3600) + " h"; return Math.floor(s / 86400) + " d";
}
function bytes(n) { if (typeof n !== "number") return "?"; var u = ["B","KB","MB","GB","TB"], i = 0; while (n >= 1000 && i < 4) { n /= 1000; i++; } return n.toFixed(i ? 1 : 0) + " " + u[i]; }
var BAD = /^(down|error|failed|stopped|disconnected|offline|closed|unavailable)$/i;
var PROBLEM = /^(down|error|failed|stopped|disconnected|offline|closed|unavailable|degraded)$|refused|error|fail|lost/i;
var WARN = /^(degraded|stale|connecting|reconnecting|starting|backoff|unknown)$/i;
function healthOf(state) { if (!state) return "unknown"; if (BAD.test(state)) return "down"; if (state === "ok" || /^(up|running|connected|online|open|ready)$/i.test(state)) return "ok"; if (WARN.test(state)) return "degraded"; return "degraded"; }
function token() {
  if (S.token !== null) return S.token;
  var m = /[#&]token=([^&]+)/.exec(location.hash);
  if (m) { try { localStorage.setItem("fieldgate-token", decodeURIComponent(m[1])); } catch (e) {} history.replaceState(null, "", location.pathname); }
  try { S.token = localStorage.getItem("fieldgate-token") || ""; } catch (e) { S.token = ""; }
  return S.token;
}
function headers() { var t = token(); return t ? { authorization: "Bearer " + t } : {}; }
function deviceOfSource(name) { var m = /^(?:driver|device)s?[:/.](.+)$/.exec(name); return m ? m[1] : null; }
function pick(d, names) {
  if (!d) return undefined;
  for (var i = 0; i < names.length; i++) { if (d[names[i]] !== undefined && d[names[i]] !== null) return d[names[i]]; }
  for (var k in d) { var v = d[k]; if (v && typeof v === "object" && !Array.isArray(v)) { for (var j = 0; j < names.length; j++) if (v[names[j]] !== undefined && v[names[j]] !== null) return v[names[j]]; } }
  return undefined;
}
function asTs(v) { if (typeof v === "number" && v > 1e11) return v; if (typeof v === "string" && !isNaN(Date.parse(v))) return Date.parse(v); return null; }
function fmt(k, v) {
  if (v === null || v === undefined) return "\\u2013";
  if (typeof v === "number") { var t = /(_at|At|_ts|time|^ts|\\.ts)$/.test(k) ? asTs(v) : null; if (t) return age(t) + " ago"; if (/(Ms|_ms)$/.test(k)) return v >= 1000 ? age(Date.now() - v) : v + " ms"; if (/bytes|size/i.test(k)) return bytes(v); return String(Math.round(v * 100) / 100); }
  if (typeof v === "boolean") return v ? "yes" : "no";
  if (typeof v === "object") return Array.isArray(v) ? v.length + " items" : "\\u2026";
  return String(v);
}
function flat(d, prefix, out) {
  for (var k in d) { if (k === "devices" || k === "points") continue; var v = d[k]; var key = prefix ? prefix + "." + k : k;
    if (v && typeof v === "object" && !Array.isArray(v)) { if (out.length < 40) flat(v, key, out); }
    else if (k !== "devices" && out.length < 40) out.push([key, v]); }
  return out;
}
function pill(h, text) { return '<span class="pill ' + esc(h) + '">' + esc(text || h) + "</span>"; }
function mergeDevices() {
  var st = S.status || {}, at = st.now || 0, out = {};
  function dev(id) { return out[id] || (out[id] = { points: {} }); }
  function points(o, pts) { for (var p in pts) { var v = pts[p]; if (v && v.ts && (!o.points[p] || o.points[p].ts <= v.ts)) o.points[p] = Object.assign({}, o.points[p], v); } }
  var src = st.devices || {};
  for (var id in src) { var o = dev(id), s = src[id]; if (s.state && s.state !== "unknown") { o.state = s.state; o.reason = s.reason; o.since = s.since; } points(o, s.points); }
  // A module's own report is the truth at snapshot time: it wins over older events.
  var sources = st.sources || {};
  for (var name in sources) {
    var d = deviceOfSource(name);
    if (d) dev(d).source = sources[name];
    var list = sources[name].details && sources[name].details.devices;
    if (list && typeof list === "object") for (var did in list) {
      var e = list[did] || {}, o3 = dev(did);
      o3.source = { health: e.health || healthOf(e.state), reason: e.reason };
      if (e.state) { o3.state = e.state; o3.reason = e.reason; o3.since = at; }
      points(o3, e.points);
    }
  }
  // Events newer than the snapshot win.
  for (var lid in S.devices) { var live = S.devices[lid], o4 = dev(lid);
    if (live.stateTs && live.stateTs >= (o4.since || 0)) { o4.state = live.state; o4.reason = live.reason; o4.since = live.stateTs; o4.source = null; }
    points(o4, live.points); }
  return out;
}
function deviceHealth(d) {
  var h = d.state ? healthOf(d.state) : "unknown";
  if (d.source) { if (d.source.health === "down") return "down"; if (h === "unknown" || (h === "ok" && d.source.health === "degraded")) h = d.source.health; }
  if (h === "down") return h;
  var pts = Object.keys(d.points), bad = 0, warn = 0;
  for (var i = 0; i < pts.length; i++) { var q = d.points[pts[i]].quality; if (q === "error") bad++; else if (q === "stale") warn++; }
  if (pts.length && bad === pts.length) return "down";
  if ((bad || warn) && h === "ok") return "degraded";
  if (h === "unknown" && pts.length) return "ok";
  return h;
}
function renderDevices() {
  var devs = mergeDevices(), ids = Object.keys(devs).sort(), html = "";
  for (var i = 0; i < ids.length; i++) {
    var id = ids[i], d = devs[id], h = deviceHealth(d), reason = d.reason || (d.source && d.source.reason) || "";
    html += '<div class="card" data-device="' + esc(id) + '" data-health="' + h + '"><div class="title"><span>' + esc(id) + "</span>" + pill(h, d.state || h) + "</div>";
    if (reason) html += '<div class="reason">' + esc(reason) + "</div>";
    var pts = Object.keys(d.points).sort();
    if (pts.length) { html += "<table>";
      for (var j = 0; j < pts.length; j++) { var p = d.points[pts[j]];
        html += '<tr class="q-' + esc(p.quality) + '"><td>' + esc(pts[j]) + '</td><td class="v"' + (p.error ? ' title="' + esc(p.error) + '"' : "") + ">" + (p.quality === "error" ? "error" : esc(fmt("", p.value)) + (p.unit ? " " + esc(p.unit) : "")) + '</td><td class="age" data-ts="' + p.ts + '">' + age(p.ts) + "</td></tr>"; }
      html += "</table>"; } else html += '<div class="dim">no readings yet</div>';
    html += "</div>";
  }
  $("devices").innerHTML = html || '<div class="dim">no devices configured</div>';
}
function renderSources() {
  var st = S.status; if (!st) return;
  var names = Object.keys(st.sources || {}).sort(), html = "", up = "";
  for (var i = 0; i < names.length; i++) {
    var n = names[i], s = st.sources[n], d = s.details || {};
    if (deviceOfSource(n)) continue;
    var card = '<div class="card" data-source="' + esc(n) + '" data-health="' + esc(s.health) + '"><div class="title"><span>' + esc(n) + "</span>" + pill(s.health) + "</div>";
    if (s.reason) card += '<div class="reason">' + esc(s.reason) + "</div>";
    if (/^(uplink|bridge)/.test(n)) {
      var backlog = pick(d, ["backlog", "depth", "queued", "pending"]), oldest = pick(d, ["oldest_age_ms", "oldestAgeMs"]), oldestAt = asTs(pick(d, ["oldestEnqueuedAt", "oldest_enqueued_at", "oldest_at"]));
      card += "<table><tr><td>state</td><td class=v>" + esc(fmt("", pick(d, ["state", "connection"]) || s.health)) + "</td></tr>";
      card += "<tr><td>backlog</td><td class=v>" + esc(fmt("", backlog)) + "</td></tr>";
      card += "<tr><td>oldest queued</td><td class=v>" + (oldestAt ? '<span data-ts="' + oldestAt + '">' + age(oldestAt) + "</span>" : typeof oldest === "number" ? age(Date.now() - oldest) : "\\u2013") + "</td></tr></table>";
      up += card + "</div>"; continue;
    }
    var rows = flat(d, "", []).slice(0, 14);
    if (rows.length) { card += "<table>"; for (var j = 0; j < rows.length; j++) card += "<tr><td>" + esc(rows[j][0]) + '</td><td class="v">' + esc(fmt(rows[j][0], rows[j][1])) + "</td></tr>"; card += "</table>"; }
    html += card + "</div>";
  }
  $("sources").innerHTML = html || '<div class="dim">no subsystems reported</div>';
  $("uplinks").innerHTML = up || '<div class="dim">no uplink configured</div>';
  var sys = st.system || {}, mem = sys.memory || {}, disk = sys.disk;
  $("system").innerHTML = "<table><tr><td>load</td><td class=v>" + esc((sys.load || []).join(" / ")) + " (" + esc(sys.cpus) + " cpu)</td></tr><tr><td>memory free</td><td class=v>" + bytes(mem.free) + " of " + bytes(mem.total) + "</td></tr><tr><td>gateway memory</td><td class=v>" + bytes(mem.rss) + "</td></tr>" +
    (disk ? "<tr><td>disk free (" + esc(disk.path) + ")</td><td class=v>" + bytes(disk.free) + " of " + bytes(disk.total) + "</td></tr>" : "") +
    (typeof sys.temperature_c === "number" ? "<tr><td>SoC temperature</td><td class=v>" + sys.temperature_c.toFixed(1) + " \\u00B0C</td></tr>" : "") + "</table>";
  var h = st.health; $("overall").className = "pill " + h; $("overall").textContent = h;
  $("gw").textContent = st.gateway_id; $("meta").textContent = "v" + st.version + " \\u00B7 up " + age(st.started_at);
  var rl = st.reload || {}; $("reloadbox").style.display = rl.allowed ? "" : "none";
  $("reloadres").textContent = rl.last ? (rl.last.ok ? "last reload applied " : "last reload refused: " + (rl.last.reason || "") + " \\u2013 ") + age(rl.last.at) + " ago" : "";
}
function renderRecent() {
  var all = ((S.status && S.status.recent) || []).concat(S.recent), seen = {}, list = [];
  for (var i = 0; i < all.length; i++) { var e = all[i], k = e.ts + e.source + e.state; if (!seen[k]) { seen[k] = 1; list.push(e); } }
  list.sort(function (a, b) { return b.ts - a.ts; });
  var html = ""; for (var j = 0; j < list.length && j < 20; j++) { var r = list[j];
    html += '<li><span class="dim" data-ts="' + r.ts + '">' + age(r.ts) + "</span> ago \\u00B7 <b>" + esc(r.device || r.source) + "</b> " + esc(r.state) + (r.reason ? ": " + esc(r.reason) : "") + "</li>"; }
  $("recent").innerHTML = html || '<li class="dim">nothing went wrong recently</li>';
}
var pending = null;
function render() { if (pending) return; pending = setTimeout(function () { pending = null; renderSources(); renderDevices(); renderRecent(); }, 50); }
function liveDevice(id) { return S.devices[id] || (S.devices[id] = { points: {} }); }
function refresh() {
  return fetch("status", { headers: headers(), cache: "no-store" }).then(function (r) {
    if (r.status === 401) { $("auth").style.display = "block"; return; }
    $("auth").style.display = "none";
    return r.json().then(function (st) { S.status = st; $("updated").textContent = "updated " + new Date().toLocaleTimeString(); render(); });
  }).catch(function () { $("updated").textContent = "gateway unreachable since " + new Date().toLocaleTimeString(); });
}
var soon = null;
function refreshSoon() { if (!soon) soon = setTimeout(function () { soon = null; refresh(); }, 300); }
function connect() {
  if (S.es) S.es.close();
  var t = token(); S.es = new EventSource("events" + (t ? "?access_token=" + encodeURIComponent(t) : ""));
  S.es.onopen = function () { $("live").className = "on"; $("live").textContent = "live"; };
  S.es.onerror = function () { $("live").className = "off"; $("live").textContent = "reconnecting"; };
  S.es.addEventListener("reading", function (m) { var r = JSON.parse(m.data).reading, d = liveDevice(r.device);
    d.points[r.point] = { value: r.value, unit: r.unit, ts: r.ts, quality: r.quality, error: r.error }; render(); });
  S.es.addEventListener("state", function (m) { var e = JSON.parse(m.data), ts = e.ts || Date.now();
    if (e.device !== undefined) { var d = liveDevice(e.device); d.state = e.state; d.reason = e.reason; d.stateTs = ts; }
    if (PROBLEM.test(e.state)) S.recent.push({ ts: ts, source: e.source, device: e.device, state: e.state, reason: e.reason });
    if (S.recent.length > 50) S.recent.shift();
    render(); refreshSoon(); });
}
$("tokenform").addEventListener("submit", function (ev) { ev.preventDefault(); S.token = $("token").value.trim(); try { localStorage.setItem("fieldgate-token", S.token); } catch (e) {} refresh(); connect(); });
$("reload").addEventListener("click", function () { $("reloadres").textContent = "reloading\\u2026";
  fetch("reload", { method: "POST", headers: Object.assign({ "x-fieldgate-reload": "1" }, headers()) }).then(function (r) { return r.json(); }).then(function (j) {
    $("reloadres").textContent = j.ok ? "config reloaded" : "reload refused: " + (j.reason || "unknown reason"); refresh(); }).catch(function (e) { $("reloadres").textContent = "reload failed: " + e; }); });
setInterval(function () { var els = document.querySelectorAll("[data-ts]"); for (var i = 0; i < els.length; i++) els[i].textContent = age(Number(els[i].getAttribute("data-ts"))); }, 1000);
setInterval(refresh, 3000);
refresh(); connect();
`

export const PAGE_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>fieldgate status</title><style>${STYLE}</style></head>
<body><header><h1 id="gw">fieldgate</h1><span id="overall" class="pill">…</span><span id="meta" class="meta"></span>
<span id="live" class="off meta">connecting</span><span id="updated" class="meta"></span></header>
<main>
<div id="auth"><form id="tokenform"><b>This gateway needs its status token.</b> <input id="token" type="password" autocomplete="off" placeholder="token"> <button>Open</button></form></div>
<section><h2>Devices</h2><div id="devices" class="grid"></div></section>
<section><h2>Uplink</h2><div id="uplinks" class="grid"></div></section>
<section><h2>Subsystems</h2><div id="sources" class="grid"></div></section>
<section><h2>Recent problems</h2><ul id="recent" class="recent"></ul></section>
<section><h2>System</h2><div id="system" class="card" data-health="ok"></div>
<div id="reloadbox" style="display:none;margin-top:.6rem"><button id="reload" type="button">Reload config</button> <span id="reloadres" class="dim"></span></div></section>
</main><script>${SCRIPT}</script></body></html>
`
