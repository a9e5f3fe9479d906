// Stripe webhooks end to end: signatures made the way Stripe makes them (node:crypto),
// every way of getting one wrong, the raw body handed over byte for byte, duplicates,
// late and out-of-order events, and a whole history of 1,000 deliveries that must end
// in the same state whatever order it arrives in.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { expectError, lit, postRaw, psql, psqlRows, request, startShim, waitFor } from './lib/client.mjs';
import {
  TEST_WEBHOOK_SECRET, chargeObject, checkoutSessionObject, paymentIntentObject, stripeEvent, stripeSignature,
} from './lib/fake-stripe.mjs';
import {
  book, bookingStatus, checkout, createSpace, deliver, nextHour, pay, paymentRow, register, startPaymentStack, storedEvents, unique,
  waitReady,
} from './lib/payments.mjs';

let stack;
let base;
let host;
let member;
let member2;
let space;

before(async () => {
  stack = await startPaymentStack();
  base = stack.url;
  [host, member, member2] = await Promise.all([register(base, 'host'), register(base), register(base)]);
  space = await createSpace(base, host, 2000);
});
after(async () => { await stack?.stop(); });

// a booking with a PaymentIntent at the fake
async function paidIntent(user = member, slot = nextHour()) {
  const b = await book(base, user, space, slot);
  const res = await pay(base, user, b);
  assert.equal(res.status, 201, res.text);
  return { booking: b, pi: res.json.stripe_payment_intent_id, payment: res.json };
}

const succeeded = (b, pi, extra = {}) => stripeEvent('payment_intent.succeeded', paymentIntentObject({
  id: pi, amount: b.price.amount_cents, currency: b.price.currency, metadata: { booking_id: b.id }, ...extra,
}));

const emails = (bookingId, template) => Number(psql(
  `SELECT count(*) FROM workon.outbox WHERE kind = 'email' AND booking_id = ${lit(bookingId)}
     AND params ->> 'template' = ${lit(template)}`));

describe('signatures', () => {
  test('a valid delivery: 200 {"received":true}, the booking confirmed, on both paths', async () => {
    const { booking: b, pi } = await paidIntent();
    const ev = succeeded(b, pi);
    const res = await deliver(base, ev);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { received: true });
    assert.equal(await bookingStatus(base, member, b), 'confirmed');
    assert.equal(paymentRow(b.id).status, 'succeeded');
    assert.equal(storedEvents([ev.id]), 1);

    const { booking: b2, pi: pi2 } = await paidIntent();
    const v1 = await deliver(base, succeeded(b2, pi2), { path: '/api/v1/webhooks/stripe' });
    assert.equal(v1.status, 200, v1.text);
    assert.equal(await bookingStatus(base, member, b2), 'confirmed');
  });

  test('forged, tampered, stale, future, missing and malformed signatures: 400 invalid_signature and no effect', async () => {
    const { booking: b, pi } = await paidIntent();
    const ev = succeeded(b, pi);
    const body = JSON.stringify(ev);
    const now = Math.floor(Date.now() / 1000);
    const hmac = (secret, t, text = body) => crypto.createHmac('sha256', secret).update(`${t}.${text}`).digest('hex');
    const cases = {
      'another secret': stripeSignature(body, { secret: 'whsec_test_someone_elses_secret_000000' }),
      // 300 s tolerance either way; a few seconds of margin for a slow run
      'stale (310 s old)': stripeSignature(body, { t: now - 310 }),
      'from the future (310 s ahead)': stripeSignature(body, { t: now + 310 }),
      'no v1': `t=${now}`,
      'no t': `v1=${hmac(TEST_WEBHOOK_SECRET, now)}`,
      'v0 only': `t=${now},v0=${hmac(TEST_WEBHOOK_SECRET, now)}`,
      'not hex': `t=${now},v1=${'z'.repeat(64)}`,
      'truncated': `t=${now},v1=${hmac(TEST_WEBHOOK_SECRET, now).slice(0, 63)}`,
      'bad t': `t=yesterday,v1=${hmac(TEST_WEBHOOK_SECRET, now)}`,
      'signed over the body without the t': `t=${now},v1=${crypto.createHmac('sha256', TEST_WEBHOOK_SECRET).update(body).digest('hex')}`,
      empty: '',
    };
    for (const [name, sig] of Object.entries(cases)) {
      const res = await deliver(base, body, { signature: sig });
      assert.equal(res.status, 400, `${name}: ${res.status} ${res.text}`);
      expectError(res, 400, 'invalid_signature');
    }
    // no header at all
    expectError(await deliver(base, body, { signature: null }), 400, 'invalid_signature');
    // tampered: the signature of the original body on a changed one
    const tampered = body.replace(`"amount_received":${b.price.amount_cents}`, `"amount_received":${b.price.amount_cents + 1}`);
    assert.notEqual(tampered, body);
    expectError(await deliver(base, tampered, { signature: stripeSignature(body) }), 400, 'invalid_signature');
    // one byte of whitespace added
    expectError(await deliver(base, `${body} `, { signature: stripeSignature(body) }), 400, 'invalid_signature');

    assert.equal(storedEvents([ev.id]), 0);
    assert.equal(await bookingStatus(base, member, b), 'pending_payment');
    assert.equal(paymentRow(b.id).status, 'requires_payment_method');

    // the rejected deliveries did not use up the event id; several v1, one of them good, pass
    const good = await deliver(base, body, {
      signature: `${stripeSignature(body)},v1=${hmac('whsec_test_old_rotated_secret_0000000', now)}`,
    });
    assert.equal(good.status, 200, good.text);
    assert.equal(await bookingStatus(base, member, b), 'confirmed');
    assert.equal(storedEvents([ev.id]), 1);

    // inside the tolerance either way is fine
    for (const dt of [-280, 280]) {
      const ping = stripeEvent('workon.test.ping', { id: `ping_${unique()}`, object: 'ping' });
      const r = await deliver(base, ping, { t: Math.floor(Date.now() / 1000) + dt });
      assert.equal(r.status, 200, `${dt} s: ${r.text}`);
    }
  });

  test('the raw body reaches the verifier byte for byte, up to MAX_BODY_BYTES (chunked too)', async () => {
    const limit = 65536;
    const small = await startShim({ MAX_BODY_BYTES: String(limit), STRIPE_WEBHOOK_SECRET: TEST_WEBHOOK_SECRET, RATE_LIMIT_ENABLED: 'false' });
    try {
      await waitReady(small.url);
      const { booking: b, pi } = await paidIntent();
      // CRLF, tabs, escapes and multi-byte UTF-8: nothing may be normalised on the way
      const make = (n) => {
        const ev = succeeded(b, pi);
        ev.data.object.description = 'Café ☕ «ok» \u00e9';
        ev.data.object.metadata.note = '';
        let text = JSON.stringify(ev, null, '\t').replace(/\n/g, '\r\n');
        const pad = n - Buffer.byteLength(text);
        assert.ok(pad > 0);
        ev.data.object.metadata.note = 'x'.repeat(pad);
        text = JSON.stringify(ev, null, '\t').replace(/\n/g, '\r\n');
        assert.equal(Buffer.byteLength(text), n);
        return { ev, text };
      };
      const exact = make(limit);
      const over = make(limit + 1);
      const tooBig = await postRaw(small.url, '/api/webhooks/stripe', over.text, {
        contentType: 'application/json', expectContinue: false, headers: { 'Stripe-Signature': stripeSignature(over.text) },
      });
      expectError(tooBig, 413, 'payload_too_large');
      const chunked = await postRaw(small.url, '/api/webhooks/stripe', exact.text, {
        contentType: 'application/json', chunked: true, expectContinue: false, headers: { 'Stripe-Signature': stripeSignature(exact.text) },
      });
      assert.equal(chunked.status, 200, chunked.text);
      assert.equal(storedEvents([exact.ev.id]), 1);
      assert.equal(await bookingStatus(base, member, b), 'confirmed');
      const again = await postRaw(small.url, '/api/v1/webhooks/stripe', exact.text, {
        contentType: 'application/json', expectContinue: true, headers: { 'Stripe-Signature': stripeSignature(exact.text) },
      });
      assert.equal(again.status, 200, again.text);
    } finally {
      await small.stop();
    }
  });
});

describe('events', () => {
  test('a duplicate delivery has no second effect', async () => {
    const { booking: b, pi } = await paidIntent();
    const ev = succeeded(b, pi);
    const results = await Promise.all([deliver(base, ev), deliver(base, ev), deliver(base, ev)]);
    for (const r of results) assert.equal(r.status, 200, r.text);
    assert.equal((await deliver(base, ev)).status, 200);
    assert.equal(storedEvents([ev.id]), 1);
    assert.equal(await bookingStatus(base, member, b), 'confirmed');
    assert.equal(emails(b.id, 'booking_confirmed'), 1);
  });

  test('an amount or currency that does not match the price never confirms', async () => {
    const { booking: b, pi } = await paidIntent();
    assert.equal((await deliver(base, succeeded(b, pi, { amountReceived: b.price.amount_cents - 1 }))).status, 200);
    assert.equal(await bookingStatus(base, member, b), 'pending_payment');
    const { booking: b2, pi: pi2 } = await paidIntent();
    assert.equal((await deliver(base, succeeded(b2, pi2, { currency: 'usd' }))).status, 200);
    assert.equal(await bookingStatus(base, member, b2), 'pending_payment');
    assert.equal(emails(b.id, 'booking_confirmed') + emails(b2.id, 'booking_confirmed'), 0);
  });

  test('payment_failed keeps the booking payable with the error; an older event never leaves a final state', async () => {
    const { booking: b, pi } = await paidIntent();
    const t = Math.floor(Date.now() / 1000);
    const failed = stripeEvent('payment_intent.payment_failed', paymentIntentObject({
      id: pi, amount: b.price.amount_cents, status: 'requires_payment_method', metadata: { booking_id: b.id },
      error: { code: 'card_declined', message: 'Your card was declined.' },
    }), { created: t });
    assert.equal((await deliver(base, failed)).status, 200);
    assert.equal(await bookingStatus(base, member, b), 'pending_payment');
    assert.match(paymentRow(b.id).status, /requires_payment_method/);
    assert.match(psql(`SELECT last_error FROM workon.payments WHERE booking_id = ${lit(b.id)}`), /declined/);
    assert.equal((await deliver(base, succeeded(b, pi), { t })).status, 200);
    assert.equal(await bookingStatus(base, member, b), 'confirmed');
    // an older failure and a processing event arrive late
    const late = stripeEvent('payment_intent.processing', paymentIntentObject({ id: pi, amount: b.price.amount_cents, status: 'processing', metadata: { booking_id: b.id } }), { created: t - 60 });
    assert.equal((await deliver(base, late)).status, 200);
    assert.equal(await bookingStatus(base, member, b), 'confirmed');
    assert.equal(paymentRow(b.id).status, 'succeeded');
  });

  test('a payment that succeeds after its hold expired: confirmed while the slot is free, refunded when it is taken', async () => {
    const free = await paidIntent();
    psql(`UPDATE workon.bookings SET hold_expires_at = now() - interval '1 second' WHERE id = ${lit(free.booking.id)}`);
    assert.equal((await deliver(base, succeeded(free.booking, free.pi))).status, 200);
    assert.equal(await bookingStatus(base, member, free.booking), 'confirmed');

    const slot = nextHour();
    const taken = await paidIntent(member, slot);
    psql(`UPDATE workon.bookings SET hold_expires_at = now() - interval '1 second' WHERE id = ${lit(taken.booking.id)}`);
    const other = await book(base, member2, space, slot); // the slot goes to someone else
    assert.equal(await bookingStatus(base, member, taken.booking), 'expired');
    assert.equal((await deliver(base, succeeded(taken.booking, taken.pi))).status, 200);
    assert.equal(await bookingStatus(base, member, taken.booking), 'expired');
    assert.equal(await bookingStatus(base, member2, other), 'pending_payment');
    const refund = await waitFor(() => stack.fake.created('/v1/refunds').find((r) => r.params.payment_intent === taken.pi), 10000, 100);
    assert.equal(refund.params.amount, String(taken.booking.price.amount_cents));
    assert.equal(stack.fake.created('/v1/refunds').filter((r) => r.params.payment_intent === taken.pi).length, 1);
  });

  test('checkout.session.completed (paid) confirms; unknown types are stored and ignored', async () => {
    const b = await book(base, member, space);
    const res = await checkout(base, member, b);
    assert.equal(res.status, 201, res.text);
    const unknown = stripeEvent('customer.created', { id: `cus_${unique()}`, object: 'customer' });
    assert.equal((await deliver(base, unknown)).status, 200);
    assert.equal(storedEvents([unknown.id]), 1);
    const ev = stripeEvent('checkout.session.completed', checkoutSessionObject({
      id: res.json.checkout_session_id, paymentIntent: `pi_${unique()}`, amountTotal: b.price.amount_cents,
      currency: b.price.currency, metadata: { booking_id: b.id },
    }));
    assert.equal((await deliver(base, ev)).status, 200);
    assert.equal(await bookingStatus(base, member, b), 'confirmed');
  });
});

// ---------------------------------------------------------------------------------------
// The bar: one history, two deliveries

// Scenario kinds: histories Stripe can produce, in the order Stripe creates the events
// (a PaymentIntent that succeeded is never canceled afterwards, so no kind mixes two final
// states: for those the order of arrival decides by the rules themselves). Noise events of
// types nothing acts on are mixed in.
const KINDS = [
  ['processing', 'succeeded'],
  ['payment_failed', 'requires_action', 'processing', 'succeeded'],
  ['requires_action', 'canceled'],
  ['succeeded', 'refunded_half'],
  ['succeeded', 'refunded_full'],
  ['succeeded_short'],
  ['payment_failed', 'payment_failed'],
  ['succeeded', 'disputed'],
  ['requires_action', 'payment_failed', 'requires_action', 'processing', 'succeeded', 'refunded_full'],
  ['cs_completed_paid'],
  ['cs_completed_unpaid', 'cs_async_succeeded'],
  ['cs_completed_unpaid', 'cs_async_failed'],
  ['requires_action', 'succeeded_usd'],
];

function makeEvent(step, s, created, n) {
  const { booking: b, pi, cs } = s;
  const id = `evt_${s.side}_${s.index}_${n}_${unique()}`;
  const price = b.price.amount_cents;
  const meta = { booking_id: b.id };
  const piObj = (status, extra = {}) => paymentIntentObject({ id: pi, amount: price, currency: b.price.currency, status, metadata: meta, ...extra });
  const csObj = (paymentStatus, extra = {}) => checkoutSessionObject({
    id: cs, paymentIntent: pi, amountTotal: price, currency: b.price.currency, paymentStatus, metadata: meta, ...extra,
  });
  const ev = (type, object) => stripeEvent(type, object, { id, created });
  switch (step) {
    case 'processing': return ev('payment_intent.processing', piObj('processing'));
    case 'requires_action': return ev('payment_intent.requires_action', piObj('requires_action'));
    case 'payment_failed': return ev('payment_intent.payment_failed', piObj('requires_payment_method', { error: { code: 'card_declined', message: `declined ${n}` } }));
    case 'succeeded': return ev('payment_intent.succeeded', piObj('succeeded'));
    case 'succeeded_short': return ev('payment_intent.succeeded', piObj('succeeded', { amountReceived: price - 100 }));
    case 'succeeded_usd': return ev('payment_intent.succeeded', piObj('succeeded', { currency: 'usd' }));
    case 'canceled': return ev('payment_intent.canceled', piObj('canceled'));
    case 'refunded_half': return ev('charge.refunded', chargeObject({ paymentIntent: pi, amount: price, amountRefunded: Math.floor(price / 2), currency: b.price.currency, metadata: meta }));
    case 'refunded_full': return ev('charge.refunded', chargeObject({ paymentIntent: pi, amount: price, currency: b.price.currency, metadata: meta }));
    case 'disputed': return ev('charge.dispute.created', { id: `dp_${unique()}`, object: 'dispute', amount: price, currency: b.price.currency, payment_intent: pi, charge: `ch_${unique()}`, status: 'needs_response', metadata: meta });
    case 'cs_completed_paid': return ev('checkout.session.completed', csObj('paid'));
    case 'cs_completed_unpaid': return ev('checkout.session.completed', csObj('unpaid'));
    case 'cs_async_succeeded': return ev('checkout.session.async_payment_succeeded', csObj('paid'));
    case 'cs_async_failed': return ev('checkout.session.async_payment_failed', csObj('unpaid'));
    case 'noise_customer': return ev('customer.updated', { id: `cus_${s.index}`, object: 'customer', metadata: meta });
    case 'noise_created': return ev('payment_intent.created', piObj('requires_payment_method'));
    case 'noise_invoice': return ev('invoice.finalized', { id: `in_${unique()}`, object: 'invoice', metadata: meta });
    default: throw new Error(`unknown step ${step}`);
  }
}

// Everything a webhook can change about a booking, its payment, refunds and e-mails.
function stateOf(bookingId) {
  const [row] = psqlRows(`
    SELECT b.status AS booking_status, workon.booking_status(b) AS effective, b.refund_cents, b.refund_percent,
           b.flags AS booking_flags,
           p.status AS payment_status, p.amount_received_cents, p.received_currency, p.refunded_cents,
           p.last_error, p.flags AS payment_flags,
           (SELECT coalesce(json_agg(json_build_object('amount', r.amount_cents, 'status', r.status, 'reason', r.reason)
                                     ORDER BY r.amount_cents, r.status, r.reason), '[]')
              FROM workon.refunds r WHERE r.booking_id = b.id) AS refunds,
           (SELECT coalesce(json_agg(o.params ->> 'template' ORDER BY o.params ->> 'template'), '[]')
              FROM workon.outbox o WHERE o.kind = 'email' AND o.booking_id = b.id) AS emails,
           (SELECT count(*) FROM workon.outbox o WHERE o.kind = 'stripe' AND o.path = '/v1/refunds' AND o.booking_id = b.id) AS stripe_refunds,
           (SELECT count(*) FROM workon.stripe_events e WHERE e.booking_id = b.id) AS events
      FROM workon.bookings b LEFT JOIN workon.payments p ON p.booking_id = b.id
     WHERE b.id = ${lit(bookingId)}`);
  return row;
}

function shuffle(a) {
  for (let i = a.length - 1; i > 0; i--) {
    const j = crypto.randomInt(i + 1);
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

describe('the bar', () => {
  test('1,000 deliveries, shuffled and duplicated, end in the state of in-order delivery, with no double effect', async () => {
    const SCENARIOS = 52;
    const NOISE = ['noise_customer', 'noise_created', 'noise_invoice'];
    // twins: side A gets its history in order, side B the same history shuffled with duplicates
    const scenarios = [];
    for (let i = 0; i < SCENARIOS; i++) {
      const steps = [...KINDS[i % KINDS.length]];
      // noise and repeats of status events make every history longer, as real ones are
      for (let k = 0; k < 5; k++) steps.splice(crypto.randomInt(steps.length + 1), 0, NOISE[(i + k) % NOISE.length]);
      const isCheckout = steps.some((s) => s.startsWith('cs_'));
      for (const side of ['A', 'B']) {
        const b = await book(base, member, space);
        let pi = null;
        let cs = null;
        if (isCheckout) {
          const r = await checkout(base, member, b);
          assert.equal(r.status, 201, r.text);
          cs = r.json.checkout_session_id;
          pi = `pi_cs_${unique()}`;
        } else {
          const r = await pay(base, member, b);
          assert.equal(r.status, 201, r.text);
          pi = r.json.stripe_payment_intent_id;
        }
        scenarios.push({ index: i, side, steps, booking: b, pi, cs });
      }
    }
    const t0 = Math.floor(Date.now() / 1000) - 3600;
    const events = { A: [], B: [] };
    for (const s of scenarios) {
      s.events = s.steps.map((step, n) => makeEvent(step, s, t0 + n * 7 + s.index, n));
      events[s.side].push(...s.events);
    }
    assert.equal(events.A.length, events.B.length);
    const unique_ = events.B.length;
    // B: every event once, the rest of 1,000 duplicates, all shuffled
    const deliveriesB = [...events.B];
    while (deliveriesB.length < 1000) deliveriesB.push(events.B[crypto.randomInt(events.B.length)]);
    shuffle(deliveriesB);
    assert.equal(deliveriesB.length, 1000);
    assert.ok(unique_ >= 300, `${unique_} distinct events`);

    // A: in order, one at a time
    events.A.sort((x, y) => x.created - y.created);
    for (const ev of events.A) {
      const r = await deliver(base, ev);
      assert.equal(r.status, 200, r.text);
    }
    // B: shuffled, duplicated, 16 at a time, over HTTP like Stripe's retries
    let next = 0;
    const failures = [];
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (next < deliveriesB.length) {
        const ev = deliveriesB[next++];
        const r = await deliver(base, ev);
        if (r.status !== 200) failures.push(`${r.status} ${r.text}`);
      }
    }));
    assert.deepEqual(failures, [], stack.shim.output().split('\n').filter((l) => /"level":"(warn|error)"/.test(l)).slice(-10).join('\n'));

    // no double effect: one stored event per id
    assert.equal(storedEvents(events.B.map((e) => e.id)), unique_);
    assert.equal(storedEvents(events.A.map((e) => e.id)), unique_);
    // let refunds queued by the events settle at the fake before comparing
    await waitFor(() => Number(psql(`SELECT count(*) FROM workon.outbox WHERE kind = 'stripe' AND status = 'pending'
      AND booking_id IN (${scenarios.map((s) => lit(s.booking.id)).join(',')})`)) === 0, 15000, 200);

    const byIndex = new Map();
    for (const s of scenarios) {
      if (!byIndex.has(s.index)) byIndex.set(s.index, {});
      byIndex.get(s.index)[s.side] = s;
    }
    for (const [i, { A, B }] of byIndex) {
      const a = stateOf(A.booking.id);
      const b = stateOf(B.booking.id);
      assert.deepEqual(b, a, `scenario ${i} (${A.steps.join(' ')}) differs`);
    }

    // and the states are the ones the rules give (not two equally wrong ones)
    const expectFor = (kind, check) => {
      for (const [, { A }] of byIndex) {
        if (A.steps.filter((s) => !s.startsWith('noise_')).join(' ') === kind.join(' ')) check(stateOf(A.booking.id), A);
      }
    };
    expectFor(KINDS[0], (st) => { assert.equal(st.booking_status, 'confirmed'); assert.deepEqual(st.emails.filter((e) => e === 'booking_confirmed'), ['booking_confirmed']); });
    expectFor(KINDS[1], (st) => assert.equal(st.booking_status, 'confirmed'));
    expectFor(KINDS[2], (st) => { assert.equal(st.booking_status, 'cancelled'); assert.equal(st.payment_status, 'canceled'); });
    expectFor(KINDS[3], (st, s) => { assert.equal(st.refunded_cents, Math.floor(s.booking.price.amount_cents / 2)); assert.equal(st.booking_status, 'cancelled'); });
    expectFor(KINDS[5], (st) => { assert.notEqual(st.booking_status, 'confirmed'); assert.ok(st.payment_flags.includes('amount_mismatch')); });
    expectFor(KINDS[6], (st) => { assert.equal(st.booking_status, 'pending_payment'); assert.match(st.last_error ?? '', /declined/); });
    expectFor(KINDS[7], (st) => assert.ok(st.booking_flags.includes('disputed')));
    expectFor(KINDS[8], (st, s) => {
      assert.equal(st.payment_status, 'succeeded');
      assert.equal(st.refunded_cents, s.booking.price.amount_cents);
      assert.equal(st.booking_status, 'cancelled');
    });
    expectFor(KINDS[9], (st) => assert.equal(st.booking_status, 'confirmed'));
    expectFor(KINDS[10], (st) => assert.equal(st.booking_status, 'confirmed'));
    expectFor(KINDS[11], (st) => assert.equal(st.booking_status, 'pending_payment'));
    expectFor(KINDS[12], (st) => assert.notEqual(st.booking_status, 'confirmed'));
  });
});
