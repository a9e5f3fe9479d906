/*
 * Settings: one sorted table (name, default, meaning) that drives both the
 * parsing of the environment and `workon-shim --help`.
 */
#include "shim.h"
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

shim_settings_t shim_settings = {
    .jwt_issuer = "workon", /* the extension's defaults, when JWT_ISSUER and JWT_AUDIENCE are not set */
    .jwt_audience = "workon-api",
};

typedef struct st_setting_t {
    const char *name;
    const char *default_value;
    const char *meaning;
    /* 0: checked in table order; n > 0: checked afterwards, in this order (secrets) */
    int late;
    /* re-read on SIGHUP */
    int reload;
    /* returns NULL, or the one-line complaint (never containing the value) */
    const char *(*apply)(const struct st_setting_t *self, const char *value);
} setting_t;

static char complaint[256];

static const char *complain(const char *fmt, const char *name, ...)
{
    va_list args;
    int n = snprintf(complaint, sizeof(complaint), "%s ", name);
    va_start(args, name);
    vsnprintf(complaint + n, sizeof(complaint) - n, fmt, args);
    va_end(args);
    return complaint;
}

static int is_production(void)
{
    return strcmp(shim_settings.node_env, "production") == 0;
}

static int is_development(void)
{
    return strcmp(shim_settings.node_env, "development") == 0;
}

/* strict decimal parse into [min, max] */
static int parse_number(const char *value, uint64_t min, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    const char *p = value;

    if (*p == '\0')
        return -1;
    for (; *p != '\0'; ++p) {
        if (!isdigit((unsigned char)*p))
            return -1;
        if (v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

#define NUMBER_SETTING(fn, field, min, max)                                                                                        \
    static const char *fn(const setting_t *self, const char *value)                                                                \
    {                                                                                                                              \
        uint64_t v;                                                                                                                \
        if (parse_number(value, (min), (max), &v) != 0)                                                                            \
            return complain("must be a number between %llu and %llu", self->name, (unsigned long long)(min),                       \
                            (unsigned long long)(max));                                                                            \
        __atomic_store_n(&shim_settings.field, v, __ATOMIC_RELAXED); /* SIGHUP: workers read it */                               \
        return NULL;                                                                                                               \
    }

NUMBER_SETTING(apply_email_concurrency, email_concurrency, 1, 1000)
NUMBER_SETTING(apply_auth_rate_limit, auth_rate_limit_limit, 1, 1000000)
NUMBER_SETTING(apply_max_header_bytes, max_header_bytes, 1024, 409600)
NUMBER_SETTING(apply_max_inflight, max_inflight, 1, 1000000)
NUMBER_SETTING(apply_pool_size, pool_size, 1, 64)
NUMBER_SETTING(apply_rate_limit_limit, rate_limit_limit, 1, 1000000000)
NUMBER_SETTING(apply_rate_limit_ttl, rate_limit_ttl, 1, 86400)
NUMBER_SETTING(apply_max_body_bytes, max_body_bytes, 1, 1073741824)
NUMBER_SETTING(apply_port, port, 1, 65535)
NUMBER_SETTING(apply_request_timeout, request_timeout_ms, 100, 3600000)
NUMBER_SETTING(apply_threads, threads, 1, 256)
NUMBER_SETTING(apply_replica_max_lag, replica_max_lag_ms, 100, 20000)
NUMBER_SETTING(apply_slow_lane_connections, slow_lane_connections, 0, 64)
NUMBER_SETTING(apply_slow_lane_queue, slow_lane_queue, 1, 100000)

static const char *check_conninfo(const setting_t *self, const char *value)
{
    char *err = NULL;
    PQconninfoOption *options = PQconninfoParse(value, &err);

    /* libpq's message may quote the value (a password): never shown */
    if (options == NULL) {
        PQfreemem(err);
        return complain("is not a libpq connection URI or conninfo string", self->name);
    }
    PQconninfoFree(options);
    return NULL;
}

static const char *apply_database_url(const setting_t *self, const char *value)
{
    const char *err = check_conninfo(self, value);

    if (err == NULL)
        shim_settings.database_url = value;
    return err;
}

static const char *apply_database_direct_url(const setting_t *self, const char *value)
{
    const char *err = check_conninfo(self, value);

    if (err == NULL)
        shim_settings.database_direct_url = *value != '\0' ? value : NULL;
    return err;
}

static const char *apply_database_pooler(const setting_t *self, const char *value)
{
    if (strcmp(value, "none") == 0)
        shim_settings.pooler = 0;
    else if (strcmp(value, "transaction") == 0)
        shim_settings.pooler = 1;
    else
        return complain("must be none or transaction", self->name);
    return NULL;
}

/* comma-separated connection URIs, each checked like DATABASE_URL */
static const char *apply_database_replica_urls(const setting_t *self, const char *value)
{
    char *copy = strdup(value), *p, *save = NULL;
    const char *err;

    if (copy == NULL)
        return complain("out of memory", self->name);
    free(shim_settings.replica_urls);
    shim_settings.replica_urls = NULL;
    shim_settings.num_replicas = 0;
    for (p = strtok_r(copy, ",", &save); p != NULL; p = strtok_r(NULL, ",", &save)) {
        while (*p == ' ')
            ++p;
        if (*p == '\0')
            continue;
        if ((err = check_conninfo(self, p)) != NULL)
            return err;
        if (shim_settings.num_replicas == 16)
            return complain("names more than 16 replicas", self->name);
        shim_settings.replica_urls = realloc(shim_settings.replica_urls, (shim_settings.num_replicas + 1) * sizeof(char *));
        if (shim_settings.replica_urls == NULL)
            return complain("out of memory", self->name);
        shim_settings.replica_urls[shim_settings.num_replicas++] = p;
    }
    return NULL;
}

/* a setting taken as it is */
#define STRING_SETTING(fn, field)                                                                                                  \
    static const char *fn(const setting_t *self, const char *value)                                                                \
    {                                                                                                                              \
        (void)self;                                                                                                                \
        shim_settings.field = value;                                                                                               \
        return NULL;                                                                                                               \
    }

STRING_SETTING(apply_host, host)
STRING_SETTING(apply_env_file, env_file)
STRING_SETTING(apply_admin_email, admin_email)
STRING_SETTING(apply_admin_password, admin_password)

static const char *apply_trusted_proxies(const setting_t *self, const char *value)
{
    if (proxies_parse(value) != 0)
        return complain("must be a comma-separated list of IPv4 or IPv6 addresses or CIDRs (at most 64)", self->name);
    return NULL;
}

/* on/true/1 or off/false/0; -1 otherwise */
static int parse_bool(const char *value)
{
    if (strcasecmp(value, "on") == 0 || strcasecmp(value, "true") == 0 || strcmp(value, "1") == 0)
        return 1;
    if (strcasecmp(value, "off") == 0 || strcasecmp(value, "false") == 0 || strcmp(value, "0") == 0)
        return 0;
    return -1;
}

#define BOOL_SETTING(fn, field)                                                                                                    \
    static const char *fn(const setting_t *self, const char *value)                                                                \
    {                                                                                                                              \
        int v = parse_bool(value);                                                                                                 \
        if (v < 0)                                                                                                                 \
            return complain("must be true or false (on/off, 1/0)", self->name);                                                    \
        __atomic_store_n(&shim_settings.field, v, __ATOMIC_RELAXED); /* SIGHUP: workers read it */                               \
        return NULL;                                                                                                               \
    }

BOOL_SETTING(apply_enable_swagger_prod, enable_swagger_prod)
BOOL_SETTING(apply_http2, http2)
BOOL_SETTING(apply_rate_limit_enabled, rate_limit_enabled)
BOOL_SETTING(apply_sched_batch, sched_batch)

static const char *apply_cors_origin(const setting_t *self, const char *value)
{
    cors_conf_t *conf = cors_conf_parse(value);

    if (conf == NULL)
        return complain("must be a comma-separated list of origins (scheme://host[:port]) or *", self->name);
    __atomic_store_n(&shim_settings.cors, conf, __ATOMIC_RELEASE);
    return NULL;
}

static const char *apply_log_level(const setting_t *self, const char *value)
{
    static const struct {
        const char *name;
        int level;
    } levels[] = {{"debug", LOG_DEBUG}, {"verbose", LOG_DEBUG}, {"info", LOG_INFO},   {"log", LOG_INFO},
                  {"warn", LOG_WARN},   {"warning", LOG_WARN},  {"error", LOG_ERROR}, {"fatal", LOG_ERROR}};
    size_t i;

    for (i = 0; i != sizeof(levels) / sizeof(levels[0]); ++i) {
        if (strcasecmp(value, levels[i].name) == 0) {
            shim_settings.log_level = levels[i].level;
            return NULL;
        }
    }
    return complain("must be one of debug, info, warn, error", self->name);
}

static const char *apply_node_env(const setting_t *self, const char *value)
{
    if (strcmp(value, "development") != 0 && strcmp(value, "staging") != 0 && strcmp(value, "production") != 0)
        return complain("must be one of development, staging, production", self->name);
    shim_settings.node_env = value;
    return NULL;
}

/* JWT_SECRET, JWT_REFRESH_SECRET, SIGNED_URL_SECRET; the value is never echoed */
static const char *apply_secret(const setting_t *self, const char *value)
{
    if (strcmp(self->name, "JWT_SECRET") == 0)
        shim_settings.jwt_secret = value;
    else if (strcmp(self->name, "JWT_REFRESH_SECRET") == 0)
        shim_settings.jwt_refresh_secret = value;
    else if (strcmp(self->name, "SIGNED_URL_SECRET") == 0)
        shim_settings.signed_url_secret = value;
    if (is_development())
        return NULL;
    if (value == NULL)
        return complain("is required", self->name);
    if (strlen(value) < 32)
        return complain("must be at least 32 characters", self->name);
    return NULL;
}

static const char *apply_jwt_string(const setting_t *self, const char *value)
{
    size_t i;

    if (strlen(value) > 200)
        return complain("must be at most 200 characters", self->name);
    for (i = 0; value[i] != '\0'; ++i)
        if ((unsigned char)value[i] < 0x20 || value[i] == 0x7f)
            return complain("must not contain control characters", self->name);
    if (strcmp(self->name, "JWT_ISSUER") == 0)
        shim_settings.jwt_issuer = h2o_strdup(NULL, value, SIZE_MAX).base;
    else
        shim_settings.jwt_audience = h2o_strdup(NULL, value, SIZE_MAX).base;
    settings_add_pg_option(strcmp(self->name, "JWT_ISSUER") == 0 ? "workon.jwt_issuer" : "workon.jwt_audience", value);
    return NULL;
}

static const char *apply_booking_hold(const setting_t *self, const char *value)
{
    uint64_t v;

    if (parse_number(value, 1, 1440, &v) != 0)
        return complain("must be a number of minutes between 1 and 1440", self->name);
    settings_add_pg_option("workon.booking_hold_minutes", value);
    return NULL;
}

/* the upload route's body cap here, the declared size's in the database (workon.upload_max_bytes) */
static const char *apply_upload_max_bytes(const setting_t *self, const char *value)
{
    uint64_t v;

    if (parse_number(value, 1, 1073741824, &v) != 0)
        return complain("must be a number between 1 and 1073741824", self->name);
    shim_settings.upload_max_bytes = v;
    settings_add_pg_option("workon.upload_max_bytes", value);
    return NULL;
}

static const char *apply_jwt_ttl(const setting_t *self, const char *value)
{
    uint64_t v;
    int access = strcmp(self->name, "JWT_ACCESS_TTL") == 0;

    if (parse_number(value, 1, access ? 86400 : 31536000, &v) != 0)
        return complain(access ? "must be a number of seconds between 1 and 86400"
                               : "must be a number of seconds between 1 and 31536000",
                        self->name);
    settings_add_pg_option(access ? "workon.jwt_access_ttl" : "workon.jwt_refresh_ttl", value);
    return NULL;
}

/* printable ASCII without spaces: the value goes into a request head (keys) or is compared byte for byte (secrets) */
static int is_printable_token(const char *value)
{
    for (; *value != '\0'; ++value)
        if ((unsigned char)*value <= 0x20 || (unsigned char)*value >= 0x7f)
            return 0;
    return 1;
}

static const char *apply_stripe_key(const setting_t *self, const char *value)
{
    static const char *live[] = {"sk_live_", "pk_live_", "rk_live_"}, *test[] = {"sk_test_", "pk_test_", "rk_test_"};
    size_t i;

    if (value == NULL)
        return NULL;
    if (!is_printable_token(value))
        return complain("must not contain spaces or control characters", self->name);
    if (strcmp(self->name, "STRIPE_SECRET_KEY") == 0)
        shim_settings.stripe_secret_key = value;
    for (i = 0; i != 3; ++i) {
        if (!is_production() && strncmp(value, live[i], strlen(live[i])) == 0)
            return complain("is a live key; live Stripe keys are only accepted with NODE_ENV=production", self->name);
        if (is_production() && strncmp(value, test[i], strlen(test[i])) == 0)
            return complain("is a test key; test Stripe keys are refused with NODE_ENV=production", self->name);
    }
    return NULL;
}

/* an outbound API's base URL (scheme://host[:port]) into *slot */
static const char *apply_api_base(const setting_t *self, const char *value, const char **slot)
{
    h2o_url_t url;
    const char *err = httpclient_parse_base(value, &url);

    if (err != NULL)
        return complain("%s", self->name, err);
    *slot = value;
    return NULL;
}

static const char *apply_stripe_api_base(const setting_t *self, const char *value)
{
    return apply_api_base(self, value, &shim_settings.stripe_api_base);
}

static const char *apply_stripe_webhook_secret(const setting_t *self, const char *value)
{
    if (!is_printable_token(value))
        return complain("must not contain spaces or control characters", self->name);
    if (strlen(value) < 16)
        return complain("must be at least 16 characters", self->name);
    shim_settings.stripe_webhook_secret = value;
    return NULL;
}

NUMBER_SETTING(apply_stripe_timeout, stripe_timeout_ms, 100, 120000)
NUMBER_SETTING(apply_ws_max_connections, ws_max_connections, 0, 10000000)
NUMBER_SETTING(apply_ws_max_per_user, ws_max_per_user, 1, 100000)
NUMBER_SETTING(apply_ws_ping_interval, ws_ping_interval_ms, 100, 3600000)
NUMBER_SETTING(apply_ws_send_queue_bytes, ws_send_queue_bytes, 1024, 1073741824)
NUMBER_SETTING(apply_email_timeout, email_timeout_ms, 100, 120000)

static const char *apply_email_transport(const setting_t *self, const char *value)
{
    if (strcmp(value, "resend") == 0)
        shim_settings.email_transport = EMAIL_TRANSPORT_RESEND;
    else if (strcmp(value, "capture") == 0)
        shim_settings.email_transport = EMAIL_TRANSPORT_CAPTURE;
    else if (strcmp(value, "off") == 0)
        shim_settings.email_transport = EMAIL_TRANSPORT_OFF;
    else
        return complain("must be one of resend, capture, off", self->name);
    if (is_production() && shim_settings.email_transport == EMAIL_TRANSPORT_CAPTURE)
        return "EMAIL_TRANSPORT=capture is refused with NODE_ENV=production (mail would not leave the database)";
    return NULL;
}

/* after EMAIL_TRANSPORT: an address, or a name and <address>, on one line */
static const char *apply_email_from(const setting_t *self, const char *value)
{
    size_t i;

    if (value == NULL)
        return is_production() ? complain("is required with NODE_ENV=production", self->name) : NULL;
    if (strlen(value) > 320 || strchr(value, '@') == NULL)
        return complain("must be an address (bookings@example.com or Name <bookings@example.com>)", self->name);
    for (i = 0; value[i] != '\0'; ++i)
        if ((unsigned char)value[i] < 0x20 || value[i] == 0x7f)
            return complain("must not contain control characters", self->name);
    shim_settings.email_from = value;
    return NULL;
}

/* after EMAIL_TRANSPORT; the value is never echoed */
static const char *apply_resend_api_key(const setting_t *self, const char *value)
{
    if (value == NULL)
        return is_production() && shim_settings.email_transport == EMAIL_TRANSPORT_RESEND
                   ? complain("is required with EMAIL_TRANSPORT=resend and NODE_ENV=production", self->name)
                   : NULL;
    if (!is_printable_token(value))
        return complain("must not contain spaces or control characters", self->name);
    shim_settings.resend_api_key = value;
    return NULL;
}

static const char *apply_resend_api_base(const setting_t *self, const char *value)
{
    return apply_api_base(self, value, &shim_settings.resend_api_base);
}

/* minutes, a fraction allowed (0.05: 3 s, for tests); the database gets whole seconds */
static const char *apply_message_email_delay(const setting_t *self, const char *value)
{
    char *end, seconds[32];
    double minutes = strtod(value, &end);
    uint64_t s;

    if (end == value || *end != '\0' || !(minutes > 0) || minutes > 1440)
        return complain("must be a number of minutes above 0 and at most 1440", self->name);
    s = (uint64_t)(minutes * 60 + 0.5);
    if (s < 1)
        s = 1;
    shim_settings.message_email_delay_ms = s * 1000;
    snprintf(seconds, sizeof(seconds), "%llus", (unsigned long long)s);
    settings_add_pg_option("workon.message_email_delay", seconds);
    return NULL;
}

static const char *apply_default_locale(const setting_t *self, const char *value)
{
    if (strcmp(value, "fr") != 0 && strcmp(value, "en") != 0)
        return complain("must be fr or en", self->name);
    settings_add_pg_option("workon.default_locale", value);
    return NULL;
}

static const char *apply_app_url(const setting_t *self, const char *value)
{
    h2o_url_t url;

    if (strlen(value) > 200 || !is_printable_token(value) || httpclient_parse_base(value, &url) != NULL)
        return complain("must be an http:// or https:// URL of at most 200 characters", self->name);
    settings_add_pg_option("workon.app_url", value);
    return NULL;
}

/* where the bytes of new uploads go; the database records each upload's store (workon.upload_store) */
static const char *apply_upload_store(const setting_t *self, const char *value)
{
    if (strcmp(value, "postgres") != 0 && strcmp(value, "s3") != 0)
        return complain("must be postgres or s3", self->name);
    shim_settings.upload_store_s3 = strcmp(value, "s3") == 0;
    settings_add_pg_option("workon.upload_store", value);
    return NULL;
}

/* the built web site (web.c); unset: this checkout's web/dist, empty: no site */
static const char *apply_web_root(const setting_t *self, const char *value)
{
    (void)self;
    shim_settings.web_root = value;
    return NULL;
}

/* S3_*: checked after UPLOAD_STORE, each required with UPLOAD_STORE=s3; values never echoed */
static const char *apply_s3(const setting_t *self, const char *value)
{
    const char *name = self->name;
    size_t i;

    if (value == NULL)
        return shim_settings.upload_store_s3 ? complain("is required with UPLOAD_STORE=s3", name) : NULL;
    if (strcmp(name, "S3_ENDPOINT") == 0)
        return apply_api_base(self, value, &shim_settings.s3_endpoint);
    if (!is_printable_token(value) || strlen(value) > 100)
        return complain("must be at most 100 characters without spaces or control characters", name);
    if (strcmp(name, "S3_BUCKET") == 0) {
        /* path style: the name goes into the path as it is */
        for (i = 0; value[i] != '\0'; ++i)
            if (!((value[i] >= 'a' && value[i] <= 'z') || (value[i] >= '0' && value[i] <= '9') || value[i] == '-' ||
                  value[i] == '.'))
                return complain("must be a bucket name (lower-case letters, digits, '-' and '.')", name);
        shim_settings.s3_bucket = value;
    } else if (strcmp(name, "S3_REGION") == 0) {
        for (i = 0; value[i] != '\0'; ++i)
            if (value[i] == '/')
                return complain("must not contain '/'", name);
        shim_settings.s3_region = value;
    } else if (strcmp(name, "S3_ACCESS_KEY_ID") == 0) {
        for (i = 0; value[i] != '\0'; ++i)
            if (value[i] == '/' || value[i] == ',')
                return complain("must not contain '/' or ','", name);
        shim_settings.s3_access_key_id = value;
    } else {
        shim_settings.s3_secret_access_key = value;
    }
    return NULL;
}

/* sorted by name; a NULL default means the variable has no default */

/*
 * Sorted by name; a NULL default means the variable has no default.  RELOAD
 * marks what SIGHUP re-reads (from SHIM_ENV_FILE, see settings_reload).
 */
#define RELOAD 1
static const setting_t settings_table[] = {
    {"ADMIN_EMAIL", NULL, "with ADMIN_PASSWORD: the first admin, created at start if missing (never changed if present)", 0, 0,
     apply_admin_email},
    {"ADMIN_PASSWORD", NULL, "password of ADMIN_EMAIL's account when it is created (the password rules apply)", 0, 0,
     apply_admin_password},
    {"APP_URL", "http://localhost:8080",
     "base URL of the web application, for the links in e-mails (database setting workon.app_url)", 0, 0, apply_app_url},
    {"AUTH_RATE_LIMIT_LIMIT", "10", "requests per RATE_LIMIT_TTL and client address to the routes of rate-limit class auth (login, register, password reset, e-mail verification)",
     0, RELOAD, apply_auth_rate_limit},
    {"BOOKING_HOLD_MINUTES", "15", "how long a new booking holds its slot unpaid (database setting workon.booking_hold_minutes)", 0,
     0, apply_booking_hold},
    {"CORS_ORIGIN", "", "comma-separated origins (scheme://host[:port]) allowed cross-origin; * any; empty none", 0, RELOAD,
     apply_cors_origin},
    {"DATABASE_DIRECT_URL", NULL,
     "the control connection's (LISTEN, seeding, route loads), when DATABASE_URL is a transaction pooler; default DATABASE_URL",
     0, 0, apply_database_direct_url},
    {"DATABASE_POOLER", "none",
     "transaction: DATABASE_URL is a transaction pooler (PgBouncer pool_mode=transaction): no prepared statements, no startup options, the settings go with each transaction; DATABASE_DIRECT_URL is then required",
     0, 0, apply_database_pooler},
    {"DATABASE_REPLICA_URLS", "",
     "comma-separated connection URIs of streaming replicas: the read_only routes run there, except for a client whose last write (X-Workon-LSN, cookie workon_lsn) a replica has not replayed yet; DB_POOL_SIZE connections each per thread",
     0, 0, apply_database_replica_urls},
    {"DATABASE_URL", NULL, "libpq connection URI or conninfo string (required)", 0, 0, apply_database_url},
    {"DB_POOL_SIZE", "1",
     "pipelined database connections per thread (1-64), plus one LISTEN connection per thread; more let a slow statement hold up fewer requests, but more busy backends than cores make the scheduler stall some",
     0, 0, apply_pool_size},
    {"DEFAULT_LOCALE", "en", "language (fr or en) of the e-mails to users who chose none (database setting workon.default_locale)", 0,
     0, apply_default_locale},
    {"EMAIL_CONCURRENCY", "64",
     "mails sent to the provider at the same time (the outbox worker of the first thread); Stripe and bucket calls have 8 of their own",
     0, 0, apply_email_concurrency},
    {"EMAIL_FROM", NULL, "sender of the e-mails (bookings@example.com or Name <bookings@example.com>); required with NODE_ENV=production",
     6, 0, apply_email_from},
    {"EMAIL_TIMEOUT_MS", "10000", "longest wait for one request to the e-mail provider (then a retry with backoff)", 0, 0,
     apply_email_timeout},
    {"EMAIL_TRANSPORT", "capture|resend",
     "resend: mails go to Resend; capture (the default in development): kept as sent in the database for admins; off: this shim sends none; capture is refused with NODE_ENV=production",
     0, 0, apply_email_transport},
    {"ENABLE_SWAGGER_PROD", "false", "true: serve /api/v1/openapi.json and /docs with NODE_ENV=production too", 0, 0,
     apply_enable_swagger_prod},
    {"HOST", "0.0.0.0", "address to listen on", 0, 0, apply_host},
    {"HTTP2", "off", "on: also serve HTTP/2 over cleartext (prior knowledge or Upgrade: h2c)", 0, 0, apply_http2},
    {"JWT_ACCESS_TTL", "900", "access-token lifetime in seconds (database setting workon.jwt_access_ttl)", 0, 0, apply_jwt_ttl},
    {"JWT_AUDIENCE", "workon-api", "aud claim of access tokens (database setting workon.jwt_audience)", 0, 0, apply_jwt_string},
    {"JWT_ISSUER", "workon", "iss claim of access tokens (database setting workon.jwt_issuer)", 0, 0, apply_jwt_string},
    {"JWT_REFRESH_SECRET", NULL,
     "refresh-token secret (keys the stored refresh-token hashes); required outside development, at least 32 characters", 2, 0,
     apply_secret},
    {"JWT_REFRESH_TTL", "2592000", "refresh-token lifetime in seconds (database setting workon.jwt_refresh_ttl)", 0, 0,
     apply_jwt_ttl},
    {"JWT_SECRET", NULL,
     "access-token secret, seeds the signing key at start; required outside development, at least 32 characters", 1, 0,
     apply_secret},
    {"LOG_LEVEL", "info", "debug | info | warn | error (info: one access-log line per request)", 0, RELOAD, apply_log_level},
    {"MAX_BODY_BYTES", "1048576", "largest request body accepted, in bytes (413 above)", 0, 0, apply_max_body_bytes},
    {"MAX_HEADER_BYTES", "16384", "largest request head (request line and headers), in bytes (431 above)", 0, 0,
     apply_max_header_bytes},
    {"MAX_INFLIGHT", "1024", "requests in progress per thread; 503 unavailable above", 0, 0, apply_max_inflight},
    {"MESSAGE_EMAIL_DELAY", "10",
     "minutes a message stays unread before its recipient is mailed, once per conversation per delay and never while they have a live WebSocket (database setting workon.message_email_delay)",
     0, 0, apply_message_email_delay},
    {"NODE_ENV", "development", "development | staging | production", 0, 0, apply_node_env},
    {"PORT", "8080", "TCP port to listen on (1-65535)", 0, 0, apply_port},
    {"RATE_LIMIT_ENABLED", "true", "per-client rate limiting of the API (false: off)", 0, RELOAD, apply_rate_limit_enabled},
    {"RATE_LIMIT_LIMIT", "100", "requests per RATE_LIMIT_TTL and client (user, else address); 429 above", 0, RELOAD,
     apply_rate_limit_limit},
    {"RATE_LIMIT_TTL", "60", "rate-limit window in seconds", 0, RELOAD, apply_rate_limit_ttl},
    {"REPLICA_MAX_LAG_MS", "1000",
     "a replica that has not replayed what the primary had written this long ago (or that did not answer its last poll for as long) is skipped until it catches up; polled every 100 ms",
     0, 0, apply_replica_max_lag},
    {"REQUEST_TIMEOUT_MS", "30000", "longest wait for the database per request (503 after, query cancelled), also the statement_timeout",
     0, 0, apply_request_timeout},
    {"RESEND_API_BASE", "https://api.resend.com",
     "where mails go with EMAIL_TRANSPORT=resend (an http:// or https:// URL; tests point it at a local server)", 0, 0,
     apply_resend_api_base},
    {"RESEND_API_KEY", NULL, "Resend API key, kept in the shim; required with EMAIL_TRANSPORT=resend and NODE_ENV=production", 7, 0,
     apply_resend_api_key},
    {"S3_ACCESS_KEY_ID", NULL, "with UPLOAD_STORE=s3: the access key id requests to the bucket are signed for (Signature V4)", 6, 0,
     apply_s3},
    {"S3_BUCKET", NULL, "with UPLOAD_STORE=s3: the bucket files are kept in (path style: S3_ENDPOINT/S3_BUCKET/key)", 6, 0,
     apply_s3},
    {"S3_ENDPOINT", NULL,
     "with UPLOAD_STORE=s3: the S3-compatible server (an http:// or https:// URL), for the shim's writes and the presigned "
     "download URLs clients are redirected to",
     6, 0, apply_s3},
    {"S3_REGION", NULL, "with UPLOAD_STORE=s3: the region in the signature's scope (us-east-1, ...)", 6, 0, apply_s3},
    {"S3_SECRET_ACCESS_KEY", NULL,
     "with UPLOAD_STORE=s3: the secret key requests are signed with, kept in the shim (never in the database or a log line)", 6,
     0, apply_s3},
    {"SHIM_ENV_FILE", NULL, "file of NAME=value lines read at start over the environment, and again on SIGHUP", 0, 0,
     apply_env_file},
    {"SHIM_SCHED_BATCH", "true",
     "true: event-loop threads run as SCHED_BATCH (a woken thread waits for the running task's time slice instead of preempting "
     "it, so one wake-up serves the requests that arrived meanwhile); false: the default policy",
     0, 0, apply_sched_batch},
    {"SHIM_THREADS", "CPU count", "event-loop threads", 0, 0, apply_threads},
    {"SIGNED_URL_SECRET", NULL, "upload and download URL signing secret, handed to the database at start (without it, development signs with a random key); required outside development, at least 32 characters", 3, 0,
     apply_secret},
    {"SLOW_LANE_CONNECTIONS", "1",
     "connections per thread of the slow lane, where the routes of lane slow (password hashing) run one statement at a time each, away from the pipelined connections; 0: no slow lane",
     0, 0, apply_slow_lane_connections},
    {"SLOW_LANE_QUEUE", "64", "requests per thread waiting for a slow-lane connection; 503 unavailable above", 0, 0,
     apply_slow_lane_queue},
    {"STRIPE_API_BASE", "https://api.stripe.com",
     "where requests to Stripe go (an http:// or https:// URL; tests point it at a local server)", 0, 0, apply_stripe_api_base},
    {"STRIPE_PUBLISHABLE_KEY", NULL, "pk_live_ keys only with NODE_ENV=production, pk_test_ keys never there", 5, 0,
     apply_stripe_key},
    {"STRIPE_SECRET_KEY", NULL,
     "Stripe API key, kept in the shim (without it payments answer 503); sk_live_ keys only with NODE_ENV=production, sk_test_ keys never there",
     4, 0, apply_stripe_key},
    {"STRIPE_TIMEOUT_MS", "10000", "longest wait for one request to Stripe (then 503 and a retry with backoff)", 0, 0,
     apply_stripe_timeout},
    {"STRIPE_WEBHOOK_SECRET", NULL,
     "webhook signing secret (whsec_..., at least 16 characters), handed to the database at start for verifying Stripe-Signature",
     0, 0, apply_stripe_webhook_secret},
    {"TRUSTED_PROXIES", "",
     "comma-separated IPv4 and IPv6 addresses or CIDRs of the proxies in front; from a peer among them the client address (rate "
     "limits, the request's ip) is the rightmost untrusted hop of Forwarded (else X-Forwarded-For); empty: those headers are "
     "never believed",
     0, 0, apply_trusted_proxies},
    {"UPLOAD_MAX_BYTES", "10485760", "largest file upload, in bytes: the body cap of upload routes (JSON routes keep MAX_BODY_BYTES) and the largest size an upload may declare (database setting workon.upload_max_bytes); 413 above", 0, 0,
     apply_upload_max_bytes},
    {"UPLOAD_STORE", "postgres",
     "where the bytes of new uploads are kept: postgres (a table of the database) or s3 (the bucket of S3_*; downloads "
     "redirect to a presigned URL valid 300 s); each upload records its store (database setting workon.upload_store)",
     0, 0, apply_upload_store},
    {"WEB_ROOT", NULL,
     "directory of the built web site (index.html, admin.html, assets/) served at /, /admin and /assets/; unset: the web/dist "
     "of the checkout the shim was built in (make web); empty: no site",
     0, 0, apply_web_root},
    {"WS_MAX_CONNECTIONS", "10000", "WebSocket connections per process; a WebSocket route answers 503 above (0: none)", 0, 0,
     apply_ws_max_connections},
    {"WS_MAX_PER_USER", "16", "WebSocket connections per user and process; 429 above", 0, 0, apply_ws_max_per_user},
    {"WS_PING_INTERVAL_MS", "30000", "how often each WebSocket is pinged; a peer silent for two intervals is dropped", 0, 0,
     apply_ws_ping_interval},
    {"WS_SEND_QUEUE_BYTES", "1048576", "bytes a WebSocket may have waiting to be sent; a reader that falls further behind is closed",
     0, 0, apply_ws_send_queue_bytes},
};

#define NUM_SETTINGS (sizeof(settings_table) / sizeof(settings_table[0]))

static void fail(const char *line)
{
    fprintf(stderr, "%s\n", line);
    exit(2);
}

static const setting_t *find_setting(const char *name)
{
    size_t i;

    for (i = 0; i != NUM_SETTINGS; ++i)
        if (strcmp(settings_table[i].name, name) == 0)
            return settings_table + i;
    return NULL;
}

void settings_load(void)
{
    size_t i, line_no;
    int late;
    const char *v, *err;
    long ncpu;

    shim_settings.host = "0.0.0.0";
    shim_settings.port = 8080;
    shim_settings.node_env = "development";
    shim_settings.log_level = LOG_INFO;
    shim_settings.max_body_bytes = 1048576;
    shim_settings.max_header_bytes = 16384;
    shim_settings.max_inflight = 1024;
    ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    shim_settings.threads = ncpu >= 1 ? (ncpu <= 256 ? (unsigned)ncpu : 256) : 1;
    shim_settings.pool_size = 1;
    shim_settings.http2 = 0;
    shim_settings.request_timeout_ms = 30000;
    shim_settings.rate_limit_enabled = 1;
    shim_settings.sched_batch = 1;
    shim_settings.rate_limit_ttl = 60;
    shim_settings.rate_limit_limit = 100;
    shim_settings.auth_rate_limit_limit = 10;
    shim_settings.upload_max_bytes = 10485760;
    shim_settings.stripe_api_base = "https://api.stripe.com";
    shim_settings.cors = cors_conf_parse("");
    shim_settings.stripe_timeout_ms = 10000;
    shim_settings.ws_max_connections = 10000;
    shim_settings.ws_max_per_user = 16;
    shim_settings.ws_ping_interval_ms = 30000;
    shim_settings.ws_send_queue_bytes = 1048576;
    shim_settings.resend_api_base = "https://api.resend.com";
    shim_settings.email_timeout_ms = 10000;
    shim_settings.email_concurrency = 64;
    shim_settings.web_root = WEB_ROOT_DEFAULT;
    shim_settings.replica_max_lag_ms = 1000;
    shim_settings.slow_lane_connections = 1;
    shim_settings.slow_lane_queue = 64;

    /* the file first: its values win over the environment's */
    if ((v = getenv("SHIM_ENV_FILE")) != NULL && *v != '\0') {
        if (envfile_read(v, &line_no) != 0) {
            if (line_no == 0)
                fail("SHIM_ENV_FILE cannot be read");
            snprintf(complaint, sizeof(complaint), "SHIM_ENV_FILE line %zu is not NAME=value", line_no);
            fail(complaint);
        }
    }
    /* NODE_ENV next: the rules for secrets depend on it */
    if ((v = envfile_lookup("NODE_ENV")) != NULL && (err = apply_node_env(find_setting("NODE_ENV"), v)) != NULL)
        fail(err);
    /* EMAIL_TRANSPORT's default depends on it */
    shim_settings.email_transport = is_development() ? EMAIL_TRANSPORT_CAPTURE : EMAIL_TRANSPORT_RESEND;
    for (late = 0; late <= 7; ++late) {
        for (i = 0; i != NUM_SETTINGS; ++i) {
            const setting_t *s = settings_table + i;
            if (s->late != late || s->apply == apply_node_env)
                continue;
            v = envfile_lookup(s->name);
            if (v == NULL && late == 0) {
                if (s->apply == apply_database_url)
                    fail("DATABASE_URL is required");
                continue;
            }
            if ((err = s->apply(s, v)) != NULL)
                fail(err);
        }
    }
    if (shim_settings.pooler && shim_settings.database_direct_url == NULL)
        fail("DATABASE_DIRECT_URL is required with DATABASE_POOLER=transaction (LISTEN needs a session of its own)");
    /* writes through workon.dispatch leave NOTIFY workon_events to the shim, after their commit (wake.c) */
    settings_add_pg_option("workon.notify", "after_commit");
    log_min_level = shim_settings.log_level;
}

int settings_reload(void)
{
    shim_settings_t saved = shim_settings;
    const char *err = NULL;
    char line[300];
    size_t i, line_no;

    if (shim_settings.env_file != NULL && envfile_read(shim_settings.env_file, &line_no) != 0) {
        snprintf(line, sizeof(line), line_no == 0 ? "SHIM_ENV_FILE cannot be read" : "SHIM_ENV_FILE line %zu is not NAME=value",
                 line_no);
        log_write(LOG_ERROR, "SIGHUP: settings not reloaded", "error", line, NULL);
        return -1;
    }
    for (i = 0; i != NUM_SETTINGS && err == NULL; ++i) {
        const setting_t *s = settings_table + i;
        const char *v;
        if (!s->reload)
            continue;
        v = envfile_lookup(s->name);
        err = s->apply(s, v != NULL ? v : s->default_value);
    }
    if (err != NULL) {
        shim_settings = saved;
        log_write(LOG_ERROR, "SIGHUP: settings not reloaded", "error", err, NULL);
        return -1;
    }
    /* the old CORS configuration may still be read by a request in progress: it is kept (a few bytes per reload) */
    __atomic_store_n(&log_min_level, shim_settings.log_level, __ATOMIC_RELAXED);
    log_write(LOG_INFO, "SIGHUP: settings reloaded", NULL);
    return 0;
}

void settings_print_help(FILE *fp)
{
    size_t i, width = 0, dwidth = 7;

    fprintf(fp,
            "Usage: %s [--help | --version]\n\n"
            "HTTP front of the workon PostgreSQL extension. Configured by environment variables:\n\n",
            SHIM_NAME);
    for (i = 0; i != NUM_SETTINGS; ++i) {
        const char *d = settings_table[i].default_value;
        if (strlen(settings_table[i].name) > width)
            width = strlen(settings_table[i].name);
        if (d != NULL && strlen(d) > dwidth)
            dwidth = strlen(d);
    }
    fprintf(fp, "  %-*s  %-*s  %s\n", (int)width, "NAME", (int)dwidth, "DEFAULT", "MEANING");
    for (i = 0; i != NUM_SETTINGS; ++i) {
        const setting_t *s = settings_table + i;
        fprintf(fp, "  %-*s  %-*s  %s\n", (int)width, s->name, (int)dwidth, s->default_value != NULL ? s->default_value : "-",
                s->meaning);
    }
    fprintf(fp, "\nSignals: SIGTERM stops accepting, lets in-flight requests finish (up to 10 s) and exits 0;\n"
                "SIGINT exits at once; SIGHUP reloads the routes and re-reads LOG_LEVEL, CORS_ORIGIN,\n"
                "RATE_LIMIT_ENABLED, RATE_LIMIT_LIMIT, RATE_LIMIT_TTL and AUTH_RATE_LIMIT_LIMIT (from\n"
                "SHIM_ENV_FILE, which wins over the environment).\n");
}
