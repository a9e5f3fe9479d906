/*-------------------------------------------------------------------------
 *
 * jwt.c
 *	  JSON Web Tokens (RFC 7519): HS256 and ES256, signing and verifying.
 *
 * Access tokens are compact JWS (RFC 7515) signed with a key of the table
 * workon.jwt_keys.  Each key has exactly one algorithm; the token header
 * names the key by "kid" and must name that key's algorithm too, so "none"
 * and any HS/ES confusion are refused before a signature is looked at.
 * Verification is strict, and every refusal is SQLSTATE 28000 with a
 * message naming the check that failed:
 *
 *	token too large			  more than 8 KiB
 *	malformed token			  not three canonical base64url parts, a header
 *							  or payload that is not one JSON object (read
 *							  strictly, a name twice refused: jwt_json.c),
 *							  or a "typ" other than JWT
 *	missing key id			  no "kid" in the header
 *	algorithm not allowed	  an "alg" other than HS256 or ES256, or not the
 *							  algorithm of the key
 *	unsupported critical header  a "crit" header
 *	unknown key				  no active key with that kid
 *	signature mismatch
 *	missing exp claim, token expired, token not yet valid, token issued in
 *	the future (30 s of leeway for clock skew), issuer mismatch, audience
 *	mismatch, invalid subject, invalid role claim
 *
 * The algorithms are in jwt_alg.c, the keys in jwt_keys.c, the tokens a
 * backend verified in jwt_cache.c and the reader of headers and claim sets
 * in jwt_json.c; their shared declarations in jwt_internal.h.
 *
 * extension/jwt.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <time.h>

#include "fmgr.h"
#include "port.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/uuid.h"

#include "jwt_internal.h"

#define JWT_MAX_TOKEN_BYTES		8192
#define JWT_SIG_B64_MAX			86	/* base64url characters of 64 bytes */

/* GUCs, registered in workon.c */
char	   *workon_jwt_issuer = NULL;
char	   *workon_jwt_audience = NULL;
int			workon_jwt_access_ttl = 900;
int			workon_jwt_refresh_ttl = 30 * 24 * 3600;
int			workon_refresh_grace = 10;

/* A token split and decoded, not yet trusted */
typedef struct JwtParts
{
	const char *signing_input;	/* "header.payload", not NUL-terminated */
	size_t		signing_len;
	unsigned char *payload;		/* decoded payload: payload_buf, or palloc'd */
	size_t		payload_len;
	unsigned char *sig;			/* decoded signature: sig_buf, or palloc'd */
	size_t		sig_len;
	unsigned char sig_buf[WORKON_B64URL_ROOM(JWT_SIG_B64_MAX)];
	unsigned char payload_buf[1024];	/* a usual claim set fits */
	JwtAlg		alg;
	const char *kid;			/* NULL when absent */
	bool		memo_hit;		/* the header is the one remembered */
} JwtParts;

/* Refuse a token: error 28000 naming the check that failed */
void
workon_jwt_reject(const char *message)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
			 errmsg("%s", message)));
}


/*
 * The header of the last token split, as base64url text, and what it said.
 * Every token signed with one key has the same header, so a verification
 * usually finds it here and neither decodes nor parses it; only headers
 * that passed every check below are kept.
 */
#define HEADER_MEMO_MAX		256

static struct
{
	char		b64[HEADER_MEMO_MAX];	/* the header as the token spells it */
	size_t		len;			/* 0: none remembered */
	JwtAlg		alg;
	bool		has_kid;
	char		kid[HEADER_MEMO_MAX];

	/*
	 * The key kid named, once a verification has looked it up in the key
	 * cache; gone with it (workon_jwt_forget_key clears has_key).
	 * hmac_after is hmac with "header." hashed in already: allocated once,
	 * overwritten.
	 */
	bool		has_key;
	JwtAlg		key_alg;
	bytea	   *material;
	WorkonHmacKey *hmac;		/* HS256: the key's states; NULL otherwise */
	WorkonHmacKey *hmac_after;
}			header_memo;

/* Forget the key of the header remembered (the keys changed: jwt_keys.c) */
void
workon_jwt_forget_key(void)
{
	header_memo.has_key = false;
	if (header_memo.hmac_after != NULL)
		workon_hmac_key_clear(header_memo.hmac_after);
}

/* A top-level member of the header that must be a string, if present */
static bool
header_string(JsonbValue *header, const char *name, JsonbValue **value)
{
	*value = workon_jwt_json_member(header, name);
	return *value == NULL || (*value)->type == jbvString;
}

/*
 * Check a decoded header: a JSON object without duplicate names, whose
 * alg, kid and typ are strings, typ (if any) is JWT, alg is allowed and
 * there is no "crit".  Sets parts->alg and parts->kid.
 */
static void
header_check(const unsigned char *header, size_t header_len, JwtParts *parts)
{
	JsonbValue	root;
	JsonbValue *alg;
	JsonbValue *kid;
	JsonbValue *typ;
	char	   *name;

	if (!workon_jwt_json_parse((const char *) header, header_len, &root, NULL, 0, NULL, NULL) ||
		!header_string(&root, "alg", &alg) ||
		!header_string(&root, "kid", &kid) ||
		!header_string(&root, "typ", &typ))
		workon_jwt_reject("malformed token");
	if (typ != NULL &&
		(typ->val.string.len != 3 ||
		 pg_strncasecmp(typ->val.string.val, "JWT", 3) != 0))
		workon_jwt_reject("malformed token");
	if (workon_jwt_json_member(&root, "crit") != NULL)
		workon_jwt_reject("unsupported critical header");

	name = alg != NULL ? pnstrdup(alg->val.string.val, alg->val.string.len) : NULL;
	parts->alg = workon_jwt_alg_from_name(name);
	if (parts->alg == JWT_ALG_UNKNOWN)
		workon_jwt_reject("algorithm not allowed");
	parts->kid = kid != NULL ? pnstrdup(kid->val.string.val, kid->val.string.len) : NULL;
}

/*
 * Decode a part of len base64url characters into buf (bufsize bytes) when
 * it fits, else into a palloc'd buffer; *out is where it went
 */
static bool
decode_part(const char *in, size_t len, unsigned char *buf, size_t bufsize,
			unsigned char **out, size_t *outlen)
{
	if (WORKON_B64URL_ROOM(len) > bufsize)
		return workon_b64url_decode(in, len, out, outlen);
	*out = buf;
	return workon_b64url_decode_into(in, len, buf, outlen);
}

/*
 * Split a compact JWS and check its form and header.  Everything that is
 * not a well-formed token of an allowed algorithm is refused here; the
 * payload is decoded but not parsed.
 */
static void
jwt_split(const char *token, size_t len, JwtParts *parts)
{
	const char *dot1;
	const char *dot2;
	size_t		header_b64_len;
	unsigned char *header;
	size_t		header_len;

	/* each field but the buffers (no need to clear a kilobyte per token) */
	parts->signing_input = NULL;
	parts->signing_len = 0;
	parts->payload_len = parts->sig_len = 0;
	parts->alg = JWT_ALG_UNKNOWN;
	parts->kid = NULL;
	parts->memo_hit = false;

	if (len > JWT_MAX_TOKEN_BYTES)
		workon_jwt_reject("token too large");

	dot1 = memchr(token, '.', len);
	dot2 = dot1 ? memchr(dot1 + 1, '.', len - (dot1 + 1 - token)) : NULL;
	if (dot1 == NULL || dot2 == NULL ||
		memchr(dot2 + 1, '.', len - (dot2 + 1 - token)) != NULL ||
		dot1 == token || dot2 == dot1 + 1 || dot2 + 1 == token + len)
		workon_jwt_reject("malformed token");

	if (!decode_part(dot1 + 1, dot2 - dot1 - 1, parts->payload_buf, sizeof(parts->payload_buf),
					 &parts->payload, &parts->payload_len) ||
		!decode_part(dot2 + 1, len - (dot2 + 1 - token), parts->sig_buf, sizeof(parts->sig_buf),
					 &parts->sig, &parts->sig_len))
		workon_jwt_reject("malformed token");

	header_b64_len = dot1 - token;
	if (header_b64_len == header_memo.len &&
		memcmp(token, header_memo.b64, header_b64_len) == 0)
	{
		parts->memo_hit = true;
		parts->alg = header_memo.alg;
		parts->kid = header_memo.has_kid ? header_memo.kid : NULL;
	}
	else
	{
		if (!workon_b64url_decode(token, header_b64_len, &header, &header_len))
			workon_jwt_reject("malformed token");
		header_check(header, header_len, parts);
		if (header_b64_len < HEADER_MEMO_MAX &&
			(parts->kid == NULL || strlen(parts->kid) < HEADER_MEMO_MAX))
		{
			memcpy(header_memo.b64, token, header_b64_len);
			header_memo.len = header_b64_len;
			header_memo.has_key = false;
			parts->memo_hit = true;
			header_memo.alg = parts->alg;
			header_memo.has_kid = parts->kid != NULL;
			if (parts->kid != NULL)
				strcpy(header_memo.kid, parts->kid);
		}
	}

	parts->signing_input = token;
	parts->signing_len = dot2 - token;
}


/*
 * Signatures
 */

static void
check_hs256_key(const unsigned char *key, size_t keylen)
{
	if (keylen < JWT_HS256_MIN_KEY)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("HS256 key must be at least %d bytes", JWT_HS256_MIN_KEY)));
}

/*
 * Whether two MACs are equal, in a time that does not depend on where they
 * differ: all their words are compared, whatever the first ones gave.
 */
static inline bool
mac_equal(const unsigned char *a, const unsigned char *b)
{
	uint64		diff = 0;
	int			i;

	for (i = 0; i < JWT_SIG_LEN; i += sizeof(uint64))
	{
		uint64		x;
		uint64		y;

		memcpy(&x, a + i, sizeof(x));
		memcpy(&y, b + i, sizeof(y));
		diff |= x ^ y;
	}
	return diff == 0;
}

/*
 * Whether the signature of parts is valid for key; hmac, when not NULL, is
 * the same HS256 key's precomputed states (hmac.c), with the first hashed
 * bytes of the signing input already hashed into them.
 */
static bool
signature_valid(JwtParts *parts, const unsigned char *key, size_t keylen,
				const WorkonHmacKey *hmac, size_t hashed)
{
	if (parts->alg == JWT_ALG_HS256)
	{
		unsigned char mac[JWT_SIG_LEN];

		check_hs256_key(key, keylen);
		if (parts->sig_len != JWT_SIG_LEN)
			return false;
		if (hmac != NULL)
			workon_hmac_key_compute(hmac, (const unsigned char *) parts->signing_input + hashed,
									parts->signing_len - hashed, mac);
		else
			workon_hmac_sha256(key, keylen, (const unsigned char *) parts->signing_input,
							   parts->signing_len, mac);
		return mac_equal(mac, parts->sig);
	}
	return workon_jwt_es256_verify(key, keylen, (const unsigned char *) parts->signing_input,
								   parts->signing_len, parts->sig, parts->sig_len);
}


/*
 * Claims
 */

static bool
claim_string_is(JsonbValue *v, const char *expected)
{
	return v != NULL && v->type == jbvString &&
		v->val.string.len == (int) strlen(expected) &&
		workon_short_memcmp(v->val.string.val, expected, v->val.string.len) == 0;
}

static bool
audience_matches(JsonbValue *aud, const char *audience)
{
	int			i;

	if (aud == NULL)
		return false;
	if (aud->type == jbvString)
		return claim_string_is(aud, audience);
	if (aud->type == jbvArray)
	{
		for (i = 0; i < aud->val.array.nElems; i++)
		{
			if (claim_string_is(&aud->val.array.elems[i], audience))
				return true;
		}
	}
	return false;
}

static bool
is_uuid_text(const char *s, int len)
{
	int			i;

	if (len != 36)
		return false;
	for (i = 0; i < len; i++)
	{
		char		c = s[i];

		if (i == 8 || i == 13 || i == 18 || i == 23)
		{
			if (c != '-')
				return false;
		}
		else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
				   (c >= 'A' && c <= 'F')))
			return false;
	}
	return true;
}

/* exp, nbf and iat, read as doubles by the parser */
enum
{
	CLAIM_EXP,
	CLAIM_NBF,
	CLAIM_IAT,
	CLAIM_NUMBERS
};

static bool
time_claim(JwtJsonNumber *claim)
{
	if (!claim->present)
		return false;
	if (!claim->is_number)
		workon_jwt_reject(psprintf("invalid %s claim", claim->name));
	return true;
}

/*
 * Parse the payload of a token whose signature was checked, check its
 * claims, and return them as jsonb; *exp gets the expiry.
 */
static Jsonb *
payload_claims(JwtParts *parts, double *exp)
{
	JwtJsonNumber numbers[CLAIM_NUMBERS] = {
		JWT_JSON_NUMBER("exp"), JWT_JSON_NUMBER("nbf"), JWT_JSON_NUMBER("iat")
	};
	double		now = (double) time(NULL);
	JsonbValue	claims;
	Size		size;
	JwtJsonScratch scratch;
	JsonbValue *sub;
	JsonbValue *role;

	scratch.used = 0;
	if (!workon_jwt_json_parse((char *) parts->payload, parts->payload_len, &claims,
							   numbers, CLAIM_NUMBERS, &size, &scratch))
		workon_jwt_reject("malformed token");

	if (!time_claim(&numbers[CLAIM_EXP]))
		workon_jwt_reject("missing exp claim");
	*exp = numbers[CLAIM_EXP].value;
	if (now > *exp + JWT_LEEWAY_SECONDS)
		workon_jwt_reject("token expired");
	if (time_claim(&numbers[CLAIM_NBF]) &&
		now + JWT_LEEWAY_SECONDS < numbers[CLAIM_NBF].value)
		workon_jwt_reject("token not yet valid");
	if (time_claim(&numbers[CLAIM_IAT]) &&
		now + JWT_LEEWAY_SECONDS < numbers[CLAIM_IAT].value)
		workon_jwt_reject("token issued in the future");

	if (!claim_string_is(workon_jwt_json_member(&claims, "iss"),
						 workon_jwt_issuer ? workon_jwt_issuer : ""))
		workon_jwt_reject("issuer mismatch");
	if (!audience_matches(workon_jwt_json_member(&claims, "aud"),
						  workon_jwt_audience ? workon_jwt_audience : ""))
		workon_jwt_reject("audience mismatch");

	sub = workon_jwt_json_member(&claims, "sub");
	if (sub == NULL || sub->type != jbvString ||
		!is_uuid_text(sub->val.string.val, sub->val.string.len))
		workon_jwt_reject("invalid subject");
	role = workon_jwt_json_member(&claims, "role");
	if (!(claim_string_is(role, "member") || claim_string_is(role, "host") ||
		  claim_string_is(role, "admin")))
		workon_jwt_reject("invalid role claim");

	return workon_jwt_jsonb(&claims, size);
}

/*
 * The claims of a valid access token, or an error 28000 naming the check
 * that failed.
 */
Jsonb *
workon_jwt_verify_token(text *token)
{
	const char *data = VARDATA_ANY(token);
	uint32		len = VARSIZE_ANY_EXHDR(token);
	JwtParts	parts;
	JwtAlg		key_alg;
	bytea	   *material;
	WorkonHmacKey *hmac;
	size_t		hashed = 0;
	Jsonb	   *claims;
	double		exp;

	claims = workon_jwt_cache_lookup(data, len);
	if (claims != NULL)
		return claims;

	jwt_split(data, len, &parts);

	if (parts.kid == NULL)
		workon_jwt_reject("missing key id");
	if (parts.memo_hit && header_memo.has_key)
	{
		key_alg = header_memo.key_alg;
		material = header_memo.material;
		hmac = header_memo.hmac;
		if (hmac != NULL)
		{
			hmac = header_memo.hmac_after;
			hashed = header_memo.len + 1;
		}
	}
	else
	{
		bool		cached;

		if (!workon_jwt_lookup_key(parts.kid, &key_alg, &material, &hmac, &cached))
			workon_jwt_reject("unknown key");
		if (parts.memo_hit && cached)
		{
			header_memo.has_key = true;
			header_memo.key_alg = key_alg;
			header_memo.material = material;
			header_memo.hmac = hmac;
			if (hmac != NULL)
				workon_hmac_key_prefixed(&header_memo.hmac_after, hmac,
										 (const unsigned char *) data, header_memo.len + 1);
		}
	}
	if (key_alg != parts.alg)
		workon_jwt_reject("algorithm not allowed");
	if (!signature_valid(&parts, (unsigned char *) VARDATA(material),
						 VARSIZE(material) - VARHDRSZ, hmac, hashed))
		workon_jwt_reject("signature mismatch");

	claims = payload_claims(&parts, &exp);

	workon_jwt_cache_store(data, len, exp, claims);

	return claims;
}


/*
 * SQL functions
 */

/*
 * workon.jwt_verify(token text) returns jsonb
 *
 * The claims of a valid access token signed with an active key of
 * workon.jwt_keys; error 28000 otherwise.  It reads the keys as the
 * table's owner (jwt_keys.c), so any role may call it.
 */
PG_FUNCTION_INFO_V1(jwt_verify);
Datum
jwt_verify(PG_FUNCTION_ARGS)
{
	PG_RETURN_JSONB_P(workon_jwt_verify_token(PG_GETARG_TEXT_PP(0)));
}

/*
 * workon.jwt_verify_signature(token text, alg text, key bytea) returns boolean
 *
 * Whether the token is well formed, its header names alg and its signature
 * is valid for key.  No claim is looked at (test vectors have long
 * expired).  A malformed token or another algorithm is error 28000.
 */
PG_FUNCTION_INFO_V1(jwt_verify_signature);
Datum
jwt_verify_signature(PG_FUNCTION_ARGS)
{
	text	   *token = PG_GETARG_TEXT_PP(0);
	JwtAlg		alg = workon_jwt_alg_arg(PG_GETARG_TEXT_PP(1));
	bytea	   *key = PG_GETARG_BYTEA_PP(2);
	JwtParts	parts;

	jwt_split(VARDATA_ANY(token), VARSIZE_ANY_EXHDR(token), &parts);
	if (parts.alg != alg)
		workon_jwt_reject("algorithm not allowed");

	PG_RETURN_BOOL(signature_valid(&parts, (unsigned char *) VARDATA_ANY(key),
								   VARSIZE_ANY_EXHDR(key), NULL, 0));
}

/*
 * workon.jwt_sign(claims jsonb, alg text, kid text, key bytea) returns text
 *
 * A compact JWS of the claims with header {"alg", "typ": "JWT", "kid"}.
 */
PG_FUNCTION_INFO_V1(jwt_sign);
Datum
jwt_sign(PG_FUNCTION_ARGS)
{
	Jsonb	   *claims = PG_GETARG_JSONB_P(0);
	JwtAlg		alg = workon_jwt_alg_arg(PG_GETARG_TEXT_PP(1));
	char	   *kid = text_to_cstring(PG_GETARG_TEXT_PP(2));
	bytea	   *key = PG_GETARG_BYTEA_PP(3);
	const unsigned char *keydata = (unsigned char *) VARDATA_ANY(key);
	size_t		keylen = VARSIZE_ANY_EXHDR(key);
	StringInfoData header;
	StringInfoData token;
	char	   *payload;
	unsigned char sig[JWT_ES256_SIG_LEN];
	size_t		siglen;

	if (!JB_ROOT_IS_OBJECT(claims))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("JWT claims must be a JSON object")));

	initStringInfo(&header);
	appendStringInfo(&header, "{\"alg\":\"%s\",\"typ\":\"JWT\",\"kid\":",
					 alg == JWT_ALG_HS256 ? "HS256" : "ES256");
	escape_json(&header, kid);
	appendStringInfoChar(&header, '}');

	payload = JsonbToCString(NULL, &claims->root, VARSIZE(claims));

	initStringInfo(&token);
	appendStringInfoString(&token,
						   workon_b64url_encode((unsigned char *) header.data, header.len));
	appendStringInfoChar(&token, '.');
	appendStringInfoString(&token,
						   workon_b64url_encode((unsigned char *) payload, strlen(payload)));

	if (alg == JWT_ALG_HS256)
	{
		check_hs256_key(keydata, keylen);
		workon_hmac_sha256(keydata, keylen, (unsigned char *) token.data, token.len, sig);
		siglen = JWT_SIG_LEN;
	}
	else
	{
		workon_jwt_es256_sign(keydata, keylen, (unsigned char *) token.data, token.len, sig);
		siglen = JWT_ES256_SIG_LEN;
	}

	appendStringInfoChar(&token, '.');
	appendStringInfoString(&token, workon_b64url_encode(sig, siglen));

	PG_RETURN_TEXT_P(cstring_to_text_with_len(token.data, token.len));
}

/*
 * workon.jwt_claims(sub uuid, role text) returns jsonb
 *
 * The claims of a new access token: sub, role, iat (now), exp (now +
 * workon.jwt_access_ttl), iss (workon.jwt_issuer), aud
 * (workon.jwt_audience) and a random jti.
 */
PG_FUNCTION_INFO_V1(jwt_claims);
Datum
jwt_claims(PG_FUNCTION_ARGS)
{
	Datum		sub = DirectFunctionCall1(uuid_out, PG_GETARG_DATUM(0));
	char	   *role = text_to_cstring(PG_GETARG_TEXT_PP(1));
	int64		now = (int64) time(NULL);
	unsigned char jti[16];
	StringInfoData buf;

	if (!pg_strong_random(jti, sizeof(jti)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate random bytes")));
	jti[6] = (jti[6] & 0x0F) | 0x40;	/* UUID version 4 */
	jti[8] = (jti[8] & 0x3F) | 0x80;	/* RFC 4122 variant */

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"sub\":");
	escape_json(&buf, DatumGetCString(sub));
	appendStringInfoString(&buf, ",\"role\":");
	escape_json(&buf, role);
	appendStringInfo(&buf, ",\"iat\":" INT64_FORMAT ",\"exp\":" INT64_FORMAT ",\"iss\":",
					 now, now + workon_jwt_access_ttl);
	escape_json(&buf, workon_jwt_issuer ? workon_jwt_issuer : "");
	appendStringInfoString(&buf, ",\"aud\":");
	escape_json(&buf, workon_jwt_audience ? workon_jwt_audience : "");
	appendStringInfoString(&buf, ",\"jti\":");
	escape_json(&buf, DatumGetCString(DirectFunctionCall1(uuid_out,
														  UUIDPGetDatum((pg_uuid_t *) jti))));
	appendStringInfoChar(&buf, '}');

	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}

/*
 * workon.token_ttl(kind text) returns integer
 *
 * Seconds: "access" (workon.jwt_access_ttl), "refresh"
 * (workon.jwt_refresh_ttl) or "refresh_grace" (workon.refresh_grace).
 */
PG_FUNCTION_INFO_V1(token_ttl);
Datum
token_ttl(PG_FUNCTION_ARGS)
{
	char	   *kind = text_to_cstring(PG_GETARG_TEXT_PP(0));

	if (strcmp(kind, "access") == 0)
		PG_RETURN_INT32(workon_jwt_access_ttl);
	if (strcmp(kind, "refresh") == 0)
		PG_RETURN_INT32(workon_jwt_refresh_ttl);
	if (strcmp(kind, "refresh_grace") == 0)
		PG_RETURN_INT32(workon_refresh_grace);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown token lifetime \"%s\"", kind),
			 errhint("Use access, refresh or refresh_grace.")));
	PG_RETURN_NULL();
}
