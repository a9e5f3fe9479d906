/*-------------------------------------------------------------------------
 *
 * cursor.c
 *	  Opaque keyset-pagination cursors.
 *
 * A list is ordered by (created_at DESC, id DESC); the cursor names the
 * last row of a page.  It is the unpadded base64url form of
 *
 *		byte 0		format version (1)
 *		bytes 1-8	timestamp, microseconds since 2000-01-01, big-endian
 *		bytes 9-24	uuid
 *
 * so clients can store and echo it but should not build one.  Lists in
 * another order (price, capacity, relevance) are ordered by (key DESC,
 * id DESC) with an integer key, and name their last row with
 *
 *		byte 0		format version (2)
 *		byte 1		the order the cursor belongs to (a letter)
 *		bytes 2-9	key, big-endian two's complement
 *		bytes 10-25	uuid
 *
 * so a cursor of one order is refused by a list in another.  Anything that
 * does not decode to exactly this is rejected as an invalid cursor, with
 * "cursor" as the offending field.
 *
 * extension/cursor.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "workon.h"

#define CURSOR_VERSION		1
#define CURSOR_RAW_LEN		(1 + 8 + UUID_LEN)
#define KEY_CURSOR_VERSION	2
#define KEY_CURSOR_RAW_LEN	(2 + 8 + UUID_LEN)

static void
invalid_cursor(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid cursor"),
			 err_generic_string(PG_DIAG_COLUMN_NAME, "cursor")));
}

/*
 * workon.cursor_encode(timestamptz, uuid) returns text
 */
PG_FUNCTION_INFO_V1(cursor_encode);
Datum
cursor_encode(PG_FUNCTION_ARGS)
{
	TimestampTz ts = PG_GETARG_TIMESTAMPTZ(0);
	pg_uuid_t  *id = PG_GETARG_UUID_P(1);
	uint8		raw[CURSOR_RAW_LEN];
	uint64		v = (uint64) ts;
	int			i;

	raw[0] = CURSOR_VERSION;
	for (i = 0; i < 8; i++)
		raw[1 + i] = (uint8) (v >> (56 - 8 * i));
	memcpy(raw + 9, id->data, UUID_LEN);

	PG_RETURN_TEXT_P(cstring_to_text(workon_b64url_encode(raw, CURSOR_RAW_LEN)));
}

/*
 * workon.cursor_decode(text, OUT ts timestamptz, OUT id uuid) returns record
 */
PG_FUNCTION_INFO_V1(cursor_decode);
Datum
cursor_decode(PG_FUNCTION_ARGS)
{
	text	   *cursor = PG_GETARG_TEXT_PP(0);
	unsigned char *raw;
	size_t		rawlen;
	uint64		v = 0;
	TimestampTz ts;
	pg_uuid_t  *id;
	TupleDesc	tupdesc;
	Datum		values[2];
	bool		nulls[2] = {false, false};
	int			i;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	if (!workon_b64url_decode(VARDATA_ANY(cursor), VARSIZE_ANY_EXHDR(cursor),
							  &raw, &rawlen) ||
		rawlen != CURSOR_RAW_LEN || raw[0] != CURSOR_VERSION)
		invalid_cursor();

	for (i = 0; i < 8; i++)
		v = (v << 8) | raw[1 + i];
	ts = (TimestampTz) v;
	if (!TIMESTAMP_NOT_FINITE(ts) && !IS_VALID_TIMESTAMP(ts))
		invalid_cursor();

	id = (pg_uuid_t *) palloc(sizeof(pg_uuid_t));
	memcpy(id->data, raw + 9, UUID_LEN);

	values[0] = TimestampTzGetDatum(ts);
	values[1] = UUIDPGetDatum(id);

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc),
													  values, nulls)));
}

/*
 * workon.cursor_encode_key(kind "char", key bigint, id uuid) returns text
 */
PG_FUNCTION_INFO_V1(cursor_encode_key);
Datum
cursor_encode_key(PG_FUNCTION_ARGS)
{
	char		kind = PG_GETARG_CHAR(0);
	uint64		v = (uint64) PG_GETARG_INT64(1);
	pg_uuid_t  *id = PG_GETARG_UUID_P(2);
	uint8		raw[KEY_CURSOR_RAW_LEN];
	int			i;

	raw[0] = KEY_CURSOR_VERSION;
	raw[1] = (uint8) kind;
	for (i = 0; i < 8; i++)
		raw[2 + i] = (uint8) (v >> (56 - 8 * i));
	memcpy(raw + 10, id->data, UUID_LEN);

	PG_RETURN_TEXT_P(cstring_to_text(workon_b64url_encode(raw, KEY_CURSOR_RAW_LEN)));
}

/*
 * workon.cursor_decode_key(kind "char", cursor text, OUT key bigint, OUT id uuid)
 * returns record; a cursor of another kind is invalid
 */
PG_FUNCTION_INFO_V1(cursor_decode_key);
Datum
cursor_decode_key(PG_FUNCTION_ARGS)
{
	char		kind = PG_GETARG_CHAR(0);
	text	   *cursor = PG_GETARG_TEXT_PP(1);
	unsigned char *raw;
	size_t		rawlen;
	uint64		v = 0;
	pg_uuid_t  *id;
	TupleDesc	tupdesc;
	Datum		values[2];
	bool		nulls[2] = {false, false};
	int			i;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	if (!workon_b64url_decode(VARDATA_ANY(cursor), VARSIZE_ANY_EXHDR(cursor),
							  &raw, &rawlen) ||
		rawlen != KEY_CURSOR_RAW_LEN || raw[0] != KEY_CURSOR_VERSION ||
		raw[1] != (unsigned char) kind)
		invalid_cursor();

	for (i = 0; i < 8; i++)
		v = (v << 8) | raw[2 + i];

	id = (pg_uuid_t *) palloc(sizeof(pg_uuid_t));
	memcpy(id->data, raw + 10, UUID_LEN);

	values[0] = Int64GetDatum((int64) v);
	values[1] = UUIDPGetDatum(id);

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc),
													  values, nulls)));
}
