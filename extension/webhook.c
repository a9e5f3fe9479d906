/*-------------------------------------------------------------------------
 *
 * webhook.c
 *	  Verification of Stripe webhook signatures.
 *
 * Stripe signs each delivery with the endpoint's secret and sends
 *
 *		Stripe-Signature: t=1700000000,v1=<hex>,v1=<hex>,v0=<hex>
 *
 * where each v1 is HMAC-SHA256(secret, "<t>.<raw body>") in lower-case hex.
 * While a secret is being rolled, Stripe sends one v1 per valid secret, and
 * the receiver may hold several secrets too: the delivery is genuine when
 * any v1 matches the HMAC under any of the secrets.  A genuine delivery is
 * accepted only while its timestamp is within the tolerance of now, either
 * way, which bounds replays.  Other schemes (v0, test signatures) are
 * ignored.  MACs are compared in constant time.
 *
 * extension/webhook.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/crypto.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "workon.h"

#define SIGNATURE_LEN		32	/* HMAC-SHA256 */
#define MAX_SIGNATURES		8	/* v1 entries looked at */
#define MAX_HEADER_LEN		4096

typedef enum SignatureResult
{
	SIGNATURE_OK,
	SIGNATURE_MALFORMED,
	SIGNATURE_NO_MATCH,
	SIGNATURE_STALE
} SignatureResult;

typedef struct SignatureHeader
{
	const char *t;				/* the timestamp as sent */
	int			tlen;
	int64		timestamp;
	int			nsigs;
	unsigned char sigs[MAX_SIGNATURES][SIGNATURE_LEN];
	bool		has_v1;			/* a v1 entry, well-formed or not */
} SignatureHeader;

/*
 * Reads "t=...,v1=...,..." into *h.  A header needs exactly one t (decimal
 * seconds) and at least one v1; a v1 that is not 64 hex digits can never
 * match and is skipped.  Returns false for anything else.
 */
static bool
parse_header(const char *header, int len, SignatureHeader *h)
{
	int			pos = 0;

	memset(h, 0, sizeof(*h));
	if (len > MAX_HEADER_LEN)
		return false;
	while (pos < len)
	{
		int			start = pos;
		int			eq = -1;
		int			end;
		const char *key;
		const char *val;
		int			keylen;
		int			vallen;

		while (pos < len && header[pos] != ',')
		{
			if (eq < 0 && header[pos] == '=')
				eq = pos;
			pos++;
		}
		end = pos;
		pos++;					/* past the comma */

		/* items may be separated by ", " */
		while (start < end && header[start] == ' ')
			start++;
		if (start == end)
			continue;
		if (eq < start)
			return false;
		key = header + start;
		keylen = eq - start;
		val = header + eq + 1;
		vallen = end - eq - 1;

		if (keylen == 1 && key[0] == 't')
		{
			int64		ts = 0;
			int			i;

			if (h->t != NULL || vallen < 1 || vallen > 12)
				return false;
			for (i = 0; i < vallen; i++)
			{
				if (val[i] < '0' || val[i] > '9')
					return false;
				ts = ts * 10 + (val[i] - '0');
			}
			h->t = val;
			h->tlen = vallen;
			h->timestamp = ts;
		}
		else if (keylen == 2 && key[0] == 'v' && key[1] == '1')
		{
			int			i;
			bool		ok = (vallen == 2 * SIGNATURE_LEN);

			h->has_v1 = true;
			for (i = 0; ok && i < SIGNATURE_LEN; i++)
			{
				int			hi = workon_hex_value(val[2 * i]);
				int			lo = workon_hex_value(val[2 * i + 1]);

				if (hi < 0 || lo < 0)
					ok = false;
				else if (h->nsigs < MAX_SIGNATURES)
					h->sigs[h->nsigs][i] = (unsigned char) (hi << 4 | lo);
			}
			if (ok && h->nsigs < MAX_SIGNATURES)
				h->nsigs++;
		}
	}
	return h->t != NULL && h->has_v1;
}

/*
 * Checks a delivery against the secrets.  The signature is checked before
 * the timestamp, so "stale" is said only of genuine deliveries.
 */
static SignatureResult
verify_signature(text *payload, text *header, text **secrets, int nsecrets,
				 int32 tolerance, TimestampTz now)
{
	SignatureHeader h;
	StringInfoData signed_payload;
	bool		match = false;
	int			i;
	int64		now_s;

	if (!parse_header(VARDATA_ANY(header), VARSIZE_ANY_EXHDR(header), &h))
		return SIGNATURE_MALFORMED;

	initStringInfo(&signed_payload);
	appendBinaryStringInfo(&signed_payload, h.t, h.tlen);
	appendStringInfoChar(&signed_payload, '.');
	appendBinaryStringInfo(&signed_payload, VARDATA_ANY(payload), VARSIZE_ANY_EXHDR(payload));

	for (i = 0; i < nsecrets; i++)
	{
		unsigned char mac[SIGNATURE_LEN];
		int			j;

		workon_hmac_sha256((unsigned char *) VARDATA_ANY(secrets[i]),
						   VARSIZE_ANY_EXHDR(secrets[i]),
						   (unsigned char *) signed_payload.data, signed_payload.len, mac);
		/* no early exit: the time taken does not tell which one matched */
		for (j = 0; j < h.nsigs; j++)
			match |= (CRYPTO_memcmp(mac, h.sigs[j], SIGNATURE_LEN) == 0);
	}
	pfree(signed_payload.data);
	if (!match)
		return SIGNATURE_NO_MATCH;

	now_s = (int64) (now / USECS_PER_SEC) +
		(POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY;
	if (h.timestamp < now_s - tolerance || h.timestamp > now_s + tolerance)
		return SIGNATURE_STALE;
	return SIGNATURE_OK;
}

static void
check_tolerance(int32 tolerance)
{
	if (tolerance < 0 || tolerance > 86400)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("tolerance must be between 0 and 86400 seconds")));
}

static void
check_secret(text *secret)
{
	if (VARSIZE_ANY_EXHDR(secret) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("webhook secret must not be empty")));
}

/*
 * workon.stripe_signature_verify(payload text, header text, secret text,
 *								  tolerance int4, now timestamptz)
 * returns boolean
 *
 * True when the Stripe-Signature header holds a v1 signature of the payload
 * under the secret and its timestamp is within tolerance seconds of now;
 * false for anything else (malformed header included).
 */
PG_FUNCTION_INFO_V1(stripe_signature_verify);
Datum
stripe_signature_verify(PG_FUNCTION_ARGS)
{
	text	   *payload = PG_GETARG_TEXT_PP(0);
	text	   *header = PG_GETARG_TEXT_PP(1);
	text	   *secret = PG_GETARG_TEXT_PP(2);
	int32		tolerance = PG_GETARG_INT32(3);
	TimestampTz now = PG_GETARG_TIMESTAMPTZ(4);

	check_tolerance(tolerance);
	check_secret(secret);
	PG_RETURN_BOOL(verify_signature(payload, header, &secret, 1, tolerance, now) == SIGNATURE_OK);
}

/*
 * workon.stripe_signature_check(payload text, header text, secrets text[],
 *								 tolerance int4, now timestamptz)
 * returns void
 *
 * Like stripe_signature_verify with several secrets, any of which may
 * match; a delivery that does not verify is error WOB01
 * (invalid_signature) saying why.  Not strict: a missing header or body is
 * that error too.
 */
PG_FUNCTION_INFO_V1(stripe_signature_check);
Datum
stripe_signature_check(PG_FUNCTION_ARGS)
{
	text	   *payload;
	text	   *header;
	ArrayType  *secrets_arr;
	int32		tolerance;
	TimestampTz now;
	Datum	   *elems;
	bool	   *elem_nulls;
	int			nelems;
	text	  **secrets;
	int			nsecrets = 0;
	int			i;

	if (PG_ARGISNULL(3) || PG_ARGISNULL(4))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("tolerance and now must not be null")));
	tolerance = PG_GETARG_INT32(3);
	now = PG_GETARG_TIMESTAMPTZ(4);
	check_tolerance(tolerance);

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_WORKON_INVALID_SIGNATURE),
				 errmsg("invalid stripe signature"),
				 errdetail("The Stripe-Signature header is missing.")));
	header = PG_GETARG_TEXT_PP(1);
	payload = PG_ARGISNULL(0) ? cstring_to_text("") : PG_GETARG_TEXT_PP(0);

	if (!PG_ARGISNULL(2))
	{
		secrets_arr = PG_GETARG_ARRAYTYPE_P(2);
		deconstruct_array(secrets_arr, TEXTOID, -1, false, TYPALIGN_INT,
						  &elems, &elem_nulls, &nelems);
		secrets = palloc(sizeof(text *) * Max(nelems, 1));
		for (i = 0; i < nelems; i++)
		{
			if (elem_nulls[i])
				continue;
			secrets[nsecrets] = DatumGetTextPP(elems[i]);
			check_secret(secrets[nsecrets]);
			nsecrets++;
		}
	}
	else
		secrets = NULL;
	if (nsecrets == 0)
		ereport(ERROR,
				(errcode(ERRCODE_WORKON_INVALID_SIGNATURE),
				 errmsg("invalid stripe signature"),
				 errdetail("No webhook secret is configured."),
				 errhint("Set STRIPE_WEBHOOK_SECRET, or call workon.seed_stripe_webhook_secret().")));

	switch (verify_signature(payload, header, secrets, nsecrets, tolerance, now))
	{
		case SIGNATURE_OK:
			break;
		case SIGNATURE_MALFORMED:
			ereport(ERROR,
					(errcode(ERRCODE_WORKON_INVALID_SIGNATURE),
					 errmsg("invalid stripe signature"),
					 errdetail("The Stripe-Signature header needs one t= timestamp and at least one v1= signature.")));
			break;
		case SIGNATURE_NO_MATCH:
			ereport(ERROR,
					(errcode(ERRCODE_WORKON_INVALID_SIGNATURE),
					 errmsg("invalid stripe signature"),
					 errdetail("No v1 signature matches the payload.")));
			break;
		case SIGNATURE_STALE:
			ereport(ERROR,
					(errcode(ERRCODE_WORKON_INVALID_SIGNATURE),
					 errmsg("invalid stripe signature"),
					 errdetail("The signature timestamp is more than %d seconds away from now.",
							   tolerance)));
			break;
	}
	PG_RETURN_VOID();
}

/*
 * workon.stripe_signature(payload text, secret text, t int8) returns text
 *
 * The v1 signature Stripe would send for the payload at Unix time t, in
 * hex: what a test or a replay tool puts into Stripe-Signature.
 */
PG_FUNCTION_INFO_V1(stripe_signature);
Datum
stripe_signature(PG_FUNCTION_ARGS)
{
	text	   *payload = PG_GETARG_TEXT_PP(0);
	text	   *secret = PG_GETARG_TEXT_PP(1);
	int64		t = PG_GETARG_INT64(2);
	StringInfoData buf;
	unsigned char mac[SIGNATURE_LEN];
	char		hex[2 * SIGNATURE_LEN + 1];
	int			i;

	check_secret(secret);
	initStringInfo(&buf);
	appendStringInfo(&buf, INT64_FORMAT ".", t);
	appendBinaryStringInfo(&buf, VARDATA_ANY(payload), VARSIZE_ANY_EXHDR(payload));
	workon_hmac_sha256((unsigned char *) VARDATA_ANY(secret), VARSIZE_ANY_EXHDR(secret),
					   (unsigned char *) buf.data, buf.len, mac);
	for (i = 0; i < SIGNATURE_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", mac[i]);
	PG_RETURN_TEXT_P(cstring_to_text(hex));
}
