// E-mail end to end: the notifications and the account flows' mails, rendered by the
// database and delivered by the shim to a fake Resend (lib/fake-resend.mjs): once each,
// to the right address, in the recipient's language, with the outbox row's idempotency
// key; 429 (Retry-After), 500 and a hang retried; a 422 dead until an admin retries it;
// a shim SIGKILLed between Resend's answer and the database; the reset and verification
// flows with reuse and expiry of their tokens; capture mode; many mails in flight at once
// against a slow provider while a refund still goes to Stripe;
// start-up refusals are in startup.test.mjs.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { expectError, lit, psql, psqlRows, request, sleep, startShim, waitFor } from './lib/client.mjs';
import { resendEnv, startFakeResend } from './lib/fake-resend.mjs';
import { paymentIntentObject, stripeEvent } from './lib/fake-stripe.mjs';
import {
  bearer, book, createSpace, deliver, nextHour, pay, startPaymentStack, unique, waitReady,
} from './lib/payments.mjs';

const FROM = 'workon <bookings@workon.example>';

let resend;
let stack;
let base;

async function registerUser(role) {
  const email = `mail-${unique()}@example.com`;
  const password = `long secret ${unique()}`;
  const res = await request('POST', '/api/v1/auth/register', {
    base, body: { email, password, name: 'Mia <b>', ...(role ? { role } : {}) },
  });
  assert.equal(res.status, 201, res.text);
  return { id: res.json.user.id, email, password, token: res.json.access_token, refresh: res.json.refresh_token };
}

async function adminToken(b) {
  const email = `admin-${unique()}@example.com`;
  psql(`SELECT workon.create_user(${lit(email)}, 'admin long password', 'Admin', 'admin')`);
  const res = await request('POST', '/api/v1/auth/login', { base: b, body: { email, password: 'admin long password' } });
  assert.equal(res.status, 200, res.text);
  return res.json.access_token;
}

// the outbox rows of mails to an address
const mailRows = (address, template) => psqlRows(
  `SELECT id, status, attempts, last_error, idempotency_key, params ->> 'template' AS template,
          params ->> 'locale' AS locale, response_status
     FROM workon.outbox WHERE kind = 'email' AND params ->> 'to' = ${lit(address)}
      ${template ? `AND params ->> 'template' = ${lit(template)}` : ''} ORDER BY id`);

// waits until the fake received a mail of a template (by its subject's row) to an address
async function mailTo(address, template, { timeoutMs = 15000, count = 1 } = {}) {
  let found;
  await waitFor(() => {
    const keys = new Set(mailRows(address, template).map((r) => r.idempotency_key));
    found = resend.to(address).filter((r) => keys.has(r.idempotencyKey));
    return found.length >= count;
  }, timeoutMs, 50);
  return found;
}

const tokenIn = (mail) => /token=([A-Za-z0-9_-]+)/.exec(mail.body.text)?.[1];

// nothing left to send: every mail row is done or dead
const idle = () => waitFor(() => psql("SELECT count(*) FROM workon.outbox WHERE kind = 'email' AND status = 'pending'") === '0', 30000, 100);

before(async () => {
  resend = await startFakeResend();
  stack = await startPaymentStack({ ...resendEnv(resend, FROM), EMAIL_TIMEOUT_MS: '1000' });
  base = stack.url;
});
after(async () => {
  await stack?.stop();
  await resend?.close();
});

describe('notifications through Resend', () => {
  test('registration: one verification mail, from EMAIL_FROM, with the row\'s idempotency key and both bodies', async () => {
    const u = await registerUser();
    const [mail] = await mailTo(u.email, 'email_verification');
    const [row] = mailRows(u.email, 'email_verification');
    assert.equal(mail.headers.authorization, `Bearer ${resend.apiKey}`);
    assert.match(mail.headers['content-type'], /^application\/json/);
    assert.equal(mail.idempotencyKey, row.idempotency_key);
    assert.match(row.idempotency_key, /^email:email_verification:/);
    assert.equal(mail.body.from, FROM);
    assert.deepEqual([].concat(mail.body.to), [u.email]);
    assert.equal(mail.body.subject, 'Confirm your e-mail address');
    assert.match(mail.body.text, /^Hello Mia <b>,/);
    assert.match(mail.body.html, /Hello Mia &lt;b&gt;,/);
    assert.ok(tokenIn(mail), mail.body.text);
    await waitFor(() => mailRows(u.email, 'email_verification')[0].status === 'done', 5000);
    // delivered: the one-time link is not kept in the database
    assert.equal(psql(`SELECT params ->> 'text' LIKE '%token=%' FROM workon.outbox WHERE id = ${row.id}`), 'f');
    await sleep(300);
    assert.equal(resend.to(u.email).length, 1, 'sent more than once');
    // the key stays at the provider
    assert.ok(!stack.shim.output().includes(resend.apiKey), 'the API key is in the log');
  });

  test('booking confirmed, cancelled with its refund, payment failed: once each, in the member\'s language', async () => {
    const host = await registerUser('host');
    const member = await registerUser();
    const patch = await request('PATCH', '/api/v1/me', { base, headers: bearer(member.token), body: { locale: 'fr' } });
    assert.equal(patch.status, 200, patch.text);
    assert.equal(patch.json.locale, 'fr');
    const space = await createSpace(base, host, 2000);

    // a failed attempt, then success
    const b = await book(base, member, space, nextHour());
    const p = await pay(base, member, b);
    assert.equal(p.status, 201, p.text);
    const pi = p.json.stripe_payment_intent_id;
    const obj = (status, extra = {}) => paymentIntentObject({
      id: pi, amount: b.price.amount_cents, currency: b.price.currency, metadata: { booking_id: b.id }, status, ...extra,
    });
    assert.equal((await deliver(base, stripeEvent('payment_intent.payment_failed',
      obj('requires_payment_method', { error: { message: 'Your card was declined.' } })))).status, 200);
    const [failed] = await mailTo(member.email, 'payment_failed');
    assert.match(failed.body.subject, /^Votre paiement pour Paid Room .* n'a pas abouti$/);
    assert.match(failed.body.text, /Your card was declined\./);
    assert.match(failed.body.text, /20,00\u00a0€/);

    assert.equal((await deliver(base, stripeEvent('payment_intent.succeeded', obj('succeeded')))).status, 200);
    const [confirmed] = await mailTo(member.email, 'booking_confirmed');
    assert.match(confirmed.body.subject, /^Votre réservation à Paid Room .* est confirmée$/);
    assert.match(confirmed.body.text, /Payé : 20,00\u00a0€/);
    assert.match(confirmed.body.text, /\(heure locale, UTC\)/);
    assert.equal(confirmed.idempotencyKey, `email:booking_confirmed:${b.id}`);

    const cancel = await request('POST', `/api/v1/bookings/${b.id}/cancel`, { base, headers: bearer(member.token) });
    assert.equal(cancel.status, 200, cancel.text);
    const [cancelled] = await mailTo(member.email, 'booking_cancelled');
    assert.match(cancelled.body.subject, /est annulée$/);
    assert.match(cancelled.body.text, /Remboursement : 20,00\u00a0€ \(100 %/);
    assert.equal(cancelled.idempotencyKey, `email:booking_cancelled:${b.id}`);

    // a webhook delivered again sends nothing again; the cancellation's mail tells of the refund
    assert.equal((await deliver(base, stripeEvent('payment_intent.succeeded', obj('succeeded')))).status, 200);
    await idle();
    await sleep(300);
    const templates = resend.to(member.email).map((r) => r.idempotencyKey.split(':')[1]).sort();
    assert.deepEqual(templates, ['booking_cancelled', 'booking_confirmed', 'email_verification', 'payment_failed']);
    assert.ok(resend.to(member.email).every((r) => r.body.from === FROM));
  });
});

describe('delivery', () => {
  test('429 with Retry-After, 500 and a hang are retried with the same key until it is sent, once', async () => {
    await idle();
    const u = await registerUser();
    await mailTo(u.email, 'email_verification');
    await idle();
    resend.failNext({ status: 429, headers: { 'retry-after': '2' } });
    resend.failNext({ status: 500 });
    resend.failNext({ mode: 'hang' });
    const started = Date.now();
    const res = await request('POST', '/api/v1/auth/password/forgot', { base, body: { email: u.email } });
    assert.equal(res.status, 202, res.text);
    const [mail] = await mailTo(u.email, 'password_reset', { timeoutMs: 40000 });
    const [row] = mailRows(u.email, 'password_reset');
    const attempts = resend.requests.filter((r) => r.idempotencyKey === row.idempotency_key);
    assert.deepEqual(attempts.map((r) => r.outcome), ['error 429', 'error 500', 'hang', 'sent']);
    // Retry-After honoured: the second attempt came at least 2 s after the first
    assert.ok(attempts[1].at - attempts[0].at >= 1900, `retried after ${attempts[1].at - attempts[0].at} ms`);
    assert.ok(mail.at - started < 40000);
    await waitFor(() => mailRows(u.email, 'password_reset')[0].status === 'done', 5000);
    assert.equal(mailRows(u.email, 'password_reset')[0].attempts, 4);
    await sleep(300);
    assert.equal(resend.to(u.email).filter((r) => r.idempotencyKey === row.idempotency_key).length, 1);
  });

  test('a 422 is dead with Resend\'s reason; listed for admins, and an admin retry sends it', async () => {
    await idle();
    const admin = await adminToken(base);
    const u = await registerUser();
    await mailTo(u.email, 'email_verification');
    await idle();
    resend.failNext({ status: 422, name: 'validation_error', message: 'Invalid `to` field.' });
    const res = await request('POST', '/api/v1/me/password', {
      base, headers: bearer(u.token), body: { current_password: u.password, password: `new secret ${unique()}` },
    });
    assert.equal(res.status, 204, res.text);
    await waitFor(() => mailRows(u.email, 'password_changed')[0]?.status === 'dead', 10000);
    const [row] = mailRows(u.email, 'password_changed');
    assert.equal(row.last_error, 'validation_error: Invalid `to` field.');
    assert.equal(Number(row.response_status), 422);

    const list = await request('GET', `/api/v1/admin/emails?status=dead&to=${encodeURIComponent(u.email)}`, { base, headers: bearer(admin) });
    assert.equal(list.status, 200, list.text);
    assert.equal(list.json.data.length, 1);
    assert.equal(list.json.data[0].id, Number(row.id));
    assert.equal(list.json.data[0].last_error, row.last_error);
    assert.equal(list.json.data[0].text, undefined, 'the list shows bodies');
    expectError(await request('GET', '/api/v1/admin/emails', { base, headers: bearer(u.token) }), 403, 'forbidden');

    const retry = await request('POST', `/api/v1/admin/emails/${row.id}/retry`, { base, headers: bearer(admin) });
    assert.equal(retry.status, 200, retry.text);
    const [mail] = await mailTo(u.email, 'password_changed');
    assert.equal(mail.idempotencyKey, row.idempotency_key);
    await waitFor(() => mailRows(u.email, 'password_changed')[0].status === 'done', 5000);
    expectError(await request('POST', `/api/v1/admin/emails/${row.id}/retry`, { base, headers: bearer(admin) }), 404, 'not_found');
  });
});

describe('account flows', () => {
  test('password reset: 202 alike for an unknown address, a single-use link, every session revoked', async () => {
    const u = await registerUser();
    await mailTo(u.email, 'email_verification');
    const unknown = `nobody-${unique()}@example.com`;
    const a = await request('POST', '/api/v1/auth/password/forgot', { base, body: { email: unknown } });
    const b = await request('POST', '/api/v1/auth/password/forgot', { base, body: { email: u.email.toUpperCase() } });
    assert.equal(a.status, 202, a.text);
    assert.equal(b.status, 202, b.text);
    assert.equal(a.text, b.text);
    expectError(await request('POST', '/api/v1/auth/password/forgot', { base, body: { email: 'nope' } }), 400, 'validation_failed');

    const [mail] = await mailTo(u.email, 'password_reset');
    const token = tokenIn(mail);
    assert.ok(token, mail.body.text);
    assert.match(mail.body.html, new RegExp(`href="[^"]*reset-password\\?token=${token}"`));
    // stored only as a keyed hash
    assert.equal(psql(`SELECT count(*) FROM workon.account_tokens WHERE encode(token_hash, 'escape') LIKE ${lit(`%${token}%`)}`), '0');

    const newPassword = `reset secret ${unique()}`;
    const weak = await request('POST', '/api/v1/auth/password/reset', { base, body: { token, password: 'short' } });
    expectError(weak, 400, 'validation_failed');
    const ok = await request('POST', '/api/v1/auth/password/reset', { base, body: { token, password: newPassword } });
    assert.equal(ok.status, 204, ok.text);
    expectError(await request('POST', '/api/v1/auth/password/reset', { base, body: { token, password: `again ${unique()}` } }), 400, 'invalid_token');
    expectError(await request('POST', '/api/v1/auth/refresh', { base, body: { refresh_token: u.refresh } }), 401, 'invalid_refresh_token');
    expectError(await request('POST', '/api/v1/auth/login', { base, body: { email: u.email, password: u.password } }), 401, 'invalid_credentials');
    const login = await request('POST', '/api/v1/auth/login', { base, body: { email: u.email, password: newPassword } });
    assert.equal(login.status, 200, login.text);
    await mailTo(u.email, 'password_changed');

    // an expired link
    assert.equal((await request('POST', '/api/v1/auth/password/forgot', { base, body: { email: u.email } })).status, 202);
    const [, second] = await mailTo(u.email, 'password_reset', { count: 2 });
    psql(`UPDATE workon.account_tokens SET created_at = now() - interval '61 minutes', expires_at = now() - interval '1 minute'
           WHERE token_hash = workon.account_token_hash(${lit(tokenIn(second))})`);
    expectError(await request('POST', '/api/v1/auth/password/reset', { base, body: { token: tokenIn(second), password: `later ${unique()}` } }), 400, 'invalid_token');
    await sleep(300);
    assert.equal(resend.to(unknown).length, 0, 'mailed an unknown address');
  });

  test('verification: the link verifies once, expires, resend needs a token; GET /me shows it', async () => {
    const u = await registerUser();
    const me = await request('GET', '/api/v1/me', { base, headers: bearer(u.token) });
    assert.equal(me.status, 200, me.text);
    assert.equal(me.json.email_verified, false);
    assert.equal(me.json.locale, 'en');
    const [first] = await mailTo(u.email, 'email_verification');

    expectError(await request('POST', '/api/v1/auth/verify-email/resend', { base }), 401, 'unauthorized');
    assert.equal((await request('POST', '/api/v1/auth/verify-email/resend', { base, headers: bearer(u.token) })).status, 202);
    const [, second] = await mailTo(u.email, 'email_verification', { count: 2 });
    psql(`UPDATE workon.account_tokens SET created_at = now() - interval '25 hours', expires_at = now() - interval '1 hour'
           WHERE token_hash = workon.account_token_hash(${lit(tokenIn(second))})`);
    expectError(await request('POST', '/api/v1/auth/verify-email', { base, body: { token: tokenIn(second) } }), 400, 'invalid_token');

    const ok = await request('POST', '/api/v1/auth/verify-email', { base, body: { token: tokenIn(first) } });
    assert.equal(ok.status, 204, ok.text);
    expectError(await request('POST', '/api/v1/auth/verify-email', { base, body: { token: tokenIn(first) } }), 400, 'invalid_token');
    const after = await request('GET', '/api/v1/me', { base, headers: bearer(u.token) });
    assert.equal(after.json.email_verified, true);
    expectError(await request('POST', '/api/v1/auth/verify-email/resend', { base, headers: bearer(u.token) }), 409, 'email_already_verified');
  });
});

describe('many mails at once', () => {
  test('more than 8 mails in flight against a slow provider, each sent once; a refund is not held back behind them', async () => {
    await idle();
    const host = await registerUser('host');
    const member = await registerUser();
    const space = await createSpace(base, host, 2000);
    const b = await book(base, member, space);
    const p = await pay(base, member, b);
    assert.equal(p.status, 201, p.text);
    assert.equal((await deliver(base, stripeEvent('payment_intent.succeeded', paymentIntentObject({
      id: p.json.stripe_payment_intent_id, amount: b.price.amount_cents, currency: b.price.currency,
      metadata: { booking_id: b.id },
    })))).status, 200);
    await mailTo(member.email, 'booking_confirmed');
    await idle();

    // a provider answering in 600 ms (EMAIL_TIMEOUT_MS is 1000 here): 8 in flight would take 20 s
    const n = 300;
    const tag = `many-${unique()}`;
    const ours = (r) => r.idempotencyKey?.startsWith(`email:${tag}:`);
    resend.answerDelayMs = 600;
    resend.maxInFlight = resend.inFlight;
    try {
      psql(`SELECT count(workon.email_send(${lit(member.id)}, 'password_changed', '{}', ${lit(tag)} || ':' || g))
              FROM generate_series(1, ${n}) AS g`);
      await waitFor(() => resend.inFlight > 8, 10000, 5);

      // the refund of a cancelled booking goes out while the mails are in flight
      const cancel = await request('POST', `/api/v1/bookings/${b.id}/cancel`, { base, headers: bearer(member.token) });
      assert.equal(cancel.status, 200, cancel.text);
      await waitFor(() => psql(`SELECT status FROM workon.outbox WHERE path = '/v1/refunds' AND booking_id = ${lit(b.id)}`) === 'done', 10000, 20);
      assert.equal(stack.fake.created('/v1/refunds').filter((r) => r.params.payment_intent === p.json.stripe_payment_intent_id).length, 1);
      const left = Number(psql(`SELECT count(*) FROM workon.outbox WHERE kind = 'email' AND status = 'pending'
                                   AND idempotency_key LIKE ${lit(`email:${tag}:%`)}`));
      assert.ok(left > 0, 'the refund waited until every mail was sent');

      const started = Date.now();
      await waitFor(() => resend.sent(ours).length >= n, 30000, 50);
      await idle();
      // the concurrency is real (EMAIL_CONCURRENCY, 64) and bounded
      assert.ok(resend.maxInFlight > 8, `at most ${resend.maxInFlight} mails in flight`);
      assert.ok(resend.maxInFlight <= 64, `${resend.maxInFlight} mails in flight, more than EMAIL_CONCURRENCY`);
      assert.ok(Date.now() - started < 15000, `the mails took ${Date.now() - started} ms`);
    } finally {
      resend.answerDelayMs = 0;
    }
    await sleep(300);
    const keys = resend.sent(ours).map((r) => r.idempotencyKey);
    assert.equal(keys.length, n);
    assert.equal(new Set(keys).size, n, 'a mail was sent twice');
    assert.equal(psql(`SELECT count(*) FROM workon.outbox WHERE idempotency_key LIKE ${lit(`email:${tag}:%`)} AND status = 'done'`), String(n));
  });
});

describe('a shim killed after Resend sent the mail, before the database heard of it', () => {
  test('the row comes back after its lease and goes out again with the same key: Resend sends it once', async () => {
    await idle();
    const u = await registerUser();
    await mailTo(u.email, 'email_verification');
    await idle();
    resend.holdAnswerMs = 5000;
    try {
      const res = await request('POST', '/api/v1/auth/password/forgot', { base, body: { email: u.email } });
      assert.equal(res.status, 202, res.text);
      await mailTo(u.email, 'password_reset');
    } finally {
      resend.holdAnswerMs = 0;
    }
    process.kill(stack.shim.pid, 'SIGKILL');
    await waitFor(() => !stack.shim.alive(), 5000);
    const [row] = mailRows(u.email, 'password_reset');
    assert.equal(row.status, 'pending', 'the answer was recorded');
    // the 60 s lease, run out now
    psql(`UPDATE workon.outbox SET next_attempt_at = now() WHERE id = ${row.id}`);
    const again = await startShim({ ...resendEnv(resend, FROM), SHIM_THREADS: '1' });
    try {
      await waitFor(() => mailRows(u.email, 'password_reset')[0].status === 'done', 15000);
      const sends = resend.requests.filter((r) => r.idempotencyKey === row.idempotency_key);
      assert.deepEqual(sends.map((r) => r.outcome), ['sent', 'replayed']);
      assert.equal(resend.to(u.email).filter((r) => r.idempotencyKey === row.idempotency_key).length, 1);
    } finally {
      await again.stop();
    }
  });
});

describe('capture', () => {
  test('EMAIL_TRANSPORT=capture keeps the mail whole for admins and sends nothing', async () => {
    await idle();
    await stack.shim.stop();
    const capture = await startShim({ EMAIL_TRANSPORT: 'capture', SHIM_THREADS: '1' });
    try {
      await waitReady(capture.url);
      const before = resend.requests.length;
      const email = `capture-${unique()}@example.com`;
      const reg = await request('POST', '/api/v1/auth/register', { base: capture.url, body: { email, password: `long secret ${unique()}`, name: 'Cap' } });
      assert.equal(reg.status, 201, reg.text);
      await waitFor(() => mailRows(email)[0]?.status === 'done', 10000);
      const admin = await adminToken(capture.url);
      const list = await request('GET', `/api/v1/admin/emails?to=${encodeURIComponent(email)}`, { base: capture.url, headers: bearer(admin) });
      assert.equal(list.status, 200, list.text);
      assert.equal(list.json.data.length, 1);
      const one = await request('GET', `/api/v1/admin/emails/${list.json.data[0].id}`, { base: capture.url, headers: bearer(admin) });
      assert.equal(one.status, 200, one.text);
      assert.equal(one.json.status, 'done');
      assert.equal(one.json.to, email);
      assert.match(one.json.text, /verify-email\?token=/);
      assert.match(one.json.html, /<a href="[^"]*verify-email\?token=/);
      assert.equal(resend.requests.length, before, 'capture sent a mail');
    } finally {
      await capture.stop();
    }
  });
});
