// Spaces and bookings end to end: a host lists a space, members book it, visibility per
// role, cancellation, and double booking under concurrency (64 requests for one slot,
// then many for overlapping random slots, checked in the database afterwards).
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { before, describe, test } from 'node:test';
import { expectError, lit, psql, request, UUID_RE } from './lib/client.mjs';

const SECRET = crypto.randomBytes(36).toString('base64url');
const unique = () => `${Date.now().toString(36)}${crypto.randomBytes(4).toString('hex')}`;
const bearer = (token) => ({ authorization: `Bearer ${token}` });
const HOUR = 3600e3;
const ALWAYS = Object.fromEntries(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].map((d) => [d, [['00:00', '24:00']]]));

async function register(role) {
  const body = { email: `bk-${unique()}@example.com`, password: `long secret ${unique()}`, name: 'Booker', ...(role ? { role } : {}) };
  const res = await request('POST', '/api/v1/auth/register', { body });
  assert.equal(res.status, 201, res.text);
  return { id: res.json.user.id, token: res.json.access_token };
}

// A time on the 15-minute grid: the next full hour plus `hours`.
function slot(hours) {
  const base = Math.ceil(Date.now() / HOUR) * HOUR;
  return new Date(base + hours * HOUR).toISOString();
}

let host;
let m1;
let m2;
let space;

async function book(user, startsAt, endsAt, spaceId = space.id) {
  return request('POST', '/api/v1/bookings', {
    body: { space_id: spaceId, starts_at: startsAt, ends_at: endsAt }, headers: bearer(user.token),
  });
}

before(async () => {
  psql(`SELECT workon.seed_jwt_key(${lit(SECRET)});`);
  [host, m1, m2] = await Promise.all([register('host'), register(), register()]);
  const res = await request('POST', '/api/v1/spaces', {
    headers: bearer(host.token),
    body: {
      name: `Always Open ${unique()}`, kind: 'meeting_room', city: 'Berlin', address: 'Ufer 1', capacity: 6,
      timezone: 'UTC', hourly_rate_cents: 1000, daily_rate_cents: 6000, currency: 'eur',
      opening_hours: ALWAYS, published: true,
    },
  });
  assert.equal(res.status, 201, res.text);
  space = res.json;
});

describe('spaces', () => {
  test('a host creates, changes and reads a space; validation names the field', async () => {
    assert.match(space.id, UUID_RE);
    assert.equal(space.host_id, host.id);
    let res = await request('PATCH', `/api/v1/spaces/${space.id}`, { headers: bearer(host.token), body: { capacity: 8 } });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.capacity, 8);
    assert.equal(res.json.name, space.name);
    res = await request('PATCH', `/api/v1/spaces/${space.id}`, { headers: bearer(host.token), body: { opening_hours: { mon: [['20:00', '08:00']] } } });
    assert.equal(expectError(res, 400, 'validation_failed').details.field, 'opening_hours.mon');
    res = await request('PATCH', `/api/v1/spaces/${space.id}`, { headers: bearer(host.token), body: { name: null } });
    assert.equal(expectError(res, 400, 'validation_failed').details.field, 'name');
    res = await request('POST', '/api/v1/spaces', { headers: bearer(m1.token), body: { name: 'x' } });
    expectError(res, 403, 'forbidden');
  });

  test('an unpublished space is 404 for others, and cannot be booked by them', async () => {
    const res = await request('POST', '/api/v1/spaces', {
      headers: bearer(host.token),
      body: { name: 'Draft', kind: 'desk', city: 'Berlin', address: 'Hof 2', capacity: 1, timezone: 'Europe/Berlin',
        hourly_rate_cents: 500, daily_rate_cents: 2500, currency: 'eur', opening_hours: ALWAYS },
    });
    assert.equal(res.status, 201, res.text);
    assert.equal(res.json.published, false);
    expectError(await request('GET', `/api/v1/spaces/${res.json.id}`, { headers: bearer(m1.token) }), 404, 'not_found');
    assert.equal((await request('GET', `/api/v1/spaces/${res.json.id}`, { headers: bearer(host.token) })).status, 200);
    expectError(await book(m1, slot(30), slot(31), res.json.id), 404, 'not_found');
    const del = await request('DELETE', `/api/v1/spaces/${res.json.id}`, { headers: bearer(host.token) });
    assert.equal(del.status, 204, del.text);
  });
});

describe('bookings', () => {
  test('a member books: 201 hold with price; others see 404, the host and the member see it', async () => {
    const res = await book(m1, slot(48), slot(49.5));
    assert.equal(res.status, 201, res.text);
    const b = res.json;
    for (const k of ['id', 'space_id', 'user_id', 'starts_at', 'ends_at', 'status', 'price', 'hold_expires_at']) {
      assert.ok(k in b, `missing ${k}`);
    }
    assert.equal(b.status, 'pending_payment');
    assert.deepEqual(b.price, { amount_cents: 1500, currency: 'eur' });
    assert.equal(b.user_id, m1.id);
    const hold = (Date.parse(b.hold_expires_at) - Date.now()) / 60e3;
    assert.ok(hold > 13 && hold <= 15.5, `hold of ${hold} minutes`);

    expectError(await request('GET', `/api/v1/bookings/${b.id}`, { headers: bearer(m2.token) }), 404, 'not_found');
    expectError(await request('POST', `/api/v1/bookings/${b.id}/cancel`, { headers: bearer(m2.token) }), 404, 'not_found');
    assert.equal((await request('GET', `/api/v1/bookings/${b.id}`, { headers: bearer(host.token) })).status, 200);
    const mine = await request('GET', '/api/v1/bookings', { headers: bearer(m1.token) });
    assert.equal(mine.status, 200, mine.text);
    assert.ok(mine.json.data.some((x) => x.id === b.id));
    const theirs = await request('GET', '/api/v1/bookings', { headers: bearer(m2.token) });
    assert.ok(!theirs.json.data.some((x) => x.id === b.id));
    expectError(await request('GET', '/api/v1/bookings'), 401, 'unauthorized');

    // overlap refused, touching allowed
    expectError(await book(m2, slot(49), slot(50)), 409, 'booking_conflict');
    assert.equal((await book(m2, slot(49.5), slot(50.5))).status, 201);

    // availability shows it busy
    const av = await request('GET', `/api/v1/spaces/${space.id}/availability?from=${encodeURIComponent(slot(47))}&to=${encodeURIComponent(slot(52))}`);
    assert.equal(av.status, 200, av.text);
    assert.deepEqual(av.json.busy.map((p) => [Date.parse(p.starts_at), Date.parse(p.ends_at)]),
      [[Date.parse(slot(48)), Date.parse(slot(50.5))]]);

    // the space cannot be deleted now
    expectError(await request('DELETE', `/api/v1/spaces/${space.id}`, { headers: bearer(host.token) }), 409, 'has_future_bookings');

    // cancel: more than 24 h ahead, 100 %
    const c = await request('POST', `/api/v1/bookings/${b.id}/cancel`, { headers: bearer(m1.token) });
    assert.equal(c.status, 200, c.text);
    assert.equal(c.json.status, 'cancelled');
    assert.deepEqual(c.json.refund, { amount_cents: 0, currency: 'eur', percent: 100 });
    expectError(await request('POST', `/api/v1/bookings/${b.id}/cancel`, { headers: bearer(m1.token) }), 409, 'invalid_transition');
    // the slot is free again
    assert.equal((await book(m2, slot(48), slot(49))).status, 201);
  });

  test('rule violations are 400 naming the field', async () => {
    let res = await book(m1, slot(60), new Date(Date.parse(slot(60)) + 15 * 60e3).toISOString());
    assert.equal(expectError(res, 400, 'validation_failed').details.field, 'ends_at');
    res = await book(m1, new Date(Date.parse(slot(60)) + 5 * 60e3).toISOString(), slot(61));
    assert.equal(expectError(res, 400, 'validation_failed').details.field, 'starts_at');
    res = await book(m1, slot(-5), slot(-4));
    assert.equal(expectError(res, 400, 'validation_failed').details.field, 'starts_at');
  });

  test('64 simultaneous requests for one slot: exactly one 201, the rest 409 booking_conflict', async () => {
    const s = slot(100);
    const e = slot(102);
    const results = await Promise.all(Array.from({ length: 64 }, (_, i) => book(i % 2 ? m1 : m2, s, e)));
    const statuses = results.map((r) => r.status);
    assert.equal(statuses.filter((x) => x >= 500).length, 0, `5xx: ${results.filter((r) => r.status >= 500).map((r) => r.text)}`);
    assert.equal(statuses.filter((x) => x === 201).length, 1, `statuses: ${statuses}`);
    for (const r of results.filter((x) => x.status !== 201)) expectError(r, 409, 'booking_conflict');
  });

  test('many simultaneous bookings of overlapping random slots never overlap in the database', async () => {
    const base = 200; // hours ahead
    const reqs = Array.from({ length: 120 }, (_, i) => {
      const start = base + Math.floor(Math.random() * 32) / 4; // within 8 hours, 15-min grid
      const len = (2 + Math.floor(Math.random() * 10)) / 4; // 30 min .. 2 h 45 min
      return book(i % 2 ? m1 : m2, slot(start), slot(start + len));
    });
    const results = await Promise.all(reqs);
    const statuses = results.map((r) => r.status);
    assert.ok(statuses.every((x) => x === 201 || x === 409), `statuses: ${statuses}`);
    assert.ok(statuses.includes(201));
    const overlaps = psql(`
      SELECT count(*) FROM workon.bookings a JOIN workon.bookings b
        ON a.space_id = b.space_id AND a.id < b.id
       AND tstzrange(a.starts_at, a.ends_at) && tstzrange(b.starts_at, b.ends_at)
     WHERE a.space_id = ${lit(space.id)}
       AND a.status IN ('pending_payment', 'confirmed') AND b.status IN ('pending_payment', 'confirmed')`);
    assert.equal(overlaps, '0');
  });
});
