ALTER TABLE workon.users
	ADD COLUMN locale text
		CONSTRAINT users_locale_check CHECK (locale IN ('fr', 'en')),
	ADD COLUMN email_verified_at timestamptz;

COMMENT ON COLUMN workon.users.locale IS
'Language of the user''s e-mails (fr, en); NULL: workon.default_locale';

COMMENT ON COLUMN workon.users.email_verified_at IS
'When the user proved the address is theirs (a verification or password reset link); NULL: not verified';
