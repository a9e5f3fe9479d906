// The web site's files (web.c) and the browser session routes (13_browser_sessions.sql):
// pages and assets with their caching, security headers and gzip twins; the refresh token
// in an HttpOnly cookie, never in a body.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import zlib from 'node:zlib';
import { ROOT, assertRequestId, expectError, psql, request } from './lib/client.mjs';

const DIST = path.join(ROOT, 'web/dist');
const asset = (prefix, ext) => fs.readdirSync(path.join(DIST, 'assets')).find((f) => f.startsWith(`${prefix}.`) && f.endsWith(ext));

describe('the site\'s files', () => {
  test('GET / is the site: no-cache, a strict CSP without inline script, nosniff, a request id', async () => {
    const res = await request('GET', '/');
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'], /^text\/html/);
    assert.equal(res.headers['cache-control'], 'no-cache');
    const csp = res.headers['content-security-policy'];
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    assertRequestId(res);
    assert.equal(res.text, fs.readFileSync(path.join(DIST, 'index.html'), 'utf8'));
    // every script of the page is a file of this origin
    assert.doesNotMatch(res.text, /<script(?![^>]*\bsrc=)[^>]*>/);
  });

  test('the site\'s page paths and /admin serve their page; other paths and methods stay the API\'s', async () => {
    for (const p of ['/spaces/d1000000-0000-4000-8000-000000000007', '/bookings', '/reset-password?token=x', '/conversations/abc']) {
      const res = await request('GET', p);
      assert.equal(res.status, 200, p);
      assert.equal(res.text, fs.readFileSync(path.join(DIST, 'index.html'), 'utf8'), p);
    }
    for (const p of ['/admin', '/admin/', '/admin/users']) {
      const res = await request('GET', p);
      assert.equal(res.status, 200, p);
      assert.equal(res.text, fs.readFileSync(path.join(DIST, 'admin.html'), 'utf8'), p);
    }
    expectError(await request('GET', '/nothing-here'), 404, 'not_found');
    expectError(await request('GET', '/spacesx'), 404, 'not_found');
    expectError(await request('POST', '/', { body: {} }), 404, 'not_found');
    expectError(await request('GET', '/assets/nothing.0000000000.js'), 404, 'not_found');
    expectError(await request('GET', '/assets/..%2Findex.html'), 404, 'not_found');
    expectError(await request('GET', '/assets/.hidden.js'), 404, 'not_found');
    const head = await request('HEAD', '/');
    assert.equal(head.status, 200);
    assert.equal(head.raw.length, 0);
  });

  test('fingerprinted assets are immutable for a year; gzip is the precompressed twin, sent when asked', async () => {
    const js = asset('site', '.js');
    assert.ok(js, 'web/dist has a fingerprinted site.<hash>.js');
    const plain = await request('GET', `/assets/${js}`);
    assert.equal(plain.status, 200);
    assert.match(plain.headers['content-type'], /^text\/javascript/);
    assert.equal(plain.headers['cache-control'], 'public, max-age=31536000, immutable');
    assert.equal(plain.headers['x-content-type-options'], 'nosniff');
    assert.equal(plain.headers['content-encoding'], undefined);
    const gz = await request('GET', `/assets/${js}`, { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(gz.status, 200);
    assert.equal(gz.headers['content-encoding'], 'gzip');
    assert.match(gz.headers.vary, /accept-encoding/i);
    assert.ok(gz.raw.length < plain.raw.length / 2);
    assert.deepEqual(zlib.gunzipSync(gz.raw), plain.raw);
    // the name is the content's: a module's hash covers the names it imports
    assert.ok(plain.text.includes(`./${asset('common', '.js')}`));
    const css = await request('GET', `/assets/${asset('style', '.css')}`);
    assert.match(css.headers['content-type'], /^text\/css/);
  });
});

describe('browser sessions: the refresh token in an HttpOnly cookie', () => {
  const cookieOf = (res) => {
    const c = [res.headers['set-cookie']].flat()[0];
    assert.ok(c, 'a Set-Cookie header');
    return c;
  };
  const tokenOf = (cookie) => /^workon_refresh=([^;]*)/.exec(cookie)[1];

  test('register and login set the cookie (HttpOnly, SameSite=Strict, the session path, not Secure on loopback) and answer the access token only', async () => {
    const email = `web-${crypto.randomBytes(5).toString('hex')}@example.com`;
    const reg = await request('POST', '/api/v1/auth/session/register', { body: { email, password: 'a long web secret 1', name: 'Web' } });
    assert.equal(reg.status, 201, reg.text);
    const c = cookieOf(reg);
    assert.match(c, /^workon_refresh=[A-Za-z0-9_-]{40,}; /);
    assert.match(c, /; HttpOnly/);
    assert.match(c, /; SameSite=Strict/);
    assert.match(c, /; Path=\/api\/v1\/auth\/session(;|$)/);
    assert.match(c, /; Max-Age=\d+/);
    assert.doesNotMatch(c, /Secure/);
    assert.deepEqual(Object.keys(reg.json).sort(), ['access_token', 'expires_in', 'token_type', 'user']);
    assert.ok(!reg.text.includes(tokenOf(c)), 'the refresh token is not in the body');
    assert.ok(!reg.text.includes(': '), 'compact JSON');
    assert.equal(reg.headers['cache-control'], 'no-store');
    const me = await request('GET', '/api/v1/me', { headers: { authorization: `Bearer ${reg.json.access_token}` } });
    assert.equal(me.status, 200);
    assert.equal(me.json.email, email);

    const login = await request('POST', '/api/v1/auth/session/login', { body: { email, password: 'a long web secret 1' } });
    assert.equal(login.status, 200, login.text);
    assert.ok(tokenOf(cookieOf(login)));
    assert.equal(login.json.refresh_token, undefined);
    expectError(await request('POST', '/api/v1/auth/session/login', { body: { email, password: 'wrong password 123' } }), 401, 'invalid_credentials');
    expectError(await request('POST', '/api/v1/auth/session/register', { body: { email, password: 'a long web secret 1', name: 'Web' } }), 409, 'email_taken');
  });

  test('refresh reads the cookie and rotates it; logout revokes the family and clears the cookie', async () => {
    const email = `web-${crypto.randomBytes(5).toString('hex')}@example.com`;
    const reg = await request('POST', '/api/v1/auth/session/register', { body: { email, password: 'a long web secret 2', name: 'Web' } });
    const first = tokenOf(cookieOf(reg));
    const ref = await request('POST', '/api/v1/auth/session/refresh', { headers: { cookie: `theme=dark; workon_refresh=${first}` } });
    assert.equal(ref.status, 200, ref.text);
    const second = tokenOf(cookieOf(ref));
    assert.notEqual(second, first);
    assert.ok(ref.json.access_token);
    assert.equal(ref.json.refresh_token, undefined);
    // the cookie's token is an ordinary refresh token: the bearer route takes it too
    const other = await request('POST', '/api/v1/auth/session/login', { body: { email, password: 'a long web secret 2' } });
    const third = tokenOf(cookieOf(other));
    const bearer = await request('POST', '/api/v1/auth/refresh', { body: { refresh_token: third } });
    assert.equal(bearer.status, 200);

    expectError(await request('POST', '/api/v1/auth/session/refresh'), 401, 'invalid_refresh_token');
    expectError(await request('POST', '/api/v1/auth/session/refresh', { headers: { cookie: 'workon_refresh=nope' } }), 401, 'invalid_refresh_token');

    const out = await request('POST', '/api/v1/auth/session/logout', { headers: { cookie: `workon_refresh=${second}` } });
    assert.equal(out.status, 204);
    assert.match(cookieOf(out), /^workon_refresh=; .*Max-Age=0/);
    expectError(await request('POST', '/api/v1/auth/session/refresh', { headers: { cookie: `workon_refresh=${second}` } }), 401, 'invalid_refresh_token');
    // no session: still 204, the cookie cleared
    const again = await request('POST', '/api/v1/auth/session/logout');
    assert.equal(again.status, 204);
    assert.match(cookieOf(again), /Max-Age=0/);
  });

  test('the cookie is Secure unless the client is on a loopback address', () => {
    const secure = psql(`SELECT workon.session_cookie('tok', '{"ip":"203.0.113.5"}')`);
    assert.match(secure, /; Secure$/);
    for (const ip of ['127.0.0.1', '::1', '::ffff:127.0.0.1']) {
      assert.doesNotMatch(psql(`SELECT workon.session_cookie('tok', '{"ip":"${ip}"}')`), /Secure/, ip);
    }
    assert.match(psql(`SELECT workon.session_cookie('tok', '{"ip":"not an address"}')`), /; Secure$/);
    assert.match(psql(`SELECT workon.session_cookie('tok', NULL)`), /; Secure$/);
  });

  test('the session routes are in the OpenAPI document, and login and register are in the auth rate-limit class', async () => {
    const doc = (await request('GET', '/api/v1/openapi.json')).json;
    for (const p of ['login', 'register', 'refresh', 'logout']) assert.ok(doc.paths[`/api/v1/auth/session/${p}`]?.post, p);
    assert.match(doc.paths['/api/v1/auth/session/login'].post.description, /HttpOnly|cookie/);
    assert.equal(psql(`SELECT string_agg(rate_limit, ',' ORDER BY path) FROM workon.routes WHERE path LIKE '/api/v1/auth/session/%'`),
      'auth,default,default,auth');
  });
});
