// Health probes and request ids.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  REQUEST_ID_RE, RFC3339_RE, allowedMethods, assertJsonType, assertRequestId, expectError,
  get, postRaw, psql, request, sleep, startShim,
} from './lib/client.mjs';

// Every key of a JSON value, recursively, with its value: [[path, value], ...].
function walk(value, prefix = '') {
  const out = [];
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) {
      const p = prefix ? `${prefix}.${k}` : k;
      out.push([p, v], ...walk(v, p));
    }
  }
  return out;
}

describe('liveness and readiness', () => {
  test('GET /healthz is 200 {"status":"ok"}', async () => {
    const res = await get('/healthz');
    assert.equal(res.status, 200);
    assert.equal(res.text, '{"status":"ok"}');
    assertJsonType(res);
    assertRequestId(res);
  });

  test('GET /readyz is 200 with the database check ok', async () => {
    const res = await get('/readyz');
    assert.equal(res.status, 200, res.text);
    assert.equal(res.text, '{"status":"ready","checks":{"database":{"status":"ok"}}}');
    assertJsonType(res);
    assertRequestId(res);
  });

  test('GET /api/health is 200 healthy with a current RFC 3339 timestamp and a service name', async () => {
    const before = Date.now();
    const res = await get('/api/health');
    const afterT = Date.now();
    assert.equal(res.status, 200, res.text);
    assertJsonType(res);
    assert.equal(res.json.status, 'healthy');
    assert.equal(typeof res.json.timestamp, 'string');
    assert.match(res.json.timestamp, RFC3339_RE);
    const ts = Date.parse(res.json.timestamp);
    assert.ok(Number.isFinite(ts), `timestamp ${res.json.timestamp} does not parse`);
    // the server's clock is this machine's clock: the stamp lies within the request
    assert.ok(ts >= before - 2000 && ts <= afterT + 2000,
      `timestamp ${res.json.timestamp} is not the time of the request`);
    assert.equal(typeof res.json.service, 'string');
    assert.ok(res.json.service.length > 0);
  });

  test('POST /healthz is 405 with Allow: GET', async () => {
    const res = await request('POST', '/healthz', { body: '{}', headers: { 'content-type': 'application/json' } });
    expectError(res, 405, 'method_not_allowed');
    assert.deepEqual(allowedMethods(res), ['GET']);
  });

  test('POST /readyz and DELETE /api/health are 405 too', async () => {
    for (const [m, p] of [['POST', '/readyz'], ['DELETE', '/api/health'], ['PUT', '/api/v1/health']]) {
      const res = await request(m, p);
      expectError(res, 405, 'method_not_allowed');
      assert.deepEqual(allowedMethods(res), ['GET'], `${m} ${p}`);
    }
  });
});

describe('GET /api/v1/health', () => {
  test('reports status, versions, environment, uptime, database latency and pool', async () => {
    const res = await get('/api/v1/health');
    assert.equal(res.status, 200, res.text);
    assertJsonType(res);
    assertRequestId(res);
    const h = res.json;
    assert.equal(typeof h.status, 'string');
    assert.ok(['ok', 'healthy', 'pass', 'up', 'ready'].includes(h.status), `status ${h.status}`);

    // server version: the one PostgreSQL reports, as "major.minor"
    const num = Number(psql('SHOW server_version_num;'));
    const majorMinor = `${Math.floor(num / 10000)}.${num % 10000}`;
    assert.equal(typeof h.server_version, 'string', `server_version missing: ${res.text}`);
    assert.ok(h.server_version.startsWith(majorMinor),
      `server_version ${h.server_version} is not the cluster's ${majorMinor}`);

    const installed = psql("SELECT extversion FROM pg_extension WHERE extname = 'workon';");
    const available = psql("SELECT default_version FROM pg_available_extensions WHERE name = 'workon';");
    assert.ok(installed, 'extension workon is not installed in the test database');
    assert.ok(h.extension && typeof h.extension === 'object', `extension missing: ${res.text}`);
    assert.equal(h.extension.installed, installed);
    assert.equal(h.extension.available, available);

    assert.ok(['development', 'staging', 'production'].includes(h.environment), `environment ${h.environment}`);
    assert.equal(typeof h.uptime_seconds, 'number');
    assert.ok(h.uptime_seconds >= 0);

    const latency = walk(h).filter(([k, v]) => /latency/i.test(k) && typeof v === 'number');
    assert.ok(latency.length >= 1, `no numeric database latency: ${res.text}`);
    assert.ok(latency[0][1] >= 0 && latency[0][1] < 10000, `latency ${latency[0][1]}`);

    assert.ok(h.pool && typeof h.pool === 'object', `pool missing: ${res.text}`);
    for (const k of ['size', 'in_use', 'waiting']) {
      assert.ok(Number.isInteger(h.pool[k]) && h.pool[k] >= 0, `pool.${k} = ${h.pool[k]}`);
    }
    assert.ok(h.pool.size >= 1, 'pool size is at least one connection');
    assert.ok(h.pool.in_use <= h.pool.size, 'pool in_use <= size');
  });

  test('environment is NODE_ENV and uptime counts from the start of the process', async () => {
    const started = Date.now();
    const fresh = await startShim({ NODE_ENV: 'development' });
    try {
      const a = await get('/api/v1/health', { base: fresh.url });
      assert.equal(a.status, 200, a.text);
      assert.equal(a.json.environment, 'development');
      const bound = (Date.now() - started) / 1000 + 1;
      assert.ok(a.json.uptime_seconds <= bound, `uptime ${a.json.uptime_seconds} s of a process younger than ${bound} s`);
      await sleep(1100);
      const b = await get('/api/v1/health', { base: fresh.url });
      assert.ok(b.json.uptime_seconds > a.json.uptime_seconds,
        `uptime did not advance: ${a.json.uptime_seconds} then ${b.json.uptime_seconds}`);
    } finally {
      await fresh.stop();
    }
  });
});

describe('X-Request-Id', () => {
  test('every response carries one: 200, 400, 401, 404, 405, 413', async () => {
    const cases = [
      ['GET', '/healthz', {}, 200],
      ['GET', '/api/v1/spaces?limit=1', {}, 200],
      ['GET', '/api/v1/spaces?limit=0', {}, 400],
      ['GET', '/api/v1/spaces', { headers: { authorization: 'Bearer not.a.token' } }, 401],
      ['GET', '/definitely/not/here', {}, 404],
      ['POST', '/healthz', {}, 405],
      ['DELETE', '/api/v1/spaces', {}, 405],
    ];
    for (const [m, p, opts, status] of cases) {
      const res = await request(m, p, opts);
      assert.equal(res.status, status, `${m} ${p}: ${res.text}`);
      assertRequestId(res);
    }
    // an oversized body (refused for its size or its method, with an id either way)
    const big = await postRaw(undefined, '/healthz', Buffer.alloc(2 * 1024 * 1024 + 1, 0x61));
    assert.ok([405, 413].includes(big.status), `oversized POST /healthz: ${big.status}`);
    assertRequestId(big);
  });

  test('a valid client id is echoed', async () => {
    for (const id of ['abc.DEF_123-x', 'a', '0', 'x'.repeat(128), 'A.B-C_d.e-f_9']) {
      for (const p of ['/healthz', '/api/v1/spaces?limit=1', '/no/such/path']) {
        const res = await get(p, { headers: { 'x-request-id': id } });
        assert.equal(res.headers['x-request-id'], id, `${p} with ${id}`);
      }
    }
  });

  test('an invalid client id is replaced by a new valid one', async () => {
    const invalid = ['y'.repeat(129), 'abc def', 'abc/def', 'a:b', 'id$1', 'a+b', 'a,b', '', '"quoted"', 'tab\there'];
    const seen = new Set();
    for (const id of invalid) {
      const res = await get('/healthz', { headers: { 'x-request-id': id } });
      assert.equal(res.status, 200);
      const got = assertRequestId(res);
      assert.notEqual(got, id, `invalid id ${JSON.stringify(id)} was echoed`);
      assert.ok(!got.includes(id) || id === '', `invalid id ${JSON.stringify(id)} leaked into ${got}`);
      seen.add(got);
    }
    assert.equal(seen.size, invalid.length, 'replacement ids are not unique');
  });

  test('ids generated by the server are unique, sequentially and concurrently', async () => {
    const ids = [];
    for (let i = 0; i < 50; i++) ids.push((await get('/healthz')).headers['x-request-id']);
    const concurrent = await Promise.all(Array.from({ length: 100 }, (_, i) =>
      get(i % 2 ? '/healthz' : '/api/v1/spaces?limit=1')));
    for (const r of concurrent) ids.push(r.headers['x-request-id']);
    for (const id of ids) assert.match(id ?? '', REQUEST_ID_RE);
    assert.equal(new Set(ids).size, ids.length, 'duplicate X-Request-Id generated');
  });
});
