// One form of time in every answer: RFC 3339 in UTC with six fractional digits and Z.
// Walks the answers of many routes (public reads, a member's, a host's and an admin's,
// the 201s of writes, the audit log's copies of rows) and fails on any time in another
// form (an offset such as +00:00, fewer digits, a space for the T).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { get, request } from './lib/client.mjs';
import { bearer, unique, userWithRole } from './lib/users.mjs';

const TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
// anything that starts like a time of day after a date: what TIME must then match
const LOOKS_LIKE_TIME = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}/;
const ALWAYS = Object.fromEntries(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].map((d) => [d, [['00:00', '24:00']]]));

// every string of a JSON value that looks like a time, with its path
function times(value, path = '$', out = []) {
  if (typeof value === 'string') {
    if (LOOKS_LIKE_TIME.test(value)) out.push([path, value]);
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => times(v, `${path}[${i}]`, out));
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) times(v, `${path}.${k}`, out);
  }
  return out;
}

test('every time in the answers of many routes is UTC with six fractional digits and Z', async () => {
  const host = await userWithRole('host');
  const member = await userWithRole('member');
  const admin = await userWithRole('admin');
  const seen = [];
  const bad = [];
  const check = async (label, resPromise, status) => {
    const res = await resPromise;
    if (status !== undefined) assert.equal(res.status, status, `${label}: ${res.text}`);
    if (res.json === undefined || res.json === null) return res;
    for (const [p, v] of times(res.json)) {
      seen.push(label);
      if (!TIME.test(v)) bad.push(`${label} ${p} = ${v}`);
    }
    return res;
  };

  // a host's space, booked by a member, a conversation, an upload
  const space = (await check('POST /api/v1/spaces', request('POST', '/api/v1/spaces', {
    headers: bearer(host.token),
    body: {
      name: `Time Room ${unique()}`, kind: 'meeting_room', city: 'Lisbon', address: 'Rua 2', capacity: 3,
      timezone: 'Europe/Lisbon', hourly_rate_cents: 1000, daily_rate_cents: 6000, currency: 'eur',
      opening_hours: ALWAYS, published: true, description: 'a room to check times',
    },
  }), 201)).json;
  const hour = 3600e3;
  const start = Math.ceil(Date.now() / hour) * hour + 50 * hour;
  const booking = (await check('POST /api/v1/bookings', request('POST', '/api/v1/bookings', {
    headers: bearer(member.token),
    body: { space_id: space.id, starts_at: new Date(start).toISOString(), ends_at: new Date(start + hour).toISOString() },
  }), 201)).json;
  const conv = (await check('POST /api/v1/conversations', request('POST', '/api/v1/conversations', {
    headers: bearer(member.token), body: { space_id: space.id },
  }))).json;
  await check('POST /api/v1/conversations/{id}/messages', request('POST', `/api/v1/conversations/${conv.id}/messages`, {
    headers: bearer(member.token), body: { body: 'what time is it?' },
  }), 201);
  const upload = (await check('POST /api/v1/uploads', request('POST', '/api/v1/uploads', {
    headers: bearer(member.token), body: { filename: 'a.png', content_type: 'image/png', size: 10 },
  }), 201)).json;

  const reads = [
    ['/api/v1/spaces', undefined],
    [`/api/v1/spaces/${space.id}`, undefined],
    [`/api/v1/spaces/${space.id}/availability`, undefined],
    [`/api/v1/spaces/${space.id}/reviews`, undefined],
    ['/api/v1/spaces?q=room&sort=newest', undefined],
    ['/api/v1/posts', undefined],
    ['/api/health', undefined],
    ['/api/v1/me', member],
    ['/api/v1/bookings', member],
    [`/api/v1/bookings/${booking.id}`, member],
    ['/api/v1/conversations', member],
    [`/api/v1/conversations/${conv.id}/messages`, member],
    ['/api/v1/events', member],
    [`/api/v1/uploads/${upload.id}`, member],
    ['/api/v1/host/spaces', host],
    ['/api/v1/host/bookings', host],
    ['/api/v1/host/stats', host],
    ['/api/v1/admin/users', admin],
    [`/api/v1/admin/users/${member.id}`, admin],
    [`/api/v1/admin/audit?entity_id=${space.id}`, admin],
    [`/api/v1/admin/audit?entity_id=${booking.id}`, admin],
    ['/api/v1/admin/audit?limit=100', admin],
    ['/api/v1/admin/stats', admin],
    ['/api/v1/admin/emails', admin],
    ['/api/v1/admin/outbox', admin],
    ['/api/v1/admin/posts', admin],
  ];
  for (const [p, who] of reads) {
    await check(`GET ${p}`, get(p, who ? { headers: bearer(who.token) } : {}), 200);
  }
  await check('POST /api/v1/bookings/{id}/cancel', request('POST', `/api/v1/bookings/${booking.id}/cancel`, {
    headers: bearer(member.token),
  }), 200);

  assert.deepEqual(bad, [], `times in another form:\n${bad.join('\n')}`);
  // the walk did see times, of the writes, the lists and the audit log alike
  for (const label of ['POST /api/v1/bookings', 'GET /api/v1/bookings', 'GET /api/v1/admin/audit?limit=100',
    `GET /api/v1/admin/audit?entity_id=${space.id}`, 'GET /api/v1/admin/users']) {
    assert.ok(seen.includes(label), `no time seen in ${label}`);
  }
});
