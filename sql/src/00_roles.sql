/* sql/src/00_roles.sql -- the API roles, the front end's login role and the schema */

--
-- Roles
--
-- Roles belong to the cluster, not to a database: create them only if
-- they are missing, so that a second database can install workon too.
-- workon_authenticator is the login role of the HTTP front end; it holds
-- no privileges of its own besides calling workon.dispatch(), which
-- switches it to one of the four API roles for each request.
--
DO $roles$
DECLARE
	r text;
BEGIN
	FOREACH r IN ARRAY ARRAY['workon_anon', 'workon_member', 'workon_host',
							 'workon_admin', 'workon_authenticator']
	LOOP
		IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = r) THEN
			BEGIN
				IF r = 'workon_authenticator' THEN
					EXECUTE pg_catalog.format('CREATE ROLE %I LOGIN NOINHERIT', r);
				ELSE
					EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', r);
				END IF;
			EXCEPTION WHEN duplicate_object THEN
				NULL;			-- created concurrently by another database
			END;
		END IF;
	END LOOP;

	FOREACH r IN ARRAY ARRAY['workon_anon', 'workon_member', 'workon_host',
							 'workon_admin']
	LOOP
		IF NOT EXISTS (SELECT
					   FROM pg_catalog.pg_auth_members m
					   WHERE m.roleid = pg_catalog.to_regrole(r)
						 AND m.member = pg_catalog.to_regrole('workon_authenticator'))
		THEN
			EXECUTE pg_catalog.format('GRANT %I TO workon_authenticator', r);
		END IF;
	END LOOP;
END
$roles$;

--
-- The schema: usable by the API roles and the login role only.  Each file
-- grants what its objects need, role by role; no function is executable
-- by PUBLIC (99_finish.sql takes that away from every function at the end).
--
REVOKE ALL ON SCHEMA workon FROM PUBLIC;
GRANT USAGE ON SCHEMA workon
	TO workon_anon, workon_member, workon_host, workon_admin, workon_authenticator;

--
-- Request parameters stay out of the server log
--
-- The front end passes each request's body (a password at login), its
-- bearer token and, at start, the secrets it seeds (JWT_SECRET and the
-- like) as parameters of its statements.  With log_min_duration_statement
-- or log_statement on, PostgreSQL writes a statement's parameters into its
-- log ("DETAIL: parameters: $1 = ..."), and after an error too when
-- log_parameter_max_length_on_error is set.  Its login role never has them
-- logged; the statements are still logged, with their $n placeholders.  A
-- DBA who needs the values for a while can ALTER ROLE workon_authenticator
-- RESET them.  Role settings belong to the cluster, like the role: a second
-- database's install sets the same values again.
--
ALTER ROLE workon_authenticator SET log_parameter_max_length = 0;
ALTER ROLE workon_authenticator SET log_parameter_max_length_on_error = 0;
