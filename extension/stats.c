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

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
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
	text	   *zone = PG_GETARG_TEXT_PP(0);
	Jsonb	   *hours = PG_GETARG_JSONB_P(1);
	DateADT		first = PG_GETARG_DATEADT(2);
	DateADT		last = PG_GETARG_DATEADT(3);
	ArrayType  *starts_a = PG_GETARG_ARRAYTYPE_P(4);
	ArrayType  *ends_a = PG_GETARG_ARRAYTYPE_P(5);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	OpeningHours parsed;
	TimestampTz *starts,
			   *ends,
			   *bounds;
	int64	   *open,
			   *booked;
	Period	   *iv;
	int			nstarts,
				nends,
				ndays,
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
	array_to_timestamps(starts_a, "starts", &starts, &nstarts);
	array_to_timestamps(ends_a, "ends", &ends, &nends);
	if (nstarts != nends)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("starts and ends must have the same length")));

	workon_parse_opening_hours(hours, &parsed);
	InitMaterializedSRF(fcinfo, 0);
	if (last < first)
		return (Datum) 0;

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
	for (i = 0; i < nstarts; i++)
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

	for (d = 0; d < ndays; d++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = DateADTGetDatum(first + d);
		values[1] = Int64GetDatum(open[d] / USECS_PER_SEC);
		values[2] = Int64GetDatum(booked[d] / USECS_PER_SEC);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
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
