/*
 * The JSON reader of JWT headers and claims (extension/jwt_json.c) over any
 * bytes: parse with and without the wanted numbers and a scratch area, then
 * write the tree as jsonb into the room the parse said it needs.
 */
#include "postgres.h"

#include "utils/jsonb.h"

#include "jwt_internal.h"
#include "pgstub.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *s = malloc(size != 0 ? size : 1);

	memcpy(s, data, size);
	if (sigsetjmp(pgstub_error_jump, 0) == 0)
	{
		JwtJsonNumber numbers[3] = {JWT_JSON_NUMBER("exp"), JWT_JSON_NUMBER("nbf"), JWT_JSON_NUMBER("iat")};
		JsonbValue	root;
		Size		jsize;
		JwtJsonScratch scratch;

		scratch.used = 0;
		if (workon_jwt_json_parse(s, size, &root, numbers, 3, &jsize, &scratch))
		{
			Jsonb	   *j = workon_jwt_jsonb(&root, jsize);

			if (VARSIZE(j) > jsize)
				abort();
			workon_jwt_json_member(&root, "sub");
		}
		if (workon_jwt_json_parse(s, size, &root, NULL, 0, NULL, NULL))
			workon_jwt_json_member(&root, "alg");
	}
	pgstub_reset();
	free(s);
	return 0;
}
