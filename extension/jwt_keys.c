/*-------------------------------------------------------------------------
 *
 * jwt_keys.c
 *	  The key store: the active keys of workon.jwt_keys, by kid.
 *
 * Each key has exactly one algorithm (HS256 or ES256) and its material:
 * the raw secret for HS256 (at least 32 bytes), a PKCS #8 DER private key
 * on P-256 for ES256.  The table is readable by the extension only; a
 * verification reads it as the table's owner, whoever calls.
 *
 * extension/jwt_keys.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "jwt_internal.h"

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

/* Forget every key, and all that was verified with one */
static void
key_cache_reset(void)
{
	workon_jwt_cache_reset();
	workon_jwt_forget_key();
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

/* Called once per backend by _PG_init() */
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

			*alg = workon_jwt_alg_from_name(algname);
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

/*
 * The active key kid, from the cache or the table; false if there is none.
 * *hmac is an HS256 key's precomputed states (NULL for other keys), and
 * *cached whether the key stays in the cache until the keys change.
 */
bool
workon_jwt_lookup_key(const char *kid, JwtAlg *alg, bytea **material,
					  WorkonHmacKey **hmac, bool *cached)
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
