// The blog and the reviews in headless Chromium, against the real shim and database: the
// demo posts in English and French with the server's HTML; a member reviews a space after a
// booking that ended and sees the rating; the host answers; an admin hides and shows the
// review, and writes, schedules and publishes a post in the console and finds it on the
// blog, a former slug following to the new one. The new pages pass axe, keep to their
// budgets and are photographed at phone and desktop widths.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { lit, psql, request, startShim } from '../http/lib/client.mjs';
import { unique } from '../http/lib/users.mjs';
import {
  BUDGET_BYTES, BUDGET_MS, PHONE, axe, budget, clickText, fill, goto, launch, loginAs, newPage, ready, screenshots, suiteSecrets, waitText, withSession,
} from './lib.mjs';

let shim;
let browser;
let base;
let space;
const password = `a long content secret ${unique()}`;
const users = {};
const pages = []; // [name, url, who] for the budgets

function user(role, name) {
  const email = `${role}-${unique()}@example.com`;
  const id = psql(`SET workon.scrypt_log_n = 10; SELECT workon.create_user(${lit(email)}, ${lit(password)}, ${lit(name)}, ${lit(role)});`).split('\n').pop();
  return { id, email, name };
}

before(async () => {
  shim = await startShim({ SHIM_THREADS: '1', ...suiteSecrets() });
  base = shim.url;
  browser = await launch();
  users.host = user('host', 'Hanna Host');
  users.member = user('member', 'Rita Reviewer');
  users.admin = user('admin', 'Adele Admin');
  const login = await request('POST', '/api/v1/auth/login', { base, body: { email: users.host.email, password } });
  assert.equal(login.status, 200, login.text);
  const res = await request('POST', '/api/v1/spaces', {
    base,
    headers: { authorization: `Bearer ${login.json.access_token}` },
    body: {
      name: `Review Loft ${unique()}`, kind: 'meeting_room', city: 'Nantes', address: 'Quai 2', capacity: 6,
      timezone: 'UTC', hourly_rate_cents: 1200, daily_rate_cents: 7000, currency: 'eur', published: true,
      opening_hours: { mon: [['08:00', '20:00']], tue: [['08:00', '20:00']] },
    },
  });
  assert.equal(res.status, 201, res.text);
  space = res.json;
  // a booking that took place and ended yesterday: written with SQL, as no route makes one in the past
  psql(`INSERT INTO workon.bookings (space_id, user_id, starts_at, ends_at, status, price_cents, currency)
        VALUES (${lit(space.id)}, ${lit(users.member.id)}, now() - interval '26 hours', now() - interval '24 hours', 'confirmed', 2400, 'eur')`);
});

after(async () => {
  await browser?.close();
  await shim?.stop();
});

describe('the blog', () => {
  test('lists the demo posts and shows one with its HTML, in English and in French', async () => {
    const page = await newPage(browser);
    await page.setBypassCSP(true);
    try {
      await goto(page, `${base}/blog`);
      await waitText(page, '.posts', 'Five quiet desks in Berlin');
      let list = await page.$eval('.posts', (e) => e.textContent);
      assert.match(list, /Booking by the hour, paying by the day/);
      assert.match(list, /Where to get deep work done/); // the excerpt
      assert.doesNotMatch(list, /Travailler à Paris/, 'the French post is not in the English list');
      await axe(page, 'blog-en');
      await screenshots(page, 'blog-en');

      await clickText(page, '.posts a', 'Five quiet desks in Berlin');
      await page.waitForFunction(() => location.pathname === '/blog/five-quiet-desks-in-berlin');
      await ready(page);
      await waitText(page, 'h1', 'Five quiet desks in Berlin');
      assert.equal(await page.$eval('.post-body strong', (e) => e.textContent), 'quiet desk');
      assert.equal(await page.$eval('.post-body h2', (e) => e.textContent), 'What we looked for');
      assert.equal(await page.$$eval('.post-body li', (l) => l.length), 3);
      assert.match(await page.$eval('main', (e) => e.textContent), /guides, berlin/);
      await page.waitForFunction(() => document.querySelector('img.cover')?.complete);
      await axe(page, 'post-en');
      await screenshots(page, 'post-en');
      // a tag lists the posts that have it
      await clickText(page, 'main a', 'berlin');
      await page.waitForFunction(() => location.search === '?tag=berlin');
      await ready(page);
      await waitText(page, 'main', 'Posts tagged “berlin”.');
      assert.deepEqual(await page.$$eval('.posts h2', (l) => l.map((e) => e.textContent)), ['Five quiet desks in Berlin']);

      // in French: the switch shows the French post only
      await goto(page, `${base}/blog`);
      await page.click('button.lang');
      await waitText(page, '.posts', 'Travailler à Paris : le guide');
      list = await page.$eval('.posts', (e) => e.textContent);
      assert.doesNotMatch(list, /Five quiet desks/);
      assert.equal(await page.evaluate(() => document.documentElement.lang), 'fr');
      await axe(page, 'blog-fr');
      await screenshots(page, 'blog-fr');
      await clickText(page, '.posts a', 'Travailler à Paris');
      await page.waitForFunction(() => location.pathname === '/blog/travailler-a-paris-le-guide');
      await ready(page);
      await waitText(page, 'h1', 'Travailler à Paris : le guide');
      assert.equal(await page.$$eval('.post-body ol li', (l) => l.length), 2);
      assert.match(await page.$eval('.post-body blockquote', (e) => e.textContent), /Astuce/);
      await axe(page, 'post-fr');
      await screenshots(page, 'post-fr');
      // a post that does not exist, said in words
      await goto(page, `${base}/blog/no-such-post-${unique()}`);
      await waitText(page, 'main', 'Cet article n’existe pas.');
      await page.click('button.lang');
      assert.deepEqual(page.errors, []);
    } finally {
      await page.close();
    }
    pages.push(['blog', `${base}/blog`], ['post', `${base}/blog/five-quiet-desks-in-berlin`]);
  });
});

describe('reviews', () => {
  test('a member whose booking ended reviews the space and sees the rating', async () => {
    const page = await newPage(browser);
    try {
      // before the review: not rated, and no form for a visitor
      await goto(page, `${base}/spaces/${space.id}`);
      await waitText(page, '.rating', 'Not rated yet');
      await waitText(page, '.reviews-box', 'No reviews yet.');
      assert.equal(await page.$('.write-review'), null);

      await loginAs(page, base, users.member.email, password);
      await goto(page, `${base}/spaces/${space.id}`);
      await page.waitForSelector('.write-review form');
      await page.select('.write-review select[name=rating]', '4');
      await fill(page, '.write-review textarea[name=body]', 'Bright room, quiet street.');
      await page.click('.write-review button[type=submit]');
      await waitText(page, '.reviews', 'Bright room, quiet street.');
      await waitText(page, '.rating', '4.0 / 5 from 1 review');
      assert.equal(await page.$eval('.reviews .stars', (e) => e.getAttribute('aria-label')), '4 out of 5');
      assert.equal(await page.$('.write-review'), null, 'one review per booking: the form is gone');
      assert.equal(psql(`SELECT rating || ' ' || body FROM workon.reviews WHERE space_id = ${lit(space.id)} AND author_id = ${lit(users.member.id)}`),
        '4 Bright room, quiet street.');
      assert.deepEqual(page.errors, []);
    } finally {
      await page.close();
    }
  });

  test('the host answers it on a phone', async () => {
    const page = await newPage(browser, { viewport: PHONE });
    await page.setBypassCSP(true);
    try {
      await loginAs(page, base, users.host.email, password);
      await goto(page, `${base}/spaces/${space.id}`);
      await waitText(page, '.reviews', 'Bright room');
      // the signed-in host's menu wraps on a phone: nothing scrolls sideways
      const fits = await page.evaluate(() => {
        const nav = document.querySelector('.top nav');
        return { nav: nav.scrollWidth <= nav.clientWidth, page: document.documentElement.scrollWidth <= window.innerWidth };
      });
      assert.deepEqual(fits, { nav: true, page: true });
      await axe(page, 'space-reviews-host');
      await screenshots(page, 'space-reviews-host');
      await fill(page, '.reviews textarea[name=body]', 'Thank you, come back soon.');
      await clickText(page, '.reviews button', 'Answer');
      await waitText(page, '.reviews .answer', 'Thank you, come back soon.');
      assert.equal(await page.$('.reviews textarea'), null, 'answered once');
      assert.equal(psql(`SELECT answer FROM workon.reviews WHERE space_id = ${lit(space.id)}`), 'Thank you, come back soon.');
      assert.deepEqual(page.errors, []);
    } finally {
      await page.close();
    }
  });

  test('an admin hides it with a reason (out of the rating) and shows it again', async () => {
    const page = await newPage(browser);
    try {
      await loginAs(page, base, users.admin.email, password);
      await goto(page, `${base}/spaces/${space.id}`);
      await waitText(page, '.reviews', 'Bright room');
      await fill(page, '.reviews input[name=reason]', 'Checking a complaint');
      await clickText(page, '.reviews button', 'Hide');
      await waitText(page, '.reviews', 'hidden: Checking a complaint');
      await waitText(page, '.rating', 'Not rated yet');
      assert.equal(psql(`SELECT hidden_reason FROM workon.reviews WHERE space_id = ${lit(space.id)}`), 'Checking a complaint');
      await clickText(page, '.reviews button', 'Show again');
      await waitText(page, '.rating', '4.0 / 5 from 1 review');
      await page.waitForFunction(() => !document.querySelector('.review.hidden'));
      assert.equal(psql(`SELECT hidden_at IS NULL FROM workon.reviews WHERE space_id = ${lit(space.id)}`), 't');
      assert.deepEqual(page.errors, []);
    } finally {
      await page.close();
    }
    pages.push(['space-reviews', `${base}/spaces/${space.id}`]);
  });

  test('the space page with its reviews: axe and screenshots', async () => {
    const page = await newPage(browser);
    await page.setBypassCSP(true);
    try {
      await goto(page, `${base}/spaces/${space.id}`);
      await waitText(page, '.reviews .answer', 'come back soon');
      await axe(page, 'space-reviews');
      await screenshots(page, 'space-reviews');
    } finally {
      await page.close();
    }
  });
});

describe('an admin writes a post', () => {
  test('with the Markdown preview, scheduled, then published and found on the blog; a former slug follows', async () => {
    const page = await newPage(browser);
    await page.setBypassCSP(true);
    const title = `Desks by the Loire ${unique()}`;
    let slug;
    try {
      await goto(page, `${base}/admin`);
      await fill(page, 'input[name=email]', users.admin.email);
      await fill(page, 'input[name=password]', password);
      await page.click('form button[type=submit]');
      await waitText(page, 'header nav', 'Posts');
      await goto(page, `${base}/admin/posts/new`);
      await fill(page, 'input[name=title]', title);
      await fill(page, 'input[name=excerpt]', 'Three rooms with a view of the river.');
      await fill(page, 'input[name=tags]', 'guides, nantes');
      await page.type('textarea[name=markdown]', '## By the water\n\nA *calm* room and **good coffee**.');
      await waitText(page, '.preview strong', 'good coffee');
      assert.equal(await page.$eval('.preview em', (e) => e.textContent), 'calm');
      // tomorrow, in the browser's local time: scheduled
      const local = (ms) => page.evaluate((t) => {
        const d = new Date(t);
        return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
      }, ms);
      await fill(page, 'input[name=published_at]', await local(Date.now() + 86400e3));
      await page.click('main form button[type=submit]');
      await page.waitForFunction(() => /^\/admin\/posts\/[0-9a-f-]{36}$/.test(location.pathname));
      await ready(page);
      await waitText(page, 'main .tag', 'scheduled');
      await waitText(page, 'main', 'Saved');
      const id = page.url().split('/').pop();
      slug = psql(`SELECT slug FROM workon.posts WHERE id = ${lit(id)}`);
      assert.match(slug, /^desks-by-the-loire-/);
      // not on the blog yet
      assert.equal((await request('GET', `/api/v1/posts/${slug}`, { base })).status, 404);
      await axe(page, 'admin-post');
      await screenshots(page, 'admin-post');

      // a minute ago: published
      await fill(page, 'input[name=published_at]', await local(Date.now() - 60e3));
      await page.click('main form button[type=submit]');
      await waitText(page, 'main .tag', 'published');
      await Promise.all([page.waitForNavigation(), clickText(page, 'main a', 'See it on the blog')]);
      await ready(page);
      await waitText(page, 'h1', title);
      assert.equal(await page.$eval('.post-body h2', (e) => e.textContent), 'By the water');
      assert.equal(await page.$eval('.post-body strong', (e) => e.textContent), 'good coffee');
      await goto(page, `${base}/blog`);
      await waitText(page, '.posts', title);
      assert.match(await page.$eval('.posts li', (e) => e.textContent), /Desks by the Loire/, 'the newest first');

      // the console's list: the post, published
      await goto(page, `${base}/admin/posts`);
      await waitText(page, 'table', title);
      assert.match(await page.$$eval('tbody tr', (trs, x) => trs.find((tr) => tr.textContent.includes(x)).textContent, title), /published/);

      // a new slug: the old address follows (the API's 301) to the new one
      await goto(page, `${base}/admin/posts/${id}`);
      await fill(page, 'input[name=slug]', `${slug}-river`);
      await page.click('main form button[type=submit]');
      await waitText(page, 'main', 'Saved');
      assert.deepEqual(page.errors, []);
    } finally {
      await page.close();
    }
    // a visitor at the former address lands on the new one
    const visitor = await newPage(browser);
    try {
      await goto(visitor, `${base}/blog/${slug}`);
      await waitText(visitor, 'h1', title);
      assert.equal(new URL(visitor.url()).pathname, `/blog/${slug}-river`);
      assert.deepEqual(visitor.errors, []);
    } finally {
      await visitor.close();
    }
    pages.push(['admin-post', `${base}/admin/posts/new`, users.admin]);
  });
});

describe('the new pages', () => {
  test(`first load: under ${BUDGET_BYTES / 1024} KB compressed, interactive under ${BUDGET_MS} ms, no layout shift`, async () => {
    const results = [];
    for (const [name, url, who] of pages) results.push(await budget(browser, name, url, who && withSession(base, who.email, password)));
    assert.equal(results.length, 4);
    console.log(`# budgets:\n# ${results.join('\n# ')}`);
  });
});
