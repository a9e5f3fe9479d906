// The contract check of the end-to-end suite: every answer the main shim (WORKON_URL)
// gives to request() is checked against the OpenAPI document that same shim serves at
// /api/v1/openapi.json: the operation (method and path template), the status (an
// undocumented one is a mismatch), the media type, and a JSON body against its schema
// with Ajv (JSON Schema 2020-12, the dialect of OpenAPI 3.1). A mismatch rejects the
// request with an AssertionError, which fails the test that sent it.
//
// Exempt, by design:
// - answers of other shims (startShim(): other settings, often production, where the
//   document is not served) and requests sent with opts.contract === false (a test that
//   sends a deliberately broken request that never reaches a route states why there);
// - raw sockets (sendRaw, postRaw, the framing tests) and HTTP/2 sessions: they do not go
//   through request();
// - paths outside /api/ and the built-in paths: the web site's files (web.test.mjs);
// - OPTIONS: CORS preflights are the front end's, answered before any route.
// A path no template of the document matches must be a 4xx error in the Error shape
// (404 not_found, or 400 for a path that cannot be decoded); a method the path has no
// operation for must be 405 method_not_allowed; HEAD is checked as the GET without a body.
import assert from 'node:assert/strict';
import http from 'node:http';
import zlib from 'node:zlib';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

const DOC_PATH = '/api/v1/openapi.json';
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'];

let state = null; // {doc, ajv, templates, validators}
let loading = null;

// The document as the shim serves it, fetched without the check (it is what checks).
function fetchDoc(base) {
  const url = new URL(DOC_PATH, base);
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 200) {
          reject(new Error(`contract: ${DOC_PATH} answered ${res.statusCode}: ${text.slice(0, 200)}`));
          return;
        }
        try { resolve(JSON.parse(text)); } catch (e) { reject(e); }
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(15000, () => req.destroy(new Error(`contract: ${DOC_PATH} timed out`)));
  });
}

function compileState(doc) {
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true });
  addFormats(ajv);
  // OpenAPI's integer formats
  ajv.addFormat('int32', { type: 'number', validate: (n) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31 });
  ajv.addFormat('int64', { type: 'number', validate: (n) => Number.isInteger(n) });
  ajv.addSchema(doc, 'openapi.json');
  const templates = Object.keys(doc.paths ?? {}).map((p) => {
    const segs = p.split('/');
    return { path: p, segs, params: segs.filter((s) => /^\{.*\}$/.test(s)).length };
  });
  // literal segments win over parameters (/a/b/resend before /a/b/{id})
  templates.sort((a, b) => a.params - b.params);
  return { doc, ajv, templates, validators: new Map() };
}

async function load(base, { fresh = false } = {}) {
  if (state && !fresh) return state;
  if (!loading) {
    loading = fetchDoc(base).then((doc) => { state = compileState(doc); return state; })
      .finally(() => { loading = null; });
  }
  return loading;
}

function escapePointer(s) {
  return s.replace(/~/g, '~0').replace(/\//g, '~1');
}

function deref(doc, v) {
  for (let n = 0; v && typeof v === 'object' && typeof v.$ref === 'string'; n++) {
    assert.ok(n < 20, 'contract: a $ref cycle');
    v = v.$ref.slice(2).split('/').reduce((o, k) => o?.[k.replace(/~1/g, '/').replace(/~0/g, '~')], doc);
  }
  return v;
}

function matchTemplate(st, pathname) {
  const segs = pathname.split('/');
  for (const t of st.templates) {
    if (t.segs.length !== segs.length) continue;
    if (t.segs.every((s, i) => (/^\{.*\}$/.test(s) ? segs[i] !== '' : s === segs[i]))) return t.path;
  }
  return null;
}

// The Ajv validator of a schema at a JSON pointer of the document.
function validatorAt(st, pointer) {
  let v = st.validators.get(pointer);
  if (!v) {
    v = st.ajv.compile({ $ref: `openapi.json#${pointer}` });
    st.validators.set(pointer, v);
  }
  return v;
}

function isJsonType(type) {
  return type === 'application/json' || /^application\/[a-z0-9.+-]+\+json$/.test(type);
}

function mediaFor(content, type) {
  if (!content) return null;
  if (content[type]) return { key: type, media: content[type] };
  const major = `${type.split('/')[0]}/*`;
  if (content[major]) return { key: major, media: content[major] };
  if (content['*/*']) return { key: '*/*', media: content['*/*'] };
  return null;
}

// The answer with its body as sent before any Content-Encoding (gzip, br).
function decoded(res) {
  const enc = (res.headers['content-encoding'] ?? '').trim().toLowerCase();
  if (!enc || enc === 'identity' || !res.raw || res.raw.length === 0) return res;
  const raw = enc === 'gzip' ? zlib.gunzipSync(res.raw) : enc === 'br' ? zlib.brotliDecompressSync(res.raw)
    : enc === 'deflate' ? zlib.inflateSync(res.raw) : assert.fail(`contract: unknown Content-Encoding ${enc}`);
  const text = raw.toString('utf8');
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { ...res, raw, text, json };
}

function describe(method, reqPath, res) {
  return `${method} ${reqPath} → ${res.status} ${res.headers['content-type'] ?? '(no content type)'}: ${res.text.slice(0, 300)}`;
}

// Checks an error answer against components.schemas.Error.
function checkError(st, method, reqPath, res, why) {
  assert.ok(res.status >= 400 && res.status < 500, `contract: ${why}, and the answer is not a client error: ${describe(method, reqPath, res)}`);
  if (method === 'HEAD') return;
  const v = validatorAt(st, '/components/schemas/Error');
  assert.ok(v(res.json), `contract: ${why}, and the answer is not in the Error shape: ${describe(method, reqPath, res)}\n${JSON.stringify(v.errors?.slice(0, 5))}`);
}

// Throws an AssertionError when the answer res0 to method reqPath disagrees with the document.
// A mismatch with the document fetched earlier is checked again against the document of
// now: a test may have added, changed or deleted a route since (the one known stays
// when the database is away).
export async function checkResponse(base, method, reqPath, res0) {
  method = method.toUpperCase();
  if (method === 'OPTIONS') return;
  const res = decoded(res0);
  const st = await load(base);
  try {
    check(st, method, reqPath, res);
  } catch (e) {
    if (!(e instanceof assert.AssertionError)) throw e;
    const now = await load(base, { fresh: true }).catch(() => null);
    if (!now) throw e;
    check(now, method, reqPath, res);
  }
}

function check(st, method, reqPath, res) {
  const pathname = new URL(reqPath, 'http://x').pathname;
  const builtin = st.doc.paths?.[pathname] !== undefined;
  if (!pathname.startsWith('/api/') && !builtin) return; // the web site's files
  const template = matchTemplate(st, pathname);
  const opKey = method === 'HEAD' ? 'get' : method.toLowerCase();
  if (template === null) {
    checkError(st, method, reqPath, res, 'no path of the document matches');
    return;
  }
  const item = st.doc.paths[template];
  const op = item[opKey];
  if (!op) {
    const documented = METHODS.filter((m) => item[m]).map((m) => m.toUpperCase()).join(', ');
    assert.equal(res.status, 405, `contract: ${template} documents only ${documented}: ${describe(method, reqPath, res)}`);
    checkError(st, method, reqPath, res, `${method} is not an operation of ${template}`);
    return;
  }
  const where = `${opKey.toUpperCase()} ${template}`;
  const status = String(res.status);
  const responses = op.responses ?? {};
  const key = [status, `${status[0]}XX`, 'default'].find((k) => responses[k] !== undefined);
  assert.ok(key !== undefined,
    `contract: status ${status} is not documented for ${where} (documented: ${Object.keys(responses).join(', ')}): ${describe(method, reqPath, res)}`);
  const response = deref(st.doc, responses[key]);
  const pointer = responses[key].$ref
    ? responses[key].$ref.slice(1)
    : `/paths/${escapePointer(template)}/${opKey}/responses/${escapePointer(key)}`;
  const empty = res.raw ? res.raw.length === 0 : res.text === '';
  if (method === 'HEAD' || res.status === 304 || (empty && !response.content)) return;
  const type = (res.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (!response.content) {
    assert.ok(empty, `contract: ${where} ${status} documents no body, and one came: ${describe(method, reqPath, res)}`);
    return;
  }
  const found = mediaFor(response.content, type);
  assert.ok(found, `contract: ${where} ${status} documents ${Object.keys(response.content).join(', ')}, not ${type || 'no content type'}: ${describe(method, reqPath, res)}`);
  if (!isJsonType(type) || !found.media.schema) return;
  assert.ok(res.json !== undefined || res.text === 'null', `contract: ${where} ${status} is not JSON: ${describe(method, reqPath, res)}`);
  const v = validatorAt(st, `${pointer}/content/${escapePointer(found.key)}/schema`);
  if (!v(res.json)) {
    const errors = v.errors.slice(0, 8).map((e) => `${e.instancePath || '/'} ${e.message}${e.params ? ` ${JSON.stringify(e.params)}` : ''}`);
    assert.fail(`contract: ${where} ${status} body does not match its schema:\n  ${errors.join('\n  ')}\n${describe(method, reqPath, res)}`);
  }
}
