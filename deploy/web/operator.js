// Operator page for the concert queue: type the admin key, see every queue
// with its live figures (polled every 2 s) and a chart of the last 10
// minutes, and change a queue's settings. Plain ES module, no build step,
// no libraries.
//
// The admin key lives in this module's memory only: never in storage, a
// cookie or the URL, and it is sent to the queue service alone.
//
// Query parameters: queue_url (the queue service's base URL; default: this
// page's host on port 8081, as on the demo page, which is where both
// scripts/run.sh and the compose gateway serve it).

const params = new URLSearchParams(location.search);
const pageProtocol = location.protocol === 'https:' ? 'https:' : 'http:';
const pageHost = location.hostname || '127.0.0.1';
const QUEUE_URL = trimSlash(params.get('queue_url') || `${pageProtocol}//${pageHost}:8081`);

const POLL_MS = 2_000;
const HISTORY_MS = 10 * 60 * 1000;
const MIN_SPAN_MS = 60_000;
const DRAW_REFRESH_MS = 10_000;
const CHART_W = 600;
const CHART_H = 120;

/** Settings whose values are fractions even when they happen to be whole. */
const FRACTIONAL = new Set(['admit_per_seat', 'origin.max_error_ratio', 'origin.min_admit_fraction']);
/** Settings that may be null, and what they hold when they are not. */
const NULLABLE = { max_waiting: 'integer', opens_at: 'datetime', poll_budget_per_second: 'integer' };
const FIELD_HELP = {
  max_waiting: 'empty: no cap',
  poll_budget_per_second: 'most polls/s the whole line is told to make; empty: none',
  opens_at: 'RFC 3339, e.g. 2030-01-01T18:00:00Z; empty: open from the start',
  pow_difficulty_bits: '0: no proof of work',
};

const $ = (id) => document.getElementById(id);

const state = {
  adminKey: null, // in memory only
  generation: 0, // bumped on connect/forget so stale answers are dropped
  pollTimer: null,
  cards: new Map(), // queue id -> card (see createCard)
};

// ------------------------------------------------------------------ helpers

function trimSlash(url) {
  return url.replace(/\/+$/, '');
}

function count(n) {
  return typeof n === 'number' ? Math.round(n).toLocaleString('en-US') : '—';
}

function rate(n) {
  if (typeof n !== 'number') return '—';
  return Number.isInteger(n) ? String(n) : n.toFixed(2);
}

function clock(msOrIso) {
  const d = new Date(msOrIso);
  return Number.isNaN(d.getTime()) ? String(msOrIso) : d.toLocaleTimeString();
}

function relative(ms) {
  const s = Math.round(Math.abs(ms) / 1000);
  const text = s < 60 ? `${s} s` : s < 3600 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return ms >= 0 ? `in ${text}` : `${text} ago`;
}

/** createElement with attributes (data-*, aria-* included) and children. */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'text') node.textContent = value;
    else node.setAttribute(name, value === true ? '' : value);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

const SVG_NS = 'http://www.w3.org/2000/svg';
function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  return node;
}

function say(target, text, kind = 'info') {
  target.textContent = text;
  target.dataset.kind = kind;
}

function problemText(res) {
  const p = res.problem || {};
  const what = [p.code, p.detail || p.title].filter(Boolean).join(': ');
  return res.status ? `HTTP ${res.status}${what ? ` ${what}` : ''}` : what;
}

/** fetch wrapper: never throws; returns {ok, status, data, problem}. */
async function call(method, path, { admin = true, body } = {}) {
  const init = { method, headers: { Accept: 'application/json' }, cache: 'no-store', referrerPolicy: 'no-referrer' };
  if (admin) init.headers.Authorization = `Bearer ${state.adminKey}`;
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(QUEUE_URL + path, init);
  } catch {
    return {
      ok: false,
      status: 0,
      problem: {
        detail: `Cannot reach ${QUEUE_URL} (the service is down, the network is offline, or the browser blocked the call by CORS).`,
      },
    };
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { detail: text.slice(0, 200) };
    }
  }
  return { ok: res.ok, status: res.status, data: res.ok ? data : null, problem: res.ok ? null : data || {} };
}

// ------------------------------------------------------------ connecting

function connect(key) {
  stop();
  clearCards();
  state.adminKey = key;
  const generation = ++state.generation;
  $('forget').disabled = false;
  say($('key-message'), 'Checking the key…');
  poll(generation);
}

function stop() {
  clearTimeout(state.pollTimer);
  state.pollTimer = null;
}

function forget(message, kind = 'info') {
  stop();
  state.generation++;
  state.adminKey = null;
  clearCards();
  $('queues-section').hidden = true;
  $('forget').disabled = true;
  document.body.dataset.connected = 'false';
  say($('key-message'), message, kind);
}

function clearCards() {
  state.cards.clear();
  $('queues').replaceChildren();
}

async function poll(generation) {
  const res = await call('GET', '/v1/admin/queues');
  if (generation !== state.generation) return;
  if (res.status === 401 || res.status === 403) {
    forget(
      `The queue service refused this admin key (${problemText(res)}). ` +
        'Type the ADMIN_API_KEY the service was started with.',
      'error',
    );
    $('admin-key').focus();
    return;
  }
  if (res.ok && Array.isArray(res.data?.queues)) {
    if (document.body.dataset.connected !== 'true') {
      document.body.dataset.connected = 'true';
      $('queues-section').hidden = false;
      say($('key-message'), `Key accepted; refreshing every ${POLL_MS / 1000} s.`, 'ok');
    }
    render(res.data.queues, Date.now());
    $('poll-info').textContent = `Updated ${clock(Date.now())}.`;
    $('poll-info').dataset.kind = 'ok';
  } else if (document.body.dataset.connected === 'true') {
    $('poll-info').textContent = `Refresh failed at ${clock(Date.now())} (${problemText(res)}); trying again.`;
    $('poll-info').dataset.kind = 'error';
  } else {
    say($('key-message'), `Could not list the queues (${problemText(res)}); trying again every ${POLL_MS / 1000} s.`, 'warn');
  }
  state.pollTimer = setTimeout(() => poll(generation), POLL_MS);
}

// ------------------------------------------------------------------ render

function render(queues, now) {
  const container = $('queues');
  const seen = new Set();
  queues.forEach((queue, index) => {
    const id = queue.settings?.queue_id;
    if (typeof id !== 'string') return;
    seen.add(id);
    let card = state.cards.get(id);
    if (!card) {
      card = createCard(queue.settings);
      state.cards.set(id, card);
    }
    // Move a card only when it is out of place: moving a node takes the
    // focus away from a field someone is typing in.
    const at = container.children[index];
    if (at !== card.root) container.insertBefore(card.root, at || null);
    updateCard(card, queue, now);
  });
  for (const [id, card] of state.cards) {
    if (!seen.has(id)) {
      card.root.remove();
      state.cards.delete(id);
    }
  }
  $('no-queues').hidden = state.cards.size > 0;
}

function fact(label, testid) {
  const dd = el('dd', { 'data-testid': testid, text: '—' });
  return { node: el('div', {}, el('dt', { text: label }), dd), dd };
}

function createCard(settings) {
  const id = settings.queue_id;
  const facts = {
    waiting: fact('Waiting', 'waiting'),
    active: fact('Active / max', 'active'),
    rate: fact('Admitted per second (now / set)', 'rate'),
    seats: fact('Seats left / held', 'seats'),
    opens: fact('Opens', 'opens-at'),
  };
  const soldOut = el('span', { class: 'op-badge', 'data-testid': 'sold-out', text: 'sold out', hidden: true });
  const chart = createChart(id);
  const draw = el('p', { class: 'help', 'data-testid': 'draw', hidden: true });
  const form = el('form', { class: 'op-settings', 'data-testid': 'settings-form', method: 'post', action: '#', novalidate: true });
  const message = el('p', { class: 'status', role: 'status', 'aria-live': 'polite', 'data-testid': 'settings-message' });
  const root = el(
    'article',
    { class: 'op-queue', 'data-testid': `queue-${id}`, 'data-queue-id': id, 'aria-labelledby': `q-${id}-heading` },
    el('h3', { id: `q-${id}-heading` }, el('code', { text: id }), ' ', soldOut),
    el('dl', { class: 'facts' }, ...Object.values(facts).map((f) => f.node)),
    chart.node,
    draw,
    el('details', { class: 'op-details' }, el('summary', { text: 'Settings' }), form, message),
  );
  const card = { id, root, facts, soldOut, chart, draw, form, message, settings: null, fields: [], dirty: false, samples: [], drawFetchedAt: 0, saving: false };
  buildForm(card, settings);
  return card;
}

function updateCard(card, queue, now) {
  const s = queue.settings;
  card.facts.waiting.dd.textContent = count(queue.waiting);
  card.facts.active.dd.textContent = `${count(queue.active)} / ${count(s.max_active)}`;
  card.facts.rate.dd.textContent = `${rate(queue.effective_admit_per_second)} / ${rate(s.admit_per_second)}`;
  card.facts.seats.dd.textContent =
    queue.seats_left == null ? 'no concert' : `${count(queue.seats_left)} / ${count(queue.seats_held)}`;
  card.facts.opens.dd.textContent = s.opens_at ? `${clock(s.opens_at)} (${relative(new Date(s.opens_at) - now)})` : 'open';
  card.facts.opens.dd.title = s.opens_at || '';
  card.soldOut.hidden = !queue.sold_out;

  card.samples.push({ t: now, waiting: queue.waiting, active: queue.active });
  while (card.samples.length && card.samples[0].t < now - HISTORY_MS) card.samples.shift();
  drawChart(card.chart, card.samples, now);

  if (!card.dirty && !card.saving && JSON.stringify(s) !== JSON.stringify(card.settings)) fillForm(card, s);
  card.settings = s;

  if (s.opens_at && now - card.drawFetchedAt >= DRAW_REFRESH_MS) {
    card.drawFetchedAt = now;
    refreshDraw(card, state.generation);
  } else if (!s.opens_at) {
    card.draw.hidden = true;
  }
}

// ------------------------------------------------------------------- chart

function createChart(id) {
  const plot = svg('svg', {
    viewBox: `0 0 ${CHART_W} ${CHART_H}`,
    preserveAspectRatio: 'none',
    class: 'op-chart',
    role: 'img',
    'data-testid': 'chart',
    'data-samples': '0',
  });
  const grid = svg('line', { x1: 0, x2: CHART_W, y1: CHART_H - 0.5, y2: CHART_H - 0.5, class: 'op-axis' });
  const waiting = svg('polyline', { class: 'op-line op-waiting', points: '', 'vector-effect': 'non-scaling-stroke' });
  const active = svg('polyline', { class: 'op-line op-active', points: '', 'vector-effect': 'non-scaling-stroke' });
  plot.append(grid, waiting, active);
  const peak = el('span', { 'data-testid': 'chart-peak' });
  const since = el('span', { 'data-testid': 'chart-since' });
  const node = el(
    'figure',
    { class: 'op-figure' },
    plot,
    el('figcaption', { class: 'op-caption' }, since, peak, el('span', { text: 'now' })),
  );
  plot.setAttribute('aria-label', `Waiting and active in queue ${id}`);
  return { node, plot, waiting, active, peak, since, id };
}

function drawChart(chart, samples, now) {
  const top = Math.max(1, ...samples.map((s) => Math.max(s.waiting, s.active)));
  // The time axis spans what has been seen, from a minute up to ten, so a
  // fresh page's first points are not squeezed against the right edge.
  const span = Math.min(HISTORY_MS, Math.max(MIN_SPAN_MS, now - samples[0].t));
  const x = (t) => (((t - (now - span)) / span) * CHART_W).toFixed(1);
  chart.since.textContent = `${Math.round(span / 60_000)} min ago`;
  const y = (v) => (CHART_H - 2 - (v / top) * (CHART_H - 8)).toFixed(1);
  chart.waiting.setAttribute('points', samples.map((s) => `${x(s.t)},${y(s.waiting)}`).join(' '));
  chart.active.setAttribute('points', samples.map((s) => `${x(s.t)},${y(s.active)}`).join(' '));
  chart.plot.dataset.samples = String(samples.length);
  chart.peak.textContent = `top of chart: ${count(top)}`;
  const last = samples[samples.length - 1];
  chart.plot.setAttribute(
    'aria-label',
    `Queue ${chart.id}, last ${Math.round((now - samples[0].t) / 60_000)} min: ` +
      `now ${count(last.waiting)} waiting, ${count(last.active)} active; peak ${count(top)}`,
  );
}

// -------------------------------------------------------------------- draw

async function refreshDraw(card, generation) {
  const res = await call('GET', `/v1/queues/${encodeURIComponent(card.id)}`, { admin: false });
  if (generation !== state.generation || !card.settings?.opens_at) return;
  const link = el('a', {
    href: `${QUEUE_URL}/v1/queues/${encodeURIComponent(card.id)}`,
    target: '_blank',
    rel: 'noopener noreferrer',
    text: 'public summary',
  });
  const d = res.ok ? res.data?.draw : null;
  const parts = [];
  if (!res.ok) parts.push(`Draw: could not load (${problemText(res)}). `);
  else if (!d) parts.push('Draw: none published. ');
  else if (!d.seed) parts.push('Draw: before the opening; commitment ', el('code', { text: d.commitment }), '. ');
  else {
    parts.push(
      `Draw made at ${clock(d.drawn_at)} among ${count(d.entrants)}; seed `,
      el('code', { text: d.seed }),
      ' (commitment ',
      el('code', { text: d.commitment }),
      '). ',
    );
  }
  card.draw.replaceChildren(...parts, link, '.');
  card.draw.hidden = false;
}

// -------------------------------------------------------------------- form

/** Every setting but queue_id, flattened: [{path, kind, nullable}]. */
function describe(settings, prefix = []) {
  const fields = [];
  for (const [name, value] of Object.entries(settings)) {
    if (prefix.length === 0 && name === 'queue_id') continue;
    const path = [...prefix, name];
    const key = path.join('.');
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      fields.push({ group: key, fields: describe(value, path) });
      continue;
    }
    let kind;
    if (value === null) kind = NULLABLE[key] || 'text';
    else if (typeof value === 'number') kind = FRACTIONAL.has(key) || !Number.isInteger(value) ? 'number' : 'integer';
    else if (typeof value === 'boolean') kind = 'boolean';
    else kind = key in NULLABLE ? NULLABLE[key] : 'text';
    fields.push({ path, key, kind, nullable: value === null || key in NULLABLE });
  }
  return fields;
}

function buildForm(card, settings) {
  const leaves = [];
  const inputFor = (field) => {
    const inputId = `q-${card.id}-${field.path.join('-')}`;
    const attrs = { id: inputId, name: field.key, 'data-testid': `field-${field.key}`, 'data-kind': field.kind };
    let input;
    if (field.kind === 'boolean') input = el('input', { ...attrs, type: 'checkbox' });
    else if (field.kind === 'integer' || field.kind === 'number') {
      input = el('input', { ...attrs, type: 'number', step: field.kind === 'integer' ? '1' : 'any', inputmode: 'decimal' });
    } else input = el('input', { ...attrs, type: 'text', spellcheck: 'false', placeholder: field.kind === 'datetime' ? 'YYYY-MM-DDTHH:MM:SSZ' : '' });
    leaves.push({ ...field, input });
    const help = FIELD_HELP[field.key];
    return el(
      'div',
      { class: 'op-field' },
      el('label', { for: inputId, text: field.path[field.path.length - 1] }),
      input,
      help ? el('small', { class: 'help', text: help }) : null,
    );
  };
  const nodes = describe(settings).map((f) =>
    f.group
      ? el('fieldset', { class: 'op-group' }, el('legend', { text: f.group }), ...f.fields.map(inputFor))
      : inputFor(f),
  );
  const save = el('button', { type: 'submit', 'data-testid': 'save', text: 'Save settings' });
  const undo = el('button', { type: 'button', class: 'secondary', 'data-testid': 'undo', text: 'Undo changes' });
  card.form.replaceChildren(el('div', { class: 'op-grid' }, ...nodes), el('div', { class: 'row' }, save, undo));
  card.fields = leaves;
  card.saveButton = save;
  card.form.addEventListener('input', () => {
    card.dirty = true;
  });
  card.form.addEventListener('submit', (event) => {
    event.preventDefault();
    saveSettings(card);
  });
  undo.addEventListener('click', () => {
    fillForm(card, card.settings);
    say(card.message, '');
  });
  fillForm(card, settings);
}

function valueAt(settings, path) {
  return path.reduce((obj, name) => (obj == null ? undefined : obj[name]), settings);
}

function fillForm(card, settings) {
  for (const field of card.fields) {
    const value = valueAt(settings, field.path);
    if (field.kind === 'boolean') field.input.checked = Boolean(value);
    else field.input.value = value == null ? '' : String(value);
  }
  card.dirty = false;
}

/** The PUT body: the settings' exact shape, minus queue_id. Throws a message on bad input. */
function readForm(card) {
  const body = {};
  for (const field of card.fields) {
    const raw = field.kind === 'boolean' ? field.input.checked : field.input.value.trim();
    let value;
    if (field.kind === 'boolean') value = raw;
    else if (raw === '') {
      if (!field.nullable) throw Object.assign(new Error(`${field.key} needs a value.`), { input: field.input });
      value = null;
    } else if (field.kind === 'integer' || field.kind === 'number') {
      value = Number(raw);
      if (!Number.isFinite(value)) throw Object.assign(new Error(`${field.key} must be a number.`), { input: field.input });
    } else value = raw;
    let target = body;
    for (const name of field.path.slice(0, -1)) target = target[name] ??= {};
    target[field.path[field.path.length - 1]] = value;
  }
  return body;
}

async function saveSettings(card) {
  if (card.saving || !state.adminKey) return;
  let body;
  try {
    body = readForm(card);
  } catch (err) {
    say(card.message, err.message, 'error');
    err.input?.focus();
    return;
  }
  const before = card.settings;
  card.saving = true;
  card.saveButton.disabled = true;
  say(card.message, 'Saving…');
  const generation = state.generation;
  const res = await call('PUT', `/v1/admin/queues/${encodeURIComponent(card.id)}`, { body });
  card.saving = false;
  card.saveButton.disabled = false;
  if (generation !== state.generation) return;
  if (res.ok) {
    const saved = res.data && typeof res.data === 'object' ? res.data : { queue_id: card.id, ...body };
    const changed = card.fields
      .filter((f) => JSON.stringify(valueAt(before, f.path)) !== JSON.stringify(valueAt(saved, f.path)))
      .map((f) => `${f.key} ${JSON.stringify(valueAt(before, f.path))} → ${JSON.stringify(valueAt(saved, f.path))}`);
    card.settings = saved;
    fillForm(card, saved);
    say(card.message, `Saved at ${clock(Date.now())}${changed.length ? `: ${changed.join(', ')}` : ' (nothing changed)'}.`, 'ok');
  } else if (res.status === 401 || res.status === 403) {
    forget(`The queue service refused the admin key while saving (${problemText(res)}).`, 'error');
  } else {
    say(card.message, `Not saved: ${problemText(res)}`, 'error');
  }
}

// -------------------------------------------------------------------- start

$('queue-url').textContent = QUEUE_URL;
document.body.dataset.connected = 'false';
$('key-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const input = $('admin-key');
  const key = input.value.trim();
  // The field is emptied at once: the key stays in this module only.
  input.value = '';
  if (!key) {
    say($('key-message'), 'Type the admin key first.', 'error');
    input.focus();
    return;
  }
  connect(key);
});
$('forget').addEventListener('click', () => forget('Key forgotten; type it again to see the queues.'));
