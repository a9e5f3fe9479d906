/* sql/workon--0.4.0--0.4.1.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION workon UPDATE TO '0.4.1'" to load this file. \quit

--
-- ==== 0.4.1: request parameters stay out of the server log ====
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

-- ==== end of 0.4.1 ====
