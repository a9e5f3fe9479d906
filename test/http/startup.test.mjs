// What the shim hands the database at start: JWT_SECRET seeds the signing key,
// JWT_REFRESH_SECRET the refresh-token key, ADMIN_EMAIL/ADMIN_PASSWORD the first admin, and
// JWT_ISSUER/JWT_AUDIENCE/JWT_ACCESS_TTL reach the token claims. node:crypto verifies the
// tokens with the secret the shim was given; the shim's own output never shows a secret.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ROOT, addRoutes, expectError, lit, psql, removeRoutes, request, sleep, startShim, waitFor } from './lib/client.mjs';

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

// Runs the shim with exactly this environment (plus PATH and DATABASE_URL unless given)
// and resolves {code, stdout, stderr} once it exits; a shim that keeps running fails.
function runShimOnce(env, timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.env.WORKON_SHIM_BIN, [], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', DATABASE_URL: process.env.WORKON_DATABASE_URL,
        HOST: '127.0.0.1', PORT: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`the shim kept running: ${stderr}`)); }, timeoutMs);
    child.once('exit', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

describe('start-up refusals: one line naming the variable, exit status 2', () => {
  const good = 'x'.repeat(40);
  const secrets = { JWT_SECRET: good, JWT_REFRESH_SECRET: good, SIGNED_URL_SECRET: good };
  const cases = [
    ['staging without JWT_SECRET', { NODE_ENV: 'staging', ...secrets, JWT_SECRET: '' }, 'JWT_SECRET is required'],
    ['production without SIGNED_URL_SECRET',
      { NODE_ENV: 'production', JWT_SECRET: good, JWT_REFRESH_SECRET: good }, 'SIGNED_URL_SECRET is required'],
    ['staging without JWT_REFRESH_SECRET', { NODE_ENV: 'staging', JWT_SECRET: good, SIGNED_URL_SECRET: good },
      'JWT_REFRESH_SECRET is required'],
    ['a short JWT_SECRET', { NODE_ENV: 'staging', ...secrets, JWT_SECRET: 'short-secret-31-characters-long' },
      'JWT_SECRET must be at least 32 characters'],
    ['a short SIGNED_URL_SECRET', { NODE_ENV: 'production', ...secrets, SIGNED_URL_SECRET: 'tiny-upload-key' },
      'SIGNED_URL_SECRET must be at least 32 characters'],
    ['a live secret key outside production', { STRIPE_SECRET_KEY: 'sk_live_not_a_real_key_0123456789' },
      /^STRIPE_SECRET_KEY is a live key/],
    ['a live publishable key in staging', { NODE_ENV: 'staging', ...secrets, STRIPE_PUBLISHABLE_KEY: 'pk_live_not_a_real_key_0123' },
      /^STRIPE_PUBLISHABLE_KEY is a live key/],
    ['a test secret key in production', { NODE_ENV: 'production', ...secrets, STRIPE_SECRET_KEY: 'sk_test_not_a_real_key_0123456789' },
      /^STRIPE_SECRET_KEY is a test key/],
    ['a test publishable key in production',
      { NODE_ENV: 'production', ...secrets, STRIPE_PUBLISHABLE_KEY: 'pk_test_not_a_real_key_0123' },
      /^STRIPE_PUBLISHABLE_KEY is a test key/],
    ['production without EMAIL_FROM', { NODE_ENV: 'production', ...secrets, RESEND_API_KEY: 're_not_a_real_key_0123456789' },
      'EMAIL_FROM is required with NODE_ENV=production'],
    ['production with EMAIL_TRANSPORT=capture', { NODE_ENV: 'production', ...secrets, EMAIL_TRANSPORT: 'capture' },
      /^EMAIL_TRANSPORT=capture is refused with NODE_ENV=production/],
    ['production without RESEND_API_KEY', { NODE_ENV: 'production', ...secrets, EMAIL_FROM: 'bookings@workon.example' },
      'RESEND_API_KEY is required with EMAIL_TRANSPORT=resend and NODE_ENV=production'],
    ['an unknown EMAIL_TRANSPORT', { EMAIL_TRANSPORT: 'smtp' }, /^EMAIL_TRANSPORT must be one of resend, capture, off/],
    ['EMAIL_FROM without an address', { EMAIL_FROM: 'workon' }, /^EMAIL_FROM must be an address/],
    ['DEFAULT_LOCALE de', { DEFAULT_LOCALE: 'de' }, 'DEFAULT_LOCALE must be fr or en'],
    ['RESEND_API_BASE that is not a URL', { RESEND_API_BASE: 'api.resend.com' }, /^RESEND_API_BASE must be an http/],
    ['an unknown NODE_ENV', { NODE_ENV: 'prod' }, /^NODE_ENV must be one of/],
    ['PORT that is not a number', { PORT: '80a' }, /^PORT must be a number/],
    ['RATE_LIMIT_TTL of 0', { RATE_LIMIT_TTL: '0' }, /^RATE_LIMIT_TTL must be a number/],
    ['RATE_LIMIT_LIMIT negative', { RATE_LIMIT_LIMIT: '-5' }, /^RATE_LIMIT_LIMIT must be a number/],
    ['AUTH_RATE_LIMIT_LIMIT not a number', { AUTH_RATE_LIMIT_LIMIT: 'ten' }, /^AUTH_RATE_LIMIT_LIMIT must be a number/],
    ['RATE_LIMIT_ENABLED not a boolean', { RATE_LIMIT_ENABLED: 'maybe' }, /^RATE_LIMIT_ENABLED must be true or false/],
    ['SHIM_SCHED_BATCH not a boolean', { SHIM_SCHED_BATCH: 'batch' }, /^SHIM_SCHED_BATCH must be true or false/],
    ['ENABLE_SWAGGER_PROD not a boolean', { ENABLE_SWAGGER_PROD: 'yes please' }, /^ENABLE_SWAGGER_PROD must be true or false/],
    ['UPLOAD_MAX_BYTES with a unit', { UPLOAD_MAX_BYTES: '10MB' }, /^UPLOAD_MAX_BYTES must be a number/],
    ['MAX_BODY_BYTES too large', { MAX_BODY_BYTES: '99999999999' }, /^MAX_BODY_BYTES must be a number/],
    ['MAX_INFLIGHT of 0', { MAX_INFLIGHT: '0' }, /^MAX_INFLIGHT must be a number/],
    ['REQUEST_TIMEOUT_MS not a number', { REQUEST_TIMEOUT_MS: '1s' }, /^REQUEST_TIMEOUT_MS must be a number/],
    ['STRIPE_API_BASE that is not a URL', { STRIPE_API_BASE: 'localhost:12111' }, /^STRIPE_API_BASE must be an http/],
    ['STRIPE_API_BASE with a space', { STRIPE_API_BASE: 'http://127.0.0.1:1 /v1' }, /^STRIPE_API_BASE must be an http/],
    ['CORS_ORIGIN with a path', { CORS_ORIGIN: 'https://app.example.com/login' }, /^CORS_ORIGIN must be/],
    ['CORS_ORIGIN without a scheme', { CORS_ORIGIN: 'https://a.example.com, app.example.com' }, /^CORS_ORIGIN must be/],
    ['DATABASE_URL missing', { DATABASE_URL: '' }, 'DATABASE_URL is required'],
    ['DATABASE_URL that does not parse', { DATABASE_URL: 'postgresql://workon:secret-password-1234@[::1/db' },
      'DATABASE_URL is not a libpq connection URI or conninfo string'],
    ['DATABASE_URL with an unknown option', { DATABASE_URL: 'host=/tmp passwrd=secret-password-1234' },
      'DATABASE_URL is not a libpq connection URI or conninfo string'],
    ['DATABASE_DIRECT_URL that does not parse', { DATABASE_DIRECT_URL: 'host=/tmp passwrd=secret-password-1234' },
      'DATABASE_DIRECT_URL is not a libpq connection URI or conninfo string'],
    ['TRUSTED_PROXIES with a host name', { TRUSTED_PROXIES: '10.0.0.0/8, proxy.internal' }, /^TRUSTED_PROXIES must be/],
    ['TRUSTED_PROXIES with a prefix too long', { TRUSTED_PROXIES: '10.0.0.0/33' }, /^TRUSTED_PROXIES must be/],
    ['TRUSTED_PROXIES with an IPv6 prefix too long', { TRUSTED_PROXIES: 'fd00::/129' }, /^TRUSTED_PROXIES must be/],
    ['WS_SEND_QUEUE_BYTES too small', { WS_SEND_QUEUE_BYTES: '10' }, /^WS_SEND_QUEUE_BYTES must be a number/],
    ['SHIM_ENV_FILE that cannot be read', { SHIM_ENV_FILE: '/nonexistent/workon.env' }, 'SHIM_ENV_FILE cannot be read'],
  ];
  for (const [name, env, expected] of cases) {
    test(name, async () => {
      const { code, stdout, stderr } = await runShimOnce(env);
      assert.equal(code, 2, `exit status (stderr: ${stderr})`);
      assert.equal(stdout, '');
      const lines = stderr.split('\n').filter((l) => l !== '');
      assert.equal(lines.length, 1, `one line: ${stderr}`);
      if (expected instanceof RegExp) assert.match(lines[0], expected);
      else assert.equal(lines[0], expected);
      for (const [k, v] of Object.entries(env)) {
        if (/SECRET|KEY|DATABASE_URL|DATABASE_DIRECT_URL/.test(k) && v.length >= 8) assert.ok(!lines[0].includes(v), `the line shows the value of ${k}`);
      }
    });
  }

  test('development needs no secret, and test keys are fine there', async () => {
    const shim = await startShim({ STRIPE_SECRET_KEY: 'sk_test_not_a_real_key_0123456789', JWT_SECRET: '' });
    try {
      assert.equal((await request('GET', '/healthz', { base: shim.url })).status, 200);
    } finally {
      await shim.stop();
    }
  });

  test('production starts with long secrets and live keys', async () => {
    const shim = await startShim({
      NODE_ENV: 'production', ...secrets,
      STRIPE_SECRET_KEY: 'sk_live_not_a_real_key_0123456789', STRIPE_PUBLISHABLE_KEY: 'pk_live_not_a_real_key_0123',
      EMAIL_FROM: 'workon <bookings@workon.example>', RESEND_API_KEY: 're_not_a_real_key_0123456789',
    });
    try {
      assert.equal((await request('GET', '/healthz', { base: shim.url })).status, 200);
      assert.ok(!shim.output().includes('sk_live_not_a_real_key'), 'the key is never printed');
      assert.ok(!shim.output().includes('re_not_a_real_key'), 'the e-mail key is never printed');
    } finally {
      await shim.stop();
    }
  });

  test('SHIM_ENV_FILE values win over the environment, and a bad line is refused', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'workon-env-'));
    try {
      const file = path.join(dir, 'workon.env');
      fs.writeFileSync(file, '# comment\nexport RATE_LIMIT_TTL="0"\n');
      let r = await runShimOnce({ SHIM_ENV_FILE: file, RATE_LIMIT_TTL: '60' });
      assert.equal(r.code, 2);
      assert.match(r.stderr.trim(), /^RATE_LIMIT_TTL must be a number/);
      fs.writeFileSync(file, 'RATE_LIMIT_TTL 60\n');
      r = await runShimOnce({ SHIM_ENV_FILE: file });
      assert.equal(r.code, 2);
      assert.equal(r.stderr.trim(), 'SHIM_ENV_FILE line 1 is not NAME=value');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('--help lists every setting of the API contract, sorted', async () => {
    const out = execFileSync(process.env.WORKON_SHIM_BIN, ['--help'], { encoding: 'utf8' });
    const names = out.split('\n').map((l) => /^ {2}([A-Z][A-Z0-9_]+) /.exec(l)?.[1]).filter((n) => n && n !== 'NAME');
    assert.deepEqual(names, [...names].sort());
    for (const n of ['DATABASE_URL', 'PORT', 'NODE_ENV', 'JWT_SECRET', 'JWT_REFRESH_SECRET', 'SIGNED_URL_SECRET',
      'STRIPE_SECRET_KEY', 'STRIPE_WEBHOOK_SECRET', 'STRIPE_PUBLISHABLE_KEY', 'STRIPE_API_BASE', 'CORS_ORIGIN',
      'RATE_LIMIT_ENABLED', 'RATE_LIMIT_TTL', 'RATE_LIMIT_LIMIT', 'AUTH_RATE_LIMIT_LIMIT', 'ENABLE_SWAGGER_PROD',
      'LOG_LEVEL', 'JWT_ISSUER', 'JWT_AUDIENCE', 'BOOKING_HOLD_MINUTES', 'UPLOAD_MAX_BYTES', 'MAX_BODY_BYTES',
      'ADMIN_EMAIL', 'ADMIN_PASSWORD', 'JWT_ACCESS_TTL', 'JWT_REFRESH_TTL']) {
      assert.ok(names.includes(n), `${n} is in --help`);
    }
    // the README's table is the one scripts/settings-table.sh makes from it
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const table = execFileSync('bash', [path.join(ROOT, 'scripts', 'settings-table.sh'), process.env.WORKON_SHIM_BIN], { encoding: 'utf8' });
    assert.ok(table.split('\n').length > names.length);
    assert.ok(readme.includes(table.trim()), 'README.md has the settings table of --help (scripts/settings-table.sh)');
  });
});

describe('the first moments after start', () => {
  test('event-loop threads run as SCHED_BATCH, and SHIM_SCHED_BATCH=false keeps the default policy', async () => {
    // /proc/<pid>/task/<tid>/stat field 41 is the policy: 0 SCHED_OTHER, 3 SCHED_BATCH
    const policies = (pid) => fs.readdirSync(`/proc/${pid}/task`).map((tid) => {
      const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[38]);
    });
    for (const [env, workers] of [[{}, 3], [{ SHIM_SCHED_BATCH: 'false' }, 0]]) {
      const shim = await startShim({ SHIM_THREADS: '3', ...env });
      try {
        const p = policies(shim.pid);
        // the main thread (signals) keeps the default policy; the three workers take the setting
        assert.equal(p[0], 0, `main thread policy ${p[0]}`);
        assert.equal(p.filter((x) => x === workers).length >= 3, true, `thread policies ${p.join(',')} for ${JSON.stringify(env)}`);
        assert.equal((await request('GET', '/api/v1/spaces', { base: shim.url })).status, 200);
      } finally {
        await shim.stop();
      }
    }
  });

  test('API requests that come before a thread has its route table wait for it, not 503', { timeout: 60000 }, async () => {
    for (let round = 0; round < 3; round++) {
      // a first admin to create makes the first thread hash a password before it loads
      // its routes (as `make run` does): the window is wide enough to hit every time
      const shim = await startShim({
        SHIM_THREADS: '2', ADMIN_EMAIL: `early-${unique()}@example.com`, ADMIN_PASSWORD: `early-${unique()}-passphrase`,
      }, { waitForRoutes: false });
      try {
        // /healthz answers before any route table is loaded; ask the API at once, on
        // new connections that the kernel spreads over both threads
        const answers = await Promise.all(Array.from({ length: 32 }, () =>
          request('GET', '/api/v1/spaces?limit=1', { base: shim.url, timeoutMs: 10000 })));
        const statuses = answers.map((r) => r.status);
        assert.deepEqual([...new Set(statuses)], [200], `round ${round}: ${statuses.join(' ')}`);
        for (const r of answers) assert.ok(Array.isArray(r.json?.data), r.text);
      } finally {
        await shim.stop();
      }
    }
  });

  test('with the database out of reach they fail at once with 503, as before', { timeout: 60000 }, async () => {
    const shim = await startShim({ DATABASE_URL: 'postgresql:///nowhere?host=/nonexistent-socket-dir&connect_timeout=1' },
      { waitForRoutes: false });
    try {
      // wait until the pool has given up its first connection attempt
      await waitFor(async () => (await request('GET', '/readyz', { base: shim.url })).status === 503, 10000);
      await sleep(1500);
      const started = Date.now();
      const res = await request('GET', '/api/v1/spaces', { base: shim.url, timeoutMs: 10000 });
      expectError(res, 503, 'unavailable');
      assert.ok(Date.now() - started < 1000, `503 took ${Date.now() - started} ms`);
    } finally {
      await shim.stop();
    }
  });
});
