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

ALTER TABLE workon.payments ALTER COLUMN space_id SET NOT NULL;
ALTER TABLE workon.refunds ALTER COLUMN space_id SET NOT NULL;

COMMENT ON COLUMN workon.payments.space_id IS 'the space of the booking (the key that would distribute the payment with it)';
COMMENT ON COLUMN workon.refunds.space_id IS 'the space of the booking (the key that would distribute the refund with it)';

GRANT SELECT (space_id) ON workon.payments TO workon_member, workon_host, workon_admin;
