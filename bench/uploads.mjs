// bench/uploads.mjs -- files through the shim against psql's \copy of a bytea column.
//
//   node bench/uploads.mjs <shim url> <member token> <shim pid>
//   (psql reaches the bench database through PGHOST, PGPORT, PGDATABASE, PGUSER)
//
// For 1 MiB and 10 MiB files (21 and 9 rounds), one stream at a time: PUT to a signed upload
// URL and GET of the download URL through the shim, then the same bytes written and read by
// psql's \copy of a bytea column stored like workon.upload_data (uncompressed), in COPY's text
// format (hex, what a plain \copy moves) and in its binary format (the bytes as they are), each
// \copy's time without psql's start and connection (measured apart). MB/s of file bytes in the
// median round, the PUT and GET alone (the POST that declares a file is not counted). Then the mean time of
// a GET of a whole 10 MiB file, of its first 64 KiB (Range) and of a 304 (If-None-Match). Then 32
// concurrent 10 MiB uploads, and the shim's peak resident memory (VmHWM) after them.
// Prints one tab-separated line per measure: name, value.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';

const [base, token, pidArg] = process.argv.slice(2);
if (!base || !token) {
  console.error('usage: node bench/uploads.mjs <shim url> <member token> [shim pid]');
  process.exit(2);
}
const MiB = 1024 * 1024;
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

function request(method, url, { body, headers = {} } = {}) {
  const u = new URL(url, base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname + u.search, method, agent,
      headers: { ...headers, ...(body ? { 'content-length': body.length } : {}) } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

// a JPEG's magic, then random bytes (incompressible, as photos are)
const file = (size) => Buffer.concat([Buffer.from('ffd8ffe0', 'hex'), crypto.randomBytes(size - 4)]);

async function declare(size) {
  const res = await request('POST', '/api/v1/uploads', {
    body: Buffer.from(JSON.stringify({ filename: 'bench.jpg', content_type: 'image/jpeg', size })),
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
  });
  if (res.status !== 201) throw new Error(`POST /api/v1/uploads: ${res.status} ${res.body}`);
  return JSON.parse(res.body).upload_url;
}

async function put(url, bytes) {
  const res = await request('PUT', url, { body: bytes, headers: { 'content-type': 'application/octet-stream' } });
  if (res.status !== 201) throw new Error(`PUT: ${res.status} ${res.body.subarray(0, 200)}`);
  return JSON.parse(res.body).download_url;
}

const psql = (args, input) => execFileSync(process.env.WORKON_PSQL || 'psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', ...args],
  { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 64 * MiB });

const mbps = (bytes, ns) => (bytes / MiB / (Number(ns) / 1e9)).toFixed(1);

// each \copy below is a psql of its own: its start and connection (the least of 5 runs of
// psql -c 'SELECT 1') are taken off every \copy's time, as the shim's keep-alive
// connection pays neither
let psqlStartNs = null;
function timedPsql(args) {
  if (psqlStartNs === null) {
    psqlStartNs = BigInt(Number.MAX_SAFE_INTEGER);
    for (let i = 0; i < 5; i++) {
      const t = process.hrtime.bigint();
      psql(['-c', 'SELECT 1']);
      const ns = process.hrtime.bigint() - t;
      if (ns < psqlStartNs) psqlStartNs = ns;
    }
  }
  const t = process.hrtime.bigint();
  psql(args);
  const ns = process.hrtime.bigint() - t - psqlStartNs;
  return ns > 0n ? ns : 1n;
}

// one round: the same new file through the shim (PUT, GET) and through psql's \copy in COPY's
// text and binary formats (in, out); nanoseconds of each
const int16 = (v) => { const b = Buffer.alloc(2); b.writeInt16BE(v); return b; };
const int32 = (v) => { const b = Buffer.alloc(4); b.writeInt32BE(v); return b; };
async function round(size, i, dir) {
  const bytes = file(size);
  const ns = {};
  const url = await declare(size);
  let t = process.hrtime.bigint();
  const download = await put(url, bytes);
  ns.put = process.hrtime.bigint() - t;
  t = process.hrtime.bigint();
  const got = await request('GET', download);
  ns.get = process.hrtime.bigint() - t;
  if (got.status !== 200 || !got.body.equals(bytes)) throw new Error(`GET: ${got.status}, ${got.body.length} bytes`);

  // COPY's text format: a bytea as \x and hex, what a plain \copy sends
  const text = path.join(dir, 'in.txt');
  fs.writeFileSync(text, `${i}\t\\\\x${bytes.toString('hex')}\n`);
  ns.copyIn = timedPsql(['-c', `\\copy bench.files (id, b) FROM '${text}'`]);
  ns.copyOut = timedPsql(['-c', `\\copy (SELECT b FROM bench.files WHERE id = ${i}) TO '${path.join(dir, 'out.txt')}'`]);
  fs.rmSync(text);
  // COPY's binary format: the bytes as they are
  const bin = path.join(dir, 'in.bin');
  const out = path.join(dir, 'out.bin');
  fs.writeFileSync(bin, Buffer.concat([Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'), int32(0), int32(0),
    int16(2), int32(4), int32(-1 - i), int32(size), bytes, int16(-1)]));
  ns.binIn = timedPsql(['-c', `\\copy bench.files (id, b) FROM '${bin}' WITH (FORMAT binary)`]);
  ns.binOut = timedPsql(['-c', `\\copy (SELECT b FROM bench.files WHERE id = ${-1 - i}) TO '${out}' WITH (FORMAT binary)`]);
  if (fs.statSync(out).size < size) throw new Error('binary \\copy out: too few bytes');
  fs.rmSync(bin);
  return ns;
}

// rounds alternate the shim and \copy, so that the load of a shared machine falls on both;
// MB/s of the median round of each
async function files(size, rounds, dir) {
  psql(['-c', 'CREATE TABLE IF NOT EXISTS bench.files (id int PRIMARY KEY, b bytea NOT NULL);'
    + ' ALTER TABLE bench.files ALTER COLUMN b SET STORAGE EXTERNAL; TRUNCATE bench.files;']);
  const all = [];
  for (let i = 0; i < rounds; i++) all.push(await round(size, i, dir));
  psql(['-c', 'DROP TABLE bench.files;']);
  const median = (k) => {
    const v = all.map((r) => r[k]).sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
    return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2n;
  };
  return Object.fromEntries(['put', 'get', 'copyIn', 'copyOut', 'binIn', 'binOut'].map((k) => [k, mbps(size, median(k))]));
}

function memory(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name) => Number((status.match(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm')) ?? [0, 0])[1]);
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'workon-bench-uploads-'));
try {
  for (const [label, size, rounds] of [['1MiB', MiB, 21], ['10MiB', 10 * MiB, 9]]) {
    const r = await files(size, rounds, dir);
    console.log(`${label}\tput ${r.put}\tget ${r.get}\tcopy-in ${r.copyIn}\tcopy-out ${r.copyOut}\tbin-in ${r.binIn}\tbin-out ${r.binOut}`);
  }
  console.log(`psql\tstart-ms ${(Number(psqlStartNs) / 1e6).toFixed(1)}`);
  {
    // on one stored 10 MiB file, one request at a time: the whole file, its first 64 KiB
    // (Range: only those TOAST chunks are read) and a 304 (If-None-Match: no bytes read)
    const bytes = file(10 * MiB);
    const download = await put(await declare(bytes.length), bytes);
    const etag = `"${crypto.createHash('sha256').update(bytes).digest('hex')}"`;
    const timed = async (n, headers, status) => {
      const t = process.hrtime.bigint();
      for (let i = 0; i < n; i++) {
        const res = await request('GET', download, { headers });
        if (res.status !== status) throw new Error(`GET ${JSON.stringify(headers)}: ${res.status}`);
      }
      return (Number(process.hrtime.bigint() - t) / 1e6 / n).toFixed(2);
    };
    const whole = await timed(5, {}, 200);
    const range = await timed(50, { range: 'bytes=0-65535' }, 206);
    const notModified = await timed(50, { 'if-none-match': etag }, 304);
    console.log(`conditional\twhole-ms ${whole}\trange-ms ${range}\t304-ms ${notModified}`);
  }
  if (pidArg) {
    const before = memory(pidArg);
    const urls = await Promise.all(Array.from({ length: 32 }, () => declare(10 * MiB)));
    const bytes = file(10 * MiB);
    const t = process.hrtime.bigint();
    await Promise.all(urls.map((u) => put(u, bytes)));
    const ns = process.hrtime.bigint() - t;
    const afterwards = memory(pidArg);
    console.log(`concurrent\t32x10MiB ${mbps(32 * 10 * MiB, ns)}\trss-before ${before.rss}\tpeak ${afterwards.hwm}\trss-after ${afterwards.rss}`);
  }
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
  agent.destroy();
}
