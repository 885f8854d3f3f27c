// Demo front-end for the concert queue: join the line, poll the heartbeat as
// the server asks (poll_after_ms, never faster), then hold a seat, top up the
// balance and pay. Plain ES module, no build step.
//
// Query parameters: queue_url, api_url (service base URLs; default: this
// page's host on ports 8081 and 8082), queue_id (default "demo").

const params = new URLSearchParams(location.search);
const pageProtocol = location.protocol === 'https:' ? 'https:' : 'http:';
const pageHost = location.hostname || '127.0.0.1';
const QUEUE_URL = trimSlash(params.get('queue_url') || `${pageProtocol}//${pageHost}:8081`);
const API_URL = trimSlash(params.get('api_url') || `${pageProtocol}//${pageHost}:8082`);
const QUEUE_ID = params.get('queue_id') || 'demo';

const USER_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
const MAX_CHARGE = 10_000_000;
const SEAT_PAGE = 200;
// Used only when a response carries no poll_after_ms (e.g. a failed poll
// before any answer); the server's advice always wins otherwise.
const FALLBACK_POLL_MS = 2_000;

const $ = (id) => document.getElementById(id);

const state = {
  generation: 0, // bumped on every join/leave so stale timers and answers are ignored
  userId: null,
  token: null,
  status: null,
  firstPosition: null,
  lastPollAfterMs: FALLBACK_POLL_MS,
  pollTimer: null,
  nextPollAt: null,
  activeUntil: null,
  booking: false,
  schedules: [], // [{concert, schedule}]
  schedule: null,
  seats: new Map(), // seat id -> seat
  seatCursor: 0,
  hold: null, // {reservation_id, seat_id, number, price, hold_expires_at}
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

function duration(seconds) {
  if (seconds == null) return '—';
  seconds = Math.max(0, Math.round(seconds));
  if (seconds < 60) return `${seconds} s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m} min ${String(seconds % 60).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

function clock(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleTimeString();
}

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

const queueApi = (method, path, opts) => call(QUEUE_URL, method, path, opts);
const api = (method, path, opts) => call(API_URL, method, path, opts);

function userHeaders(withToken = false) {
  const h = { 'X-User-Id': state.userId };
  if (withToken && state.token) h['X-Queue-Token'] = state.token;
  return h;
}

/** Plain words for the outcomes every call may have. */
function explain(res) {
  const p = res.problem || {};
  if (res.status === 0) return p.detail;
  if (res.status === 503) {
    return 'The service is temporarily unavailable. Nothing was changed; please retry in a moment.';
  }
  if (res.status === 429) return 'Too many requests right now. Please wait a moment and retry.';
  if (res.status >= 500) return `The service failed (${res.status}). Please retry in a moment.`;
  const title = p.title || `Request failed (${res.status})`;
  return p.detail && p.detail !== title ? `${title}: ${p.detail}` : title;
}

function showMessage(kind, text, code = '') {
  const box = $('message');
  box.hidden = false;
  box.dataset.kind = kind; // ok | info | warn | error
  box.dataset.code = code;
  box.textContent = text;
}

function clearMessage() {
  const box = $('message');
  box.hidden = true;
  box.textContent = '';
  box.dataset.kind = '';
  box.dataset.code = '';
}

// ------------------------------------------------------------------ the line

async function join(event) {
  event?.preventDefault();
  const userId = $('user-id').value.trim();
  if (!USER_ID_PATTERN.test(userId)) {
    showMessage('error', 'Please enter a user id of 1–64 letters, digits, "_" or "-".', 'INVALID_USER_ID');
    $('user-id').focus();
    return;
  }
  stopPolling();
  resetBooking();
  resetProgress();
  const generation = ++state.generation;
  state.userId = userId;
  state.paid = false;
  try {
    localStorage.setItem('concert-demo-user', userId);
  } catch {
    /* storage may be disabled */
  }
  setJoinEnabled(false);
  $('rejoin').hidden = true;
  showMessage('info', 'Joining the line…');

  const res = await queueApi('POST', `/v1/queues/${encodeURIComponent(QUEUE_ID)}/tokens`, {
    headers: userHeaders(),
  });
  if (generation !== state.generation) return;
  if (!res.ok) {
    setJoinEnabled(true);
    const code = res.problem?.code || '';
    if (res.status === 404) {
      showMessage('error', `There is no line called "${QUEUE_ID}". Check the queue_id in the address.`, code);
    } else {
      showMessage('error', `Could not join the line. ${explain(res)}`, code);
    }
    return;
  }
  state.token = res.data.token;
  state.firstPosition = res.data.position ?? null;
  $('queue-section').hidden = false;
  $('leave').hidden = false;
  clearMessage();
  showMessage('info', res.status === 201 ? 'You joined the line.' : 'You were already in the line; your place is kept.');
  applyStatus(res.data, generation);
}

function applyStatus(status, generation) {
  state.status = status.status;
  state.lastPollAfterMs = Math.max(Number(status.poll_after_ms) || FALLBACK_POLL_MS, 1);
  const progress = $('progress');
  if (status.status === 'waiting') {
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
  } else if (status.status === 'active') {
    $('queue-status').textContent = "It's your turn";
    $('position').textContent = '—';
    $('eta').textContent = '—';
    $('progress-bar').style.width = '100%';
    progress.setAttribute('aria-valuenow', '100');
    progress.setAttribute('aria-valuetext', 'your turn');
    state.activeUntil = status.active_until ? new Date(status.active_until) : null;
    if (!state.booking) {
      showMessage('ok', "It's your turn: pick a seat below.");
      enterBooking(generation);
    }
  }
  $('queue-section').dataset.status = status.status;
  schedulePoll(state.lastPollAfterMs, generation);
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
  const res = await queueApi('POST', `/v1/queues/${encodeURIComponent(QUEUE_ID)}/heartbeat`, {
    headers: userHeaders(true),
  });
  if (generation !== state.generation) return;
  if (res.ok) {
    if ($('message').dataset.code === 'POLL_FAILED') clearMessage();
    applyStatus(res.data, generation);
    return;
  }
  if (res.status === 410 && state.hold && state.payKey && !state.paid) {
    // A payment whose answer was lost may have gone through, and a payment
    // ends the place in line. Ask again with the same Idempotency-Key: the
    // answer tells whether it was paid (and it cannot pay twice).
    stopPolling();
    showMessage('info', 'Checking the outcome of your payment…', 'PAYMENT_CHECK');
    pay();
    return;
  }
  if (res.status === 410 || res.status === 401 || res.status === 403) {
    leftTheLine(res);
    return;
  }
  // Outage or overload: keep trying, but never faster than the server last
  // asked for (or than Retry-After says).
  showMessage('error', `Could not check your place in line. ${explain(res)}`, 'POLL_FAILED');
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
  $('rejoin').textContent = 'Rejoin the line';
  setJoinEnabled(true);
  tick();
  if (!state.paid) {
    resetBooking();
    showMessage(
      'warn',
      'You are no longer in the line: your place expired (no check-in for too long, or your turn ran out). Rejoin to get a new place at the back.',
      res?.problem?.code || 'TOKEN_EXPIRED',
    );
  }
}

async function leave() {
  if (!state.token) return;
  const res = await queueApi('DELETE', `/v1/queues/${encodeURIComponent(QUEUE_ID)}/tokens/me`, {
    headers: userHeaders(true),
  });
  if (!res.ok && res.status !== 410) {
    showMessage('error', `Could not leave the line. ${explain(res)}`, res.problem?.code || '');
    return;
  }
  stopPolling();
  state.generation++;
  state.token = null;
  state.status = null;
  state.activeUntil = null;
  resetBooking();
  resetProgress();
  $('queue-section').hidden = true;
  setJoinEnabled(true);
  showMessage('info', 'You left the line.');
}

function setJoinEnabled(enabled) {
  $('user-id').disabled = !enabled;
  $('join').disabled = !enabled;
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
  const concerts = await api('GET', '/v1/concerts');
  if (generation !== state.generation) return;
  if (!concerts.ok) {
    $('concert').textContent = '';
    showMessage('error', `Could not load concerts. ${explain(concerts)}`, concerts.problem?.code || '');
    state.booking = false; // the next poll tries again
    return;
  }
  const mine = concerts.data.filter((c) => c.queue_id === QUEUE_ID);
  const options = [];
  for (const concert of mine) {
    const res = await api('GET', `/v1/concerts/${concert.id}/schedules?available=true`);
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
  const res = await api('GET', `/v1/schedules/${state.schedule.id}/seats?limit=${SEAT_PAGE}${after}`);
  if (generation !== state.generation) return;
  if (!res.ok) {
    showMessage('error', `Could not load seats. ${explain(res)}`, res.problem?.code || '');
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
    b.textContent = String(seat.number);
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
      showMessage('warn', `You already hold seat ${state.hold.number}. Pay for it or release it first.`, 'ALREADY_HOLDING');
    }
    return;
  }
  const generation = state.generation;
  showMessage('info', `Holding seat ${seat.number}…`);
  const res = await api('POST', '/v1/reservations', {
    headers: userHeaders(true),
    body: { schedule_id: state.schedule.id, seat_id: seat.id },
  });
  if (generation !== state.generation) return;
  const code = res.problem?.code || '';
  if (res.ok) {
    state.hold = { ...res.data, number: seat.number };
    state.payKey = null;
    markSeat(seat.id, 'held');
    showHold();
    showMessage('ok', `Seat ${seat.number} is held for you until ${clock(res.data.hold_expires_at)}. Pay before then.`);
    return;
  }
  if (res.status === 409) {
    showMessage('error', `Sorry, seat ${seat.number} was just taken by someone else. Please pick another seat.`, code || 'SEAT_UNAVAILABLE');
    markSeat(seat.id, 'sold');
    loadSeats(true);
  } else if (res.status === 403 || res.status === 401) {
    showMessage('warn', `You cannot book right now: your turn in the line is not active. ${explain(res)}`, code);
  } else if (res.status === 422) {
    showMessage('error', `Booking is closed for this date. ${explain(res)}`, code);
  } else {
    showMessage('error', `Could not hold seat ${seat.number}. ${explain(res)}`, code);
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
  const res = await api('DELETE', `/v1/reservations/${hold.reservation_id}`, { headers: userHeaders(true) });
  if (!res.ok && res.status !== 404) {
    showMessage('error', `Could not release seat ${hold.number}. ${explain(res)}`, res.problem?.code || '');
    return;
  }
  state.hold = null;
  state.payKey = null;
  $('pay-section').hidden = true;
  showMessage('info', `Seat ${hold.number} released.`);
  loadSeats(true);
}

// ------------------------------------------------------------------ money

async function loadBalance() {
  const res = await api('GET', '/v1/users/me/balance', { headers: userHeaders() });
  if (res.ok) {
    state.balance = res.data.balance;
    $('balance').textContent = money(state.balance);
  }
}

async function charge(event) {
  event.preventDefault();
  const amount = Number($('charge-amount').value);
  if (!Number.isInteger(amount) || amount < 1 || amount > MAX_CHARGE) {
    showMessage('error', `Enter a whole amount between 1 and ${money(MAX_CHARGE)}.`, 'INVALID_AMOUNT');
    return;
  }
  // One Idempotency-Key per top-up attempt; a retry of the same amount after
  // an unclear outcome reuses it, so the balance is never charged twice.
  if (!state.charge || state.charge.amount !== amount) state.charge = { key: uuid(), amount };
  $('charge').disabled = true;
  const res = await api('POST', '/v1/users/me/balance/charges', {
    headers: { ...userHeaders(), 'Idempotency-Key': state.charge.key },
    body: { amount },
  });
  $('charge').disabled = false;
  if (res.ok) {
    state.charge = null;
    state.balance = res.data.balance;
    $('balance').textContent = money(state.balance);
    showMessage('ok', `Balance topped up by ${money(amount)}; it is now ${money(state.balance)}.`);
  } else if (res.status === 0 || res.status >= 500) {
    showMessage('error', `Top-up outcome unknown. ${explain(res)} Retrying is safe: it will not charge twice.`, res.problem?.code || '');
  } else {
    state.charge = null;
    showMessage('error', `Top-up refused. ${explain(res)}`, res.problem?.code || '');
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
  showMessage('info', `Paying for seat ${hold.number}…`);
  const res = await api('POST', `/v1/reservations/${hold.reservation_id}/payment`, {
    headers: { ...userHeaders(true), 'Idempotency-Key': state.payKey },
  });
  if (generation !== state.generation) return;
  const code = res.problem?.code || '';
  $('pay').disabled = false;
  if (res.ok || code === 'RESERVATION_ALREADY_CONFIRMED') {
    paid(res.data);
    return;
  }
  if (res.status === 0 || res.status >= 500) {
    $('pay').textContent = 'Retry payment';
    showMessage('error', `Payment outcome unknown. ${explain(res)} Retrying is safe: you will not be charged twice.`, code);
    return;
  }
  state.payKey = null;
  if (res.status === 402) {
    await loadBalance();
    showMessage(
      'error',
      `Insufficient balance: seat ${hold.number} costs ${money(hold.price)} and your balance is ${money(state.balance)}. Top up, then pay again.`,
      code,
    );
    const missing = hold.price - (state.balance ?? 0);
    if (missing > 0) $('charge-amount').value = String(Math.min(missing, MAX_CHARGE));
  } else if (res.status === 409) {
    state.hold = null;
    $('pay-section').hidden = true;
    showMessage('error', `Your hold on seat ${hold.number} expired before payment, so the seat went back on sale. Please pick a seat again.`, code || 'HOLD_EXPIRED');
    loadSeats(true);
  } else if (res.status === 403 || res.status === 401) {
    showMessage('warn', `You cannot pay right now: your turn in the line is not active. ${explain(res)}`, code);
    if (!state.pollTimer) leftTheLine(res);
  } else {
    showMessage('error', `Payment failed. ${explain(res)}`, code);
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
  $('rejoin').textContent = 'Book another seat (rejoin the line)';
  setJoinEnabled(true);
  const what = receipt ? ` Payment #${receipt.payment_id}, ${money(receipt.amount)} paid; balance ${money(receipt.balance)}.` : '';
  showMessage('ok', `Payment confirmed: seat ${hold.number} is yours.${what}`, 'CONFIRMED');
}

// ------------------------------------------------------------------ timers and wiring

function tick() {
  if (state.nextPollAt) {
    $('next-poll').textContent = `in ${duration((state.nextPollAt - Date.now()) / 1000)}`;
  } else {
    $('next-poll').textContent = '—';
  }
  if (state.activeUntil && state.status === 'active') {
    const left = (state.activeUntil.getTime() - Date.now()) / 1000;
    $('active-until').textContent = `Your turn lasts until ${state.activeUntil.toLocaleTimeString()} (${duration(left)} left).`;
  } else if (state.status !== 'active') {
    $('active-until').textContent = '';
  }
  renderHoldText();
}

function init() {
  $('queue-url').textContent = QUEUE_URL;
  $('api-url').textContent = API_URL;
  $('queue-id').textContent = QUEUE_ID;
  try {
    const saved = localStorage.getItem('concert-demo-user');
    if (saved && !params.has('user_id')) $('user-id').value = saved;
  } catch {
    /* storage may be disabled */
  }
  if (params.get('user_id')) $('user-id').value = params.get('user_id');
  $('join-form').addEventListener('submit', join);
  $('rejoin').addEventListener('click', () => join());
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
