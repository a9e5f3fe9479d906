/*-------------------------------------------------------------------------
 *
 * stats.c
 *	  Occupancy of a space: booked time over open time, per local day.
 *
 * The days are calendar days of the space's own time zone, so a day of a
 * DST change has 23 or 25 hours, and the opening hours are turned into
 * instants by the same code that checks bookings (booking.c): an opening
 * that runs through midnight counts on each side of it for the day it is
 * in.  Booked time is the part of each booking that falls inside the open
 * periods, so a day's occupancy is never above 100 % even when the opening
 * hours changed after the booking was made.
 *
 * extension/stats.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/timestamp.h"

#include "workon.h"

/* longest run of days one call computes */
#define MAX_DAYS	400

/* Index of the day [bounds[i], bounds[i + 1]) holding t; bounds[0] <= t */
static int
day_of(const TimestampTz *bounds, int ndays, TimestampTz t)
{
	int			lo = 0,
				hi = ndays - 1;

	while (lo < hi)
	{
		int			mid = (lo + hi + 1) / 2;

		if (bounds[mid] <= t)
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo;
}

/* Add the seconds of [s, e) to the days they fall in */
static void
spread(const TimestampTz *bounds, int ndays, TimestampTz s, TimestampTz e, int64 *acc)
{
	int			d;

	if (s < bounds[0])
		s = bounds[0];
	if (e > bounds[ndays])
		e = bounds[ndays];
	if (e <= s)
		return;
	for (d = day_of(bounds, ndays, s); d < ndays && s < e; d++)
	{
		TimestampTz end = Min(e, bounds[d + 1]);

		if (end > s)
			acc[d] += end - s;
		s = end;
	}
}

static void
array_to_timestamps(ArrayType *a, const char *field, TimestampTz **out, int *n)
{
	Datum	   *elems;
	bool	   *nulls;
	int			i;

	if (ARR_NDIM(a) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a one-dimensional array", field)));
	deconstruct_array(a, TIMESTAMPTZOID, sizeof(TimestampTz), FLOAT8PASSBYVAL,
					  TYPALIGN_DOUBLE, &elems, &nulls, n);
	*out = palloc(sizeof(TimestampTz) * Max(*n, 1));
	for (i = 0; i < *n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not contain NULL", field)));
		(*out)[i] = DatumGetTimestampTz(elems[i]);
	}
}

/*
 * The microseconds open and the microseconds booked of each local day from
 * first to last (palloc'd arrays of *ndays; none when last < first) of the
 * bookings [starts[i], ends[i]).
 */
static void
occupancy_days(text *zone, Jsonb *hours, DateADT first, DateADT last,
			   const TimestampTz *starts, const TimestampTz *ends, int nbookings,
			   int *ndays_out, int64 **open_out, int64 **booked_out)
{
	OpeningHours parsed;
	TimestampTz *bounds;
	int64	   *open,
			   *booked;
	Period	   *iv;
	int			ndays,
				n,
				i,
				d;

	if (DATE_NOT_FINITE(first) || DATE_NOT_FINITE(last))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("days must be finite")));
	if ((int64) last - first + 1 > MAX_DAYS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("at most %d days at once", MAX_DAYS)));

	workon_parse_opening_hours(hours, &parsed);
	*ndays_out = 0;
	if (last < first)
		return;

	ndays = last - first + 1;
	bounds = palloc(sizeof(TimestampTz) * (ndays + 1));
	for (d = 0; d <= ndays; d++)
		bounds[d] = workon_local_to_utc(zone, ((int64) first + d) * USECS_PER_DAY);
	open = palloc0(sizeof(int64) * ndays);
	booked = palloc0(sizeof(int64) * ndays);

	/* open periods, merged and sorted, clipped to the days */
	n = workon_open_periods(zone, &parsed, bounds[0], bounds[ndays], &iv);
	for (i = 0; i < n; i++)
		spread(bounds, ndays, iv[i].start, iv[i].end, open);

	/* each booking against the open periods it overlaps */
	for (i = 0; i < nbookings; i++)
	{
		int			lo = 0,
					hi = n;

		CHECK_FOR_INTERRUPTS();
		if (ends[i] <= starts[i])
			continue;
		/* first period ending after the booking starts */
		while (lo < hi)
		{
			int			mid = (lo + hi) / 2;

			if (iv[mid].end <= starts[i])
				lo = mid + 1;
			else
				hi = mid;
		}
		for (; lo < n && iv[lo].start < ends[i]; lo++)
			spread(bounds, ndays, Max(starts[i], iv[lo].start),
				   Min(ends[i], iv[lo].end), booked);
	}

	*ndays_out = ndays;
	*open_out = open;
	*booked_out = booked;
}

/*
 * occupancy_days() of the arguments (timezone, opening_hours, first_day,
 * last_day, starts[], ends[]) of the SQL functions below
 */
static void
occupancy_compute(FunctionCallInfo fcinfo, int *ndays_out, int64 **open_out, int64 **booked_out)
{
	TimestampTz *starts,
			   *ends;
	int			nstarts,
				nends;

	array_to_timestamps(PG_GETARG_ARRAYTYPE_P(4), "starts", &starts, &nstarts);
	array_to_timestamps(PG_GETARG_ARRAYTYPE_P(5), "ends", &ends, &nends);
	if (nstarts != nends)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("starts and ends must have the same length")));
	occupancy_days(PG_GETARG_TEXT_PP(0), PG_GETARG_JSONB_P(1), PG_GETARG_DATEADT(2),
				   PG_GETARG_DATEADT(3), starts, ends, nstarts,
				   ndays_out, open_out, booked_out);
}

/*
 * The rows of space_occupancy() (booked_only false: every day, open and
 * booked seconds) or of space_booked_microseconds() (booked_only true: the
 * days with booked time, in microseconds)
 */
static Datum
occupancy_rows(FunctionCallInfo fcinfo, bool booked_only)
{
	DateADT		first = PG_GETARG_DATEADT(2);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64	   *open = NULL,
			   *booked = NULL;
	int			ndays,
				d;

	occupancy_compute(fcinfo, &ndays, &open, &booked);
	InitMaterializedSRF(fcinfo, 0);
	for (d = 0; d < ndays; d++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = DateADTGetDatum(first + d);
		if (booked_only)
		{
			if (booked[d] == 0)
				continue;
			values[1] = Int64GetDatum(booked[d]);
		}
		else
		{
			values[1] = Int64GetDatum(open[d] / USECS_PER_SEC);
			values[2] = Int64GetDatum(booked[d] / USECS_PER_SEC);
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * workon.space_occupancy(timezone text, opening_hours jsonb,
 *						  first_day date, last_day date,
 *						  starts timestamptz[], ends timestamptz[])
 *	returns table (day date, open_seconds bigint, booked_seconds bigint)
 *
 * One row per local day from first_day to last_day: the seconds the space
 * is open that day and the seconds of the bookings [starts[i], ends[i])
 * inside those open periods.
 */
PG_FUNCTION_INFO_V1(space_occupancy);
Datum
space_occupancy(PG_FUNCTION_ARGS)
{
	return occupancy_rows(fcinfo, false);
}

/* seconds as hours rounded to the hundredth, a float8[] */
static ArrayType *
hours_array(const int64 *seconds, int n)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));
	int			i;

	for (i = 0; i < n; i++)
		elems[i] = Float8GetDatum(rint((double) (seconds[i] / USECS_PER_SEC) / 36.0) / 100.0);
	return construct_array(elems, n, FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
}

/*
 * seconds (in microseconds) as a JSON array of hours rounded to the
 * hundredth, written as float8out writes the numbers hours_array() holds
 * (the shortest text of k / 100.0 is k / 100 without trailing zeros), and
 * *sum the sum of those numbers in order, as sum(float8) adds them
 */
static Datum
hours_json(const int64 *us, int n, float8 *sum)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	*sum = 0;
	for (i = 0; i < n; i++)
	{
		float8		h = rint((double) (us[i] / USECS_PER_SEC) / 36.0);
		int64		k = (int64) h;

		*sum += h / 100.0;
		if (i > 0)
			appendStringInfoChar(&buf, ',');
		if (k < 0)
		{
			appendStringInfoChar(&buf, '-');
			k = -k;
		}
		appendStringInfo(&buf, INT64_FORMAT, k / 100);
		if (k % 100 != 0)
		{
			if (k % 10 == 0)
				appendStringInfo(&buf, ".%d", (int) (k % 100) / 10);
			else
				appendStringInfo(&buf, ".%02d", (int) (k % 100));
		}
	}
	appendStringInfoChar(&buf, ']');
	return PointerGetDatum(cstring_to_text_with_len(buf.data, buf.len));
}

/*
 * workon.space_occupancy_hours(timezone text, opening_hours jsonb,
 *								first_day date, last_day date,
 *								starts timestamptz[], ends timestamptz[],
 *								OUT open_hours float8[], OUT booked_hours float8[])
 *
 * What workon.space_occupancy() computes, as two arrays of hours (rounded
 * to the hundredth), one element a day from first_day on: what a report of
 * many spaces and days wants, without a row a day.
 */
PG_FUNCTION_INFO_V1(space_occupancy_hours);
Datum
space_occupancy_hours(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	int64	   *open = NULL,
			   *booked = NULL;
	int			ndays;
	Datum		values[2];
	bool		nulls[2] = {false, false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "space_occupancy_hours: return type must be a row type");
	occupancy_compute(fcinfo, &ndays, &open, &booked);
	values[0] = PointerGetDatum(hours_array(open, ndays));
	values[1] = PointerGetDatum(hours_array(booked, ndays));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}

/*
 * workon.space_booked_microseconds(timezone text, opening_hours jsonb,
 *									first_day date, last_day date,
 *									starts timestamptz[], ends timestamptz[])
 *	returns table (day date, booked_microseconds bigint)
 *
 * The booked time of workon.space_occupancy() before it is cut to whole
 * seconds, only of the days that have some: what the stats rollup adds
 * up booking by booking (the sum of the bookings' microseconds of a day is
 * what space_occupancy() computes of them all at once).
 */
PG_FUNCTION_INFO_V1(space_booked_microseconds);
Datum
space_booked_microseconds(PG_FUNCTION_ARGS)
{
	return occupancy_rows(fcinfo, true);
}

/*
 * The open time of each day of a report: spaces share zones and opening
 * hours, so one call of a query keeps what it computed (in fn_extra, for
 * the query) and a report over 1,000 spaces computes each combination once.
 */
#define OPEN_CACHE_SIZE 64

typedef struct OpenCacheEntry
{
	text	   *zone;
	Jsonb	   *hours;
	DateADT		first;
	DateADT		last;
	int			ndays;
	int64	   *open;
} OpenCacheEntry;

typedef struct OpenCache
{
	int			n;
	OpenCacheEntry entries[OPEN_CACHE_SIZE];
} OpenCache;

static bool
same_varlena(const struct varlena *a, const struct varlena *b)
{
	return VARSIZE_ANY_EXHDR(a) == VARSIZE_ANY_EXHDR(b) &&
		memcmp(VARDATA_ANY(a), VARDATA_ANY(b), VARSIZE_ANY_EXHDR(a)) == 0;
}

/* the open microseconds of the days first..last (arguments 0 to 3) */
static void
open_days(FunctionCallInfo fcinfo, int *ndays_out, int64 **open_out)
{
	text	   *zone = PG_GETARG_TEXT_PP(0);
	Jsonb	   *hours = PG_GETARG_JSONB_P(1);
	DateADT		first = PG_GETARG_DATEADT(2);
	DateADT		last = PG_GETARG_DATEADT(3);
	OpenCache  *cache = (OpenCache *) fcinfo->flinfo->fn_extra;
	OpenCacheEntry *e;
	MemoryContext old;
	int64	   *booked = NULL;
	int			i;

	if (cache == NULL)
		cache = fcinfo->flinfo->fn_extra =
			MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(OpenCache));
	for (i = 0; i < cache->n; i++)
	{
		e = &cache->entries[i];
		if (e->first == first && e->last == last &&
			same_varlena((struct varlena *) e->zone, (struct varlena *) zone) &&
			same_varlena((struct varlena *) e->hours, (struct varlena *) hours))
		{
			*ndays_out = e->ndays;
			*open_out = e->open;
			return;
		}
	}
	occupancy_days(zone, hours, first, last, NULL, NULL, 0, ndays_out, open_out, &booked);
	if (cache->n == OPEN_CACHE_SIZE)
		return;
	e = &cache->entries[cache->n];
	old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	e->zone = (text *) PG_DETOAST_DATUM_COPY(PG_GETARG_DATUM(0));
	e->hours = (Jsonb *) PG_DETOAST_DATUM_COPY(PG_GETARG_DATUM(1));
	e->first = first;
	e->last = last;
	e->ndays = *ndays_out;
	e->open = palloc(sizeof(int64) * Max(*ndays_out, 1));
	if (*ndays_out > 0)
		memcpy(e->open, *open_out, sizeof(int64) * *ndays_out);
	MemoryContextSwitchTo(old);
	cache->n++;
}

/*
 * workon.space_occupancy_days(timezone text, opening_hours jsonb,
 *							   first_day date, last_day date,
 *							   days date[], booked_microseconds bigint[],
 *							   OUT daily_open_hours json, OUT daily_booked_hours json,
 *							   OUT open_hours float8, OUT booked_hours float8)
 *
 * What the report makes of workon.space_occupancy_hours(), with the booked
 * time already summed per day (days[i] has booked_microseconds[i]; days
 * outside first..last are skipped): the arrays of hours as JSON text, the
 * same as array_to_json() of them, and their sums; the report over the
 * stats rollup, where turning 1,000 spaces' days into JSON one float8 at
 * a time was a third of the report's time.
 */
PG_FUNCTION_INFO_V1(space_occupancy_days);
Datum
space_occupancy_days(PG_FUNCTION_ARGS)
{
	DateADT		first = PG_GETARG_DATEADT(2);
	ArrayType  *days_a = PG_GETARG_ARRAYTYPE_P(4);
	ArrayType  *us_a = PG_GETARG_ARRAYTYPE_P(5);
	TupleDesc	tupdesc;
	int64	   *open = NULL,
			   *booked = NULL;
	Datum	   *days,
			   *us;
	bool	   *days_nulls,
			   *us_nulls;
	int			ndays,
				n,
				nus,
				i;
	float8		open_sum,
				booked_sum;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "space_occupancy_days: return type must be a row type");
	if (ARR_NDIM(days_a) > 1 || ARR_NDIM(us_a) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("days and booked_microseconds must be one-dimensional arrays")));
	deconstruct_array(days_a, DATEOID, sizeof(DateADT), true, TYPALIGN_INT,
					  &days, &days_nulls, &n);
	deconstruct_array(us_a, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &us, &us_nulls, &nus);
	if (n != nus)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("days and booked_microseconds must have the same length")));
	open_days(fcinfo, &ndays, &open);
	booked = palloc0(sizeof(int64) * Max(ndays, 1));
	for (i = 0; i < n; i++)
	{
		int64		d;

		if (days_nulls[i] || us_nulls[i])
			continue;
		d = (int64) DatumGetDateADT(days[i]) - first;
		if (d >= 0 && d < ndays)
			booked[d] += DatumGetInt64(us[i]);
	}
	values[0] = hours_json(open, ndays, &open_sum);
	values[1] = hours_json(booked, ndays, &booked_sum);
	values[2] = Float8GetDatum(open_sum);
	values[3] = Float8GetDatum(booked_sum);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}

/*
 * workon.jsonb_compact(value jsonb) returns text
 *
 * The text of a jsonb value without the blanks jsonb's output puts after
 * ":" and "," ({"a":1,"b":[1,2]}), like every answer of the API.
 */
PG_FUNCTION_INFO_V1(jsonb_compact);
Datum
jsonb_compact(PG_FUNCTION_ARGS)
{
	Jsonb	   *value = PG_GETARG_JSONB_P(0);
	char	   *in = JsonbToCString(NULL, &value->root, VARSIZE(value));
	char	   *out = palloc(strlen(in) + 1);
	char	   *p,
			   *q = out;
	bool		in_string = false;

	for (p = in; *p; p++)
	{
		if (in_string)
		{
			*q++ = *p;
			if (*p == '\\' && p[1] != '\0')
				*q++ = *++p;
			else if (*p == '"')
				in_string = false;
		}
		else if (*p != ' ')
		{
			*q++ = *p;
			if (*p == '"')
				in_string = true;
		}
	}
	*q = '\0';
	PG_RETURN_TEXT_P(cstring_to_text_with_len(out, q - out));
}
