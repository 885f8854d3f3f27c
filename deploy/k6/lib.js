// Shared helpers for the k6 scripts in this folder: configuration from
// __ENV, how a simulated user proves who it is, admin set-up through the
// public admin API, queue polling that honours poll_after_ms, and small
// utilities. No remote imports, so the scripts run offline (local k6 or the
// grafana/k6 image).
//
// Identity (AUTH):
//   jwt (default)  each user signs in once through the development sign-in,
//                  POST ${QUEUE_URL}/v1/dev/sign-in (AUTH_DEV_SIGNIN=true on
//                  the queue service, as scripts/run.sh and the compose demo
//                  stack have it), and sends Authorization: Bearer <token> on
//                  every user request, to both services. Tokens are cached
//                  per user id within a VU and renewed when within a minute
//                  of expiry.
//   header         sends X-User-Id: <user id> instead, for services run in
//                  AUTH_MODE=trusted-header without a gateway in front (a
//                  gateway that drops or sets X-User-Id would defeat it).

import http from 'k6/http';
import { check, sleep } from 'k6';
import encoding from 'k6/encoding';
import exec from 'k6/execution';

export const QUEUE_URL = trimSlash(__ENV.QUEUE_URL || 'http://127.0.0.1:8081');
export const API_URL = trimSlash(__ENV.API_URL || 'http://127.0.0.1:8082');
export const ADMIN_API_KEY = __ENV.ADMIN_API_KEY || 'dev-admin-key-change-me';
export const AUTH = (__ENV.AUTH || 'jwt').toLowerCase();
if (AUTH !== 'jwt' && AUTH !== 'header') throw new Error(`AUTH must be jwt or header, got ${__ENV.AUTH}`);

/**
 * Abuse limits for queues whose simulated users all come from this one
 * machine (one client address) and may join many times: the per-address
 * and per-user issuance rates and the early-poll refusal are off. Scripts
 * about the limits themselves (bots.js) use the defaults instead.
 */
export const NO_ABUSE_LIMITS = {
  issues_per_minute_per_address: 0,
  issues_per_minute_per_user: 0,
  min_poll_interval_percent: 0,
};

// 4xx answers are part of the contract (409 seat taken, 410 left the line,
// 402 ...): only 5xx and transport errors count in http_req_failed, which
// every script holds at rate==0 ("no 5xx"). Wrong 4xx show up in checks.
http.setResponseCallback(http.expectedStatuses({ min: 200, max: 499 }));

function trimSlash(url) {
  return url.replace(/\/+$/, '');
}

export function envInt(name, fallback) {
  const raw = __ENV[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value)) throw new Error(`${name} must be a number, got ${raw}`);
  return Math.round(value);
}

export function envStr(name, fallback) {
  const raw = __ENV[name];
  return raw === undefined || raw === '' ? fallback : raw;
}

/** k6 duration string ("90s", "2m", "1m30s") to seconds. */
export function seconds(duration) {
  let total = 0;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
  let m;
  let matched = '';
  while ((m = re.exec(duration)) !== null) {
    matched += m[0];
    const n = Number(m[1]);
    total += m[2] === 'ms' ? n / 1000 : m[2] === 's' ? n : m[2] === 'm' ? n * 60 : n * 3600;
  }
  if (matched !== duration) throw new Error(`cannot parse duration "${duration}"`);
  return total;
}

export function uuid() {
  if (typeof crypto !== 'undefined' && crypto.randomUUID) return crypto.randomUUID();
  const h = '0123456789abcdef';
  let s = '';
  for (let i = 0; i < 36; i++) {
    if (i === 8 || i === 13 || i === 18 || i === 23) s += '-';
    else if (i === 14) s += '4';
    else if (i === 19) s += h[8 + Math.floor(Math.random() * 4)];
    else s += h[Math.floor(Math.random() * 16)];
  }
  return s;
}

/** A short id unique to this run, usable in queue and user ids. */
export function runId(prefix) {
  return `${prefix}-${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
}

export function iso(ms) {
  return new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
}

export function json(res) {
  try {
    return res.json();
  } catch {
    return null;
  }
}

/** Problem code of an error answer ('' when none). */
export function code(res) {
  const body = json(res);
  return (body && body.code) || '';
}

// --- identity (see the header)

// Per VU (k6 VUs share no memory): user id -> { token, renewAt (epoch ms) }.
const signedIn = {};
const RENEW_BEFORE_EXPIRY_MS = 60e3;

function signInRequest(userId, headers) {
  return [
    'POST',
    `${QUEUE_URL}/v1/dev/sign-in`,
    JSON.stringify({ user_id: userId }),
    { headers: { 'Content-Type': 'application/json', ...headers }, tags: { name: 'sign_in' } },
  ];
}

function remember(userId, res) {
  const body = json(res);
  const ok = check(res, {
    'signed in (dev sign-in 200 with a bearer token)': (r) =>
      r.status === 200 && !!body && !!body.access_token && body.user_id === userId && body.expires_in > 0,
  });
  if (!ok) {
    throw new Error(
      `dev sign-in for ${userId}: HTTP ${res.status} ${String(res.body).slice(0, 200)} ` +
        '(is AUTH_DEV_SIGNIN=true on the queue service? AUTH=header for trusted-header services)',
    );
  }
  const lifetimeMs = body.expires_in * 1000;
  // Renew a minute before expiry, or half-way through a lifetime shorter than two minutes.
  signedIn[userId] = { token: body.access_token, renewAt: Date.now() + lifetimeMs - Math.min(RENEW_BEFORE_EXPIRY_MS, lifetimeMs / 2) };
  return body.access_token;
}

function cached(userId) {
  const entry = signedIn[userId];
  return entry && Date.now() < entry.renewAt ? entry.token : null;
}

/**
 * The bearer token of `userId` (AUTH=jwt), signing in when this VU has none
 * or it is about to expire. `headers` go with the sign-in request (e.g. an
 * X-Forwarded-For naming the simulated client's address).
 */
export function bearerToken(userId, headers = {}) {
  const token = cached(userId);
  if (token) return token;
  const [, url, body, params] = signInRequest(userId, headers);
  return remember(userId, http.post(url, body, params));
}

/**
 * Signs in every user of `userIds` that this VU holds no fresh token for,
 * `chunk` sign-ins at a time (http.batch). No-op with AUTH=header.
 * `headersOf(userId)` adds headers to a user's sign-in.
 */
export function signInAll(userIds, { chunk = 50, headersOf = () => ({}) } = {}) {
  if (AUTH !== 'jwt') return;
  const missing = userIds.filter((u) => !cached(u));
  for (let start = 0; start < missing.length; start += chunk) {
    const part = missing.slice(start, start + chunk);
    const answers = http.batch(part.map((u) => signInRequest(u, headersOf(u))));
    answers.forEach((res, k) => remember(part[k], res));
  }
}

/**
 * Headers that identify `userId` to either service (AUTH=jwt: a bearer
 * token; AUTH=header: X-User-Id), merged with `extra`. `signInHeaders` go
 * with a sign-in this call may need.
 */
export function userHeaders(userId, extra = {}, signInHeaders = {}) {
  if (AUTH === 'header') return { 'X-User-Id': userId, ...extra };
  return { Authorization: `Bearer ${bearerToken(userId, signInHeaders)}`, ...extra };
}

const adminHeaders = () => ({
  Authorization: `Bearer ${ADMIN_API_KEY}`,
  'Content-Type': 'application/json',
});

/** Throws (failing setup, so the run) unless the answer has one of the statuses. */
export function must(res, statuses, what) {
  const ok = (Array.isArray(statuses) ? statuses : [statuses]).includes(res.status);
  if (!ok) {
    throw new Error(`${what}: HTTP ${res.status} ${String(res.body).slice(0, 300)} (${res.error || 'no transport error'})`);
  }
  return json(res);
}

export function configureQueue(queueId, config) {
  const res = http.put(`${QUEUE_URL}/v1/admin/queues/${queueId}`, JSON.stringify(config), {
    headers: adminHeaders(),
    tags: { name: 'admin_queue' },
  });
  return must(res, [200, 201, 204], `configure queue ${queueId}`);
}

/** Creates a concert with one schedule bookable now; returns the schedule. */
export function createConcert({ title, queueId, seatCount, price }) {
  const now = Date.now();
  const body = {
    title,
    queue_id: queueId,
    schedules: [
      {
        starts_at: iso(now + 7 * 86400e3),
        booking_opens_at: iso(now - 3600e3),
        booking_closes_at: iso(now + 6 * 86400e3),
        seat_count: seatCount,
        price,
      },
    ],
  };
  const res = http.post(`${API_URL}/v1/admin/concerts`, JSON.stringify(body), {
    headers: adminHeaders(),
    tags: { name: 'admin_concert' },
    timeout: '120s',
  });
  const concert = must(res, 201, 'create the concert');
  return { concertId: concert.id, schedule: concert.schedules[0] };
}

/** Every seat of a schedule, paged by id. */
export function allSeats(scheduleId, pageSize = 5000) {
  const seats = [];
  let after = 0;
  for (;;) {
    const res = http.get(`${API_URL}/v1/schedules/${scheduleId}/seats?limit=${pageSize}${after ? `&after=${after}` : ''}`, {
      tags: { name: 'seats_all' },
      timeout: '60s',
    });
    const page = must(res, 200, `list seats of schedule ${scheduleId}`);
    for (const seat of page) seats.push(seat);
    if (page.length < pageSize) return seats;
    after = page[page.length - 1].id;
  }
}

/** Joins the line; `headers` are added (and go with a sign-in it may need). */
export function issueToken(queueId, userId, headers = {}) {
  return http.post(`${QUEUE_URL}/v1/queues/${queueId}/tokens`, null, {
    headers: userHeaders(userId, headers, headers),
    tags: { name: 'issue' },
  });
}

/**
 * The claims a queue token carries in the clear: `v1.<payload>.<tag>`, the
 * payload base64url of `queue_id:user_id:seq`, where seq is the issue
 * sequence number that orders the line (shared/src/token.rs). Only the
 * services can check the tag; this merely reads the payload.
 */
export function tokenClaims(token) {
  const parts = String(token).split('.');
  if (parts.length !== 3 || parts[0] !== 'v1') throw new Error(`not a v1 queue token: ${token}`);
  const fields = encoding.b64decode(parts[1], 'rawurl', 's').split(':');
  if (fields.length !== 3) throw new Error(`queue token payload has ${fields.length} fields`);
  return { queueId: fields[0], userId: fields[1], seq: Number(fields[2]) };
}

// Heartbeat and leave are idempotent (a keep-alive plus a status read;
// ending a place that may already have ended). Saying so with
// X-Idempotency-Key lets k6's Go HTTP transport resend such a request on a
// fresh connection when the reused keep-alive connection it went out on
// was being closed by the server at that very moment (the server's idle
// timeout, 5 s by default in actix-web, races with clients that poll every
// few seconds), as browsers do for their polls. Without it the race shows
// up as an "EOF" transport error, a few per thousand polls under load. The
// services ignore the header. GETs are retried this way anyway, and
// charges and payments carry a real Idempotency-Key.
const REPLAYABLE = { 'X-Idempotency-Key': 'replayable' };

export function heartbeat(queueId, userId, token) {
  return http.post(`${QUEUE_URL}/v1/queues/${queueId}/heartbeat`, null, {
    headers: userHeaders(userId, { 'X-Queue-Token': token, ...REPLAYABLE }),
    tags: { name: 'heartbeat' },
  });
}

export function leave(queueId, userId, token) {
  return http.del(`${QUEUE_URL}/v1/queues/${queueId}/tokens/me`, null, {
    headers: userHeaders(userId, { 'X-Queue-Token': token, ...REPLAYABLE }),
    tags: { name: 'leave' },
  });
}

/**
 * Issues a token and polls the heartbeat, sleeping exactly poll_after_ms
 * between polls (never faster), until the token is active, it leaves the
 * queue (410), the sale is sold out (409 SOLD_OUT on joining, or status
 * sold_out: stop polling), or `deadlineMs` (epoch ms) passes.
 * Returns {outcome: 'active'|'left'|'timeout'|'error'|'sold_out', token,
 * status, polls, soldOutAt, lastPollAt}: for sold_out, soldOutAt is when the
 * answer came and lastPollAt when the previous answer (not sold out) came;
 * both are null when the join itself was refused.
 */
export function waitUntilActive(queueId, userId, deadlineMs, onPoll) {
  const issued = issueToken(queueId, userId);
  if (issued.status === 409 && code(issued) === 'SOLD_OUT') {
    return { outcome: 'sold_out', polls: 0, soldOutAt: null, lastPollAt: null };
  }
  const issuedOk = check(issued, {
    'token issued (201/200)': (r) => r.status === 201 || r.status === 200,
    'issue answer has a token and poll_after_ms': (r) => {
      const b = json(r);
      return !!(b && b.token && b.poll_after_ms > 0);
    },
  });
  if (!issuedOk) return { outcome: 'error', polls: 0 };
  let status = json(issued);
  const token = status.token;
  // The wait this user was promised at join, to compare with the wait it had.
  const joinedAt = Date.now();
  const estimateAtJoinS = status.status === 'waiting' ? status.estimated_wait_seconds : null;
  let polls = 0;
  let lastPollAt = Date.now();
  while (status.status !== 'active') {
    if (status.status === 'sold_out') return { outcome: 'sold_out', token, status, polls, soldOutAt: Date.now(), lastPollAt };
    const waitMs = status.poll_after_ms;
    if (Date.now() + waitMs > deadlineMs) return { outcome: 'timeout', token, status, polls };
    sleep(waitMs / 1000);
    const res = heartbeat(queueId, userId, token);
    polls++;
    if (onPoll) onPoll(res);
    if (res.status === 410) return { outcome: 'left', token, status, polls };
    const ok = check(res, {
      'heartbeat 200 with a status': (r) => r.status === 200 && !!json(r) && !!json(r).status,
    });
    if (!ok) return { outcome: 'error', token, status, polls };
    status = json(res);
    if (status.status !== 'sold_out') lastPollAt = Date.now();
  }
  return { outcome: 'active', token, status, polls, joinedAt, estimateAtJoinS, activeAt: Date.now() };
}

/** Sum of a ramping-arrival-rate stage list: the most iterations it can start. */
export function maxArrivals(startRate, stages) {
  let rate = startRate;
  let total = 0;
  for (const stage of stages) {
    total += ((rate + stage.target) / 2) * seconds(stage.duration);
    rate = stage.target;
  }
  return Math.ceil(total);
}

export function abortRun(message) {
  console.error(`INVARIANT BROKEN: ${message}`);
  exec.test.abort(message);
}
