// GET /api/v1/openapi.json is a valid OpenAPI 3.1 document generated from workon.routes
// and the schemas of workon.route_schemas (checked by a structural validator written here
// and by Redocly's recommended rules), GET /docs renders it without any other network
// access and lets a reader try each operation; both off in production unless
// ENABLE_SWAGGER_PROD=true. Every answer of the whole suite is checked against the
// document by lib/contract.mjs.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import path from 'node:path';
import vm from 'node:vm';
import { lintFromString, loadConfig } from '@redocly/openapi-core';
import { after, describe, test } from 'node:test';
import { ROOT, addRoutes, get, lit, psql, psqlRows, removeRoutes, request, sleep, startShim } from './lib/client.mjs';

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

  test('the document is kept by the shim until the routes reload: a comment changed alone shows after NOTIFY workon_routes', async () => {
    const [{ fn, before }] = psqlRows(`SELECT r.handler::regprocedure::text AS fn, obj_description(r.handler::oid, 'pg_proc') AS before
                                         FROM workon.routes r WHERE r.method = 'GET' AND r.path = '/api/v1/spaces/{id}'`);
    const described = async () => {
      const res = await get('/api/v1/openapi.json');
      assert.equal(res.status, 200);
      return res.json.paths['/api/v1/spaces/{id}'].get.description ?? null;
    };
    await sleep(300); // every thread has loaded what the tests before changed
    assert.equal(await described(), before);
    const note = `Kept until the routes reload ${crypto.randomUUID()}`;
    try {
      psql(`COMMENT ON FUNCTION ${fn} IS ${lit(note)}`);
      for (let i = 0; i < 6; i++) assert.equal(await described(), before, 'the copy kept, whichever thread answers');
      psql("SELECT pg_notify('workon_routes', 'test')");
      let seen;
      for (const deadline = Date.now() + 5000; Date.now() < deadline; await sleep(50)) {
        if ((seen = await described()) === note) break;
      }
      assert.equal(seen, note, 'regenerated after the reload');
    } finally {
      psql(`COMMENT ON FUNCTION ${fn} IS ${before === null ? 'NULL' : lit(before)}`);
      psql("SELECT pg_notify('workon_routes', 'test')");
    }
  });

  test('passes Redocly\'s recommended OpenAPI 3.1 rules with no error (test/http/redocly.yaml)', async () => {
    const res = await get('/api/v1/openapi.json');
    const config = await loadConfig({ configPath: path.join(ROOT, 'test/http/redocly.yaml') });
    const problems = await lintFromString({ source: res.text, absoluteRef: 'openapi.json', config });
    const show = (p) => `${p.severity} ${p.ruleId}: ${p.message} at ${p.location?.[0]?.pointer ?? '?'}`;
    for (const p of problems.filter((x) => x.severity !== 'error')) console.log(`redocly ${show(p)}`);
    assert.deepEqual(problems.filter((p) => p.severity === 'error').map(show), []);
    // and it does catch an error: a response without a description
    const broken = structuredClone(res.json);
    delete broken.paths['/api/v1/me'].get.responses['200'].description;
    const found = await lintFromString({ source: JSON.stringify(broken), absoluteRef: 'openapi.json', config });
    assert.ok(found.some((p) => p.severity === 'error'), 'a broken copy fails the linter');
  });

  test('the routes declare their schemas: shared components by $ref; those left without are listed', async () => {
    const doc = (await get('/api/v1/openapi.json')).json;
    for (const name of ['Error', 'Money', 'User', 'Space', 'SpacePage', 'Booking', 'BookingPage', 'Session']) {
      assert.ok(doc.components.schemas[name], `components.schemas.${name}`);
    }
    assert.deepEqual(doc.paths['/api/v1/spaces'].get.responses['200'].content['application/json'].schema,
      { $ref: '#/components/schemas/SpacePage' });
    assert.deepEqual(doc.components.schemas.Booking.properties.price, { $ref: '#/components/schemas/Money' });
    assert.deepEqual(doc.paths['/api/v1/auth/register'].post.requestBody.content['application/json'].schema,
      { $ref: '#/components/schemas/Registration' });
    const body = doc.components.schemas.Registration;
    assert.deepEqual(body.required, ['email', 'password', 'name']);
    assert.equal(body.properties.password.minLength, 8);
    // a route's own error codes, under their status
    assert.match(doc.paths['/api/v1/bookings'].post.responses['409'].description, /\bbooking_conflict\b/);
    assert.equal(doc.paths['/api/v1/bookings'].post.responses['409'].$ref, '#/components/responses/Error');
    assert.match(doc.paths['/api/v1/auth/login'].post.responses['401'].description, /\binvalid_credentials\b/);
    assert.match(doc.paths['/api/v1/bookings/{id}/cancel'].post.responses['409'].description, /\bcannot_cancel\b.*\binvalid_transition\b/);
    // every route of workon.route_schemas names only declared components
    const text = JSON.stringify(doc);
    for (const [, name] of text.matchAll(/"#\/components\/schemas\/([^"]+)"/g)) {
      assert.ok(doc.components.schemas[name], `$ref to ${name}`);
    }
    const undeclared = psqlRows(`SELECT r.method, r.path FROM workon.routes r
                                  WHERE NOT EXISTS (SELECT FROM workon.route_schemas s WHERE (s.method, s.path) = (r.method, r.path))
                                  ORDER BY r.path, r.method`).map((r) => `${r.method} ${r.path}`);
    const marked = Object.entries(doc.paths).flatMap(([p, item]) => Object.entries(item)
      .filter(([, op]) => op['x-workon-schemas'] === 'undeclared').map(([m]) => `${m.toUpperCase()} ${p}`));
    assert.deepEqual(marked.sort(), [...undeclared].sort());
    console.log(`routes without declared schemas (${undeclared.length}):\n  ${undeclared.join('\n  ')}`);
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
    const e = { tag, attrs: {}, children: [], style: {}, dataset: {}, textContent: '', value: '', listeners: {},
      setAttribute(k, v) { this.attrs[k] = v; if (k.startsWith('data-')) this.dataset[k.slice(5)] = v; },
      append(...kids) { this.children.push(...kids); },
      addEventListener(type, fn) { this.listeners[type] = fn; } };
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

test('Try it: a form per operation sends its parameters, body and token to this server', async () => {
  const page = (await get('/docs')).text;
  const script = page.slice(page.indexOf('<script>') + 8, page.indexOf('</script>'));
  const doc = (await get('/api/v1/openapi.json')).json;
  const { document, created, byId } = fakeDom();
  const calls = [];
  const fetch = async (url, init) => {
    if (String(url).endsWith('/api/v1/openapi.json')) return { ok: true, json: async () => doc };
    // the page's objects are of its own realm: compared as JSON
    calls.push([String(url), JSON.parse(JSON.stringify({ ...init, body: init.body ?? null }))]);
    return { status: 201, statusText: 'Created', text: async () => '{"id":"x"}', headers: new Map([['location', '/api/v1/bookings/x']]) };
  };
  vm.runInNewContext(script, { document, fetch, URL, URLSearchParams, console });
  await new Promise((r) => setTimeout(r, 50));
  const within = (e, tag) => [e, ...e.children.filter((k) => typeof k === 'object').flatMap((k) => within(k, tag))]
    .filter((k) => k.tag === tag);
  const formOf = (key) => within(created.find((e) => e.tag === 'details' && e.dataset.key.startsWith(key)), 'form')[0];
  // a path parameter and a query parameter
  const list = formOf('get /api/v1/spaces/{id}/availability ');
  for (const i of within(list, 'input')) i.value = { id: 'd1 0', from: '2027-03-01' }[i.attrs['aria-label']] ?? '';
  await list.listeners.submit({ preventDefault() {} });
  assert.deepEqual(calls[0], ['http://127.0.0.1:1/api/v1/spaces/d1%200/availability?from=2027-03-01', { method: 'GET', headers: {}, body: null }]);
  // a JSON body prefilled with the example, and the token
  byId.token.value = 'tok';
  const book = formOf('post /api/v1/bookings ');
  const body = within(book, 'textarea')[0];
  assert.equal(JSON.parse(body.value).space_id, 'd1000000-0000-4000-8000-000000000024');
  await book.listeners.submit({ preventDefault() {} });
  assert.equal(calls[1][0], 'http://127.0.0.1:1/api/v1/bookings');
  assert.deepEqual(calls[1][1], { method: 'POST', headers: { authorization: 'Bearer tok', 'content-type': 'application/json' }, body: body.value });
  const out = within(book, 'pre').at(-1);
  assert.match(out.textContent, /^201 Created\nlocation: \/api\/v1\/bookings\/x\n\n\{\n  "id": "x"\n\}$/);
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
