// Connection handling: pipelining, keep-alive, a database restart under load and clients
// that go away mid-request (HTTP/1.1 and HTTP/2).
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import {
  BASE, addRoutes, expectError, get, h2connect, h2request, parseHttpResponses, pgctl, psql,
  psqlAsync, psqlList, removeRoutes, request, sleep, startShim, waitFor,
} from './lib/client.mjs';

const SLOW_PREFIX = '/api/v1/test/slow';
const SLOW_SQL = `
CREATE FUNCTION workon.test_slow() RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_sleep(0.5);
  RETURN '{"slow":true}'::jsonb;
END $$;
GRANT EXECUTE ON FUNCTION workon.test_slow() TO workon_anon;`;
const SLOW_DROP = 'DROP FUNCTION IF EXISTS workon.test_slow();';

const firstIds = (n) =>
  psqlList(`SELECT id FROM workon.spaces WHERE published ORDER BY created_at DESC, id DESC LIMIT ${n};`);

async function databaseUp() {
  try { return (await psqlAsync('SELECT 1;')) === '1'; } catch { return false; }
}

describe('HTTP/1.1 connection reuse', () => {
  test('100 requests pipelined on one socket are all answered, in order', async () => {
    const url = new URL(BASE);
    const paths = Array.from({ length: 100 }, (_, i) =>
      [i % 3 === 0 ? '/healthz' : i % 3 === 1 ? '/api/v1/spaces?limit=1' : '/no/such/path', i]);
    const expected = { '/healthz': 200, '/api/v1/spaces?limit=1': 200, '/no/such/path': 404 };
    const wire = paths.map(([p, i]) =>
      `GET ${p} HTTP/1.1\r\nHost: ${url.host}\r\nX-Request-Id: pipe-${i}\r\n\r\n`).join('');
    const sock = net.connect(Number(url.port), url.hostname);
    sock.setNoDelay(true);
    let buf = Buffer.alloc(0);
    const responses = [];
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${responses.length} of 100 responses within 20 s`)), 20000);
      sock.on('connect', () => sock.write(wire));
      sock.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        try {
          const { responses: got, rest } = parseHttpResponses(buf);
          responses.push(...got);
          buf = Buffer.from(rest);
        } catch (e) { clearTimeout(timer); reject(e); return; }
        if (responses.length >= 100) { clearTimeout(timer); resolve(); }
      });
      sock.on('error', (e) => { clearTimeout(timer); reject(e); });
      sock.on('close', () => {
        if (responses.length < 100) { clearTimeout(timer); reject(new Error(`socket closed after ${responses.length} responses`)); }
      });
    });
    sock.destroy();
    assert.equal(responses.length, 100);
    const first = firstIds(1);
    responses.forEach((r, i) => {
      const [p] = paths[i];
      assert.equal(r.headers['x-request-id'], `pipe-${i}`, `response ${i} out of order`);
      assert.equal(r.status, expected[p], `response ${i} (${p})`);
      if (p.startsWith('/api/v1/spaces')) assert.deepEqual(r.json.data.map((s) => s.id), first);
      if (p === '/healthz') assert.equal(r.text, '{"status":"ok"}');
    });
  });

  test('keep-alive: 200 sequential requests over one connection', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const sockets = new Set();
    const expected = firstIds(2);
    try {
      for (let i = 0; i < 200; i++) {
        const p = i % 2 ? '/healthz' : '/api/v1/spaces?limit=2';
        const res = await request('GET', p, { agent, onSocket: (s) => sockets.add(s) });
        assert.equal(res.status, 200, `request ${i}: ${res.text}`);
        if (i % 2 === 0) assert.deepEqual(res.json.data.map((s) => s.id), expected);
      }
    } finally {
      agent.destroy();
    }
    assert.equal(sockets.size, 1, `${sockets.size} connections were used instead of one`);
  });
});

describe('database restart under load', () => {
  after(async () => {
    // leave a running cluster for whatever runs next
    if (!(await databaseUp())) await pgctl('start');
    await waitFor(async () => (await get('/readyz')).status === 200, 15000).catch(() => {});
  });

  test('clients see only 200 or 503, the shim survives and recovers', { timeout: 120000 }, async () => {
    assert.ok(await databaseUp(), 'the test cluster is not reachable with psql');
    const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
    const results = [];
    const errors = [];
    let stop = false;
    const loop = async () => {
      while (!stop) {
        const sent = Date.now();
        try {
          const res = await request('GET', '/api/v1/spaces?limit=5', { agent, timeoutMs: 40000 });
          let shapeOk = res.status === 200 && Array.isArray(res.json?.data);
          if (res.status === 503) {
            try { expectError(res, 503, 'unavailable'); shapeOk = true; } catch { shapeOk = false; }
          }
          results.push({ sent, status: res.status, shapeOk, text: shapeOk ? '' : res.text.slice(0, 200) });
        } catch (e) {
          errors.push(e);
          await sleep(20);
        }
      }
    };
    const loops = Array.from({ length: 32 }, loop);
    try {
      await sleep(1500);
      const beforeStop = results.length;
      assert.ok(beforeStop > 0, 'no responses before the restart');

      await pgctl('stop');
      assert.equal(await databaseUp(), false, 'pgctl.sh stop did not stop the cluster');

      // while the database is down
      const ready = await get('/readyz', { timeoutMs: 10000 });
      assert.equal(ready.status, 503, `readyz with the database down: ${ready.text}`);
      assert.equal(ready.json?.status, 'not_ready', ready.text);
      assert.equal(ready.json.checks?.database?.status, 'error', ready.text);
      assert.equal(typeof ready.json.checks.database.error, 'string');
      assert.ok(ready.json.checks.database.error.length > 0);
      const live = await get('/healthz', { timeoutMs: 5000 });
      assert.equal(live.status, 200, 'healthz depends on the database');
      assert.equal(live.text, '{"status":"ok"}');
      const health = await get('/api/health', { timeoutMs: 10000 });
      assert.equal(health.status, 503, health.text);
      assert.equal(health.json?.status, 'unhealthy', health.text);
      assert.equal(typeof health.json.error, 'string');
      const api = await get('/api/v1/spaces?limit=1', { timeoutMs: 35000 });
      expectError(api, 503, 'unavailable');
      await sleep(500);

      await pgctl('start');
      const restarted = Date.now();
      await waitFor(async () => (await get('/readyz', { timeoutMs: 2000 })).status === 200, 10000)
        .catch((e) => { throw new Error(`readyz not 200 within 10 s of the restart: ${e.message}`); });
      const readyAt = Date.now();
      await sleep(1000);
      stop = true;
      await Promise.all(loops);

      assert.deepEqual(errors.map((e) => e.code ?? e.message).slice(0, 10), [],
        `${errors.length} client errors (connection reset or similar)`);
      const bad = results.filter((r) => !r.shapeOk);
      assert.deepEqual(bad.map((r) => `${r.status} ${r.text}`).slice(0, 10), [],
        `${bad.length} responses were neither 200 nor a 503 unavailable error`);
      const okAfter = results.filter((r) => r.sent >= readyAt && r.status === 200);
      assert.ok(okAfter.length > 0, 'no 200 after the database came back');
      assert.ok(readyAt - restarted <= 10000);
    } finally {
      stop = true;
      await Promise.all(loops);
      agent.destroy();
    }

    // the shim process is the same one and serves again, on every pooled connection
    assert.equal((await get('/healthz')).status, 200);
    const expected = firstIds(5);
    await waitFor(async () => {
      const burst = await Promise.all(Array.from({ length: 64 }, () => get('/api/v1/spaces?limit=5')));
      return burst.every((r) => r.status === 200);
    }, 10000).catch((e) => { throw new Error(`requests still fail after the restart: ${e.message}`); });
    const res = await get('/api/v1/spaces?limit=5');
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json.data.map((s) => s.id), expected);

    // route changes are picked up again: the shim listens on its new connection
    const path = '/api/v1/test/after-restart';
    try {
      await addRoutes(`DROP FUNCTION IF EXISTS workon.test_after_restart();
CREATE FUNCTION workon.test_after_restart() RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"back":true}'::jsonb $$;
GRANT EXECUTE ON FUNCTION workon.test_after_restart() TO workon_anon;`,
      [{ method: 'GET', path, handler: 'workon.test_after_restart()' }])
        .catch((e) => { throw new Error(`a route added after the restart is not served: ${e.message}`); });
      const back = await get(path);
      assert.equal(back.status, 200, back.text);
      assert.deepEqual(back.json, { back: true });
    } finally {
      await removeRoutes(path, 'DROP FUNCTION IF EXISTS workon.test_after_restart();');
    }
  });
});

// Backends of this database sleeping in the slow route's pg_sleep.
async function sleepers() {
  return Number(await psqlAsync(`SELECT count(*) FROM pg_stat_activity
    WHERE wait_event = 'PgSleep' AND datname = current_database() AND pid <> pg_backend_pid();`));
}

// The most sleepers seen over a window.
async function sampleSleepers(windowMs) {
  let most = 0;
  for (const end = Date.now() + windowMs; Date.now() < end;) {
    most = Math.max(most, await sleepers());
    await sleep(100);
  }
  return most;
}

// After a burst of abandoned requests: the server's loop still answers at once, and
// whatever work the burst left behind is measured, then allowed to finish so the next
// scenario starts clean. Returns the number of slow queries still running 2 s later.
async function afterBurst(t, base) {
  const t0 = Date.now();
  const live = await get('/healthz', { base, timeoutMs: 5000 });
  assert.equal(live.status, 200);
  assert.ok(Date.now() - t0 < 1000, `healthz took ${Date.now() - t0} ms after the disconnects`);
  await sleep(2000);
  const left = await sampleSleepers(1000);
  const t1 = Date.now();
  await waitFor(async () => (await sleepers()) === 0, 150000, 200);
  t.diagnostic(`${left} abandoned slow queries still running 2 s after the clients left; drained in ${Date.now() - t1} ms`);
  return left;
}

async function slowRouteWorks(base) {
  const res = await get(SLOW_PREFIX, { base, timeoutMs: 10000 });
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(res.json, { slow: true });
}

const CANCEL_NOTE = 'queries of clients that went away kept running in the database';

describe('clients that go away mid-request', () => {
  let h2shim;
  const left = {};
  before(async () => {
    await removeRoutes(SLOW_PREFIX, SLOW_DROP);
    await addRoutes(SLOW_SQL, [{ method: 'GET', path: SLOW_PREFIX, handler: 'workon.test_slow()' }]);
    h2shim = await startShim({ HTTP2: 'on' });
  });
  after(async () => {
    await h2shim?.stop();
    await removeRoutes(SLOW_PREFIX, SLOW_DROP);
  });

  test('the slow route answers after its delay', async () => {
    const t0 = Date.now();
    const res = await get(SLOW_PREFIX);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { slow: true });
    assert.ok(Date.now() - t0 >= 450, 'the slow route did not wait');
    assert.equal(await sleepers(), 0);
  });

  test('HTTP/1.1: 200 requests whose sockets are destroyed after 50 ms leave the shim serving', { timeout: 240000 }, async (t) => {
    const url = new URL(BASE);
    const outcomes = await Promise.all(Array.from({ length: 200 }, () => new Promise((resolve) => {
      const req = http.request({ host: url.hostname, port: url.port, path: SLOW_PREFIX, agent: false });
      req.on('response', () => resolve('answered'));
      req.on('error', () => resolve('destroyed'));
      req.on('close', () => resolve('closed'));
      setTimeout(() => req.destroy(), 50);
      req.end();
    })));
    assert.equal(outcomes.filter((o) => o === 'answered').length, 0, 'a 0.5 s route answered within 50 ms');
    left.http1 = await afterBurst(t);
    await slowRouteWorks();
    assert.equal((await get('/api/v1/spaces?limit=1')).status, 200);
  });

  test('HTTP/1.1: the queries of those clients were cancelled', () => {
    assert.equal(left.http1, 0, `${CANCEL_NOTE} (${left.http1} backends in pg_sleep 2 s later)`);
  });

  test('HTTP/2: the extra shim serves h2c with the same answers as HTTP/1.1', async () => {
    const session = await h2connect(h2shim.url);
    try {
      const h1 = await get('/api/v1/spaces?limit=3', { base: h2shim.url });
      const h2 = await h2request(session, '/api/v1/spaces?limit=3');
      assert.equal(h2.status, 200, h2.text);
      assert.deepEqual(h2.json, h1.json);
      assert.ok(h2.headers['x-request-id']);
      const miss = await h2request(session, '/no/such/path');
      assert.equal(miss.status, 404);
      assert.equal(miss.json.error.code, 'not_found');
      const slow = await h2request(session, SLOW_PREFIX);
      assert.equal(slow.status, 200, slow.text);
      assert.deepEqual(slow.json, { slow: true });
    } finally {
      session.close();
    }
  });

  test('HTTP/2: 200 streams cancelled with NGHTTP2_CANCEL after 50 ms leave the shim serving', { timeout: 240000 }, async (t) => {
    const sessions = await Promise.all(Array.from({ length: 4 }, () => h2connect(h2shim.url)));
    try {
      const outcomes = await Promise.all(sessions.flatMap((session) => Array.from({ length: 50 }, () =>
        new Promise((resolve) => {
          const stream = session.request({ ':path': SLOW_PREFIX });
          let answered = false;
          stream.on('response', () => { answered = true; });
          stream.on('error', () => {});
          stream.on('close', () => resolve(answered ? 'answered' : 'cancelled'));
          setTimeout(() => stream.close(http2.constants.NGHTTP2_CANCEL), 50);
          stream.end();
        }))));
      assert.equal(outcomes.filter((o) => o === 'answered').length, 0, 'a 0.5 s route answered within 50 ms');
      // the sessions survive their cancelled streams
      for (const s of sessions) {
        const res = await h2request(s, '/healthz', { timeoutMs: 5000 });
        assert.equal(res.status, 200);
      }
    } finally {
      for (const s of sessions) s.destroy();
    }
    left.h2cancel = await afterBurst(t, h2shim.url);
    assert.ok(h2shim.alive(), `the HTTP/2 shim died: ${h2shim.output().slice(-2000)}`);
    const session = await h2connect(h2shim.url);
    try {
      const slow = await h2request(session, SLOW_PREFIX, { timeoutMs: 10000 });
      assert.equal(slow.status, 200, slow.text);
      assert.deepEqual(slow.json, { slow: true });
    } finally {
      session.close();
    }
  });

  test('HTTP/2: the queries of cancelled streams were cancelled', () => {
    assert.equal(left.h2cancel, 0, `${CANCEL_NOTE} (${left.h2cancel} backends in pg_sleep 2 s later)`);
  });

  test('HTTP/2: sessions destroyed or reset with streams in flight leave the shim serving', { timeout: 240000 }, async (t) => {
    const { hostname, port } = new URL(h2shim.url);
    for (let round = 0; round < 4; round++) {
      // even rounds: session.destroy(); odd rounds: the TCP connection is reset under it
      let sock;
      const session = http2.connect(h2shim.url, {
        createConnection: () => { sock = net.connect(Number(port), hostname); return sock; },
      });
      session.on('error', () => {});
      await new Promise((resolve, reject) => { session.once('connect', resolve); session.once('error', reject); });
      for (let i = 0; i < 50; i++) {
        const stream = session.request({ ':path': SLOW_PREFIX });
        stream.on('error', () => {});
        stream.end();
      }
      await sleep(50);
      if (round % 2) sock.resetAndDestroy();
      else session.destroy();
      await sleep(20);
      session.destroy();
    }
    await sleep(200);
    assert.ok(h2shim.alive(), `the HTTP/2 shim died: ${h2shim.output().slice(-2000)}`);
    left.h2destroy = await afterBurst(t, h2shim.url);
    assert.ok(h2shim.alive(), `the HTTP/2 shim died: ${h2shim.output().slice(-2000)}`);

    const session = await h2connect(h2shim.url);
    try {
      const hz = await h2request(session, '/healthz', { timeoutMs: 5000 });
      assert.equal(hz.status, 200);
      const slow = await h2request(session, SLOW_PREFIX, { timeoutMs: 10000 });
      assert.equal(slow.status, 200, slow.text);
      assert.deepEqual(slow.json, { slow: true });
    } finally {
      session.close();
    }
    await slowRouteWorks(h2shim.url);
  });

  test('HTTP/2: the queries of destroyed sessions were cancelled', () => {
    assert.equal(left.h2destroy, 0, `${CANCEL_NOTE} (${left.h2destroy} backends in pg_sleep 2 s later)`);
  });

  test('the main shim still answers after all of it', async () => {
    assert.equal((await get('/healthz')).status, 200);
    await slowRouteWorks();
    assert.equal(psql('SELECT 1;'), '1');
  });
});
