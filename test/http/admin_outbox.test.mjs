// The admins' view of the outbox (33_outbox_admin.sql): outbound calls by state and kind,
// without their params, and a retry of a dead one.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { before, describe, test } from 'node:test';
import { expectError, lit, psql, psqlRows, request } from './lib/client.mjs';

const unique = () => crypto.randomBytes(5).toString('hex');
const bearer = (token) => ({ authorization: `Bearer ${token}` });

async function userToken(role) {
  const email = `outbox-${role}-${unique()}@example.com`;
  const password = `outbox secret ${unique()}`;
  psql(`SELECT workon.create_user(${lit(email)}, ${lit(password)}, 'Outbox ${role}', ${lit(role)})`);
  const res = await request('POST', '/api/v1/auth/login', { body: { email, password } });
  assert.equal(res.status, 200, res.text);
  return res.json.access_token;
}

function deadRow(kind, purpose, path, params) {
  return psql(`INSERT INTO workon.outbox (kind, purpose, path, params, idempotency_key, status, attempts, last_error, response_status)
               VALUES (${lit(kind)}, ${lit(purpose)}, ${lit(path)}, ${lit(JSON.stringify(params))}, ${lit(`test-dead-${unique()}`)},
                       'dead', 8, 'provider unreachable', 503) RETURNING id`);
}

describe('GET /api/v1/admin/outbox, POST /api/v1/admin/outbox/{id}/retry', () => {
  let admin;
  let member;
  before(async () => {
    admin = await userToken('admin');
    member = await userToken('member');
  });

  test('dead calls of every kind, newest first, without their params; filters and pages', async () => {
    const stripe = deadRow('stripe', 'refund', '/v1/refunds', { payment_intent: 'pi_secretish_x' });
    const mail = deadRow('stripe', 'checkout_session', '/v1/checkout/sessions', { success_url: 'https://example.com/?token=abc' });
    const res = await request('GET', '/api/v1/admin/outbox?status=dead&limit=100', { headers: bearer(admin) });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.headers['cache-control'], 'no-store');
    const ids = res.json.data.map((o) => String(o.id));
    assert.ok(ids.indexOf(mail) < ids.indexOf(stripe) && ids.indexOf(stripe) >= 0, 'newest first');
    const row = res.json.data.find((o) => String(o.id) === stripe);
    assert.deepEqual(Object.keys(row).sort(), ['attempts', 'booking_id', 'created_at', 'id', 'kind', 'last_error', 'method', 'next_attempt_at',
      'path', 'payment_id', 'purpose', 'refund_id', 'response_status', 'status', 'updated_at']);
    assert.equal(row.status, 'dead');
    assert.equal(row.last_error, 'provider unreachable');
    assert.doesNotMatch(res.text, /pi_secretish_x|token=abc/);
    assert.ok(res.json.data.every((o) => o.status === 'dead'));
    const expected = psqlRows(`SELECT id FROM workon.outbox WHERE status = 'dead' ORDER BY id DESC LIMIT 100`).map((r) => String(r.id));
    assert.deepEqual(ids, expected);

    const stripes = await request('GET', '/api/v1/admin/outbox?status=dead&kind=stripe', { headers: bearer(admin) });
    assert.ok(stripes.json.data.length >= 1 && stripes.json.data.every((o) => o.kind === 'stripe'));
    const page1 = await request('GET', '/api/v1/admin/outbox?limit=1', { headers: bearer(admin) });
    assert.ok(page1.json.next_cursor);
    const page2 = await request('GET', `/api/v1/admin/outbox?limit=1&cursor=${page1.json.next_cursor}`, { headers: bearer(admin) });
    assert.ok(page2.json.data[0].id < page1.json.data[0].id);

    expectError(await request('GET', '/api/v1/admin/outbox?status=lost', { headers: bearer(admin) }), 400, 'validation_failed');
    expectError(await request('GET', '/api/v1/admin/outbox?kind=fax', { headers: bearer(admin) }), 400, 'validation_failed');
    expectError(await request('GET', '/api/v1/admin/outbox?cursor=x', { headers: bearer(admin) }), 400, 'validation_failed');
    expectError(await request('GET', '/api/v1/admin/outbox', { headers: bearer(member) }), 403, 'forbidden');
    expectError(await request('GET', '/api/v1/admin/outbox'), 401, 'unauthorized');
  });

  test('a retry makes a dead call pending again, due now, with fresh attempts and the same key; audited', async () => {
    const id = deadRow('stripe', 'refund', '/v1/refunds', {});
    // no worker sends it: this suite's shim has no Stripe key
    const key = psql(`SELECT idempotency_key FROM workon.outbox WHERE id = ${id}`);
    expectError(await request('POST', `/api/v1/admin/outbox/${id}/retry`, { headers: bearer(member) }), 403, 'forbidden');
    const res = await request('POST', `/api/v1/admin/outbox/${id}/retry`, { headers: bearer(admin) });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.status, 'pending');
    assert.equal(res.json.attempts, 0);
    const [row] = psqlRows(`SELECT status, attempts, idempotency_key, next_attempt_at <= now() AS due FROM workon.outbox WHERE id = ${id}`);
    assert.equal(row.status, 'pending');
    assert.equal(row.idempotency_key, key);
    assert.equal(row.due, true);
    assert.equal(psql(`SELECT count(*) FROM workon.audit_log WHERE entity = 'outbox' AND entity_id = ${lit(id)} AND action = 'update'`) >= '1', true);
    // no longer dead: 404, as for an unknown id
    expectError(await request('POST', `/api/v1/admin/outbox/${id}/retry`, { headers: bearer(admin) }), 404, 'not_found');
    expectError(await request('POST', '/api/v1/admin/outbox/999999999/retry', { headers: bearer(admin) }), 404, 'not_found');
    expectError(await request('POST', '/api/v1/admin/outbox/abc/retry', { headers: bearer(admin) }), 400, 'validation_failed');
    // the shims of later files send due Stripe calls: this one is finished here
    psql(`UPDATE workon.outbox SET status = 'done' WHERE id = ${id}`);
  });
});
