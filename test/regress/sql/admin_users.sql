--
-- GET /api/v1/admin/users?q=&role= and GET /api/v1/admin/users/{id}:
-- searching by e-mail or name, paging, a user's bookings and spending
--
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/fixture/start.sql
\set fx q
\i :abs_srcdir/fixture/people.sql
SELECT workon.create_user('zoe_100%@qexample.com', 'zoe long password', 'Zoé Martin', 'member') AS zoe \gset

CREATE FUNCTION pg_temp.list(query jsonb, token text) RETURNS jsonb LANGUAGE sql AS $$
	SELECT d.body::jsonb FROM workon.dispatch('workon.admin_users_list(text,text,integer,text)'::regprocedure,
											  '{}', query, NULL, token, '{}') AS d
$$;
CREATE FUNCTION pg_temp.get(id text, token text) RETURNS jsonb LANGUAGE sql AS $$
	SELECT d.body::jsonb FROM workon.dispatch('workon.admin_user_get(uuid)'::regprocedure,
											  jsonb_build_object('id', id), '{}', NULL, token, '{}') AS d
$$;
CREATE FUNCTION pg_temp.emails(page jsonb) RETURNS text LANGUAGE sql AS $$
	SELECT string_agg(e ->> 'email', ' ' ORDER BY n) FROM jsonb_array_elements(page -> 'data') WITH ORDINALITY AS x(e, n)
$$;

-- search: a part of the e-mail or the name, any case; LIKE's characters are plain
-- (one request a statement: a request's role lasts until its transaction ends)
\set ECHO none
SELECT format($$SELECT %L AS q, pg_temp.emails(pg_temp.list(%L, %L)) AS found$$,
			  q, jsonb_build_object('q', q), :'a1_token')
  FROM unnest(ARRAY['QM1@', 'qh', 'zoé', 'MARTIN', '100%', 'zoe_1', 'zoeX1', 'nobody']) AS q
\gexec
SELECT format($$SELECT %L AS role, pg_temp.emails(pg_temp.list(%L, %L)) AS found$$,
			  r, jsonb_build_object('role', r, 'q', 'q' || left(r, 1)), :'a1_token')
  FROM unnest(ARRAY['admin', 'host']) AS r
\gexec
\set ECHO all
SELECT pg_temp.emails(pg_temp.list('{"q": "qexample.com", "role": "member"}', :'a1_token')) AS members;
-- the list shape: disabled shown, no password hash; paging
SELECT jsonb_object_keys(pg_temp.list('{"limit": 1}', :'a1_token') -> 'data' -> 0) AS keys ORDER BY 1;
SELECT pg_temp.list('{"limit": 1, "q": "qm"}', :'a1_token') AS p1 \gset
SELECT pg_temp.emails(:'p1') AS page1,
	   pg_temp.emails(pg_temp.list(jsonb_build_object('limit', 1, 'q', 'qm', 'cursor', :'p1'::jsonb ->> 'next_cursor'), :'a1_token')) AS page2;

-- one user: bookings by status, spending per currency (a partial refund off)
INSERT INTO workon.spaces (id, host_id, name, kind, city, address, capacity, timezone,
						   hourly_rate_cents, daily_rate_cents, currency)
VALUES ('5e000000-0000-4000-8000-000000000001', :'h1', 'U Desk', 'desk', 'Nice', 'Rue 1', 1, 'UTC', 1000, 6000, 'eur');
INSERT INTO workon.bookings (id, space_id, user_id, starts_at, ends_at, status, price_cents, currency)
VALUES ('5e100000-0000-4000-8000-000000000001', '5e000000-0000-4000-8000-000000000001', :'m1',
		'2026-01-05 09:00+00', '2026-01-05 11:00+00', 'completed', 2000, 'eur'),
	   ('5e100000-0000-4000-8000-000000000002', '5e000000-0000-4000-8000-000000000001', :'m1',
		'2026-01-06 09:00+00', '2026-01-06 11:00+00', 'cancelled', 2000, 'eur'),
	   ('5e100000-0000-4000-8000-000000000003', '5e000000-0000-4000-8000-000000000001', :'m1',
		'2026-01-07 09:00+00', '2026-01-07 11:00+00', 'confirmed', 3000, 'usd');
INSERT INTO workon.payments (id, booking_id, user_id, method, status, amount_cents, currency, succeeded_at)
VALUES ('5e200000-0000-4000-8000-000000000001', '5e100000-0000-4000-8000-000000000001', :'m1',
		'payment_intent', 'succeeded', 2000, 'eur', '2026-01-01 10:00+00'),
	   ('5e200000-0000-4000-8000-000000000002', '5e100000-0000-4000-8000-000000000002', :'m1',
		'payment_intent', 'succeeded', 2000, 'eur', '2026-01-01 10:00+00'),
	   ('5e200000-0000-4000-8000-000000000003', '5e100000-0000-4000-8000-000000000003', :'m1',
		'checkout', 'succeeded', 3000, 'usd', '2026-01-01 10:00+00');
INSERT INTO workon.refunds (payment_id, booking_id, amount_cents, currency, status, reason)
VALUES ('5e200000-0000-4000-8000-000000000002', '5e100000-0000-4000-8000-000000000002', 1000, 'eur',
		'succeeded', 'requested_by_customer');
SELECT jsonb_pretty(pg_temp.get(:'m1', :'a1_token') - 'id' - 'created_at' - 'updated_at') AS m1;
SELECT pg_temp.get(:'h1', :'a1_token') -> 'spaces' AS h1_spaces;

-- admins only; unknown ids; bad filters
SELECT pg_temp.try(format($$SELECT pg_temp.list('{}', %L)$$, :'h1_token')) AS host_lists,
	   pg_temp.try(format($$SELECT pg_temp.get(%L, %L)$$, :'m1', :'m1_token')) AS member_gets,
	   pg_temp.try(format($$SELECT pg_temp.get(%L, %L)$$, '00000000-0000-4000-8000-000000000000', :'a1_token')) AS unknown,
	   pg_temp.try(format($$SELECT pg_temp.get(%L, %L)$$, 'x', :'a1_token')) AS not_an_id;
SELECT left(q, 20) AS q, pg_temp.try(format($$SELECT pg_temp.list(%L, %L)$$, q, :'a1_token'))
  FROM (VALUES ('{"role": "root"}'), ('{"limit": 101}'), (jsonb_build_object('q', repeat('x', 201))::text)) AS v(q);
