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

typedef struct st_shim_settings_t {
    const char *database_url;
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
    /* reloaded on SIGHUP (read with relaxed atomics by the workers) */
    const cors_conf_t *cors;
    int rate_limit_enabled;
    unsigned rate_limit_ttl;
    unsigned rate_limit_limit;
    unsigned auth_rate_limit_limit;
} shim_settings_t;

extern shim_settings_t shim_settings;

/* reads the environment; prints one line and exits 2 on a bad value */
void settings_load(void);
/* SIGHUP: re-reads SHIM_ENV_FILE and applies the reloadable settings; -1 (logged, nothing changed) on a bad value */
int settings_reload(void);
/* prints usage and the settings table */
void settings_print_help(FILE *fp);
#define setting_read(field) __atomic_load_n(&shim_settings.field, __ATOMIC_RELAXED)

/* ------------------------------------------------------------------------ */
/* files.c: a 200 response with an ETag (a file) answered as If-None-Match and Range ask; returns the status, narrows *body */
int files_conditional(h2o_req_t *req, int status, h2o_iovec_t etag, h2o_iovec_t *body);

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
/* the access line of a request (info level); route NULL when no route matched, user_id NULL when unknown */
void log_request(const char *request_id, h2o_iovec_t method, const char *route, int status, double duration_ms,
                 const char *user_id);
/* makes this thread collect its lines until log_flush() (worker threads, once per loop pass) */
void log_thread_buffer(void);
void log_flush(void);
/* RFC 3339 UTC timestamp with milliseconds, buf >= 32 bytes */
size_t log_format_time(char *buf, const struct timeval *tv, int with_ms);

/* ------------------------------------------------------------------------ */
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
/* counts the request; 1 when it is over a limit (auth_route: the per-address login/register limit too) */
int ratelimit_check(h2o_req_t *req, const ratelimit_client_t *client, int auth_route, ratelimit_t *r);
void ratelimit_add_headers(h2o_req_t *req, const ratelimit_t *r);
/* the database said whose token it was (X-Workon-User) */
void ratelimit_learn(const ratelimit_client_t *client, const uint8_t user[16]);

/* ------------------------------------------------------------------------ */
/* json.c */

#define JSON_MAX_DEPTH 256

/* RFC 8259 validation (UTF-8 checked, depth limited); 0 if valid */
int json_validate(const char *s, size_t len);
/* upper bound of the escaped length of a string of len bytes (without quotes) */
#define json_escaped_max(len) ((len)*6)
/* writes the escaped string (without quotes); invalid UTF-8 becomes U+FFFD; returns the end */
char *json_escape(char *dst, const char *s, size_t len);
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
};

typedef struct st_route_t {
    char method[8];
    char *path;
    char handler_oid[24];
    int status;
    int body_mode;
    char *auth;
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

/* ------------------------------------------------------------------------ */
/* pool.c */

typedef struct st_worker_t worker_t;
typedef struct st_db_conn_t db_conn_t;
typedef struct st_db_query_t db_query_t;

/*
 * res is NULL when the query failed without a server answer (err says why).
 * Returns non-zero when it keeps res (and PQclear()s it later itself).
 */
extern const char pool_err_abandoned[];
typedef int (*db_query_cb)(void *owner, PGresult *res, const char *err);

enum {
    DB_QUERY_DISPATCH = 0, /* the prepared workon_dispatch statement, 6 params */
    DB_QUERY_SQL,          /* a statement, with nparams text parameters */
    DB_QUERY_INTERNAL,     /* connection setup (owner is the connection) */
};

struct st_db_query_t {
    h2o_linklist_t link;
    int kind;
    const char *sql;
    const char *values[6];
    int lengths[6];
    int formats[6];
    int nparams; /* DB_QUERY_SQL: parameters in values[] */
    db_query_cb cb;
    void *owner;
    /* optional: asked before sending a query that had to wait; non-zero drops it */
    int (*abandoned)(void *owner);
    uint64_t queued_at;
    uint64_t sent_at;
    uint64_t seq;
    int retried;
    db_conn_t *conn;
    PGresult *res;
    int counted; /* counted in the pool's in_use figure */
};

typedef struct st_db_pool_t {
    worker_t *worker;
    db_conn_t *conns;
    size_t size;
    size_t num_ready;
    h2o_linklist_t pending; /* db_query_t not yet sent */
    size_t num_pending;
    size_t in_use; /* dispatched API/health queries awaiting results */
    h2o_timeout_entry_t dispatch_entry;
    h2o_timeout_entry_t outage_entry;
    int fail_fast; /* no connection for over a second: answer 503 at once */
    db_query_t *free_queries;
    h2o_timeout_entry_t sweep_entry;
    /* backend pids to cancel, sent through the LISTEN connection */
    int *cancel_pids;
    size_t num_cancel_pids;
    /* the LISTEN connection */
    db_conn_t *listener;
} db_pool_t;

void pool_init(db_pool_t *pool, worker_t *worker);
void pool_start(db_pool_t *pool);
void pool_stop(db_pool_t *pool);
db_query_t *pool_query_new(db_pool_t *pool, int kind, db_query_cb cb, void *owner);
/* queues the query; 0, or -1 when it cannot be served now (the caller answers 503) */
int pool_submit(db_pool_t *pool, db_query_t *q);
/* the owner went away: the result will be dropped */
void pool_query_detach(db_pool_t *pool, db_query_t *q);
int pool_is_up(db_pool_t *pool);
/* connections with at least one query in flight */
size_t pool_busy_connections(db_pool_t *pool);
/* whether connection i has a query in flight (read by /metrics from any thread) */
int pool_conn_busy(db_pool_t *pool, size_t i);
/* asks the LISTEN connection to load the route table again (SIGHUP) */
void pool_reload_routes(db_pool_t *pool);

/* ------------------------------------------------------------------------ */
/* metrics.c: per-thread counters, summed by GET /metrics */

typedef struct st_metrics_t metrics_t;

enum {
    METRIC_RATE_LIMITED = 0,
    METRIC_DB_ERRORS,
    METRIC_TIMEOUTS,
    METRIC_OVERLOADED,
    METRIC_NUM_COUNTERS,
};

metrics_t *metrics_new(void);
/* one finished request; route NULL when none matched */
void metrics_observe(metrics_t *m, h2o_iovec_t method, const char *route, int status, double ms);
void metrics_count(metrics_t *m, int counter);
/* the Prometheus text of every thread's figures */
h2o_iovec_t metrics_render(h2o_mem_pool_t *pool);

/* ------------------------------------------------------------------------ */
/* stripe.c: requests to Stripe's API on the event loop */

typedef struct st_stripe_request_t stripe_request_t;
/*
 * status 0 and err set when no HTTP answer came (network error, timeout); body is only valid during the call;
 * should_retry: Stripe-Should-Retry of the answer, 1 true, 0 false, -1 absent
 */
typedef void (*stripe_cb)(void *data, int status, h2o_iovec_t body, int should_retry, const char *err);

/* NULL, or why value is not a usable STRIPE_API_BASE */
const char *stripe_parse_base(const char *value, h2o_url_t *url);
void stripe_global_init(void);
void stripe_worker_init(worker_t *w);
int stripe_configured(void);
/* params: a JSON object of strings, form-encoded in order; NULL + *err when the request cannot be made */
stripe_request_t *stripe_send(worker_t *w, const char *method, const char *path, const char *params, size_t params_len,
                              const char *idempotency_key, stripe_cb cb, void *data, const char **err);
/* the callback is not called */
void stripe_cancel(stripe_request_t *r);
const char *stripe_form_encode(h2o_mem_pool_t *pool, const char *params, size_t len, h2o_iovec_t *out);

/* ------------------------------------------------------------------------ */
/* outbox.c: sending workon.outbox rows (background worker and waiting requests) */

typedef struct st_outbox_job_t outbox_job_t;
/* err of a waiting request whose row someone else finished: run the request again */
extern const char outbox_err_not_claimed[];

void outbox_worker_start(worker_t *w);
/* a NOTIFY workon_outbox arrived on w's LISTEN connection */
void outbox_on_notify(worker_t *w, const char *payload);
/*
 * Claims row id, sends it, hands the answer to the database and reports the
 * (status, headers, body) row of workon.outbox_result / outbox_error to cb,
 * like a dispatch result.  res NULL + err: outbox_err_not_claimed, or no answer.
 */
outbox_job_t *outbox_wait(worker_t *w, const char *id, const char *request_id, db_query_cb cb, void *owner);
/* the waiting client went away: the job still finishes, nobody is told */
void outbox_detach(outbox_job_t *job);

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
    db_pool_t pool;
    route_table_t *routes; /* NULL until loaded */
    /* API requests that came before the first route table: they wait for it (http.c) */
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
};

extern worker_t *shim_workers;

extern h2o_globalconf_t shim_globalconf;
extern struct timeval shim_started_at;

/* per-thread random numbers (xorshift128+, seeded from getrandom) */
uint64_t worker_random(worker_t *w);

/* ------------------------------------------------------------------------ */
/* openapi.c: the docs page (the document itself is workon.openapi() in the database) */

extern const char openapi_docs_html[];
#define OPENAPI_DOCS_CSP "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:"

/* ------------------------------------------------------------------------ */
/* http.c */

void http_register(h2o_hostconf_t *hostconf);
/* called by the pool after the route table or error map changed */
void http_on_routes_loaded(worker_t *w);

#endif
