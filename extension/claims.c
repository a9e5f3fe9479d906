/*-------------------------------------------------------------------------
 *
 * claims.c
 *	  Who is calling: the API role and token claims of the current
 *	  transaction.
 *
 * workon.dispatch() records the caller once per request: the API role it
 * switched to ("anon", "member", "host" or "admin") and, for a request with
 * a verified token, the token's claims.  Row-level security policies and
 * route handlers read them through workon.claims(),
 * workon.current_user_id() and workon.current_role().
 *
 * The state is backend-local and lives exactly as long as the role switch
 * that goes with it: it is forgotten at commit and abort, and when the
 * subtransaction that recorded it aborts.  Because parallel workers cannot
 * see it, the SQL functions are declared PARALLEL RESTRICTED.
 *
 * extension/claims.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <string.h>

#include "access/xact.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/uuid.h"

#include "workon.h"

typedef struct CallerState
{
	bool		active;			/* recorded by dispatch in this transaction */
	int			nest_level;		/* transaction nest level that recorded it */
	char		role[NAMEDATALEN];	/* API role, without the prefix */
	Jsonb	   *claims;			/* in TopTransactionContext; NULL for anon */
	bool		has_user_id;	/* claims carry a "sub" that is a uuid */
	pg_uuid_t	user_id;
} CallerState;

static CallerState caller;

static void
caller_forget(void)
{
	caller.active = false;
	caller.nest_level = 0;
	caller.role[0] = '\0';
	caller.claims = NULL;		/* freed with TopTransactionContext */
	caller.has_user_id = false;
}

/* At transaction end (workon.c): the caller was the transaction's */
void
workon_claims_xact_end(void)
{
	caller_forget();
}

/*
 * A subtransaction that recorded the caller takes it along when it aborts
 * (its SET ROLE is undone too); when it commits, the parent inherits it.
 */
static void
claims_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						SubTransactionId parentSubid, void *arg)
{
	int			level;

	if (!caller.active)
		return;

	level = GetCurrentTransactionNestLevel();
	if (caller.nest_level < level)
		return;

	if (event == SUBXACT_EVENT_ABORT_SUB)
		caller_forget();
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
		caller.nest_level = level - 1;
}

void
workon_claims_init(void)
{
	RegisterSubXactCallback(claims_subxact_callback, NULL);
}

/*
 * Record the caller for the rest of the transaction.  api_role is the role
 * name without its "workon_" prefix; claims is NULL for an anonymous
 * request.
 */
void
workon_claims_set(const char *api_role, Jsonb *claims)
{
	caller_forget();

	caller.active = true;
	caller.nest_level = GetCurrentTransactionNestLevel();
	strlcpy(caller.role, api_role, sizeof(caller.role));

	if (claims != NULL)
	{
		JsonbValue	sub;

		caller.claims = (Jsonb *) MemoryContextAlloc(TopTransactionContext,
													 VARSIZE(claims));
		memcpy(caller.claims, claims, VARSIZE(claims));

		if (JB_ROOT_IS_OBJECT(claims) &&
			getKeyJsonValueFromContainer(&claims->root, "sub", 3, &sub) != NULL &&
			sub.type == jbvString)
		{
			char	   *str = pnstrdup(sub.val.string.val, sub.val.string.len);
			Datum		uuid = DirectFunctionCall1(uuid_in, CStringGetDatum(str));

			memcpy(&caller.user_id, DatumGetUUIDP(uuid), sizeof(pg_uuid_t));
			caller.has_user_id = true;
		}
	}
}

/*
 * The API role of the current user when it is one of workon's, for SQL
 * callers that switched role themselves instead of going through dispatch.
 * Returns NULL otherwise.
 */
static const char *
api_role_of_current_user(void)
{
	const char *name = GetUserNameFromId(GetUserId(), true);
	const char *suffix;

	if (name == NULL ||
		strncmp(name, WORKON_ROLE_PREFIX, strlen(WORKON_ROLE_PREFIX)) != 0)
		return NULL;

	suffix = name + strlen(WORKON_ROLE_PREFIX);
	if (strcmp(suffix, "anon") == 0 ||
		strcmp(suffix, "member") == 0 ||
		strcmp(suffix, "host") == 0 ||
		strcmp(suffix, "admin") == 0)
		return suffix;

	return NULL;
}

/*
 * workon.claims() returns jsonb
 *
 * The verified token claims of the current request, NULL when the request
 * is anonymous or no request was dispatched in this transaction.
 */
PG_FUNCTION_INFO_V1(claims);
Datum
claims(PG_FUNCTION_ARGS)
{
	Jsonb	   *copy;

	if (!caller.active || caller.claims == NULL)
		PG_RETURN_NULL();

	copy = (Jsonb *) palloc(VARSIZE(caller.claims));
	memcpy(copy, caller.claims, VARSIZE(caller.claims));

	PG_RETURN_JSONB_P(copy);
}

/*
 * workon.current_user_id() returns uuid
 *
 * The id of the authenticated user ("sub" claim), NULL for anonymous
 * callers.
 */
PG_FUNCTION_INFO_V1(current_user_id);
Datum
current_user_id(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *result;

	if (!caller.active || !caller.has_user_id)
		PG_RETURN_NULL();

	result = (pg_uuid_t *) palloc(sizeof(pg_uuid_t));
	memcpy(result, &caller.user_id, sizeof(pg_uuid_t));

	PG_RETURN_UUID_P(result);
}

/*
 * workon.current_role() returns text
 *
 * The caller's API role without prefix: "anon", "member", "host" or
 * "admin".  Without a dispatched request in this transaction it is derived
 * from the current role when that is one of workon_anon, workon_member,
 * workon_host or workon_admin; otherwise NULL.
 */
PG_FUNCTION_INFO_V1(current_role);
Datum
current_role(PG_FUNCTION_ARGS)
{
	const char *role;

	if (caller.active)
		role = caller.role;
	else
		role = api_role_of_current_user();

	if (role == NULL)
		PG_RETURN_NULL();

	PG_RETURN_TEXT_P(cstring_to_text(role));
}
