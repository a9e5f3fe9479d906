/*-------------------------------------------------------------------------
 *
 * dispatch.c
 *	  workon.dispatch(): one HTTP API request, one function call.
 *
 * The HTTP front end resolves a request to a route handler (a function in
 * schema workon, found in the table workon.routes) and calls
 *
 *		workon.dispatch(handler, params, query, body, token, meta)
 *
 * which
 *
 *	1. authenticates the caller (no token: anonymous; a token: verified by
 *	   workon.jwt_verify(), see jwt.c) and switches, for the rest of the
 *	   transaction, to its API role (workon_anon, workon_member, ...), the
 *	   way SET LOCAL ROLE would, and records the caller for workon.claims();
 *	2. checks that the handler is a function of schema workon (else WO404)
 *	   that the API role may execute (else WO401 for anonymous callers,
 *	   42501 for others);
 *	3. binds the handler's arguments by name to the request's path and
 *	   query parameters, body fields, body and meta object (dispatch_bind.c,
 *	   which also caches what dispatch knows about each handler);
 *	4. calls the handler and returns one row (status, headers, body,
 *	   user_id, outbox_id): the handler's result, through its type's output
 *	   function, is the body; status and headers are NULL unless the handler
 *	   called workon.set_response(), outbox_id unless it called
 *	   workon.wait_for_outbox(); user_id is the caller (NULL: anonymous).
 *	   workon.dispatch_bytes() adds the file store transfer a handler asked
 *	   for with workon.set_store_transfer() (store_op, store_key,
 *	   store_sha256, store_content_type; NULL otherwise).
 *
 * extension/dispatch.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "dispatch_internal.h"

/*
 * The response status and headers a handler asked for with
 * workon.set_response(), and the outbox row it asked the front end to wait
 * for with workon.wait_for_outbox(); reset for every dispatched call.
 */
typedef struct ResponseOverride
{
	bool		has_status;
	int32		status;
	char	   *headers;		/* JSON object text, in TopTransactionContext */
	bool		has_outbox;
	int64		outbox_id;
	/* workon.set_store_transfer(): what the front end moves through the file store */
	char	   *store_op;		/* "get" or "put"; NULL for none */
	char	   *store_key;
	bytea	   *store_sha256;
	char	   *store_content_type;
} ResponseOverride;

/*
 * The entry points of workon.dispatch(), by the release that declared them;
 * each later one differs from the one before in a single respect.
 */
typedef enum DispatchVersion
{
	DISPATCH_0_1,				/* no key store: any token is refused */
	DISPATCH_0_2,				/* tokens verified; the caller in the headers */
	DISPATCH_0_5				/* the caller and the outbox row as columns */
} DispatchVersion;

static ResponseOverride response;

/* workon.dispatch_bytes: the 0.5.0 row with a bytea body and the file store transfer */
#define DISPATCH_BYTES_COLUMNS 9

static TupleDesc dispatch_result_desc(DispatchVersion version);
static TupleDesc dispatch_bytes_desc(void);

/*
 * Puts a bytes body into the handler's bytea "body" argument (bound NULL
 * before); true when no argument is NULL then
 */
static bool
bytes_body_completes(HandlerInfo *info, FunctionCallInfo call, bytea *bytes_body)
{
	int			i;

	if (bytes_body == NULL)
		return false;
	call->args[info->bytea_body_argno].value = PointerGetDatum(bytes_body);
	call->args[info->bytea_body_argno].isnull = false;
	for (i = 0; i < info->nargs; i++)
		if (call->args[i].isnull)
			return false;
	return true;
}


/*
 * Per backend and per transaction
 */

void
workon_dispatch_init(void)
{
	workon_dispatch_bind_init();
}

/* At transaction end (workon.c): forget the response asked for */
void
workon_dispatch_xact_end(void)
{
	workon_dispatch_bind_xact_end();
	memset(&response, 0, sizeof(response));
}


/*
 * Role switch
 */

/*
 * Become the API role workon_<api_role> until the end of the transaction,
 * as SET LOCAL ROLE does.  The login role must be a member of it.
 */
static void
switch_role(const char *api_role)
{
	char		rolename[NAMEDATALEN];
	Oid			roleid;

	snprintf(rolename, sizeof(rolename), "%s%s", WORKON_ROLE_PREFIX, api_role);
	roleid = get_role_oid(rolename, true);
	if (!OidIsValid(roleid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("role \"%s\" does not exist", rolename)));

	if (!is_member_of_role(GetSessionUserId(), roleid))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_ROLE_SPECIFICATION),
				 errmsg("session user \"%s\" cannot switch to role \"%s\"",
						GetUserNameFromId(GetSessionUserId(), false), rolename),
				 errhint("Grant role \"%s\" to the login role that calls workon.dispatch().",
						 rolename)));

	(void) set_config_option("role", rolename,
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_LOCAL,
							 true, 0, false);
}



/*
 * Request objects
 */

static Jsonb *
object_arg(FunctionCallInfo fcinfo, int argno, const char *what)
{
	Jsonb	   *obj;

	if (PG_ARGISNULL(argno))
		return NULL;

	obj = PG_GETARG_JSONB_P(argno);
	if (!JB_ROOT_IS_OBJECT(obj))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("request %s must be a JSON object", what)));

	return JsonContainerSize(&obj->root) > 0 ? obj : NULL;
}


/*
 * Token verification
 */

/*
 * The claims of a valid access token; error 28000 otherwise (jwt_keys.c
 * reads the keys, which only the extension may, into a per-backend cache).
 */
static Jsonb *
verify_token(text *token)
{
	return workon_jwt_verify_token(token);
}

/*
 * The "sub" claim of verified claims (jwt_verify checked it is a UUID);
 * false for anonymous requests
 */
static bool
sub_claim(Jsonb *claims, JsonbValue *sub)
{
	return claims != NULL &&
		getKeyJsonValueFromContainer(&claims->root, "sub", 3, sub) != NULL &&
		sub->type == jbvString;
}

/*
 * The API role the user of verified claims has now (users.c): a token
 * outlives role changes, but acts with the current role; a token whose
 * user was deleted or disabled is refused like an invalid one (28000).
 */
static const char *
current_role_of(Jsonb *claims)
{
	JsonbValue	sub;
	const char *role = NULL;

	if (sub_claim(claims, &sub))
		role = workon_user_current_role(pnstrdup(sub.val.string.val, sub.val.string.len));
	if (role == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("the token's user is unknown or disabled")));
	return pstrdup(role);
}

/*
 * Authenticate the caller of this transaction: switch to its API role and
 * record its claims.  token NULL is anonymous.  Returns the API role.
 */
static const char *
authenticate_caller(text *token, Jsonb **claims_out)
{
	const char *api_role;
	Jsonb	   *claims = NULL;

	if (token == NULL)
		api_role = "anon";
	else
	{
		claims = verify_token(token);
		api_role = current_role_of(claims);
	}
	switch_role(api_role);
	workon_claims_set(api_role, claims);
	*claims_out = claims;

	return api_role;
}

/*
 * workon 0.2.0 to 0.4.1: the response headers with "x-workon-user", the
 * "sub" of the verified token, an internal header the HTTP front end strips
 * (it keys its rate limits on the user a token was found to belong to).
 */
static char *
headers_with_user(const char *headers, Jsonb *claims)
{
	JsonbValue	sub;
	StringInfoData buf;
	const char *rest;

	if (!sub_claim(claims, &sub))
		return (char *) headers;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"x-workon-user\": ");
	escape_json(&buf, pnstrdup(sub.val.string.val, sub.val.string.len));
	rest = headers != NULL ? strchr(headers, '{') : NULL;
	if (rest != NULL && strcmp(rest, "{}") != 0)
		appendStringInfo(&buf, ", %s", rest + 1);
	else
		appendStringInfoChar(&buf, '}');
	return buf.data;
}


/*
 * workon.dispatch(handler oid, params jsonb, query jsonb, request_body text,
 *				   token text, meta jsonb)
 *	  returns table (status int4, headers text, body text
 *					 [, user_id uuid, outbox_id int8])
 *
 * Not strict: the body and the token are NULL when the request has none,
 * and NULL objects are taken as empty ones.
 *
 * Three entry points share the work: "dispatch" is what workon 0.1.0
 * declared (no key store: any token is refused with 28000 "invalid token"),
 * "dispatch_0_2" verifies the token against workon.jwt_keys and adds the
 * caller to the headers as "x-workon-user", and "dispatch_0_5" returns the
 * caller and the outbox row to wait for as the columns user_id and
 * outbox_id instead.
 */
static Datum
dispatch_request(FunctionCallInfo fcinfo, DispatchVersion version, bool bytes)
{
	Oid			fn_oid = PG_ARGISNULL(0) ? InvalidOid : PG_GETARG_OID(0);
	Jsonb	   *params = object_arg(fcinfo, 1, "params");
	Jsonb	   *query = object_arg(fcinfo, 2, "query");
	/* text and bytea are the same varlena: a bytes body is read as either */
	text	   *body = PG_ARGISNULL(3) ? NULL : PG_GETARG_TEXT_PP(3);
	bytea	   *bytes_body = NULL;
	bool		anynull;
	text	   *token = PG_ARGISNULL(4) ? NULL : PG_GETARG_TEXT_PP(4);
	Jsonb	   *meta = PG_ARGISNULL(5) ? NULL : PG_GETARG_JSONB_P(5);
	const char *api_role;
	HandlerInfo *info;
	ResponseOverride outer_response = response;
	LOCAL_FCINFO(call, FUNC_MAX_ARGS);
	Datum		result = (Datum) 0;
	bool		resultnull = true;
	Datum		values[DISPATCH_BYTES_COLUMNS];
	bool		nulls[DISPATCH_BYTES_COLUMNS];
	Jsonb	   *claims;
	JsonbValue	sub;

	if (meta != NULL && !JB_ROOT_IS_OBJECT(meta))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("request meta must be a JSON object")));

	memset(&response, 0, sizeof(response));
	workon_events_dispatching();

	/* 1. Authenticate: no token is anonymous, a token must be valid */
	if (token != NULL && version == DISPATCH_0_1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("invalid token")));
	api_role = authenticate_caller(token, &claims);

	/* 2. The handler, and the right to call it */
	info = workon_handler_lookup(fn_oid);

	if (pg_proc_aclcheck(fn_oid, GetUserId(), ACL_EXECUTE) != ACLCHECK_OK)
	{
		if (strcmp(api_role, "anon") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_WORKON_AUTHENTICATION_REQUIRED),
					 errmsg("authentication required")));
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied"),
				 errdetail("Role \"%s\" may not call %s.",
						   GetUserNameFromId(GetUserId(), false), info->name)));
	}

	/*
	 * 3. Arguments.  Bytes go as they are to a bytea "body"; any other
	 * handler gets them as text, which they must be.
	 */
	if (bytes && body != NULL)
	{
		if (info->bytea_body_argno >= 0)
		{
			bytes_body = (bytea *) body;
			body = NULL;
		}
		else
			(void) pg_verify_mbstr(GetDatabaseEncoding(), VARDATA_ANY(body),
								   VARSIZE_ANY_EXHDR(body), false);
	}
	InitFunctionCallInfoData(*call, &info->flinfo, info->nargs,
							 info->collation, NULL, NULL);
	anynull = workon_bind_arguments(info, call, params, query, body, meta);
	if (bytes_body != NULL)
		anynull = !bytes_body_completes(info, call, bytes_body);
	if (anynull && info->flinfo.fn_strict)
		resultnull = true;
	else
	{
		/* 4. The call */
		PgStat_FunctionCallUsage fcusage;

		pgstat_init_function_usage(call, &fcusage);
		result = FunctionCallInvoke(call);
		resultnull = call->isnull;
		pgstat_end_function_usage(&fcusage, true);
	}

	/* The row */
	memset(nulls, true, sizeof(nulls));
	if (response.has_status)
	{
		values[0] = Int32GetDatum(response.status);
		nulls[0] = false;
	}
	if (version == DISPATCH_0_2 && claims != NULL)
		response.headers = headers_with_user(response.headers, claims);
	if (response.headers != NULL)
	{
		values[1] = CStringGetTextDatum(response.headers);
		nulls[1] = false;
	}
	if (!resultnull && !info->ret_is_void)
	{
		if (info->ret_is_text || (bytes && info->ret_is_bytea))
			values[2] = PointerGetDatum(PG_DETOAST_DATUM_PACKED(result));
		else
			values[2] = CStringGetTextDatum(OutputFunctionCall(&info->output,
															   result));
		nulls[2] = false;
	}
	if (version == DISPATCH_0_5 && sub_claim(claims, &sub))
	{
		values[3] = DirectFunctionCall1(uuid_in,
										CStringGetDatum(pnstrdup(sub.val.string.val,
																 sub.val.string.len)));
		nulls[3] = false;
	}
	if (response.has_outbox)
	{
		values[4] = Int64GetDatum(response.outbox_id);
		nulls[4] = false;
	}
	if (response.store_op != NULL)
	{
		/* only the bytes row has the columns: a text route cannot move a file */
		if (!bytes)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("workon.set_store_transfer() is only valid inside workon.dispatch_bytes()")));
		values[5] = CStringGetTextDatum(response.store_op);
		values[6] = CStringGetTextDatum(response.store_key);
		nulls[5] = nulls[6] = false;
		if (response.store_sha256 != NULL)
		{
			values[7] = PointerGetDatum(response.store_sha256);
			nulls[7] = false;
		}
		if (response.store_content_type != NULL)
		{
			values[8] = CStringGetTextDatum(response.store_content_type);
			nulls[8] = false;
		}
	}

	response = outer_response;

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(bytes ? dispatch_bytes_desc() :
													  dispatch_result_desc(version),
													  values, nulls)));
}

/* workon 0.1.0: no token can be verified */
PG_FUNCTION_INFO_V1(dispatch);
Datum
dispatch(PG_FUNCTION_ARGS)
{
	return dispatch_request(fcinfo, DISPATCH_0_1, false);
}

/* workon 0.2.0: tokens are verified with the keys of workon.jwt_keys */
PG_FUNCTION_INFO_V1(dispatch_0_2);
Datum
dispatch_0_2(PG_FUNCTION_ARGS)
{
	return dispatch_request(fcinfo, DISPATCH_0_2, false);
}

/* workon 0.5.0: the caller and the outbox row to wait for are columns */
PG_FUNCTION_INFO_V1(dispatch_0_5);
Datum
dispatch_0_5(PG_FUNCTION_ARGS)
{
	return dispatch_request(fcinfo, DISPATCH_0_5, false);
}

/*
 * workon 0.5.0: workon.dispatch_bytes, the same with a bytea request body
 * and a bytea response body (a handler's bytea result as it is)
 */
PG_FUNCTION_INFO_V1(dispatch_bytes);
Datum
dispatch_bytes(PG_FUNCTION_ARGS)
{
	return dispatch_request(fcinfo, DISPATCH_0_5, true);
}

/*
 * workon.authenticate(token text) returns jsonb
 *
 * What dispatch does first, for SQL callers: verifies the access token,
 * switches to the API role its user has now (not the token's "role"
 * claim: a role change counts at once) until the end of the transaction (the session user must be a member of it, as the HTTP front
 * end's login role is) and makes the claims those of workon.claims().
 * Returns the claims; error 28000 naming the failed check otherwise.
 */
PG_FUNCTION_INFO_V1(authenticate);
Datum
authenticate(PG_FUNCTION_ARGS)
{
	text	   *token = PG_GETARG_TEXT_PP(0);
	Jsonb	   *claims = verify_token(token);
	const char *api_role = current_role_of(claims);

	switch_role(api_role);
	workon_claims_set(api_role, claims);

	PG_RETURN_JSONB_P(claims);
}


/*
 * (status int4, headers text, body text), and from workon 0.5.0 on
 * (..., user_id uuid, outbox_id int8); each built once per backend
 */
static TupleDesc
dispatch_result_desc(DispatchVersion version)
{
	static TupleDesc descs[2] = {NULL, NULL};
	bool		typed = (version == DISPATCH_0_5);

	if (descs[typed] == NULL)
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(TopMemoryContext);
		TupleDesc	tupdesc = CreateTemplateTupleDesc(typed ? 5 : 3);

		TupleDescInitEntry(tupdesc, 1, "status", INT4OID, -1, 0);
		TupleDescInitEntry(tupdesc, 2, "headers", TEXTOID, -1, 0);
		TupleDescInitEntry(tupdesc, 3, "body", TEXTOID, -1, 0);
		if (typed)
		{
			TupleDescInitEntry(tupdesc, 4, "user_id", UUIDOID, -1, 0);
			TupleDescInitEntry(tupdesc, 5, "outbox_id", INT8OID, -1, 0);
		}
		BlessTupleDesc(tupdesc);
		MemoryContextSwitchTo(oldcxt);
		descs[typed] = tupdesc;
	}

	return descs[typed];
}


/* workon.dispatch_bytes: the 0.5.0 row with a bytea body, built once per backend */
static TupleDesc
dispatch_bytes_desc(void)
{
	static TupleDesc desc = NULL;

	if (desc == NULL)
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(TopMemoryContext);
		TupleDesc	typed = dispatch_result_desc(DISPATCH_0_5);
		TupleDesc	tupdesc = CreateTemplateTupleDesc(DISPATCH_BYTES_COLUMNS);
		AttrNumber	i;

		for (i = 1; i <= typed->natts; i++)
			TupleDescCopyEntry(tupdesc, i, typed, i);
		TupleDescInitEntry(tupdesc, 3, "body", BYTEAOID, -1, 0);
		TupleDescInitEntry(tupdesc, 6, "store_op", TEXTOID, -1, 0);
		TupleDescInitEntry(tupdesc, 7, "store_key", TEXTOID, -1, 0);
		TupleDescInitEntry(tupdesc, 8, "store_sha256", BYTEAOID, -1, 0);
		TupleDescInitEntry(tupdesc, 9, "store_content_type", TEXTOID, -1, 0);
		tupdesc->tdtypmod = -1; /* a record type of its own */
		BlessTupleDesc(tupdesc);
		MemoryContextSwitchTo(oldcxt);
		desc = tupdesc;
	}

	return desc;
}


/* Response header names are HTTP tokens; values have no control characters */
static bool
is_header_name(const char *s, int len)
{
	int			i;

	if (len == 0)
		return false;
	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			  (c >= '0' && c <= '9') ||
			  (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL)))
			return false;
	}
	return true;
}

static bool
is_header_value(const char *s, int len)
{
	int			i;

	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if ((c < 0x20 && c != '\t') || c == 0x7F)
			return false;
	}
	return true;
}

static void
invalid_headers(const char *message)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s", message),
			 err_generic_string(PG_DIAG_COLUMN_NAME, "headers")));
}

/*
 * workon.set_response(status int4, headers jsonb) returns void
 *
 * Lets a route handler choose the response status and add response headers
 * (a JSON object of strings) for the request being dispatched.  A NULL
 * argument leaves that part as it is; not strict for that reason.
 */
PG_FUNCTION_INFO_V1(set_response);
Datum
set_response(PG_FUNCTION_ARGS)
{
	if (!PG_ARGISNULL(0))
	{
		int32		status = PG_GETARG_INT32(0);

		if (status < 100 || status > 599)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("response status must be between 100 and 599"),
					 err_generic_string(PG_DIAG_COLUMN_NAME, "status")));
		response.status = status;
		response.has_status = true;
	}

	if (!PG_ARGISNULL(1))
	{
		Jsonb	   *headers = PG_GETARG_JSONB_P(1);
		JsonbIterator *it;
		JsonbValue	v;
		JsonbIteratorToken tok;

		if (!JB_ROOT_IS_OBJECT(headers))
			invalid_headers("response headers must be a JSON object");

		it = JsonbIteratorInit(&headers->root);
		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		{
			if (tok == WJB_KEY &&
				!is_header_name(v.val.string.val, v.val.string.len))
				invalid_headers("invalid response header name");
			if (tok == WJB_VALUE &&
				(v.type != jbvString ||
				 !is_header_value(v.val.string.val, v.val.string.len)))
				invalid_headers("response header values must be strings without control characters");
		}

		response.headers = MemoryContextStrdup(TopTransactionContext,
											   JsonbToCString(NULL, &headers->root,
															  VARSIZE(headers)));
	}

	PG_RETURN_VOID();
}

/*
 * workon.wait_for_outbox(id bigint) returns void
 *
 * Called by a route handler that queued a row of workon.outbox: the
 * response status becomes 202 and workon.dispatch() returns the row's id as
 * outbox_id, for the front end to wait until the row is delivered and
 * answer with workon.outbox_response(id) instead.
 */
PG_FUNCTION_INFO_V1(wait_for_outbox);
Datum
wait_for_outbox(PG_FUNCTION_ARGS)
{
	response.outbox_id = PG_GETARG_INT64(0);
	response.has_outbox = true;
	response.status = 202;
	response.has_status = true;

	PG_RETURN_VOID();
}

/*
 * workon.set_store_transfer(op text, key text, sha256 bytea, content_type text)
 *	  returns void
 *
 * Called by a route handler of workon.dispatch_bytes() whose file lives in
 * the S3 store: the front end moves the bytes instead of the database.  op
 * "get" redirects the client to a presigned URL of key; op "put" writes the
 * request body (its SHA-256 and content type given) to key, then answers
 * with workon.upload_s3_stored(key).  dispatch_bytes() returns them as the
 * columns store_op, store_key, store_sha256 and store_content_type.
 * Outside workon.dispatch_bytes() it does nothing, like workon.set_response().
 */
PG_FUNCTION_INFO_V1(set_store_transfer);
Datum
set_store_transfer(PG_FUNCTION_ARGS)
{
	char	   *op = PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0));
	bool		put = op != NULL && strcmp(op, "put") == 0;
	bytea	   *sha256 = PG_ARGISNULL(2) ? NULL : PG_GETARG_BYTEA_PP(2);

	if (op == NULL || (!put && strcmp(op, "get") != 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("store transfer op must be get or put"),
				 err_generic_string(PG_DIAG_COLUMN_NAME, "op")));
	if (PG_ARGISNULL(1) || VARSIZE_ANY_EXHDR(PG_GETARG_TEXT_PP(1)) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("store transfer key is required"),
				 err_generic_string(PG_DIAG_COLUMN_NAME, "key")));
	if (put && (sha256 == NULL || VARSIZE_ANY_EXHDR(sha256) != 32 || PG_ARGISNULL(3)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a put store transfer needs the SHA-256 of the bytes and their content type")));

	response.store_op = MemoryContextStrdup(TopTransactionContext, op);
	response.store_key = MemoryContextStrdup(TopTransactionContext,
											 text_to_cstring(PG_GETARG_TEXT_PP(1)));
	response.store_sha256 = NULL;
	response.store_content_type = NULL;
	if (put)
	{
		response.store_sha256 = MemoryContextAlloc(TopTransactionContext, VARSIZE_ANY(sha256));
		memcpy(response.store_sha256, sha256, VARSIZE_ANY(sha256));
		response.store_content_type = MemoryContextStrdup(TopTransactionContext,
														  text_to_cstring(PG_GETARG_TEXT_PP(3)));
	}

	PG_RETURN_VOID();
}
