/*
 * What the shim hands every database session from its settings: the libpq
 * startup options (-c workon.<setting>=<value>, and statement_timeout set
 * when a pool connection is made), or, behind a transaction pooler
 * (DATABASE_POOLER=transaction), where a session outlives no transaction,
 * the same as a statement that begins each transaction (pool.c).
 */
#include "shim.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* the settings handed to every session, also kept as pairs for settings_local_sql() */
static struct {
    const char *guc;
    char *value;
} pg_settings[32];
static size_t num_pg_settings;

/* appends "-c workon.<guc>=<value>" to the libpq options, escaping as libpq's options parser expects */
void settings_add_pg_option(const char *guc, const char *value)
{
    size_t old = shim_settings.pg_options != NULL ? strlen(shim_settings.pg_options) : 0;
    char *buf = malloc(old + strlen(guc) + 2 * strlen(value) + 8), *p;

    if (buf == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    if (num_pg_settings < sizeof(pg_settings) / sizeof(pg_settings[0])) {
        pg_settings[num_pg_settings].guc = guc;
        pg_settings[num_pg_settings++].value = strdup(value);
    }
    p = buf;
    if (old != 0) {
        memcpy(p, shim_settings.pg_options, old);
        p += old;
        *p++ = ' ';
    }
    p += sprintf(p, "-c %s=", guc);
    for (; *value != '\0'; ++value) {
        if (*value == ' ' || *value == '\\')
            *p++ = '\\';
        *p++ = *value;
    }
    *p = '\0';
    free(shim_settings.pg_options);
    shim_settings.pg_options = buf;
}

/*
 * DATABASE_POOLER=transaction: a statement that gives the transaction what a
 * session gets from the startup options and SET statement_timeout (local to
 * the transaction, so nothing stays behind on the pooler's server session).
 */
const char *settings_local_sql(void)
{
    static char *sql;
    size_t i, len;
    char *p;

    if (sql != NULL)
        return sql;
    len = 128;
    for (i = 0; i != num_pg_settings; ++i)
        len += 64 + strlen(pg_settings[i].guc) + 2 * strlen(pg_settings[i].value);
    if ((sql = malloc(len)) == NULL)
        h2o_fatal("no memory");
    p = sql + sprintf(sql, "SELECT pg_catalog.set_config('statement_timeout', '%llu', true)",
                      (unsigned long long)shim_settings.request_timeout_ms);
    for (i = 0; i != num_pg_settings; ++i) {
        const char *v;
        p += sprintf(p, ", pg_catalog.set_config('%s', '", pg_settings[i].guc);
        for (v = pg_settings[i].value; *v != '\0'; ++v) {
            if (*v == '\'')
                *p++ = '\'';
            *p++ = *v;
        }
        p += sprintf(p, "', true)");
    }
    return sql;
}
