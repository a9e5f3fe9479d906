// Reviews: a member reviews a space once per booking that took place and has ended; edits
// for 14 days; the space's host answers once; admins hide (and show again) with a reason,
// audited; the space's document carries the average and count of what is visible.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { before, describe, test } from 'node:test';
import { expectError, lit, psql, request } from './lib/client.mjs';
import { bearer, unique, userWithRole as login } from './lib/users.mjs';

// A booking of the member in the past (or not): written with SQL, as no route makes one;
// each an hour long and 3 hours before the previous one, so that none overlaps
let slot = 0;
function booking(space, member, { status = 'confirmed', endedAgo = '1 day' } = {}) {
  const ends = `now() - interval ${lit(endedAgo)} - ${slot++} * interval '3 hours'`;
  return psql(`INSERT INTO workon.bookings (space_id, user_id, starts_at, ends_at, status, price_cents, currency, cancelled_at)
               VALUES (${lit(space)}, ${lit(member.id)}, ${ends} - interval '1 hour',
                       ${ends}, ${lit(status)}, 1000, 'eur',
                       CASE WHEN ${lit(status)} = 'cancelled' THEN now() - interval '30 days' END)
               RETURNING id;`).split('\n')[0];
}

let admin;
let host;
let otherHost;
let member;
let other;
let space;

const review = (who, body, s = space) => request('POST', `/api/v1/spaces/${s}/reviews`, { headers: bearer(who.token), body });
const rating = async () => (await request('GET', `/api/v1/spaces/${space}`)).json.rating;

before(async () => {
  [admin, host, otherHost, member, other] = await Promise.all(
    [login('admin'), login('host'), login('host'), login('member'), login('member')]);
  const res = await request('POST', '/api/v1/spaces', {
    headers: bearer(host.token),
    body: {
      name: `Review Room ${unique()}`, kind: 'meeting_room', city: 'Nantes', address: 'Rue 1', capacity: 4,
      timezone: 'UTC', hourly_rate_cents: 1000, daily_rate_cents: 6000, currency: 'eur', published: true,
      opening_hours: { mon: [['08:00', '20:00']] },
    },
  });
  assert.equal(res.status, 201, res.text);
  space = res.json.id;
  assert.deepEqual(res.json.rating, { average: null, count: 0 });
});

describe('writing a review', () => {
  test('only after a booking of one\'s own that took place and ended, once', async () => {
    expectError(await review({ token: 'x' }, { rating: 5 }), 401, 'unauthorized');
    expectError(await request('POST', `/api/v1/spaces/${space}/reviews`, { body: { rating: 5 } }), 401, 'unauthorized');
    const future = booking(space, member, { endedAgo: '-200 hours' });
    expectError(await review(member, { booking_id: future, rating: 5 }), 409, 'not_eligible');
    const cancelled = booking(space, member, { status: 'cancelled' });
    expectError(await review(member, { booking_id: cancelled, rating: 5 }), 409, 'not_eligible');
    const pending = booking(space, member, { status: 'expired' });
    expectError(await review(member, { booking_id: pending, rating: 5 }), 409, 'not_eligible');
    const others = booking(space, other);
    expectError(await review(member, { booking_id: others, rating: 5 }), 404, 'not_found');
    expectError(await review(member, { booking_id: crypto.randomUUID(), rating: 5 }), 404, 'not_found');
    const ended = booking(space, member);
    expectError(await review(member, { booking_id: ended, rating: 5 }, crypto.randomUUID()), 404, 'not_found');
    for (const body of [{ booking_id: ended, rating: 0 }, { booking_id: ended, rating: 6 }, { booking_id: ended, rating: 4.5 },
      { booking_id: ended }, { booking_id: ended, rating: 4, body: 'é'.repeat(2001) }, { booking_id: ended, rating: 4, stars: 1 }]) {
      expectError(await review(member, body), 400, 'validation_failed');
    }

    const res = await review(member, { booking_id: ended, rating: 4, body: ` ${'x'.repeat(1999)} ` });
    assert.equal(res.status, 201, res.text);
    assert.equal(res.headers.location, `/api/v1/reviews/${res.json.id}`);
    const got = await request('GET', res.headers.location);
    assert.equal(got.status, 200, got.text);
    assert.equal(got.json.id, res.json.id);
    assert.ok(!('booking_id' in got.json), 'the public does not see the booking');
    assert.equal((await request('GET', res.headers.location, { headers: bearer(member.token) })).json.booking_id, ended);
    expectError(await request('GET', `/api/v1/reviews/${crypto.randomUUID()}`), 404, 'not_found');
    assert.equal(res.json.rating, 4);
    assert.equal(res.json.body.length, 1999); // trimmed
    assert.equal(res.json.booking_id, ended);
    assert.equal(res.json.hidden, false);
    expectError(await review(member, { booking_id: ended, rating: 1 }), 409, 'already_reviewed');
    assert.deepEqual(await rating(), { average: 4, count: 1 });
  });

  test('the author edits for 14 days; others may not', async () => {
    const b = booking(space, member, { endedAgo: '3 days' });
    const r = (await review(member, { booking_id: b, rating: 2 })).json;
    assert.deepEqual(await rating(), { average: 3, count: 2 });
    const edited = await request('PATCH', `/api/v1/reviews/${r.id}`, { headers: bearer(member.token), body: { rating: 5, body: 'Better now' } });
    assert.equal(edited.status, 200, edited.text);
    assert.equal(edited.json.body, 'Better now');
    assert.deepEqual(await rating(), { average: 4.5, count: 2 });
    expectError(await request('PATCH', `/api/v1/reviews/${r.id}`, { body: { rating: 1 } }), 401, 'unauthorized');
    expectError(await request('PATCH', `/api/v1/reviews/${r.id}`, { headers: bearer(other.token), body: { rating: 1 } }), 403, 'forbidden');
    expectError(await request('PATCH', `/api/v1/reviews/${crypto.randomUUID()}`, { headers: bearer(member.token), body: { rating: 1 } }), 404, 'not_found');
    psql(`UPDATE workon.reviews SET created_at = now() - interval '15 days' WHERE id = ${lit(r.id)};`);
    expectError(await request('PATCH', `/api/v1/reviews/${r.id}`, { headers: bearer(member.token), body: { rating: 1 } }), 409, 'review_locked');
  });
});

describe('answers, hiding and the public list', () => {
  let r;
  before(async () => {
    const b = booking(space, other, { endedAgo: '2 hours' });
    r = (await review(other, { booking_id: b, rating: 1, body: 'Call me at +33 6 00 00 00 00' })).json;
  });

  test('the host answers once; members and other hosts may not', async () => {
    const path = `/api/v1/reviews/${r.id}/answer`;
    expectError(await request('POST', path, { body: { body: 'Thanks' } }), 401, 'unauthorized');
    expectError(await request('POST', path, { headers: bearer(other.token), body: { body: 'Thanks' } }), 403, 'forbidden');
    expectError(await request('POST', path, { headers: bearer(otherHost.token), body: { body: 'Thanks' } }), 403, 'forbidden');
    expectError(await request('POST', path, { headers: bearer(host.token), body: { body: ' ' } }), 400, 'validation_failed');
    const res = await request('POST', path, { headers: bearer(host.token), body: { body: 'Sorry to hear that.' } });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.answer, 'Sorry to hear that.');
    expectError(await request('POST', path, { headers: bearer(host.token), body: { body: 'Again' } }), 409, 'already_answered');
  });

  test('admins hide with a reason: gone from the list and the rating, audited; shown again', async () => {
    const before = await rating();
    const path = `/api/v1/admin/reviews/${r.id}/hide`;
    expectError(await request('POST', path, { body: { reason: 'x' } }), 401, 'unauthorized');
    expectError(await request('POST', path, { headers: bearer(host.token), body: { reason: 'x' } }), 403, 'forbidden');
    expectError(await request('POST', path, { headers: bearer(admin.token), body: {} }), 400, 'validation_failed');
    expectError(await request('POST', `/api/v1/admin/reviews/${crypto.randomUUID()}/hide`, { headers: bearer(admin.token), body: { reason: 'x' } }), 404, 'not_found');
    const hidden = await request('POST', path, { headers: bearer(admin.token), body: { reason: 'Personal data' } });
    assert.equal(hidden.status, 200, hidden.text);
    assert.equal(hidden.json.hidden, true);
    assert.equal(hidden.json.hidden_reason, 'Personal data');
    assert.equal(psql(`SELECT actor_id || ' ' || (after->>'hidden_reason') FROM workon.audit_log
                        WHERE entity = 'reviews' AND entity_id = ${lit(r.id)} ORDER BY id DESC LIMIT 1;`), `${admin.id} Personal data`);
    const after = await rating();
    assert.equal(after.count, before.count - 1);

    const list = await request('GET', `/api/v1/spaces/${space}/reviews?limit=100`);
    assert.ok(!list.json.data.some((x) => x.id === r.id));
    expectError(await request('GET', `/api/v1/reviews/${r.id}`), 404, 'not_found');
    expectError(await request('GET', `/api/v1/reviews/${r.id}`, { headers: bearer(host.token) }), 404, 'not_found');
    assert.equal((await request('GET', `/api/v1/reviews/${r.id}`, { headers: bearer(other.token) })).json.hidden_reason, 'Personal data');
    // a hidden review: its author still sees it, nobody else can act on it
    expectError(await request('POST', `/api/v1/reviews/${r.id}/answer`, { headers: bearer(host.token), body: { body: 'x' } }), 404, 'not_found');
    const own = await request('PATCH', `/api/v1/reviews/${r.id}`, { headers: bearer(other.token), body: { body: 'Edited' } });
    assert.equal(own.status, 200, own.text);
    assert.equal(own.json.hidden, true);

    // showing it again is the admins' too: 401, 403 for its author, another member and the
    // host, 404 for an unknown review; none of them shows it
    expectError(await request('DELETE', path), 401, 'unauthorized');
    for (const who of [other, member, host]) expectError(await request('DELETE', path, { headers: bearer(who.token) }), 403, 'forbidden');
    expectError(await request('DELETE', `/api/v1/admin/reviews/${crypto.randomUUID()}/hide`, { headers: bearer(admin.token) }), 404, 'not_found');
    assert.equal(psql(`SELECT hidden_at IS NOT NULL FROM workon.reviews WHERE id = ${lit(r.id)};`), 't');
    const shown = await request('DELETE', path, { headers: bearer(admin.token) });
    assert.equal(shown.status, 200, shown.text);
    assert.equal(shown.json.hidden, false);
    assert.deepEqual(await rating(), before);
  });

  test('the list: visible reviews newest first, paged, no private fields; 404 for an unseen space', async () => {
    const all = await request('GET', `/api/v1/spaces/${space}/reviews`);
    assert.equal(all.status, 200, all.text);
    const ids = psql(`SELECT string_agg(id::text, ',' ORDER BY created_at DESC, id DESC) FROM workon.reviews
                       WHERE space_id = ${lit(space)} AND hidden_at IS NULL;`);
    assert.equal(all.json.data.map((x) => x.id).join(','), ids);
    for (const x of all.json.data) {
      for (const field of ['booking_id', 'hidden', 'hidden_reason', 'editable_until']) assert.ok(!(field in x), field);
      assert.equal(typeof x.author_name, 'string');
    }
    const page = await request('GET', `/api/v1/spaces/${space}/reviews?limit=1`);
    assert.equal(page.json.data.length, 1);
    const next = await request('GET', `/api/v1/spaces/${space}/reviews?limit=1&cursor=${encodeURIComponent(page.json.next_cursor)}`);
    assert.equal(next.json.data[0].id, all.json.data[1].id);
    // the space's rating matches the visible reviews
    const avg = psql(`SELECT round(avg(rating), 2)::float8 || ' ' || count(*) FROM workon.reviews
                       WHERE space_id = ${lit(space)} AND hidden_at IS NULL;`);
    const r = await rating();
    assert.equal(`${r.average} ${r.count}`, avg);
    expectError(await request('GET', `/api/v1/spaces/${crypto.randomUUID()}/reviews`), 404, 'not_found');
    // an unpublished space's reviews are as unseen as the space
    assert.equal((await request('PATCH', `/api/v1/spaces/${space}`, { headers: bearer(host.token), body: { published: false } })).status, 200);
    expectError(await request('GET', `/api/v1/spaces/${space}/reviews`), 404, 'not_found');
    assert.equal((await request('GET', `/api/v1/spaces/${space}/reviews`, { headers: bearer(host.token) })).status, 200);
    assert.equal((await request('PATCH', `/api/v1/spaces/${space}`, { headers: bearer(host.token), body: { published: true } })).status, 200);
  });
});
