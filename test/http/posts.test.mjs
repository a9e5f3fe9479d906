// The blog: public reads of published posts only (drafts and scheduled posts never show),
// with a strong ETag (304) and public caching; a former slug redirects with 301; admins
// create, change, publish, schedule and delete, audited; everyone else 401/403/404.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { before, describe, test } from 'node:test';
import { expectError, lit, psql, request } from './lib/client.mjs';
import { bearer, unique, userWithRole as login } from './lib/users.mjs';

let admin;
let member;
let host;

const adminPost = (body) => request('POST', '/api/v1/admin/posts', { headers: bearer(admin.token), body });
const patch = (id, body, who = admin) => request('PATCH', `/api/v1/admin/posts/${id}`, { headers: bearer(who.token), body });

before(async () => {
  [admin, member, host] = await Promise.all([login('admin'), login('member'), login('host')]);
});

describe('admins write posts', () => {
  test('create: 201 with Location, a slug from the title, the Markdown rendered safely, a draft', async () => {
    const title = `Désks in Lyon ${unique()}`;
    const res = await adminPost({
      title, excerpt: 'Short', tags: ['Guides', 'lyon'], locale: 'fr',
      markdown: '# Hello\n\n<script>alert(1)</script>\n\n[x](javascript:alert(1)) [ok](https://example.com)',
    });
    assert.equal(res.status, 201, res.text);
    assert.equal(res.headers.location, `/api/v1/admin/posts/${res.json.id}`);
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.match(res.json.slug, /^desks-in-lyon-[a-z0-9]+$/);
    assert.equal(res.json.status, 'draft');
    assert.equal(res.json.published_at, null);
    assert.deepEqual(res.json.tags, ['guides', 'lyon']);
    assert.ok(res.json.markdown.includes('<script>'));
    assert.ok(!/<script|javascript:/i.test(res.json.html), res.json.html);
    assert.ok(res.json.html.includes('<h1>Hello</h1>'));
    assert.ok(res.json.html.includes('href="https://example.com"'));
    // audited, with the admin as actor
    assert.equal(psql(`SELECT actor_id FROM workon.audit_log WHERE entity = 'posts' AND entity_id = ${lit(res.json.id)} AND action = 'insert';`), admin.id);
  });

  test('slugs: invalid ones are 400 naming slug, a taken one is 409 slug_taken', async () => {
    for (const slug of ['Not A Slug', 'a_b', 'a--b', '-a', 'x'.repeat(81), 'é']) {
      const err = expectError(await adminPost({ title: 'T', slug }), 400, 'validation_failed');
      assert.equal(err.details.field, 'slug');
    }
    const slug = `taken-${unique()}`;
    assert.equal((await adminPost({ title: 'First', slug })).status, 201);
    expectError(await adminPost({ title: 'Second', slug }), 409, 'slug_taken');
    expectError(await adminPost({ title: 'T', locale: 'de' }), 400, 'validation_failed');
    expectError(await adminPost({ title: 'T', published_at: 'tomorrow' }), 400, 'validation_failed');
    expectError(await adminPost({ markdown: 'no title' }), 400, 'validation_failed');
  });

  test('members, hosts and anonymous callers cannot use the admin routes', async () => {
    const created = await adminPost({ title: `Private ${unique()}` });
    const id = created.json.id;
    for (const [method, path, body] of [
      ['GET', '/api/v1/admin/posts'], ['POST', '/api/v1/admin/posts', { title: 'x' }],
      ['GET', `/api/v1/admin/posts/${id}`], ['PATCH', `/api/v1/admin/posts/${id}`, { title: 'x' }],
      ['DELETE', `/api/v1/admin/posts/${id}`],
    ]) {
      expectError(await request(method, path, { body }), 401, 'unauthorized');
      expectError(await request(method, path, { body, headers: bearer(member.token) }), 403, 'forbidden');
      expectError(await request(method, path, { body, headers: bearer(host.token) }), 403, 'forbidden');
    }
    expectError(await request('GET', `/api/v1/admin/posts/${crypto.randomUUID()}`, { headers: bearer(admin.token) }), 404, 'not_found');
    expectError(await patch(crypto.randomUUID(), { title: 'x' }), 404, 'not_found');
    expectError(await request('DELETE', `/api/v1/admin/posts/${crypto.randomUUID()}`, { headers: bearer(admin.token) }), 404, 'not_found');
  });
});

describe('the public blog', () => {
  const tag = `t${unique()}`;
  let draft;
  let scheduled;
  let published;
  let older;

  before(async () => {
    draft = (await adminPost({ title: `Draft ${tag}`, tags: [tag] })).json;
    scheduled = (await adminPost({ title: `Later ${tag}`, tags: [tag], published_at: new Date(Date.now() + 3600e3).toISOString() })).json;
    published = (await adminPost({ title: `Now ${tag}`, tags: [tag], locale: 'en', markdown: 'Body *one*', published_at: new Date(Date.now() - 60e3).toISOString() })).json;
    older = (await adminPost({ title: `Older ${tag}`, tags: [tag], locale: 'fr', published_at: '2026-01-02T10:00:00+01:00' })).json;
    assert.equal(scheduled.status, 'scheduled');
    assert.equal(published.status, 'published');
  });

  test('the list has published posts only, newest first, with both Markdown and HTML, no admin fields', async () => {
    for (const headers of [{}, bearer(member.token), bearer(admin.token)]) {
      const res = await request('GET', `/api/v1/posts?tag=${tag}`, { headers });
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.json.data.map((p) => p.id), [published.id, older.id]);
      assert.equal(res.json.next_cursor, null);
      const p = res.json.data[0];
      assert.equal(p.markdown, 'Body *one*');
      assert.equal(p.html, '<p>Body <em>one</em></p>\n');
      for (const field of ['status', 'author_id', 'old_slugs', 'created_at']) assert.ok(!(field in p), field);
    }
    const upper = await request('GET', `/api/v1/posts?tag=${tag.toUpperCase()}`);
    assert.deepEqual(upper.json.data.map((p) => p.id), [published.id, older.id]);
    const fr = await request('GET', `/api/v1/posts?tag=${tag}&locale=fr`);
    assert.deepEqual(fr.json.data.map((p) => p.id), [older.id]);
    expectError(await request('GET', '/api/v1/posts?locale=de'), 400, 'validation_failed');
    // a page of one, then the next
    const page = await request('GET', `/api/v1/posts?tag=${tag}&limit=1`);
    assert.deepEqual(page.json.data.map((p) => p.id), [published.id]);
    const next = await request('GET', `/api/v1/posts?tag=${tag}&limit=1&cursor=${encodeURIComponent(page.json.next_cursor)}`);
    assert.deepEqual(next.json.data.map((p) => p.id), [older.id]);
    // the whole list equals what the database holds as published
    const all = await request('GET', '/api/v1/posts?limit=100');
    const expected = psql(`SELECT string_agg(id::text, ',' ORDER BY published_at DESC, id DESC) FROM
                             (SELECT id, published_at FROM workon.posts WHERE published_at <= now()
                               ORDER BY published_at DESC, id DESC LIMIT 100) p;`);
    assert.equal(all.json.data.map((p) => p.id).join(','), expected);
  });

  test('drafts and scheduled posts are 404 to everyone on the public routes, then appear when due', async () => {
    for (const p of [draft, scheduled]) {
      for (const headers of [{}, bearer(member.token), bearer(admin.token)]) {
        expectError(await request('GET', `/api/v1/posts/${p.slug}`, { headers }), 404, 'not_found');
      }
    }
    // admins see them on their own routes
    const got = await request('GET', `/api/v1/admin/posts/${scheduled.id}`, { headers: bearer(admin.token) });
    assert.equal(got.json.status, 'scheduled');
    const drafts = await request('GET', '/api/v1/admin/posts?status=draft&limit=100', { headers: bearer(admin.token) });
    assert.ok(drafts.json.data.some((p) => p.id === draft.id));
    assert.ok(drafts.json.data.every((p) => p.status === 'draft'));
    // its time comes
    psql(`UPDATE workon.posts SET published_at = now() - interval '1 second' WHERE id = ${lit(scheduled.id)};`);
    assert.equal((await request('GET', `/api/v1/posts/${scheduled.slug}`)).status, 200);
    // publishing through PATCH
    assert.equal((await patch(draft.id, { published_at: new Date(Date.now() - 1000).toISOString() })).json.status, 'published');
    assert.equal((await request('GET', `/api/v1/posts/${draft.slug}`)).status, 200);
    // and back to draft
    assert.equal((await patch(draft.id, { published_at: null })).json.status, 'draft');
    expectError(await request('GET', `/api/v1/posts/${draft.slug}`), 404, 'not_found');
  });

  test('a strong ETag, 304 on If-None-Match, public caching; a change gives a new ETag', async () => {
    const first = await request('GET', `/api/v1/posts/${published.slug}`);
    assert.equal(first.status, 200);
    assert.match(first.headers.etag, /^"[0-9a-f]{32}"$/);
    assert.equal(first.headers['cache-control'], 'public, max-age=60');
    const again = await request('GET', `/api/v1/posts/${published.slug}`, { headers: { 'if-none-match': first.headers.etag } });
    assert.equal(again.status, 304);
    assert.equal(again.text, '');
    assert.equal(again.headers.etag, first.headers.etag);
    // a signed-in reader gets the same answer and the same ETag
    const signed = await request('GET', `/api/v1/posts/${published.slug}`, { headers: { ...bearer(member.token), 'if-none-match': first.headers.etag } });
    assert.equal(signed.status, 304);
    const list = await request('GET', `/api/v1/posts?tag=${tag}`);
    assert.match(list.headers.etag, /^"[0-9a-f]{32}"$/);
    assert.equal((await request('GET', `/api/v1/posts?tag=${tag}`, { headers: { 'if-none-match': list.headers.etag } })).status, 304);

    assert.equal((await patch(published.id, { title: `Now changed ${tag}` })).status, 200);
    const changed = await request('GET', `/api/v1/posts/${published.slug}`, { headers: { 'if-none-match': first.headers.etag } });
    assert.equal(changed.status, 200);
    assert.notEqual(changed.headers.etag, first.headers.etag);
    assert.equal(changed.json.slug, published.slug, 'the slug stays when the title changes');
  });

  test('a new slug: the old one answers 301 with Location, taking it back works', async () => {
    const newSlug = `moved-${unique()}`;
    const moved = await patch(older.id, { slug: newSlug });
    assert.equal(moved.status, 200, moved.text);
    assert.deepEqual(moved.json.old_slugs, [older.slug]);
    const res = await request('GET', `/api/v1/posts/${older.slug}`);
    assert.equal(res.status, 301, res.text);
    assert.equal(res.headers.location, `/api/v1/posts/${newSlug}`);
    assert.equal(res.json.slug, newSlug);
    assert.equal((await request('GET', res.headers.location)).json.id, older.id);
    // another post may not take the former slug
    expectError(await adminPost({ title: 'x', slug: older.slug }), 409, 'slug_taken');
    // taking it back
    const back = await patch(older.id, { slug: older.slug });
    assert.deepEqual(back.json.old_slugs, [newSlug]);
    assert.equal((await request('GET', `/api/v1/posts/${older.slug}`)).status, 200);
    assert.equal((await request('GET', `/api/v1/posts/${newSlug}`)).status, 301);
  });

  test('delete: 204, then 404, the former slugs gone too; audited', async () => {
    const res = await request('DELETE', `/api/v1/admin/posts/${older.id}`, { headers: bearer(admin.token) });
    assert.equal(res.status, 204, res.text);
    expectError(await request('GET', `/api/v1/posts/${older.slug}`), 404, 'not_found');
    expectError(await request('GET', `/api/v1/admin/posts/${older.id}`, { headers: bearer(admin.token) }), 404, 'not_found');
    assert.equal(psql(`SELECT count(*) FROM workon.post_slugs WHERE post_id = ${lit(older.id)};`), '0');
    assert.equal(psql(`SELECT actor_id FROM workon.audit_log WHERE entity = 'posts' AND entity_id = ${lit(older.id)} AND action = 'delete';`), admin.id);
  });
});

describe('the OpenAPI document', () => {
  test('describes the posts routes, the 301 and the 304', async () => {
    const doc = (await request('GET', '/api/v1/openapi.json')).json;
    const get = doc.paths['/api/v1/posts/{slug}'].get;
    assert.ok(get.responses['301'], 'a 301');
    assert.ok(get.responses['304'], 'a 304');
    assert.ok(doc.paths['/api/v1/posts'].get.responses['304']);
    for (const m of ['get', 'post']) assert.ok(doc.paths['/api/v1/admin/posts'][m]);
    for (const m of ['get', 'patch', 'delete']) assert.ok(doc.paths['/api/v1/admin/posts/{id}'][m]);
  });
});
