// Messages and realtime end to end: conversations over HTTP; GET /api/v1/ws (401 before
// the upgrade, delivery within a second to the recipients and nobody else, ?since= replay
// with transactions that commit out of order, token expiry and extension on an open
// socket, a role change (4401), a disabled account (4403), client frames, a slow reader, limits, SIGTERM, two shims on one
// database, a database restart under open sockets).
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import {
  BASE, expectError, lit, pgctl, psql, psqlAsync, psqlList, request, sleep, startShim, waitFor,
} from './lib/client.mjs';
import { wsConnect } from './lib/ws-client.mjs';

const SECRET = crypto.randomBytes(36).toString('base64url');
const unique = () => `${Date.now().toString(36)}${crypto.randomBytes(4).toString('hex')}`;
const bearer = (token) => ({ authorization: `Bearer ${token}` });
const ALWAYS = Object.fromEntries(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].map((d) => [d, [['00:00', '24:00']]]));

async function register(role) {
  const body = { email: `rt-${unique()}@example.com`, password: `long secret ${unique()}`, name: 'Talker', ...(role ? { role } : {}) };
  const res = await request('POST', '/api/v1/auth/register', { body });
  assert.equal(res.status, 201, res.text);
  return { id: res.json.user.id, token: res.json.access_token, role: role || 'member' };
}

// a token of the user that expires in ttl seconds
function shortToken(user, ttl) {
  return psql(`SET workon.jwt_access_ttl = ${ttl}; SELECT workon.jwt_issue(${lit(user.id)}, ${lit(user.role)});`);
}

const post = (user, conv, body) => request('POST', `/api/v1/conversations/${conv}/messages`, { headers: bearer(user.token), body: { body } });

const sockets = [];
async function connect(user, query = '', opts = {}) {
  const ws = await wsConnect(opts.base || BASE, `/api/v1/ws${query}`, { token: user?.token, ...opts });
  sockets.push(ws);
  return ws;
}

// the next frame of a type (and for which pred holds); others before it are dropped.  A
// socket without ?since= may also get events committed just before it connected (published
// after it registered), so tests look for the event they caused.
async function nextOf(ws, type, timeoutMs = 1000, pred = () => true) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const f = await ws.next(Math.max(1, deadline - Date.now()));
    if (f.type === type && pred(f)) return f;
  }
}
const withBody = (body) => (f) => f.data.body === body;

let host;
let m1;
let m2;
let space;
let conv;

before(async () => {
  psql(`SELECT workon.seed_jwt_key(${lit(SECRET)});`);
  [host, m1, m2] = await Promise.all([register('host'), register(), register()]);
  const res = await request('POST', '/api/v1/spaces', {
    headers: bearer(host.token),
    body: {
      name: `Talk Room ${unique()}`, kind: 'meeting_room', city: 'Lyon', address: 'Quai 1', capacity: 4,
      timezone: 'UTC', hourly_rate_cents: 1000, daily_rate_cents: 6000, currency: 'eur',
      opening_hours: ALWAYS, published: true,
    },
  });
  assert.equal(res.status, 201, res.text);
  space = res.json;
});

after(() => {
  for (const ws of sockets) ws.destroy();
});

describe('conversations over HTTP', () => {
  test('open (201, then 200), post, list with unread counts, page, mark read', async () => {
    let res = await request('POST', '/api/v1/conversations', { headers: bearer(m1.token), body: { space_id: space.id } });
    assert.equal(res.status, 201, res.text);
    conv = res.json.id;
    assert.equal(res.json.member_id, m1.id);
    assert.equal(res.json.host_id, host.id);
    res = await request('POST', '/api/v1/conversations', { headers: bearer(m1.token), body: { space_id: space.id } });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.id, conv);

    res = await post(m1, conv, '  Hello there\n');
    assert.equal(res.status, 201, res.text);
    assert.deepEqual(Object.keys(res.json).sort(), ['body', 'conversation_id', 'created_at', 'id', 'sender_id']);
    assert.equal(res.json.body, 'Hello there');
    for (let i = 1; i <= 3; i++) assert.equal((await post(m1, conv, `note ${i}`)).status, 201);

    res = await request('GET', '/api/v1/conversations', { headers: bearer(host.token) });
    assert.equal(res.status, 200, res.text);
    const mine = res.json.data.find((c) => c.id === conv);
    assert.equal(mine.unread_count, 4);
    assert.equal(mine.last_message.body, 'note 3');

    const seen = [];
    let cursor = null;
    do {
      res = await request('GET', `/api/v1/conversations/${conv}/messages?limit=3${cursor ? `&cursor=${cursor}` : ''}`, { headers: bearer(host.token) });
      assert.equal(res.status, 200, res.text);
      seen.push(...res.json.data.map((m) => m.body));
      cursor = res.json.next_cursor;
    } while (cursor);
    assert.deepEqual(seen, ['note 3', 'note 2', 'note 1', 'Hello there']);

    res = await request('POST', `/api/v1/conversations/${conv}/read`, { headers: bearer(host.token) });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.unread_count, 0);
  });

  test('bodies are 1 to 4,000 characters after trimming; the field is named', async () => {
    for (const body of ['', '   \n ', 'x'.repeat(4001), 42, null]) {
      const res = await post(m1, conv, body);
      assert.equal(expectError(res, 400, 'validation_failed').details.field, 'body', JSON.stringify(body));
    }
    assert.equal((await post(m1, conv, ` ${'é'.repeat(4000)} `)).status, 201);
  });

  test('a non-participant gets 404 on every route of the conversation', async () => {
    for (const [method, path, body] of [
      ['GET', `/api/v1/conversations/${conv}/messages`],
      ['POST', `/api/v1/conversations/${conv}/messages`, { body: 'hi' }],
      ['POST', `/api/v1/conversations/${conv}/read`],
    ]) {
      expectError(await request(method, path, { headers: bearer(m2.token), body }), 404, 'not_found');
    }
    const res = await request('GET', '/api/v1/conversations', { headers: bearer(m2.token) });
    assert.deepEqual(res.json.data, []);
    expectError(await request('POST', '/api/v1/conversations', { headers: bearer(host.token), body: { space_id: space.id } }), 400, 'validation_failed');
  });
});

describe('GET /api/v1/ws', () => {
  test('a missing, bad or expired token is 401 before the upgrade; a plain GET is refused', async () => {
    let ws = await connect(null);
    assert.equal(ws.status, 401);
    assert.equal(ws.headers['www-authenticate'], 'Bearer');
    ws = await connect({ token: 'not.a.token' });
    assert.equal(ws.status, 401);
    assert.match(ws.headers['www-authenticate'], /invalid_token/);
    ws = await connect(m1);
    assert.equal(ws.status, 101);
    ws.destroy();
    const res = await request('GET', '/api/v1/ws', { headers: bearer(m1.token) });
    expectError(res, 426, 'upgrade_required');
  });

  test('the token may come as ?access_token=', async () => {
    const ws = await connect(null, `?access_token=${encodeURIComponent(m1.token)}`);
    assert.equal(ws.status, 101);
    ws.send({ type: 'ping' });
    assert.deepEqual(await nextOf(ws, 'pong'), { type: 'pong' });
    ws.destroy();
  });

  test('events reach every socket of each recipient within a second, nobody else', async () => {
    const [a, b, h, other] = await Promise.all([connect(m1), connect(m1), connect(host), connect(m2)]);
    for (const ws of [a, b, h, other]) assert.equal(ws.status, 101);
    const t0 = Date.now();
    const res = await post(host, conv, 'live one');
    assert.equal(res.status, 201);
    for (const ws of [a, b, h]) {
      const f = await nextOf(ws, 'message.created', 1000, (x) => x.data.id === res.json.id);
      assert.equal(f.data.body, 'live one');
      assert.match(f.id, /^[0-9]+$/);
    }
    assert.ok(Date.now() - t0 < 1000);
    await request('POST', `/api/v1/conversations/${conv}/read`, { headers: bearer(m1.token) });
    const read = await nextOf(h, 'conversation.read', 1000, (x) => x.data.user_id === m1.id);
    assert.equal(read.data.user_id, m1.id);
    assert.deepEqual(await other.drain(300), []);
    for (const ws of [a, b, h, other]) ws.destroy();
  });

  // The shim's writes send no NOTIFY in their transaction (workon.notify = after_commit): the
  // shim notifies after the commit; SQL callers still notify in theirs.  Either way an event
  // arrives long before the one-second tick that catches sockets up: 7 of 8 under 300 ms
  // (the tick alone would manage that about once in 800 runs).
  async function latencies(ws, write) {
    const ms = [];
    for (let i = 0; i < 8; i++) {
      const body = `${write.name} ${unique()}`;
      await write(body);
      const t0 = Date.now();
      await nextOf(ws, 'message.created', 1000, withBody(body));
      ms.push(Date.now() - t0);
    }
    return ms;
  }

  test('a write through the shim wakes the sockets after its commit, at once', async () => {
    const ws = await connect(host);
    const ms = await latencies(ws, async function shim(body) {
      assert.equal((await post(m1, conv, body)).status, 201);
    });
    assert.ok(ms.filter((x) => x < 300).length >= 7, `delivery times ${ms.join(', ')} ms`);
    ws.destroy();
  });

  test('a SQL caller that is not the shim still notifies in its transaction', async () => {
    const ws = await connect(host);
    const ms = await latencies(ws, async function sql(body) {
      const status = psql(`SELECT coalesce(status, 201) FROM workon.dispatch('workon.message_post(uuid,jsonb)'::regprocedure,
        ${lit(JSON.stringify({ id: conv }))}, '{}', ${lit(JSON.stringify({ body }))}, ${lit(m1.token)}, NULL);`);
      assert.equal(status, '201');
    });
    assert.ok(ms.filter((x) => x < 300).length >= 7, `delivery times ${ms.join(', ')} ms`);
    ws.destroy();
  });

  test('a booking created and cancelled is booking.updated for its member and the host', async () => {
    const [a, h] = await Promise.all([connect(m1), connect(host)]);
    const start = new Date(Math.ceil(Date.now() / 3600e3) * 3600e3 + 50 * 3600e3).toISOString();
    const end = new Date(Date.parse(start) + 3600e3).toISOString();
    const res = await request('POST', '/api/v1/bookings', { headers: bearer(m1.token), body: { space_id: space.id, starts_at: start, ends_at: end } });
    assert.equal(res.status, 201, res.text);
    for (const ws of [a, h]) {
      const f = await nextOf(ws, 'booking.updated', 1000, (x) => x.data.id === res.json.id);
      assert.equal(f.data.status, 'pending_payment');
    }
    await request('POST', `/api/v1/bookings/${res.json.id}/cancel`, { headers: bearer(m1.token) });
    assert.equal((await nextOf(a, 'booking.updated', 1000, (x) => x.data.id === res.json.id)).data.status, 'cancelled');
    a.destroy();
    h.destroy();
  });

  test('?since= replays what was missed, then live, with out-of-order commits: no gap, no duplicate', async () => {
    let ws = await connect(m1);
    await post(host, conv, 'before');
    const last = (await nextOf(ws, 'message.created', 1000, withBody('before'))).id;
    ws.destroy();

    // a slow transaction takes its event id first and commits after a faster one
    const slow = psqlAsync(`BEGIN;
      INSERT INTO workon.events (type, recipients, data)
      VALUES ('message.created', ARRAY[${lit(m1.id)}]::uuid[], '{"body": "slow"}');
      SELECT pg_sleep(1.5);
      COMMIT;`);
    await sleep(300);
    assert.equal((await post(host, conv, 'fast')).status, 201);
    await sleep(300);
    // resumes while the slow one is still open: replay has "fast", live brings "slow"
    ws = await connect(m1, `?since=${last}`);
    assert.equal(ws.status, 101);
    const got = [];
    got.push(await nextOf(ws, 'message.created', 2000));
    await slow;
    got.push(await nextOf(ws, 'message.created', 2000));
    assert.deepEqual(got.map((f) => f.data.body), ['fast', 'slow']);
    assert.ok(BigInt(got[1].id) > BigInt(got[0].id) && BigInt(got[0].id) > BigInt(last));
    ws.destroy();

    // resuming from the first id again replays both, once, in order
    ws = await connect(m1, `?since=${last}`);
    const again = [await nextOf(ws, 'message.created'), await nextOf(ws, 'message.created')];
    assert.deepEqual(again.map((f) => f.id), got.map((f) => f.id));
    assert.deepEqual(await ws.drain(300), []);
    ws.destroy();
  });

  test('20 transactions that take their ids in one order and commit in another: every event once, live and on resume', async () => {
    const ws0 = await connect(m1);
    await post(host, conv, 'before the race');
    const mark = (await nextOf(ws0, 'message.created', 1000, withBody('before the race'))).id;
    const live = ws0;
    const tag = unique();
    // each takes its event id at once, then sleeps a random while before it commits
    const writers = Array.from({ length: 20 }, (_, i) => psqlAsync(`BEGIN;
      INSERT INTO workon.events (type, recipients, data)
      VALUES ('message.created', ARRAY[${lit(m1.id)}]::uuid[], json_build_object('race', ${lit(tag)}, 'i', ${i}));
      SELECT pg_sleep(${(Math.random() * 1.5).toFixed(3)});
      COMMIT;`));
    // a client resumes while they are still open
    await sleep(300);
    const resumed = await connect(m1, `?since=${mark}`);
    await Promise.all(writers);
    const take = async (ws) => {
      const got = [];
      while (got.length < 20) {
        const f = await ws.next(5000);
        if (f.data.race === tag) got.push(f);
      }
      assert.deepEqual(await ws.drain(300), []);
      return got;
    };
    for (const got of [await take(live), await take(resumed)]) {
      assert.deepEqual(got.map((f) => f.data.i).sort((a, b) => a - b), [...Array(20).keys()]);
      for (let k = 1; k < got.length; k++) assert.ok(BigInt(got[k].id) > BigInt(got[k - 1].id));
    }
    live.destroy();
    resumed.destroy();
  });

  test('a long replay is paged without a gap while events keep coming', async () => {
    const ws0 = await connect(m1);
    await post(host, conv, 'mark');
    const mark = (await nextOf(ws0, 'message.created', 1000, withBody('mark'))).id;
    ws0.destroy();
    psql(`INSERT INTO workon.events (type, recipients, data)
          SELECT 'message.created', ARRAY[${lit(m1.id)}]::uuid[], json_build_object('n', n)
            FROM generate_series(1, 250) AS n;`);
    const ws = await connect(m1, `?since=${mark}`);
    const writer = (async () => { for (let i = 0; i < 20; i++) await post(host, conv, `during ${i}`); })();
    const ids = [];
    while (ids.length < 270) ids.push(BigInt((await ws.next(5000)).id));
    await writer;
    assert.deepEqual(await ws.drain(300), []);
    for (let i = 1; i < ids.length; i++) assert.ok(ids[i] > ids[i - 1], `ids in order at ${i}`);
    ws.destroy();
  });

  test('client frames: ping answered; other types close 4400, binary 1003', async () => {
    let ws = await connect(m1);
    ws.send({ type: 'ping' });
    assert.equal((await nextOf(ws, 'pong')).type, 'pong');
    ws.send({ type: 'subscribe', channel: 'x' });
    assert.equal((await ws.closed).code, 4400);
    ws = await connect(m1);
    ws.send('not json');
    assert.equal((await ws.closed).code, 4400);
    ws = await connect(m1);
    ws.sendRaw(2, Buffer.from([1, 2, 3]));
    assert.equal((await ws.closed).code, 1003);
  });

  test('a socket closes with 4401 when its token expires; {"type":"auth"} extends it', async () => {
    const doomed = await connect({ token: shortToken(m1, 2) });
    const kept = await connect({ token: shortToken(m1, 2) });
    assert.equal(doomed.status, 101);
    kept.send({ type: 'auth', access_token: m1.token });
    const ok = await nextOf(kept, 'auth', 2000);
    assert.ok(ok.expires_at > Date.now() / 1000 + 60);
    const closed = await Promise.race([doomed.closed, sleep(5000).then(() => null)]);
    assert.equal(closed?.code, 4401);
    await sleep(500);
    await post(host, conv, 'still here');
    await nextOf(kept, 'message.created', 1000, withBody('still here'));
    // another user's token on the socket: closed
    kept.send({ type: 'auth', access_token: m2.token });
    assert.equal((await kept.closed).code, 4401);
  });

  test('a user whose role changes stops receiving at once (4401)', async () => {
    const u = await register();
    const ws = await connect(u);
    psql(`UPDATE workon.users SET role = 'host' WHERE id = ${lit(u.id)};`);
    const closed = await Promise.race([ws.closed, sleep(2000).then(() => null)]);
    assert.equal(closed?.code, 4401);
  });

  test('a user whose account is disabled stops receiving at once (4403), and cannot open another socket (401)', async () => {
    const u = await register();
    const ws = await connect(u);
    psql(`UPDATE workon.users SET disabled = true WHERE id = ${lit(u.id)};`);
    const closed = await Promise.race([ws.closed, sleep(2000).then(() => null)]);
    assert.equal(closed?.code, 4403);
    const again = await connect(u);
    assert.equal(again.status, 401);
  });
});

describe('realtime on extra shims', () => {
  test('a slow reader is closed and never slows the others', async () => {
    const shim = await startShim({ JWT_SECRET: SECRET, WS_SEND_QUEUE_BYTES: '262144' });
    try {
      const slow = await connect(m1, '', { base: shim.url });
      const fast = await connect(m1, '', { base: shim.url });
      slow.pause();
      // 40 bursts of 100 events of 2 KB (8 MB): each burst fits the queue of a reader that
      // keeps up; the one that does not read fills its kernel buffers, then its queue
      for (let round = 0; round < 40 && !slow.ended; round++) {
        psql(`INSERT INTO workon.events (type, recipients, data)
              SELECT 'message.created', ARRAY[${lit(m1.id)}]::uuid[], json_build_object('n', n, 'pad', repeat('x', 2000))
                FROM generate_series(1, 100) AS n;`);
        let n = 0;
        while (n < 100) {
          const f = await fast.next(5000);
          if (f.data.pad) n++;
        }
      }
      slow.resume();
      const closed = await Promise.race([slow.closed, sleep(5000).then(() => null)]);
      assert.ok(closed, 'the slow reader was not closed');
      assert.ok(slow.frames.length < 4000, `the slow reader got ${slow.frames.length} frames`);
      assert.ok(!fast.ended, 'the reader that keeps up is still open');
    } finally {
      assert.equal((await shim.stop()).code, 0);
    }
  });

  test('the server pings; a peer that does not answer is dropped, one that does stays', async () => {
    const shim = await startShim({ JWT_SECRET: SECRET, WS_PING_INTERVAL_MS: '200' });
    try {
      const alive = await connect(m1, '', { base: shim.url });
      const dead = await connect(m1, '', { base: shim.url });
      dead.answerPings = false;
      const closed = await Promise.race([dead.closed, sleep(6000).then(() => null)]);
      assert.ok(closed, 'the silent peer is still connected');
      assert.ok(dead.pings > 0, 'it was pinged');
      assert.ok(alive.pings > 0 && !alive.ended, 'the peer that answers stays');
      alive.send({ type: 'ping' });
      assert.equal((await alive.next()).type, 'pong');
      alive.destroy();
    } finally {
      await shim.stop();
    }
  });

  test('WS_MAX_CONNECTIONS and WS_MAX_PER_USER refuse before the upgrade; SIGTERM closes with 1001', async () => {
    const shim = await startShim({ JWT_SECRET: SECRET, WS_MAX_CONNECTIONS: '3', WS_MAX_PER_USER: '2', SHIM_THREADS: '2' });
    let stopped = false;
    try {
      const a = await connect(m1, '', { base: shim.url });
      const b = await connect(m1, '', { base: shim.url });
      const c = await connect(m1, '', { base: shim.url });
      assert.deepEqual([a.status, b.status, c.status], [101, 101, 429]);
      const d = await connect(m2, '', { base: shim.url });
      const e = await connect(host, '', { base: shim.url });
      assert.deepEqual([d.status, e.status], [101, 503]);
      const metrics = await request('GET', '/metrics', { base: shim.url });
      assert.match(metrics.text, /^workon_websockets 3$/m);
      const closes = Promise.all([a.closed, b.closed, d.closed]);
      const exit = shim.stop();
      stopped = true;
      assert.deepEqual((await closes).map((x) => x.code), [1001, 1001, 1001]);
      assert.equal((await exit).code, 0);
    } finally {
      if (!stopped) await shim.stop();
    }
  });

  test('two shims on one database each deliver every event to their own sockets', async () => {
    const shim = await startShim({ JWT_SECRET: SECRET });
    try {
      const here = await connect(host);
      const there = await connect(host, '', { base: shim.url });
      for (let i = 0; i < 5; i++) await post(m1, conv, `both ${i}`);
      for (const ws of [here, there]) {
        const bodies = [];
        while (bodies.length < 5) bodies.push((await nextOf(ws, 'message.created', 3000, (f) => f.data.body.startsWith('both '))).data.body);
        assert.deepEqual(bodies, [0, 1, 2, 3, 4].map((i) => `both ${i}`));
      }
      here.destroy();
      there.destroy();
    } finally {
      await shim.stop();
    }
  });

  test('writes through two shims: both publishers number events, and each shim delivers all of them in order, once', async () => {
    // a shim fans out what its own publisher numbered from memory and reads the rest (what
    // the other one numbered) from the database: with writes through both, the two mix
    const shim = await startShim({ JWT_SECRET: SECRET, SHIM_THREADS: '2' });
    try {
      const here = [await connect(host), await connect(m1)];
      const there = [await connect(host, '', { base: shim.url }), await connect(m1, '', { base: shim.url })];
      const tag = unique();
      const n = 40;
      for (let i = 0; i < n; i += 2) {
        const writes = await Promise.all([post(m1, conv, `mixed ${tag} ${i}`),
          request('POST', `/api/v1/conversations/${conv}/messages`, {
            base: shim.url, headers: bearer(host.token), body: { body: `mixed ${tag} ${i + 1}` },
          })]);
        assert.deepEqual(writes.map((r) => r.status), [201, 201]);
      }
      const sent = psqlList(`SELECT m.body FROM workon.messages m WHERE m.body LIKE ${lit(`mixed ${tag} %`)} ORDER BY m.seq`);
      assert.equal(sent.length, n);
      for (const ws of [...here, ...there]) {
        const bodies = [];
        while (bodies.length < n) {
          bodies.push((await nextOf(ws, 'message.created', 3000, (f) => f.data.body.startsWith(`mixed ${tag} `))).data.body);
        }
        assert.deepEqual(bodies, sent, 'all of them, in the order of their ids');
        assert.deepEqual((await ws.drain(200)).filter((f) => f.data?.body?.startsWith(`mixed ${tag} `)), [], 'none twice');
        ws.destroy();
      }
    } finally {
      await shim.stop();
    }
  });

  test('a publisher held up elsewhere holds up no request; the events follow, in order, once it lets go', async () => {
    const shim = await startShim({ JWT_SECRET: SECRET, SHIM_THREADS: '2' });
    try {
      const ws = await connect(host, '', { base: shim.url });
      const key = "'workon.events'::regclass::oid::bigint";
      // another publisher (another shim, a DBA's call) holds the publishing lock for 3 s
      let released = false;
      const holder = psqlAsync(`SELECT pg_advisory_lock(${key}); SELECT pg_sleep(3); SELECT pg_advisory_unlock(${key});`)
        .then(() => { released = true; });
      await waitFor(() => psql(`SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND objid = (${key})::oid`) === '1', 2000);
      const tag = unique();
      for (let i = 0; i < 10; i++) {
        const res = await request('POST', `/api/v1/conversations/${conv}/messages`, {
          base: shim.url, headers: bearer(m1.token), body: { body: `held ${tag} ${i}` },
        });
        assert.equal(res.status, 201, res.text);
      }
      const reads = await Promise.all(Array.from({ length: 8 }, () => request('GET', '/api/v1/spaces?limit=1', { base: shim.url })));
      assert.deepEqual(reads.map((r) => r.status), Array(8).fill(200));
      assert.equal(released, false, 'the writes and reads waited for the other publisher');
      // nothing is published while it holds the lock; everything right after
      assert.deepEqual((await ws.drain(200)).filter((f) => f.data?.body?.startsWith(`held ${tag}`)), []);
      await holder;
      const bodies = [];
      while (bodies.length < 10) {
        const f = await nextOf(ws, 'message.created', 3000, (x) => x.data.body.startsWith(`held ${tag}`));
        bodies.push(f.data.body);
      }
      assert.deepEqual(bodies, Array.from({ length: 10 }, (_, i) => `held ${tag} ${i}`));
      ws.destroy();
    } finally {
      await shim.stop();
    }
  });

  test('a backlog of events that woke nobody is published in batches and fanned out', async () => {
    const shim = await startShim({ JWT_SECRET: SECRET });
    try {
      const ws = await connect(m2, '', { base: shim.url });
      const tag = unique();
      // 25,000 events for users with no socket, then one for m2, written as the shim's sessions write
      // (workon.notify = after_commit) by a caller that never sends the wake-up
      psql(`SET workon.notify = 'after_commit';
        INSERT INTO workon.events (type, recipients, data)
        SELECT 'message.created', ARRAY[gen_random_uuid()], json_build_object('n', g) FROM generate_series(1, 25000) AS g;
        INSERT INTO workon.events (type, recipients, data)
        VALUES ('message.created', ARRAY[${lit(m2.id)}]::uuid[], json_build_object('body', ${lit(`backlog ${tag}`)}));`);
      const f = await nextOf(ws, 'message.created', 5000, withBody(`backlog ${tag}`));
      assert.ok(BigInt(f.id) > 0n);
      assert.equal(psql('SELECT count(*) FROM workon.events WHERE pos IS NULL'), '0');
      ws.destroy();
    } finally {
      await shim.stop();
    }
  });

  test('DATABASE_DIRECT_URL: the control connections (LISTEN) use it, events still arrive', async () => {
    const app = `workon-direct-${unique()}`;
    // the server itself (behind WORKON_TEST_PGBOUNCER, WORKON_DATABASE_URL is the pooler)
    const server = process.env.WORKON_DATABASE_DIRECT_URL ?? process.env.WORKON_DATABASE_URL;
    const direct = `${server}${server.includes('?') ? '&' : '?'}application_name=${app}`;
    const shim = await startShim({ JWT_SECRET: SECRET, DATABASE_DIRECT_URL: direct, SHIM_THREADS: '2' });
    try {
      // one control connection per thread comes through the direct URL (the pool's do not)
      await waitFor(() => Number(psql(`SELECT count(*) FROM pg_stat_activity WHERE application_name = ${lit(app)}`)) === 2, 5000);
      const ws = await connect(host, '', { base: shim.url });
      await post(m1, conv, 'through the direct URL');
      await nextOf(ws, 'message.created', 3000, withBody('through the direct URL'));
      ws.destroy();
    } finally {
      await shim.stop();
    }
  });

  test('a database restart under open sockets: nothing lost for a client that resumes with ?since=', async () => {
    const ws = await connect(host);
    await post(m1, conv, 'before restart');
    const last = (await nextOf(ws, 'message.created', 1000, withBody('before restart'))).id;
    await pgctl('stop');
    try {
      await sleep(500);
    } finally {
      await pgctl('start');
    }
    await waitFor(async () => (await request('GET', '/readyz')).status === 200, 15000);
    await waitFor(async () => (await post(m1, conv, 'after restart')).status === 201, 15000);
    // the socket stayed open and got it live, or closed cleanly; either way ?since= has it
    if (!ws.ended) await nextOf(ws, 'message.created', 3000, withBody('after restart'));
    const again = await connect(host, `?since=${last}`);
    assert.equal((await nextOf(again, 'message.created', 3000)).data.body, 'after restart');
    again.destroy();
    ws.destroy();
  });
});
