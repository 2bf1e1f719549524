/**
 * Inline-SVG charts for the page (no library, no CDN): a sparkline per point, a min/max band with the
 * last value per bucket for the larger chart and the uplink's hour. Gaps stay gaps (no value is drawn
 * where none was measured). Plain ES5 in a raw string: no template literals inside.
 */
export const PAGE_CHARTS = String.raw`
function extent(vals) {
  var lo = Infinity, hi = -Infinity;
  for (var i = 0; i < vals.length; i++) { var v = vals[i]; if (v === null || v === undefined) continue; if (v < lo) lo = v; if (v > hi) hi = v; }
  if (lo === Infinity) return null;
  if (hi - lo < 1e-9) { var pad = Math.abs(hi) * 0.01 || 1; lo -= pad; hi += pad; }
  return [lo, hi];
}
/**
 * A line through the values; up to maxGap empty buckets in a row are bridged (a point read once a
 * minute fills one 20 s bucket in three and is still a line), longer gaps lift the pen. A value with no
 * neighbour draws as a short tick, so it is seen.
 */
function pathOf(xs, ys, lo, hi, w, h, maxGap) {
  var d = "", pen = false, empty = 0, lone = false;
  for (var i = 0; i < xs.length; i++) {
    var y = ys[i];
    if (y === null || y === undefined) { if (++empty > maxGap) { if (lone) d += "h1"; pen = false; lone = false; } continue; }
    var px = (xs[i] * w).toFixed(1), py = (h - ((y - lo) / (hi - lo)) * h).toFixed(1);
    d += (pen ? "L" : "M") + px + " " + py; lone = !pen; pen = true; empty = 0;
  }
  return lone ? d + "h1" : d;
}
/** The sparkline of a row of /history, built again only when the row (or its version, bumped by histAdd) changed. */
var sparkCache = new WeakMap();
function sparkOf(row) {
  var c = sparkCache.get(row);
  if (!c || c.ver !== row.ver) { c = { ver: row.ver, svg: sparkSvg(row) }; sparkCache.set(row, c); }
  return c.svg;
}
/** Sparkline of the last value per bucket (row: one entry per bucket, null where empty). */
function sparkSvg(row) {
  // Fresh points: draw from the first value (at least 5 min wide), not a sliver at the end of an empty hour.
  if (row) { var first = 0; while (first < row.length && (row[first] === null || row[first] === undefined)) first++; row = row.slice(Math.min(first, Math.max(0, row.length - 15))); }
  var e = row ? extent(row) : null;
  if (!e) return '<svg viewBox="0 0 100 30" aria-hidden="true"></svg>';
  var xs = []; for (var i = 0; i < row.length; i++) xs.push(row.length > 1 ? i / (row.length - 1) : 1);
  var d = pathOf(xs, row, e[0], e[1], 100, 28, 3);
  // A single value in the hour draws as a dot at the end, so a just-started point is not an empty box.
  if (d.indexOf("L") < 0 && d.indexOf("M", 1) < 0) { var m = /M([\d.]+) ([\d.]+)/.exec(d), y = m ? Number(m[2]) + 1 : 15; return '<svg viewBox="0 0 100 30" preserveAspectRatio="none" aria-hidden="true"><path class="line" d="M96 ' + y + 'H100"/></svg>'; }
  return '<svg viewBox="0 0 100 30" preserveAspectRatio="none" aria-hidden="true"><path class="line" transform="translate(0 1)" d="' + d + '"/></svg>';
}
/** The chart's time window: the last hour, or from the first value when there is less (at least 5 min). */
function chartFrom(series, now) {
  var first = series.length ? series[0][0] : now;
  return Math.max(now - 3600000, Math.min(now - 300000, first));
}
function axisLabels(from, now) {
  var m = Math.round((now - from) / 60000);
  return '<div class="cap dim" style="display:flex;justify-content:space-between"><span>' + m + " min ago</span><span>" + Math.round(m / 2) + " min ago</span><span>now</span></div>";
}
/**
 * Chart of [start ms, min, max, last] buckets between from and to: a band from min to max (noise is
 * visible as width) and the last value as a line; buckets more than two steps apart leave a gap.
 * Returns { svg, lo, hi } so labels go beside it in HTML (SVG text would stretch).
 */
function bandChart(series, from, to, height, stepMs) {
  var all = [];
  for (var i = 0; i < series.length; i++) all.push(series[i][1], series[i][2]);
  var e = extent(all), w = 1000, h = height;
  var grid = '<path class="grid" d="M0 ' + (h / 2) + "H" + w + "M" + (w / 2) + " 0V" + h + '"/>';
  if (!e) return { svg: '<svg viewBox="0 0 ' + w + " " + h + '" preserveAspectRatio="none">' + grid + "</svg>", lo: null, hi: null };
  var span = Math.max(1, to - from);
  function X(t) { return (((t - from) / span) * w).toFixed(1); }
  function Y(v) { return (h - 1 - ((v - e[0]) / (e[1] - e[0])) * (h - 2)).toFixed(1); }
  var band = "", line = "", segs = [], seg = [];
  for (var j = 0; j < series.length; j++) {
    if (j > 0 && series[j][0] - series[j - 1][0] > 2 * stepMs) { segs.push(seg); seg = []; }
    seg.push(series[j]);
  }
  segs.push(seg);
  for (var k = 0; k < segs.length; k++) {
    var sg = segs[k], up = "", down = "", ln = "";
    if (!sg.length) continue;
    for (var m = 0; m < sg.length; m++) {
      var x = X(sg[m][0]), x2 = X(sg[m][0] + stepMs);
      up += (m ? "L" : "M") + x + " " + Y(sg[m][2]) + "L" + x2 + " " + Y(sg[m][2]);
      down = "L" + x2 + " " + Y(sg[m][1]) + "L" + x + " " + Y(sg[m][1]) + down;
      ln += (m ? "L" : "M") + X(sg[m][0] + stepMs / 2) + " " + Y(sg[m][3]);
    }
    band += up + down + "Z";
    line += ln;
  }
  return { svg: '<svg viewBox="0 0 ' + w + " " + h + '" preserveAspectRatio="none">' + grid + '<path class="band" d="' + band + '"/><path class="line" d="' + line + '"/></svg>', lo: e[0], hi: e[1] };
}
`
