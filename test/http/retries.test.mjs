// Safe retries: every POST accepts an Idempotency-Key (IETF httpapi draft semantics: the
// same key and body within 24 h get the stored answer, another body 422, a request still
// running with the key 409), and /readyz answers within a second while the database does
// not.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { addRoutes, expectError, lit, psql, removeRoutes, request, startShim } from './lib/client.mjs';
import { bearer, book, createSpace, register, unique, waitReady } from './lib/payments.mjs';

let shim;
let base;
let host;
let member;

before(async () => {
  shim = await startShim({ SHIM_THREADS: '2', DB_POOL_SIZE: '4' });
  base = shim.url;
  await waitReady(base);
  [host, member] = await Promise.all([register(base, 'host'), register(base)]);
});
after(async () => { await shim?.stop(); });

const HOUR = 3600e3;
const slot = (h) => [Date.now() + h * HOUR, Date.now() + (h + 1) * HOUR]
  .map((t) => new Date(Math.ceil(t / HOUR) * HOUR).toISOString());
const bookingsOf = (spaceId) => Number(psql(`SELECT count(*) FROM workon.bookings WHERE space_id = ${lit(spaceId)}`));

describe('Idempotency-Key on POST', () => {
  test('the same key and body get the stored answer; the write happens once', async () => {
    const space = await createSpace(base, host);
    const [startsAt, endsAt] = slot(100);
    const key = `k-${unique()}`;
    const send = (body = { space_id: space.id, starts_at: startsAt, ends_at: endsAt }) =>
      request('POST', '/api/v1/bookings', { base, headers: { ...bearer(member.token), 'idempotency-key': key }, body });
    const first = await send();
    assert.equal(first.status, 201, first.text);
    const again = await send();
    assert.equal(again.status, 201, again.text);
    assert.equal(again.json.id, first.json.id);
    assert.deepEqual(again.json, first.json);
    assert.equal(bookingsOf(space.id), 1);

    // another body with the key: 422, nothing written
    const [s2, e2] = slot(103);
    expectError(await send({ space_id: space.id, starts_at: s2, ends_at: e2 }), 422, 'idempotency_key_reused');
    assert.equal(bookingsOf(space.id), 1);

    // without a key, or with another one, the same body is a new request (here: a conflict)
    expectError(await request('POST', '/api/v1/bookings', {
      base, headers: bearer(member.token), body: { space_id: space.id, starts_at: startsAt, ends_at: endsAt },
    }), 409, 'booking_conflict');
    // another user's key of the same name is theirs
    const other = await register(base);
    const theirs = await request('POST', '/api/v1/bookings', {
      base, headers: { ...bearer(other.token), 'idempotency-key': key }, body: { space_id: space.id, starts_at: s2, ends_at: e2 },
    });
    assert.equal(theirs.status, 201, theirs.text);
  });

  test('a refused request stores nothing: the retry runs again', async () => {
    const space = await createSpace(base, host);
    const [startsAt, endsAt] = slot(110);
    const key = `k-${unique()}`;
    const body = { space_id: space.id, starts_at: startsAt, ends_at: endsAt };
    // the slot is taken, then freed
    const blocker = await book(base, member, space, [startsAt, endsAt]);
    const send = () => request('POST', '/api/v1/bookings', { base, headers: { ...bearer(host.token), 'idempotency-key': key }, body });
    expectError(await send(), 409, 'booking_conflict');
    assert.equal((await request('POST', `/api/v1/bookings/${blocker.id}/cancel`, { base, headers: bearer(member.token) })).status, 200);
    const retried = await send();
    assert.equal(retried.status, 201, retried.text);
  });

  test('anonymous answers carry credentials and are not kept: each login with the key runs', async () => {
    const email = `idem-${unique()}@example.com`;
    const password = `long secret ${unique()}`;
    assert.equal((await request('POST', '/api/v1/auth/register', { base, body: { email, password, name: 'Idem' } })).status, 201);
    const headers = { 'idempotency-key': `k-${unique()}` };
    const [a, b] = [await request('POST', '/api/v1/auth/login', { base, headers, body: { email, password } }),
      await request('POST', '/api/v1/auth/login', { base, headers, body: { email, password } })];
    assert.equal(a.status, 200, a.text);
    assert.equal(b.status, 200, b.text);
    assert.notEqual(a.json.refresh_token, b.json.refresh_token);
    assert.equal(psql(`SELECT count(*) FROM workon.idempotency_keys WHERE key = ${lit(headers['idempotency-key'])}`), '0');
  });

  test('a malformed key is 400 validation_failed naming the header', async () => {
    const res = await request('POST', '/api/v1/auth/login', {
      base, headers: { 'idempotency-key': 'x'.repeat(300) }, body: { email: 'nobody@example.com', password: 'whatever it is' },
    });
    const err = expectError(res, 400, 'validation_failed');
    assert.equal(err.details.field, 'Idempotency-Key');
  });

  describe('a request still running with the key', () => {
    const fns = `
CREATE TABLE workon.test_idem (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, tag text NOT NULL);
GRANT SELECT, INSERT ON workon.test_idem TO workon_member;
CREATE FUNCTION workon.test_idem_slow(tag text) RETURNS json LANGUAGE sql AS $$
  SELECT pg_sleep(1.5);
  INSERT INTO workon.test_idem (tag) VALUES (tag) RETURNING json_build_object('id', id, 'tag', tag)
$$;
GRANT EXECUTE ON FUNCTION workon.test_idem_slow(text) TO workon_member;`;
    before(async () => {
      await addRoutes(fns, [{ method: 'POST', path: '/api/v1/test/idem/slow', handler: 'workon.test_idem_slow(text)', auth: 'member', body: 'json', status: 201, probe: '/api/v1/test/idem/slow' }], { bases: [base] });
    });
    after(async () => { await removeRoutes('/api/v1/test/idem', 'DROP FUNCTION workon.test_idem_slow(text); DROP TABLE workon.test_idem;', { bases: [base] }); });

    test('409 idempotency_key_in_use while the first runs, the stored answer after', async () => {
      const tag = `t-${unique()}`;
      const headers = { ...bearer(member.token), 'idempotency-key': `k-${unique()}` };
      const send = () => request('POST', '/api/v1/test/idem/slow', { base, headers, body: { tag } });
      const first = send();
      await new Promise((r) => setTimeout(r, 400));
      expectError(await send(), 409, 'idempotency_key_in_use');
      const done = await first;
      assert.equal(done.status, 201, done.text);
      const replay = await send();
      assert.equal(replay.status, 201, replay.text);
      assert.deepEqual(replay.json, done.json);
      assert.equal(psql(`SELECT count(*) FROM workon.test_idem WHERE tag = ${lit(tag)}`), '1');
    });
  });
});

describe('/readyz while the database does not answer', () => {
  test('503 not_ready within a second, 200 again once it answers', async () => {
    const fns = `
CREATE FUNCTION workon.test_stall(seconds float8) RETURNS json LANGUAGE sql AS $$ SELECT pg_sleep(seconds); SELECT '{}'::json $$;
GRANT EXECUTE ON FUNCTION workon.test_stall(float8) TO workon_anon;`;
    const one = await startShim({ SHIM_THREADS: '1', DB_POOL_SIZE: '1' });
    try {
      await waitReady(one.url);
      await addRoutes(fns, [{ method: 'GET', path: '/api/v1/test/stall/{seconds}', handler: 'workon.test_stall(float8)', probe: '/api/v1/test/stall/0' }], { bases: [one.url] });
      // the only connection is busy for 3 s
      const stall = request('GET', '/api/v1/test/stall/3', { base: one.url, timeoutMs: 10000 });
      await new Promise((r) => setTimeout(r, 300));
      const started = Date.now();
      const ready = await request('GET', '/readyz', { base: one.url, timeoutMs: 5000 });
      const took = Date.now() - started;
      assert.equal(ready.status, 503, ready.text);
      assert.ok(took < 1500, `readyz took ${took} ms`);
      assert.equal(ready.json.status, 'not_ready');
      assert.equal(ready.json.checks.database.status, 'error');
      assert.equal(typeof ready.json.checks.database.error, 'string');
      await stall;
      assert.equal((await request('GET', '/readyz', { base: one.url })).status, 200);
    } finally {
      await one.stop();
      await removeRoutes('/api/v1/test/stall', 'DROP FUNCTION workon.test_stall(float8);', { bases: [] });
    }
  });
});
