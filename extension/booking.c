/*-------------------------------------------------------------------------
 *
 * booking.c
 *	  Opening hours, booking rules, prices and the refund policy.
 *
 * A space keeps its opening hours in its own IANA time zone as a JSON
 * object mapping weekdays to lists of local intervals:
 *
 *		{"mon": [["08:00", "12:00"], ["13:00", "20:00"]],
 *		 "fri": [["22:00", "24:00"]], "sat": [["00:00", "06:00"]]}
 *
 * "24:00" ends a day; an absent day is closed; the intervals of a day are
 * sorted and do not overlap.  Intervals that touch, also across midnight,
 * form one open period, so a booking may run through the night.
 *
 * Local times become instants with PostgreSQL's own time zone code
 * (timestamp_zone / timestamptz_zone), so days of 23 and 25 hours are
 * handled the way the rest of the database handles them.  A local time
 * that does not exist (inside a spring-forward gap) is read as PostgreSQL
 * reads it: with the offset in force before the gap.
 *
 * Prices are exact integer arithmetic on seconds and cents.
 *
 * The booking state machine is in transitions.c.
 *
 * extension/booking.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "common/int.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "workon.h"

/* GUC, registered in workon.c */
int			workon_booking_hold_minutes = 15;

#define MINUTES_PER_DAY		1440
#define BOOKING_GRID		(15 * USECS_PER_MINUTE)
#define BOOKING_MIN_LENGTH	(30 * USECS_PER_MINUTE)
#define BOOKING_HORIZON		(180 * USECS_PER_DAY)
#define FULL_REFUND_NOTICE	(24 * USECS_PER_HOUR)
/* longest window opening_intervals() computes */
#define MAX_WINDOW			(400 * USECS_PER_DAY)

/* index = j2day() numbering: 0 is Sunday */
static const char *const day_keys[7] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};


/*
 * Opening hours
 */

static void
opening_hours_error(const char *field, const char *fmt, const char *arg)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg_internal(fmt, arg),
			 err_generic_string(PG_DIAG_COLUMN_NAME, field)));
}

/* "HH:MM" as minutes, -1 if malformed; "24:00" only if allow_24 */
static int
parse_hhmm(const JsonbValue *v, bool allow_24)
{
	const char *s;
	int			h,
				m;

	if (v == NULL || v->type != jbvString || v->val.string.len != 5)
		return -1;
	s = v->val.string.val;
	if (!isdigit((unsigned char) s[0]) || !isdigit((unsigned char) s[1]) || s[2] != ':' ||
		!isdigit((unsigned char) s[3]) || !isdigit((unsigned char) s[4]))
		return -1;
	h = (s[0] - '0') * 10 + (s[1] - '0');
	m = (s[3] - '0') * 10 + (s[4] - '0');
	if (m > 59)
		return -1;
	if (h == 24 && m == 0 && allow_24)
		return MINUTES_PER_DAY;
	if (h > 23)
		return -1;
	return h * 60 + m;
}

static int
day_index(const char *key, int len)
{
	int			i;

	for (i = 0; i < 7; i++)
		if (len == 3 && memcmp(key, day_keys[i], 3) == 0)
			return i;
	return -1;
}

/*
 * Parse and validate opening hours; errors are 22023 naming the field
 * ("opening_hours" or "opening_hours.mon").
 */
void
workon_parse_opening_hours(Jsonb *hours, OpeningHours *out)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			day = -1;
	char		field[32];

	memset(out, 0, sizeof(*out));

	if (hours == NULL || !JB_ROOT_IS_OBJECT(hours))
		opening_hours_error("opening_hours", "%s",
							"opening_hours must be an object mapping mon..sun to lists of [\"HH:MM\", \"HH:MM\"] intervals");

	it = JsonbIteratorInit(&hours->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			char	   *key = pnstrdup(v.val.string.val, v.val.string.len);

			day = day_index(v.val.string.val, v.val.string.len);
			if (day < 0)
				opening_hours_error("opening_hours",
									"opening_hours has an unknown day \"%s\" (days are mon, tue, wed, thu, fri, sat, sun)",
									key);
			snprintf(field, sizeof(field), "opening_hours.%s", day_keys[day]);
		}
		else if (tok == WJB_VALUE)
		{
			JsonbContainer *list;
			int			n,
						i;

			if (v.type != jbvBinary || !JsonContainerIsArray(v.val.binary.data))
				opening_hours_error(field, "%s must be a list of [\"HH:MM\", \"HH:MM\"] intervals",
									field);
			list = v.val.binary.data;
			n = JsonContainerSize(list);
			if (n > MAX_DAY_INTERVALS)
				opening_hours_error(field, "%s has too many intervals", field);

			for (i = 0; i < n; i++)
			{
				JsonbValue *pair = getIthJsonbValueFromContainer(list, i);
				JsonbValue *a = NULL;
				JsonbValue *b = NULL;
				int			start,
							end;

				if (pair && pair->type == jbvBinary &&
					JsonContainerIsArray(pair->val.binary.data) &&
					JsonContainerSize(pair->val.binary.data) == 2)
				{
					a = getIthJsonbValueFromContainer(pair->val.binary.data, 0);
					b = getIthJsonbValueFromContainer(pair->val.binary.data, 1);
				}
				if (a == NULL || b == NULL)
					opening_hours_error(field, "%s: each interval must be a pair [\"HH:MM\", \"HH:MM\"]",
										field);
				start = parse_hhmm(a, false);
				end = parse_hhmm(b, true);
				if (start < 0 || end < 0)
					opening_hours_error(field, "%s: times must be \"HH:MM\" from \"00:00\" to \"23:59\", or \"24:00\" to end the day",
										field);
				if (end <= start)
					opening_hours_error(field, "%s: an interval must end after it starts", field);
				if (out->n[day] > 0 && start < out->iv[day][out->n[day] - 1].end)
					opening_hours_error(field, "%s: intervals must be sorted and must not overlap",
										field);
				out->iv[day][out->n[day]].start = start;
				out->iv[day][out->n[day]].end = end;
				out->n[day]++;
			}
		}
	}
}


/*
 * Local time in a zone and back
 */

Timestamp
workon_utc_to_local(text *zone, TimestampTz t)
{
	return DatumGetTimestamp(DirectFunctionCall2(timestamptz_zone,
												 PointerGetDatum(zone),
												 TimestampTzGetDatum(t)));
}

TimestampTz
workon_local_to_utc(text *zone, Timestamp t)
{
	return DatumGetTimestampTz(DirectFunctionCall2(timestamp_zone,
												   PointerGetDatum(zone),
												   TimestampGetDatum(t)));
}

/* Local day number (days since 2000-01-01) of a local timestamp */
int64
workon_local_day(Timestamp local)
{
	int64		d = local / USECS_PER_DAY;

	if (local < 0 && local % USECS_PER_DAY != 0)
		d--;
	return d;
}

static void
check_finite(TimestampTz t, const char *field)
{
	if (TIMESTAMP_NOT_FINITE(t))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a finite time", field),
				 err_generic_string(PG_DIAG_COLUMN_NAME, field)));
}

/*
 * The open periods of [from, to): opening hours turned into instants,
 * periods that touch merged, clipped to the window.  Returns the number of
 * periods in *out (palloc'd).
 */
int
workon_open_periods(text *zone, OpeningHours *hours, TimestampTz from, TimestampTz to,
			 Period **out)
{
	int64		first = workon_local_day(workon_utc_to_local(zone, from)) - 1;
	int64		last = workon_local_day(workon_utc_to_local(zone, to)) + 1;
	int			cap = 16;
	int			n = 0;
	Period   *iv = palloc(sizeof(Period) * cap);
	int64		d;

	for (d = first; d <= last; d++)
	{
		int			wd = j2day((int) (d + POSTGRES_EPOCH_JDATE));
		int			i;

		CHECK_FOR_INTERRUPTS();
		for (i = 0; i < hours->n[wd]; i++)
		{
			TimestampTz s = workon_local_to_utc(zone, d * USECS_PER_DAY +
										 hours->iv[wd][i].start * USECS_PER_MINUTE);
			TimestampTz e = workon_local_to_utc(zone, d * USECS_PER_DAY +
										 hours->iv[wd][i].end * USECS_PER_MINUTE);

			if (e <= s)
				continue;		/* swallowed by a DST gap */
			if (n > 0 && s <= iv[n - 1].end)
			{
				if (e > iv[n - 1].end)
					iv[n - 1].end = e;
				continue;
			}
			if (n == cap)
			{
				cap *= 2;
				iv = repalloc(iv, sizeof(Period) * cap);
			}
			iv[n].start = s;
			iv[n].end = e;
			n++;
		}
	}

	/* clip to the window */
	{
		int			k = 0;
		int			i;

		for (i = 0; i < n; i++)
		{
			TimestampTz s = Max(iv[i].start, from);
			TimestampTz e = Min(iv[i].end, to);

			if (e > s)
			{
				iv[k].start = s;
				iv[k].end = e;
				k++;
			}
		}
		n = k;
	}

	*out = iv;
	return n;
}

/*
 * workon.opening_hours_check(opening_hours jsonb) returns void
 *
 * Not strict: NULL is refused like any other malformed value.
 */
PG_FUNCTION_INFO_V1(opening_hours_check);
Datum
opening_hours_check(PG_FUNCTION_ARGS)
{
	Jsonb	   *hours = PG_ARGISNULL(0) ? NULL : PG_GETARG_JSONB_P(0);
	OpeningHours parsed;

	workon_parse_opening_hours(hours, &parsed);
	PG_RETURN_VOID();
}

/*
 * workon.opening_intervals(timezone text, opening_hours jsonb,
 *							"from" timestamptz, "to" timestamptz)
 *	returns table (starts_at timestamptz, ends_at timestamptz)
 */
PG_FUNCTION_INFO_V1(opening_intervals);
Datum
opening_intervals(PG_FUNCTION_ARGS)
{
	text	   *zone = PG_GETARG_TEXT_PP(0);
	Jsonb	   *hours = PG_GETARG_JSONB_P(1);
	TimestampTz from = PG_GETARG_TIMESTAMPTZ(2);
	TimestampTz to = PG_GETARG_TIMESTAMPTZ(3);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	OpeningHours parsed;
	Period   *iv;
	int			n,
				i;

	check_finite(from, "from");
	check_finite(to, "to");
	if (to - from > MAX_WINDOW)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("window must be at most 400 days"),
				 err_generic_string(PG_DIAG_COLUMN_NAME, "to")));

	workon_parse_opening_hours(hours, &parsed);
	InitMaterializedSRF(fcinfo, 0);
	if (to <= from)
		return (Datum) 0;

	n = workon_open_periods(zone, &parsed, from, to, &iv);
	for (i = 0; i < n; i++)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = TimestampTzGetDatum(iv[i].start);
		values[1] = TimestampTzGetDatum(iv[i].end);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}


/*
 * Booking rules
 */

static void
rule_violation(const char *field, const char *message)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg_internal("%s", message),
			 err_generic_string(PG_DIAG_COLUMN_NAME, field)));
}

/*
 * workon.booking_check(timezone text, opening_hours jsonb,
 *						starts_at timestamptz, ends_at timestamptz,
 *						now timestamptz) returns void
 *
 * Every rule a new booking must meet; the first one broken is an error
 * 22023 naming the rule, with field starts_at or ends_at.  Not strict:
 * a missing starts_at or ends_at is such an error too.  "now" is an
 * argument so that the rules can be checked at any point in time.
 */
PG_FUNCTION_INFO_V1(booking_check);
Datum
booking_check(PG_FUNCTION_ARGS)
{
	text	   *zone;
	Jsonb	   *hours;
	TimestampTz s,
				e,
				now;
	OpeningHours parsed;
	Period   *iv;
	int			n;

	if (PG_ARGISNULL(2))
		rule_violation("starts_at", "starts_at is required");
	if (PG_ARGISNULL(3))
		rule_violation("ends_at", "ends_at is required");
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(4))
		elog(ERROR, "booking_check: time zone, opening hours and now must not be NULL");

	zone = PG_GETARG_TEXT_PP(0);
	hours = PG_GETARG_JSONB_P(1);
	s = PG_GETARG_TIMESTAMPTZ(2);
	e = PG_GETARG_TIMESTAMPTZ(3);
	now = PG_GETARG_TIMESTAMPTZ(4);

	check_finite(s, "starts_at");
	check_finite(e, "ends_at");
	if (e <= s)
		rule_violation("ends_at", "ends_at must be after starts_at");
	if (s % BOOKING_GRID != 0)
		rule_violation("starts_at", "starts_at must be on the 15-minute grid (:00, :15, :30, :45)");
	if (e % BOOKING_GRID != 0)
		rule_violation("ends_at", "ends_at must be on the 15-minute grid (:00, :15, :30, :45)");
	if (e - s < BOOKING_MIN_LENGTH)
		rule_violation("ends_at", "a booking must last at least 30 minutes");
	if (s <= now)
		rule_violation("starts_at", "starts_at must be in the future");
	if (s > now + BOOKING_HORIZON)
		rule_violation("starts_at", "starts_at must be at most 180 days ahead");
	if (e > now + BOOKING_HORIZON + USECS_PER_DAY)
		rule_violation("ends_at", "ends_at must be at most 181 days ahead");

	workon_parse_opening_hours(hours, &parsed);
	n = workon_open_periods(zone, &parsed, s, e, &iv);
	if (n == 0 || iv[0].start != s)
		rule_violation("starts_at", "a booking must be inside the opening hours of the space");
	if (n != 1 || iv[0].end != e)
		rule_violation("ends_at", "a booking must be inside the opening hours of the space");

	PG_RETURN_VOID();
}

/*
 * workon.booking_problems(timezone text, opening_hours jsonb,
 *						   starts_at timestamptz, ends_at timestamptz,
 *						   now timestamptz,
 *						   OUT fields text[], OUT messages text[]) returns record
 *
 * The rules of booking_check, each field judged on its own so that both
 * can be reported at once: for starts_at and for ends_at the first rule
 * it breaks (in booking_check's order), starts_at first; empty arrays if
 * the booking may be made.  Not strict: a missing time is "required", and
 * without a time zone or opening hours (the space is not known yet) the
 * rule of the opening hours is left out.  The opening hours are checked
 * only when every other rule holds.
 */
PG_FUNCTION_INFO_V1(booking_problems);
Datum
booking_problems(PG_FUNCTION_ARGS)
{
	bool		has_s = !PG_ARGISNULL(2),
				has_e = !PG_ARGISNULL(3);
	TimestampTz s = has_s ? PG_GETARG_TIMESTAMPTZ(2) : 0,
				e = has_e ? PG_GETARG_TIMESTAMPTZ(3) : 0,
				now;
	const char *start_problem = NULL,
			   *end_problem = NULL;
	Datum		fields[2],
				messages[2];
	int			n = 0;
	TupleDesc	tupdesc;
	Datum		values[2];
	bool		nulls[2] = {false, false};

	if (PG_ARGISNULL(4))
		elog(ERROR, "booking_problems: now must not be NULL");
	now = PG_GETARG_TIMESTAMPTZ(4);
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "booking_problems: return type must be a row type");

#define START_PROBLEM(msg)	do { if (start_problem == NULL) start_problem = (msg); } while (0)
#define END_PROBLEM(msg)	do { if (end_problem == NULL) end_problem = (msg); } while (0)

	if (!has_s)
		START_PROBLEM("starts_at is required");
	else if (TIMESTAMP_NOT_FINITE(s))
		START_PROBLEM("starts_at must be a finite time");
	if (!has_e)
		END_PROBLEM("ends_at is required");
	else if (TIMESTAMP_NOT_FINITE(e))
		END_PROBLEM("ends_at must be a finite time");

	if (has_s && has_e && start_problem == NULL && end_problem == NULL && e <= s)
		END_PROBLEM("ends_at must be after starts_at");
	if (start_problem == NULL && s % BOOKING_GRID != 0)
		START_PROBLEM("starts_at must be on the 15-minute grid (:00, :15, :30, :45)");
	if (end_problem == NULL && e % BOOKING_GRID != 0)
		END_PROBLEM("ends_at must be on the 15-minute grid (:00, :15, :30, :45)");
	if (has_s && has_e && end_problem == NULL && !TIMESTAMP_NOT_FINITE(s) && e - s < BOOKING_MIN_LENGTH)
		END_PROBLEM("a booking must last at least 30 minutes");
	if (start_problem == NULL && s <= now)
		START_PROBLEM("starts_at must be in the future");
	if (start_problem == NULL && s > now + BOOKING_HORIZON)
		START_PROBLEM("starts_at must be at most 180 days ahead");
	if (end_problem == NULL && e > now + BOOKING_HORIZON + USECS_PER_DAY)
		END_PROBLEM("ends_at must be at most 181 days ahead");

	if (start_problem == NULL && end_problem == NULL && !PG_ARGISNULL(0) && !PG_ARGISNULL(1))
	{
		OpeningHours parsed;
		Period	   *iv;
		int			np;

		workon_parse_opening_hours(PG_GETARG_JSONB_P(1), &parsed);
		np = workon_open_periods(PG_GETARG_TEXT_PP(0), &parsed, s, e, &iv);
		if (np == 0 || iv[0].start != s)
			START_PROBLEM("a booking must be inside the opening hours of the space");
		if (np != 1 || iv[0].end != e)
			END_PROBLEM("a booking must be inside the opening hours of the space");
	}
#undef START_PROBLEM
#undef END_PROBLEM

	if (start_problem != NULL)
	{
		fields[n] = CStringGetTextDatum("starts_at");
		messages[n++] = CStringGetTextDatum(start_problem);
	}
	if (end_problem != NULL)
	{
		fields[n] = CStringGetTextDatum("ends_at");
		messages[n++] = CStringGetTextDatum(end_problem);
	}
	values[0] = PointerGetDatum(construct_array(fields, n, TEXTOID, -1, false, TYPALIGN_INT));
	values[1] = PointerGetDatum(construct_array(messages, n, TEXTOID, -1, false, TYPALIGN_INT));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}

/*
 * workon.booking_price(timezone text, hourly_rate_cents bigint,
 *						daily_rate_cents bigint, starts_at timestamptz,
 *						ends_at timestamptz) returns bigint
 *
 * For each calendar day of the space's zone that the booking touches:
 * min(elapsed hours x hourly rate, daily rate), rounded half up to the
 * cent; the days summed.  Elapsed time is real time, so the night of a
 * DST change counts the hour that was skipped or repeated correctly.
 */
PG_FUNCTION_INFO_V1(booking_price);
Datum
booking_price(PG_FUNCTION_ARGS)
{
	text	   *zone = PG_GETARG_TEXT_PP(0);
	int64		hourly = PG_GETARG_INT64(1);
	int64		daily = PG_GETARG_INT64(2);
	TimestampTz s = PG_GETARG_TIMESTAMPTZ(3);
	TimestampTz e = PG_GETARG_TIMESTAMPTZ(4);
	TimestampTz cur;
	int64		total = 0;

	check_finite(s, "starts_at");
	check_finite(e, "ends_at");
	if (hourly < 0 || daily < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("rates must not be negative")));
	if (e <= s)
		PG_RETURN_INT64(0);
	if (e - s > MAX_WINDOW)
		rule_violation("ends_at", "a booking must last at most 400 days");

	for (cur = s; cur < e;)
	{
		int64		day = workon_local_day(workon_utc_to_local(zone, cur));
		TimestampTz midnight = workon_local_to_utc(zone, (day + 1) * USECS_PER_DAY);
		TimestampTz piece_end;
		int64		secs;
		int64		cost;

		CHECK_FOR_INTERRUPTS();
		if (midnight <= cur)	/* cannot happen; never loop forever */
			midnight = cur + USECS_PER_HOUR;
		piece_end = Min(e, midnight);
		secs = (piece_end - cur) / USECS_PER_SEC;

		/* round(secs * hourly / 3600) half up */
		if (pg_mul_s64_overflow(secs, hourly, &cost) ||
			pg_add_s64_overflow(cost, 1800, &cost))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("price out of range")));
		cost /= 3600;
		if (cost > daily)
			cost = daily;
		if (pg_add_s64_overflow(total, cost, &total))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("price out of range")));
		cur = piece_end;
	}

	PG_RETURN_INT64(total);
}


/*
 * workon.booking_refund(starts_at timestamptz, cancelled_at timestamptz,
 *						 paid_cents bigint, OUT percent int4,
 *						 OUT amount_cents bigint) returns record
 *
 * The cancellation policy: 100 % of what was paid at least 24 hours before
 * the start, 50 % (rounded half up to the cent) later; from the start on,
 * error WOC04 (cannot_cancel).
 */
PG_FUNCTION_INFO_V1(booking_refund);
Datum
booking_refund(PG_FUNCTION_ARGS)
{
	TimestampTz starts_at = PG_GETARG_TIMESTAMPTZ(0);
	TimestampTz cancelled_at = PG_GETARG_TIMESTAMPTZ(1);
	int64		paid = PG_GETARG_INT64(2);
	TupleDesc	tupdesc;
	Datum		values[2];
	bool		nulls[2] = {false, false};
	int32		percent;
	int64		amount;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (paid < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("paid amount must not be negative")));
	if (cancelled_at >= starts_at)
		ereport(ERROR,
				(errcode(ERRCODE_WORKON_CANNOT_CANCEL),
				 errmsg("a booking cannot be cancelled once it has started")));

	percent = (starts_at - cancelled_at >= FULL_REFUND_NOTICE) ? 100 : 50;
	if (pg_mul_s64_overflow(paid, percent, &amount) ||
		pg_add_s64_overflow(amount, 50, &amount))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("refund out of range")));
	amount /= 100;

	values[0] = Int32GetDatum(percent);
	values[1] = Int64GetDatum(amount);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}
