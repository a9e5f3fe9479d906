--
-- Passwords: scrypt hashes, verification, rehash need, the password rules
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS workon CASCADE;
RESET client_min_messages;

-- one hash with the default parameters, OWASP's (N = 2^17, r = 8: 128 MiB)
SELECT workon.password_hash('correct horse battery staple') AS h \gset
SHOW workon.scrypt_log_n;
SHOW workon.scrypt_r;
SHOW workon.scrypt_p;
SELECT :'h' ~ '^\$scrypt\$ln=17,r=8,p=1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$' AS default_format;
SELECT workon.password_verify('correct horse battery staple', :'h') AS verifies,
       workon.password_needs_rehash(:'h') AS needs_rehash;

-- the rest runs with cheap parameters
SET workon.scrypt_log_n = 10;
SELECT workon.password_hash('correct horse battery staple') AS h \gset
SELECT :'h' ~ '^\$scrypt\$ln=10,r=8,p=1\$' AS lowered_format;
-- salted: two hashes of one password differ
SELECT workon.password_hash('x') <> workon.password_hash('x') AS salted;
SELECT workon.password_verify('correct horse battery staple', :'h') AS right_password,
       workon.password_verify('Correct horse battery staple', :'h') AS other_case,
       workon.password_verify('', :'h') AS empty,
       workon.password_verify(NULL, :'h') AS null_password,
       workon.password_verify('correct horse battery staple', NULL) AS no_stored_hash;

-- RFC 7914's second test vector (P = "pleaseletmein", S = "SodiumChloride",
-- N = 16384, r = 8, p = 1; the first 32 bytes of its output)
SELECT workon.password_verify('pleaseletmein',
  '$scrypt$ln=14,r=8,p=1$U29kaXVtQ2hsb3JpZGU$cCO9yzr9c0hGHAbNgf046_2o-7qQT44-qbVD9lRdofI') AS rfc7914,
       workon.password_verify('pleaseletmeim',
  '$scrypt$ln=14,r=8,p=1$U29kaXVtQ2hsb3JpZGU$cCO9yzr9c0hGHAbNgf046_2o-7qQT44-qbVD9lRdofI') AS one_letter_off;

-- rehash need: anything below the current parameters
SELECT p AS stored, workon.password_needs_rehash(p) AS needs_rehash
  FROM (VALUES ('$scrypt$ln=9,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'),
               ('$scrypt$ln=10,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'),
               ('$scrypt$ln=11,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'),
               ('$scrypt$ln=10,r=4,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'),
               ('$scrypt$ln=10,r=8,p=2$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'),
               ('$2b$12$abcdefghijklmnopqrstuv'),
               ('')) AS v(p);
SET workon.scrypt_log_n = 11;
SELECT workon.password_needs_rehash(:'h') AS after_raising_n;
RESET workon.scrypt_log_n;
SET workon.scrypt_log_n = 10;

-- unreadable stored hashes never verify
SELECT p AS stored, workon.password_verify('x', p) AS verifies
  FROM (VALUES ('$scrypt$ln=10,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAA'),
               ('$scrypt$ln=10,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA='),
               ('$scrypt$ln=25,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'),
               ('$scrypt$ln=010,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'),
               ('$scrypt$r=8,ln=10,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'),
               ('plain text')) AS v(p);

-- only a superuser changes the cost
CREATE ROLE regress_pw_user;
SET ROLE regress_pw_user;
SET workon.scrypt_log_n = 4;
RESET ROLE;
DROP ROLE regress_pw_user;

--
-- The rules
--
SELECT workon.password_check('correct horse battery staple', 'ana@example.com');
SELECT workon.password_check('12345678');
SELECT workon.password_check('PassWord1');
SELECT workon.password_check('QWERTYUIOP');
SELECT workon.password_check('iloveyou');
SELECT workon.password_check('letmein1');
SELECT workon.password_check('short');
SELECT workon.password_check('seven77');
-- characters, not bytes: 8 two-byte characters are enough, 7 are not
SELECT workon.password_check('ääääääää');
SELECT workon.password_check('äääääää');
SELECT workon.password_check(repeat('ä', 128));
SELECT workon.password_check(repeat('a', 129));
SELECT workon.password_check('Ana@Example.com', 'ana@example.com');
SELECT workon.password_check(NULL, 'ana@example.com');
-- the field is named
\set VERBOSITY verbose
SELECT workon.password_check('password');
\set VERBOSITY default
