// Realtime bench: what the WebSocket layer costs the writers and how fast it delivers.
//
//   node bench/realtime.mjs fanout | hold | idle     (scripts/bench-realtime.sh runs it)
//
// BENCH_URL: the shim; BENCH_SHIM_PID: its pid (for RSS); psql reaches the bench database
// through WORKON_PG* (test/http/README.md), where bench/realtime.sql made bench.pairs: a
// conversation between a member and a host per row, with a token of each.
// BENCH_REALTIME_SECONDS (30), BENCH_RATE (1000 messages/s), BENCH_IDLE (10000).
//
// fanout: every user's socket (2 per pair) and POSTs at BENCH_RATE for BENCH_REALTIME_SECONDS,
// round robin over the conversations, by their members, three times: with the events' NOTIFY
// trigger disabled and no socket (the write path without the realtime wake-up), with it and no
// socket, with the sockets open. One JSON line per run: {run, posted, created, per_second,
// p50_ms, p99_ms (POST latency), other (the other answers: "<count>x<status>", 0 for none)}, and for the last also delivery: frames expected (two per
// message: both participants' sockets), received, duplicates, and two latencies of each frame,
// p50 and p99: commit-to-receive (from the message's created_at, clock_timestamp() in the
// posting transaction before its commit, to the frame's arrival, on the machine's clock: an
// upper bound) and post-to-receive (from the request being sent).
// hold: opens every user's socket, prints {"open": N}, counts frames until SIGTERM, then
// prints {"open", "frames"}.
// idle: BENCH_IDLE authenticated sockets spread over the users; prints the shim's RSS before
// and with them: {"sockets", "open", "rss_before_mb", "rss_mb"}.
import fs from 'node:fs';
import net from 'node:net';
import { psql } from '../test/http/lib/client.mjs';
import { wsConnect } from '../test/http/lib/ws-client.mjs';

const BASE = process.env.BENCH_URL || 'http://127.0.0.1:8080';
const SECONDS = Number(process.env.BENCH_REALTIME_SECONDS || 30);
const RATE = Number(process.env.BENCH_RATE || 1000);
const IDLE = Number(process.env.BENCH_IDLE || 10000);
const PID = process.env.BENCH_SHIM_PID;

const url = new URL(BASE);

// One keep-alive HTTP/1.1 connection of the writers: one request in flight, requests written
// as bytes and answers read by their Content-Length (the shim's JSON answers have one).
// Lighter than node's http.Agent (about 0.07 against 0.2 ms of CPU per request here), so
// that the load generator leaves the two cores to the shim and the database.
class Writer {
  constructor(onFree) {
    this.onFree = onFree;
    this.job = null;
    this.buf = Buffer.alloc(0);
    this.open();
  }

  open() {
    this.ready = false;
    this.sock = net.connect(Number(url.port), url.hostname, () => {
      this.sock.setNoDelay(true);
      this.ready = true;
      this.onFree(this);
    });
    this.sock.on('data', (d) => this.read(d));
    this.sock.on('error', () => {});
    this.sock.on('close', () => {
      // an answer that will not come: counted as status 0, then a new connection
      if (this.job) this.finish(0);
      if (!this.closing) this.open();
    });
  }

  send(job) {
    this.job = job;
    const data = `{"body":"${job.body}"}`;
    this.sock.write(`POST /api/v1/conversations/${job.conv}/messages HTTP/1.1\r\nHost: ${url.host}\r\n`
      + `Authorization: Bearer ${job.token}\r\nContent-Type: application/json\r\n`
      + `Content-Length: ${Buffer.byteLength(data)}\r\n\r\n${data}`);
  }

  read(d) {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    for (;;) {
      const h = this.buf.indexOf('\r\n\r\n');
      if (h < 0) return;
      const head = this.buf.subarray(0, h).toString('latin1');
      const m = /\r\ncontent-length:[ \t]*(\d+)/i.exec(head);
      const len = m ? Number(m[1]) : 0;
      if (this.buf.length < h + 4 + len) return;
      this.buf = this.buf.subarray(h + 4 + len);
      this.finish(Number(head.slice(9, 12)) || 0);
      if (/\r\nconnection:[ \t]*close/i.test(head)) {
        this.sock.destroy();
        return;
      }
      this.onFree(this);
    }
  }

  finish(status) {
    const { done } = this.job;
    this.job = null;
    done(status);
  }

  close() {
    this.closing = true;
    this.sock.destroy();
  }
}

const pct = (xs, p) => {
  if (xs.length === 0) return null;
  const s = Float64Array.from(xs).sort();
  return Number(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))].toFixed(2));
};
const rssMb = () => {
  if (!PID) return null;
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${PID}/status`, 'utf8'));
  return m ? Number((Number(m[1]) / 1024).toFixed(1)) : null;
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The machine's clock in ms with the resolution of performance.now(): Date.now() only has
// milliseconds, so the offset is taken at the moment its value turns over.
let clockOffset = 0;
function syncClock() {
  const d0 = Date.now();
  let d;
  while ((d = Date.now()) === d0);
  clockOffset = d - performance.now();
}
const wallMs = () => performance.now() + clockOffset;
// "2026-12-07T17:47:14.123456+00:00" -> ms since the epoch, microseconds kept
function tsMs(s) {
  const m = /^([^.]+)(\.\d+)?(.*)$/.exec(s);
  return Date.parse(m[1] + m[3]) + (m[2] ? Number(`0${m[2]}`) * 1000 : 0);
}

function loadPairs() {
  return psql('SELECT conv, member, host FROM bench.pairs ORDER BY i').split('\n').map((l) => {
    const [conv, member, host] = l.split('|');
    return { conv, member, host };
  });
}

async function openSockets(pairs) {
  const sockets = [];
  for (const p of pairs) {
    for (const token of [p.member, p.host]) {
      const ws = await wsConnect(BASE, '/api/v1/ws', { token, timeoutMs: 10000 });
      if (ws.status !== 101) throw new Error(`upgrade refused: ${ws.status} ${ws.body}`);
      sockets.push(ws);
    }
  }
  return sockets;
}

// posts at RATE for SECONDS, round robin over the pairs, on 64 keep-alive connections: each
// request is due at its time and waits for a free connection (an open loop: its latency is
// counted from when it was due); sent (if given) maps the body to that time
async function writes(pairs, run, sent) {
  const lat = [];
  let n = 0, ok = 0, answered = 0;
  const other = {};
  const total = RATE * SECONDS;
  const due = [];
  let next = 0;
  let allDone;
  const finished = new Promise((r) => { allDone = r; });
  const take = (w) => {
    if (w.job === null && w.ready && next < due.length) w.send(due[next++]);
  };
  // connections of their own: the shim closes idle keep-alive connections between runs
  const writers = Array.from({ length: 64 }, () => new Writer(take));
  const started = performance.now();
  while (n < total) {
    // always yield to the event loop (a loop that only slept when more than a millisecond
    // early spun between sends, starving the connections it was feeding: the writers then
    // reached about 580 messages a second)
    const wait = started + (n * 1000) / RATE - performance.now();
    if (wait > 0) await sleep(wait);
    else await new Promise((r) => setImmediate(r));
    const batchEnd = Math.min(total, Math.floor(((performance.now() - started) * RATE) / 1000) + 1);
    for (; n < batchEnd; n++) {
      const p = pairs[n % pairs.length];
      const body = `m${n}`;
      const t0 = performance.now();
      if (sent) sent.set(body, t0);
      due.push({
        conv: p.conv, token: p.member, body, done: (status) => {
          lat.push(performance.now() - t0);
          if (status === 201) ok++;
          else other[status] = (other[status] || 0) + 1;
          if (++answered === total) allDone();
        },
      });
    }
    for (const w of writers) take(w);
  }
  await finished;
  for (const w of writers) w.close();
  const secs = (performance.now() - started) / 1000;
  return {
    run, posted: total, created: ok, per_second: Math.round(ok / secs), p50_ms: pct(lat, 50), p99_ms: pct(lat, 99),
    other: Object.entries(other).map(([k, v]) => `${v}x${k}`).join(',') || '-',
  };
}

async function fanout() {
  const pairs = loadPairs();
  // what NOTIFY workon_events costs the writers (it serializes commits on a global lock)
  psql('ALTER TABLE workon.events DISABLE TRIGGER events_notify;');
  try {
    console.log(JSON.stringify(await writes(pairs, 'no NOTIFY, no socket')));
  } finally {
    psql('ALTER TABLE workon.events ENABLE TRIGGER events_notify;');
  }
  console.log(JSON.stringify(await writes(pairs, 'no socket')));

  const sockets = await openSockets(pairs);
  await sleep(1000);
  const sent = new Map();
  const seen = new Set();
  const commit = [], post = [];
  let received = 0, duplicates = 0;
  syncClock();
  sockets.forEach((ws, k) => {
    ws.onFrame = (f) => {
      const now = performance.now();
      if (f.type !== 'message.created') return;
      const t = sent.get(f.data.body);
      if (t === undefined) return;
      const key = `${k} ${f.data.body}`;
      if (seen.has(key)) { duplicates++; return; }
      seen.add(key);
      received++;
      post.push(now - t);
      commit.push(now + clockOffset - tsMs(f.data.created_at));
    };
  });
  const w = await writes(pairs, `${sockets.length} sockets`, sent);
  const deadline = performance.now() + 5000;
  while (received < 2 * w.created && performance.now() < deadline) await sleep(50);
  console.log(JSON.stringify({
    ...w, expected: 2 * w.created, received, duplicates,
    commit_p50_ms: pct(commit, 50), commit_p99_ms: pct(commit, 99), commit_max_ms: pct(commit, 100),
    post_p50_ms: pct(post, 50), post_p99_ms: pct(post, 99),
  }));
  for (const ws of sockets) ws.destroy();
}

async function hold() {
  const sockets = await openSockets(loadPairs());
  let frames = 0;
  for (const ws of sockets) ws.onFrame = () => { frames++; };
  console.log(JSON.stringify({ open: sockets.length }));
  await new Promise((r) => process.once('SIGTERM', r));
  console.log(JSON.stringify({ open: sockets.filter((ws) => !ws.ended).length, frames }));
  for (const ws of sockets) ws.destroy();
}

async function idle() {
  const pairs = loadPairs();
  const before = rssMb();
  const sockets = [];
  for (let i = 0; i < IDLE; i++) {
    // spread over every user (each gets IDLE / users sockets)
    const p = pairs[Math.floor(i / 2) % pairs.length];
    const ws = await wsConnect(BASE, '/api/v1/ws', { token: i % 2 ? p.host : p.member, timeoutMs: 10000 });
    if (ws.status !== 101) throw new Error(`idle socket ${i} refused: ${ws.status} ${ws.body}`);
    sockets.push(ws);
  }
  await sleep(1000);
  console.log(JSON.stringify({
    sockets: IDLE, open: sockets.filter((ws) => !ws.ended).length, rss_before_mb: before, rss_mb: rssMb(),
  }));
  for (const ws of sockets) ws.destroy();
}

const modes = { fanout, hold, idle };
const mode = modes[process.argv[2]];
if (!mode) {
  console.error('usage: node bench/realtime.mjs fanout|hold|idle');
  process.exit(2);
}
mode().catch((e) => { console.error(e); process.exit(1); });
