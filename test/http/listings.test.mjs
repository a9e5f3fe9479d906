// Listings over HTTP: ?q= and ?sort= on GET /api/v1/spaces, a host's own spaces and the
// bookings on them, GET /api/v1/bookings filtered.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { BASE, expectError, get, qs, request } from './lib/client.mjs';
import { bearer, book, nextHour, register, unique } from './lib/payments.mjs';

const ALWAYS = Object.fromEntries(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].map((d) => [d, [['00:00', '24:00']]]));
const word = `xylo${unique().replace(/[0-9]/g, 'q')}`; // one word only these spaces hold

async function createSpace(host, fields) {
  const res = await request('POST', '/api/v1/spaces', {
    headers: bearer(host.token),
    body: {
      name: `Listing ${unique()}`, kind: 'desk', city: 'Porto', address: 'Rua 2', capacity: 2, timezone: 'Europe/Lisbon',
      hourly_rate_cents: 1000, daily_rate_cents: 6000, currency: 'eur', opening_hours: ALWAYS, published: true,
      ...fields,
    },
  });
  assert.equal(res.status, 201, res.text);
  return res.json;
}

const names = (res) => res.json.data.map((s) => s.name);

describe('listings', () => {
  let host;
  let other;
  let member;
  let cheap;
  let big;
  let hidden;
  let booking;
  before(async () => {
    [host, other, member] = await Promise.all([register(BASE, 'host'), register(BASE, 'host'), register(BASE)]);
    cheap = await createSpace(host, { name: `Cheap ${word}`, hourly_rate_cents: 500, capacity: 2 });
    big = await createSpace(host, { name: 'Big room', description: `a large ${word} room`, hourly_rate_cents: 2000, capacity: 12 });
    hidden = await createSpace(host, { name: `Hidden ${word}`, published: false });
    booking = await book(BASE, member, cheap, nextHour());
  });

  test('?q= finds published spaces by the words of name and description, ranked', async () => {
    const res = await get(`/api/v1/spaces${qs({ q: word })}`);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(names(res), [cheap.name, big.name]); // the name's word weighs more
    assert.equal(res.json.next_cursor, null);
    assert.equal(res.json.data[0].language, 'pt');
    assert.equal(res.json.data[1].description, `a large ${word} room`);
  });

  test('?sort=price|capacity, with a cursor per order', async () => {
    const byPrice = await get(`/api/v1/spaces${qs({ q: word, sort: 'price', limit: 1 })}`);
    assert.equal(byPrice.status, 200, byPrice.text);
    assert.deepEqual(names(byPrice), [cheap.name]);
    const next = await get(`/api/v1/spaces${qs({ q: word, sort: 'price', limit: 1, cursor: byPrice.json.next_cursor })}`);
    assert.deepEqual(names(next), [big.name]);
    assert.equal(next.json.next_cursor, null);
    const byCapacity = await get(`/api/v1/spaces${qs({ q: word, sort: 'capacity' })}`);
    assert.deepEqual(names(byCapacity), [big.name, cheap.name]);
    const mixed = await get(`/api/v1/spaces${qs({ q: word, sort: 'capacity', cursor: byPrice.json.next_cursor })}`);
    expectError(mixed, 400, 'validation_failed');
    assert.equal(mixed.json.error.details.field, 'cursor');
    const bad = await get(`/api/v1/spaces${qs({ sort: 'cheapest' })}`);
    expectError(bad, 400, 'validation_failed');
    assert.equal(bad.json.error.details.field, 'sort');
  });

  test('GET /api/v1/host/spaces: mine in any state, nobody else\'s', async () => {
    const mine = await get('/api/v1/host/spaces', { headers: bearer(host.token) });
    assert.equal(mine.status, 200, mine.text);
    assert.deepEqual(mine.json.data.map((s) => s.id), [hidden.id, big.id, cheap.id]);
    const theirs = await get('/api/v1/host/spaces', { headers: bearer(other.token) });
    assert.deepEqual(theirs.json.data, []);
    expectError(await get('/api/v1/host/spaces', { headers: bearer(member.token) }), 403, 'forbidden');
    expectError(await get('/api/v1/host/spaces'), 401, 'unauthorized');
  });

  test('GET /api/v1/host/bookings: the bookings of my spaces, filtered', async () => {
    const all = await get(`/api/v1/host/bookings${qs({ space_id: cheap.id })}`, { headers: bearer(host.token) });
    assert.equal(all.status, 200, all.text);
    assert.deepEqual(all.json.data.map((b) => b.id), [booking.id]);
    const pending = await get(`/api/v1/host/bookings${qs({ status: 'pending_payment' })}`, { headers: bearer(host.token) });
    assert.deepEqual(pending.json.data.map((b) => b.id), [booking.id]);
    const cancelled = await get(`/api/v1/host/bookings${qs({ status: 'cancelled' })}`, { headers: bearer(host.token) });
    assert.deepEqual(cancelled.json.data, []);
    const later = await get(`/api/v1/host/bookings${qs({ from: booking.ends_at })}`, { headers: bearer(host.token) });
    assert.deepEqual(later.json.data, []);
    const theirs = await get('/api/v1/host/bookings', { headers: bearer(other.token) });
    assert.deepEqual(theirs.json.data, []);
    const bad = await get(`/api/v1/host/bookings${qs({ status: 'paid' })}`, { headers: bearer(host.token) });
    expectError(bad, 400, 'validation_failed');
    assert.equal(bad.json.error.details.field, 'status');
  });

  test('GET /api/v1/bookings takes status, space_id, from and to', async () => {
    const auth = { headers: bearer(member.token) };
    const pending = await get(`/api/v1/bookings${qs({ status: 'pending_payment', space_id: cheap.id })}`, auth);
    assert.equal(pending.status, 200, pending.text);
    assert.deepEqual(pending.json.data.map((b) => b.id), [booking.id]);
    const confirmed = await get(`/api/v1/bookings${qs({ status: 'confirmed' })}`, auth);
    assert.deepEqual(confirmed.json.data, []);
    const window = await get(`/api/v1/bookings${qs({ from: booking.starts_at, to: booking.ends_at })}`, auth);
    assert.deepEqual(window.json.data.map((b) => b.id), [booking.id]);
    const before = await get(`/api/v1/bookings${qs({ to: booking.starts_at })}`, auth);
    assert.deepEqual(before.json.data, []);
  });
});
