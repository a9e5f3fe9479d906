// Many shims, one service: three shims on the test database behind a round-robin load
// balancer started here (lib/balancer.mjs). The flows of a member and a host pass through
// it; route, key and secret changes reach every instance; an event caused through one
// instance reaches a socket on another; the outbox is worked by all three and every call
// reaches the fake Stripe and the fake Resend once; an upload, a review after a booking
// that took place, a blog post and a password reset each go through the balancer, one
// step on one instance and the next on another; a client's rate-limit budget holds for
// the whole service (ratelimit_share.c), not once per instance.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { addRoutes, expectError, lit, psql, psqlRows, removeRoutes, request, sleep, startShim, waitFor } from './lib/client.mjs';
import { startBalancer } from './lib/balancer.mjs';
import { TEST_WEBHOOK_SECRET, paymentIntentObject, startFakeStripe, stripeEvent } from './lib/fake-stripe.mjs';
import { resendEnv, startFakeResend } from './lib/fake-resend.mjs';
import { bearer, book, bookingStatus, createSpace, deliver, register, unique, waitReady } from './lib/payments.mjs';
import { userWithRole } from './lib/users.mjs';
import { wsConnect } from './lib/ws-client.mjs';

const N = 3;

async function startShims(env) {
  const shims = [];
  try {
    for (let i = 0; i < N; i++) shims.push(await startShim({ SHIM_THREADS: '2', ...env }));
  } catch (e) {
    await Promise.all(shims.map((s) => s.stop()));
    throw e;
  }
  return shims;
}

async function nextOf(ws, type, timeoutMs, pred = () => true) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const f = await ws.next(Math.max(1, deadline - Date.now()));
    if (f.type === type && pred(f)) return f;
  }
}

// requests per idempotency key, of those that carry one
function perKey(requests) {
  const n = new Map();
  for (const r of requests) if (r.idempotencyKey) n.set(r.idempotencyKey, (n.get(r.idempotencyKey) ?? 0) + 1);
  return n;
}

// a JPEG's magic, then every byte value: the type is decided by the bytes
const JPEG = (n) => Buffer.concat([Buffer.from('ffd8ffe000104a464946000101', 'hex'),
  Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + 3) % 256))]);

describe('three shims behind a load balancer', () => {
  let stripe;
  let resend;
  let shims = [];
  let lb;
  let host;
  let member;
  let space;

  before(async () => {
    stripe = await startFakeStripe();
    resend = await startFakeResend();
    shims = await startShims({
      STRIPE_API_BASE: stripe.url,
      STRIPE_SECRET_KEY: stripe.secretKey,
      STRIPE_WEBHOOK_SECRET: TEST_WEBHOOK_SECRET,
      ...resendEnv(resend, 'bookings@workon.example'),
    });
    for (const s of shims) await waitReady(s.url);
    lb = await startBalancer(shims.map((s) => s.url));
  });
  after(async () => {
    await lb?.stop();
    await Promise.all(shims.map((s) => s.stop()));
    await stripe?.close();
    await resend?.close();
  });

  test('a member and a host go through their flows, spread over the three', async () => {
    const before = [...lb.counts];
    host = await register(lb.url, 'host');
    member = await register(lb.url);
    const login = await request('POST', '/api/v1/auth/login', {
      base: lb.url, body: { email: psql(`SELECT email FROM workon.users WHERE id = ${lit(member.id)}`), password: 'wrong password 1' },
    });
    assert.equal(login.status, 401);
    space = await createSpace(lb.url, host);
    const listed = await request('GET', `/api/v1/spaces/${space.id}`, { base: lb.url });
    assert.equal(listed.status, 200);

    // book and pay through the fake Stripe, confirmed by a signed webhook
    const booking = await book(lb.url, member, space);
    const paid = await request('POST', `/api/v1/bookings/${booking.id}/payment`, { base: lb.url, headers: bearer(member.token) });
    assert.equal(paid.status, 201, paid.text);
    assert.match(paid.json.client_secret, /^pi_/);
    const ev = stripeEvent('payment_intent.succeeded', paymentIntentObject({
      id: paid.json.stripe_payment_intent_id, amount: booking.price.amount_cents, currency: booking.price.currency,
      metadata: { booking_id: booking.id },
    }));
    assert.equal((await deliver(lb.url, ev)).status, 200);
    assert.equal(await bookingStatus(lb.url, member, booking), 'confirmed');

    // cancel: the refund reaches the fake
    const cancel = await request('POST', `/api/v1/bookings/${booking.id}/cancel`, { base: lb.url, headers: bearer(member.token) });
    assert.equal(cancel.status, 200, cancel.text);
    assert.equal(cancel.json.refund.percent, 100);
    await waitFor(() => stripe.created('/v1/refunds').some((r) => r.params['metadata[booking_id]'] === booking.id), 10000);

    // messages
    const conv = await request('POST', '/api/v1/conversations', { base: lb.url, headers: bearer(member.token), body: { space_id: space.id } });
    assert.equal(conv.status, 201, conv.text);
    const msg = await request('POST', `/api/v1/conversations/${conv.json.id}/messages`, {
      base: lb.url, headers: bearer(member.token), body: { body: 'Is the room free on Monday?' },
    });
    assert.equal(msg.status, 201, msg.text);
    const list = await request('GET', `/api/v1/conversations/${conv.json.id}/messages`, { base: lb.url, headers: bearer(host.token) });
    assert.equal(list.status, 200);
    assert.equal(list.json.data[0].body, 'Is the room free on Monday?');
    // every instance answered its share
    for (let i = 0; i < N; i++) assert.ok(lb.counts[i] - before[i] >= 4, `instance ${i}: ${lb.counts[i] - before[i]} connections`);
  });

  test('a route inserted, changed and deleted with SQL is served so by every instance', async () => {
    const bases = shims.map((s) => s.url);
    await addRoutes(`CREATE FUNCTION workon.test_multi() RETURNS json LANGUAGE plpgsql AS $$ BEGIN RETURN '{"v":1}'; END $$;
      GRANT EXECUTE ON FUNCTION workon.test_multi() TO workon_anon, workon_member, workon_host, workon_admin;`,
    [{ method: 'GET', path: '/api/v1/test/multi', handler: 'workon.test_multi()' }], { bases });
    psql(`UPDATE workon.routes SET status = 202 WHERE path = '/api/v1/test/multi'`);
    for (const base of bases) {
      await waitFor(async () => {
        for (let i = 0; i < 8; i++) if ((await request('GET', '/api/v1/test/multi', { base })).status !== 202) return false;
        return true;
      }, 5000);
    }
    await removeRoutes('/api/v1/test/multi', 'DROP FUNCTION workon.test_multi();', { bases });
    for (const base of bases) assert.equal((await request('GET', '/api/v1/test/multi', { base })).status, 404);
  });

  test('a rotated signing key and a new webhook secret count on every instance', async () => {
    const kid = psql('SELECT workon.rotate_jwt_key()');
    try {
      const email = `multi-${unique()}@example.com`;
      const password = `long secret ${unique()}`;
      assert.equal((await request('POST', '/api/v1/auth/register', { base: lb.url, body: { email, password, name: 'Key' } })).status, 201);
      const login = await request('POST', '/api/v1/auth/login', { base: lb.url, body: { email, password } });
      assert.equal(login.status, 200);
      const header = JSON.parse(Buffer.from(login.json.access_token.split('.')[0], 'base64url'));
      assert.equal(header.kid, kid);
      for (const s of shims) {
        const me = await request('GET', '/api/v1/me', { base: s.url, headers: bearer(login.json.access_token) });
        assert.equal(me.status, 200, `${s.url}: ${me.text}`);
      }
      psql(`SELECT workon.retire_jwt_key(${lit(kid)})`);
      for (const s of shims) {
        await waitFor(async () => (await request('GET', '/api/v1/me', { base: s.url, headers: bearer(login.json.access_token) })).status === 401, 3000);
      }
    } finally {
      psql(`SELECT workon.retire_jwt_key(${lit(kid)})`);
    }
    const secret = `whsec_rotated_${unique()}`;
    psql(`SELECT workon.seed_stripe_webhook_secret(${lit(secret)})`);
    for (const s of shims) {
      const ping = stripeEvent('workon.test.ping', { id: `ping_${unique()}`, object: 'ping' });
      assert.equal((await deliver(s.url, ping, { secret })).status, 200);
    }
  });

  test('an event caused through one instance reaches a socket on another', async () => {
    const conv = psql(`SELECT id FROM workon.conversations WHERE member_id = ${lit(member.id)} AND space_id = ${lit(space.id)}`);
    const sockets = await Promise.all(shims.slice(1).map((s) => wsConnect(s.url, '/api/v1/ws', { token: host.token })));
    try {
      for (const ws of sockets) assert.equal(ws.status, 101);
      const body = `from instance A ${unique()}`;
      const res = await request('POST', `/api/v1/conversations/${conv}/messages`, {
        base: shims[0].url, headers: bearer(member.token), body: { body },
      });
      assert.equal(res.status, 201);
      for (const ws of sockets) {
        const f = await nextOf(ws, 'message.created', 3000, (x) => x.data.id === res.json.id);
        assert.equal(f.data.body, body);
      }
    } finally {
      for (const ws of sockets) ws.destroy();
    }
  });

  test('with all three working the outbox, each call reaches the provider once', async () => {
    // twelve members (a verification mail each) and twelve bookings paid twice at once
    const members = await Promise.all(Array.from({ length: 12 }, () => register(lb.url)));
    const bookings = [];
    for (const m of members) bookings.push(await book(lb.url, m, space));
    const answers = await Promise.all(bookings.flatMap((b, i) => [0, 1].map(() =>
      request('POST', `/api/v1/bookings/${b.id}/payment`, { base: lb.url, headers: bearer(members[i].token) }))));
    for (const a of answers) assert.ok(a.status === 201 || a.status === 200, a.text);
    for (const b of bookings) {
      assert.equal(stripe.created('/v1/payment_intents').filter((r) => r.params['metadata[booking_id]'] === b.id).length, 1);
    }
    const emails = members.map((m) => psql(`SELECT email FROM workon.users WHERE id = ${lit(m.id)}`));
    await waitFor(() => emails.every((e) => resend.to(e).length >= 1), 20000, 100);
    await sleep(1500); // a second send would come within this
    for (const e of emails) assert.equal(resend.to(e).length, 1, e);
    for (const [key, n] of perKey(stripe.requests)) assert.equal(n, 1, `Stripe got ${key} ${n} times`);
    for (const [key, n] of perKey(resend.requests)) assert.equal(n, 1, `Resend got ${key} ${n} times`);
  });

  // A request through the balancer and the instance that answered it (every request is a
  // connection of its own, and the balancer hands each to the next instance).
  async function via(method, path, opts = {}) {
    const before = [...lb.counts];
    const res = await request(method, path, { base: lb.url, ...opts });
    const served = lb.counts.map((n, i) => n - before[i]);
    assert.equal(served.reduce((a, b) => a + b, 0), 1, `one connection for ${method} ${path}`);
    return { res, instance: served.indexOf(1) };
  }

  // declares an upload and PUTs its bytes to the signed URL, each on another instance
  async function uploadThrough(user, filename, bytes) {
    const d = await via('POST', '/api/v1/uploads', {
      headers: bearer(user.token), body: { filename, content_type: 'image/jpeg', size: bytes.length },
    });
    assert.equal(d.res.status, 201, d.res.text);
    const put = await via('PUT', d.res.json.upload_url, { body: bytes, headers: { 'content-type': 'application/octet-stream' } });
    assert.equal(put.res.status, 201, put.res.text);
    assert.notEqual(put.instance, d.instance, 'the URL signed by one instance is verified by another');
    assert.equal(put.res.json.id, d.res.json.id);
    assert.equal(put.res.json.size, bytes.length);
    return put.res.json;
  }

  test('an upload: declared on one instance, its bytes put on another, a space photo served by all three', async () => {
    const h = await register(lb.url, 'host');
    const s = await createSpace(lb.url, h);
    const bytes = JPEG(6000);
    const up = await uploadThrough(h, 'room.jpg', bytes);
    const set = await via('PUT', `/api/v1/spaces/${s.id}/photos`, { headers: bearer(h.token), body: { upload_ids: [up.id] } });
    assert.equal(set.res.status, 200, set.res.text);
    assert.deepEqual(set.res.json.photos.map((p) => p.id), [up.id]);
    const url = set.res.json.photos[0].url;
    assert.equal(url, `/api/v1/uploads/${up.id}/content`);
    const seen = new Set();
    for (let i = 0; i < N; i++) {
      const doc = await via('GET', `/api/v1/spaces/${s.id}`);
      assert.deepEqual(doc.res.json.photos.map((p) => p.url), [url]);
      const got = await via('GET', url);
      assert.equal(got.res.status, 200, got.res.text);
      assert.ok(got.res.raw.equals(bytes), `instance ${got.instance} returns the bytes put`);
      assert.equal(got.res.headers['content-type'], 'image/jpeg');
      assert.equal(got.res.headers['cache-control'], 'public, max-age=86400');
      seen.add(got.instance);
    }
    assert.equal(seen.size, N, 'every instance served the photo');
  });

  test('a review after a booking paid and ended, answered and hidden on other instances; the rating on all three', async () => {
    const [h, m, admin] = await Promise.all([register(lb.url, 'host'), register(lb.url), userWithRole('admin', { base: lb.url })]);
    const s = await createSpace(lb.url, h);
    const b = await book(lb.url, m, s);
    const paid = await request('POST', `/api/v1/bookings/${b.id}/payment`, { base: lb.url, headers: bearer(m.token) });
    assert.equal(paid.status, 201, paid.text);
    const ev = stripeEvent('payment_intent.succeeded', paymentIntentObject({
      id: paid.json.stripe_payment_intent_id, amount: b.price.amount_cents, currency: b.price.currency,
      metadata: { booking_id: b.id },
    }));
    assert.equal((await deliver(lb.url, ev)).status, 200);
    assert.equal(await bookingStatus(lb.url, m, b), 'confirmed');
    const review = () => via('POST', `/api/v1/spaces/${s.id}/reviews`, { headers: bearer(m.token), body: { booking_id: b.id, rating: 4, body: 'Quiet and bright' } });
    // not yet ended: refused
    expectError((await review()).res, 409, 'not_eligible');
    // it took place: the booking moved to yesterday, as no route can
    psql(`UPDATE workon.bookings SET starts_at = now() - interval '26 hours', ends_at = now() - interval '25 hours' WHERE id = ${lit(b.id)}`);
    const r = await review();
    assert.equal(r.res.status, 201, r.res.text);
    assert.equal(r.res.json.rating, 4);
    const again = await review();
    assert.notEqual(again.instance, r.instance);
    expectError(again.res, 409, 'already_reviewed');
    const answer = await via('POST', `/api/v1/reviews/${r.res.json.id}/answer`, { headers: bearer(h.token), body: { body: 'Thank you' } });
    assert.equal(answer.res.status, 200, answer.res.text);
    assert.equal(answer.res.json.answer, 'Thank you');
    const rated = async (expected) => {
      for (let i = 0; i < N; i++) {
        const doc = await via('GET', `/api/v1/spaces/${s.id}`);
        assert.deepEqual(doc.res.json.rating, expected, `instance ${doc.instance}`);
        const list = await via('GET', `/api/v1/spaces/${s.id}/reviews`);
        assert.equal(list.res.status, 200, list.res.text);
        assert.deepEqual(list.res.json.data.map((x) => [x.id, x.answer]), expected.count ? [[r.res.json.id, 'Thank you']] : []);
      }
    };
    await rated({ average: 4, count: 1 });
    const hidden = await via('POST', `/api/v1/admin/reviews/${r.res.json.id}/hide`, { headers: bearer(admin.token), body: { reason: 'Test of hiding' } });
    assert.equal(hidden.res.status, 200, hidden.res.text);
    assert.equal(hidden.res.json.hidden, true);
    await rated({ average: null, count: 0 });
    assert.equal(psql(`SELECT count(*) FROM workon.audit_log WHERE entity = 'reviews' AND entity_id = ${lit(r.res.json.id)}
                        AND actor_id = ${lit(admin.id)} AND after ->> 'hidden_reason' = 'Test of hiding'`), '1');
  });

  test('a blog post written by an admin is public on every instance; its ETag gives 304 on another instance', async () => {
    const admin = await userWithRole('admin', { base: lb.url });
    const cover = await uploadThrough(admin, 'cover.jpg', JPEG(3000));
    const tag = `multi${unique()}`;
    const created = await via('POST', '/api/v1/admin/posts', {
      headers: bearer(admin.token), body: { title: `Three shims ${tag}`, tags: [tag], markdown: 'One *service*', cover_upload_id: cover.id },
    });
    assert.equal(created.res.status, 201, created.res.text);
    const post = created.res.json;
    assert.equal(post.status, 'draft');
    const path = `/api/v1/posts/${post.slug}`;
    // a draft on no instance
    for (let i = 0; i < N; i++) expectError((await via('GET', path)).res, 404, 'not_found');
    const pub = await via('PATCH', `/api/v1/admin/posts/${post.id}`, {
      headers: bearer(admin.token), body: { published_at: new Date(Date.now() - 1000).toISOString() },
    });
    assert.equal(pub.res.json.status, 'published', pub.res.text);
    const first = await via('GET', path);
    assert.equal(first.res.status, 200, first.res.text);
    assert.equal(first.res.json.html, '<p>One <em>service</em></p>\n');
    assert.equal(first.res.json.cover.id, cover.id);
    const etag = first.res.headers.etag;
    assert.match(etag, /^"[0-9a-f]{32}"$/);
    const listed = await via('GET', `/api/v1/posts?tag=${tag}`);
    assert.deepEqual(listed.res.json.data.map((p) => p.id), [post.id]);
    const img = await via('GET', first.res.json.cover.url);
    assert.equal(img.res.status, 200, img.res.text);
    // the same ETag, and 304, from every other instance
    const others = new Set();
    for (let i = 0; i < N; i++) {
      const again = await via('GET', path, { headers: { 'if-none-match': etag } });
      assert.equal(again.res.status, 304, `instance ${again.instance}: ${again.res.text}`);
      assert.equal(again.res.headers.etag, etag);
      assert.equal(again.res.raw.length, 0);
      if (again.instance !== first.instance) others.add(again.instance);
    }
    assert.equal(others.size, N - 1, 'a 304 from each of the other instances');
    // changed through one instance: every instance answers the new body to the old ETag
    const edit = await via('PATCH', `/api/v1/admin/posts/${post.id}`, { headers: bearer(admin.token), body: { markdown: 'Now *three*' } });
    assert.equal(edit.res.status, 200, edit.res.text);
    for (let i = 0; i < N; i++) {
      const changed = await via('GET', path, { headers: { 'if-none-match': etag } });
      assert.equal(changed.res.status, 200, `instance ${changed.instance}`);
      assert.notEqual(changed.res.headers.etag, etag);
      assert.equal(changed.res.json.html, '<p>Now <em>three</em></p>\n');
    }
  });

  test('a password reset asked on one instance, mailed once by the outbox, completed on another', async () => {
    const email = `reset-${unique()}@example.com`;
    const password = `long secret ${unique()}`;
    const reg = await via('POST', '/api/v1/auth/register', { body: { email, password, name: 'Forgetful' } });
    assert.equal(reg.res.status, 201, reg.res.text);
    const forgot = await via('POST', '/api/v1/auth/password/forgot', { body: { email } });
    assert.equal(forgot.res.status, 202, forgot.res.text);
    // the reset mail, by the idempotency key of its outbox row
    const rows = () => psqlRows(`SELECT idempotency_key FROM workon.outbox WHERE kind = 'email'
                                   AND params ->> 'to' = ${lit(email)} AND params ->> 'template' = 'password_reset'`);
    let mails;
    await waitFor(() => {
      const keys = new Set(rows().map((x) => x.idempotency_key));
      mails = resend.to(email).filter((x) => keys.has(x.idempotencyKey));
      return mails.length >= 1;
    }, 20000, 50);
    const token = /token=([A-Za-z0-9_-]+)/.exec(mails[0].body.text)?.[1];
    assert.ok(token, mails[0].body.text);
    const newPassword = `reset secret ${unique()}`;
    const reset = await via('POST', '/api/v1/auth/password/reset', { body: { token, password: newPassword } });
    assert.equal(reset.res.status, 204, reset.res.text);
    assert.notEqual(reset.instance, forgot.instance);
    const reused = await via('POST', '/api/v1/auth/password/reset', { body: { token, password: `again ${unique()}` } });
    assert.notEqual(reused.instance, reset.instance);
    expectError(reused.res, 400, 'invalid_token');
    expectError((await via('POST', '/api/v1/auth/refresh', { body: { refresh_token: reg.res.json.refresh_token } })).res, 401, 'invalid_refresh_token');
    expectError((await via('POST', '/api/v1/auth/login', { body: { email, password } })).res, 401, 'invalid_credentials');
    const login = await via('POST', '/api/v1/auth/login', { body: { email, password: newPassword } });
    assert.equal(login.res.status, 200, login.res.text);
    assert.equal(login.res.json.user.id, reg.res.json.user.id);
    await sleep(1500); // a second send would come within this
    assert.equal(rows().length, 1);
    assert.equal(resend.to(email).filter((x) => x.idempotencyKey === rows()[0].idempotency_key).length, 1, 'the reset mail was sent once');
  });
});

describe('one rate-limit budget for three shims', () => {
  const LIMIT = 30;
  let shims = [];
  let lb;

  before(async () => {
    shims = await startShims({
      RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_LIMIT: String(LIMIT), RATE_LIMIT_TTL: '60', TRUSTED_PROXIES: '127.0.0.1',
    });
    lb = await startBalancer(shims.map((s) => s.url));
    await sleep(2000); // each instance hears of the others (once a second)
  });
  after(async () => {
    await lb?.stop();
    await Promise.all(shims.map((s) => s.stop()));
  });

  const spaces = (xff, headers = {}) =>
    request('GET', '/api/v1/spaces?limit=1', { base: lb.url, headers: { 'x-forwarded-for': xff, ...headers } });

  test('a burst over the three instances at once gets at most twice the budget, not three times', async () => {
    const answers = await Promise.all(Array.from({ length: 5 * LIMIT }, () => spaces('203.0.113.61')));
    const passed = answers.filter((a) => a.status === 200).length;
    assert.ok(answers.every((a) => a.status === 200 || a.status === 429));
    assert.ok(passed >= LIMIT / N && passed <= 2 * LIMIT, `passed ${passed} of ${answers.length}`);
    // and once the counts went round, none of the instances lets it through
    await sleep(600);
    for (const s of shims) {
      const res = await request('GET', '/api/v1/spaces?limit=1', { base: s.url, headers: { 'x-forwarded-for': '203.0.113.61' } });
      assert.equal(res.status, 429, s.url);
    }
  });

  test('requests at a steady pace get the budget, and little more', async () => {
    let passed = 0;
    for (let i = 0; i < 3 * LIMIT; i++) {
      if ((await spaces('203.0.113.62')).status === 200) passed++;
      await sleep(10);
    }
    assert.ok(passed >= LIMIT && passed <= LIMIT + Math.ceil(LIMIT / 2), `passed ${passed}`);
    // another client is untouched
    assert.equal((await spaces('203.0.113.63')).status, 200);
  });

  test('a user is one budget on every instance', async () => {
    const user = await register(shims[0].url);
    // each instance learns the token's owner from its first answer
    for (const s of shims) {
      assert.equal((await request('GET', '/api/v1/me', { base: s.url, headers: { ...bearer(user.token), 'x-forwarded-for': '203.0.113.64' } })).status, 200);
    }
    await sleep(600);
    let passed = 0;
    for (let i = 0; i < 3 * LIMIT; i++) {
      // a new address each time: the budget is the user's
      const res = await spaces(`198.51.100.${i + 1}`, bearer(user.token));
      if (res.status === 200) passed++;
      await sleep(10);
    }
    assert.ok(passed >= LIMIT - N - 3 && passed <= LIMIT + Math.ceil(LIMIT / 2), `passed ${passed}`);
  });
});
