// Headless-Chromium test of the demo page (deploy/web) against the real
// services in JWT mode with the development sign-in (AUTH_DEV_SIGNIN=true).
// Run through scripts/browser-test.sh, which starts the stack; or directly
// with the URLs of a running one:
//
//   QUEUE_URL=http://127.0.0.1:8081 API_URL=http://127.0.0.1:8082 \
//   WEB_URL=http://127.0.0.1:8080 node --test tests/browser/demo.test.mjs
//
// Stories:
// 1. User A signs in and joins a line that is full, sees a position, is
//    admitted, holds seat 1, is refused payment for lack of money (402),
//    tops up (the first top-up meets an expired sign-in, the page signs in
//    again and repeats it), pays (the first answer is lost in transit and
//    the page's retry with the same Idempotency-Key is answered from the
//    stored result, charging once), and sees "confirmed". User B, whose seat
//    grid was loaded before A bought, tries seat 1 and is told it was taken
//    (409). B's place is then ended behind its back, and the page says so
//    (410) and offers to rejoin. The page sends bearer tokens only, keeps
//    them out of storage, and waits out a refused heartbeat (429).
// 2. Proof of work: the page solves 18- and 20-bit challenges in its worker
//    (FIGURE lines give the time), fetches one fresh challenge after
//    POW_EXPIRED, and can cancel a long one.
// 3. A refused join (429, or 503 for a full line) says when to retry; a
//    disabled sign-in (404) says what the page needs; ?auth=header sends
//    X-User-Id instead of a token.
// 4. The whole purchase on a 390×844 phone: the 402 message appears in view.
// 5. A sale with an opening (opens_at), one page on a desktop and one on a
//    phone: before it both are in the draw (no position, a countdown, "keep
//    this tab open", the draw's commitment); at it the draw orders them, one
//    is admitted and the other waits at #1 with the seats left; each holds a
//    seat (price on the seat map, "pay by" the hold's expiry), is refused
//    for lack of money (on the phone the message is by the Pay button),
//    tops up and pays.
// 6. Sold out, on a desktop and on a phone: while the last seat is held the
//    waiting page says seats may come back; once it is paid the page says
//    sold out and polls no more; a newcomer's join is refused (409 SOLD_OUT).
// Screenshots go to target/browser/.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

// The page's own solver. Loaded as source: deploy/web has no package.json
// to tell older Node versions that its .js files are ES modules.
const { PowSearch, sha256 } = await import(
  `data:text/javascript,${encodeURIComponent(await readFile(new URL('../../deploy/web/pow.js', import.meta.url), 'utf8'))}`
);

const here = path.dirname(fileURLToPath(import.meta.url));
const QUEUE_URL = (process.env.QUEUE_URL || 'http://127.0.0.1:8081').replace(/\/+$/, '');
const API_URL = (process.env.API_URL || 'http://127.0.0.1:8082').replace(/\/+$/, '');
const WEB_URL = (process.env.WEB_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '');
const ADMIN_API_KEY = process.env.ADMIN_API_KEY || 'dev-admin-key-change-me';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const OUT_DIR = process.env.SCREENSHOT_DIR || path.resolve(here, '../../target/browser');
const STEP_TIMEOUT_MS = 30_000;
const WEB_ORIGIN = new URL(WEB_URL).origin;

const suffix = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 7)}`;
const PRICE = 5_000;
const HEARTBEAT_TTL_SECONDS = 9; // an active page polls every 3 s

let browser;
const pageErrors = [];
const queuesMade = [];

// ------------------------------------------------------------ API helpers

async function http(base, method, urlPath, { headers = {}, body } = {}) {
  const init = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(base + urlPath, init);
  } catch (err) {
    throw new Error(`${method} ${base}${urlPath}: cannot connect (${err.cause?.code || err.message})`);
  }
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = text;
  }
  return { status: res.status, data };
}

async function expectStatus(promise, expected, what) {
  const res = await promise;
  assert.ok(
    (Array.isArray(expected) ? expected : [expected]).includes(res.status),
    `${what}: expected HTTP ${expected}, got ${res.status} ${JSON.stringify(res.data)}`,
  );
  return res.data;
}

const admin = { Authorization: `Bearer ${ADMIN_API_KEY}` };

/** The test's own user calls carry a bearer token from the dev sign-in. */
async function bearer(userId) {
  const res = await http(QUEUE_URL, 'POST', '/v1/dev/sign-in', { body: { user_id: userId } });
  assert.notEqual(res.status, 404, 'the development sign-in is off: start the stack with AUTH_DEV_SIGNIN=true');
  assert.equal(res.status, 200, `dev sign-in for ${userId}: ${res.status} ${JSON.stringify(res.data)}`);
  return { Authorization: `Bearer ${res.data.access_token}` };
}

function configureQueue(queueId, maxActive, extra = {}) {
  if (!queuesMade.includes(queueId)) queuesMade.push(queueId);
  return expectStatus(
    http(QUEUE_URL, 'PUT', `/v1/admin/queues/${queueId}`, {
      headers: admin,
      body: {
        max_active: maxActive,
        admit_per_second: 50,
        active_ttl_seconds: 600,
        heartbeat_ttl_seconds: HEARTBEAT_TTL_SECONDS,
        ...extra,
      },
    }),
    [200, 201, 204],
    `configure queue ${queueId}`,
  );
}

async function createConcert(queueId, seatCount) {
  const now = Date.now();
  const iso = (ms) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
  const concert = await expectStatus(
    http(API_URL, 'POST', '/v1/admin/concerts', {
      headers: admin,
      body: {
        title: `Browser Test ${queueId}`,
        queue_id: queueId,
        schedules: [
          {
            starts_at: iso(now + 2 * 86_400_000),
            booking_opens_at: iso(now - 3_600_000),
            booking_closes_at: iso(now + 86_400_000),
            seat_count: seatCount,
            price: PRICE,
          },
        ],
      },
    }),
    201,
    'create the concert',
  );
  return concert.schedules[0];
}

async function waitFor(what, fn, timeoutMs = STEP_TIMEOUT_MS, intervalMs = 250) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await fn();
    if (last) return last;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------ page helpers

const DESKTOP = { viewport: { width: 1000, height: 1100 } };
const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };

async function openPage(name, queueId, { device = DESKTOP, query = {} } = {}) {
  const context = await browser.newContext(device);
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  page.on('pageerror', (err) => pageErrors.push(`${name}: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') pageErrors.push(`${name} console: ${msg.text()}`);
  });
  const url = `${WEB_URL}/?${new URLSearchParams({ queue_id: queueId, queue_url: QUEUE_URL, api_url: API_URL, ...query })}`;
  await page.goto(url);
  return page;
}

const byTestId = (page, id) => page.locator(`[data-testid="${id}"]`);

/** Every status line with text, as "[section CODE] text". */
async function messagesOf(page) {
  return page.$$eval('[role="status"]', (boxes) =>
    boxes.filter((b) => b.textContent).map((b) => `[${b.id} ${b.dataset.code}] ${b.textContent}`).join(' | '),
  );
}

/** Waits until a status line (in `section`, or any) shows `code`; returns its text and section. */
async function waitForMessage(page, code, what, section = null) {
  const selector = section ? `[data-testid="${section}-message"][data-code="${code}"]` : `[role="status"][data-code="${code}"]`;
  try {
    const box = await page.waitForSelector(selector, { timeout: STEP_TIMEOUT_MS });
    return { text: (await box.textContent()) || '', section: (await box.getAttribute('id')).replace(/-message$/, ''), box };
  } catch {
    throw new Error(`${what}: expected message code ${code}${section ? ` in ${section}` : ''}, page shows ${await messagesOf(page)}`);
  }
}

async function waitForStatus(page, status, what) {
  try {
    await page.waitForSelector(`#queue-section[data-status="${status}"]`, { timeout: STEP_TIMEOUT_MS });
  } catch {
    throw new Error(`${what}: queue status never became "${status}"; page shows ${await messagesOf(page)}`);
  }
}

async function signInAndJoin(page, userId, { explicit = false } = {}) {
  await byTestId(page, 'user-id').fill(userId);
  if (explicit) {
    await byTestId(page, 'sign-in').click();
    await page.waitForSelector(`[data-testid="signed-in"][data-user="${userId}"]`);
  }
  await byTestId(page, 'join').click();
}

async function shot(page, name, { fullPage = true } = {}) {
  const file = path.join(OUT_DIR, name);
  await page.screenshot({ path: file, fullPage });
  console.log(`# screenshot ${path.relative(process.cwd(), file)}`);
}

/** Collects the Idempotency-Key of every request to a path on a page. */
function recordKeys(page, pathPart) {
  const keys = [];
  page.on('request', (req) => {
    if (req.method() === 'POST' && req.url().includes(pathPart)) keys.push(req.headers()['idempotency-key']);
  });
  return keys;
}

/** Records how the page identifies the user on every call to the services. */
function recordIdentity(page) {
  const calls = [];
  page.on('request', async (req) => {
    const url = req.url();
    if (req.method() === 'OPTIONS' || !(url.startsWith(QUEUE_URL) || url.startsWith(API_URL))) return;
    const h = await req.allHeaders();
    calls.push({ what: `${req.method()} ${new URL(url).pathname}`, authorization: h.authorization || '', userIdHeader: h['x-user-id'] });
  });
  return calls;
}

/** A made-up problem answer the browser accepts cross-origin. */
function problem(status, code, detail, headers = {}) {
  return {
    status,
    headers: {
      'content-type': 'application/problem+json',
      'access-control-allow-origin': WEB_ORIGIN,
      'access-control-expose-headers': 'retry-after',
      ...headers,
    },
    body: JSON.stringify({ type: 'about:blank', title: code, status, detail, code }),
  };
}

/** Whether an element lies wholly inside the viewport. */
function inViewport(page, selector) {
  return page.$eval(selector, (el) => {
    const r = el.getBoundingClientRect();
    return { top: Math.round(r.top), bottom: Math.round(r.bottom), height: innerHeight, inside: r.height > 0 && r.top >= 0 && r.bottom <= innerHeight };
  });
}

function assertNoPageErrors(what) {
  // Refusals the stories provoke are logged by the browser as failed loads.
  const unexpected = pageErrors.splice(0).filter((e) => !/status of (40[1-4]|409|410|429|503)/.test(e));
  assert.deepEqual(unexpected, [], `no script errors on the pages (${what})`);
}

// ------------------------------------------------------------ the tests

before(async () => {
  await mkdir(OUT_DIR, { recursive: true });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
});

after(async () => {
  await browser?.close();
  // Best effort: the queues this run made (concerts stay, as before).
  await Promise.allSettled(queuesMade.map((q) => http(QUEUE_URL, 'DELETE', `/v1/admin/queues/${q}`, { headers: admin })));
});

test('the page\'s SHA-256 and proof-of-work search agree with node:crypto', () => {
  for (let len = 0; len < 200; len++) {
    const bytes = Uint8Array.from({ length: len }, (_, i) => (i * 131 + len * 7) & 0xff);
    assert.equal(Buffer.from(sha256(bytes)).toString('hex'), createHash('sha256').update(bytes).digest('hex'), `length ${len}`);
  }
  // Every prefix length modulo 64, so both layouts of the last block are used.
  for (let len = 1; len <= 130; len++) {
    const challenge = `p1.${'x'.repeat(len)}.tag`;
    const search = new PowSearch(challenge, 10);
    let solution;
    while (!(solution = search.run(100_000)));
    assert.match(solution, /^[A-Za-z0-9]{1,32}$/);
    const digest = createHash('sha256').update(`${challenge}:${solution}`).digest();
    assert.ok(digest[0] === 0 && digest[1] < 0x40, `challenge length ${len}: ${solution} gives ${digest.toString('hex')}`);
  }
});

test('demo page: waiting → active → 402 → top-up → paid (lost answer recovered); a second user sees the seat taken and the line left', { timeout: 240_000 }, async (t) => {
  const queueId = `browser-${suffix}`;
  const userA = `alice-${suffix}`;
  const userB = `bob-${suffix}`;
  const blocker = `blocker-${suffix}`;
  let schedule;
  let seat1;
  let pageA;
  let pageB;
  let tokenB;
  let identityA;
  let blockerTimer;
  t.after(() => clearInterval(blockerTimer));

  await t.test('set up a full queue and a small concert through the admin API', async () => {
    await configureQueue(queueId, 1);
    schedule = await createConcert(queueId, 12);
    const seats = await expectStatus(http(API_URL, 'GET', `/v1/schedules/${schedule.id}/seats`), 200, 'list seats');
    seat1 = seats.find((s) => s.number === 1);
    assert.ok(seat1, 'seat number 1 exists');
    assert.equal(seat1.status, 'available');
    // Someone else takes the only active slot, so A has to wait.
    const asBlocker = await bearer(blocker);
    const issued = await expectStatus(
      http(QUEUE_URL, 'POST', `/v1/queues/${queueId}/tokens`, { headers: asBlocker }),
      201,
      'issue the blocker token',
    );
    const heartbeat = () =>
      http(QUEUE_URL, 'POST', `/v1/queues/${queueId}/heartbeat`, {
        headers: { ...asBlocker, 'X-Queue-Token': issued.token },
      });
    await waitFor('the blocker to be admitted', async () => {
      const hb = await heartbeat();
      return hb.status === 200 && hb.data.status === 'active';
    });
    // Keep the blocker alive (its heartbeat TTL is short) until room is made.
    blockerTimer = setInterval(() => heartbeat().catch(() => {}), 2_000);
  });

  await t.test('A signs in, joins and waits in line with a position and a progress bar', async () => {
    pageA = await openPage('A', queueId);
    identityA = recordIdentity(pageA);
    await signInAndJoin(pageA, userA, { explicit: true });
    await waitForStatus(pageA, 'waiting', 'A after joining');
    assert.equal((await byTestId(pageA, 'position').textContent()).trim(), '#1');
    assert.match(await byTestId(pageA, 'eta').textContent(), /about|—/);
    await shot(pageA, 'waiting.png');
  });

  await t.test('a refused heartbeat (429) is waited out: the next one comes after Retry-After', async () => {
    const times = [];
    let refused = false;
    await pageA.route(`**/v1/queues/${queueId}/heartbeat`, async (route) => {
      times.push(Date.now());
      if (refused) return route.fallback();
      refused = true;
      return route.fulfill(problem(429, 'RATE_LIMITED', 'polled sooner than poll_after_ms advised', { 'retry-after': '4' }));
    });
    const m = await waitForMessage(pageA, 'RATE_LIMITED', 'A after a refused heartbeat', 'queue');
    assert.match(m.text, /check less often/);
    await waitFor('the heartbeat after the refused one', () => times.length >= 2, 15_000, 100);
    await pageA.unroute(`**/v1/queues/${queueId}/heartbeat`);
    const gap = times[1] - times[0];
    assert.ok(gap >= 3_900, `the page waited ${gap} ms after Retry-After: 4`);
    await waitFor('the message to clear after a good heartbeat', async () => !(await byTestId(pageA, 'queue-message').textContent()));
    await waitForStatus(pageA, 'waiting', 'A still waiting');
  });

  await t.test('B joins behind A (signing in on the way)', async () => {
    pageB = await openPage('B', queueId);
    pageB.on('response', async (res) => {
      if (res.url().endsWith(`/v1/queues/${queueId}/tokens`) && res.request().method() === 'POST' && res.ok()) {
        tokenB = (await res.json()).token;
      }
    });
    await signInAndJoin(pageB, userB);
    await waitForStatus(pageB, 'waiting', 'B after joining');
    assert.equal((await byTestId(pageB, 'position').textContent()).trim(), '#2');
    assert.equal(await byTestId(pageB, 'signed-in').getAttribute('data-user'), userB);
  });

  await t.test('more room: both are admitted and see the seat grid', async () => {
    await configureQueue(queueId, 5);
    clearInterval(blockerTimer);
    for (const [name, page] of [['A', pageA], ['B', pageB]]) {
      await waitForStatus(page, 'active', `${name} after the queue grew`);
      try {
        await page.waitForSelector('[data-testid="seat-1"][data-status="available"]:not([disabled])');
      } catch {
        throw new Error(`${name}: seat 1 never showed as available; page shows ${await messagesOf(page)}`);
      }
    }
    assert.equal(await byTestId(pageA, 'seats').locator('button').count(), 12);
  });

  await t.test('A holds seat 1, is refused payment without money (402), tops up through an expired sign-in', async () => {
    await byTestId(pageA, 'seat-1').click();
    await pageA.waitForSelector('[data-testid="seat-1"][data-status="mine"]');
    assert.match(await byTestId(pageA, 'hold').textContent(), /Seat 1 held/);
    await byTestId(pageA, 'pay').click();
    const m = await waitForMessage(pageA, 'INSUFFICIENT_BALANCE', 'A paying with an empty balance', 'pay');
    assert.match(m.text, /Insufficient balance/);
    assert.equal(await byTestId(pageA, 'charge-amount').inputValue(), String(PRICE));

    // The first top-up meets an expired token: the page signs in again once
    // and repeats the call with the same Idempotency-Key.
    const signIns = [];
    pageA.on('request', (req) => req.url().endsWith('/v1/dev/sign-in') && signIns.push(req.url()));
    const chargeKeys = recordKeys(pageA, '/balance/charges');
    let expired = false;
    await pageA.route('**/v1/users/me/balance/charges', (route) => {
      if (expired || route.request().method() !== 'POST') return route.fallback();
      expired = true;
      return route.fulfill(problem(401, 'JWT_EXPIRED', 'the bearer token has expired'));
    });
    await byTestId(pageA, 'charge').click();
    await pageA.waitForFunction(
      (want) => document.querySelector('[data-testid="balance"]').textContent === want,
      PRICE.toLocaleString('en-US'),
    );
    await waitForMessage(pageA, 'CHARGED', 'A after the top-up', 'pay');
    assert.equal(signIns.length, 1, 'one new sign-in after JWT_EXPIRED');
    assert.equal(chargeKeys.length, 2, 'the top-up was sent twice');
    assert.equal(chargeKeys[0], chargeKeys[1], 'with the same Idempotency-Key');
    await pageA.unroute('**/v1/users/me/balance/charges');
  });

  await t.test('A pays; the first answer is lost, the retry reuses the key and is charged once', async () => {
    const keys = recordKeys(pageA, '/payment');
    // Let the first payment reach the server, then pretend the answer was lost.
    let intercepted = false;
    await pageA.route('**/v1/reservations/*/payment', async (route) => {
      if (intercepted || route.request().method() !== 'POST') return route.fallback();
      intercepted = true;
      const real = await route.fetch();
      assert.equal(real.status(), 200, `the real first payment answered ${real.status()}`);
      await route.fulfill({
        status: 503,
        headers: { ...real.headers(), 'content-type': 'application/problem+json' },
        body: JSON.stringify({ type: 'about:blank', title: 'Service Unavailable', status: 503, detail: 'lost in transit', code: 'UNAVAILABLE' }),
      });
    });
    await byTestId(pageA, 'pay').click();
    const lost = await waitForMessage(pageA, 'UNAVAILABLE', 'A after a lost payment answer', 'pay');
    assert.match(lost.text, /temporarily unavailable/);
    assert.match(lost.text, /Retrying is safe/);
    assert.equal((await byTestId(pageA, 'payment-status').textContent()).trim(), 'not paid');
    assert.equal((await byTestId(pageA, 'pay').textContent()).trim(), 'Retry payment');
    // No click: the payment that went through completed the queue token, so
    // the page's next heartbeat gets 410; the page must then ask again with
    // the same key (rather than drop the hold) and learn it was paid.
    await waitForMessage(pageA, 'CONFIRMED', 'A after its token was completed by the lost payment', 'pay');
    assert.equal((await byTestId(pageA, 'payment-status').textContent()).trim(), 'confirmed');
    assert.equal(keys.length, 2, 'two payment requests were sent');
    assert.ok(keys[0] && keys[0] === keys[1], `the retry reused the Idempotency-Key (${keys.join(' vs ')})`);
    const balance = await expectStatus(
      http(API_URL, 'GET', '/v1/users/me/balance', { headers: await bearer(userA) }),
      200,
      "read A's balance",
    );
    assert.equal(balance.balance, 0, 'A paid exactly once');
    const seats = await expectStatus(http(API_URL, 'GET', `/v1/schedules/${schedule.id}/seats`), 200, 'list seats');
    assert.equal(seats.find((s) => s.id === seat1.id).status, 'sold');
    assert.equal(seats.filter((s) => s.status === 'sold').length, 1, 'exactly one seat sold');
    await pageA.waitForSelector('[data-testid="seat-1"][data-status="mine"][aria-label*="yours"]');
    await shot(pageA, 'paid.png');
  });

  await t.test("A's page identified A by bearer token only, and kept it out of storage", async () => {
    const userCalls = identityA.filter((c) => !/\/v1\/dev\/sign-in$|^GET \/v1\/(concerts|schedules)/.test(c.what));
    assert.ok(userCalls.length >= 8, `user calls seen: ${userCalls.map((c) => c.what).join(', ')}`);
    for (const c of userCalls) {
      assert.match(c.authorization, /^Bearer ey[\w-]+\.[\w-]+\.[\w-]+$/, `${c.what} carries a bearer JWT`);
      assert.equal(c.userIdHeader, undefined, `${c.what} carries no X-User-Id`);
    }
    const stored = await pageA.evaluate(() => JSON.stringify({ local: { ...localStorage }, session: { ...sessionStorage }, cookie: document.cookie }));
    assert.doesNotMatch(stored, /eyJ/, `no token in storage: ${stored}`);
  });

  await t.test('B, whose grid still shows seat 1 free, tries it and is told it is taken (409)', async () => {
    assert.equal(await byTestId(pageB, 'seat-1').getAttribute('data-status'), 'available', "B's grid was loaded before A bought");
    await byTestId(pageB, 'seat-1').click();
    const m = await waitForMessage(pageB, 'SEAT_UNAVAILABLE', 'B holding the sold seat', 'seats');
    assert.match(m.text, /taken/);
    await pageB.waitForSelector('[data-testid="seat-1"][data-status="sold"][disabled]');
    assert.equal(await byTestId(pageB, 'pay-section').isVisible(), false, 'B holds nothing');
    await shot(pageB, 'seat-taken.png');
  });

  await t.test("B's place ends behind its back: the page says so (410) and B rejoins", async () => {
    assert.ok(tokenB, "B's queue token was seen");
    await expectStatus(
      http(QUEUE_URL, 'DELETE', `/v1/queues/${queueId}/tokens/me`, { headers: { ...(await bearer(userB)), 'X-Queue-Token': tokenB } }),
      204,
      "end B's place",
    );
    const m = await waitForMessage(pageB, 'TOKEN_EXPIRED', 'B after its token ended', 'queue');
    assert.match(m.text, /no longer in the line/);
    assert.equal(await byTestId(pageB, 'rejoin').isVisible(), true);
    await shot(pageB, 'left-line.png');
    await byTestId(pageB, 'rejoin').click();
    await waitForStatus(pageB, 'active', 'B after rejoining');
  });

  await pageA?.context().close();
  await pageB?.context().close();
  assertNoPageErrors('the main story');
});

test('proof of work: the page solves 18 and 20 bits in its worker, retries one expired challenge, and can cancel', { timeout: 240_000 }, async (t) => {
  const queueId = `browser-pow-${suffix}`;

  /** Joins as a new user; returns the pow panel's record and the states it went through. */
  async function solveAndJoin(name, { beforeJoin } = {}) {
    const page = await openPage(name, queueId);
    await page.evaluate(() => {
      // Every state the panel passes through, with its text at the time.
      const panel = document.querySelector('[data-testid="pow"]');
      window.powSeen = [];
      new MutationObserver(() =>
        window.powSeen.push({ state: panel.dataset.state, hashes: Number(panel.dataset.hashes), text: panel.textContent, visible: !panel.hidden }),
      ).observe(panel, { attributes: true, childList: true, subtree: true, characterData: true });
    });
    await beforeJoin?.(page);
    await signInAndJoin(page, `${name}-${suffix}`);
    try {
      await page.waitForSelector('#queue-section[data-status="waiting"], #queue-section[data-status="active"]', { timeout: 120_000 });
    } catch {
      throw new Error(`${name}: never joined; page shows ${await messagesOf(page)}`);
    }
    const result = await byTestId(page, 'pow').evaluate((p) => ({ ...p.dataset, text: p.textContent, visible: !p.hidden }));
    const seen = await page.evaluate(() => window.powSeen);
    return { page, result, seen };
  }

  function figure(bits, result) {
    const ms = Number(result.ms);
    const hashes = Number(result.hashes);
    console.log(`FIGURE pow solve at ${bits} bits: ${ms} ms (${hashes} hashes)`);
    console.log(`# ${bits} bits: worker compute ${result.workerMs} ms, ${(hashes / Number(result.workerMs) / 1000).toFixed(2)} million hashes/s`);
  }

  await t.test('18 bits: progress is shown, then the page joins', async () => {
    await configureQueue(queueId, 5, { heartbeat_ttl_seconds: 60, pow_difficulty_bits: 18 });
    const { page, result, seen } = await solveAndJoin('carol');
    assert.equal(result.state, 'solved');
    assert.equal(result.bits, '18');
    assert.ok(result.visible, 'the panel stays up with the outcome');
    assert.match(result.text, /solved in [\d.]+ s: [\d,]+ hashes/);
    const solving = seen.filter((s) => s.state === 'solving' && s.visible);
    assert.ok(solving.length > 0, 'the panel showed the work in progress');
    assert.match(solving[0].text, /hashes tried .*2\^18 = 262,144 hashes on average/);
    figure(18, result);
    await shot(page, 'pow-solved.png');
    await page.context().close();
  });

  await t.test('a solved challenge refused as expired (POW_EXPIRED) is replaced by one fresh challenge', async () => {
    const challenges = [];
    let faked = false;
    const { page, result } = await solveAndJoin('erin', {
      beforeJoin: (page) => {
        page.on('request', (req) => req.url().endsWith('/challenges') && req.method() === 'POST' && challenges.push(req.url()));
        return page.route(`**/v1/queues/${queueId}/tokens`, async (route) => {
          const proof = (await route.request().allHeaders())['x-pow-challenge'];
          if (!proof || faked) return route.fallback();
          faked = true;
          return route.fulfill(problem(403, 'POW_EXPIRED', 'the proof-of-work challenge has expired; ask for a new one'));
        });
      },
    });
    assert.ok(faked, 'the first solved join was answered POW_EXPIRED');
    assert.equal(challenges.length, 2, 'a second challenge was fetched');
    assert.equal(result.state, 'solved');
    await page.context().close();
  });

  await t.test('20 bits', async () => {
    await configureQueue(queueId, 5, { heartbeat_ttl_seconds: 60, pow_difficulty_bits: 20 });
    const { page, result } = await solveAndJoin('dave');
    assert.equal(result.state, 'solved');
    assert.equal(result.bits, '20');
    figure(20, result);
    await page.context().close();
  });

  await t.test('a long search shows hashes, speed and the expected work, and Cancel stops it', async () => {
    await configureQueue(queueId, 5, { heartbeat_ttl_seconds: 60, pow_difficulty_bits: 26 });
    const page = await openPage('frank', queueId);
    // Even 26 bits end within the first second about once in 60 runs; the
    // challenge's answer says 40 bits so the search surely outlasts the clicks.
    await page.route(`**/v1/queues/${queueId}/challenges`, async (route) => {
      const real = await route.fetch();
      const body = await real.json();
      assert.equal(body.difficulty_bits, 26, 'the service asks the configured 26 bits');
      await route.fulfill({ response: real, json: { ...body, difficulty_bits: 40 } });
    });
    const joins = [];
    page.on('request', (req) => req.url().endsWith(`/v1/queues/${queueId}/tokens`) && joins.push(req.headers()['x-pow-challenge'] || ''));
    await signInAndJoin(page, `frank-${suffix}`);
    await page.waitForFunction(() => Number(document.querySelector('[data-testid="pow"]').dataset.hashes) > 100_000);
    assert.equal(await byTestId(page, 'pow').getAttribute('data-state'), 'solving');
    const text = await byTestId(page, 'pow-text').textContent();
    assert.match(text, /[\d,]+ hashes tried in [\d.]+ s \([\d.]+ million\/s\)\. A solution takes about 2\^40 = 1,099,511,627,776 hashes on average ≈/);
    await shot(page, 'pow-progress.png', { fullPage: false });
    await byTestId(page, 'pow-cancel').click();
    await page.waitForSelector('[data-testid="pow"][data-state="cancelled"]');
    const m = await waitForMessage(page, 'POW_CANCELLED', 'after cancelling', 'join');
    assert.match(m.text, /did not join/);
    assert.equal(await byTestId(page, 'join').isEnabled(), true, 'one can join again');
    assert.equal(await byTestId(page, 'queue-section').isVisible(), false);
    assert.deepEqual(joins, [''], 'no join with a proof was sent');
    await page.context().close();
  });

  assertNoPageErrors('proof of work');
});

test('a refused join (429, or 503 for a full line) says when to retry; a disabled sign-in (404) says what the page needs', { timeout: 120_000 }, async () => {
  const queueId = `browser-limit-${suffix}`;
  // One new place per minute from one address: the test's own join (from
  // 127.0.0.1, like the browser) uses it up.
  await configureQueue(queueId, 5, {
    heartbeat_ttl_seconds: 60,
    limits: { issues_per_minute_per_address: 1, issue_burst_per_address: 1, issues_per_minute_per_user: 6, issue_burst_per_user: 3, min_poll_interval_percent: 50 },
  });
  await expectStatus(
    http(QUEUE_URL, 'POST', `/v1/queues/${queueId}/tokens`, { headers: await bearer(`first-${suffix}`) }),
    201,
    'the first place from this address',
  );
  const page = await openPage('G', queueId);
  await signInAndJoin(page, `gina-${suffix}`);
  const m = await waitForMessage(page, 'RATE_LIMITED', 'G joining from a busy address', 'join');
  assert.match(m.text, /Too many new places from your network; retry in \d+ s\./);
  assert.equal(await byTestId(page, 'join').isDisabled(), true, 'the join button waits out Retry-After');
  assert.match(await byTestId(page, 'join').textContent(), /retry in \d+ s/);
  await shot(page, 'join-rate-limited.png', { fullPage: false });
  await page.context().close();

  // A full line (max_waiting) answers 503 QUEUE_FULL with Retry-After.
  const fullId = `browser-full-${suffix}`;
  await configureQueue(fullId, 1, { heartbeat_ttl_seconds: 60, max_waiting: 1 });
  await expectStatus(
    http(QUEUE_URL, 'POST', `/v1/queues/${fullId}/tokens`, { headers: await bearer(`holder-${suffix}`) }),
    201,
    'the active place',
  );
  const asWaiter = await bearer(`waiter-${suffix}`);
  // Refused (and not counted) until the scheduler has admitted the first.
  await waitFor('the one waiting place', async () => (await http(QUEUE_URL, 'POST', `/v1/queues/${fullId}/tokens`, { headers: asWaiter })).status === 201);
  const full = await openPage('F', fullId);
  await signInAndJoin(full, `fay-${suffix}`);
  const mFull = await waitForMessage(full, 'QUEUE_FULL', 'F joining a full line', 'join');
  assert.match(mFull.text, /The line is full right now; retry in \d+ s\./);
  assert.equal(await byTestId(full, 'join').isDisabled(), true);
  await full.context().close();

  // A stack without AUTH_DEV_SIGNIN answers the sign-in with 404.
  const off = await openPage('H', queueId);
  await off.route('**/v1/dev/sign-in', (route) => route.fulfill(problem(404, 'NOT_FOUND', 'no such resource')));
  await signInAndJoin(off, `hank-${suffix}`);
  const m2 = await waitForMessage(off, 'DEV_SIGNIN_DISABLED', 'H with the sign-in off', 'join');
  assert.match(m2.text, /AUTH_DEV_SIGNIN=true/);
  assert.match(m2.text, /identity provider/);
  assert.equal(await byTestId(off, 'queue-section').isVisible(), false);
  await off.context().close();

  // ?auth=header sends X-User-Id and no bearer token (this JWT stack refuses it).
  const gateway = await openPage('I', queueId, { query: { auth: 'header' } });
  const identity = recordIdentity(gateway);
  await signInAndJoin(gateway, `ivy-${suffix}`);
  const m3 = await waitForMessage(gateway, 'JWT_MISSING', 'I in header mode against a JWT stack', 'join');
  assert.match(m3.text, /sign-in is missing/);
  const join = identity.find((c) => c.what.endsWith('/tokens'));
  assert.equal(join?.userIdHeader, `ivy-${suffix}`);
  assert.equal(join?.authorization, '');
  await gateway.context().close();
  assertNoPageErrors('refusals');
});

test('phone (390×844): the whole purchase, and the 402 message appears in view', { timeout: 120_000 }, async () => {
  const queueId = `browser-phone-${suffix}`;
  await configureQueue(queueId, 5);
  await createConcert(queueId, 12);
  const page = await openPage('phone', queueId, { device: PHONE });
  await signInAndJoin(page, `pia-${suffix}`, { explicit: true });
  await waitForStatus(page, 'active', 'the phone user after joining');
  await page.waitForSelector('[data-testid="seat-3"][data-status="available"]:not([disabled])');
  await byTestId(page, 'seat-3').click();
  await page.waitForSelector('[data-testid="seat-3"][data-status="mine"]');

  await byTestId(page, 'pay').click();
  const refused = await waitForMessage(page, 'INSUFFICIENT_BALANCE', 'paying on the phone', 'pay');
  assert.match(refused.text, /Insufficient balance/);
  const where = await inViewport(page, '[data-testid="pay-message"]');
  assert.ok(where.inside, `the 402 message is in the viewport (top ${where.top}, bottom ${where.bottom}, viewport ${where.height})`);
  assert.ok((await inViewport(page, '[data-testid="pay"]')).inside, 'and so is the Pay button');
  await shot(page, 'phone-402.png', { fullPage: false });

  await byTestId(page, 'charge').click();
  await waitForMessage(page, 'CHARGED', 'topping up on the phone', 'pay');
  await byTestId(page, 'pay').click();
  await waitForMessage(page, 'CONFIRMED', 'paying again on the phone', 'pay');
  assert.ok((await inViewport(page, '[data-testid="pay-message"]')).inside, 'the confirmation is in view');
  assert.equal((await byTestId(page, 'payment-status').textContent()).trim(), 'confirmed');
  await shot(page, 'phone-paid.png', { fullPage: false });
  await page.context().close();
  assertNoPageErrors('phone');
});

// ------------------------------------------------------------ the sale's whole life

/** Holds seat `number` on a page, tops up what it costs, pays; checks the messages stay by the buttons. */
async function buySeat(page, number, { phone = false } = {}) {
  await page.waitForSelector(`[data-testid="seat-${number}"][data-status="available"]:not([disabled])`);
  assert.equal((await byTestId(page, `seat-${number}`).locator('[data-testid="seat-price"]').textContent()).trim(), PRICE.toLocaleString('en-US'), 'the seat map shows the price');
  await byTestId(page, `seat-${number}`).click();
  await page.waitForSelector(`[data-testid="seat-${number}"][data-status="mine"]`);
  // The deadline shown is the hold's expiry, the one that applies now.
  await page.waitForSelector('[data-testid="active-until"][data-deadline="hold"]');
  assert.match(await byTestId(page, 'active-until').textContent(), new RegExp(`Pay by .* your hold on seat ${number} ends then`));
  assert.match(await byTestId(page, 'hold').textContent(), /The hold ends in/);
  await byTestId(page, 'pay').click();
  const refused = await waitForMessage(page, 'INSUFFICIENT_BALANCE', `paying for seat ${number} without money`, 'pay');
  assert.match(refused.text, /Insufficient balance/);
  if (phone) {
    const message = await inViewport(page, '[data-testid="pay-message"]');
    const button = await inViewport(page, '[data-testid="pay"]');
    assert.ok(message.inside && button.inside, `the failed payment's message (top ${message.top}) and the Pay button (top ${button.top}) are both in the ${message.height} px viewport`);
    assert.ok(Math.abs(message.top - button.bottom) < 200, `the message is next to the Pay button (${message.top - button.bottom} px below it)`);
  }
  await byTestId(page, 'charge').click();
  await waitForMessage(page, 'CHARGED', 'topping up', 'pay');
  await byTestId(page, 'pay').click();
  await waitForMessage(page, 'CONFIRMED', `paying for seat ${number}`, 'pay');
  assert.equal((await byTestId(page, 'payment-status').textContent()).trim(), 'confirmed');
}

test('a sale with an opening: pre-queue countdown and draw, then position, admission and payment, on desktop and on a phone', { timeout: 180_000 }, async (t) => {
  const queueId = `browser-open-${suffix}`;
  const opensAtMs = Math.ceil((Date.now() + 15_000) / 1000) * 1000;
  const opensAt = new Date(opensAtMs).toISOString().replace(/\.\d+Z$/, 'Z');
  let desk;
  let phone;
  const heartbeats = { desk: 0, phone: 0 };

  await t.test('a queue that opens in 15 s (one buyer at a time) and a concert of 4 seats', async () => {
    await configureQueue(queueId, 1, { opens_at: opensAt, prequeue_spread_seconds: 2 });
    await createConcert(queueId, 4);
    const info = await expectStatus(http(QUEUE_URL, 'GET', `/v1/queues/${queueId}`), 200, 'read the queue');
    assert.equal(info.opens_at, opensAt);
    assert.match(info.draw?.commitment || '', /^[0-9a-f]{64}$/, 'the draw commitment is published before the opening');
    assert.equal(info.draw.seed, null, 'the seed is secret until the opening');
  });

  await t.test('both join before the opening: in the draw, no position, a countdown, "keep this tab open"', async () => {
    desk = await openPage('desk', queueId);
    phone = await openPage('phone-open', queueId, { device: PHONE });
    for (const [name, page] of [['desk', desk], ['phone', phone]]) {
      page.on('request', (req) => req.url().endsWith(`/v1/queues/${queueId}/heartbeat`) && heartbeats[name]++);
      await signInAndJoin(page, `${name}-open-${suffix}`);
    }
    for (const page of [desk, phone]) {
      await waitForStatus(page, 'pre_queue', 'joining before the opening');
      const m = await waitForMessage(page, 'PRE_QUEUE', 'joining before the opening', 'queue');
      assert.match(m.text, /You are in the draw/);
      assert.equal((await byTestId(page, 'position').textContent()).trim(), 'drawn at the opening');
      await page.waitForFunction(() => /^in \d+ s \(/.test(document.querySelector('[data-testid="opens-in"]').textContent));
      assert.equal(await byTestId(page, 'keep-open').isVisible(), true);
      assert.match(await byTestId(page, 'keep-open').textContent(), /Keep this tab open; you will be moved on automatically/);
      await page.waitForFunction(() => /Draw commitment/.test(document.querySelector('[data-testid="draw-info"]').textContent));
    }
    await shot(desk, 'pre-queue.png');
    await shot(phone, 'phone-pre-queue.png', { fullPage: false });
  });

  let first;
  let second;
  await t.test('at the opening the draw orders them: one is admitted, the other waits at #1 with seats left', async () => {
    const before = { ...heartbeats };
    const states = async () => Promise.all([desk, phone].map((p) => p.$eval('#queue-section', (s) => s.dataset.status)));
    await waitFor('both pages to leave the pre-queue', async () => (await states()).every((s) => s === 'waiting' || s === 'active'), 40_000);
    assert.ok(Date.now() >= opensAtMs, 'nobody left the pre-queue before the opening');
    // The pages polled about when told (at the opening), not every second.
    assert.ok(before.desk <= 2 && before.phone <= 2, `pre-queue heartbeats before the opening: ${JSON.stringify(before)}`);
    const [deskState] = await states();
    [first, second] = deskState === 'active' ? [desk, phone] : [phone, desk];
    await waitForStatus(first, 'active', 'the first of the draw');
    await waitForStatus(second, 'waiting', 'the second of the draw');
    assert.equal((await byTestId(second, 'position').textContent()).trim(), '#1');
    await waitForMessage(second, 'DRAWN', 'the second after the opening', 'queue');
    await second.waitForFunction(() => /Draw made at .* among 2 people/.test(document.querySelector('[data-testid="draw-info"]').textContent));
    await second.waitForSelector('[data-testid="seats-left"][data-left="4"]');
    assert.equal(await byTestId(second, 'keep-open').isVisible(), true);
    const info = await expectStatus(http(QUEUE_URL, 'GET', `/v1/queues/${queueId}`), 200, 'read the queue');
    assert.equal(info.draw.entrants, 2);
    assert.match(info.draw.seed, /^[0-9a-f]{64}$/);
    await shot(second, second === phone ? 'phone-drawn-waiting.png' : 'drawn-waiting.png', { fullPage: second !== phone });
  });

  await t.test('the first buys a seat; the second is admitted and buys one too', async () => {
    await buySeat(first, 1, { phone: first === phone });
    await waitForStatus(second, 'active', 'the second after the first paid');
    await buySeat(second, 2, { phone: second === phone });
    await shot(phone, 'phone-open-paid.png', { fullPage: false });
  });

  await desk?.context().close();
  await phone?.context().close();
  assertNoPageErrors('a sale with an opening');
});

for (const [label, device] of [['desktop', DESKTOP], ['phone', PHONE]]) {
  test(`sold out (${label}): "seats may come back" while the last seat is held, then sold out with no further polling, and joining is refused`, { timeout: 120_000 }, async (t) => {
    const queueId = `browser-sold-${label}-${suffix}`;
    const buyer = `buyer-${label}-${suffix}`;
    let schedule;
    let keepAlive;
    t.after(() => clearInterval(keepAlive));
    await configureQueue(queueId, 1);
    schedule = await createConcert(queueId, 1);
    const [seat] = await expectStatus(http(API_URL, 'GET', `/v1/schedules/${schedule.id}/seats`), 200, 'list seats');

    // Someone else is admitted and holds the one seat.
    const asBuyer = await bearer(buyer);
    const issued = await expectStatus(http(QUEUE_URL, 'POST', `/v1/queues/${queueId}/tokens`, { headers: asBuyer }), 201, 'the buyer joins');
    const withToken = { ...asBuyer, 'X-Queue-Token': issued.token };
    const beat = () => http(QUEUE_URL, 'POST', `/v1/queues/${queueId}/heartbeat`, { headers: withToken });
    await waitFor('the buyer to be admitted', async () => (await beat()).data?.status === 'active');
    keepAlive = setInterval(() => beat().catch(() => {}), 2_000);
    const hold = await expectStatus(
      http(API_URL, 'POST', '/v1/reservations', { headers: withToken, body: { schedule_id: schedule.id, seat_id: seat.id } }),
      201,
      'the buyer holds the seat',
    );

    const page = await openPage(`sold-${label}`, queueId, { device });
    const polls = [];
    page.on('request', (req) => req.url().endsWith(`/v1/queues/${queueId}/heartbeat`) && polls.push(Date.now()));
    await signInAndJoin(page, `waiter-${label}-${suffix}`);
    await waitForStatus(page, 'waiting', 'joining behind the held seat');
    await page.waitForSelector('[data-testid="seats-left"][data-left="0"]');
    await page.waitForSelector('[data-testid="seats-held-note"]:not([hidden])');
    assert.match(await byTestId(page, 'seats-held-note').textContent(), /1 is held .* some may come back/);
    assert.equal(await byTestId(page, 'keep-open').isVisible(), true);
    await shot(page, `${label}-seats-held.png`, { fullPage: label === 'desktop' });

    // The buyer pays: nothing left, nothing held.
    await expectStatus(
      http(API_URL, 'POST', '/v1/users/me/balance/charges', { headers: { ...asBuyer, 'Idempotency-Key': `sold-${label}-${suffix}` }, body: { amount: PRICE } }),
      200,
      'the buyer tops up',
    );
    await expectStatus(
      http(API_URL, 'POST', `/v1/reservations/${hold.reservation_id}/payment`, { headers: { ...withToken, 'Idempotency-Key': `pay-${label}-${suffix}` } }),
      200,
      'the buyer pays',
    );
    clearInterval(keepAlive);
    const soldAt = Date.now();
    const m = await waitForMessage(page, 'SOLD_OUT', 'the waiting page after the last seat was sold', 'queue');
    const seenAfterMs = Date.now() - soldAt;
    console.log(`# ${label}: the waiting page said sold out ${seenAfterMs} ms after the last sale`);
    assert.match(m.text, /Sold out/);
    const where = await inViewport(page, '[data-testid="queue-message"]');
    assert.ok(where.inside, `the sold-out message is in view (top ${where.top}, bottom ${where.bottom}, viewport ${where.height})`);
    assert.equal((await byTestId(page, 'queue-status').textContent()).trim(), 'Sold out');
    assert.equal(await byTestId(page, 'keep-open').isVisible(), false);
    assert.equal((await byTestId(page, 'next-poll').textContent()).trim(), '—');
    const pollsAtSoldOut = polls.length;
    await sleep(5_000);
    assert.equal(polls.length, pollsAtSoldOut, 'no heartbeat after sold out');
    await shot(page, `${label}-sold-out.png`, { fullPage: label === 'desktop' });

    // A newcomer is told at once, next to the join button.
    const late = await openPage(`late-${label}`, queueId, { device });
    await signInAndJoin(late, `late-${label}-${suffix}`);
    const refused = await waitForMessage(late, 'SOLD_OUT', 'joining a sold-out sale', 'join');
    assert.match(refused.text, /Sold out/);
    assert.ok((await inViewport(late, '[data-testid="join-message"]')).inside, 'the refusal is in view');
    assert.equal(await byTestId(late, 'queue-section').isVisible(), false);
    await page.context().close();
    await late.context().close();
    assertNoPageErrors(`sold out (${label})`);
  });
}
