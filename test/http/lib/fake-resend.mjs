// A local stand-in for Resend's e-mail API (Node built-ins only).
//
// startFakeResend({ apiKey }) listens on a free port of 127.0.0.1 and serves
//   POST /emails  {from, to, subject, text, html}  -> 200 {"id": "<uuid>"}
// with Resend's rules for what the shim must get right: `Authorization: Bearer <key>`
// (else 401), a JSON body with from, to, subject and text or html (else 422
// validation_error), and idempotency: a repeated Idempotency-Key with the same body
// replays the first answer and sends nothing more, with another body it is 409
// invalid_idempotent_request, while the first is still running 409
// concurrent_idempotent_requests. Errors are Resend's shape {statusCode, name, message}.
// Every request is recorded (`requests`); `failNext()` queues failures: a status
// (429 with Retry-After, 500, 422 ...), a connection reset, a hang (never answers);
// `holdAnswerMs` sends a mail at once but holds its answer back that long; `answerDelayMs`
// answers every request that long after it arrived (a provider's latency). `inFlight` is
// the number of requests received and not answered yet, `maxInFlight` its highest value.
import crypto from 'node:crypto';
import http from 'node:http';

const resendError = (statusCode, name, message) => ({ statusCode, name, message });

export async function startFakeResend({ apiKey = 're_test_fake_not_a_real_key_0123456789' } = {}) {
  const requests = [];
  const failures = [];
  const idempotent = new Map(); // key -> { body, status, answer } or { inFlight: true }
  const sockets = new Set();
  const hung = new Set();

  function send(res, status, body, headers = {}) {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
    res.end(text);
  }

  function validate(m) {
    if (m === null || typeof m !== 'object') return 'The request body is not a JSON object.';
    for (const f of ['from', 'to', 'subject']) {
      if (!m[f] || (Array.isArray(m[f]) ? m[f].length === 0 : typeof m[f] !== 'string')) return `Missing \`${f}\` field.`;
    }
    if (!m.text && !m.html) return 'Missing `html` or `text` field.';
    return null;
  }

  const server = http.createServer((req, res) => {
    if (++fake.inFlight > fake.maxInFlight) fake.maxInFlight = fake.inFlight;
    let answered = false;
    const done = () => { if (!answered) { answered = true; --fake.inFlight; } };
    res.on('finish', done);
    res.on('close', done);
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let body;
      try { body = JSON.parse(raw); } catch { body = undefined; }
      const record = {
        method: req.method, path: new URL(req.url, 'http://fake').pathname, headers: req.headers, raw, body,
        idempotencyKey: req.headers['idempotency-key'] ?? null, at: Date.now(), outcome: null,
      };
      requests.push(record);

      const i = failures.findIndex(() => true);
      if (i >= 0) {
        const f = failures[i];
        if (--f.count <= 0) failures.splice(i, 1);
        record.outcome = f.mode === 'status' ? `error ${f.status}` : f.mode;
        if (f.mode === 'reset') { req.socket.destroy(); return; }
        if (f.mode === 'hang') { hung.add(res); return; }
        const status = f.status ?? 500;
        const name = f.name ?? (status === 429 ? 'rate_limit_exceeded' : status >= 500 ? 'internal_server_error' : 'validation_error');
        send(res, status, resendError(status, name, f.message ?? 'Injected failure.'), f.headers ?? {});
        return;
      }

      if (req.method !== 'POST' || record.path !== '/emails') {
        record.outcome = 'not_found';
        send(res, 404, resendError(404, 'not_found', 'The requested endpoint does not exist.'));
        return;
      }
      if (req.headers.authorization !== `Bearer ${apiKey}`) {
        record.outcome = 'unauthorized';
        send(res, 401, resendError(401, 'missing_api_key', 'Missing API key in the authorization header.'));
        return;
      }
      if (!/^application\/json\b/.test(req.headers['content-type'] ?? '')) {
        record.outcome = 'bad_content_type';
        send(res, 422, resendError(422, 'validation_error', 'The body must be JSON.'));
        return;
      }
      const problem = validate(body);
      if (problem) {
        record.outcome = 'invalid';
        send(res, 422, resendError(422, 'validation_error', problem));
        return;
      }
      const key = record.idempotencyKey;
      if (key !== null) {
        const seen = idempotent.get(key);
        if (seen?.inFlight) {
          record.outcome = 'in_flight';
          send(res, 409, resendError(409, 'concurrent_idempotent_requests', 'Same idempotency key used while the original request is still in progress.'));
          return;
        }
        if (seen) {
          if (seen.raw !== raw) {
            record.outcome = 'idempotency_mismatch';
            send(res, 409, resendError(409, 'invalid_idempotent_request', 'Same idempotency key used with a different request payload.'));
            return;
          }
          record.outcome = 'replayed';
          send(res, seen.status, seen.answer);
          return;
        }
        idempotent.set(key, { inFlight: true });
      }
      if (fake.answerDelayMs) await new Promise((r) => setTimeout(r, fake.answerDelayMs));
      const answer = { id: crypto.randomUUID() };
      record.outcome = 'sent';
      record.response = answer;
      if (key !== null) idempotent.set(key, { raw, status: 200, answer });
      // the mail is sent; its answer may be held back (the sender dies meanwhile)
      if (fake.holdAnswerMs) { hung.add(res); await new Promise((r) => setTimeout(r, fake.holdAnswerMs)); hung.delete(res); }
      if (!res.destroyed) send(res, 200, answer);
    });
  });
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();

  const fake = {
    url: `http://127.0.0.1:${port}`,
    port,
    apiKey,
    requests,
    answerDelayMs: 0,
    holdAnswerMs: 0,
    inFlight: 0,
    maxInFlight: 0,
    // failNext({ mode: 'status' | 'reset' | 'hang', count = 1, status, name, message, headers })
    failNext(f) { failures.push({ mode: 'status', count: 1, ...f }); },
    clearFailures() { failures.length = 0; },
    // the mails actually sent (first sends of a key, not replays or failures)
    sent(filter = () => true) { return requests.filter((r) => r.outcome === 'sent' && filter(r)); },
    to(address) { return requests.filter((r) => r.outcome === 'sent' && [].concat(r.body.to).includes(address)); },
    close() {
      for (const res of hung) res.destroy();
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
  return fake;
}

// the settings of a shim that sends its mail to the fake
export const resendEnv = (fake, from) => ({
  EMAIL_TRANSPORT: 'resend', RESEND_API_BASE: fake.url, RESEND_API_KEY: fake.apiKey, EMAIL_FROM: from,
});
