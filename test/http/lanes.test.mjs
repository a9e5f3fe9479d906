// The slow lane: routes of lane slow in workon.routes (password hashing) run on connections
// of their own, one statement at a time each, with a bounded queue; the pipelined
// connection carries only fast statements, so a GET does not wait behind logins.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { expectError, psqlList, request, startShim } from './lib/client.mjs';

const unique = () => `${Date.now().toString(36)}${crypto.randomBytes(4).toString('hex')}`;

let shim;
let user;

const login = (base) => request('POST', '/api/v1/auth/login', { base, body: { email: user.email, password: user.password }, timeoutMs: 60000 });

async function timed(fn) {
  const t = process.hrtime.bigint();
  const res = await fn();
  return { res, ms: Number(process.hrtime.bigint() - t) / 1e6 };
}

before(async () => {
  // one thread, one pipelined connection: before the slow lane, logins shared it with everything
  shim = await startShim({ SHIM_THREADS: '1', DB_POOL_SIZE: '1', SLOW_LANE_CONNECTIONS: '1' });
  user = { email: `lane-${unique()}@example.com`, password: `long secret ${unique()}` };
  const res = await request('POST', '/api/v1/auth/register', { base: shim.url, body: { ...user, name: 'Lane' } });
  assert.equal(res.status, 201, res.text);
});

after(async () => {
  await shim?.stop();
});

describe('slow lane', () => {
  test('login, register and password changes are declared slow in workon.routes', () => {
    assert.deepEqual(psqlList("SELECT method || ' ' || path FROM workon.routes WHERE lane = 'slow' ORDER BY path;"), [
      'POST /api/v1/auth/login', 'POST /api/v1/auth/password/reset', 'POST /api/v1/auth/register', 'POST /api/v1/me/password',
    ]);
  });

  test('with 8 logins in flight, GET /api/v1/spaces answers without waiting for them', async () => {
    const single = await timed(() => login(shim.url));
    assert.equal(single.res.status, 200, single.res.text);
    const started = Date.now();
    const logins = Promise.all(Array.from({ length: 8 }, () => login(shim.url)));
    await new Promise((r) => setTimeout(r, 50));
    const gets = [];
    for (let i = 0; i < 10; i++) {
      const g = await timed(() => request('GET', '/api/v1/spaces?limit=5', { base: shim.url }));
      assert.equal(g.res.status, 200, g.res.text);
      gets.push(g.ms);
    }
    const getsDone = Date.now() - started;
    const results = await logins;
    const loginsDone = Date.now() - started;
    for (const r of results) assert.equal(r.status, 200, r.text);
    // the logins were still running while the GETs were answered (one at a time on the lane)
    assert.ok(loginsDone > getsDone, `logins ${loginsDone} ms, GETs ${getsDone} ms`);
    // a login takes single.ms of a backend; a GET that waited behind one would take as long
    const slowest = Math.max(...gets);
    assert.ok(slowest < Math.max(250, single.ms / 2), `slowest GET ${slowest.toFixed(1)} ms while logins ran (a login: ${single.ms.toFixed(0)} ms)`);
    const health = await request('GET', '/api/v1/health', { base: shim.url });
    assert.equal(health.json.slow_lane.size, 1, health.text);
  });

  test('a full slow-lane queue answers 503 with Retry-After at once', async () => {
    const small = await startShim({ SHIM_THREADS: '1', SLOW_LANE_CONNECTIONS: '1', SLOW_LANE_QUEUE: '1' });
    try {
      const results = await Promise.all(Array.from({ length: 5 }, () => timed(() => login(small.url))));
      const refused = results.filter((r) => r.res.status === 503);
      const ok = results.filter((r) => r.res.status === 200);
      // one runs, one waits, the rest are refused
      assert.ok(refused.length >= 2, results.map((r) => `${r.res.status} ${r.res.text}`).join('\n'));
      assert.ok(ok.length >= 2, results.map((r) => `${r.res.status} ${r.res.text}`).join('\n'));
      assert.equal(refused.length + ok.length, 5);
      for (const r of refused) {
        expectError(r.res, 503, 'unavailable');
        assert.equal(r.res.headers['retry-after'], '1');
        assert.ok(r.ms < Math.min(...ok.map((o) => o.ms)), 'refused before a login could finish');
      }
    } finally {
      await small.stop();
    }
  });
});
