/*
 * The shim's JSON: the validator every request body passes (json_validate),
 * the reader of flat objects of strings (json_each_string_member), the
 * reader of the database's JSON (json_skip_value, json_member, json_int64)
 * and the escaper.  Any bytes; no crash, no read past the input.
 */
#include "fuzz.h"

static void on_member(void *data, h2o_iovec_t key, h2o_iovec_t value)
{
    size_t *n = data;

    *n += key.len + value.len;
    if (strlen(key.base) > key.len || strlen(value.base) > value.len)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_copy(data, size);
    h2o_mem_pool_t pool;
    size_t n = 0;
    char *esc;

    h2o_mem_init_pool(&pool);
    if (json_validate(s, size) == 0) {
        h2o_iovec_t obj = h2o_iovec_init(s, size);
        const char *end = json_skip_value(json_skip_ws(s, s + size), s + size);
        if (end == NULL || json_skip_ws(end, s + size) != s + size)
            abort(); /* what the validator accepts, the reader reads whole */
        json_int64(json_member(obj, "status"), -1);
        json_member(obj, "headers");
        json_member(obj, "");
    }
    json_each_string_member(s, size, &pool, on_member, &n);
    esc = malloc(json_escaped_max(size) + 1);
    if (json_escape(esc, s, size) > esc + json_escaped_max(size))
        abort();
    free(esc);
    h2o_mem_clear_pool(&pool);
    free(s);
    return 0;
}
