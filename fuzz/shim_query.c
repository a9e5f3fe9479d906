/*
 * The query string of a request as the JSON object handlers get
 * (args_query_json): percent-decoding, '+', repeated keys, a key taken out
 * (access_token).  What it builds must be valid JSON.
 */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_copy(data, size);
    h2o_mem_pool_t pool;
    h2o_iovec_t out, taken = {NULL, 0};
    const char *bad = NULL;
    char *dst = malloc(size + 1);
    size_t dst_len;

    h2o_mem_init_pool(&pool);
    if (args_query_json(&pool, s, size, &out, &bad, (size != 0 && (data[0] & 1)) ? "access_token" : NULL, &taken) == 0) {
        if (json_validate(out.base, out.len) != 0)
            abort();
    }
    if (url_decode(dst, &dst_len, s, size, size != 0 && (data[0] & 2)) == 0 && dst_len > size)
        abort();
    h2o_mem_clear_pool(&pool);
    free(dst);
    free(s);
    return 0;
}
