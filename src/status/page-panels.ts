/**
 * The page's panels, grouped by what a technician checks: is data arriving (devices), is it leaving
 * (uplinks), is the disk OK (store), who is connected (broker, security), and the gateway itself.
 * Every shown field has a label and a unit; the full JSON is one click away.
 */
export const PAGE_PANELS = String.raw`
function stateHealth(state, points) {
  var h = state === "running" ? "ok" : /^(stopped|disconnected|down|failed|offline|closed)$/i.test(state) ? "down" : "degraded";
  if (h === "ok") for (var p in points) if (points[p].quality === "stale" || points[p].quality === "error") return "degraded";
  return h;
}
/** Devices as /status has them, with live events received after that snapshot applied on top. */
function devicesView() {
  var src = (S.status && S.status.devices) || {}, out = {}, id;
  for (id in src) { var s = src[id], pts = {}; for (var p in s.points) pts[p] = s.points[p];
    out[id] = { state: s.state, health: s.health, reason: s.reason, driver: s.driver, counts: s.counts, since: s.since, points: pts }; }
  for (id in S.live) {
    var l = S.live[id], o = out[id] || (out[id] = { state: "unknown", health: "degraded", points: {} }), changed = false;
    if (l.at && l.at > S.statusAt) { o.state = l.state; o.reason = l.reason; changed = true; }
    for (var q in l.points) { var lp = l.points[q]; if (lp.at > S.statusAt || !o.points[q]) { o.points[q] = { value: lp.value, unit: lp.unit || (o.points[q] && o.points[q].unit), ts: lp.ts, quality: lp.quality, error: lp.error }; changed = true; } }
    if (changed) { o.health = stateHealth(o.state, o.points); if (o.health === "ok") o.reason = undefined; }
  }
  return out;
}
function renderDevices() {
  var devs = devicesView(), ids = Object.keys(devs).sort(), html = "", spark = (S.hist && S.hist.points) || {};
  for (var i = 0; i < ids.length; i++) {
    var id = ids[i], d = devs[id], pts = Object.keys(d.points).sort();
    html += '<div class="card" data-device="' + esc(id) + '" data-health="' + esc(d.health) + '"><div class="title"><span class="name">' + esc(id) + "</span>" + pill(d.health, d.state) + "</div>";
    if (d.reason) html += '<div class="reason">' + esc(d.reason) + "</div>";
    if (d.counts) html += '<div class="dim">' + esc(d.driver || "") + " \u00B7 " + count(d.counts.polls_ok, "good read") + ", " + count(d.counts.polls_failed, "failed read") + "</div>";
    if (pts.length) { html += "<table>";
      for (var j = 0; j < pts.length; j++) { var n = pts[j], p = d.points[n], q = p.quality || "unknown", v;
        if (q === "error") v = '<span title="' + esc(p.error || "") + '">read failed</span>' + (p.value !== null && p.value !== undefined ? ' <span class="dim">(last ' + withUnit(fmtValue(p.value, n, p.unit), p.unit) + ")</span>" : "");
        else v = withUnit(fmtValue(p.value, n, p.unit), p.unit) + (q === "stale" ? ' <span class="tag">stale</span>' : "");
        var sp = spark[id] && spark[id][n];
        html += '<tr class="pt q-' + esc(q) + '" data-point="' + esc(n) + '" title="' + (q === "error" ? esc(p.error || "") : "tap for the last hour") + '"><td class="k">' + esc(n) + '</td><td class="spark">' + (sp ? sparkOf(sp) : "") +
          '</td><td class="v">' + v + '</td><td class="age"' + (p.ts ? ' data-ts="' + p.ts + '"' : "") + ">" + (p.ts ? age(p.ts) : "never") + "</td></tr>"; }
      html += "</table>"; } else html += '<div class="dim">no readings yet</div>';
    html += "</div>";
  }
  setHtml("devices", html || '<div class="dim">no devices configured</div>');
  var dr = S.status && S.status.sources && S.status.sources.drivers, dd = (dr && dr.details) || {}, lines = dd.lines || {}, lh = "";
  for (var ln in lines) { var L = lines[ln], bad = L.timeouts || L.framingErrors || L.lateAnswers || L.discardedBytes;
    lh += '<div class="card" data-line="' + esc(ln) + '" data-health="' + (L.connected ? (bad ? "degraded" : "ok") : "down") + '"><div class="title"><span class="name">Line ' + addr(L.endpoint || ln) + "</span>" + pill(L.connected ? "ok" : "down", L.connected ? (L.onBackup ? "on backup" : "connected") : "not connected") + "</div>" +
      (L.lastLinkError ? '<div class="reason">last link error' + (asTs(L.lastLinkErrorAt) ? " at " + clock(asTs(L.lastLinkErrorAt)) : "") + ": " + esc(L.lastLinkError) + "</div>" : "") + "<table>" +
      (typeof L.requests === "number" ? row("Requests / answers", num(L.requests) + " / " + num(L.answers)) + row("Timeouts", num(L.timeouts), L.timeouts ? "warnv" : "") + row("Exceptions from devices", num(L.exceptions)) +
        row("Late answers (raise timeout)", num(L.lateAnswers), L.lateAnswers ? "warnv" : "") + row("Framing errors / discarded frames", num(L.framingErrors) + " / " + num(L.discardedFrames), L.framingErrors ? "warnv" : "") +
        row("Noise (discarded bytes)", num(L.discardedBytes), L.discardedBytes ? "warnv" : "") : "") +
      row("Opened", count(L.opens, "time")) + (L.pending ? row("Requests waiting", num(L.pending)) : "") + "</table></div>"; }
  setHtml("lines", lh);
  setHtml("devsummary", dr ? count(dd.published, "reading") + " published to the broker" + (dd.publishErrors ? ', <span class="badv">' + count(dd.publishErrors, "publish error") + "</span>" : "") + ", " + count(dd.commands, "command") + " received" : "");
}
function uplinkChart(name, key, label, unit) {
  var h = S.uplinkHist[name]; if (!h || !h[key]) return "";
  var now = Date.now(), from = chartFrom(h[key], now), c = bandChart(h[key], from, now, 90, S.uplinkStep);
  return '<div class="chart" data-chart="' + key + '"><div class="cap"><span>' + esc(label) + (now - from >= 3590000 ? ", last hour" : ", since the page server started") + "</span><span>" + (c.hi === null ? "no data yet" : "highest " + (key === "rate" ? c.hi.toFixed(1) : num(Math.round(c.hi))) + " " + unit) + "</span></div>" + c.svg + axisLabels(from, now) + "</div>";
}
function renderUplinks() {
  var st = S.status, html = "";
  for (var n in st.sources) { if (n.indexOf("uplink:") !== 0) continue;
    var s = st.sources[n], d = s.details || {}, name = n.slice(7), online = d.state === "online", since = asTs(online ? d.since : d.offlineSince || d.since), rate = S.rates[n];
    html += '<div class="card wide" data-source="' + esc(n) + '" data-health="' + esc(s.health) + '"><div class="title"><span class="name">Cloud uplink \u201C' + esc(name) + "\u201D</span>" + pill(s.health, d.state || s.health) + "</div>";
    if (s.reason) html += '<div class="reason">' + esc(s.reason) + "</div>";
    html += '<div class="cols"><div><table>' + row("Cloud server", addr(d.server || "\u2013")) +
      row(online ? "Online for" : "Offline since", since ? (online ? age(since + (S.lost ? Date.now() - st.now : 0)) + (S.lost ? " (when last seen)" : "") : clock(since) + " (" + age(since) + ")") : "\u2013") +
      row("Waiting to send (backlog)", count(d.backlog, "message") + (typeof d.backlogBytes === "number" ? " \u00B7 " + bytes(d.backlogBytes) : ""), d.backlog > 0 ? "warnv" : "") +
      row("Oldest waiting message", d.oldestAgeMs === null || d.oldestAgeMs === undefined ? "none" : age(Date.now() - d.oldestAgeMs) + " old", d.oldestAgeMs > 60000 ? "warnv" : "") +
      row("Sending now", S.lost ? "unknown (no contact)" : typeof rate === "number" ? rate.toFixed(1) + " messages/s" : "\u2013") +
      row("Sent since start", count(d.published, "message")) +
      row("Last acknowledged by the cloud", asTs(d.lastAckAt) ? age(asTs(d.lastAckAt)) + " ago" : "never") +
      row("Round trip (probe)", typeof d.rttMs === "number" ? d.rttMs + " ms" : "\u2013") +
      row("Reconnects", num(d.reconnects)) +
      (d.lastError ? row(online ? "Last connection error (before this connection)" : "Last connection error", esc(d.lastError), online ? "" : "badv") : "") +
      (d.dropped || d.rejected || d.expired ? row("Lost (disk budget / refused / expired)", num(d.dropped) + " / " + num(d.rejected) + " / " + num(d.expired), "badv") : "") + "</table></div>";
    html += "<div>" + uplinkChart(name, "backlog", "Backlog", "messages") + uplinkChart(name, "rate", "Sent per second", "msg/s") + "</div></div>";
    if (st.demo && st.demo.cloud) { var up = st.demo.cloud.up;
      html += '<div class="controls"><span class="dim">Demo: this cloud is a stand-in broker inside the gateway (' + addr(st.demo.cloud.url) + ').</span><button type="button" id="democloud"' + (S.lost ? " disabled" : "") + ' data-want="' + (up ? "down" : "up") + '">' + (up ? "Cut the demo cloud" : "Restore the demo cloud") + "</button></div>"; }
    html += "</div>";
  }
  setHtml("uplinks", html || '<div class="dim">no uplink configured: readings stay on this gateway</div>');
}
function renderDisk() {
  var st = S.status, s = st.sources.store, sys = st.system || {}, disk = sys.disk, html = "";
  if (disk) { var pct = disk.total ? disk.free / disk.total * 100 : 0;
    html += '<div class="card" data-source="disk" data-health="' + (pct < 2 ? "down" : pct < 10 ? "degraded" : "ok") + '"><div class="title"><span class="name">Disk</span>' + pill(pct < 2 ? "down" : pct < 10 ? "degraded" : "ok", pct.toFixed(0) + "% free") + "</div><table>" +
      row("Free", bytes(disk.free) + " of " + bytes(disk.total), pct < 10 ? "warnv" : "") + row("Filesystem of", addr(disk.path)) + "</table></div>"; }
  if (s) { var d = s.details || {}, b = d.disk || {}, qs = d.queues || {}, rows = "";
    rows += row("Gateway data on disk", bytes(b.bytes));
    for (var q in qs) { var Q = qs[q]; rows += row("Queue \u201C" + q + "\u201D", count(Q.depth, "message") + " \u00B7 " + bytes(Q.bytes) + (b.budgetBytesPerQueue ? " (" + (Q.bytes / b.budgetBytesPerQueue * 100).toFixed(1) + "% of budget)" : ""), Q.depth > 0 ? "warnv" : ""); }
    rows += row("Budget per queue", bytes(b.budgetBytesPerQueue) + (b.maxAgeMs ? ", messages kept up to " + span(b.maxAgeMs) : ""));
    rows += row("When a queue is full", b.policy === "drop-oldest" ? "drop the oldest messages" : b.policy === "refuse" || b.policy === "refuse-new" ? "refuse new messages" : esc(b.policy || "\u2013"));
    if (typeof d.writeBytesPerMessage === "number") rows += row("Written to disk per message", bytes(d.writeBytesPerMessage) + " (SD card wear)");
    rows += row("Last write error", d.lastWriteError ? esc(typeof d.lastWriteError === "string" ? d.lastWriteError : d.lastWriteError.message || JSON.stringify(d.lastWriteError)) : "none", d.lastWriteError ? "badv" : "");
    if (d.repairs && d.repairs.length) rows += row("Repairs after a crash", count(d.repairs.length, "repair"), "warnv");
    html += '<div class="card" data-source="store" data-health="' + esc(s.health) + '"><div class="title"><span class="name">Store (' + addr(d.dataDir || "") + ")</span>" + pill(s.health) + "</div>" + (s.reason ? '<div class="reason">' + esc(s.reason) + "</div>" : "") + "<table>" + rows + "</table></div>";
  }
  setHtml("disk", html);
}
function renderConnected() {
  var st = S.status, b = st.sources.broker, sec = st.sources.security, html = "";
  if (b) { var d = b.details || {}, c = d.clients || {}, r = d.rates || {}, m = d.messages || {}, ls = d.listeners || [], lst = "", hits = [];
    for (var i = 0; i < ls.length; i++) lst += (i ? "<br>" : "") + esc(ls[i].name) + ": " + addr(ls[i].protocol + "://" + ls[i].host + ":" + ls[i].port);
    for (var k in d.limitHits || {}) hits.push(esc(k) + " " + num(d.limitHits[k]));
    html += '<div class="card" data-source="broker" data-health="' + esc(b.health) + '"><div class="title"><span class="name">MQTT broker</span>' + pill(b.health) + "</div>" + (b.reason ? '<div class="reason">' + esc(b.reason) + "</div>" : "") + "<table>" +
      row("Listening on", lst || '<span class="badv">no listener open</span>') + row("Clients connected", num(c.connected) + (c.connections > c.connected ? " (" + num(c.connections - c.connected) + " connecting)" : "")) +
      row("Sessions kept", num(c.sessions)) + row("Client subscriptions", num(d.subscriptions)) + row("Retained messages", num(d.retained)) +
      row("Messages in / out", (r.messagesInPerSec === undefined ? "\u2013" : num(r.messagesInPerSec) + " / " + num(r.messagesOutPerSec) + " per s") ) +
      row("Messages since start (in / out)", num(m.in) + " / " + num(m.out)) + (hits.length ? row("Limits hit", hits.join(", "), "warnv") : "") + "</table></div>"; }
  if (sec) { var s = sec.details || {};
    html += '<div class="card" data-source="security" data-health="' + esc(sec.health) + '"><div class="title"><span class="name">Access control</span>' + pill(sec.health) + "</div>" + (sec.reason ? '<div class="reason">' + esc(sec.reason) + "</div>" : "") + "<table>" +
      row("Anonymous clients allowed on", s.anonymousListeners && s.anonymousListeners.length ? esc(s.anonymousListeners.join(", ")) : "no listener") +
      row("Password users", s.passwordUsers === null || s.passwordUsers === undefined ? "no password file" : num(s.passwordUsers)) +
      row("Device tokens", s.deviceTokens === null || s.deviceTokens === undefined ? "no token file" : num(s.deviceTokens)) +
      row("Access rules (ACL)", s.aclRules === null || s.aclRules === undefined ? "none: every client may use every topic" : num(s.aclRules)) +
      row("Failed logins since start", num(s.failedLogins), s.failedLogins ? "warnv" : "") + row("Addresses locked out now", num(s.lockedAddresses), s.lockedAddresses ? "warnv" : "") +
      (s.publishRateRefused ? row("Publishes refused (rate limit)", num(s.publishRateRefused), "warnv") : "") + "</table></div>"; }
  setHtml("connected", html);
}
function humanKey(k) { return k.replace(/([a-z])([A-Z])/g, "$1 $2").replace(/[_.]/g, " ").replace(/^./, function (c) { return c.toUpperCase(); }); }
function renderOther() {
  var st = S.status, html = "", known = { broker: 1, store: 1, security: 1, drivers: 1 };
  for (var n in st.sources) { if (known[n] || n.indexOf("uplink:") === 0) continue;
    var s = st.sources[n], d = s.details || {}, rows = "";
    for (var k in d) { var v = d[k]; if (v === null || typeof v === "object") continue;
      rows += row(humanKey(k), esc(typeof v === "number" ? (/Ms$|_ms$/.test(k) ? v + " ms" : /bytes/i.test(k) ? bytes(v) : num(v)) : typeof v === "boolean" ? (v ? "yes" : "no") : v)); }
    html += '<div class="card" data-source="' + esc(n) + '" data-health="' + esc(s.health) + '"><div class="title"><span class="name">' + esc(sourceLabel(n)) + "</span>" + pill(s.health) + "</div>" + (s.reason ? '<div class="reason">' + esc(s.reason) + "</div>" : "") + (rows ? "<table>" + rows + "</table>" : "") + "</div>"; }
  setHtml("other", html); $("othersec").style.display = html ? "" : "none";
}
function renderGateway() {
  var st = S.status, sys = st.system || {}, mem = sys.memory || {}, loop = sys.event_loop || {}, rl = st.reload || {};
  var html = "<table>" + row("Gateway", esc(st.gateway_id) + " \u00B7 version " + esc(st.version)) + row("Running since", clock(st.started_at) + " (" + age(Date.now() - (st.now - st.started_at)) + ")") +
    row("Gateway memory", bytes(mem.rss)) + row("Host memory free", bytes(mem.free) + " of " + bytes(mem.total)) +
    row("CPU load (1 / 5 / 15 min)", esc((sys.load || []).join(" / ")) + " on " + count(sys.cpus, "core")) +
    (typeof sys.process_cpu_percent === "number" ? row("Gateway CPU", sys.process_cpu_percent + " % of one core") : "") +
    (typeof sys.temperature_c === "number" ? row("Board temperature", sys.temperature_c.toFixed(1) + " \u00B0C", sys.temperature_c > 75 ? "warnv" : "") : "") +
    row("Longest event-loop stall (last minute)", typeof loop.max_ms === "number" ? loop.max_ms + " ms" : "not measured yet", loop.max_ms > 1000 ? "warnv" : "") +
    row("Config reloads (applied / refused)", num(rl.applied_total) + " / " + num(rl.failed_total), rl.failed_since_last_good ? "badv" : "") +
    (rl.last ? row("Last reload", (rl.last.ok ? "applied" : "refused") + " at " + clock(rl.last.at) + " via " + esc(rl.last.via), rl.last.ok ? "" : "badv") : "") + "</table>";
  setHtml("gateway", html); $("gateway").setAttribute("data-health", st.health);
  $("reloadbox").style.display = rl.allowed ? "" : "none";
}
function renderRecent() {
  var all = ((S.status && S.status.recent) || []).concat(S.recent), seen = {}, list = [];
  for (var i = 0; i < all.length; i++) { var e = all[i], k = e.ts + e.source + e.state; if (!seen[k]) { seen[k] = 1; list.push(e); } }
  list.sort(function (a, b) { return b.ts - a.ts; });
  var html = ""; for (var j = 0; j < list.length && j < 20; j++) { var r = list[j];
    html += '<li><span class="dim">' + clock(r.ts) + ' (<span data-ts="' + r.ts + '">' + age(r.ts) + "</span> ago)</span> \u00B7 <b>" + esc(r.device || sourceLabel(r.source)) + "</b> " + esc(r.state) + (r.reason ? ": " + esc(r.reason) : "") + "</li>"; }
  setHtml("recent", html || '<li class="dim">nothing went wrong recently</li>');
}
/**
 * One render at most every 150 ms. For live readings (slow = true) at most one per three times the last
 * render took: many points read every second would keep a slow phone rendering with no time for a tap.
 * A new snapshot, history or state change is shown within 150 ms.
 */
var pending = null, pendingAt = 0, lastRenderMs = 0;
function render(slow) {
  var delay = slow ? Math.max(150, 3 * lastRenderMs) : 150, at = Date.now() + delay;
  if (pending) { if (at >= pendingAt) return; clearTimeout(pending); }
  pendingAt = at;
  pending = setTimeout(function () { pending = null; var t = performance.now(); renderAll(); lastRenderMs = performance.now() - t; }, delay);
}
function renderAll() {
  renderHeader(); if (!S.status) return;
  renderDevices(); renderUplinks(); renderDisk(); renderConnected(); renderOther(); renderGateway(); renderRecent();
  if ($("raw").open) $("rawjson").textContent = JSON.stringify(S.status, null, 2);
  if (S.chart) drawChart();
}
function openChart(device, point) { S.chart = { device: device, point: point, data: null }; $("overlay").className = "open"; fetchChart(); drawChart(); }
function closeChart() { S.chart = null; $("overlay").className = ""; }
function fetchChart() {
  var c = S.chart; if (!c) return;
  getJson("history?device=" + encodeURIComponent(c.device) + "&point=" + encodeURIComponent(c.point)).then(function (h) { if (S.chart === c) { c.data = h; drawChart(); } }).catch(function () { if (S.chart === c) { c.data = { series: [] }; drawChart(); } });
}
function drawChart() {
  var c = S.chart; if (!c) return;
  var d = devicesView()[c.device], p = d && d.points[c.point], unit = (p && p.unit) || "", now = Date.now();
  var html = '<div class="title"><span class="name">' + esc(c.device) + " \u00B7 " + esc(c.point) + (unit ? " (" + esc(unit) + ")" : "") + '</span><button type="button" class="alt" id="closechart">Close</button></div>';
  if (!c.data) html += '<div class="dim">loading\u2026</div>';
  else { var ser = c.data.series || [], from = chartFrom(ser, now), g = bandChart(ser, from, now, 260, 20000), lo = Infinity, hi = -Infinity;
    for (var i = 0; i < ser.length; i++) { lo = Math.min(lo, ser[i][1]); hi = Math.max(hi, ser[i][2]); }
    html += '<div class="dim">' + (ser.length ? "last hour: lowest " + withUnit(fmtValue(lo, c.point, unit), unit) + ", highest " + withUnit(fmtValue(hi, c.point, unit), unit) + ", latest " + withUnit(fmtValue(ser[ser.length - 1][3], c.point, unit), unit) + " \u00B7 shaded: lowest to highest in each 20 s" : "no numeric values in the last hour") + "</div>";
    html += '<div class="cap dim" style="display:flex;justify-content:space-between"><span>' + (g.hi === null ? "" : withUnit(fmtValue(g.hi, c.point, unit), unit)) + "</span></div>" + g.svg +
      '<div class="cap dim" style="display:flex;justify-content:space-between"><span>' + (g.lo === null ? "" : withUnit(fmtValue(g.lo, c.point, unit), unit)) + '</span></div>' + axisLabels(from, now); }
  $("chartbox").innerHTML = html;
}
document.addEventListener("click", function (ev) {
  var t = ev.target;
  if (t.closest && t.closest("#closechart") || t.id === "overlay") { closeChart(); return; }
  var tr = t.closest && t.closest("tr.pt");
  if (tr && !S.lost) { var card = tr.closest("[data-device]"); openChart(card.getAttribute("data-device"), tr.getAttribute("data-point")); return; }
  if (t.id === "democloud") { var want = t.getAttribute("data-want"); t.disabled = true;
    fetch("demo/cloud?state=" + want, { method: "POST", headers: headers({ "x-fieldgate-demo": "1" }) }).then(function () { refresh(); loadUplinkHistory(); }); }
});
document.addEventListener("keydown", function (ev) { if (ev.key === "Escape") closeChart(); });
$("raw").addEventListener("toggle", function () { if ($("raw").open && S.status) $("rawjson").textContent = JSON.stringify(S.status, null, 2); });
$("tokenform").addEventListener("submit", function (ev) { ev.preventDefault(); S.token = $("token").value.trim(); try { localStorage.setItem("fieldgate-token", S.token); } catch (e) {} refresh(); loadHistory(); connect(); });
$("reload").addEventListener("click", function () { $("reloadres").textContent = "reloading\u2026";
  fetch("reload", { method: "POST", headers: headers({ "x-fieldgate-reload": "1" }) }).then(function (r) { return r.json(); }).then(function (j) {
    $("reloadres").textContent = j.ok ? "config reloaded" : "reload refused: " + (j.reason || "unknown reason"); refresh(); }).catch(function (e) { $("reloadres").textContent = "reload failed: " + e; }); });
setInterval(function () {
  var els = document.querySelectorAll("[data-ts]"); for (var i = 0; i < els.length; i++) els[i].textContent = age(Number(els[i].getAttribute("data-ts")));
  if (!S.lost && S.lastContact && Date.now() - S.lastContact > CONTACT_TIMEOUT_MS) contactLost();
  renderContact();
}, 1000);
setInterval(refresh, 3000);
setInterval(loadUplinkHistory, 10000);
setInterval(function () { if (!S.lost) loadHistory(); if (S.chart) fetchChart(); }, 60000);
refresh(); loadHistory(); connect();
`
