// Identity end to end: register, login, me, refresh rotation (grace, reuse), logout, roles,
// and hostile access tokens. node:crypto is the independent JWT implementation: it
// verifies the tokens the server signs and signs the tokens the server must accept or refuse.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { before, describe, test } from 'node:test';
import { expectError, lit, psql, request } from './lib/client.mjs';

// The signing key, seeded the way the front end seeds JWT_SECRET.
const SECRET = crypto.randomBytes(36).toString('base64url');
let KID;

const b64 = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
const decode = (part) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));

function signHS(header, claims, key = SECRET) {
  const input = `${b64(header)}.${b64(claims)}`;
  return `${input}.${crypto.createHmac('sha256', key).update(input).digest('base64url')}`;
}

function verifyHS(token, key = SECRET) {
  const [h, p, s] = token.split('.');
  const mac = crypto.createHmac('sha256', key).update(`${h}.${p}`).digest();
  return crypto.timingSafeEqual(mac, Buffer.from(s, 'base64url'));
}

const unique = () => `${Date.now().toString(36)}${crypto.randomBytes(4).toString('hex')}`;
const post = (path, body, headers = {}) => request('POST', path, { body, headers });
const bearer = (token) => ({ authorization: `Bearer ${token}` });

async function register(role) {
  const email = `user-${unique()}@example.com`;
  const password = `long secret ${unique()}`;
  const res = await post('/api/v1/auth/register', { email, password, name: 'E2E User', ...(role ? { role } : {}) });
  assert.equal(res.status, 201, res.text);
  return { email, password, ...res.json };
}

function expectInvalidToken(res) {
  expectError(res, 401, 'unauthorized');
  assert.equal(res.headers['www-authenticate'], 'Bearer error="invalid_token"');
}

before(() => {
  KID = psql(`SELECT workon.seed_jwt_key(${lit(SECRET)});`);
  assert.match(KID, /^seed-[0-9a-f]{20}$/);
});

describe('register, me, login', () => {
  test('register answers 201 with the user and a token pair any JWT library verifies', async () => {
    const r = await register();
    assert.deepEqual(Object.keys(r).filter((k) => !['email', 'password'].includes(k)).sort(),
      ['access_token', 'expires_in', 'refresh_token', 'token_type', 'user']);
    assert.equal(r.token_type, 'Bearer');
    assert.equal(r.expires_in, 900);
    assert.equal(r.user.email, r.email);
    assert.equal(r.user.role, 'member');
    assert.match(r.refresh_token, /^[A-Za-z0-9_-]{43}$/);
    const [h, p] = r.access_token.split('.');
    assert.deepEqual(decode(h), { alg: 'HS256', typ: 'JWT', kid: KID });
    assert.ok(verifyHS(r.access_token), 'node:crypto does not verify the signature');
    const claims = decode(p);
    assert.equal(claims.sub, r.user.id);
    assert.equal(claims.role, 'member');
    assert.equal(claims.iss, 'workon');
    assert.equal(claims.aud, 'workon-api');
    assert.equal(claims.exp - claims.iat, 900);
    assert.ok(Math.abs(claims.iat - Date.now() / 1000) < 30);
    assert.match(claims.jti, /^[0-9a-f-]{36}$/);

    const me = await request('GET', '/api/v1/me', { headers: bearer(r.access_token) });
    assert.equal(me.status, 200, me.text);
    assert.deepEqual(me.json, r.user);
  });

  test('host may register, admin may not; duplicates and weak input are refused', async () => {
    const h = await register('host');
    assert.equal(h.user.role, 'host');
    let res = await post('/api/v1/auth/register', { email: `x-${unique()}@example.com`, password: 'long enough pw', name: 'X', role: 'admin' });
    assert.equal(expectError(res, 400, 'validation_failed').details.field, 'role');
    res = await post('/api/v1/auth/register', { email: h.email.toUpperCase(), password: 'long enough pw', name: 'X' });
    expectError(res, 409, 'email_taken');
    res = await post('/api/v1/auth/register', { email: `x-${unique()}@example.com`, password: 'password1', name: 'X' });
    assert.equal(expectError(res, 400, 'validation_failed').details.field, 'password');
    res = await post('/api/v1/auth/register', { email: 'not an email', password: 'long enough pw', name: 'X' });
    assert.equal(expectError(res, 400, 'validation_failed').details.field, 'email');
  });

  test('no look-alike of an account: an address with an invisible or bidirectional character is 400', async () => {
    const h = await register();
    const [local, domain] = h.email.split('@');
    for (const c of ['\u200b', '\u200d', '\u202e', '\u2066', '\ufeff', '\u2060', '\u00ad', '\u0085']) {
      for (const email of [`${local}${c}@${domain}`, `${c}${h.email}`, `${local}@${domain}${c}`]) {
        const res = await post('/api/v1/auth/register', { email, password: 'long enough pw', name: 'Look' });
        assert.equal(expectError(res, 400, 'validation_failed').details.field, 'email', JSON.stringify(email));
      }
    }
    const forgot = await post('/api/v1/auth/password/forgot', { email: `${local}\u200b@${domain}` });
    assert.equal(expectError(forgot, 400, 'validation_failed').details.field, 'email');
    assert.equal(Number(psql(`SELECT count(*) FROM workon.users WHERE name = 'Look'`)), 0);
  });

  test('a password that is not a JSON string is 400, never its JSON text stored', async () => {
    const email = `num-${unique()}@example.com`;
    for (const password of [123456789012, { p: 'long enough pw' }, ['long enough pw'], true]) {
      const res = await post('/api/v1/auth/register', { email, password, name: 'Num' });
      assert.equal(expectError(res, 400, 'validation_failed').details.field, 'password', JSON.stringify(password));
    }
    assert.equal(Number(psql(`SELECT count(*) FROM workon.users WHERE email = ${lit(email)}`)), 0);
    const r = await register();
    let res = await post('/api/v1/auth/login', { email: r.email, password: 123456789012 });
    assert.equal(expectError(res, 400, 'validation_failed').details.field, 'password');
    res = await post('/api/v1/auth/password/reset', { token: 'x'.repeat(43), password: { p: 1 } });
    assert.equal(expectError(res, 400, 'validation_failed').details.field, 'password');
    res = await post('/api/v1/me/password', { current_password: r.password, password: 123456789012 }, bearer(r.access_token));
    assert.equal(expectError(res, 400, 'validation_failed').details.field, 'password');
    res = await post('/api/v1/me/password', { current_password: [r.password], password: 'another long one' }, bearer(r.access_token));
    assert.equal(expectError(res, 400, 'validation_failed').details.field, 'current_password');
    const ok = await post('/api/v1/auth/login', { email: r.email, password: r.password });
    assert.equal(ok.status, 200, 'the password did not change');
  });

  test('login: unknown email and wrong password get the same answer', async () => {
    const r = await register();
    const ok = await post('/api/v1/auth/login', { email: r.email.toUpperCase(), password: r.password });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.json.user.id, r.user.id);
    const wrong = await post('/api/v1/auth/login', { email: r.email, password: `${r.password}x` });
    const unknown = await post('/api/v1/auth/login', { email: `nobody-${unique()}@example.com`, password: r.password });
    const e1 = expectError(wrong, 401, 'invalid_credentials');
    const e2 = expectError(unknown, 401, 'invalid_credentials');
    assert.deepEqual(e1, e2);
    assert.equal(wrong.headers['www-authenticate'], unknown.headers['www-authenticate']);
  });
});

describe('refresh tokens', () => {
  test('rotation, two refreshes at once, reuse after the grace period revokes the family', async () => {
    const r = await register();
    const first = await post('/api/v1/auth/refresh', { refresh_token: r.refresh_token });
    assert.equal(first.status, 200, first.text);
    assert.notEqual(first.json.refresh_token, r.refresh_token);
    assert.ok(verifyHS(first.json.access_token));

    // two tabs refreshing the same token at once: both get a valid pair
    const [a, b] = await Promise.all([
      post('/api/v1/auth/refresh', { refresh_token: first.json.refresh_token }),
      post('/api/v1/auth/refresh', { refresh_token: first.json.refresh_token }),
    ]);
    assert.equal(a.status, 200, a.text);
    assert.equal(b.status, 200, b.text);
    assert.notEqual(a.json.refresh_token, b.json.refresh_token);

    // the rotation is older than the grace period: replaying is reuse
    psql(`UPDATE workon.refresh_tokens SET used_at = used_at - interval '1 minute'
           WHERE token_hash = workon.refresh_token_hash(${lit(r.refresh_token)});`);
    const reused = await post('/api/v1/auth/refresh', { refresh_token: r.refresh_token });
    expectError(reused, 401, 'token_reused');
    for (const t of [a.json.refresh_token, b.json.refresh_token]) {
      expectError(await post('/api/v1/auth/refresh', { refresh_token: t }), 401, 'invalid_refresh_token');
    }
    // access tokens already out stay valid until they expire
    assert.equal((await request('GET', '/api/v1/me', { headers: bearer(a.json.access_token) })).status, 200);
  });

  test('logout: 204 without a bearer token, then the refresh token is dead', async () => {
    const r = await register();
    const out = await post('/api/v1/auth/logout', { refresh_token: r.refresh_token });
    assert.equal(out.status, 204, out.text);
    assert.equal(out.text, '');
    expectError(await post('/api/v1/auth/logout', { refresh_token: r.refresh_token }), 401, 'invalid_refresh_token');
    expectError(await post('/api/v1/auth/refresh', { refresh_token: r.refresh_token }), 401, 'invalid_refresh_token');
    expectError(await post('/api/v1/auth/logout', { refresh_token: 'unknown' }), 401, 'invalid_refresh_token');
  });
});

describe('hostile access tokens', () => {
  test('every forged or broken token is 401 with WWW-Authenticate invalid_token', async () => {
    const r = await register();
    const now = Math.floor(Date.now() / 1000);
    const good = { sub: r.user.id, role: 'member', iss: 'workon', aud: 'workon-api', iat: now, exp: now + 600 };
    const header = { alg: 'HS256', typ: 'JWT', kid: KID };
    // control: a token node signs with the key is accepted
    const control = await request('GET', '/api/v1/me', { headers: bearer(signHS(header, good)) });
    assert.equal(control.status, 200, control.text);

    const [h, p, s] = r.access_token.split('.');
    const cases = {
      'alg none': `${b64({ alg: 'none', kid: KID })}.${b64(good)}.`,
      'role escalated, re-signed with another key': signHS(header, { ...good, role: 'admin' }, 'x'.repeat(48)),
      'payload tampered': `${h}.${b64({ ...decode(p), role: 'admin' })}.${s}`,
      'signature tampered': `${h}.${p}.${s[0] === 'A' ? 'B' : 'A'}${s.slice(1)}`,
      expired: signHS(header, { ...good, iat: now - 4000, exp: now - 3000 }),
      'not yet valid': signHS(header, { ...good, nbf: now + 3000 }),
      'wrong audience': signHS(header, { ...good, aud: 'someone-else' }),
      'wrong issuer': signHS(header, { ...good, iss: 'evil' }),
      'no exp': signHS(header, { ...good, exp: undefined }),
      'unknown kid': signHS({ ...header, kid: 'nope' }, good),
      'HS384': signHS({ ...header, alg: 'HS384' }, good),
      garbage: 'not.a.token',
      huge: signHS(header, { ...good, pad: 'x'.repeat(9000) }),
    };
    for (const [name, token] of Object.entries(cases)) {
      const res = await request('GET', '/api/v1/me', { headers: bearer(token) });
      assert.equal(res.status, 401, `${name}: ${res.status} ${res.text}`);
      expectInvalidToken(res);
    }
    // a token that is sent must be valid on public routes too
    expectInvalidToken(await request('GET', '/api/v1/spaces', { headers: bearer(cases.expired) }));
  });

  test('ES256: the server signs with a rotated P-256 key, node verifies with its public key', async () => {
    const kid = psql("SELECT workon.rotate_jwt_key('ES256');");
    try {
      const r = await register();
      const [h, p, s] = r.access_token.split('.');
      assert.deepEqual(decode(h), { alg: 'ES256', typ: 'JWT', kid });
      const pem = psql(`SELECT public_key FROM workon.jwt_public_keys() WHERE kid = ${lit(kid)};`);
      const ok = crypto.verify('sha256', Buffer.from(`${h}.${p}`), { key: pem, dsaEncoding: 'ieee-p1363' },
        Buffer.from(s, 'base64url'));
      assert.ok(ok, 'node:crypto does not verify the ES256 signature');
      // the public key used as an HMAC secret (algorithm confusion) is refused
      const forged = signHS({ alg: 'HS256', typ: 'JWT', kid }, decode(p), pem);
      expectInvalidToken(await request('GET', '/api/v1/me', { headers: bearer(forged) }));
    } finally {
      psql(`SELECT workon.retire_jwt_key(${lit(kid)}); SELECT workon.seed_jwt_key(${lit(SECRET)});`);
    }
  });
});

describe('roles and row-level security', () => {
  test('a member sees only themself; only admins change roles, audited', async () => {
    const m1 = await register();
    const m2 = await register();
    const me = await request('GET', '/api/v1/me', { headers: bearer(m1.access_token) });
    assert.equal(me.json.id, m1.user.id);

    // a member cannot change roles, not even their own
    const denied = await request('PATCH', `/api/v1/admin/users/${m1.user.id}`,
      { body: { role: 'admin' }, headers: bearer(m1.access_token) });
    expectError(denied, 403, 'forbidden');
    const anon = await request('PATCH', `/api/v1/admin/users/${m1.user.id}`, { body: { role: 'admin' } });
    expectError(anon, 401, 'unauthorized');

    const adminEmail = `admin-${unique()}@example.com`;
    psql(`SELECT workon.create_user(${lit(adminEmail)}, 'admin password long', 'Admin', 'admin');`);
    const admin = await post('/api/v1/auth/login', { email: adminEmail, password: 'admin password long' });
    assert.equal(admin.status, 200, admin.text);
    const changed = await request('PATCH', `/api/v1/admin/users/${m2.user.id}`,
      { body: { role: 'host' }, headers: bearer(admin.json.access_token) });
    assert.equal(changed.status, 200, changed.text);
    assert.equal(changed.json.role, 'host');
    const audit = psql(`SELECT actor_id || ' ' || (before->>'role') || ' ' || (after->>'role')
                          FROM workon.audit_log WHERE entity = 'users' AND entity_id = ${lit(m2.user.id)}
                           AND action = 'update' ORDER BY id DESC LIMIT 1;`);
    assert.equal(audit, `${admin.json.user.id} member host`);
    // the next refresh carries the new role
    const refreshed = await post('/api/v1/auth/refresh', { refresh_token: m2.refresh_token });
    assert.equal(decode(refreshed.json.access_token.split('.')[1]).role, 'host');
  });
});
