// Demo front-end for the concert queue: sign in, join the line (solving a
// proof of work when the line asks for one), poll the heartbeat as the
// server asks (poll_after_ms, never faster), then hold a seat, top up the
// balance and pay. Plain ES module, no build step.
//
// Query parameters: queue_url, api_url (service base URLs; default: this
// page's host on ports 8081 and 8082), queue_id (default "demo"),
// user_id (prefills the sign-in), auth=header (send X-User-Id instead of a
// bearer token, for a trusted-header stack behind an authenticating gateway).

const params = new URLSearchParams(location.search);
const pageProtocol = location.protocol === 'https:' ? 'https:' : 'http:';
const pageHost = location.hostname || '127.0.0.1';
const QUEUE_URL = trimSlash(params.get('queue_url') || `${pageProtocol}//${pageHost}:8081`);
const API_URL = trimSlash(params.get('api_url') || `${pageProtocol}//${pageHost}:8082`);
const QUEUE_ID = params.get('queue_id') || 'demo';
const QUEUE_PATH = `/v1/queues/${encodeURIComponent(QUEUE_ID)}`;
/** 'jwt': development sign-in and Authorization: Bearer; 'header': X-User-Id. */
const AUTH_MODE = params.get('auth') === 'header' ? 'header' : 'jwt';

const USER_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
const MAX_CHARGE = 10_000_000;
const SEAT_PAGE = 200;
// Used only when a response carries no poll_after_ms (e.g. a failed poll
// before any answer); the server's advice always wins otherwise.
const FALLBACK_POLL_MS = 2_000;
const POW_CODES = new Set(['POW_REQUIRED', 'POW_INVALID', 'POW_EXPIRED', 'POW_REUSED']);

const $ = (id) => document.getElementById(id);

const state = {
  generation: 0, // bumped on every join/leave so stale timers and answers are ignored
  // {userId, accessToken, expiresAt}; in memory only, never in storage, so
  // the token dies with the tab.
  session: null,
  refreshing: null, // the sign-in in flight after a JWT_EXPIRED, shared by concurrent calls
  token: null, // the queue token
  status: null,
  firstPosition: null,
  lastPollAfterMs: FALLBACK_POLL_MS,
  pollTimer: null,
  nextPollAt: null,
  activeUntil: null,
  joining: false,
  joinBlockedUntil: 0, // Retry-After of a refused join (429 or a full line)
  pow: null, // the proof-of-work job in progress: {worker, finish}
  booking: false,
  schedules: [], // [{concert, schedule}]
  schedule: null,
  seats: new Map(), // seat id -> seat
  seatCursor: 0,
  hold: null, // {reservation_id, seat_id, number, price, hold_expires_at, queueToken}
  opensAt: null, // the queue's opening (Date), while in the pre-queue
  seatsLeft: null, // {left, held} from the last status, when a concert feeds the line
  soldOut: false,
  drawInfo: null, // GET /v1/queues/{id}'s opens_at and draw, once fetched
  balance: null,
  payKey: null, // Idempotency-Key of the payment attempt in flight or to retry
  charge: null, // {key, amount} of the charge attempt to retry
  paid: false,
};

// ------------------------------------------------------------------ helpers

function trimSlash(url) {
  return url.replace(/\/+$/, '');
}

function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  // crypto.randomUUID exists only in secure contexts (https, localhost).
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function money(amount) {
  return typeof amount === 'number' ? amount.toLocaleString('en-US') : '—';
}

function count(n) {
  return Math.round(n).toLocaleString('en-US');
}

function duration(seconds) {
  if (seconds == null) return '—';
  seconds = Math.max(0, Math.round(seconds));
  if (seconds < 60) return `${seconds} s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m} min ${String(seconds % 60).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

/** A Retry-After, in whole seconds (rounded up: never invite a retry too early). */
function seconds(ms) {
  return `${Math.max(1, Math.ceil(ms / 1000))} s`;
}

/** Short durations keep a decimal: a proof of work takes fractions of a second. */
function shortDuration(ms) {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : duration(ms / 1000);
}

function clock(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleTimeString();
}

const codeOf = (res) => res.problem?.code || '';

/** fetch wrapper: never throws; returns {ok, status, data, problem, retryAfterMs}. */
async function call(base, method, path, { headers = {}, body } = {}) {
  const init = { method, headers: { Accept: 'application/json', ...headers } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(base + path, init);
  } catch {
    return {
      ok: false,
      status: 0,
      problem: {
        title: 'Network error',
        detail: `Cannot reach ${base} (the service is down, the network is offline, or the browser blocked the call by CORS).`,
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
  const retryAfter = Number(res.headers.get('Retry-After'));
  return {
    ok: res.ok,
    status: res.status,
    data: res.ok ? data : null,
    problem: res.ok ? null : data || {},
    retryAfterMs: Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : 0,
  };
}

// ------------------------------------------------------------------ identity

/** Who is calling: a bearer token, or (behind a gateway) the user id itself. */
function identityHeaders() {
  if (!state.session) return {};
  if (AUTH_MODE === 'header') return { 'X-User-Id': state.session.userId };
  return { Authorization: `Bearer ${state.session.accessToken}` };
}

/**
 * A call on behalf of the signed-in user. Dev sign-in tokens live minutes
 * and a visit may last longer: on 401 JWT_EXPIRED sign in again once and
 * repeat the call (the service refused it before doing anything, and
 * Idempotency-Keys are repeated as they were).
 */
async function userCall(base, method, path, { headers = {}, body, queueToken = false } = {}) {
  const send = () =>
    call(base, method, path, {
      headers: {
        ...identityHeaders(),
        ...(queueToken && (typeof queueToken === 'string' || state.token)
          ? { 'X-Queue-Token': typeof queueToken === 'string' ? queueToken : state.token }
          : {}),
        ...headers,
      },
      body,
    });
  let res = await send();
  if (res.status === 401 && codeOf(res) === 'JWT_EXPIRED' && AUTH_MODE === 'jwt' && state.session) {
    if (await refreshSession()) res = await send();
  }
  return res;
}

const queueApi = (method, path, opts) => userCall(QUEUE_URL, method, path, opts);
const api = (method, path, opts) => userCall(API_URL, method, path, opts);
/** Public reads (concerts, seats) need no identity. */
const publicApi = (method, path) => call(API_URL, method, path);

/** The development sign-in; on success the token replaces the session's. */
async function requestToken(userId) {
  const res = await call(QUEUE_URL, 'POST', '/v1/dev/sign-in', { body: { user_id: userId } });
  if (res.ok) {
    setSession({
      userId: res.data.user_id || userId,
      accessToken: res.data.access_token,
      expiresAt: Date.now() + (Number(res.data.expires_in) || 0) * 1000,
    });
  }
  return res;
}

function refreshSession() {
  if (!state.refreshing) {
    state.refreshing = requestToken(state.session.userId)
      .then((res) => res.ok)
      .finally(() => {
        state.refreshing = null;
      });
  }
  return state.refreshing;
}

function setSession(session) {
  if (state.session && state.session.userId !== session.userId) forgetPlace();
  state.session = session;
  const el = $('signed-in');
  el.hidden = false;
  el.dataset.user = session.userId;
  el.textContent =
    AUTH_MODE === 'header'
      ? `Calls carry X-User-Id: ${session.userId} (trusted-header mode).`
      : `Signed in as ${session.userId} (development token, valid until ${new Date(session.expiresAt).toLocaleTimeString()}; renewed when it runs out).`;
  try {
    localStorage.setItem('concert-demo-user', session.userId); // the id only, never the token
  } catch {
    /* storage may be disabled */
  }
}

/** Another user signed in: what the page showed belonged to the previous one. */
function forgetPlace() {
  cancelPow();
  stopPolling();
  state.generation++;
  state.token = null;
  state.status = null;
  state.activeUntil = null;
  state.paid = false;
  state.balance = null;
  resetBooking();
  resetProgress();
  $('queue-section').hidden = true;
  for (const section of ['queue', 'seats', 'pay']) unsay(section);
}

/** Signs in as `userId`; says why not in the join section when it fails. */
async function signIn(userId) {
  if (AUTH_MODE === 'header') {
    setSession({ userId, accessToken: null, expiresAt: null });
    return true;
  }
  say('join', 'info', `Signing in as ${userId}…`);
  const res = await requestToken(userId);
  if (res.ok) {
    unsay('join');
    return true;
  }
  if (res.status === 404) {
    say(
      'join',
      'error',
      'Development sign-in is turned off on this queue service (404). This demo page signs in only through it: ' +
        'start the services with AUTH_DEV_SIGNIN=true (and AUTH_JWT_SECRET), or put the page behind a real identity ' +
        'provider or an authenticating gateway (then open it with ?auth=header).',
      'DEV_SIGNIN_DISABLED',
      { reveal: true },
    );
  } else {
    say('join', 'error', `Could not sign in. ${explain(res)}`, codeOf(res), { reveal: true });
  }
  return false;
}

/** Signs in with the id in the form unless already signed in as that user. */
async function ensureSession() {
  const userId = $('user-id').value.trim();
  if (!USER_ID_PATTERN.test(userId)) {
    say('join', 'error', 'Please enter a user id of 1–64 letters, digits, "_" or "-".', 'INVALID_USER_ID', { reveal: true });
    $('user-id').focus();
    return false;
  }
  if (state.session?.userId === userId) return true;
  return signIn(userId);
}

/** The Sign in button: always fetches a fresh token (ensureSession() would reuse one). */
async function onSignIn(event) {
  event.preventDefault();
  if (state.joining) return;
  const userId = $('user-id').value.trim();
  if (!USER_ID_PATTERN.test(userId)) {
    await ensureSession(); // says what is wrong with the id
    return;
  }
  state.joining = true;
  setJoinEnabled(false);
  const ok = await signIn(userId);
  state.joining = false;
  setJoinEnabled(!state.token);
  if (ok && !state.token) say('join', 'ok', `Signed in as ${userId}. Join the line when you are ready.`, 'SIGNED_IN');
}

const isAuthProblem = (res) => res.status === 401 && /^(JWT_|USER_ID_)/.test(codeOf(res));

/** Plain words for the outcomes every call may have. */
function explain(res) {
  const p = res.problem || {};
  if (res.status === 0) return p.detail;
  if (isAuthProblem(res)) {
    return `Your sign-in is missing or no longer valid (${codeOf(res)}). Sign in again.`;
  }
  if (res.status === 503) {
    return 'The service is temporarily unavailable. Nothing was changed; please retry in a moment.';
  }
  if (res.status === 429) {
    return res.retryAfterMs
      ? `Too many requests right now. Please retry in ${duration(res.retryAfterMs / 1000)}.`
      : 'Too many requests right now. Please wait a moment and retry.';
  }
  if (res.status >= 500) return `The service failed (${res.status}). Please retry in a moment.`;
  const title = p.title || `Request failed (${res.status})`;
  return p.detail && p.detail !== title ? `${title}: ${p.detail}` : title;
}

// ------------------------------------------------------------------ status lines

/**
 * Shows a message in a section's status line (join | queue | seats | pay),
 * next to the buttons that caused it. `reveal` scrolls it into view when it
 * answers a tap, so on a phone the answer is where the user is looking.
 */
function say(section, kind, text, code = '', { reveal = false } = {}) {
  const box = $(`${section}-message`);
  box.dataset.kind = kind; // ok | info | warn | error
  box.dataset.code = code;
  box.textContent = text;
  if (reveal) box.scrollIntoView({ block: reveal === 'center' ? 'center' : 'nearest' });
}

function unsay(section) {
  const box = $(`${section}-message`);
  box.textContent = '';
  box.dataset.kind = '';
  box.dataset.code = '';
}

// ------------------------------------------------------------------ the line

/** `where`: the section whose button started it ('join', or 'queue' for rejoin). */
async function join(where = 'join') {
  if (state.joining || Date.now() < state.joinBlockedUntil) return;
  state.joining = true;
  setJoinEnabled(false);
  try {
    if (!(await ensureSession())) return;
    await joinSignedIn(where);
  } finally {
    state.joining = false;
    setJoinEnabled(!state.token);
  }
}

async function joinSignedIn(where) {
  stopPolling();
  resetBooking();
  resetProgress();
  const generation = ++state.generation;
  state.paid = false;
  $('rejoin').hidden = true;
  $('pow').hidden = true;
  for (const section of ['join', 'queue', 'seats', 'pay']) if (section !== where) unsay(section);
  say(where, 'info', 'Joining the line…');

  const res = await requestPlace(generation, where);
  if (generation !== state.generation || res.cancelled) return;
  if (!res.ok) {
    if (where === 'queue') $('rejoin').hidden = false;
    refusedJoin(res, where);
    return;
  }
  state.token = res.data.token;
  state.firstPosition = res.data.position ?? null;
  $('queue-section').hidden = false;
  $('leave').hidden = false;
  unsay('join');
  say('queue', 'info', res.status === 201 ? 'You joined the line.' : 'You were already in the line; your place is kept.', 'JOINED');
  applyStatus(res.data, generation);
}

/**
 * POST .../tokens; when the line asks a proof of work, get a challenge,
 * solve it in a worker and ask again with the solution. A solved challenge
 * that is refused anyway (expired, already used, or the line now asks more
 * bits) gets one fresh challenge.
 */
async function requestPlace(generation, where) {
  let res = await queueApi('POST', `${QUEUE_PATH}/tokens`);
  for (let challenges = 0; challenges < 2; challenges++) {
    if (generation !== state.generation) return { cancelled: true };
    if (!(res.status === 403 && POW_CODES.has(codeOf(res)))) return res;
    const proof = await proveWork(generation, where, challenges > 0 ? codeOf(res) : '');
    if (!proof.ok) return proof;
    res = await queueApi('POST', `${QUEUE_PATH}/tokens`, {
      headers: { 'X-Pow-Challenge': proof.challenge, 'X-Pow-Solution': proof.solution },
    });
  }
  return res;
}

/** Gets a challenge and solves it; resolves {ok, challenge, solution} or a failed response. */
async function proveWork(generation, where, retryReason) {
  say(
    where,
    'info',
    retryReason
      ? `The proof of work was not accepted (${retryReason}); solving a fresh challenge…`
      : 'This line asks a short proof of work before you join (it makes mass sign-ups by bots costly). Working on it…',
    'POW_SOLVING',
  );
  const ch = await queueApi('POST', `${QUEUE_PATH}/challenges`);
  if (generation !== state.generation) return { cancelled: true };
  if (!ch.ok) return ch;
  const { challenge, difficulty_bits: bits } = ch.data;
  const outcome = await solveInWorker(challenge, Number(bits) || 0, where);
  if (outcome.cancelled) {
    say(where, 'warn', 'Proof of work cancelled: you did not join the line.', 'POW_CANCELLED');
    return { cancelled: true };
  }
  if (!outcome.solution) {
    return { ok: false, status: -1, problem: { title: 'Proof of work failed', detail: outcome.reason, code: 'POW_FAILED' } };
  }
  say(where, 'info', `Proof of work done in ${shortDuration(outcome.pageMs)}; joining the line…`, 'POW_SOLVED');
  return { ok: true, challenge, solution: outcome.solution };
}

/**
 * Runs pow-worker.js on one challenge and shows its progress in the #pow
 * panel, next to the button that started it. Resolves {solution, hashes,
 * pageMs}, {cancelled: true} or {reason}. The panel's data-* attributes
 * keep the last outcome (state, bits, hashes, ms) for tests and curious users.
 */
function solveInWorker(challenge, bits, where) {
  cancelPow();
  const panel = $('pow');
  $(`${where}-message`).before(panel);
  const expected = 2 ** bits;
  const started = performance.now();
  panel.hidden = false;
  Object.assign(panel.dataset, { state: 'solving', bits: String(bits), hashes: '0', ms: '0' });
  $('pow-cancel').hidden = false;
  showPowProgress(bits, 0, 0);

  return new Promise((resolve) => {
    let worker;
    const finish = (outcome) => {
      worker?.terminate();
      state.pow = null;
      $('pow-cancel').hidden = true;
      resolve(outcome);
    };
    try {
      worker = new Worker(new URL('./pow-worker.js', import.meta.url), { type: 'module' });
    } catch (err) {
      panel.dataset.state = 'failed';
      $('pow-text').textContent = `This browser cannot run the proof of work (${err.message}).`;
      finish({ reason: `no Web Worker: ${err.message}` });
      return;
    }
    state.pow = {
      cancel() {
        panel.dataset.state = 'cancelled';
        $('pow-text').textContent = `Cancelled after ${count(Number(panel.dataset.hashes))} hashes.`;
        finish({ cancelled: true });
      },
    };
    worker.onmessage = ({ data }) => {
      panel.dataset.hashes = String(data.hashes);
      if (data.type === 'progress') {
        panel.dataset.ms = String(Math.round(performance.now() - started));
        showPowProgress(bits, data.hashes, data.ms);
      } else if (data.type === 'solved') {
        // Measured here, from start to answer, worker start-up included.
        const pageMs = performance.now() - started;
        Object.assign(panel.dataset, { state: 'solved', ms: String(Math.round(pageMs)), workerMs: String(Math.round(data.ms)) });
        setPowBar(100, 'solved');
        $('pow-text').textContent =
          `Proof of work solved in ${shortDuration(pageMs)}: ${count(data.hashes)} hashes ` +
          `(about ${count(expected)} expected at ${bits} bits).`;
        finish({ solution: data.solution, hashes: data.hashes, pageMs });
      } else {
        panel.dataset.state = 'failed';
        $('pow-text').textContent = `The proof of work failed: ${data.reason}.`;
        finish({ reason: data.reason });
      }
    };
    worker.onerror = (event) => {
      event.preventDefault();
      panel.dataset.state = 'failed';
      $('pow-text').textContent = `The proof-of-work worker failed: ${event.message || 'could not load pow-worker.js'}.`;
      finish({ reason: event.message || 'worker error' });
    };
    worker.postMessage({ challenge, bits });
  });
}

/**
 * How far along, honestly: every hash succeeds with chance 2^-bits, so
 * there is no fixed amount left; the bar shows the chance that a search
 * this long would have finished (1 - e^(-hashes / 2^bits)), and the text
 * the average it takes.
 */
function showPowProgress(bits, hashes, ms) {
  const expected = 2 ** bits;
  const rate = ms > 0 ? hashes / ms : 0; // hashes per ms
  const typical = rate > 0 ? ` ≈ ${shortDuration(expected / rate)} at this speed` : '';
  $('pow-text').textContent =
    `Proof of work: ${count(hashes)} hashes tried in ${shortDuration(ms)}` +
    (rate > 0 ? ` (${(rate / 1000).toFixed(2)} million/s)` : '') +
    `. A solution takes about 2^${bits} = ${count(expected)} hashes on average${typical}.`;
  setPowBar(Math.round(100 * (1 - Math.exp(-hashes / expected))), `${count(hashes)} hashes tried`);
}

function setPowBar(pct, text) {
  $('pow-bar').style.width = `${pct}%`;
  $('pow-progress').setAttribute('aria-valuenow', String(pct));
  $('pow-progress').setAttribute('aria-valuetext', text);
}

function cancelPow() {
  state.pow?.cancel();
}

/** Why joining failed, in the section whose button was used. */
function refusedJoin(res, where) {
  const code = codeOf(res);
  const wait = res.retryAfterMs || 0;
  if (res.status === 409 && code === 'SOLD_OUT') {
    soldOut(where);
  } else if (res.status === 429) {
    const who = /user/i.test(res.problem?.detail || '') ? 'for your account' : 'from your network';
    blockJoin(wait);
    say(where, 'warn', `Too many new places ${who}; retry in ${seconds(wait)}.`, code || 'RATE_LIMITED', { reveal: true });
  } else if (res.status === 503 && code === 'QUEUE_FULL') {
    blockJoin(wait);
    say(where, 'warn', `The line is full right now; retry in ${seconds(wait)}.`, code, { reveal: true });
  } else if (res.status === 404) {
    say(where, 'error', `There is no line called "${QUEUE_ID}". Check the queue_id in the address.`, code, { reveal: true });
  } else if (res.status === 403 && POW_CODES.has(code)) {
    say(where, 'error', `The proof of work was refused twice (${code}). Please try joining again.`, code, { reveal: true });
  } else {
    say(where, 'error', `Could not join the line. ${explain(res)}`, code, { reveal: true });
  }
}

/** Keeps the join buttons off until Retry-After has passed (tick() counts down). */
function blockJoin(ms) {
  state.joinBlockedUntil = Date.now() + (ms || 1_000);
  setJoinEnabled(!state.token);
  tick();
}

/** A button's text without the countdown tick() may add to it. */
function setLabel(button, text) {
  button.dataset.label = text;
  button.textContent = text;
}

function applyStatus(status, generation) {
  const previous = state.status;
  state.status = status.status;
  state.lastPollAfterMs = Math.max(Number(status.poll_after_ms) || FALLBACK_POLL_MS, 1);
  showSeatsLeft(status);
  const progress = $('progress');
  state.opensAt = status.status === 'pre_queue' && status.opens_at ? new Date(status.opens_at) : null;
  $('keep-open').hidden = !(status.status === 'pre_queue' || status.status === 'waiting');
  if (status.status === 'pre_queue') {
    // Before the opening nobody has a position: everyone who joins before
    // it is put in order by a random draw at the opening.
    $('queue-status').textContent = 'In the draw';
    $('position').textContent = 'drawn at the opening';
    $('eta').textContent = '—';
    progress.setAttribute('aria-valuetext', 'waiting for the opening');
    if (previous !== 'pre_queue') {
      say(
        'queue',
        'info',
        `You are in the draw. The sale opens at ${clock(status.opens_at)}; then everyone who joined before the opening ` +
          'is put in a random order, so there is no need to rush. Your position appears after the opening.',
        'PRE_QUEUE',
      );
      loadDrawInfo(generation);
    }
  } else if (status.status === 'waiting') {
    const position = status.position;
    if (state.firstPosition == null || position > state.firstPosition) state.firstPosition = position;
    // Share of the way from where you joined to the head; 100 % means "your turn".
    const done = (state.firstPosition - position + 1) / (state.firstPosition + 1);
    const pct = Math.round(Math.min(Math.max(done, 0), 1) * 95);
    $('queue-status').textContent = 'Waiting';
    $('position').textContent = `#${position.toLocaleString('en-US')}`;
    $('eta').textContent = status.estimated_wait_seconds == null ? '—' : `about ${duration(status.estimated_wait_seconds)}`;
    $('progress-bar').style.width = `${pct}%`;
    progress.setAttribute('aria-valuenow', String(pct));
    progress.setAttribute('aria-valuetext', `position ${position}`);
    $('active-until').textContent = '';
    state.activeUntil = null;
    if (previous === 'pre_queue') {
      say('queue', 'info', `The queue has opened and the draw is made: you are number ${position.toLocaleString('en-US')} in line.`, 'DRAWN');
      loadDrawInfo(generation);
    }
  } else if (status.status === 'sold_out') {
    soldOut('queue');
    return; // nothing to wait for: no further polls
  } else if (status.status === 'active') {
    $('queue-status').textContent = "It's your turn";
    $('position').textContent = '—';
    $('eta').textContent = '—';
    $('progress-bar').style.width = '100%';
    progress.setAttribute('aria-valuenow', '100');
    progress.setAttribute('aria-valuetext', 'your turn');
    state.activeUntil = status.active_until ? new Date(status.active_until) : null;
    if (!state.booking) {
      say('queue', 'ok', "It's your turn: pick a seat below.", 'ACTIVE');
      enterBooking(generation);
    }
  }
  $('queue-section').dataset.status = status.status;
  schedulePoll(state.lastPollAfterMs, generation);
}

/** Seats left in the sale, from a token status (null: no concert feeds the line). */
function showSeatsLeft(status) {
  const left = status.seats_left;
  const held = status.seats_held;
  const box = $('seats-left');
  if (left == null) {
    state.seatsLeft = null;
    box.textContent = '—';
    box.dataset.left = '';
    $('seats-held-note').hidden = true;
    return;
  }
  state.seatsLeft = { left, held: held ?? 0 };
  box.dataset.left = String(left);
  box.textContent = left.toLocaleString('en-US');
  // Every seat is taken but some are only held: unpaid holds run out and
  // those seats go back on sale, so waiting is still worth it.
  const note = $('seats-held-note');
  note.hidden = !(left === 0 && held > 0);
  if (!note.hidden) {
    note.textContent = `No seat is free right now, but ${held.toLocaleString('en-US')} ${held === 1 ? 'is' : 'are'} held by buyers who have not paid yet; some may come back. Keep waiting.`;
  }
}

/** Sold out: nothing left and nothing held. Stops every poll; `where` says it. */
function soldOut(where) {
  stopPolling();
  state.soldOut = true;
  state.status = 'sold_out';
  state.opensAt = null;
  state.activeUntil = null;
  if (state.token) state.generation++; // ignore answers still in flight
  state.token = null;
  if (!state.paid && !state.hold) resetBooking();
  resetProgress();
  $('queue-section').hidden = where !== 'queue' && $('queue-section').hidden;
  $('queue-section').dataset.status = 'sold_out';
  $('queue-status').textContent = 'Sold out';
  $('position').textContent = '—';
  $('eta').textContent = '—';
  $('seats-left').textContent = '0';
  $('seats-left').dataset.left = '0';
  $('seats-held-note').hidden = true;
  $('keep-open').hidden = true;
  $('leave').hidden = true;
  $('rejoin').hidden = true;
  setJoinEnabled(true);
  say(
    where,
    'error',
    'Sold out: every seat has been sold and none is held any more, so no seat can come back. You can close this page; it has stopped checking.',
    'SOLD_OUT',
    { reveal: 'center' }, // it ends the visit: not at the screen's very edge
  );
}

/** The queue's opening and its draw (commitment before, seed and entrants after). */
async function loadDrawInfo(generation) {
  const res = await call(QUEUE_URL, 'GET', QUEUE_PATH);
  if (generation !== state.generation || !res.ok) return;
  state.drawInfo = res.data;
  const draw = res.data.draw;
  const el = $('draw-info');
  if (!draw) {
    el.textContent = '';
    return;
  }
  el.dataset.drawn = draw.seed ? 'true' : 'false';
  el.textContent = draw.seed
    ? `Draw made at ${clock(draw.drawn_at)} among ${count(draw.entrants)} people; seed ${draw.seed.slice(0, 16)}…, commitment ${draw.commitment.slice(0, 16)}… — anyone can check it.`
    : `Draw commitment (published before the opening, so the order cannot be chosen afterwards): ${draw.commitment.slice(0, 16)}…`;
}

function schedulePoll(delayMs, generation) {
  clearTimeout(state.pollTimer);
  state.nextPollAt = Date.now() + delayMs;
  state.pollTimer = setTimeout(() => poll(generation), delayMs);
  tick();
}

function stopPolling() {
  clearTimeout(state.pollTimer);
  state.pollTimer = null;
  state.nextPollAt = null;
  tick();
}

function resetProgress() {
  const bar = $('progress-bar');
  bar.style.transition = 'none'; // empty at once, do not animate backwards
  bar.style.width = '0%';
  void bar.offsetWidth;
  bar.style.transition = '';
  $('progress').setAttribute('aria-valuenow', '0');
  $('progress').removeAttribute('aria-valuetext');
}

async function poll(generation) {
  if (generation !== state.generation || !state.token) return;
  const res = await queueApi('POST', `${QUEUE_PATH}/heartbeat`, { queueToken: true });
  if (generation !== state.generation) return;
  if (res.ok) {
    if (['POLL_FAILED', 'RATE_LIMITED', 'SIGN_IN_REFUSED'].includes($('queue-message').dataset.code)) unsay('queue');
    applyStatus(res.data, generation);
    return;
  }
  if (res.status === 410 && state.hold && state.payKey && !state.paid) {
    // A payment whose answer was lost may have gone through, and a payment
    // ends the place in line. Ask again with the same Idempotency-Key: the
    // answer tells whether it was paid (and it cannot pay twice).
    stopPolling();
    say('pay', 'info', 'Checking the outcome of your payment…', 'PAYMENT_CHECK');
    pay();
    return;
  }
  if (res.status === 429) {
    // Polled too soon for the server's taste: wait what it asks, and never
    // less than the interval it advised.
    const wait = Math.max(res.retryAfterMs, state.lastPollAfterMs, FALLBACK_POLL_MS);
    say('queue', 'info', `The service asked this page to check less often; next check in ${duration(wait / 1000)}.`, 'RATE_LIMITED');
    schedulePoll(wait, generation);
    return;
  }
  if (isAuthProblem(res)) {
    // The sign-in failed, not the place: it is kept while the page keeps
    // trying, and signing in again (as the same user) resumes the checks.
    say('queue', 'warn', `Could not check your place: ${explain(res)} Your place is kept for now.`, 'SIGN_IN_REFUSED');
    $('user-id').disabled = false;
    $('sign-in').disabled = false;
    schedulePoll(Math.max(state.lastPollAfterMs, FALLBACK_POLL_MS), generation);
    return;
  }
  if (res.status === 410 || res.status === 401 || res.status === 403) {
    leftTheLine(res);
    return;
  }
  // Outage or overload: keep trying, but never faster than the server last
  // asked for (or than Retry-After says).
  say('queue', 'error', `Could not check your place in line. ${explain(res)}`, 'POLL_FAILED');
  schedulePoll(Math.max(state.lastPollAfterMs, res.retryAfterMs, FALLBACK_POLL_MS), generation);
}

function leftTheLine(res) {
  stopPolling();
  state.token = null;
  state.status = 'left';
  state.activeUntil = null;
  state.generation++;
  resetProgress();
  $('queue-status').textContent = 'Not in line';
  $('queue-section').dataset.status = 'left';
  $('position').textContent = '—';
  $('eta').textContent = '—';
  $('leave').hidden = true;
  $('rejoin').hidden = false;
  setLabel($('rejoin'), 'Rejoin the line');
  setJoinEnabled(true);
  tick();
  const hold = state.hold;
  if (hold && !state.paid && new Date(hold.hold_expires_at).getTime() > Date.now()) {
    // The turn is over, but the seat stays held (and payable) until the
    // hold ends: keep the payment step, drop only the seat picking.
    state.booking = false;
    $('booking-section').hidden = true;
    const message =
      `Your turn in the line has ended, but seat ${hold.number} stays held for you until ` +
      `${clock(hold.hold_expires_at)}: you can still pay for it until then.`;
    say('queue', 'warn', message, 'TURN_ENDED_HOLD_KEPT');
    say('pay', 'warn', message, 'TURN_ENDED_HOLD_KEPT');
  } else if (!state.paid) {
    resetBooking();
    say(
      'queue',
      'warn',
      'You are no longer in the line: your place expired (no check-in for too long, or your turn ran out). Rejoin to get a new place at the back.',
      codeOf(res) || 'TOKEN_EXPIRED',
    );
  }
}

async function leave() {
  if (!state.token) return;
  const res = await queueApi('DELETE', `${QUEUE_PATH}/tokens/me`, { queueToken: true });
  if (!res.ok && res.status !== 410) {
    say('queue', 'error', `Could not leave the line. ${explain(res)}`, codeOf(res), { reveal: true });
    return;
  }
  stopPolling();
  state.generation++;
  state.token = null;
  state.status = null;
  state.activeUntil = null;
  resetBooking();
  resetProgress();
  unsay('queue');
  $('queue-section').hidden = true;
  setJoinEnabled(true);
  say('join', 'info', 'You left the line.', 'LEFT', { reveal: true });
}

/** The sign-in form and join buttons work only while you hold no place. */
function setJoinEnabled(enabled) {
  const busy = !enabled || state.joining;
  $('user-id').disabled = busy;
  $('sign-in').disabled = busy;
  $('join').disabled = busy || Date.now() < state.joinBlockedUntil;
  $('rejoin').disabled = busy || Date.now() < state.joinBlockedUntil;
}

// ------------------------------------------------------------------ booking

function resetBooking() {
  state.booking = false;
  state.schedules = [];
  state.schedule = null;
  state.seats.clear();
  state.seatCursor = 0;
  state.hold = null;
  state.payKey = null;
  state.charge = null;
  $('booking-section').hidden = true;
  $('pay-section').hidden = true;
  $('seats').replaceChildren();
  $('payment-status').textContent = 'not paid';
  $('pay-section').dataset.paid = 'false';
}

async function enterBooking(generation) {
  state.booking = true;
  $('booking-section').hidden = false;
  $('booking-heading').focus();
  loadBalance();
  $('concert').textContent = 'Looking for the concert…';
  const concerts = await publicApi('GET', '/v1/concerts');
  if (generation !== state.generation) return;
  if (!concerts.ok) {
    $('concert').textContent = '';
    say('seats', 'error', `Could not load concerts. ${explain(concerts)}`, codeOf(concerts));
    state.booking = false; // the next poll tries again
    return;
  }
  const mine = concerts.data.filter((c) => c.queue_id === QUEUE_ID);
  const options = [];
  for (const concert of mine) {
    const res = await publicApi('GET', `/v1/concerts/${concert.id}/schedules?available=true`);
    if (generation !== state.generation) return;
    if (res.ok) for (const schedule of res.data) options.push({ concert, schedule });
  }
  state.schedules = options;
  if (options.length === 0) {
    $('concert').textContent = mine.length
      ? 'No date of this concert can be booked right now (not open yet, closed, or sold out).'
      : `No concert is sold through the line "${QUEUE_ID}".`;
    return;
  }
  const select = $('schedule');
  select.replaceChildren(
    ...options.map((o, i) => {
      const opt = document.createElement('option');
      opt.value = String(i);
      opt.textContent = `${o.concert.title} — ${new Date(o.schedule.starts_at).toLocaleString()} (${o.schedule.available_seats} free)`;
      return opt;
    }),
  );
  $('schedule-row').hidden = options.length < 2;
  chooseSchedule(0);
}

function chooseSchedule(index) {
  const option = state.schedules[index];
  if (!option) return;
  state.schedule = option.schedule;
  $('concert').textContent = `${option.concert.title}, ${new Date(option.schedule.starts_at).toLocaleString()}`;
  loadSeats(true);
}

async function loadSeats(reset) {
  if (!state.schedule) return;
  const generation = state.generation;
  if (reset) {
    state.seats.clear();
    state.seatCursor = 0;
  }
  const after = state.seatCursor ? `&after=${state.seatCursor}` : '';
  const res = await publicApi('GET', `/v1/schedules/${state.schedule.id}/seats?limit=${SEAT_PAGE}${after}`);
  if (generation !== state.generation) return;
  if (!res.ok) {
    say('seats', 'error', `Could not load seats. ${explain(res)}`, codeOf(res));
    return;
  }
  for (const seat of res.data) {
    state.seats.set(seat.id, seat);
    state.seatCursor = Math.max(state.seatCursor, seat.id);
  }
  $('more-seats').hidden = res.data.length < SEAT_PAGE;
  renderSeats();
}

function renderSeats() {
  const grid = $('seats');
  const buttons = [];
  for (const seat of state.seats.values()) {
    const mine = state.hold && state.hold.seat_id === seat.id;
    const status = mine ? 'mine' : seat.status;
    const b = document.createElement('button');
    b.type = 'button';
    b.className = `seat ${status}`;
    const number = document.createElement('span');
    number.className = 'seat-number';
    number.textContent = String(seat.number);
    const price = document.createElement('span');
    price.className = 'seat-price';
    price.dataset.testid = 'seat-price';
    price.textContent = money(seat.price);
    b.replaceChildren(number, price);
    b.dataset.testid = `seat-${seat.number}`;
    b.dataset.status = status;
    b.dataset.seatId = String(seat.id);
    b.disabled = !(seat.status === 'available' || mine);
    b.setAttribute('aria-pressed', mine ? 'true' : 'false');
    const label = mine ? (state.paid ? 'yours' : 'held by you') : seat.status;
    b.setAttribute('aria-label', `Seat ${seat.number}, ${label}, price ${money(seat.price)}`);
    b.addEventListener('click', () => holdSeat(seat));
    buttons.push(b);
  }
  grid.replaceChildren(...buttons);
}

function markSeat(seatId, status) {
  const seat = state.seats.get(seatId);
  if (seat) seat.status = status;
  renderSeats();
}

async function holdSeat(seat) {
  if (state.hold) {
    if (state.hold.seat_id !== seat.id) {
      say('seats', 'warn', `You already hold seat ${state.hold.number}. Pay for it or release it first.`, 'ALREADY_HOLDING', { reveal: true });
    }
    return;
  }
  const generation = state.generation;
  say('seats', 'info', `Holding seat ${seat.number}…`);
  const res = await api('POST', '/v1/reservations', {
    queueToken: true,
    body: { schedule_id: state.schedule.id, seat_id: seat.id },
  });
  if (generation !== state.generation) return;
  const code = codeOf(res);
  if (res.ok) {
    // The hold keeps the queue token it was made with: a held seat stays
    // payable until the hold ends, even after the turn in line is over.
    state.hold = { ...res.data, number: seat.number, queueToken: state.token };
    state.payKey = null;
    markSeat(seat.id, 'held');
    say('seats', 'ok', `Seat ${seat.number} (${money(res.data.price)}) is held for you until ${clock(res.data.hold_expires_at)}. Pay before then.`, 'HELD');
    showHold();
    return;
  }
  if (res.status === 409) {
    say('seats', 'error', `Sorry, seat ${seat.number} was just taken by someone else. Please pick another seat.`, code || 'SEAT_UNAVAILABLE', { reveal: true });
    markSeat(seat.id, 'sold');
    loadSeats(true);
  } else if (isAuthProblem(res)) {
    say('seats', 'warn', `You cannot book right now. ${explain(res)}`, code, { reveal: true });
  } else if (res.status === 403 || res.status === 401) {
    say('seats', 'warn', `You cannot book right now: your turn in the line is not active. ${explain(res)}`, code, { reveal: true });
  } else if (res.status === 422) {
    say('seats', 'error', `Booking is closed for this date. ${explain(res)}`, code, { reveal: true });
  } else {
    say('seats', 'error', `Could not hold seat ${seat.number}. ${explain(res)}`, code, { reveal: true });
  }
}

function showHold() {
  const hold = state.hold;
  $('pay-section').hidden = false;
  $('pay-section').dataset.paid = 'false';
  $('pay').disabled = false;
  $('pay').textContent = `Pay ${money(hold.price)}`;
  $('release').hidden = false;
  $('payment-status').textContent = 'not paid';
  unsay('pay');
  const missing = state.balance == null ? hold.price : hold.price - state.balance;
  $('charge-amount').value = String(Math.min(Math.max(missing, 1), MAX_CHARGE));
  renderHoldText();
  $('pay-heading').focus();
}

function renderHoldText() {
  const hold = state.hold;
  if (!hold) return;
  if (state.paid) {
    $('hold').textContent = `Seat ${hold.number} is yours. Enjoy the show!`;
    return;
  }
  const left = (new Date(hold.hold_expires_at).getTime() - Date.now()) / 1000;
  $('hold').textContent =
    left > 0
      ? `Seat ${hold.number} held for you, price ${money(hold.price)}. The hold ends in ${duration(left)}.`
      : `Your hold on seat ${hold.number} has run out; paying may now fail.`;
}

async function releaseSeat() {
  const hold = state.hold;
  if (!hold) return;
  const res = await api('DELETE', `/v1/reservations/${hold.reservation_id}`, { queueToken: hold.queueToken || true });
  if (!res.ok && res.status !== 404) {
    say('pay', 'error', `Could not release seat ${hold.number}. ${explain(res)}`, codeOf(res), { reveal: true });
    return;
  }
  state.hold = null;
  state.payKey = null;
  $('pay-section').hidden = true;
  say('seats', 'info', `Seat ${hold.number} released.`, 'RELEASED', { reveal: true });
  loadSeats(true);
}

// ------------------------------------------------------------------ money

async function loadBalance() {
  const res = await api('GET', '/v1/users/me/balance');
  if (res.ok) {
    state.balance = res.data.balance;
    $('balance').textContent = money(state.balance);
  }
}

async function charge(event) {
  event.preventDefault();
  const amount = Number($('charge-amount').value);
  if (!Number.isInteger(amount) || amount < 1 || amount > MAX_CHARGE) {
    say('pay', 'error', `Enter a whole amount between 1 and ${money(MAX_CHARGE)}.`, 'INVALID_AMOUNT', { reveal: true });
    return;
  }
  // One Idempotency-Key per top-up attempt; a retry of the same amount after
  // an unclear outcome reuses it, so the balance is never charged twice.
  if (!state.charge || state.charge.amount !== amount) state.charge = { key: uuid(), amount };
  $('charge').disabled = true;
  const res = await api('POST', '/v1/users/me/balance/charges', {
    headers: { 'Idempotency-Key': state.charge.key },
    body: { amount },
  });
  $('charge').disabled = false;
  if (res.ok) {
    state.charge = null;
    state.balance = res.data.balance;
    $('balance').textContent = money(state.balance);
    say('pay', 'ok', `Balance topped up by ${money(amount)}; it is now ${money(state.balance)}.`, 'CHARGED', { reveal: true });
  } else if (res.status === 0 || res.status >= 500) {
    say('pay', 'error', `Top-up outcome unknown. ${explain(res)} Retrying is safe: it will not charge twice.`, codeOf(res), { reveal: true });
  } else {
    state.charge = null;
    say('pay', 'error', `Top-up refused. ${explain(res)}`, codeOf(res), { reveal: true });
  }
}

async function pay() {
  const hold = state.hold;
  if (!hold || state.paid) return;
  // One Idempotency-Key per payment attempt, kept until a definite answer,
  // so "Retry payment" after a timeout or 503 can never pay twice.
  if (!state.payKey) state.payKey = uuid();
  const generation = state.generation;
  $('pay').disabled = true;
  say('pay', 'info', `Paying for seat ${hold.number}…`);
  const res = await api('POST', `/v1/reservations/${hold.reservation_id}/payment`, {
    queueToken: hold.queueToken || true,
    headers: { 'Idempotency-Key': state.payKey },
  });
  if (generation !== state.generation) return;
  const code = codeOf(res);
  $('pay').disabled = false;
  if (res.ok || code === 'RESERVATION_ALREADY_CONFIRMED') {
    paid(res.data);
    return;
  }
  if (res.status === 0 || res.status >= 500) {
    $('pay').textContent = 'Retry payment';
    say('pay', 'error', `Payment outcome unknown. ${explain(res)} Retrying is safe: you will not be charged twice.`, code, { reveal: true });
    return;
  }
  state.payKey = null;
  if (res.status === 402) {
    await loadBalance();
    say(
      'pay',
      'error',
      `Insufficient balance: seat ${hold.number} costs ${money(hold.price)} and your balance is ${money(state.balance)}. Top up, then pay again.`,
      code,
      { reveal: true },
    );
    const missing = hold.price - (state.balance ?? 0);
    if (missing > 0) $('charge-amount').value = String(Math.min(missing, MAX_CHARGE));
  } else if (res.status === 409) {
    state.hold = null;
    $('pay-section').hidden = true;
    say('seats', 'error', `Your hold on seat ${hold.number} expired before payment, so the seat went back on sale. Please pick a seat again.`, code || 'HOLD_EXPIRED', { reveal: true });
    loadSeats(true);
  } else if (isAuthProblem(res)) {
    say('pay', 'warn', `You cannot pay right now. ${explain(res)}`, code, { reveal: true });
  } else if (res.status === 403 || res.status === 401) {
    say('pay', 'warn', `You cannot pay right now: your turn in the line is not active. ${explain(res)}`, code, { reveal: true });
    if (!state.pollTimer) leftTheLine(res);
  } else {
    say('pay', 'error', `Payment failed. ${explain(res)}`, code, { reveal: true });
  }
}

function paid(receipt) {
  const hold = state.hold;
  state.paid = true;
  state.payKey = null;
  state.token = null;
  state.status = 'done';
  state.activeUntil = null;
  stopPolling(); // a payment completes the queue token: the slot is freed
  state.generation++;
  if (receipt) {
    state.balance = receipt.balance;
    $('balance').textContent = money(receipt.balance);
  }
  $('payment-status').textContent = 'confirmed';
  $('pay-section').dataset.paid = 'true';
  $('pay').disabled = true;
  $('pay').textContent = 'Paid';
  $('release').hidden = true;
  markSeat(hold.seat_id, 'sold');
  renderHoldText();
  $('queue-status').textContent = 'Done';
  $('queue-section').dataset.status = 'done';
  $('leave').hidden = true;
  $('rejoin').hidden = false;
  setLabel($('rejoin'), 'Book another seat (rejoin the line)');
  setJoinEnabled(true);
  unsay('seats');
  unsay('queue');
  const what = receipt ? ` Payment #${receipt.payment_id}, ${money(receipt.amount)} paid; balance ${money(receipt.balance)}.` : '';
  say('pay', 'ok', `Payment confirmed: seat ${hold.number} is yours.${what}`, 'CONFIRMED', { reveal: true });
}

// ------------------------------------------------------------------ timers and wiring

function tick() {
  if (state.nextPollAt) {
    $('next-poll').textContent = `in ${duration((state.nextPollAt - Date.now()) / 1000)}`;
  } else {
    $('next-poll').textContent = '—';
  }
  const opening = state.status === 'pre_queue' && state.opensAt;
  $('opens-fact').hidden = !opening;
  if (opening) {
    const left = (state.opensAt.getTime() - Date.now()) / 1000;
    $('opens-in').textContent = left > 0 ? `in ${duration(left)} (${state.opensAt.toLocaleTimeString()})` : 'now: the draw is being made';
  }
  // The deadline that applies: with a seat held, the hold's expiry (a held
  // seat stays payable until then, even after the turn in line has ended);
  // otherwise the end of the turn.
  const deadline = $('active-until');
  if (state.hold && !state.paid) {
    const until = new Date(state.hold.hold_expires_at);
    const left = (until.getTime() - Date.now()) / 1000;
    deadline.dataset.deadline = 'hold';
    deadline.textContent =
      left > 0
        ? `Pay by ${until.toLocaleTimeString()} (${duration(left)} left): your hold on seat ${state.hold.number} ends then.`
        : `Your hold on seat ${state.hold.number} ended at ${until.toLocaleTimeString()}.`;
  } else if (state.activeUntil && state.status === 'active') {
    const left = (state.activeUntil.getTime() - Date.now()) / 1000;
    deadline.dataset.deadline = 'turn';
    deadline.textContent = `Your turn lasts until ${state.activeUntil.toLocaleTimeString()} (${duration(left)} left).`;
  } else {
    deadline.dataset.deadline = '';
    deadline.textContent = '';
  }
  // A refused join counts down on its buttons, not in the live region
  // (which would read the number out every second).
  const blockedMs = state.joinBlockedUntil - Date.now();
  for (const b of [$('join'), $('rejoin')]) {
    b.textContent = blockedMs > 0 ? `${b.dataset.label} (retry in ${seconds(blockedMs)})` : b.dataset.label;
  }
  if (state.joinBlockedUntil && blockedMs <= 0) {
    state.joinBlockedUntil = 0;
    setJoinEnabled(!state.token);
  }
  renderHoldText();
}

function init() {
  $('queue-url').textContent = QUEUE_URL;
  $('api-url').textContent = API_URL;
  $('queue-id').textContent = QUEUE_ID;
  $('auth-mode').textContent = AUTH_MODE === 'header' ? 'X-User-Id (trusted header)' : 'development sign-in (JWT)';
  if (AUTH_MODE === 'header') {
    $('user-id-label').textContent = 'Your user id';
    $('sign-in').textContent = 'Use this id';
    $('auth-help').textContent =
      'Trusted-header mode (?auth=header): calls carry X-User-Id. Only for a stack behind a gateway that authenticates you and sets this header.';
  }
  try {
    const saved = localStorage.getItem('concert-demo-user');
    if (saved && !params.has('user_id')) $('user-id').value = saved;
  } catch {
    /* storage may be disabled */
  }
  if (params.get('user_id')) $('user-id').value = params.get('user_id');
  setLabel($('join'), $('join').textContent);
  setLabel($('rejoin'), $('rejoin').textContent);
  $('sign-in-form').addEventListener('submit', onSignIn);
  $('join').addEventListener('click', () => join('join'));
  $('rejoin').addEventListener('click', () => join('queue'));
  $('pow-cancel').addEventListener('click', cancelPow);
  $('leave').addEventListener('click', leave);
  $('refresh-seats').addEventListener('click', () => loadSeats(true));
  $('more-seats').addEventListener('click', () => loadSeats(false));
  $('schedule').addEventListener('change', (e) => chooseSchedule(Number(e.target.value)));
  $('charge-form').addEventListener('submit', charge);
  $('pay').addEventListener('click', pay);
  $('release').addEventListener('click', releaseSeat);
  setInterval(tick, 1000);
}

init();
