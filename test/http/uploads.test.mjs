// Uploads end to end on the PostgreSQL store: declare, PUT the bytes to the signed URL,
// download them through a fresh signed URL; signatures, sizes, types decided by the
// bytes, polyglots, single use; the headers of file responses (type, nosniff,
// disposition, CSP, ETag, Range, caching); space photos at their public URLs; the
// clean-up of uploads never finished. Then the same against the S3 store (UPLOAD_STORE=s3,
// a second shim and a local bucket that checks Signature V4: lib/fake-s3.mjs).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { BASE, expectError, h2connect, h2request, lit, psql, psqlList, request, sendRaw, startShim, UUID_RE, waitFor } from './lib/client.mjs';
import { canonicalQuery, signature, startFakeS3 } from './lib/fake-s3.mjs';

const SECRET = crypto.randomBytes(36).toString('base64url');
const URL_SECRET = `url-secret-${crypto.randomBytes(24).toString('hex')}`;
// the key the database derives from SIGNED_URL_SECRET (workon.seed_signed_url_secret)
const URL_KEY = crypto.createHmac('sha256', URL_SECRET).update('workon signed url key').digest();
// the key that signs now (a shim starting meanwhile seeds its own secret)
const signingKey = () => Buffer.from(psqlList(`SET row_security = off; SELECT encode(key, 'hex') FROM workon.signed_url_keys
  WHERE expires_at IS NULL ORDER BY created_at DESC, id LIMIT 1;`)[0], 'hex');
const unique = () => `${Date.now().toString(36)}${crypto.randomBytes(4).toString('hex')}`;
const bearer = (token) => ({ authorization: `Bearer ${token}` });
const sha256 = (buf) => crypto.createHash('sha256').update(buf).digest('hex');
const sign = (method, path, expires, key = signingKey()) =>
  crypto.createHmac('sha256', key).update(`${method}\n${path}\n${expires}`).digest('base64url');

// Files: the magic of their type, then every byte value (NULs and invalid UTF-8 included)
const filler = (n) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + 3) % 256));
const JPEG = (n = 4096) => Buffer.concat([Buffer.from('ffd8ffe000104a464946000101', 'hex'), filler(n)]);
const PNG = (n = 4096) => Buffer.concat([Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'), filler(n)]);
const WEBP = (n = 4096) => Buffer.concat([Buffer.from('RIFF'), Buffer.from('00100000', 'hex'), Buffer.from('WEBPVP8 '), filler(n)]);
const PDF = (n = 4096) => Buffer.concat([Buffer.from('%PDF-1.7\n%\xe2\xe3\xcf\xd3\n', 'latin1'), filler(n)]);

async function register(role) {
  const body = { email: `up-${unique()}@example.com`, password: `long secret ${unique()}`, name: 'Uploader', ...(role ? { role } : {}) };
  const res = await request('POST', '/api/v1/auth/register', { body });
  assert.equal(res.status, 201, res.text);
  return { id: res.json.user.id, token: res.json.access_token };
}

async function declare(user, body, opts = {}) {
  return request('POST', '/api/v1/uploads', { headers: bearer(user.token), body, ...opts });
}

const put = (url, bytes, opts = {}) =>
  request('PUT', url, { body: bytes, headers: { 'content-type': 'application/octet-stream', ...(opts.headers ?? {}) }, ...opts });

// declare + PUT; returns the PUT's JSON
async function upload(user, filename, contentType, bytes, opts = {}) {
  const d = await declare(user, { filename, content_type: contentType, size: bytes.length }, opts);
  assert.equal(d.status, 201, d.text);
  const res = await put(d.json.upload_url, bytes, opts);
  assert.equal(res.status, 201, res.text);
  return res.json;
}

let member;
let other;
let host;

// a space of host's, unpublished
async function newSpace(name) {
  const res = await request('POST', '/api/v1/spaces', {
    headers: bearer(host.token),
    body: {
      name, kind: 'desk', city: 'Lyon', address: 'Quai 2', capacity: 4,
      timezone: 'UTC', hourly_rate_cents: 500, daily_rate_cents: 3000, currency: 'eur',
    },
  });
  assert.equal(res.status, 201, res.text);
  return res.json;
}

before(async () => {
  psql(`SELECT workon.seed_jwt_key(${lit(SECRET)}); SELECT workon.seed_signed_url_secret(${lit(URL_SECRET)});`);
  // the key seeded from URL_SECRET, by its id (another shim of the suite may seed its own
  // secret at any moment and sign with that; every unexpired key still verifies)
  const id = 'seed-' + crypto.createHmac('sha256', URL_KEY).update('workon signed url key id').digest('hex').slice(0, 20);
  const seeded = psqlList(`SET row_security = off; SELECT encode(key, 'hex') FROM workon.signed_url_keys WHERE id = ${lit(id)};`);
  assert.equal(seeded.length, 1, 'the seeded key is stored under the id derived from it');
  assert.ok(Buffer.from(seeded[0], 'hex').equals(URL_KEY), 'the key is derived from SIGNED_URL_SECRET as the README says');
  [member, other, host] = await Promise.all([register(), register(), register('host')]);
});

describe('upload and download', () => {
  test('POST declares, PUT stores the bytes exactly, GET of the download URL returns them', async () => {
    const bytes = PNG(1 << 20);
    const d = await declare(member, { filename: 'floor plan.png', content_type: 'image/png', size: bytes.length });
    assert.equal(d.status, 201, d.text);
    assert.deepEqual(Object.keys(d.json).sort(), ['expires_at', 'id', 'upload_url']);
    assert.match(d.json.id, UUID_RE);
    const u = new URL(d.json.upload_url, 'http://x');
    assert.equal(u.pathname, `/api/v1/uploads/${d.json.id}/content`);
    const expires = Number(u.searchParams.get('expires'));
    assert.ok(expires > Date.now() / 1000 + 600 && expires <= Date.now() / 1000 + 901, `expires ${expires}`);
    assert.equal(u.searchParams.get('sig'), sign('PUT', u.pathname, expires), 'sig is the HMAC of API.md');
    assert.equal(new Date(d.json.expires_at).getTime(), expires * 1000);

    const res = await put(d.json.upload_url, bytes);
    assert.equal(res.status, 201, res.text);
    assert.equal(res.json.id, d.json.id);
    assert.equal(res.json.size, bytes.length);
    assert.equal(res.json.sha256, sha256(bytes));
    assert.equal(psqlList(`SELECT encode(sha256(bytes), 'hex') FROM workon.upload_data WHERE upload_id = ${lit(d.json.id)};`)[0],
      sha256(bytes), 'the database holds the bytes sent');

    const got = await request('GET', res.json.download_url);
    assert.equal(got.status, 200, got.text);
    assert.ok(got.raw.equals(bytes), 'downloaded bytes differ');
    assert.equal(got.headers['content-length'], String(bytes.length));

    const meta = await request('GET', `/api/v1/uploads/${d.json.id}`, { headers: bearer(member.token) });
    assert.equal(meta.status, 200, meta.text);
    assert.equal(meta.json.filename, 'floor plan.png');
    assert.equal(meta.json.state, 'stored');
    const again = await request('GET', meta.json.download_url);
    assert.ok(again.raw.equals(bytes));
  });

  test('declaring needs a member; fields are validated', async () => {
    let res = await request('POST', '/api/v1/uploads', { body: { filename: 'a.png', content_type: 'image/png', size: 10 } });
    expectError(res, 401, 'unauthorized');
    res = await declare(member, { content_type: 'image/png', size: 10 });
    assert.equal(expectError(res, 400, 'validation_failed').details.field, 'filename');
    res = await declare(member, { filename: '../x.png', content_type: 'image/png', size: 10 });
    assert.equal(expectError(res, 400, 'validation_failed').details.field, 'filename');
    res = await declare(member, { filename: 'a.png', content_type: 'image/png', size: 0 });
    assert.equal(expectError(res, 400, 'validation_failed').details.field, 'size');
    res = await declare(member, { filename: 'a.gif', content_type: 'image/gif', size: 10 });
    expectError(res, 415, 'unsupported_media_type');
    res = await declare(member, { filename: 'a.html', content_type: 'text/html', size: 10 });
    expectError(res, 415, 'unsupported_media_type');
  });

  test('a declared size over UPLOAD_MAX_BYTES is 413 at POST', async () => {
    const res = await declare(member, { filename: 'big.pdf', content_type: 'application/pdf', size: 10 * 1024 * 1024 + 1 });
    expectError(res, 413, 'payload_too_large');
    const ok = await declare(member, { filename: 'big.pdf', content_type: 'application/pdf', size: 10 * 1024 * 1024 });
    assert.equal(ok.status, 201, ok.text);
  });

  test('tampered, expired and other uploads\' signatures are 403; a URL uploads once', async () => {
    const bytes = JPEG();
    const a = await declare(member, { filename: 'a.jpg', content_type: 'image/jpeg', size: bytes.length });
    const b = await declare(member, { filename: 'b.jpg', content_type: 'image/jpeg', size: bytes.length });
    const ua = new URL(a.json.upload_url, 'http://x');
    const ub = new URL(b.json.upload_url, 'http://x');
    const path = ua.pathname;
    const exp = Number(ua.searchParams.get('expires'));
    const sig = ua.searchParams.get('sig');
    const flip = sig[0] === 'A' ? `B${sig.slice(1)}` : `A${sig.slice(1)}`;
    const past = Math.floor(Date.now() / 1000) - 5;
    for (const [what, url] of [
      ['changed sig', `${path}?expires=${exp}&sig=${flip}`],
      ['later expires', `${path}?expires=${exp + 3600}&sig=${sig}`],
      ['other upload\'s signature', `${path}?${ub.searchParams}`],
      ['signed for GET', `${path}?expires=${exp}&sig=${sign('GET', path, exp)}`],
      ['expired', `${path}?expires=${past}&sig=${sign('PUT', path, past)}`],
      ['no signature', path],
    ]) {
      const res = await put(url, bytes);
      const err = expectError(res, 403, 'invalid_url_signature');
      assert.ok(err.message.length > 0, what);
    }
    assert.equal(psqlList(`SELECT state FROM workon.uploads WHERE id = ${lit(a.json.id)};`)[0], 'pending');
    let res = await put(a.json.upload_url, bytes);
    assert.equal(res.status, 201, res.text);
    res = await put(a.json.upload_url, bytes);
    expectError(res, 409, 'upload_url_used');
    // the upload URL does not download
    res = await request('GET', a.json.upload_url);
    expectError(res, 403, 'invalid_url_signature');
  });

  test('the type is decided by the bytes; polyglots are refused (415)', async () => {
    for (const [what, declared, bytes] of [
      ['a PNG declared as JPEG', 'image/jpeg', PNG()],
      ['a GIF declared as PNG', 'image/png', Buffer.concat([Buffer.from('GIF89a'), filler(100)])],
      ['HTML declared as PDF', 'application/pdf', Buffer.from('<!doctype html><script>alert(1)</script>')],
      ['a PDF with a script in its first kilobyte', 'application/pdf',
        Buffer.concat([PDF(0), Buffer.from('<html><script>alert(document.cookie)</script></html>'), filler(2000)])],
      ['a JPEG carrying <SVG onload', 'image/jpeg', Buffer.concat([JPEG(10), Buffer.from('<SVG onload=alert(1)>')])],
      ['an empty file', 'image/png', Buffer.alloc(0)],
    ]) {
      const d = await declare(member, { filename: 'x', content_type: declared, size: Math.max(bytes.length, 1) });
      assert.equal(d.status, 201, d.text);
      const res = await put(d.json.upload_url, bytes);
      expectError(res, 415, 'unsupported_media_type');
      assert.equal(psqlList(`SELECT state FROM workon.uploads WHERE id = ${lit(d.json.id)};`)[0], 'pending', what);
    }
    for (const [type, bytes] of [['image/webp', WEBP()], ['application/pdf', PDF()], ['image/jpeg', JPEG()]]) {
      const res = await upload(member, 'ok', type, bytes);
      assert.equal(res.content_type, type);
    }
  });

  test('metadata is private to the owner and admins', async () => {
    const res = await upload(member, 'mine.pdf', 'application/pdf', PDF());
    let r = await request('GET', `/api/v1/uploads/${res.id}`, { headers: bearer(other.token) });
    expectError(r, 404, 'not_found');
    r = await request('GET', `/api/v1/uploads/${res.id}`);
    expectError(r, 401, 'unauthorized');
    // the file itself: only with a signature
    r = await request('GET', `/api/v1/uploads/${res.id}/content`);
    expectError(r, 403, 'invalid_url_signature');
  });
});

describe('serving files', () => {
  let png;
  let pdf;
  let pngBytes;
  before(async () => {
    pngBytes = PNG(100000);
    png = await upload(member, 'Café "plan" ü.png', 'image/png', pngBytes);
    pdf = await upload(member, 'contract.pdf', 'application/pdf', PDF());
  });

  test('type, nosniff, disposition (RFC 6266), CSP, ETag and private caching', async () => {
    const res = await request('GET', png.download_url);
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'image/png');
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    assert.equal(res.headers['content-disposition'],
      'inline; filename="Caf_ _plan_ _.png"; filename*=UTF-8\'\'Caf%C3%A9%20%22plan%22%20%C3%BC.png');
    assert.match(res.headers['content-security-policy'], /default-src 'none'/);
    assert.match(res.headers['content-security-policy'], /sandbox/);
    assert.equal(res.headers.etag, `"${sha256(pngBytes)}"`);
    assert.match(res.headers['cache-control'], /^private, max-age=\d+$/);
    assert.ok(Number(res.headers['cache-control'].split('=')[1]) <= 900);
    assert.equal(res.headers['accept-ranges'], 'bytes');
    const p = await request('GET', pdf.download_url);
    assert.equal(p.headers['content-type'], 'application/pdf');
    assert.equal(p.headers['content-disposition'], 'attachment; filename="contract.pdf"; filename*=UTF-8\'\'contract.pdf');
  });

  test('If-None-Match: 304 without a body when the ETag matches', async () => {
    const first = await request('GET', png.download_url);
    let res = await request('GET', png.download_url, { headers: { 'if-none-match': first.headers.etag } });
    assert.equal(res.status, 304);
    assert.equal(res.raw.length, 0);
    assert.equal(res.headers.etag, first.headers.etag);
    res = await request('GET', png.download_url, { headers: { 'if-none-match': `"x", ${first.headers.etag}` } });
    assert.equal(res.status, 304);
    res = await request('GET', png.download_url, { headers: { 'if-none-match': '"something-else"' } });
    assert.equal(res.status, 200);
    assert.ok(res.raw.equals(pngBytes));
  });

  test('Range: 206 with Content-Range, suffix and open ranges, 416 beyond the end', async () => {
    const len = pngBytes.length;
    let res = await request('GET', png.download_url, { headers: { range: 'bytes=0-99' } });
    assert.equal(res.status, 206);
    assert.equal(res.headers['content-range'], `bytes 0-99/${len}`);
    assert.ok(res.raw.equals(pngBytes.subarray(0, 100)));
    res = await request('GET', png.download_url, { headers: { range: 'bytes=-10' } });
    assert.equal(res.status, 206);
    assert.equal(res.headers['content-range'], `bytes ${len - 10}-${len - 1}/${len}`);
    assert.ok(res.raw.equals(pngBytes.subarray(len - 10)));
    res = await request('GET', png.download_url, { headers: { range: `bytes=${len - 5}-` } });
    assert.equal(res.status, 206);
    assert.ok(res.raw.equals(pngBytes.subarray(len - 5)));
    res = await request('GET', png.download_url, { headers: { range: `bytes=${len}-` } });
    assert.equal(res.status, 416);
    assert.equal(res.headers['content-range'], `bytes */${len}`);
    // a malformed or multi-part range is ignored: the whole file
    res = await request('GET', png.download_url, { headers: { range: 'bytes=0-1,5-6' } });
    assert.equal(res.status, 200);
    assert.ok(res.raw.equals(pngBytes));
  });

  test('Range: a middle range, the last byte, a range past the end clipped; If-Range; what is ignored', async () => {
    const len = pngBytes.length;
    const etag = `"${sha256(pngBytes)}"`;
    const get = (headers) => request('GET', png.download_url, { headers });
    let res = await get({ range: 'bytes=40000-40999' });
    assert.equal(res.status, 206);
    assert.equal(res.headers['content-range'], `bytes 40000-40999/${len}`);
    assert.equal(res.headers['content-length'], '1000');
    assert.equal(res.headers['content-type'], 'image/png');
    assert.equal(res.headers.etag, etag);
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    assert.ok(res.raw.equals(pngBytes.subarray(40000, 41000)));
    res = await get({ range: `bytes=${len - 1}-${len - 1}` });
    assert.equal(res.status, 206);
    assert.equal(res.headers['content-range'], `bytes ${len - 1}-${len - 1}/${len}`);
    assert.ok(res.raw.equals(pngBytes.subarray(len - 1)));
    // an end past the file is the file's end; a suffix longer than the file the whole file
    res = await get({ range: `bytes=${len - 3}-${len + 1000}` });
    assert.equal(res.status, 206);
    assert.equal(res.headers['content-range'], `bytes ${len - 3}-${len - 1}/${len}`);
    res = await get({ range: `bytes=-${len + 5}` });
    assert.equal(res.status, 206);
    assert.equal(res.headers['content-range'], `bytes 0-${len - 1}/${len}`);
    assert.ok(res.raw.equals(pngBytes));
    // unsatisfiable: past the end, an empty suffix
    for (const range of [`bytes=${len + 10}-${len + 20}`, 'bytes=-0']) {
      res = await get({ range });
      assert.equal(res.status, 416, range);
      assert.equal(res.headers['content-range'], `bytes */${len}`);
      assert.equal(res.raw.length, 0);
    }
    // If-Range: the ETag gets the range, another tag the whole file
    res = await get({ range: 'bytes=10-19', 'if-range': etag });
    assert.equal(res.status, 206);
    assert.ok(res.raw.equals(pngBytes.subarray(10, 20)));
    res = await get({ range: 'bytes=10-19', 'if-range': '"another"' });
    assert.equal(res.status, 200);
    assert.ok(res.raw.equals(pngBytes));
    // ignored, the whole file: backwards, another unit, no numbers, several ranges
    for (const range of ['bytes=9-3', 'items=0-9', 'bytes=-', 'bytes=0-9,20-29', 'bytes=a-b']) {
      res = await get({ range });
      assert.equal(res.status, 200, range);
      assert.ok(res.raw.equals(pngBytes), range);
    }
    // If-None-Match wins over Range
    res = await get({ range: 'bytes=0-9', 'if-none-match': etag });
    assert.equal(res.status, 304);
  });

  test('a 304 reads no bytes: it is answered from the metadata even with the bytes gone', async () => {
    const bytes = JPEG(5000);
    const up = await upload(member, 'gone.jpg', 'image/jpeg', bytes);
    const etag = `"${sha256(bytes)}"`;
    psql(`SET row_security = off; DELETE FROM workon.upload_data WHERE upload_id = ${lit(up.id)};`);
    const res = await request('GET', up.download_url, { headers: { 'if-none-match': etag } });
    assert.equal(res.status, 304);
    assert.equal(res.headers.etag, etag);
    assert.match(res.headers['cache-control'], /^private, max-age=\d+$/);
    assert.equal(res.raw.length, 0);
  });

  test('a download URL is signed for its upload and method', async () => {
    const u = new URL(png.download_url, 'http://x');
    const res = await request('GET', `/api/v1/uploads/${pdf.id}/content?${u.searchParams}`);
    expectError(res, 403, 'invalid_url_signature');
  });
});

describe('bodies', () => {
  test('JSON routes keep MAX_BODY_BYTES while the upload route takes UPLOAD_MAX_BYTES', async () => {
    const big = { filename: 'a.png', content_type: 'image/png', size: 10, pad: 'x'.repeat(2 * 1024 * 1024) };
    let res = await declare(member, big);
    expectError(res, 413, 'payload_too_large');
    const bytes = JPEG(3 * 1024 * 1024);
    const out = await upload(member, 'three.jpg', 'image/jpeg', bytes);
    assert.equal(out.size, bytes.length);
    // over UPLOAD_MAX_BYTES: 413 whatever was declared (h2o may answer before it read the body)
    const d = await declare(member, { filename: 'x.jpg', content_type: 'image/jpeg', size: 100 });
    const over = JPEG(10 * 1024 * 1024);
    const head = [`PUT ${d.json.upload_url} HTTP/1.1`, `Host: ${new URL(BASE).host}`, 'Connection: close',
      'Content-Type: application/octet-stream', `Content-Length: ${over.length}`, 'Expect: 100-continue'].join('\r\n');
    expectError(await sendRaw(BASE, head, over), 413, 'payload_too_large');
    assert.equal(psqlList(`SELECT state FROM workon.uploads WHERE id = ${lit(d.json.id)};`)[0], 'pending');
  });

  test('a JSON route: 413 in the error shape for a chunked body over MAX_BODY_BYTES, and before any byte of one declared over UPLOAD_MAX_BYTES', async () => {
    const big = { filename: 'a.png', content_type: 'image/png', size: 10, pad: 'x'.repeat(2 * 1024 * 1024) };
    expectError(await declare(member, big, { chunked: true }), 413, 'payload_too_large');
    // h2o's own limit (the larger of the two, plus one) refuses at the headers: no body is sent at all
    const head = ['POST /api/v1/uploads HTTP/1.1', `Host: ${new URL(BASE).host}`, 'Connection: close',
      `Authorization: Bearer ${member.token}`, 'Content-Type: application/json', `Content-Length: ${11 * 1024 * 1024}`].join('\r\n');
    const started = Date.now();
    expectError(await sendRaw(BASE, head, '', { timeoutMs: 5000 }), 413, 'payload_too_large');
    assert.ok(Date.now() - started < 4000, 'answered without waiting for the body');
    // the same body on the upload route is fine up to UPLOAD_MAX_BYTES (above)
  });

  test('a PUT of more bytes than declared is 413 and stores nothing; fewer are stored with their size', async () => {
    const d = await declare(member, { filename: 'd.jpg', content_type: 'image/jpeg', size: 2000 });
    assert.equal(d.status, 201, d.text);
    const r = await put(d.json.upload_url, JPEG(2000 - 13 + 1));
    expectError(r, 413, 'payload_too_large');
    assert.deepEqual(psqlList(`SELECT state || ' ' || size FROM workon.uploads WHERE id = ${lit(d.json.id)};`), ['pending 2000']);
    const ok = await put(d.json.upload_url, JPEG(1500 - 13));
    assert.equal(ok.status, 201, ok.text);
    assert.equal(ok.json.size, 1500);
  });

  test('a smaller UPLOAD_MAX_BYTES applies at POST and at PUT', async () => {
    const shim = await startShim({ UPLOAD_MAX_BYTES: '5000', SIGNED_URL_SECRET: URL_SECRET, JWT_SECRET: SECRET });
    try {
      const base = shim.url;
      let res = await declare(member, { filename: 'a.jpg', content_type: 'image/jpeg', size: 5001 }, { base });
      expectError(res, 413, 'payload_too_large');
      res = await declare(member, { filename: 'a.jpg', content_type: 'image/jpeg', size: 5000 }, { base });
      assert.equal(res.status, 201, res.text);
      const r = await put(res.json.upload_url, JPEG(5000 - 13 + 1), { base });
      expectError(r, 413, 'payload_too_large');
      const ok = await put(res.json.upload_url, JPEG(5000 - 13), { base });
      assert.equal(ok.status, 201, ok.text);
    } finally {
      await shim.stop();
    }
  });
});

describe('space photos', () => {
  let space;
  let photos;
  before(async () => {
    space = await newSpace(`Photo Loft ${unique()}`);
    assert.deepEqual(space.photos, []);
    photos = [];
    for (const [name, bytes] of [['cover.jpg', JPEG(5000)], ['desk.png', PNG(6000)], ['view.webp', WEBP(7000)]]) {
      photos.push({ ...(await upload(host, name, `image/${name.endsWith('jpg') ? 'jpeg' : name.split('.')[1]}`, bytes)), bytes });
    }
  });

  test('a host sets ordered photos; published, they are public at stable URLs', async () => {
    let res = await request('PUT', `/api/v1/spaces/${space.id}/photos`, {
      headers: bearer(host.token), body: { upload_ids: photos.map((p) => p.id) },
    });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json.photos.map((p) => p.id), photos.map((p) => p.id), 'the cover is first');
    for (const p of res.json.photos) assert.equal(p.url, `/api/v1/uploads/${p.id}/content`);

    // unpublished: not public
    res = await request('GET', res.json.photos[0].url);
    expectError(res, 403, 'invalid_url_signature');

    res = await request('PATCH', `/api/v1/spaces/${space.id}`, { headers: bearer(host.token), body: { published: true, opening_hours: { mon: [['08:00', '20:00']] } } });
    assert.equal(res.status, 200, res.text);
    const doc = await request('GET', `/api/v1/spaces/${space.id}`);
    assert.equal(doc.status, 200);
    assert.deepEqual(doc.json.photos.map((p) => p.id), photos.map((p) => p.id));
    const listed = await request('GET', `/api/v1/spaces?city=Lyon&limit=100`);
    assert.deepEqual(listed.json.data.find((s) => s.id === space.id).photos, doc.json.photos);
    for (const [i, p] of doc.json.photos.entries()) {
      const got = await request('GET', p.url);
      assert.equal(got.status, 200, got.text);
      assert.ok(got.raw.equals(photos[i].bytes));
      assert.equal(got.headers['cache-control'], 'public, max-age=86400');
      assert.equal(got.headers['x-content-type-options'], 'nosniff');
    }
  });

  test('limits and ownership: 21 photos, another host, a PDF, another user\'s file are refused', async () => {
    let res = await request('PUT', `/api/v1/spaces/${space.id}/photos`, {
      headers: bearer(host.token), body: { upload_ids: Array.from({ length: 21 }, () => crypto.randomUUID()) },
    });
    assert.equal(expectError(res, 400, 'validation_failed').details.field, 'upload_ids');
    const pdf = await upload(host, 'menu.pdf', 'application/pdf', PDF());
    res = await request('PUT', `/api/v1/spaces/${space.id}/photos`, { headers: bearer(host.token), body: { upload_ids: [pdf.id] } });
    expectError(res, 400, 'validation_failed');
    const theirs = await upload(member, 'theirs.jpg', 'image/jpeg', JPEG());
    res = await request('PUT', `/api/v1/spaces/${space.id}/photos`, { headers: bearer(host.token), body: { upload_ids: [theirs.id] } });
    expectError(res, 400, 'validation_failed');
    const other2 = await register('host');
    res = await request('PUT', `/api/v1/spaces/${space.id}/photos`, { headers: bearer(other2.token), body: { upload_ids: [] } });
    expectError(res, 403, 'forbidden');
    res = await request('PUT', `/api/v1/spaces/${space.id}/photos`, { headers: bearer(member.token), body: { upload_ids: [] } });
    expectError(res, 403, 'forbidden');
  });

  test('a photo left out, and the photos of a deleted space, are deleted', async () => {
    let res = await request('PUT', `/api/v1/spaces/${space.id}/photos`, {
      headers: bearer(host.token), body: { upload_ids: [photos[2].id, photos[0].id] },
    });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json.photos.map((p) => p.id), [photos[2].id, photos[0].id]);
    assert.equal(psqlList(`SELECT count(*) FROM workon.uploads WHERE id = ${lit(photos[1].id)};`)[0], '0');
    res = await request('GET', `/api/v1/uploads/${photos[1].id}/content`);
    expectError(res, 403, 'invalid_url_signature');
    res = await request('DELETE', `/api/v1/spaces/${space.id}`, { headers: bearer(host.token) });
    assert.equal(res.status, 204, res.text);
    assert.equal(psqlList(`SELECT count(*) FROM workon.uploads WHERE id IN (${lit(photos[0].id)}, ${lit(photos[2].id)});`)[0], '0');
  });
});

describe('avatars', () => {
  test('a member sets an avatar, public at its URL; replacing it deletes the old file', async () => {
    const first = await upload(other, 'me.png', 'image/png', PNG(3000));
    let res = await request('PUT', '/api/v1/me/avatar', { headers: bearer(other.token), body: { upload_id: first.id } });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.avatar_url, `/api/v1/uploads/${first.id}/content`);
    let got = await request('GET', res.json.avatar_url);
    assert.equal(got.status, 200, got.text);
    assert.equal(got.headers['cache-control'], 'public, max-age=86400');
    // not someone else's file, not a PDF
    const theirs = await upload(member, 'x.png', 'image/png', PNG(100));
    res = await request('PUT', '/api/v1/me/avatar', { headers: bearer(other.token), body: { upload_id: theirs.id } });
    assert.equal(expectError(res, 400, 'validation_failed').details.field, 'upload_id');
    const pdf = await upload(other, 'cv.pdf', 'application/pdf', PDF());
    res = await request('PUT', '/api/v1/me/avatar', { headers: bearer(other.token), body: { upload_id: pdf.id } });
    expectError(res, 400, 'validation_failed');
    const second = await upload(other, 'me2.webp', 'image/webp', WEBP(3000));
    res = await request('PUT', '/api/v1/me/avatar', { headers: bearer(other.token), body: { upload_id: second.id } });
    assert.equal(res.status, 200, res.text);
    assert.equal(psqlList(`SELECT count(*) FROM workon.uploads WHERE id = ${lit(first.id)};`)[0], '0');
    got = await request('GET', `/api/v1/uploads/${first.id}/content`);
    expectError(got, 403, 'invalid_url_signature');
    res = await request('PUT', '/api/v1/me/avatar', { headers: bearer(other.token), body: { upload_id: null } });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.avatar_url, null);
    assert.equal(psqlList(`SELECT count(*) FROM workon.uploads WHERE id = ${lit(second.id)};`)[0], '0');
  });
});

describe('clean-up', () => {
  test('an upload never finished is deleted after a day', async () => {
    const d = await declare(member, { filename: 'late.jpg', content_type: 'image/jpeg', size: 100 });
    psql(`UPDATE workon.uploads SET created_at = now() - interval '25 hours' WHERE id = ${lit(d.json.id)};`);
    const fresh = await declare(member, { filename: 'fresh.jpg', content_type: 'image/jpeg', size: 100 });
    assert.equal(fresh.status, 201);
    assert.equal(psqlList(`SELECT count(*) FROM workon.uploads WHERE id = ${lit(d.json.id)};`)[0], '0');
    const res = await put(d.json.upload_url, JPEG());
    expectError(res, 404, 'not_found');
  });
});

describe('the S3 store', () => {
  // a key pair that looks like no real one
  const S3 = { accessKeyId: 'WORKONTESTKEYID', secret: `test-secret-${crypto.randomBytes(12).toString('hex')}`, region: 'eu-test-1', bucket: 'workon-files' };
  let bucket;
  let s3shim;
  const s3env = (over = {}) => ({
    SIGNED_URL_SECRET: URL_SECRET, HTTP2: 'on', UPLOAD_STORE: 's3', S3_ENDPOINT: bucket.url, S3_BUCKET: S3.bucket, S3_REGION: S3.region,
    S3_ACCESS_KEY_ID: S3.accessKeyId, S3_SECRET_ACCESS_KEY: S3.secret, ...over,
  });
  const at = (shim) => ({ base: shim.url });
  const keyOf = (id) => psqlList(`SET row_security = off; SELECT coalesce(s3_key, '-') || ' ' || store || ' ' || state FROM workon.uploads WHERE id = ${lit(id)};`)[0].split(' ');
  const bucketPuts = () => bucket.log.filter((r) => r.method === 'PUT').length;
  // GET of a presigned URL at the bucket
  const fetchBucket = (location, method = 'GET', headers = {}) => {
    const u = new URL(location);
    return request(method, `${u.pathname}${u.search}`, { base: u.origin, headers });
  };

  before(async () => {
    bucket = await startFakeS3(S3);
    s3shim = await startShim(s3env());
  });
  after(async () => {
    await s3shim?.stop();
    await bucket?.stop();
  });

  test('the bucket checks signatures as AWS documents them (its own examples)', () => {
    const secret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
    const amzDate = '20130524T000000Z';
    const query = canonicalQuery([['X-Amz-Algorithm', 'AWS4-HMAC-SHA256'],
      ['X-Amz-Credential', 'AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request'], ['X-Amz-Date', amzDate],
      ['X-Amz-Expires', '86400'], ['X-Amz-SignedHeaders', 'host']]);
    assert.equal(signature({ secret, region: 'us-east-1', amzDate,
      canonicalRequest: ['GET', '/test.txt', query, 'host:examplebucket.s3.amazonaws.com\n', 'host', 'UNSIGNED-PAYLOAD'].join('\n') }),
    'aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404');
    const empty = sha256('');
    assert.equal(signature({ secret, region: 'us-east-1', amzDate,
      canonicalRequest: ['GET', '/test.txt', '', `host:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\nx-amz-content-sha256:${empty}\nx-amz-date:${amzDate}\n`,
        'host;range;x-amz-content-sha256;x-amz-date', empty].join('\n') }),
    'f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41');
  });

  test('UPLOAD_STORE=s3 without one of the S3 settings refuses to start, naming it', () => {
    for (const name of ['S3_ENDPOINT', 'S3_BUCKET', 'S3_REGION', 'S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY']) {
      const env = { PATH: process.env.PATH, DATABASE_URL: process.env.WORKON_DATABASE_URL, HOST: '127.0.0.1', PORT: '1', ...s3env({ [name]: '' }) };
      const r = spawnSync(process.env.WORKON_SHIM_BIN, [], { env, encoding: 'utf8', timeout: 10000 });
      assert.equal(r.status, 2, `${name}: ${r.stderr}`);
      assert.equal(r.stderr, `${name} is required with UPLOAD_STORE=s3\n`);
    }
    const env = { PATH: process.env.PATH, DATABASE_URL: process.env.WORKON_DATABASE_URL, PORT: '1', ...s3env({ UPLOAD_STORE: 'disk' }) };
    const r = spawnSync(process.env.WORKON_SHIM_BIN, [], { env, encoding: 'utf8', timeout: 10000 });
    assert.equal(r.status, 2);
    assert.equal(r.stderr, 'UPLOAD_STORE must be postgres or s3\n');
  });

  test('PUT goes to the bucket under a random key; the download redirects to a presigned URL of the same bytes', async () => {
    const bytes = PNG(1 << 20);
    const d = await declare(member, { filename: 'plan été.png', content_type: 'image/png', size: bytes.length }, at(s3shim));
    assert.equal(d.status, 201, d.text);
    const res = await put(d.json.upload_url, bytes, at(s3shim));
    assert.equal(res.status, 201, res.text);
    assert.equal(res.json.id, d.json.id);
    assert.equal(res.json.sha256, sha256(bytes));
    assert.equal(res.json.size, bytes.length);
    assert.ok(!/[0-9a-f]{64}/.test(res.text.replace(res.json.sha256, '')), 'the bucket key is not in the answer');
    assert.ok(!Object.keys(res.headers).some((h) => h.startsWith('x-workon')), 'no internal header reaches the client');

    const [key, store, state] = keyOf(d.json.id);
    assert.deepEqual([store, state], ['s3', 'stored']);
    assert.match(key, /^uploads\/[0-9a-f]{64}$/);
    assert.ok(!key.includes(d.json.id.replace(/-/g, '')), 'the key is not made from the id');
    assert.ok(bucket.objects.get(key).body.equals(bytes), 'the bucket has the bytes');
    assert.equal(bucket.objects.get(key).contentType, 'image/png');
    assert.equal(psqlList(`SET row_security = off; SELECT count(*) FROM workon.upload_data WHERE upload_id = ${lit(d.json.id)};`)[0], '0');

    const got = await request('GET', res.json.download_url, at(s3shim));
    assert.equal(got.status, 302, got.text);
    assert.equal(got.raw.length, 0, 'no bytes through the shim');
    assert.equal(got.headers['cache-control'], 'no-store');
    assert.equal(got.headers['etag'], undefined);
    assert.ok(!Object.keys(got.headers).some((h) => h.startsWith('x-workon')), 'no internal header reaches the client');
    const loc = new URL(got.headers.location);
    assert.equal(loc.origin, bucket.url);
    assert.equal(loc.pathname, `/${S3.bucket}/${key}`);
    assert.equal(loc.searchParams.get('X-Amz-Expires'), '300');
    assert.ok(!got.headers.location.includes(S3.secret));
    const file = await fetchBucket(got.headers.location);
    assert.equal(file.status, 200, file.text);
    assert.ok(file.raw.equals(bytes), 'the same bytes');
    assert.equal(file.headers['content-type'], 'image/png');
    assert.match(file.headers['content-disposition'], /^inline; filename="[^"]*"; filename\*=UTF-8''plan%20%C3%A9t%C3%A9\.png$/);
    assert.match(file.headers['cache-control'], /^private, max-age=\d+$/);

    // GET /api/v1/uploads/{id} gives a fresh URL that redirects too
    const meta = await request('GET', `/api/v1/uploads/${d.json.id}`, { headers: bearer(member.token), ...at(s3shim) });
    assert.equal(meta.status, 200, meta.text);
    const again = await request('GET', meta.json.download_url, at(s3shim));
    assert.equal(again.status, 302);
    assert.ok((await fetchBucket(again.headers.location)).raw.equals(bytes));
  });

  test('Range goes to the bucket: the presigned URL signs only the host, so it serves one range (206, 416)', async () => {
    const bytes = PNG(300000);
    const up = await upload(member, 'r.png', 'image/png', bytes, at(s3shim));
    const etag = `"${sha256(bytes)}"`;
    // the shim redirects whatever the range: the bytes never pass through it
    const got = await request('GET', up.download_url, { headers: { range: 'bytes=100-199' }, ...at(s3shim) });
    assert.equal(got.status, 302, got.text);
    assert.equal(got.headers['content-range'], undefined);
    const loc = new URL(got.headers.location);
    assert.equal(loc.searchParams.get('X-Amz-SignedHeaders'), 'host');
    let r = await fetchBucket(got.headers.location, 'GET', { range: 'bytes=100-199' });
    assert.equal(r.status, 206, r.text);
    assert.equal(r.headers['content-range'], `bytes 100-199/${bytes.length}`);
    assert.ok(r.raw.equals(bytes.subarray(100, 200)));
    r = await fetchBucket(got.headers.location, 'GET', { range: 'bytes=-16' });
    assert.equal(r.status, 206);
    assert.ok(r.raw.equals(bytes.subarray(bytes.length - 16)));
    r = await fetchBucket(got.headers.location, 'GET', { range: `bytes=${bytes.length}-` });
    assert.equal(r.status, 416);
    assert.equal(r.headers['content-range'], `bytes */${bytes.length}`);
    // a range does not open a tampered URL
    const bad = new URL(got.headers.location);
    bad.searchParams.set('X-Amz-Expires', '301');
    r = await fetchBucket(bad.toString(), 'GET', { range: 'bytes=0-9' });
    assert.equal(r.status, 403);
    // If-None-Match with the file's ETag: 304 from the metadata, no redirect
    r = await request('GET', up.download_url, { headers: { 'if-none-match': etag }, ...at(s3shim) });
    assert.equal(r.status, 304);
    assert.equal(r.headers.location, undefined);
  });

  test('a tampered presigned URL, or one signed with another secret, is refused by the bucket', async () => {
    const bytes = JPEG(3000);
    const up = await upload(member, 'a.jpg', 'image/jpeg', bytes, at(s3shim));
    const got = await request('GET', up.download_url, at(s3shim));
    assert.equal(got.status, 302);
    const good = new URL(got.headers.location);
    const tamper = (name, value) => { const u = new URL(good); u.searchParams.set(name, value); return u.toString(); };
    const sig = good.searchParams.get('X-Amz-Signature');
    for (const url of [
      tamper('X-Amz-Signature', (sig[0] === '0' ? '1' : '0') + sig.slice(1)),
      tamper('X-Amz-Expires', '3600'),
      tamper('response-content-type', 'text/html'),
      tamper('X-Amz-Date', '20200101T000000Z'),
      (() => { const u = new URL(good); u.pathname = u.pathname.slice(0, -1) + (u.pathname.endsWith('0') ? '1' : '0'); return u.toString(); })(),
    ]) {
      const r = await fetchBucket(url);
      assert.equal(r.status, 403, `${url}: ${r.status} ${r.text}`);
    }
    assert.equal((await fetchBucket(good.toString())).status, 200, 'the untouched URL works');

    // a shim with the wrong secret: the bucket refuses its PUT (503, the upload stays pending, nothing stored)
    const wrong = await startShim(s3env({ S3_SECRET_ACCESS_KEY: `not-${S3.secret}` }));
    try {
      const b2 = PNG(2000);
      const d = await declare(member, { filename: 'w.png', content_type: 'image/png', size: b2.length }, at(wrong));
      const before = bucket.objects.size;
      const r = await put(d.json.upload_url, b2, at(wrong));
      expectError(r, 503, 'unavailable');
      assert.equal(bucket.log.at(-1).code, 'SignatureDoesNotMatch');
      assert.equal(bucket.objects.size, before);
      assert.equal(keyOf(d.json.id)[2], 'pending');
      assert.ok(!wrong.output().includes(S3.secret), 'no secret in a log line');
      // the same URL works once the shim signs right
      const ok = await put(d.json.upload_url, b2, at(s3shim));
      assert.equal(ok.status, 201, ok.text);
      // and a presigned URL of the wrong secret is refused
      const g = await request('GET', ok.json.download_url, at(wrong));
      assert.equal(g.status, 302);
      assert.equal((await fetchBucket(g.headers.location)).status, 403);
    } finally {
      await wrong.stop();
    }
  });

  test('415, 413 and 403 as on the PostgreSQL store, and nothing reaches the bucket', async () => {
    const puts = bucketPuts();
    // declared type and bytes disagree
    let d = await declare(member, { filename: 'x.png', content_type: 'image/png', size: 4000 }, at(s3shim));
    let r = await put(d.json.upload_url, PDF(4000), at(s3shim));
    expectError(r, 415, 'unsupported_media_type');
    r = await put(d.json.upload_url, Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), Buffer.from('<script>alert(1)</script>')]), at(s3shim));
    expectError(r, 415, 'unsupported_media_type');
    // declared and actual size over UPLOAD_MAX_BYTES
    const small = await startShim(s3env({ UPLOAD_MAX_BYTES: '5000' }));
    try {
      r = await declare(member, { filename: 'big.png', content_type: 'image/png', size: 5001 }, at(small));
      expectError(r, 413, 'payload_too_large');
      const d5 = await declare(member, { filename: 'big.png', content_type: 'image/png', size: 5000 }, at(small));
      r = await put(d5.json.upload_url, PNG(5000 - 16 + 1), at(small));
      expectError(r, 413, 'payload_too_large');
    } finally {
      await small.stop();
    }
    // tampered, other upload's, expired signatures
    const u = new URL(d.json.upload_url, 'http://x');
    const expires = Number(u.searchParams.get('expires'));
    r = await put(`${u.pathname}?expires=${expires + 1}&sig=${u.searchParams.get('sig')}`, PNG(100), at(s3shim));
    expectError(r, 403, 'invalid_url_signature');
    const past = Math.floor(Date.now() / 1000) - 10;
    r = await put(`${u.pathname}?expires=${past}&sig=${sign('PUT', u.pathname, past)}`, PNG(100), at(s3shim));
    expectError(r, 403, 'invalid_url_signature');
    const d2 = await declare(member, { filename: 'y.png', content_type: 'image/png', size: 100 }, at(s3shim));
    r = await put(`${u.pathname}?${new URL(d2.json.upload_url, 'http://x').searchParams}`, PNG(100), at(s3shim));
    expectError(r, 403, 'invalid_url_signature');
    assert.equal(bucketPuts(), puts, 'nothing was sent to the bucket');
    assert.equal(keyOf(d.json.id)[1], 'postgres', 'refused uploads get no key');

    // once stored, the URL is used
    r = await put(d.json.upload_url, PNG(4000 - 16), at(s3shim));
    assert.equal(r.status, 201, r.text);
    r = await put(d.json.upload_url, PNG(4000), at(s3shim));
    expectError(r, 409, 'upload_url_used');
    // a private file: unsigned or another user's metadata is refused
    r = await request('GET', `/api/v1/uploads/${d.json.id}/content`, at(s3shim));
    expectError(r, 403, 'invalid_url_signature');
    r = await request('GET', `/api/v1/uploads/${d.json.id}`, { headers: bearer(other.token), ...at(s3shim) });
    expectError(r, 404, 'not_found');
  });

  test('the key is not guessable: the same bytes twice get two random keys', async () => {
    const bytes = WEBP(1000);
    const a = await upload(member, 's.webp', 'image/webp', bytes, at(s3shim));
    const b = await upload(member, 's.webp', 'image/webp', bytes, at(s3shim));
    const [ka] = keyOf(a.id);
    const [kb] = keyOf(b.id);
    assert.notEqual(ka, kb);
    assert.ok(!ka.includes(sha256(bytes)) && !kb.includes(sha256(bytes)), 'not the hash of the bytes');
  });

  test('a photo of a published space is public at its stable URL: a redirect without a signature', async () => {
    const space = await newSpace(`Bucket Loft ${unique()}`);
    let res;
    const bytes = JPEG(8000);
    const photo = await upload(host, 'cover.jpg', 'image/jpeg', bytes, at(s3shim));
    res = await request('PUT', `/api/v1/spaces/${space.id}/photos`, { headers: bearer(host.token), body: { upload_ids: [photo.id] } });
    assert.equal(res.status, 200, res.text);
    const url = res.json.photos[0].url;
    res = await request('GET', url, at(s3shim));
    expectError(res, 403, 'invalid_url_signature');
    res = await request('PATCH', `/api/v1/spaces/${space.id}`, { headers: bearer(host.token), body: { published: true, opening_hours: { mon: [['08:00', '20:00']] } } });
    assert.equal(res.status, 200, res.text);
    res = await request('GET', url, at(s3shim));
    assert.equal(res.status, 302, res.text);
    const file = await fetchBucket(res.headers.location);
    assert.equal(file.status, 200);
    assert.ok(file.raw.equals(bytes));
    assert.equal(file.headers['cache-control'], 'public, max-age=86400');
    // deleting the space releases the file: its row, and the object through the outbox
    const [key] = keyOf(photo.id);
    assert.ok(bucket.objects.has(key));
    res = await request('DELETE', `/api/v1/spaces/${space.id}`, { headers: bearer(host.token) });
    assert.ok([200, 204].includes(res.status), res.text);
    await waitFor(() => !bucket.objects.has(key), 5000);
    assert.equal(psqlList(`SET row_security = off; SELECT status FROM workon.outbox WHERE idempotency_key = ${lit(`s3-delete-${key}`)};`)[0], 'done');
  });

  test('a replaced avatar\'s object is deleted from the bucket; a key replaced by a new PUT too', async () => {
    const first = await upload(other, 'me.png', 'image/png', PNG(3000), at(s3shim));
    let res = await request('PUT', '/api/v1/me/avatar', { headers: bearer(other.token), body: { upload_id: first.id } });
    assert.equal(res.status, 200, res.text);
    const [key] = keyOf(first.id);
    const second = await upload(other, 'me2.png', 'image/png', PNG(3000), at(s3shim));
    res = await request('PUT', '/api/v1/me/avatar', { headers: bearer(other.token), body: { upload_id: second.id } });
    assert.equal(res.status, 200, res.text);
    await waitFor(() => !bucket.objects.has(key), 5000);
    assert.ok(bucket.objects.has(keyOf(second.id)[0]), 'the new avatar stays');
    res = await request('PUT', '/api/v1/me/avatar', { headers: bearer(other.token), body: { upload_id: null } });
    assert.equal(res.status, 200, res.text);

    // a write the bucket took but the shim could not confirm leaves an object; the next PUT's new key deletes it
    const d = await declare(member, { filename: 'r.png', content_type: 'image/png', size: 3000 + 16 }, at(s3shim));
    const u = new URL(d.json.upload_url, 'http://x');
    psql(`SET row_security = off; UPDATE workon.uploads SET store = 's3', s3_key = 'uploads/' || repeat('a', 64) WHERE id = ${lit(d.json.id)};`);
    bucket.objects.set(`uploads/${'a'.repeat(64)}`, { body: Buffer.from('left behind'), contentType: 'image/png' });
    res = await put(`${u.pathname}${u.search}`, PNG(3000), at(s3shim));
    assert.equal(res.status, 201, res.text);
    await waitFor(() => !bucket.objects.has(`uploads/${'a'.repeat(64)}`), 5000);
  });

  test('a client that resets its stream while its bytes go to the bucket: the upload stays pending, and whatever reached the bucket is deleted once it is finished', async () => {
    const bytes = PNG(4 << 20);
    const d = await declare(member, { filename: 'gone.png', content_type: 'image/png', size: bytes.length }, at(s3shim));
    const u = new URL(d.json.upload_url, 'http://x');
    const objects = bucket.objects.size;
    const before = new Set(bucket.objects.keys());
    bucket.setDelay(1500); // the bucket reads nothing for 1.5 s: the shim's write is stuck
    const session = await h2connect(s3shim.url);
    try {
      await assert.rejects(h2request(session, `${u.pathname}${u.search}`, {
        method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: bytes, timeoutMs: 700,
      }), /timeout/);
      await new Promise((r) => setTimeout(r, 1500));
    } finally {
      session.close();
      bucket.setDelay(0);
    }
    assert.ok(s3shim.alive());
    assert.match(s3shim.output(), /"method":"PUT","route":"\/api\/v1\/uploads\/\{id\}\/content","status":499/, 'logged as gone');
    const [cutKey, , state] = keyOf(d.json.id);
    assert.equal(state, 'pending', 'not confirmed');
    // The shim stops its write when the client goes; but on loopback the kernel's socket
    // buffers (tcp_rmem grows to 32 MiB here) may already hold all 4 MiB, and then the
    // bucket reads the whole request once it resumes and stores it. Such an object is under
    // the pending row's key, which the next PUT replaces and so deletes.
    assert.deepEqual([...bucket.objects.keys()].filter((k) => !before.has(k) && k !== cutKey), [],
      'nothing but the cut write\'s object');
    // the URL is still good
    const ok = await put(d.json.upload_url, bytes, at(s3shim));
    assert.equal(ok.status, 201, ok.text);
    const got = await request('GET', ok.json.download_url, at(s3shim));
    assert.ok((await fetchBucket(got.headers.location)).raw.equals(bytes));
    await waitFor(() => !bucket.objects.has(cutKey), 5000);
    assert.equal(bucket.objects.size, objects + 1, 'the finished upload is the only object left');
  });

  test('the OpenAPI document lists the redirect of file downloads', async () => {
    const doc = await request('GET', '/api/v1/openapi.json');
    assert.equal(doc.status, 200);
    const responses = doc.json.paths['/api/v1/uploads/{id}/content'].get.responses;
    assert.match(responses['302'].description, /presigned URL/);
  });

  test('each upload keeps its store: a file stored in PostgreSQL is still served by the S3 shim, and the other way round', async () => {
    const bytes = PDF(5000);
    const inPg = await upload(member, 'cv.pdf', 'application/pdf', bytes); // the main shim: postgres
    assert.equal(keyOf(inPg.id)[1], 'postgres');
    let r = await request('GET', inPg.download_url, at(s3shim));
    assert.equal(r.status, 200);
    assert.ok(r.raw.equals(bytes));
    assert.match(r.headers['content-disposition'], /^attachment;/);
    const inS3 = await upload(member, 'cv.pdf', 'application/pdf', bytes, at(s3shim));
    // the main shim has no bucket: it says so instead of answering without the bytes
    r = await request('GET', inS3.download_url);
    expectError(r, 503, 'unavailable');
  });
});

after(() => {
  psql(`DELETE FROM workon.space_photos WHERE upload_id IN (SELECT id FROM workon.uploads WHERE owner_id IN (${[member, other, host].map((u) => lit(u.id)).join(', ')}));`);
});
