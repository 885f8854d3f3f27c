// rush.js: the sale opens and sells out. Arrivals ramp up
// (ramping-arrival-rate); each iteration is one user who tops up the
// balance, takes a place in line, polls the heartbeat as told
// (poll_after_ms), and once admitted holds a random available seat (another
// one on 409), pays, and checks that the payment is idempotent and that it
// freed the queue slot. There are fewer seats than users (by default 60 %
// of the most arrivals the stages allow), so the run ends in a sell-out:
// users still waiting then are told `sold_out` by their next heartbeat and
// stop; later arrivals are refused with 409 SOLD_OUT.
//
//   k6 run deploy/k6/rush.js
//   RUSH_RATE=10 RUSH_RAMP=10s RUSH_HOLD=20s RUSH_SEATS=200 k6 run deploy/k6/rush.js   # short
//
// Environment (defaults in brackets): QUEUE_URL [http://127.0.0.1:8081],
// API_URL [http://127.0.0.1:8082], ADMIN_API_KEY [dev key], AUTH [jwt] (see
// lib.js: each user signs in through the development sign-in), RUSH_RATE
// arrivals/s at the peak [30], RUSH_RAMP [30s], RUSH_HOLD at peak [60s],
// RUSH_RAMP_DOWN [10s], RUSH_SEATS [60 % of the most arrivals], RUSH_PRICE [5000],
// RUSH_MAX_ACTIVE [100], RUSH_ADMIT_PER_SECOND [20], RUSH_MAX_WAIT seconds
// a user waits in line before giving up [120], RUSH_MAX_VUS [600],
// RUSH_HEARTBEAT_TTL seconds [9] (waiting users poll at least every third
// of it, which bounds how late they hear of the sell-out).
// The queue's per-address and per-user limits and the early-poll refusal
// are off (NO_ABUSE_LIMITS): every simulated user comes from this machine.
//
// Invariants checked in teardown(), through the public API only, failing
// the run (exec.test.abort) when broken:
//   * the schedule still has exactly its seats, each with one of the
//     statuses available/held/sold, numbers 1..N each once;
//   * no seat sold twice, and sold seats == payments taken. k6 VUs share no
//     memory and a Counter is not readable in teardown, so the number of
//     payments is read back from the server's own ledger: every user of
//     this run (ids <run>-u<i>, i < the most arrivals the stages allow)
//     tops up exactly 2 x price with the deterministic Idempotency-Key
//     <run>-charge-<i> before anything else. In teardown that charge is
//     replayed with the same key (the contract: same key, same answer, no
//     second charge; for a user who never started it is a first and only
//     charge), then the balance b is read: the user paid (2 x price - b) /
//     price times. That must be 0 or 1 for every user (nobody pays twice;
//     no money is lost or invented), and the sum over users must equal the
//     number of sold seats. The seat table and the payment ledger are
//     separate tables, so an oversold seat or a lost/duplicated payment
//     shows up as a mismatch;
//   * the sale sold out: every seat is sold.
// And as thresholds (in the summary):
//   * sold_out_notice_bound_ms max < 5000: a waiting user who hears
//     `sold_out` at T had heard "not sold out" at its previous poll P, so
//     the last seat was sold after P minus the seat counts' staleness (they
//     are written every 500 ms; 1 s is allowed): T - P + 1000 bounds, per
//     user and without shared clocks between VUs, how long it went on
//     polling after the last sale;
//   * sold_out_waiting count > 0: someone was still waiting at the
//     sell-out (else the bound above measured nothing).
// The exact figure, the last user's notice minus the last sale (both epoch
// ms, as Trends sale_at and sold_out_seen_at), is worked out from the
// summary by scripts/load.sh, which also fails the run when it is 5 s or
// more.

import http from 'k6/http';
import { check, sleep } from 'k6';
import exec from 'k6/execution';
import { Counter, Trend } from 'k6/metrics';

import {
  API_URL,
  abortRun,
  allSeats,
  code,
  configureQueue,
  createConcert,
  envInt,
  envStr,
  json,
  leave,
  heartbeat,
  maxArrivals,
  must,
  NO_ABUSE_LIMITS,
  runId,
  seconds,
  signInAll,
  userHeaders,
  uuid,
  waitUntilActive,
} from './lib.js';

const RATE = envInt('RUSH_RATE', 30);
const RAMP = envStr('RUSH_RAMP', '30s');
const HOLD = envStr('RUSH_HOLD', '60s');
const RAMP_DOWN = envStr('RUSH_RAMP_DOWN', '10s');
const SEATS_SHARE = 0.6; // of the most arrivals, by default
const PRICE = envInt('RUSH_PRICE', 5000);
const MAX_ACTIVE = envInt('RUSH_MAX_ACTIVE', 100);
const ADMIT_PER_SECOND = envInt('RUSH_ADMIT_PER_SECOND', 20);
const MAX_WAIT_S = envInt('RUSH_MAX_WAIT', 120);
const MAX_VUS = envInt('RUSH_MAX_VUS', 600);
const HEARTBEAT_TTL_S = envInt('RUSH_HEARTBEAT_TTL', 9);
const STALE_COUNTS_MS = 1000;
const SEAT_PAGE = 20;
const HOLD_ATTEMPTS = 6;

const STAGES = [
  { target: RATE, duration: RAMP },
  { target: RATE, duration: HOLD },
  { target: 0, duration: RAMP_DOWN },
];
const SEATS = envInt('RUSH_SEATS', Math.max(1, Math.floor(maxArrivals(0, STAGES) * SEATS_SHARE)));

export const options = {
  scenarios: {
    rush: {
      executor: 'ramping-arrival-rate',
      startRate: 0,
      timeUnit: '1s',
      preAllocatedVUs: Math.min(MAX_VUS, Math.max(20, RATE * 15)),
      maxVUs: MAX_VUS,
      stages: STAGES,
      // Let users already in line finish their purchase after arrivals stop.
      gracefulStop: `${MAX_WAIT_S + 60}s`,
    },
  },
  setupTimeout: '180s',
  teardownTimeout: '300s',
  thresholds: {
    http_req_failed: ['rate==0'], // no 5xx, no transport errors
    checks: ['rate>=0.99'],
    payments_confirmed: ['count>0'], // the run must actually sell something
    payment_replays_differing: ['count==0'],
    'http_req_duration{name:hold}': ['p(99)<3000'],
    'http_req_duration{name:heartbeat}': ['p(99)<2000'],
    sold_out_notice_bound_ms: ['max<5000'],
    sold_out_waiting: ['count>0'], // someone was still waiting at the sell-out
  },
  summaryTrendStats: ['avg', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'],
};

const paymentsConfirmed = new Counter('payments_confirmed');
const holdsSucceeded = new Counter('holds_succeeded');
const holdConflicts = new Counter('hold_conflicts');
const soldOut = new Counter('sold_out'); // admitted, but no seat was left to hold
const soldOutWaiting = new Counter('sold_out_waiting'); // told sold_out while waiting
const soldOutOnJoin = new Counter('sold_out_on_join'); // refused with 409 SOLD_OUT
const soldOutNoticeBound = new Trend('sold_out_notice_bound_ms', true);
const saleAt = new Trend('sale_at'); // epoch ms of each confirmed payment
const soldOutSeenAt = new Trend('sold_out_seen_at'); // epoch ms a waiting user heard sold_out
const gaveUp = new Counter('gave_up_waiting');
const evicted = new Counter('evicted');
const replaysDiffering = new Counter('payment_replays_differing');
const timeInLine = new Trend('time_in_line', true);
// How honest the wait estimate is: for each admitted user who waited, the
// wait it had (join to the poll that saw it active, so up to one poll
// interval late) minus the estimate it was given at join, in seconds.
const estimateError = new Trend('estimate_error_s');
const estimateAbsError = new Trend('estimate_abs_error_s');

const chargeKey = (run, i) => `${run}-charge-${i}`;
const userOf = (run, i) => `${run}-u${i}`;

export function setup() {
  const run = runId('rush');
  const queueId = run;
  configureQueue(queueId, {
    max_active: MAX_ACTIVE,
    admit_per_second: ADMIT_PER_SECOND,
    active_ttl_seconds: 300,
    heartbeat_ttl_seconds: HEARTBEAT_TTL_S,
    limits: NO_ABUSE_LIMITS,
  });
  const { concertId, schedule } = createConcert({
    title: `k6 rush ${run}`,
    queueId,
    seatCount: SEATS,
    price: PRICE,
  });
  const seats = allSeats(schedule.id);
  if (seats.length !== SEATS) throw new Error(`the new schedule lists ${seats.length} seats, not ${SEATS}`);
  const ids = seats.map((s) => s.id);
  const maxUsers = maxArrivals(0, STAGES);
  console.log(`rush: queue ${queueId}, concert ${concertId}, schedule ${schedule.id}, ${SEATS} seats, up to ${maxUsers} users`);
  return {
    run,
    queueId,
    scheduleId: schedule.id,
    minSeatId: Math.min(...ids),
    maxSeatId: Math.max(...ids),
    maxUsers,
  };
}

function availableSeats(data, after) {
  const res = http.get(
    `${API_URL}/v1/schedules/${data.scheduleId}/seats?status=available&limit=${SEAT_PAGE}&after=${after}`,
    { tags: { name: 'seats' } },
  );
  check(res, { 'seats listed': (r) => r.status === 200 });
  return res.status === 200 ? json(res) : [];
}

/** Holds a random available seat; returns the reservation, or null when sold out. */
function holdRandomSeat(data, user, token) {
  const headers = userHeaders(user, { 'X-Queue-Token': token, 'Content-Type': 'application/json' });
  // Start at a random id so users spread over the hall instead of all
  // fetching (and fighting over) the first page; wrap to the start once.
  const starts = [data.minSeatId - 1 + Math.floor(Math.random() * (data.maxSeatId - data.minSeatId + 1)), data.minSeatId - 1];
  for (const after of starts) {
    let candidates = availableSeats(data, after);
    let attempts = 0;
    while (candidates.length > 0 && attempts < HOLD_ATTEMPTS) {
      const seat = candidates.splice(Math.floor(Math.random() * candidates.length), 1)[0];
      attempts++;
      const res = http.post(
        `${API_URL}/v1/reservations`,
        JSON.stringify({ schedule_id: data.scheduleId, seat_id: seat.id }),
        { headers, tags: { name: 'hold' } },
      );
      const ok = check(res, {
        'hold answered 201 or 409 SEAT_UNAVAILABLE': (r) =>
          r.status === 201 || (r.status === 409 && code(r) === 'SEAT_UNAVAILABLE'),
      });
      if (res.status === 201) {
        holdsSucceeded.add(1);
        const body = json(res);
        check(body, {
          'hold is for the seat asked, status held, at its price': (b) =>
            b && b.seat_id === seat.id && b.status === 'held' && b.price === seat.price,
        });
        return body;
      }
      if (!ok) return null;
      holdConflicts.add(1);
      if (candidates.length === 0) candidates = availableSeats(data, seat.id);
    }
  }
  return null;
}

export default function (data) {
  const i = exec.scenario.iterationInTest;
  const user = userOf(data.run, i);
  const started = Date.now();
  soldOutWaiting.add(0); // the metric exists even in a run where nobody hears sold_out

  // 1. Top up 2 x price first (see the header for why 2x and this key).
  const charge = http.post(`${API_URL}/v1/users/me/balance/charges`, JSON.stringify({ amount: 2 * PRICE }), {
    headers: userHeaders(user, { 'Idempotency-Key': chargeKey(data.run, i), 'Content-Type': 'application/json' }),
    tags: { name: 'charge' },
  });
  if (!check(charge, { 'balance topped up to 2 x price': (r) => r.status === 200 && json(r).balance === 2 * PRICE })) {
    return;
  }

  // 2. Take a place in line; poll exactly as told.
  const line = waitUntilActive(data.queueId, user, started + MAX_WAIT_S * 1000);
  if (line.outcome === 'timeout') {
    gaveUp.add(1);
    leave(data.queueId, user, line.token);
    return;
  }
  if (line.outcome === 'left') {
    evicted.add(1);
    return;
  }
  if (line.outcome === 'sold_out') {
    if (line.soldOutAt == null) {
      soldOutOnJoin.add(1);
      return;
    }
    soldOutWaiting.add(1);
    soldOutSeenAt.add(line.soldOutAt);
    soldOutNoticeBound.add(line.soldOutAt - line.lastPollAt + STALE_COUNTS_MS);
    return; // told to stop: no further polls

  }
  if (line.outcome !== 'active') return;
  timeInLine.add(Date.now() - started);
  if (line.estimateAtJoinS != null) {
    const error = (line.activeAt - line.joinedAt) / 1000 - line.estimateAtJoinS;
    estimateError.add(error);
    estimateAbsError.add(Math.abs(error));
  }
  const token = line.token;

  // 3. Hold a seat.
  const hold = holdRandomSeat(data, user, token);
  if (!hold) {
    soldOut.add(1);
    leave(data.queueId, user, token);
    return;
  }

  // 4. Pay; then replay the same request (same Idempotency-Key) and expect
  //    the very same answer: paid once, whatever the client retries.
  const key = uuid();
  const payParams = {
    headers: userHeaders(user, { 'X-Queue-Token': token, 'Idempotency-Key': key }),
    tags: { name: 'pay' },
  };
  const pay = http.post(`${API_URL}/v1/reservations/${hold.reservation_id}/payment`, null, payParams);
  const paid = check(pay, {
    'payment confirmed': (r) => r.status === 200 && json(r).status === 'confirmed',
    'payment took exactly the price': (r) => r.status === 200 && json(r).amount === PRICE && json(r).balance === PRICE,
  });
  if (!paid) return;
  saleAt.add(Date.now());
  paymentsConfirmed.add(1);
  const receipt = json(pay);
  const replay = http.post(`${API_URL}/v1/reservations/${hold.reservation_id}/payment`, null, {
    ...payParams,
    tags: { name: 'pay_replay' },
  });
  const same = check(replay, {
    'payment replay returns the same receipt': (r) =>
      r.status === 200 && json(r).payment_id === receipt.payment_id && json(r).balance === receipt.balance,
  });
  if (!same) replaysDiffering.add(1);

  // 5. The payment completed the token: the slot is free, the token is gone.
  check(heartbeat(data.queueId, user, token), {
    'token completed by the payment (410)': (r) => r.status === 410 && code(r) === 'TOKEN_EXPIRED',
  });
  const mine = http.get(`${API_URL}/v1/reservations/${hold.reservation_id}`, {
    headers: userHeaders(user),
    tags: { name: 'reservation' },
  });
  check(mine, { 'reservation reads confirmed': (r) => r.status === 200 && json(r).status === 'confirmed' });
  sleep(0.1);
}

export function teardown(data) {
  // Seats: exactly the schedule's seats, valid statuses, none duplicated.
  const seats = allSeats(data.scheduleId);
  const counts = { available: 0, held: 0, sold: 0 };
  const ids = new Set();
  const numbers = new Set();
  for (const seat of seats) {
    if (!(seat.status in counts)) abortRun(`seat ${seat.id} has status ${seat.status}`);
    counts[seat.status]++;
    ids.add(seat.id);
    numbers.add(seat.number);
  }
  if (seats.length !== SEATS || ids.size !== SEATS || numbers.size !== SEATS) {
    abortRun(`schedule lists ${seats.length} seats (${ids.size} ids, ${numbers.size} numbers), expected ${SEATS}`);
  }

  // Payments, from the server's ledger (see the header).
  let payments = 0;
  let users = 0;
  const batch = 50;
  for (let start = 0; start < data.maxUsers; start += batch) {
    const idx = [];
    for (let i = start; i < Math.min(start + batch, data.maxUsers); i++) idx.push(i);
    signInAll(idx.map((i) => userOf(data.run, i)));
    const replays = http.batch(
      idx.map((i) => [
        'POST',
        `${API_URL}/v1/users/me/balance/charges`,
        JSON.stringify({ amount: 2 * PRICE }),
        {
          headers: userHeaders(userOf(data.run, i), { 'Idempotency-Key': chargeKey(data.run, i), 'Content-Type': 'application/json' }),
          tags: { name: 'teardown_charge_replay' },
        },
      ]),
    );
    replays.forEach((r, k) => {
      const body = must(r, 200, `replay the charge of user ${idx[k]}`);
      if (body.balance !== 2 * PRICE) abortRun(`charge replay for user ${idx[k]} answered balance ${body.balance}, not ${2 * PRICE}`);
    });
    const balances = http.batch(
      idx.map((i) => ['GET', `${API_URL}/v1/users/me/balance`, null, { headers: userHeaders(userOf(data.run, i)), tags: { name: 'teardown_balance' } }]),
    );
    balances.forEach((r, k) => {
      const balance = must(r, 200, `balance of user ${idx[k]}`).balance;
      const spent = 2 * PRICE - balance;
      if (spent !== 0 && spent !== PRICE) {
        abortRun(`user ${idx[k]} has balance ${balance}: spent ${spent}, which is neither 0 nor one price (${PRICE})`);
      }
      if (spent === PRICE) payments++;
      users++;
    });
  }
  console.log(
    `rush teardown: ${SEATS} seats: ${counts.sold} sold, ${counts.held} held, ${counts.available} available; ` +
      `${payments} payments in the ledger of ${users} possible users`,
  );
  if (counts.sold !== payments) abortRun(`${counts.sold} seats sold but ${payments} payments taken`);
  if (payments === 0) abortRun('no payment was taken: the run tested nothing');
  if (counts.sold !== SEATS) abortRun(`the sale did not sell out: ${counts.sold} of ${SEATS} seats sold`);
}
