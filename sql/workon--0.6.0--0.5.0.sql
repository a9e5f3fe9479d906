/* sql/workon--0.6.0--0.5.0.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION workon UPDATE TO '0.5.0'" to load this file. \quit

--
-- Back to 0.5.0: each concern appends the reverse of its 0.6.0 change.
--

-- the front end's view of the keys and its NOTIFY
DROP TRIGGER jwt_keys_notify ON workon.jwt_keys;
DROP FUNCTION workon.jwt_keys_notify();
DROP FUNCTION workon.jwt_verification_keys();
--
-- Bookings and realtime events as 0.5.0 wrote them
--
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
	 * slot queue up instead of deadlocking on the exclusion constraint;
	 * then holds past their expiry give their slot up.
	 */
	PERFORM pg_catalog.pg_advisory_xact_lock('workon.bookings'::regclass::oid::integer,
											 pg_catalog.hashtext(v_space.id::text));
	UPDATE workon.bookings AS b
	   SET status = 'expired'
	 WHERE b.space_id = v_space.id
	   AND b.status = 'pending_payment'
	   AND b.hold_expires_at <= v_now
	   AND pg_catalog.tstzrange(b.starts_at, b.ends_at, '[)')
		   OPERATOR(pg_catalog.&&) pg_catalog.tstzrange(booking_create.starts_at, booking_create.ends_at, '[)');

	BEGIN
		INSERT INTO workon.bookings (space_id, user_id, starts_at, ends_at, status,
									 hold_expires_at, price_cents, currency)
		VALUES (v_space.id, v_user, booking_create.starts_at, booking_create.ends_at,
				'pending_payment',
				v_now + pg_catalog.current_setting('workon.booking_hold_minutes')::interval,
				workon.booking_price(v_space.timezone, v_space.hourly_rate_cents,
									 v_space.daily_rate_cents,
									 booking_create.starts_at, booking_create.ends_at),
				v_space.currency)
		RETURNING * INTO v_booking;
	EXCEPTION WHEN exclusion_violation THEN
		RAISE EXCEPTION 'the space is already booked for part of that time'
			USING ERRCODE = 'WOC02';
	END;

	RETURN workon.booking_json(v_booking);
END
$$;

DROP FUNCTION workon.booking_insert(workon.spaces, uuid, timestamptz, timestamptz, timestamptz);

CREATE OR REPLACE FUNCTION workon.event_emit(p_type text, p_recipients uuid[], p_data json)
RETURNS void
LANGUAGE sql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	INSERT INTO workon.events (type, recipients, data)
	SELECT p_type, pg_catalog.array_agg(DISTINCT r), p_data
	  FROM pg_catalog.unnest(p_recipients) AS r
	 WHERE r IS NOT NULL
	HAVING pg_catalog.count(r) > 0
$$;

