/* sql/workon--0.5.0--0.6.0.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION workon UPDATE TO '0.6.0'" to load this file. \quit

--
-- Each concern appends its change below, the same change its sql/src file
-- makes; the pg_dump block stays last.
--

--
-- A booking costs less: the expiry of holds in the way runs only when the
-- insert meets one, and realtime events are written by PL/pgSQL (whose plan
-- is kept) instead of a SQL function planned on every call
--
CREATE FUNCTION workon.booking_insert(space workon.spaces, user_id uuid,
									  starts_at timestamptz, ends_at timestamptz,
									  now timestamptz)
RETURNS workon.bookings
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_booking	workon.bookings;
BEGIN
	INSERT INTO workon.bookings (space_id, user_id, starts_at, ends_at, status,
								 hold_expires_at, price_cents, currency)
	VALUES (space.id, booking_insert.user_id, booking_insert.starts_at, booking_insert.ends_at,
			'pending_payment',
			booking_insert.now + pg_catalog.current_setting('workon.booking_hold_minutes')::interval,
			workon.booking_price(space.timezone, space.hourly_rate_cents, space.daily_rate_cents,
								 booking_insert.starts_at, booking_insert.ends_at),
			space.currency)
	RETURNING * INTO v_booking;
	RETURN v_booking;
END
$$;

COMMENT ON FUNCTION workon.booking_insert(workon.spaces, uuid, timestamptz, timestamptz, timestamptz) IS
'The insert of a new hold for workon.booking_create (which holds the space''s lock and checked the rules): price from workon.booking_price, hold until now + workon.booking_hold_minutes; an overlap is the exclusion constraint''s error';

CREATE OR REPLACE FUNCTION workon.booking_create(space_id uuid DEFAULT NULL,
									  starts_at timestamptz DEFAULT NULL,
									  ends_at timestamptz DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_user		uuid := workon.current_user_id();
	v_now		timestamptz := pg_catalog.now();
	v_space		workon.spaces;
	v_booking	workon.bookings;
BEGIN
	IF v_user IS NULL THEN
		RAISE EXCEPTION 'authentication required'
			USING ERRCODE = 'WO401';
	END IF;
	IF booking_create.space_id IS NULL THEN
		RAISE EXCEPTION 'space_id is required'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'space_id';
	END IF;

	-- the visibility rule of workon.spaces (this function bypasses it)
	SELECT * INTO v_space
	  FROM workon.spaces AS s
	 WHERE s.id = booking_create.space_id
	   AND (s.published OR s.host_id = v_user OR workon.current_role() = 'admin');
	IF NOT FOUND THEN
		RAISE EXCEPTION 'space not found'
			USING ERRCODE = 'no_data_found';
	END IF;
	IF v_space.archived_at IS NOT NULL THEN
		RAISE EXCEPTION 'this space is archived and cannot be booked'
			USING ERRCODE = 'WOR01';
	END IF;

	PERFORM workon.booking_check(v_space.timezone, v_space.opening_hours,
								 booking_create.starts_at, booking_create.ends_at, v_now);

	/*
	 * One booking of a space at a time, so that concurrent requests for a
	 * slot queue up instead of deadlocking on the exclusion constraint.
	 * Holds past their expiry give their slot up, but only when one is in
	 * the way: any hold overlapping the new one makes the first insert fail,
	 * so the usual booking skips the expiry update.
	 */
	PERFORM pg_catalog.pg_advisory_xact_lock('workon.bookings'::regclass::oid::integer,
											 pg_catalog.hashtext(v_space.id::text));
	BEGIN
		v_booking := workon.booking_insert(v_space, v_user, booking_create.starts_at,
										   booking_create.ends_at, v_now);
	EXCEPTION WHEN exclusion_violation THEN
		UPDATE workon.bookings AS b
		   SET status = 'expired'
		 WHERE b.space_id = v_space.id
		   AND b.status = 'pending_payment'
		   AND b.hold_expires_at <= v_now
		   AND pg_catalog.tstzrange(b.starts_at, b.ends_at, '[)')
			   OPERATOR(pg_catalog.&&) pg_catalog.tstzrange(booking_create.starts_at, booking_create.ends_at, '[)');
		IF NOT FOUND THEN
			RAISE EXCEPTION 'the space is already booked for part of that time'
				USING ERRCODE = 'WOC02';
		END IF;
		BEGIN
			v_booking := workon.booking_insert(v_space, v_user, booking_create.starts_at,
											   booking_create.ends_at, v_now);
		EXCEPTION WHEN exclusion_violation THEN
			RAISE EXCEPTION 'the space is already booked for part of that time'
				USING ERRCODE = 'WOC02';
		END;
	END;

	RETURN workon.booking_json(v_booking);
END
$$;

-- PL/pgSQL, not SQL: a SQL function with SET or SECURITY DEFINER is parsed
-- and planned again on every call; PL/pgSQL keeps the plan for the session
CREATE OR REPLACE FUNCTION workon.event_emit(p_type text, p_recipients uuid[], p_data json)
RETURNS void
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	INSERT INTO workon.events (type, recipients, data)
	SELECT p_type, pg_catalog.array_agg(DISTINCT r), p_data
	  FROM pg_catalog.unnest(p_recipients) AS r
	 WHERE r IS NOT NULL
	HAVING pg_catalog.count(r) > 0;
END
$$;

-- The HTTP front end's view of the keys: it verifies a token's signature
-- itself only to choose whose rate-limit budget a request counts against
-- (the database still verifies every token).  It gets the active keys
-- (HS256 secrets, ES256 public keys) and reloads them on NOTIFY
-- workon_jwt_keys, sent by every change of the table.
--
CREATE FUNCTION workon.jwt_verification_keys()
RETURNS TABLE (kid text, alg text, secret bytea, public_key text)
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT k.kid, k.alg,
		   CASE WHEN k.alg = 'HS256' THEN k.secret END,
		   CASE WHEN k.alg = 'ES256' THEN workon.jwt_public_key_pem(k.secret) END
	  FROM workon.jwt_keys AS k
	 WHERE k.retired_at IS NULL
	 ORDER BY k.kid
$$;

COMMENT ON FUNCTION workon.jwt_verification_keys() IS
'For the front end''s login role only: the active keys, kid, alg, secret (HS256) or public_key (ES256 PEM), so that it can tell whose token a request carries before calling the database (its rate limits); changes are announced by NOTIFY workon_jwt_keys';

CREATE FUNCTION workon.jwt_keys_notify()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM pg_catalog.pg_notify('workon_jwt_keys', '');
	RETURN NULL;
END
$$;

COMMENT ON FUNCTION workon.jwt_keys_notify() IS
'Trigger: NOTIFY workon_jwt_keys so the HTTP front end reloads workon.jwt_verification_keys()';

CREATE TRIGGER jwt_keys_notify
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON workon.jwt_keys
	FOR EACH STATEMENT EXECUTE FUNCTION workon.jwt_keys_notify();

GRANT EXECUTE ON FUNCTION workon.jwt_verification_keys()
	TO workon_authenticator;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA workon FROM PUBLIC;

-- pg_dump: the shipped route and error rows now include those above
DO $dump$
BEGIN
	PERFORM pg_catalog.pg_extension_config_dump('workon.routes',
		(SELECT 'WHERE (method, path) NOT IN ('
				|| pg_catalog.string_agg(pg_catalog.format('(%L, %L)', r.method, r.path),
										 ', ' ORDER BY r.method, r.path)
				|| ')'
		   FROM workon.routes AS r));
	PERFORM pg_catalog.pg_extension_config_dump('workon.errors',
		(SELECT 'WHERE sqlstate NOT IN ('
				|| pg_catalog.string_agg(pg_catalog.format('%L', e.sqlstate),
										 ', ' ORDER BY e.sqlstate)
				|| ')'
		   FROM workon.errors AS e));
END
$dump$;
