// The pages the other browser files do not walk through, in headless Chromium against the
// real shim and database: a forgotten password reset with the link of the captured mail and
// a log-in with the new one; a space with a photo in a zone far from UTC, its hours and
// free periods shown in that zone; the console's bookings, a captured mail and the template
// editor; the log-in, search and booking forms used with the keyboard alone. Every page passes axe,
// keeps to its budgets and is photographed at phone and desktop widths.
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { lit, psql, psqlRows, request, startShim, waitFor } from '../http/lib/client.mjs';
import { bearer, unique } from '../http/lib/payments.mjs';
import {
  BUDGET_BYTES, BUDGET_MS, axe, budget, clickText, fill, goto, launch, loginAs, newPage, screenshots, suiteSecrets, waitText, withSession,
} from './lib.mjs';

let shim;
let browser;
let base;
let space;
const password = `a long pages secret ${unique()}`;
const users = {};
const pages = []; // [name, url, who]: axe, screenshots and budgets at the end
const ZONE = 'Asia/Tokyo'; // UTC+9 all year: 09:00 there is 00:00 UTC
const day = new Date(Date.now() + 3 * 86400e3).toISOString().slice(0, 10);

function user(role, name) {
  const email = `${role}-${unique()}@example.com`;
  const id = psql(`SET workon.scrypt_log_n = 10; SELECT workon.create_user(${lit(email)}, ${lit(password)}, ${lit(name)}, ${lit(role)});`).split('\n').pop();
  return { id, email, name };
}

async function tokenOf(u, pw = password) {
  const res = await request('POST', '/api/v1/auth/login', { base, body: { email: u.email, password: pw } });
  assert.equal(res.status, 200, res.text);
  return res.json.access_token;
}

// a real PNG (the page shows it): w × h pixels of one colour
function png(w, h, [r, g, b]) {
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8 bits, RGB
  const row = Buffer.concat([Buffer.from([0]), Buffer.from(Array.from({ length: w }, () => [r, g, b]).flat())]);
  return Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(Buffer.concat(Array.from({ length: h }, () => row)))), chunk('IEND', Buffer.alloc(0))]);
}

// the admin console's log-in form
async function adminLogin(page) {
  await goto(page, `${base}/admin`);
  await fill(page, 'input[name=email]', users.admin.email);
  await fill(page, 'input[name=password]', password);
  await page.click('form button[type=submit]');
  await waitText(page, 'header nav', 'Audit log');
}

before(async () => {
  shim = await startShim({ SHIM_THREADS: '1', EMAIL_TRANSPORT: 'capture', ...suiteSecrets() });
  base = shim.url;
  browser = await launch();
  users.host = user('host', 'Haru Host');
  users.member = user('member', 'Mika Member');
  users.admin = user('admin', 'Aiko Admin');
  const host = await tokenOf(users.host);
  const res = await request('POST', '/api/v1/spaces', {
    base,
    headers: bearer(host),
    body: {
      name: `Shibuya Studio ${unique()}`, kind: 'private_office', city: 'Tokyo', address: 'Dogenzaka 1', capacity: 3,
      timezone: ZONE, hourly_rate_cents: 2000, daily_rate_cents: 12000, currency: 'eur', published: true,
      opening_hours: Object.fromEntries(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].map((d) => [d, [['09:00', '18:00']]])),
    },
  });
  assert.equal(res.status, 201, res.text);
  // the host's photo, through the API: declared, sent, set as the space's cover
  const bytes = png(64, 40, [40, 110, 160]);
  const up = await request('POST', '/api/v1/uploads', { base, headers: bearer(host), body: { filename: 'studio.png', content_type: 'image/png', size: bytes.length } });
  assert.equal(up.status, 201, up.text);
  const put = await request('PUT', up.json.upload_url, { base, body: bytes, headers: { 'content-type': 'application/octet-stream' } });
  assert.equal(put.status, 201, put.text);
  const set = await request('PUT', `/api/v1/spaces/${res.json.id}/photos`, { base, headers: bearer(host), body: { upload_ids: [put.json.id] } });
  assert.equal(set.status, 200, set.text);
  space = set.json;
});

after(async () => {
  await browser?.close();
  await shim?.stop();
});

describe('a forgotten password', () => {
  test('the link of the mail sets a new password; the member logs in with it', async () => {
    const page = await newPage(browser);
    try {
      await goto(page, `${base}/login`);
      await Promise.all([page.waitForFunction(() => location.pathname === '/forgot-password'), clickText(page, 'main a', 'Forgot your password')]);
      await fill(page, 'input[name=email]', users.member.email);
      await page.click('main form button[type=submit]');
      await waitText(page, 'main', 'a link to choose a new password is on its way');
      pages.push(['forgot-password', `${base}/forgot-password`, null]);

      // the mail as captured, read as an admin reads it
      let mail;
      await waitFor(() => {
        [mail] = psqlRows(`SELECT id, status FROM workon.outbox WHERE kind = 'email' AND params ->> 'to' = ${lit(users.member.email)}
                             AND params ->> 'template' = 'password_reset'`);
        return mail?.status === 'done';
      }, 10000, 50);
      users.member.mail = mail.id;
      const one = await request('GET', `/api/v1/admin/emails/${mail.id}`, { base, headers: bearer(await tokenOf(users.admin)) });
      assert.equal(one.status, 200, one.text);
      const link = /(\/reset-password\?token=[A-Za-z0-9_-]+)/.exec(one.json.text);
      assert.ok(link, one.json.text);

      const fresh = `a new long secret ${unique()}`;
      await goto(page, `${base}${link[1]}`);
      await fill(page, 'input[name=password]', fresh);
      await page.click('main form button[type=submit]');
      await waitText(page, 'main', 'Your password is changed');
      pages.push(['reset-password', `${base}/reset-password?token=from-the-mail`, null]);
      // the old password no longer opens the account; the new one does, through the form
      const old = await request('POST', '/api/v1/auth/login', { base, body: { email: users.member.email, password } });
      assert.equal(old.status, 401, old.text);
      await loginAs(page, base, users.member.email, fresh);
      await waitText(page, 'header nav', 'My bookings');
      // back to the suite's password for the pages below
      psql(`UPDATE workon.users SET password_hash = workon.password_hash(${lit(password)}) WHERE id = ${lit(users.member.id)}`);
      assert.deepEqual(page.errors, []);
    } finally {
      await page.close();
    }
  });
});

describe('a space in another zone, with a photo', () => {
  test('shows the photo, and the hours and free periods in the space\'s zone, naming it', async () => {
    const page = await newPage(browser);
    try {
      const url = `${base}/spaces/${space.id}?date=${day}`;
      await goto(page, url);
      pages.push(['space-photo', url, null]);
      await waitText(page, 'h1', space.name);
      await waitText(page, '.hours caption', ZONE);
      assert.match(await page.$eval('.hours tbody', (e) => e.textContent), /09:00–18:00/);
      // the API gives the free period in UTC (00:00 to 09:00); the page shows it in Tokyo's time
      const res = await fetch(`${base}/api/v1/spaces/${space.id}/availability?from=${day}&to=${day}`);
      const periods = await res.json();
      assert.equal(periods.free.length, 1, JSON.stringify(periods));
      assert.equal(new Date(periods.free[0].starts_at).getUTCHours(), 0);
      await waitText(page, '.availability', '09:00–18:00');
      assert.doesNotMatch(await page.$eval('.availability', (e) => e.textContent), /00:00–09:00/);
      assert.match(await page.$eval('.book', (e) => e.textContent), new RegExp(`From \\(${ZONE}\\)`));
      // the photo, loaded, described
      const img = await page.waitForFunction(() => {
        const i = document.querySelector('.gallery img');
        return i && i.complete && i.naturalWidth > 0 && { alt: i.alt, w: i.naturalWidth };
      });
      const shown = await img.jsonValue();
      assert.equal(shown.w, 64);
      assert.match(shown.alt, new RegExp(space.name));
      assert.deepEqual(page.errors, []);
    } finally {
      await page.close();
    }
  });
});

describe('the console', () => {
  let page;
  const bookings = [];
  before(async () => {
    page = await newPage(browser);
    // two holds of the member's in the Tokyo space, on `day` (10:00 and 13:00 there)
    const token = await tokenOf(users.member);
    for (const [from, to] of [['01:00', '03:00'], ['04:00', '05:00']]) {
      const res = await request('POST', '/api/v1/bookings', {
        base, headers: bearer(token), body: { space_id: space.id, starts_at: `${day}T${from}:00Z`, ends_at: `${day}T${to}:00Z` },
      });
      assert.equal(res.status, 201, res.text);
      bookings.push(res.json);
    }
    await adminLogin(page);
  });
  after(async () => {
    assert.deepEqual(page.errors, [], 'no script errors');
    await page.close();
  });

  test('bookings: by space, status and period from the API, page by page with its cursor, or one by its id', async () => {
    const ids = () => page.$$eval('tbody a[href^="/admin/audit?entity=bookings"]', (l) => l.map((a) => new URL(a.href).searchParams.get('entity_id')));
    const mine = bookings.map((b) => b.id).sort();
    await goto(page, `${base}/admin/bookings?space_id=${space.id}`);
    pages.push(['admin-bookings', `${base}/admin/bookings`, users.admin]);
    assert.deepEqual((await ids()).sort(), mine);
    assert.match(await page.$eval('tbody tr', (e) => e.textContent), /awaiting payment/);
    // a page of one: the newest, then with the API's cursor the other, and no further page
    await goto(page, `${base}/admin/bookings?space_id=${space.id}&limit=1`);
    const first = await ids();
    assert.equal(first.length, 1);
    await clickText(page, '.pager a', 'Older');
    await page.waitForFunction((x) => {
      const l = [...document.querySelectorAll('tbody a[href^="/admin/audit?entity=bookings"]')];
      return new URLSearchParams(location.search).get('cursor') && l.length && l.every((a) => !a.href.endsWith(x));
    }, {}, first[0]);
    const second = await ids();
    assert.equal(second.length, 1);
    assert.deepEqual([...first, ...second].sort(), mine);
    assert.equal(await page.$('.pager a[rel=next]'), null, 'no page after the last');
    await waitText(page, '.pager a', 'Newest');
    // the filters are the API's: status, a period the bookings overlap
    await goto(page, `${base}/admin/bookings?space_id=${space.id}&status=confirmed`);
    await waitText(page, 'main', 'Nothing to show');
    await goto(page, `${base}/admin/bookings?space_id=${space.id}&status=pending_payment&from=${day}&to=${day}`);
    assert.deepEqual((await ids()).sort(), mine);
    const after = new Date(Date.parse(day) + 86400e3).toISOString().slice(0, 10);
    await goto(page, `${base}/admin/bookings?space_id=${space.id}&from=${after}`);
    await waitText(page, 'main', 'Nothing to show');
    // one by its id, through the form
    await goto(page, `${base}/admin/bookings`);
    await fill(page, 'input[name=id]', bookings[1].id);
    await page.click('main form button[type=submit]');
    await page.waitForFunction((x) => new URLSearchParams(location.search).get('id') === x
      && document.querySelectorAll('tbody tr').length === 1 && document.querySelector(`tbody a[href$="entity_id=${x}"]`), {}, bookings[1].id);
    assert.deepEqual(await ids(), [bookings[1].id]);
  });

  test('a captured mail: listed, and shown with its text', async () => {
    await goto(page, `${base}/admin/emails?to=${encodeURIComponent(users.member.email)}`);
    await Promise.all([page.waitForFunction(() => /^\/admin\/emails\/\d+$/.test(location.pathname)),
      page.click(`a[href="/admin/emails/${users.member.mail}"]`)]);
    await waitText(page, '.mail', '/reset-password?token=');
    assert.match(await page.$eval('.meta', (e) => e.textContent), new RegExp(users.member.email.replace(/[.+]/g, '\\$&')));
    pages.push(['admin-email', `${base}/admin/emails/${users.member.mail}`, users.admin]);
  });

  test('the template editor saves a subject, and goes back to the default', async () => {
    const token = await tokenOf(users.admin);
    const templates = async () => (await request('GET', '/api/v1/admin/email-templates', { base, headers: bearer(token) })).json.data
      .find((x) => x.key === 'password_reset' && x.locale === 'en');
    const before = await templates();
    assert.equal(before.custom, false);
    await goto(page, `${base}/admin/emails`);
    await Promise.all([page.waitForFunction(() => location.pathname === '/admin/emails/templates/password_reset/en'),
      page.click('a[href="/admin/emails/templates/password_reset/en"]')]);
    await page.waitForSelector('input[name=subject]');
    assert.equal(await page.$eval('input[name=subject]', (e) => e.value), before.subject);
    pages.push(['admin-template', `${base}/admin/emails/templates/password_reset/en`, users.admin]);
    await fill(page, 'input[name=subject]', 'Your new workon password');
    await page.click('main form button[type=submit]');
    await waitText(page, 'main', 'Saved');
    const saved = await templates();
    assert.equal(saved.subject, 'Your new workon password');
    assert.equal(saved.custom, true);
    // opened again: the saved subject, and the way back to the default
    await goto(page, `${base}/admin/emails/templates/password_reset/en`);
    assert.equal(await page.$eval('input[name=subject]', (e) => e.value), 'Your new workon password');
    await clickText(page, 'main button', 'Back to the default');
    await waitFor(async () => (await templates()).custom === false, 5000, 100);
    assert.equal((await templates()).subject, before.subject);
  });
});

describe('the keyboard alone', () => {
  // the focused element, in words: "input email", "button Log in"
  const focused = (page) => page.evaluate(() => {
    const e = document.activeElement;
    return e ? `${e.tagName.toLowerCase()} ${e.name || e.textContent.trim()}` : '';
  });
  // Tab from the top of the page until `last` has the focus; the focus order on the way
  async function tabTo(page, last) {
    const seen = [];
    for (let i = 0; i < 60 && seen.at(-1) !== last; i++) {
      await page.keyboard.press('Tab');
      seen.push(await focused(page));
    }
    return seen;
  }
  // (a date field takes a Tab for each of its parts: one stop)
  const inOrder = (seen, wanted) => assert.deepEqual(seen.filter((x, i) => wanted.includes(x) && x !== seen[i - 1]), wanted,
    `focus order: ${seen.join(' → ')}`);

  test('logs in: Tab reaches each field and the button in order, Enter submits', async () => {
    const page = await newPage(browser);
    try {
      await goto(page, `${base}/login`);
      const seen = await tabTo(page, 'button Log in');
      inOrder(seen, ['input email', 'input password', 'button Log in']);
      await page.keyboard.down('Shift');
      await page.keyboard.press('Tab'); // back to the password
      await page.keyboard.press('Tab'); // and to the e-mail
      await page.keyboard.up('Shift');
      assert.equal(await focused(page), 'input email');
      await page.keyboard.type(users.member.email);
      await page.keyboard.press('Tab');
      await page.keyboard.type(password);
      await Promise.all([page.waitForFunction(() => location.pathname !== '/login'), page.keyboard.press('Enter')]);
      await waitText(page, 'header nav', 'My bookings');
      assert.deepEqual(page.errors, []);
    } finally {
      await page.close();
    }
  });

  test('books: Tab reaches the date, the times and the button in order, Enter books the slot given in the space\'s zone', async () => {
    const page = await newPage(browser);
    try {
      await loginAs(page, base, users.member.email, password);
      await goto(page, `${base}/spaces/${space.id}?date=${day}`);
      const seen = await tabTo(page, 'button Book this slot');
      inOrder(seen, ['input date', 'input start', 'input end', 'button Book this slot']);
      // the default slot, 09:00 to 10:00 in Tokyo: midnight to one in UTC
      await page.keyboard.press('Enter');
      await waitText(page, '.book', 'Held for you');
      const [b] = psqlRows(`SELECT starts_at AT TIME ZONE 'UTC' AS starts, ends_at AT TIME ZONE 'UTC' AS ends FROM workon.bookings
                             WHERE space_id = ${lit(space.id)} AND user_id = ${lit(users.member.id)} ORDER BY created_at DESC LIMIT 1`);
      assert.deepEqual([b.starts, b.ends], [`${day}T00:00:00`, `${day}T01:00:00`]);
      assert.deepEqual(page.errors, []);
    } finally {
      await page.close();
    }
  });

  test('searches: Tab reaches each field and the button in order, Enter submits', async () => {
    const page = await newPage(browser);
    try {
      await goto(page, `${base}/`);
      const seen = await tabTo(page, 'button Search');
      inOrder(seen, ['input q', 'input city', 'select kind', 'input min_capacity', 'input date', 'button Search']);
      // back to the city field (Shift+Tab), type and press Enter
      for (let i = 0; i < 20 && await focused(page) !== 'input city'; i++) {
        await page.keyboard.down('Shift');
        await page.keyboard.press('Tab');
        await page.keyboard.up('Shift');
      }
      assert.equal(await focused(page), 'input city');
      await page.keyboard.type('Tokyo');
      await page.keyboard.press('Enter');
      await page.waitForFunction(() => new URLSearchParams(location.search).get('city') === 'Tokyo');
      await waitText(page, '.cards', space.name);
      assert.deepEqual(page.errors, []);
    } finally {
      await page.close();
    }
  });
});

describe('the new pages', () => {
  test('axe finds no serious or critical violation; screenshots at phone and desktop widths', async () => {
    for (const [name, url, who] of pages) {
      const page = await newPage(browser);
      await page.setBypassCSP(true);
      try {
        if (who === users.admin) await adminLogin(page);
        await goto(page, url);
        await axe(page, name);
        await screenshots(page, name);
      } finally {
        await page.close();
      }
    }
    assert.equal(pages.length, 6);
  });

  test(`first load: under ${BUDGET_BYTES / 1024} KB compressed, interactive under ${BUDGET_MS} ms, no layout shift`, async () => {
    const results = [];
    for (const [name, url, who] of pages) results.push(await budget(browser, name, url, who && withSession(base, who.email, password)));
    console.log(`# budgets:\n# ${results.join('\n# ')}`);
  });
});
