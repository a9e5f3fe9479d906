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
 * ES256 signatures are the JOSE form: r || s, 32 bytes each, not DER.
 * Key material: the raw secret for HS256 (at least 32 bytes), a PKCS #8
 * DER private key on P-256 for ES256.
 *
 * extension/jwt.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <time.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "access/xact.h"
#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "port.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "common/hashfn.h"
#include "port/pg_bitutils.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/uuid.h"

#include "workon.h"

#define JWT_MAX_TOKEN_BYTES		8192
#define JWT_LEEWAY_SECONDS		30
#define JWT_HS256_MIN_KEY		32
#define JWT_HS256_NEW_KEY		64
#define JWT_SIG_LEN				32
#define JWT_ES256_SIG_LEN		64
#define JWT_SIG_B64_MAX			86	/* base64url characters of 64 bytes */

/* GUCs, registered in workon.c */
char	   *workon_jwt_issuer = NULL;
char	   *workon_jwt_audience = NULL;
int			workon_jwt_access_ttl = 900;
int			workon_jwt_refresh_ttl = 30 * 24 * 3600;
int			workon_refresh_grace = 10;

typedef enum JwtAlg
{
	JWT_ALG_UNKNOWN,
	JWT_ALG_HS256,
	JWT_ALG_ES256
} JwtAlg;

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



static void
reject(const char *message)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
			 errmsg("%s", message)));
}

static JwtAlg
alg_from_name(const char *name)
{
	if (name == NULL)
		return JWT_ALG_UNKNOWN;
	if (strcmp(name, "HS256") == 0)
		return JWT_ALG_HS256;
	if (strcmp(name, "ES256") == 0)
		return JWT_ALG_ES256;
	return JWT_ALG_UNKNOWN;
}

static JwtAlg
alg_arg(text *alg)
{
	char	   *name = text_to_cstring(alg);
	JwtAlg		result = alg_from_name(name);

	if (result == JWT_ALG_UNKNOWN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unsupported JWT algorithm \"%s\"", name),
				 errhint("Use HS256 or ES256.")));
	return result;
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
	 * cache; gone with it (key_cache_reset clears has_key).  hmac_after is
	 * hmac with "header." hashed in already: allocated once, overwritten.
	 */
	bool		has_key;
	JwtAlg		key_alg;
	bytea	   *material;
	WorkonHmacKey *hmac;		/* HS256: the key's states; NULL otherwise */
	WorkonHmacKey *hmac_after;
}			header_memo;

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
		reject("malformed token");
	if (typ != NULL &&
		(typ->val.string.len != 3 ||
		 pg_strncasecmp(typ->val.string.val, "JWT", 3) != 0))
		reject("malformed token");
	if (workon_jwt_json_member(&root, "crit") != NULL)
		reject("unsupported critical header");

	name = alg != NULL ? pnstrdup(alg->val.string.val, alg->val.string.len) : NULL;
	parts->alg = alg_from_name(name);
	if (parts->alg == JWT_ALG_UNKNOWN)
		reject("algorithm not allowed");
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
		reject("token too large");

	dot1 = memchr(token, '.', len);
	dot2 = dot1 ? memchr(dot1 + 1, '.', len - (dot1 + 1 - token)) : NULL;
	if (dot1 == NULL || dot2 == NULL ||
		memchr(dot2 + 1, '.', len - (dot2 + 1 - token)) != NULL ||
		dot1 == token || dot2 == dot1 + 1 || dot2 + 1 == token + len)
		reject("malformed token");

	if (!decode_part(dot1 + 1, dot2 - dot1 - 1, parts->payload_buf, sizeof(parts->payload_buf),
					 &parts->payload, &parts->payload_len) ||
		!decode_part(dot2 + 1, len - (dot2 + 1 - token), parts->sig_buf, sizeof(parts->sig_buf),
					 &parts->sig, &parts->sig_len))
		reject("malformed token");

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
			reject("malformed token");
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

/* The P-256 key in key material; NULL if it is not one */
static EVP_PKEY *
load_es256_key(const unsigned char *der, size_t len)
{
	const unsigned char *p = der;
	EVP_PKEY   *pkey = d2i_AutoPrivateKey(NULL, &p, (long) len);
	char		group[64];

	if (pkey == NULL)
		return NULL;
	if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_EC ||
		EVP_PKEY_get_group_name(pkey, group, sizeof(group), NULL) != 1 ||
		strcmp(group, "prime256v1") != 0)
	{
		EVP_PKEY_free(pkey);
		return NULL;
	}
	return pkey;
}

static EVP_PKEY *
es256_key_or_error(const unsigned char *der, size_t len)
{
	EVP_PKEY   *pkey = load_es256_key(der, len);

	if (pkey == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ES256 key material is not a P-256 private key")));
	return pkey;
}

/* ES256 signature, r || s, into out[64] */
static void
es256_sign(const unsigned char *der, size_t derlen,
		   const unsigned char *data, size_t datalen, unsigned char *out)
{
	EVP_PKEY   *pkey = es256_key_or_error(der, derlen);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char sigbuf[128];
	size_t		siglen = sizeof(sigbuf);
	const unsigned char *p = sigbuf;
	ECDSA_SIG  *sig = NULL;
	const BIGNUM *r;
	const BIGNUM *s;
	bool		ok;

	ok = (ctx != NULL &&
		  EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, pkey) == 1 &&
		  EVP_DigestSign(ctx, sigbuf, &siglen, data, datalen) == 1 &&
		  (sig = d2i_ECDSA_SIG(NULL, &p, (long) siglen)) != NULL);
	if (ok)
	{
		ECDSA_SIG_get0(sig, &r, &s);
		ok = (BN_bn2binpad(r, out, 32) == 32 && BN_bn2binpad(s, out + 32, 32) == 32);
	}

	ECDSA_SIG_free(sig);
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pkey);

	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute an ES256 signature")));
}

static bool
es256_verify(const unsigned char *der, size_t derlen,
			 const unsigned char *data, size_t datalen,
			 const unsigned char *rs, size_t rslen)
{
	EVP_PKEY   *pkey;
	EVP_MD_CTX *ctx;
	ECDSA_SIG  *sig;
	BIGNUM	   *r;
	BIGNUM	   *s;
	unsigned char *sigder = NULL;
	int			sigderlen;
	bool		ok;

	if (rslen != JWT_ES256_SIG_LEN)
		return false;

	pkey = es256_key_or_error(der, derlen);
	ctx = EVP_MD_CTX_new();
	sig = ECDSA_SIG_new();
	r = BN_bin2bn(rs, 32, NULL);
	s = BN_bin2bn(rs + 32, 32, NULL);
	if (sig != NULL && r != NULL && s != NULL && ECDSA_SIG_set0(sig, r, s) == 1)
		r = s = NULL;			/* owned by sig now */

	sigderlen = (sig != NULL) ? i2d_ECDSA_SIG(sig, &sigder) : -1;
	ok = (ctx != NULL && sigderlen > 0 &&
		  EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pkey) == 1 &&
		  EVP_DigestVerify(ctx, sigder, (size_t) sigderlen, data, datalen) == 1);

	OPENSSL_free(sigder);
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(sig);
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pkey);

	return ok;
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
	return es256_verify(key, keylen, (const unsigned char *) parts->signing_input,
						parts->signing_len, parts->sig, parts->sig_len);
}


/*
 * Keys
 */

/*
 * Active keys are cached per backend, by kid, so that verifying a token
 * reads no table.  Any change of workon.jwt_keys (rotation, retirement,
 * seeding) fires the trigger jwt_keys_changed, whose relcache invalidation
 * reaches every backend at commit and empties the cache.  Unknown kids are
 * not cached: a hostile token cannot fill the cache.
 */
typedef struct KeyCacheEntry
{
	char		kid[NAMEDATALEN * 2];	/* hash key; longer kids are not cached */
	JwtAlg		alg;
	bytea	   *material;		/* in key_cache_cxt */
	WorkonHmacKey *hmac;		/* HS256 keys: precomputed states, or NULL */
} KeyCacheEntry;

static HTAB *key_cache = NULL;
static MemoryContext key_cache_cxt = NULL;
static Oid	jwt_keys_relid = InvalidOid;

static void token_cache_reset(void);

static void
key_cache_reset(void)
{
	token_cache_reset();
	header_memo.has_key = false;
	if (header_memo.hmac_after != NULL)
		workon_hmac_key_clear(header_memo.hmac_after);
	if (key_cache != NULL)
	{
		HASH_SEQ_STATUS status;
		KeyCacheEntry *entry;

		hash_seq_init(&status, key_cache);
		while ((entry = (KeyCacheEntry *) hash_seq_search(&status)) != NULL)
		{
			if (entry->hmac != NULL)
				workon_hmac_key_free(entry->hmac);
		}
		hash_destroy(key_cache);
		key_cache = NULL;
	}
	if (key_cache_cxt != NULL)
		MemoryContextReset(key_cache_cxt);
}

static void
key_cache_invalidate(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == jwt_keys_relid)
	{
		key_cache_reset();
		if (relid == InvalidOid)
			jwt_keys_relid = InvalidOid;	/* the table may be new */
	}
}

void
workon_jwt_init(void)
{
	CacheRegisterRelcacheCallback(key_cache_invalidate, (Datum) 0);
}

/* The owner of workon.jwt_keys (the extension's owner) */
static Oid
jwt_keys_owner(void)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(jwt_keys_relid));
	Oid			owner;

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", jwt_keys_relid);
	owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);
	return owner;
}

/*
 * The algorithm and material of the active key kid, read from the table as
 * the table's owner (the keys are readable by the extension only, whoever
 * calls), or false if there is none.
 */
static bool
lookup_key_in_table(const char *kid, JwtAlg *alg, bytea **material,
					MemoryContext resultcxt)
{
	static SPIPlanPtr plan = NULL;
	Datum		arg = CStringGetTextDatum(kid);
	bool		found = false;
	Oid			save_userid;
	int			save_sec_context;

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(jwt_keys_owner(),
						   save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	if (plan == NULL)
	{
		Oid			argtypes[1] = {TEXTOID};
		SPIPlanPtr	p = SPI_prepare("SELECT k.alg, k.secret FROM workon.jwt_keys AS k"
									" WHERE k.kid OPERATOR(pg_catalog.=) $1"
									" AND k.retired_at IS NULL",
									1, argtypes);

		if (p == NULL || SPI_keepplan(p) != 0)
			elog(ERROR, "could not prepare the key lookup: %s",
				 SPI_result_code_string(SPI_result));
		plan = p;
	}

	if (SPI_execute_plan(plan, &arg, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "key lookup failed");

	if (SPI_processed == 1)
	{
		HeapTuple	tuple = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		char	   *algname = SPI_getvalue(tuple, desc, 1);
		bool		isnull;
		Datum		secret = SPI_getbinval(tuple, desc, 2, &isnull);

		if (algname != NULL && !isnull)
		{
			bytea	   *b = DatumGetByteaPP(secret);
			size_t		blen = VARSIZE_ANY_EXHDR(b);

			*alg = alg_from_name(algname);
			*material = (bytea *) MemoryContextAlloc(resultcxt, blen + VARHDRSZ);
			SET_VARSIZE(*material, blen + VARHDRSZ);
			memcpy(VARDATA(*material), VARDATA_ANY(b), blen);
			found = (*alg != JWT_ALG_UNKNOWN);
		}
	}

	SPI_finish();
	SetUserIdAndSecContext(save_userid, save_sec_context);
	return found;
}

/* The active key kid, from the cache or the table; false if there is none */
static bool
lookup_key(const char *kid, JwtAlg *alg, bytea **material, WorkonHmacKey **hmac,
		   bool *cached)
{
	KeyCacheEntry *entry;
	bool		found;

	*cached = false;
	if (!OidIsValid(jwt_keys_relid))
	{
		jwt_keys_relid = get_relname_relid("jwt_keys",
										   get_namespace_oid("workon", false));
		if (!OidIsValid(jwt_keys_relid))
			elog(ERROR, "table workon.jwt_keys does not exist");
	}

	*hmac = NULL;
	if (strlen(kid) >= sizeof(entry->kid))
		return lookup_key_in_table(kid, alg, material, CurrentMemoryContext);

	if (key_cache == NULL)
	{
		HASHCTL		ctl;

		if (key_cache_cxt == NULL)
			key_cache_cxt = AllocSetContextCreate(TopMemoryContext,
												  "workon JWT keys",
												  ALLOCSET_SMALL_SIZES);
		ctl.keysize = sizeof(entry->kid);
		ctl.entrysize = sizeof(KeyCacheEntry);
		ctl.hcxt = key_cache_cxt;
		key_cache = hash_create("workon JWT keys", 16, &ctl,
								HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	}

	entry = (KeyCacheEntry *) hash_search(key_cache, kid, HASH_FIND, NULL);
	if (entry != NULL)
	{
		*alg = entry->alg;
		*material = entry->material;
		*hmac = entry->hmac;
		*cached = true;
		return true;
	}

	if (!lookup_key_in_table(kid, alg, material, key_cache_cxt))
		return false;

	/* the lookup may have processed an invalidation that dropped the cache */
	if (key_cache == NULL)
		return true;
	entry = (KeyCacheEntry *) hash_search(key_cache, kid, HASH_ENTER, &found);
	entry->alg = *alg;
	entry->material = *material;
	entry->hmac = NULL;
	if (*alg == JWT_ALG_HS256 && VARSIZE(*material) - VARHDRSZ >= JWT_HS256_MIN_KEY)
		entry->hmac = workon_hmac_key_new(key_cache_cxt, (unsigned char *) VARDATA(*material),
										  VARSIZE(*material) - VARHDRSZ);
	*hmac = entry->hmac;
	*cached = true;
	return true;
}

/*
 * Trigger on workon.jwt_keys: every backend drops its cached keys once the
 * change commits.
 */
PG_FUNCTION_INFO_V1(jwt_keys_changed);
Datum
jwt_keys_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "jwt_keys_changed: not called by the trigger manager");

	CacheInvalidateRelcacheByRelid(RelationGetRelid(trigdata->tg_relation));

	return PointerGetDatum(NULL);
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
		reject(psprintf("invalid %s claim", claim->name));
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
		reject("malformed token");

	if (!time_claim(&numbers[CLAIM_EXP]))
		reject("missing exp claim");
	*exp = numbers[CLAIM_EXP].value;
	if (now > *exp + JWT_LEEWAY_SECONDS)
		reject("token expired");
	if (time_claim(&numbers[CLAIM_NBF]) &&
		now + JWT_LEEWAY_SECONDS < numbers[CLAIM_NBF].value)
		reject("token not yet valid");
	if (time_claim(&numbers[CLAIM_IAT]) &&
		now + JWT_LEEWAY_SECONDS < numbers[CLAIM_IAT].value)
		reject("token issued in the future");

	if (!claim_string_is(workon_jwt_json_member(&claims, "iss"),
						 workon_jwt_issuer ? workon_jwt_issuer : ""))
		reject("issuer mismatch");
	if (!audience_matches(workon_jwt_json_member(&claims, "aud"),
						  workon_jwt_audience ? workon_jwt_audience : ""))
		reject("audience mismatch");

	sub = workon_jwt_json_member(&claims, "sub");
	if (sub == NULL || sub->type != jbvString ||
		!is_uuid_text(sub->val.string.val, sub->val.string.len))
		reject("invalid subject");
	role = workon_jwt_json_member(&claims, "role");
	if (!(claim_string_is(role, "member") || claim_string_is(role, "host") ||
		  claim_string_is(role, "admin")))
		reject("invalid role claim");

	return workon_jwt_jsonb(&claims, size);
}

/*
 * Verified tokens are cached per backend (workon.jwt_cache_size entries,
 * direct-mapped by a hash of the token), the way PostgREST caches JWT
 * validation: the shim sends the same few tokens over and over on each
 * pooled connection.  A hit compares the whole token, then checks expiry
 * again, so a cached token stops being accepted the moment it expires;
 * everything else a verification checks cannot change for the same bytes
 * while the keys and the issuer/audience settings stay the same, and a
 * change of either empties the cache.  Only tokens that passed every check
 * are cached, so a hostile caller cannot fill it.
 */
typedef struct TokenCacheEntry
{
	uint32		hash;
	uint32		len;
	double		exp;
	Jsonb	   *claims;
	char		token[FLEXIBLE_ARRAY_MEMBER];
} TokenCacheEntry;

#define TOKEN_CACHE_MAX_TOKEN	2048	/* longer tokens are not cached */

int			workon_jwt_cache_size = 1024;

static TokenCacheEntry **token_cache = NULL;
static uint32 token_cache_mask = 0;
static MemoryContext token_cache_cxt = NULL;
static char *token_cache_issuer = NULL;
static char *token_cache_audience = NULL;

static void
token_cache_reset(void)
{
	token_cache = NULL;
	token_cache_mask = 0;
	token_cache_issuer = NULL;
	token_cache_audience = NULL;
	if (token_cache_cxt != NULL)
		MemoryContextReset(token_cache_cxt);
}

static inline const char *
guc_or_empty(const char *value)
{
	return value != NULL ? value : "";
}

/* The slot for a token, or NULL when caching is off */
static TokenCacheEntry **
token_cache_slot(const char *token, uint32 len, uint32 *hash)
{
	uint32		slots;

	if (workon_jwt_cache_size <= 0 || len > TOKEN_CACHE_MAX_TOKEN)
		return NULL;

	/* the settings tokens are checked against, or the size, changed */
	if (token_cache != NULL &&
		(strcmp(token_cache_issuer, guc_or_empty(workon_jwt_issuer)) != 0 ||
		 strcmp(token_cache_audience, guc_or_empty(workon_jwt_audience)) != 0 ||
		 token_cache_mask + 1 != pg_nextpower2_32((uint32) workon_jwt_cache_size)))
		token_cache_reset();

	if (token_cache == NULL)
	{
		if (token_cache_cxt == NULL)
			token_cache_cxt = AllocSetContextCreate(TopMemoryContext,
													"workon verified tokens",
													ALLOCSET_DEFAULT_SIZES);
		slots = pg_nextpower2_32((uint32) workon_jwt_cache_size);
		token_cache = MemoryContextAllocZero(token_cache_cxt,
											 slots * sizeof(TokenCacheEntry *));
		token_cache_mask = slots - 1;
		token_cache_issuer = MemoryContextStrdup(token_cache_cxt,
												 guc_or_empty(workon_jwt_issuer));
		token_cache_audience = MemoryContextStrdup(token_cache_cxt,
												   guc_or_empty(workon_jwt_audience));
	}

	*hash = hash_bytes((const unsigned char *) token, (int) len);
	return &token_cache[*hash & token_cache_mask];
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
	TokenCacheEntry **slot;
	TokenCacheEntry *hit;
	uint32		hash = 0;
	JwtParts	parts;
	JwtAlg		key_alg;
	bytea	   *material;
	WorkonHmacKey *hmac;
	size_t		hashed = 0;
	Jsonb	   *claims;
	double		exp;

	slot = token_cache_slot(data, len, &hash);
	if (slot != NULL && (hit = *slot) != NULL &&
		hit->hash == hash && hit->len == len && memcmp(hit->token, data, len) == 0)
	{
		if ((double) time(NULL) > hit->exp + JWT_LEEWAY_SECONDS)
			reject("token expired");
		claims = palloc(VARSIZE(hit->claims));
		memcpy(claims, hit->claims, VARSIZE(hit->claims));
		return claims;
	}

	jwt_split(data, len, &parts);

	if (parts.kid == NULL)
		reject("missing key id");
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

		if (!lookup_key(parts.kid, &key_alg, &material, &hmac, &cached))
			reject("unknown key");
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
		reject("algorithm not allowed");
	if (!signature_valid(&parts, (unsigned char *) VARDATA(material),
						 VARSIZE(material) - VARHDRSZ, hmac, hashed))
		reject("signature mismatch");

	claims = payload_claims(&parts, &exp);

	/* the key lookup may have emptied the cache (an invalidation) */
	slot = token_cache_slot(data, len, &hash);
	if (slot != NULL)
	{
		TokenCacheEntry *entry;

		if (*slot != NULL)
		{
			pfree((*slot)->claims);
			pfree(*slot);
			*slot = NULL;
		}
		entry = MemoryContextAlloc(token_cache_cxt,
								   offsetof(TokenCacheEntry, token) + len);
		entry->hash = hash;
		entry->len = len;
		entry->exp = exp;
		entry->claims = MemoryContextAlloc(token_cache_cxt, VARSIZE(claims));
		memcpy(entry->claims, claims, VARSIZE(claims));
		memcpy(entry->token, data, len);
		*slot = entry;
	}

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
 * table's owner (lookup_key_in_table), so any role may call it.
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
	JwtAlg		alg = alg_arg(PG_GETARG_TEXT_PP(1));
	bytea	   *key = PG_GETARG_BYTEA_PP(2);
	JwtParts	parts;

	jwt_split(VARDATA_ANY(token), VARSIZE_ANY_EXHDR(token), &parts);
	if (parts.alg != alg)
		reject("algorithm not allowed");

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
	JwtAlg		alg = alg_arg(PG_GETARG_TEXT_PP(1));
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
		es256_sign(keydata, keylen, (unsigned char *) token.data, token.len, sig);
		siglen = JWT_ES256_SIG_LEN;
	}

	appendStringInfoChar(&token, '.');
	appendStringInfoString(&token, workon_b64url_encode(sig, siglen));

	PG_RETURN_TEXT_P(cstring_to_text_with_len(token.data, token.len));
}

/*
 * workon.jwt_generate_key(alg text) returns bytea
 *
 * New key material: 64 random bytes for HS256, a PKCS #8 DER P-256
 * private key for ES256.
 */
PG_FUNCTION_INFO_V1(jwt_generate_key);
Datum
jwt_generate_key(PG_FUNCTION_ARGS)
{
	JwtAlg		alg = alg_arg(PG_GETARG_TEXT_PP(0));
	bytea	   *result;

	if (alg == JWT_ALG_HS256)
	{
		result = (bytea *) palloc(VARHDRSZ + JWT_HS256_NEW_KEY);
		SET_VARSIZE(result, VARHDRSZ + JWT_HS256_NEW_KEY);
		if (!pg_strong_random(VARDATA(result), JWT_HS256_NEW_KEY))
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not generate random bytes")));
	}
	else
	{
		EVP_PKEY   *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		PKCS8_PRIV_KEY_INFO *p8 = pkey ? EVP_PKEY2PKCS8(pkey) : NULL;
		unsigned char *der = NULL;
		int			len = p8 ? i2d_PKCS8_PRIV_KEY_INFO(p8, &der) : -1;

		if (len > 0)
		{
			result = (bytea *) palloc(VARHDRSZ + len);
			SET_VARSIZE(result, VARHDRSZ + len);
			memcpy(VARDATA(result), der, len);
			OPENSSL_clear_free(der, len);
		}
		PKCS8_PRIV_KEY_INFO_free(p8);
		EVP_PKEY_free(pkey);
		if (len <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not generate a P-256 key")));
	}

	PG_RETURN_BYTEA_P(result);
}

/*
 * workon.jwt_public_key_pem(key bytea) returns text
 *
 * The public key (SubjectPublicKeyInfo, PEM) of ES256 key material, for
 * whoever verifies tokens outside the database.
 */
PG_FUNCTION_INFO_V1(jwt_public_key_pem);
Datum
jwt_public_key_pem(PG_FUNCTION_ARGS)
{
	bytea	   *key = PG_GETARG_BYTEA_PP(0);
	EVP_PKEY   *pkey = es256_key_or_error((unsigned char *) VARDATA_ANY(key),
										  VARSIZE_ANY_EXHDR(key));
	BIO		   *bio = BIO_new(BIO_s_mem());
	char	   *data;
	long		len;
	text	   *result = NULL;

	if (bio != NULL && PEM_write_bio_PUBKEY(bio, pkey) == 1 &&
		(len = BIO_get_mem_data(bio, &data)) > 0)
		result = cstring_to_text_with_len(data, (int) len);

	BIO_free(bio);
	EVP_PKEY_free(pkey);
	if (result == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not write the public key")));

	PG_RETURN_TEXT_P(result);
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

/*
 * workon.hmac_sha256(key bytea, data bytea) returns bytea
 */
PG_FUNCTION_INFO_V1(hmac_sha256);
Datum
hmac_sha256(PG_FUNCTION_ARGS)
{
	bytea	   *key = PG_GETARG_BYTEA_PP(0);
	bytea	   *data = PG_GETARG_BYTEA_PP(1);
	bytea	   *result = (bytea *) palloc(VARHDRSZ + JWT_SIG_LEN);

	SET_VARSIZE(result, VARHDRSZ + JWT_SIG_LEN);
	workon_hmac_sha256((unsigned char *) VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key),
				(unsigned char *) VARDATA_ANY(data), VARSIZE_ANY_EXHDR(data),
				(unsigned char *) VARDATA(result));

	PG_RETURN_BYTEA_P(result);
}

/*
 * workon.random_token(nbytes integer) returns text
 *
 * nbytes (16 to 64) random bytes in unpadded base64url.
 */
PG_FUNCTION_INFO_V1(random_token);
Datum
random_token(PG_FUNCTION_ARGS)
{
	int32		nbytes = PG_GETARG_INT32(0);
	unsigned char buf[64];

	if (nbytes < 16 || nbytes > 64)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("random token length must be between 16 and 64 bytes")));
	if (!pg_strong_random(buf, nbytes))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate random bytes")));

	PG_RETURN_TEXT_P(cstring_to_text(workon_b64url_encode(buf, nbytes)));
}
