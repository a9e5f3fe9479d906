// Uploads end to end on the PostgreSQL store: declare, PUT the bytes to the signed URL,
// download them through a fresh signed URL; signatures, sizes, types decided by the
// bytes, polyglots, single use; the headers of file responses (type, nosniff,
// disposition, CSP, ETag, Range, caching); space photos at their public URLs; the
// clean-up of uploads never finished.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { BASE, expectError, lit, psql, psqlList, request, sendRaw, startShim, UUID_RE } from './lib/client.mjs';

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

before(async () => {
  psql(`SELECT workon.seed_jwt_key(${lit(SECRET)}); SELECT workon.seed_signed_url_secret(${lit(URL_SECRET)});`);
  assert.ok(signingKey().equals(URL_KEY), 'the key is derived from SIGNED_URL_SECRET as the README says');
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
    const res = await request('POST', '/api/v1/spaces', {
      headers: bearer(host.token),
      body: {
        name: `Photo Loft ${unique()}`, kind: 'desk', city: 'Lyon', address: 'Quai 2', capacity: 4,
        timezone: 'UTC', hourly_rate_cents: 500, daily_rate_cents: 3000, currency: 'eur',
      },
    });
    assert.equal(res.status, 201, res.text);
    space = res.json;
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

    res = await request('PATCH', `/api/v1/spaces/${space.id}`, { headers: bearer(host.token), body: { published: true } });
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

after(() => {
  psql(`DELETE FROM workon.space_photos WHERE upload_id IN (SELECT id FROM workon.uploads WHERE owner_id IN (${[member, other, host].map((u) => lit(u.id)).join(', ')}));`);
});
