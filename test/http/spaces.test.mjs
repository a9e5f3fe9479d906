// GET /api/v1/spaces and /api/v1/spaces/{id} against what the database holds.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { before, describe, test } from 'node:test';
import {
  RFC3339_RE, UUID_RE, assertJsonType, assertRequestId, expectError, get, lit, psqlList, psqlRows, qs,
} from './lib/client.mjs';

const KINDS = ['desk', 'private_office', 'meeting_room', 'event_space'];
const FIELDS = ['id', 'host_id', 'name', 'kind', 'city', 'address', 'capacity', 'timezone',
  'hourly_rate_cents', 'daily_rate_cents', 'currency', 'opening_hours', 'published', 'photos',
  'created_at', 'updated_at'];
const ORDER = 'ORDER BY created_at DESC, id DESC';

// Ids of published spaces matching a SQL condition, in the API's order.
const dbIds = (where = 'true') =>
  psqlList(`SELECT id FROM workon.spaces WHERE published AND (${where}) ${ORDER};`);

async function list(params) {
  const res = await get(`/api/v1/spaces${qs(params)}`);
  assert.equal(res.status, 200, `${qs(params)}: ${res.text}`);
  assertJsonType(res);
  assert.ok(Array.isArray(res.json.data), res.text);
  assert.ok(res.json.next_cursor === null || typeof res.json.next_cursor === 'string');
  return res.json;
}

// Follows next_cursor to the end; every page that hands out a cursor is full.
async function walk(params, limit) {
  const items = [];
  let cursor;
  const total = Number(psqlList('SELECT count(*) FROM workon.spaces;')[0]);
  for (let page = 0; ; page++) {
    assert.ok(page <= Math.ceil(total / limit) + 1, 'pagination does not end');
    const body = await list({ ...params, limit, cursor });
    assert.ok(body.data.length <= limit, `page of ${body.data.length} > limit ${limit}`);
    items.push(...body.data);
    if (body.next_cursor === null) break;
    assert.equal(body.data.length, limit, 'a page with a next_cursor is not full');
    assert.ok(body.next_cursor.length > 0);
    cursor = body.next_cursor;
  }
  return items;
}

const ids = (items) => items.map((s) => s.id);

describe('GET /api/v1/spaces', () => {
  let published;
  let unpublished;
  before(() => {
    published = dbIds();
    unpublished = psqlList('SELECT id FROM workon.spaces WHERE NOT published;');
    assert.ok(published.length > 20, `demo data should hold more than 20 published spaces, has ${published.length}`);
    assert.ok(unpublished.length >= 1, 'demo data should hold unpublished spaces');
  });

  test('default page: the 20 newest published spaces and a next_cursor', async () => {
    const res = await get('/api/v1/spaces');
    assert.equal(res.status, 200, res.text);
    assertRequestId(res);
    assert.deepEqual(Object.keys(res.json).sort(), ['data', 'next_cursor']);
    assert.equal(res.json.data.length, 20);
    assert.equal(typeof res.json.next_cursor, 'string');
    assert.deepEqual(ids(res.json.data), published.slice(0, 20));
  });

  test('walking every page with limit=7 yields each published space once, in order', async () => {
    const items = await walk({}, 7);
    const got = ids(items);
    assert.equal(new Set(got).size, got.length, 'a space appears twice');
    assert.deepEqual(got, published);
    for (const id of unpublished) assert.ok(!got.includes(id), `unpublished ${id} listed`);
  });

  test('limit bounds: 1 and 100 are accepted; a page that ends the list has no cursor', async () => {
    const one = await list({ limit: 1 });
    assert.deepEqual(ids(one.data), published.slice(0, 1));
    assert.equal(typeof one.next_cursor, 'string');
    const all = await list({ limit: 100 });
    assert.deepEqual(ids(all.data), published.slice(0, 100));
    if (published.length <= 100) assert.equal(all.next_cursor, null);
    const exact = await list({ limit: Math.min(published.length, 100) });
    if (published.length <= 100) assert.equal(exact.next_cursor, null, 'a cursor that leads to an empty page');
  });

  test('a cursor continues where the previous page ended, with another limit too', async () => {
    const first = await list({ limit: 5 });
    const second = await list({ limit: 3, cursor: first.next_cursor });
    assert.deepEqual(ids(second.data), published.slice(5, 8));
  });

  test('city filter is case-insensitive and matches the database', async () => {
    const cities = psqlList('SELECT DISTINCT city FROM workon.spaces WHERE published ORDER BY 1;');
    assert.ok(cities.length >= 2, 'demo data should span several cities');
    for (const city of cities) {
      const expected = dbIds(`lower(city) = lower(${lit(city)})`);
      assert.ok(expected.length > 0);
      for (const variant of [city, city.toUpperCase(), city.toLowerCase()]) {
        const body = await list({ city: variant, limit: 100 });
        assert.deepEqual(ids(body.data), expected, `city=${variant}`);
        for (const s of body.data) assert.equal(s.city.toLowerCase(), city.toLowerCase());
      }
    }
    const none = await list({ city: 'Atlantis' });
    assert.deepEqual(none.data, []);
    assert.equal(none.next_cursor, null);
  });

  test('kind filter matches the database for every kind', async () => {
    let seen = 0;
    for (const kind of KINDS) {
      const expected = dbIds(`kind::text = ${lit(kind)}`);
      seen += expected.length;
      const body = await list({ kind, limit: 100 });
      assert.deepEqual(ids(body.data), expected, `kind=${kind}`);
      for (const s of body.data) assert.equal(s.kind, kind);
    }
    assert.equal(seen, published.length, 'every published space has one of the four kinds');
  });

  test('min_capacity filter matches the database', async () => {
    const caps = psqlList('SELECT capacity FROM workon.spaces WHERE published ORDER BY capacity;').map(Number);
    const median = caps[Math.floor(caps.length / 2)];
    for (const n of [1, 2, median, caps[caps.length - 1], caps[caps.length - 1] + 1]) {
      const body = await list({ min_capacity: n, limit: 100 });
      assert.deepEqual(ids(body.data), dbIds(`capacity >= ${n}`), `min_capacity=${n}`);
      for (const s of body.data) assert.ok(s.capacity >= n);
    }
  });

  test('filters combine, and paginate', async () => {
    const [city] = psqlList(`SELECT city FROM workon.spaces WHERE published GROUP BY city ORDER BY count(*) DESC, city LIMIT 1;`);
    const expected = dbIds(`lower(city) = lower(${lit(city)})`);
    assert.deepEqual(ids(await walk({ city: city.toLowerCase() }, 2)), expected);

    const [row] = psqlRows(`SELECT city, kind::text AS kind, min(capacity) AS cap FROM workon.spaces
      WHERE published GROUP BY city, kind ORDER BY count(*) DESC, city, kind LIMIT 1`);
    const combined = await list({ city: row.city, kind: row.kind, min_capacity: row.cap, limit: 100 });
    assert.deepEqual(ids(combined.data),
      dbIds(`lower(city) = lower(${lit(row.city)}) AND kind::text = ${lit(row.kind)} AND capacity >= ${row.cap}`));
    assert.ok(combined.data.length > 0);
  });

  test('a repeated query parameter: the last value wins', async () => {
    const cities = psqlList('SELECT DISTINCT city FROM workon.spaces WHERE published ORDER BY 1;');
    const [a, b] = cities;
    const body = await get(`/api/v1/spaces?city=${encodeURIComponent(a)}&city=${encodeURIComponent(b)}&limit=100`);
    assert.equal(body.status, 200, body.text);
    assert.deepEqual(ids(body.json.data), dbIds(`lower(city) = lower(${lit(b)})`));
  });

  test('an unpublished space is not found by filters either', async () => {
    const rows = psqlRows('SELECT id, city, kind::text AS kind FROM workon.spaces WHERE NOT published');
    for (const r of rows) {
      const body = await list({ city: r.city, kind: r.kind, limit: 100 });
      assert.ok(!ids(body.data).includes(r.id), `unpublished ${r.id} listed`);
    }
  });
});

describe('GET /api/v1/spaces/{id}', () => {
  let listed;
  let dbRows;
  before(async () => {
    listed = await walk({}, 100);
    dbRows = new Map(psqlRows(`SELECT to_jsonb(s) AS row,
        floor(extract(epoch FROM s.created_at) * 1000)::bigint AS created_ms,
        floor(extract(epoch FROM s.updated_at) * 1000)::bigint AS updated_ms
      FROM workon.spaces s WHERE published`).map((r) => [r.row.id, r]));
  });

  test('each published space by id equals its list item', async () => {
    assert.ok(listed.length > 0);
    for (const item of listed) {
      const res = await get(`/api/v1/spaces/${item.id}`);
      assert.equal(res.status, 200, res.text);
      assertJsonType(res);
      assert.deepEqual(res.json, item);
    }
  });

  test('space objects have the documented fields and types, equal to the stored row', () => {
    for (const s of listed) {
      for (const f of FIELDS) assert.ok(Object.hasOwn(s, f), `field ${f} missing in ${JSON.stringify(s)}`);
      assert.match(s.id, UUID_RE);
      assert.match(s.host_id, UUID_RE);
      assert.ok(KINDS.includes(s.kind), s.kind);
      for (const f of ['name', 'city', 'address', 'timezone']) {
        assert.equal(typeof s[f], 'string', f);
        assert.ok(s[f].length > 0, f);
      }
      assert.doesNotThrow(() => new Intl.DateTimeFormat('en', { timeZone: s.timezone }), `timezone ${s.timezone}`);
      assert.ok(Number.isInteger(s.capacity) && s.capacity >= 1, `capacity ${s.capacity}`);
      for (const f of ['hourly_rate_cents', 'daily_rate_cents']) {
        assert.ok(s[f] === null || (Number.isInteger(s[f]) && s[f] >= 0), `${f} = ${s[f]} is not integer cents`);
      }
      assert.match(s.currency, /^[a-z]{3}$/);
      assert.equal(s.published, true);
      assert.ok(Array.isArray(s.photos), 'photos is an array');
      for (const p of s.photos) assert.equal(p.url, `/api/v1/uploads/${p.id}/content`);
      assert.ok(s.opening_hours && typeof s.opening_hours === 'object' && !Array.isArray(s.opening_hours));
      for (const [day, intervals] of Object.entries(s.opening_hours)) {
        assert.ok(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].includes(day), `day ${day}`);
        assert.ok(Array.isArray(intervals));
        for (const iv of intervals) {
          assert.equal(iv.length, 2);
          for (const t of iv) assert.match(t, /^([01]\d|2[0-3]):[0-5]\d$|^24:00$/);
          assert.ok(iv[0] < iv[1], `interval ${iv}`);
        }
      }
      for (const f of ['created_at', 'updated_at']) assert.match(s[f], RFC3339_RE, `${f} ${s[f]}`);
      assert.ok(Date.parse(s.updated_at) >= Date.parse(s.created_at));

      const db = dbRows.get(s.id);
      assert.ok(db, `${s.id} is not a published row`);
      for (const f of ['host_id', 'name', 'kind', 'city', 'address', 'capacity', 'timezone',
        'hourly_rate_cents', 'daily_rate_cents', 'opening_hours']) {
        if (Object.hasOwn(db.row, f)) assert.deepEqual(s[f], db.row[f], `${s.id} ${f}`);
      }
      if (Object.hasOwn(db.row, 'currency')) assert.equal(s.currency, String(db.row.currency).trim().toLowerCase());
      assert.ok(Math.abs(Date.parse(s.created_at) - Number(db.created_ms)) <= 1, `${s.id} created_at`);
      assert.ok(Math.abs(Date.parse(s.updated_at) - Number(db.updated_ms)) <= 1, `${s.id} updated_at`);
    }
  });

  test('an id in upper case is the same space', async () => {
    const id = listed[0].id;
    const res = await get(`/api/v1/spaces/${id.toUpperCase()}`);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, listed[0]);
  });

  test('an unknown id is 404 not_found', async () => {
    for (const id of [randomUUID(), '00000000-0000-0000-0000-000000000000']) {
      assert.deepEqual(psqlList(`SELECT 1 FROM workon.spaces WHERE id = ${lit(id)};`), []);
      expectError(await get(`/api/v1/spaces/${id}`), 404, 'not_found');
    }
  });

  test('an unpublished id is 404 not_found, the same answer as an unknown one', async () => {
    const hidden = psqlList('SELECT id FROM workon.spaces WHERE NOT published;');
    assert.ok(hidden.length >= 1);
    const unknown = await get(`/api/v1/spaces/${randomUUID()}`);
    for (const id of hidden) {
      const res = await get(`/api/v1/spaces/${id}`);
      const err = expectError(res, 404, 'not_found');
      assert.equal(err.message, unknown.json.error.message, 'unpublished and unknown ids are told apart');
    }
  });
});
