/*-------------------------------------------------------------------------
 *
 * dispatch_bind.c
 *	  Route handlers as workon.dispatch() knows them, and a request's
 *	  fields bound to their arguments.
 *
 * A route handler is a plain function of schema workon with named input
 * arguments of concrete types.  An argument "body" gets the request body,
 * "meta" the request meta object, and every other one the path parameter,
 * else query parameter, else top-level body field of its name, converted
 * with its type's input function (jsonb arguments take the JSON value as
 * is).  A value that does not convert is an error whose column name is the
 * field; a missing one is NULL; a query parameter or body field that no
 * argument takes is an error too.  Every field is judged before any is
 * converted (field_problem), so that a request with several fields of the
 * wrong shape hears of all of them at once, as details.fields.
 *
 * Everything that depends only on the handler (its FmgrInfo, argument
 * names, types and input functions, result output function) is cached per
 * backend, keyed by function OID, and dropped when pg_proc changes.
 *
 * extension/dispatch_bind.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "dispatch_internal.h"

#define WORKON_SCHEMA		"workon"

/* Where a handler argument takes its value from */
typedef enum ArgSource
{
	ARG_FIELD,					/* path parameter, query parameter or body
								 * field of the same name */
	ARG_BODY,					/* the request body ("body") */
	ARG_META					/* the request meta object ("meta") */
} ArgSource;

struct HandlerArg
{
	char	   *name;
	int			namelen;
	ArgSource	source;
	Oid			type;
	bool		is_jsonb;		/* takes JSON values as they are */
	bool		is_json;		/* takes JSON text */
	FmgrInfo	input;			/* type input function */
	Oid			ioparam;
	int32		typmod;
};

typedef struct HandlerCacheEntry
{
	Oid			fn_oid;			/* hash key; must be first */
	HandlerInfo *info;
} HandlerCacheEntry;

static HTAB *handler_cache = NULL;
static MemoryContext retired_handlers = NULL;

/* The request field being converted, for bind_error_callback */
static const char *binding_field = NULL;

/*
 * Handler cache
 */

static void
handler_cache_invalidate(Datum arg, int cacheid, uint32 hashvalue)
{
	HASH_SEQ_STATUS status;
	HandlerCacheEntry *entry;

	if (handler_cache == NULL)
		return;

	hash_seq_init(&status, handler_cache);
	while ((entry = (HandlerCacheEntry *) hash_seq_search(&status)) != NULL)
	{
		if (hashvalue == 0 || entry->info->hashvalue == hashvalue)
			entry->info->valid = false;
	}
}

/* Called once per backend by workon_dispatch_init() */
void
workon_dispatch_bind_init(void)
{
	CacheRegisterSyscacheCallback(PROCOID, handler_cache_invalidate, (Datum) 0);
}

/* At transaction end: free the handlers the transaction retired */
void
workon_dispatch_bind_xact_end(void)
{
	if (retired_handlers != NULL)
		MemoryContextDeleteChildren(retired_handlers);
	binding_field = NULL;
}

static void
handler_cache_create(void)
{
	HASHCTL		ctl;

	retired_handlers = AllocSetContextCreate(CacheMemoryContext,
											 "workon retired route handlers",
											 ALLOCSET_SMALL_SIZES);

	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(HandlerCacheEntry);
	ctl.hcxt = CacheMemoryContext;
	handler_cache = hash_create("workon route handlers", 64, &ctl,
								HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

static void
route_not_found(Oid fn_oid)
{
	ereport(ERROR,
			(errcode(ERRCODE_WORKON_NOT_FOUND),
			 errmsg("route handler not found"),
			 errdetail("Function with OID %u is not a function in schema \"%s\".",
					   fn_oid, WORKON_SCHEMA)));
}

static void
handler_unsupported(const char *name, const char *reason)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_FUNCTION_DEFINITION),
			 errmsg("function %s cannot be a route handler", name),
			 errdetail("%s", reason)));
}

/*
 * Look a handler up in pg_proc and collect what dispatch needs.  Everything
 * is checked before anything is kept, and the new context hangs off the
 * current one until the end, so that an error leaks nothing.
 */
static HandlerInfo *
handler_build(Oid fn_oid)
{
	HeapTuple	tuple;
	Form_pg_proc proc;
	Oid			namespace = get_namespace_oid(WORKON_SCHEMA, true);
	Oid		   *argtypes;
	char	  **argnames;
	char	   *argmodes;
	int			nargs;
	char	   *name;
	MemoryContext cxt;
	MemoryContext oldcxt;
	HandlerInfo *info;
	int			i;

	tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn_oid));
	if (!HeapTupleIsValid(tuple))
		route_not_found(fn_oid);
	proc = (Form_pg_proc) GETSTRUCT(tuple);
	if (!OidIsValid(namespace) || proc->pronamespace != namespace)
		route_not_found(fn_oid);

	name = quote_qualified_identifier(WORKON_SCHEMA, NameStr(proc->proname));
	if (proc->prokind != PROKIND_FUNCTION)
		handler_unsupported(name, "Route handlers are plain functions.");
	if (proc->proretset)
		handler_unsupported(name, "Route handlers return a single value.");
	if (IsPolymorphicType(proc->prorettype))
		handler_unsupported(name, "Route handlers have a concrete result type.");

	nargs = get_func_arg_info(tuple, &argtypes, &argnames, &argmodes);
	for (i = 0; i < nargs; i++)
	{
		if (argmodes != NULL && argmodes[i] != PROARGMODE_IN)
			handler_unsupported(name, "Route handlers have input arguments only.");
		if (argnames == NULL || argnames[i] == NULL || argnames[i][0] == '\0')
			handler_unsupported(name, "Every argument of a route handler has a name.");
		if (IsPolymorphicType(argtypes[i]))
			handler_unsupported(name, "Route handler arguments have concrete types.");
	}

	cxt = AllocSetContextCreate(CurrentMemoryContext, "workon route handler",
								ALLOCSET_SMALL_SIZES);
	oldcxt = MemoryContextSwitchTo(cxt);

	info = (HandlerInfo *) palloc0(sizeof(HandlerInfo));
	info->hashvalue = GetSysCacheHashValue1(PROCOID, ObjectIdGetDatum(fn_oid));
	info->cxt = cxt;
	info->name = pstrdup(name);
	MemoryContextSetIdentifier(cxt, info->name);
	fmgr_info_cxt(fn_oid, &info->flinfo, cxt);
	info->collation = InvalidOid;
	info->nargs = nargs;
	info->bytea_body_argno = -1;
	info->args = (HandlerArg *) palloc0(sizeof(HandlerArg) * Max(nargs, 1));

	for (i = 0; i < nargs; i++)
	{
		HandlerArg *arg = &info->args[i];
		Oid			infunc;

		arg->name = pstrdup(argnames[i]);
		arg->namelen = strlen(arg->name);
		arg->type = argtypes[i];
		arg->is_jsonb = (arg->type == JSONBOID);
		arg->is_json = (arg->type == JSONOID);
		arg->typmod = -1;
		getTypeInputInfo(arg->type, &infunc, &arg->ioparam);
		fmgr_info_cxt(infunc, &arg->input, cxt);

		if (strcmp(arg->name, "body") == 0)
		{
			arg->source = ARG_BODY;
			info->has_body_arg = true;
			info->body_is_raw = !(arg->is_jsonb || arg->is_json);
			if (arg->type == BYTEAOID)
				info->bytea_body_argno = i;
		}
		else if (strcmp(arg->name, "meta") == 0)
			arg->source = ARG_META;
		else
			arg->source = ARG_FIELD;

		if (type_is_collatable(arg->type))
			info->collation = DEFAULT_COLLATION_OID;
	}

	info->ret_is_void = (proc->prorettype == VOIDOID);
	info->ret_is_bytea = (proc->prorettype == BYTEAOID);
	info->ret_is_text = (proc->prorettype == TEXTOID ||
						 proc->prorettype == JSONOID ||
						 proc->prorettype == VARCHAROID);
	if (!info->ret_is_void && !info->ret_is_text)
	{
		Oid			outfunc;
		bool		isvarlena;

		getTypeOutputInfo(proc->prorettype, &outfunc, &isvarlena);
		fmgr_info_cxt(outfunc, &info->output, cxt);
	}

	MemoryContextSwitchTo(oldcxt);
	ReleaseSysCache(tuple);

	/* Kept until pg_proc changes: handlers are called over and over */
	MemoryContextSetParent(cxt, CacheMemoryContext);
	info->valid = true;

	return info;
}

/*
 * The handler of OID fn_oid, from the cache or pg_proc; WO404 unless it is
 * a function of schema workon, 42P13 unless it can be a route handler
 */
HandlerInfo *
workon_handler_lookup(Oid fn_oid)
{
	HandlerCacheEntry *entry;
	HandlerInfo *info;
	bool		found;

	if (!OidIsValid(fn_oid))
		route_not_found(fn_oid);
	if (handler_cache == NULL)
		handler_cache_create();

	entry = (HandlerCacheEntry *) hash_search(handler_cache, &fn_oid,
											  HASH_FIND, NULL);
	if (entry != NULL && entry->info->valid)
		return entry->info;

	info = handler_build(fn_oid);

	entry = (HandlerCacheEntry *) hash_search(handler_cache, &fn_oid,
											  HASH_ENTER, &found);
	if (found)
		MemoryContextSetParent(entry->info->cxt, retired_handlers);
	entry->info = info;

	return info;
}


/*
 * Argument binding
 */

static void
bind_error_callback(void *arg)
{
	if (binding_field != NULL)
	{
		err_generic_string(PG_DIAG_COLUMN_NAME, binding_field);
		errcontext("request field \"%s\"", binding_field);
	}
}


static JsonbValue *
object_field(Jsonb *obj, HandlerArg *arg, JsonbValue *buf)
{
	if (obj == NULL)
		return NULL;
	return getKeyJsonValueFromContainer(&obj->root, arg->name, arg->namelen,
										buf);
}

/* JSON text of a JSON value */
static char *
json_value_text(JsonbValue *v)
{
	Jsonb	   *jb = JsonbValueToJsonb(v);

	return JsonbToCString(NULL, &jb->root, VARSIZE(jb));
}

/*
 * Convert one JSON value to the argument's type: jsonb as is, json as JSON
 * text, anything else through the type's input function from the string's
 * contents (or the text of a number, boolean, object or array).  JSON null
 * is SQL NULL.
 */
static bool
digits(const char *s, int n)
{
	for (int i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/*
 * A time the API takes: RFC 3339 with its offset (a space for the T, and an
 * offset of hours only, as PostgreSQL writes them, pass too), or a date
 * alone (availability windows are dates of the space's zone).  Anything
 * looser that timestamptz_in would take (no offset, "tomorrow", "epoch",
 * "infinity") is refused.
 */
static bool
api_time(const char *s)
{
	if (!digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) || s[7] != '-' || !digits(s + 8, 2))
		return false;
	s += 10;
	if (*s == '\0')
		return true;
	if ((*s != 'T' && *s != 't' && *s != ' ') || !digits(s + 1, 2) || s[3] != ':' || !digits(s + 4, 2) ||
		s[6] != ':' || !digits(s + 7, 2))
		return false;
	s += 9;
	if (*s == '.')
	{
		if (!digits(++s, 1))
			return false;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	if ((*s == 'Z' || *s == 'z') && s[1] == '\0')
		return true;
	if ((*s != '+' && *s != '-') || !digits(s + 1, 2))
		return false;
	s += 3;
	return *s == '\0' || (*s == ':' && digits(s + 1, 2) && s[3] == '\0');
}

/* days of month m (1..12) of year y */
static int
month_days(int y, int m)
{
	static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return days[m - 1];
}

static int
two_digits(const char *s)
{
	return (s[0] - '0') * 10 + (s[1] - '0');
}

/*
 * An api_time() whose fields are in range: a month of 1..12, a day of that
 * month, 24:00:00 at most, 59 minutes, 60 seconds (timestamptz_in takes a
 * leap second), an offset of 15:59 at most (its limit).  Values past these
 * are refused by timestamptz_in; field_problem reports them beside the
 * other fields.
 */
static bool
api_time_in_range(const char *s)
{
	int			y = atoi(s),
				mo = two_digits(s + 5),
				d = two_digits(s + 8);
	const char *o;

	if (mo < 1 || mo > 12 || d < 1 || d > month_days(y, mo))
		return false;
	if (s[10] == '\0')
		return true;
	if (two_digits(s + 11) > 24 || two_digits(s + 14) > 59 || two_digits(s + 17) > 60 ||
		(two_digits(s + 11) == 24 && (two_digits(s + 14) != 0 || two_digits(s + 17) != 0)))
		return false;
	o = s + 19;
	if (*o == '.')
	{
		o++;
		while (*o >= '0' && *o <= '9')
		{
			if (two_digits(s + 11) == 24 && *o != '0')
				return false;
			o++;
		}
	}
	if (*o == 'Z' || *o == 'z')
		return true;
	return two_digits(o + 1) <= 15 && (o[3] == '\0' || two_digits(o + 4) <= 59);
}

/* uuid_in's syntax: 32 hex digits, a hyphen allowed after each group of 4, braces around */
static bool
uuid_syntax(const char *s)
{
	bool		braces = (*s == '{');
	int			i;

	s += braces;
	for (i = 0; i < 32; i++)
	{
		if (!isxdigit((unsigned char) *s))
			return false;
		s++;
		if (*s == '-' && i % 4 == 3 && i < 31)
			s++;
	}
	if (braces && *s++ != '}')
		return false;
	return *s == '\0';
}

/*
 * int2in/int4in/int8in's syntax (blanks, a sign, digits, blanks) and range:
 * 0 if str passes, else the SQLSTATE they raise
 */
static int
integer_problem(const char *s, Oid type)
{
	const char *digits;
	char	   *end;
	long long	n;

	while (isspace((unsigned char) *s))
		s++;
	digits = s + (*s == '+' || *s == '-');
	if (!isdigit((unsigned char) *digits))
		return ERRCODE_INVALID_TEXT_REPRESENTATION;
	errno = 0;
	n = strtoll(s, &end, 10);
	while (isspace((unsigned char) *end))
		end++;
	if (*end != '\0')
		return ERRCODE_INVALID_TEXT_REPRESENTATION;
	if (errno == ERANGE ||
		(type == INT4OID && (n < PG_INT32_MIN || n > PG_INT32_MAX)) ||
		(type == INT2OID && (n < PG_INT16_MIN || n > PG_INT16_MAX)))
		return ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE;
	return 0;
}

/*
 * Why the argument can never take this JSON value, or NULL if it may (the
 * type's input function has the last word).  Only the types of the API's
 * typed fields are judged: text (no object or array), uuid, timestamptz
 * (api_time, in range) and the integers.  *sqlstate is the code the input
 * function would have raised.
 */
static char *
field_problem(HandlerArg *arg, JsonbValue *v, int *sqlstate)
{
	char	   *str = NULL;

	if (arg->source != ARG_FIELD || arg->is_jsonb || arg->is_json || v->type == jbvNull)
		return NULL;
	*sqlstate = ERRCODE_INVALID_TEXT_REPRESENTATION;
	if (v->type == jbvString)
		str = pnstrdup(v->val.string.val, v->val.string.len);
	else if (v->type == jbvNumeric)
		str = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));

	switch (arg->type)
	{
		case TEXTOID:
		case VARCHAROID:
			if (v->type == jbvArray || v->type == jbvObject || v->type == jbvBinary)
			{
				*sqlstate = ERRCODE_INVALID_PARAMETER_VALUE;
				return psprintf("%s must be a string", arg->name);
			}
			return NULL;
		case UUIDOID:
			return str != NULL && uuid_syntax(str) ? NULL : psprintf("%s must be a UUID", arg->name);
		case TIMESTAMPTZOID:
			*sqlstate = ERRCODE_INVALID_DATETIME_FORMAT;
			if (str != NULL && api_time(str) && api_time_in_range(str))
				return NULL;
			return psprintf("%s must be an RFC 3339 time with an offset, such as 2027-01-01T09:00:00+01:00",
							arg->name);
		case INT2OID:
		case INT4OID:
		case INT8OID:
			if (str != NULL && (*sqlstate = integer_problem(str, arg->type)) == 0)
				return NULL;
			if (str == NULL)
				*sqlstate = ERRCODE_INVALID_TEXT_REPRESENTATION;
			if (*sqlstate == ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE)
				return psprintf("%s is out of range for type %s", arg->name, format_type_be(arg->type));
			return psprintf("%s must be an integer", arg->name);
		default:
			return NULL;
	}
}

static Datum
field_value(HandlerArg *arg, JsonbValue *v, bool *isnull)
{
	char	   *str;

	*isnull = false;
	if (arg->is_jsonb)
		return JsonbPGetDatum(JsonbValueToJsonb(v));

	if (v->type == jbvNull)
	{
		*isnull = true;
		return (Datum) 0;
	}

	if (arg->is_json)
		str = json_value_text(v);
	else
	{
		/*
		 * A text argument never takes an object's or an array's JSON text,
		 * and a password (an argument named *password) takes a JSON string
		 * only: a number or a boolean there is a client's mistake, not a
		 * password to store.  Other text arguments take a number's or a
		 * boolean's text, as they always did.
		 */
		if ((arg->type == TEXTOID || arg->type == VARCHAROID) &&
			(v->type == jbvArray || v->type == jbvObject || v->type == jbvBinary ||
			 (v->type != jbvString && arg->name != NULL && strstr(arg->name, "password") != NULL)))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s must be a string", binding_field ? binding_field : "a text field")));
		switch (v->type)
		{
			case jbvString:
				if (arg->type == TEXTOID)
					return PointerGetDatum(cstring_to_text_with_len(v->val.string.val,
																	v->val.string.len));
				str = pnstrdup(v->val.string.val, v->val.string.len);
				break;
			case jbvNumeric:
				str = DatumGetCString(DirectFunctionCall1(numeric_out,
														  NumericGetDatum(v->val.numeric)));
				break;
			case jbvBool:
				str = pstrdup(v->val.boolean ? "true" : "false");
				break;
			default:
				str = json_value_text(v);
				break;
		}
	}

	if (arg->type == TIMESTAMPTZOID && !api_time(str))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_DATETIME_FORMAT),
				 errmsg("%s must be an RFC 3339 time with an offset, such as 2027-01-01T09:00:00+01:00",
						binding_field ? binding_field : "a time")));
	return InputFunctionCall(&arg->input, str, arg->ioparam, arg->typmod);
}

/*
 * A whole part of the request (the body or the meta object) as the
 * argument's type: jsonb as parsed, any other type through its input
 * function from the part's text (raw, or else the JSON's)
 */
static Datum
part_value(HandlerArg *arg, Jsonb *json, text *raw)
{
	char	   *str;

	if (arg->is_jsonb)
		return JsonbPGetDatum(json);
	if (raw != NULL)
		str = text_to_cstring(raw);
	else
		str = JsonbToCString(NULL, &json->root, VARSIZE(json));
	return InputFunctionCall(&arg->input, str, arg->ioparam, arg->typmod);
}

/*
 * Fail on the first key of obj that no field argument of the handler takes.
 * nknown is how many keys of obj binding found.
 */
static void
check_unknown_keys(HandlerInfo *info, Jsonb *obj, int nknown)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;

	if (obj == NULL || nknown == (int) JsonContainerSize(&obj->root))
		return;

	it = JsonbIteratorInit(&obj->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		bool		known = false;
		int			i;

		if (tok != WJB_KEY)
			continue;

		for (i = 0; i < info->nargs && !known; i++)
		{
			HandlerArg *arg = &info->args[i];

			known = (arg->source == ARG_FIELD &&
					 arg->namelen == v.val.string.len &&
					 memcmp(arg->name, v.val.string.val, arg->namelen) == 0);
		}
		if (!known)
		{
			char	   *key = pnstrdup(v.val.string.val, v.val.string.len);

			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown parameter"),
					 errdetail("Parameter \"%s\" is not taken by %s.",
							   key, info->name),
					 err_generic_string(PG_DIAG_COLUMN_NAME, key)));
		}
	}
}

/*
 * Judge every field argument's value (field_problem) before any is
 * converted: if some can never be taken, one error names them all, the
 * first as its column and message, all of them in its detail
 * ({"fields":[{"field","message"},...]}, as workon.raise_invalid writes it),
 * with the SQLSTATE the first one's conversion would have raised.
 */
static void
check_fields(HandlerInfo *info, Jsonb *params, Jsonb *query, Jsonb *body_fields)
{
	StringInfoData detail;
	const char *first_field = NULL;
	const char *first_message = NULL;
	int			first_sqlstate = 0;
	int			i;

	initStringInfo(&detail);
	appendStringInfoString(&detail, "{\"fields\":[");
	for (i = 0; i < info->nargs; i++)
	{
		HandlerArg *arg = &info->args[i];
		JsonbValue	pbuf,
					qbuf,
					bbuf;
		JsonbValue *v;
		char	   *problem;
		int			sqlstate;

		if (arg->source != ARG_FIELD)
			continue;
		v = object_field(params, arg, &pbuf);
		if (v == NULL)
			v = object_field(query, arg, &qbuf);
		if (v == NULL)
			v = object_field(body_fields, arg, &bbuf);
		if (v == NULL || (problem = field_problem(arg, v, &sqlstate)) == NULL)
			continue;
		if (first_field == NULL)
		{
			first_field = arg->name;
			first_message = problem;
			first_sqlstate = sqlstate;
		}
		else
			appendStringInfoChar(&detail, ',');
		appendStringInfoString(&detail, "{\"field\":");
		escape_json(&detail, arg->name);
		appendStringInfoString(&detail, ",\"message\":");
		escape_json(&detail, problem);
		appendStringInfoChar(&detail, '}');
	}
	if (first_field == NULL)
		return;
	appendStringInfoString(&detail, "]}");
	binding_field = NULL;
	ereport(ERROR,
			(errcode(first_sqlstate),
			 errmsg_internal("%s", first_message),
			 errdetail_internal("%s", detail.data),
			 err_generic_string(PG_DIAG_COLUMN_NAME, first_field)));
}

/*
 * Fill fcinfo's arguments from the request.  Returns whether any argument
 * is NULL.
 */
bool
workon_bind_arguments(HandlerInfo *info, FunctionCallInfo call,
					  Jsonb *params, Jsonb *query, text *body, Jsonb *meta)
{
	ErrorContextCallback errcallback;
	Jsonb	   *body_json = NULL;
	Jsonb	   *body_fields = NULL;
	int			nquery_known = 0;
	int			nbody_known = 0;
	bool		anynull = false;
	int			i;

	errcallback.callback = bind_error_callback;
	errcallback.arg = NULL;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;

	/*
	 * Parse the body unless the handler takes it raw.  A handler without a
	 * "body" argument takes the body's fields, so the body must be an object.
	 */
	if (body != NULL && !(info->has_body_arg && info->body_is_raw))
	{
		binding_field = "body";
		body_json = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
													   CStringGetDatum(text_to_cstring(body))));
		if (JB_ROOT_IS_OBJECT(body_json))
			body_fields = body_json;
		else if (!info->has_body_arg)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("request body must be a JSON object")));
	}

	check_fields(info, params, query, body_fields);

	for (i = 0; i < info->nargs; i++)
	{
		HandlerArg *arg = &info->args[i];
		NullableDatum *out = &call->args[i];

		binding_field = arg->name;
		out->isnull = false;

		switch (arg->source)
		{
			case ARG_BODY:
				out->isnull = (body == NULL);
				if (body != NULL)
					out->value = part_value(arg, body_json, body);
				break;

			case ARG_META:
				out->isnull = (meta == NULL);
				if (meta != NULL)
					out->value = part_value(arg, meta, NULL);
				break;

			case ARG_FIELD:
				{
					JsonbValue	pbuf,
								qbuf,
								bbuf;
					JsonbValue *pv = object_field(params, arg, &pbuf);
					JsonbValue *qv = object_field(query, arg, &qbuf);
					JsonbValue *bv = object_field(body_fields, arg, &bbuf);
					JsonbValue *v = pv ? pv : qv ? qv : bv;

					nquery_known += (qv != NULL);
					nbody_known += (bv != NULL);

					if (v == NULL)
						out->isnull = true;
					else
						out->value = field_value(arg, v, &out->isnull);
				}
				break;
		}

		anynull |= out->isnull;
	}

	binding_field = NULL;
	error_context_stack = errcallback.previous;

	check_unknown_keys(info, query, nquery_known);
	if (!info->has_body_arg)
		check_unknown_keys(info, body_fields, nbody_known);

	return anynull;
}
