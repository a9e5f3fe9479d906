// Logs: one JSON line per request at info level (time, level, request id, method, route
// template, status, duration, user id when known); LOG_LEVEL decides; no secret, token or
// password ever appears, whatever the request carried: not in the shim's log, and not in
// PostgreSQL's either when it logs every statement.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import http2 from 'node:http2';
import {
  RFC3339_RE, addRoutes, h2connect, poolerReconnect, psql, removeRoutes, request, sleep, startShim, waitFor,
} from './lib/client.mjs';

const unique = () => `${Date.now().toString(36)}${crypto.randomBytes(4).toString('hex')}`;

function lines(shim) {
  return shim.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
}

async function accessLine(shim, requestId) {
  return waitFor(() => lines(shim).find((l) => l.msg === 'request' && l.request_id === requestId), 3000);
}

describe('access lines at info level, and no secrets', () => {
  const secrets = {
    JWT_SECRET: `jwt-secret-${crypto.randomBytes(24).toString('hex')}`,
    JWT_REFRESH_SECRET: `refresh-secret-${crypto.randomBytes(24).toString('hex')}`,
    SIGNED_URL_SECRET: `signed-url-secret-${crypto.randomBytes(24).toString('hex')}`,
    STRIPE_SECRET_KEY: `sk_test_not_a_real_key_${crypto.randomBytes(12).toString('hex')}`,
    STRIPE_WEBHOOK_SECRET: `whsec_test_not_a_real_secret_${crypto.randomBytes(12).toString('hex')}`,
    ADMIN_PASSWORD: `admin password ${unique()}`,
  };
  const email = `logs-${unique()}@example.com`;
  const password = `member password ${unique()}`;
  const seen = []; // tokens the flow handled
  const pgLog = process.env.WORKON_PG_LOG;
  const database = process.env.WORKON_PGDATABASE;
  let pgLogFrom = 0;
  let shim;
  let user;

  before(async () => {
    // PostgreSQL logs every statement of this database's new sessions, with its
    // parameters unless the role says otherwise (log_parameter_max_length)
    pgLogFrom = fs.statSync(pgLog).size;
    psql(`ALTER DATABASE ${database} SET log_min_duration_statement = 0`);
    poolerReconnect();
    shim = await startShim({ NODE_ENV: 'staging', LOG_LEVEL: 'info', ADMIN_EMAIL: `admin-${unique()}@example.com`, ...secrets });
    // the auth flow: register, me, login, refresh, logout, a refused password
    const reg = await request('POST', '/api/v1/auth/register', { base: shim.url, body: { email, password, name: 'Logged' } });
    assert.equal(reg.status, 201, reg.text);
    user = reg.json.user;
    seen.push(reg.json.access_token, reg.json.refresh_token);
    const me = await request('GET', '/api/v1/me', {
      base: shim.url, headers: { authorization: `Bearer ${reg.json.access_token}`, 'x-request-id': 'logs-me-1' },
    });
    assert.equal(me.status, 200, me.text);
    const login = await request('POST', '/api/v1/auth/login', { base: shim.url, body: { email, password } });
    assert.equal(login.status, 200, login.text);
    seen.push(login.json.access_token, login.json.refresh_token);
    const refreshed = await request('POST', '/api/v1/auth/refresh', { base: shim.url, body: { refresh_token: login.json.refresh_token } });
    assert.equal(refreshed.status, 200, refreshed.text);
    seen.push(refreshed.json.access_token, refreshed.json.refresh_token);
    const out = await request('POST', '/api/v1/auth/logout', { base: shim.url, body: { refresh_token: refreshed.json.refresh_token } });
    assert.equal(out.status, 204);
    await request('POST', '/api/v1/auth/login', { base: shim.url, body: { email, password: `${password} wrong` } });
    await request('GET', `/api/v1/spaces?city=${encodeURIComponent(password)}`, { base: shim.url });
    await request('GET', '/api/v1/me', { base: shim.url, headers: { authorization: `Bearer ${seen[0]}x`, 'x-request-id': 'logs-bad-token' } });
    await accessLine(shim, 'logs-bad-token');
  });
  after(async () => {
    psql(`ALTER DATABASE ${database} RESET log_min_duration_statement`);
    await shim?.stop();
  });

  test('one line per request with the request id, method, route template, status, duration and user id', async () => {
    const l = await accessLine(shim, 'logs-me-1');
    assert.equal(l.level, 'info');
    assert.match(l.time, RFC3339_RE);
    assert.equal(l.method, 'GET');
    assert.equal(l.route, '/api/v1/me');
    assert.equal(l.status, 200);
    assert.equal(typeof l.duration_ms, 'number');
    assert.ok(l.duration_ms >= 0 && l.duration_ms < 10000);
    assert.equal(l.user_id, user.id);
    assert.equal(lines(shim).filter((x) => x.request_id === 'logs-me-1' && x.msg === 'request').length, 1);
  });

  test('routes are templates, unknown paths have none, and a refused token has no user', async () => {
    const res = await request('GET', `/api/v1/spaces/${crypto.randomUUID()}`, { base: shim.url, headers: { 'x-request-id': 'logs-404' } });
    assert.equal(res.status, 404);
    const l = await accessLine(shim, 'logs-404');
    assert.equal(l.route, '/api/v1/spaces/{id}');
    assert.equal(l.status, 404);
    const nope = await request('GET', '/api/v1/nope/nope', { base: shim.url, headers: { 'x-request-id': 'logs-none' } });
    assert.equal(nope.status, 404);
    assert.equal((await accessLine(shim, 'logs-none')).route, null);
    const bad = await accessLine(shim, 'logs-bad-token');
    assert.equal(bad.status, 401);
    assert.equal(bad.user_id, undefined);
    const health = await request('GET', '/healthz', { base: shim.url, headers: { 'x-request-id': 'logs-healthz' } });
    assert.equal(health.status, 200);
    assert.equal((await accessLine(shim, 'logs-healthz')).route, '/healthz');
  });

  test('no secret, token, password or query string appears in the output', () => {
    const out = shim.output();
    assert.ok(out.includes('"msg":"request"'), 'there are access lines to look at');
    for (const [name, value] of Object.entries(secrets)) assert.ok(!out.includes(value), `${name} appears in the log`);
    assert.ok(!out.includes(password), 'the password appears in the log');
    for (const t of seen) {
      assert.ok(!out.includes(t), 'a token appears in the log');
      for (const part of t.split('.')) if (part.length >= 16) assert.ok(!out.includes(part), 'a piece of a token appears in the log');
    }
    assert.ok(!out.includes(encodeURIComponent(password)), 'a query string appears in the log');
  });

  test("nor in PostgreSQL's log, which logged every statement of the flow", () => {
    const fd = fs.openSync(pgLog, 'r');
    const buf = Buffer.alloc(fs.fstatSync(fd).size - pgLogFrom);
    fs.readSync(fd, buf, 0, buf.length, pgLogFrom);
    fs.closeSync(fd);
    const out = buf.toString('utf8');
    // through a transaction pooler (WORKON_TEST_PGBOUNCER) workon.dispatch is not prepared
    const dispatch = process.env.WORKON_DATABASE_POOLER ? '<unnamed>: SELECT status' : 'workon_dispatch';
    assert.ok(new RegExp(`duration: [0-9.]+ ms +(bind|execute) ${dispatch}`).test(out), 'the statements were logged');
    assert.ok(/workon\.seed_jwt_key/.test(out), 'the seeding of the keys was logged');
    for (const [name, value] of Object.entries(secrets)) assert.ok(!out.includes(value), `${name} appears in PostgreSQL's log`);
    assert.ok(!out.includes(password), "the password appears in PostgreSQL's log");
    for (const t of seen) {
      for (const part of t.split('.')) if (part.length >= 16) assert.ok(!out.includes(part), "a token appears in PostgreSQL's log");
    }
    assert.ok(!/parameters: \$/.test(out), "statement parameters appear in PostgreSQL's log");
  });
});

describe('LOG_LEVEL', () => {
  test('warn: no access lines; error lines still come', async () => {
    const shim = await startShim({ LOG_LEVEL: 'warn' });
    try {
      const res = await request('GET', '/api/v1/spaces?limit=1', { base: shim.url, headers: { 'x-request-id': 'logs-warn' } });
      assert.equal(res.status, 200);
      await request('GET', '/healthz', { base: shim.url });
      await new Promise((r) => setTimeout(r, 300));
      assert.ok(!shim.output().includes('logs-warn'), 'an access line at warn level');
      assert.ok(!lines(shim).some((l) => l.level === 'info' || l.level === 'debug'));
    } finally {
      await shim.stop();
    }
  });

  test('debug: access lines and debug lines', async () => {
    const shim = await startShim({ LOG_LEVEL: 'debug' });
    try {
      await request('GET', '/api/v1/spaces?limit=oops', { base: shim.url, headers: { 'x-request-id': 'logs-debug' } });
      await accessLine(shim, 'logs-debug');
      await waitFor(() => lines(shim).some((l) => l.level === 'debug'), 3000);
    } finally {
      await shim.stop();
    }
  });
});

describe('a request whose client goes away', () => {
  const SLOW = '/api/v1/test/logs/slow';
  const BRIEF = '/api/v1/test/logs/brief';
  const DROP = 'DROP FUNCTION IF EXISTS workon.test_logs_slow(); DROP FUNCTION IF EXISTS workon.test_logs_brief();';
  let shim;
  before(async () => {
    await removeRoutes('/api/v1/test/logs/', DROP);
    await addRoutes(`CREATE FUNCTION workon.test_logs_slow() RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_sleep(1); RETURN '{}'::jsonb; END $$;
CREATE FUNCTION workon.test_logs_brief() RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_sleep(0.1); RETURN '{}'::jsonb; END $$;
GRANT EXECUTE ON FUNCTION workon.test_logs_slow(), workon.test_logs_brief() TO workon_anon;`,
    [{ method: 'GET', path: SLOW, handler: 'workon.test_logs_slow()' },
      { method: 'GET', path: BRIEF, handler: 'workon.test_logs_brief()' }]);
    // one thread with one connection: 16 requests fill its pipeline, the next one waits
    shim = await startShim({ HTTP2: 'on', SHIM_THREADS: '1', DB_POOL_SIZE: '1' });
  });
  after(async () => {
    await shim?.stop();
    await removeRoutes('/api/v1/test/logs/', DROP);
  });

  test('an HTTP/1 client that leaves while its request waits for the database: 499, not 503', async () => {
    const filling = Array.from({ length: 16 }, () => request('GET', BRIEF, { base: shim.url, timeoutMs: 30000 }));
    await sleep(100);
    const sock = net.connect(shim.port, '127.0.0.1');
    await new Promise((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject); });
    sock.write(`GET ${BRIEF} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: logs-gone-pending\r\n\r\n`);
    await sleep(50);
    sock.destroy();
    for (const r of await Promise.all(filling)) assert.equal(r.status, 200);
    const l = await accessLine(shim, 'logs-gone-pending');
    assert.equal(l.status, 499);
    assert.equal(l.route, BRIEF);
    const metrics = (await request('GET', '/metrics', { base: shim.url })).text;
    assert.match(metrics, new RegExp(`^workon_http_requests_total\\{method="GET",route="${BRIEF}",status="499"\\} 1$`, 'm'));
    assert.doesNotMatch(metrics, new RegExp(`route="${BRIEF}",status="503"`));
  });

  test('an HTTP/2 stream reset before the answer still gets its line, status 499, and is counted', async () => {
    const session = await h2connect(shim.url);
    try {
      const stream = session.request({ ':method': 'GET', ':path': SLOW, 'x-request-id': 'logs-h2-reset' });
      stream.on('error', () => {});
      await sleep(200);
      stream.close(http2.constants.NGHTTP2_CANCEL);
      const l = await accessLine(shim, 'logs-h2-reset');
      assert.equal(l.status, 499);
      assert.equal(l.route, SLOW);
      assert.equal(l.method, 'GET');
      const metrics = (await request('GET', '/metrics', { base: shim.url })).text;
      assert.match(metrics, new RegExp(`^workon_http_requests_total\\{method="GET",route="${SLOW}",status="499"\\} 1$`, 'm'));
    } finally {
      session.close();
    }
  });
});
