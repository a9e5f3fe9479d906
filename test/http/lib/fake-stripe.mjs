// A local stand-in for Stripe's API (Node built-ins only) and Stripe-shaped webhook
// events signed the way Stripe signs them.
//
// startFakeStripe({ secretKey }) listens on a free port of 127.0.0.1 and serves
//   POST /v1/payment_intents    -> a PaymentIntent  (pi_..., client_secret pi_..._secret_...)
//   POST /v1/checkout/sessions  -> a Checkout Session (cs_test_..., url)
//   POST /v1/refunds            -> a Refund (re_..., status succeeded)
//   POST /v1/payment_intents/{id}/cancel, /v1/checkout/sessions/{id}/expire
// with Stripe's rules for what the shim must get right: `Authorization: Bearer <key>`
// (else 401), a form-encoded body, and idempotency: a repeated Idempotency-Key with the
// same parameters replays the first answer (`Idempotent-Replayed: true`), with other
// parameters it is 400 `idempotency_error`, while the first is still running 409
// `idempotency_key_in_use`. Every request is recorded (`requests`); `failNext()` queues
// failures (a status with a Stripe error body, a connection reset, or a slow answer).
import crypto from 'node:crypto';
import http from 'node:http';
import https from 'node:https';

const rand = (n = 12) => crypto.randomBytes(n).toString('base64url').replace(/[-_]/g, 'x').slice(0, n * 4 / 3 | 0);

function stripeError(type, message, extra = {}) {
  return { error: { type, message, ...extra } };
}

// Stripe's nested form keys (a[b][c]=v) into objects; numeric segments stay keys.
function nest(params) {
  const out = {};
  for (const [key, value] of params) {
    const parts = key.replace(/\]/g, '').split('[');
    let o = out;
    for (let i = 0; i < parts.length - 1; i++) {
      if (typeof o[parts[i]] !== 'object' || o[parts[i]] === null) o[parts[i]] = {};
      o = o[parts[i]];
    }
    o[parts[parts.length - 1]] = value;
  }
  return out;
}

// tls: { key, cert } (PEM) serves https instead of http; host: the name in the URL.
export async function startFakeStripe({ secretKey = 'sk_test_fake_not_a_real_key_0123456789', tls = null, host = '127.0.0.1' } = {}) {
  const requests = [];
  const failures = [];
  const idempotent = new Map(); // key -> { path, signature, status, body } or { inFlight: true }
  const objects = { payment_intents: new Map(), checkout_sessions: new Map(), refunds: new Map() };
  const sockets = new Set();

  function create(path, p) {
    const created = Math.floor(Date.now() / 1000);
    if (path === '/v1/payment_intents') {
      if (!/^\d+$/.test(p.amount ?? '')) return [400, stripeError('invalid_request_error', 'Missing required param: amount.', { param: 'amount', code: 'parameter_missing' })];
      if (!p.currency) return [400, stripeError('invalid_request_error', 'Missing required param: currency.', { param: 'currency', code: 'parameter_missing' })];
      const id = `pi_${rand(18)}`;
      const pi = {
        id, object: 'payment_intent', amount: Number(p.amount), amount_received: 0, currency: p.currency.toLowerCase(),
        status: 'requires_payment_method', client_secret: `${id}_secret_${rand(18)}`, metadata: p.metadata ?? {},
        automatic_payment_methods: p.automatic_payment_methods ? { enabled: p.automatic_payment_methods.enabled === 'true' } : null,
        capture_method: 'automatic', confirmation_method: 'automatic', created, livemode: false, latest_charge: null,
      };
      objects.payment_intents.set(id, pi);
      return [200, pi];
    }
    if (path === '/v1/checkout/sessions') {
      if (!p.success_url) return [400, stripeError('invalid_request_error', 'Missing required param: success_url.', { param: 'success_url', code: 'parameter_missing' })];
      const id = `cs_test_${rand(24)}`;
      const items = Object.values(p.line_items ?? {});
      const amount = items.reduce((s, li) => s + Number(li?.price_data?.unit_amount ?? 0) * Number(li?.quantity ?? 1), 0);
      const cs = {
        id, object: 'checkout.session', mode: p.mode ?? 'payment', status: 'open', payment_status: 'unpaid',
        amount_total: amount, currency: (items[0]?.price_data?.currency ?? p.currency ?? 'eur').toLowerCase(),
        success_url: p.success_url, cancel_url: p.cancel_url ?? null, metadata: p.metadata ?? {},
        client_reference_id: p.client_reference_id ?? null, payment_intent: null,
        url: `https://checkout.stripe.com/c/pay/${id}#fid${rand(16)}`, created, livemode: false,
        expires_at: created + 24 * 3600,
      };
      objects.checkout_sessions.set(id, cs);
      return [200, cs];
    }
    if (path === '/v1/refunds') {
      if (!p.payment_intent && !p.charge) return [400, stripeError('invalid_request_error', 'One of the following params should be provided for this request: payment_intent or charge.', { code: 'parameter_missing' })];
      const pi = objects.payment_intents.get(p.payment_intent);
      const id = `re_${rand(18)}`;
      const re = {
        id, object: 'refund', amount: p.amount !== undefined ? Number(p.amount) : pi?.amount ?? 0,
        currency: pi?.currency ?? 'eur', payment_intent: p.payment_intent ?? null, charge: p.charge ?? null,
        status: 'succeeded', reason: p.reason ?? null, metadata: p.metadata ?? {}, created,
      };
      objects.refunds.set(id, re);
      return [200, re];
    }
    let m = /^\/v1\/payment_intents\/([^/]+)\/cancel$/.exec(path);
    if (m) {
      const pi = objects.payment_intents.get(m[1]);
      if (!pi) return [404, stripeError('invalid_request_error', `No such payment_intent: '${m[1]}'`, { code: 'resource_missing', param: 'intent' })];
      if (pi.status === 'succeeded' || pi.status === 'canceled') {
        return [400, stripeError('invalid_request_error', `You cannot cancel this PaymentIntent because it has a status of ${pi.status}.`, { code: 'payment_intent_unexpected_state' })];
      }
      pi.status = 'canceled';
      pi.cancellation_reason = p.cancellation_reason ?? null;
      return [200, pi];
    }
    m = /^\/v1\/checkout\/sessions\/([^/]+)\/expire$/.exec(path);
    if (m) {
      const cs = objects.checkout_sessions.get(m[1]);
      if (!cs) return [404, stripeError('invalid_request_error', `No such checkout.session: '${m[1]}'`, { code: 'resource_missing', param: 'session' })];
      if (cs.status !== 'open') return [400, stripeError('invalid_request_error', 'Only Checkout Sessions with a status in ["open"] can be expired.', { code: 'checkout_session_unexpected_state' })];
      cs.status = 'expired';
      cs.url = null;
      return [200, cs];
    }
    return [404, stripeError('invalid_request_error', `Unrecognized request URL (POST: ${path}).`)];
  }

  function send(res, status, body, headers = {}) {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json', 'content-length': Buffer.byteLength(text),
      'request-id': `req_${rand(12)}`, 'stripe-version': '2024-06-20', ...headers,
    });
    res.end(text);
  }

  const onRequest = (req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const url = new URL(req.url, 'http://fake');
      const params = new URLSearchParams(raw);
      const p = nest(params);
      const record = {
        method: req.method, path: url.pathname, headers: req.headers, raw, params: Object.fromEntries(params),
        idempotencyKey: req.headers['idempotency-key'] ?? null, at: Date.now(), outcome: null,
      };
      requests.push(record);

      const i = failures.findIndex((f) => !f.path || f.path === url.pathname);
      if (i >= 0) {
        const f = failures[i];
        if (--f.count <= 0) failures.splice(i, 1);
        record.outcome = f.mode;
        if (f.mode === 'reset') { req.socket.destroy(); return; }
        if (f.mode === 'hang') return; // never answers; the client's timeout decides
        if (f.mode === 'slow') await new Promise((r) => setTimeout(r, f.delayMs ?? 5000));
        if (f.mode === 'status' && f.rawBody !== undefined) {
          res.writeHead(f.status ?? 502, { 'content-type': 'text/html', 'content-length': Buffer.byteLength(f.rawBody), ...(f.headers ?? {}) });
          res.end(f.rawBody);
          return;
        }
        if (f.mode === 'status') {
          send(res, f.status ?? 500, f.body ?? stripeError(f.status >= 500 ? 'api_error' : 'invalid_request_error',
            f.message ?? 'Injected failure.', f.code ? { code: f.code } : {}), f.headers ?? {});
          return;
        }
      }

      if (req.method !== 'POST') { send(res, 405, stripeError('invalid_request_error', 'Only POST is served here.')); return; }
      if (req.headers.authorization !== `Bearer ${secretKey}`) {
        record.outcome = 'unauthorized';
        send(res, 401, stripeError('invalid_request_error', 'Invalid API Key provided.'));
        return;
      }
      if (!/^application\/x-www-form-urlencoded\b/.test(req.headers['content-type'] ?? '')) {
        send(res, 400, stripeError('invalid_request_error', 'Invalid request: the body must be form-encoded.'));
        return;
      }

      const key = record.idempotencyKey;
      const signature = `${url.pathname}\n${[...params].map(([k, v]) => `${k}=${v}`).sort().join('&')}`;
      if (key !== null) {
        const seen = idempotent.get(key);
        if (seen?.inFlight) {
          record.outcome = 'in_use';
          send(res, 409, stripeError('idempotency_error', 'There is currently another in-progress request using this Idempotent Key.', { code: 'idempotency_key_in_use' }));
          return;
        }
        if (seen) {
          if (seen.signature !== signature) {
            record.outcome = 'idempotency_error';
            send(res, 400, stripeError('idempotency_error', `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`));
            return;
          }
          record.outcome = 'replayed';
          send(res, seen.status, seen.body, { 'idempotent-replayed': 'true', 'idempotency-key': key });
          return;
        }
        idempotent.set(key, { inFlight: true });
      }
      if (fake.answerDelayMs) await new Promise((r) => setTimeout(r, fake.answerDelayMs));
      const [status, body] = create(url.pathname, p);
      record.outcome = status === 200 ? 'created' : `error ${status}`;
      record.response = body;
      if (key !== null) idempotent.set(key, { signature, status, body });
      send(res, status, body, key !== null ? { 'idempotency-key': key } : {});
    });
  };
  const server = tls ? https.createServer({ key: tls.key, cert: tls.cert }, onRequest) : http.createServer(onRequest);
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();

  const fake = {
    url: `${tls ? 'https' : 'http'}://${host}:${port}`,
    port,
    secretKey,
    requests,
    objects,
    answerDelayMs: 0,
    // failNext({ mode: 'status' | 'reset' | 'slow' | 'hang', count = 1, status, code, message, headers, rawBody, delayMs, path })
    failNext(f) { failures.push({ count: 1, ...f }); },
    clearFailures() { failures.length = 0; },
    // requests that made a new object (not replays, not failures)
    created(path) { return requests.filter((r) => r.path === path && r.outcome === 'created'); },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
  return fake;
}

// ---------------------------------------------------------------------------------------
// Webhook events

export const TEST_WEBHOOK_SECRET = 'whsec_test_not_a_real_secret_0123456789';

// The Stripe-Signature header for body, as Stripe computes it: HMAC-SHA256 with the
// endpoint secret over `${t}.${body}`, hex. extraV1: more signatures (e.g. a rotated secret's).
export function stripeSignature(body, { secret = TEST_WEBHOOK_SECRET, t = Math.floor(Date.now() / 1000), extraV1 = [] } = {}) {
  const v1 = crypto.createHmac('sha256', secret).update(`${t}.${body}`, 'utf8').digest('hex');
  return [`t=${t}`, `v1=${v1}`, ...extraV1.map((s) => `v1=${s}`)].join(',');
}

// A Stripe event around a data object.
export function stripeEvent(type, object, { id = `evt_${rand(18)}`, created = Math.floor(Date.now() / 1000) } = {}) {
  return {
    id, object: 'event', api_version: '2024-06-20', created, data: { object }, livemode: false,
    pending_webhooks: 1, request: { id: null, idempotency_key: null }, type,
  };
}

// A PaymentIntent in a given status; amount_received follows status unless given.
export function paymentIntentObject({ id, amount, currency = 'eur', status = 'succeeded', metadata = {}, amountReceived, error } = {}) {
  return {
    id, object: 'payment_intent', amount, currency, status, metadata,
    amount_received: amountReceived ?? (status === 'succeeded' ? amount : 0),
    client_secret: `${id}_secret_${rand(12)}`, livemode: false,
    latest_charge: status === 'succeeded' ? `ch_${rand(18)}` : null,
    last_payment_error: error ? { code: error.code ?? 'card_declined', message: error.message ?? 'Your card was declined.', type: 'card_error' } : null,
  };
}

export function checkoutSessionObject({ id, paymentIntent = null, amountTotal, currency = 'eur', paymentStatus = 'paid', status = 'complete', metadata = {} } = {}) {
  return {
    id, object: 'checkout.session', mode: 'payment', status, payment_status: paymentStatus,
    amount_total: amountTotal, currency, payment_intent: paymentIntent, metadata, livemode: false,
  };
}

export function chargeObject({ paymentIntent, amount, amountRefunded, currency = 'eur', metadata = {}, refundId = `re_${rand(18)}` } = {}) {
  return {
    id: `ch_${rand(18)}`, object: 'charge', amount, amount_captured: amount, amount_refunded: amountRefunded ?? amount, currency,
    captured: true, paid: true, status: 'succeeded',
    payment_intent: paymentIntent, refunded: (amountRefunded ?? amount) >= amount, metadata, livemode: false,
    refunds: { object: 'list', data: [{ id: refundId, object: 'refund', amount: amountRefunded ?? amount, currency, payment_intent: paymentIntent, status: 'succeeded' }] },
  };
}
