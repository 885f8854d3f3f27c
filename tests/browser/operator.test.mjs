// Headless-Chromium test of the operator page (deploy/web/operator.html)
// against the real queue service. Run by scripts/test.sh after the demo
// page's test, on the same stack; or directly with the URLs of a running one:
//
//   QUEUE_URL=http://127.0.0.1:8081 WEB_URL=http://127.0.0.1:8080 \
//   ADMIN_API_KEY=dev-admin-key-change-me node --test tests/browser/operator.test.mjs
//
// Stories:
// 1. A queue with one buyer active and two waiting: the operator types the
//    admin key, sees the queue's figures and its chart gaining a point every
//    2 s, sets admit_per_second through the form (the API then reports the
//    new value, every other setting unchanged), and is shown the service's
//    problem detail beside the form when a value is refused (400). A queue
//    with an opening shows its draw's commitment, keeps it when its settings
//    are saved, and a queue deleted through the API leaves the page. The key
//    is in no storage, cookie or URL, and goes to the queue service only.
// 2. A wrong key is refused with a clear message and nothing is listed.
// Screenshots go to target/browser/.

import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const QUEUE_URL = (process.env.QUEUE_URL || 'http://127.0.0.1:8081').replace(/\/+$/, '');
const WEB_URL = (process.env.WEB_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '');
const ADMIN_API_KEY = process.env.ADMIN_API_KEY || 'dev-admin-key-change-me';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const OUT_DIR = process.env.SCREENSHOT_DIR || path.resolve(here, '../../target/browser');
const STEP_TIMEOUT_MS = 30_000;

const suffix = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 7)}`;
const admin = { Authorization: `Bearer ${ADMIN_API_KEY}` };

let browser;
const pageErrors = [];
const queuesMade = [];

// ------------------------------------------------------------ API helpers

async function http(method, urlPath, { headers = {}, body } = {}) {
  const init = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(QUEUE_URL + urlPath, init);
  } catch (err) {
    throw new Error(`${method} ${QUEUE_URL}${urlPath}: cannot connect (${err.cause?.code || err.message})`);
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

function configureQueue(queueId, settings) {
  if (!queuesMade.includes(queueId)) queuesMade.push(queueId);
  return expectStatus(
    http('PUT', `/v1/admin/queues/${queueId}`, { headers: admin, body: settings }),
    [200, 201],
    `configure queue ${queueId}`,
  );
}

/** The queue as GET /v1/admin/queues lists it. */
async function listed(queueId) {
  const list = await expectStatus(http('GET', '/v1/admin/queues', { headers: admin }), 200, 'list queues');
  return list.queues.find((q) => q.settings.queue_id === queueId);
}

async function join(queueId, userId) {
  const signIn = await expectStatus(
    http('POST', '/v1/dev/sign-in', { body: { user_id: userId } }),
    200,
    `dev sign-in for ${userId} (start the stack with AUTH_DEV_SIGNIN=true)`,
  );
  return expectStatus(
    http('POST', `/v1/queues/${queueId}/tokens`, { headers: { Authorization: `Bearer ${signIn.access_token}` } }),
    [200, 201],
    `${userId} joins ${queueId}`,
  );
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function eventually(what, check, timeoutMs = STEP_TIMEOUT_MS) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what}: ${last?.message}`);
    await sleep(250);
  }
}

// ------------------------------------------------------------ page helpers

async function openOperatorPage(name) {
  const context = await browser.newContext({ viewport: { width: 1000, height: 1100 } });
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  page.on('pageerror', (err) => pageErrors.push(`${name}: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') pageErrors.push(`${name} console: ${msg.text()}`);
  });
  // Where every admin key the page sends goes.
  const keyedCalls = [];
  page.on('request', async (req) => {
    const authorization = (await req.allHeaders()).authorization;
    if (authorization) keyedCalls.push({ url: req.url(), authorization });
  });
  await page.goto(`${WEB_URL}/operator.html?${new URLSearchParams({ queue_url: QUEUE_URL })}`);
  return { page, keyedCalls };
}

const byTestId = (scope, id) => scope.locator(`[data-testid="${id}"]`);
const card = (page, queueId) => byTestId(page, `queue-${queueId}`);

async function typeKey(page, key) {
  await byTestId(page, 'admin-key').fill(key);
  await byTestId(page, 'connect').click();
}

async function textOf(locator) {
  return ((await locator.textContent()) || '').trim();
}

async function shot(page, name) {
  const file = path.join(OUT_DIR, name);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`# screenshot ${path.relative(process.cwd(), file)}`);
}

function assertNoPageErrors(what) {
  // A refused key or setting is logged by the browser as a failed load.
  const unexpected = pageErrors.splice(0).filter((e) => !/status of (400|401)/.test(e));
  assert.deepEqual(unexpected, [], `no script errors on the page (${what})`);
}

async function assertKeyKeptInMemoryOnly(page, key) {
  const where = await page.evaluate(() => ({
    local: JSON.stringify({ ...localStorage }),
    session: JSON.stringify({ ...sessionStorage }),
    cookie: document.cookie,
    url: location.href,
    field: document.getElementById('admin-key').value,
  }));
  for (const [place, value] of Object.entries(where)) {
    assert.ok(!value.includes(key), `the admin key is not in ${place} (${value})`);
  }
  const cookies = await page.context().cookies();
  assert.ok(!JSON.stringify(cookies).includes(key), 'no cookie holds the admin key');
}

// ------------------------------------------------------------ the tests

before(async () => {
  await mkdir(OUT_DIR, { recursive: true });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
});

after(async () => {
  await browser?.close();
  await Promise.allSettled(queuesMade.map((q) => http('DELETE', `/v1/admin/queues/${q}`, { headers: admin })));
});

test('an operator watches a queue, changes its rate, and sees refusals beside the form', async () => {
  const queueId = `op-${suffix}`;
  const openingId = `op-open-${suffix}`;
  // One buyer at a time, so of three joiners one is active and two wait;
  // long heartbeats, so nobody is evicted while the test watches.
  await configureQueue(queueId, { max_active: 1, admit_per_second: 1, active_ttl_seconds: 600, heartbeat_ttl_seconds: 600 });
  const opensAt = new Date(Date.now() + 3_600_000).toISOString().replace(/\.\d+Z$/, 'Z');
  await configureQueue(openingId, {
    max_active: 5, admit_per_second: 2, active_ttl_seconds: 300, heartbeat_ttl_seconds: 60, opens_at: opensAt, max_waiting: 1000,
  });
  for (const user of ['ann', 'bob', 'cy']) await join(queueId, `${user}-${suffix}`);
  await eventually('one of three joiners is admitted', async () => {
    const q = await listed(queueId);
    assert.deepEqual([q.active, q.waiting], [1, 2]);
  });

  const { page, keyedCalls } = await openOperatorPage('operator');
  assert.equal(await textOf(byTestId(page, 'queue-url')), QUEUE_URL, 'the page names the queue service it calls');
  await typeKey(page, ADMIN_API_KEY);
  await page.waitForSelector('body[data-connected="true"]');
  assert.match(await textOf(byTestId(page, 'key-message')), /accepted/i);

  // The queue with its live figures.
  const q = card(page, queueId);
  await q.waitFor();
  await eventually('the figures show one active, two waiting', async () => {
    assert.equal(await textOf(byTestId(q, 'waiting')), '2');
    assert.equal(await textOf(byTestId(q, 'active')), '1 / 1');
    assert.match(await textOf(byTestId(q, 'rate')), /\/ 1$/);
    assert.equal(await textOf(byTestId(q, 'opens-at')), 'open');
  });

  // The chart gains a point every poll (2 s).
  const samples = async () => Number(await byTestId(q, 'chart').getAttribute('data-samples'));
  const first = await samples();
  await eventually('the chart gains points', async () => assert.ok((await samples()) >= first + 2, `${await samples()} samples`), 15_000);
  const points = (await byTestId(q, 'chart').locator('polyline').first().getAttribute('points')).trim().split(/\s+/);
  assert.ok(points.length >= 3, `the waiting line has ${points.length} points`);
  await shot(page, 'operator-queues.png');

  // Change admit_per_second through the form; the API reports it, and only it changed.
  const before = (await listed(queueId)).settings;
  await q.locator('summary').click();
  assert.equal(await byTestId(q, 'field-admit_per_second').inputValue(), '1', 'the form shows the current rate');
  assert.equal(await byTestId(q, 'field-max_waiting').inputValue(), '', 'no cap shows as an empty field');
  await byTestId(q, 'field-admit_per_second').fill('7');
  await byTestId(q, 'save').click();
  await page.waitForSelector(`[data-testid="queue-${queueId}"] [data-testid="settings-message"][data-kind="ok"]`);
  assert.match(await textOf(byTestId(q, 'settings-message')), /admit_per_second 1 → 7/);
  const afterSave = (await listed(queueId)).settings;
  assert.deepEqual(afterSave, { ...before, admit_per_second: 7 }, 'only admit_per_second changed');
  await eventually('the figures show the new rate', async () => assert.match(await textOf(byTestId(q, 'rate')), /\/ 7$/));

  // A value the service refuses: its problem detail beside the form, nothing stored.
  await byTestId(q, 'field-admit_per_second').fill('0');
  await byTestId(q, 'save').click();
  await page.waitForSelector(`[data-testid="queue-${queueId}"] [data-testid="settings-message"][data-kind="error"]`);
  const refusal = await textOf(byTestId(q, 'settings-message'));
  assert.match(refusal, /400/);
  assert.match(refusal, /admit_per_second must be between 1 and 100000/, `the problem's detail is shown: ${refusal}`);
  assert.equal((await listed(queueId)).settings.admit_per_second, 7, 'the refused value was not stored');
  // The edit in progress survives the polls that came meanwhile.
  await sleep(2_500);
  assert.equal(await byTestId(q, 'field-admit_per_second').inputValue(), '0', 'polls do not overwrite an edit in progress');
  await shot(page, 'operator-refused.png');
  await byTestId(q, 'undo').click();
  assert.equal(await byTestId(q, 'field-admit_per_second').inputValue(), '7');

  // A queue with an opening: its draw's commitment, kept when its settings are saved.
  const o = card(page, openingId);
  const publicView = await expectStatus(http('GET', `/v1/queues/${openingId}`), 200, 'public queue view');
  await eventually('the draw is shown', async () => assert.match(await textOf(byTestId(o, 'draw')), new RegExp(publicView.draw.commitment)));
  assert.notEqual(await textOf(byTestId(o, 'opens-at')), 'open');
  await o.locator('summary').click();
  assert.equal(await byTestId(o, 'field-max_waiting').inputValue(), '1000');
  await byTestId(o, 'field-max_active').fill('9');
  await byTestId(o, 'save').click();
  await page.waitForSelector(`[data-testid="queue-${openingId}"] [data-testid="settings-message"][data-kind="ok"]`);
  const opening = (await listed(openingId)).settings;
  assert.equal(opening.max_active, 9);
  assert.equal(new Date(opening.opens_at).getTime(), new Date(opensAt).getTime(), 'opens_at kept');
  assert.equal(opening.max_waiting, 1000, 'max_waiting kept');
  const publicAfter = await expectStatus(http('GET', `/v1/queues/${openingId}`), 200, 'public queue view');
  assert.equal(publicAfter.draw.commitment, publicView.draw.commitment, 'the draw commitment is unchanged');

  // A queue deleted through the API leaves the page.
  await expectStatus(http('DELETE', `/v1/admin/queues/${openingId}`, { headers: admin }), 204, 'delete the opening queue');
  await o.waitFor({ state: 'detached' });

  // The key: in memory only, sent to the queue service alone.
  await assertKeyKeptInMemoryOnly(page, ADMIN_API_KEY);
  assert.ok(keyedCalls.length > 0, 'the page called the admin API');
  for (const c of keyedCalls) {
    assert.ok(c.url.startsWith(`${QUEUE_URL}/v1/admin/`), `the key went only to the admin API (${c.url})`);
    assert.equal(c.authorization, `Bearer ${ADMIN_API_KEY}`);
  }

  // Forgetting the key stops the polls and clears the page.
  await byTestId(page, 'forget').click();
  await page.waitForSelector('body[data-connected="false"]');
  assert.equal(await byTestId(page, 'queues-section').isHidden(), true);
  const callsAtForget = keyedCalls.length;
  await sleep(2_500);
  assert.equal(keyedCalls.length, callsAtForget, 'no admin call after the key is forgotten');
  await assertKeyKeptInMemoryOnly(page, ADMIN_API_KEY);
  assertNoPageErrors('operator');
  await page.context().close();
});

test('a wrong admin key is refused with a clear message and nothing is listed', async () => {
  const wrongKey = `wrong-key-${suffix}`;
  const { page } = await openOperatorPage('wrong key');
  await typeKey(page, wrongKey);
  await page.waitForSelector('[data-testid="key-message"][data-kind="error"]');
  const message = await textOf(byTestId(page, 'key-message'));
  assert.match(message, /refused this admin key/);
  assert.match(message, /401 ADMIN_UNAUTHORIZED/);
  assert.equal(await byTestId(page, 'queues-section').isHidden(), true, 'no queue is shown');
  assert.equal(await page.locator('article.op-queue').count(), 0);
  await assertKeyKeptInMemoryOnly(page, wrongKey);
  await shot(page, 'operator-wrong-key.png');
  // An empty key is caught before any call.
  await typeKey(page, '');
  assert.match(await textOf(byTestId(page, 'key-message')), /Type the admin key/);
  assertNoPageErrors('wrong key');
  await page.context().close();
});
