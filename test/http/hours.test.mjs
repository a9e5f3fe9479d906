// Hours that can be booked: availability on the 15-minute grid of the space's zone, date-only
// bounds read in that zone, opening hours on the grid, no publishing without opening hours.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { BASE, expectError, get, qs, request, sleep } from './lib/client.mjs';
import { bearer, register } from './lib/payments.mjs';

const ALWAYS = Object.fromEntries(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].map((d) => [d, [['00:00', '24:00']]]));
const body = (fields) => ({
  name: 'Hours Room', kind: 'meeting_room', city: 'Berlin', address: 'Allee 1', capacity: 4, timezone: 'Europe/Berlin',
  hourly_rate_cents: 1000, daily_rate_cents: 6000, currency: 'eur', opening_hours: ALWAYS, published: true, ...fields,
});

describe('hours that can be booked', () => {
  let host;
  let member;
  let space;
  before(async () => {
    [host, member] = await Promise.all([register(BASE, 'host'), register(BASE)]);
    const res = await request('POST', '/api/v1/spaces', { headers: bearer(host.token), body: body({}) });
    assert.equal(res.status, 201, res.text);
    space = res.json;
  });

  test('the default window starts on the grid, and its first free period can be booked as given', async () => {
    let res = await get(`/api/v1/spaces/${space.id}/availability`);
    if (new Date(res.json.from).getTime() - Date.now() < 5000) {
      // the next quarter hour is about to pass: ask again once it has
      await sleep(6000);
      res = await get(`/api/v1/spaces/${space.id}/availability`);
    }
    assert.equal(res.status, 200, res.text);
    const from = new Date(res.json.from);
    assert.equal(from.getTime() % (15 * 60e3), 0, res.json.from);
    assert.ok(from.getTime() >= Date.now() - 1000 && from.getTime() < Date.now() + 15 * 60e3);
    const free = res.json.free[0];
    assert.equal(free.starts_at, res.json.from);
    const ends = new Date(new Date(free.starts_at).getTime() + 3600e3).toISOString();
    const booking = await request('POST', '/api/v1/bookings', {
      headers: bearer(member.token), body: { space_id: space.id, starts_at: free.starts_at, ends_at: ends },
    });
    assert.equal(booking.status, 201, booking.text);
  });

  test('date-only bounds are dates of the space\'s zone, the end date included; times off the grid are rounded in', async () => {
    const res = await get(`/api/v1/spaces/${space.id}/availability${qs({ from: '2027-01-10', to: '2027-01-11' })}`);
    assert.equal(res.status, 200, res.text);
    assert.equal(new Date(res.json.from).toISOString(), '2027-01-09T23:00:00.000Z');
    assert.equal(new Date(res.json.to).toISOString(), '2027-01-11T23:00:00.000Z');
    const off = await get(`/api/v1/spaces/${space.id}/availability${qs({ from: '2027-01-10T09:07:00+01:00', to: '2027-01-10T12:52:00+01:00' })}`);
    assert.equal(new Date(off.json.from).toISOString(), '2027-01-10T08:15:00.000Z');
    assert.equal(new Date(off.json.to).toISOString(), '2027-01-10T11:45:00.000Z');
    const bad = await get(`/api/v1/spaces/${space.id}/availability${qs({ from: 'tomorrow' })}`);
    assert.equal(expectError(bad, 400, 'validation_failed').details.field, 'from');
  });

  test('opening hours off the grid are refused, every day named; no publishing without opening hours', async () => {
    const off = await request('POST', '/api/v1/spaces', {
      headers: bearer(host.token), body: body({ opening_hours: { mon: [['08:07', '20:00']], fri: [['08:00', '19:59']] } }),
    });
    assert.equal(expectError(off, 400, 'validation_failed').details.field, 'opening_hours.mon');
    assert.deepEqual(off.json.error.details.fields.map((f) => f.field), ['opening_hours.mon', 'opening_hours.fri']);
    const none = await request('POST', '/api/v1/spaces', { headers: bearer(host.token), body: body({ opening_hours: {} }) });
    assert.equal(expectError(none, 409, 'no_opening_hours').details.field, 'opening_hours');
    const draft = await request('POST', '/api/v1/spaces', {
      headers: bearer(host.token), body: body({ opening_hours: {}, published: false }),
    });
    assert.equal(draft.status, 201, draft.text);
    const publish = await request('PATCH', `/api/v1/spaces/${draft.json.id}`, { headers: bearer(host.token), body: { published: true } });
    expectError(publish, 409, 'no_opening_hours');
    const withHours = await request('PATCH', `/api/v1/spaces/${draft.json.id}`, {
      headers: bearer(host.token), body: { published: true, opening_hours: { mon: [['08:15', '12:45']] } },
    });
    assert.equal(withHours.status, 200, withHours.text);
  });
});
