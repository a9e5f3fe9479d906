// bench/uploads.mjs -- files through the shim against psql's \copy of a bytea column.
//
//   node bench/uploads.mjs <shim url> <member token> <shim pid>
//   (psql reaches the bench database through PGHOST, PGPORT, PGDATABASE, PGUSER)
//
// For 1 MiB and 10 MiB files, one stream at a time: PUT to a signed upload URL and GET of
// the download URL through the shim, and the same bytes written and read by psql's \copy
// of a bytea column stored like workon.upload_data (uncompressed). MB/s of file bytes,
// the PUT and GET alone (the POST that declares a file is not counted). Then 32
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

async function shim(size, rounds) {
  let putNs = 0n;
  let getNs = 0n;
  for (let i = 0; i < rounds; i++) {
    const bytes = file(size);
    const url = await declare(size);
    let t = process.hrtime.bigint();
    const download = await put(url, bytes);
    putNs += process.hrtime.bigint() - t;
    t = process.hrtime.bigint();
    const got = await request('GET', download);
    getNs += process.hrtime.bigint() - t;
    if (got.status !== 200 || !got.body.equals(bytes)) throw new Error(`GET: ${got.status}, ${got.body.length} bytes`);
  }
  return [mbps(size * rounds, putNs), mbps(size * rounds, getNs)];
}

function copy(size, rounds, dir) {
  psql(['-c', 'CREATE TABLE IF NOT EXISTS bench.files (id int PRIMARY KEY, b bytea NOT NULL);'
    + ' ALTER TABLE bench.files ALTER COLUMN b SET STORAGE EXTERNAL; TRUNCATE bench.files;']);
  let inNs = 0n;
  let outNs = 0n;
  for (let i = 0; i < rounds; i++) {
    // COPY's text format: a bytea as \x and hex, what \copy sends
    const src = path.join(dir, `in-${i}.txt`);
    fs.writeFileSync(src, `${i}\t\\\\x${file(size).toString('hex')}\n`);
    let t = process.hrtime.bigint();
    psql(['-c', `\\copy bench.files (id, b) FROM '${src}'`]);
    inNs += process.hrtime.bigint() - t;
    t = process.hrtime.bigint();
    psql(['-c', `\\copy (SELECT b FROM bench.files WHERE id = ${i}) TO '${path.join(dir, 'out.txt')}'`]);
    outNs += process.hrtime.bigint() - t;
    fs.rmSync(src);
  }
  psql(['-c', 'DROP TABLE bench.files;']);
  return [mbps(size * rounds, inNs), mbps(size * rounds, outNs)];
}

function memory(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name) => Number((status.match(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm')) ?? [0, 0])[1]);
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'workon-bench-uploads-'));
try {
  for (const [label, size, rounds] of [['1MiB', MiB, 20], ['10MiB', 10 * MiB, 4]]) {
    const [up, down] = await shim(size, rounds);
    const [cin, cout] = copy(size, rounds, dir);
    console.log(`${label}\tput ${up}\tget ${down}\tcopy-in ${cin}\tcopy-out ${cout}`);
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
