/*-------------------------------------------------------------------------
 *
 * timezone.c
 *	  Validation of IANA time zone names.
 *
 * A space keeps its opening hours in its own IANA time zone ("Europe/Berlin").
 * PostgreSQL's pg_tzset() accepts those, but also POSIX rule strings such as
 * "UTC+3" (which means three hours *west* of UTC) that are not zones at all;
 * workon.valid_timezone() accepts only names of zones in the time zone
 * database.
 *
 * extension/timezone.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "nodes/pg_list.h"
#include "pgtime.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

/*
 * Zone names in the tz database are made of letters, digits, "_", "+" and
 * "-", with "/" between non-empty components; nothing else can be one.
 */
static bool
timezone_name_is_plausible(const char *name)
{
	const char *p;
	bool		component_start = true;

	if (name[0] == '\0' || strlen(name) > TZ_STRLEN_MAX)
		return false;

	for (p = name; *p; p++)
	{
		unsigned char c = (unsigned char) *p;

		if (c == '/')
		{
			if (component_start)
				return false;
			component_start = true;
			continue;
		}
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			  (c >= '0' && c <= '9') || c == '_' || c == '+' || c == '-'))
			return false;
		component_start = false;
	}

	return !component_start;
}

static bool
has_digit(const char *s)
{
	for (; *s; s++)
		if (*s >= '0' && *s <= '9')
			return true;
	return false;
}

/*
 * Zones whose names are all capitals and contain a digit ("EST5EDT"), the
 * only ones a POSIX rule can be mistaken for.  Collected from the time zone
 * database on first use and kept for the life of the backend.
 */
static List *capital_zones = NIL;
static bool capital_zones_loaded = false;

static bool
is_capital_name(const char *s)
{
	for (; *s; s++)
		if (*s >= 'a' && *s <= 'z')
			return false;
	return true;
}

static void
load_capital_zones(void)
{
	pg_tzenum  *tzenum = pg_tzenumerate_start();
	pg_tz	   *tz;
	MemoryContext oldcxt;

	list_free_deep(capital_zones);
	capital_zones = NIL;
	oldcxt = MemoryContextSwitchTo(TopMemoryContext);
	while ((tz = pg_tzenumerate_next(tzenum)) != NULL)
	{
		const char *name = pg_get_timezone_name(tz);

		if (is_capital_name(name) && has_digit(name))
			capital_zones = lappend(capital_zones, pstrdup(name));
	}
	MemoryContextSwitchTo(oldcxt);
	pg_tzenumerate_end(tzenum);

	capital_zones_loaded = true;
}

/* Is name, ignoring case, one of the capital zones? */
static bool
is_capital_zone(const char *name)
{
	ListCell   *lc;

	if (!capital_zones_loaded)
		load_capital_zones();

	foreach(lc, capital_zones)
	{
		if (pg_strcasecmp((const char *) lfirst(lc), name) == 0)
			return true;
	}
	return false;
}

static bool
timezone_is_valid(const char *name)
{
	pg_tz	   *tz;
	const char *canonical;
	char	   *upper;
	char	   *p;

	if (!timezone_name_is_plausible(name))
		return false;

	upper = pstrdup(name);
	for (p = upper; *p; p++)
		*p = pg_toupper((unsigned char) *p);

	tz = pg_tzset(name);
	if (tz == NULL || !pg_tz_acceptable(tz))
		return false;

	/*
	 * A zone loaded from the database reports its name as spelled on disk; a
	 * POSIX rule string reports the upper-cased input.  A POSIX rule always
	 * contains a digit (its UTC offset), so a name that does not come back
	 * upper-cased, or has no digits, is a zone.  That leaves all-capital
	 * names with digits, a few legacy zones ("EST5EDT") among the POSIX
	 * rules ("UTC+3"): look those up in the database itself.
	 */
	canonical = pg_get_timezone_name(tz);
	if (pg_strcasecmp(canonical, name) != 0)
		return false;			/* not the zone that was asked for */
	if (strcmp(canonical, upper) != 0 || !has_digit(name))
		return true;

	return is_capital_zone(name);
}

/*
 * workon.valid_timezone(text) returns boolean
 *
 * True when the argument names a zone of the IANA time zone database that
 * PostgreSQL can use, e.g. 'Europe/Berlin' or 'UTC'; false for anything
 * else, including POSIX rule strings such as 'UTC+3'.
 */
PG_FUNCTION_INFO_V1(valid_timezone);
Datum
valid_timezone(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));

	PG_RETURN_BOOL(timezone_is_valid(name));
}
