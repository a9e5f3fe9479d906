/*-------------------------------------------------------------------------
 *
 * json.c
 *	  Building JSON objects on hot paths.
 *
 * Route handlers return JSON, most of it objects built row by row.
 * PostgreSQL's json_build_object() looks up every argument's type category
 * and output function on every call, and escapes the constant keys every
 * time; for a page of 20 spaces of 15 fields that is most of the cost of
 * the request.  workon.json_build() takes the same arguments and produces
 * the same values, but does those lookups once per call site and keeps
 * escaped constant keys, and writes compact JSON ({"a":1,"b":"x"}).
 *
 * Values are written the way json_build_object() writes them: numbers as
 * numbers (NaN and infinities as strings), booleans, dates and timestamps in
 * ISO 8601 (RFC 3339 with the session's offset), json and jsonb as they are,
 * arrays and composites as JSON arrays and objects, types with a cast to
 * json through that cast, anything else as a string of its text form.
 *
 * extension/json.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_cast.h"
#include "catalog/pg_type.h"
#include "common/jsonapi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "nodes/primnodes.h"
#include "parser/parse_coerce.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/typcache.h"

/* How a value of some type becomes JSON */
typedef enum JsonKind
{
	JK_STRING,					/* text form, as a JSON string */
	JK_TEXT,					/* text: its contents as a JSON string */
	JK_INTEGER,					/* text form, always a valid JSON number */
	JK_NUMBER,					/* text form, a JSON number if it is one */
	JK_BOOL,
	JK_DATETIME,				/* date, timestamp, timestamptz */
	JK_JSON,					/* as is */
	JK_JSONB,
	JK_ARRAY,
	JK_COMPOSITE,
	JK_CAST						/* through the type's cast to json */
} JsonKind;

typedef struct JsonArgInfo
{
	Oid			type;			/* as passed; the kind is of its base type */
	Oid			basetype;
	JsonKind	kind;
	FmgrInfo	func;			/* output function, or cast function */
	char	   *key;			/* escaped constant key, once known */
	int			keylen;
	bool		key_is_constant;
	bool		is_cstring;		/* an unknown-type literal: the call passes a
								 * C string, not text */
} JsonArgInfo;

typedef struct JsonBuildCache
{
	bool		spread_args;	/* called with separate arguments, not with
								 * VARIADIC array */
	int			nargs;
	JsonArgInfo args[FLEXIBLE_ARRAY_MEMBER];
} JsonBuildCache;

static JsonKind
json_kind_of(Oid basetype, Oid *funcoid)
{
	bool		isvarlena;
	Oid			castfunc;

	*funcoid = InvalidOid;

	switch (basetype)
	{
		case BOOLOID:
			return JK_BOOL;
		case INT2OID:
		case INT4OID:
		case INT8OID:
			getTypeOutputInfo(basetype, funcoid, &isvarlena);
			return JK_INTEGER;
		case FLOAT4OID:
		case FLOAT8OID:
		case NUMERICOID:
			getTypeOutputInfo(basetype, funcoid, &isvarlena);
			return JK_NUMBER;
		case DATEOID:
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			return JK_DATETIME;
		case JSONOID:
			return JK_JSON;
		case JSONBOID:
			return JK_JSONB;
		case TEXTOID:
			return JK_TEXT;
		default:
			break;
	}

	if (OidIsValid(get_element_type(basetype)) || basetype == ANYARRAYOID ||
		basetype == RECORDARRAYOID)
		return JK_ARRAY;
	if (type_is_rowtype(basetype))
		return JK_COMPOSITE;
	if (basetype >= FirstNormalObjectId &&
		find_coercion_pathway(JSONOID, basetype, COERCION_EXPLICIT,
							  &castfunc) == COERCION_PATH_FUNC)
	{
		*funcoid = castfunc;
		return JK_CAST;
	}

	getTypeOutputInfo(basetype, funcoid, &isvarlena);
	return JK_STRING;
}

/* Is argument argnum of the call site a Const (not merely a stable Param)? */
static bool
json_arg_is_const(FmgrInfo *flinfo, int argnum)
{
	Node	   *expr = flinfo->fn_expr;
	List	   *args;

	if (expr == NULL)
		return false;
	if (IsA(expr, FuncExpr))
		args = ((FuncExpr *) expr)->args;
	else
		return false;
	if (argnum < 0 || argnum >= list_length(args))
		return false;
	return IsA(list_nth(args, argnum), Const);
}

static JsonBuildCache *
json_build_cache(FunctionCallInfo fcinfo, int nargs, Oid *types)
{
	JsonBuildCache *cache = (JsonBuildCache *) fcinfo->flinfo->fn_extra;
	bool		variadic_array = get_fn_expr_variadic(fcinfo->flinfo);
	int			i;

	if (cache != NULL && cache->nargs == nargs)
	{
		for (i = 0; i < nargs; i++)
			if (cache->args[i].type != types[i])
				break;
		if (i == nargs)
			return cache;
	}

	cache = (JsonBuildCache *)
		MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt,
							   offsetof(JsonBuildCache, args) +
							   sizeof(JsonArgInfo) * Max(nargs, 1));
	cache->spread_args = !variadic_array;
	cache->nargs = nargs;
	for (i = 0; i < nargs; i++)
	{
		JsonArgInfo *arg = &cache->args[i];
		Oid			funcoid;

		arg->type = types[i];
		arg->basetype = getBaseType(types[i]);
		arg->kind = json_kind_of(arg->basetype, &funcoid);
		if (OidIsValid(funcoid))
			fmgr_info_cxt(funcoid, &arg->func, fcinfo->flinfo->fn_mcxt);
		/*
		 * Only a literal of the call site is the same on every call; a
		 * PL/pgSQL variable or a query parameter (an external Param, which
		 * get_fn_expr_arg_stable() counts as stable) changes between calls.
		 */
		arg->key_is_constant = (i % 2 == 0 && !variadic_array &&
								json_arg_is_const(fcinfo->flinfo, i));

		/*
		 * extract_variadic_args() turned unknown literals into text for this
		 * call; later calls read the arguments directly and get C strings.
		 */
		arg->is_cstring = (!variadic_array &&
						   get_fn_expr_argtype(fcinfo->flinfo, i) == UNKNOWNOID);
	}
	fcinfo->flinfo->fn_extra = cache;

	return cache;
}

/* Append s (len bytes) as a JSON string, escaped as escape_json() does */
static void
append_json_string(StringInfo buf, const char *s, int len)
{
	const char *end = s + len;
	const char *run = s;

	appendStringInfoCharMacro(buf, '"');
	for (; s < end; s++)
	{
		unsigned char c = (unsigned char) *s;
		const char *esc;

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;

		appendBinaryStringInfo(buf, run, s - run);
		run = s + 1;
		switch (c)
		{
			case '"':
				esc = "\\\"";
				break;
			case '\\':
				esc = "\\\\";
				break;
			case '\b':
				esc = "\\b";
				break;
			case '\f':
				esc = "\\f";
				break;
			case '\n':
				esc = "\\n";
				break;
			case '\r':
				esc = "\\r";
				break;
			case '\t':
				esc = "\\t";
				break;
			default:
				appendStringInfo(buf, "\\u%04x", c);
				continue;
		}
		appendStringInfoString(buf, esc);
	}
	appendBinaryStringInfo(buf, run, s - run);
	appendStringInfoCharMacro(buf, '"');
}

static void
append_json_cstring(StringInfo buf, const char *s)
{
	append_json_string(buf, s, strlen(s));
}

static void
append_json_text(StringInfo buf, text *t)
{
	appendBinaryStringInfo(buf, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
}

/*
 * One form of time in every answer: RFC 3339 in UTC with six fractional
 * digits, 2027-01-10T09:00:00.000000Z (all of PostgreSQL's precision, so a
 * time sent back is the same time), whatever the session's TimeZone;
 * infinities as PostgreSQL writes them
 */
static void
append_utc_time(StringInfo buf, TimestampTz t, char *dtbuf)
{
	struct pg_tm tm;
	fsec_t		fsec;

	if (TIMESTAMP_NOT_FINITE(t) || timestamp2tm(t, NULL, &tm, &fsec, NULL, NULL) != 0)
	{
		append_json_cstring(buf, JsonEncodeDateTime(dtbuf, TimestampTzGetDatum(t),
													TIMESTAMPTZOID, NULL));
		return;
	}
	appendStringInfo(buf, "\"%04d-%02d-%02dT%02d:%02d:%02d.%06dZ\"",
					 tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int) fsec);
}

/* JSON text without the blanks jsonb's output puts after commas and colons */
static void
append_compact(StringInfo buf, const char *s)
{
	bool		in_string = false;

	for (; *s != '\0'; s++)
	{
		if (in_string)
		{
			appendStringInfoChar(buf, *s);
			if (*s == '\\' && s[1] != '\0')
				appendStringInfoChar(buf, *++s);
			else if (*s == '"')
				in_string = false;
		}
		else if (*s == '"')
		{
			in_string = true;
			appendStringInfoChar(buf, *s);
		}
		else if (*s != ' ' && *s != '\n' && *s != '\t' && *s != '\r')
			appendStringInfoChar(buf, *s);
	}
}

/*
 * Append one value.  As an object key (is_key) it must be a scalar, and is
 * always written as a string.
 */
static void
append_json_value(StringInfo buf, JsonArgInfo *arg, Datum value, bool is_key)
{
	char	   *str;
	char		dtbuf[MAXDATELEN + 1];

	if (is_key &&
		(arg->kind == JK_ARRAY || arg->kind == JK_COMPOSITE ||
		 arg->kind == JK_JSON || arg->kind == JK_JSONB || arg->kind == JK_CAST))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("key value must be scalar, not array, composite, or json")));

	switch (arg->kind)
	{
		case JK_TEXT:
			{
				text	   *t = DatumGetTextPP(value);

				append_json_string(buf, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
			}
			break;
		case JK_BOOL:
			if (is_key)
				append_json_cstring(buf, DatumGetBool(value) ? "true" : "false");
			else
				appendStringInfoString(buf, DatumGetBool(value) ? "true" : "false");
			break;
		case JK_INTEGER:
		case JK_NUMBER:
			str = OutputFunctionCall(&arg->func, value);
			if (!is_key &&
				(arg->kind == JK_INTEGER || IsValidJsonNumber(str, strlen(str))))
				appendStringInfoString(buf, str);
			else
				append_json_cstring(buf, str);
			break;
		case JK_DATETIME:
			if (arg->basetype == TIMESTAMPTZOID)
				append_utc_time(buf, DatumGetTimestampTz(value), dtbuf);
			else
				append_json_cstring(buf, JsonEncodeDateTime(dtbuf, value,
															arg->basetype, NULL));
			break;
		case JK_JSON:
			append_json_text(buf, DatumGetTextPP(value));
			break;
		case JK_JSONB:
			{
				Jsonb	   *jb = DatumGetJsonbP(value);

				append_compact(buf, JsonbToCString(NULL, &jb->root, VARSIZE(jb)));
			}
			break;
		case JK_ARRAY:
			append_json_text(buf, DatumGetTextPP(DirectFunctionCall1(array_to_json,
																	 value)));
			break;
		case JK_COMPOSITE:
			append_json_text(buf, DatumGetTextPP(DirectFunctionCall1(row_to_json,
																	 value)));
			break;
		case JK_CAST:
			append_json_text(buf, DatumGetTextPP(FunctionCall1(&arg->func, value)));
			break;
		case JK_STRING:
			append_json_cstring(buf, OutputFunctionCall(&arg->func, value));
			break;
	}
}

/*
 * workon.json_build(VARIADIC "any") returns json
 *
 * json_build_object() with its lookups cached per call site: alternating
 * keys and values.  Not strict: NULL values are JSON null (keys must not be
 * NULL).
 */
PG_FUNCTION_INFO_V1(json_build);
Datum
json_build(PG_FUNCTION_ARGS)
{
	JsonBuildCache *cache = (JsonBuildCache *) fcinfo->flinfo->fn_extra;
	Datum	   *args;
	bool	   *nulls;
	Oid		   *types;
	int			nargs;
	StringInfoData buf;
	int			i;

	if (cache != NULL && cache->spread_args)
	{
		/*
		 * Separate arguments, as at almost every call site: their types are
		 * those of the call site, known since the first call.
		 */
		nargs = cache->nargs;
		args = (Datum *) palloc(sizeof(Datum) * Max(nargs, 1));
		nulls = (bool *) palloc(sizeof(bool) * Max(nargs, 1));
		for (i = 0; i < nargs; i++)
		{
			nulls[i] = PG_ARGISNULL(i);
			if (cache->args[i].is_cstring && !nulls[i] &&
				cache->args[i].key == NULL)
				args[i] = CStringGetTextDatum(PG_GETARG_CSTRING(i));
			else
				args[i] = PG_GETARG_DATUM(i);
		}
	}
	else
	{
		nargs = extract_variadic_args(fcinfo, 0, true, &args, &types, &nulls);
		if (nargs < 0)
			PG_RETURN_NULL();
		if (nargs % 2 != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("argument list must have even number of elements"),
					 errhint("The arguments of %s must consist of alternating keys and values.",
							 "workon.json_build()")));
		cache = json_build_cache(fcinfo, nargs, types);
	}

	/* build the text value in place, header first */
	initStringInfo(&buf);
	appendStringInfoSpaces(&buf, VARHDRSZ);
	appendStringInfoCharMacro(&buf, '{');

	for (i = 0; i < nargs; i += 2)
	{
		JsonArgInfo *key = &cache->args[i];

		if (i > 0)
			appendStringInfoCharMacro(&buf, ',');

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("argument %d cannot be null", i + 1),
					 errhint("Object keys should be text.")));

		if (key->key != NULL)
			appendBinaryStringInfo(&buf, key->key, key->keylen);
		else
		{
			int			start = buf.len;

			append_json_value(&buf, key, args[i], true);
			if (key->key_is_constant)
			{
				key->keylen = buf.len - start;
				key->key = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, key->keylen);
				memcpy(key->key, buf.data + start, key->keylen);
			}
		}

		appendStringInfoCharMacro(&buf, ':');

		if (nulls[i + 1])
			appendStringInfoString(&buf, "null");
		else
			append_json_value(&buf, &cache->args[i + 1], args[i + 1], false);
	}

	appendStringInfoCharMacro(&buf, '}');
	SET_VARSIZE(buf.data, buf.len);

	PG_RETURN_TEXT_P((text *) buf.data);
}

/*
 * workon.json_trusted(text) returns json
 *
 * json and text share their representation, so JSON text the extension
 * assembled from JSON it built itself (a list of stored space documents, say)
 * becomes json without the full parse of text::json.  Not for text from
 * outside the extension.
 */
PG_FUNCTION_INFO_V1(json_trusted);
Datum
json_trusted(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATUM(PG_GETARG_DATUM(0));
}
