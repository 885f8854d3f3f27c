// hot-seat.js: everybody wants the same seat at the same moment. HOT_VUS
// users are admitted first (a queue with room for all of them and a high
// admission rate; each user issues a token and polls until active), then
// all of them send the hold for the SAME seat at one shared instant chosen
// in setup(). Exactly one hold may succeed (201); every other one must get
// 409 SEAT_UNAVAILABLE.
//
//   k6 run deploy/k6/hot-seat.js
//   HOT_VUS=500 k6 run deploy/k6/hot-seat.js
//
// Environment: QUEUE_URL, API_URL, ADMIN_API_KEY, AUTH (see lib.js), HOT_VUS
// [200], HOT_WARMUP seconds from setup to the shared instant, enough for
// every user to be admitted [15]. The queue's abuse limits are off
// (NO_ABUSE_LIMITS): every simulated user comes from this machine.
//
// Checked by thresholds (hold_success count==1, hold_conflict
// count==HOT_VUS-1, hold_other count==0, not_ready count==0, no 5xx) and,
// in teardown, through the seat listing: the hot seat is held and every
// other seat of the schedule is still available.

import http from 'k6/http';
import { check, sleep } from 'k6';
import { Counter, Trend } from 'k6/metrics';

import {
  API_URL,
  abortRun,
  allSeats,
  code,
  configureQueue,
  createConcert,
  envInt,
  json,
  NO_ABUSE_LIMITS,
  runId,
  userHeaders,
  waitUntilActive,
} from './lib.js';

const VUS = envInt('HOT_VUS', 200);
const WARMUP_S = envInt('HOT_WARMUP', 15);
const SEATS = 10;

export const options = {
  scenarios: {
    hot_seat: {
      executor: 'per-vu-iterations',
      vus: VUS,
      iterations: 1,
      maxDuration: `${WARMUP_S + 60}s`,
    },
  },
  setupTimeout: '60s',
  thresholds: {
    hold_success: ['count==1'],
    hold_conflict: [`count==${VUS - 1}`],
    hold_other: ['count==0'],
    not_ready: ['count==0'], // every user was admitted before the shared instant
    http_req_failed: ['rate==0'],
    checks: ['rate==1'],
    'http_req_duration{name:hold}': ['p(99)<3000'],
  },
  summaryTrendStats: ['avg', 'med', 'p(95)', 'p(99)', 'max'],
};

const holdSuccess = new Counter('hold_success');
const holdConflict = new Counter('hold_conflict');
const holdOther = new Counter('hold_other');
const notReady = new Counter('not_ready');
const startSkew = new Trend('hold_start_skew', true);

export function setup() {
  const queueId = runId('hot');
  configureQueue(queueId, {
    max_active: VUS + 10,
    admit_per_second: Math.max(1000, VUS * 5),
    active_ttl_seconds: 600,
    heartbeat_ttl_seconds: 120,
    limits: NO_ABUSE_LIMITS,
    // Everyone is to be admitted before the instant, though the hall is
    // small: the queue otherwise admits at most admit_per_seat (default 2)
    // active users per seat left.
    admit_per_seat: 100,
  });
  const { schedule } = createConcert({ title: `k6 hot seat ${queueId}`, queueId, seatCount: SEATS, price: 1000 });
  const seat = allSeats(schedule.id).find((s) => s.number === 1);
  if (!seat || seat.status !== 'available') throw new Error('seat 1 of the new schedule is not available');
  const startAt = Date.now() + WARMUP_S * 1000;
  console.log(`hot-seat: queue ${queueId}, schedule ${schedule.id}, seat ${seat.id}; ${VUS} users hold it at ${new Date(startAt).toISOString()}`);
  return { queueId, scheduleId: schedule.id, seatId: seat.id, startAt };
}

export default function (data) {
  // Make every counter exist with a sample, so a threshold such as
  // count==1 is evaluated even when nobody succeeds.
  holdSuccess.add(0);
  holdConflict.add(0);
  holdOther.add(0);
  notReady.add(0);

  const user = `${data.queueId}-u${__VU}`;
  // Spread the joins over the first seconds so the issue burst is realistic.
  sleep(Math.random() * Math.min(3, WARMUP_S / 4));
  const line = waitUntilActive(data.queueId, user, data.startAt - 200);
  if (line.outcome !== 'active') {
    notReady.add(1);
  }
  // Look at the seat a second before the shared instant, as a page would;
  // this also leaves the hold itself on a connection that has just been
  // used, so it cannot meet the server's idle-connection close.
  const look = data.startAt - 1000 - Date.now();
  if (look > 0) sleep(look / 1000);
  const seen = http.get(`${API_URL}/v1/schedules/${data.scheduleId}/seats?limit=1&after=${data.seatId - 1}`, {
    tags: { name: 'seats' },
  });
  const seenBeforeStart = Date.now() < data.startAt; // nobody holds before the instant
  check(seen, {
    'the hot seat is listed (available before the instant)': (r) =>
      r.status === 200 && !!json(r)[0] && json(r)[0].id === data.seatId && (!seenBeforeStart || json(r)[0].status === 'available'),
  });
  const wait = data.startAt - Date.now();
  if (wait > 0) sleep(wait / 1000);
  startSkew.add(Date.now() - data.startAt);

  const res = http.post(`${API_URL}/v1/reservations`, JSON.stringify({ schedule_id: data.scheduleId, seat_id: data.seatId }), {
    headers: userHeaders(user, { 'X-Queue-Token': line.token || 'none', 'Content-Type': 'application/json' }),
    tags: { name: 'hold' },
  });
  if (res.status === 201) {
    holdSuccess.add(1);
    check(res, { 'the winner holds the hot seat': (r) => json(r).seat_id === data.seatId && json(r).status === 'held' });
  } else if (res.status === 409 && code(res) === 'SEAT_UNAVAILABLE') {
    holdConflict.add(1);
  } else {
    holdOther.add(1);
    console.warn(`hold answered ${res.status} ${String(res.body).slice(0, 200)}`);
  }
  check(res, { 'hold answered 201 or 409 SEAT_UNAVAILABLE': (r) => r.status === 201 || (r.status === 409 && code(r) === 'SEAT_UNAVAILABLE') });
}

export function teardown(data) {
  const seats = allSeats(data.scheduleId);
  const hot = seats.find((s) => s.id === data.seatId);
  const others = seats.filter((s) => s.id !== data.seatId);
  console.log(`hot-seat teardown: hot seat ${hot ? hot.status : 'missing'}; other seats: ${others.filter((s) => s.status === 'available').length}/${others.length} available`);
  if (seats.length !== SEATS) abortRun(`the schedule lists ${seats.length} seats, not ${SEATS}`);
  if (!hot || hot.status !== 'held') abortRun(`the hot seat is ${hot ? hot.status : 'missing'}, expected held by the one winner`);
  if (others.some((s) => s.status !== 'available')) abortRun('a seat nobody asked for is no longer available');
}
