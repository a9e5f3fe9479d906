// What the payment and webhook tests share: a shim of their own in front of the fake
// Stripe API, users, a space open around the clock, bookings pending payment, and
// delivering signed webhook events.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { lit, psql, psqlRows, request, startShim, waitFor } from './client.mjs';
import { TEST_WEBHOOK_SECRET, startFakeStripe, stripeEvent, stripeSignature } from './fake-stripe.mjs';

export const unique = () => `${Date.now().toString(36)}${crypto.randomBytes(4).toString('hex')}`;
export const bearer = (token) => ({ authorization: `Bearer ${token}` });
const HOUR = 3600e3;
const ALWAYS = Object.fromEntries(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].map((d) => [d, [['00:00', '24:00']]]));

// A fresh shim answers /healthz before every event loop has its connections and route
// table: wait until API requests (new connections, spread over the loops) pass in a row.
export async function waitReady(base) {
  let good = 0;
  await waitFor(async () => {
    const r = await request('GET', '/api/v1/spaces?limit=1', { base });
    good = r.status === 200 ? good + 1 : 0;
    return good >= 12;
  }, 15000, 20);
}

// Starts the fake Stripe API and a shim sending to it (webhook secret set); waits
// until the shim has seeded the webhook secret (a signed ping is accepted).
export async function startPaymentStack(extraEnv = {}) {
  const fake = await startFakeStripe();
  let shim;
  try {
    shim = await startShim({
      STRIPE_API_BASE: fake.url,
      STRIPE_SECRET_KEY: fake.secretKey,
      STRIPE_WEBHOOK_SECRET: TEST_WEBHOOK_SECRET,
      STRIPE_TIMEOUT_MS: '2000',
      SHIM_THREADS: '2',
      RATE_LIMIT_ENABLED: 'false', // these tests make many requests from one address
      ...extraEnv,
    });
    await waitReady(shim.url);
    await waitFor(async () => (await deliver(shim.url, stripeEvent('workon.test.ping', { id: `ping_${unique()}`, object: 'ping' }))).status === 200, 10000, 100);
  } catch (e) {
    if (shim) await shim.stop();
    await fake.close();
    throw e;
  }
  return {
    fake,
    shim,
    url: shim.url,
    async stop() {
      await shim.stop();
      await fake.close();
    },
  };
}

// POSTs an event (object or raw string) with a valid signature unless `signature` is given.
export function deliver(base, event, { signature, path = '/api/webhooks/stripe', secret, t, headers = {} } = {}) {
  const body = typeof event === 'string' ? event : JSON.stringify(event);
  const sig = signature !== undefined ? signature : stripeSignature(body, { secret, t });
  return request('POST', path, {
    base,
    body,
    headers: {
      'content-type': 'application/json; charset=utf-8',
      'user-agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
      ...(sig !== null ? { 'stripe-signature': sig } : {}),
      ...headers,
    },
  });
}

export async function register(base, role) {
  const body = { email: `pay-${unique()}@example.com`, password: `long secret ${unique()}`, name: 'Payer', ...(role ? { role } : {}) };
  const res = await request('POST', '/api/v1/auth/register', { base, body });
  assert.equal(res.status, 201, res.text);
  return { id: res.json.user.id, token: res.json.access_token };
}

export async function createSpace(base, host, hourlyCents = 1500) {
  const res = await request('POST', '/api/v1/spaces', {
    base,
    headers: bearer(host.token),
    body: {
      name: `Paid Room ${unique()}`, kind: 'meeting_room', city: 'Lisbon', address: 'Rua 1', capacity: 4,
      timezone: 'UTC', hourly_rate_cents: hourlyCents, daily_rate_cents: hourlyCents * 6, currency: 'eur',
      opening_hours: ALWAYS, published: true,
    },
  });
  assert.equal(res.status, 201, res.text);
  return res.json;
}

// Hour slots from two days ahead (a full refund on cancel), one per call; each test file books a space of its own.
let nextSlot = 48;
export function nextHour() {
  const base = Math.ceil(Date.now() / HOUR) * HOUR;
  const n = nextSlot++;
  return [new Date(base + n * HOUR).toISOString(), new Date(base + (n + 1) * HOUR).toISOString()];
}

export async function book(base, member, space, [startsAt, endsAt] = nextHour()) {
  const res = await request('POST', '/api/v1/bookings', {
    base, headers: bearer(member.token), body: { space_id: space.id, starts_at: startsAt, ends_at: endsAt },
  });
  assert.equal(res.status, 201, res.text);
  assert.equal(res.json.status, 'pending_payment');
  return res.json;
}

export function pay(base, member, booking, opts = {}) {
  return request('POST', `/api/v1/bookings/${booking.id}/payment`, { base, headers: bearer(member.token), ...opts });
}

export function checkout(base, member, booking, body = { success_url: 'https://example.com/ok', cancel_url: 'https://example.com/no' }) {
  return request('POST', `/api/v1/bookings/${booking.id}/checkout`, { base, headers: bearer(member.token), body });
}

export async function bookingStatus(base, member, booking) {
  const res = await request('GET', `/api/v1/bookings/${booking.id}`, { base, headers: bearer(member.token) });
  assert.equal(res.status, 200, res.text);
  return res.json.status;
}

// The database's view of a booking's payment and its outbox rows (superuser, no RLS).
export function paymentRow(bookingId) {
  return psqlRows(`SELECT p.id, p.status, p.stripe_payment_intent_id, p.checkout_session_id, p.amount_cents, p.currency
                     FROM workon.payments p WHERE p.booking_id = ${lit(bookingId)}`)[0] ?? null;
}

export function outboxRows(bookingId) {
  return psqlRows(`SELECT o.id, o.path, o.status, o.attempts, o.last_error, o.idempotency_key, o.params
                     FROM workon.outbox o WHERE o.kind = 'stripe' AND o.booking_id = ${lit(bookingId)} ORDER BY o.id`);
}

export function storedEvents(ids) {
  return Number(psql(`SELECT count(*) FROM workon.stripe_events WHERE id IN (${ids.map(lit).join(',')})`));
}
