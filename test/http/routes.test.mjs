// The route table as data: live reload, argument binding, body modes, body validation
// and size limits.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  addRoutes, allowedMethods, assertJsonType, assertRequestId, expectError, get, postRaw, psql,
  removeRoutes, request, startShim, waitFor,
} from './lib/client.mjs';

const PREFIX = '/api/v1/test/r/';
const P = (s) => PREFIX + s;

const FUNCTIONS = `
CREATE FUNCTION workon.test_r_echo(a text DEFAULT NULL, b int DEFAULT NULL) RETURNS jsonb
  LANGUAGE sql AS $$ SELECT jsonb_build_object('a', a, 'b', b) $$;
CREATE FUNCTION workon.test_r_version_one() RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"version":1}'::jsonb $$;
CREATE FUNCTION workon.test_r_version_two() RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"version":2}'::jsonb $$;
CREATE FUNCTION workon.test_r_nothing() RETURNS jsonb LANGUAGE sql AS $$ SELECT NULL::jsonb $$;
CREATE FUNCTION workon.test_r_custom() RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
  PERFORM workon.set_response(202, '{"X-Test-Header":"e2e-custom"}'::jsonb);
  RETURN '{"ok":true}'::jsonb;
END $$;
CREATE FUNCTION workon.test_r_body(body jsonb DEFAULT NULL) RETURNS jsonb
  LANGUAGE sql AS $$ SELECT jsonb_build_object('got', body) $$;
CREATE FUNCTION workon.test_r_raw(body text DEFAULT NULL) RETURNS jsonb
  LANGUAGE sql AS $$ SELECT jsonb_build_object('len', octet_length(body), 'text', body) $$;
GRANT EXECUTE ON FUNCTION workon.test_r_echo(text, int), workon.test_r_version_one(),
  workon.test_r_version_two(), workon.test_r_nothing(), workon.test_r_custom(),
  workon.test_r_body(jsonb), workon.test_r_raw(text) TO workon_anon;`;

const DROP = `DROP FUNCTION IF EXISTS workon.test_r_echo(text, int), workon.test_r_version_one(),
  workon.test_r_version_two(), workon.test_r_nothing(), workon.test_r_custom(),
  workon.test_r_body(jsonb), workon.test_r_raw(text);`;

const ROUTES = [
  { method: 'GET', path: P('echo'), handler: 'workon.test_r_echo(text,integer)' },
  { method: 'POST', path: P('echo'), handler: 'workon.test_r_echo(text,integer)', status: 201, body: 'json' },
  { method: 'GET', path: P('echo/{a}'), handler: 'workon.test_r_echo(text,integer)' },
  { method: 'GET', path: P('nothing'), handler: 'workon.test_r_nothing()' },
  { method: 'GET', path: P('custom'), handler: 'workon.test_r_custom()' },
  { method: 'POST', path: P('body'), handler: 'workon.test_r_body(jsonb)', body: 'json' },
  { method: 'POST', path: P('raw'), handler: 'workon.test_r_raw(text)', body: 'raw' },
];

const postJson = (path, body, headers = {}, opts = {}) =>
  request('POST', path, { body, headers: { 'content-type': 'application/json', ...headers }, ...opts });

before(async () => {
  await removeRoutes(PREFIX, DROP);
  await addRoutes(FUNCTIONS, ROUTES);
});
after(async () => { await removeRoutes(PREFIX, DROP); });

describe('live route table', () => {
  test('a route inserted with SQL is served without a restart, follows an UPDATE and goes away on DELETE', async () => {
    const path = P('ephemeral');
    const uptime = async () => (await get('/api/v1/health')).json?.uptime_seconds;
    const up0 = await uptime();
    expectError(await get(path), 404, 'not_found');

    psql(`INSERT INTO workon.routes (method, path, handler, auth, status, body, summary)
          VALUES ('GET', '${path}', 'workon.test_r_version_one()'::regprocedure, 'none', 200, 'none', 'test');`);
    const t0 = Date.now();
    const res = await waitFor(async () => { const r = await get(path); return r.status !== 404 && r; }, 5000);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { version: 1 });
    assert.ok(Date.now() - t0 < 5000);

    psql(`UPDATE workon.routes SET handler = 'workon.test_r_version_two()'::regprocedure
          WHERE method = 'GET' AND path = '${path}';`);
    await waitFor(async () => (await get(path)).json?.version === 2, 5000);

    psql(`DELETE FROM workon.routes WHERE method = 'GET' AND path = '${path}';`);
    // every event loop reloads on its own: gone on 8 requests in a row
    const gone = async () => {
      for (let i = 0; i < 8; i++) if ((await get(path)).status !== 404) return false;
      return true;
    };
    await waitFor(gone, 5000);
    expectError(await get(path), 404, 'not_found');

    const up1 = await uptime();
    if (typeof up0 === 'number') assert.ok(up1 >= up0, `the server restarted (uptime ${up0} then ${up1})`);
  });

  test('Allow lists the methods the route table has for a path', async () => {
    const res = await request('DELETE', P('echo'));
    expectError(res, 405, 'method_not_allowed');
    assert.deepEqual(allowedMethods(res), ['GET', 'POST']);
  });
});

describe('argument binding', () => {
  test('query parameters bind by name and convert to the argument types', async () => {
    const res = await get(`${P('echo')}?a=hi%20there&b=5`);
    assert.equal(res.status, 200, res.text);
    assertJsonType(res);
    assert.deepEqual(res.json, { a: 'hi there', b: 5 });
    assert.deepEqual((await get(P('echo'))).json, { a: null, b: null });
    assert.deepEqual((await get(`${P('echo')}?b=-17`)).json, { a: null, b: -17 });
  });

  test('path parameters bind by name', async () => {
    const res = await get(`${P('echo/hello')}?b=3`);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { a: 'hello', b: 3 });
  });

  test('a conversion failure is 400 naming the argument; an unknown one is 400 naming it', async () => {
    assert.equal(expectError(await get(`${P('echo')}?b=five`), 400, 'validation_failed').details.field, 'b');
    assert.equal(expectError(await get(`${P('echo')}?b=2147483648`), 400, 'validation_failed').details.field, 'b');
    assert.equal(expectError(await get(`${P('echo')}?a=x&zz=1`), 400, 'validation_failed').details.field, 'zz');
  });

  test('a handler returning NULL under a 200 route is 204 with no body', async () => {
    const res = await get(P('nothing'));
    assert.equal(res.status, 204);
    assert.equal(res.text, '');
    assertRequestId(res);
  });

  test('workon.set_response sets the status and extra headers', async () => {
    const res = await get(P('custom'));
    assert.equal(res.status, 202, res.text);
    assert.equal(res.headers['x-test-header'], 'e2e-custom');
    assert.deepEqual(res.json, { ok: true });
  });
});

describe('JSON bodies', () => {
  test('top-level keys bind by name; the route status is used', async () => {
    const res = await postJson(P('echo'), { a: 'hello', b: 42 });
    assert.equal(res.status, 201, res.text);
    assertJsonType(res);
    assert.deepEqual(res.json, { a: 'hello', b: 42 });
    const uni = await postJson(P('echo'), { a: 'grüße, 東京 🚀 "quoted" \\ \n' });
    assert.equal(uni.status, 201, uni.text);
    assert.deepEqual(uni.json, { a: 'grüße, 東京 🚀 "quoted" \\ \n', b: null });
    const mixed = await postJson(`${P('echo')}?a=from-query`, { b: 7 });
    assert.deepEqual(mixed.json, { a: 'from-query', b: 7 });
  });

  test('no body on a json route binds nothing', async () => {
    const res = await request('POST', P('echo'));
    assert.equal(res.status, 201, res.text);
    assert.deepEqual(res.json, { a: null, b: null });
  });

  test('a body argument receives the whole JSON value', async () => {
    const value = [1, 'two', { three: [3, null, true] }, -4.5];
    const res = await postJson(P('body'), value);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { got: value });
  });

  test('a raw route passes the body text through without parsing it', async () => {
    const text = 'not json { at all\nline 2 ✓';
    const res = await request('POST', P('raw'), { body: text, headers: { 'content-type': 'text/plain; charset=utf-8' } });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { len: Buffer.byteLength(text), text });
  });

  test('an unknown body key is 400 naming it; a bad value is 400 naming its key', async () => {
    const unknown = expectError(await postJson(P('echo'), { a: 'x', zzz: 1 }), 400, 'validation_failed');
    assert.equal(unknown.details.field, 'zzz');
    const bad = expectError(await postJson(P('echo'), { b: 'not a number' }), 400, 'validation_failed');
    assert.equal(bad.details.field, 'b');
  });

  const invalid = [
    ['an unclosed object', '{'],
    ['a missing value', '{"a":}'],
    ['trailing garbage', '{} x'],
    ['two documents', '{"a":"x"}{"a":"y"}'],
    ['a trailing comma', '{"a":"x",}'],
    ['single quotes', "{'a':'x'}"],
    ['an unquoted key', '{a:"x"}'],
    ['a raw control character in a string', '{"a":"x\u0001y"}'],
    ['a bad escape', '{"a":"\\x41"}'],
    ['NaN', '{"b":NaN}'],
    ['a truncated literal', '{"a":tru}'],
    ['10,000 unclosed brackets', '['.repeat(10000)],
    ['whitespace only', '   '],
  ];
  for (const [what, body] of invalid) {
    test(`invalid JSON (${what}) is 400 invalid_json`, async () => {
      expectError(await postJson(P('echo'), body), 400, 'invalid_json');
    });
  }

  test('a lone surrogate escape is refused with 400', async () => {
    // syntactically JSON (RFC 8259 grammar) but not a Unicode string; jsonb refuses it
    const res = await postJson(P('echo'), '{"a":"\\ud800"}');
    expectError(res, 400, ['invalid_json', 'validation_failed']);
  });

  test('invalid UTF-8 in a body is refused with 400', async () => {
    const res = await postJson(P('echo'), Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]));
    expectError(res, 400, ['invalid_json', 'validation_failed']);
  });

  test('10,000 levels of nesting do not break the server', async () => {
    const res = await postJson(P('body'), `${'['.repeat(10000)}${']'.repeat(10000)}`);
    assert.ok(res.status < 500, `deeply nested JSON answered ${res.status}: ${res.text.slice(0, 200)}`);
    if (res.status >= 400) expectError(res, 400, ['invalid_json', 'validation_failed']);
    assert.equal((await get('/healthz')).status, 200);
  });

  test('a body that is not application/json is 415', async () => {
    const body = '{"a":"x"}';
    for (const ct of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml', 'application/jsonx']) {
      expectError(await request('POST', P('echo'), { body, headers: { 'content-type': ct } }), 415, 'unsupported_media_type');
    }
    expectError(await request('POST', P('echo'), { body }), 415, 'unsupported_media_type');
  });

  test('application/json with parameters or in another case is accepted', async () => {
    for (const ct of ['application/json; charset=utf-8', 'application/json;charset=UTF-8', 'Application/JSON']) {
      const res = await request('POST', P('echo'), { body: '{"a":"ct"}', headers: { 'content-type': ct } });
      assert.equal(res.status, 201, `${ct}: ${res.text}`);
      assert.deepEqual(res.json, { a: 'ct', b: null });
    }
  });
});

describe('body size limits', () => {
  const bodyOf = (n) => {
    // a valid JSON object of exactly n bytes: {"a":"xxx..."}
    assert.ok(n >= 8);
    return `{"a":"${'x'.repeat(n - 8)}"}`;
  };

  test('a 2 MiB body with the default limit (1 MiB) is 413 payload_too_large', async () => {
    const res = await postRaw(undefined, P('echo'), bodyOf(2 * 1024 * 1024));
    expectError(res, 413, 'payload_too_large');
  });

  test('a chunked body over 1 MiB with the default limit is 413 too', async () => {
    const res = await postRaw(undefined, P('echo'), bodyOf(1024 * 1024 + 65536), { chunked: true });
    expectError(res, 413, 'payload_too_large');
  });

  test('a 1000-byte body is accepted with the default limit', async () => {
    const res = await postJson(P('echo'), bodyOf(1000));
    assert.equal(res.status, 201, res.text);
    assert.equal(res.json.a.length, 1000 - 8);
  });

  describe('with MAX_BODY_BYTES=1024', () => {
    let shim;
    before(async () => { shim = await startShim({ MAX_BODY_BYTES: '1024' }); });
    after(async () => { await shim?.stop(); });

    test('2 KB is 413, with Content-Length or chunked', async () => {
      expectError(await postRaw(shim.url, P('echo'), bodyOf(2048)), 413, 'payload_too_large');
      expectError(await postRaw(shim.url, P('echo'), bodyOf(2048), { chunked: true }), 413, 'payload_too_large');
    });

    test('1000 bytes and exactly 1024 bytes are accepted; 1025 is not', async () => {
      for (const n of [1000, 1024]) {
        const res = await postJson(P('echo'), bodyOf(n), {}, { base: shim.url });
        assert.equal(res.status, 201, `${n} bytes: ${res.text}`);
        assert.equal(res.json.a.length, n - 8);
      }
      const chunked = await postRaw(shim.url, P('echo'), bodyOf(1000), { chunked: true });
      assert.equal(chunked.status, 201, chunked.text);
      expectError(await postRaw(shim.url, P('echo'), bodyOf(1025)), 413, 'payload_too_large');
    });

    test('the server answers normally after refusing bodies', async () => {
      assert.equal((await get('/healthz', { base: shim.url })).status, 200);
      const res = await postJson(P('echo'), { a: 'after', b: 1 }, {}, { base: shim.url });
      assert.equal(res.status, 201, res.text);
      assert.deepEqual(res.json, { a: 'after', b: 1 });
      assert.ok(shim.alive());
    });
  });
});
