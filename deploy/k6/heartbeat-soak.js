// heartbeat-soak.js: a large waiting population keeps its place by polling
// the heartbeat exactly as told (poll_after_ms), for minutes. The queue
// admits one user per second into one active slot, so nearly everybody
// waits; whoever is admitted leaves at once and rejoins at the back, which
// keeps the population constant and the line moving.
//
//   k6 run deploy/k6/heartbeat-soak.js
//   SOAK_VUS=300 SOAK_DURATION=45s k6 run deploy/k6/heartbeat-soak.js   # short
//
// Environment: QUEUE_URL, ADMIN_API_KEY, AUTH (see lib.js), SOAK_VUS [1000],
// SOAK_DURATION [3m], SOAK_JOIN_SPREAD seconds over which users arrive
// [20], SOAK_HEARTBEAT_TTL seconds [30], latency limits in ms:
// SOAK_P95_MS [100], SOAK_P99_MS [250]. The queue's abuse limits are off
// (NO_ABUSE_LIMITS): every simulated user comes from this machine, and each
// rejoin is a new place.
//
// Thresholds: heartbeat p95/p99 latency, no 5xx, checks >= 99 %, and no
// user who polls as told is ever evicted (evicted count==0); every
// poll_after_ms is at least 1 s and at most a third of the heartbeat TTL.

import { check, sleep } from 'k6';
import { Counter, Trend } from 'k6/metrics';

import { configureQueue, envInt, envStr, heartbeat, issueToken, json, leave, NO_ABUSE_LIMITS, runId, seconds } from './lib.js';

const VUS = envInt('SOAK_VUS', 1000);
const DURATION = envStr('SOAK_DURATION', '3m');
const JOIN_SPREAD_S = envInt('SOAK_JOIN_SPREAD', 20);
const HEARTBEAT_TTL_S = envInt('SOAK_HEARTBEAT_TTL', 30);
const P95 = envInt('SOAK_P95_MS', 100);
const P99 = envInt('SOAK_P99_MS', 250);

export const options = {
  scenarios: {
    soak: {
      executor: 'per-vu-iterations',
      vus: VUS,
      iterations: 1,
      maxDuration: `${seconds(DURATION) + JOIN_SPREAD_S + 60}s`,
      gracefulStop: '40s',
    },
  },
  thresholds: {
    'http_req_duration{name:heartbeat}': [`p(95)<${P95}`, `p(99)<${P99}`],
    'http_req_duration{name:issue}': [`p(99)<${P99 * 4}`],
    http_req_failed: ['rate==0'],
    checks: ['rate>=0.99'],
    evicted: ['count==0'],
    heartbeats: ['count>0'],
  },
  summaryTrendStats: ['avg', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'],
};

const evicted = new Counter('evicted');
const heartbeats = new Counter('heartbeats');
const admitted = new Counter('admitted');
const pollAfter = new Trend('poll_after_ms');
const position = new Trend('position');

export function setup() {
  const queueId = runId('soak');
  configureQueue(queueId, {
    max_active: 1,
    admit_per_second: 1,
    active_ttl_seconds: 60,
    heartbeat_ttl_seconds: HEARTBEAT_TTL_S,
    limits: NO_ABUSE_LIMITS,
  });
  const endAt = Date.now() + (JOIN_SPREAD_S + seconds(DURATION)) * 1000;
  console.log(`heartbeat-soak: queue ${queueId}, ${VUS} users polling until ${new Date(endAt).toISOString()}`);
  return { queueId, endAt };
}

export default function (data) {
  evicted.add(0);
  sleep(Math.random() * JOIN_SPREAD_S);
  let rejoins = 0;
  while (Date.now() < data.endAt) {
    const user = `${data.queueId}-u${__VU}-${rejoins}`;
    let res = issueToken(data.queueId, user);
    if (!check(res, { 'token issued': (r) => r.status === 201 })) return;
    let status = json(res);
    const token = status.token;
    while (Date.now() < data.endAt) {
      check(status, {
        'poll_after_ms within [1 s, TTL/3]': (s) => s.poll_after_ms >= 1000 && s.poll_after_ms <= (HEARTBEAT_TTL_S * 1000) / 3,
      });
      pollAfter.add(status.poll_after_ms);
      if (status.status === 'active') break;
      position.add(status.position);
      const remaining = data.endAt - Date.now();
      if (status.poll_after_ms > remaining) {
        sleep(remaining / 1000);
        break;
      }
      sleep(status.poll_after_ms / 1000);
      res = heartbeat(data.queueId, user, token);
      heartbeats.add(1);
      if (res.status === 410) {
        evicted.add(1);
        console.warn(`${user} was evicted although it polled as told`);
        break;
      }
      if (!check(res, { 'heartbeat 200': (r) => r.status === 200 })) return;
      status = json(res);
    }
    if (status.status === 'active') {
      admitted.add(1);
      check(leave(data.queueId, user, token), { 'left the active slot (204)': (r) => r.status === 204 });
      rejoins++;
    } else {
      leave(data.queueId, user, token);
      return;
    }
  }
}
