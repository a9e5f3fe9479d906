// pg_dump and restore keep all of workon's data. A database is filled through the SQL
// API (users with passwords, rotated and revoked refresh tokens, a space, bookings in
// several states, payments through the outbox and signed Stripe webhooks, a refund, the
// audit log, a route and an error code a DBA added), dumped in plain and custom format
// and restored into fresh databases: the plain way (psql -1 -v ON_ERROR_STOP=1,
// pg_restore --exit-on-error) and with session_replication_role = replica. Every table
// and sequence of the schema must come back equal, the old password must log in, the
// old tokens must verify and new writes must be audited under fresh ids.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PSQL, lit, psql, psqlEnv } from './lib/client.mjs';

const BIN = path.dirname(PSQL);
const SRC = 'workon_dump_src';
const PASSWORD = 'member one password';
const EMAIL = 'dump-m1@example.com';
const WEBHOOK_SECRET = 'whsec_test_not_a_real_secret_0123456789';

let dir;
const made = [];

function run(prog, args, { env = {}, input } = {}) {
  try {
    return execFileSync(path.join(BIN, prog), args, {
      input, env: { ...psqlEnv(), ...env }, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'],
      maxBuffer: 64 * 1024 * 1024,
    }).replace(/\n$/, '');
  } catch (e) {
    throw new Error(`${prog} ${args.join(' ')} failed: ${e.stderr || e.message}`);
  }
}

// SQL in database db as the superuser; unaligned tuples, no final newline.
const sqlIn = (db, sql, env) =>
  run('psql', ['-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1', '-d', db, '-f', '-'], { input: sql, env });

function createDatabase(db) {
  psql(`DROP DATABASE IF EXISTS ${db};`);
  psql(`CREATE DATABASE ${db};`);
  made.push(db);
}

// Everything the SQL API writes, as the front end and Stripe would write it.
const FILL = `
SET client_min_messages = warning;
CREATE EXTENSION workon CASCADE;
RESET client_min_messages;
SET workon.scrypt_log_n = 10;
\\o /dev/null
-- one API request, as the front end makes it (login role, workon.dispatch)
CREATE FUNCTION pg_temp.http(token text, handler regprocedure, params jsonb, req_body text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE r jsonb;
BEGIN
	SET LOCAL ROLE workon_authenticator;
	SELECT jsonb_build_object('status', d.status, 'body', d.body::jsonb) INTO r
	  FROM workon.dispatch(handler, params, '{}', req_body, token, '{}') AS d;
	RESET ROLE;
	IF (r ->> 'status')::int >= 300 THEN RAISE EXCEPTION 'request failed: %', r; END IF;
	RETURN r -> 'body';
END $$;
-- a webhook delivery signed now
CREATE FUNCTION pg_temp.deliver(event jsonb) RETURNS text LANGUAGE plpgsql AS $$
DECLARE t bigint := floor(extract(epoch FROM now()))::bigint;
BEGIN
	RETURN workon.stripe_webhook(event::text, jsonb_build_object('headers', jsonb_build_object('stripe-signature',
		format('t=%s,v1=%s', t, workon.stripe_signature(event::text, ${lit(WEBHOOK_SECRET)}, t)))));
END $$;
-- a 90-minute hold, slot n (3 hours apart)
CREATE FUNCTION pg_temp.book(token text, n int) RETURNS uuid LANGUAGE sql AS $$
	SELECT (pg_temp.http(token, 'workon.booking_create(uuid,timestamptz,timestamptz)', '{}',
		json_build_object('space_id', 'c0000000-0000-4000-8000-0000000000d1',
			'starts_at', date_trunc('hour', now()) + interval '3 days' + n * interval '3 hours',
			'ends_at', date_trunc('hour', now()) + interval '3 days' + n * interval '3 hours' + interval '90 minutes')::text) ->> 'id')::uuid
$$;
-- POST /payment, Stripe's answer through the outbox, then (succeed) the webhook
CREATE FUNCTION pg_temp.pay(token text, b uuid, tag text, succeed boolean) RETURNS void LANGUAGE plpgsql AS $$
DECLARE o bigint;
BEGIN
	PERFORM pg_temp.http(token, 'workon.payment_create(uuid)', jsonb_build_object('id', b));
	SELECT max(id) INTO o FROM workon.outbox WHERE booking_id = b;
	SET LOCAL ROLE workon_authenticator;
	PERFORM * FROM workon.outbox_claim_id(o);
	PERFORM * FROM workon.outbox_result(o, 200, jsonb_build_object('id', 'pi_' || tag, 'object', 'payment_intent',
		'status', 'requires_payment_method', 'client_secret', 'pi_' || tag || '_secret_fake',
		'amount', 1500, 'currency', 'eur'));
	RESET ROLE;
	IF succeed THEN
		PERFORM pg_temp.deliver(jsonb_build_object('id', 'evt_' || tag, 'type', 'payment_intent.succeeded',
			'created', floor(extract(epoch FROM now()))::bigint,
			'data', jsonb_build_object('object', jsonb_build_object('id', 'pi_' || tag, 'object', 'payment_intent',
				'status', 'succeeded', 'amount_received', 1500, 'currency', 'eur',
				'metadata', jsonb_build_object('booking_id', b)))));
	END IF;
END $$;

SELECT workon.seed_jwt_key(repeat('k', 48));
SELECT workon.seed_refresh_secret(repeat('r', 48));
SELECT workon.seed_stripe_webhook_secret(${lit(WEBHOOK_SECRET)});
SELECT workon.create_user(${lit(EMAIL)}, ${lit(PASSWORD)}, 'M1', 'member') AS m1 \\gset
SELECT workon.create_user('dump-h1@example.com', 'host one password', 'H1', 'host') AS h1 \\gset
SELECT workon.create_user('dump-a1@example.com', 'admin one password', 'A1', 'admin');
SELECT workon.auth_login(${lit(EMAIL)}, ${lit(PASSWORD)})::json AS login \\gset
SELECT :'login'::json ->> 'access_token' AS m1_token, :'login'::json ->> 'refresh_token' AS r1 \\gset
-- a rotated family (parent_id chains); a later update of the first token (a DBA's, say)
-- moves it behind its children on disk, and so in the dump
SELECT workon.auth_refresh(:'r1')::json ->> 'refresh_token' AS r2 \\gset
SELECT workon.auth_refresh(:'r2')::json ->> 'refresh_token' AS r3 \\gset
UPDATE workon.refresh_tokens SET expires_at = expires_at WHERE parent_id IS NULL;
-- a family logged out
SELECT workon.auth_login('dump-h1@example.com', 'host one password')::json ->> 'refresh_token' AS h_refresh \\gset
SELECT workon.auth_logout(:'h_refresh');
INSERT INTO workon.spaces (id, host_id, name, kind, city, address, capacity, timezone,
                           hourly_rate_cents, daily_rate_cents, currency, opening_hours, published)
VALUES ('c0000000-0000-4000-8000-0000000000d1', :'h1', 'Always Open', 'desk', 'Berlin', 'Street 1', 1, 'UTC',
        1000, 6000, 'eur',
        '{"mon":[["00:00","24:00"]],"tue":[["00:00","24:00"]],"wed":[["00:00","24:00"]],"thu":[["00:00","24:00"]],"fri":[["00:00","24:00"]],"sat":[["00:00","24:00"]],"sun":[["00:00","24:00"]]}',
        true);
UPDATE workon.spaces SET name = 'Always Open Desk' WHERE id = 'c0000000-0000-4000-8000-0000000000d1';
-- pending payment
SELECT pg_temp.book(:'m1_token', 0);
-- confirmed and paid
SELECT pg_temp.book(:'m1_token', 1) AS b1 \\gset
SELECT pg_temp.pay(:'m1_token', :'b1', 'dump_1', true);
-- paid, then cancelled with a refund
SELECT pg_temp.book(:'m1_token', 2) AS b2 \\gset
SELECT pg_temp.pay(:'m1_token', :'b2', 'dump_2', true);
SELECT pg_temp.http(:'m1_token', 'workon.booking_cancel(uuid)', jsonb_build_object('id', :'b2'));
-- a payment under way, cancelled at Stripe
SELECT pg_temp.book(:'m1_token', 3) AS b3 \\gset
SELECT pg_temp.pay(:'m1_token', :'b3', 'dump_3', false);
SELECT pg_temp.http(:'m1_token', 'workon.booking_cancel(uuid)', jsonb_build_object('id', :'b3'));
-- a hold that ran out
SELECT pg_temp.book(:'m1_token', 4) AS b4 \\gset
UPDATE workon.bookings SET hold_expires_at = now() - interval '1 second' WHERE id = :'b4';
-- files: a photo of the published space (every byte value, NULs included, stored out
-- of line), an avatar, an upload never finished
SELECT workon.seed_signed_url_secret(repeat('u', 40));
SELECT workon.auth_login('dump-h1@example.com', 'host one password')::json ->> 'access_token' AS h1_token \\gset
CREATE FUNCTION pg_temp.upload(token text, name text, ctype text, bytes bytea) RETURNS uuid LANGUAGE plpgsql AS $$
DECLARE u jsonb;
BEGIN
	u := pg_temp.http(token, 'workon.upload_create(text,text,bigint)', '{}',
		json_build_object('filename', name, 'content_type', ctype, 'size', length(bytes))::text);
	PERFORM workon.upload_put((u ->> 'id')::uuid, substring(u ->> 'upload_url', 'expires=([0-9]+)')::bigint,
							  substring(u ->> 'upload_url', 'sig=(.*)$'), bytes);
	RETURN (u ->> 'id')::uuid;
END $$;
SELECT pg_temp.upload(:'h1_token', 'Desk, façade.jpg', 'image/jpeg', '\\xffd8ffe0'::bytea
	|| (SELECT string_agg(decode(lpad(to_hex(n % 256), 2, '0'), 'hex'), ''::bytea) FROM generate_series(0, 99999) AS n)) AS photo \\gset
SELECT pg_temp.http(:'h1_token', 'workon.space_photos_set(uuid,jsonb)', '{"id": "c0000000-0000-4000-8000-0000000000d1"}',
	json_build_object('upload_ids', json_build_array(:'photo'))::text);
SELECT pg_temp.upload(:'m1_token', 'me.png', 'image/png', '\\x89504e470d0a1a0a00000000'::bytea) AS avatar \\gset
SELECT pg_temp.http(:'m1_token', 'workon.avatar_set(uuid)', '{}', json_build_object('upload_id', :'avatar')::text);
SELECT pg_temp.http(:'m1_token', 'workon.upload_create(text,text,bigint)', '{}',
	'{"filename": "later.pdf", "content_type": "application/pdf", "size": 1000}');
-- what a DBA added
INSERT INTO workon.errors (sqlstate, status, code) VALUES ('WOX01', 418, 'teapot');
INSERT INTO workon.routes (method, path, handler, auth, status, body, summary)
VALUES ('GET', '/api/v1/dump-check/{id}', 'workon.space_get(uuid)', 'none', 200, 'none', 'A route a DBA added');
\\o
SELECT json_build_object('access_token', :'m1_token', 'refresh_token', :'r3');
`;

// Row count and md5 of the ordered rows of every table, last value of every sequence.
const DIGEST = `
SET row_security = off;
CREATE FUNCTION pg_temp.digest(rel regclass, kind "char") RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text;
BEGIN
	IF kind = 'S' THEN
		EXECUTE format('SELECT last_value || '' '' || is_called FROM %s', rel) INTO r;
	ELSE
		EXECUTE format('SELECT count(*) || '' '' || coalesce(md5(string_agg(t::text, E''\\n'' ORDER BY t::text)), '''') FROM %s AS t', rel) INTO r;
	END IF;
	RETURN r;
END $$;
SELECT json_object_agg(c.oid::regclass::text, pg_temp.digest(c.oid, c.relkind) ORDER BY c.relname)
  FROM pg_class c
 WHERE c.relnamespace = 'workon'::regnamespace AND c.relkind IN ('r', 'S');
`;

const digest = (db) => JSON.parse(sqlIn(db, DIGEST));

const REPLICA = { PGOPTIONS: '-c session_replication_role=replica' };

// name, how the dump is restored into db
const RESTORES = [
  ['plain, psql -1', (db) => run('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-1', '-d', db, '-f', path.join(dir, 'plain.sql')])],
  ['plain, psql -1, replica', (db) => run('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-1', '-d', db, '-f', path.join(dir, 'plain.sql')], { env: REPLICA })],
  ['plain, psql without -1', (db) => run('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', db, '-f', path.join(dir, 'plain.sql')])],
  ['custom, pg_restore', (db) => run('pg_restore', ['--exit-on-error', '-d', db, path.join(dir, 'custom.dump')])],
  ['custom, pg_restore -1, replica', (db) => run('pg_restore', ['--exit-on-error', '--single-transaction', '-d', db, path.join(dir, 'custom.dump')], { env: REPLICA })],
];

describe('pg_dump and restore', () => {
  let tokens;
  let original;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'workon-dump-'));
    createDatabase(SRC);
    const out = sqlIn(SRC, FILL).split('\n');
    tokens = JSON.parse(out[out.length - 1]);
    run('pg_dump', ['-d', SRC, '-f', path.join(dir, 'plain.sql')]);
    run('pg_dump', ['-Fc', '-d', SRC, '-f', path.join(dir, 'custom.dump')]);
    original = digest(SRC);
  });

  after(() => {
    for (const db of made) psql(`DROP DATABASE IF EXISTS ${db};`);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('the source holds rows in every table the extension dumps', () => {
    for (const t of ['users', 'spaces', 'bookings', 'payments', 'refunds', 'outbox', 'stripe_events',
      'refresh_tokens', 'audit_log', 'jwt_keys', 'secrets', 'stripe_webhook_secrets', 'routes', 'errors',
      'uploads', 'upload_data', 'space_photos', 'user_avatars', 'signed_url_keys']) {
      assert.ok(original[`workon.${t}`], `workon.${t} is digested`);
      assert.ok(Number(original[`workon.${t}`].split(' ')[0]) > 0, `workon.${t} has rows`);
    }
    assert.match(original['workon.audit_log_id_seq'], /^\d+ true$/);
    const states = sqlIn(SRC, 'SELECT string_agg(DISTINCT status, \',\' ORDER BY status) FROM workon.bookings;');
    assert.equal(states, 'cancelled,confirmed,pending_payment');
    // the plain dump really is COPY data, not INSERTs
    const plain = fs.readFileSync(path.join(dir, 'plain.sql'), 'utf8');
    assert.match(plain, /^COPY workon\.audit_log /m);
    // and a refresh token comes before the token it names as parent_id
    const block = plain.split(/^COPY workon\.refresh_tokens \(id, family_id, user_id, parent_id,.*\n/m)[1].split(/^\\\.$/m)[0];
    const ids = block.trim().split('\n').map((line) => line.split('\t'));
    const position = new Map(ids.map(([id], n) => [id, n]));
    assert.ok(ids.some(([, , , parent], n) => parent !== '\\N' && position.get(parent) > n),
      'a child row precedes its parent in the dump');
  });

  RESTORES.forEach(([name, restore], i) => {
    test(`restore (${name}) keeps every row, the password and the tokens`, () => {
      const db = `workon_dump_r${i}`;
      createDatabase(db);
      restore(db);
      assert.deepEqual(digest(db), original);

      // the old password logs in; the old access and refresh tokens verify
      const login = JSON.parse(sqlIn(db, `SELECT workon.auth_login(${lit(EMAIL)}, ${lit(PASSWORD)});`));
      assert.ok(login.access_token && login.refresh_token);
      const sub = sqlIn(db, `SELECT workon.jwt_verify(${lit(tokens.access_token)}) ->> 'sub';`);
      const id = sqlIn(db, `SELECT id FROM workon.users WHERE email = ${lit(EMAIL)};`);
      assert.equal(sub, id);
      const refreshed = JSON.parse(sqlIn(db, `SELECT workon.auth_refresh(${lit(tokens.refresh_token)});`));
      assert.ok(refreshed.access_token);

      // live writes after the restore are audited again, under ids after the restored ones
      const maxBefore = Number(sqlIn(db, 'SELECT max(id) FROM workon.audit_log;'));
      sqlIn(db, `SET workon.scrypt_log_n = 10; SELECT workon.create_user('dump-new@example.com', 'a new password', 'New', 'member');`);
      const audited = sqlIn(db, `SELECT count(*) || ' ' || bool_and(id > ${maxBefore}) FROM workon.audit_log
                                  WHERE entity = 'users' AND after ->> 'email' = 'dump-new@example.com';`);
      assert.equal(audited, '1 true');
      // and the checks on spaces apply again
      assert.throws(() => sqlIn(db, "UPDATE workon.spaces SET name = repeat('x', 201);"), /at most 200 characters/);
    });
  });
});
