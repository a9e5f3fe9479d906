// CORS_ORIGIN: allowed origins get their origin back, others nothing; preflights are
// answered by the shim itself (the database stopped still answers them); Vary: Origin.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { expectError, request, startShim } from './lib/client.mjs';

const ALLOWED = 'https://app.example.com';
const OTHER = 'https://evil.example.net';

describe('CORS with an allowlist', () => {
  let shim;
  before(async () => {
    shim = await startShim({ CORS_ORIGIN: ` ${ALLOWED}/ , http://localhost:3000`, RATE_LIMIT_ENABLED: 'true' });
  });
  after(async () => { await shim?.stop(); });

  test('an allowed origin gets Access-Control-Allow-Origin and the exposed headers', async () => {
    const res = await request('GET', '/api/v1/spaces?limit=1', { base: shim.url, headers: { origin: ALLOWED } });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.headers['access-control-allow-origin'], ALLOWED);
    assert.match(res.headers.vary ?? '', /\bOrigin\b/);
    const exposed = (res.headers['access-control-expose-headers'] ?? '').split(',').map((h) => h.trim().toLowerCase());
    for (const h of ['x-request-id', 'ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset', 'retry-after', 'location', 'etag', 'x-workon-lsn']) {
      assert.ok(exposed.includes(h), `${h} is exposed`);
    }
    assert.equal(res.headers['access-control-allow-credentials'], undefined, 'bearer tokens need no credentials mode');
  });

  test('the origin is matched case-insensitively, the second entry too', async () => {
    const res = await request('GET', '/healthz', { base: shim.url, headers: { origin: 'http://LOCALHOST:3000' } });
    assert.equal(res.headers['access-control-allow-origin'], 'http://LOCALHOST:3000');
  });

  test('another origin gets no allow header, but Vary: Origin', async () => {
    for (const origin of [OTHER, `${ALLOWED}.evil.net`, 'null', 'http://app.example.com']) {
      const res = await request('GET', '/api/v1/spaces?limit=1', { base: shim.url, headers: { origin } });
      assert.equal(res.status, 200);
      assert.equal(res.headers['access-control-allow-origin'], undefined, origin);
      assert.equal(res.headers['access-control-expose-headers'], undefined, origin);
      assert.match(res.headers.vary ?? '', /\bOrigin\b/);
    }
  });

  test('no Origin: no allow header, Vary: Origin (the answer depends on it)', async () => {
    const res = await request('GET', '/api/v1/spaces?limit=1', { base: shim.url });
    assert.equal(res.headers['access-control-allow-origin'], undefined);
    assert.match(res.headers.vary ?? '', /\bOrigin\b/);
  });

  test('errors carry the CORS headers too (a browser can read the error)', async () => {
    const res = await request('GET', '/api/v1/nope', { base: shim.url, headers: { origin: ALLOWED } });
    expectError(res, 404, 'not_found');
    assert.equal(res.headers['access-control-allow-origin'], ALLOWED);
    const bad = await request('GET', '/api/v1/me', { base: shim.url, headers: { origin: ALLOWED, authorization: 'Bearer x.y.z' } });
    expectError(bad, 401, 'unauthorized');
    assert.equal(bad.headers['access-control-allow-origin'], ALLOWED);
  });

  test('a preflight from an allowed origin: 204 with methods, headers and max age', async () => {
    const res = await request('OPTIONS', '/api/v1/bookings', {
      base: shim.url,
      headers: { origin: ALLOWED, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
    });
    assert.equal(res.status, 204);
    assert.equal(res.text, '');
    assert.equal(res.headers['access-control-allow-origin'], ALLOWED);
    const methods = res.headers['access-control-allow-methods'].split(',').map((m) => m.trim());
    assert.deepEqual(methods, ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
    const headers = res.headers['access-control-allow-headers'].split(',').map((m) => m.trim().toLowerCase());
    assert.ok(headers.includes('content-type') && headers.includes('authorization'));
    assert.ok(headers.includes('x-workon-lsn'), 'a cross-origin client may send back its write position');
    assert.ok(Number(res.headers['access-control-max-age']) > 0);
    assert.match(res.headers.vary ?? '', /\bOrigin\b/);
    assert.ok(res.headers['x-request-id']);
    assert.equal(res.headers['ratelimit-limit'], undefined, 'preflights are not counted');
  });

  test('a preflight from another origin: 204 without any allow header', async () => {
    const res = await request('OPTIONS', '/api/v1/bookings', {
      base: shim.url, headers: { origin: OTHER, 'access-control-request-method': 'POST' },
    });
    assert.equal(res.status, 204);
    for (const h of ['access-control-allow-origin', 'access-control-allow-methods', 'access-control-allow-headers',
      'access-control-max-age']) {
      assert.equal(res.headers[h], undefined, h);
    }
  });

  test('OPTIONS without Access-Control-Request-Method is no preflight: 405 as before', async () => {
    const res = await request('OPTIONS', '/api/v1/spaces', { base: shim.url, headers: { origin: ALLOWED } });
    expectError(res, 405, 'method_not_allowed');
  });
});

describe('CORS_ORIGIN=* and empty', () => {
  test('*: every origin may read, with Access-Control-Allow-Origin: *', async () => {
    const shim = await startShim({ CORS_ORIGIN: '*' });
    try {
      const res = await request('GET', '/api/v1/spaces?limit=1', { base: shim.url, headers: { origin: OTHER } });
      assert.equal(res.headers['access-control-allow-origin'], '*');
      const pre = await request('OPTIONS', '/api/v1/me', {
        base: shim.url, headers: { origin: OTHER, 'access-control-request-method': 'GET' },
      });
      assert.equal(pre.status, 204);
      assert.equal(pre.headers['access-control-allow-origin'], '*');
      assert.match(pre.headers['access-control-allow-headers'], /Authorization/i);
    } finally {
      await shim.stop();
    }
  });

  test('empty (the default): no CORS header at all, preflights get 204 without allow headers', async () => {
    const shim = await startShim({});
    try {
      const res = await request('GET', '/api/v1/spaces?limit=1', { base: shim.url, headers: { origin: ALLOWED } });
      assert.equal(res.headers['access-control-allow-origin'], undefined);
      assert.doesNotMatch(res.headers.vary ?? '', /origin/i);
      const pre = await request('OPTIONS', '/api/v1/me', {
        base: shim.url, headers: { origin: ALLOWED, 'access-control-request-method': 'GET' },
      });
      assert.equal(pre.status, 204);
      assert.equal(pre.headers['access-control-allow-origin'], undefined);
    } finally {
      await shim.stop();
    }
  });
});

describe('preflights without the database', () => {
  test('a shim whose database is out of reach still answers preflights (API paths are 503)', async () => {
    const shim = await startShim({ CORS_ORIGIN: ALLOWED, DATABASE_URL: 'postgresql://workon@127.0.0.1:1/nowhere?connect_timeout=1' });
    try {
      const api = await request('GET', '/api/v1/spaces', { base: shim.url, headers: { origin: ALLOWED } });
      expectError(api, 503, 'unavailable');
      assert.equal(api.headers['access-control-allow-origin'], ALLOWED);
      const pre = await request('OPTIONS', '/api/v1/spaces', {
        base: shim.url, headers: { origin: ALLOWED, 'access-control-request-method': 'GET' },
      });
      assert.equal(pre.status, 204);
      assert.equal(pre.headers['access-control-allow-origin'], ALLOWED);
    } finally {
      await shim.stop();
    }
  });
});
