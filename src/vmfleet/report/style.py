"""The report's one style sheet (no web fonts, no images: it works offline and from file://).

Status colours are a colour-blind-safe set (blue, yellow, orange, vermilion, grey: Okabe and
Ito's palette) with dark text on each; every coloured cell also shows a letter and has words
in its title, so nothing is said by colour alone.
"""

CSS_NAME = "style.css"

CSS = """\
:root {
  --ink: #1d2330; --muted: #5b6473; --line: #d9dee7; --bg: #f6f7f9; --card: #ffffff;
  --accent: #1f5fa8;
  --ok: #9cc9ea; --bytes: #f3e27a; --drift: #f2b45a; --fail: #e8896b; --unchecked: #e3e6eb;
}
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans",
       sans-serif; color: var(--ink); background: var(--bg); }
header { background: #1d2330; color: #fff; padding: 14px 28px 16px; }
header nav { font-size: 13px; opacity: .85; }
header nav a { color: #cfe0f5; }
header h1 { margin: 4px 0 0; font-size: 24px; font-weight: 600; letter-spacing: .2px; }
main { padding: 20px 28px 40px; max-width: 1400px; }
footer { color: var(--muted); font-size: 12px; padding: 0 28px 24px; }
h2 { font-size: 18px; margin: 28px 0 10px; }
.card > h2:first-child { margin-top: 2px; }
h3 { font-size: 15px; margin: 18px 0 6px; }
a { color: var(--accent); }
code, pre { font: 13px/1.4 ui-monospace, "DejaVu Sans Mono", monospace; }
pre { background: #f0f2f5; border: 1px solid var(--line); padding: 10px; overflow-x: auto;
      white-space: pre-wrap; word-break: break-word; }
.muted { color: var(--muted); }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px;
        padding: 14px 18px; margin-bottom: 18px; }
.stats { display: flex; gap: 14px; flex-wrap: wrap; margin: 0 0 8px; padding: 0; list-style: none; }
.stats li { background: var(--card); border: 1px solid var(--line); border-radius: 8px;
            padding: 10px 16px; min-width: 130px; }
.stats b { display: block; font-size: 22px; }
table { border-collapse: collapse; background: var(--card); }
th, td { text-align: left; padding: 5px 10px; border-bottom: 1px solid var(--line);
         vertical-align: top; }
thead th { font-size: 12px; text-transform: uppercase; letter-spacing: .4px; color: var(--muted);
           border-bottom: 2px solid var(--line); }
table.data { width: 100%; }
table.data td { overflow-wrap: break-word; max-width: 48em; }
table.data dl { font-size: 13px; }
table.data dd { overflow-wrap: anywhere; min-width: 12em; }
.scroll { overflow-x: auto; }
.badge { display: inline-block; border-radius: 10px; padding: 0 8px; font-size: 13px;
         white-space: nowrap; border: 1px solid rgba(0,0,0,.12); }
.letter { font-weight: 700; }
.s-ok { background: var(--ok); } .s-bytes { background: var(--bytes); }
.s-drift { background: var(--drift); } .s-fail { background: var(--fail); }
.s-unchecked { background: var(--unchecked); } .s-na { background: transparent; }
.drift-yes { font-weight: 600; color: #8a3a12; }
.legend li { display: flex; align-items: center; gap: 6px; }
.legend { display: flex; gap: 16px; flex-wrap: wrap; list-style: none; padding: 0; margin: 6px 0 12px; }
.legend .cell { display: inline-block; width: 22px; height: 20px; text-align: center;
                font: 700 12px/20px system-ui, sans-serif; border: 1px solid rgba(0,0,0,.15); }
.strip { text-decoration: none; white-space: nowrap; }
.strip .cell { display: inline-block; width: 18px; height: 18px; margin-right: 2px; text-align: center;
               font: 700 11px/18px system-ui, sans-serif; color: var(--ink); border-radius: 3px; }
.heat-wrap { overflow-x: auto; max-width: 100%; }
table.heat { border-collapse: separate; border-spacing: 2px; background: transparent; }
table.heat th, table.heat td { border: 0; padding: 0; }
table.heat thead th { font-size: 10px; writing-mode: vertical-rl; transform: rotate(180deg);
                      padding: 4px 0; text-transform: none; letter-spacing: 0; }
table.heat thead th.corner { writing-mode: horizontal-tb; transform: none; vertical-align: bottom;
                           text-align: left; font-size: 11px; color: var(--muted); }
table.heat tbody th { font-size: 12px; padding-right: 6px; white-space: nowrap; font-weight: 500; }
table.heat td { width: 20px; height: 18px; text-align: center; font: 700 11px/18px system-ui, sans-serif;
                color: #1d2330; border-radius: 3px; }
table.heat td.s-na { color: transparent; }
ol.timeline { list-style: none; margin: 0; padding: 0 0 0 18px; border-left: 3px solid var(--line); }
ol.timeline li { position: relative; margin: 0 0 14px; padding-left: 14px; }
ol.timeline li::before { content: ""; position: absolute; left: -27px; top: 5px; width: 13px;
                         height: 13px; border-radius: 50%; background: var(--accent);
                         border: 3px solid var(--bg); }
ol.timeline .when { color: var(--muted); font-size: 13px; }
ol.timeline .what { font-weight: 600; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 0; }
dt { color: var(--muted); } dd { margin: 0; }
.findings li { margin-bottom: 4px; }
"""
