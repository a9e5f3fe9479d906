// Rate limits: fixed windows per client, the user when its token is known to belong to
// one (learned from the database's answer), else the address; login and register also per
// address; 429 rate_limited with Retry-After and RateLimit-*; probes, metrics, docs and
// the Stripe webhooks exempt; one set of buckets for all threads of a process.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { expectError, request, sleep, startShim } from './lib/client.mjs';

const unique = () => `${Date.now().toString(36)}${crypto.randomBytes(4).toString('hex')}`;
const bearer = (token) => ({ authorization: `Bearer ${token}` });

function rateHeaders(res) {
  return {
    limit: Number(res.headers['ratelimit-limit']),
    remaining: Number(res.headers['ratelimit-remaining']),
    reset: Number(res.headers['ratelimit-reset']),
  };
}

function expectLimited(res, limit) {
  expectError(res, 429, 'rate_limited');
  const h = rateHeaders(res);
  assert.equal(h.limit, limit);
  assert.equal(h.remaining, 0);
  assert.ok(h.reset >= 1, `RateLimit-Reset ${res.headers['ratelimit-reset']}`);
  assert.equal(res.headers['retry-after'], res.headers['ratelimit-reset']);
}

async function register(base) {
  const res = await request('POST', '/api/v1/auth/register', {
    base, body: { email: `rl-${unique()}@example.com`, password: `long secret ${unique()}`, name: 'Rate Limited' },
  });
  assert.equal(res.status, 201, res.text);
  return res.json;
}

describe('the window of one address', () => {
  let shim;
  before(async () => { shim = await startShim({ RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_LIMIT: '5', RATE_LIMIT_TTL: '3' }); });
  after(async () => { await shim?.stop(); });

  test('RateLimit headers count down, the request over the limit is 429, the next window is fresh', async () => {
    for (let i = 1; i <= 5; i++) {
      const res = await request('GET', '/api/v1/spaces?limit=1', { base: shim.url });
      assert.equal(res.status, 200, res.text);
      const h = rateHeaders(res);
      assert.equal(h.limit, 5);
      assert.equal(h.remaining, 5 - i);
      assert.ok(h.reset >= 1 && h.reset <= 3, `reset ${h.reset}`);
    }
    const limited = await request('GET', '/api/v1/spaces?limit=1', { base: shim.url });
    expectLimited(limited, 5);
    // 404s and 405s count too, and are refused alike
    expectLimited(await request('GET', '/api/v1/no-such-thing', { base: shim.url }), 5);
    await sleep(Number(limited.headers['retry-after']) * 1000 + 200);
    const again = await request('GET', '/api/v1/spaces?limit=1', { base: shim.url });
    assert.equal(again.status, 200, again.text);
    assert.equal(rateHeaders(again).remaining, 4);
  });

  test('probes, metrics, docs and the Stripe webhooks are exempt', async () => {
    for (let i = 0; i < 6; i++) await request('GET', '/api/v1/spaces?limit=1', { base: shim.url });
    expectLimited(await request('GET', '/api/v1/spaces?limit=1', { base: shim.url }), 5);
    for (const p of ['/healthz', '/readyz', '/api/health', '/api/v1/health', '/metrics', '/api/v1/openapi.json', '/docs']) {
      for (let i = 0; i < 3; i++) {
        const res = await request('GET', p, { base: shim.url });
        assert.equal(res.status, 200, `${p}: ${res.text.slice(0, 200)}`);
        assert.equal(res.headers['ratelimit-limit'], undefined, p);
      }
    }
    for (const p of ['/api/webhooks/stripe', '/api/v1/webhooks/stripe']) {
      const res = await request('POST', p, { base: shim.url, body: '{}', headers: { 'content-type': 'application/json' } });
      assert.notEqual(res.status, 429, p);
      assert.equal(res.headers['ratelimit-limit'], undefined, p);
    }
  });
});

describe('users and addresses', () => {
  let shim;
  before(async () => {
    shim = await startShim({ RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_LIMIT: '6', RATE_LIMIT_TTL: '60', AUTH_RATE_LIMIT_LIMIT: '50' });
  });
  after(async () => { await shim?.stop(); });

  test('a token known to belong to a user has its own bucket; unknown and forged tokens count against the address', async () => {
    const a = await register(shim.url); // address: 1
    const b = await register(shim.url); // address: 2
    // the first request with a's token counts against the address; the answer tells whose token it is
    const first = await request('GET', '/api/v1/me', { base: shim.url, headers: bearer(a.access_token) }); // address: 3
    assert.equal(first.status, 200, first.text);
    assert.equal(first.headers['x-workon-user'], undefined, 'the internal header never reaches the client');
    for (let i = 4; i <= 6; i++) {
      assert.equal((await request('GET', '/api/v1/spaces?limit=1', { base: shim.url })).status, 200);
    }
    expectLimited(await request('GET', '/api/v1/spaces?limit=1', { base: shim.url }), 6);
    // a forged token, and b's token that this shim has not seen answered yet, are the address's
    const [h, p] = a.access_token.split('.');
    expectLimited(await request('GET', '/api/v1/me', { base: shim.url, headers: bearer(`${h}.${p}.forged`) }), 6);
    expectLimited(await request('GET', '/api/v1/me', { base: shim.url, headers: bearer(b.access_token) }), 6);
    // a's own bucket is full
    for (let i = 1; i <= 6; i++) {
      const res = await request('GET', '/api/v1/me', { base: shim.url, headers: bearer(a.access_token) });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.id, a.user.id);
      assert.equal(rateHeaders(res).remaining, 6 - i);
    }
    expectLimited(await request('GET', '/api/v1/me', { base: shim.url, headers: bearer(a.access_token) }), 6);
  });
});

describe('login and register per address', () => {
  let shim;
  before(async () => {
    shim = await startShim({ RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_LIMIT: '100', AUTH_RATE_LIMIT_LIMIT: '3' });
  });
  after(async () => { await shim?.stop(); });

  test('AUTH_RATE_LIMIT_LIMIT attempts, then 429 for login and register alike; other routes go on', async () => {
    for (let i = 1; i <= 3; i++) {
      const res = await request('POST', '/api/v1/auth/login', {
        base: shim.url, body: { email: `nobody-${unique()}@example.com`, password: 'wrong password here' },
      });
      expectError(res, 401, 'invalid_credentials');
      assert.equal(rateHeaders(res).limit, 3);
      assert.equal(rateHeaders(res).remaining, 3 - i);
    }
    expectLimited(await request('POST', '/api/v1/auth/login', {
      base: shim.url, body: { email: 'someone@example.com', password: 'wrong password here' },
    }), 3);
    expectLimited(await request('POST', '/api/v1/auth/register', {
      base: shim.url, body: { email: `rl-${unique()}@example.com`, password: `long secret ${unique()}`, name: 'X' },
    }), 3);
    const other = await request('GET', '/api/v1/spaces?limit=1', { base: shim.url });
    assert.equal(other.status, 200);
    assert.equal(rateHeaders(other).limit, 100);
  });
});

describe('buckets are shared by the threads of a process', () => {
  test('20 requests on 20 connections to a 2-thread shim with a limit of 10: exactly 10 pass', async () => {
    const shim = await startShim({ RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_LIMIT: '10', SHIM_THREADS: '2' });
    try {
      const results = await Promise.all(Array.from({ length: 20 }, () => request('GET', '/api/v1/spaces?limit=1', { base: shim.url })));
      const statuses = results.map((r) => r.status).sort();
      assert.equal(statuses.filter((s) => s === 200).length, 10, statuses.join(','));
      assert.equal(statuses.filter((s) => s === 429).length, 10, statuses.join(','));
    } finally {
      await shim.stop();
    }
  });

  test('RATE_LIMIT_ENABLED=false: no headers, no 429', async () => {
    const shim = await startShim({ RATE_LIMIT_ENABLED: 'false', RATE_LIMIT_LIMIT: '1' });
    try {
      for (let i = 0; i < 3; i++) {
        const res = await request('GET', '/api/v1/spaces?limit=1', { base: shim.url });
        assert.equal(res.status, 200);
        assert.equal(res.headers['ratelimit-limit'], undefined);
      }
    } finally {
      await shim.stop();
    }
  });
});
