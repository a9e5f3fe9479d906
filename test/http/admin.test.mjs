// The admin's view and the host's numbers through the shim: GET /api/v1/admin/stats (JSON
// and CSV), /api/v1/host/stats (own spaces only), /api/v1/admin/audit, /api/v1/admin/users
// and /api/v1/admin/users/{id} (GET and PATCH), each with its 401, 403 and 404 cases.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { before, describe, test } from 'node:test';
import { expectError, lit, psql, qs, request } from './lib/client.mjs';

const unique = () => `${Date.now().toString(36)}${crypto.randomBytes(4).toString('hex')}`;
const bearer = (token) => ({ authorization: `Bearer ${token}` });
const HOUR = 3600e3;
const ALWAYS = Object.fromEntries(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].map((d) => [d, [['00:00', '24:00']]]));

async function register(role, name = 'Admin View') {
  const email = `adm-${unique()}@example.com`;
  const body = { email, password: `long secret ${unique()}`, name, ...(role ? { role } : {}) };
  const res = await request('POST', '/api/v1/auth/register', { body });
  assert.equal(res.status, 201, res.text);
  return { id: res.json.user.id, email, token: res.json.access_token };
}

async function admin() {
  const email = `adm-admin-${unique()}@example.com`;
  const id = psql(`SELECT workon.create_user(${lit(email)}, 'admin long password', 'Admin', 'admin')`).trim();
  const res = await request('POST', '/api/v1/auth/login', { body: { email, password: 'admin long password' } });
  assert.equal(res.status, 200, res.text);
  return { id, email, token: res.json.access_token };
}

async function space(host, name) {
  const res = await request('POST', '/api/v1/spaces', {
    headers: bearer(host.token),
    body: {
      name, kind: 'desk', city: `Adm${unique()}`, address: 'Rue 1', capacity: 2, timezone: 'Europe/Paris',
      hourly_rate_cents: 1000, daily_rate_cents: 6000, currency: 'eur', opening_hours: ALWAYS, published: true,
    },
  });
  assert.equal(res.status, 201, res.text);
  return res.json;
}

const day = (t) => new Date(t).toISOString().slice(0, 10);

describe('admin and host stats, audit, users', () => {
  let a; let host; let other; let member; let s1; let s2; let booking;
  before(async () => {
    [a, host, other, member] = await Promise.all([admin(), register('host'), register('host'), register(undefined, 'Zed Searchable')]);
    s1 = await space(host, `Stats Desk, "one" ${unique()}`);
    s2 = await space(other, `Other Desk ${unique()}`);
    // a confirmed booking of 2 hours tomorrow at 10:00 UTC (11:00 or 12:00 in Paris): all
    // in one day of the space's zone at whatever hour the test runs
    const start = Math.floor(Date.now() / (24 * HOUR)) * 24 * HOUR + 34 * HOUR;
    const res = await request('POST', '/api/v1/bookings', {
      headers: bearer(member.token),
      body: { space_id: s1.id, starts_at: new Date(start).toISOString(), ends_at: new Date(start + 2 * HOUR).toISOString() },
    });
    assert.equal(res.status, 201, res.text);
    booking = res.json;
    psql(`UPDATE workon.bookings SET status = 'confirmed' WHERE id = ${lit(booking.id)}`);
  });

  const window = () => ({ from: day(Date.now() - 24 * HOUR), to: day(Date.now() + 3 * 24 * HOUR) });

  test('GET /admin/stats: bookings, revenue, occupancy, new users, top spaces of a space', async () => {
    const res = await request('GET', `/api/v1/admin/stats${qs({ ...window(), space_id: s1.id })}`, { headers: bearer(a.token) });
    assert.equal(res.status, 200, res.text);
    assert.match(res.headers['content-type'], /^application\/json/);
    assert.ok(!/": |, "/.test(res.text), 'compact JSON');
    const r = res.json;
    assert.deepEqual(Object.keys(r).sort(), ['bookings', 'from', 'new_users', 'occupancy', 'revenue', 'to', 'top_spaces']);
    assert.equal(r.bookings.total, 1);
    assert.equal(r.bookings.by_status.confirmed, 1);
    assert.equal(r.occupancy.length, 1);
    assert.equal(r.occupancy[0].space_id, s1.id);
    assert.equal(r.occupancy[0].booked_hours, 2);
    const o = r.occupancy[0];
    assert.equal(o.daily_open_hours.length, o.daily_booked_hours.length);
    assert.ok(o.daily_open_hours.length >= 4, JSON.stringify(o));
    assert.ok(o.daily_booked_hours.some((h, i) => h === 2 && o.daily_open_hours[i] >= 23), JSON.stringify(o));
    assert.deepEqual(r.top_spaces.map((t) => [t.space_id, t.bookings]), [[s1.id, 1]]);
    assert.ok(r.new_users.reduce((n, d) => n + d.count, 0) >= 4);
  });

  test('GET /admin/stats?format=csv: one CSV table, a column naming each part', async () => {
    const res = await request('GET', `/api/v1/admin/stats${qs({ ...window(), space_id: s1.id, format: 'csv' })}`, { headers: bearer(a.token) });
    assert.equal(res.status, 200, res.text);
    assert.match(res.headers['content-type'], /^text\/csv/);
    assert.match(res.headers['content-disposition'], /attachment; filename="stats.csv"/);
    const lines = res.text.split('\r\n');
    assert.equal(lines[0], 'table,day,space_id,name,status,currency,count,paid_cents,refunded_cents,net_cents,open_hours,booked_hours,occupancy');
    assert.ok(lines.includes('bookings,,,,confirmed,,1,,,,,,'), res.text);
    const occ = lines.filter((l) => l.startsWith('occupancy,'));
    assert.ok(occ.length >= 4, res.text);
    // the space's name has a comma and quotes: one quoted field
    assert.ok(occ[0].includes(`,"${s1.name.replace(/"/g, '""')}",`), occ[0]);
    assert.ok(lines.some((l) => l.startsWith('top_spaces,') && l.includes(s1.id)));
  });

  test('GET /host/stats: the host\'s own spaces only, no new users', async () => {
    const res = await request('GET', `/api/v1/host/stats${qs(window())}`, { headers: bearer(host.token) });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json.occupancy.map((o) => o.space_id), [s1.id]);
    assert.equal(res.json.bookings.total, 1);
    assert.equal(res.json.new_users, null);
    const others = await request('GET', `/api/v1/host/stats${qs({ ...window(), space_id: s1.id })}`, { headers: bearer(other.token) });
    assert.equal(others.status, 200, others.text);
    assert.deepEqual(others.json.occupancy, []);
    assert.equal(others.json.bookings.total, 0);
    const own = await request('GET', `/api/v1/host/stats${qs(window())}`, { headers: bearer(other.token) });
    assert.deepEqual(own.json.occupancy.map((o) => o.space_id), [s2.id]);
  });

  test('stats: bad bounds are 400 naming the field', async () => {
    for (const [q, field] of [[{ from: 'yesterday' }, 'from'], [{ to: '2026-01-01T00:00:00' }, 'to'],
      [{ from: '2026-03-02', to: '2026-03-01' }, 'to'], [{ from: '2020-01-01', to: '2026-01-01' }, 'to'],
      [{ format: 'xml' }, 'format'], [{ space_id: 'x' }, 'space_id']]) {
      const res = await request('GET', `/api/v1/admin/stats${qs(q)}`, { headers: bearer(a.token) });
      expectError(res, 400, 'validation_failed');
      assert.equal(res.json.error.details.field, field, res.text);
    }
  });

  test('stats: a booking counts from its commit; the shim folds its queued change into the rollup within seconds', async () => {
    const [s3, booker] = await Promise.all([space(other, `Fold Desk ${unique()}`), register()]);
    const start = Math.ceil(Date.now() / HOUR) * HOUR + 26 * HOUR;
    const res = await request('POST', '/api/v1/bookings', {
      headers: bearer(booker.token),
      body: { space_id: s3.id, starts_at: new Date(start).toISOString(), ends_at: new Date(start + 3 * HOUR).toISOString() },
    });
    assert.equal(res.status, 201, res.text);
    psql(`UPDATE workon.bookings SET status = 'confirmed' WHERE id = ${lit(res.json.id)}`);
    const stats = async () => {
      const r = await request('GET', `/api/v1/admin/stats${qs({ ...window(), space_id: s3.id })}`, { headers: bearer(a.token) });
      assert.equal(r.status, 200, r.text);
      return r.json;
    };
    // at once, whether or not the fold has run yet
    const first = await stats();
    assert.equal(first.bookings.total, 1);
    assert.equal(first.occupancy[0].booked_hours, 3);
    const queued = () => Number(psql(`SELECT count(*) FROM workon.stats_booking_changes WHERE space_id = ${lit(s3.id)}`).trim());
    for (let i = 0; i < 50 && queued() > 0; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(queued(), 0, 'the shim folds the queue');
    assert.equal(psql(`SELECT sum(confirmed) FROM workon.stats_utc_days WHERE space_id = ${lit(s3.id)}`).trim(), '1');
    assert.deepEqual(await stats(), first);
  });

  test('GET /admin/audit: by entity_id, newest first, paged; the changed fields, no secrets', async () => {
    const res = await request('GET', `/api/v1/admin/audit${qs({ entity_id: booking.id })}`, { headers: bearer(a.token) });
    assert.equal(res.status, 200, res.text);
    const rows = res.json.data;
    assert.deepEqual(rows.map((r) => r.action), ['update', 'insert']);
    assert.deepEqual(rows[0].changed, ['status']);
    assert.equal(rows[1].actor_id, member.id);
    assert.equal(rows[0].actor_id, null, 'a SQL caller');
    assert.equal(rows[1].entity, 'bookings');
    const renamed = await request('PATCH', '/api/v1/me', { headers: bearer(member.token), body: { name: 'Zed Searchable Too' } });
    assert.equal(renamed.status, 200, renamed.text);
    const mine = await request('GET', `/api/v1/admin/audit${qs({ actor: member.id, limit: 1 })}`, { headers: bearer(a.token) });
    assert.equal(mine.status, 200, mine.text);
    assert.equal(mine.json.data.length, 1);
    assert.ok(mine.json.next_cursor);
    const next = await request('GET', `/api/v1/admin/audit${qs({ actor: member.id, limit: 1, cursor: mine.json.next_cursor })}`, { headers: bearer(a.token) });
    assert.equal(next.status, 200, next.text);
    assert.deepEqual(mine.json.data[0].changed, ['name']);
    assert.ok(Number(next.json.data[0].id) < Number(mine.json.data[0].id));
    const users = await request('GET', `/api/v1/admin/audit${qs({ entity: 'users', entity_id: member.id })}`, { headers: bearer(a.token) });
    assert.ok(users.json.data.length >= 1);
    assert.ok(!users.text.includes('password_hash') || users.json.data.every((r) => !(r.after && 'password_hash' in r.after)));
    expectError(await request('GET', `/api/v1/admin/audit${qs({ actor: 'x' })}`, { headers: bearer(a.token) }), 400, 'validation_failed');
  });

  test('GET /admin/users: search by e-mail or name and role; GET /admin/users/{id} with counts', async () => {
    const byName = await request('GET', `/api/v1/admin/users${qs({ q: 'zed searchable' })}`, { headers: bearer(a.token) });
    assert.equal(byName.status, 200, byName.text);
    assert.ok(byName.json.data.some((u) => u.id === member.id));
    const byMail = await request('GET', `/api/v1/admin/users${qs({ q: host.email.toUpperCase(), role: 'host' })}`, { headers: bearer(a.token) });
    assert.deepEqual(byMail.json.data.map((u) => [u.id, u.role, u.disabled]), [[host.id, 'host', false]]);
    assert.ok(!('password_hash' in byMail.json.data[0]));
    const one = await request('GET', `/api/v1/admin/users/${member.id}`, { headers: bearer(a.token) });
    assert.equal(one.status, 200, one.text);
    assert.equal(one.json.bookings.total, 1);
    assert.deepEqual(one.json.spending, []);
    assert.equal(one.json.disabled, false);
    const h = await request('GET', `/api/v1/admin/users/${host.id}`, { headers: bearer(a.token) });
    assert.equal(h.json.spaces, 1);
    expectError(await request('GET', `/api/v1/admin/users/${crypto.randomUUID()}`, { headers: bearer(a.token) }), 404, 'not_found');
    expectError(await request('PATCH', `/api/v1/admin/users/${crypto.randomUUID()}`, { headers: bearer(a.token), body: { role: 'host' } }), 404, 'not_found');
    expectError(await request('GET', '/api/v1/admin/users?role=root', { headers: bearer(a.token) }), 400, 'validation_failed');
  });

  test('401 without a token, 403 for the wrong role', async () => {
    const routes = ['/api/v1/admin/stats', '/api/v1/admin/audit', '/api/v1/admin/users', `/api/v1/admin/users/${member.id}`];
    for (const p of [...routes, '/api/v1/host/stats']) {
      const res = await request('GET', p);
      expectError(res, 401, 'unauthorized');
    }
    for (const p of routes) {
      expectError(await request('GET', p, { headers: bearer(host.token) }), 403, 'forbidden');
      expectError(await request('GET', p, { headers: bearer(member.token) }), 403, 'forbidden');
    }
    expectError(await request('GET', '/api/v1/host/stats', { headers: bearer(member.token) }), 403, 'forbidden');
    // PATCH /admin/users/{id}: nobody but an admin changes a role or disables an account
    const patch = (headers) => request('PATCH', `/api/v1/admin/users/${member.id}`, { headers, body: { role: 'admin', disabled: true } });
    expectError(await patch({}), 401, 'unauthorized');
    expectError(await patch(bearer(host.token)), 403, 'forbidden');
    expectError(await patch(bearer(member.token)), 403, 'forbidden');
    assert.equal(psql(`SELECT role || ' ' || disabled FROM workon.users WHERE id = ${lit(member.id)}`).trim(), 'member false');
  });
});
