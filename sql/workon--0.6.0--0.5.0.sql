/* sql/workon--0.6.0--0.5.0.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION workon UPDATE TO '0.5.0'" to load this file. \quit

--
-- Back to 0.5.0: each concern appends the reverse of its 0.6.0 change.
--

-- the front end's view of the keys and its NOTIFY
DROP TRIGGER jwt_keys_notify ON workon.jwt_keys;
DROP FUNCTION workon.jwt_keys_notify();
DROP FUNCTION workon.jwt_verification_keys();
