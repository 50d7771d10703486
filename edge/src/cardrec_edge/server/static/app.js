// The scanner page's script (served as /static/app.js; index.html carries the choice lists as JSON).
const CHOICES = JSON.parse(document.getElementById('choices').textContent);
const CONDITIONS = CHOICES.conditions, PRINTINGS = CHOICES.printings;

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
