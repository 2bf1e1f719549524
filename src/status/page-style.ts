/** The page's CSS. Colours: green only for what is known good now; amber stale/degraded; red down; grey unknown or last known. */
export const PAGE_STYLE = String.raw`
:root{--ok:#1a7f37;--warn:#a15c00;--warnbg:#fff4e0;--bad:#c62828;--badbg:#fff5f5;--off:#7b828e;--bg:#f4f5f7;--card:#fff;--ink:#1d2330;--mute:#5b6372;--line:#e6e8ec}
*{box-sizing:border-box}body{margin:0;font:15px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:var(--bg);color:var(--ink)}
header{position:sticky;top:0;z-index:5;display:flex;flex-wrap:wrap;gap:.3rem .8rem;align-items:center;padding:.55rem 1rem;background:#1d2330;color:#fff}
header h1{font-size:1.05rem;margin:0}.meta{color:#c9ced8;font-size:.85rem}
#contact.on::before{content:"\25CF ";color:#4ade80}#contact.off{color:#fecaca;font-weight:600}#contact.off::before{content:"\25CF ";color:#f87171}
#banners>div{padding:.5rem 1rem;font-size:.92rem;border-bottom:1px solid #0001}
.b-lost{background:#3a3f4a;color:#fff}.b-reload{background:var(--badbg);color:var(--bad)}.b-problems{background:var(--warnbg);color:var(--warn)}.b-down{background:var(--badbg);color:var(--bad)}
main{padding:.5rem;max-width:1180px;margin:auto}
section{margin:.5rem 0 1rem}h2{font-size:.95rem;margin:.4rem .2rem;color:var(--mute);letter-spacing:.02em}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:.6rem}
.card{min-width:0;background:var(--card);border-radius:8px;padding:.55rem .7rem;border-left:6px solid var(--off);box-shadow:0 1px 2px #0002}
.card[data-health=ok]{border-color:var(--ok)}.card[data-health=degraded]{border-color:var(--warn)}.card[data-health=down]{border-color:var(--bad);background:var(--badbg)}
.title{display:flex;justify-content:space-between;align-items:center;gap:.5rem;font-weight:600}.title .name{min-width:0;overflow-wrap:break-word}
.pill{font-size:.72rem;font-weight:700;padding:.08rem .5rem;border-radius:99px;color:#fff;background:var(--off);white-space:nowrap;text-transform:uppercase;letter-spacing:.03em}
.pill.ok{background:var(--ok)}.pill.degraded{background:var(--warn)}.pill.down{background:var(--bad)}
.reason{color:var(--bad);font-size:.85rem;margin:.2rem 0}.card[data-health=degraded] .reason{color:var(--warn)}.dim{color:var(--mute);font-size:.85rem}
table{width:100%;border-collapse:collapse;font-size:.88rem;margin-top:.3rem}td{padding:.2rem .25rem;border-top:1px solid var(--line);vertical-align:middle}
td.k{color:var(--mute)}td.v{text-align:right;font-variant-numeric:tabular-nums;font-weight:600;overflow-wrap:break-word}td.age{text-align:right;color:var(--mute);white-space:nowrap;font-size:.8rem}
td.spark{width:92px;padding:0 .2rem}td.spark svg{display:block;width:88px;height:26px}
tr.pt{cursor:pointer}tr.pt:hover{background:#f6f8fb}
tr.q-stale td.v,tr.q-stale td.age{color:var(--warn)}tr.q-error td.v{color:var(--bad)}.card[data-health=down] tr td.v{color:var(--mute)}.tag{font-size:.68rem;font-weight:700;text-transform:uppercase;margin-left:.2rem}
.warnv{color:var(--warn)}.badv{color:var(--bad)}
.chart{margin-top:.4rem}.chart svg{display:block;width:100%;height:90px}.chart .cap{font-size:.78rem;color:var(--mute);display:flex;justify-content:space-between;gap:.6rem}
svg .line{fill:none;stroke:#2563eb;stroke-width:1.5;vector-effect:non-scaling-stroke}svg .band{fill:#2563eb22;stroke:none}svg .grid{stroke:#d8dce3;stroke-width:1;vector-effect:non-scaling-stroke}
ul.recent{list-style:none;margin:0;padding:0;background:var(--card);border-radius:8px}ul.recent li{padding:.35rem .7rem;border-top:1px solid var(--line);font-size:.88rem}
details.raw{background:var(--card);border-radius:8px;padding:.5rem .7rem}details.raw pre{max-height:60vh;overflow:auto;font-size:.78rem;white-space:pre-wrap;overflow-wrap:anywhere}
#auth{display:none;background:#fff3cd;padding:.7rem;border-radius:8px}input,button{font:inherit;padding:.35rem .7rem}
button{border:0;border-radius:6px;background:#1d2330;color:#fff;cursor:pointer}button.alt{background:#fff;color:var(--ink);border:1px solid #c5cad3}
.card.wide{grid-column:1/-1}.cols{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:.4rem 1.2rem}
.controls{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center;margin-top:.5rem}
#overlay{display:none;position:fixed;inset:0;background:#0007;z-index:10;align-items:center;justify-content:center;padding:.6rem}
#overlay.open{display:flex}#overlay .box{background:#fff;border-radius:10px;padding:.8rem;width:min(820px,100%);max-height:95vh;overflow:auto}
#overlay svg{display:block;width:100%;height:260px}#overlay .axis{font-size:11px;fill:var(--mute)}
body.lost main .card,body.lost main ul.recent,body.lost main .chart{filter:grayscale(1);opacity:.6}
body.lost .card[data-health]{border-color:var(--off);background:var(--card)}body.lost .pill{background:var(--off)!important}
body.lost td.v,body.lost .reason{color:var(--mute)!important}
@media (max-width:700px){.cols{grid-template-columns:1fr}}
@media (max-width:480px){main{padding:.35rem}.grid{grid-template-columns:1fr}header{padding:.45rem .6rem}td.spark svg{width:64px}td.spark{width:68px}}
`
