/* sql/src/21_bookings.sql -- bookings: the rules, the table, availability, the booking routes */

--
-- Booking rules (extension/booking.c)
--
-- not strict: a missing starts_at or ends_at is an error naming the field
CREATE FUNCTION workon.booking_check(timezone text, opening_hours jsonb,
									 starts_at timestamptz, ends_at timestamptz,
									 now timestamptz)
RETURNS void
AS 'MODULE_PATHNAME', 'booking_check'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION workon.booking_check(text, jsonb, timestamptz, timestamptz, timestamptz) IS
'The rules of a new booking at time "now": ends after it starts, both ends on the 15-minute grid, at least 30 minutes, starts in the future and at most 180 days ahead, inside the opening hours (space''s zone, DST included, overnight across touching intervals). The first rule broken is error 22023 naming the rule, field starts_at or ends_at';

-- not strict: a missing time is a problem of its own, and without a time zone and
-- opening hours (no space yet) the rule of the opening hours is left out
CREATE FUNCTION workon.booking_problems(timezone text, opening_hours jsonb,
										starts_at timestamptz, ends_at timestamptz,
										now timestamptz,
										OUT fields text[], OUT messages text[])
RETURNS record
AS 'MODULE_PATHNAME', 'booking_problems'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION workon.booking_problems(text, jsonb, timestamptz, timestamptz, timestamptz) IS
'The rules of workon.booking_check with each time judged on its own: for starts_at and for ends_at the first rule it breaks (fields and messages, starts_at first; empty when the booking may be made), for workon.raise_invalid, so that both are reported at once. A missing time is "required"; the opening hours are checked only when timezone and opening_hours are given and every other rule holds';

CREATE FUNCTION workon.booking_price(timezone text, hourly_rate_cents bigint,
									 daily_rate_cents bigint,
									 starts_at timestamptz, ends_at timestamptz)
RETURNS bigint
AS 'MODULE_PATHNAME', 'booking_price'
LANGUAGE C STABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.booking_price(text, bigint, bigint, timestamptz, timestamptz) IS
'Price in cents: for each calendar day of the zone, min(elapsed hours x hourly rate, daily rate) rounded half up to the cent, summed (exact integer arithmetic)';

CREATE FUNCTION workon.booking_transition_allowed("from" text, "to" text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'booking_transition_allowed'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.booking_transition_allowed(text, text) IS
'The booking state machine: pending_payment -> confirmed | expired | cancelled, confirmed -> cancelled | completed; everything else is false';

CREATE FUNCTION workon.booking_refund(starts_at timestamptz, cancelled_at timestamptz,
									  paid_cents bigint,
									  OUT percent integer, OUT amount_cents bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'booking_refund'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.booking_refund(timestamptz, timestamptz, bigint) IS
'The cancellation policy: 100 % of what was paid when cancelled at least 24 hours before the start, 50 % (rounded half up) later; error WOC04 cannot_cancel from the start on';

-- The front end passes BOOKING_HOLD_MINUTES (workon.booking_create)
GRANT SET ON PARAMETER workon.booking_hold_minutes TO workon_authenticator;

--
-- Bookings
--
CREATE TABLE workon.bookings (
	id			uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
	space_id	uuid NOT NULL REFERENCES workon.spaces (id) ON DELETE RESTRICT,
	user_id		uuid NOT NULL REFERENCES workon.users (id),
	starts_at	timestamptz NOT NULL,
	ends_at		timestamptz NOT NULL,
	status		text NOT NULL DEFAULT 'pending_payment'
				CONSTRAINT bookings_status_check
				CHECK (status IN ('pending_payment', 'confirmed', 'expired', 'cancelled', 'completed')),
	hold_expires_at timestamptz,
	price_cents	bigint NOT NULL
				CONSTRAINT bookings_price_cents_check CHECK (price_cents >= 0),
	currency	text NOT NULL
				CONSTRAINT bookings_currency_check CHECK (currency ~ '^[a-z]{3}$'),
	cancelled_at timestamptz,
	refund_percent integer
				CONSTRAINT bookings_refund_percent_check CHECK (refund_percent BETWEEN 0 AND 100),
	refund_cents bigint
				CONSTRAINT bookings_refund_cents_check CHECK (refund_cents >= 0),
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	flags		text[] NOT NULL DEFAULT '{}',
	CONSTRAINT bookings_period_check
		CHECK (ends_at > starts_at AND pg_catalog.isfinite(starts_at) AND pg_catalog.isfinite(ends_at)),
	CONSTRAINT bookings_hold_check
		CHECK (status <> 'pending_payment' OR hold_expires_at IS NOT NULL),
	-- No double booking: a slot is taken by a confirmed booking or a hold.
	-- Holds past their expiry are marked expired before a new booking of
	-- the slot is inserted, in the same transaction.
	CONSTRAINT bookings_no_overlap
		EXCLUDE USING gist (space_id WITH =,
							pg_catalog.tstzrange(starts_at, ends_at, '[)') WITH &&)
		WHERE (status IN ('pending_payment', 'confirmed'))
);

COMMENT ON TABLE workon.bookings IS
'Bookings of spaces: pending_payment (a hold until hold_expires_at), confirmed, expired, cancelled (refund_percent, refund_cents) or completed; no two confirmed bookings or holds of a space overlap';

COMMENT ON COLUMN workon.bookings.flags IS
'Marks for the operators: disputed (a chargeback was opened), amount_mismatch (a payment of another amount or currency arrived)';

CREATE INDEX bookings_user_id_created_at_idx ON workon.bookings (user_id, created_at DESC, id DESC);
CREATE INDEX bookings_created_at_idx ON workon.bookings (created_at DESC, id DESC);
CREATE INDEX bookings_space_id_starts_at_idx ON workon.bookings (space_id, starts_at);

CREATE TRIGGER bookings_set_updated_at
	BEFORE UPDATE ON workon.bookings
	FOR EACH ROW EXECUTE FUNCTION workon.set_updated_at();

CREATE FUNCTION workon.state_transition()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_allowed	boolean;
BEGIN
	IF TG_TABLE_NAME = 'bookings' THEN
		v_allowed := workon.booking_transition_allowed(OLD.status, NEW.status)
			OR (OLD.status = 'expired' AND NEW.status = 'confirmed'
				AND EXISTS (SELECT FROM workon.payments AS p
							 WHERE p.booking_id = NEW.id AND p.status = 'succeeded'));
	ELSIF TG_TABLE_NAME = 'payments' THEN
		v_allowed := workon.payment_transition_allowed(OLD.status, NEW.status);
	ELSE
		v_allowed := workon.refund_transition_allowed(OLD.status, NEW.status);
	END IF;
	IF NOT v_allowed THEN
		RAISE EXCEPTION 'a % cannot go from % to %', TG_ARGV[0], OLD.status, NEW.status
			USING ERRCODE = 'WOC03', COLUMN = 'status';
	END IF;
	RETURN NEW;
END
$$;

COMMENT ON FUNCTION workon.state_transition() IS
'Trigger of bookings, payments and refunds (argument: the noun for messages): refuses status changes their state machines (workon.booking_transition_allowed, workon.payment_transition_allowed, workon.refund_transition_allowed) do not allow, whoever writes, except a booking''s expired -> confirmed when its payment succeeded; error WOC03 invalid_transition';

CREATE TRIGGER bookings_transition
	BEFORE UPDATE ON workon.bookings
	FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
	EXECUTE FUNCTION workon.state_transition('booking');

CREATE TRIGGER bookings_audit
	AFTER INSERT OR UPDATE OR DELETE ON workon.bookings
	FOR EACH ROW WHEN (NOT workon.restoring('workon.bookings'))
	EXECUTE FUNCTION workon.audit_row();

ALTER TABLE workon.bookings ENABLE ROW LEVEL SECURITY;
ALTER TABLE workon.bookings FORCE ROW LEVEL SECURITY;

-- A booking is seen by its member, the space's host and admins.  Writes go
-- through the booking functions only.
CREATE POLICY bookings_visible ON workon.bookings
	FOR SELECT
	USING (user_id = workon.current_user_id()
		   OR workon.current_role() = 'admin'
		   OR EXISTS (SELECT FROM workon.spaces AS s
					   WHERE s.id = space_id AND s.host_id = workon.current_user_id()));

GRANT SELECT ON workon.bookings TO workon_member, workon_host, workon_admin;

--
-- The API representation
--
CREATE FUNCTION workon.booking_status(b workon.bookings)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
	SELECT CASE WHEN b.status = 'pending_payment' AND b.hold_expires_at <= pg_catalog.now()
				THEN 'expired' ELSE b.status END
$$;

COMMENT ON FUNCTION workon.booking_status(workon.bookings) IS
'Effective status of a booking: a pending_payment hold past hold_expires_at is expired';

CREATE FUNCTION workon.booking_json(b workon.bookings)
RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
	SELECT workon.json_build(
		'id', b.id,
		'space_id', b.space_id,
		'user_id', b.user_id,
		'starts_at', b.starts_at,
		'ends_at', b.ends_at,
		'status', workon.booking_status(b),
		'price', workon.json_build('amount_cents', b.price_cents, 'currency', b.currency),
		'hold_expires_at', b.hold_expires_at,
		'refund', CASE WHEN b.refund_percent IS NOT NULL THEN
					  workon.json_build('amount_cents', b.refund_cents,
										'currency', b.currency,
										'percent', b.refund_percent)
				  END,
		'cancelled_at', b.cancelled_at,
		'created_at', b.created_at,
		'updated_at', b.updated_at)
$$;

COMMENT ON FUNCTION workon.booking_json(workon.bookings) IS
'The API representation of a booking';

--
-- Availability of a space: open, busy and free periods
--
CREATE FUNCTION workon.space_busy(space_id uuid, "from" timestamptz, "to" timestamptz)
RETURNS TABLE (starts_at timestamptz, ends_at timestamptz)
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT pg_catalog.lower(r), pg_catalog.upper(r)
	  FROM pg_catalog.unnest((
		SELECT pg_catalog.range_agg(pg_catalog.tstzrange(GREATEST(b.starts_at, $2),
														 LEAST(b.ends_at, $3)))
		  FROM workon.bookings AS b
		 WHERE b.space_id = $1
		   AND b.starts_at < $3 AND b.ends_at > $2
		   AND (b.status = 'confirmed'
				OR (b.status = 'pending_payment' AND b.hold_expires_at > pg_catalog.now()))
		   AND EXISTS (SELECT FROM workon.spaces AS s
						WHERE s.id = $1
						  AND (s.published OR s.host_id = workon.current_user_id()
							   OR workon.current_role() = 'admin')))) AS r
	 ORDER BY 1
$$;

COMMENT ON FUNCTION workon.space_busy(uuid, timestamptz, timestamptz) IS
'Busy periods (confirmed bookings and live holds, merged, clipped) of a space the caller may see, within [from, to); no booking details';

CREATE FUNCTION workon.periods_json(periods tstzmultirange)
RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
	SELECT COALESCE(pg_catalog.array_to_json(pg_catalog.array_agg(workon.json_build('starts_at', pg_catalog.lower(r),
																				'ends_at', pg_catalog.upper(r))
															 ORDER BY pg_catalog.lower(r))),
					'[]'::json)
	  FROM pg_catalog.unnest($1) AS r
$$;

COMMENT ON FUNCTION workon.periods_json(tstzmultirange) IS
'A multirange as a JSON list of {"starts_at","ends_at"}';

CREATE FUNCTION workon.space_availability(id uuid, "from" timestamptz DEFAULT NULL,
										  "to" timestamptz DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql STABLE
AS $$
DECLARE
	v_from		timestamptz := COALESCE(space_availability."from", pg_catalog.now());
	v_to		timestamptz := COALESCE(space_availability."to", v_from + interval '7 days');
	v			workon.spaces;
	v_open		tstzmultirange;
	v_busy		tstzmultirange;
BEGIN
	IF NOT pg_catalog.isfinite(v_from) THEN
		RAISE EXCEPTION 'from must be a finite time'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'from';
	END IF;
	IF NOT pg_catalog.isfinite(v_to) OR v_to <= v_from THEN
		RAISE EXCEPTION 'to must be after from'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'to';
	END IF;
	IF v_to - v_from > interval '31 days' THEN
		RAISE EXCEPTION 'the window from..to must be at most 31 days'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'to';
	END IF;

	SELECT * INTO v FROM workon.spaces AS s WHERE s.id = space_availability.id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'space not found'
			USING ERRCODE = 'no_data_found';
	END IF;

	SELECT COALESCE(pg_catalog.range_agg(pg_catalog.tstzrange(o.starts_at, o.ends_at)), '{}')
	  INTO v_open
	  FROM workon.opening_intervals(v.timezone, v.opening_hours, v_from, v_to) AS o;
	SELECT COALESCE(pg_catalog.range_agg(pg_catalog.tstzrange(b.starts_at, b.ends_at)), '{}')
	  INTO v_busy
	  FROM workon.space_busy(v.id, v_from, v_to) AS b;

	RETURN workon.json_build(
		'space_id', v.id,
		'timezone', v.timezone,
		'from', v_from,
		'to', v_to,
		'open', workon.periods_json(v_open),
		'busy', workon.periods_json(v_busy),
		'free', workon.periods_json(v_open - v_busy));
END
$$;

COMMENT ON FUNCTION workon.space_availability(uuid, timestamptz, timestamptz) IS
'GET /api/v1/spaces/{id}/availability?from=&to=: {space_id, timezone, from, to, open, busy, free}, each a list of {starts_at, ends_at}: opening hours (space''s zone, DST included), confirmed bookings and live holds, and open minus busy; window default now..+7 days, at most 31 days';

-- The window as the route takes it: on the grid of the space's zone, dates
-- read in that zone
CREATE FUNCTION workon.grid_align(at timestamptz, timezone text, up boolean)
RETURNS timestamptz
LANGUAGE plpgsql STABLE
AS $$
DECLARE
	v_local		timestamp := grid_align.at AT TIME ZONE grid_align.timezone;
	v_hour		timestamp := pg_catalog.date_trunc('hour', v_local);
	v_quarters	numeric := EXTRACT(epoch FROM v_local - v_hour) / 900;
BEGIN
	IF v_quarters = pg_catalog.trunc(v_quarters) OR NOT pg_catalog.isfinite(grid_align.at) THEN
		RETURN grid_align.at;
	END IF;
	RETURN (v_hour + (CASE WHEN grid_align.up THEN pg_catalog.ceil(v_quarters) ELSE pg_catalog.floor(v_quarters) END)
					 * interval '15 minutes') AT TIME ZONE grid_align.timezone;
END
$$;

COMMENT ON FUNCTION workon.grid_align(timestamptz, text, boolean) IS
'The time itself if it is on the 15-minute grid of the zone''s local time, else the next grid point (up) or the previous one';

CREATE FUNCTION workon.window_bound(value text, field text, timezone text, is_end boolean)
RETURNS timestamptz
LANGUAGE plpgsql STABLE
AS $$
BEGIN
	IF window_bound.value IS NULL OR window_bound.value = '' THEN
		RETURN NULL;
	END IF;
	IF window_bound.value ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' THEN
		-- a date of the zone: from its start; an end: to the next day's start
		BEGIN
			RETURN ((window_bound.value::date + CASE WHEN window_bound.is_end THEN 1 ELSE 0 END)::timestamp)
				   AT TIME ZONE window_bound.timezone;
		EXCEPTION WHEN datetime_field_overflow OR invalid_datetime_format THEN
			NULL;
		END;
	ELSIF window_bound.value ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}(:[0-9]{2})?)$' THEN
		BEGIN
			RETURN window_bound.value::timestamptz;
		EXCEPTION WHEN datetime_field_overflow OR invalid_datetime_format THEN
			NULL;
		END;
	END IF;
	RAISE EXCEPTION '% must be a date (of the space''s zone) or an RFC 3339 time with an offset, such as 2027-01-01 or 2027-01-01T09:00:00+01:00', window_bound.field
		USING ERRCODE = 'invalid_datetime_format', COLUMN = window_bound.field;
END
$$;

COMMENT ON FUNCTION workon.window_bound(text, text, text, boolean) IS
'A bound of an availability window as sent: a date is that date in the zone (from its start; as the end, to the next day''s start, so that the date is included), a time is RFC 3339 with an offset; NULL for none; 22007 naming the field otherwise';

CREATE FUNCTION workon.space_availability_window(id uuid, "from" text DEFAULT NULL, "to" text DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql STABLE
AS $$
DECLARE
	v_zone		text;
	v_from		timestamptz;
	v_to		timestamptz;
BEGIN
	SELECT s.timezone INTO v_zone FROM workon.spaces AS s WHERE s.id = space_availability_window.id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'space not found'
			USING ERRCODE = 'no_data_found';
	END IF;
	v_from := workon.grid_align(COALESCE(workon.window_bound(space_availability_window."from", 'from', v_zone, false),
										 pg_catalog.now()), v_zone, true);
	v_to := COALESCE(workon.grid_align(workon.window_bound(space_availability_window."to", 'to', v_zone, true), v_zone, false),
					 v_from + interval '7 days');
	RETURN workon.space_availability(space_availability_window.id, v_from, v_to);
END
$$;

COMMENT ON FUNCTION workon.space_availability_window(uuid, text, text) IS
'GET /api/v1/spaces/{id}/availability?from=&to=: workon.space_availability of a window on the 15-minute grid of the space''s zone, so that every free period can be booked as given: from (default now) rounded up, to (default from + 7 days) rounded down; a date-only bound is that date in the space''s zone (to includes its date); at most 31 days';

--
-- Route handlers: bookings
--
CREATE FUNCTION workon.booking_insert(space workon.spaces, user_id uuid,
									  starts_at timestamptz, ends_at timestamptz,
									  now timestamptz)
RETURNS workon.bookings
LANGUAGE plpgsql VOLATILE
AS $$
-- (no SET search_path, which would cost every booking a configuration
-- change: its one caller, booking_create, sets it; every name is qualified)
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

CREATE FUNCTION workon.booking_create(space_id uuid DEFAULT NULL,
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
	v_fields	text[];
	v_messages	text[];
BEGIN
	IF v_user IS NULL THEN
		RAISE EXCEPTION 'authentication required'
			USING ERRCODE = 'WO401';
	END IF;
	-- every invalid field at once: a missing space, and the times against
	-- the rules that need no space (the shapes were judged by the binding)
	SELECT p.fields, p.messages INTO v_fields, v_messages
	  FROM workon.booking_problems(NULL, NULL, booking_create.starts_at, booking_create.ends_at, v_now) AS p;
	IF booking_create.space_id IS NULL THEN
		v_fields := 'space_id'::text || v_fields;
		v_messages := 'space_id is required'::text || v_messages;
	END IF;
	PERFORM workon.raise_invalid(v_fields, v_messages);

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

	-- and the opening hours of the space
	SELECT p.fields, p.messages INTO v_fields, v_messages
	  FROM workon.booking_problems(v_space.timezone, v_space.opening_hours,
								   booking_create.starts_at, booking_create.ends_at, v_now) AS p;
	PERFORM workon.raise_invalid(v_fields, v_messages);

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

	PERFORM workon.set_response(NULL, pg_catalog.jsonb_build_object('Location', '/api/v1/bookings/' || v_booking.id));
	RETURN workon.booking_json(v_booking);
END
$$;

COMMENT ON FUNCTION workon.booking_create(uuid, timestamptz, timestamptz) IS
'POST /api/v1/bookings: a hold (pending_payment until hold_expires_at, workon.booking_hold_minutes from now) of a space the caller can see; the rules of workon.booking_problems (22023 naming every invalid field at once: details.fields), the price of workon.booking_price; P0002 for an unknown or unseen space, WOR01 space_archived for an archived one (its host, admins); WOC02 booking_conflict if a confirmed booking or live hold overlaps';

CREATE FUNCTION workon.booking_get(id uuid)
RETURNS json
LANGUAGE plpgsql STABLE
AS $$
DECLARE
	v_booking	json;
BEGIN
	SELECT workon.booking_json(b) INTO v_booking
	  FROM workon.bookings AS b
	 WHERE b.id = booking_get.id;
	IF v_booking IS NULL THEN
		RAISE EXCEPTION 'booking not found'
			USING ERRCODE = 'no_data_found';
	END IF;
	RETURN v_booking;
END
$$;

COMMENT ON FUNCTION workon.booking_get(uuid) IS
'GET /api/v1/bookings/{id}: one booking, seen by its member, the space''s host and admins; P0002 for anyone else';

CREATE FUNCTION workon.bookings_list("limit" integer DEFAULT NULL, cursor text DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql STABLE
AS $$
DECLARE
	v_all		boolean := workon.current_role() IS NOT DISTINCT FROM 'admin';
	v_user		uuid := workon.current_user_id();
	v			record;
	v_page		json;
BEGIN
	SELECT * INTO v FROM workon.list_bounds(bookings_list."limit", bookings_list.cursor);
	SELECT workon.list_page(pg_catalog.array_agg(workon.booking_json(p.b) ORDER BY p.created_at DESC, p.id DESC),
							pg_catalog.array_agg(workon.cursor_encode(p.created_at, p.id) ORDER BY p.created_at DESC, p.id DESC),
							v.lim)
	  INTO v_page
	  FROM (SELECT b, b.created_at, b.id
			  FROM workon.bookings AS b
			 WHERE (v_all OR b.user_id = v_user)
			   AND (b.created_at, b.id) < (v.after_ts, v.after_id)
			 ORDER BY b.created_at DESC, b.id DESC
			 LIMIT v.lim + 1) AS p;
	RETURN v_page;
END
$$;

COMMENT ON FUNCTION workon.bookings_list(integer, text) IS
'GET /api/v1/bookings: the caller''s bookings (admins: all), newest first, as {"data": [...], "next_cursor": ...}; limit 1..100 (default 20)';

CREATE FUNCTION workon.booking_cancel(id uuid)
RETURNS json
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_user		uuid := workon.current_user_id();
	v_admin		boolean := workon.current_role() IS NOT DISTINCT FROM 'admin';
	v_booking	workon.bookings;
	v_pay		workon.payments;
	v_status	text;
	v_paid		bigint := 0;
	v_refund	record;
	v_reason	text := 'requested_by_customer';
BEGIN
	SELECT * INTO v_booking FROM workon.bookings AS b WHERE b.id = booking_cancel.id FOR UPDATE;
	-- the visibility rule of workon.bookings (this function bypasses it)
	IF NOT FOUND
	   OR NOT (v_admin OR v_booking.user_id = v_user
			   OR EXISTS (SELECT FROM workon.spaces AS s
						   WHERE s.id = v_booking.space_id AND s.host_id = v_user)) THEN
		RAISE EXCEPTION 'booking not found'
			USING ERRCODE = 'no_data_found';
	END IF;
	IF NOT (v_admin OR v_booking.user_id = v_user) THEN
		RAISE EXCEPTION 'only the member who booked or an admin may cancel a booking'
			USING ERRCODE = 'insufficient_privilege';
	END IF;

	v_status := workon.booking_status(v_booking);
	IF NOT workon.booking_transition_allowed(v_status, 'cancelled') THEN
		RAISE EXCEPTION 'a booking cannot go from % to cancelled', v_status
			USING ERRCODE = 'WOC03', COLUMN = 'status';
	END IF;

	SELECT * INTO v_pay FROM workon.payments AS p WHERE p.booking_id = v_booking.id FOR UPDATE;
	IF v_pay.status = 'succeeded' THEN
		v_paid := GREATEST(v_pay.amount_received_cents - v_pay.refunded_cents, 0);
	END IF;
	SELECT * INTO v_refund FROM workon.booking_refund(v_booking.starts_at, pg_catalog.now(), v_paid);
	IF v_status <> 'confirmed' AND v_paid > 0 THEN
		-- paid without confirming it (another amount): all of it back
		v_refund.percent := 100;
		v_refund.amount_cents := v_paid;
		v_reason := 'booking_cancelled';
	END IF;

	UPDATE workon.bookings AS b
	   SET status = 'cancelled', cancelled_at = pg_catalog.now(),
		   refund_percent = v_refund.percent, refund_cents = v_refund.amount_cents
	 WHERE b.id = v_booking.id
	RETURNING * INTO v_booking;
	IF v_status = 'confirmed' OR v_paid > 0 THEN
		PERFORM workon.email_enqueue(v_booking.user_id, 'booking_cancelled',
									 pg_catalog.jsonb_build_object(
										 'booking_id', v_booking.id,
										 'refund_cents', v_refund.amount_cents,
										 'refund_percent', v_refund.percent,
										 'currency', COALESCE(v_pay.received_currency, v_booking.currency)),
									 'booking_cancelled:' || v_booking.id, v_booking.id);
	END IF;

	IF v_refund.amount_cents > 0 THEN
		PERFORM workon.refund_start(v_pay, v_refund.amount_cents, v_reason);
	ELSIF v_pay.id IS NOT NULL THEN
		PERFORM workon.payment_stop(v_pay);
	END IF;

	RETURN workon.booking_json(v_booking);
END
$$;

COMMENT ON FUNCTION workon.booking_cancel(uuid) IS
'POST /api/v1/bookings/{id}/cancel (its member, admin): status cancelled with refund {amount_cents, currency, percent} by workon.booking_refund of what was paid (0 unless confirmed and paid); a paid booking''s refund is a refund row and a Stripe refund call in the same transaction, a payment under way is stopped (workon.payment_stop), a confirmed or paid booking''s member gets a booking_cancelled mail with the refund, a payment that succeeded without confirming the booking (another amount) is refunded in full; WOC04 cannot_cancel once started, WOC03 invalid_transition unless pending (live hold) or confirmed, P0002 for bookings the caller cannot see, 42501 for the space''s host';

--
-- Routes, errors, privileges
--
INSERT INTO workon.routes (method, path, handler, auth, status, body, read_only, summary) VALUES
	('GET', '/api/v1/spaces/{id}/availability',
	 'workon.space_availability_window(uuid,text,text)',
	 'none', 200, 'none', true, 'Open, busy and free periods of a space'),
	('POST', '/api/v1/bookings', 'workon.booking_create(uuid,timestamptz,timestamptz)',
	 'member', 201, 'json', false, 'Book a space (a hold until paid)'),
	('GET', '/api/v1/bookings', 'workon.bookings_list(integer,text)',
	 'member', 200, 'none', true, 'My bookings (admins: all)'),
	('GET', '/api/v1/bookings/{id}', 'workon.booking_get(uuid)',
	 'member', 200, 'none', true, 'Get a booking'),
	('POST', '/api/v1/bookings/{id}/cancel', 'workon.booking_cancel(uuid)',
	 'member', 200, 'none', false, 'Cancel a booking');


INSERT INTO workon.route_schemas (method, path, schemas) VALUES
	('GET', '/api/v1/spaces/{id}/availability', '{
		"query": {"from": {"type": "string", "description": "RFC 3339, or a date (that day in the space''s zone); default now, rounded up to the 15-minute grid"},
				  "to": {"type": "string", "description": "RFC 3339, or a date (included); default from + 7 days; at most 31 days after from"}},
		"responses": {"200": {"$ref": "#/components/schemas/Availability"}}}'),
	('POST', '/api/v1/bookings', '{
		"body": {"type": "object", "additionalProperties": false, "required": ["space_id", "starts_at", "ends_at"],
				 "properties": {"space_id": {"$ref": "#/components/schemas/Uuid"},
								"starts_at": {"type": "string", "format": "date-time", "description": "on the 15-minute grid"},
								"ends_at": {"type": "string", "format": "date-time", "description": "on the 15-minute grid, after starts_at"}},
				 "examples": [{"space_id": "d1000000-0000-4000-8000-000000000024", "starts_at": "2027-03-01T10:00:00Z", "ends_at": "2027-03-01T12:00:00Z"}]},
		"responses": {"201": {"$ref": "#/components/schemas/Booking"}}}'),
	('GET', '/api/v1/bookings', '{
		"query": {"limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}, "cursor": {"type": "string"}},
		"responses": {"200": {"$ref": "#/components/schemas/BookingPage"}}}'),
	('GET', '/api/v1/bookings/{id}', '{"responses": {"200": {"$ref": "#/components/schemas/Booking"}}}'),
	('POST', '/api/v1/bookings/{id}/cancel', '{"responses": {"200": {"$ref": "#/components/schemas/Booking"}}}');

INSERT INTO workon.errors (sqlstate, status, code) VALUES
	('WOC02', 409, 'booking_conflict'),
	('WOC03', 409, 'invalid_transition'),
	('WOC04', 409, 'cannot_cancel');

GRANT EXECUTE ON FUNCTION
	workon.space_busy(uuid, timestamptz, timestamptz),
	workon.periods_json(tstzmultirange),
	workon.space_availability(uuid, timestamptz, timestamptz),
	workon.grid_align(timestamptz, text, boolean),
	workon.window_bound(text, text, text, boolean),
	workon.space_availability_window(uuid, text, text),
	workon.booking_price(text, bigint, bigint, timestamptz, timestamptz)
	TO workon_anon, workon_member, workon_host, workon_admin;
GRANT EXECUTE ON FUNCTION
	workon.booking_check(text, jsonb, timestamptz, timestamptz, timestamptz),
	workon.booking_problems(text, jsonb, timestamptz, timestamptz, timestamptz),
	workon.booking_transition_allowed(text, text),
	workon.booking_refund(timestamptz, timestamptz, bigint),
	workon.booking_status(workon.bookings),
	workon.booking_json(workon.bookings),
	workon.booking_create(uuid, timestamptz, timestamptz),
	workon.booking_get(uuid),
	workon.bookings_list(integer, text),
	workon.booking_cancel(uuid)
	TO workon_member, workon_host, workon_admin;

-- pg_dump: bookings are data
SELECT pg_catalog.pg_extension_config_dump('workon.bookings', '');
