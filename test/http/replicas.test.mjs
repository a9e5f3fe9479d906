// Read replicas: a streaming replica of the test cluster (pg_basebackup, scripts/replica.sh)
// behind a shim with DATABASE_REPLICA_URLS. read_only routes run there; a client that wrote
// brings back the position of its write (X-Workon-LSN or the cookie workon_lsn) and is never
// served by a replica that has not replayed it, even one paused with pg_wal_replay_pause();
// a replica that lags past REPLICA_MAX_LAG_MS or is down is skipped and /readyz and
// /api/v1/health say so, while readiness stays with the primary.
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  PSQL, ROOT, lit, psql, psqlEnv, request, startShim, waitFor,
} from './lib/client.mjs';

const SECRET = crypto.randomBytes(36).toString('base64url');
const unique = () => `${Date.now().toString(36)}${crypto.randomBytes(4).toString('hex')}`;
const bearer = (token) => ({ authorization: `Bearer ${token}` });
const ALWAYS = Object.fromEntries(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].map((d) => [d, [['00:00', '24:00']]]));
const LSN_RE = /^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/;
const MAX_LAG_MS = 4000;

const DIR = path.join(path.dirname(process.env.WORKON_PGDATA ?? '/nonexistent'), 'replica');
const SOCK = path.join(DIR, 'sock');

function replicaSh(action) {
  return new Promise((resolve, reject) => {
    execFile('bash', [path.join(ROOT, 'scripts', 'replica.sh'), action, DIR], { env: process.env, encoding: 'utf8', timeout: 120000 },
      (err, stdout, stderr) => (err ? reject(new Error(`replica.sh ${action}: ${err.message}\n${stderr}`)) : resolve(stdout)));
  });
}

// SQL on the replica, as the superuser
function onReplica(sql) {
  return execFileSync(PSQL, ['-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1', '-c', sql],
    { env: { ...psqlEnv(), PGHOST: SOCK }, encoding: 'utf8' }).trim();
}

async function pauseReplay() {
  onReplica('SELECT pg_wal_replay_pause();');
  await waitFor(() => onReplica('SELECT pg_get_wal_replay_pause_state();') === 'paused', 10000);
}

let shim;
let host;
let space;

async function health() {
  const res = await request('GET', '/api/v1/health', { base: shim.url });
  assert.ok(Array.isArray(res.json?.replicas), res.text);
  return res.json;
}

const waitForReplica = (status, timeoutMs = 15000) =>
  waitFor(async () => (await health()).replicas[0].status === status, timeoutMs, 100);

const getSpace = (headers = {}) => request('GET', `/api/v1/spaces/${space.id}`, { base: shim.url, headers });

async function rename(name) {
  const res = await request('PATCH', `/api/v1/spaces/${space.id}`, { base: shim.url, headers: bearer(host.token), body: { name } });
  assert.equal(res.status, 200, res.text);
  assert.match(res.headers['x-workon-lsn'] ?? '', LSN_RE, 'a write answers the position of its commit');
  return res.headers['x-workon-lsn'];
}

before(async () => {
  psql(`SELECT workon.seed_jwt_key(${lit(SECRET)});`);
  await replicaSh('start');
  await waitFor(() => onReplica('SELECT pg_is_in_recovery();') === 't', 30000, 200);
  const url = `postgresql:///${process.env.WORKON_PGDATABASE}?host=${encodeURIComponent(SOCK)}`
    + `&port=${process.env.WORKON_PGPORT}&user=workon_authenticator`;
  // one thread: /api/v1/health shows the replica as the thread that serves the reads sees it
  shim = await startShim({ DATABASE_REPLICA_URLS: url, REPLICA_MAX_LAG_MS: String(MAX_LAG_MS), SHIM_THREADS: '1' });
  await waitForReplica('ok');
  const reg = await request('POST', '/api/v1/auth/register', {
    base: shim.url,
    body: { email: `rr-${unique()}@example.com`, password: `long secret ${unique()}`, name: 'Replica Host', role: 'host' },
  });
  assert.equal(reg.status, 201, reg.text);
  host = { id: reg.json.user.id, token: reg.json.access_token };
});

after(async () => {
  await shim?.stop();
  await replicaSh('stop');
});

describe('read replicas', () => {
  test('a client that wrote reads its writes while the replica is paused; others read the replica', async () => {
    await waitForReplica('ok');
    await pauseReplay();
    try {
      const res = await request('POST', '/api/v1/spaces', {
        base: shim.url,
        headers: bearer(host.token),
        body: {
          name: `Replica ${unique()}`, kind: 'desk', city: 'Lyon', address: 'Quai 1', capacity: 2, timezone: 'UTC',
          hourly_rate_cents: 500, daily_rate_cents: 3000, currency: 'eur', opening_hours: ALWAYS, published: true,
        },
      });
      assert.equal(res.status, 201, res.text);
      space = res.json;
      const lsn = res.headers['x-workon-lsn'];
      assert.match(lsn ?? '', LSN_RE);
      const cookie = [res.headers['set-cookie']].flat().find((c) => c.startsWith('workon_lsn='));
      assert.match(cookie ?? '', /^workon_lsn=[0-9A-F]+\/[0-9A-F]+; Path=\/; Max-Age=\d+; HttpOnly; SameSite=Lax$/);

      // without the position: the paused replica answers, and has not seen the space
      const stale = await getSpace();
      assert.equal(stale.status, 404, `the read ran on the primary: ${stale.text}`);
      assert.equal(stale.headers['x-workon-lsn'], undefined, 'a read carries no position');
      // with it (header or cookie): never the replica that lacks it
      const mine = await getSpace({ 'x-workon-lsn': lsn });
      assert.equal(mine.status, 200, mine.text);
      const byCookie = await getSpace({ cookie: `theme=dark; ${cookie.split(';')[0]}` });
      assert.equal(byCookie.status, 200, byCookie.text);

      // write, then read, again and again: the writer never sees an older name
      for (let i = 0; i < 10; i++) {
        const name = `Renamed ${i} ${unique()}`;
        const at = await rename(name);
        const r = await getSpace({ 'x-workon-lsn': at });
        assert.equal(r.status, 200, r.text);
        assert.equal(r.json.name, name, `read ${i} was stale`);
      }
    } finally {
      onReplica('SELECT pg_wal_replay_resume();');
    }
    // replayed: the replica serves the writer too
    await waitFor(async () => (await getSpace()).status === 200, 15000, 100);
    const lsn = await rename(`Back ${unique()}`);
    await waitFor(async () => (await health()).replicas[0].status === 'ok', 15000, 100);
    const r = await getSpace({ 'x-workon-lsn': lsn });
    assert.equal(r.status, 200, r.text);
  });

  test('a replica that lags past REPLICA_MAX_LAG_MS is skipped and /readyz says so, still ready', async () => {
    assert.ok(space, 'the first test made the space');
    await waitForReplica('ok');
    await pauseReplay();
    try {
      const name = `Lagging ${unique()}`;
      await rename(name);
      await waitForReplica('lagging', MAX_LAG_MS + 10000);
      const ready = await request('GET', '/readyz', { base: shim.url });
      assert.equal(ready.status, 200, ready.text);
      assert.equal(ready.json.status, 'ready');
      assert.equal(ready.json.checks.replicas[0].status, 'lagging', ready.text);
      assert.ok(ready.json.checks.replicas[0].lag_ms > MAX_LAG_MS, ready.text);
      assert.equal((await health()).status, 'degraded');
      // anyone's read goes to the primary now
      const r = await getSpace();
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.name, name);
    } finally {
      onReplica('SELECT pg_wal_replay_resume();');
    }
    await waitForReplica('ok');
  });

  test('a replica that is down is skipped: reads answer from the primary, readiness stays', async () => {
    await replicaSh('stop');
    await waitForReplica('down');
    const r = await getSpace();
    assert.equal(r.status, 200, r.text);
    const list = await request('GET', '/api/v1/spaces', { base: shim.url });
    assert.equal(list.status, 200, list.text);
    const ready = await request('GET', '/readyz', { base: shim.url });
    assert.equal(ready.status, 200, ready.text);
    assert.equal(ready.json.checks.replicas[0].status, 'down', ready.text);
  });
});
