--
-- Stripe-Signature verification (extension/webhook.c): good, tampered,
-- stale, future, several v1 and several secrets, malformed headers
--
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/fixture/start.sql
\i :abs_srcdir/fixture/try_detail.sql

\set secret 'whsec_test_not_a_real_secret_0123456789'
\set other 'whsec_test_other_not_a_real_secret_000'
\set payload '{"id":"evt_vector","object":"event"}'
-- 2023-11-14 22:13:20 UTC
\set t 1700000000
\set at '''2023-11-14 22:13:20+00'''

-- a vector computed outside: HMAC-SHA256(secret, "1700000000.<payload>")
SELECT workon.stripe_signature(:'payload', :'secret', :t)
       = '7c7f46c7a3d1b30f9fb515c2f6a3d3ed16880a1686e6fe2792cd7aaa7db7981f' AS known_vector,
       workon.stripe_signature(:'payload', :'secret', :t)
       = encode(workon.hmac_sha256(convert_to(:'secret', 'UTF8'),
                                   convert_to(:'t' || '.' || :'payload', 'UTF8')), 'hex') AS same_as_hmac;

SELECT 't=' || :t || ',v1=' || workon.stripe_signature(:'payload', :'secret', :t) AS good \gset
SELECT 't=' || :t || ',v1=' || workon.stripe_signature(:'payload', :'other', :t) AS other_secret \gset

SELECT label, workon.stripe_signature_verify(p, h, :'secret', 300, :at::timestamptz + d) AS valid
  FROM (VALUES
	('good', :'payload', :'good', interval '0'),
	('good, 300 s later', :'payload', :'good', interval '300 seconds'),
	('good, 301 s later (stale)', :'payload', :'good', interval '301 seconds'),
	('good, 300 s early', :'payload', :'good', interval '-300 seconds'),
	('good, 301 s early (future)', :'payload', :'good', interval '-301 seconds'),
	('tampered body', replace(:'payload', 'vector', 'vectoR'), :'good', interval '0'),
	('body with a trailing newline', :'payload' || E'\n', :'good', interval '0'),
	('tampered signature', :'payload', overlay(:'good' placing '0' from length(:'good')), interval '0'),
	('upper-case hex', :'payload', upper(:'good'), interval '0'),
	('other secret', :'payload', :'other_secret', interval '0'),
	('tampered timestamp', :'payload', replace(:'good', 't=1700000000', 't=1700000001'), interval '0'),
	('two v1, second matches', :'payload', 't=' || :t || ',v1=' || repeat('ab', 32) || ',v1=' || split_part(:'good', 'v1=', 2), interval '0'),
	('two v1, first matches', :'payload', :'good' || ',v1=' || repeat('ab', 32), interval '0'),
	('v0 and v1 with spaces', :'payload', 't=' || :t || ', v0=' || repeat('cd', 32) || ', v1=' || split_part(:'good', 'v1=', 2), interval '0'),
	('only v0', :'payload', 't=' || :t || ',v0=' || split_part(:'good', 'v1=', 2), interval '0'),
	('no t', :'payload', 'v1=' || split_part(:'good', 'v1=', 2), interval '0'),
	('no v1', :'payload', 't=' || :t, interval '0'),
	('two t', :'payload', 't=' || :t || ',' || :'good', interval '0'),
	('t not a number', :'payload', replace(:'good', 't=1700000000', 't=17e8'), interval '0'),
	('short v1', :'payload', 't=' || :t || ',v1=abcd', interval '0'),
	('v1 not hex', :'payload', 't=' || :t || ',v1=' || repeat('zz', 32), interval '0'),
	('empty header', :'payload', '', interval '0'),
	('garbage header', :'payload', 'garbage', interval '0'),
	('commas only', :'payload', ',,,', interval '0'),
	('huge header', :'payload', :'good' || repeat(',x=y', 2000), interval '0')) AS v(label, p, h, d);

-- tolerance 0 asks for the exact second; out-of-range tolerances and empty
-- secrets are errors, not false
SELECT workon.stripe_signature_verify(:'payload', :'good', :'secret', 0, :at) AS exact_second,
       workon.stripe_signature_verify(:'payload', :'good', :'secret', 0, :at::timestamptz + interval '1 second') AS one_second_off;
SELECT pg_temp.try(format('SELECT workon.stripe_signature_verify(%L, %L, %L, -1)', :'payload', :'good', :'secret')) AS negative_tolerance,
       pg_temp.try(format('SELECT workon.stripe_signature_verify(%L, %L, %L)', :'payload', :'good', '')) AS empty_secret;
-- strict: NULL in, NULL out
SELECT workon.stripe_signature_verify(NULL, :'good', :'secret') IS NULL AS null_payload;

-- the check: several secrets, any may match; each failure says why
SELECT label, pg_temp.try(format('SELECT workon.stripe_signature_check(%L, %L, %L::text[], 300, %L)', p, h, s, :at)) AS result
  FROM (VALUES
	('good', :'payload', :'good', ARRAY[:'secret']),
	('good under the second secret', :'payload', :'good', ARRAY[:'other', :'secret']),
	('rotation: signed with both', :'payload', :'good' || ',v1=' || split_part(:'other_secret', 'v1=', 2), ARRAY[:'other']),
	('no secret matches', :'payload', :'good', ARRAY[:'other']),
	('no secrets', :'payload', :'good', ARRAY[]::text[]),
	('null secrets', :'payload', :'good', NULL),
	('missing header', :'payload', NULL, ARRAY[:'secret']),
	('missing body', NULL, :'good', ARRAY[:'secret']),
	('garbage header', :'payload', 'garbage', ARRAY[:'secret'])) AS v(label, p, h, s);
SELECT pg_temp.try(format('SELECT workon.stripe_signature_check(%L, %L, ARRAY[%L], 300, %L)',
                          :'payload', :'good', :'secret', :at::timestamptz + interval '1 hour')) AS stale,
       pg_temp.try(format('SELECT workon.stripe_signature_check(%L, %L, ARRAY[%L], 300, %L)',
                          :'payload', :'good', :'secret', :at::timestamptz - interval '1 hour')) AS future;

-- the error maps to 400 invalid_signature
SELECT status, code FROM workon.errors WHERE sqlstate = 'WOB01';

-- seeding: at least 16 characters; a new secret leaves the previous one
-- valid for 24 hours
SELECT pg_temp.try($$SELECT workon.seed_stripe_webhook_secret('short')$$) AS too_short;
SELECT workon.seed_stripe_webhook_secret(:'secret');
SELECT workon.seed_stripe_webhook_secret(:'secret');
SELECT count(*) AS secrets, count(*) FILTER (WHERE expires_at IS NULL) AS current
  FROM workon.stripe_webhook_secrets;
SELECT workon.seed_stripe_webhook_secret(:'other');
SELECT secret = :'other' AS is_other, expires_at IS NULL AS current,
       expires_at BETWEEN now() + interval '23 hours' AND now() + interval '25 hours' AS expires_in_a_day
  FROM workon.stripe_webhook_secrets ORDER BY 1;
-- seeding the first one again makes it current, the other one rotates out
SELECT workon.seed_stripe_webhook_secret(:'secret');
SELECT secret = :'other' AS is_other, expires_at IS NULL AS current
  FROM workon.stripe_webhook_secrets ORDER BY 1;
-- the secrets are for the extension only
SELECT pg_temp.try('SET ROLE workon_authenticator; SELECT count(*) FROM workon.stripe_webhook_secrets') AS authenticator_reads;
RESET ROLE;
SELECT count(*) AS audit_rows FROM workon.audit_log WHERE entity = 'stripe_webhook_secrets';

DELETE FROM workon.stripe_webhook_secrets;
DELETE FROM workon.audit_log;
