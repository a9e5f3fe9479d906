/*
 * The fixed paths, one h2o path registration each (the table below):
 *
 *   GET /healthz               200 {"status":"ok"}, never touches the database
 *                              nor counts against MAX_INFLIGHT
 *   GET /readyz                SELECT 1 through the pool: 200 ready / 503 not_ready,
 *                              within READYZ_TIMEOUT_MS whatever the database does
 *   GET /api/health            SELECT 1: 200 healthy / 503 unhealthy
 *   GET /api/v1/health         workon.health() merged with this thread's figures
 *   GET /metrics               the Prometheus text of every thread (metrics.c)
 *   GET /api/v1/openapi.json   workon.openapi(), generated from the route table, kept
 *                              by the process until the routes reload (below)
 *   GET /docs                  the page that renders it (openapi.c)
 *
 * The last two answer 404 with NODE_ENV=production unless ENABLE_SWAGGER_PROD.
 * HEAD is the GET without its body; other methods are 405 with Allow: GET,
 * HEAD.  A request that reached a
 * registration by another path (h2o matches "/healthz/x" to "/healthz")
 * goes to the API like any other path.
 */
#include "shim.h"
#include <string.h>
#include <sys/time.h>
#include <time.h>

enum {
    PROBE_ALWAYS = 1, /* answered even past MAX_INFLIGHT */
    PROBE_DOCS = 2,   /* hidden in production unless ENABLE_SWAGGER_PROD */
};

typedef struct st_probe_t {
    const char *path;
    int flags;
    void (*serve)(worker_t *w, h2o_req_t *req, h2o_iovec_t request_id);
} probe_t;

typedef struct st_probe_handler_t {
    h2o_handler_t super;
    const probe_t *probe;
} probe_handler_t;

/* ------------------------------------------------------------------------ */
/* health */

static h2o_iovec_t short_db_error(h2o_mem_pool_t *pool, PGresult *res, const char *err)
{
    char buf[96];

    if (res == NULL)
        return h2o_strdup(pool, err == call_err_timeout ? "database did not answer in time" : err != NULL ? "database unreachable" : "no result",
                          SIZE_MAX);
    if (PQresultStatus(res) == PGRES_FATAL_ERROR) {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        snprintf(buf, sizeof(buf), "query failed (SQLSTATE %s)", state != NULL ? state : "unknown");
        return h2o_strdup(pool, buf, SIZE_MAX);
    }
    return h2o_strdup(pool, "unexpected result", SIZE_MAX);
}

/* 503 with the body head, the short database error as a JSON string, then tail */
static void send_db_failure(call_t *call, PGresult *res, const char *err, const char *head, const char *tail)
{
    h2o_req_t *req = call->req;
    strbuf_t sb;

    strbuf_init(&sb, &req->pool, 128);
    strbuf_add(&sb, head, strlen(head));
    strbuf_add_cstr_json(&sb, short_db_error(&req->pool, res, err).base);
    strbuf_add(&sb, tail, strlen(tail));
    send_response(req, call->request_id, 503, strbuf_finish(&sb), 1);
}

/* one row, one non-NULL value */
static int single_value(PGresult *res)
{
    return res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0);
}

static int on_readyz_result(call_t *call, PGresult *res, const char *err)
{
    static const char body[] = "{\"status\":\"ready\",\"checks\":{\"database\":{\"status\":\"ok\"}}}";

    if (single_value(res) && replicas_configured()) {
        /* ready while the primary is: a replica that is skipped is said, not a reason to take the shim out */
        strbuf_t sb;
        strbuf_init(&sb, &call->req->pool, 256);
        strbuf_lit(&sb, "{\"status\":\"ready\",\"checks\":{\"database\":{\"status\":\"ok\"},");
        replicas_health_json(call->worker, &sb);
        strbuf_lit(&sb, "}}");
        send_response(call->req, call->request_id, 200, strbuf_finish(&sb), 1);
    } else if (single_value(res))
        send_response(call->req, call->request_id, 200, h2o_iovec_init(body, sizeof(body) - 1), 1);
    else
        send_db_failure(call, res, err,
                        "{\"status\":\"not_ready\",\"checks\":{\"database\":{\"status\":\"error\",\"error\":", "}}}");
    return 0;
}

static int on_api_health_result(call_t *call, PGresult *res, const char *err)
{
    h2o_req_t *req = call->req;
    strbuf_t sb;
    char ts[40];
    struct timeval now;
    struct tm tm;
    size_t n;

    if (!single_value(res)) {
        send_db_failure(call, res, err, "{\"status\":\"unhealthy\",\"error\":", "}");
        return 0;
    }
    /* the API's one form of time: UTC, six fractional digits, Z */
    gettimeofday(&now, NULL);
    gmtime_r(&now.tv_sec, &tm);
    n = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof ts - n, ".%06ldZ", (long)now.tv_usec);
    strbuf_init(&sb, &req->pool, 128);
    strbuf_lit(&sb, "{\"status\":\"healthy\",\"timestamp\":\"");
    strbuf_add(&sb, ts, strlen(ts));
    strbuf_lit(&sb, "\",\"service\":\"" SHIM_SERVICE "\"}");
    send_response(req, call->request_id, 200, strbuf_finish(&sb), 1);
    return 0;
}

static int on_v1_health_result(call_t *call, PGresult *res, const char *err)
{
    h2o_req_t *req = call->req;
    worker_t *w = call->worker;
    struct timeval now;
    strbuf_t sb;
    int ok = single_value(res), status = 200, replicas_ok;
    const char *inner = NULL;
    strbuf_t replicas;
    size_t inner_len = 0;

    if (ok) {
        /* workon.health() returns a JSON object: splice its members in */
        const char *text = PQgetvalue(res, 0, 0), *open = strchr(text, '{'), *close = strrchr(text, '}');
        if (open != NULL && close != NULL && close > open) {
            inner = open + 1;
            inner_len = close - inner;
            while (inner_len != 0 && (*inner == ' ' || *inner == '\n' || *inner == '\t')) {
                ++inner;
                --inner_len;
            }
        } else {
            ok = 0;
        }
    }
    gettimeofday(&now, NULL);
    strbuf_init(&replicas, &req->pool, 256);
    replicas_ok = replicas_health_json(w, &replicas);
    strbuf_init(&sb, &req->pool, 512);
    strbuf_printf(&sb, "{\"status\":\"%s\",\"service\":\"" SHIM_SERVICE "\",\"version\":\"" SHIM_VERSION "\",\"environment\":",
                  ok && w->routes != NULL && w->pool.num_ready == w->pool.size && replicas_ok ? "ok" : "degraded");
    strbuf_add_cstr_json(&sb, shim_settings.node_env);
    strbuf_printf(&sb, ",\"uptime_seconds\":%lld", (long long)(now.tv_sec - shim_started_at.tv_sec));
    if (ok) {
        strbuf_printf(&sb, ",\"latency_ms\":%.3f", call_elapsed_ms(call));
        if (inner_len != 0) {
            strbuf_lit(&sb, ",");
            strbuf_add(&sb, inner, inner_len);
        }
    } else {
        status = 503;
        strbuf_lit(&sb, ",\"error\":");
        strbuf_add_cstr_json(&sb, short_db_error(&req->pool, res, err).base);
    }
    /* pool figures are this thread's: each worker thread has its own pool */
    strbuf_printf(&sb,
                  ",\"routes\":%zu,\"pool\":{\"size\":%zu,\"connected\":%zu,\"in_use\":%zu,\"waiting\":%zu,"
                  "\"queries_in_flight\":%zu,\"scope\":\"thread\"},\"threads\":%u}",
                  route_table_size(w->routes), w->pool.size, w->pool.num_ready, pool_busy_connections(&w->pool),
                  w->pool.num_pending, w->pool.in_use, shim_settings.threads);
    /* inside the object: the slow lane's figures and the replicas */
    --sb.len;
    if (w->slow.size != 0)
        strbuf_printf(&sb, ",\"slow_lane\":{\"size\":%zu,\"connected\":%zu,\"in_use\":%zu,\"waiting\":%zu}", w->slow.size,
                      w->slow.num_ready, w->slow.in_use, w->slow.num_pending);
    if (replicas.len != 0) {
        strbuf_lit(&sb, ",");
        strbuf_add(&sb, replicas.base, replicas.len);
    }
    strbuf_lit(&sb, "}");
    send_response(req, call->request_id, status, strbuf_finish(&sb), 1);
    return 0;
}

/* /readyz answers within this long, whatever the database does (a load balancer's probe has a short timeout) */
#define READYZ_TIMEOUT_MS 1000

/* one statement through the pool; cb answers; bound: NULL for REQUEST_TIMEOUT_MS */
static void ask_database(worker_t *w, h2o_req_t *req, h2o_iovec_t request_id, const char *sql, call_result_cb cb,
                         h2o_timeout_t *bound)
{
    call_t *call = call_new(w, req, request_id, sizeof(*call), cb);
    db_query_t *q = call_query_new(call, DB_QUERY_SQL);

    call->bound = bound;
    call->route_path = reqctx_of(request_id)->route;
    q->sql = sql;
    call_submit(call, q);
}

static void serve_healthz(worker_t *w, h2o_req_t *req, h2o_iovec_t request_id)
{
    static const char body[] = "{\"status\":\"ok\"}";

    (void)w;
    send_response(req, request_id, 200, h2o_iovec_init(body, sizeof(body) - 1), 1);
}

static void serve_readyz(worker_t *w, h2o_req_t *req, h2o_iovec_t request_id)
{
    static __thread h2o_timeout_t bound;
    static __thread int bound_ready;

    if (!bound_ready) {
        h2o_timeout_init(w->ctx.loop, &bound, READYZ_TIMEOUT_MS);
        bound_ready = 1;
    }
    ask_database(w, req, request_id, "SELECT 1", on_readyz_result, &bound);
}

static void serve_api_health(worker_t *w, h2o_req_t *req, h2o_iovec_t request_id)
{
    ask_database(w, req, request_id, "SELECT 1", on_api_health_result, NULL);
}

static void serve_v1_health(worker_t *w, h2o_req_t *req, h2o_iovec_t request_id)
{
    ask_database(w, req, request_id, "SELECT workon.health()", on_v1_health_result, NULL);
}

/* ------------------------------------------------------------------------ */
/* metrics and docs */

static void serve_metrics(worker_t *w, h2o_req_t *req, h2o_iovec_t request_id)
{
    (void)w;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, "Content-Type",
                   H2O_STRLIT("text/plain; version=0.0.4; charset=utf-8"));
    send_response(req, request_id, 200, metrics_render(&req->pool), 0);
}

static int docs_hidden(void)
{
    return strcmp(shim_settings.node_env, "production") == 0 && !shim_settings.enable_swagger_prod;
}

/*
 * The document is generated once and kept for the process: workon.openapi()
 * takes about a tenth of a second (115 ms for 182 KB), and in the request
 * pipeline every request queued behind it would wait that long.  A copy is regenerated after any
 * thread reloads the route table (NOTIFY workon_routes, SIGHUP: routes and
 * error codes) and once it is OPENAPI_MAX_AGE_MS old (what changes without a
 * reload: a handler's comment, a route's schema).  The generation runs on
 * the slow lane when there is one.
 */
#define OPENAPI_MAX_AGE_MS 60000

static pthread_mutex_t openapi_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char *body; /* NULL: none yet */
    size_t len;
    uint64_t made_at;     /* the loop's clock, ms */
    unsigned routes_seen; /* routes_loaded when its generation started */
} openapi;
static unsigned routes_loaded; /* route table loads of every thread */

typedef struct st_openapi_call_t {
    call_t super;
    unsigned routes_seen;
} openapi_call_t;

void probes_routes_loaded(void)
{
    __atomic_add_fetch(&routes_loaded, 1, __ATOMIC_ACQ_REL);
}

static int on_openapi_result(call_t *call, PGresult *res, const char *err)
{
    openapi_call_t *self = (openapi_call_t *)call;
    char *copy, *old = NULL;
    size_t len;

    if (!single_value(res)) {
        log_write(LOG_ERROR, "workon.openapi() failed", "request_id", call->request_id.base, "error",
                  short_db_error(&call->req->pool, res, err).base, NULL);
        send_error(call->req, call->request_id, res == NULL ? 503 : 500, res == NULL ? "unavailable" : "internal",
                   res == NULL ? "service unavailable" : "internal server error", NULL);
        return 0;
    }
    len = (size_t)PQgetlength(res, 0, 0);
    copy = h2o_mem_alloc(len);
    memcpy(copy, PQgetvalue(res, 0, 0), len);
    pthread_mutex_lock(&openapi_mutex);
    /* kept unless the routes were loaded again while it was generated */
    if (self->routes_seen == __atomic_load_n(&routes_loaded, __ATOMIC_ACQUIRE)) {
        old = openapi.body;
        openapi.body = copy;
        openapi.len = len;
        openapi.made_at = h2o_now(call->worker->ctx.loop);
        openapi.routes_seen = self->routes_seen;
        copy = NULL;
    }
    pthread_mutex_unlock(&openapi_mutex);
    free(old);
    send_response(call->req, call->request_id, 200, h2o_strdup(&call->req->pool, PQgetvalue(res, 0, 0), len), 1);
    free(copy);
    return 0;
}

static void serve_openapi(worker_t *w, h2o_req_t *req, h2o_iovec_t request_id)
{
    unsigned seen = __atomic_load_n(&routes_loaded, __ATOMIC_ACQUIRE);
    uint64_t now = h2o_now(w->ctx.loop);
    h2o_iovec_t kept = {NULL, 0};
    openapi_call_t *call;
    db_query_t *q;

    pthread_mutex_lock(&openapi_mutex);
    /* (made_at comes from another thread's loop clock: it may be a little ahead of this one) */
    if (openapi.body != NULL && openapi.routes_seen == seen && (now < openapi.made_at || now - openapi.made_at < OPENAPI_MAX_AGE_MS))
        kept = h2o_strdup(&req->pool, openapi.body, openapi.len);
    pthread_mutex_unlock(&openapi_mutex);
    if (kept.base != NULL) {
        send_response(req, request_id, 200, kept, 1);
        return;
    }
    call = (openapi_call_t *)call_new(w, req, request_id, sizeof(*call), on_openapi_result);
    call->routes_seen = seen;
    call->super.route_path = reqctx_of(request_id)->route;
    if (w->slow.size != 0)
        call->super.pool = &w->slow;
    q = call_query_new(&call->super, DB_QUERY_SQL);
    q->sql = "SELECT workon.openapi()";
    call_submit(&call->super, q);
}

static void serve_docs(worker_t *w, h2o_req_t *req, h2o_iovec_t request_id)
{
    (void)w;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, "Content-Type", H2O_STRLIT("text/html; charset=utf-8"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("content-security-policy"), 0, "Content-Security-Policy",
                          H2O_STRLIT(OPENAPI_DOCS_CSP));
    send_response(req, request_id, 200, h2o_iovec_init(openapi_docs_html, strlen(openapi_docs_html)), 0);
}

/* ------------------------------------------------------------------------ */

static const probe_t probes[] = {
    {"/healthz", PROBE_ALWAYS, serve_healthz},
    {"/readyz", 0, serve_readyz},
    {"/api/health", 0, serve_api_health},
    {"/api/v1/health", 0, serve_v1_health},
    {"/metrics", 0, serve_metrics},
    {"/api/v1/openapi.json", PROBE_DOCS, serve_openapi},
    {"/docs", PROBE_DOCS, serve_docs},
};

static int on_probe_req(h2o_handler_t *_self, h2o_req_t *req)
{
    const probe_t *probe = ((probe_handler_t *)_self)->probe;
    h2o_iovec_t request_id, path;

    if (http_begin(req, &request_id, &path) != 0)
        return 0;
    if (!h2o_memis(path.base, path.len, probe->path, strlen(probe->path))) {
        http_serve_api(req, request_id, path);
        return 0;
    }
    if ((probe->flags & PROBE_ALWAYS) == 0 && http_overloaded(req, request_id))
        return 0;
    reqctx_of(request_id)->route = probe->path;
    if ((probe->flags & PROBE_DOCS) != 0 && docs_hidden()) {
        send_error(req, request_id, 404, "not_found", "not found", NULL);
        return 0;
    }
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) &&
        !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"))) {
        send_method_not_allowed(req, request_id, h2o_iovec_init(H2O_STRLIT("GET, HEAD")));
        return 0;
    }
    probe->serve((worker_t *)req->conn->ctx, req, request_id);
    return 0;
}

void probes_register(h2o_hostconf_t *hostconf)
{
    size_t i;

    for (i = 0; i != sizeof(probes) / sizeof(probes[0]); ++i) {
        h2o_pathconf_t *pathconf = h2o_config_register_path(hostconf, probes[i].path, 0);
        probe_handler_t *handler = (void *)h2o_create_handler(pathconf, sizeof(*handler));
        handler->super.on_req = on_probe_req;
        handler->probe = probes + i;
        respond_register_filter(pathconf);
    }
}
