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
	after		jsonb,
	changed		text[]
);

COMMENT ON TABLE workon.audit_log IS
'State changes: who (actor_id, the authenticated user; NULL for SQL callers without a token), what (action, entity, entity_id) and the row before and after (secrets left out)';

COMMENT ON COLUMN workon.audit_log.changed IS
'The names of the columns the change set or changed (updated_at aside), secrets included by name only';

CREATE INDEX audit_log_at_idx ON workon.audit_log (at DESC, id DESC);

CREATE FUNCTION workon.audit_log_append_only()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
	IF NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles AS r WHERE r.rolname = SESSION_USER) THEN
		RAISE EXCEPTION 'the audit log is append-only'
			USING ERRCODE = 'insufficient_privilege';
	END IF;
	RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END
$$;

COMMENT ON FUNCTION workon.audit_log_append_only() IS
'Trigger: audit rows are never changed or deleted, whatever function runs (a superuser''s own session excepted: a DBA keeps the log''s retention)';

CREATE TRIGGER audit_log_append_only
	BEFORE UPDATE OR DELETE ON workon.audit_log
	FOR EACH ROW EXECUTE FUNCTION workon.audit_log_append_only();

ALTER TABLE workon.audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE workon.audit_log FORCE ROW LEVEL SECURITY;

CREATE FUNCTION workon.audit_row()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_old		jsonb;
	v_new		jsonb;
	v_hidden	text[] := TG_ARGV || ARRAY['updated_at'];
	v_changed	text[];
	v_row		jsonb;
BEGIN
	IF TG_OP <> 'INSERT' THEN
		v_old := pg_catalog.to_jsonb(OLD) - 'updated_at';
	END IF;
	IF TG_OP <> 'DELETE' THEN
		v_new := pg_catalog.to_jsonb(NEW) - 'updated_at';
	END IF;
	-- what changed, secrets by name: every column an insert sets or a
	-- delete removes, the columns an update changes (an update of secrets
	-- alone, such as a rehash of a password, is not logged)
	SELECT pg_catalog.array_agg(k.key ORDER BY k.key) INTO v_changed
	  FROM pg_catalog.jsonb_object_keys(COALESCE(v_new, v_old)) AS k(key)
	 WHERE (v_old -> k.key) IS DISTINCT FROM (v_new -> k.key)
	   AND (TG_OP = 'UPDATE' OR COALESCE(v_new, v_old) -> k.key <> 'null');
	IF TG_OP = 'UPDATE' AND (v_changed IS NULL OR v_changed <@ TG_ARGV) THEN
		RETURN NULL;			-- nothing an auditor may see changed
	END IF;

	v_row := COALESCE(v_new, v_old) - v_hidden;
	INSERT INTO workon.audit_log (actor_id, action, entity, entity_id, before, after, changed)
	VALUES (workon.current_user_id(), pg_catalog.lower(TG_OP), TG_TABLE_NAME,
			COALESCE(v_row ->> 'id', v_row ->> 'kid', v_row ->> 'name'),
			v_old - v_hidden, v_new - v_hidden, v_changed);
	RETURN NULL;
END
$$;

COMMENT ON FUNCTION workon.audit_row() IS
'Trigger: writes the change to workon.audit_log with the names of the columns it set or changed (changed); trigger arguments name columns whose values are left out (secrets: named in changed when something else changed too); updates that change only those and updated_at are not logged';

-- pg_dump: the log is data
SELECT pg_catalog.pg_extension_config_dump('workon.audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('workon.audit_log_id_seq', '');
