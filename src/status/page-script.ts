/**
 * The page's core: contact tracking, data loading and the header. The rule it keeps: nothing is shown
 * as live unless the gateway answered recently; on lost contact everything turns "last known" (grey)
 * and the header says since when, with a time that does not move.
 */
export const PAGE_CORE = String.raw`
"use strict";
var S = { status: null, statusAt: 0, live: {}, recent: [], token: null, es: null, lastContact: 0, pageOpened: Date.now(), lost: false,
  hist: null, uplinkHist: {}, uplinkStep: 10000, prevUp: {}, rates: {}, chart: null };
var CONTACT_TIMEOUT_MS = 10000;
var $ = function (id) { return document.getElementById(id); };
function esc(v) { return String(v).replace(/[&<>"']/g, function (c) { return "&#" + c.charCodeAt(0) + ";"; }); }
/** An address or path, escaped, with line-break chances after "/" and before ":" and "@": a phone wraps it there, never inside a number or name. */
function addr(v) { return esc(v).replace(/\/+/g, "$&<wbr>").replace(/[:@](?!\/)/g, "<wbr>$&"); }
function age(ts) {
  if (!ts) return "";
  var s = Math.max(0, Math.round((Date.now() - ts) / 1000));
  if (s < 60) return s + " s"; if (s < 3600) return Math.floor(s / 60) + " min";
  if (s < 86400) return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min"; return Math.floor(s / 86400) + " d";
}
/** A length of time (not a moment): 90000 -> "1 min", 604800000 -> "7 d". */
function span(ms) { return age(Date.now() - ms); }
function clock(ts) { var d = new Date(ts); function p(n) { return (n < 10 ? "0" : "") + n; } return p(d.getHours()) + ":" + p(d.getMinutes()) + ":" + p(d.getSeconds()); }
function asTs(v) { if (typeof v === "number" && v > 1e11) return v; if (typeof v === "string" && !isNaN(Date.parse(v))) return Date.parse(v); return null; }
function bytes(n) { if (typeof n !== "number") return "\u2013"; var u = ["B", "kB", "MB", "GB", "TB"], i = 0; while (n >= 1000 && i < 4) { n /= 1000; i++; } return n.toFixed(i ? 1 : 0) + " " + u[i]; }
function count(n, one, many) { if (typeof n !== "number") return "\u2013"; return n.toLocaleString("en") + " " + (n === 1 ? one : (many || one + "s")); }
function num(n) { return typeof n === "number" ? n.toLocaleString("en") : "\u2013"; }
function isGps(point, unit) { return unit === "\u00B0" || /^(lat|lon|lng|latitude|longitude)$/i.test(point); }
/** A point's value at a precision that fits its type: GPS to 6 decimals (~0.1 m), others as measured without float noise. */
function fmtValue(v, point, unit) {
  if (v === null || v === undefined) return "\u2013";
  if (typeof v === "boolean") return v ? "on" : "off";
  if (typeof v !== "number") return String(v);
  if (isGps(point, unit)) return v.toFixed(6);
  var c = Number(v.toPrecision(10)), dec = (String(c).split(".")[1] || "").length;
  return dec > 4 ? c.toFixed(Math.abs(c) < 1 ? 6 : 4) : String(c);
}
function withUnit(text, unit) { return esc(text) + (unit ? (unit === "\u00B0" || unit === "%" ? "" : " ") + esc(unit) : ""); }
function pill(h, text) { return '<span class="pill ' + (S.lost ? "" : esc(h)) + '">' + esc(text || h) + "</span>"; }
/** Replaces a section's HTML only when it changed: most renders change a few values, and an unchanged section then costs no layout. */
function setHtml(id, html) { var el = $(id); if (el.__html !== html) { el.__html = html; el.innerHTML = html; } }
function row(k, v, cls) { return '<tr><td class="k">' + esc(k) + '</td><td class="v' + (cls ? " " + cls : "") + '">' + v + "</td></tr>"; }
function token() {
  if (S.token !== null) return S.token;
  var m = /[#&]token=([^&]+)/.exec(location.hash);
  if (m) { try { localStorage.setItem("fieldgate-token", decodeURIComponent(m[1])); } catch (e) {} history.replaceState(null, "", location.pathname); }
  try { S.token = localStorage.getItem("fieldgate-token") || ""; } catch (e) { S.token = ""; }
  return S.token;
}
function headers(extra) { var h = extra || {}, t = token(); if (t) h.authorization = "Bearer " + t; return h; }
function getJson(path) {
  var ctl = new AbortController(), timer = setTimeout(function () { ctl.abort(); }, 4000);
  return fetch(path, { headers: headers(), cache: "no-store", signal: ctl.signal }).then(function (r) {
    clearTimeout(timer);
    if (r.status === 401) { $("auth").style.display = "block"; throw new Error("auth"); }
    if (!r.ok) throw new Error("HTTP " + r.status);
    $("auth").style.display = "none";
    return r.json();
  }, function (e) { clearTimeout(timer); throw e; });
}
function contactOk() {
  S.lastContact = Date.now();
  if (S.lost) { S.lost = false; document.body.classList.remove("lost"); loadHistory(); render(); }
}
function contactLost() {
  if (S.lost) return;
  // At once, not debounced: no moment with a green badge on a page that has lost contact.
  S.lost = true; document.body.classList.add("lost"); closeChart(); renderAll();
}
function renderContact() {
  var c = $("contact"), since = S.lastContact || S.pageOpened;
  if (S.lost) { c.className = "off meta"; c.textContent = "no contact since " + clock(since) + " (" + age(since) + ")"; }
  else if (S.lastContact) { c.className = "on meta"; c.textContent = "live \u00B7 updated " + clock(S.lastContact); }
  else { c.className = "meta"; c.textContent = "connecting\u2026"; }
  var lb = $("lostage"); if (lb) lb.textContent = age(since);
}
function refresh() {
  var asked = Date.now();
  return getJson("status").then(function (st) {
    // Problems seen live before this snapshot was asked for are in its own list now.
    S.recent = S.recent.filter(function (e) { return e.at >= asked; });
    var now = Date.now();
    for (var n in st.sources || {}) { var d = st.sources[n].details || {}; if (n.indexOf("uplink:") === 0 && typeof d.published === "number") {
      var p = S.prevUp[n]; if (p && d.published >= p.v && now > p.at) S.rates[n] = (d.published - p.v) * 1000 / (now - p.at);
      S.prevUp[n] = { v: d.published, at: now }; } }
    S.status = st; S.statusAt = now; contactOk(); render();
  }).catch(function (e) { if (String(e && e.message) !== "auth") contactLost(); });
}
var soon = null;
function refreshSoon(ms) { if (!soon) soon = setTimeout(function () { soon = null; refresh(); }, ms || 300); }
function loadHistory() {
  getJson("history").then(function (h) { S.hist = h; S.uplinkHist = h.uplinks || {}; S.uplinkStep = h.uplink_step || 10000; render(); }).catch(function () {});
}
function loadUplinkHistory() {
  if (S.lost) return;
  getJson("history?only=uplinks").then(function (h) { S.uplinkHist = h.uplinks || {}; S.uplinkStep = h.uplink_step || 10000; render(); }).catch(function () {});
}
/** Extends the sparkline rows from live readings, sliding the hour forward when a new bucket starts. */
function histAdd(r) {
  var h = S.hist; if (!h || typeof r.value !== "number" && typeof r.value !== "boolean") return;
  var N = 180, b = Math.floor((r.ts - h.start) / h.step);
  if (b < 0) return;
  if (b >= N) { var shift = b - N + 1; h.start += shift * h.step; b = N - 1;
    for (var d in h.points) for (var p in h.points[d]) { var a = h.points[d][p]; a.splice(0, Math.min(shift, N)); while (a.length < N) a.push(null); a.ver = (a.ver || 0) + 1; } }
  var rowArr = (h.points[r.device] = h.points[r.device] || {})[r.point];
  if (!rowArr) { rowArr = []; for (var i = 0; i < N; i++) rowArr.push(null); h.points[r.device][r.point] = rowArr; }
  if (rowArr[b] !== Number(r.value)) { rowArr[b] = Number(r.value); rowArr.ver = (rowArr.ver || 0) + 1; }
}
function connect() {
  if (S.es) S.es.close();
  var t = token(); S.es = new EventSource("events" + (t ? "?access_token=" + encodeURIComponent(t) : ""));
  S.es.onopen = function () { refreshSoon(50); };
  // A dropped stream is checked at once: a dead gateway shows as "no contact" within seconds.
  S.es.onerror = function () { refreshSoon(100); };
  S.es.addEventListener("reading", function (m) { var r = JSON.parse(m.data).reading, d = liveDevice(r.device), snap = S.status && S.status.devices && S.status.devices[r.device];
    // A failed read carries no measured value (Modbus and serial send 0): keep the last good one and its time,
    // the newer of what the stream and the last /status know (a failed read seen before the first /status has none).
    var prev = lastGood(d.points[r.point], snap && snap.points[r.point]), bad = r.quality === "error";
    d.points[r.point] = { value: bad ? (prev ? prev.value : null) : r.value, unit: r.unit, ts: bad ? (prev ? prev.ts : null) : r.ts, quality: r.quality, error: r.error, at: Date.now() };
    if (!bad) histAdd(r);
    contactOk(); render(true); });
  S.es.addEventListener("state", function (m) { var e = JSON.parse(m.data), ts = e.ts || Date.now();
    if (e.device !== undefined) { var d = liveDevice(e.device); d.state = e.state; d.reason = e.reason; d.at = Date.now(); }
    if (/^(down|error|failed|stopped|disconnected|offline|closed|unavailable|degraded)$|refused|error|fail|lost/i.test(e.state)) S.recent.push({ ts: ts, at: Date.now(), source: e.source, device: e.device, state: e.state, reason: e.reason });
    if (S.recent.length > 50) S.recent.shift();
    contactOk(); render(); refreshSoon(); });
}
function hasValue(p) { return !!p && p.value !== null && p.value !== undefined; }
function lastGood(a, b) { return !hasValue(a) ? b : !hasValue(b) ? a : (b.ts || 0) > (a.ts || 0) ? b : a; }
function liveDevice(id) { return S.live[id] || (S.live[id] = { points: {} }); }
function renderHeader() {
  var st = S.status;
  renderContact();
  var o = $("overall");
  if (S.lost) { o.className = "pill"; o.textContent = "no contact"; }
  else if (st) { o.className = "pill " + st.health; o.textContent = st.health === "ok" ? "OK" : st.health; }
  if (!st) return;
  $("gw").textContent = st.gateway_id;
  $("meta").textContent = "v" + st.version + " \u00B7 " + (S.lost ? "last known uptime " + age(Date.now() - (st.now - st.started_at)) : "up " + age(st.started_at));
  var b = "", since = S.lastContact || S.pageOpened;
  if (S.lost) b += '<div class="b-lost" id="lostbanner"><b>No contact with the gateway since ' + clock(since) + ' (<span id="lostage">' + age(since) + "</span>).</b> Everything below is its last known state, not live.</div>";
  var rl = st.reload || {};
  if (rl.failed_since_last_good > 0 && rl.last && !rl.last.ok) {
    b += '<div class="b-reload" id="reloadbanner"><b>Config reload refused at ' + clock(rl.last.at) + "</b> (" + esc(rl.last.via) + "): " + esc(rl.last.reason || "no reason given") +
      ". The gateway keeps running its previous config." + (rl.failed_since_last_good > 1 ? " " + rl.failed_since_last_good + " reloads failed since the last good one (first at " + clock(rl.first_failed_since_last_good.at) + ")." : "") + "</div>";
  }
  if (!S.lost && st.health !== "ok" && st.problems && st.problems.length) {
    var parts = [];
    for (var i = 0; i < st.problems.length; i++) { var p = st.problems[i]; parts.push("<b>" + esc(sourceLabel(p.source)) + "</b>" + (p.reason ? ": " + esc(p.reason) : " " + esc(p.health))); }
    b += '<div class="' + (st.health === "down" ? "b-down" : "b-problems") + '" id="problembanner">' + (st.health === "down" ? "The gateway cannot do its job: " : "Needs attention: ") + parts.join("; ") + "</div>";
  }
  setHtml("banners", b);
}
function sourceLabel(n) {
  var map = { broker: "MQTT broker", store: "disk store", security: "security", drivers: "devices", process: "gateway process" };
  if (map[n]) return map[n];
  if (n.indexOf("uplink:") === 0) return "uplink " + n.slice(7);
  if (n.indexOf("device:") === 0) return "device " + n.slice(7);
  return n;
}
`
