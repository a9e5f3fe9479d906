/* sql/src/04_audit.sql -- the audit log, written by the database itself */

--
-- The audit log: each audited table has an AFTER trigger calling
-- workon.audit_row(), defined with its table
--
CREATE TABLE workon.audit_log (
	id			bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at			timestamptz NOT NULL DEFAULT pg_catalog.now(),
	actor_id	uuid,
	action		text NOT NULL,
	entity		text NOT NULL,
	entity_id	text,
	before		jsonb,
	after		jsonb
);

COMMENT ON TABLE workon.audit_log IS
'State changes: who (actor_id, the authenticated user; NULL for SQL callers without a token), what (action, entity, entity_id) and the row before and after (secrets left out)';

CREATE INDEX audit_log_at_idx ON workon.audit_log (at DESC, id DESC);

ALTER TABLE workon.audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE workon.audit_log FORCE ROW LEVEL SECURITY;

CREATE FUNCTION workon.audit_row()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_before	jsonb;
	v_after		jsonb;
	v_hidden	text[] := TG_ARGV || ARRAY['updated_at'];
BEGIN
	IF TG_OP <> 'INSERT' THEN
		v_before := pg_catalog.to_jsonb(OLD) - v_hidden;
	END IF;
	IF TG_OP <> 'DELETE' THEN
		v_after := pg_catalog.to_jsonb(NEW) - v_hidden;
	END IF;
	IF TG_OP = 'UPDATE' AND v_before = v_after THEN
		RETURN NULL;			-- nothing an auditor sees changed
	END IF;

	INSERT INTO workon.audit_log (actor_id, action, entity, entity_id, before, after)
	VALUES (workon.current_user_id(), pg_catalog.lower(TG_OP), TG_TABLE_NAME,
			COALESCE(v_after, v_before) ->> 'id', v_before, v_after);
	RETURN NULL;
END
$$;

COMMENT ON FUNCTION workon.audit_row() IS
'Trigger: writes the change to workon.audit_log; trigger arguments name columns left out (secrets); updates that change only those and updated_at are not logged';

-- pg_dump: the log is data
SELECT pg_catalog.pg_extension_config_dump('workon.audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('workon.audit_log_id_seq', '');
