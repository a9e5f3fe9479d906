// Rate limits: fixed windows per client, the user when the shim can vouch for its token
// (signature checked with the extension's keys, claims valid), else the address; login and
// register also per address; 429 rate_limited with Retry-After and RateLimit-*; probes,
// metrics, docs and the Stripe webhooks exempt; one set of buckets for all threads of a process.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { expectError, lit, psql, request, sleep, startShim, waitFor } from './lib/client.mjs';

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

// users are made through the suite's main shim (no rate limits), so that the shims under
// test see nothing but the requests a test makes
async function register() {
  const email = `rl-${unique()}@example.com`;
  const password = `long secret ${unique()}`;
  const res = await request('POST', '/api/v1/auth/register', { body: { email, password, name: 'Rate Limited' } });
  assert.equal(res.status, 201, res.text);
  return { email, password, ...res.json };
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

const b64 = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
const decode = (part) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
function signHS(header, claims, key) {
  const input = `${b64(header)}.${b64(claims)}`;
  return `${input}.${crypto.createHmac('sha256', key).update(input).digest('base64url')}`;
}

// spends the budget of an address (127.0.0.x) on a shim: the next anonymous request is 429
async function spend(base, limit, localAddress = '127.0.0.1') {
  for (let i = 0; i < limit; i++) await request('GET', '/api/v1/spaces?limit=1', { base, localAddress });
  expectLimited(await request('GET', '/api/v1/spaces?limit=1', { base, localAddress }), limit);
}

describe('users and addresses', () => {
  let shim;
  before(async () => {
    shim = await startShim({ RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_LIMIT: '6', RATE_LIMIT_TTL: '60', AUTH_RATE_LIMIT_LIMIT: '50' });
  });
  after(async () => { await shim?.stop(); });

  test('a valid token has its user\'s budget from its first request, even from a spent address', async () => {
    const a = await register();
    const b = await register();
    await spend(shim.url, 6);
    // a's token, never seen by this shim: 200 at once, counted against a
    for (let i = 1; i <= 6; i++) {
      const res = await request('GET', '/api/v1/me', { base: shim.url, headers: bearer(a.access_token) });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.id, a.user.id);
      assert.equal(res.headers['x-workon-user'], undefined, 'the internal header never reaches the client');
      const h = rateHeaders(res);
      assert.equal(h.limit, 6);
      assert.equal(h.remaining, 6 - i);
    }
    expectLimited(await request('GET', '/api/v1/me', { base: shim.url, headers: bearer(a.access_token) }), 6);
    // b has a budget of its own, public routes with a token count against the user too
    const other = await request('GET', '/api/v1/spaces?limit=1', { base: shim.url, headers: bearer(b.access_token) });
    assert.equal(other.status, 200, other.text);
    assert.equal(rateHeaders(other).remaining, 5);
    // the address is still spent
    expectLimited(await request('GET', '/api/v1/spaces?limit=1', { base: shim.url }), 6);
  });

  test('tokens the shim cannot vouch for count against the spent address: 429, never the database', async () => {
    const a = await register();
    const [h, p, s] = a.access_token.split('.');
    const header = decode(h);
    const claims = decode(p);
    const now = Math.floor(Date.now() / 1000);
    // a key of the test's own, seeded like JWT_SECRET: the tokens below are signed with a key the database has
    const secret = crypto.randomBytes(36).toString('base64url');
    const kid = psql(`SELECT workon.seed_jwt_key(${lit(secret)});`);
    const good = { ...claims, iat: now, exp: now + 600 };
    const real = { ...header, kid };
    await spend(shim.url, 6);
    // control: the test's key signs a token the shim accepts (it may take the NOTIFY a moment)
    await waitFor(async () => (await request('GET', '/api/v1/me', { base: shim.url, headers: bearer(signHS(real, good, secret)) })).status === 200);
    const cases = {
      'signature tampered': `${h}.${p}.${s[0] === 'A' ? 'B' : 'A'}${s.slice(1)}`,
      'payload tampered': `${h}.${b64({ ...claims, sub: crypto.randomUUID() })}.${s}`,
      'signature of another key': signHS(header, claims, 'x'.repeat(48)),
      'unknown kid': signHS({ ...real, kid: 'no-such-key' }, good, secret),
      expired: signHS(real, { ...good, iat: now - 4000, exp: now - 3000 }, secret),
      'not yet valid': signHS(real, { ...good, nbf: now + 3000 }, secret),
      'issued in the future': signHS(real, { ...good, iat: now + 3000 }, secret),
      'no exp': signHS(real, { ...good, exp: undefined }, secret),
      'wrong audience': signHS(real, { ...good, aud: 'someone-else' }, secret),
      'wrong issuer': signHS(real, { ...good, iss: 'evil' }, secret),
      'subject not a uuid': signHS(real, { ...good, sub: 'admin' }, secret),
      'alg none': `${b64({ alg: 'none', kid })}.${b64(good)}.`,
      'HS384 header': signHS({ ...real, alg: 'HS384' }, good, secret),
      'ES256 header on an HS256 key': signHS({ ...real, alg: 'ES256' }, good, secret),
      garbage: 'not.a.token',
      'not base64': `${h}.${p}.${'*'.repeat(43)}`,
      empty: '',
      huge: signHS(real, { ...good, pad: 'x'.repeat(9000) }, secret),
    };
    try {
      for (const [name, token] of Object.entries(cases)) {
        const res = await request('GET', '/api/v1/me', { base: shim.url, headers: bearer(token) });
        assert.equal(res.status, 429, `${name}: ${res.status} ${res.text}`);
        expectLimited(res, 6);
      }
    } finally {
      psql(`SELECT workon.retire_jwt_key(${lit(kid)});`);
    }
  });

  test('a user\'s budget is one across addresses', async () => {
    const a = await register();
    await spend(shim.url, 6, '127.0.0.1');
    await spend(shim.url, 6, '127.0.0.2');
    let used = 0;
    for (const localAddress of ['127.0.0.1', '127.0.0.2', '127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.2']) {
      const res = await request('GET', '/api/v1/me', { base: shim.url, localAddress, headers: bearer(a.access_token) });
      assert.equal(res.status, 200, `${localAddress}: ${res.text}`);
      used += 1;
      assert.equal(rateHeaders(res).remaining, 6 - used, localAddress);
    }
    for (const localAddress of ['127.0.0.1', '127.0.0.2', '127.0.0.4']) {
      expectLimited(await request('GET', '/api/v1/me', { base: shim.url, localAddress, headers: bearer(a.access_token) }), 6);
    }
    // the addresses are their own: 127.0.0.4 still has its budget without the token
    const fresh = await request('GET', '/api/v1/spaces?limit=1', { base: shim.url, localAddress: '127.0.0.4' });
    assert.equal(fresh.status, 200);
    assert.equal(rateHeaders(fresh).remaining, 5);
  });
});

describe('the shim follows the extension\'s keys', () => {
  let shim;
  before(async () => {
    shim = await startShim({ RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_LIMIT: '100', RATE_LIMIT_TTL: '60', SHIM_THREADS: '2' });
  });
  after(async () => { await shim?.stop(); });

  test('a token of a key added while the shim runs is its user\'s; once the key is retired, the address\'s', async () => {
    const user = await register();
    // a budget that the polls below, made while the shim has not reloaded yet, cannot spend
    await spend(shim.url, 100);
    const kids = [];
    try {
      // an HS256 key seeded after the shim started, and a token signed with it
      const secret = crypto.randomBytes(36).toString('base64url');
      const kid = psql(`SELECT workon.seed_jwt_key(${lit(secret)});`);
      kids.push(kid);
      const [h, p] = user.access_token.split('.');
      const now = Math.floor(Date.now() / 1000);
      const token = signHS({ ...decode(h), kid }, { ...decode(p), iat: now, exp: now + 600 }, secret);
      const me = async (t) => request('GET', '/api/v1/me', { base: shim.url, headers: bearer(t) });
      let first;
      await waitFor(async () => (first = await me(token)).status === 200, 3000);
      assert.equal(first.json.id, user.user.id);
      // an ES256 key rotated in: the database signs the next login's token with it
      const es = psql("SELECT workon.rotate_jwt_key('ES256');");
      kids.push(es);
      const login = await request('POST', '/api/v1/auth/login', { body: { email: user.email, password: user.password } });
      assert.equal(login.status, 200, login.text);
      assert.equal(decode(login.json.access_token.split('.')[0]).kid, es);
      let second;
      await waitFor(async () => (second = await me(login.json.access_token)).status === 200, 3000);
      assert.equal(second.json.id, user.user.id);
      assert.ok(rateHeaders(second).remaining < rateHeaders(first).remaining, 'one budget for the user\'s two tokens');
      // retired: the shim forgets the key (and what it verified with it), the token is the address's again
      psql(`SELECT workon.retire_jwt_key(${lit(es)});`);
      await waitFor(async () => (await me(login.json.access_token)).status === 429, 3000);
      expectLimited(await me(login.json.access_token), 100);
      // the HS256 key's token still has its user's budget left
      const last = await me(token);
      assert.equal(last.status, 200, last.text);
      assert.equal(last.json.id, user.user.id);
    } finally {
      for (const kid of kids) psql(`SELECT workon.retire_jwt_key(${lit(kid)});`);
    }
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
