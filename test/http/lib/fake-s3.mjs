// A local stand-in for an S3-compatible bucket that checks AWS Signature Version 4, as the
// S3 store's tests need: path-style PUT and DELETE of an object signed in the Authorization header
// (the x-amz-content-sha256 must be the body's), GET/HEAD of a presigned URL (query
// signature, X-Amz-Expires honoured, response-* overrides applied, one Range served as S3
// does). Anything not signed right under the one key pair it knows is 403 with S3's error
// codes; objects are kept in memory. (s3rver 3.7 accepts any Version 4 signature without
// computing it, so it cannot show that the shim signs right.) The signing functions are
// exported so a test can check them against the examples of AWS's documentation first.
import crypto from 'node:crypto';
import http from 'node:http';

const sha256hex = (data) => crypto.createHash('sha256').update(data).digest('hex');
const hmac = (key, data) => crypto.createHmac('sha256', key).update(data).digest();

// RFC 3986 encoding as Signature V4 wants it (unreserved characters kept, %XX upper case)
export const uriEncode = (s, keepSlash = false) =>
  Array.from(Buffer.from(s, 'utf8'))
    .map((b) => {
      const c = String.fromCharCode(b);
      if (/[A-Za-z0-9\-._~]/.test(c) || (keepSlash && c === '/')) return c;
      return `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
    })
    .join('');

// the canonical query of [name, value] pairs (decoded), sorted by encoded name then value
export const canonicalQuery = (pairs) =>
  pairs
    .map(([k, v]) => [uriEncode(k), uriEncode(v)])
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');

// the signature (hex) of a canonical request
export function signature({ secret, region, amzDate, canonicalRequest, service = 's3' }) {
  const day = amzDate.slice(0, 8);
  const scope = `${day}/${region}/${service}/aws4_request`;
  const toSign = `AWS4-HMAC-SHA256\n${amzDate}\n${scope}\n${sha256hex(canonicalRequest)}`;
  let key = hmac(`AWS4${secret}`, day);
  for (const part of [region, service, 'aws4_request']) key = hmac(key, part);
  return hmac(key, toSign).toString('hex');
}

// yyyymmddThhmmssZ to milliseconds
const amzTime = (s) =>
  /^\d{8}T\d{6}Z$/.test(s)
    ? Date.UTC(+s.slice(0, 4), +s.slice(4, 6) - 1, +s.slice(6, 8), +s.slice(9, 11), +s.slice(11, 13), +s.slice(13, 15))
    : NaN;

const OVERRIDES = {
  'response-content-type': 'content-type',
  'response-content-disposition': 'content-disposition',
  'response-cache-control': 'cache-control',
};

export async function startFakeS3({ accessKeyId, secret, region, bucket }) {
  const objects = new Map(); // key -> {body, contentType}
  const log = []; // {method, path, status, code}

  const fail = (res, status, code, message) => {
    res.writeHead(status, { 'content-type': 'application/xml' });
    res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`);
    return { status, code };
  };

  // the credential scope and the signed headers' canonical form; an error code or null
  const checkCredential = (credential, amzDate) => {
    const parts = (credential ?? '').split('/');
    if (parts.length !== 5 || parts[0] !== accessKeyId) return 'InvalidAccessKeyId';
    if (parts[1] !== amzDate.slice(0, 8) || parts[2] !== region || parts[3] !== 's3' || parts[4] !== 'aws4_request') {
      return 'AuthorizationHeaderMalformed';
    }
    return null;
  };
  const canonicalHeaders = (req, names) => names.map((n) => `${n}:${String(req.headers[n] ?? '').trim().replace(/ +/g, ' ')}\n`).join('');

  async function handle(req, res, body) {
    const url = new URL(req.url, 'http://fake');
    const path = url.pathname;
    const prefix = `/${bucket}/`;
    if (!path.startsWith(prefix)) return fail(res, 404, 'NoSuchBucket', 'The specified bucket does not exist');
    const key = decodeURIComponent(path.slice(prefix.length));
    const pairs = [...url.searchParams.entries()];

    if (req.method === 'PUT' || req.method === 'DELETE') {
      const m = /^AWS4-HMAC-SHA256 Credential=([^,]+), ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(
        req.headers.authorization ?? '');
      if (!m) return fail(res, 403, 'AccessDenied', 'Signature Version 4 Authorization header required');
      const amzDate = req.headers['x-amz-date'] ?? '';
      const bad = checkCredential(m[1], amzDate);
      if (bad) return fail(res, 403, bad, 'bad credential');
      if (Math.abs(Date.now() - amzTime(amzDate)) > 15 * 60 * 1000) return fail(res, 403, 'RequestTimeTooSkewed', 'skewed');
      const signed = m[2].split(';');
      if (!signed.includes('host') || !signed.includes('x-amz-content-sha256') || !signed.includes('x-amz-date')) {
        return fail(res, 403, 'AccessDenied', 'host, x-amz-content-sha256 and x-amz-date must be signed');
      }
      const payload = req.headers['x-amz-content-sha256'];
      if (payload !== sha256hex(body)) return fail(res, 400, 'XAmzContentSHA256Mismatch', 'the body is not the one signed');
      const canonicalRequest = [req.method, path, canonicalQuery(pairs), canonicalHeaders(req, signed), m[2], payload].join('\n');
      if (signature({ secret, region, amzDate, canonicalRequest }) !== m[3]) {
        return fail(res, 403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match');
      }
      if (req.method === 'DELETE') {
        objects.delete(key);
        res.writeHead(204);
        res.end();
        return { status: 204 };
      }
      objects.set(key, { body, contentType: req.headers['content-type'] });
      res.writeHead(200, { etag: `"${crypto.createHash('md5').update(body).digest('hex')}"` });
      res.end();
      return { status: 200 };
    }

    if (req.method === 'GET' || req.method === 'HEAD') {
      const q = Object.fromEntries(pairs);
      if (q['X-Amz-Algorithm'] !== 'AWS4-HMAC-SHA256' || !q['X-Amz-Signature']) {
        return fail(res, 403, 'AccessDenied', 'Query-string authentication version 4 required');
      }
      const amzDate = q['X-Amz-Date'] ?? '';
      const bad = checkCredential(q['X-Amz-Credential'], amzDate);
      if (bad) return fail(res, 403, bad, 'bad credential');
      const expires = Number(q['X-Amz-Expires']);
      if (!(expires >= 1 && expires <= 604800)) return fail(res, 400, 'AuthorizationQueryParametersError', 'X-Amz-Expires');
      if (Date.now() > amzTime(amzDate) + expires * 1000) return fail(res, 403, 'AccessDenied', 'Request has expired');
      const signed = (q['X-Amz-SignedHeaders'] ?? '').split(';');
      if (!signed.includes('host')) return fail(res, 403, 'AccessDenied', 'host must be signed');
      const canonicalRequest = [
        req.method, path, canonicalQuery(pairs.filter(([k]) => k !== 'X-Amz-Signature')),
        canonicalHeaders(req, signed), signed.join(';'), 'UNSIGNED-PAYLOAD',
      ].join('\n');
      if (signature({ secret, region, amzDate, canonicalRequest }) !== q['X-Amz-Signature']) {
        return fail(res, 403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match');
      }
      const obj = objects.get(key);
      if (!obj) return fail(res, 404, 'NoSuchKey', 'The specified key does not exist.');
      const headers = { 'content-type': obj.contentType ?? 'binary/octet-stream', 'accept-ranges': 'bytes' };
      for (const [param, header] of Object.entries(OVERRIDES)) if (q[param] !== undefined) headers[header] = q[param];
      // Range, as S3 answers it: one range is 206, one past the end 416 InvalidRange, several
      // ranges (which S3 does not serve) or a malformed value the whole object
      const len = obj.body.length;
      const m = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? '');
      if (m && (m[1] !== '' || m[2] !== '') && !(m[1] !== '' && m[2] !== '' && +m[2] < +m[1])) {
        const [first, last] = m[1] === '' ? [Math.max(len - +m[2], 0), +m[2] === 0 ? -1 : len - 1]
          : [+m[1], Math.min(m[2] === '' ? len - 1 : +m[2], len - 1)];
        if (first >= len || last < first) {
          res.setHeader('content-range', `bytes */${len}`);
          return fail(res, 416, 'InvalidRange', 'The requested range is not satisfiable');
        }
        headers['content-range'] = `bytes ${first}-${last}/${len}`;
        headers['content-length'] = last - first + 1;
        res.writeHead(206, headers);
        res.end(req.method === 'HEAD' ? undefined : obj.body.subarray(first, last + 1));
        return { status: 206 };
      }
      headers['content-length'] = len;
      res.writeHead(200, headers);
      res.end(req.method === 'HEAD' ? undefined : obj.body);
      return { status: 200 };
    }
    return fail(res, 405, 'MethodNotAllowed', 'not supported here');
  }

  const state = { delayMs: 0 }; // a slow bucket: it starts reading a request this long after it came
  const server = http.createServer((req, res) => {
    const chunks = [];
    if (state.delayMs) {
      req.pause();
      setTimeout(() => req.resume(), state.delayMs);
    }
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      const r = await handle(req, res, Buffer.concat(chunks));
      log.push({ method: req.method, path: new URL(req.url, 'http://fake').pathname, ...r });
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    objects,
    log,
    setDelay: (ms) => { state.delayMs = ms; },
    stop: () => new Promise((resolve) => server.close(resolve)),
  };
}
