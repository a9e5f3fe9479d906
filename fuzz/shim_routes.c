/*
 * Route matching (route_table_match) of any method and path against a table
 * like workon.routes; with a first byte of 1, the input's lines are the
 * table's templates ("METHOD /path/{param}", route_table_build) and its last
 * line is the request matched against them.
 */
#include "fuzz.h"

static const char *const fixed[][2] = {
    {"GET", "/api/v1/spaces"},
    {"POST", "/api/v1/spaces"},
    {"GET", "/api/v1/spaces/{id}"},
    {"PATCH", "/api/v1/spaces/{id}"},
    {"DELETE", "/api/v1/spaces/{id}"},
    {"GET", "/api/v1/spaces/{id}/availability"},
    {"GET", "/api/v1/spaces/{space_id}/photos/{photo_id}"},
    {"POST", "/api/v1/bookings"},
    {"GET", "/api/v1/bookings/{id}"},
    {"POST", "/api/v1/bookings/{id}/cancel"},
    {"POST", "/api/v1/bookings/{id}/payment"},
    {"PUT", "/api/v1/uploads/{id}"},
    {"GET", "/api/v1/uploads/{id}/content"},
    {"GET", "/api/v1/conversations/{id}/messages"},
    {"POST", "/api/v1/auth/login"},
    {"GET", "/api/v1/ws"},
};

static PGresult *routes_result(const char *const (*rows)[2], size_t n)
{
    PGresAttDesc attrs[ROUTE_COLUMNS];
    static const char *const names[ROUTE_COLUMNS] = {"method", "path", "handler", "auth", "status", "body",
                                                     "rate_limit", "read_only", "outbound", "metric", "bytes", "lane"};
    static const char *const values[ROUTE_COLUMNS] = {NULL, NULL, "16384", "anon", "200", "json", "default", "f", "", "", "f", "fast"};
    PGresult *res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    size_t i;
    int c;

    memset(attrs, 0, sizeof(attrs));
    for (c = 0; c != ROUTE_COLUMNS; ++c) {
        attrs[c].name = (char *)names[c];
        attrs[c].format = 0;
        attrs[c].typlen = -1;
        attrs[c].atttypmod = -1;
    }
    PQsetResultAttrs(res, ROUTE_COLUMNS, attrs);
    for (i = 0; i != n; ++i) {
        PQsetvalue(res, (int)i, 0, (char *)rows[i][0], (int)strlen(rows[i][0]));
        PQsetvalue(res, (int)i, 1, (char *)rows[i][1], (int)strlen(rows[i][1]));
        for (c = 2; c != ROUTE_COLUMNS; ++c)
            PQsetvalue(res, (int)i, c, (char *)values[c], (int)strlen(values[c]));
    }
    return res;
}

static void match(route_table_t *table, const char *s, size_t len)
{
    const char *sp = memchr(s, ' ', len);
    h2o_mem_pool_t pool;
    route_match_t m;

    h2o_mem_init_pool(&pool);
    if (sp == NULL)
        route_table_match(table, &pool, "GET", 3, s, len, &m);
    else
        route_table_match(table, &pool, s, sp - s, sp + 1, len - (sp + 1 - s), &m);
    h2o_mem_clear_pool(&pool);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static route_table_t *table;
    const char *err = NULL;

    if (table == NULL) {
        PGresult *res = routes_result(fixed, sizeof(fixed) / sizeof(fixed[0]));
        if ((table = route_table_build(res, &err)) == NULL)
            abort();
        PQclear(res);
    }
    if (size != 0 && data[0] == 1) {
        /* templates from the input: "METHOD path" lines, NUL-terminated copies */
        char *s = fuzz_copy(data + 1, size - 1), *p = s, *end = s + size - 1, *last = s;
        const char *(*rows)[2] = calloc(size, sizeof(*rows));
        size_t n = 0;
        PGresult *res;
        route_table_t *t;
        char *copy = malloc(size);

        memcpy(copy, s, size - 1);
        while (p < end) {
            char *nl = memchr(p, '\n', end - p), *sp;
            if (nl == NULL)
                break;
            *nl = '\0';
            if ((sp = strchr(p, ' ')) != NULL && memchr(p, '\0', nl - p) == NULL) {
                *sp = '\0';
                rows[n][0] = p;
                rows[n][1] = sp + 1;
                ++n;
            }
            p = last = nl + 1;
        }
        res = routes_result(rows, n);
        if ((t = route_table_build(res, &err)) != NULL) {
            match(t, copy + (last - s), end - last);
            route_table_free(t);
        }
        PQclear(res);
        free(copy);
        free(rows);
        free(s);
        return 0;
    }
    {
        char *s = fuzz_copy(data, size);
        match(table, s, size);
        free(s);
    }
    return 0;
}
