/* sql/workon--0.6.0--0.5.0.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION workon UPDATE TO '0.5.0'" to load this file. \quit

--
-- Going back from 0.6.0 to 0.5.0: each concern appends the reverse of what
-- it added; where going back would lose data, it refuses instead.
--

--
-- The admin's view (sql/src/60_stats.sql, sql/src/61_admin.sql): routes,
-- functions, indexes and the audit triggers of the tables 0.5.0 did not
-- audit go; the audit rows stay, and so does their column "changed" (the
-- 0.5.0 trigger function leaves it NULL; going forward again keeps it)
--
DELETE FROM workon.routes
 WHERE (method, path) IN (('GET', '/api/v1/admin/stats'), ('GET', '/api/v1/host/stats'),
						  ('GET', '/api/v1/admin/audit'), ('GET', '/api/v1/admin/users'),
						  ('GET', '/api/v1/admin/users/{id}'));
DROP FUNCTION workon.admin_stats(text, text, uuid, text, text);
DROP FUNCTION workon.host_stats(text, text, uuid, text, text);
DROP FUNCTION workon.stats_answer(text, text, uuid, text, uuid, text);
DROP FUNCTION workon.require_admin();
DROP FUNCTION workon.booking_counts(text[]);
DROP FUNCTION workon.jsonb_compact(jsonb);
DROP FUNCTION workon.stats_csv(jsonb);
DROP FUNCTION workon.csv_field(text);
DROP FUNCTION workon.stats_report(text, text, uuid, text, uuid);
DROP FUNCTION workon.stats_bound(text, text, boolean);
DROP FUNCTION workon.space_occupancy(text, jsonb, date, date, timestamptz[], timestamptz[]);
DROP FUNCTION workon.admin_audit(uuid, text, text, text, timestamptz, timestamptz, integer, text);
DROP FUNCTION workon.audit_json(workon.audit_log);
DROP FUNCTION workon.audit_cursor_id(bigint);
DROP FUNCTION workon.audit_cursor_row(uuid);
DROP FUNCTION workon.admin_user_get(uuid);
DROP FUNCTION workon.admin_users_list(text, text, integer, text);
DROP FUNCTION workon.admin_user_json(workon.users);
DROP INDEX workon.bookings_ends_at_idx;
DROP INDEX workon.payments_succeeded_at_idx;
DROP INDEX workon.refunds_settled_at_idx;
DROP INDEX workon.users_created_at_idx;
DROP INDEX workon.users_created_at_id_idx;
DROP INDEX workon.audit_log_entity_id_idx;
DROP INDEX workon.audit_log_actor_id_idx;
DROP INDEX workon.audit_log_entity_idx;
DROP TRIGGER refresh_tokens_audit ON workon.refresh_tokens;
DROP TRIGGER account_tokens_audit ON workon.account_tokens;
DROP TRIGGER outbox_audit ON workon.outbox;
DROP TRIGGER stripe_events_audit ON workon.stripe_events;
DROP TRIGGER secrets_audit ON workon.secrets;
DROP TRIGGER jwt_keys_audit ON workon.jwt_keys;
DROP TRIGGER signed_url_keys_audit ON workon.signed_url_keys;
DROP TRIGGER stripe_webhook_secrets_audit ON workon.stripe_webhook_secrets;

-- the 0.5.0 trigger function
CREATE OR REPLACE FUNCTION workon.audit_row()
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

--
-- 13_browser_sessions: the browser session routes (their refresh tokens are
-- ordinary refresh tokens and stay valid for the bearer routes)
DELETE FROM workon.routes WHERE path IN ('/api/v1/auth/session/register', '/api/v1/auth/session/login',
										  '/api/v1/auth/session/refresh', '/api/v1/auth/session/logout');
DROP FUNCTION workon.auth_session_register(text, text, text, text, jsonb);
DROP FUNCTION workon.auth_session_login(text, text, jsonb);
DROP FUNCTION workon.auth_session_refresh(jsonb);
DROP FUNCTION workon.auth_session_logout(jsonb);
DROP FUNCTION workon.session_browser(json, jsonb);
DROP FUNCTION workon.session_cookie_token(jsonb);
DROP FUNCTION workon.session_cookie(text, jsonb);

--
-- 33_outbox_admin: the admins' outbox routes (the calls themselves stay)
DELETE FROM workon.routes WHERE (method, path) IN (('GET', '/api/v1/admin/outbox'), ('POST', '/api/v1/admin/outbox/{id}/retry'));
DELETE FROM workon.errors WHERE sqlstate = 'WOQ01';
DROP FUNCTION workon.admin_outbox_retry(bigint);
DROP FUNCTION workon.admin_outbox_list(text, text, integer, text);
DROP FUNCTION workon.outbox_row_json(workon.outbox);
