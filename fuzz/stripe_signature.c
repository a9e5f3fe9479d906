/*
 * The Stripe-Signature header reader (extension/webhook.c parse_header) and
 * the verification that follows it, over any header and body.
 */
#include "../extension/webhook.c"
#include "pgstub.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* the input: header, a NUL, then the body */
	const uint8_t *nul = memchr(data, '\0', size);
	size_t		hlen = nul != NULL ? (size_t) (nul - data) : size;
	char	   *header = malloc(hlen != 0 ? hlen : 1);	/* exactly the header: no NUL after it */
	SignatureHeader h;

	memcpy(header, data, hlen);
	if (sigsetjmp(pgstub_error_jump, 0) == 0)
	{
		if (parse_header(header, (int) hlen, &h) && (h.nsigs < 0 || h.nsigs > MAX_SIGNATURES || h.tlen > 12))
			abort();
		{
			text	   *secret = pgstub_text("whsec_fuzzfuzzfuzzfuzz", 22);
			text	   *payload = pgstub_text(nul != NULL ? nul + 1 : data + size, nul != NULL ? size - hlen - 1 : 0);

			verify_signature(payload, pgstub_text(header, hlen), &secret, 1, 300, 1700000000);
		}
	}
	pgstub_reset();
	free(header);
	return 0;
}
