// The error envelope, status codes, input validation and what a 500 may not reveal.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import zlib from 'node:zlib';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import {
  addRoutes, allowedMethods, expectError, get, psql, psqlList, qs, removeRoutes, request, waitFor,
} from './lib/client.mjs';

const spacesCount = () => Number(psql('SELECT count(*) FROM workon.spaces;'));
const publishedIds = () =>
  psqlList('SELECT id FROM workon.spaces WHERE published ORDER BY created_at DESC, id DESC LIMIT 20;');

describe('unknown paths and methods', () => {
  test('an unknown path is 404 not_found with the error envelope', async () => {
    for (const p of ['/api/v1/nothing-here', '/nope', '/api/v1/spaces/extra/segments/x', '/api/v2/spaces']) {
      const res = await get(p);
      const err = expectError(res, 404, 'not_found');
      assert.deepEqual(err.details, {}, p);
    }
  });

  test('a known path with a method it lacks is 405 with the route table methods in Allow', async () => {
    const res = await request('DELETE', '/api/v1/spaces');
    expectError(res, 405, 'method_not_allowed');
    const fromDb = psqlList("SELECT method FROM workon.routes WHERE path = '/api/v1/spaces' ORDER BY 1;");
    assert.ok(fromDb.length > 0, 'route table has no /api/v1/spaces');
    assert.deepEqual(allowedMethods(res), fromDb);
    assert.ok(allowedMethods(res).includes('GET'));
  });

  test('a path template match with a method it lacks is 405 too', async () => {
    const id = publishedIds()[0];
    for (const m of ['DELETE', 'PUT']) {
      const res = await request(m, `/api/v1/spaces/${id}`);
      const fromDb = psqlList(`SELECT method FROM workon.routes WHERE path = '/api/v1/spaces/{id}' ORDER BY 1;`);
      if (fromDb.includes(m)) continue; // a later version may serve it
      expectError(res, 405, 'method_not_allowed');
      assert.deepEqual(allowedMethods(res), fromDb);
    }
  });
});

describe('validation of query parameters', () => {
  const cases = [
    ['limit=0', 'limit'],
    ['limit=101', 'limit'],
    ['limit=-5', 'limit'],
    ['limit=abc', 'limit'],
    ['limit=1.5', 'limit'],
    ['kind=castle', 'kind'],
    ['cursor=garbage', 'cursor'],
    ['cursor=%22%27%3B--', 'cursor'],
    ['min_capacity=-1', 'min_capacity'],
    ['min_capacity=0', 'min_capacity'],
    ['min_capacity=many', 'min_capacity'],
    ['min_capacity=99999999999999999999', 'min_capacity'],
  ];
  for (const [query, field] of cases) {
    test(`?${query} is 400 validation_failed naming ${field}`, async () => {
      const res = await get(`/api/v1/spaces?${query}`);
      const err = expectError(res, 400, 'validation_failed');
      assert.equal(err.details.field, field, res.text);
    });
  }

  test('a malformed id in the path is 400 validation_failed naming id', async () => {
    for (const bad of ['not-a-uuid', '123', '5b1f0000-0000-0000-0000-00000000000g']) {
      const res = await get(`/api/v1/spaces/${bad}`);
      const err = expectError(res, 400, 'validation_failed');
      assert.equal(err.details.field, 'id', res.text);
    }
  });

  test('an unknown query parameter is 400 naming it', async () => {
    for (const name of ['colour', 'foo_bar', 'query']) {
      const res = await get(`/api/v1/spaces?${name}=x`);
      const err = expectError(res, 400, 'validation_failed');
      assert.equal(err.details.field, name, res.text);
    }
    const res = await get('/api/v1/spaces?city=Berlin&sort=name');
    assert.equal(expectError(res, 400, 'validation_failed').details.field, 'sort');
  });

  test('SQL in a parameter is data: 200, no rows, and the table untouched', async () => {
    const before = spacesCount();
    assert.ok(before > 0, 'demo data missing');
    for (const city of ["' OR 1=1 --", "Berlin'; DROP TABLE workon.spaces; --", '" OR ""="', "Berlin' OR 'a'='a",
      "x'); DELETE FROM workon.spaces; --", "Berlin\\'; --"]) {
      const res = await get(`/api/v1/spaces${qs({ city })}`);
      assert.equal(res.status, 200, `${city}: ${res.text}`);
      assert.deepEqual(res.json.data, [], city);
      assert.equal(res.json.next_cursor, null);
    }
    assert.equal(psql("SELECT to_regclass('workon.spaces') IS NOT NULL;"), 't', 'workon.spaces is gone');
    assert.equal(spacesCount(), before, 'rows of workon.spaces changed');
  });

  test('percent-decoding: valid UTF-8 is decoded, a bad escape or invalid UTF-8 is 400', async () => {
    // a correctly encoded multibyte value is a legitimate (empty) search
    const ok = await get('/api/v1/spaces?city=M%C3%BCnchen');
    assert.equal(ok.status, 200, ok.text);
    assert.deepEqual(ok.json.data, []);
    // an encoded letter is the letter: Ber%6Cin == Berlin
    const plain = await get('/api/v1/spaces?city=Berlin&limit=100');
    const encoded = await get('/api/v1/spaces?city=Ber%6Cin&limit=100');
    assert.equal(encoded.status, 200, encoded.text);
    assert.deepEqual(encoded.json, plain.json);
    assert.ok(plain.json.data.length > 0, 'demo data has no Berlin spaces');

    for (const q of ['city=%zz', 'city=%', 'city=abc%2', 'city=%ff', 'city=%c0%af', 'city=%e2%82', 'city=%ed%a0%80',
      'city=%00', '%zz=1']) {
      const res = await get(`/api/v1/spaces?${q}`);
      expectError(res, 400, 'validation_failed');
    }
  });
});

describe('authorization header on a public route', () => {
  test('a garbage bearer token is 401 with WWW-Authenticate: Bearer error="invalid_token"', async () => {
    for (const token of ['garbage', 'a.b.c', 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.']) {
      const res = await get('/api/v1/spaces', { headers: { authorization: `Bearer ${token}` } });
      expectError(res, 401, 'unauthorized');
      const www = res.headers['www-authenticate'] ?? '';
      assert.match(www, /^Bearer\b/i, `WWW-Authenticate: ${www}`);
      assert.match(www, /error="invalid_token"/, `WWW-Authenticate: ${www}`);
    }
  });

  test('a bad token is refused on a single-resource route as well', async () => {
    const id = publishedIds()[0];
    const res = await get(`/api/v1/spaces/${id}`, { headers: { authorization: 'Bearer nope' } });
    expectError(res, 401, 'unauthorized');
    assert.match(res.headers['www-authenticate'] ?? '', /error="invalid_token"/);
  });

  test('another scheme (Basic) is no token: 200 with the anonymous result', async () => {
    const anon = await get('/api/v1/spaces?limit=5');
    const basic = await get('/api/v1/spaces?limit=5', { headers: { authorization: 'Basic xxx' } });
    assert.equal(basic.status, 200, basic.text);
    assert.deepEqual(basic.json, anon.json);
    assert.deepEqual(basic.json.data.map((s) => s.id), publishedIds().slice(0, 5));
  });
});

describe('a 500 does not leak internals', () => {
  const fns = `
CREATE FUNCTION workon.test_boom_relation() RETURNS json LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE 'SELECT 1 FROM workon_secret_missing_relation';
  RETURN '{}'::json;
END $$;
CREATE FUNCTION workon.test_boom_internal() RETURNS json LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'leaky secret s3cr3t-7d1e in workon.hidden_table' USING ERRCODE = 'XX000';
END $$;
CREATE FUNCTION workon.test_boom_raise() RETURNS json LANGUAGE plpgsql AS $$
BEGIN
  RAISE 'leaky secret p0001-9a2b at line %', 42;
END $$;
GRANT EXECUTE ON FUNCTION workon.test_boom_relation(), workon.test_boom_internal(), workon.test_boom_raise()
  TO workon_anon;`;
  const drop = `DROP FUNCTION IF EXISTS workon.test_boom_relation(), workon.test_boom_internal(),
  workon.test_boom_raise();`;
  const cases = [
    ['/api/v1/test/boom/relation', 'workon.test_boom_relation()', ['workon_secret_missing_relation', 'does not exist', 'relation']],
    ['/api/v1/test/boom/internal', 'workon.test_boom_internal()', ['s3cr3t', 'hidden_table', 'leaky']],
    ['/api/v1/test/boom/raise', 'workon.test_boom_raise()', ['p0001-9a2b', 'leaky', 'line 42']],
  ];

  before(async () => {
    await removeRoutes('/api/v1/test/boom', drop);
    await addRoutes(fns, cases.map(([path, handler]) => ({ method: 'GET', path, handler })));
  });
  after(async () => { await removeRoutes('/api/v1/test/boom', drop); });

  for (const [path, handler, secrets] of cases) {
    test(`${handler} failing is 500 internal with a generic message`, async () => {
      const res = await get(path);
      const err = expectError(res, 500, 'internal');
      const lower = res.text.toLowerCase();
      for (const s of [...secrets, 'select', 'sqlstate', 'plpgsql', 'test_boom', 'context', 'xx000', '42p01', 'p0001']) {
        assert.ok(!lower.includes(s.toLowerCase()), `500 body leaks ${JSON.stringify(s)}: ${res.text}`);
      }
      for (const [k, v] of Object.entries(res.headers)) {
        assert.ok(!String(v).toLowerCase().includes('test_boom'), `header ${k} leaks the handler: ${v}`);
      }
      assert.deepEqual(err.details, {});

      // the real error goes to the shim's log instead, under the request id
      const log = process.env.WORKON_SHIM_LOG;
      if (log && fs.existsSync(log)) {
        const id = res.headers['x-request-id'];
        await waitFor(() => fs.readFileSync(log, 'utf8').includes(id), 3000)
          .catch(() => assert.fail(`request id ${id} of the 500 is not in ${log}`));
        assert.ok(fs.readFileSync(log, 'utf8').includes(secrets[0]),
          `the log does not hold the real error (${secrets[0]})`);
      }
    });
  }

  test('the server keeps serving after a 500', async () => {
    const res = await get('/api/v1/spaces?limit=1');
    assert.equal(res.status, 200, res.text);
  });
});

describe('headers every response carries', () => {
  const nosniff = (res, what) => assert.equal(res.headers['x-content-type-options'], 'nosniff', what);

  test('X-Content-Type-Options: nosniff on probes, documents, lists, errors and h2o\'s own errors', async () => {
    const id = publishedIds()[0];
    for (const p of ['/healthz', '/readyz', '/api/health', '/api/v1/health', '/metrics', '/api/v1/openapi.json', '/docs',
      '/api/v1/spaces?limit=1', `/api/v1/spaces/${id}`, '/nope', '/api/v1/spaces?limit=x']) {
      const res = await get(p);
      nosniff(res, p);
      assert.ok(res.headers['x-request-id'], p);
    }
    nosniff(await request('DELETE', '/api/v1/spaces'), '405');
    nosniff(await request('POST', '/api/v1/auth/login', { body: '{', headers: { 'content-type': 'application/json' } }), '400');
    nosniff(await request('OPTIONS', '/api/v1/spaces', { headers: { origin: 'http://elsewhere.example' } }), 'OPTIONS');
  });

  test('Cache-Control: no-store on authenticated answers and token-bearing ones; anonymous reads stay cacheable', async () => {
    const email = `hdr-${Date.now().toString(36)}@example.com`;
    const password = 'long secret for headers';
    const reg = await request('POST', '/api/v1/auth/register', { body: { email, password, name: 'Headers' } });
    assert.equal(reg.status, 201, reg.text);
    assert.equal(reg.headers['cache-control'], 'no-store', 'register carries tokens');
    const login = await request('POST', '/api/v1/auth/login', { body: { email, password } });
    assert.equal(login.status, 200, login.text);
    assert.equal(login.headers['cache-control'], 'no-store', 'login carries tokens');
    const refresh = await request('POST', '/api/v1/auth/refresh', { body: { refresh_token: login.json.refresh_token } });
    assert.equal(refresh.headers['cache-control'], 'no-store', 'refresh carries tokens');
    const auth = { authorization: `Bearer ${login.json.access_token}` };
    for (const p of ['/api/v1/me', '/api/v1/bookings', '/api/v1/conversations', '/api/v1/spaces?limit=1', '/api/v1/nothing-here']) {
      const res = await get(p, { headers: auth });
      assert.equal(res.headers['cache-control'], 'no-store', p);
      nosniff(res, p);
    }
    const anon = await get('/api/v1/spaces?limit=1');
    assert.equal(anon.status, 200);
    assert.equal(anon.headers['cache-control'], 'no-cache', 'an anonymous public read may be kept, checked again each time');
    const etag = anon.headers.etag;
    const same = await get('/api/v1/spaces?limit=1', { headers: { 'if-none-match': etag } });
    assert.equal(same.status, 304);
    assert.equal(same.headers['cache-control'], 'no-cache');
  });
});

describe('compression', () => {
  test('a JSON body is gzip-compressed when asked, and the same once inflated; not otherwise', async () => {
    const plain = await get('/api/v1/spaces?limit=20');
    assert.equal(plain.status, 200);
    assert.equal(plain.headers['content-encoding'], undefined);
    const res = await get('/api/v1/spaces?limit=20', { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-encoding'], 'gzip');
    assert.match(res.headers.vary ?? '', /accept-encoding/i);
    assert.equal(zlib.gunzipSync(res.raw).toString(), plain.text);
    assert.ok(res.raw.length < Buffer.byteLength(plain.text));
  });

  test('a public read is compressed once: the same bytes again, its own strong tag; q=0 refuses gzip', async () => {
    const p = '/api/v1/spaces?limit=20';
    const plain = await get(p);
    const a = await get(p, { headers: { 'accept-encoding': 'gzip, br' } });
    const b = await get(p, { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(a.headers['content-encoding'], 'gzip');
    assert.deepEqual(a.raw, b.raw);
    assert.equal(zlib.gunzipSync(b.raw).toString(), plain.text);
    assert.equal(a.headers.etag, plain.headers.etag.replace(/"$/, '-gz"'));
    const again = await get(p, { headers: { 'accept-encoding': 'gzip', 'if-none-match': a.headers.etag } });
    assert.equal(again.status, 304);
    const refused = await get(p, { headers: { 'accept-encoding': 'gzip;q=0, identity' } });
    assert.equal(refused.headers['content-encoding'], undefined);
    assert.equal(refused.text, plain.text);
  });
});

describe('HEAD', () => {
  test('every GET route answers HEAD with the GET\'s status and headers and no body', async () => {
    const id = publishedIds()[0];
    const reg = await request('POST', '/api/v1/auth/register',
      { body: { email: `head-${Date.now().toString(36)}@example.com`, password: 'long secret for heads', name: 'H' } });
    const auth = { authorization: `Bearer ${reg.json.access_token}` };
    for (const [p, headers] of [['/api/v1/spaces?limit=3', {}], [`/api/v1/spaces/${id}`, {}], ['/api/v1/me', auth],
      ['/api/v1/bookings', auth], ['/api/v1/openapi.json', {}], ['/healthz', {}], [`/api/v1/spaces/${randomUUID()}`, {}]]) {
      const full = await get(p, { headers });
      const head = await request('HEAD', p, { headers });
      assert.equal(head.status, full.status, p);
      assert.equal(head.raw.length, 0, p);
      assert.equal(head.headers['content-length'], String(full.raw.length), p);
      assert.equal(head.headers['content-type'], full.headers['content-type'], p);
      assert.equal(head.headers.etag, full.headers.etag, p);
    }
  });

  test('Allow names HEAD beside GET; a path without GET does not answer HEAD', async () => {
    const res = await request('DELETE', '/api/v1/bookings');
    expectError(res, 405, 'method_not_allowed');
    assert.match(res.headers.allow, /\bGET\b/);
    assert.match(res.headers.allow, /\bHEAD\b/);
    const login = await request('HEAD', '/api/v1/auth/login');
    assert.equal(login.status, 405);
    assert.doesNotMatch(login.headers.allow, /HEAD/);
  });
});

describe('ETag on public reads', () => {
  test('an anonymous read has a strong ETag; If-None-Match with it is 304 without a body; a change gives another', async () => {
    const id = publishedIds()[0];
    for (const p of ['/api/v1/spaces?limit=5', `/api/v1/spaces/${id}`]) {
      const first = await get(p);
      assert.equal(first.status, 200, p);
      const etag = first.headers.etag;
      assert.match(etag ?? '', /^"[0-9a-f]{32}"$/, p);
      assert.equal((await get(p)).headers.etag, etag, 'the same bytes, the same tag');
      const again = await get(p, { headers: { 'if-none-match': etag } });
      assert.equal(again.status, 304, p);
      assert.equal(again.text, '');
      assert.equal(again.headers.etag, etag);
      assert.equal((await get(p, { headers: { 'if-none-match': 'W/"0123"' } })).status, 200, p);
    }
    const before = (await get(`/api/v1/spaces/${id}`)).headers.etag;
    psql(`UPDATE workon.spaces SET name = name || ' x' WHERE id = '${id}';`);
    try {
      const after = await get(`/api/v1/spaces/${id}`, { headers: { 'if-none-match': before } });
      assert.equal(after.status, 200);
      assert.notEqual(after.headers.etag, before);
    } finally {
      psql(`UPDATE workon.spaces SET name = left(name, -2) WHERE id = '${id}';`);
    }
  });

  test('an authenticated read has no ETag of the shim (no-store)', async () => {
    const email = `etag-${Date.now().toString(36)}@example.com`;
    const reg = await request('POST', '/api/v1/auth/register', { body: { email, password: 'long secret for etags', name: 'E' } });
    const res = await get('/api/v1/me', { headers: { authorization: `Bearer ${reg.json.access_token}` } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.etag, undefined);
  });
});

describe('Location on 201', () => {
  test('each created thing is named in Location, and a GET of it finds it', async () => {
    const reg = await request('POST', '/api/v1/auth/register',
      { body: { email: `loc-${Date.now().toString(36)}@example.com`, password: 'long secret for locations', name: 'L', role: 'host' } });
    assert.equal(reg.status, 201, reg.text);
    assert.equal(reg.headers.location, '/api/v1/me');
    const auth = { authorization: `Bearer ${reg.json.access_token}` };
    assert.equal((await get(reg.headers.location, { headers: auth })).json.id, reg.json.user.id);
    const always = Object.fromEntries(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].map((d) => [d, [['00:00', '24:00']]]));
    const space = await request('POST', '/api/v1/spaces', { headers: auth, body: {
      name: 'Located', kind: 'desk', city: 'Porto', address: 'Rua 3', capacity: 1, timezone: 'UTC', hourly_rate_cents: 100,
      daily_rate_cents: 600, currency: 'eur', opening_hours: always, published: true } });
    assert.equal(space.status, 201, space.text);
    assert.equal(space.headers.location, `/api/v1/spaces/${space.json.id}`);
    assert.equal((await get(space.headers.location)).json.id, space.json.id);
    const start = new Date(Math.ceil(Date.now() / 3600e3) * 3600e3 + 48 * 3600e3);
    const booking = await request('POST', '/api/v1/bookings', { headers: auth, body: {
      space_id: space.json.id, starts_at: start.toISOString(), ends_at: new Date(+start + 3600e3).toISOString() } });
    assert.equal(booking.status, 201, booking.text);
    assert.equal(booking.headers.location, `/api/v1/bookings/${booking.json.id}`);
    assert.equal((await get(booking.headers.location, { headers: auth })).json.id, booking.json.id);
    const upload = await request('POST', '/api/v1/uploads', { headers: auth, body: { filename: 'a.png', content_type: 'image/png', size: 100 } });
    assert.equal(upload.status, 201, upload.text);
    assert.equal(upload.headers.location, `/api/v1/uploads/${upload.json.id}`);
    const member = await request('POST', '/api/v1/auth/register',
      { body: { email: `locm-${Date.now().toString(36)}@example.com`, password: 'long secret for locations', name: 'M' } });
    const mauth = { authorization: `Bearer ${member.json.access_token}` };
    const conv = await request('POST', '/api/v1/conversations', { headers: mauth, body: { space_id: space.json.id } });
    assert.equal(conv.status, 201, conv.text);
    assert.equal(conv.headers.location, `/api/v1/conversations/${conv.json.id}/messages`);
    const msg = await request('POST', conv.headers.location, { headers: mauth, body: { body: 'hello' } });
    assert.equal(msg.status, 201, msg.text);
    assert.equal(msg.headers.location, conv.headers.location);
    const listed = await get(msg.headers.location, { headers: mauth });
    assert.equal(listed.json.data[0].id, msg.json.id);
  });
});

describe('every invalid field at once', () => {
  const fieldsOf = (res) => res.json.error.details.fields.map((f) => f.field);

  test('registration, a space and a booking name all their invalid fields in details.fields, the first in details.field', async () => {
    const reg = await request('POST', '/api/v1/auth/register', { body: { email: 'nope', password: 'short', name: ' ' } });
    const err = expectError(reg, 400, 'validation_failed');
    assert.equal(err.details.field, 'email');
    assert.deepEqual(fieldsOf(reg), ['email', 'password', 'name']);
    assert.ok(reg.json.error.details.fields.every((f) => typeof f.message === 'string' && f.message.length > 0));

    const host = await request('POST', '/api/v1/auth/register',
      { body: { email: `fields-${Date.now().toString(36)}@example.com`, password: 'long secret for fields', name: 'F', role: 'host' } });
    const auth = { authorization: `Bearer ${host.json.access_token}` };
    const space = await request('POST', '/api/v1/spaces', { headers: auth, body: {
      name: '', kind: 'castle', city: 'Oslo', address: 'Gate 1', capacity: 0, timezone: 'Europe/Oslo',
      hourly_rate_cents: 100, daily_rate_cents: 600, currency: 'nok' } });
    assert.equal(expectError(space, 400, 'validation_failed').details.field, 'name');
    assert.deepEqual(fieldsOf(space), ['name', 'kind', 'capacity']);
    const types = await request('POST', '/api/v1/spaces', { headers: auth, body: { name: 1, capacity: 'two' } });
    assert.deepEqual(fieldsOf(types), ['capacity', 'name']);

    const booking = await request('POST', '/api/v1/bookings', { headers: auth, body: {} });
    assert.equal(expectError(booking, 400, 'validation_failed').details.field, 'space_id');
    assert.deepEqual(fieldsOf(booking), ['space_id', 'starts_at', 'ends_at']);
    // shapes: an id that is no UUID, a number for a time, a day that does not exist
    const shapes = await request('POST', '/api/v1/bookings', { headers: auth, body: {
      space_id: 'nope', starts_at: 7, ends_at: '2030-02-30T10:00:00Z' } });
    assert.equal(expectError(shapes, 400, 'validation_failed').details.field, 'space_id');
    assert.deepEqual(fieldsOf(shapes), ['space_id', 'starts_at', 'ends_at']);
    assert.match(shapes.json.error.message, /space_id must be a UUID/);
    // rules: both times of a real space, and the rules that need no space beside a missing one
    const rules = await request('POST', '/api/v1/bookings', { headers: auth, body: {
      space_id: publishedIds()[0], starts_at: '2020-01-01T10:07:00Z', ends_at: '2020-01-01T10:00:00Z' } });
    assert.equal(expectError(rules, 400, 'validation_failed').details.field, 'starts_at');
    assert.deepEqual(fieldsOf(rules), ['starts_at', 'ends_at']);
    const noSpace = await request('POST', '/api/v1/bookings', { headers: auth, body: {
      starts_at: '2020-01-01T10:00:00Z', ends_at: '2020-01-01T10:10:00Z' } });
    assert.deepEqual(fieldsOf(noSpace), ['space_id', 'starts_at', 'ends_at']);

    // one invalid field: details.fields holds it alone; other errors have no fields
    const one = await request('POST', '/api/v1/auth/register', { body: { email: 'x@example.com', password: 'short', name: 'X' } });
    assert.deepEqual(fieldsOf(one), ['password']);
    const unknown = await get('/api/v1/spaces?colour=blue');
    assert.equal(expectError(unknown, 400, 'validation_failed').details.fields, undefined);
  });
});

describe('one JSON style', () => {
  test('answers are compact, and times are UTC with six fractional digits', async () => {
    const TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
    const list = await get('/api/v1/spaces?limit=5');
    assert.equal(JSON.stringify(list.json), list.text, 'compact, nothing but what JSON.stringify writes');
    const one = await get(`/api/v1/spaces/${list.json.data[0].id}`);
    assert.equal(JSON.stringify(one.json), one.text);
    for (const s of [...list.json.data, one.json]) {
      assert.match(s.created_at, TIME);
      assert.match(s.updated_at, TIME);
    }
    const avail = await get(`/api/v1/spaces/${one.json.id}/availability`);
    assert.equal(JSON.stringify(avail.json), avail.text);
    assert.match(avail.json.from, TIME);
    for (const p of [...avail.json.open, ...avail.json.free]) {
      assert.match(p.starts_at, TIME);
      assert.match(p.ends_at, TIME);
    }
  });
});
