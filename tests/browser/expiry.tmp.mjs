// Manual check: real JWT expiry (1 s TTL + 30 s leeway) during a purchase; real 404 sign-in.
import { chromium } from 'playwright-core';
const Q = 'http://127.0.0.1:18691', R = 'http://127.0.0.1:18692', W = 'http://127.0.0.1:18680';
const admin = { Authorization: 'Bearer dev-admin-key-change-me', 'Content-Type': 'application/json' };
const id = 'expiry-' + Date.now().toString(36);
await fetch(`${Q}/v1/admin/queues/${id}`, { method: 'PUT', headers: admin, body: JSON.stringify({ max_active: 5, admit_per_second: 50, active_ttl_seconds: 600, heartbeat_ttl_seconds: 90 }) });
const iso = (ms) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z'); const now = Date.now();
const c = await (await fetch(`${R}/v1/admin/concerts`, { method: 'POST', headers: admin, body: JSON.stringify({ title: 'Expiry ' + id, queue_id: id, schedules: [{ starts_at: iso(now + 2e8), booking_opens_at: iso(now - 3.6e6), booking_closes_at: iso(now + 1e8), seat_count: 4, price: 100 }] }) })).json();
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu'] });
const page = await browser.newPage();
const log = [];
page.on('response', (r) => { if (!r.url().startsWith(W) && r.request().method() !== 'OPTIONS') log.push(`${((Date.now() - now) / 1000).toFixed(1)}s ${r.request().method()} ${new URL(r.url()).pathname} ${r.status()}`); });
await page.goto(`${W}/?queue_id=${id}&queue_url=${Q}&api_url=${R}`);
await page.fill('[data-testid=user-id]', 'exp-' + id); await page.click('[data-testid=join]');
await page.waitForSelector('[data-testid=seat-2][data-status=available]');
console.log('waiting 40 s for the token to expire (1 s + 30 s leeway)…');
await page.waitForTimeout(40_000);
await page.click('[data-testid=seat-2]'); await page.waitForSelector('[data-testid=seat-2][data-status=mine]');
await page.click('[data-testid=charge]'); await page.waitForSelector('[data-testid=pay-message][data-code=CHARGED]');
await page.click('[data-testid=pay]'); await page.waitForSelector('[data-testid=pay-message][data-code=CONFIRMED]', { timeout: 60_000 });
console.log(log.join('\n'));
// real 404 sign-in
const p2 = await browser.newPage();
await p2.goto(`${W}/?queue_id=${id}&queue_url=http://127.0.0.1:18693&api_url=${R}`);
await p2.fill('[data-testid=user-id]', 'x'); await p2.click('[data-testid=join]');
const m = await p2.waitForSelector('[data-testid=join-message][data-code]:not([data-code=""])');
console.log('sign-in off →', await m.getAttribute('data-code'), await m.textContent());
await browser.close();
