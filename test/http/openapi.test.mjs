// GET /api/v1/openapi.json is a valid OpenAPI 3.1 document generated from workon.routes
// (checked by a structural validator written here), GET /docs renders it without any
// other network access; both off in production unless ENABLE_SWAGGER_PROD=true.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import vm from 'node:vm';
import { after, describe, test } from 'node:test';
import { addRoutes, get, psqlRows, removeRoutes, request, startShim } from './lib/client.mjs';

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
const BUILTIN = ['GET /healthz', 'GET /readyz', 'GET /api/health', 'GET /api/v1/health', 'GET /metrics',
  'GET /api/v1/openapi.json', 'GET /docs'];

// RFC 6901
function pointer(doc, ref) {
  assert.ok(ref.startsWith('#/'), `only local $refs: ${ref}`);
  return ref.slice(2).split('/').reduce((o, k) => (o === undefined ? undefined : o[k.replace(/~1/g, '/').replace(/~0/g, '~')]), doc);
}

function resolve(doc, v) {
  let n = 0;
  while (v && typeof v === 'object' && typeof v.$ref === 'string') {
    assert.ok(n++ < 20, 'a $ref cycle');
    v = pointer(doc, v.$ref);
  }
  return v;
}

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

// Throws on the first structural error; returns the operations as "METHOD path".
export function validateOpenApi31(doc) {
  const errors = [];
  const check = (cond, msg) => { if (!cond) errors.push(msg); };
  check(isObject(doc), 'the document is an object');
  check(typeof doc.openapi === 'string' && /^3\.1\.\d+$/.test(doc.openapi), `openapi is 3.1.x: ${doc.openapi}`);
  check(isObject(doc.info) && typeof doc.info.title === 'string' && doc.info.title !== '', 'info.title');
  check(isObject(doc.info) && typeof doc.info.version === 'string' && doc.info.version !== '', 'info.version');
  check(isObject(doc.paths), 'paths is an object');
  if (doc.servers !== undefined) check(Array.isArray(doc.servers) && doc.servers.every((s) => typeof s.url === 'string'), 'servers');
  // every $ref resolves
  const walk = (v, where) => {
    if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${where}/${i}`));
    else if (isObject(v)) {
      if (typeof v.$ref === 'string') check(pointer(doc, v.$ref) !== undefined, `${where}: $ref ${v.$ref} does not resolve`);
      for (const [k, x] of Object.entries(v)) walk(x, `${where}/${k}`);
    }
  };
  walk(doc, '#');
  const schemes = Object.keys(doc.components?.securitySchemes ?? {});
  for (const [name, s] of Object.entries(doc.components?.securitySchemes ?? {})) {
    check(['apiKey', 'http', 'mutualTLS', 'oauth2', 'openIdConnect'].includes(s.type), `securityScheme ${name} type`);
    if (s.type === 'http') check(typeof s.scheme === 'string', `securityScheme ${name} scheme`);
  }
  const checkSecurity = (sec, where) => {
    if (sec === undefined) return;
    check(Array.isArray(sec), `${where}: security is an array`);
    for (const req of sec ?? []) {
      check(isObject(req), `${where}: a security requirement is an object`);
      for (const [k, v] of Object.entries(req ?? {})) {
        check(schemes.includes(k), `${where}: security scheme ${k} is declared`);
        check(Array.isArray(v), `${where}: scopes of ${k} are an array`);
      }
    }
  };
  checkSecurity(doc.security, 'document');
  const ops = [];
  const operationIds = new Set();
  for (const [path, item0] of Object.entries(doc.paths ?? {})) {
    check(path.startsWith('/'), `path ${path} starts with /`);
    const item = resolve(doc, item0);
    check(isObject(item), `${path} is an object`);
    const templated = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
    check(new Set(templated).size === templated.length, `${path}: a template name repeats`);
    const itemParams = (item.parameters ?? []).map((p) => resolve(doc, p));
    for (const [key, op] of Object.entries(item)) {
      if (!METHODS.includes(key)) {
        check(['summary', 'description', 'servers', 'parameters', '$ref'].includes(key) || key.startsWith('x-'), `${path}: unknown key ${key}`);
        continue;
      }
      const where = `${key.toUpperCase()} ${path}`;
      ops.push(where);
      check(isObject(op), `${where} is an object`);
      if (op.operationId !== undefined) {
        check(typeof op.operationId === 'string', `${where}: operationId is a string`);
        check(!operationIds.has(op.operationId), `${where}: operationId ${op.operationId} is unique`);
        operationIds.add(op.operationId);
      }
      if (op.tags !== undefined) check(Array.isArray(op.tags) && op.tags.every((t) => typeof t === 'string'), `${where}: tags`);
      checkSecurity(op.security, where);
      // parameters: well formed, unique, path params exactly the template's
      const params = [...itemParams, ...(op.parameters ?? []).map((p) => resolve(doc, p))];
      const seen = new Set();
      for (const p of params) {
        check(isObject(p) && typeof p.name === 'string', `${where}: a parameter has a name`);
        check(['query', 'header', 'path', 'cookie'].includes(p.in), `${where}: parameter ${p.name} in ${p.in}`);
        check((p.schema !== undefined) !== (p.content !== undefined), `${where}: parameter ${p.name} has a schema or a content`);
        if (p.in === 'path') {
          check(p.required === true, `${where}: path parameter ${p.name} is required`);
          check(templated.includes(p.name), `${where}: path parameter ${p.name} is in the template`);
        }
        check(!seen.has(`${p.in}:${p.name}`), `${where}: parameter ${p.in} ${p.name} declared once`);
        seen.add(`${p.in}:${p.name}`);
      }
      for (const name of templated) check(seen.has(`path:${name}`), `${where}: template parameter {${name}} is declared`);
      if (op.requestBody !== undefined) {
        const rb = resolve(doc, op.requestBody);
        check(isObject(rb?.content) && Object.keys(rb.content).length > 0, `${where}: requestBody has content`);
      }
      check(isObject(op.responses) && Object.keys(op.responses).length > 0, `${where}: responses`);
      for (const [code, r0] of Object.entries(op.responses ?? {})) {
        check(/^([1-5](\d\d|XX)|default)$/.test(code), `${where}: response key ${code}`);
        const r = resolve(doc, r0);
        check(isObject(r) && typeof r.description === 'string', `${where}: response ${code} has a description`);
        for (const [type, media] of Object.entries(r?.content ?? {})) {
          check(/^[a-z*]+\/[a-z0-9.+*-]+$/i.test(type), `${where}: media type ${type}`);
          check(isObject(media), `${where}: media ${type}`);
        }
      }
    }
  }
  assert.deepEqual(errors, [], errors.slice(0, 20).join('\n'));
  return ops;
}

describe('GET /api/v1/openapi.json', () => {
  after(async () => {
    await removeRoutes('/api/v1/test/openapi', 'DROP FUNCTION IF EXISTS workon.test_openapi_note(uuid, text, integer);');
  });

  test('is a valid OpenAPI 3.1 document listing every route of workon.routes and the built-in paths', async () => {
    const res = await get('/api/v1/openapi.json');
    assert.equal(res.status, 200, res.text.slice(0, 300));
    assert.match(res.headers['content-type'], /^application\/json/);
    const ops = validateOpenApi31(res.json);
    const routes = psqlRows('SELECT method, path FROM workon.routes').map((r) => `${r.method} ${r.path}`);
    assert.ok(routes.length >= 10);
    assert.deepEqual([...ops].sort(), [...routes, ...BUILTIN].sort());
    const version = psqlRows("SELECT extversion FROM pg_extension WHERE extname = 'workon'")[0].extversion;
    assert.equal(res.json.info.version, version);
  });

  test('operations carry the route summary, the handler comment and typed parameters', async () => {
    const doc = (await get('/api/v1/openapi.json')).json;
    const [row] = psqlRows(`SELECT r.summary, obj_description(r.handler::oid, 'pg_proc') AS description
                              FROM workon.routes r WHERE r.method = 'GET' AND r.path = '/api/v1/spaces/{id}'`);
    const op = doc.paths['/api/v1/spaces/{id}'].get;
    assert.equal(op.summary, row.summary);
    assert.equal(op.description ?? null, row.description);
    assert.deepEqual(op.parameters[0], { in: 'path', name: 'id', required: true, schema: { type: 'string', format: 'uuid' } });
    // a read_only route takes back the position of the client's last write (read replicas)
    assert.deepEqual(op.parameters.slice(1).map((p) => [p.in, p.name, p.required]),
      [['header', 'X-Workon-LSN', false], ['cookie', 'workon_lsn', false]]);
    const write = doc.paths['/api/v1/spaces'].post.responses['201'];
    assert.equal(write.headers?.['X-Workon-LSN']?.$ref, '#/components/headers/X-Workon-LSN');
    assert.ok(doc.components.headers['X-Workon-LSN'].description);
    assert.deepEqual(doc.paths['/api/v1/me'].get.security, [{ bearerAuth: [] }]);
  });

  test('every 201 lists its Location header; the error details list every invalid field', async () => {
    const doc = (await get('/api/v1/openapi.json')).json;
    const created = psqlRows('SELECT method, path FROM workon.routes WHERE status = 201');
    assert.ok(created.length >= 5);
    for (const { method, path } of created) {
      assert.equal(doc.paths[path][method.toLowerCase()].responses['201'].headers?.Location?.schema?.type, 'string', `${method} ${path}`);
    }
    const details = doc.components.schemas.Error.properties.error.properties.details;
    assert.equal(details.properties.field.type, 'string');
    assert.equal(details.properties.fields.type, 'array');
    assert.deepEqual(details.properties.fields.items.required, ['field', 'message']);
    assert.match(doc.components.schemas.Error.properties.error.properties.code.description, /\bno_opening_hours\b/);
  });

  test('a route added with SQL is in the next document, with its comment and arguments', async () => {
    await addRoutes(`CREATE FUNCTION workon.test_openapi_note(item_id uuid, note text DEFAULT NULL, stars integer DEFAULT NULL)
RETURNS json LANGUAGE plpgsql STABLE AS $$ BEGIN RETURN json_build_object('note', note); END $$;
COMMENT ON FUNCTION workon.test_openapi_note(uuid, text, integer) IS 'Notes about an item, for the docs test';
GRANT EXECUTE ON FUNCTION workon.test_openapi_note(uuid, text, integer) TO workon_anon;`,
    [{ method: 'GET', path: '/api/v1/test/openapi/{item_id}', handler: 'workon.test_openapi_note(uuid,text,integer)', summary: 'Item notes' }]);
    const doc = (await get('/api/v1/openapi.json')).json;
    validateOpenApi31(doc);
    const op = doc.paths['/api/v1/test/openapi/{item_id}']?.get;
    assert.ok(op, 'the new route is documented');
    assert.equal(op.summary, 'Item notes');
    assert.equal(op.description, 'Notes about an item, for the docs test');
    assert.deepEqual(op.parameters.map((p) => [p.in, p.name, p.schema.type]),
      [['path', 'item_id', 'string'], ['query', 'note', 'string'], ['query', 'stars', 'integer']]);
  });

  test('the validator catches what it should (a broken document fails)', async () => {
    const doc = (await get('/api/v1/openapi.json')).json;
    const broken = structuredClone(doc);
    broken.paths['/api/v1/spaces/{id}'].get.parameters = [];
    assert.throws(() => validateOpenApi31(broken), /template parameter \{id\}/);
    const broken2 = structuredClone(doc);
    broken2.paths['/api/v1/me'].get.responses['418'] = { $ref: '#/components/responses/Nope' };
    assert.throws(() => validateOpenApi31(broken2), /does not resolve/);
    assert.throws(() => validateOpenApi31({ ...doc, openapi: '3.0.3' }), /openapi is 3\.1\.x/);
  });
});

describe('GET /docs', () => {
  test('a self-contained page: inline script and style, nothing loaded from elsewhere', async () => {
    const res = await get('/docs');
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'], /^text\/html/);
    assert.match(res.headers['content-security-policy'], /default-src 'none'/);
    assert.match(res.text, /<script>/);
    assert.match(res.text, /api\/v1\/openapi\.json/);
    assert.doesNotMatch(res.text, /<script[^>]*\bsrc=|<link\b|@import|https?:\/\//i);
  });
});

// Just enough DOM to run the page's script in node:vm.
function fakeDom() {
  const created = [];
  const make = (tag) => {
    const e = { tag, attrs: {}, children: [], style: {}, dataset: {}, textContent: '',
      setAttribute(k, v) { this.attrs[k] = v; if (k.startsWith('data-')) this.dataset[k.slice(5)] = v; },
      append(...kids) { this.children.push(...kids); },
      addEventListener() {} };
    created.push(e);
    return e;
  };
  const byId = {};
  const document = {
    baseURI: 'http://127.0.0.1:1/docs',
    createElement: make,
    getElementById: (id) => (byId[id] ??= make(`#${id}`)),
    querySelectorAll: (sel) => created.filter((e) => e.tag === sel),
  };
  return { document, created, byId };
}

test('the script of the page renders one entry per operation of the document', async () => {
  const page = (await get('/docs')).text;
  const script = page.slice(page.indexOf('<script>') + 8, page.indexOf('</script>'));
  const doc = (await get('/api/v1/openapi.json')).json;
  const { document, created, byId } = fakeDom();
  let fetched;
  const fetch = async (url) => { fetched = String(url); return { ok: true, json: async () => doc }; };
  vm.runInNewContext(script, { document, fetch, URL, console });
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(fetched, 'http://127.0.0.1:1/api/v1/openapi.json');
  const entries = created.filter((e) => e.tag === 'details');
  const ops = Object.values(doc.paths).flatMap((item) => Object.keys(item).filter((k) => METHODS.includes(k)));
  assert.equal(entries.length, ops.length);
  assert.equal(byId.title.textContent, doc.info.title);
  assert.ok(entries.some((e) => e.dataset.key.startsWith('get /api/v1/spaces/{id}')));
});

describe('production', () => {
  const secrets = { NODE_ENV: 'production', JWT_SECRET: crypto.randomBytes(24).toString('hex'),
    JWT_REFRESH_SECRET: crypto.randomBytes(24).toString('hex'), SIGNED_URL_SECRET: crypto.randomBytes(24).toString('hex'),
    EMAIL_FROM: 'bookings@workon.example', EMAIL_TRANSPORT: 'off' };

  test('the document and the page are 404 unless ENABLE_SWAGGER_PROD=true', async () => {
    const off = await startShim(secrets);
    const on = await startShim({ ...secrets, ENABLE_SWAGGER_PROD: 'true' });
    try {
      for (const p of ['/api/v1/openapi.json', '/docs']) {
        assert.equal((await request('GET', p, { base: off.url })).status, 404, p);
        assert.equal((await request('GET', p, { base: on.url })).status, 200, p);
      }
    } finally {
      await off.stop();
      await on.stop();
    }
  });
});
