// Money and records are never lost, and the contract holds under races: deleting a space
// with booking history archives it (the queued refund still reaches Stripe), a booking
// cancelled while its PaymentIntent was queued is never charged, twenty concurrent
// payments of one booking make one Stripe call, and a token of a deleted, disabled or
// demoted user acts with what the database says now.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  addRoutes, expectError, lit, psql, removeRoutes, request, sleep, startShim, waitFor,
} from './lib/client.mjs';
import { paymentIntentObject, stripeEvent } from './lib/fake-stripe.mjs';
import {
  bearer, book, createSpace, deliver, outboxRows, pay, paymentRow, register, startPaymentStack, unique, waitReady,
} from './lib/payments.mjs';

let stack;
let base;
let host;
let member;

before(async () => {
  stack = await startPaymentStack();
  base = stack.url;
  [host, member] = await Promise.all([register(base, 'host'), register(base)]);
});
after(async () => { await stack?.stop(); });

const cancel = (who, b) => request('POST', `/api/v1/bookings/${b.id}/cancel`, { base, headers: bearer(who.token) });
const stripeCalls = (path, bookingId) =>
  stack.fake.requests.filter((r) => r.path === path && r.params['metadata[booking_id]'] === bookingId);

// a booking paid through the fake and confirmed by a signed event
async function paidBooking(space) {
  const b = await book(base, member, space);
  const p = await pay(base, member, b);
  assert.equal(p.status, 201, p.text);
  const event = stripeEvent('payment_intent.succeeded', paymentIntentObject({
    id: p.json.stripe_payment_intent_id, amount: b.price.amount_cents, metadata: { booking_id: b.id },
  }));
  assert.equal((await deliver(base, event)).status, 200);
  await waitFor(() => paymentRow(b.id).status === 'succeeded', 5000, 50);
  return { booking: b, payment: p.json };
}

describe('a space with booking history is archived, never erased', () => {
  test('DELETE answers 204, bookings, payments and refunds stay, the queued refund still reaches Stripe', async () => {
    const space = await createSpace(base, host);
    const refunded = await paidBooking(space);
    const queued = await paidBooking(space);
    assert.equal((await cancel(member, refunded.booking)).status, 200);
    await waitFor(() => stripeCalls('/v1/refunds', refunded.booking.id).some((r) => r.outcome === 'created'), 10000, 50);
    // the second refund cannot reach Stripe yet
    stack.fake.failNext({ mode: 'status', status: 500, path: '/v1/refunds', count: 3 });
    assert.equal((await cancel(member, queued.booking)).status, 200);
    await waitFor(() => outboxRows(queued.booking.id).some((o) => o.path === '/v1/refunds' && o.attempts > 0), 10000, 50);

    const del = await request('DELETE', `/api/v1/spaces/${space.id}`, { base, headers: bearer(host.token) });
    assert.equal(del.status, 204, del.text);

    // kept: the space (archived), both bookings, payments, refunds and their calls
    assert.equal(psql(`SELECT count(*) FROM workon.spaces WHERE id = ${lit(space.id)} AND archived_at IS NOT NULL AND NOT published`), '1');
    for (const { booking, payment } of [refunded, queued]) {
      const b = await request('GET', `/api/v1/bookings/${booking.id}`, { base, headers: bearer(member.token) });
      assert.equal(b.status, 200, b.text);
      assert.equal(b.json.status, 'cancelled');
      const p = await request('GET', `/api/v1/payments/${payment.id}`, { base, headers: bearer(member.token) });
      assert.equal(p.status, 200, p.text);
      assert.equal(p.json.refunds.length, 1);
    }
    // the queued refund completes after the delete
    await waitFor(() => stripeCalls('/v1/refunds', queued.booking.id).some((r) => r.outcome === 'created'), 20000, 100);
    await waitFor(() => outboxRows(queued.booking.id).every((o) => o.status === 'done'), 10000, 100);

    // hidden from the public, seen by its host, not bookable, not changeable
    expectError(await request('GET', `/api/v1/spaces/${space.id}`, { base }), 404, 'not_found');
    const mine = await request('GET', `/api/v1/spaces/${space.id}`, { base, headers: bearer(host.token) });
    assert.equal(mine.status, 200, mine.text);
    assert.match(mine.json.archived_at, /^\d{4}-/);
    assert.equal(mine.json.published, false);
    const list = await request('GET', '/api/v1/spaces?limit=100&city=Lisbon', { base });
    assert.ok(!list.json.data.some((s) => s.id === space.id), 'an archived space is listed');
    const [startsAt, endsAt] = [new Date(Date.now() + 200 * 3600e3), new Date(Date.now() + 201 * 3600e3)]
      .map((d) => new Date(Math.ceil(d / 3600e3) * 3600e3).toISOString());
    expectError(await request('POST', '/api/v1/bookings', {
      base, headers: bearer(member.token), body: { space_id: space.id, starts_at: startsAt, ends_at: endsAt },
    }), 404, 'not_found');
    expectError(await request('PATCH', `/api/v1/spaces/${space.id}`, {
      base, headers: bearer(host.token), body: { published: true },
    }), 409, 'space_archived');

    // a space without bookings is really deleted
    const empty = await createSpace(base, host);
    assert.equal((await request('DELETE', `/api/v1/spaces/${empty.id}`, { base, headers: bearer(host.token) })).status, 204);
    assert.equal(psql(`SELECT count(*) FROM workon.spaces WHERE id = ${lit(empty.id)}`), '0');
  });
});

describe('paying races', () => {
  test('twenty concurrent POST /payment: one 201, nineteen 200 with the same payment, one call to Stripe (ten runs)', async () => {
    const space = await createSpace(base, host);
    for (let run = 0; run < 10; run++) {
      const b = await book(base, member, space);
      stack.fake.answerDelayMs = 200; // the first call is still open while the others arrive
      let answers;
      try {
        answers = await Promise.all(Array.from({ length: 20 }, () => pay(base, member, b)));
      } finally {
        stack.fake.answerDelayMs = 0;
      }
      const statuses = answers.map((r) => r.status).sort();
      assert.equal(answers.filter((r) => r.status === 201).length, 1, `run ${run}: ${statuses.join(' ')} ${answers.find((r) => r.status >= 300)?.text ?? ''}`);
      assert.equal(answers.filter((r) => r.status === 200).length, 19, `run ${run}: ${statuses.join(' ')}`);
      assert.equal(new Set(answers.map((r) => r.json.id)).size, 1);
      assert.equal(new Set(answers.map((r) => r.json.stripe_payment_intent_id)).size, 1);
      assert.equal(stripeCalls('/v1/payment_intents', b.id).length, 1, `run ${run}: calls to Stripe`);
    }
  });

  test('paying a confirmed booking is 409 booking_not_payable', async () => {
    const space = await createSpace(base, host);
    const { booking } = await paidBooking(space);
    await waitFor(async () => (await request('GET', `/api/v1/bookings/${booking.id}`, { base, headers: bearer(member.token) })).json.status === 'confirmed', 5000, 50);
    expectError(await pay(base, member, booking), 409, 'booking_not_payable');
    assert.equal(stripeCalls('/v1/payment_intents', booking.id).length, 1);
  });
});

describe('a booking cancelled while its PaymentIntent is queued is never charged', () => {
  test('queued without a Stripe key, cancelled, then a shim with the key: no PaymentIntent is created', async () => {
    const space = await createSpace(base, host);
    const b = await book(base, member, space);
    const bare = await startShim({ SHIM_THREADS: '1' });
    try {
      await waitReady(bare.url);
      const res = await pay(bare.url, member, b);
      expectError(res, 503, 'payments_not_configured');
    } finally {
      await bare.stop();
    }
    assert.equal(outboxRows(b.id).filter((o) => o.path === '/v1/payment_intents' && o.status === 'pending').length, 1);
    assert.equal((await cancel(member, b)).status, 200);
    // the payment stack's worker would send a pending row within its lease; give it time
    psql(`UPDATE workon.outbox SET next_attempt_at = now() WHERE booking_id = ${lit(b.id)} AND status = 'pending'`);
    await sleep(1500);
    assert.equal(stripeCalls('/v1/payment_intents', b.id).length, 0, 'the create call was sent for a cancelled booking');
    const row = outboxRows(b.id).find((o) => o.path === '/v1/payment_intents');
    assert.equal(row.status, 'failed');
    assert.match(row.last_error, /cancelled/);
  });

  test('cancelled while the create is on its way: the PaymentIntent is cancelled at Stripe', async () => {
    const space = await createSpace(base, host);
    const b = await book(base, member, space);
    stack.fake.answerDelayMs = 800;
    let paid;
    try {
      const paying = pay(base, member, b);
      await waitFor(() => stripeCalls('/v1/payment_intents', b.id).length === 1, 5000, 10);
      assert.equal((await cancel(member, b)).status, 200);
      paid = await paying;
    } finally {
      stack.fake.answerDelayMs = 0;
    }
    assert.equal(paid.status, 201, paid.text);
    const pi = paid.json.stripe_payment_intent_id;
    await waitFor(() => stack.fake.requests.some((r) => r.path === `/v1/payment_intents/${pi}/cancel` && r.outcome === 'created'), 10000, 50);
    assert.equal(stack.fake.objects.payment_intents.get(pi).status, 'canceled');
  });
});

describe('the token of a deleted, disabled or demoted user', () => {
  test('a deleted user: 401 invalid_token, never a constraint in the body', async () => {
    const gone = await register(base);
    psql(`DELETE FROM workon.refresh_tokens WHERE user_id = ${lit(gone.id)}; DELETE FROM workon.users WHERE id = ${lit(gone.id)}`);
    const space = await createSpace(base, host);
    const [startsAt, endsAt] = [Date.now() + 300 * 3600e3, Date.now() + 301 * 3600e3]
      .map((t) => new Date(Math.ceil(t / 3600e3) * 3600e3).toISOString());
    for (const res of [
      await request('POST', '/api/v1/bookings', { base, headers: bearer(gone.token), body: { space_id: space.id, starts_at: startsAt, ends_at: endsAt } }),
      await request('GET', '/api/v1/me', { base, headers: bearer(gone.token) }),
      await request('GET', '/api/v1/spaces', { base, headers: bearer(gone.token) }),
    ]) {
      expectError(res, 401, 'unauthorized');
      assert.equal(res.headers['www-authenticate'], 'Bearer error="invalid_token"');
      assert.doesNotMatch(res.text, /constraint|fkey|_key\b|table|column|violates/i);
    }
  });

  test('a disabled user: token, login and refresh are 401 at once; enabled again, they work', async () => {
    const email = `disabled-${unique()}@example.com`;
    const password = `long secret ${unique()}`;
    const reg = await request('POST', '/api/v1/auth/register', { base, body: { email, password, name: 'Soon Disabled' } });
    assert.equal(reg.status, 201, reg.text);
    const { access_token: token, refresh_token: refresh } = reg.json;
    assert.equal((await request('GET', '/api/v1/me', { base, headers: bearer(token) })).status, 200);
    psql(`UPDATE workon.users SET disabled = true WHERE id = ${lit(reg.json.user.id)}`);
    const me = await request('GET', '/api/v1/me', { base, headers: bearer(token) });
    expectError(me, 401, 'unauthorized');
    assert.equal(me.headers['www-authenticate'], 'Bearer error="invalid_token"');
    expectError(await request('POST', '/api/v1/auth/login', { base, body: { email, password } }), 401, 'invalid_credentials');
    expectError(await request('POST', '/api/v1/auth/refresh', { base, body: { refresh_token: refresh } }), 401, 'invalid_refresh_token');
    psql(`UPDATE workon.users SET disabled = false WHERE id = ${lit(reg.json.user.id)}`);
    assert.equal((await request('GET', '/api/v1/me', { base, headers: bearer(token) })).status, 200);
  });

  test('an admin disables and enables an account with PATCH /admin/users/{id}', async () => {
    const adminEmail = `admin-${unique()}@example.com`;
    psql(`SELECT workon.create_user(${lit(adminEmail)}, 'admin password long', 'Admin', 'admin')`);
    const login = await request('POST', '/api/v1/auth/login', { base, body: { email: adminEmail, password: 'admin password long' } });
    assert.equal(login.status, 200, login.text);
    const admin = bearer(login.json.access_token);
    const user = await register(base);
    const patch = (id, body) => request('PATCH', `/api/v1/admin/users/${id}`, { base, headers: admin, body });
    const off = await patch(user.id, { disabled: true });
    assert.equal(off.status, 200, off.text);
    assert.equal(off.json.disabled, true);
    expectError(await request('GET', '/api/v1/me', { base, headers: bearer(user.token) }), 401, 'unauthorized');
    const on = await patch(user.id, { disabled: false });
    assert.equal(on.json.disabled, false);
    assert.equal((await request('GET', '/api/v1/me', { base, headers: bearer(user.token) })).status, 200);
    assert.equal(expectError(await patch(login.json.user.id, { disabled: true }), 400, 'validation_failed').details.field, 'disabled');
    assert.equal(expectError(await patch(user.id, { disabled: 'maybe' }), 400, 'validation_failed').details.field, 'disabled');
  });

  test('a role change takes effect on the next request', async () => {
    const h = await register(base, 'host');
    const body = {
      name: `Role Room ${unique()}`, kind: 'desk', city: 'Lisbon', address: 'Rua 2', capacity: 1, timezone: 'UTC',
      hourly_rate_cents: 100, daily_rate_cents: 600, currency: 'eur', opening_hours: {}, published: false,
    };
    assert.equal((await request('POST', '/api/v1/spaces', { base, headers: bearer(h.token), body })).status, 201);
    psql(`UPDATE workon.users SET role = 'member' WHERE id = ${lit(h.id)}`);
    expectError(await request('POST', '/api/v1/spaces', { base, headers: bearer(h.token), body }), 403, 'forbidden');
    const me = await request('GET', '/api/v1/me', { base, headers: bearer(h.token) });
    assert.equal(me.status, 200, me.text);
    assert.equal(me.json.role, 'member');

    // a demoted admin's token no longer acts as admin
    const adminEmail = `admin-${unique()}@example.com`;
    psql(`SELECT workon.create_user(${lit(adminEmail)}, 'admin password long', 'Admin', 'admin')`);
    const login = await request('POST', '/api/v1/auth/login', { base, body: { email: adminEmail, password: 'admin password long' } });
    assert.equal(login.status, 200, login.text);
    const admin = { id: login.json.user.id, token: login.json.access_token };
    const promote = () => request('PATCH', `/api/v1/admin/users/${h.id}`, { base, headers: bearer(admin.token), body: { role: 'host' } });
    assert.equal((await promote()).status, 200);
    psql(`UPDATE workon.users SET role = 'member' WHERE id = ${lit(admin.id)}`);
    expectError(await promote(), 403, 'forbidden');
    // and the promoted host is a host at once
    assert.equal((await request('POST', '/api/v1/spaces', { base, headers: bearer(h.token), body })).status, 201);
  });
});

describe('no error body carries constraint, table or column names', () => {
  // handlers that break each kind of constraint of a real table
  const fns = `
CREATE TABLE workon.test_ledger (
  id int CONSTRAINT test_ledger_pkey PRIMARY KEY,
  parent int CONSTRAINT test_ledger_parent_fkey REFERENCES workon.test_ledger (id),
  amount int NOT NULL CONSTRAINT test_ledger_amount_check CHECK (amount > 0),
  during tstzrange,
  CONSTRAINT test_ledger_during_excl EXCLUDE USING gist (during WITH &&));
INSERT INTO workon.test_ledger VALUES (1, NULL, 5, tstzrange('2030-01-01', '2030-01-02'));
GRANT SELECT, INSERT, UPDATE, DELETE ON workon.test_ledger TO workon_anon;
CREATE FUNCTION workon.test_ledger_unique() RETURNS void LANGUAGE sql AS $$ INSERT INTO workon.test_ledger VALUES (1, NULL, 5, NULL) $$;
CREATE FUNCTION workon.test_ledger_fkey() RETURNS void LANGUAGE sql AS $$ INSERT INTO workon.test_ledger VALUES (2, 99, 5, NULL) $$;
CREATE FUNCTION workon.test_ledger_referenced() RETURNS void LANGUAGE sql AS $$ INSERT INTO workon.test_ledger VALUES (3, 1, 5, NULL); DELETE FROM workon.test_ledger WHERE id = 1 $$;
CREATE FUNCTION workon.test_ledger_check() RETURNS void LANGUAGE sql AS $$ INSERT INTO workon.test_ledger VALUES (4, NULL, -1, NULL) $$;
CREATE FUNCTION workon.test_ledger_not_null() RETURNS void LANGUAGE sql AS $$ INSERT INTO workon.test_ledger VALUES (5, NULL, NULL, NULL) $$;
CREATE FUNCTION workon.test_ledger_exclusion() RETURNS void LANGUAGE sql AS $$ INSERT INTO workon.test_ledger VALUES (6, NULL, 5, tstzrange('2030-01-01 12:00+00', '2030-01-03')) $$;
GRANT EXECUTE ON FUNCTION workon.test_ledger_unique(), workon.test_ledger_fkey(), workon.test_ledger_referenced(),
  workon.test_ledger_check(), workon.test_ledger_not_null(), workon.test_ledger_exclusion() TO workon_anon;`;
  const drop = `DROP FUNCTION workon.test_ledger_unique(), workon.test_ledger_fkey(), workon.test_ledger_referenced(),
  workon.test_ledger_check(), workon.test_ledger_not_null(), workon.test_ledger_exclusion(); DROP TABLE workon.test_ledger;`;
  const cases = [
    ['unique', 409, 'conflict'], ['fkey', 409, 'conflict'], ['referenced', 409, 'conflict'],
    ['check', 400, 'validation_failed'], ['not_null', 400, 'validation_failed'], ['exclusion', 409, 'conflict'],
  ];
  const leaks = /test_ledger|_pkey|_fkey|_check|_excl|constraint|violates|\bamount\b|\bparent\b|\bduring\b|key \(|relation|table/i;
  before(async () => {
    await addRoutes(fns, cases.map(([name]) => ({ method: 'POST', path: `/api/v1/test/ledger/${name}`, handler: `workon.test_ledger_${name}()`, status: 201 })), { bases: [base] });
  });
  after(async () => { await removeRoutes('/api/v1/test/ledger', drop, { bases: [base] }); });

  for (const [name, status, code] of cases) {
    test(`a ${name} violation: ${status} ${code} in the API's own words`, async () => {
      const res = await request('POST', `/api/v1/test/ledger/${name}`, { base });
      const err = expectError(res, status, code);
      assert.doesNotMatch(res.text, leaks);
      assert.deepEqual(err.details, {});
      assert.ok(err.message.length > 0);
    });
  }

  test('write routes provoked into constraint errors answer without database names', async () => {
    // a second account with the same address, in another case
    const email = `Twice-${unique()}@example.com`;
    const first = await request('POST', '/api/v1/auth/register', { base, body: { email, password: 'long enough secret', name: 'One' } });
    assert.equal(first.status, 201, first.text);
    const again = await request('POST', '/api/v1/auth/register', { base, body: { email: email.toLowerCase(), password: 'long enough secret', name: 'Two' } });
    expectError(again, 409, 'email_taken');
    // a space, booking, cancel, payment and checkout of a user deleted meanwhile
    const gone = await register(base, 'host');
    psql(`DELETE FROM workon.refresh_tokens WHERE user_id = ${lit(gone.id)}; DELETE FROM workon.users WHERE id = ${lit(gone.id)}`);
    const space = await createSpace(base, host);
    const b = await book(base, member, space);
    for (const [method, path, body] of [
      ['POST', '/api/v1/spaces', { name: 'X', kind: 'desk', city: 'Lisbon', address: 'Rua', capacity: 1, timezone: 'UTC', hourly_rate_cents: 1, daily_rate_cents: 1, currency: 'eur' }],
      ['PATCH', `/api/v1/spaces/${space.id}`, { name: 'Y' }],
      ['DELETE', `/api/v1/spaces/${space.id}`, undefined],
      ['POST', '/api/v1/bookings', { space_id: space.id, starts_at: b.starts_at, ends_at: b.ends_at }],
      ['POST', `/api/v1/bookings/${b.id}/cancel`, undefined],
      ['POST', `/api/v1/bookings/${b.id}/payment`, undefined],
      ['POST', `/api/v1/bookings/${b.id}/checkout`, { success_url: 'https://example.com/a', cancel_url: 'https://example.com/b' }],
    ]) {
      const res = await request(method, path, { base, headers: bearer(gone.token), body });
      assert.ok(res.status >= 400, `${method} ${path}: ${res.status}`);
      assert.doesNotMatch(res.text, /constraint|violates|fkey|_key\b|_check\b|Key \(|table|relation/i, `${method} ${path}`);
    }
  });
});
