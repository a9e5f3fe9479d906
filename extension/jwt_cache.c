/*-------------------------------------------------------------------------
 *
 * jwt_cache.c
 *	  The access tokens a backend verified, so that one sent again is not
 *	  verified again.
 *
 * Verified tokens are cached per backend (workon.jwt_cache_size entries,
 * direct-mapped by a hash of the token), the way PostgREST caches JWT
 * validation: the shim sends the same few tokens over and over on each
 * pooled connection.  A hit compares the whole token, then checks expiry
 * again, so a cached token stops being accepted the moment it expires;
 * everything else a verification checks cannot change for the same bytes
 * while the keys and the issuer/audience settings stay the same, and a
 * change of either empties the cache (jwt_keys.c for the keys, here for
 * the settings).  Only tokens that passed every check are cached, so a
 * hostile caller cannot fill it.
 *
 * extension/jwt_cache.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <time.h>

#include "common/hashfn.h"
#include "port/pg_bitutils.h"
#include "utils/memutils.h"

#include "jwt_internal.h"

typedef struct TokenCacheEntry
{
	uint32		hash;
	uint32		len;
	double		exp;
	Jsonb	   *claims;
	char		token[FLEXIBLE_ARRAY_MEMBER];
} TokenCacheEntry;

#define TOKEN_CACHE_MAX_TOKEN	2048	/* longer tokens are not cached */

/* GUC, registered in workon.c */
int			workon_jwt_cache_size = 1024;

static TokenCacheEntry **token_cache = NULL;
static uint32 token_cache_mask = 0;
static MemoryContext token_cache_cxt = NULL;
static char *token_cache_issuer = NULL;
static char *token_cache_audience = NULL;

/* Forget every token (the keys changed) */
void
workon_jwt_cache_reset(void)
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
		workon_jwt_cache_reset();

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
 * The claims of a token a verification accepted before, copied into the
 * current memory context; NULL if it is not cached.  A cached token that
 * has expired since is an error 28000.
 */
Jsonb *
workon_jwt_cache_lookup(const char *token, uint32 len)
{
	uint32		hash = 0;
	TokenCacheEntry **slot = token_cache_slot(token, len, &hash);
	TokenCacheEntry *hit;
	Jsonb	   *claims;

	if (slot == NULL || (hit = *slot) == NULL ||
		hit->hash != hash || hit->len != len || memcmp(hit->token, token, len) != 0)
		return NULL;

	if ((double) time(NULL) > hit->exp + JWT_LEEWAY_SECONDS)
		workon_jwt_reject("token expired");
	claims = palloc(VARSIZE(hit->claims));
	memcpy(claims, hit->claims, VARSIZE(hit->claims));
	return claims;
}

/*
 * Remember the claims of a token that passed every check, until exp.  The
 * slot is found again: the key lookup since workon_jwt_cache_lookup() may
 * have emptied the cache (an invalidation).
 */
void
workon_jwt_cache_store(const char *token, uint32 len, double exp,
					   const Jsonb *claims)
{
	uint32		hash = 0;
	TokenCacheEntry **slot = token_cache_slot(token, len, &hash);
	TokenCacheEntry *entry;

	if (slot == NULL)
		return;

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
	memcpy(entry->token, token, len);
	*slot = entry;
}
