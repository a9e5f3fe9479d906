/* sql/src/10_users.sql -- people: accounts, passwords, roles, /me */

--
-- Users
--
CREATE TABLE workon.users (
	id			uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
	email		text NOT NULL
				CONSTRAINT users_email_check
				CHECK (email ~ '^[^@[:space:]]+@[^@[:space:]]+$'),
	name		text NOT NULL
				CONSTRAINT users_name_check
				CHECK (pg_catalog.btrim(name) <> ''),
	role		text NOT NULL DEFAULT 'member'
				CONSTRAINT users_role_check
				CHECK (role IN ('member', 'host', 'admin')),
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	password_hash text,
	disabled	boolean NOT NULL DEFAULT false,
	locale		text
				CONSTRAINT users_locale_check CHECK (locale IN ('fr', 'en')),
	email_verified_at timestamptz
);

COMMENT ON TABLE workon.users IS
'People using workon; role is member, host or admin';

COMMENT ON COLUMN workon.users.disabled IS
'A disabled user cannot log in, refresh or use an access token (401 invalid_token on the next request)';

COMMENT ON COLUMN workon.users.password_hash IS
'scrypt hash of the password (see workon.password_hash()); NULL: the user cannot log in with a password';

COMMENT ON COLUMN workon.users.locale IS
'Language of the user''s e-mails (fr, en); NULL: workon.default_locale';

COMMENT ON COLUMN workon.users.email_verified_at IS
'When the user proved the address is theirs (a verification or password reset link); NULL: not verified';

CREATE UNIQUE INDEX users_email_key ON workon.users (pg_catalog.lower(email));

CREATE TRIGGER users_set_updated_at
	BEFORE UPDATE ON workon.users
	FOR EACH ROW EXECUTE FUNCTION workon.set_updated_at();

CREATE FUNCTION workon.users_changed()
RETURNS trigger
AS 'MODULE_PATHNAME', 'users_changed'
LANGUAGE C;

COMMENT ON FUNCTION workon.users_changed() IS
'Trigger: a change of users'' roles or states (or a deletion) reaches every session''s cache of them (extension/users.c) when it commits, so that a token acts with its user''s current role from the next request on, and not at all once the user is disabled or deleted';

CREATE TRIGGER users_changed
	AFTER UPDATE OF role, disabled OR DELETE ON workon.users
	FOR EACH STATEMENT EXECUTE FUNCTION workon.users_changed();

ALTER TABLE workon.users ENABLE ROW LEVEL SECURITY;
ALTER TABLE workon.users FORCE ROW LEVEL SECURITY;

-- A user sees their own row; admins see everyone.
CREATE POLICY users_self_or_admin ON workon.users
	USING (id = workon.current_user_id()
		   OR workon.current_role() = 'admin');

-- password hashes never reach the API roles; admins change roles
GRANT SELECT (id, email, name, role, created_at, updated_at, disabled, locale, email_verified_at) ON workon.users
	TO workon_member, workon_host, workon_admin;
GRANT UPDATE (role, disabled) ON workon.users TO workon_admin;

CREATE TRIGGER users_audit
	AFTER INSERT OR UPDATE OR DELETE ON workon.users
	FOR EACH ROW WHEN (NOT workon.restoring('workon.users'))
	EXECUTE FUNCTION workon.audit_row('password_hash');

--
-- Passwords (extension/password.c)
--
CREATE FUNCTION workon.password_hash(password text)
RETURNS text
AS 'MODULE_PATHNAME', 'password_hash'
LANGUAGE C VOLATILE STRICT;

COMMENT ON FUNCTION workon.password_hash(text) IS
'New stored hash of a password: $scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt>$<hash> (unpadded base64url), with the parameters of workon.scrypt_log_n, workon.scrypt_r and workon.scrypt_p and a random salt';

-- not strict: a NULL stored hash costs the same work as a real one
CREATE FUNCTION workon.password_verify(password text, stored text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'password_verify'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION workon.password_verify(text, text) IS
'True if the password matches the stored hash (constant-time comparison); a NULL or unreadable stored hash takes the same time and is false';

CREATE FUNCTION workon.password_needs_rehash(stored text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'password_needs_rehash'
LANGUAGE C STABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION workon.password_needs_rehash(text) IS
'True if the stored hash was made with scrypt parameters below the current settings (or is unreadable)';

-- not strict: a NULL password is an error, a NULL email skips that rule
CREATE FUNCTION workon.password_check(password text, email text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'password_check'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION workon.password_check(text, text) IS
'The password rules: 8 to 128 characters, not a common password, not the email address; error 22023 with field "password" otherwise';

--
-- The API representation, validation, creation
--
CREATE FUNCTION workon.user_json(user_id uuid)
RETURNS json
LANGUAGE sql STABLE
AS $$
	SELECT workon.json_build(
		'id', u.id,
		'email', u.email,
		'name', u.name,
		'role', u.role,
		'email_verified', u.email_verified_at IS NOT NULL,
		-- workon.default_locale, whose default is en (a session that has not
		-- loaded the module yet knows the setting only when it was set)
		'locale', COALESCE(u.locale, pg_catalog.current_setting('workon.default_locale', true), 'en'),
		'created_at', u.created_at,
		'updated_at', u.updated_at)
	  FROM workon.users AS u
	 WHERE u.id = $1
$$;

COMMENT ON FUNCTION workon.user_json(uuid) IS
'The API representation of a user, {"id","email","name","role","email_verified","locale","created_at","updated_at"} (locale: the language of their e-mails, workon.default_locale unless they chose one); NULL if the caller may not see the user';

CREATE FUNCTION workon.check_email(email text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
	v_email		text := pg_catalog.btrim(check_email.email);
BEGIN
	IF v_email IS NULL OR v_email = '' THEN
		RAISE EXCEPTION 'email is required'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'email';
	END IF;
	-- characters that show as nothing or as a blank, or turn the text around: control
	-- (Cc), format (Cf: zero widths, joiners, bidirectional controls, BOM, tags),
	-- separators and other spaces, fillers and variation selectors; an address with
	-- one would look like another account's
	IF v_email ~ ('[\u0001-\u001F\u007F-\u00A0\u00AD\u034F\u0600-\u0605\u061C\u06DD\u070F\u08E2'
				  '\u115F\u1160\u1680\u17B4\u17B5\u180B-\u180F\u2000-\u200F\u2028-\u202F\u205F-\u206F'
				  '\u2800\u3000\u3164\uFE00-\uFE0F\uFEFF\uFFA0\uFFF0-\uFFFB'
				  '\U000110BD\U000110CD\U00013430-\U0001343F\U0001BCA0-\U0001BCA3'
				  '\U0001D173-\U0001D17A\U000E0000-\U000E0FFF]') THEN
		RAISE EXCEPTION 'email must not contain invisible, control or bidirectional characters'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'email';
	END IF;
	IF pg_catalog.length(v_email) > 254
	   OR v_email !~ '^[^@[:space:][:cntrl:]]+@[^@[:space:][:cntrl:].]+(\.[^@[:space:][:cntrl:].]+)+$' THEN
		RAISE EXCEPTION 'email is not a valid address'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'email';
	END IF;
	RETURN v_email;
END
$$;

COMMENT ON FUNCTION workon.check_email(text) IS
'The email address without surrounding blanks if it looks like one (local@domain.tld, at most 254 characters, no invisible, control or bidirectional characters); error 22023 with field "email" otherwise';

CREATE FUNCTION workon.create_user(email text, password text, name text,
								   role text DEFAULT 'member')
RETURNS uuid
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_email		text := workon.check_email(create_user.email);
	v_name		text := pg_catalog.btrim(create_user.name);
	v_id		uuid;
BEGIN
	IF v_name IS NULL OR v_name = '' THEN
		RAISE EXCEPTION 'name is required'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'name';
	END IF;
	IF pg_catalog.length(v_name) > 200 THEN
		RAISE EXCEPTION 'name must be at most 200 characters'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'name';
	END IF;
	IF create_user.role IS NULL OR create_user.role NOT IN ('member', 'host', 'admin') THEN
		RAISE EXCEPTION 'role must be member, host or admin'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'role';
	END IF;
	PERFORM workon.password_check(create_user.password, v_email);

	IF EXISTS (SELECT FROM workon.users AS u
				WHERE pg_catalog.lower(u.email) = pg_catalog.lower(v_email)) THEN
		RAISE EXCEPTION 'email is already registered'
			USING ERRCODE = 'WOC01', COLUMN = 'email';
	END IF;

	BEGIN
		INSERT INTO workon.users (email, name, role, password_hash)
		VALUES (v_email, v_name, create_user.role,
				workon.password_hash(create_user.password))
		RETURNING id INTO v_id;
	EXCEPTION WHEN unique_violation THEN
		RAISE EXCEPTION 'email is already registered'
			USING ERRCODE = 'WOC01', COLUMN = 'email';
	END;

	RETURN v_id;
END
$$;

COMMENT ON FUNCTION workon.create_user(text, text, text, text) IS
'Creates a user of any role (member, host, admin) with a password, for DBAs: SELECT workon.create_user(''ana@example.com'', ''a long passphrase'', ''Ana'', ''admin''); email, name, password and role are validated (22023 naming the field), a taken email (case-insensitive) is WOC01 email_taken';

CREATE FUNCTION workon.ensure_admin(email text, password text)
RETURNS uuid
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_id		uuid;
BEGIN
	SELECT u.id INTO v_id
	  FROM workon.users AS u
	 WHERE pg_catalog.lower(u.email) = pg_catalog.lower(pg_catalog.btrim(ensure_admin.email));
	IF FOUND THEN
		RETURN v_id;			-- never touches an existing user
	END IF;

	BEGIN
		RETURN workon.create_user(ensure_admin.email, ensure_admin.password,
								  'Administrator', 'admin');
	EXCEPTION WHEN SQLSTATE 'WOC01' THEN
		-- created concurrently (two front ends starting at once)
		SELECT u.id INTO v_id
		  FROM workon.users AS u
		 WHERE pg_catalog.lower(u.email) = pg_catalog.lower(pg_catalog.btrim(ensure_admin.email));
		RETURN v_id;
	END;
END
$$;

COMMENT ON FUNCTION workon.ensure_admin(text, text) IS
'The first admin (ADMIN_EMAIL, ADMIN_PASSWORD at start): creates an admin with that email if no user has it, and otherwise changes nothing (neither password nor role); returns the user''s id';

--
-- Route handlers: users
--
CREATE FUNCTION workon.me()
RETURNS json
LANGUAGE plpgsql STABLE
AS $$
DECLARE
	v_user		json := workon.user_json(workon.current_user_id());
BEGIN
	IF v_user IS NULL THEN
		RAISE EXCEPTION 'user not found'
			USING ERRCODE = 'no_data_found';
	END IF;
	RETURN v_user;
END
$$;

COMMENT ON FUNCTION workon.me() IS
'GET /api/v1/me: the authenticated user';

CREATE FUNCTION workon.admin_user_update(id uuid, role text DEFAULT NULL, disabled boolean DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
	v_id		uuid;
	v_disabled	boolean;
BEGIN
	IF admin_user_update.role IS NULL AND admin_user_update.disabled IS NULL
	   OR admin_user_update.role NOT IN ('member', 'host', 'admin') THEN
		RAISE EXCEPTION 'role must be member, host or admin'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'role';
	END IF;
	IF admin_user_update.disabled AND admin_user_update.id = workon.current_user_id() THEN
		RAISE EXCEPTION 'an admin cannot disable their own account'
			USING ERRCODE = 'invalid_parameter_value', COLUMN = 'disabled';
	END IF;

	UPDATE workon.users AS u
	   SET role = COALESCE(admin_user_update.role, u.role),
		   disabled = COALESCE(admin_user_update.disabled, u.disabled)
	 WHERE u.id = admin_user_update.id
	RETURNING u.id, u.disabled INTO v_id, v_disabled;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'user not found'
			USING ERRCODE = 'no_data_found';
	END IF;

	-- the user object with one member more, compact like every answer
	RETURN workon.json_trusted(pg_catalog.rtrim(workon.user_json(v_id)::text, '}')
							   || ',"disabled":' || v_disabled::text || '}');
END
$$;

COMMENT ON FUNCTION workon.admin_user_update(uuid, text, boolean) IS
'PATCH /api/v1/admin/users/{id} {role, disabled} (admins only; audited): changes a user''s role and/or disables or enables the account (not one''s own); the user''s next request acts with the new role, and a disabled user''s tokens, login and refresh are refused at once. Returns the user with disabled';

--
-- Routes, errors, privileges
--
INSERT INTO workon.routes (method, path, handler, auth, status, body, read_only, summary) VALUES
	('GET', '/api/v1/me', 'workon.me()',
	 'member', 200, 'none', true, 'The authenticated user'),
	('PATCH', '/api/v1/admin/users/{id}', 'workon.admin_user_update(uuid,text,boolean)',
	 'admin', 200, 'json', false, 'Change a user''s role, disable or enable the account');

INSERT INTO workon.route_schemas (method, path, schemas) VALUES
	('PATCH', '/api/v1/admin/users/{id}', '{
		"body": {"type": "object", "additionalProperties": false, "properties": {"role": {"$ref": "#/components/schemas/Role"}, "disabled": {"type": "boolean"}}},
		"responses": {"200": {"$ref": "#/components/schemas/AdminUser"}}}');


INSERT INTO workon.route_schemas (method, path, schemas) VALUES
	('GET', '/api/v1/me', '{"responses": {"200": {"$ref": "#/components/schemas/User"}}}');

INSERT INTO workon.errors (sqlstate, status, code) VALUES
	('WOC01', 409, 'email_taken');

-- the front end makes the first admin at start
GRANT EXECUTE ON FUNCTION workon.ensure_admin(text, text)
	TO workon_authenticator;

GRANT EXECUTE ON FUNCTION
	workon.me(),
	workon.user_json(uuid)
	TO workon_member, workon_host, workon_admin;
GRANT EXECUTE ON FUNCTION workon.admin_user_update(uuid, text, boolean)
	TO workon_admin;

-- pg_dump: users are data
SELECT pg_catalog.pg_extension_config_dump('workon.users', '');

