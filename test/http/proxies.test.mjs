// TRUSTED_PROXIES: the client's address (rate limits, the request's meta.ip) comes from
// Forwarded / X-Forwarded-For only when the peer is a trusted proxy, as the rightmost
// untrusted hop; never otherwise, and a malformed header is ignored.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { addRoutes, removeRoutes, request, sleep, startShim } from './lib/client.mjs';

const SETUP = `
CREATE FUNCTION workon.test_proxy_ip(meta jsonb) RETURNS json LANGUAGE plpgsql AS $$
BEGIN RETURN json_build_object('ip', meta->>'ip'); END $$;
GRANT EXECUTE ON FUNCTION workon.test_proxy_ip(jsonb) TO workon_anon, workon_member, workon_host, workon_admin;`;
// exempt: reading the address spends no budget
const ROUTE = { method: 'GET', path: '/api/v1/test/proxy-ip', handler: 'workon.test_proxy_ip(jsonb)', rate_limit: 'exempt' };

const ipVia = async (base, headers) => {
  const res = await request('GET', ROUTE.path, { base, headers });
  assert.equal(res.status, 200, res.text);
  return res.json.ip;
};

describe('TRUSTED_PROXIES', () => {
  let plain;
  let behind;
  before(async () => {
    plain = await startShim({ RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_LIMIT: '3', RATE_LIMIT_TTL: '4' });
    behind = await startShim({
      RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_LIMIT: '3', RATE_LIMIT_TTL: '4',
      TRUSTED_PROXIES: ' 127.0.0.1 , 10.0.0.0/8, fd00:1::/32, ::ffff:192.168.0.0/112',
    });
    await addRoutes(SETUP, [ROUTE], { bases: [plain.url, behind.url] });
  });
  after(async () => {
    await removeRoutes('/api/v1/test/proxy-ip', 'DROP FUNCTION workon.test_proxy_ip(jsonb);', { bases: [plain.url, behind.url] });
    await plain?.stop();
    await behind?.stop();
  });

  test('unset: the peer is the client, whatever the headers say, and spoofed ones share its budget', async () => {
    await sleep(4200); // a fresh window for 127.0.0.1 (the route's probes before it loaded were 404s, and counted)
    assert.equal(await ipVia(plain.url, { 'x-forwarded-for': '203.0.113.9' }), '127.0.0.1');
    assert.equal(await ipVia(plain.url, { forwarded: 'for=203.0.113.9' }), '127.0.0.1');
    assert.match(plain.output(), /"msg":"request".*"ip":"127\.0\.0\.1"/);
    assert.doesNotMatch(plain.output(), /"ip":"203\.0\.113\.9"/);
    // three spoofed addresses spend the peer's 3; more spoofed ones get nothing (paced: the two
    // shims of this file are one service, each admitting half a budget between their exchanges)
    const spaces = async (xff) => {
      await sleep(300);
      return request('GET', '/api/v1/spaces?limit=1', { base: plain.url, headers: { 'x-forwarded-for': xff } });
    };
    for (const xff of ['198.51.100.1', '198.51.100.2', '198.51.100.3']) assert.equal((await spaces(xff)).status, 200);
    for (const xff of ['198.51.100.4', '198.51.100.5, 198.51.100.6', '2001:db8::5']) {
      assert.equal((await spaces(xff)).status, 429, xff);
    }
  });

  test('from a trusted peer: the rightmost untrusted hop of X-Forwarded-For', async () => {
    assert.equal(await ipVia(behind.url, { 'x-forwarded-for': '203.0.113.7' }), '203.0.113.7');
    // a client's own prefix is never reached; trusted hops on the right are skipped
    assert.equal(await ipVia(behind.url, { 'x-forwarded-for': '6.6.6.6, 203.0.113.7, 10.1.2.3' }), '203.0.113.7');
    // several lines read as one list
    assert.equal(await ipVia(behind.url, { 'x-forwarded-for': ['6.6.6.6', '203.0.113.7 , 10.9.9.9'] }), '203.0.113.7');
    // an untrusted hop right of the client is taken: that proxy is not ours
    assert.equal(await ipVia(behind.url, { 'x-forwarded-for': '203.0.113.7, 127.0.0.2' }), '127.0.0.2');
    // every hop trusted: the leftmost
    assert.equal(await ipVia(behind.url, { 'x-forwarded-for': '10.0.0.1, 10.0.0.2' }), '10.0.0.1');
    // IPv6, IPv4 with a port, an IPv4-mapped trusted hop
    assert.equal(await ipVia(behind.url, { 'x-forwarded-for': '2001:db8::7, fd00:1::9' }), '2001:db8::7');
    assert.equal(await ipVia(behind.url, { 'x-forwarded-for': '203.0.113.8:4711' }), '203.0.113.8');
    assert.equal(await ipVia(behind.url, { 'x-forwarded-for': '203.0.113.9, ::ffff:192.168.3.4' }), '203.0.113.9');
    // no header: the peer
    assert.equal(await ipVia(behind.url, {}), '127.0.0.1');
    // the access lines say the same
    assert.match(behind.output(), /"msg":"request".*"route":"\/api\/v1\/test\/proxy-ip".*"ip":"203\.0\.113\.7"/);
  });

  test('Forwarded wins over X-Forwarded-For; its for= values, quoted, bracketed, with ports', async () => {
    assert.equal(await ipVia(behind.url, {
      forwarded: 'for=192.0.2.60;proto=http;by=203.0.113.43, for="[2001:db8:cafe::17]:4711"',
      'x-forwarded-for': '198.51.100.99',
    }), '2001:db8:cafe::17');
    assert.equal(await ipVia(behind.url, { forwarded: 'For="192.0.2.61:80", for=10.2.3.4;proto=https' }), '192.0.2.61');
  });

  test('malformed headers are ignored: the client is the peer', async () => {
    for (const headers of [
      { 'x-forwarded-for': 'garbage' },
      { 'x-forwarded-for': '203.0.113.7, not-an-address' },
      { 'x-forwarded-for': '999.1.1.1' },
      { 'x-forwarded-for': '' },
      { 'x-forwarded-for': ',,,' },
      { forwarded: 'for=unknown' },
      { forwarded: 'for=_hidden, for=10.0.0.3' },
      { forwarded: 'proto=https' },
      { forwarded: 'for="[2001:db8::1"' },
      { 'x-forwarded-for': `${'10.0.0.1, '.repeat(40)}10.0.0.2` },
    ]) {
      assert.equal(await ipVia(behind.url, headers), '127.0.0.1', JSON.stringify(headers));
    }
  });

  test('the budget follows the forwarded address', async () => {
    const get = async (xff) => {
      await sleep(300);
      return request('GET', '/api/v1/spaces?limit=1', { base: behind.url, headers: { 'x-forwarded-for': xff } });
    };
    for (let i = 0; i < 3; i++) assert.equal((await get('198.51.100.20')).status, 200);
    const limited = await get('198.51.100.20');
    assert.equal(limited.status, 429);
    // a client cannot step out of its budget by prepending addresses
    assert.equal((await get('6.6.6.6, 198.51.100.20')).status, 429);
    // another client behind the same proxy has its own
    const other = await get('198.51.100.21');
    assert.equal(other.status, 200);
    assert.equal(other.headers['ratelimit-remaining'], '2');
    assert.ok(Number(other.headers['ratelimit-reset']) >= 3, `RateLimit-Reset ${other.headers['ratelimit-reset']} of a fresh 4 s window`);
  });
});
