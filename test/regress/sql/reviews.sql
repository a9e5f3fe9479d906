--
-- Reviews: who may review (a booking of theirs that took place and has
-- ended, once), editing for 14 days, the host's one answer, hiding by
-- admins, the rating in the space's document, who sees what.
--
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/fixture/start.sql
\set fx v
\i :abs_srcdir/fixture/people.sql
\set ON_ERROR_ROLLBACK on

INSERT INTO workon.spaces (id, host_id, name, kind, city, address, capacity, timezone,
                           hourly_rate_cents, daily_rate_cents, currency, opening_hours, published)
VALUES ('e1000000-0000-4000-8000-000000000001', :'h1', 'Review Desk', 'desk', 'Nantes', 'Rue 1', 1, 'UTC',
        1000, 6000, 'eur', '{}', true),
       ('e1000000-0000-4000-8000-000000000002', :'h1', 'Other Desk', 'desk', 'Nantes', 'Rue 2', 1, 'UTC',
        1000, 6000, 'eur', '{}', true);
\set space 'e1000000-0000-4000-8000-000000000001'
\set other 'e1000000-0000-4000-8000-000000000002'
-- bookings in every state; b1, b2, b7 are m1's ended confirmed ones
INSERT INTO workon.bookings (id, space_id, user_id, starts_at, ends_at, status, price_cents, currency, cancelled_at) VALUES
	('e2000000-0000-4000-8000-000000000001', :'space', :'m1', now() - interval '3 days', now() - interval '3 days' + interval '1 hour', 'confirmed', 1000, 'eur', NULL),
	('e2000000-0000-4000-8000-000000000002', :'space', :'m1', now() - interval '2 days', now() - interval '2 days' + interval '1 hour', 'confirmed', 1000, 'eur', NULL),
	('e2000000-0000-4000-8000-000000000003', :'space', :'m1', now() - interval '30 minutes', now() + interval '30 minutes', 'confirmed', 1000, 'eur', NULL),
	('e2000000-0000-4000-8000-000000000004', :'space', :'m1', now() - interval '5 days', now() - interval '5 days' + interval '1 hour', 'cancelled', 1000, 'eur', now() - interval '6 days'),
	('e2000000-0000-4000-8000-000000000005', :'space', :'m2', now() - interval '4 days', now() - interval '4 days' + interval '1 hour', 'confirmed', 1000, 'eur', NULL),
	('e2000000-0000-4000-8000-000000000006', :'other', :'m1', now() - interval '4 days', now() - interval '4 days' + interval '1 hour', 'confirmed', 1000, 'eur', NULL),
	('e2000000-0000-4000-8000-000000000007', :'space', :'m1', now() - interval '20 days', now() - interval '20 days' + interval '1 hour', 'confirmed', 1000, 'eur', NULL);

-- a space without reviews
SELECT doc->'rating' AS rating FROM workon.spaces WHERE id = :'space';

-- who may review what
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'m1_token') AS c \gset
SELECT label, pg_temp.try(format('SELECT workon.review_create(%L, %L)', s, b)) AS result
  FROM (VALUES
	('not ended', :'space', '{"booking_id":"e2000000-0000-4000-8000-000000000003","rating":5}'),
	('cancelled', :'space', '{"booking_id":"e2000000-0000-4000-8000-000000000004","rating":5}'),
	('not mine', :'space', '{"booking_id":"e2000000-0000-4000-8000-000000000005","rating":5}'),
	('unknown booking', :'space', '{"booking_id":"e2000000-0000-4000-8000-0000000000ff","rating":5}'),
	('another space', :'space', '{"booking_id":"e2000000-0000-4000-8000-000000000006","rating":5}'),
	('unknown space', 'e1000000-0000-4000-8000-0000000000ff', '{"booking_id":"e2000000-0000-4000-8000-000000000001","rating":5}'),
	('no booking', :'space', '{"rating":5}'),
	('rating 0', :'space', '{"booking_id":"e2000000-0000-4000-8000-000000000001","rating":0}'),
	('rating 6', :'space', '{"booking_id":"e2000000-0000-4000-8000-000000000001","rating":6}'),
	('rating 4.5', :'space', '{"booking_id":"e2000000-0000-4000-8000-000000000001","rating":4.5}'),
	('rating text', :'space', '{"booking_id":"e2000000-0000-4000-8000-000000000001","rating":"5"}'),
	('no rating', :'space', '{"booking_id":"e2000000-0000-4000-8000-000000000001"}'),
	('2001 characters', :'space', json_build_object('booking_id', 'e2000000-0000-4000-8000-000000000001', 'rating', 4, 'body', repeat('é', 2001))::text),
	('body a number', :'space', '{"booking_id":"e2000000-0000-4000-8000-000000000001","rating":4,"body":4}'),
	('unknown field', :'space', '{"booking_id":"e2000000-0000-4000-8000-000000000001","rating":4,"stars":4}')) AS t (label, s, b);
SELECT workon.review_create(:'space', json_build_object('booking_id', 'e2000000-0000-4000-8000-000000000001',
                            'rating', 4, 'body', '  Quiet and bright.  ' || repeat('x', 1970))::jsonb) AS r1 \gset
SELECT :'r1'::json->>'rating' AS rating, length(:'r1'::json->>'body') AS body_length,
       :'r1'::json->>'author_name' AS author, :'r1'::json->>'booking_id' AS booking,
       (:'r1'::json->>'editable_until')::timestamptz - (:'r1'::json->>'created_at')::timestamptz AS editable_for,
       :'r1'::json->'hidden' AS hidden;
SELECT pg_temp.try(format('SELECT workon.review_create(%L, %L)', :'space',
                          '{"booking_id":"e2000000-0000-4000-8000-000000000001","rating":2}')) AS twice;
SELECT workon.review_create(:'space', '{"booking_id":"e2000000-0000-4000-8000-000000000002","rating":5,"body":"Great"}')->>'id' AS r2_id \gset
SELECT workon.review_create(:'space', '{"booking_id":"e2000000-0000-4000-8000-000000000007","rating":1}')->>'id' AS r3_id \gset
COMMIT;
SELECT :'r1'::json->>'id' AS r1_id \gset
-- m2 reviews their booking through dispatch: 201 with the review's Location
SELECT d.status, d.headers::jsonb->>'Location' = '/api/v1/reviews/' || (d.body::json->>'id') AS location,
       d.body::json->>'rating' AS m2_rating
  FROM workon.dispatch('workon.review_create(uuid,jsonb)'::regprocedure, jsonb_build_object('id', :'space'), '{}',
                       '{"booking_id":"e2000000-0000-4000-8000-000000000005","rating":3}', :'m2_token', NULL) AS d;

-- the space's document: average and count of the reviews (updated_at untouched)
SELECT doc->'rating' AS rating, updated_at = created_at AS updated_at_untouched
  FROM workon.spaces WHERE id = :'space';
SELECT count(*) AS space_audit_rows FROM workon.audit_log WHERE entity = 'spaces' AND entity_id = :'space' AND action = 'update';

-- editing: the author only, for 14 days
UPDATE workon.reviews SET created_at = now() - interval '15 days' WHERE id = :'r3_id';
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'m1_token') AS c \gset
SELECT workon.review_update(:'r1_id', '{"rating":2,"body":"Noisy after all."}')::json->>'body' AS edited;
SELECT pg_temp.try(format('SELECT workon.review_update(%L, %L)', :'r3_id', '{"rating":5}')) AS after_14_days,
       pg_temp.try(format('SELECT workon.review_update(%L, %L)', :'r1_id', '{"rating":9}')) AS bad_rating,
       pg_temp.try(format('SELECT workon.review_update(%L, %L)', :'r1_id', '{"booking_id":"x"}')) AS other_field;
SELECT workon.authenticate(:'m2_token') AS c \gset
SELECT pg_temp.try(format('SELECT workon.review_update(%L, %L)', :'r1_id', '{"rating":5}')) AS not_author;
COMMIT;
SELECT doc->'rating' AS rating FROM workon.spaces WHERE id = :'space';

-- the host answers once; nobody else
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'m1_token') AS c \gset
SELECT pg_temp.try(format('SELECT workon.review_answer(%L, %L)', :'r1_id', '{"body":"Thanks"}')) AS member;
SELECT workon.authenticate(:'h2_token') AS c \gset
SELECT pg_temp.try(format('SELECT workon.review_answer(%L, %L)', :'r1_id', '{"body":"Thanks"}')) AS other_host;
SELECT workon.authenticate(:'h1_token') AS c \gset
SELECT pg_temp.try(format('SELECT workon.review_answer(%L, %L)', :'r1_id', '{"body":"  "}')) AS blank;
SELECT workon.review_answer(:'r1_id', '{"body":"Thank you, we moved the printer."}')::json->>'answer' AS answer;
SELECT pg_temp.try(format('SELECT workon.review_answer(%L, %L)', :'r1_id', '{"body":"Again"}')) AS twice;
SELECT workon.review_json(r)::jsonb ? 'booking_id' AS host_sees_booking FROM workon.reviews r WHERE id = :'r1_id';
COMMIT;

-- hiding: admins only, with a reason; the review leaves the list and the rating
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'h1_token') AS c \gset
SELECT pg_temp.try(format('SELECT workon.review_hide(%L, %L)', :'r2_id', 'spam')) AS host_hides;
SELECT workon.authenticate(:'a1_token') AS c \gset
SELECT pg_temp.try(format('SELECT workon.review_hide(%L, NULL)', :'r2_id')) AS no_reason;
SELECT r->>'hidden' AS hidden, r->>'hidden_reason' AS reason
  FROM workon.review_hide(:'r2_id', 'Personal data') AS r;
COMMIT;
SELECT doc->'rating' AS rating FROM workon.spaces WHERE id = :'space';
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SET LOCAL ROLE workon_anon;
SELECT r->>'rating' AS rating, r->>'answer' AS answer, r::jsonb ? 'booking_id' AS booking_shown,
       r::jsonb ? 'hidden_reason' AS reason_shown
  FROM json_array_elements(workon.space_reviews(:'space')->'data') AS r;
SELECT count(*) AS anonymous_sees_hidden FROM workon.reviews WHERE id = :'r2_id';
SELECT pg_temp.try(format('SELECT workon.review_get(%L)', :'r2_id')) AS get_hidden,
       workon.review_get(:'r1_id')->>'answer' AS get_visible;
SELECT pg_temp.try(format('SELECT workon.space_reviews(%L)', 'e1000000-0000-4000-8000-0000000000ff')) AS unknown_space,
       pg_temp.try(format('SELECT workon.space_reviews(%L, 0)', :'space')) AS bad_limit;
-- pages
SELECT workon.space_reviews(:'space', 2) AS page1 \gset
SELECT json_array_length(:'page1'::json->'data') AS n,
       json_array_length(workon.space_reviews(:'space', 2, :'page1'::json->>'next_cursor')->'data') AS rest,
       workon.space_reviews(:'space', 2, :'page1'::json->>'next_cursor')->'next_cursor' AS last;
COMMIT;
-- its author still sees it, and may not edit it into view
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'m1_token') AS c \gset
SELECT hidden_reason, workon.review_get(id)->>'hidden_reason' AS through_get FROM workon.reviews WHERE id = :'r2_id';
SELECT workon.authenticate(:'m2_token') AS c \gset
SELECT pg_temp.try(format('SELECT workon.review_update(%L, %L)', :'r2_id', '{"rating":5}')) AS hidden_to_others;
COMMIT;
-- shown again
BEGIN;
SET LOCAL SESSION AUTHORIZATION workon_authenticator;
SELECT workon.authenticate(:'a1_token') AS c \gset
SELECT workon.review_show(:'r2_id')->>'hidden' AS hidden;
COMMIT;
SELECT doc->'rating' AS rating FROM workon.spaces WHERE id = :'space';

-- the audit trail: every write, with its author
SELECT action, (after->>'hidden_reason') AS reason, actor_id = :'a1' AS by_admin
  FROM workon.audit_log WHERE entity = 'reviews' AND entity_id = :'r2_id' ORDER BY id;
SELECT count(*) AS review_audit_rows FROM workon.audit_log WHERE entity = 'reviews';
