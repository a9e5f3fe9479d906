/*
 * Signed-URL verification (extension/upload.c url_signature_check): any
 * method, path, expires and sig against two keys, through the SQL function
 * itself.
 */
#include "../extension/upload.c"
#include "pgstub.h"

extern bytea *pgstub_keys[4];
extern int	pgstub_nkeys;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* the input: method, path and sig separated by NULs, then 8 bytes of expires */
	const uint8_t *p = data, *end = data + size;
	const uint8_t *field[3];
	size_t		len[3];
	int64		expires = 0;
	int			i;
	LOCAL_FCINFO(fcinfo, 6);

	for (i = 0; i < 3; i++)
	{
		const uint8_t *nul = memchr(p, '\0', end - p);

		field[i] = p;
		len[i] = nul != NULL ? (size_t) (nul - p) : (size_t) (end - p);
		p = nul != NULL ? nul + 1 : end;
	}
	if (end - p >= 8)
		memcpy(&expires, p, 8);
	if (sigsetjmp(pgstub_error_jump, 0) == 0)
	{
		pgstub_keys[0] = pgstub_text("0123456789abcdef0123456789abcdef", 32);
		pgstub_keys[1] = pgstub_text("another key of 32 bytes, or more", 32);
		pgstub_nkeys = 2;
		InitFunctionCallInfoData(*fcinfo, NULL, 6, InvalidOid, NULL, NULL);
		fcinfo->args[0].value = PointerGetDatum(pgstub_text("", 0));	/* the array: deconstruct_array gives the keys */
		fcinfo->args[0].isnull = false;
		fcinfo->args[1].value = PointerGetDatum(pgstub_text(field[0], len[0]));
		fcinfo->args[1].isnull = false;
		fcinfo->args[2].value = PointerGetDatum(pgstub_text(field[1], len[1]));
		fcinfo->args[2].isnull = false;
		fcinfo->args[3].value = Int64GetDatum(expires);
		fcinfo->args[3].isnull = false;
		fcinfo->args[4].value = PointerGetDatum(pgstub_text(field[2], len[2]));
		fcinfo->args[4].isnull = false;
		fcinfo->args[5].value = Int64GetDatum(0);
		fcinfo->args[5].isnull = false;
		url_signature_check(fcinfo);
	}
	pgstub_reset();
	return 0;
}
