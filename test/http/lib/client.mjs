// Shared code of the HTTP end-to-end tests: an HTTP/1.1 request function, psql,
// extra shim processes, polling and assertions on the error shape.
import assert from 'node:assert/strict';
import { spawn, execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkResponse } from './contract.mjs';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const BASE = process.env.WORKON_URL || 'http://127.0.0.1:8080';

// X-Request-Id as API.md defines an acceptable one.
export const REQUEST_ID_RE = /^[A-Za-z0-9._-]{1,128}$/;
// RFC 3339 date-time with an explicit offset.
export const RFC3339_RE =
  /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// No keep-alive unless a test asks for it: an idle pooled socket closed by the server
// would otherwise turn into a spurious ECONNRESET in an unrelated test.
const noKeepAlive = new http.Agent({ keepAlive: false });

function hasHeader(headers, name) {
  return Object.keys(headers).some((k) => k.toLowerCase() === name);
}

// One HTTP/1.1 request. body: string | Buffer (sent as is) | any other value (sent as
// JSON with Content-Type application/json unless a content-type header is given).
// Resolves {status, headers, text, json, raw}; json is undefined when the body is not JSON.
// An answer of the main shim (BASE) is checked against its OpenAPI document
// (lib/contract.mjs) and rejects on a mismatch; opts.contract === false exempts a
// deliberately broken request that never reaches a route (the caller says why).
export async function request(method, reqPath, opts = {}) {
  const res = await send(method, reqPath, opts);
  if (opts.contract !== false && new URL(opts.base ?? BASE).origin === MAIN_ORIGIN) {
    await checkResponse(MAIN_ORIGIN, method, reqPath, res);
  }
  return res;
}

const MAIN_ORIGIN = new URL(BASE).origin;

function send(method, reqPath, opts) {
  const base = new URL(opts.base ?? BASE);
  const headers = { ...(opts.headers ?? {}) };
  let body = opts.body;
  if (body !== undefined && body !== null && typeof body !== 'string' && !Buffer.isBuffer(body)) {
    body = JSON.stringify(body);
    if (!hasHeader(headers, 'content-type')) headers['content-type'] = 'application/json';
  }
  if (body !== undefined && body !== null && !opts.chunked && !hasHeader(headers, 'content-length')) {
    headers['content-length'] = String(Buffer.byteLength(body));
  }
  const timeoutMs = opts.timeoutMs ?? 15000;
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (err, value) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) reject(err); else resolve(value);
    };
    const req = http.request({
      host: base.hostname,
      port: base.port,
      method,
      path: reqPath,
      headers,
      agent: opts.agent ?? noKeepAlive,
      ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
    });
    const timer = setTimeout(() => {
      finish(new Error(`timeout after ${timeoutMs} ms: ${method} ${reqPath}`));
      req.destroy();
    }, timeoutMs);
    if (opts.onSocket) req.on('socket', opts.onSocket);
    req.on('response', (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('error', (e) => finish(e));
      res.on('close', () => {
        if (!res.complete) finish(new Error(`response aborted: ${method} ${reqPath}`));
      });
      res.on('end', () => {
        const raw = Buffer.concat(chunks);
        const text = raw.toString('utf8');
        let json;
        try { json = JSON.parse(text); } catch { json = undefined; }
        finish(null, { status: res.statusCode, headers: res.headers, text, json, raw });
      });
    });
    req.on('error', (e) => {
      // A server may answer (e.g. 413) and close before the whole body was written;
      // once a response has started, its own events decide the outcome.
      if (req.res) return;
      finish(e);
    });
    if (body !== undefined && body !== null) {
      if (opts.chunked) {
        const buf = Buffer.from(body);
        const step = opts.chunkSize ?? 512;
        for (let i = 0; i < buf.length; i += step) req.write(buf.subarray(i, i + step));
      } else {
        req.write(body);
      }
    }
    req.end();
  });
}

export const get = (p, opts) => request('GET', p, opts);

// Builds a query string from an object, percent-encoding values.
export function qs(params) {
  const parts = Object.entries(params)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`);
  return parts.length ? `?${parts.join('&')}` : '';
}

// ---------------------------------------------------------------------------------------
// HTTP/2 (h2c prior knowledge)

export function h2connect(url) {
  return new Promise((resolve, reject) => {
    const session = http2.connect(url);
    session.once('connect', () => {
      session.off('error', reject);
      // a session error also fails its streams; keep it from becoming an uncaught exception
      session.on('error', () => {});
      resolve(session);
    });
    session.once('error', reject);
  });
}

export function h2request(session, reqPath, { method = 'GET', headers = {}, body, timeoutMs = 15000 } = {}) {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':method': method, ':path': reqPath, ...headers });
    const chunks = [];
    let resHeaders = {};
    const timer = setTimeout(() => {
      stream.close(http2.constants.NGHTTP2_CANCEL);
      reject(new Error(`h2 timeout after ${timeoutMs} ms: ${method} ${reqPath}`));
    }, timeoutMs);
    stream.on('response', (h) => { resHeaders = h; });
    stream.on('data', (c) => chunks.push(c));
    stream.on('error', (e) => { clearTimeout(timer); reject(e); });
    stream.on('end', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('utf8');
      let json;
      try { json = JSON.parse(text); } catch { json = undefined; }
      resolve({ status: resHeaders[':status'], headers: resHeaders, text, json });
    });
    if (body !== undefined) stream.end(body); else stream.end();
  });
}

// ---------------------------------------------------------------------------------------
// Raw HTTP/1.1 response parsing (for pipelining over a plain socket)

// Parses as many complete responses as buf holds. Returns {responses, rest}.
export function parseHttpResponses(buf) {
  const responses = [];
  let off = 0;
  for (;;) {
    const headEnd = buf.indexOf('\r\n\r\n', off);
    if (headEnd < 0) break;
    const lines = buf.subarray(off, headEnd).toString('latin1').split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
    if (!m) throw new Error(`bad status line: ${JSON.stringify(lines[0])}`);
    const status = Number(m[1]);
    const headers = {};
    for (const line of lines.slice(1)) {
      const i = line.indexOf(':');
      if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
    let p = headEnd + 4;
    let body;
    if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
      const parts = [];
      let complete = false;
      for (;;) {
        const le = buf.indexOf('\r\n', p);
        if (le < 0) break;
        const size = parseInt(buf.subarray(p, le).toString('latin1'), 16);
        if (Number.isNaN(size)) throw new Error('bad chunk size');
        if (size === 0) {
          const te = buf.indexOf('\r\n\r\n', le);
          if (buf.subarray(le, le + 4).toString('latin1') === '\r\n\r\n') { p = le + 4; complete = true; }
          else if (te >= 0) { p = te + 4; complete = true; }
          break;
        }
        if (buf.length < le + 2 + size + 2) break;
        parts.push(buf.subarray(le + 2, le + 2 + size));
        p = le + 2 + size + 2;
      }
      if (!complete) break;
      body = Buffer.concat(parts);
    } else if (headers['content-length'] !== undefined) {
      const len = Number(headers['content-length']);
      if (buf.length < p + len) break;
      body = buf.subarray(p, p + len);
      p += len;
    } else if (status === 204 || status === 304 || (status >= 100 && status < 200)) {
      body = Buffer.alloc(0);
    } else {
      throw new Error(`response ${status} has neither Content-Length nor chunked encoding`);
    }
    const text = body.toString('utf8');
    let json;
    try { json = JSON.parse(text); } catch { json = undefined; }
    responses.push({ status, headers, text, json });
    off = p;
  }
  return { responses, rest: buf.subarray(off) };
}

// ---------------------------------------------------------------------------------------
// psql

function findPsql() {
  if (process.env.WORKON_PSQL) return process.env.WORKON_PSQL;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && fs.existsSync(path.join(dir, 'psql'))) return path.join(dir, 'psql');
  }
  return '/usr/lib/postgresql/15/bin/psql';
}

export const PSQL = findPsql();

// Environment of psql and the other client programs (pg_dump, pg_restore beside it).
export function psqlEnv() {
  const env = { ...process.env };
  if (process.env.WORKON_PGHOST) env.PGHOST = process.env.WORKON_PGHOST;
  if (process.env.WORKON_PGPORT) env.PGPORT = process.env.WORKON_PGPORT;
  if (process.env.WORKON_PGDATABASE) env.PGDATABASE = process.env.WORKON_PGDATABASE;
  if (process.env.WORKON_PGUSER) env.PGUSER = process.env.WORKON_PGUSER;
  env.PGCONNECT_TIMEOUT = '5';
  return env;
}

const PSQL_ARGS = ['-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1', '-f', '-'];

function trimOut(s) {
  return s.replace(/\n$/, '');
}

// Runs SQL as the superuser; returns stdout (unaligned, tuples only) without the final newline.
export function psql(sql) {
  try {
    return trimOut(execFileSync(PSQL, PSQL_ARGS, {
      input: sql, env: psqlEnv(), encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'],
    }));
  } catch (e) {
    throw new Error(`psql failed: ${e.stderr || e.message}\nSQL: ${sql}`);
  }
}

// Same, without blocking the event loop.
export function psqlAsync(sql) {
  return new Promise((resolve, reject) => {
    const child = execFile(PSQL, PSQL_ARGS, { env: psqlEnv(), encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`psql failed: ${stderr || err.message}\nSQL: ${sql}`));
      else resolve(trimOut(stdout));
    });
    child.stdin.end(sql);
  });
}

// Rows of a query as parsed JSON objects.
export function psqlRows(sql) {
  const out = psql(`SELECT coalesce(json_agg(t), '[]'::json) FROM (${sql}) t;`);
  return JSON.parse(out);
}

// A one-column query as a list of strings.
export function psqlList(sql) {
  const out = psql(sql);
  return out === '' ? [] : out.split('\n');
}

// Behind WORKON_TEST_PGBOUNCER, server sessions outlive a client's: after ALTER DATABASE ...
// SET, PgBouncer is told to open new ones (its admin command RECONNECT); otherwise nothing.
export function poolerReconnect() {
  if (!process.env.WORKON_PGBOUNCER_HOST) return;
  execFileSync(PSQL, ['-X', '-q', '-c', `RECONNECT ${process.env.WORKON_PGDATABASE}`], {
    env: { ...psqlEnv(), PGHOST: process.env.WORKON_PGBOUNCER_HOST, PGPORT: process.env.WORKON_PGBOUNCER_PORT, PGDATABASE: 'pgbouncer' },
    encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'],
  });
}

// SQL string literal.
export function lit(s) {
  return `'${String(s).replaceAll("'", "''")}'`;
}

// Runs scripts/pgctl.sh stop|start|restart on the test cluster (or $WORKON_PGCTL).
export function pgctl(action) {
  const script = process.env.WORKON_PGCTL || path.join(ROOT, 'scripts', 'pgctl.sh');
  return new Promise((resolve, reject) => {
    execFile('bash', [script, action], { env: process.env, encoding: 'utf8', timeout: 60000 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`pgctl.sh ${action} failed: ${err.message}\n${stdout}\n${stderr}`));
        else resolve(stdout);
      });
  });
}

// ---------------------------------------------------------------------------------------
// Polling, ports, extra shim processes

// Calls fn until it returns a truthy value (returned) or timeoutMs passes (throws with
// the last result or error).
export async function waitFor(fn, timeoutMs = 5000, intervalMs = 50) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = v;
    } catch (e) {
      last = e;
    }
    if (Date.now() >= deadline) {
      const why = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(`condition not met within ${timeoutMs} ms (last: ${why})`);
    }
    await sleep(intervalMs);
  }
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const children = new Set();
process.on('exit', () => {
  for (const c of children) {
    try { c.kill('SIGKILL'); } catch { /* already gone */ }
  }
});

// Starts an extra shim on a free loopback port with the given extra environment (rate
// limiting off unless it says otherwise) and waits for its /healthz. Returns {url, port, pid, alive(), output(), stop()}.
export async function startShim(extraEnv = {}, { timeoutMs = 15000, waitForRoutes = true } = {}) {
  const bin = process.env.WORKON_SHIM_BIN;
  assert.ok(bin, 'WORKON_SHIM_BIN is not set');
  assert.ok(process.env.WORKON_DATABASE_URL, 'WORKON_DATABASE_URL is not set');
  let lastError;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const env = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      DATABASE_URL: process.env.WORKON_DATABASE_URL,
      HOST: '127.0.0.1',
      PORT: String(port),
      NODE_ENV: 'development',
      // tests make many requests from one address; rate-limit tests turn it on
      RATE_LIMIT_ENABLED: 'false',
      // WORKON_TEST_PGBOUNCER=1 (scripts/test.sh): DATABASE_URL is a transaction pooler
      ...(process.env.WORKON_DATABASE_POOLER ? {
        DATABASE_POOLER: process.env.WORKON_DATABASE_POOLER,
        DATABASE_DIRECT_URL: process.env.WORKON_DATABASE_DIRECT_URL,
      } : {}),
      ...extraEnv,
    };
    // the sanitizers' settings of a SANITIZE=1 run (scripts/test.sh) reach the extra shims too
    for (const k of ['HOME', 'LD_LIBRARY_PATH', 'TZ', 'LANG', 'LC_ALL', 'ASAN_OPTIONS', 'UBSAN_OPTIONS']) {
      if (process.env[k] !== undefined && env[k] === undefined) env[k] = process.env[k];
    }
    const child = spawn(bin, [], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let output = '';
    const keep = (d) => { output = (output + d).slice(-65536); };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => { children.delete(child); resolve({ code, signal }); });
    });
    child.once('error', (e) => { output += `\nspawn error: ${e.message}`; });
    const alive = () => child.exitCode === null && child.signalCode === null;
    const url = `http://127.0.0.1:${port}`;
    const stop = async () => {
      if (!alive()) return exited;
      child.kill('SIGTERM');
      const t = setTimeout(() => { if (alive()) child.kill('SIGKILL'); }, 5000);
      const r = await exited;
      clearTimeout(t);
      return r;
    };
    const deadline = Date.now() + timeoutMs;
    let up = false;
    while (Date.now() < deadline && alive()) {
      try {
        const r = await request('GET', '/healthz', { base: url, timeoutMs: 1000 });
        if (r.status === 200) { up = true; break; }
      } catch { /* not listening yet */ }
      await sleep(50);
    }
    if (up) {
      // each thread loads its route table on its own: wait (a while) until the threads
      // answering /api/v1/health (never rate limited) have one
      let loaded = 0;
      const routesBy = Date.now() + 5000;
      while (waitForRoutes && loaded < 8 && Date.now() < routesBy && alive()) {
        try {
          const r = await request('GET', '/api/v1/health', { base: url, timeoutMs: 1000 });
          loaded = r.json?.routes > 0 ? loaded + 1 : 0;
        } catch { loaded = 0; }
        if (loaded === 0) await sleep(50);
      }
      return { url, port, pid: child.pid, alive, output: () => output, stop };
    }
    await stop();
    lastError = new Error(`extra shim did not come up on port ${port}: ${output}`);
  }
  throw lastError;
}

// ---------------------------------------------------------------------------------------
// Assertions

export function assertRequestId(res) {
  const id = res.headers['x-request-id'];
  assert.equal(typeof id, 'string', `response ${res.status} lacks X-Request-Id`);
  assert.match(id, REQUEST_ID_RE, `X-Request-Id ${JSON.stringify(id)} is not 1-128 of [A-Za-z0-9._-]`);
  return id;
}

export function assertJsonType(res) {
  assert.match(res.headers['content-type'] ?? '', /^application\/json\b/i,
    `content-type of ${res.status} response is ${res.headers['content-type']}`);
}

// Asserts the error envelope of API.md: {"error":{"code","message","details"}} with the
// given status and code, a JSON content type and an X-Request-Id. Returns the error object.
export function expectError(res, status, code) {
  assert.equal(res.status, status, `expected ${status} ${code}, got ${res.status}: ${res.text.slice(0, 500)}`);
  assertJsonType(res);
  assert.ok(res.json && typeof res.json === 'object', `error body is not JSON: ${res.text.slice(0, 200)}`);
  assert.deepEqual(Object.keys(res.json), ['error'], `error body: ${res.text}`);
  const err = res.json.error;
  assert.deepEqual(Object.keys(err).sort(), ['code', 'details', 'message'], `error object: ${res.text}`);
  if (Array.isArray(code)) assert.ok(code.includes(err.code), `code ${err.code} not one of ${code}`);
  else assert.equal(err.code, code, `error body: ${res.text}`);
  assert.equal(typeof err.message, 'string');
  assert.ok(err.message.length > 0, 'error message is empty');
  assert.ok(err.details && typeof err.details === 'object' && !Array.isArray(err.details),
    `details is not an object: ${res.text}`);
  if (status >= 500) assert.deepEqual(err.details, {}, '5xx details must be empty');
  assertRequestId(res);
  return err;
}

// The methods of an Allow header, without HEAD/OPTIONS (which a server may add for free).
export function allowedMethods(res) {
  const allow = res.headers.allow;
  assert.equal(typeof allow, 'string', `${res.status} response lacks Allow`);
  return allow.split(',').map((m) => m.trim().toUpperCase())
    .filter((m) => m && m !== 'HEAD' && m !== 'OPTIONS').sort();
}

// ---------------------------------------------------------------------------------------
// Test routes added through psql

// Adds routes (and the SQL that creates their functions), then waits until every one
// answers with something other than 404 on the given base URL(s). A route may name
// workon.routes' rate_limit, read_only, outbound and metric; they default as there.
export async function addRoutes(setupSql, routes, { bases = [BASE], timeoutMs = 5000 } = {}) {
  const values = routes.map((r) =>
    `(${lit(r.method)}, ${lit(r.path)}, ${lit(r.handler)}::regprocedure, ${lit(r.auth ?? 'none')}, ` +
    `${r.status ?? 200}, ${lit(r.body ?? 'none')}, ${lit(r.summary ?? 'end-to-end test route')}, ` +
    `${lit(r.rate_limit ?? 'default')}, ${r.read_only ? 'true' : 'false'}, ` +
    `${r.outbound ? lit(r.outbound) : 'NULL'}, ${r.metric ? lit(r.metric) : 'NULL'})`);
  psql(`${setupSql}
INSERT INTO workon.routes (method, path, handler, auth, status, body, summary, rate_limit, read_only, outbound, metric)
VALUES ${values.join(',\n')};`);
  for (const base of bases) {
    for (const r of routes) {
      const probe = r.probe ?? r.path.replace(/\{[^}]+\}/g, 'probe');
      // every event loop reloads on its own: served on 8 new connections in a row
      // (the kernel spreads them over the threads) before the route counts as there
      await waitFor(async () => {
        for (let i = 0; i < 8; i++) {
          const res = await request(r.method, probe, {
            base, body: r.body === 'json' ? '{}' : undefined,
            headers: r.body === 'json' ? { 'content-type': 'application/json' } : {},
          });
          if (res.status === 404 || res.status === 405) return false;
        }
        return true;
      }, timeoutMs);
    }
  }
}

// Removes routes by path prefix and drops the functions; waits until they are gone.
export async function removeRoutes(pathPrefix, dropSql, { bases = [BASE], timeoutMs = 5000 } = {}) {
  const paths = psqlList(`SELECT DISTINCT path FROM workon.routes WHERE path LIKE ${lit(pathPrefix + '%')};`);
  psql(`DELETE FROM workon.routes WHERE path LIKE ${lit(pathPrefix + '%')};\n${dropSql}`);
  for (const base of bases) {
    for (const p of paths) {
      const probe = p.replace(/\{[^}]+\}/g, 'probe');
      await waitFor(async () => {
        for (let i = 0; i < 8; i++) {
          if ((await request('GET', probe, { base })).status !== 404) return false;
        }
        return true;
      }, timeoutMs)
        .catch(() => { /* best effort during cleanup */ });
    }
  }
}

// ---------------------------------------------------------------------------------------
// Large bodies over a plain socket

// Sends one request (head: the request line and headers, without the blank line) and its
// body in pieces, and resolves the first final (non-1xx) response. With an
// `Expect: 100-continue` head the body waits for the 100 (or is not sent at all when the
// server answers at once, as a server refusing an oversized body may); without one it
// stops writing as soon as the server starts answering.
export function sendRaw(base, head, body, { timeoutMs = 30000, pieceSize = 65536 } = {}) {
  const url = new URL(base ?? BASE);
  const expectContinue = /\r\nexpect:\s*100-continue/i.test(head);
  return new Promise((resolve, reject) => {
    let received = Buffer.alloc(0);
    let done = false;
    let interim = 0; // 1xx responses seen
    let onInterim = null;
    let partial = 0; // bytes of a response not complete yet
    const sock = net.connect(Number(url.port), url.hostname);
    const finish = (err, value) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err); else resolve(value);
    };
    const timer = setTimeout(() => finish(new Error(`timeout after ${timeoutMs} ms`)), timeoutMs);
    const tryParse = () => {
      try {
        const { responses, rest } = parseHttpResponses(received);
        partial = rest.length;
        const informational = responses.filter((r) => r.status < 200).length;
        if (informational > interim) { interim = informational; onInterim?.(); }
        const final = responses.find((r) => r.status >= 200);
        if (final) finish(null, final);
      } catch (e) {
        finish(e);
      }
    };
    const closed = () => {
      tryParse();
      finish(new Error(`connection closed without a complete response: ${received.toString('latin1').slice(0, 300)}`));
    };
    sock.on('data', (d) => { received = Buffer.concat([received, d]); tryParse(); });
    sock.on('end', closed);
    sock.on('close', closed);
    sock.on('error', () => { /* 'close' follows; a write error after an early answer is fine */ });
    sock.on('connect', async () => {
      const buf = Buffer.isBuffer(body) ? body : Buffer.from(body ?? '');
      if (!sock.write(`${head}\r\n\r\n`)) await new Promise((r) => sock.once('drain', r));
      if (expectContinue) {
        // RFC 9110 10.1.1: wait for 100 Continue, a final answer, or a while
        await new Promise((r) => { onInterim = r; setTimeout(r, 1000); });
        if (done) return;
      }
      // stop writing once a final answer has begun
      for (let i = 0; i < buf.length && !done && partial === 0; i += pieceSize) {
        if (!sock.write(buf.subarray(i, i + pieceSize))) {
          await new Promise((r) => { sock.once('drain', r); sock.once('close', r); });
        }
      }
    });
  });
}

// A POST through sendRaw, with Content-Length (or chunked when asked) and, unless
// expectContinue is false, `Expect: 100-continue` as curl sends it for large bodies.
export function postRaw(base, reqPath, body, {
  contentType = 'application/json', chunked = false, expectContinue = true, headers = {}, ...opts
} = {}) {
  const url = new URL(base ?? BASE);
  const buf = Buffer.isBuffer(body) ? body : Buffer.from(body);
  const lines = [`POST ${reqPath} HTTP/1.1`, `Host: ${url.host}`, 'Connection: close'];
  if (contentType) lines.push(`Content-Type: ${contentType}`);
  if (expectContinue) lines.push('Expect: 100-continue');
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  let payload = buf;
  if (chunked) {
    lines.push('Transfer-Encoding: chunked');
    const parts = [];
    for (let i = 0; i < buf.length; i += 1000) {
      const piece = buf.subarray(i, i + 1000);
      parts.push(Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n'));
    }
    parts.push(Buffer.from('0\r\n\r\n'));
    payload = Buffer.concat(parts);
  } else {
    lines.push(`Content-Length: ${buf.length}`);
  }
  return sendRaw(base, lines.join('\r\n'), payload, opts);
}
