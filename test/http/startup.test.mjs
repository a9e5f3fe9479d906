// What the shim hands the database at start: JWT_SECRET seeds the signing key,
// JWT_REFRESH_SECRET the refresh-token key, ADMIN_EMAIL/ADMIN_PASSWORD the first admin, and
// JWT_ISSUER/JWT_AUDIENCE/JWT_ACCESS_TTL reach the token claims. node:crypto verifies the
// tokens with the secret the shim was given; the shim's own output never shows a secret.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { addRoutes, expectError, lit, psql, removeRoutes, request, sleep, startShim, waitFor } from './lib/client.mjs';

const unique = () => `${Date.now().toString(36)}${crypto.randomBytes(4).toString('hex')}`;
const decode = (part) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));

function verifyHS(token, key) {
  const [h, p, s] = token.split('.');
  const mac = crypto.createHmac('sha256', key).update(`${h}.${p}`).digest();
  const sig = Buffer.from(s, 'base64url');
  return sig.length === mac.length && crypto.timingSafeEqual(mac, sig);
}

async function loginUntil(base, email, password, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  let res;
  while (Date.now() < deadline) {
    res = await request('POST', '/api/v1/auth/login', { base, body: { email, password } });
    if (res.status === 200) return res;
    await sleep(200);
  }
  return res;
}

describe('start-up seeding from the environment', () => {
  const secret = crypto.randomBytes(36).toString('base64url');
  const refreshSecret = crypto.randomBytes(36).toString('base64url');
  const email = `admin-${unique()}@example.com`;
  const password = `first admin ${unique()}`;
  let shim;

  before(async () => {
    shim = await startShim({
      JWT_SECRET: secret,
      JWT_REFRESH_SECRET: refreshSecret,
      ADMIN_EMAIL: email,
      ADMIN_PASSWORD: password,
      JWT_ISSUER: 'workon e2e',
      JWT_AUDIENCE: 'workon-e2e-api',
      JWT_ACCESS_TTL: '120',
      BOOKING_HOLD_MINUTES: '7',
    });
    await addRoutes(`CREATE FUNCTION workon.test_settings() RETURNS json LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN json_build_object('issuer', current_setting('workon.jwt_issuer'),
                           'audience', current_setting('workon.jwt_audience'),
                           'hold', current_setting('workon.booking_hold_minutes'));
END $$;
GRANT EXECUTE ON FUNCTION workon.test_settings() TO workon_anon;`,
    [{ method: 'GET', path: '/api/v1/test/settings', handler: 'workon.test_settings()' }], { bases: [shim.url] });
  });
  after(async () => {
    await removeRoutes('/api/v1/test/settings', 'DROP FUNCTION IF EXISTS workon.test_settings();', { bases: [] });
    await shim?.stop();
  });

  test('settings from the environment are the database settings of every connection', async () => {
    // a thread that has not loaded its routes yet answers 503 for a moment after start
    for (let i = 0; i < 8; i++) {
      let res;
      await waitFor(async () => {
        res = await request('GET', '/api/v1/test/settings', { base: shim.url });
        return res.status !== 503;
      }, 5000);
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.json, { issuer: 'workon e2e', audience: 'workon-e2e-api', hold: '7min' });
    }
  });

  test('ADMIN_EMAIL/ADMIN_PASSWORD create the first admin, who logs in', async () => {
    const res = await loginUntil(shim.url, email, password);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.user.role, 'admin');
    assert.equal(psql(`SELECT role FROM workon.users WHERE lower(email) = lower(${lit(email)})`), 'admin');
  });

  test('tokens are signed with the key seeded from JWT_SECRET and carry the configured claims', async () => {
    const res = await loginUntil(shim.url, email, password);
    assert.equal(res.status, 200, res.text);
    const token = res.json.access_token;
    assert.ok(verifyHS(token, secret), 'the access token verifies with JWT_SECRET');
    assert.ok(!verifyHS(token, refreshSecret), 'and not with another key');
    const [h, p] = token.split('.');
    const header = decode(h);
    const claims = decode(p);
    assert.equal(header.alg, 'HS256');
    const kid = psql(`SELECT kid FROM workon.jwt_keys WHERE kid = ${lit(header.kid)}`);
    assert.equal(kid, header.kid, 'the kid names a key in workon.jwt_keys');
    assert.ok(!header.kid.includes(secret.slice(0, 8)), 'the kid does not show the secret');
    assert.equal(claims.iss, 'workon e2e');
    assert.equal(claims.aud, 'workon-e2e-api');
    assert.equal(claims.exp - claims.iat, 120);
    assert.equal(res.json.expires_in, 120);
    const me = await request('GET', '/api/v1/me', { base: shim.url, headers: { authorization: `Bearer ${token}` } });
    assert.equal(me.status, 200, me.text);
    assert.equal(me.json.email.toLowerCase(), email.toLowerCase());
  });

  test('a second start never changes an existing admin, and a weak password is refused without stopping the shim', async () => {
    const again = await startShim({ ADMIN_EMAIL: email, ADMIN_PASSWORD: `another one ${unique()}` });
    const weakEmail = `weak-${unique()}@example.com`;
    const weak = await startShim({ ADMIN_EMAIL: weakEmail, ADMIN_PASSWORD: 'password' });
    try {
      await sleep(1500);
      const old = await loginUntil(again.url, email, password);
      assert.equal(old.status, 200, 'the original password still works');
      assert.equal(psql(`SELECT count(*) FROM workon.users WHERE lower(email) = lower(${lit(weakEmail)})`), '0');
      assert.match(weak.output(), /start-up seeding failed/);
      const health = await request('GET', '/healthz', { base: weak.url });
      assert.equal(health.status, 200);
      const refused = await request('POST', '/api/v1/auth/login', { base: weak.url, body: { email: weakEmail, password: 'password' } });
      expectError(refused, 401, 'invalid_credentials');
    } finally {
      await again.stop();
      await weak.stop();
    }
  });

  test('the shim never prints a secret or a password', async () => {
    const out = shim.output();
    for (const s of [secret, refreshSecret, password]) {
      assert.ok(!out.includes(s), 'a secret appeared in the shim output');
    }
  });
});
