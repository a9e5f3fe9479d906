/* sql/workon--0.2.0--0.3.0.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION workon UPDATE TO '0.3.0'" to load this file. \quit

--
-- 0.3.0: spaces and bookings.  Hosts and admins write spaces (validated
-- by a trigger), anyone reads availability, members book: rules, prices,
-- the state machine and the refund policy in extension/booking.c, double
-- booking made impossible by an exclusion constraint.
--

--
-- Booking rules (extension/booking.c)
--
CREATE FUNCTION workon.opening_hours_check(opening_hours jsonb)
RETURNS void
AS 'MODULE_PATHNAME', 'opening_hours_check'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION workon.opening_hours_check(jsonb) IS
'Validates opening hours: an object mapping mon..sun to sorted, non-overlapping lists of ["HH:MM","HH:MM"] intervals ("24:00" ends a day); error 22023 naming the field (opening_hours or opening_hours.<day>) otherwise. Not strict: NULL is refused';

CREATE FUNCTION workon.opening_intervals(timezone text, opening_hours jsonb,
										 "from" timestamptz, "to" timestamptz)
RETURNS TABLE (starts_at timestamptz, ends_at timestamptz)
AS 'MODULE_PATHNAME', 'opening_intervals'
LANGUAGE C STABLE STRICT PARALLEL SAFE ROWS 20;

COMMENT ON FUNCTION workon.opening_intervals(text, jsonb, timestamptz, timestamptz) IS
'The open periods of a space within [from, to): its opening hours in its time zone (DST included) as instants, periods that touch (across midnight too) merged, clipped to the window (at most 400 days)';

-- not strict: a missing starts_at or ends_at is an error naming the field
CREATE FUNCTION workon.booking_check(timezone text, opening_hours jsonb,
									 starts_at timestamptz, ends_at timestamptz,
									 now timestamptz)
RETURNS void
AS 'MODULE_PATHNAME', 'booking_check'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION workon.booking_check(text, jsonb, timestamptz, timestamptz, timestamptz) IS
'The rules of a new booking at time "now": ends after it starts, both ends on the 15-minute grid, at least 30 minutes, starts in the future and at most 180 days ahead, inside the opening hours (space''s zone, DST included, overnight across touching intervals). The first rule broken is error 22023 naming the rule, field starts_at or ends_at';

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

-- The front end passes BOOKING_HOLD_MINUTES
GRANT SET ON PARAMETER workon.booking_hold_minutes TO workon_authenticator;

--
-- Spaces: validation of every write
--
CREATE FUNCTION workon.space_check()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
	IF NEW.name IS NULL OR pg_catalog.btrim(NEW.name) = '' THEN
		RAISE EXCEPTION 'name is required'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'name';
	END IF;
	IF pg_catalog.length(NEW.name) > 200 THEN
		RAISE EXCEPTION 'name must be at most 200 characters'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'name';
	END IF;
	IF NEW.kind IS NULL OR NEW.kind NOT IN ('desk', 'private_office', 'meeting_room', 'event_space') THEN
		RAISE EXCEPTION 'kind must be one of desk, private_office, meeting_room, event_space'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'kind';
	END IF;
	IF NEW.city IS NULL OR pg_catalog.btrim(NEW.city) = '' THEN
		RAISE EXCEPTION 'city is required'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'city';
	END IF;
	IF NEW.address IS NULL OR pg_catalog.btrim(NEW.address) = '' THEN
		RAISE EXCEPTION 'address is required'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'address';
	END IF;
	IF NEW.capacity IS NULL OR NEW.capacity < 1 THEN
		RAISE EXCEPTION 'capacity must be at least 1'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'capacity';
	END IF;
	IF NEW.timezone IS NULL OR NOT workon.valid_timezone(NEW.timezone) THEN
		RAISE EXCEPTION 'timezone must name an IANA time zone such as Europe/Berlin'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'timezone';
	END IF;
	IF NEW.hourly_rate_cents IS NULL OR NEW.hourly_rate_cents NOT BETWEEN 0 AND 100000000000 THEN
		RAISE EXCEPTION 'hourly_rate_cents must be between 0 and 100000000000'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'hourly_rate_cents';
	END IF;
	IF NEW.daily_rate_cents IS NULL OR NEW.daily_rate_cents NOT BETWEEN 0 AND 100000000000 THEN
		RAISE EXCEPTION 'daily_rate_cents must be between 0 and 100000000000'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'daily_rate_cents';
	END IF;
	NEW.currency := pg_catalog.lower(NEW.currency);
	IF NEW.currency IS NULL OR NEW.currency !~ '^[a-z]{3}$' THEN
		RAISE EXCEPTION 'currency must be a three-letter ISO 4217 code such as eur'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'currency';
	END IF;
	PERFORM workon.opening_hours_check(NEW.opening_hours);
	IF NEW.published IS NULL THEN
		RAISE EXCEPTION 'published must be true or false'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'published';
	END IF;
	RETURN NEW;
END
$$;

COMMENT ON FUNCTION workon.space_check() IS
'Trigger: validates a space on every insert and update, error 22023 naming the field; lower-cases the currency';

CREATE TRIGGER spaces_check
	BEFORE INSERT OR UPDATE ON workon.spaces
	FOR EACH ROW EXECUTE FUNCTION workon.space_check();

CREATE TRIGGER spaces_audit
	AFTER INSERT OR UPDATE OR DELETE ON workon.spaces
	FOR EACH ROW EXECUTE FUNCTION workon.audit_row('doc');

GRANT INSERT (host_id, name, kind, city, address, capacity, timezone, hourly_rate_cents,
			  daily_rate_cents, currency, opening_hours, published),
	  UPDATE (name, kind, city, address, capacity, timezone, hourly_rate_cents,
			  daily_rate_cents, currency, opening_hours, published),
	  DELETE
	ON workon.spaces TO workon_host, workon_admin;

--
-- Bookings
--
CREATE TABLE workon.bookings (
	id			uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
	space_id	uuid NOT NULL REFERENCES workon.spaces (id) ON DELETE CASCADE,
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

CREATE INDEX bookings_user_id_created_at_idx ON workon.bookings (user_id, created_at DESC, id DESC);
CREATE INDEX bookings_created_at_idx ON workon.bookings (created_at DESC, id DESC);
CREATE INDEX bookings_space_id_starts_at_idx ON workon.bookings (space_id, starts_at);

CREATE TRIGGER bookings_set_updated_at
	BEFORE UPDATE ON workon.bookings
	FOR EACH ROW EXECUTE FUNCTION workon.set_updated_at();

CREATE FUNCTION workon.booking_transition()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT workon.booking_transition_allowed(OLD.status, NEW.status) THEN
		RAISE EXCEPTION 'a booking cannot go from % to %', OLD.status, NEW.status
			USING ERRCODE = 'WOC03', COLUMN = 'status';
	END IF;
	RETURN NEW;
END
$$;

COMMENT ON FUNCTION workon.booking_transition() IS
'Trigger: refuses status changes the booking state machine (workon.booking_transition_allowed) does not allow, whoever writes; error WOC03 invalid_transition';

CREATE TRIGGER bookings_transition
	BEFORE UPDATE ON workon.bookings
	FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
	EXECUTE FUNCTION workon.booking_transition();

CREATE TRIGGER bookings_audit
	AFTER INSERT OR UPDATE OR DELETE ON workon.bookings
	FOR EACH ROW EXECUTE FUNCTION workon.audit_row();

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
-- Route handlers: spaces (writes and availability)
--
CREATE FUNCTION workon.space_body_check(body jsonb, allowed text[])
RETURNS void
LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
	k			text;
	v			jsonb;
	t			text;
BEGIN
	IF space_body_check.body IS NULL OR pg_catalog.jsonb_typeof(space_body_check.body) <> 'object' THEN
		RAISE EXCEPTION 'request body must be a JSON object'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	FOR k, v IN SELECT e.key, e.value FROM pg_catalog.jsonb_each(space_body_check.body) AS e ORDER BY e.key
	LOOP
		IF NOT k = ANY (space_body_check.allowed) THEN
			RAISE EXCEPTION 'unknown parameter'
				USING ERRCODE = 'invalid_parameter_value', COLUMN = k,
					  DETAIL = pg_catalog.format('Parameter "%s" is not taken here.', k);
		END IF;
		t := pg_catalog.jsonb_typeof(v);
		CONTINUE WHEN t = 'null';
		IF k IN ('name', 'kind', 'city', 'address', 'timezone', 'currency', 'host_id') AND t <> 'string' THEN
			RAISE EXCEPTION '% must be a string', k
				USING ERRCODE = 'invalid_parameter_value', COLUMN = k;
		ELSIF k IN ('capacity', 'hourly_rate_cents', 'daily_rate_cents')
			  AND (t <> 'number' OR v::numeric <> pg_catalog.trunc(v::numeric)
				   OR v::numeric NOT BETWEEN -2147483648 AND 2147483647 AND k = 'capacity'
				   OR v::numeric NOT BETWEEN -9223372036854775808 AND 9223372036854775807) THEN
			RAISE EXCEPTION '% must be an integer', k
				USING ERRCODE = 'invalid_parameter_value', COLUMN = k;
		ELSIF k = 'published' AND t <> 'boolean' THEN
			RAISE EXCEPTION 'published must be true or false'
				USING ERRCODE = 'invalid_parameter_value', COLUMN = k;
		ELSIF k = 'host_id'
			  AND v #>> '{}' !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
			RAISE EXCEPTION 'host_id must be a UUID'
				USING ERRCODE = 'invalid_parameter_value', COLUMN = k;
		END IF;
	END LOOP;
END
$$;

COMMENT ON FUNCTION workon.space_body_check(jsonb, text[]) IS
'Checks a space request body: a JSON object of allowed keys whose values have the right JSON types (null allowed); error 22023 naming the field otherwise';

CREATE FUNCTION workon.space_create(body jsonb DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
	v			workon.spaces;
BEGIN
	PERFORM workon.space_body_check(space_create.body,
		ARRAY['name', 'kind', 'city', 'address', 'capacity', 'timezone', 'hourly_rate_cents',
			  'daily_rate_cents', 'currency', 'opening_hours', 'published', 'host_id']);
	v := pg_catalog.jsonb_populate_record(NULL::workon.spaces, space_create.body);

	IF v.host_id IS NOT NULL THEN
		IF workon.current_role() IS DISTINCT FROM 'admin' AND v.host_id IS DISTINCT FROM workon.current_user_id() THEN
			RAISE EXCEPTION 'host_id may be set by admins only'
				USING ERRCODE = 'invalid_parameter_value', COLUMN = 'host_id';
		END IF;
		IF NOT EXISTS (SELECT FROM workon.users AS u
						WHERE u.id = v.host_id AND u.role IN ('host', 'admin')) THEN
			RAISE EXCEPTION 'host_id must name a host'
				USING ERRCODE = 'invalid_parameter_value', COLUMN = 'host_id';
		END IF;
	END IF;
	v.host_id := COALESCE(v.host_id, workon.current_user_id());
	IF v.host_id IS NULL THEN
		RAISE EXCEPTION 'host_id is required'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'host_id';
	END IF;

	INSERT INTO workon.spaces AS s (host_id, name, kind, city, address, capacity, timezone,
									hourly_rate_cents, daily_rate_cents, currency,
									opening_hours, published)
	VALUES (v.host_id, v.name, v.kind, v.city, v.address, v.capacity, v.timezone,
			v.hourly_rate_cents, v.daily_rate_cents, v.currency,
			COALESCE(v.opening_hours, '{}'), COALESCE(v.published, false))
	RETURNING * INTO v;

	RETURN workon.space_json(v);
END
$$;

COMMENT ON FUNCTION workon.space_create(jsonb) IS
'POST /api/v1/spaces (host, admin): a new space of the caller (admins may name another host with host_id); opening_hours defaults to {} (closed), published to false; 22023 naming the field for anything invalid';

CREATE FUNCTION workon.space_writable(id uuid)
RETURNS workon.spaces
LANGUAGE plpgsql STABLE
AS $$
DECLARE
	v			workon.spaces;
BEGIN
	SELECT * INTO v FROM workon.spaces AS s WHERE s.id = space_writable.id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'space not found'
			USING ERRCODE = 'no_data_found';
	END IF;
	IF workon.current_role() IS DISTINCT FROM 'admin'
	   AND v.host_id IS DISTINCT FROM workon.current_user_id() THEN
		RAISE EXCEPTION 'only the space''s host or an admin may change it'
			USING ERRCODE = 'insufficient_privilege';
	END IF;
	RETURN v;
END
$$;

COMMENT ON FUNCTION workon.space_writable(uuid) IS
'The space if the caller may change it (its host, an admin); P0002 if the caller cannot see it, 42501 if they see but may not change it';

CREATE FUNCTION workon.space_update(id uuid, body jsonb DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
	v			workon.spaces := workon.space_writable(space_update.id);
BEGIN
	PERFORM workon.space_body_check(space_update.body,
		ARRAY['name', 'kind', 'city', 'address', 'capacity', 'timezone', 'hourly_rate_cents',
			  'daily_rate_cents', 'currency', 'opening_hours', 'published']);

	SELECT * INTO v FROM workon.spaces AS s WHERE s.id = space_update.id FOR UPDATE;
	-- fields present in the body replace the stored ones (null included)
	v := pg_catalog.jsonb_populate_record(v, space_update.body);

	UPDATE workon.spaces AS s
	   SET name = v.name, kind = v.kind, city = v.city, address = v.address,
		   capacity = v.capacity, timezone = v.timezone,
		   hourly_rate_cents = v.hourly_rate_cents, daily_rate_cents = v.daily_rate_cents,
		   currency = v.currency, opening_hours = v.opening_hours, published = v.published
	 WHERE s.id = space_update.id
	RETURNING * INTO v;

	RETURN workon.space_json(v);
END
$$;

COMMENT ON FUNCTION workon.space_update(uuid, jsonb) IS
'PATCH /api/v1/spaces/{id} (its host, admin): changes the fields present in the body; a field given as null is refused if the space needs it. Existing bookings keep their price';

CREATE FUNCTION workon.space_delete(id uuid)
RETURNS void
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
	PERFORM workon.space_writable(space_delete.id);
	-- serializes with bookings being made (their foreign key check)
	PERFORM FROM workon.spaces AS s WHERE s.id = space_delete.id FOR UPDATE;

	IF EXISTS (SELECT FROM workon.bookings AS b
				WHERE b.space_id = space_delete.id
				  AND b.ends_at > pg_catalog.now()
				  AND (b.status = 'confirmed'
					   OR (b.status = 'pending_payment' AND b.hold_expires_at > pg_catalog.now()))) THEN
		RAISE EXCEPTION 'space has future bookings'
			USING ERRCODE = 'WOC05',
				  HINT = 'Unpublish it instead, or wait until its bookings have ended.';
	END IF;

	DELETE FROM workon.spaces AS s WHERE s.id = space_delete.id;
END
$$;

COMMENT ON FUNCTION workon.space_delete(uuid) IS
'DELETE /api/v1/spaces/{id} (its host, admin): deletes the space and its past, cancelled and expired bookings (the audit log keeps them); WOC05 has_future_bookings while a confirmed booking or live hold has not ended';

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
	SELECT COALESCE(pg_catalog.json_agg(workon.json_build('starts_at', pg_catalog.lower(r),
														   'ends_at', pg_catalog.upper(r))
										ORDER BY pg_catalog.lower(r)),
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

--
-- Route handlers: bookings
--
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

COMMENT ON FUNCTION workon.booking_create(uuid, timestamptz, timestamptz) IS
'POST /api/v1/bookings: a hold (pending_payment until hold_expires_at, workon.booking_hold_minutes from now) of a space the caller can see; the rules of workon.booking_check (22023 naming the rule), the price of workon.booking_price; P0002 for an unknown or unseen space; WOC02 booking_conflict if a confirmed booking or live hold overlaps';

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
	v_limit		integer := COALESCE(bookings_list."limit", 20);
	v_all		boolean := workon.current_role() IS NOT DISTINCT FROM 'admin';
	v_user		uuid := workon.current_user_id();
	v_after_ts	timestamptz := 'infinity';
	v_after_id	uuid := 'ffffffff-ffff-ffff-ffff-ffffffffffff';
	v_page		json;
BEGIN
	IF v_limit < 1 OR v_limit > 100 THEN
		RAISE EXCEPTION 'limit must be between 1 and 100'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'limit';
	END IF;
	IF bookings_list.cursor <> '' THEN
		SELECT c.ts, c.id INTO v_after_ts, v_after_id
		  FROM workon.cursor_decode(bookings_list.cursor) AS c;
	END IF;

	SELECT workon.json_build(
			   'data', COALESCE(pg_catalog.json_agg(p.booking ORDER BY p.n)
								FILTER (WHERE p.n <= v_limit),
								'[]'::json),
			   'next_cursor', CASE WHEN pg_catalog.count(*) > v_limit THEN
								  (pg_catalog.array_agg(workon.cursor_encode(p.created_at, p.id))
								   FILTER (WHERE p.n = v_limit))[1]
							  END)
	  INTO v_page
	  FROM (SELECT workon.booking_json(b) AS booking, b.created_at, b.id,
				   pg_catalog.row_number() OVER (ORDER BY b.created_at DESC, b.id DESC) AS n
			  FROM workon.bookings AS b
			 WHERE (v_all OR b.user_id = v_user)
			   AND (b.created_at, b.id) < (v_after_ts, v_after_id)
			 ORDER BY b.created_at DESC, b.id DESC
			 LIMIT v_limit + 1) AS p;

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
	v_status	text;
	v_refund	record;
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

	-- nothing can be paid yet: the policy's percent of 0
	SELECT * INTO v_refund FROM workon.booking_refund(v_booking.starts_at, pg_catalog.now(), 0);

	UPDATE workon.bookings AS b
	   SET status = 'cancelled', cancelled_at = pg_catalog.now(),
		   refund_percent = v_refund.percent, refund_cents = v_refund.amount_cents
	 WHERE b.id = v_booking.id
	RETURNING * INTO v_booking;

	RETURN workon.booking_json(v_booking);
END
$$;

COMMENT ON FUNCTION workon.booking_cancel(uuid) IS
'POST /api/v1/bookings/{id}/cancel (its member, admin): status cancelled with refund {amount_cents, currency, percent} by workon.booking_refund; WOC04 cannot_cancel once started, WOC03 invalid_transition unless pending (live hold) or confirmed, P0002 for bookings the caller cannot see, 42501 for the space''s host';

--
-- Routes and errors
--
INSERT INTO workon.routes (method, path, handler, auth, status, body, summary) VALUES
	('POST', '/api/v1/spaces', 'workon.space_create(jsonb)',
	 'host', 201, 'json', 'Create a space'),
	('PATCH', '/api/v1/spaces/{id}', 'workon.space_update(uuid,jsonb)',
	 'host', 200, 'json', 'Change a space'),
	('DELETE', '/api/v1/spaces/{id}', 'workon.space_delete(uuid)',
	 'host', 204, 'none', 'Delete a space without future bookings'),
	('GET', '/api/v1/spaces/{id}/availability',
	 'workon.space_availability(uuid,timestamptz,timestamptz)',
	 'none', 200, 'none', 'Open, busy and free periods of a space'),
	('POST', '/api/v1/bookings', 'workon.booking_create(uuid,timestamptz,timestamptz)',
	 'member', 201, 'json', 'Book a space (a hold until paid)'),
	('GET', '/api/v1/bookings', 'workon.bookings_list(integer,text)',
	 'member', 200, 'none', 'My bookings (admins: all)'),
	('GET', '/api/v1/bookings/{id}', 'workon.booking_get(uuid)',
	 'member', 200, 'none', 'Get a booking'),
	('POST', '/api/v1/bookings/{id}/cancel', 'workon.booking_cancel(uuid)',
	 'member', 200, 'none', 'Cancel a booking');

INSERT INTO workon.errors (sqlstate, status, code) VALUES
	('WOC02', 409, 'booking_conflict'),
	('WOC03', 409, 'invalid_transition'),
	('WOC04', 409, 'cannot_cancel'),
	('WOC05', 409, 'has_future_bookings');

--
-- Function privileges of this release
--
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA workon FROM PUBLIC;

GRANT EXECUTE ON FUNCTION
	workon.opening_intervals(text, jsonb, timestamptz, timestamptz),
	workon.space_busy(uuid, timestamptz, timestamptz),
	workon.periods_json(tstzmultirange),
	workon.space_availability(uuid, timestamptz, timestamptz),
	workon.booking_price(text, bigint, bigint, timestamptz, timestamptz)
	TO workon_anon, workon_member, workon_host, workon_admin;
GRANT EXECUTE ON FUNCTION
	workon.booking_check(text, jsonb, timestamptz, timestamptz, timestamptz),
	workon.booking_transition_allowed(text, text),
	workon.booking_refund(timestamptz, timestamptz, bigint),
	workon.booking_status(workon.bookings),
	workon.booking_json(workon.bookings),
	workon.booking_create(uuid, timestamptz, timestamptz),
	workon.booking_get(uuid),
	workon.bookings_list(integer, text),
	workon.booking_cancel(uuid)
	TO workon_member, workon_host, workon_admin;
GRANT EXECUTE ON FUNCTION
	workon.opening_hours_check(jsonb),
	workon.space_body_check(jsonb, text[]),
	workon.space_writable(uuid),
	workon.space_create(jsonb),
	workon.space_update(uuid, jsonb),
	workon.space_delete(uuid)
	TO workon_host, workon_admin;

--
-- pg_dump: bookings are data; the route and error rows shipped so far are
-- recreated by CREATE EXTENSION
--
SELECT pg_catalog.pg_extension_config_dump('workon.bookings', '');

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

--
-- JWT keys are cached per backend: changes of workon.jwt_keys invalidate the
-- caches, and verification needs no SECURITY DEFINER any more (the C code
-- reads the keys as the table's owner).
--
CREATE FUNCTION workon.jwt_keys_changed()
RETURNS trigger
AS 'MODULE_PATHNAME', 'jwt_keys_changed'
LANGUAGE C;

COMMENT ON FUNCTION workon.jwt_keys_changed() IS
'Trigger: every backend drops its cached JWT keys once a change of workon.jwt_keys commits';

REVOKE ALL ON FUNCTION workon.jwt_keys_changed() FROM PUBLIC;

CREATE TRIGGER jwt_keys_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON workon.jwt_keys
	FOR EACH STATEMENT EXECUTE FUNCTION workon.jwt_keys_changed();

ALTER FUNCTION workon.jwt_verify(text) SECURITY INVOKER;
ALTER FUNCTION workon.jwt_verify(text) RESET search_path;
