// bots.js: the attack the per-address limits exist for. At the opening of a
// sale, one client address (a script on one machine, as if it held
// BOTS_INVENTED accounts) tries to put every one of its invented users in
// line, while BOTS_HONEST fans, each from an address of its own, join over
// the same seconds. The queue keeps its DEFAULT abuse limits.
//
//   k6 run deploy/k6/bots.js
//   BOTS_INVENTED=2000 BOTS_HONEST=500 k6 run deploy/k6/bots.js    # short
//
// Client addresses: k6 runs on one machine, so every simulated client names
// its address in X-Forwarded-For: the attacker 198.51.100.66, fan i an
// address of 100.64.0.0/10 of its own (carrier-grade NAT space, as phones
// have; outside the private ranges the compose stack trusts as proxies, so
// the addresses read the same through its gateway). The services believe
// that header only from a trusted proxy: the stack must trust the k6 host,
// as scripts/run.sh does (TRUSTED_PROXIES=127.0.0.1/32); otherwise every
// user counts as one address and the fans are refused too (the run fails).
//
// Timeline: in the warm-up (BOTS_WARMUP s) every user signs in through the
// development sign-in (AUTH=jwt; the attacker, too, holds a session per
// invented account before the sale opens, so its flood is as fast as it can
// be). At the opening instant the attacker sends its joins, BOTS_ATTACK_VUS
// x BOTS_ATTACK_BATCH in flight at once until every invented id has tried
// once, and the fans join at BOTS_HONEST_RATE a second from the same
// instant, as at a real opening. With the default limits (burst 10 per
// address, then 30 a minute) the attacker gets its burst at once and one
// more place every 2 s after it. So its share of the first N is about
// (10 + seconds the fans take to join / 2) / N: 10 of the first 200 (the
// 5 % bound exactly) when 200 fans join within the first 2 s, 11 or 12 of
// the first 500 when 500 do within 2.5 s (the defaults below). Fans that
// trickle in more slowly face more attacker places ahead of them; that is
// what the per-minute rate allows, and this run does not claim otherwise.
//
// How "the first N admitted" is measured (N = BOTS_HONEST): the line is
// FIFO by issue sequence number (seq). Every new place takes the next seq
// of the queue (1, 2, 3, ..., no gaps: refused joins take none), the
// scheduler always promotes the lowest waiting seq, and here nobody leaves
// or is evicted before teardown (heartbeat and active windows of 10
// minutes). So the first N admitted are exactly the places with seq 1..N,
// whenever the queue gets round to admitting them; the queue admits slowly
// (max_active 10, 2 a second) so the order is what decides. This counts
// every attacker place as kept alive, the worst case for the fans. The seq
// is read from the queue token itself (v1.<base64url queue:user:seq>.<tag>,
// shared/src/token.rs), and counted from both sides:
//   * in teardown, each fan asks for its place again (200 with the same
//     token: asking again is free and takes no new place) and the fans with
//     seq <= N are counted; the attacker holds the rest of the first N, as
//     the queue holds only these two kinds of places. The total number of
//     places, waiting + active from GET /v1/queues/{id}, minus the fans is
//     the attacker's number of places;
//   * each attacker VU counts its own places with seq <= N
//     (attacker_in_first_n), held to the same bound by a threshold.
//
// Asserted (thresholds, and teardown through exec.test.abort):
//   * every fan gets a place (201), at its first try;
//   * the attacker gets only 201 or 429 RATE_LIMITED with Retry-After, and
//     no more places than its budget: issue_burst_per_address +
//     issues_per_minute_per_address x elapsed (from the opening to the
//     teardown, an upper bound of the attack's length; the limits are read
//     back from the queue's settings);
//   * the attacker's share of the first N admitted is at most
//     BOTS_MAX_SHARE_PERCENT (5 %); printed as
//     "bots: attacker share of the first N admitted: X %";
//   * no 5xx, no transport errors; every user was signed in and waiting
//     when the sale opened (else the run proves nothing).
//
// Environment: QUEUE_URL, ADMIN_API_KEY, AUTH (see lib.js), BOTS_INVENTED
// [10000], BOTS_HONEST [500], BOTS_HONEST_RATE fans joining per second
// [200], BOTS_ATTACK_VUS [8], BOTS_ATTACK_BATCH joins in flight per attacker
// VU [8], BOTS_WARMUP seconds from setup to the opening [4 + 1 per 1,000
// invented ids], BOTS_MAX_SHARE_PERCENT [5], BOTS_ATTACKER_ADDRESS
// [198.51.100.66]. The queue is deleted at the end.

import http from 'k6/http';
import { check, sleep } from 'k6';
import exec from 'k6/execution';
import { Counter, Trend } from 'k6/metrics';

import {
  ADMIN_API_KEY,
  QUEUE_URL,
  abortRun,
  code,
  configureQueue,
  envInt,
  envStr,
  issueToken,
  json,
  must,
  runId,
  signInAll,
  tokenClaims,
  userHeaders,
} from './lib.js';

const INVENTED = envInt('BOTS_INVENTED', 10000);
const HONEST = envInt('BOTS_HONEST', 500);
const HONEST_RATE = envInt('BOTS_HONEST_RATE', 200);
const ATTACK_VUS = Math.max(1, Math.min(envInt('BOTS_ATTACK_VUS', 8), INVENTED));
const ATTACK_BATCH = Math.max(1, envInt('BOTS_ATTACK_BATCH', 8));
const WARMUP_S = envInt('BOTS_WARMUP', 4 + Math.ceil(INVENTED / 1000));
const MAX_SHARE_PERCENT = envInt('BOTS_MAX_SHARE_PERCENT', 5);
const ATTACKER_ADDRESS = envStr('BOTS_ATTACKER_ADDRESS', '198.51.100.66');
const HONEST_SPREAD_S = HONEST / HONEST_RATE;
// Most attacker places allowed among the first HONEST.
const MAX_ATTACKER_IN_FIRST = Math.floor((HONEST * MAX_SHARE_PERCENT) / 100);

export const options = {
  scenarios: {
    attacker: {
      executor: 'per-vu-iterations',
      exec: 'attacker',
      vus: ATTACK_VUS,
      iterations: 1,
      maxDuration: `${WARMUP_S + 120 + Math.ceil(INVENTED / 50)}s`,
    },
    fans: {
      executor: 'per-vu-iterations',
      exec: 'fan',
      vus: HONEST,
      iterations: 1,
      maxDuration: `${WARMUP_S + Math.ceil(HONEST_SPREAD_S) + 60}s`,
    },
  },
  // http.batch sends this many requests at once (k6's default is 6 per host).
  batch: 50,
  batchPerHost: 50,
  setupTimeout: '60s',
  teardownTimeout: '120s',
  thresholds: {
    http_req_failed: ['rate==0'], // no 5xx, no transport errors
    checks: ['rate==1'],
    honest_placed: [`count==${HONEST}`],
    honest_refused: ['count==0'],
    attacker_other: ['count==0'], // only 201 or 429 RATE_LIMITED
    attacker_placed: ['count>0'], // the attack really ran into the queue
    attacker_refused: ['count>0'],
    attacker_in_first_n: [`count<=${MAX_ATTACKER_IN_FIRST}`],
    not_ready_at_opening: ['count==0'],
  },
  summaryTrendStats: ['avg', 'med', 'p(95)', 'p(99)', 'max'],
};

const honestPlaced = new Counter('honest_placed');
const honestRefused = new Counter('honest_refused');
const honestInFirst = new Counter('honest_in_first_n');
const attackerPlaced = new Counter('attacker_placed');
const attackerRefused = new Counter('attacker_refused');
const attackerOther = new Counter('attacker_other');
const attackerInFirst = new Counter('attacker_in_first_n');
const notReady = new Counter('not_ready_at_opening');
const honestJoinLag = new Trend('honest_join_lag', true);

const inventedId = (run, i) => `${run}-bot${i}`;
const fanId = (run, i) => `${run}-fan${i}`;
// 100.64.1.1, 100.64.1.2, ... : a distinct address per fan (i < 62,500).
const fanAddress = (i) => `100.64.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`;
const attackerHeaders = { 'X-Forwarded-For': ATTACKER_ADDRESS };

export function setup() {
  if (HONEST > 62500) throw new Error('BOTS_HONEST is at most 62,500 (one 100.64.x.y address each)');
  const run = runId('bots');
  // Default abuse limits: no "limits" in the settings. The answer has every
  // default filled in; the budget is computed from what the queue says.
  const queue = configureQueue(run, {
    max_active: 10,
    admit_per_second: 2,
    active_ttl_seconds: 600,
    heartbeat_ttl_seconds: 600,
  });
  const limits = queue.limits;
  if (!limits || !(limits.issues_per_minute_per_address > 0)) {
    throw new Error(`the queue answered without a per-address limit: ${JSON.stringify(queue)}`);
  }
  const openAt = Date.now() + WARMUP_S * 1000;
  console.log(
    `bots: queue ${run} (default limits ${JSON.stringify(limits)}); at ${new Date(openAt).toISOString()} ` +
      `${INVENTED} invented ids from ${ATTACKER_ADDRESS} and ${HONEST} fans over ${HONEST_SPREAD_S.toFixed(1)} s join`,
  );
  return { run, queueId: run, openAt, limits };
}

function sleepUntil(epochMs) {
  const wait = epochMs - Date.now();
  if (wait > 0) sleep(wait / 1000);
}

/** One attacker VU: its share of the invented ids, pre-signed-in, then flooded. */
export function attacker(data) {
  attackerPlaced.add(0);
  attackerRefused.add(0);
  attackerOther.add(0);
  attackerInFirst.add(0);
  notReady.add(0);
  const k = exec.scenario.iterationInTest;
  const ids = [];
  for (let i = k; i < INVENTED; i += ATTACK_VUS) ids.push(inventedId(data.run, i));
  signInAll(ids, { chunk: 20, headersOf: () => attackerHeaders });
  if (Date.now() > data.openAt) {
    notReady.add(1);
    console.warn(`attacker VU ${k} finished signing in ${Date.now() - data.openAt} ms after the opening (raise BOTS_WARMUP)`);
  }
  sleepUntil(data.openAt);
  const url = `${QUEUE_URL}/v1/queues/${data.queueId}/tokens`;
  for (let start = 0; start < ids.length; start += ATTACK_BATCH) {
    const part = ids.slice(start, start + ATTACK_BATCH);
    const answers = http.batch(
      part.map((user) => ['POST', url, null, { headers: userHeaders(user, attackerHeaders), tags: { name: 'attack_issue' } }]),
    );
    answers.forEach((res, n) => {
      if (res.status === 201) {
        attackerPlaced.add(1);
        const claims = tokenClaims(json(res).token);
        if (claims.userId !== part[n]) attackerOther.add(1);
        if (claims.seq <= HONEST) attackerInFirst.add(1);
      } else if (res.status === 429 && code(res) === 'RATE_LIMITED' && Number(res.headers['Retry-After']) >= 1) {
        attackerRefused.add(1);
      } else {
        attackerOther.add(1);
        console.warn(`attacker join answered ${res.status} ${String(res.body).slice(0, 200)}`);
      }
    });
  }
}

/** One fan: signed in before the opening, joins once at its moment. */
export function fan(data) {
  honestPlaced.add(0);
  honestRefused.add(0);
  honestInFirst.add(0);
  const i = exec.scenario.iterationInTest;
  const user = fanId(data.run, i);
  const headers = { 'X-Forwarded-For': fanAddress(i) };
  signInAll([user], { headersOf: () => headers });
  if (Date.now() > data.openAt) {
    notReady.add(1);
    console.warn(`fan ${i} finished signing in after the opening (raise BOTS_WARMUP)`);
  }
  const joinAt = data.openAt + (i * 1000) / HONEST_RATE;
  sleepUntil(joinAt);
  honestJoinLag.add(Date.now() - joinAt);
  const res = issueToken(data.queueId, user, headers);
  const placed = check(res, {
    'fan gets a place (201)': (r) => r.status === 201,
    'the place is the fan\'s': (r) => r.status === 201 && tokenClaims(json(r).token).userId === user,
  });
  if (!placed) {
    honestRefused.add(1);
    console.warn(`fan ${i} (${fanAddress(i)}) answered ${res.status} ${String(res.body).slice(0, 200)}`);
    return;
  }
  honestPlaced.add(1);
  if (tokenClaims(json(res).token).seq <= HONEST) honestInFirst.add(1);
}

export function teardown(data) {
  const elapsedS = (Date.now() - data.openAt) / 1000;
  const url = `${QUEUE_URL}/v1/queues/${data.queueId}/tokens`;

  // Each fan's place, asked for again (see the header).
  const fans = [];
  for (let i = 0; i < HONEST; i++) fans.push(i);
  const seqs = [];
  const lost = [];
  for (let start = 0; start < HONEST; start += 50) {
    const part = fans.slice(start, start + 50);
    signInAll(part.map((i) => fanId(data.run, i)), { headersOf: (u) => ({ 'X-Forwarded-For': fanAddress(Number(u.split('-fan')[1])) }) });
    const answers = http.batch(
      part.map((i) => [
        'POST',
        url,
        null,
        { headers: userHeaders(fanId(data.run, i), { 'X-Forwarded-For': fanAddress(i) }), tags: { name: 'teardown_place' } },
      ]),
    );
    answers.forEach((res, n) => {
      if (res.status !== 200) {
        lost.push(`fan ${part[n]}: ${res.status} ${String(res.body).slice(0, 120)}`);
        return;
      }
      const claims = tokenClaims(json(res).token);
      if (claims.userId !== fanId(data.run, part[n]) || claims.queueId !== data.queueId) {
        lost.push(`fan ${part[n]}: token for ${claims.queueId}/${claims.userId}`);
        return;
      }
      seqs.push(claims.seq);
    });
  }

  const deleteQueue = () => {
    const del = http.del(`${QUEUE_URL}/v1/admin/queues/${data.queueId}`, null, {
      headers: { Authorization: `Bearer ${ADMIN_API_KEY}` },
      tags: { name: 'admin_delete_queue' },
    });
    if (del.status !== 204) console.warn(`deleting queue ${data.queueId} answered ${del.status}`);
  };
  if (lost.length > 0) {
    deleteQueue();
    abortRun(
      `${lost.length} of ${HONEST} fans hold no place (${lost.slice(0, 3).join('; ')}); ` +
        'if they were refused 429, the stack does not trust this host as a proxy (TRUSTED_PROXIES)',
    );
    return;
  }

  const stats = must(http.get(`${QUEUE_URL}/v1/queues/${data.queueId}`, { tags: { name: 'teardown_stats' } }), 200, 'queue stats');
  const places = stats.waiting + stats.active;
  const attackerPlaces = places - HONEST;
  const limits = data.limits;
  const budget = limits.issue_burst_per_address + (limits.issues_per_minute_per_address * elapsedS) / 60;
  const fansFirst = seqs.filter((s) => s <= HONEST).length;
  const attackerFirst = Math.min(HONEST, places) - fansFirst;
  const share = (100 * attackerFirst) / HONEST;

  console.log(
    `bots: ${INVENTED} invented ids from ${ATTACKER_ADDRESS} over ${elapsedS.toFixed(1)} s: ${attackerPlaces} placed ` +
      `(budget ${budget.toFixed(1)} = ${limits.issue_burst_per_address} + ${limits.issues_per_minute_per_address}/min x ${elapsedS.toFixed(1)} s), ` +
      `${INVENTED - attackerPlaces} refused; ${seqs.length}/${HONEST} fans hold a place; ${places} places in line`,
  );
  console.log(`bots: attacker share of the first ${HONEST} admitted: ${share.toFixed(1)} % (${attackerFirst} places)`);

  // Clean up before judging, so a failed run leaves nothing behind either.
  deleteQueue();

  if (new Set(seqs).size !== seqs.length || seqs.some((s) => !(s >= 1 && s <= places))) {
    abortRun(`fan sequence numbers are not distinct places 1..${places}`);
  }
  if (attackerPlaces < 0) abortRun(`${places} places in line, fewer than the ${HONEST} fans`);
  if (attackerPlaces > budget) abortRun(`the attacker holds ${attackerPlaces} places, more than its budget ${budget.toFixed(1)}`);
  if (share > MAX_SHARE_PERCENT) abortRun(`the attacker holds ${share.toFixed(1)} % of the first ${HONEST} places (limit ${MAX_SHARE_PERCENT} %)`);
}
