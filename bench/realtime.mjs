// Realtime bench: what the WebSocket layer costs and delivers.
//
//   node bench/realtime.mjs            (scripts/bench.sh runs it with the variables below)
//
// BENCH_URL: the shim; BENCH_SHIM_PID: its pid (for RSS); psql reaches the same database
// through WORKON_PG* (test/http/README.md). BENCH_REALTIME_SECONDS (30), BENCH_RATE (1000
// messages/s), BENCH_SOCKETS (1000, in BENCH_SOCKETS/2 conversations), BENCH_IDLE (10000).
//
// Prints, one line each:
//   writes, no NOTIFY     POST /api/v1/conversations/{id}/messages at the rate: done/s, p50, p99,
//                         with the events' NOTIFY trigger disabled (what the wake-up costs)
//   writes, no socket     the same with it
//   writes, N sockets     the same with N sockets connected
//   delivery              messages sent / received by the other participant's socket,
//                         POST-sent-to-frame-received p50 and p99 (an upper bound of
//                         commit-to-receive: it includes the request and the commit)
//   idle sockets          RSS of the shim before and with BENCH_IDLE authenticated sockets
import fs from 'node:fs';
import http from 'node:http';
import { psql } from '../test/http/lib/client.mjs';
import { wsConnect } from '../test/http/lib/ws-client.mjs';

const BASE = process.env.BENCH_URL || 'http://127.0.0.1:8080';
const SECONDS = Number(process.env.BENCH_REALTIME_SECONDS || 30);
const RATE = Number(process.env.BENCH_RATE || 1000);
const SOCKETS = Number(process.env.BENCH_SOCKETS || 1000);
const IDLE = Number(process.env.BENCH_IDLE || 10000);
const PID = process.env.BENCH_SHIM_PID;

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
const url = new URL(BASE);

function postMessage(token, conv, body) {
  return new Promise((resolve) => {
    const data = JSON.stringify({ body });
    const req = http.request({
      host: url.hostname, port: url.port, path: `/api/v1/conversations/${conv}/messages`, method: 'POST', agent,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) },
    }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)); });
    req.on('error', () => resolve(0));
    req.end(data);
  });
}

const pct = (xs, p) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const ms = (x) => `${x.toFixed(2)} ms`;
const rss = () => {
  if (!PID) return NaN;
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${PID}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
};

// pairs of (member, host) users, a space per host, a conversation per pair; tokens from SQL
function setup(pairs) {
  const tag = Date.now().toString(36);
  const rows = psql(`
    SET workon.jwt_access_ttl = 86400;
    WITH h AS (
      INSERT INTO workon.users (email, name, role)
      SELECT 'rth' || n || '-${tag}@example.com', 'Host ' || n, 'host' FROM generate_series(1, ${pairs}) AS n
      RETURNING id, email),
    m AS (
      INSERT INTO workon.users (email, name, role)
      SELECT 'rtm' || n || '-${tag}@example.com', 'Member ' || n, 'member' FROM generate_series(1, ${pairs}) AS n
      RETURNING id, email),
    hn AS (SELECT id, (regexp_match(email, '^rth([0-9]+)-'))[1]::int AS n FROM h),
    mn AS (SELECT id, (regexp_match(email, '^rtm([0-9]+)-'))[1]::int AS n FROM m),
    s AS (
      INSERT INTO workon.spaces (host_id, name, kind, city, address, capacity, timezone, hourly_rate_cents,
                                 daily_rate_cents, currency, opening_hours, published)
      SELECT hn.id, 'Bench ' || hn.n, 'desk', 'Lyon', 'Rue', 1, 'UTC', 1000, 6000, 'eur', '{}', true FROM hn
      RETURNING id, host_id),
    c AS (
      INSERT INTO workon.conversations (space_id, member_id, host_id)
      SELECT s.id, mn.id, s.host_id FROM s JOIN hn ON hn.id = s.host_id JOIN mn ON mn.n = hn.n
      RETURNING id, member_id, host_id)
    SELECT c.id || ' ' || workon.jwt_issue(c.member_id, 'member') || ' ' || workon.jwt_issue(c.host_id, 'host') FROM c;`);
  return rows.split('\n').filter(Boolean).map((l) => {
    const [conv, member, host] = l.split(' ');
    return { conv, member, host };
  });
}

// posts at RATE for SECONDS, round robin over the pairs; returns HTTP latencies and send times
async function writes(pairs, label, sent) {
  const lat = [];
  let n = 0, ok = 0;
  const started = Date.now();
  const pending = [];
  const total = RATE * SECONDS;
  while (n < total) {
    const due = started + (n * 1000) / RATE;
    const wait = due - Date.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const batchEnd = Math.min(total, Math.floor(((Date.now() - started) * RATE) / 1000) + 1);
    for (; n < batchEnd; n++) {
      const p = pairs[n % pairs.length];
      const id = `m${n}`;
      const t0 = performance.now();
      if (sent) sent.set(id, t0);
      pending.push(postMessage(p.member, p.conv, id).then((status) => {
        lat.push(performance.now() - t0);
        if (status === 201) ok++;
      }));
    }
  }
  await Promise.all(pending);
  const secs = (Date.now() - started) / 1000;
  console.log(`${label.padEnd(22)} ${total} posted, ${ok} created, ${(ok / secs).toFixed(0)}/s, p50 ${ms(pct(lat, 50))}, p99 ${ms(pct(lat, 99))}`);
}

async function main() {
  const pairs = setup(SOCKETS / 2);
  // what NOTIFY workon_events costs the writers (it serializes commits on a global lock)
  psql('ALTER TABLE workon.events DISABLE TRIGGER events_notify;');
  try {
    await writes(pairs, 'writes, no NOTIFY');
  } finally {
    psql('ALTER TABLE workon.events ENABLE TRIGGER events_notify;');
  }
  await writes(pairs, 'writes, no socket');

  const sent = new Map();
  const got = [];
  const sockets = [];
  for (const p of pairs) {
    for (const token of [p.member, p.host]) {
      const ws = await wsConnect(BASE, '/api/v1/ws', { token, timeoutMs: 10000 });
      if (ws.status !== 101) throw new Error(`upgrade refused: ${ws.status} ${ws.body}`);
      sockets.push(ws);
    }
  }
  // the host's socket of each pair: the time its message.created frames arrive
  for (let i = 1; i < sockets.length; i += 2) {
    sockets[i].onFrame = (f) => {
      const t = sent.get(f.data?.body);
      if (f.type === 'message.created' && t !== undefined) got.push(performance.now() - t);
    };
  }
  for (let i = 0; i < sockets.length; i += 2) sockets[i].onFrame = () => {};
  await writes(pairs, `writes, ${sockets.length} sockets`, sent);
  await new Promise((r) => setTimeout(r, 2000));
  console.log(`${'delivery'.padEnd(22)} ${sent.size} sent, ${got.length} received, p50 ${ms(pct(got, 50))}, p99 ${ms(pct(got, 99))}`);
  for (const ws of sockets) ws.destroy();

  await new Promise((r) => setTimeout(r, 1000));
  const before = rss();
  const idle = [];
  for (let i = 0; i < IDLE; i++) {
    // spread over every user (each gets IDLE / SOCKETS sockets)
    const p = pairs[Math.floor(i / 2) % pairs.length];
    const ws = await wsConnect(BASE, '/api/v1/ws', { token: i % 2 ? p.host : p.member, timeoutMs: 10000 });
    if (ws.status !== 101) throw new Error(`idle socket ${i} refused: ${ws.status} ${ws.body}`);
    idle.push(ws);
  }
  await new Promise((r) => setTimeout(r, 1000));
  console.log(`${'idle sockets'.padEnd(22)} ${idle.length} open, shim RSS ${before.toFixed(1)} MB before, ${rss().toFixed(1)} MB with them`);
  for (const ws of idle) ws.destroy();
  agent.destroy();
}

main().catch((e) => { console.error(e); process.exit(1); });
