/* sql/workon--0.5.0--0.6.0.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION workon UPDATE TO '0.6.0'" to load this file. \quit

--
-- Each concern appends its change below, the same change its sql/src file
-- makes; the pg_dump block stays last.
--

--
-- The space of a payment and of a refund, beside their booking: the key that
-- would distribute them with their booking and its space on a sharded
-- PostgreSQL (docs/scale-out.md), so that a booking, its payment and its
-- refunds stay on one node and no foreign key crosses nodes. Filled from the
-- booking by a trigger, whoever writes.
--
ALTER TABLE workon.payments ADD COLUMN space_id uuid;
ALTER TABLE workon.refunds ADD COLUMN space_id uuid;

CREATE FUNCTION workon.booking_space_fill()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	SELECT b.space_id INTO NEW.space_id FROM workon.bookings AS b WHERE b.id = NEW.booking_id;
	RETURN NEW;
END
$$;

COMMENT ON FUNCTION workon.booking_space_fill() IS
'Trigger: a payment''s or refund''s space_id is its booking''s (restored rows keep theirs)';

CREATE TRIGGER payments_space
	BEFORE INSERT OR UPDATE OF booking_id, space_id ON workon.payments
	FOR EACH ROW WHEN (NOT workon.restoring('workon.payments')) EXECUTE FUNCTION workon.booking_space_fill();

CREATE TRIGGER refunds_space
	BEFORE INSERT OR UPDATE OF booking_id, space_id ON workon.refunds
	FOR EACH ROW WHEN (NOT workon.restoring('workon.refunds')) EXECUTE FUNCTION workon.booking_space_fill();

-- the rows there are (no audit row, no updated_at: nothing changed for their readers)
ALTER TABLE workon.payments DISABLE TRIGGER USER;
ALTER TABLE workon.refunds DISABLE TRIGGER USER;
UPDATE workon.payments AS p SET space_id = b.space_id FROM workon.bookings AS b WHERE b.id = p.booking_id;
UPDATE workon.refunds AS r SET space_id = b.space_id FROM workon.bookings AS b WHERE b.id = r.booking_id;
ALTER TABLE workon.payments ENABLE TRIGGER USER;
ALTER TABLE workon.refunds ENABLE TRIGGER USER;

ALTER TABLE workon.payments ALTER COLUMN space_id SET NOT NULL;
ALTER TABLE workon.refunds ALTER COLUMN space_id SET NOT NULL;

COMMENT ON COLUMN workon.payments.space_id IS 'the space of the booking (the key that would distribute the payment with it)';
COMMENT ON COLUMN workon.refunds.space_id IS 'the space of the booking (the key that would distribute the refund with it)';

GRANT SELECT (space_id) ON workon.payments TO workon_member, workon_host, workon_admin;

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
