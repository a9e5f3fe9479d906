/*-------------------------------------------------------------------------
 *
 * users.c
 *	  The current role and state of the user an access token names.
 *
 * An access token says who its user is (sub) and which role the user had
 * when it was issued; it stays valid until it expires.  The caller acts
 * with what workon.users says now: a token whose user was deleted or
 * disabled is refused, and a role change takes effect on the next request.
 *
 * Every request with a token asks, so the answer is cached per backend, by
 * user id: a hit reads no table.  Any change of a user's role or state
 * (UPDATE OF role, disabled, or DELETE) fires the statement trigger
 * users_changed, whose relcache invalidation reaches every backend when
 * the change commits (and the changing backend at once) and empties the
 * cache, the way jwt_keys.c keeps its keys honest.  The verified-token
 * cache of jwt_cache.c needs no such care: it holds what the token says,
 * never what the user is.
 *
 * extension/users.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

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
#include "utils/uuid.h"

#include "workon.h"

typedef struct UserStateEntry
{
	pg_uuid_t	id;				/* hash key */
	bool		active;			/* exists and is not disabled */
	char		role[NAMEDATALEN];
} UserStateEntry;

/* a bound on what one backend remembers; past it, the cache starts over */
#define USER_CACHE_MAX	8192

static HTAB *user_cache = NULL;
static Oid	users_relid = InvalidOid;

static void
user_cache_invalidate(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == users_relid)
	{
		if (user_cache != NULL)
			hash_destroy(user_cache);
		user_cache = NULL;
		if (relid == InvalidOid)
			users_relid = InvalidOid;	/* the table may be new */
	}
}

/* Called once per backend by _PG_init() */
void
workon_users_init(void)
{
	CacheRegisterRelcacheCallback(user_cache_invalidate, (Datum) 0);
}

/*
 * Read the user's role and state from workon.users as the table's owner
 * (row-level security would show the anonymous caller nothing).
 */
static void
lookup_user_in_table(const pg_uuid_t *id, UserStateEntry *out)
{
	static SPIPlanPtr plan = NULL;
	HeapTuple	classtup;
	Oid			owner;
	Oid			save_userid;
	int			save_sec_context;
	Datum		arg = UUIDPGetDatum(id);

	classtup = SearchSysCache1(RELOID, ObjectIdGetDatum(users_relid));
	if (!HeapTupleIsValid(classtup))
		elog(ERROR, "cache lookup failed for relation %u", users_relid);
	owner = ((Form_pg_class) GETSTRUCT(classtup))->relowner;
	ReleaseSysCache(classtup);

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(owner, save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (plan == NULL)
	{
		Oid			argtypes[1] = {UUIDOID};
		SPIPlanPtr	p = SPI_prepare("SELECT u.role, u.disabled FROM workon.users AS u"
									" WHERE u.id OPERATOR(pg_catalog.=) $1",
									1, argtypes);

		if (p == NULL || SPI_keepplan(p) != 0)
			elog(ERROR, "could not prepare the user lookup: %s",
				 SPI_result_code_string(SPI_result));
		plan = p;
	}
	if (SPI_execute_plan(plan, &arg, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "user lookup failed");

	out->active = false;
	out->role[0] = '\0';
	if (SPI_processed == 1)
	{
		HeapTuple	tuple = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		char	   *role = SPI_getvalue(tuple, desc, 1);
		bool		isnull;
		Datum		disabled = SPI_getbinval(tuple, desc, 2, &isnull);

		if (role != NULL && !isnull && !DatumGetBool(disabled))
		{
			strlcpy(out->role, role, sizeof(out->role));
			out->active = true;
		}
	}
	SPI_finish();
	SetUserIdAndSecContext(save_userid, save_sec_context);
}

/*
 * The current role of the user sub names ("member", "host", "admin"), or
 * NULL if there is no such user or the account is disabled.  The result
 * lives until the next call.
 */
const char *
workon_user_current_role(const char *sub)
{
	static UserStateEntry last;
	UserStateEntry *entry;
	pg_uuid_t	id;
	bool		found;

	if (sub == NULL)
		return NULL;
	/* jwt_verify checked that sub is a UUID */
	memcpy(&id, DatumGetUUIDP(DirectFunctionCall1(uuid_in, CStringGetDatum(sub))), sizeof(id));
	if (!OidIsValid(users_relid))
	{
		users_relid = get_relname_relid("users", get_namespace_oid("workon", false));
		if (!OidIsValid(users_relid))
			elog(ERROR, "table workon.users does not exist");
	}
	if (user_cache != NULL && hash_get_num_entries(user_cache) >= USER_CACHE_MAX)
		user_cache_invalidate((Datum) 0, users_relid);
	if (user_cache == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(pg_uuid_t);
		ctl.entrysize = sizeof(UserStateEntry);
		ctl.hcxt = TopMemoryContext;
		user_cache = hash_create("workon users", 64, &ctl,
								 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}

	entry = (UserStateEntry *) hash_search(user_cache, &id, HASH_FIND, NULL);
	if (entry == NULL)
	{
		memcpy(&last.id, &id, sizeof(id));
		lookup_user_in_table(&id, &last);
		/* the lookup may have processed an invalidation that dropped the cache */
		if (user_cache != NULL)
		{
			entry = (UserStateEntry *) hash_search(user_cache, &id, HASH_ENTER, &found);
			entry->active = last.active;
			strlcpy(entry->role, last.role, sizeof(entry->role));
		}
		else
			entry = &last;
	}
	if (!entry->active)
		return NULL;
	if (entry != &last)
		memcpy(&last, entry, sizeof(last));
	return last.role;
}

/*
 * Trigger on workon.users (statement level, after UPDATE OF role, disabled
 * or DELETE): every backend forgets the users it knew once the change
 * commits.
 */
PG_FUNCTION_INFO_V1(users_changed);
Datum
users_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "users_changed: not called by the trigger manager");
	CacheInvalidateRelcacheByRelid(RelationGetRelid(trigdata->tg_relation));
	return PointerGetDatum(NULL);
}
