//! The report's style sheet, inline in the page: screen and print.

pub(super) const CSS: &str = r#"
:root { --fg:#1f2328; --muted:#59636e; --bg:#ffffff; --line:#d1d9e0; --code:#f6f8fa;
  --ok:#1a7f37; --okbg:#dafbe1; --bad:#cf222e; --badbg:#ffebe9; --warn:#9a6700; --warnbg:#fff8c5;
  --skip:#8250df; --skipbg:#fbefff; --none:#59636e; --nonebg:#eff2f5; --dry:#0969da; --drybg:#ddf4ff; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 980px; padding: 24px 32px 48px; color: var(--fg); background: var(--bg);
  font: 15px/1.55 -apple-system, "Segoe UI", "Noto Sans", Helvetica, Arial, sans-serif; }
code, pre { font: 13px/1.45 ui-monospace, "SFMono-Regular", "DejaVu Sans Mono", Menlo, Consolas, monospace; }
h1 { font-size: 28px; margin: 0 0 8px; }
h2 { border-bottom: 1px solid var(--line); padding-bottom: 4px; }
a { color: #0969da; }
blockquote { margin: 0 0 16px; padding: 0 0 0 16px; border-left: 4px solid var(--line); }
header.run { border: 1px solid var(--line); border-radius: 10px; padding: 20px 24px; margin-bottom: 28px;
  background: linear-gradient(180deg, #f6f8fa, #fff); }
header.run h2 { font-size: 16px; border: 0; margin: 16px 0 4px; }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 18px; margin: 12px 0 0; }
.facts dt { color: var(--muted); font-weight: 600; }
.facts dd { margin: 0; overflow-wrap: anywhere; }
.hash { font-size: 12px; }
ul.pre { list-style: none; padding: 0; margin: 0; }
ul.pre li { margin: 4px 0; }
.badge { display: inline-block; padding: 1px 10px; border-radius: 999px; font-size: 13px; font-weight: 600;
  white-space: nowrap; border: 1px solid currentColor; }
.badge.big { font-size: 15px; padding: 3px 14px; }
.ok { color: var(--ok); } .badge.ok { background: var(--okbg); }
.bad { color: var(--bad); } .badge.bad { background: var(--badbg); }
.warn { color: var(--warn); } .badge.warn { background: var(--warnbg); }
.skip { color: var(--skip); } .badge.skip { background: var(--skipbg); }
.none { color: var(--none); } .badge.none { background: var(--nonebg); }
.dry { color: var(--dry); } .badge.dry { background: var(--drybg); }
main pre { background: var(--code); border: 1px solid var(--line); border-radius: 6px; padding: 10px 14px;
  overflow-x: auto; }
main :not(pre) > code { background: var(--code); padding: 1px 5px; border-radius: 4px; }
.step-code pre { margin-bottom: 0; border-bottom-left-radius: 0; border-bottom-right-radius: 0; }
.card { color: var(--fg); border: 1px solid var(--line); border-left: 5px solid currentColor; border-radius: 0 0 8px 8px;
  padding: 10px 16px 12px; margin: 0 0 22px; background: #fff; break-inside: avoid; }
.card.ok { border-left-color: var(--ok); } .card.bad { border-left-color: var(--bad); }
.card.warn { border-left-color: var(--warn); } .card.skip { border-left-color: var(--skip); }
.card.none { border-left-color: var(--none); } .card.dry { border-left-color: var(--dry); }
.card-head { display: flex; flex-wrap: wrap; align-items: baseline; gap: 8px; }
.meta { color: var(--muted); font-size: 13px; }
.card p { margin: 6px 0; }
.gate { font-size: 14px; }
.reason { color: var(--muted); font-style: italic; }
.label { font-weight: 600; font-size: 13px; color: var(--muted); }
.card pre.output { background: #0d1117; color: #e6edf3; border: 0; margin: 8px 0 0; max-height: 560px;
  overflow: auto; white-space: pre-wrap; overflow-wrap: anywhere; }
.card pre.output .cut { color: #f2cc60; font-style: italic; }
.card pre.output .hk { color: #79c0ff; }
.card pre.output .err { color: #ff7b72; }
.card pre.output .add { color: #7ee787; }
.card pre.output .del { color: #ff7b72; }
.card .compare { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }
.card .compare > div { min-width: 0; }
.card p.expect.match { color: #1a7f37; }
.card p.expect.mismatch { color: #cf222e; font-weight: 600; }
.card figure.chart { margin: 10px 0 0; overflow-x: auto; }
.card figure.chart svg { max-width: 100%; height: auto; display: block; }
.card p.chart-note { color: var(--muted); font-style: italic; font-size: 13px; }
.host { border-top: 1px dashed var(--line); margin-top: 10px; padding-top: 8px; }
.empty { color: var(--muted); font-size: 13px; }
.toggle { position: absolute; opacity: 0; }
.toggle-label { display: inline-flex; align-items: center; gap: 8px; margin-top: 14px; cursor: pointer;
  font-size: 14px; user-select: none; color: var(--muted); }
.toggle-label .box { width: 30px; height: 16px; border-radius: 8px; background: var(--line); position: relative; }
.toggle-label .box::after { content: ""; position: absolute; top: 2px; left: 2px; width: 12px; height: 12px;
  border-radius: 50%; background: #fff; transition: left .15s; }
#hide-code:checked ~ header .toggle-label .box { background: var(--dry); }
#hide-code:checked ~ header .toggle-label .box::after { left: 16px; }
#hide-code:focus-visible ~ header .toggle-label { outline: 2px solid var(--dry); }
#hide-code:checked ~ main .step-code { display: none; }
#hide-code:checked ~ main .card { border-radius: 8px; border-top: 1px solid var(--line); }
nav.index { margin: -8px 0 28px; }
nav.index table { width: 100%; font-size: 14px; }
nav.index th { text-align: left; color: var(--muted); font-weight: 600; background: var(--code); }
nav.index th:first-child, nav.index td:first-child { width: 3em; color: var(--muted); }
nav.index td a { text-decoration: none; font-weight: 600; }
nav.index tr.bad td { background: var(--badbg); }
nav.index td .sym { display: inline-block; width: 1.2em; text-align: center; }
p.failed-at { font-size: 16px; font-weight: 600; color: var(--bad); margin: 4px 0 0; }
p.failed-at a { color: var(--bad); }
.step-code p.label { margin: 16px 0 4px; }
.step-code pre.rendered { margin-bottom: 0; border-left: 4px solid var(--dry); }
details.template { font-size: 13px; margin: 0; border: 1px solid var(--line); border-top: 0; padding: 4px 14px;
  background: var(--code); }
details.template summary { cursor: pointer; color: var(--muted); }
details.template pre { margin: 6px 0; background: #fff; }
.card.bad pre.output { border-left: 4px solid #ff7b72; }
.card p.error { color: var(--bad); font-weight: 600; }
.card p.log { font-size: 13px; }
footer { color: var(--muted); font-size: 12px; margin-top: 40px; border-top: 1px solid var(--line); padding-top: 8px; }
table { border-collapse: collapse; } th, td { border: 1px solid var(--line); padding: 4px 10px; }
@media print {
  body { max-width: none; padding: 0; font-size: 11pt; }
  .toggle-label { display: none; }
  header.run { background: none; }
  .card pre.output { max-height: none; overflow: visible; background: #f6f8fa; color: #000;
    border: 1px solid var(--line); }
  .card pre.output .cut { color: #7d4e00; }
  .card pre.output .hk { color: #0550ae; }
  .card pre.output .err { color: #a40e26; }
  .card pre.output .add { color: #116329; }
  .card pre.output .del { color: #a40e26; }
  main pre { white-space: pre-wrap; overflow-wrap: anywhere; }
  .card, .step-code { break-inside: avoid; }
  a { color: inherit; }
}
"#;
