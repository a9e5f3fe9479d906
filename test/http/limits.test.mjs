// Limits and signals: the request timeout ends the query, MAX_INFLIGHT answers 503 above
// it, MAX_HEADER_BYTES answers 431, SIGTERM drains, SIGINT exits at once, SIGHUP re-reads
// SHIM_ENV_FILE (LOG_LEVEL, CORS_ORIGIN, rate limits) and reloads the routes.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { addRoutes, expectError, psql, psqlList, removeRoutes, request, sleep, startShim, waitFor } from './lib/client.mjs';

const PREFIX = '/api/v1/test/limits';
const SETUP = `
CREATE FUNCTION workon.test_limits_sleep(seconds numeric DEFAULT 1) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_sleep(seconds);
  RETURN '{"slept":true}'::jsonb;
END $$;
GRANT EXECUTE ON FUNCTION workon.test_limits_sleep(numeric) TO workon_anon;`;
const DROP = 'DROP FUNCTION IF EXISTS workon.test_limits_sleep(numeric); DROP FUNCTION IF EXISTS workon.test_limits_hup();';

const sleepers = () => Number(psql(`SELECT count(*) FROM pg_stat_activity
  WHERE query LIKE '%workon.dispatch%' AND wait_event = 'PgSleep' AND pid <> pg_backend_pid()`));

before(async () => {
  await removeRoutes(PREFIX, DROP);
  await addRoutes(SETUP, [{ method: 'GET', path: `${PREFIX}/sleep`, handler: 'workon.test_limits_sleep(numeric)' }]);
});
after(async () => { await removeRoutes(PREFIX, DROP); });

describe('REQUEST_TIMEOUT_MS', () => {
  test('a request waiting longer is 503 and its query does not go on running', async () => {
    const shim = await startShim({ REQUEST_TIMEOUT_MS: '500' });
    try {
      const t0 = Date.now();
      const res = await request('GET', `${PREFIX}/sleep?seconds=20`, { base: shim.url });
      const took = Date.now() - t0;
      expectError(res, 503, 'unavailable');
      assert.ok(took >= 450 && took < 5000, `answered after ${took} ms`);
      await waitFor(() => sleepers() === 0, 3000);
    } finally {
      await shim.stop();
    }
  });
});

describe('MAX_INFLIGHT', () => {
  test('requests above the cap of a thread are 503 at once; the others are served', async () => {
    const shim = await startShim({ MAX_INFLIGHT: '2', SHIM_THREADS: '1' });
    try {
      const t0 = Date.now();
      const results = await Promise.all(Array.from({ length: 5 }, async () => {
        const res = await request('GET', `${PREFIX}/sleep?seconds=1`, { base: shim.url });
        return { res, at: Date.now() - t0 };
      }));
      const ok = results.filter((r) => r.res.status === 200);
      const refused = results.filter((r) => r.res.status === 503);
      assert.equal(ok.length, 2, results.map((r) => r.res.status).join(','));
      assert.equal(refused.length, 3);
      for (const r of refused) {
        expectError(r.res, 503, 'unavailable');
        assert.ok(r.at < 900, `refused after ${r.at} ms`);
      }
      // /healthz is never refused
      assert.equal((await request('GET', '/healthz', { base: shim.url })).status, 200);
      const metrics = (await request('GET', '/metrics', { base: shim.url })).text;
      assert.match(metrics, /^workon_overload_rejections_total 3$/m);
    } finally {
      await shim.stop();
    }
  });
});

describe('header size', () => {
  test('a head over MAX_HEADER_BYTES is 431; under it is served', async () => {
    const shim = await startShim({ MAX_HEADER_BYTES: '2048' });
    try {
      expectError(await request('GET', '/api/v1/spaces?limit=1', { base: shim.url, headers: { 'x-big': 'a'.repeat(3000) } }),
        431, 'headers_too_large');
      expectError(await request('GET', '/api/v1/spaces?limit=1', {
        base: shim.url, headers: Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`x-h${i}`, 'b'.repeat(60)])),
      }), 431, 'headers_too_large');
      assert.equal((await request('GET', '/api/v1/spaces?limit=1', { base: shim.url, headers: { 'x-big': 'a'.repeat(1000) } })).status, 200);
      // probes too: the cap comes first
      expectError(await request('GET', '/healthz', { base: shim.url, headers: { 'x-big': 'a'.repeat(3000) } }), 431, 'headers_too_large');
    } finally {
      await shim.stop();
    }
  });

  test('the default cap (16 KiB) on the main shim', async () => {
    expectError(await request('GET', '/api/v1/spaces?limit=1', { headers: { 'x-big': 'a'.repeat(20000) } }), 431, 'headers_too_large');
    assert.equal((await request('GET', '/api/v1/spaces?limit=1', { headers: { 'x-big': 'a'.repeat(8000) } })).status, 200);
  });
});

describe('signals', () => {
  test('SIGTERM: the request in flight is answered, then the process exits 0', async () => {
    const shim = await startShim({});
    const pending = request('GET', `${PREFIX}/sleep?seconds=1`, { base: shim.url });
    await sleep(300);
    const exited = shim.stop(); // SIGTERM
    const res = await pending;
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { slept: true });
    const { code, signal } = await exited;
    assert.equal(signal, null);
    assert.equal(code, 0);
    await assert.rejects(request('GET', '/healthz', { base: shim.url, timeoutMs: 1000 }));
  });

  test('SIGINT: exits at once (status 130), the request in flight is dropped', async () => {
    const shim = await startShim({});
    const pending = request('GET', `${PREFIX}/sleep?seconds=3`, { base: shim.url }).then((r) => r, (e) => e);
    await sleep(300);
    const t0 = Date.now();
    const exitedAt = new Promise((resolve) => {
      const poll = setInterval(() => { if (!shim.alive()) { clearInterval(poll); resolve(Date.now()); } }, 10);
    });
    process.kill(shim.pid, 'SIGINT');
    const at = await exitedAt;
    assert.ok(at - t0 < 1500, `exited after ${at - t0} ms`);
    assert.ok((await pending) instanceof Error, 'the request in flight got no answer');
    assert.equal((await shim.stop()).code, 130);
    await waitFor(() => sleepers() === 0, 5000);
  });

  describe('SIGHUP', () => {
    let dir;
    let file;
    let shim;
    before(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'workon-hup-'));
      file = path.join(dir, 'workon.env');
      fs.writeFileSync(file, 'LOG_LEVEL=warn\nRATE_LIMIT_LIMIT=3\nCORS_ORIGIN=https://a.example.com\n');
      shim = await startShim({ SHIM_ENV_FILE: file, RATE_LIMIT_ENABLED: 'true' });
    });
    after(async () => {
      await shim?.stop();
      fs.rmSync(dir, { recursive: true, force: true });
      psql('ALTER TABLE workon.routes ENABLE TRIGGER routes_notify;');
    });

    const hup = async (marker) => {
      const count = (shim.output().match(new RegExp(marker, 'g')) ?? []).length;
      process.kill(shim.pid, 'SIGHUP');
      await waitFor(() => (shim.output().match(new RegExp(marker, 'g')) ?? []).length > count, 3000);
    };

    test('re-reads LOG_LEVEL, CORS_ORIGIN and the rate limits from SHIM_ENV_FILE', async () => {
      let res = await request('GET', '/api/v1/spaces?limit=1', { base: shim.url, headers: { origin: 'https://a.example.com', 'x-request-id': 'hup-before' } });
      assert.equal(res.headers['ratelimit-limit'], '3');
      assert.equal(res.headers['access-control-allow-origin'], 'https://a.example.com');
      fs.writeFileSync(file, 'LOG_LEVEL=info\nRATE_LIMIT_LIMIT=7\nCORS_ORIGIN=https://b.example.com\n');
      await hup('settings reloaded');
      res = await request('GET', '/api/v1/spaces?limit=1', { base: shim.url, headers: { origin: 'https://a.example.com', 'x-request-id': 'hup-after' } });
      assert.equal(res.headers['ratelimit-limit'], '7');
      assert.equal(res.headers['access-control-allow-origin'], undefined);
      res = await request('GET', '/api/v1/spaces?limit=1', { base: shim.url, headers: { origin: 'https://b.example.com' } });
      assert.equal(res.headers['access-control-allow-origin'], 'https://b.example.com');
      await waitFor(() => shim.output().includes('"request_id":"hup-after"'), 3000);
      assert.ok(!shim.output().includes('"request_id":"hup-before"'), 'an access line at warn level');
    });

    test('a bad value is logged and changes nothing', async () => {
      fs.writeFileSync(file, 'RATE_LIMIT_LIMIT=9\nRATE_LIMIT_TTL=0\n');
      await hup('settings not reloaded');
      assert.match(shim.output(), /"msg":"SIGHUP: settings not reloaded","error":"RATE_LIMIT_TTL must be a number/);
      const res = await request('GET', '/api/v1/spaces?limit=1', { base: shim.url });
      assert.equal(res.headers['ratelimit-limit'], '7');
      assert.ok(shim.alive());
    });

    test('reloads the route table (a change that sent no NOTIFY)', async () => {
      psql(`ALTER TABLE workon.routes DISABLE TRIGGER routes_notify;
CREATE FUNCTION workon.test_limits_hup() RETURNS jsonb LANGUAGE plpgsql AS $$ BEGIN RETURN '{"hup":true}'; END $$;
GRANT EXECUTE ON FUNCTION workon.test_limits_hup() TO workon_anon;
INSERT INTO workon.routes (method, path, handler, auth, status, body, summary)
VALUES ('GET', '${PREFIX}/hup', 'workon.test_limits_hup()', 'none', 200, 'none', 'SIGHUP test');
ALTER TABLE workon.routes ENABLE TRIGGER routes_notify;`);
      assert.equal((await request('GET', `${PREFIX}/hup`, { base: shim.url })).status, 404);
      fs.writeFileSync(file, 'RATE_LIMIT_LIMIT=1000\n');
      await hup('settings reloaded');
      await waitFor(async () => (await request('GET', `${PREFIX}/hup`, { base: shim.url })).status === 200, 3000);
      assert.deepEqual(psqlList(`SELECT path FROM workon.routes WHERE path = '${PREFIX}/hup'`), [`${PREFIX}/hup`]);
    });
  });
});
