"""The step viewer's page: one HTML file, no network, that restyles one SVG step by step.

What it promises (``tests/test_viewer_browser.py`` holds it to it at 390x844 and 1280x800):
the picture holds still while the node of the step is in view, and when it is not, pans
the least that brings it in (never past the picture's edge when the picture fits); the
header keeps one height whatever the caption (a fixed caption area that scrolls inside),
and on a narrow screen it stays small (short button labels, the help folded away); the
picture starts at a scale that fits the width of the window when that keeps the text
readable (at least 70%: 10 pt text stays 9 px tall), so that a phone does not slide sideways between steps.

``render_backward_steps`` fills in ``{title}``, ``{svg}``, ``{steps}`` (a JSON list of
``{"node": svg id, "caption": text}``), ``{done}``, ``{mark}`` and ``{current}``.
"""

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
html, body { height: 100%; margin: 0; }
body { font-family: system-ui, sans-serif; display: flex; flex-direction: column; }
header { padding: 0.4em 0.8em 0.3em; border-bottom: 1px solid #ccc; flex: none; }
.top { display: flex; align-items: baseline; gap: 1em; }
h1 { font-size: 1.1em; margin: 0 0 0.3em; flex: 1; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
details { font-size: 0.9em; color: #444; }
details[open] { flex-basis: 100%; }
summary { cursor: pointer; color: #555; }
.bar { display: flex; gap: 0.3em; align-items: center; flex-wrap: wrap; }
button { font: inherit; padding: 0.15em 0.6em; white-space: nowrap; }
#count { font-family: monospace; min-width: 7.5em; text-align: center; white-space: nowrap; }
.zoom { margin-left: 1.2em; display: flex; gap: 0.3em; align-items: center; }
/* a fixed area: a long caption scrolls inside it, it never moves the picture */
#caption { font-family: monospace; font-size: 0.9em; line-height: 1.35; margin: 0.35em 0 0;
           height: 4.05em; overflow-y: auto; overflow-wrap: anywhere; }
.key { font-size: 0.85em; color: #444; margin: 0.2em 0 0; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.swatch { display: inline-block; width: 1.2em; height: 0.8em; vertical-align: middle; background: #fff; }
.mark { display: inline-block; width: 1.1em; height: 1.1em; line-height: 1.1em; border-radius: 50%;
        background: {done}; color: #fff; text-align: center; font-weight: bold; font-size: 0.85em; }
#view { flex: 1; position: relative; overflow: hidden; background: #fcfcfc; cursor: grab; touch-action: none; }
#view.panning { cursor: grabbing; }
#canvas { position: absolute; left: 0; top: 0; transform-origin: 0 0; }
#canvas svg { display: block; }
g.node.pending text.grad { visibility: hidden; }
g.node .check { display: none; }
g.node.done .check { display: inline; }
g.node.done > polygon, g.node.done > path { stroke: {done}; stroke-width: 2.5px; }
g.node.current > polygon, g.node.current > path { stroke: {current}; stroke-width: 3px; }
@media (max-width: 640px) {
  header { padding: 0.3em 0.5em 0.2em; }
  h1 { font-size: 1em; }
  .long { display: none; }
  .bar, .zoom { gap: 0.2em; }
  button { padding: 0.2em 0.4em; }
  .zoom { margin-left: auto; }
  .zoom .word { display: none; }
  #count { min-width: 0; font-size: 0.85em; }
  #caption { font-size: 0.8em; height: 5.4em; }
}
</style></head><body>
<header>
<div class="top"><h1>{title}</h1>
<details id="help"><summary>help</summary>
Backward visits the graph from the output back to the inputs, one node per step; the caption says
what that node's backward rule did (<b>&#7713;</b> is the gradient arriving at the node, dL/d(node)).
A node's grad line appears when its gradient is known; a finished node keeps its colour
(<span class="swatch" style="background: lightblue"></span> parameter,
<span class="swatch" style="background: #e5e5e5"></span> input,
<span class="swatch" style="border: 1px solid #000; border-radius: 3px"></span> op result,
<span class="swatch" style="background: #caff70"></span> output) and gets a check mark. Keys: &larr; &rarr;, Home, End, + and &minus; to zoom,
0 for actual size. Drag to pan, wheel to zoom; the address (#N) follows the step, so a link opens one step.
</details></div>
<div class="bar">
<button id="first" title="first step (Home)" aria-label="first step">&laquo;<span class="long"> first</span></button>
<button id="prev" title="previous step (left arrow)" aria-label="previous step">&larr;<span class="long"> previous</span></button>
<span id="count" aria-live="polite"></span>
<button id="next" title="next step (right arrow)" aria-label="next step"><span class="long">next </span>&rarr;</button>
<button id="last" title="last step (End)" aria-label="last step"><span class="long">last </span>&raquo;</button>
<span class="zoom"><span class="word">zoom</span>
<button id="zoomout" title="zoom out (-)" aria-label="zoom out">&minus;</button>
<button id="zoomin" title="zoom in (+)" aria-label="zoom in">+</button>
<button id="fit" title="fit the graph in the window">fit</button>
<button id="actual" title="actual size (0)">1:1</button></span>
</div>
<p class="key"><span class="mark">{mark}</span> gradient complete &nbsp;
<span class="swatch" style="border: 3px solid {current}"></span> being processed</p>
<p id="caption"></p>
</header>
<div id="view"><div id="canvas">{svg}</div></div>
<script>
"use strict";
const STEPS = {steps};
const view = document.getElementById("view");
const canvas = document.getElementById("canvas");
const svg = canvas.querySelector("svg");
const nodes = new Map();
svg.querySelectorAll("g.node").forEach((g) => nodes.set(g.id, g));
const spans = new Map();  // node -> the steps it takes (a mean's box takes two)
STEPS.forEach((s, j) => { if (!spans.has(s.node)) spans.set(s.node, []); spans.get(s.node).push(j); });
let i = 0, scale = 1, tx = 0, ty = 0;
// the counter as wide as its longest text, so that the buttons never shift (nor wrap) between steps
document.getElementById("count").style.minWidth = `${`step ${STEPS.length} / ${STEPS.length}`.length}ch`;
const M = 12;  // px kept clear between a revealed node and the window's edge

function place() { canvas.style.transform = `translate(${tx}px, ${ty}px) scale(${scale})`; }
function size() { return [svg.width.baseVal.value * scale, svg.height.baseVal.value * scale]; }

// the least shift along one axis that brings [lo, hi] into [0, len], keeping m px clear where it can
function shift(lo, hi, len, m) {
  if (lo >= 0 && hi <= len) return 0;  // already in view: hold still
  if (hi - lo + 2 * m > len) return (len - (hi - lo)) / 2 - lo;  // larger than the view: centre it
  return lo < 0 ? m - lo : len - m - hi;
}

// a picture that fits along an axis stays whole in the view; a larger one leaves no empty band
function clamp(t, w, len) {
  return w <= len ? Math.min(Math.max(t, 0), len - w) : Math.min(Math.max(t, len - w - M), M);
}

function reveal(g) {  // move the picture only when the node is not wholly in view
  if (!g) return;
  const r = g.getBoundingClientRect(), v = view.getBoundingClientRect();
  const dx = shift(r.left - v.left, r.right - v.left, v.width, M);
  const dy = shift(r.top - v.top, r.bottom - v.top, v.height, M);
  if (dx === 0 && dy === 0) return;
  const [w, h] = size();
  tx = dx === 0 ? tx : clamp(tx + dx, w, v.width);
  ty = dy === 0 ? ty : clamp(ty + dy, h, v.height);
  place();
}

function show(k, how) {
  i = Math.max(0, Math.min(STEPS.length - 1, k));
  spans.forEach((ks, id) => {
    const g = nodes.get(id);
    if (!g) return;
    const current = ks.includes(i);
    g.classList.toggle("current", current);
    g.classList.toggle("done", !current && ks[ks.length - 1] < i);
    g.classList.toggle("pending", ks[0] > i);
  });
  document.getElementById("count").textContent = `step ${i + 1} / ${STEPS.length}`;
  document.getElementById("caption").textContent = STEPS[i].caption;
  document.getElementById("caption").scrollTop = 0;
  const hash = "#" + (i + 1);
  if (location.hash !== hash) {
    if (how === "replace") history.replaceState(null, "", hash);
    else location.hash = hash;  // a new history entry: the back button returns to the last step
  }
  reveal(nodes.get(STEPS[i].node));
}

function fromHash() { return (parseInt(location.hash.slice(1), 10) || 1) - 1; }

function zoom(factor, px, py) {  // zoom about the point (px, py) of the view
  const v = view.getBoundingClientRect();
  if (px === undefined) { px = v.width / 2; py = v.height / 2; }
  const s = Math.max(0.05, Math.min(8, scale * factor));
  tx = px - (px - tx) * (s / scale);
  ty = py - (py - ty) * (s / scale);
  scale = s;
  place();
}

function centre() {  // centre the picture along each axis where it fits; else its top or left edge
  const v = view.getBoundingClientRect(), [w, h] = size();
  tx = w <= v.width ? (v.width - w) / 2 : M;
  ty = h <= v.height ? (v.height - h) / 2 : M;
  place();
}

function fit() {
  const v = view.getBoundingClientRect(), w = svg.width.baseVal.value, h = svg.height.baseVal.value;
  scale = Math.min(2, v.width / w, v.height / h);
  centre();
}

function actual() {
  scale = 1;
  centre();
  reveal(nodes.get(STEPS[i].node));
}

function start() {  // the whole picture when it fits at a readable scale, else its width, else 1:1
  const v = view.getBoundingClientRect(), w = svg.width.baseVal.value, h = svg.height.baseVal.value;
  const whole = Math.min(1, v.width / w, v.height / h), across = Math.min(1, v.width / w);
  scale = whole >= 0.7 ? whole : across >= 0.7 ? across : 1;  // 0.7: 10 pt text stays 9 px tall
  centre();
}

document.getElementById("first").onclick = () => show(0);
document.getElementById("prev").onclick = () => show(i - 1);
document.getElementById("next").onclick = () => show(i + 1);
document.getElementById("last").onclick = () => show(STEPS.length - 1);
document.getElementById("zoomin").onclick = () => zoom(1.25);
document.getElementById("zoomout").onclick = () => zoom(0.8);
document.getElementById("fit").onclick = fit;
document.getElementById("actual").onclick = actual;
document.addEventListener("keydown", (e) => {
  if (e.altKey || e.ctrlKey || e.metaKey) return;
  const act = {
    ArrowLeft: () => show(i - 1), ArrowRight: () => show(i + 1),
    Home: () => show(0), End: () => show(STEPS.length - 1),
    "+": () => zoom(1.25), "=": () => zoom(1.25), "-": () => zoom(0.8), "0": actual,
  }[e.key];
  if (act) { act(); e.preventDefault(); }
});
view.addEventListener("wheel", (e) => {
  e.preventDefault();
  const v = view.getBoundingClientRect();
  zoom(Math.exp(-e.deltaY * 0.0015), e.clientX - v.left, e.clientY - v.top);
}, { passive: false });
let drag = null;
view.addEventListener("pointerdown", (e) => {
  drag = { x: e.clientX, y: e.clientY, tx, ty };
  view.setPointerCapture(e.pointerId);
  view.classList.add("panning");
});
view.addEventListener("pointermove", (e) => {
  if (!drag) return;
  tx = drag.tx + e.clientX - drag.x;
  ty = drag.ty + e.clientY - drag.y;
  place();
});
view.addEventListener("pointerup", () => { drag = null; view.classList.remove("panning"); });
window.addEventListener("hashchange", () => show(fromHash(), "replace"));
start();
show(fromHash(), "replace");
</script></body></html>
"""
