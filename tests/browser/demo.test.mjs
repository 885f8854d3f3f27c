// Headless-Chromium test of the demo page (deploy/web) against the real
// services. Run through scripts/browser-test.sh, which starts the stack; or
// directly with the URLs of a running one:
//
//   QUEUE_URL=http://127.0.0.1:8081 API_URL=http://127.0.0.1:8082 \
//   WEB_URL=http://127.0.0.1:8080 node tests/browser/demo.test.mjs
//
// Story: user A joins a line that is full, sees a position, is admitted,
// holds seat 1, is refused payment for lack of money (402), tops up, pays
// (the first answer is lost in transit and the page's retry with the same
// Idempotency-Key is answered from the stored result, charging once), and
// sees "confirmed". User B, whose seat grid was loaded before A bought,
// tries seat 1 and is told it was taken (409). B's place is then ended
// behind its back, and the page says so (410) and offers to rejoin.
// Screenshots go to target/browser/.

import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const QUEUE_URL = (process.env.QUEUE_URL || 'http://127.0.0.1:8081').replace(/\/+$/, '');
const API_URL = (process.env.API_URL || 'http://127.0.0.1:8082').replace(/\/+$/, '');
const WEB_URL = (process.env.WEB_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '');
const ADMIN_API_KEY = process.env.ADMIN_API_KEY || 'dev-admin-key-change-me';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const OUT_DIR = process.env.SCREENSHOT_DIR || path.resolve(here, '../../target/browser');
const STEP_TIMEOUT_MS = 30_000;

const suffix = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 7)}`;
const queueId = `browser-${suffix}`;
const PRICE = 5_000;
const HEARTBEAT_TTL_SECONDS = 9; // an active page polls every 3 s

let browser;
const pageErrors = [];

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

function configureQueue(maxActive) {
  return expectStatus(
    http(QUEUE_URL, 'PUT', `/v1/admin/queues/${queueId}`, {
      headers: admin,
      body: {
        max_active: maxActive,
        admit_per_second: 50,
        active_ttl_seconds: 600,
        heartbeat_ttl_seconds: HEARTBEAT_TTL_SECONDS,
      },
    }),
    [200, 201, 204],
    'configure the queue',
  );
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

// ------------------------------------------------------------ page helpers

async function openPage(name) {
  const context = await browser.newContext({ viewport: { width: 1000, height: 1100 } });
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  page.on('pageerror', (err) => pageErrors.push(`${name}: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') pageErrors.push(`${name} console: ${msg.text()}`);
  });
  const url = `${WEB_URL}/?${new URLSearchParams({ queue_id: queueId, queue_url: QUEUE_URL, api_url: API_URL })}`;
  await page.goto(url);
  return page;
}

const byTestId = (page, id) => page.locator(`[data-testid="${id}"]`);

async function messageOf(page) {
  const box = byTestId(page, 'message');
  return { text: (await box.textContent()) || '', code: (await box.getAttribute('data-code')) || '' };
}

async function waitForMessage(page, code, what) {
  try {
    await page.waitForFunction(
      (c) => document.querySelector('[data-testid="message"]')?.dataset.code === c,
      code,
      { timeout: STEP_TIMEOUT_MS },
    );
  } catch {
    const m = await messageOf(page);
    throw new Error(`${what}: expected message code ${code}, page shows [${m.code}] "${m.text}"`);
  }
  return messageOf(page);
}

async function waitForStatus(page, status, what) {
  try {
    await page.waitForSelector(`#queue-section[data-status="${status}"]`, { timeout: STEP_TIMEOUT_MS });
  } catch {
    const m = await messageOf(page);
    throw new Error(`${what}: queue status never became "${status}"; page message: [${m.code}] "${m.text}"`);
  }
}

async function shot(page, name) {
  const file = path.join(OUT_DIR, name);
  await page.screenshot({ path: file, fullPage: true });
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

// ------------------------------------------------------------ the test

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
});

test('demo page: waiting → active → 402 → top-up → paid (lost answer recovered); a second user sees the seat taken and the line left', { timeout: 240_000 }, async (t) => {
  const userA = `alice-${suffix}`;
  const userB = `bob-${suffix}`;
  const blocker = `blocker-${suffix}`;
  let schedule;
  let seat1;
  let pageA;
  let pageB;
  let tokenB;
  let blockerTimer;
  t.after(() => clearInterval(blockerTimer));

  await t.test('set up a full queue and a small concert through the admin API', async () => {
    await configureQueue(1);
    const now = Date.now();
    const iso = (ms) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
    const concert = await expectStatus(
      http(API_URL, 'POST', '/v1/admin/concerts', {
        headers: admin,
        body: {
          title: `Browser Test ${suffix}`,
          queue_id: queueId,
          schedules: [
            {
              starts_at: iso(now + 2 * 86_400_000),
              booking_opens_at: iso(now - 3_600_000),
              booking_closes_at: iso(now + 86_400_000),
              seat_count: 12,
              price: PRICE,
            },
          ],
        },
      }),
      201,
      'create the concert',
    );
    schedule = concert.schedules[0];
    const seats = await expectStatus(http(API_URL, 'GET', `/v1/schedules/${schedule.id}/seats`), 200, 'list seats');
    seat1 = seats.find((s) => s.number === 1);
    assert.ok(seat1, 'seat number 1 exists');
    assert.equal(seat1.status, 'available');
    // Someone else takes the only active slot, so A has to wait.
    const issued = await expectStatus(
      http(QUEUE_URL, 'POST', `/v1/queues/${queueId}/tokens`, { headers: { 'X-User-Id': blocker } }),
      201,
      'issue the blocker token',
    );
    const heartbeat = () =>
      http(QUEUE_URL, 'POST', `/v1/queues/${queueId}/heartbeat`, {
        headers: { 'X-User-Id': blocker, 'X-Queue-Token': issued.token },
      });
    await waitFor('the blocker to be admitted', async () => {
      const hb = await heartbeat();
      return hb.status === 200 && hb.data.status === 'active';
    });
    // Keep the blocker alive (its heartbeat TTL is short) until room is made.
    blockerTimer = setInterval(() => heartbeat().catch(() => {}), 2_000);
  });

  await t.test('A joins and waits in line with a position and a progress bar', async () => {
    pageA = await openPage('A');
    await byTestId(pageA, 'user-id').fill(userA);
    await byTestId(pageA, 'join').click();
    await waitForStatus(pageA, 'waiting', 'A after joining');
    assert.equal((await byTestId(pageA, 'position').textContent()).trim(), '#1');
    assert.match(await byTestId(pageA, 'eta').textContent(), /about|—/);
    await shot(pageA, 'waiting.png');
  });

  await t.test('B joins behind A', async () => {
    pageB = await openPage('B');
    pageB.on('response', async (res) => {
      if (res.url().endsWith(`/v1/queues/${queueId}/tokens`) && res.request().method() === 'POST' && res.ok()) {
        tokenB = (await res.json()).token;
      }
    });
    await byTestId(pageB, 'user-id').fill(userB);
    await byTestId(pageB, 'join').click();
    await waitForStatus(pageB, 'waiting', 'B after joining');
    assert.equal((await byTestId(pageB, 'position').textContent()).trim(), '#2');
  });

  await t.test('more room: both are admitted and see the seat grid', async () => {
    await configureQueue(5);
    clearInterval(blockerTimer);
    for (const [name, page] of [['A', pageA], ['B', pageB]]) {
      await waitForStatus(page, 'active', `${name} after the queue grew`);
      try {
        await page.waitForSelector('[data-testid="seat-1"][data-status="available"]:not([disabled])');
      } catch {
        const m = await messageOf(page);
        throw new Error(`${name}: seat 1 never showed as available; page message: [${m.code}] "${m.text}"`);
      }
    }
    assert.equal(await byTestId(pageA, 'seats').locator('button').count(), 12);
  });

  await t.test('A holds seat 1, is refused payment without money (402), tops up', async () => {
    await byTestId(pageA, 'seat-1').click();
    await pageA.waitForSelector('[data-testid="seat-1"][data-status="mine"]');
    assert.match(await byTestId(pageA, 'hold').textContent(), /Seat 1 held/);
    await byTestId(pageA, 'pay').click();
    const m = await waitForMessage(pageA, 'INSUFFICIENT_BALANCE', 'A paying with an empty balance');
    assert.match(m.text, /Insufficient balance/);
    assert.equal(await byTestId(pageA, 'charge-amount').inputValue(), String(PRICE));
    await byTestId(pageA, 'charge').click();
    await pageA.waitForFunction(
      (want) => document.querySelector('[data-testid="balance"]').textContent === want,
      PRICE.toLocaleString('en-US'),
    );
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
    const lost = await waitForMessage(pageA, 'UNAVAILABLE', 'A after a lost payment answer');
    assert.match(lost.text, /temporarily unavailable/);
    assert.match(lost.text, /Retrying is safe/);
    assert.equal((await byTestId(pageA, 'payment-status').textContent()).trim(), 'not paid');
    assert.equal((await byTestId(pageA, 'pay').textContent()).trim(), 'Retry payment');
    // No click: the payment that went through completed the queue token, so
    // the page's next heartbeat gets 410; the page must then ask again with
    // the same key (rather than drop the hold) and learn it was paid.
    await waitForMessage(pageA, 'CONFIRMED', 'A after its token was completed by the lost payment');
    assert.equal((await byTestId(pageA, 'payment-status').textContent()).trim(), 'confirmed');
    assert.equal(keys.length, 2, 'two payment requests were sent');
    assert.ok(keys[0] && keys[0] === keys[1], `the retry reused the Idempotency-Key (${keys.join(' vs ')})`);
    const balance = await expectStatus(
      http(API_URL, 'GET', '/v1/users/me/balance', { headers: { 'X-User-Id': userA } }),
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

  await t.test('B, whose grid still shows seat 1 free, tries it and is told it is taken (409)', async () => {
    assert.equal(await byTestId(pageB, 'seat-1').getAttribute('data-status'), 'available', "B's grid was loaded before A bought");
    await byTestId(pageB, 'seat-1').click();
    const m = await waitForMessage(pageB, 'SEAT_UNAVAILABLE', 'B holding the sold seat');
    assert.match(m.text, /taken/);
    await pageB.waitForSelector('[data-testid="seat-1"][data-status="sold"][disabled]');
    assert.equal(await byTestId(pageB, 'pay-section').isVisible(), false, 'B holds nothing');
    await shot(pageB, 'seat-taken.png');
  });

  await t.test("B's place ends behind its back: the page says so (410) and B rejoins", async () => {
    assert.ok(tokenB, "B's queue token was seen");
    await expectStatus(
      http(QUEUE_URL, 'DELETE', `/v1/queues/${queueId}/tokens/me`, { headers: { 'X-User-Id': userB, 'X-Queue-Token': tokenB } }),
      204,
      "end B's place",
    );
    const m = await waitForMessage(pageB, 'TOKEN_EXPIRED', 'B after its token ended');
    assert.match(m.text, /no longer in the line/);
    assert.equal(await byTestId(pageB, 'rejoin').isVisible(), true);
    await shot(pageB, 'left-line.png');
    await byTestId(pageB, 'rejoin').click();
    await waitForStatus(pageB, 'active', 'B after rejoining');
  });

  assert.deepEqual(pageErrors.filter((e) => !/status of (402|409|410|503)/.test(e)), [], 'no script errors on the pages');
});
