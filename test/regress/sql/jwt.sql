--
-- JSON Web Tokens: signing, verifying, and every way a token can be wrong
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS workon CASCADE;
RESET client_min_messages;

-- unpadded base64url of text, and a token put together by hand
CREATE FUNCTION pg_temp.b64(t text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
	SELECT translate(encode(convert_to(t, 'UTF8'), 'base64'), E'+/=\n', '-_')
$$;
CREATE FUNCTION pg_temp.b64b(b bytea) RETURNS text LANGUAGE sql IMMUTABLE AS $$
	SELECT translate(encode(b, 'base64'), E'+/=\n', '-_')
$$;
CREATE FUNCTION pg_temp.unb64(t text) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
	SELECT convert_from(decode(rpad(translate(t, '-_', '+/'), (length(t) + 3) / 4 * 4, '='), 'base64'), 'UTF8')::jsonb
$$;
CREATE FUNCTION pg_temp.hs_token(header text, payload text, key bytea) RETURNS text
LANGUAGE sql AS $$
	SELECT s || '.' || pg_temp.b64b(workon.hmac_sha256(key, convert_to(s, 'UTF8')))
	  FROM (SELECT pg_temp.b64(header) || '.' || pg_temp.b64(payload) AS s) x
$$;
-- verify, showing the error as the front end sees it
CREATE FUNCTION pg_temp.check(token text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	st text;
	msg text;
BEGIN
	PERFORM workon.jwt_verify(token);
	RETURN 'valid';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
	RETURN st || ' ' || msg;
END
$$;

--
-- RFC 7515 appendix A.1: HS256 (its exp has passed, so the signature alone)
--
SELECT workon.jwt_verify_signature(
  'eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk',
  'HS256',
  '\x0323354b2b0fa5bc837e0665777ba68f5ab328e6f054c928a90f84b2d2502ebfd3fb5a92d20647ef968ab4c377623d223d2e2172052e4f08c0cd9af567d080a3') AS rfc7515_a1,
       workon.jwt_verify_signature(
  'eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk',
  'HS256',
  '\x1323354b2b0fa5bc837e0665777ba68f5ab328e6f054c928a90f84b2d2502ebfd3fb5a92d20647ef968ab4c377623d223d2e2172052e4f08c0cd9af567d080a3') AS other_key;
-- RFC 4231 test case 2 ("Jefe"): the HMAC itself
SELECT encode(workon.hmac_sha256('Jefe', 'what do ya want for nothing?'), 'hex') AS rfc4231_2;

--
-- Keys: one HS256, one ES256
--
INSERT INTO workon.jwt_keys (kid, alg, secret, activated_at) VALUES
	('regress-hs', 'HS256', convert_to(repeat('k', 40), 'UTF8'), now() - interval '1 minute'),
	('regress-es', 'ES256', workon.jwt_generate_key('ES256'), now() - interval '2 minutes');
SELECT secret AS hs_key FROM workon.jwt_keys WHERE kid = 'regress-hs' \gset
SELECT secret AS es_key FROM workon.jwt_keys WHERE kid = 'regress-es' \gset

-- round trips
SELECT workon.jwt_claims('5b1f4e2c-8f8a-4d8e-9d1c-0a0b0c0d0e0f', 'member') AS claims \gset
SELECT workon.jwt_sign(:'claims', 'HS256', 'regress-hs', :'hs_key') AS hs_token \gset
SELECT workon.jwt_sign(:'claims', 'ES256', 'regress-es', :'es_key') AS es_token \gset
SELECT workon.jwt_verify(:'hs_token') = :'claims'::jsonb AS hs_round_trip,
       workon.jwt_verify(:'es_token') = :'claims'::jsonb AS es_round_trip;
SELECT pg_temp.unb64(split_part(:'hs_token', '.', 1)) AS hs_header;
SELECT pg_temp.unb64(split_part(:'es_token', '.', 1)) AS es_header;
-- claims: every one there, the lifetime is workon.jwt_access_ttl
SELECT array(SELECT jsonb_object_keys(:'claims'::jsonb) ORDER BY 1) AS claim_names,
       (:'claims'::jsonb->>'exp')::bigint - (:'claims'::jsonb->>'iat')::bigint AS lifetime,
       :'claims'::jsonb->>'iss' AS iss, :'claims'::jsonb->>'aud' AS aud,
       abs((:'claims'::jsonb->>'iat')::bigint - extract(epoch FROM clock_timestamp())) < 5 AS iat_is_now;
-- ES256 signatures are r || s (64 bytes), and randomized
SELECT length(split_part(:'es_token', '.', 3)) AS es_sig_chars,
       workon.jwt_sign(:'claims', 'ES256', 'regress-es', :'es_key') <> :'es_token' AS es_randomized,
       workon.jwt_sign(:'claims', 'HS256', 'regress-hs', :'hs_key') = :'hs_token' AS hs_deterministic;
SELECT workon.jwt_public_key_pem(:'es_key') ~ '^-----BEGIN PUBLIC KEY-----' AS es_public_pem;

--
-- Hostile tokens: each refused with 28000 and the check that failed
--
SELECT floor(extract(epoch FROM now()))::bigint AS now, floor(extract(epoch FROM now()))::bigint + 600 AS exp \gset
\set good_claims '{"sub":"5b1f4e2c-8f8a-4d8e-9d1c-0a0b0c0d0e0f","role":"member","iss":"workon","aud":"workon-api","exp":' :exp '}'
SELECT name, pg_temp.check(token) AS result
  FROM (VALUES
	('control: hand-made token',
	 pg_temp.hs_token('{"alg":"HS256","typ":"JWT","kid":"regress-hs"}', :'good_claims', :'hs_key')),
	('alg none',
	 pg_temp.b64('{"alg":"none","kid":"regress-hs"}') || '.' || pg_temp.b64(:'good_claims') || '.'),
	('alg none with a signature',
	 pg_temp.b64('{"alg":"none","kid":"regress-hs"}') || '.' || pg_temp.b64(:'good_claims') || '.AAAA'),
	('alg NONE',
	 pg_temp.hs_token('{"alg":"NONE","kid":"regress-hs"}', :'good_claims', :'hs_key')),
	('alg HS512',
	 pg_temp.hs_token('{"alg":"HS512","kid":"regress-hs"}', :'good_claims', :'hs_key')),
	('alg hs256 (case)',
	 pg_temp.hs_token('{"alg":"hs256","kid":"regress-hs"}', :'good_claims', :'hs_key')),
	('HS256 on the ES256 key (public key as HMAC secret)',
	 pg_temp.hs_token('{"alg":"HS256","kid":"regress-es"}', :'good_claims',
					  convert_to(workon.jwt_public_key_pem(:'es_key'), 'UTF8'))),
	('ES256 on the HS256 key',
	 workon.jwt_sign(:'good_claims', 'ES256', 'regress-hs', :'es_key')),
	('HS256 on the ES256 key (key material as HMAC secret)',
	 workon.jwt_sign(:'good_claims', 'HS256', 'regress-es', :'es_key')),
	('alg missing',
	 pg_temp.hs_token('{"kid":"regress-hs"}', :'good_claims', :'hs_key')),
	('alg not a string',
	 pg_temp.hs_token('{"alg":["HS256"],"kid":"regress-hs"}', :'good_claims', :'hs_key')),
	('kid missing',
	 pg_temp.hs_token('{"alg":"HS256","typ":"JWT"}', :'good_claims', :'hs_key')),
	('kid unknown',
	 pg_temp.hs_token('{"alg":"HS256","kid":"nope"}', :'good_claims', :'hs_key')),
	('kid not a string',
	 pg_temp.hs_token('{"alg":"HS256","kid":1}', :'good_claims', :'hs_key')),
	('kid path traversal',
	 pg_temp.hs_token('{"alg":"HS256","kid":"../../regress-hs"}', :'good_claims', :'hs_key')),
	('typ JWS',
	 pg_temp.hs_token('{"alg":"HS256","typ":"JWS","kid":"regress-hs"}', :'good_claims', :'hs_key')),
	('typ jwt (case-insensitive)',
	 pg_temp.hs_token('{"alg":"HS256","typ":"jwt","kid":"regress-hs"}', :'good_claims', :'hs_key')),
	('crit header',
	 pg_temp.hs_token('{"alg":"HS256","kid":"regress-hs","crit":["exp"]}', :'good_claims', :'hs_key')),
	('duplicate alg',
	 pg_temp.hs_token('{"alg":"none","alg":"HS256","kid":"regress-hs"}', :'good_claims', :'hs_key')),
	('header an array',
	 pg_temp.hs_token('["HS256"]', :'good_claims', :'hs_key')),
	('header a string',
	 pg_temp.hs_token('"HS256"', :'good_claims', :'hs_key')),
	('header not JSON',
	 pg_temp.hs_token('{alg:HS256}', :'good_claims', :'hs_key')),
	('payload an array',
	 pg_temp.hs_token('{"alg":"HS256","kid":"regress-hs"}', '[1]', :'hs_key')),
	('payload not JSON',
	 pg_temp.hs_token('{"alg":"HS256","kid":"regress-hs"}', '{"exp":', :'hs_key')),
	('wrong key',
	 pg_temp.hs_token('{"alg":"HS256","kid":"regress-hs"}', :'good_claims', convert_to(repeat('x', 40), 'UTF8'))),
	('tampered payload',
	 split_part(:'hs_token', '.', 1) || '.' ||
	 pg_temp.b64(replace(:'claims', '"member"', '"admin"')) || '.' || split_part(:'hs_token', '.', 3)),
	('tampered signature',
	 split_part(:'hs_token', '.', 1) || '.' || split_part(:'hs_token', '.', 2) || '.' ||
	 CASE WHEN left(split_part(:'hs_token', '.', 3), 1) = 'A' THEN 'B' ELSE 'A' END ||
	 substr(split_part(:'hs_token', '.', 3), 2)),
	('tampered ES256 signature',
	 split_part(:'es_token', '.', 1) || '.' || split_part(:'es_token', '.', 2) || '.' ||
	 pg_temp.b64b(decode(repeat('00', 64), 'hex'))),
	('truncated signature',
	 split_part(:'hs_token', '.', 1) || '.' || split_part(:'hs_token', '.', 2) || '.' ||
	 left(split_part(:'hs_token', '.', 3), 40)),
	('no signature',
	 split_part(:'hs_token', '.', 1) || '.' || split_part(:'hs_token', '.', 2) || '.'),
	('padding',
	 :'hs_token' || '='),
	('standard base64 characters',
	 split_part(:'hs_token', '.', 1) || '.' || split_part(:'hs_token', '.', 2) || '.' ||
	 translate(split_part(:'hs_token', '.', 3), '-_', '+/') || '+'),
	('non-canonical trailing bits',
	 split_part(:'hs_token', '.', 1) || '.' || split_part(:'hs_token', '.', 2) || '.' ||
	 left(split_part(:'hs_token', '.', 3), 42) ||
	 translate(right(split_part(:'hs_token', '.', 3), 1), 'AEIMQUYcgkosw048', 'BFJNRVZdhlptx159')),
	('whitespace',
	 ' ' || :'hs_token'),
	('two parts', split_part(:'hs_token', '.', 1) || '.' || split_part(:'hs_token', '.', 2)),
	('four parts', :'hs_token' || '.x'),
	('garbage', 'garbage'),
	('empty', ''),
	('dots only', '..'),
	('huge', pg_temp.hs_token('{"alg":"HS256","kid":"regress-hs"}',
				rtrim(:'good_claims', '}') || ',"pad":"' || repeat('x', 8000) || '"}', :'hs_key')),
	('expired',
	 pg_temp.hs_token('{"alg":"HS256","kid":"regress-hs"}', replace(:'good_claims', :'exp', (:now - 45)::text), :'hs_key')),
	('expired, within leeway',
	 pg_temp.hs_token('{"alg":"HS256","kid":"regress-hs"}', replace(:'good_claims', :'exp', (:now - 20)::text), :'hs_key')),
	('exp missing',
	 pg_temp.hs_token('{"alg":"HS256","kid":"regress-hs"}', '{"sub":"5b1f4e2c-8f8a-4d8e-9d1c-0a0b0c0d0e0f","role":"member","iss":"workon","aud":"workon-api"}', :'hs_key')),
	('exp a string',
	 pg_temp.hs_token('{"alg":"HS256","kid":"regress-hs"}', replace(:'good_claims', :'exp', '"' || :exp || '"'), :'hs_key')),
	('not yet valid',
	 pg_temp.hs_token('{"alg":"HS256","kid":"regress-hs"}', rtrim(:'good_claims', '}') || ',"nbf":' || (:now + 120) || '}', :'hs_key')),
	('nbf within leeway',
	 pg_temp.hs_token('{"alg":"HS256","kid":"regress-hs"}', rtrim(:'good_claims', '}') || ',"nbf":' || (:now + 20) || '}', :'hs_key')),
	('iat in the future',
	 pg_temp.hs_token('{"alg":"HS256","kid":"regress-hs"}', rtrim(:'good_claims', '}') || ',"iat":' || (:now + 120) || '}', :'hs_key')),
	('wrong issuer',
	 pg_temp.hs_token('{"alg":"HS256","kid":"regress-hs"}', replace(:'good_claims', '"iss":"workon"', '"iss":"evil"'), :'hs_key')),
	('issuer missing',
	 pg_temp.hs_token('{"alg":"HS256","kid":"regress-hs"}', replace(:'good_claims', '"iss":"workon",', ''), :'hs_key')),
	('wrong audience',
	 pg_temp.hs_token('{"alg":"HS256","kid":"regress-hs"}', replace(:'good_claims', '"aud":"workon-api"', '"aud":"other"'), :'hs_key')),
	('audience array with ours',
	 pg_temp.hs_token('{"alg":"HS256","kid":"regress-hs"}', replace(:'good_claims', '"aud":"workon-api"', '"aud":["other","workon-api"]'), :'hs_key')),
	('audience array without ours',
	 pg_temp.hs_token('{"alg":"HS256","kid":"regress-hs"}', replace(:'good_claims', '"aud":"workon-api"', '"aud":["other"]'), :'hs_key')),
	('sub not a uuid',
	 pg_temp.hs_token('{"alg":"HS256","kid":"regress-hs"}', replace(:'good_claims', '5b1f4e2c-8f8a-4d8e-9d1c-0a0b0c0d0e0f', 'alice'), :'hs_key')),
	('role superuser',
	 pg_temp.hs_token('{"alg":"HS256","kid":"regress-hs"}', replace(:'good_claims', '"member"', '"postgres"'), :'hs_key')),
	('role anon',
	 pg_temp.hs_token('{"alg":"HS256","kid":"regress-hs"}', replace(:'good_claims', '"member"', '"anon"'), :'hs_key'))
  ) AS t(name, token);

-- the settings decide issuer and audience
SET workon.jwt_audience = 'other';
SELECT pg_temp.check(:'hs_token') AS other_audience;
RESET workon.jwt_audience;
SET workon.jwt_issuer = 'https://auth.example.com';
SELECT pg_temp.check(:'hs_token') AS other_issuer;
RESET workon.jwt_issuer;

-- signature-only checks refuse malformed input too
\set VERBOSITY terse
SELECT workon.jwt_verify_signature('garbage', 'HS256', :'hs_key');
SELECT workon.jwt_verify_signature(:'hs_token', 'ES256', :'es_key');
SELECT workon.jwt_verify_signature(:'es_token', 'ES256', :'es_key') AS es_signature;
SELECT workon.jwt_sign(:'claims', 'none', 'x', :'hs_key');
SELECT workon.jwt_sign(:'claims', 'HS256', 'x', 'short');
SELECT workon.jwt_sign(:'claims', 'ES256', 'x', :'hs_key');
SELECT workon.jwt_sign('[1]', 'HS256', 'x', :'hs_key');
\set VERBOSITY default

--
-- The claim-set reader (extension/jwt_json.c): a valid payload's claims are
-- exactly what jsonb_in makes of it, same text; anything else is malformed
--
CREATE FUNCTION pg_temp.hs_token_bytes(header text, payload bytea, key bytea) RETURNS text
LANGUAGE sql AS $$
	SELECT s || '.' || pg_temp.b64b(workon.hmac_sha256(key, convert_to(s, 'UTF8')))
	  FROM (SELECT pg_temp.b64(header) || '.' || pg_temp.b64b(payload) AS s) x
$$;
\set hs_header '{"alg":"HS256","kid":"regress-hs"}'
CREATE TEMP TABLE reader_cases AS
SELECT n, name, payload, pg_temp.hs_token(:'hs_header', payload, :'hs_key') AS token
  FROM (SELECT row_number() OVER (), name, CASE WHEN extra LIKE '!%' THEN substr(extra, 2)
                                            ELSE rtrim(:'good_claims', '}') || ',' || extra || '}' END
          FROM (VALUES
	('numbers', '"n":[0,-0,7,1.50,-12.5e-3,1E+2,2e-2,123456789012345678,-123456789012345678,12345678901234567890123,0.1e1000,1e-1000,10000,-20000,100000000,99990000,100000000000000000,-999999999999999999]'),
	('strings and escapes', '"s":["tab\tq\"b\\s\/","\u00e9\u20AC\ud83d\ude00","é€😀","","\b\f\n\r"]'),
	('nested values', '"o":{"b":{"c":[true,false,null,{}]},"a":[],"":0}'),
	('key order', '"zz":1,"a":2,"mmm":3,"bb":[{"y":1,"x":2}]'),
	('space around everything', '!' || E' \n\t{ "sub" : "5b1f4e2c-8f8a-4d8e-9d1c-0a0b0c0d0e0f" ,\r\n"role":"member", "iss":"workon","aud" :"workon-api","exp" : ' || :exp || E' }\n '),
	('exp with a fraction', '!' || replace(:'good_claims', :'exp', :exp || '.5')),
	('63 nested arrays', '"d":' || repeat('[', 63) || repeat(']', 63)),
	('64 nested arrays', '"d":' || repeat('[', 64) || repeat(']', 64)),
	('a claim twice', '"role":"admin"'),
	('a nested name twice', '"o":{"a":1,"a":2}'),
	('escaped NUL', '"s":"a\u0000b"'),
	('lone high surrogate', '"s":"\ud83d"'),
	('lone low surrogate', '"s":"\ude00"'),
	('high surrogate, then no low one', '"s":"\ud83d\u0041"'),
	('short unicode escape', '"s":"\u00e"'),
	('unknown escape', '"s":"\x41"'),
	('raw control character', '"s":"a' || chr(9) || 'b"'),
	('exponent over 1000', '"n":1e1001'),
	('leading zero', '"n":01'),
	('lone minus', '"n":-'),
	('no fraction digits', '"n":1.'),
	('no integer digits', '"n":.5'),
	('plus sign', '"n":+1'),
	('no exponent digits', '"n":1e'),
	('misspelt literal', '"b":tru'),
	('capital literal', '"b":True'),
	('unquoted name', 'n:1'),
	('single quotes', '''n'':1'),
	('trailing comma', '"n":1,'),
	('no colon', '"n" 1'),
	('unterminated string', '!' || rtrim(:'good_claims', '}') || ',"s":"abc'),
	('text after the object', '!' || :'good_claims' || '{}'),
	('two objects', '!' || :'good_claims' || ' ' || :'good_claims')
	) AS c(name, extra)) AS t(n, name, payload);
SELECT name, pg_temp.check(token) AS result,
       CASE WHEN pg_temp.check(token) = 'valid'
            THEN workon.jwt_verify(token)::text = payload::jsonb::text
       END AS same_as_jsonb_in
  FROM reader_cases ORDER BY n;
-- and byte for byte: the claims' jsonb, as the reader lays it out, is the
-- jsonb jsonb_in makes, down to the padding (the tuples' bytes, read back
-- with pageinspect; PLAIN storage keeps them as made)
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pageinspect;
RESET client_min_messages;
CREATE TEMP TABLE layouts (name text, ours jsonb, theirs jsonb);
ALTER TABLE layouts ALTER ours SET STORAGE PLAIN, ALTER theirs SET STORAGE PLAIN;
CREATE FUNCTION pg_temp.differing_layouts() RETURNS TABLE (compared bigint, differing text[])
LANGUAGE sql AS $$
	SELECT count(*), coalesce(array_agg(l.name ORDER BY l.name) FILTER (WHERE a[2] IS DISTINCT FROM a[3]), '{}')
	  FROM pg_catalog.generate_series(0, pg_relation_size('layouts') / current_setting('block_size')::int - 1) AS blk,
	       heap_page_items(get_raw_page('layouts', blk::int)) AS i,
	       tuple_data_split('layouts'::regclass, i.t_data, i.t_infomask, i.t_infomask2, i.t_bits) AS a,
	       layouts AS l
	 WHERE l.ctid = i.t_ctid
$$;
INSERT INTO layouts
SELECT name, workon.jwt_verify(token), payload::jsonb FROM reader_cases WHERE pg_temp.check(token) = 'valid';
SELECT * FROM pg_temp.differing_layouts();
-- bytes that are not UTF-8, and NULs, inside strings and out
SELECT name, pg_temp.check(pg_temp.hs_token_bytes(:'hs_header',
	convert_to(rtrim(:'good_claims', '}') || ',"s":"', 'UTF8') || bytes || convert_to('"}', 'UTF8'), :'hs_key')) AS in_string,
	pg_temp.check(pg_temp.hs_token_bytes(:'hs_header',
	convert_to(rtrim(:'good_claims', '}') || ',"s":1', 'UTF8') || bytes || convert_to('}', 'UTF8'), :'hs_key')) AS outside
  FROM (VALUES ('valid two-byte character', '\xc3a9'::bytea),
			   ('truncated sequence', '\xc3'), ('stray continuation byte', '\xa9'),
			   ('overlong encoding', '\xc0af'), ('surrogate encoded', '\xeda080'),
			   ('beyond U+10FFFF', '\xf4908080'), ('NUL', '\x00')) AS t(name, bytes);

-- mutated headers and claim sets (bytes flipped, deleted, repeated, JSON pieces
-- and bad UTF-8 put in): each one is valid or refused with 28000, nothing else
SELECT setseed(0.5);
CREATE FUNCTION pg_temp.mutate(b bytea) RETURNS bytea LANGUAGE plpgsql AS $$
DECLARE
	pieces bytea[] := ARRAY['\x22', '\x5c', '\x7b', '\x7d', '\x5b', '\x5d', '\x3a', '\x2c', '\x00', '\xc3a9',
							'\xed', '\x5c7564383364', '\x5c7530303030', '\x31653130303031', '\x2d', '\x2e',
							'\x74727565']::bytea[];
	pos int;
BEGIN
	FOR i IN 1..1 + floor(random() * 4)::int LOOP
		pos := floor(random() * (length(b) + 1));
		CASE floor(random() * 4)
		WHEN 0 THEN
			IF length(b) > 0 THEN
				b := set_byte(b, least(pos, length(b) - 1), floor(random() * 256)::int);
			END IF;
		WHEN 1 THEN
			b := substring(b FROM 1 FOR pos) || pieces[1 + floor(random() * array_length(pieces, 1))::int]
				 || substring(b FROM pos + 1);
		WHEN 2 THEN
			b := substring(b FROM 1 FOR pos) || substring(b FROM pos + 2);
		ELSE
			b := substring(b FROM 1 FOR pos) || substring(b FROM greatest(1, pos - 8) FOR 8) || substring(b FROM pos + 1);
		END CASE;
	END LOOP;
	RETURN b;
END $$;
CREATE FUNCTION pg_temp.hs_token_raw(header bytea, payload bytea, key bytea) RETURNS text
LANGUAGE sql AS $$
	SELECT s || '.' || pg_temp.b64b(workon.hmac_sha256(key, convert_to(s, 'UTF8')))
	  FROM (SELECT pg_temp.b64b(header) || '.' || pg_temp.b64b(payload) AS s) x
$$;
CREATE TEMP TABLE fuzzed AS
SELECT i, claims, token, pg_temp.check(token) AS result
  FROM (SELECT i, claims, pg_temp.hs_token_raw(header, claims, :'hs_key') AS token
          FROM (SELECT i,
                       CASE WHEN i % 2 = 0 THEN pg_temp.mutate(convert_to(:'hs_header', 'UTF8'))
                            ELSE convert_to(:'hs_header', 'UTF8') END AS header,
                       CASE WHEN i % 2 = 1 THEN pg_temp.mutate(convert_to(:'claims', 'UTF8'))
                            ELSE convert_to(:'claims', 'UTF8') END AS claims
                  FROM generate_series(1, 4000) AS i OFFSET 0) AS m) AS t;
SELECT count(*) FILTER (WHERE result = 'valid') > 0 AS some_valid,
       count(*) FILTER (WHERE result LIKE '28000 %') > 0 AS some_refused,
       count(*) FILTER (WHERE result <> 'valid' AND result NOT LIKE '28000 %') AS anything_else
  FROM fuzzed;
-- the mutated claim sets still valid are laid out as jsonb_in lays them out
TRUNCATE layouts;
INSERT INTO layouts
SELECT 'fuzzed ' || i, workon.jwt_verify(token), convert_from(claims, 'UTF8')::jsonb
  FROM fuzzed WHERE result = 'valid' AND i % 2 = 1;
SELECT compared > 0 AS some_compared, differing FROM pg_temp.differing_layouts();

-- each ASCII character in each of the first 40 places of the payload and
-- the first 16 of the signature (the decoder takes sixteen characters at a
-- time where the CPU allows): one of the base64url alphabet gives a
-- signature mismatch, or the same token, and any other a malformed token
SELECT count(*) AS replaced, count(*) FILTER (WHERE got <> expected) AS unexpected
  FROM (SELECT pg_temp.check(overlay(:'hs_token' PLACING chr(c) FROM start + pos FOR 1)) AS got,
               CASE WHEN chr(c) = substr(:'hs_token', start + pos, 1) THEN 'valid'
                    WHEN chr(c) ~ '^[A-Za-z0-9_-]$' THEN '28000 signature mismatch'
                    ELSE '28000 malformed token' END AS expected
          FROM generate_series(1, 127) AS c,
               (VALUES (length(split_part(:'hs_token', '.', 1)) + 1, 40),
                       (length(split_part(:'hs_token', '.', 1)) + length(split_part(:'hs_token', '.', 2)) + 2, 16))
                 AS part(start, places),
               generate_series(1, places) AS pos) AS t;

-- HS256 keys of any length: 64 bytes fill a block, longer ones are hashed
-- first (RFC 2104); the keyed states the verifier keeps agree with OpenSSL's
-- HMAC() (jwt_verify_signature, and hs_token through workon.hmac_sha256)
INSERT INTO workon.jwt_keys (kid, alg, secret, activated_at)
SELECT 'regress-len-' || n, 'HS256', convert_to(repeat(chr(64 + n % 26), n), 'UTF8'), now() - interval '1 minute'
  FROM unnest(ARRAY[32, 63, 64, 65, 200]) AS n;
SELECT kid, pg_temp.check(workon.jwt_sign(:'claims', 'HS256', kid, secret)) AS verified,
       workon.jwt_verify_signature(workon.jwt_sign(:'claims', 'HS256', kid, secret), 'HS256', secret) AS signature,
       pg_temp.check(pg_temp.hs_token('{"alg":"HS256","kid":"' || kid || '"}', :'good_claims', secret)) AS signed_by_hmac,
       pg_temp.check(pg_temp.hs_token('{"alg":"HS256","kid":"' || kid || '"}', :'good_claims',
                                      overlay(secret placing '\x21'::bytea from length(secret)))) AS last_byte_changed
  FROM workon.jwt_keys WHERE kid LIKE 'regress-len-%' ORDER BY length(secret);
DELETE FROM workon.jwt_keys WHERE kid LIKE 'regress-len-%';

DELETE FROM workon.jwt_keys WHERE kid IN ('regress-hs', 'regress-es');
