/*-------------------------------------------------------------------------
 *
 * email.c
 *	  Rendering of e-mail templates and of the values they show.
 *
 * Templates are rows of workon.email_templates: a subject, a plain-text and
 * an HTML body with placeholders "{{name}}" (a lowercase letter or "_",
 * then lowercase letters, digits and "_").  workon.email_render() puts the
 * values of a JSON object in their place: verbatim in a text part,
 * HTML-escaped in an HTML part, so that a name such as "<script>" is shown
 * and never run.  A placeholder without a value renders as nothing; a
 * template is checked when it is written (workon.email_placeholders), so
 * that rendering, which happens inside the transaction of a booking or a
 * payment, never fails.
 *
 * Amounts and times are formatted here for the recipient's language (fr,
 * en): workon.email_money() and workon.email_time(), the latter in the time
 * zone of the space it is about.
 *
 * extension/email.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/guc.h"
#include "utils/datetime.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "workon.h"

/* GUCs, registered in workon.c */
char	   *workon_default_locale = NULL;
char	   *workon_app_url = NULL;

/* workon.default_locale: fr or en */
bool
workon_check_locale(char **newval, void **extra, GucSource source)
{
	if (*newval != NULL && strcmp(*newval, "fr") != 0 && strcmp(*newval, "en") != 0)
	{
		GUC_check_errdetail("The languages of the e-mails are fr and en.");
		return false;
	}
	return true;
}

typedef enum EmailLocale
{
	EMAIL_LOCALE_EN,
	EMAIL_LOCALE_FR
} EmailLocale;

static EmailLocale
email_locale(text *locale)
{
	char	   *s = text_to_cstring(locale);

	if (strcmp(s, "en") == 0)
		return EMAIL_LOCALE_EN;
	if (strcmp(s, "fr") == 0)
		return EMAIL_LOCALE_FR;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("locale must be fr or en"),
			 err_generic_string(PG_DIAG_COLUMN_NAME, "locale")));
	return EMAIL_LOCALE_EN;		/* keep compiler quiet */
}

/*
 * The length of the placeholder "{{name}}" starting at p (which points at
 * "{{"), with the name's start and length; 0 if it is not one.
 */
static int
placeholder_at(const char *p, const char *end, const char **name, int *namelen)
{
	const char *q = p + 2;
	const char *start = q;

	if (end - p < 5 || p[0] != '{' || p[1] != '{')
		return 0;
	if (!((*q >= 'a' && *q <= 'z') || *q == '_'))
		return 0;
	while (q < end && ((*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') || *q == '_'))
		q++;
	if (end - q < 2 || q[0] != '}' || q[1] != '}' || q - start > 63)
		return 0;
	*name = start;
	*namelen = q - start;
	return q + 2 - p;
}

static void
append_html_escaped(StringInfo out, const char *s, int len)
{
	int			i;

	for (i = 0; i < len; i++)
	{
		switch (s[i])
		{
			case '&':
				appendStringInfoString(out, "&amp;");
				break;
			case '<':
				appendStringInfoString(out, "&lt;");
				break;
			case '>':
				appendStringInfoString(out, "&gt;");
				break;
			case '"':
				appendStringInfoString(out, "&quot;");
				break;
			case '\'':
				appendStringInfoString(out, "&#39;");
				break;
			default:
				appendStringInfoChar(out, s[i]);
		}
	}
}

/*
 * workon.email_render(template text, vals jsonb, html boolean) returns text
 *
 * Each "{{name}}" replaced by vals' member name (a string as it is, another
 * scalar in its JSON spelling, null or missing as nothing), HTML-escaped
 * when html is true.  Anything else, malformed placeholders included, is
 * copied.
 */
PG_FUNCTION_INFO_V1(email_render);
Datum
email_render(PG_FUNCTION_ARGS)
{
	text	   *template = PG_GETARG_TEXT_PP(0);
	Jsonb	   *vals = PG_GETARG_JSONB_P(1);
	bool		html = PG_GETARG_BOOL(2);
	const char *p = VARDATA_ANY(template);
	const char *end = p + VARSIZE_ANY_EXHDR(template);
	StringInfoData out;

	if (!JB_ROOT_IS_OBJECT(vals))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the values of a template must be a JSON object")));

	initStringInfo(&out);
	while (p < end)
	{
		const char *name;
		int			namelen;
		int			len = (*p == '{') ? placeholder_at(p, end, &name, &namelen) : 0;
		JsonbValue	key;
		JsonbValue *v;

		if (len == 0)
		{
			appendStringInfoChar(&out, *p++);
			continue;
		}
		p += len;

		key.type = jbvString;
		key.val.string.val = (char *) name;
		key.val.string.len = namelen;
		v = findJsonbValueFromContainer(&vals->root, JB_FOBJECT, &key);
		if (v == NULL || v->type == jbvNull)
			continue;
		if (v->type == jbvString)
		{
			if (html)
				append_html_escaped(&out, v->val.string.val, v->val.string.len);
			else
				appendBinaryStringInfo(&out, v->val.string.val, v->val.string.len);
		}
		else if (v->type == jbvNumeric)
			appendStringInfoString(&out,
								   DatumGetCString(DirectFunctionCall1(numeric_out,
																	   NumericGetDatum(v->val.numeric))));
		else if (v->type == jbvBool)
			appendStringInfoString(&out, v->val.boolean ? "true" : "false");
	}

	PG_RETURN_TEXT_P(cstring_to_text_with_len(out.data, out.len));
}

/*
 * workon.email_placeholders(template text) returns text[]
 *
 * The names of the template's placeholders, each once, in order of first
 * use; error 22023 for "{{" that does not start a well-formed placeholder.
 */
PG_FUNCTION_INFO_V1(email_placeholders);
Datum
email_placeholders(PG_FUNCTION_ARGS)
{
	text	   *template = PG_GETARG_TEXT_PP(0);
	const char *start = VARDATA_ANY(template);
	const char *end = start + VARSIZE_ANY_EXHDR(template);
	const char *p = start;
	ArrayBuildState *names = initArrayResult(TEXTOID, CurrentMemoryContext, false);
	List	   *seen = NIL;

	while (p < end)
	{
		const char *name;
		int			namelen;
		int			len;
		ListCell   *lc;
		bool		dup = false;
		char	   *s;

		if (!(p[0] == '{' && end - p >= 2 && p[1] == '{'))
		{
			p++;
			continue;
		}
		len = placeholder_at(p, end, &name, &namelen);
		if (len == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("malformed placeholder at character %d", (int) (p - start) + 1),
					 errdetail("A placeholder is {{name}}: a lowercase letter or \"_\", then lowercase letters, digits or \"_\".")));
		s = pnstrdup(name, namelen);
		foreach(lc, seen)
		{
			if (strcmp(lfirst(lc), s) == 0)
				dup = true;
		}
		if (!dup)
		{
			seen = lappend(seen, s);
			accumArrayResult(names, CStringGetTextDatum(s), false, TEXTOID, CurrentMemoryContext);
		}
		p += len;
	}

	PG_RETURN_DATUM(makeArrayResult(names, CurrentMemoryContext));
}

/* digits after the decimal point of a currency's amounts (Stripe's list of zero-decimal currencies) */
static int
currency_exponent(const char *code)
{
	static const char *const zero_decimal[] = {
		"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf",
		"ugx", "vnd", "vuv", "xaf", "xof", "xpf"
	};
	int			i;

	for (i = 0; i < lengthof(zero_decimal); i++)
		if (strcmp(code, zero_decimal[i]) == 0)
			return 0;
	return 2;
}

/* the symbol of a currency in a locale, NULL to write its code */
static const char *
currency_symbol(const char *code, EmailLocale locale)
{
	if (strcmp(code, "eur") == 0)
		return "€";
	if (strcmp(code, "usd") == 0)
		return locale == EMAIL_LOCALE_FR ? "$US" : "$";
	if (strcmp(code, "gbp") == 0)
		return locale == EMAIL_LOCALE_FR ? "£GB" : "£";
	if (strcmp(code, "jpy") == 0)
		return locale == EMAIL_LOCALE_FR ? "JPY" : "¥";
	return NULL;
}

#define NBSP			"\xc2\xa0"	/* U+00A0 */
#define NARROW_NBSP		"\xe2\x80\xaf"	/* U+202F, French digit groups */

/*
 * workon.email_money(cents bigint, currency text, locale text) returns text
 *
 * An amount in minor units as its locale writes it: en "€1,234.50",
 * "CHF 12.00"; fr "1 234,50 €" (narrow no-break spaces between digit groups,
 * a no-break space before the symbol), "12,00 CHF".
 */
PG_FUNCTION_INFO_V1(email_money);
Datum
email_money(PG_FUNCTION_ARGS)
{
	int64		cents = PG_GETARG_INT64(0);
	char	   *code = text_to_cstring(PG_GETARG_TEXT_PP(1));
	EmailLocale locale = email_locale(PG_GETARG_TEXT_PP(2));
	int			exponent;
	const char *symbol;
	uint64		magnitude;
	uint64		scale = 1;
	uint64		units;
	char		digits[32];
	int			ndigits;
	int			i;
	char		upper[8];
	StringInfoData number;
	StringInfoData out;

	if (strlen(code) != 3)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("currency must be a three-letter code"),
				 err_generic_string(PG_DIAG_COLUMN_NAME, "currency")));
	for (i = 0; i < 3; i++)
	{
		code[i] = pg_ascii_tolower((unsigned char) code[i]);
		upper[i] = pg_ascii_toupper((unsigned char) code[i]);
	}
	upper[3] = '\0';
	exponent = currency_exponent(code);
	symbol = currency_symbol(code, locale);

	magnitude = cents < 0 ? (uint64) (-(cents + 1)) + 1 : (uint64) cents;
	for (i = 0; i < exponent; i++)
		scale *= 10;
	units = magnitude / scale;

	/* the whole units, grouped by three */
	ndigits = snprintf(digits, sizeof(digits), UINT64_FORMAT, units);
	initStringInfo(&number);
	for (i = 0; i < ndigits; i++)
	{
		if (i > 0 && (ndigits - i) % 3 == 0)
			appendStringInfoString(&number, locale == EMAIL_LOCALE_FR ? NARROW_NBSP : ",");
		appendStringInfoChar(&number, digits[i]);
	}
	if (exponent > 0)
		appendStringInfo(&number, "%c%0*" INT64_MODIFIER "u",
						 locale == EMAIL_LOCALE_FR ? ',' : '.',
						 exponent, magnitude % scale);

	initStringInfo(&out);
	if (cents < 0)
		appendStringInfoChar(&out, '-');
	if (locale == EMAIL_LOCALE_FR)
		appendStringInfo(&out, "%s" NBSP "%s", number.data, symbol ? symbol : upper);
	else if (symbol)
		appendStringInfo(&out, "%s%s", symbol, number.data);
	else
		appendStringInfo(&out, "%s" NBSP "%s", upper, number.data);

	PG_RETURN_TEXT_P(cstring_to_text(out.data));
}

static const char *const days_en[] = {
	"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"
};
static const char *const days_fr[] = {
	"dimanche", "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi"
};
static const char *const months_en[] = {
	"January", "February", "March", "April", "May", "June", "July",
	"August", "September", "October", "November", "December"
};
static const char *const months_fr[] = {
	"janvier", "février", "mars", "avril", "mai", "juin", "juillet",
	"août", "septembre", "octobre", "novembre", "décembre"
};

/*
 * workon.email_time(at timestamptz, timezone text, locale text) returns text
 *
 * An instant as a local time of the zone, as its locale writes it:
 * en "Monday, December 7, 2026, 2:30 PM"; fr "lundi 7 décembre 2026 à 14:30".
 */
PG_FUNCTION_INFO_V1(email_time);
Datum
email_time(PG_FUNCTION_ARGS)
{
	TimestampTz at = PG_GETARG_TIMESTAMPTZ(0);
	text	   *zone = PG_GETARG_TEXT_PP(1);
	EmailLocale locale = email_locale(PG_GETARG_TEXT_PP(2));
	Timestamp	local;
	struct pg_tm tm;
	fsec_t		fsec;
	int			dow;
	StringInfoData out;

	if (TIMESTAMP_NOT_FINITE(at))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("an e-mail shows finite times only")));
	local = DatumGetTimestamp(DirectFunctionCall2(timestamptz_zone,
												  PointerGetDatum(zone),
												  TimestampTzGetDatum(at)));
	if (timestamp2tm(local, NULL, &tm, &fsec, NULL, NULL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
	dow = j2day(date2j(tm.tm_year, tm.tm_mon, tm.tm_mday));

	initStringInfo(&out);
	if (locale == EMAIL_LOCALE_FR)
		appendStringInfo(&out, "%s %d%s %s %d à %02d:%02d",
						 days_fr[dow], tm.tm_mday, tm.tm_mday == 1 ? "er" : "",
						 months_fr[tm.tm_mon - 1], tm.tm_year, tm.tm_hour, tm.tm_min);
	else
		appendStringInfo(&out, "%s, %s %d, %d, %d:%02d %s",
						 days_en[dow], months_en[tm.tm_mon - 1], tm.tm_mday, tm.tm_year,
						 tm.tm_hour % 12 == 0 ? 12 : tm.tm_hour % 12, tm.tm_min,
						 tm.tm_hour < 12 ? "AM" : "PM");

	PG_RETURN_TEXT_P(cstring_to_text(out.data));
}
