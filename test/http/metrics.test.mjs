// GET /metrics: Prometheus text format; requests by route template and status summed over
// the threads, a latency histogram, pool gauges, rate-limited and timeout counters.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { request, startShim } from './lib/client.mjs';

const SAMPLE_RE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:\\.|[^"\\])*",?)*\})? (-?[0-9.]+(?:e[+-]?\d+)?|\+Inf|NaN)$/;

// Parses the text format strictly: every sample belongs to a family declared by # TYPE.
function parse(text) {
  const types = new Map();
  const samples = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let m;
    if ((m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line))) {
      assert.ok(!types.has(m[1]), `${m[1]} declared twice`);
      types.set(m[1], m[2]);
      continue;
    }
    if (line.startsWith('# HELP ')) continue;
    assert.ok(!line.startsWith('#'), `unknown comment: ${line}`);
    m = SAMPLE_RE.exec(line);
    assert.ok(m, `not a sample line: ${line}`);
    const family = types.has(m[1]) ? m[1] : m[1].replace(/_(bucket|sum|count)$/, '');
    assert.ok(types.has(family), `${m[1]} has no # TYPE`);
    const labels = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:\\.|[^"\\])*)"/g)) labels[k] = v;
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return { types, samples };
}

const pick = (samples, name, labels = {}) =>
  samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
const sum = (samples, name, labels) => pick(samples, name, labels).reduce((a, s) => a + s.value, 0);

async function scrape(base) {
  const res = await request('GET', '/metrics', { base });
  assert.equal(res.status, 200);
  assert.match(res.headers['content-type'], /^text\/plain; version=0\.0\.4/);
  return parse(res.text);
}

describe('GET /metrics', () => {
  let shim;
  before(async () => { shim = await startShim({ SHIM_THREADS: '2', RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_LIMIT: '25' }); });
  after(async () => { await shim?.stop(); });

  test('requests by method, route template and status, summed over both threads', async () => {
    const before0 = await scrape(shim.url);
    const base = sum(before0.samples, 'workon_http_requests_total', { route: '/api/v1/spaces', status: '200' });
    await Promise.all(Array.from({ length: 20 }, () => request('GET', '/api/v1/spaces?limit=2', { base: shim.url })));
    for (let i = 0; i < 3; i++) await request('GET', `/api/v1/spaces/${crypto.randomUUID()}`, { base: shim.url });
    await request('DELETE', '/api/v1/spaces', { base: shim.url });
    const { types, samples } = await scrape(shim.url);
    assert.equal(types.get('workon_http_requests_total'), 'counter');
    assert.equal(sum(samples, 'workon_http_requests_total', { method: 'GET', route: '/api/v1/spaces', status: '200' }) - base, 20);
    assert.equal(sum(samples, 'workon_http_requests_total', { method: 'GET', route: '/api/v1/spaces/{id}', status: '404' }), 3);
    assert.equal(sum(samples, 'workon_http_requests_total', { method: 'DELETE', route: 'unmatched', status: '405' }), 1);
    // one series per label set: the threads' counts are merged
    const series = pick(samples, 'workon_http_requests_total').map((s) => JSON.stringify(s.labels));
    assert.equal(new Set(series).size, series.length);
  });

  test('the latency histogram is cumulative and agrees with the count', async () => {
    const { types, samples } = await scrape(shim.url);
    assert.equal(types.get('workon_http_request_duration_seconds'), 'histogram');
    const labels = { method: 'GET', route: '/api/v1/spaces' };
    const buckets = pick(samples, 'workon_http_request_duration_seconds_bucket', labels);
    assert.ok(buckets.length >= 5);
    for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i].value >= buckets[i - 1].value, 'cumulative');
    const les = buckets.map((b) => b.labels.le);
    assert.equal(les.at(-1), '+Inf');
    assert.deepEqual(les.slice(0, -1).map(Number), [...les.slice(0, -1).map(Number)].sort((a, b) => a - b));
    const count = sum(samples, 'workon_http_request_duration_seconds_count', labels);
    assert.equal(buckets.at(-1).value, count);
    assert.equal(count, sum(samples, 'workon_http_requests_total', labels));
    assert.ok(sum(samples, 'workon_http_request_duration_seconds_sum', labels) > 0);
  });

  test('pool gauges per thread', async () => {
    const { samples } = await scrape(shim.url);
    const sizes = pick(samples, 'workon_db_pool_size');
    assert.deepEqual(sizes.map((s) => s.labels.thread).sort(), ['0', '1']);
    for (const s of sizes) assert.equal(s.value, 1); // DB_POOL_SIZE's default
    for (const name of ['workon_db_pool_connected', 'workon_db_pool_busy', 'workon_db_pool_waiting', 'workon_requests_in_flight']) {
      const g = pick(samples, name);
      assert.equal(g.length, 2, name);
      for (const s of g) assert.ok(s.value >= 0 && s.value <= 1000, `${name} ${s.value}`);
    }
    for (const s of pick(samples, 'workon_db_pool_connected')) assert.ok(s.value <= 1);
  });

  test('rate-limited requests are counted', async () => {
    const before1 = sum((await scrape(shim.url)).samples, 'workon_rate_limited_total');
    let limited = 0;
    for (let i = 0; i < 30; i++) {
      if ((await request('GET', '/api/v1/spaces?limit=1', { base: shim.url })).status === 429) limited++;
    }
    assert.ok(limited > 0);
    const { samples } = await scrape(shim.url);
    assert.equal(sum(samples, 'workon_rate_limited_total') - before1, limited);
    assert.ok(sum(samples, 'workon_http_requests_total', { route: '/api/v1/spaces', status: '429' }) >= limited);
  });

  test('a route whose metric is webhooks is counted in workon_webhooks_total too, by route and status', async () => {
    const route = '/api/v1/webhooks/stripe';
    for (let i = 0; i < 3; i++) {
      await request('POST', route, { base: shim.url, body: '{}', headers: { 'content-type': 'application/json' } });
    }
    const { samples } = await scrape(shim.url);
    const hooks = pick(samples, 'workon_webhooks_total');
    assert.ok(hooks.length > 0, 'no workon_webhooks_total sample');
    assert.ok(hooks.every((s) => s.labels.route === route || s.labels.route === '/api/webhooks/stripe'), JSON.stringify(hooks));
    for (const s of hooks.filter((h) => h.labels.route === route)) {
      assert.equal(s.value, sum(samples, 'workon_http_requests_total', { method: 'POST', route, status: s.labels.status }));
    }
    assert.equal(sum(samples, 'workon_webhooks_total', { route }), 3);
  });

  test('the counters of the contract are there', async () => {
    const { types } = await scrape(shim.url);
    for (const name of ['workon_db_errors_total', 'workon_request_timeouts_total', 'workon_overload_rejections_total',
      'workon_webhooks_total', 'workon_rate_limited_total']) {
      assert.equal(types.get(name), 'counter', name);
    }
  });
});
