// Payments end to end: the shim performs the Stripe calls the database queued (against
// the fake Stripe API of lib/fake-stripe.mjs), waits for them on POST /payment and
// /checkout, retries them in the background, and never sends one twice.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  addRoutes, expectError, h2connect, h2request, lit, psql, removeRoutes, request, sleep, startShim, waitFor,
} from './lib/client.mjs';
import { startFakeStripe, stripeEvent, paymentIntentObject } from './lib/fake-stripe.mjs';
import {
  bearer, book, checkout, createSpace, deliver, outboxRows, pay, paymentRow, register, startPaymentStack, waitReady,
} from './lib/payments.mjs';

let stack;
let base;
let host;
let member;
let other;
let space;

before(async () => {
  stack = await startPaymentStack();
  base = stack.url;
  [host, member, other] = await Promise.all([register(base, 'host'), register(base), register(base)]);
  space = await createSpace(base, host, 1500);
});
after(async () => { await stack?.stop(); });

const piCreations = (bookingId) =>
  stack.fake.created('/v1/payment_intents').filter((r) => r.params['metadata[booking_id]'] === bookingId);

describe('POST /bookings/{id}/payment', () => {
  test('201 with a client_secret from Stripe; the call carries key, idempotency key, version and the price', async () => {
    const b = await book(base, member, space);
    const res = await pay(base, member, b);
    assert.equal(res.status, 201, res.text);
    assert.equal(res.headers['x-workon-outbox'], undefined, 'the internal header leaked');
    const p = res.json;
    assert.equal(res.headers.location, `/api/v1/payments/${p.id}`);
    assert.match(p.stripe_payment_intent_id, /^pi_/);
    assert.ok(p.client_secret.startsWith(`${p.stripe_payment_intent_id}_secret_`), p.client_secret);
    assert.equal(p.amount_cents, b.price.amount_cents);
    assert.equal(p.currency, b.price.currency);
    assert.equal(typeof p.status, 'string');

    const calls = piCreations(b.id);
    assert.equal(calls.length, 1);
    const call = calls[0];
    assert.equal(call.headers.authorization, `Bearer ${stack.fake.secretKey}`);
    assert.equal(call.headers['stripe-version'], '2024-06-20');
    assert.match(call.headers['content-type'], /^application\/x-www-form-urlencoded/);
    assert.ok(call.idempotencyKey && call.idempotencyKey.length >= 8, 'no idempotency key');
    assert.equal(call.params.amount, String(b.price.amount_cents));
    assert.equal(call.params.currency, b.price.currency);
    assert.equal(call.params['metadata[booking_id]'], b.id);
    // the answer is stored: the database knows the PaymentIntent
    assert.equal(paymentRow(b.id).stripe_payment_intent_id, p.stripe_payment_intent_id);
    assert.ok(outboxRows(b.id).every((o) => o.status === 'done'));
    // the key goes to Stripe only
    assert.equal(psql(`SELECT count(*) FROM workon.outbox WHERE params::text LIKE ${lit(`%${stack.fake.secretKey}%`)}
                        OR coalesce(last_error, '') LIKE ${lit(`%${stack.fake.secretKey}%`)}`), '0');
    assert.ok(!stack.shim.output().includes(stack.fake.secretKey), 'the secret key is in the log');

    // a repeat: 200, the same payment, no second PaymentIntent
    const again = await pay(base, member, b);
    assert.equal(again.status, 200, again.text);
    assert.equal(again.json.id, p.id);
    assert.equal(again.json.stripe_payment_intent_id, p.stripe_payment_intent_id);
    assert.equal(again.json.client_secret, p.client_secret);
    assert.equal(piCreations(b.id).length, 1);

    // others cannot pay or see it
    expectError(await pay(base, other, b), 404, 'not_found');
    const get = await request('GET', `/api/v1/payments/${p.id}`, { base, headers: bearer(member.token) });
    assert.equal(get.status, 200, get.text);
    assert.equal(get.json.stripe_payment_intent_id, p.stripe_payment_intent_id);
    assert.ok(!get.json.client_secret, 'GET /payments/{id} shows the client_secret');
  });

  test('concurrent POSTs for one booking create one PaymentIntent and answer the same payment', async () => {
    const b = await book(base, member, space);
    stack.fake.answerDelayMs = 300; // keep the first call open while the others arrive
    let answers;
    try {
      answers = await Promise.all(Array.from({ length: 6 }, () => pay(base, member, b)));
    } finally {
      stack.fake.answerDelayMs = 0;
    }
    for (const r of answers) assert.ok([200, 201].includes(r.status), `${r.status} ${r.text}`);
    const pis = new Set(answers.map((r) => r.json.stripe_payment_intent_id));
    assert.equal(pis.size, 1, [...pis].join(' '));
    assert.equal(new Set(answers.map((r) => r.json.id)).size, 1);
    assert.equal(piCreations(b.id).length, 1);
  });

  test('409 unless the booking is pending payment', async () => {
    const b = await book(base, member, space);
    const cancel = await request('POST', `/api/v1/bookings/${b.id}/cancel`, { base, headers: bearer(member.token) });
    assert.equal(cancel.status, 200, cancel.text);
    expectError(await pay(base, member, b), 409, 'booking_not_payable');
    assert.equal(piCreations(b.id).length, 0);

    const expired = await book(base, member, space);
    psql(`UPDATE workon.bookings SET hold_expires_at = now() - interval '1 second' WHERE id = ${lit(expired.id)}`);
    expectError(await pay(base, member, expired), 409, 'booking_not_payable');
    expectError(await request('POST', `/api/v1/bookings/${b.id}/payment`, { base }), 401, 'unauthorized');
  });

  test('Stripe down: 503 with Retry-After, the payment stays consistent, the background worker finishes it', async () => {
    const b = await book(base, member, space);
    stack.fake.failNext({ mode: 'status', status: 500, path: '/v1/payment_intents' });
    const res = await pay(base, member, b);
    const err = expectError(res, 503, 'unavailable');
    assert.ok(err.message.length > 0);
    assert.match(res.headers['retry-after'] ?? '', /^\d+$/);
    let pay0 = paymentRow(b.id);
    assert.equal(pay0.stripe_payment_intent_id, null);
    let rows = outboxRows(b.id);
    assert.equal(rows.length, 1);
    assert.equal(rows[0].status, 'pending');
    assert.match(rows[0].last_error ?? '', /500/);
    assert.ok(!rows[0].last_error.includes(stack.fake.secretKey));

    // back up: the retry (backoff ~1 s) goes out by itself with the same idempotency key
    await waitFor(() => paymentRow(b.id).stripe_payment_intent_id !== null, 15000, 100);
    rows = outboxRows(b.id);
    assert.equal(rows.length, 1);
    assert.equal(rows[0].status, 'done');
    const keys = new Set(stack.fake.requests.filter((r) => r.params['metadata[booking_id]'] === b.id).map((r) => r.idempotencyKey));
    assert.equal(keys.size, 1, 'a retry used another idempotency key');
    pay0 = paymentRow(b.id);
    const again = await pay(base, member, b);
    assert.equal(again.status, 200, again.text);
    assert.equal(again.json.stripe_payment_intent_id, pay0.stripe_payment_intent_id);
    assert.equal(piCreations(b.id).length, 1);
  });

  test('a reset connection and a Stripe slower than STRIPE_TIMEOUT_MS are 503 too, bounded in time', async () => {
    const b1 = await book(base, member, space);
    stack.fake.failNext({ mode: 'reset', path: '/v1/payment_intents' });
    expectError(await pay(base, member, b1), 503, 'unavailable');

    const b2 = await book(base, member, space);
    stack.fake.failNext({ mode: 'hang', path: '/v1/payment_intents' });
    const t0 = Date.now();
    expectError(await pay(base, member, b2), 503, 'unavailable');
    const took = Date.now() - t0;
    assert.ok(took >= 1500 && took < 6000, `answered after ${took} ms with STRIPE_TIMEOUT_MS=2000`);
    assert.match(outboxRows(b2.id)[0].last_error ?? '', /timed out|timeout/i);

    // both are finished by the background worker, once each
    await waitFor(() => paymentRow(b1.id).stripe_payment_intent_id !== null && paymentRow(b2.id).stripe_payment_intent_id !== null, 20000, 200);
    assert.equal(piCreations(b1.id).length, 1);
    assert.equal(piCreations(b2.id).length, 1);
    assert.ok(stack.shim.alive());
  });

  test('Stripe refuses (4xx): 502 payment_provider_error, the row fails and is not retried; a new POST starts over', async () => {
    const b = await book(base, member, space);
    stack.fake.failNext({ mode: 'status', status: 400, code: 'parameter_invalid_integer', message: 'Invalid integer: amount', path: '/v1/payment_intents' });
    const res = await pay(base, member, b);
    const err = expectError(res, 502, 'payment_provider_error');
    assert.match(err.message, /Invalid integer/);
    let rows = outboxRows(b.id);
    assert.equal(rows.length, 1);
    assert.equal(rows[0].status, 'failed');
    const sent = stack.fake.requests.filter((r) => r.params['metadata[booking_id]'] === b.id).length;
    await sleep(2500); // the background worker would have retried a pending row by now
    assert.equal(stack.fake.requests.filter((r) => r.params['metadata[booking_id]'] === b.id).length, sent);

    const retry = await pay(base, member, b);
    assert.equal(retry.status, 201, retry.text);
    rows = outboxRows(b.id);
    assert.equal(rows.length, 2);
    assert.notEqual(rows[0].idempotency_key, rows[1].idempotency_key);
    assert.equal(piCreations(b.id).length, 1);
  });

  test('a 4xx that Stripe marks Stripe-Should-Retry: true (a lock timeout) is retried like a 5xx', async () => {
    const b = await book(base, member, space);
    stack.fake.failNext({
      mode: 'status', status: 409, code: 'lock_timeout', message: 'This object cannot be accessed right now.',
      headers: { 'stripe-should-retry': 'true' }, path: '/v1/payment_intents',
    });
    expectError(await pay(base, member, b), 503, 'unavailable');
    assert.equal(outboxRows(b.id)[0].status, 'pending');
    await waitFor(() => paymentRow(b.id).stripe_payment_intent_id !== null, 15000, 100);
    assert.equal(piCreations(b.id).length, 1);
  });

  test('an answer that is not JSON: a 200 is retried, a 4xx fails with the status', async () => {
    const b = await book(base, member, space);
    stack.fake.failNext({ mode: 'status', status: 200, rawBody: '<html>ok?</html>', path: '/v1/payment_intents' });
    expectError(await pay(base, member, b), 503, 'unavailable');
    assert.match(outboxRows(b.id)[0].last_error ?? '', /without JSON/);
    await waitFor(() => paymentRow(b.id).stripe_payment_intent_id !== null, 15000, 100);
    assert.equal(piCreations(b.id).length, 1);

    const b2 = await book(base, member, space);
    stack.fake.failNext({ mode: 'status', status: 403, rawBody: '<html>Forbidden</html>', path: '/v1/payment_intents' });
    expectError(await pay(base, member, b2), 502, 'payment_provider_error');
    assert.equal(outboxRows(b2.id)[0].status, 'failed');
  });

  test('a client that hangs up while Stripe is slow leaves the shim serving and the payment finished once', async () => {
    const b = await book(base, member, space);
    stack.fake.failNext({ mode: 'slow', delayMs: 1200, path: '/v1/payment_intents' });
    await assert.rejects(pay(base, member, b, { timeoutMs: 200 }));
    await waitFor(() => paymentRow(b.id).stripe_payment_intent_id !== null, 10000, 100);
    assert.ok(stack.shim.alive());
    const again = await pay(base, member, b);
    assert.equal(again.status, 200, again.text);
    assert.equal(piCreations(b.id).length, 1);
    assert.equal((await request('GET', '/healthz', { base })).status, 200);
  });
});

describe('the waiting path in the shim', () => {
  const PREFIX = '/api/v1/test/outbox/';
  const FUNCTIONS = `
CREATE TABLE workon.test_outbox_calls (n serial PRIMARY KEY, tag text);
CREATE FUNCTION workon.test_outbox_wait(tag text, id bigint DEFAULT NULL) RETURNS jsonb
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE calls integer;
BEGIN
  INSERT INTO workon.test_outbox_calls (tag) VALUES (test_outbox_wait.tag);
  SELECT count(*) INTO calls FROM workon.test_outbox_calls c WHERE c.tag = test_outbox_wait.tag;
  IF calls = 1 AND test_outbox_wait.id IS NOT NULL THEN
    PERFORM workon.wait_for_outbox(test_outbox_wait.id);
  END IF;
  RETURN jsonb_build_object('calls', calls);
END $$;
GRANT EXECUTE ON FUNCTION workon.test_outbox_wait(text, bigint) TO workon_anon;`;
  const DROP = 'DROP FUNCTION IF EXISTS workon.test_outbox_wait(text, bigint); DROP TABLE IF EXISTS workon.test_outbox_calls;';
  const ROUTES = [
    { method: 'POST', path: `${PREFIX}wait`, handler: 'workon.test_outbox_wait(text,bigint)', body: 'json', outbound: 'stripe' },
    { method: 'POST', path: `${PREFIX}undeclared`, handler: 'workon.test_outbox_wait(text,bigint)', body: 'json' },
  ];
  const call = (body, route = 'wait') => request('POST', `${PREFIX}${route}`, { base, body });

  before(async () => {
    await removeRoutes(PREFIX, DROP, { bases: [base] });
    await addRoutes(FUNCTIONS, ROUTES, { bases: [base] });
  });
  after(async () => { await removeRoutes(PREFIX, DROP, { bases: [base] }); });

  test('a row finished elsewhere: the request runs once more and answers with that', async () => {
    const id = psql(`INSERT INTO workon.outbox (kind, purpose, path, params, idempotency_key, status)
                     VALUES ('stripe', 'refund', '/v1/refunds', '{}', ${lit(`test:${Date.now()}:${Math.random()}`)}, 'done') RETURNING id`);
    const sent = stack.fake.requests.length;
    const res = await call({ tag: `rerun-${id}`, id });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { calls: 2 });
    assert.equal(res.headers['x-workon-outbox'], undefined);
    assert.equal(stack.fake.requests.length, sent, 'a finished row was sent');
  });

  test('the row to wait for is never sent to the client; a wait on a route without an outbound kind is a 500', async () => {
    const plain = await call({ tag: `plain-${Date.now()}` });
    assert.equal(plain.status, 200, plain.text);
    assert.equal(plain.headers['x-workon-outbox'], undefined);
    expectError(await call({ tag: `undeclared-${Date.now()}`, id: 12 }, 'undeclared'), 500, 'internal');
    await waitFor(() => /without an outbound kind/.test(stack.shim.output()), 3000); // the log arrives through a pipe
  });
});

describe('a wait meets HTTP/2 resets and SIGTERM', () => {
  const keyed = (extra = {}) => startShim({
    STRIPE_API_BASE: stack.fake.url, STRIPE_SECRET_KEY: stack.fake.secretKey, STRIPE_TIMEOUT_MS: '4000',
    SHIM_THREADS: '1', RATE_LIMIT_ENABLED: 'false', ...extra,
  });

  test('an HTTP/2 stream cancelled during the call: the shim keeps serving, the payment is finished once', async () => {
    const shim = await keyed({ HTTP2: 'on' });
    try {
      await waitReady(shim.url);
      const b = await book(shim.url, member, space);
      stack.fake.failNext({ mode: 'slow', delayMs: 1000, path: '/v1/payment_intents' });
      const session = await h2connect(shim.url);
      try {
        await assert.rejects(h2request(session, `/api/v1/bookings/${b.id}/payment`, {
          method: 'POST', headers: bearer(member.token), timeoutMs: 200,
        }));
        await waitFor(() => paymentRow(b.id).stripe_payment_intent_id !== null, 10000, 100);
        const again = await h2request(session, `/api/v1/bookings/${b.id}/payment`, { method: 'POST', headers: bearer(member.token) });
        assert.equal(again.status, 200, again.text);
      } finally {
        session.destroy();
      }
      assert.equal(piCreations(b.id).length, 1);
      assert.ok(shim.alive());
    } finally {
      await shim.stop();
    }
  });

  test('SIGTERM during the call: the waiting request is answered before the shim exits 0', async () => {
    const shim = await keyed();
    await waitReady(shim.url);
    const b = await book(shim.url, member, space);
    stack.fake.failNext({ mode: 'slow', delayMs: 1000, path: '/v1/payment_intents' });
    const pending = pay(shim.url, member, b);
    await waitFor(() => stack.fake.requests.some((r) => r.params['metadata[booking_id]'] === b.id), 5000, 20);
    const exited = shim.stop();
    const res = await pending;
    assert.equal(res.status, 201, res.text);
    assert.equal((await exited).code, 0);
    assert.equal(piCreations(b.id).length, 1);
  });
});

describe('POST /bookings/{id}/checkout', () => {
  test('201 {checkout_session_id, url}; a repeat answers the same session without a second one', async () => {
    const b = await book(base, member, space);
    const res = await checkout(base, member, b);
    assert.equal(res.status, 201, res.text);
    assert.match(res.headers.location ?? '', /^\/api\/v1\/payments\/[0-9a-f-]{36}$/);
    assert.match(res.json.checkout_session_id, /^cs_/);
    assert.match(res.json.url, /^https:\/\/checkout\.stripe\.com\//);
    const calls = stack.fake.created('/v1/checkout/sessions').filter((r) => r.params.client_reference_id === b.id ||
      r.params['payment_intent_data[metadata][booking_id]'] === b.id);
    assert.equal(calls.length, 1);
    assert.equal(calls[0].params.success_url, 'https://example.com/ok');
    assert.equal(calls[0].params['line_items[0][price_data][unit_amount]'], String(b.price.amount_cents));
    const again = await checkout(base, member, b);
    assert.equal(again.status, 200, again.text);
    assert.deepEqual(again.json, res.json);
    expectError(await checkout(base, member, b, { success_url: 'ftp://x', cancel_url: 'https://example.com' }), 400, 'validation_failed');
  });
});

describe('refunds go to Stripe', () => {
  test('cancelling a paid booking sends its refund to Stripe', async () => {
    const b = await book(base, member, space); // weeks ahead: a full refund
    const p = await pay(base, member, b);
    assert.equal(p.status, 201, p.text);
    const pi = p.json.stripe_payment_intent_id;
    const ev = stripeEvent('payment_intent.succeeded', paymentIntentObject({
      id: pi, amount: b.price.amount_cents, currency: b.price.currency, metadata: { booking_id: b.id },
    }));
    assert.equal((await deliver(base, ev)).status, 200);
    const res = await request('POST', `/api/v1/bookings/${b.id}/cancel`, { base, headers: bearer(member.token) });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.refund.percent, 100);
    assert.equal(res.json.refund.amount_cents, b.price.amount_cents);
    const refund = await waitFor(() => stack.fake.created('/v1/refunds').find((r) => r.params.payment_intent === pi), 10000, 100);
    assert.equal(refund.params.amount, String(b.price.amount_cents));
    assert.ok(refund.idempotencyKey);
    await waitFor(() => psql(`SELECT status FROM workon.outbox WHERE path = '/v1/refunds' AND booking_id = ${lit(b.id)}`) === 'done', 10000, 100);
    assert.equal(stack.fake.created('/v1/refunds').filter((r) => r.params.payment_intent === pi).length, 1);
  });
});

describe('cancelling while a payment is under way', () => {
  test('the PaymentIntent is cancelled at Stripe, in the background, once', async () => {
    const b = await book(base, member, space);
    const p = await pay(base, member, b);
    assert.equal(p.status, 201, p.text);
    const pi = p.json.stripe_payment_intent_id;
    const res = await request('POST', `/api/v1/bookings/${b.id}/cancel`, { base, headers: bearer(member.token) });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.refund.amount_cents, 0);
    const path = `/v1/payment_intents/${pi}/cancel`;
    await waitFor(() => stack.fake.created(path).length === 1, 10000, 100);
    assert.equal(stack.fake.objects.payment_intents.get(pi).status, 'canceled');
    await waitFor(() => outboxRows(b.id).every((o) => o.status === 'done'), 10000, 100);
    assert.equal(stack.fake.requests.filter((r) => r.path === path).length, 1);
  });
});

// A CA and a certificate for localhost, made with the openssl command line tool.
function makeCertificates(dir) {
  const run = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  run('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem',
    '-days', '2', '-subj', '/CN=workon test CA');
  run('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'srv.key', '-out', 'srv.csr', '-subj', '/CN=localhost');
  fs.writeFileSync(path.join(dir, 'ext.cnf'), 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n');
  run('x509', '-req', '-in', 'srv.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'srv.pem', '-days', '2',
    '-extfile', 'ext.cnf');
  return { ca: path.join(dir, 'ca.pem'), key: fs.readFileSync(path.join(dir, 'srv.key')), cert: fs.readFileSync(path.join(dir, 'srv.pem')) };
}

describe('https to STRIPE_API_BASE', () => {
  test('the certificate is verified: a trusted one for the host works, an unknown CA or another name does not', async (t) => {
    if (spawnSync('openssl', ['version']).status !== 0) {
      t.skip('no openssl command to make certificates');
      return;
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'workon-tls-'));
    try {
      const certs = makeCertificates(dir);
      const attempt = async (host, env) => {
        const fake = await startFakeStripe({ tls: certs, host });
        const shim = await startShim({ STRIPE_API_BASE: fake.url, STRIPE_SECRET_KEY: fake.secretKey, STRIPE_TIMEOUT_MS: '3000', SHIM_THREADS: '1', RATE_LIMIT_ENABLED: 'false', ...env });
        let result;
        try {
          await waitReady(shim.url);
          const b = await book(shim.url, member, space);
          const res = await pay(shim.url, member, b);
          result = { res, reached: fake.requests.length };
        } finally {
          await shim.stop();
          await fake.close();
        }
        await sleep(100); // the last log lines come through a pipe
        return { ...result, log: shim.output() };
      };
      // a name (resolved on the shim's resolver thread), the test CA trusted
      const ok = await attempt('localhost', { SSL_CERT_FILE: certs.ca });
      assert.equal(ok.res.status, 201, ok.res.text);
      assert.equal(ok.reached, 1);
      // the CA unknown
      const unknown = await attempt('localhost', {});
      expectError(unknown.res, 503, 'unavailable');
      assert.equal(unknown.reached, 0);
      assert.match(unknown.log, /certificate/);
      // trusted, but issued for another name than the one in STRIPE_API_BASE
      const other = await attempt('127.0.0.1', { SSL_CERT_FILE: certs.ca });
      expectError(other.res, 503, 'unavailable');
      assert.equal(other.reached, 0);
      assert.match(other.log, /mismatch/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('without STRIPE_SECRET_KEY', () => {
  test('503 payments_not_configured, and the row is left for a shim that has the key', async () => {
    // no background worker may send the row before it is looked at
    await stack.shim.stop();
    let plain;
    let keyed;
    try {
      plain = await startShim({ STRIPE_API_BASE: stack.fake.url, RATE_LIMIT_ENABLED: 'false' });
      await waitReady(plain.url);
      const b = await book(plain.url, member, space);
      expectError(await pay(plain.url, member, b), 503, 'payments_not_configured');
      await sleep(1500);
      const rows = outboxRows(b.id);
      assert.equal(rows.length, 1);
      assert.equal(rows[0].status, 'pending');
      assert.equal(rows[0].attempts, 0);
      assert.equal(piCreations(b.id).length, 0);

      // a shim with the key sends it in the background once the waiting client's lease
      // (30 s) is over; end the lease now rather than wait for it
      psql(`UPDATE workon.outbox SET next_attempt_at = now() WHERE id = ${rows[0].id}`);
      keyed = await startShim({ STRIPE_API_BASE: stack.fake.url, STRIPE_SECRET_KEY: stack.fake.secretKey });
      await waitFor(() => paymentRow(b.id).stripe_payment_intent_id !== null, 10000, 100);
      const again = await pay(plain.url, member, b);
      assert.equal(again.status, 200, again.text);
      assert.ok(again.json.client_secret.startsWith(again.json.stripe_payment_intent_id));
      assert.equal(piCreations(b.id).length, 1);
    } finally {
      await plain?.stop();
      await keyed?.stop();
    }
  });
});

describe('Stripe settings at start', () => {
  test('a bad STRIPE_* value refuses start-up with one line naming the variable, never the value', () => {
    const cases = [
      ['STRIPE_API_BASE', 'ftp://api.example.com'],
      ['STRIPE_API_BASE', 'not a url'],
      ['STRIPE_API_BASE', 'http://127.0.0.1:9/v1?x=1'],
      ['STRIPE_SECRET_KEY', 'sk_test_has space_0123456789'],
      ['STRIPE_SECRET_KEY', 'sk_live_not_a_real_key_0123456789'],
      ['STRIPE_WEBHOOK_SECRET', 'whsec_short'],
      ['STRIPE_TIMEOUT_MS', '50'],
    ];
    for (const [name, value] of cases) {
      const r = spawnSync(process.env.WORKON_SHIM_BIN, [], {
        env: { PATH: process.env.PATH, DATABASE_URL: process.env.WORKON_DATABASE_URL, NODE_ENV: 'development', [name]: value },
        encoding: 'utf8', timeout: 10000,
      });
      assert.equal(r.status, 2, `${name}=${value}: exit ${r.status} ${r.stderr}`);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.ok(lines[0].startsWith(`${name} `), lines[0]);
      assert.ok(!lines[0].includes(value), `${lines[0]} shows the value`);
    }
    const help = spawnSync(process.env.WORKON_SHIM_BIN, ['--help'], { encoding: 'utf8' }).stdout;
    for (const name of ['STRIPE_API_BASE', 'STRIPE_SECRET_KEY', 'STRIPE_TIMEOUT_MS', 'STRIPE_WEBHOOK_SECRET']) {
      assert.match(help, new RegExp(`^  ${name} `, 'm'));
    }
  });
});
