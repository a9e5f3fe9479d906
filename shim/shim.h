/*
 * workon-shim: the HTTP front of the workon PostgreSQL extension.
 *
 * One h2o event loop per thread.  Each thread (a "worker") owns its listening
 * socket, its libpq connections, its copy of the route table and error map;
 * nothing on the request path is shared between threads.
 */
#ifndef workon_shim_h
#define workon_shim_h

#include "h2o.h"
#include <libpq-fe.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define SHIM_NAME "workon-shim"
#ifndef SHIM_VERSION
#define SHIM_VERSION "unknown" /* the Makefile passes the extension's version */
#endif
#define SHIM_SERVICE "workon"

/* ------------------------------------------------------------------------ */
/* settings.c */

enum {
    LOG_DEBUG = 0,
    LOG_INFO,
    LOG_WARN,
    LOG_ERROR,
};

typedef struct st_cors_conf_t cors_conf_t;

enum {
    EMAIL_TRANSPORT_OFF = 0, /* this shim sends no mail */
    EMAIL_TRANSPORT_RESEND,
    EMAIL_TRANSPORT_CAPTURE, /* mails are recorded as sent in the database */
};

typedef struct st_shim_settings_t {
    const char *database_url;
    const char *database_direct_url; /* the control connection's (LISTEN), NULL: database_url */
    const char *host;
    unsigned port;
    const char *node_env;
    int log_level;
    size_t max_body_bytes;
    unsigned threads;
    unsigned pool_size;
    int http2;
    uint64_t request_timeout_ms;
    /* handed to the database: keys and the first admin at start, settings on every connection */
    const char *jwt_secret;
    const char *jwt_refresh_secret;
    const char *signed_url_secret;
    const char *admin_email;
    const char *admin_password;
    const char *jwt_issuer;   /* JWT_ISSUER, JWT_AUDIENCE: checked by token.c too */
    const char *jwt_audience;
    char *pg_options; /* libpq "options" (-c workon.x=y ...), NULL when none */
    size_t max_header_bytes;
    size_t upload_max_bytes;
    unsigned max_inflight; /* per thread */
    int enable_swagger_prod;
    int sched_batch;
    const char *env_file;
    const char *stripe_api_base;
    const char *stripe_webhook_secret;
    /* payments: the key stays in the shim, the webhook secret is handed to the database */
    const char *stripe_secret_key;
    uint64_t stripe_timeout_ms;
    /* e-mail: EMAIL_TRANSPORT_*; the API key stays in the shim */
    int email_transport;
    const char *email_from;
    const char *resend_api_base;
    const char *resend_api_key;
    uint64_t email_timeout_ms;
    uint64_t email_concurrency;
    /* UPLOAD_STORE=s3: the bucket (the secret stays in the shim) */
    int upload_store_s3;
    const char *s3_endpoint;
    const char *s3_bucket;
    const char *s3_region;
    const char *s3_access_key_id;
    const char *s3_secret_access_key;
    /* reloaded on SIGHUP (read with relaxed atomics by the workers) */
    const cors_conf_t *cors;
    int rate_limit_enabled;
    unsigned rate_limit_ttl;
    unsigned rate_limit_limit;
    unsigned auth_rate_limit_limit;
    /* ws.c */
    size_t ws_max_connections; /* per process */
    size_t ws_max_per_user;    /* per user and process */
    size_t ws_send_queue_bytes;
    uint64_t ws_ping_interval_ms;
    /* message_email.c: MESSAGE_EMAIL_DELAY */
    uint64_t message_email_delay_ms;
    /* web.c: WEB_ROOT ("" : no site) */
    const char *web_root;
    /* DATABASE_POOLER=transaction */
    int pooler;
    /* replicas.c: DATABASE_REPLICA_URLS, REPLICA_MAX_LAG_MS */
    char **replica_urls;
    size_t num_replicas;
    uint64_t replica_max_lag_ms;
    /* the slow lane: SLOW_LANE_CONNECTIONS per thread (0: none), SLOW_LANE_QUEUE */
    uint64_t slow_lane_connections;
    uint64_t slow_lane_queue;
} shim_settings_t;

extern shim_settings_t shim_settings;

/* reads the environment; prints one line and exits 2 on a bad value */
void settings_load(void);
/* SIGHUP: re-reads SHIM_ENV_FILE and applies the reloadable settings; -1 (logged, nothing changed) on a bad value */
int settings_reload(void);
/* pgsettings.c: a workon.* setting for every session (libpq options; behind a pooler, settings_local_sql) */
void settings_add_pg_option(const char *guc, const char *value);
/* DATABASE_POOLER: the statement that sets statement_timeout and the workon.* settings for one transaction */
const char *settings_local_sql(void);
/* prints usage and the settings table */
void settings_print_help(FILE *fp);
/* envfile.c: SHIM_ENV_FILE's lines; read replaces what an earlier read kept (0, or -1 with *line_no set, 0 when unreadable) */
int envfile_read(const char *path, size_t *line_no);
void envfile_clear(void);
/* the file's value (last one wins), else the environment's; empty is unset */
const char *envfile_lookup(const char *name);
#define setting_read(field) __atomic_load_n(&shim_settings.field, __ATOMIC_RELAXED)

/* ------------------------------------------------------------------------ */
/* files.c: a 200 response with an ETag (a file) answered as If-None-Match and Range ask; returns the status, narrows *body */
int files_conditional(h2o_req_t *req, int status, h2o_iovec_t etag, h2o_iovec_t *body);
/* a public read without an ETag of its own: a weak one of its body, 304 on If-None-Match */
int files_etag(h2o_req_t *req, int status, h2o_iovec_t *body, int json);

/* gzip.c */
#define GZIP_KEY_LEN 32
int gzip_accepted(h2o_req_t *req);
h2o_iovec_t gzip_body(h2o_req_t *req, const unsigned char *key, h2o_iovec_t body);

/* cors.c */

/* "" (no cross-origin access), "*" or a comma-separated list of origins; NULL when malformed */
cors_conf_t *cors_conf_parse(const char *value);
/* adds the CORS response headers the request's Origin earns */
void cors_add_headers(h2o_req_t *req);
/* a preflight (OPTIONS with Access-Control-Request-Method): answered here, returns 1 */
int cors_is_preflight(h2o_req_t *req);
void cors_add_preflight_headers(h2o_req_t *req);

/* ------------------------------------------------------------------------ */
/* log.c: one JSON object per line on stderr */

extern int log_min_level;

#define log_enabled(level) ((level) >= __atomic_load_n(&log_min_level, __ATOMIC_RELAXED))

/*
 * log_write(level, msg, key1, value1, key2, value2, ..., NULL)
 * Values are strings (escaped as JSON strings, NULL prints null); a key that
 * starts with '#' takes a value that is already JSON (a number), the '#' is
 * dropped.
 */
void log_write(int level, const char *msg, ...) __attribute__((sentinel));
/* the access line of a request (info level); route NULL when no route matched, user_id NULL when unknown,
 * ip the client's address (TRUSTED_PROXIES), NULL when unknown */
void log_request(const char *request_id, h2o_iovec_t method, const char *route, int status, double duration_ms,
                 const char *user_id, const char *ip);
/* makes this thread collect its lines until log_flush() (worker threads, once per loop pass) */
void log_thread_buffer(void);
void log_flush(void);
/* RFC 3339 UTC timestamp with milliseconds, buf >= 32 bytes */
size_t log_format_time(char *buf, const struct timeval *tv, int with_ms);

/* ------------------------------------------------------------------------ */
/* proxies.c: TRUSTED_PROXIES */

/* TRUSTED_PROXIES: comma-separated IPv4/IPv6 addresses and CIDRs; 0, or -1 when one is not */
int proxies_parse(const char *value);
/* the client's address into *ss (its length, 0 when unknown): the peer's, or behind a trusted proxy the
 * rightmost untrusted hop of Forwarded (else X-Forwarded-For) */
socklen_t client_address(h2o_req_t *req, struct sockaddr_storage *ss);

/* ratelimit.c: per-client fixed windows shared by all threads */

typedef struct st_ratelimit_client_t {
    uint64_t token_key[2]; /* keyed hash of the bearer token */
    uint8_t user[16];      /* the token's user, when known */
    int token_hashed;
    int user_known;
} ratelimit_client_t;

typedef struct st_ratelimit_t {
    unsigned limit;
    unsigned remaining;
    unsigned reset; /* seconds */
    int limited;
} ratelimit_t;

void ratelimit_init(void);
/* who the request comes from, as far as the shim knows */
void ratelimit_identify(h2o_req_t *req, ratelimit_client_t *client);
/* counts the request; 1 when it is over a limit (auth_route: the per-address AUTH_RATE_LIMIT_LIMIT too) */
int ratelimit_check(h2o_req_t *req, const ratelimit_client_t *client, int auth_route, ratelimit_t *r);
void ratelimit_add_headers(h2o_req_t *req, const ratelimit_t *r);

/* ------------------------------------------------------------------------ */
/* token.c: whose bearer token a request carries (its signature checked with the extension's keys) */

#define TOKEN_LEEWAY_SECONDS 30 /* clock skew allowed for exp, nbf, iat: the extension's */

typedef struct st_token_owner_t {
    uint8_t user[16];    /* sub */
    int64_t exp;         /* seconds since the epoch */
    uint32_t generation; /* of the key set that verified it */
} token_owner_t;

/* the result of workon.jwt_verification_keys() becomes the key set; the number of usable keys, -1 on a bad result */
int token_keys_load(PGresult *res);
/* bumped by every load: what an older set verified is verified again */
uint32_t token_keys_generation(void);
/* 0 and *owner when a known key signed the token and its claims hold at now; -1 otherwise */
int token_verify(const char *token, size_t len, time_t now, token_owner_t *owner);
void token_cleanup(void);
/* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" to 16 bytes; -1 if it is not a UUID */
int parse_uuid(h2o_iovec_t s, uint8_t out[16]);
/* ratelimit_share.c's side: adds n hits of another instance to client id's counter */
void ratelimit_add_remote(const uint8_t *id, size_t id_len, uint32_t n);
/* hands each counter's unsent hits to emit (which returns -1 when it takes no more) and clears them; how many */
size_t ratelimit_take_unsent(int (*emit)(void *ctx, const uint8_t *id, size_t id_len, uint32_t n), void *ctx);

/* ratelimit_share.c: rate limits across the instances on one database */

/* hits an instance may make before the others heard of them: limit / instances seen (limit when alone) */
unsigned ratelimit_share_slice(unsigned limit);
/* a NOTIFY workon_ratelimit arrived on the first thread's control connection */
void ratelimit_share_on_notify(const char *payload);

/* ------------------------------------------------------------------------ */
/* json.c */

#define JSON_MAX_DEPTH 256

/* RFC 8259 validation (UTF-8 checked, depth limited); 0 if valid */
int json_validate(const char *s, size_t len);
/* upper bound of the escaped length of a string of len bytes (without quotes) */
#define json_escaped_max(len) ((len)*6)
/* writes the escaped string (without quotes); invalid UTF-8 becomes U+FFFD; returns the end */
char *json_escape(char *dst, const char *s, size_t len);
/* reading the JSON the database writes: whitespace, one value, a top-level member (strings
 * without their quotes, null as absent) and an integer member */
const char *json_skip_ws(const char *p, const char *end);
const char *json_skip_value(const char *p, const char *end);
h2o_iovec_t json_member(h2o_iovec_t obj, const char *name);
int64_t json_int64(h2o_iovec_t v, int64_t dflt);
/* 1 if s is valid UTF-8 without NUL */
int utf8_valid(const char *s, size_t len);
/*
 * iterates a JSON object whose members are strings; cb gets unescaped,
 * NUL-terminated key and value allocated from pool.  Returns 0, or -1 if the
 * text is not such an object (members seen before the error were reported).
 */
int json_each_string_member(const char *s, size_t len, h2o_mem_pool_t *pool,
                            void (*cb)(void *data, h2o_iovec_t key, h2o_iovec_t value), void *data);

/* growing string builder on a memory pool */
typedef struct st_strbuf_t {
    h2o_mem_pool_t *pool;
    char *base;
    size_t len;
    size_t cap;
} strbuf_t;

void strbuf_init(strbuf_t *sb, h2o_mem_pool_t *pool, size_t cap);
void strbuf_reserve(strbuf_t *sb, size_t extra);
void strbuf_add(strbuf_t *sb, const char *s, size_t len);
#define strbuf_lit(sb, lit) strbuf_add((sb), (lit), sizeof(lit) - 1)
void strbuf_add_json_string(strbuf_t *sb, const char *s, size_t len);
void strbuf_add_cstr_json(strbuf_t *sb, const char *s); /* NULL -> null */
void strbuf_printf(strbuf_t *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* NUL-terminates and returns the content */
h2o_iovec_t strbuf_finish(strbuf_t *sb);

/* ------------------------------------------------------------------------ */
/* routes.c */

enum {
    BODY_NONE = 0,
    BODY_JSON,
    BODY_RAW,
    BODY_WEBSOCKET, /* GET upgraded to a WebSocket once the handler answered 200 (ws.c) */
    BODY_BYTES, /* binary, up to UPLOAD_MAX_BYTES */
};

/* workon.routes.rate_limit */
enum {
    RATE_LIMIT_DEFAULT = 0, /* the per-user or per-address budget */
    RATE_LIMIT_AUTH,        /* also the stricter per-address AUTH_RATE_LIMIT_LIMIT budget */
    RATE_LIMIT_EXEMPT,      /* never rate limited */
};

/* workon.routes.lane */
enum {
    ROUTE_LANE_FAST = 0, /* the pipelined connections */
    ROUTE_LANE_SLOW,     /* slow by design (password hashing): the slow lane's connections */
};

typedef struct st_route_t {
    char method[8];
    char *path;
    char handler_oid[24];
    int status;
    int body_mode;
    int bytes; /* bytes in or out (body mode bytes, a handler returning bytea): workon.dispatch_bytes */
    char *auth;
    int rate_limit;
    int read_only;     /* the handler never writes: run on a replica when there are some (replicas.c) */
    int lane;          /* ROUTE_LANE_*: where its statement runs */
    char outbound[16]; /* the outbox kind a request may wait on, "" for none */
    unsigned metrics;  /* extra metric families its requests are counted in (METRICS_FAMILY_*) */
    /* names of the {param} segments, in order */
    char **param_names;
    size_t num_params;
} route_t;

typedef struct st_route_table_t route_table_t;

typedef struct st_error_rule_t {
    char sqlstate[6];
    int status;
    char *code;
} error_rule_t;

typedef struct st_error_map_t {
    error_rule_t *rules;
    size_t size;
} error_map_t;

/* the route query: the columns route_table_build reads, in order */
#define ROUTES_SELECT                                                                                                              \
    "SELECT method, path, handler::oid::int8, auth, status, body, rate_limit, read_only, outbound, metric,"                        \
    " (SELECT p.prorettype = 'bytea'::regtype FROM pg_catalog.pg_proc AS p WHERE p.oid = handler::oid), lane"                      \
    " FROM workon.routes ORDER BY path, method"
#define ROUTE_COLUMNS 12
#define ERRORS_SELECT "SELECT sqlstate, status, code FROM workon.errors"

/* builds a table from the result of the route query; NULL + *err on failure */
route_table_t *route_table_build(PGresult *res, const char **err);
void route_table_free(route_table_t *table);
size_t route_table_size(route_table_t *table);

enum {
    ROUTE_FOUND,
    ROUTE_NO_PATH,
    ROUTE_NO_METHOD,
};

typedef struct st_route_match_t {
    const route_t *route;
    /* percent-decoded values of the params (NUL-terminated), NULL if a value was invalid */
    h2o_iovec_t *values;
    /* the first param whose value is not valid percent-encoded UTF-8, or NULL */
    const char *invalid_param;
    /* "DELETE, GET" ... when ROUTE_NO_METHOD */
    h2o_iovec_t allow;
} route_match_t;

int route_table_match(route_table_t *table, h2o_mem_pool_t *pool, const char *method, size_t method_len, const char *path,
                      size_t path_len, route_match_t *match);

/* percent-decodes src; plus_is_space for query strings; -1 on a bad escape, NUL or invalid UTF-8 */
int url_decode(char *dst, size_t *dst_len, const char *src, size_t len, int plus_is_space);

/* the built-in copy of workon.errors used until the table is loaded */
void error_map_init_default(error_map_t *map);
int error_map_build(error_map_t *map, PGresult *res, const char **err);
void error_map_free(error_map_t *map);
const error_rule_t *error_map_lookup(const error_map_t *map, const char *sqlstate);

#include "db.h"

/* ------------------------------------------------------------------------ */
/* metrics.c: per-thread counters, summed by GET /metrics */

typedef struct st_metrics_t metrics_t;

/* the extra families a route's requests may be counted in (workon.routes.metric) */
enum {
    METRICS_FAMILY_WEBHOOKS = 1, /* workon_webhooks_total */
};

enum {
    METRIC_RATE_LIMITED = 0,
    METRIC_DB_ERRORS,
    METRIC_TIMEOUTS,
    METRIC_OVERLOADED,
    METRIC_NUM_COUNTERS,
};

metrics_t *metrics_new(void);
/* the METRICS_FAMILY_* bit of a workon.routes.metric value, 0 for none */
unsigned metrics_family(const char *name);
/* one finished request; route NULL when none matched; families: METRICS_FAMILY_* bits of its route */
void metrics_observe(metrics_t *m, h2o_iovec_t method, const char *route, unsigned families, int status, double ms);
void metrics_count(metrics_t *m, int counter);
/* the Prometheus text of every thread's figures */
h2o_iovec_t metrics_render(h2o_mem_pool_t *pool);

#include "outbound.h"

/* ------------------------------------------------------------------------ */
/* worker (main.c) */

/* reconnect delays: 100, 200, 400, 800, 1600, 2000 ms */
#define SHIM_BACKOFF_STEPS 6

struct st_worker_t {
    h2o_context_t ctx; /* first member: req->conn->ctx is the worker */
    unsigned id;
    h2o_accept_ctx_t accept_ctx;
    int listen_fd;
    h2o_socket_t *listener;
    int wakeup_fd;
    h2o_socket_t *wakeup;
    pthread_t thread;
    db_pool_t pool; /* the primary's pipelined connections */
    db_pool_t slow; /* the slow lane (SLOW_LANE_CONNECTIONS, one statement at a time each) */
    db_pool_t realtime; /* ws.c's fan-out reads: one connection, opened with the thread's first socket */
    struct st_replicas_t *replicas; /* NULL without DATABASE_REPLICA_URLS */
    control_t control;
    route_table_t *routes; /* NULL until loaded */
    /* API requests that came before the first route table: they wait for it (api.c) */
    h2o_linklist_t awaiting_routes;
    size_t num_awaiting_routes;
    h2o_timeout_entry_t awaiting_routes_timer;
    error_map_t errors;
    h2o_timeout_t request_timeout;
    h2o_timeout_t backoff_timeouts[SHIM_BACKOFF_STEPS];
    h2o_timeout_t connect_timeout;
    h2o_timeout_t one_sec;
    h2o_timeout_t sweep_fast;
    h2o_timeout_t sweep_slow;
    uint64_t rng[2];
    size_t active_requests;
    int draining;
    metrics_t *metrics;
    /* set by the main thread before it writes wakeup_fd */
    int drain_requested;
    int reload_requested;
    int64_t published_seen; /* wake.c: the newest published head this thread fanned out to */
};

extern worker_t *shim_workers;

extern h2o_globalconf_t shim_globalconf;
extern struct timeval shim_started_at;

/* main.c: wakes the thread's event loop (its eventfd); any thread may call it */
void worker_wake(worker_t *w);

/* per-thread random numbers (xorshift128+, seeded from getrandom) */
uint64_t worker_random(worker_t *w);

/* ------------------------------------------------------------------------ */
/* replicas.c: read replicas (DATABASE_REPLICA_URLS) and read-your-writes */

void replicas_init(worker_t *w);
void replicas_start(worker_t *w);
void replicas_stop(worker_t *w);
#define replicas_configured() (shim_settings.num_replicas != 0)
/* "X/Y" (PostgreSQL's pg_lsn text) as a number; 0 when malformed */
uint64_t lsn_parse(const char *s, size_t len);
/* a replica that can serve a read of a client whose last write was at client_lsn (0: none); NULL: the primary */
db_pool_t *replicas_pick(worker_t *w, uint64_t client_lsn);
/* pool is one of w's replicas */
int replicas_owns(worker_t *w, db_pool_t *pool);
/* the client's last write position: X-Workon-LSN, else the cookie workon_lsn; 0 when none */
uint64_t replicas_client_lsn(h2o_req_t *req);
/* X-Workon-LSN and the cookie workon_lsn of a response after a write */
void replicas_add_lsn_headers(h2o_req_t *req, const char *lsn);
/* "replicas":[...] as this thread sees them into sb (nothing without replicas); 0 when one is skipped */
int replicas_health_json(worker_t *w, strbuf_t *sb);

/* ------------------------------------------------------------------------ */
/* openapi.c: the docs page (the document itself is workon.openapi() in the database) */

extern const char openapi_docs_html[];
#define OPENAPI_DOCS_CSP "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:"

/* ------------------------------------------------------------------------ */
/* http.c: the entry of every request */

#define REQUEST_ID_MAX 128

/*
 * What is known of a request beyond h2o's view of it.  The request id lives
 * inside it, so every function that has the request id (they all do) finds
 * the rest with reqctx_of().
 */
typedef struct st_reqctx_t {
    const char *route; /* route template (or fixed path) for logs and metrics; NULL: none matched */
    unsigned metrics;  /* the extra metric families of the route */
    char user_id[40];  /* the caller's id when known, else "" */
    ratelimit_client_t client;
    int observed;
    char method[16]; /* a copy, for a request that ends without a response */
    char id[REQUEST_ID_MAX + 1];
} reqctx_t;

#define reqctx_of(request_id) ((reqctx_t *)((request_id).base - offsetof(reqctx_t, id)))

void http_register(h2o_hostconf_t *hostconf);
/* the client's X-Request-Id when acceptable, else 32 random hex digits; NUL-terminated, inside a new reqctx_t */
h2o_iovec_t http_request_id(worker_t *w, h2o_req_t *req);
/* the access line and the metrics of a response, once per request */
void http_observe(h2o_req_t *req, h2o_iovec_t request_id, int status);
/* the request id, the path without the query, and the checks every request passes first; -1 when it was answered */
int http_begin(h2o_req_t *req, h2o_iovec_t *request_id, h2o_iovec_t *path);
/* MAX_INFLIGHT requests in progress: answers 503 and returns 1 */
int http_overloaded(h2o_req_t *req, h2o_iovec_t request_id);
/* a path that is not a probe's */
void http_serve_api(h2o_req_t *req, h2o_iovec_t request_id, h2o_iovec_t path);

/* ------------------------------------------------------------------------ */
/* framing.c: HTTP/1 framing checks h2o does not make */

/* more header fields than this is 431 (h2o's HTTP/1 parser stops at 100 with a plain 400) */
#define MAX_HEADER_FIELDS 100
/* a raw HTTP/1 head (request line, fields, empty line; bytes after it ignored): NULL, or why it is refused */
const char *framing_check(const char *head, size_t len, int http11);
/* framing_check() of an HTTP/1 request's head as sent; NULL for HTTP/2 */
const char *framing_check_request(h2o_req_t *req);
/* an HTTP/1 connection about to be closed: read and drop what the client still sends, so the close is no reset */
void framing_linger(h2o_req_t *req);

/* ------------------------------------------------------------------------ */
/* respond.c: responses and errors */

/* sends status + body (body.base == NULL: no body); headers already added stay */
void send_response(h2o_req_t *req, h2o_iovec_t request_id, int status, h2o_iovec_t body, int add_content_type);
/* the JSON error shape; field names details.field (NULL: none); a 503 carries Retry-After */
void send_error(h2o_req_t *req, h2o_iovec_t request_id, int status, const char *code, const char *message, const char *field);
/* the same with details.fields: the JSON array of every invalid field */
void send_error_fields(h2o_req_t *req, h2o_iovec_t request_id, int status, const char *code, const char *message,
                       const char *field, const char *fields);
void send_unavailable(h2o_req_t *req, h2o_iovec_t request_id);
void send_method_not_allowed(h2o_req_t *req, h2o_iovec_t request_id, h2o_iovec_t allow);
/* rewrites the error responses h2o makes itself on this path registration */
void respond_register_filter(h2o_pathconf_t *pathconf);

/* ------------------------------------------------------------------------ */
/* s3.c: the S3 file store (UPLOAD_STORE=s3), Signature V4 */

/* seconds a presigned download URL is valid */
#define S3_PRESIGN_TTL 300

typedef struct st_s3_overrides_t {
    h2o_iovec_t content_type, content_disposition, cache_control; /* base NULL: none */
} s3_overrides_t;

int s3_configured(void);
/* a presigned URL of key for method (GET, HEAD); NULL for a key the extension would not make */
const char *s3_presign(h2o_mem_pool_t *pool, const char *method, h2o_iovec_t key, const s3_overrides_t *o);
/* writes body under key, when its SHA-256 is sha256 (hex); the body is not copied: cancel before it goes; NULL with *err when it cannot be sent */
httpclient_t *s3_put(worker_t *w, h2o_mem_pool_t *pool, h2o_iovec_t key, h2o_iovec_t sha256, h2o_iovec_t content_type,
                     h2o_iovec_t body, httpclient_cb cb, void *data, const char **err);

/* ------------------------------------------------------------------------ */
/* call.c: a request's database call */

typedef struct st_call_t call_t;
/* as db_query_cb: returns non-zero when it keeps res */
typedef int (*call_result_cb)(call_t *call, PGresult *res, const char *err);

struct st_call_t {
    h2o_req_t *req;
    worker_t *worker;
    h2o_iovec_t request_id;
    const char *route_path; /* for log lines */
    call_result_cb on_result;
    db_query_t *query;
    db_pool_t *pool;      /* where its queries go; NULL: the thread's pipelined pool (primary) */
    outbox_job_t *outbox; /* an outbound call the request waits for */
    httpclient_t *outgoing; /* a request of its own it waits for (s3.c) */
    h2o_timeout_entry_t timeout;
    /* NULL: REQUEST_TIMEOUT_MS and 503 unavailable; else this bound, and on_result(NULL, call_err_timeout) */
    h2o_timeout_t *bound;
    struct timespec started;
};

/* the err of on_result when a call with its own bound ran out of time */
extern const char call_err_timeout[];

#define call_pool(call) ((call)->pool != NULL ? (call)->pool : &(call)->worker->pool)

/* a call of size bytes (a struct that begins with call_t) on the request's pool */
call_t *call_new(worker_t *w, h2o_req_t *req, h2o_iovec_t request_id, size_t size, call_result_cb on_result);
/* a query whose result goes to the call's on_result */
db_query_t *call_query_new(call_t *call, int kind);
/* queues the query and starts the clock (REQUEST_TIMEOUT_MS, or the call's bound); on_result(NULL, err) at once when the database is out of reach */
void call_submit(call_t *call, db_query_t *q);
void call_arm(call_t *call);
void call_disarm(call_t *call);
double call_elapsed_ms(call_t *call);
/* for db_query_t.abandoned: an HTTP/1 client that hung up */
int call_client_gone(void *call);
/* counts a request failed for lack of the database; logs one line per second per thread */
void call_log_unavailable(call_t *call, const char *why);

/* ------------------------------------------------------------------------ */
/* args.c: the arguments of workon.dispatch */

typedef struct st_dispatch_args_t {
    h2o_iovec_t params;
    h2o_iovec_t query;
    h2o_iovec_t body; /* base NULL: none */
    h2o_iovec_t meta;
    const char *token; /* NULL: none */
    int had_token;     /* a bearer token was sent */
    int idempotent;    /* a POST with an Idempotency-Key: workon.dispatch_idempotent answers */
} dispatch_args_t;

/* 0, or -1 when the request was answered (400, 413, 415) */
int args_build(h2o_req_t *req, h2o_iovec_t request_id, h2o_iovec_t path, const route_match_t *m, dispatch_args_t *args);
/* the query string as a JSON object of strings (last value wins); -1 with *bad_field on a bad encoding; a key
   named take (not NULL) is left out and its value put in *taken */
int args_query_json(h2o_mem_pool_t *pool, const char *s, size_t len, h2o_iovec_t *out, const char **bad_field, const char *take,
                    h2o_iovec_t *taken);

/* ------------------------------------------------------------------------ */
/* api.c: the API call */

void api_serve(worker_t *w, h2o_req_t *req, h2o_iovec_t request_id, h2o_iovec_t path);
/* the route table or error map changed: requests that waited for the first table go on */
void api_on_routes_loaded(worker_t *w);

/* ------------------------------------------------------------------------ */
/* probes.c: health, metrics and docs paths */

void probes_register(h2o_hostconf_t *hostconf);
/* a thread loaded the route table: the OpenAPI document kept is out of date */
void probes_routes_loaded(void);

/* ------------------------------------------------------------------------ */
/* web.c: the web site and admin console (static files of WEB_ROOT) */

/* checks WEB_ROOT once at start */
void web_init(void);
/* the site's handler, in front of the API's on a path registration */
void web_register(h2o_pathconf_t *pathconf);

/* ------------------------------------------------------------------------ */
/* ws.c: WebSocket clients and the fan-out of realtime events */

/* a GET over HTTP/1.1 with Upgrade: websocket and a Sec-WebSocket-Key */
int ws_is_handshake(h2o_req_t *req);
/*
 * The handler of a websocket route answered 200 with body (whose socket, the replay page):
 * upgrades the request and returns 0; -1 when it cannot (*why names the limit that refused
 * it, WS_MAX_CONNECTIONS or WS_MAX_PER_USER, else NULL) and the caller answers
 */
int ws_accept(h2o_req_t *req, const char *handler_oid, const char *token, h2o_iovec_t body, const char **why);
/* wake.c: a call committed realtime events without notifying: NOTIFY workon_events (coalesced per thread) */
void wake_events_written(worker_t *w);
/* wake.c: the publisher (thread w) numbered events up to head: every thread of this shim fans out to it */
void wake_published(worker_t *w, int64_t head);
/* wake.c: the thread's eventfd fired (main.c): a new head to fan out to */
void wake_on_wakeup(worker_t *w);
/* NOTIFY workon_events_published on this thread's control connection (payload: the new head) */
void ws_on_published(worker_t *w, const char *payload);
/* events are published up to head: fan them out to this thread's sockets */
void ws_on_head(worker_t *w, int64_t head);
/* the control connection is back: notifications may have been missed */
void ws_resync(worker_t *w);
void ws_worker_init(worker_t *w);
/* SIGTERM: every socket of this thread closes with 1001 */
void ws_drain(worker_t *w);
size_t ws_num_clients(worker_t *w);
/* ws_counts.c: the process's counts.  A user's hash bucket (WS_BUCKETS) */
#define WS_BUCKETS 4096
size_t ws_user_bucket(const char *id, size_t len);
/* takes a socket of the process's WS_MAX_CONNECTIONS and one of the user's WS_MAX_PER_USER:
 * NULL, or the name of the limit that refused it (nothing taken) */
const char *ws_count_take(const char *id, size_t len);
/* gives both back (a socket closed) */
void ws_count_give(const char *id);
/* every thread's (for /metrics) */
size_t ws_total_clients(void);
/* the users with a socket in this process, as a uuid[] literal "{id,...}" (malloc'ed) */
char *ws_connected_users(void);
/* ws_recent.c: the events this shim's publisher numbered (control.c adds them after commit, ws.c fans them out) */
typedef struct st_ws_recent_event_t {
    const char *recipients; /* the array's text, "{id,...}" */
    const char *frame;      /* the frame's JSON text ("" with a close code) */
    size_t frame_len;
    const char *close_code; /* NULL, or the close code's text */
} ws_recent_event_t;
void ws_recent_add(int64_t pos, const char *recipients, size_t recipients_len, const char *frame, size_t frame_len,
                   const char *close_code);
/* the event at pos in e (a copy valid until the thread's next call); -1 when the ring does not have it */
int ws_recent_get(int64_t pos, ws_recent_event_t *e);

#endif
