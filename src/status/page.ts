import { PAGE_CHARTS } from './page-charts.ts'
import { PAGE_PANELS } from './page-panels.ts'
import { PAGE_CORE } from './page-script.ts'
import { PAGE_STYLE } from './page-style.ts'

/**
 * The technician page: one self-contained document (no CDN, no external files) so it works on a
 * phone on a site without internet. Live from /events, refreshed from /status every 3 s, trends
 * from /history. Sections follow what a technician checks: is data arriving, is it leaving, is the
 * disk OK, who is connected.
 */
export const PAGE_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>fieldgate status</title><style>${PAGE_STYLE}</style></head>
<body><header><h1 id="gw">fieldgate</h1><span id="overall" class="pill">…</span><span id="meta" class="meta"></span>
<span id="contact" class="meta">connecting…</span></header>
<div id="banners"></div>
<main>
<div id="auth"><form id="tokenform"><b>This gateway needs its status token.</b> <input id="token" type="password" autocomplete="off" placeholder="token"> <button>Open</button></form></div>
<section><h2>Is data arriving? Devices</h2><div id="devices" class="grid"></div><div id="devsummary" class="dim" style="margin:.4rem .2rem"></div><div id="lines" class="grid"></div></section>
<section><h2>Is it leaving? Cloud uplink</h2><div id="uplinks" class="grid"></div></section>
<section><h2>Is the disk OK?</h2><div id="disk" class="grid"></div></section>
<section><h2>Who is connected?</h2><div id="connected" class="grid"></div></section>
<section id="othersec" style="display:none"><h2>Other modules</h2><div id="other" class="grid"></div></section>
<section><h2>Recent problems</h2><ul id="recent" class="recent"></ul></section>
<section><h2>Gateway</h2><div id="gateway" class="card" data-health="ok"></div>
<div id="reloadbox" class="controls" style="display:none"><button id="reload" type="button">Reload config</button> <span id="reloadres" class="dim"></span></div></section>
<section><details id="raw" class="raw"><summary>Full status (JSON)</summary><pre id="rawjson"></pre><a href="status" target="_blank" rel="noopener">open /status</a> · <a href="metrics" target="_blank" rel="noopener">/metrics</a></details></section>
</main>
<div id="overlay"><div class="box" id="chartbox"></div></div>
<script>${PAGE_CHARTS}${PAGE_CORE}${PAGE_PANELS}</script></body></html>
`
