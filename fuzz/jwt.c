/*
 * The JWT reader (extension/jwt.c): splitting a compact token, base64url
 * decoding of its three parts, the header's checks and the claims' reading
 * (jwt_json.c), over any token; the signature is not checked (the reader
 * runs on the payload only after it is, which a fuzzer cannot forge).
 */
#include "../extension/jwt.c"
#include "pgstub.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *token = malloc(size != 0 ? size : 1);
	JwtParts   *parts = malloc(sizeof(JwtParts));
	double		exp;

	memcpy(token, data, size);
	workon_jwt_issuer = "workon";
	workon_jwt_audience = "workon-api";
	if (sigsetjmp(pgstub_error_jump, 0) == 0)
	{
		jwt_split(token, size, parts);
		if (parts->payload_len > size || parts->sig_len > size)
			abort();
		payload_claims(parts, &exp);
	}
	memset(&header_memo, 0, sizeof(header_memo));	/* each input on its own */
	pgstub_reset();
	free(parts);
	free(token);
	return 0;
}
