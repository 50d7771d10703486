"""HTML of the server: the scanner page (upload, live camera, collection) and a server-rendered scan result.

Self-contained: inline CSS and JS, system fonts, no CDN. The scan view needs no JS (for headless screenshots)
and uses the same card markup as the page's script.
"""
from __future__ import annotations

import json
from html import escape

from .collection import CONDITIONS, PRINTINGS

CSS = """
:root { --bg:#f4f5f7; --panel:#fff; --ink:#1d2330; --muted:#667085; --line:#e4e7ec; --accent:#3b5bdb;
  --ok:#2b8a3e; --ok-bg:#e6f4ea; --warn:#b35c00; --warn-bg:#fff4e0; --bad:#c92a2a; --bad-bg:#fdecec; }
* { box-sizing: border-box; }
[hidden] { display:none !important; }
body { margin:0; background:var(--bg); color:var(--ink);
  font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif; }
header.top { display:flex; align-items:center; gap:18px; flex-wrap:wrap; padding:12px 24px; background:#1d2330;
  color:#fff; }
.brand { font-weight:650; font-size:18px; letter-spacing:.2px; }
.brand a { color:inherit; text-decoration:none; }
.brand .logo { display:inline-block; width:14px; height:19px; border:2px solid #8ea2ff; border-radius:3px;
  margin-right:8px; vertical-align:-3px; }
.meta { color:#c5cbe0; font-size:13px; flex:1; }
.token { font-size:13px; color:#c5cbe0; }
.token input { margin-left:6px; width:170px; }
main { max-width:1180px; margin:0 auto; padding:20px 24px 40px; }
.panel { background:var(--panel); border:1px solid var(--line); border-radius:10px; padding:18px 20px;
  margin-bottom:20px; box-shadow:0 1px 2px rgba(16,24,40,.04); }
.panel h2 { margin:0 0 12px; font-size:17px; }
.panel-head { display:flex; align-items:center; justify-content:space-between; gap:12px; }
form.upload { display:flex; gap:10px; align-items:center; flex-wrap:wrap; }
input, select, button, .button { font:inherit; font-size:14px; }
input[type=number], input[type=password], input[type=text], select { padding:5px 8px; border:1px solid #cfd4dc;
  border-radius:6px; background:#fff; color:var(--ink); }
button, .button { padding:6px 14px; border:1px solid #cfd4dc; border-radius:6px; background:#fff;
  color:var(--ink); cursor:pointer; text-decoration:none; display:inline-block; }
button.primary, .button.primary { background:var(--accent); border-color:var(--accent); color:#fff; }
button:disabled { opacity:.5; cursor:default; }
button.live { background:var(--bad); border-color:var(--bad); color:#fff; }
.msg { min-height:1.4em; margin:10px 0 0; color:var(--muted); }
.msg.error { color:var(--bad); }
.result-grid { display:grid; grid-template-columns:minmax(0,5fr) minmax(0,7fr); gap:20px; margin-top:14px; }
@media (max-width:820px) { .result-grid { grid-template-columns:1fr; } }
figure.frame { margin:0; align-self:start; position:sticky; top:12px; }
.frame-box { background:#eef0f3; border:1px solid var(--line); border-radius:8px; padding:8px; text-align:center; }
.frame-box canvas, .frame-box svg { max-width:100%; max-height:520px; height:auto; width:auto; display:block;
  margin:0 auto; }
figcaption { color:var(--muted); font-size:12.5px; margin-top:6px; }
.quad { fill:rgba(59,91,219,.10); stroke-width:3; vector-effect:non-scaling-stroke; stroke-linejoin:round; }
.halo { fill:none; stroke:#fff; stroke-width:7; vector-effect:non-scaling-stroke; stroke-linejoin:round; }
.quad.identified { stroke:#2f9e44; } .quad.unknown { stroke:#f08c00; } .quad.low_quality { stroke:#e03131; }
.quad-label { font-weight:700; fill:#fff; paint-order:stroke; stroke:#1d2330; stroke-width:3px; }
.cards { display:flex; flex-direction:column; gap:14px; }
.empty { color:var(--muted); margin:8px 0; }
article.card-result { display:flex; gap:16px; border:1px solid var(--line); border-radius:10px; padding:12px;
  background:#fcfcfd; }
img.crop { height:200px; width:auto; border-radius:8px; box-shadow:0 1px 4px rgba(0,0,0,.18); background:#ddd;
  flex:none; }
.info { flex:1; min-width:0; }
.title-row { display:flex; align-items:center; gap:10px; flex-wrap:wrap; }
.title-row h3 { margin:0; font-size:18px; }
.num { color:var(--muted); font-weight:600; font-size:13px; }
.badge { font-size:12px; font-weight:600; padding:2px 8px; border-radius:999px; }
.badge.identified { color:var(--ok); background:var(--ok-bg); }
.badge.unknown { color:var(--warn); background:var(--warn-bg); }
.badge.low_quality { color:var(--bad); background:var(--bad-bg); }
.sub { margin:4px 0 8px; color:var(--muted); }
.score-row { display:flex; align-items:center; gap:10px; }
.score-value { font-variant-numeric:tabular-nums; font-weight:650; }
.bar { flex:0 1 180px; height:8px; border-radius:4px; background:#e9ecef; overflow:hidden; position:relative; }
.bar span { display:block; height:100%; background:var(--accent); }
.bar i { position:absolute; top:-2px; bottom:-2px; width:2px; background:#1d2330; }
.small { font-size:12.5px; color:var(--muted); }
ol.candidates { margin:8px 0 0; padding-left:20px; font-size:13px; color:var(--muted); }
ol.candidates li span { font-variant-numeric:tabular-nums; }
form.add { display:flex; gap:8px; flex-wrap:wrap; align-items:center; margin-top:10px; padding-top:10px;
  border-top:1px dashed var(--line); }
form.add input[type=number] { width:60px; }
form.add select, form.add input { font-size:13px; padding:4px 6px; }
form.add select[name=card_id] { max-width:170px; }
form.add button { padding:5px 12px; font-size:13px; }
table { width:100%; border-collapse:collapse; font-size:14px; }
th, td { text-align:left; padding:7px 8px; border-bottom:1px solid var(--line); }
th { color:var(--muted); font-weight:600; font-size:12.5px; text-transform:uppercase; letter-spacing:.3px; }
td.qty { font-variant-numeric:tabular-nums; }
td button { padding:2px 8px; font-size:12.5px; }
video { display:none; }
"""


def _fmt(x: float | None, digits: int = 3) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _card_title(card: dict) -> str:
    if card["status"] == "identified":
        return card.get("name") or card.get("card_id") or "?"
    return "Unknown card" if card["status"] == "unknown" else "Low quality"


def card_html(i: int, card: dict, threshold: float) -> str:
    """One detected card: crop, match, candidates (the same markup as ``renderCard`` in the page's script)."""
    best = card["candidates"][0] if card.get("candidates") else None
    status = card["status"]
    parts = [f'<article class="card-result status-{escape(status)}">']
    if card.get("crop"):
        parts.append(f'<img class="crop" src="{escape(card["crop"])}" alt="rectified crop of card {i + 1}">')
    if card.get("ref_image"):
        parts.append(f'<img class="crop ref" src="{escape(card["ref_image"])}" alt="reference image of the match">')
    parts.append('<div class="info"><div class="title-row">'
                 f'<span class="num">#{i + 1}</span><h3>{escape(_card_title(card))}</h3>'
                 f'<span class="badge {escape(status)}">{escape(status.replace("_", " "))}</span></div>')
    if best and status == "identified":
        sub = [best.get("set"), f"No. {best['number']}" if best.get("number") else None, best.get("rarity")]
        parts.append(f'<p class="sub">{" · ".join(escape(str(x)) for x in sub if x)}</p>')
    elif best:
        parts.append(f'<p class="sub">closest: {escape(best.get("name") or "?")} ({escape(best["card_id"])})</p>')
    if card.get("score") is not None:
        pct = max(0.0, min(1.0, card["score"])) * 100
        parts.append(f'<div class="score-row"><span class="small">score</span>'
                     f'<span class="score-value">{_fmt(card["score"])}</span>'
                     f'<div class="bar"><span style="width:{pct:.1f}%"></span>'
                     f'<i style="left:{threshold * 100:.1f}%"></i></div>'
                     f'<span class="small">threshold {_fmt(threshold)}</span></div>')
    q = card.get("quality") or {}
    extra = [f"blur {q.get('blur', 0):.0f}", f"glare {100 * q.get('glare', 0):.1f}%"]
    if card.get("rotated"):
        extra.append("matched upside down")
    if q.get("reasons"):
        extra.append("; ".join(map(str, q["reasons"])))
    parts.append(f'<p class="small">{escape(" · ".join(extra))}</p>')
    others = card.get("candidates", [])[1:4] if status == "identified" else card.get("candidates", [])[:3]
    if others:
        parts.append('<ol class="candidates">' + "".join(
            f'<li>{escape(c.get("name") or "?")} <span>({escape(c["card_id"])}, {_fmt(c.get("score"))})</span></li>'
            for c in others) + "</ol>")
    parts.append("</div></article>")
    return "".join(parts)


def _frame_svg(scan: dict) -> str:
    w, h = scan["frame_size"]
    polys = []
    for i, card in enumerate(scan["cards"]):
        pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in card["corners"])
        x0, y0 = card["corners"][0]
        polys.append(f'<polygon class="halo" points="{pts}"/><polygon class="quad {escape(card["status"])}" '
                     f'points="{pts}"/>'
                     f'<text class="quad-label" x="{x0 + 8:.1f}" y="{y0 + 8:.1f}" dominant-baseline="hanging" '
                     f'font-size="{max(14, w / 30):.0f}">{i + 1}</text>')
    return (f'<svg viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="frame with detected cards">'
            f'<image href="{escape(scan["frame"])}" x="0" y="0" width="{w}" height="{h}"/>{"".join(polys)}</svg>')


def _page(title: str, body: str, script: str = "", nonce: str | None = None) -> str:
    js = f'<script nonce="{escape(nonce or "")}">{script}</script>' if script else ""
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{escape(title)}</title>'
            f"<style>{CSS}</style></head><body>{body}{js}</body></html>")


def scan_html(scan: dict) -> str:
    """A stored scan as a static page: the frame with its quadrilaterals, then each crop and its match."""
    n = len(scan["cards"])
    cards = "".join(card_html(i, c, scan["threshold"]) for i, c in enumerate(scan["cards"]))
    timing = ", ".join(f"{k} {v:.0f} ms" for k, v in scan["timings_ms"].items())
    body = (f'<header class="top"><div class="brand"><a href="/"><span class="logo"></span>Card scanner</a></div>'
            f'<div class="meta">scan {escape(scan["scan_id"])} · {escape(scan["created"])}</div></header><main>'
            f'<section class="panel"><div class="panel-head"><h2>{n} card{"s" if n != 1 else ""} found</h2>'
            f'<a class="button" href="/">New scan</a></div><div class="result-grid">'
            f'<figure class="frame"><div class="frame-box">{_frame_svg(scan)}</div>'
            f'<figcaption>{scan["frame_size"][0]}×{scan["frame_size"][1]} px · {escape(timing)}</figcaption></figure>'
            f'<div class="cards">{cards or "<p class=empty>No card found in this picture.</p>"}</div>'
            f"</div></section></main>")
    return _page(f"Scan {scan['scan_id']} – card scanner", body)


INDEX_BODY = """
<header class="top">
  <div class="brand"><span class="logo"></span>Card scanner</div>
  <div id="meta" class="meta">connecting…</div>
  <label class="token">Access token<input id="token" type="password" autocomplete="off"
    placeholder="only if the server asks"></label>
</header>
<main>
  <section class="panel">
    <h2>Scan</h2>
    <form id="upload-form" class="upload" action="/identify" method="post" enctype="multipart/form-data">
      <input id="image" name="image" type="file" accept="image/jpeg,image/png,image/webp,image/bmp" required>
      <button type="submit" class="primary">Identify</button>
      <button type="button" id="camera-btn">Start live camera</button>
    </form>
    <p id="msg" class="msg" role="status"></p>
    <div class="result-grid">
      <figure class="frame">
        <div class="frame-box"><canvas id="frame" width="480" height="320" hidden></canvas>
          <p id="no-frame" class="empty">No picture yet.</p></div>
        <figcaption id="timings">The picture and the cards found in it appear here.</figcaption>
        <video id="video" playsinline muted></video>
      </figure>
      <div id="cards" class="cards"><p class="empty">Upload a photo of one or more cards, or start the camera.</p>
      </div>
    </div>
  </section>
  <section class="panel">
    <div class="panel-head"><h2>Collection <span id="coll-count" class="small"></span></h2>
      <a id="csv-link" class="button" href="/collection.csv" download="collection.csv">Download CSV</a></div>
    <table id="collection"><thead><tr><th>Qty</th><th>Name</th><th>Set</th><th>No.</th><th>Rarity</th>
      <th>Printing</th><th>Condition</th><th>Language</th><th>Scanned</th><th></th></tr></thead>
      <tbody><tr><td colspan="10" class="small">Nothing yet.</td></tr></tbody></table>
  </section>
</main>
"""

SCRIPT = r"""
const $ = (id) => document.getElementById(id);
const tokenInput = $('token');
tokenInput.value = localStorage.getItem('cardrec-token') || '';
tokenInput.addEventListener('change', () => { localStorage.setItem('cardrec-token', tokenInput.value.trim());
  loadCollection(); });
let threshold = 0.5, streamTimer = null, stream = null, busy = false, lastKey = '';
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({'&': '&amp;', '<': '&lt;', '>': '&gt;',
  '"': '&quot;', "'": '&#39;'}[c]));
const fmt = (x) => (x === null || x === undefined) ? '–' : Number(x).toFixed(3);
function say(text, error = false) {
  const m = $('msg'); m.textContent = text; m.className = 'msg' + (error ? ' error' : '');
}

async function api(path, opts = {}) {
  const headers = new Headers(opts.headers || {});
  const t = tokenInput.value.trim();
  if (t) headers.set('Authorization', 'Bearer ' + t);
  const r = await fetch(path, {...opts, headers});
  const type = r.headers.get('content-type') || '';
  const body = type.includes('json') ? await r.json() : await r.text();
  if (!r.ok) {
    let msg = (body && body.error) || r.statusText;
    if (r.status === 401) msg += ' (enter the access token at the top right)';
    throw new Error(msg);
  }
  return body;
}

async function loadHealth() {
  try {
    const h = await fetch('/health').then((r) => r.json());
    threshold = h.threshold;
    $('meta').textContent = `${h.cards} cards · ${h.backend} · ${h.model_variant || 'model'} · threshold ` +
      `${fmt(h.threshold)}` + (h.auth_required ? ' · token required' : '');
  } catch (e) { $('meta').textContent = 'server not reachable'; }
}

function drawFrame(source, result) {
  const c = $('frame'), ctx = c.getContext('2d');
  c.hidden = false; $('no-frame').hidden = true;
  const [w, h] = result ? result.frame_size : [source.naturalWidth || source.videoWidth || source.width,
    source.naturalHeight || source.videoHeight || source.height];
  c.width = w; c.height = h;
  ctx.drawImage(source, 0, 0, w, h);
  if (!result) return;
  const colours = {identified: '#2f9e44', unknown: '#f08c00', low_quality: '#e03131'};
  const lw = Math.max(2, w / 200);
  ctx.font = `bold ${Math.max(14, w / 30)}px system-ui, sans-serif`; ctx.lineJoin = 'round';
  result.cards.forEach((card, i) => {
    ctx.beginPath();
    card.corners.forEach(([x, y], j) => j ? ctx.lineTo(x, y) : ctx.moveTo(x, y));
    ctx.closePath();
    ctx.fillStyle = 'rgba(59,91,219,.10)'; ctx.fill();
    ctx.strokeStyle = '#fff'; ctx.lineWidth = lw * 2.3; ctx.stroke();
    ctx.strokeStyle = colours[card.status] || '#3b5bdb'; ctx.lineWidth = lw; ctx.stroke();
    const [x0, y0] = card.corners[0];
    ctx.fillStyle = '#1d2330'; ctx.strokeStyle = '#fff'; ctx.lineWidth = 3;
    ctx.strokeText(String(i + 1), x0 + 8, y0 + Math.max(14, w / 30) + 4);
    ctx.fillText(String(i + 1), x0 + 8, y0 + Math.max(14, w / 30) + 4);
  });
}

function options(values, selected) {
  return values.map((v) => `<option${v === selected ? ' selected' : ''}>${esc(v)}</option>`).join('');
}

function renderCard(card, i) {
  const best = (card.candidates || [])[0];
  const title = card.status === 'identified' ? (card.name || card.card_id) :
    (card.status === 'unknown' ? 'Unknown card' : 'Low quality');
  let html = `<article class="card-result status-${esc(card.status)}">`;
  if (card.crop) html += `<img class="crop" src="${esc(card.crop)}" alt="rectified crop of card ${i + 1}">`;
  if (card.ref_image) html += `<img class="crop ref" src="${esc(card.ref_image)}" alt="reference image of the match">`;
  html += `<div class="info"><div class="title-row"><span class="num">#${i + 1}</span><h3>${esc(title)}</h3>` +
    `<span class="badge ${esc(card.status)}">${esc(card.status.replace('_', ' '))}</span></div>`;
  if (best && card.status === 'identified') {
    const sub = [best.set, best.number ? `No. ${best.number}` : null, best.rarity].filter((x) => x);
    html += `<p class="sub">${sub.map(esc).join(' · ')}</p>`;
  } else if (best) {
    html += `<p class="sub">closest: ${esc(best.name || '?')} (${esc(best.card_id)})</p>`;
  }
  if (card.score !== null && card.score !== undefined) {
    const pct = Math.max(0, Math.min(1, card.score)) * 100;
    html += `<div class="score-row"><span class="small">score</span><span class="score-value">${fmt(card.score)}` +
      `</span><div class="bar"><span style="width:${pct.toFixed(1)}%"></span><i style="left:` +
      `${(threshold * 100).toFixed(1)}%"></i></div><span class="small">threshold ${fmt(threshold)}</span></div>`;
  }
  const q = card.quality || {};
  const extra = [`blur ${Math.round(q.blur || 0)}`, `glare ${(100 * (q.glare || 0)).toFixed(1)}%`];
  if (card.rotated) extra.push('matched upside down');
  if (q.reasons && q.reasons.length) extra.push(q.reasons.join('; '));
  html += `<p class="small">${esc(extra.join(' · '))}</p>`;
  const cands = card.candidates || [];
  const others = card.status === 'identified' ? cands.slice(1, 4) : cands.slice(0, 3);
  if (others.length) html += '<ol class="candidates">' + others.map((c) =>
    `<li>${esc(c.name || '?')} <span>(${esc(c.card_id)}, ${fmt(c.score)})</span></li>`).join('') + '</ol>';
  if (cands.length) {
    html += `<form class="add" data-card="${i}"><select name="card_id" aria-label="card">` +
      cands.map((c, j) => `<option value="${esc(c.card_id)}"${j === 0 && card.status === 'identified' ?
        ' selected' : ''}>${esc(c.name || c.card_id)} · ${esc(c.card_id)}</option>`).join('') + '</select>' +
      `<input name="quantity" type="number" min="1" max="10000" value="1" aria-label="quantity">` +
      `<select name="condition" aria-label="condition">${options(CONDITIONS, 'Near Mint')}</select>` +
      `<select name="printing" aria-label="printing">${options(PRINTINGS, 'Normal')}</select>` +
      `<button type="submit" class="primary">${card.status === 'identified' ? 'Confirm · add' : 'Add selected'}` +
      `</button></form>`;
  }
  return html + '</div></article>';
}

function renderResult(result, source) {
  drawFrame(source, result);
  const t = result.timings_ms || {};
  $('timings').textContent = `${result.frame_size[0]}×${result.frame_size[1]} px · ` +
    Object.entries(t).map(([k, v]) => `${k} ${Math.round(v)} ms`).join(', ');
  const key = result.cards.map((c) => c.card_id || c.status).join('|');
  const editing = $('cards').contains(document.activeElement);
  if (streamTimer && (editing || key === lastKey)) return;  // live mode: keep the forms the user works on
  lastKey = key;
  $('cards').innerHTML = result.cards.length ? result.cards.map(renderCard).join('') :
    '<p class="empty">No card found in this picture.</p>';
}

async function identify(blob, source) {
  const form = new FormData();
  form.append('image', blob, 'frame.jpg');
  const result = await api('/identify', {method: 'POST', body: form});
  renderResult(result, source);
  const n = result.cards.filter((c) => c.status === 'identified').length;
  say(`${result.cards.length} card(s) found, ${n} identified.`);
  return result;
}

$('upload-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const file = $('image').files[0];
  if (!file) return say('Choose an image first.', true);
  const img = new Image();
  img.src = URL.createObjectURL(file);
  await img.decode().catch(() => null);
  say('Identifying…');
  try { await identify(file, img); } catch (e) { say(e.message, true); if (img.naturalWidth) drawFrame(img); }
});

$('cards').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const f = ev.target, data = new FormData(f);
  const body = {card_id: data.get('card_id'), quantity: parseInt(data.get('quantity'), 10),
    condition: data.get('condition'), printing: data.get('printing'), language: 'English'};
  try {
    const row = await api('/collection', {method: 'POST', headers: {'Content-Type': 'application/json'},
      body: JSON.stringify(body)});
    say(`Added ${row.quantity} × ${row.name} to the collection.`);
    loadCollection();
  } catch (e) { say(e.message, true); }
});

async function loadCollection() {
  try {
    const rows = await api('/collection');
    const body = $('collection').querySelector('tbody');
    $('coll-count').textContent = rows.length ? `· ${rows.reduce((s, r) => s + r.quantity, 0)} cards` : '';
    body.innerHTML = rows.length ? rows.slice().reverse().map((r) => `<tr><td class="qty">${r.quantity}</td>` +
      `<td>${esc(r.name)}</td><td>${esc(r.set_name || r.set_code)}</td><td>${esc(r.number)}</td>` +
      `<td>${esc(r.rarity)}</td><td>${esc(r.printing)}</td><td>${esc(r.condition)}</td><td>${esc(r.language)}</td>` +
      `<td class="small">${esc(r.scanned_at.replace('T', ' ').slice(0, 16))}</td>` +
      `<td><button data-row="${r.id}" title="remove">Remove</button></td></tr>`).join('') :
      '<tr><td colspan="10" class="small">Nothing yet.</td></tr>';
  } catch (e) { say(e.message, true); }
}

$('collection').addEventListener('click', async (ev) => {
  const id = ev.target.dataset && ev.target.dataset.row;
  if (!id) return;
  try { await api(`/collection/${id}`, {method: 'DELETE'}); loadCollection(); } catch (e) { say(e.message, true); }
});

$('csv-link').addEventListener('click', async (ev) => {
  if (!tokenInput.value.trim()) return;  // the plain link works without a token
  ev.preventDefault();
  try {
    const text = await api('/collection.csv');
    const a = document.createElement('a');
    a.href = URL.createObjectURL(new Blob([text], {type: 'text/csv'}));
    a.download = 'collection.csv'; a.click();
  } catch (e) { say(e.message, true); }
});

async function liveTick() {
  const video = $('video');
  if (busy || !video.videoWidth) return;
  busy = true;
  const c = document.createElement('canvas');
  c.width = video.videoWidth; c.height = video.videoHeight;
  c.getContext('2d').drawImage(video, 0, 0);
  const blob = await new Promise((res) => c.toBlob(res, 'image/jpeg', 0.85));
  try { await identify(blob, c); } catch (e) { say(e.message, true); } finally { busy = false; }
}

$('camera-btn').addEventListener('click', async () => {
  const btn = $('camera-btn');
  if (streamTimer) {
    clearInterval(streamTimer); streamTimer = null;
    stream.getTracks().forEach((t) => t.stop());
    btn.textContent = 'Start live camera'; btn.classList.remove('live'); say('Camera stopped.');
    return;
  }
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    return say('The camera needs https or http://localhost (a browser rule); upload a photo instead.', true);
  }
  try {
    stream = await navigator.mediaDevices.getUserMedia({video: {facingMode: 'environment',
      width: {ideal: 1280}, height: {ideal: 960}}, audio: false});
  } catch (e) { return say('Camera not available: ' + e.message, true); }
  $('video').srcObject = stream; await $('video').play();
  btn.textContent = 'Stop camera'; btn.classList.add('live'); lastKey = '';
  say('Live: a frame every second.');
  streamTimer = setInterval(liveTick, 1000);
});

loadHealth();
loadCollection();
"""


def index_html(nonce: str) -> str:
    """The scanner page; ``nonce`` must match the response's Content-Security-Policy."""
    consts = f"const CONDITIONS = {json.dumps(CONDITIONS)};\nconst PRINTINGS = {json.dumps(PRINTINGS)};\n"
    return _page("Card scanner", INDEX_BODY, consts + SCRIPT, nonce)
