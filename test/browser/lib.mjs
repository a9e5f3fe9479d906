// What the browser tests share: Chromium (Debian's package) driven by puppeteer-core, the
// fake Stripe Checkout page, axe, screenshots and the page budgets.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import puppeteer from 'puppeteer-core';
import { ROOT } from '../http/lib/client.mjs';

const require = createRequire(import.meta.url);
const AXE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

export const SHOTS = process.env.WORKON_SCREENSHOTS || path.join(ROOT, 'test/browser/screenshots');
// a phone's width (not isMobile: changing that reloads the page)
export const PHONE = { width: 390, height: 844, deviceScaleFactor: 1 };
export const DESKTOP = { width: 1280, height: 800, deviceScaleFactor: 1 };
export const BUDGET_BYTES = 150 * 1024;
export const BUDGET_MS = 1000;

export function chromiumPath() {
  for (const p of [process.env.CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser']) {
    if (p && fs.existsSync(p)) return p;
  }
  throw new Error('no Chromium: install Debian\'s chromium package (scripts/deps.sh) or set CHROMIUM');
}

export async function launch() {
  fs.mkdirSync(SHOTS, { recursive: true });
  return puppeteer.launch({
    executablePath: chromiumPath(),
    headless: true,
    // root in a container has no user namespace for the sandbox
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--no-first-run', '--disable-gpu', '--lang=en-US'],
  });
}

// A page of its own context (its own cookies). Errors of the page's scripts fail the test;
// requests to Stripe's Checkout get the fake Checkout page.
export async function newPage(browser, { viewport = DESKTOP } = {}) {
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  await page.setViewport(viewport);
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(String(e)));
  // a 4xx the page handles, and a socket that cannot connect while the test has it offline, are not errors of the page
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of 4\d\d|WebSocket connection to .* failed/.test(m.text())) page.errors.push(m.text());
  });
  await page.setRequestInterception(true);
  page.on('request', (req) => {
    const url = new URL(req.url());
    if (url.hostname === 'checkout.stripe.com') {
      req.respond({ status: 200, contentType: 'text/html; charset=utf-8', body: fakeCheckoutPage(url) });
    } else if (url.hostname !== '127.0.0.1') {
      req.abort(); // nothing leaves the machine
    } else {
      req.continue();
    }
  });
  page.close = ((close) => async () => { await close.call(page); await context.close(); })(page.close);
  return page;
}

// The stand-in for Stripe's hosted page: the test reads the session id from the URL, sends
// the signed webhook and follows the success link, as the real page redirects after paying.
function fakeCheckoutPage(url) {
  return `<!doctype html><html lang="en"><head><title>Fake Checkout</title></head><body><main><h1>Fake Checkout</h1>
<p id="session">${url.pathname.split('/').pop()}</p></main></body></html>`;
}

// the page's own readiness mark (set once its data is rendered)
export async function ready(page, timeout = 10000) {
  await page.waitForFunction(() => document.body?.dataset.ready, { timeout });
}

export async function goto(page, url) {
  await page.evaluate(() => { if (document.body) delete document.body.dataset.ready; }).catch(() => {});
  await page.goto(url, { waitUntil: 'load' });
  await ready(page);
}

// the text of an element once it contains `text`
export async function waitText(page, selector, text, timeout = 10000) {
  await page.waitForFunction((s, x) => [...document.querySelectorAll(s)].some((e) => e.textContent.includes(x)), { timeout }, selector, text);
}

export async function fill(page, selector, value) {
  await page.$eval(selector, (el, v) => { el.value = v; el.dispatchEvent(new Event('input', { bubbles: true })); el.dispatchEvent(new Event('change', { bubbles: true })); }, value);
}

export async function clickText(page, selector, text) {
  const handle = await page.waitForFunction((s, x) => [...document.querySelectorAll(s)].find((e) => e.textContent.trim().includes(x) && !e.disabled), {}, selector, text);
  await handle.asElement().click();
}

// axe-core: no serious or critical violation (run with the page's CSP bypassed, as axe is injected)
export async function axe(page, name) {
  await page.evaluate(AXE);
  const res = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 3) }));
  });
  const bad = res.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad, [], `${name}: axe found ${JSON.stringify(bad)}`);
  return res;
}

export async function screenshots(page, name) {
  const vp = page.viewport();
  for (const [label, size] of [['phone', PHONE], ['desktop', DESKTOP]]) {
    await page.setViewport(size);
    await page.screenshot({ path: path.join(SHOTS, `${name}-${label}.png`), fullPage: true });
  }
  await page.setViewport(vp);
}

// A first load with an empty cache: compressed bytes over the wire (every response,
// images included) and the time until the page has its data and its controls work.
export async function firstLoad(browser, url, { before } = {}) {
  const page = await newPage(browser);
  if (before) await before(page);
  await page.setCacheEnabled(false);
  const cdp = await page.createCDPSession();
  await cdp.send('Network.enable');
  let bytes = 0;
  cdp.on('Network.loadingFinished', (e) => { bytes += e.encodedDataLength; });
  await page.goto(url, { waitUntil: 'load' });
  await ready(page);
  await new Promise((r) => setTimeout(r, 300)); // late images and requests
  const ms = Number(await page.evaluate(() => document.body.dataset.ready));
  const shift = await page.evaluate(() => new Promise((resolve) => {
    let total = 0;
    new PerformanceObserver((list) => { for (const e of list.getEntries()) if (!e.hadRecentInput) total += e.value; })
      .observe({ type: 'layout-shift', buffered: true });
    setTimeout(() => resolve(total), 100);
  }));
  return { page, bytes, ms, shift };
}

// logs the page in through the site's login form
export async function loginAs(page, base, email, password) {
  await goto(page, `${base}/login`);
  await fill(page, 'input[name=email]', email);
  await fill(page, 'input[name=password]', password);
  await Promise.all([page.click('form button[type=submit]'), page.waitForFunction(() => location.pathname !== '/login')]);
  await ready(page);
}

// The budgets of one page: a first load, and on a busy machine a load over budget measured
// twice more (the median of three counts). `before` prepares the page (a session cookie).
export async function budget(browser, name, url, before) {
  const loads = [await firstLoad(browser, url, { before })];
  await loads[0].page.close();
  if (loads[0].ms >= BUDGET_MS) {
    for (let i = 0; i < 2; i++) {
      const again = await firstLoad(browser, url, { before });
      await again.page.close();
      loads.push(again);
    }
    loads.sort((a, b) => a.ms - b.ms);
  }
  const r = loads[Math.floor(loads.length / 2)];
  assert.ok(r.bytes < BUDGET_BYTES, `${name}: ${r.bytes} bytes`);
  assert.ok(r.ms < BUDGET_MS, `${name}: ${r.ms} ms`);
  assert.ok(r.shift < 0.1, `${name}: layout shift ${r.shift}`);
  return `${name}: ${(r.bytes / 1024).toFixed(1)} KB, ${r.ms} ms, CLS ${r.shift.toFixed(3)}`;
}

// a `before` for budget(): the session cookie of a returning visitor
export function withSession(base, email, password) {
  return async (p) => {
    await p.goto(`${base}/healthz`);
    const status = await p.evaluate(async (e, pw) => (await fetch('/api/v1/auth/session/login', {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: e, password: pw }),
    })).status, email, password);
    assert.equal(status, 200);
  };
}

// the secrets of the suite (scripts/test.sh), for a shim of a test file's own: it seeds the
// signing key, as the main one does
export function suiteSecrets() {
  return Object.fromEntries(['JWT_SECRET', 'JWT_REFRESH_SECRET', 'SIGNED_URL_SECRET']
    .filter((k) => process.env[k]).map((k) => [k, process.env[k]]));
}
