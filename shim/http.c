/*
 * Request handling: health endpoints, route matching, building the one
 * workon.dispatch call per API request, and turning its result (or its
 * PostgreSQL error) into the response.  Also rewrites the error responses
 * that h2o generates itself (413 on an oversized body, 400 on a broken
 * request body, ...) into the API's JSON error shape.
 *
 * A handler that needs an outbound call answered first (202 with
 * X-Workon-Outbox, the row committed) makes the request wait for outbox.c to
 * perform it; the client gets what the database makes of the answer.  A
 * transaction rolled back by a deadlock or a serialization failure is run
 * again.
 *
 * Every response carries X-Request-Id and a Content-Length, and is observed
 * once (access log line, metrics).  The edge of the API is hooked in here
 * from its own files: CORS (cors.c), rate limits (ratelimit.c), metrics
 * (metrics.c), the OpenAPI document and docs page (openapi.c).
 */
#include "shim.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#define JSON_CONTENT_TYPE "application/json; charset=utf-8"
#define REQUEST_ID_MAX 128
/* a request whose transaction hit a deadlock or a serialization failure is run again */
#define MAX_TXN_RETRIES 2

/* every response generated here uses this generator; the error filter leaves those alone */
static h2o_generator_t shim_generator = {NULL, NULL};

enum {
    CALL_API = 0,
    CALL_READYZ,
    CALL_API_HEALTH,
    CALL_V1_HEALTH,
    CALL_OPENAPI,
};

/*
 * What is known of a request beyond h2o's view of it.  The request id lives
 * inside it, so every function that has the request id (they all do) finds
 * the rest with reqctx_of().
 */
typedef struct st_reqctx_t {
    const char *route;  /* route template (or fixed path) for logs and metrics; NULL: none matched */
    char user_id[40];   /* the caller's id when known, else "" */
    ratelimit_client_t client;
    int observed;
    char method[16]; /* a copy, for a request that ends without a response */
    char id[REQUEST_ID_MAX + 1];
} reqctx_t;

#define reqctx_of(request_id) ((reqctx_t *)((request_id).base - offsetof(reqctx_t, id)))

typedef struct st_call_t {
    h2o_req_t *req;
    worker_t *worker;
    db_query_t *query;
    h2o_timeout_entry_t timeout;
    h2o_iovec_t request_id;
    int kind;
    int route_status;
    int had_token;
    const char *route_path;
    char handler_oid[24];
    struct timespec started;
    /* the dispatch arguments, kept to run the request again */
    const char *args[6];
    int body_len;
    /* waiting for an outbound request (202 + X-Workon-Outbox) */
    outbox_job_t *outbox;
    int outbox_waits;
    int txn_retries;
} call_t;

/* ------------------------------------------------------------------------ */
/* responses */

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 307:
        return "Temporary Redirect";
    case 308:
        return "Permanent Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 402:
        return "Payment Required";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 406:
        return "Not Acceptable";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 417:
        return "Expectation Failed";
    case 422:
        return "Unprocessable Entity";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return status < 300 ? "OK" : status < 400 ? "Redirect" : status < 500 ? "Client Error" : "Server Error";
    }
}

static int is_head(h2o_req_t *req)
{
    return h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"));
}

static int valid_request_id(const char *s, size_t len)
{
    size_t i;

    if (len == 0 || len > REQUEST_ID_MAX)
        return 0;
    for (i = 0; i != len; ++i) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* the client's X-Request-Id when acceptable, else 32 random hex digits; NUL-terminated, inside a new reqctx_t */
static h2o_iovec_t make_request_id(worker_t *w, h2o_req_t *req)
{
    static const char hex[] = "0123456789abcdef";
    ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-request-id"), -1);
    reqctx_t *rc = h2o_mem_alloc_pool(&req->pool, sizeof(*rc));
    char *buf = rc->id;
    int k;

    memset(rc, 0, offsetof(reqctx_t, id));
    memcpy(rc->method, req->method.base, req->method.len < sizeof(rc->method) - 1 ? req->method.len : sizeof(rc->method) - 1);
    if (i != -1) {
        h2o_iovec_t v = req->headers.entries[i].value;
        if (valid_request_id(v.base, v.len)) {
            memcpy(buf, v.base, v.len);
            buf[v.len] = '\0';
            return h2o_iovec_init(buf, v.len);
        }
    }
    for (k = 0; k != 2; ++k) {
        uint64_t r = worker_random(w);
        int j;
        for (j = 0; j != 16; ++j) {
            buf[k * 16 + j] = hex[r & 15];
            r >>= 4;
        }
    }
    buf[32] = '\0';
    return h2o_iovec_init(buf, 32);
}

/* the access line and the metrics of a response, once per request */
static void observe(h2o_req_t *req, h2o_iovec_t request_id, int status)
{
    reqctx_t *rc = reqctx_of(request_id);
    worker_t *w = (worker_t *)req->conn->ctx;
    struct timeval now;
    double ms = 0;

    if (rc->observed)
        return;
    rc->observed = 1;
    gettimeofday(&now, NULL);
    if (req->timestamps.request_begin_at.tv_sec != 0)
        ms = (now.tv_sec - req->timestamps.request_begin_at.tv_sec) * 1000.0 +
             (now.tv_usec - req->timestamps.request_begin_at.tv_usec) / 1000.0;
    log_request(request_id.base, req->method, rc->route, status, ms, rc->user_id[0] != '\0' ? rc->user_id : NULL);
    metrics_observe(w->metrics, req->method, rc->route, status, ms);
}

static void add_request_id(h2o_req_t *req, h2o_iovec_t request_id)
{
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-request-id"), 0, "X-Request-Id", request_id.base,
                          request_id.len);
}

/* sends status + body (body.base == NULL: no body); headers already added stay */
static void send_response(h2o_req_t *req, h2o_iovec_t request_id, int status, h2o_iovec_t body, int add_content_type)
{
    req->res.status = status;
    req->res.reason = reason_phrase(status);
    add_request_id(req, request_id);
    if (body.base != NULL) {
        if (add_content_type)
            h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, "Content-Type", H2O_STRLIT(JSON_CONTENT_TYPE));
        req->res.content_length = body.len;
    } else if (status != 204 && status != 304) {
        req->res.content_length = 0;
    }
    cors_add_headers(req);
    observe(req, request_id, status);
    h2o_start_response(req, &shim_generator);
    if (body.base == NULL || body.len == 0 || is_head(req))
        h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
    else
        h2o_send(req, &body, 1, H2O_SEND_STATE_FINAL);
}

static h2o_iovec_t error_body(h2o_mem_pool_t *pool, const char *code, const char *message, const char *field)
{
    strbuf_t sb;

    strbuf_init(&sb, pool, 96 + strlen(message) * 2);
    strbuf_lit(&sb, "{\"error\":{\"code\":");
    strbuf_add_cstr_json(&sb, code);
    strbuf_lit(&sb, ",\"message\":");
    strbuf_add_cstr_json(&sb, message);
    if (field != NULL) {
        strbuf_lit(&sb, ",\"details\":{\"field\":");
        strbuf_add_cstr_json(&sb, field);
        strbuf_lit(&sb, "}}}");
    } else {
        strbuf_lit(&sb, ",\"details\":{}}}");
    }
    return strbuf_finish(&sb);
}

static void send_error(h2o_req_t *req, h2o_iovec_t request_id, int status, const char *code, const char *message, const char *field)
{
    if (status == 503)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, "Retry-After", H2O_STRLIT("1"));
    send_response(req, request_id, status, error_body(&req->pool, code, message, field), 1);
}

static void send_unavailable(h2o_req_t *req, h2o_iovec_t request_id)
{
    send_error(req, request_id, 503, "unavailable", "service unavailable", NULL);
}

static void send_method_not_allowed(h2o_req_t *req, h2o_iovec_t request_id, h2o_iovec_t allow)
{
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, "Allow", allow.base, allow.len);
    send_error(req, request_id, 405, "method_not_allowed", "method not allowed", NULL);
}

/* ------------------------------------------------------------------------ */
/* h2o's own error responses (sent before or outside the handler) */

typedef struct st_error_ostream_t {
    h2o_ostream_t super;
    h2o_iovec_t body;
} error_ostream_t;

static void on_error_ostream_send(h2o_ostream_t *_self, h2o_req_t *req, h2o_iovec_t *bufs, size_t bufcnt, h2o_send_state_t state)
{
    error_ostream_t *self = (void *)_self;

    if (h2o_send_state_is_in_progress(state)) {
        /* h2o sends its error bodies in one piece; anything else passes untouched */
        h2o_ostream_send_next(&self->super, req, bufs, bufcnt, state);
        return;
    }
    if (is_head(req) || bufcnt == 0)
        h2o_ostream_send_next(&self->super, req, NULL, 0, state);
    else
        h2o_ostream_send_next(&self->super, req, &self->body, 1, state);
}

static void status_error_code(int status, const char **code, const char **message)
{
    switch (status) {
    case 400:
        *code = "validation_failed";
        *message = "malformed request";
        break;
    case 403:
        *code = "forbidden";
        *message = "forbidden";
        break;
    case 404:
        *code = "not_found";
        *message = "not found";
        break;
    case 405:
        *code = "method_not_allowed";
        *message = "method not allowed";
        break;
    case 413:
        *code = "payload_too_large";
        *message = "request body too large";
        break;
    case 415:
        *code = "unsupported_media_type";
        *message = "unsupported media type";
        break;
    case 417:
        *code = "expectation_failed";
        *message = "expectation failed";
        break;
    case 502:
    case 503:
    case 504:
        *code = "unavailable";
        *message = "service unavailable";
        break;
    default:
        if (status >= 500) {
            *code = "internal";
            *message = "internal server error";
        } else {
            *code = "validation_failed";
            *message = "bad request";
        }
        break;
    }
}

static void on_setup_error_ostream(h2o_filter_t *self, h2o_req_t *req, h2o_ostream_t **slot)
{
    (void)self;
    if (req->_generator != &shim_generator && req->res.status >= 400) {
        worker_t *w = (worker_t *)req->conn->ctx;
        h2o_iovec_t request_id = make_request_id(w, req);
        const char *code, *message;
        error_ostream_t *ostr;

        status_error_code(req->res.status, &code, &message);
        ostr = (void *)h2o_add_ostream(req, sizeof(*ostr), slot);
        ostr->super.do_send = on_error_ostream_send;
        ostr->body = error_body(&req->pool, code, message, NULL);
        h2o_set_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, H2O_STRLIT(JSON_CONTENT_TYPE), 1);
        add_request_id(req, request_id);
        req->res.content_length = ostr->body.len;
        cors_add_headers(req);
        observe(req, request_id, req->res.status);
        slot = &ostr->super.next;
    }
    h2o_setup_next_ostream(req, slot);
}

/* ------------------------------------------------------------------------ */
/* per-request database call */

static void on_call_dispose(void *p)
{
    call_t *call = p;

    if (call->query != NULL) {
        pool_query_detach(&call->worker->pool, call->query);
        call->query = NULL;
    }
    if (call->outbox != NULL) {
        outbox_detach(call->outbox);
        call->outbox = NULL;
    }
    if (h2o_timeout_is_linked(&call->timeout))
        h2o_timeout_unlink(&call->timeout);
    --call->worker->active_requests;
    if (call->request_id.base != NULL) {
        /* the client went away before its answer (HTTP/2 reset, closed connection): logged and counted as 499 */
        reqctx_t *rc = reqctx_of(call->request_id);
        if (!rc->observed) {
            struct timespec now;
            double ms;
            rc->observed = 1;
            clock_gettime(CLOCK_MONOTONIC, &now);
            ms = (now.tv_sec - call->started.tv_sec) * 1000.0 + (now.tv_nsec - call->started.tv_nsec) / 1e6;
            log_request(rc->id, h2o_iovec_init(rc->method, strlen(rc->method)), rc->route, 499, ms,
                        rc->user_id[0] != '\0' ? rc->user_id : NULL);
            metrics_observe(call->worker->metrics, h2o_iovec_init(rc->method, strlen(rc->method)), rc->route, 499, ms);
        }
    }
}

static void on_call_timeout(h2o_timeout_entry_t *entry)
{
    call_t *call = H2O_STRUCT_FROM_MEMBER(call_t, timeout, entry);

    if (call->query != NULL) {
        pool_query_detach(&call->worker->pool, call->query);
        call->query = NULL;
    }
    if (call->outbox != NULL) {
        outbox_detach(call->outbox);
        call->outbox = NULL;
    }
    log_write(LOG_WARN, "request timed out waiting for the database", "request_id", call->request_id.base, "route",
              call->route_path, NULL);
    metrics_count(call->worker->metrics, METRIC_TIMEOUTS);
    send_unavailable(call->req, call->request_id);
}

static int on_call_result(void *owner, PGresult *res, const char *err);

/*
 * HTTP/1 stops reading a connection while its request is being served, so a
 * client that hung up is only noticed when the response is written.  Before a
 * query that had to wait is sent, the socket is peeked: EOF or an error means
 * nobody is waiting for the answer.  (HTTP/2 resets dispose of the request.)
 */
static int is_client_gone(void *owner)
{
    call_t *call = owner;
    h2o_req_t *req = call->req;
    h2o_socket_t *sock;
    char c;
    ssize_t r;

    if (req->version >= 0x200 || req->conn->callbacks->get_socket == NULL ||
        (sock = req->conn->callbacks->get_socket(req->conn)) == NULL)
        return 0;
    r = recv(h2o_socket_get_fd(sock), &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

static call_t *call_new(worker_t *w, h2o_req_t *req, h2o_iovec_t request_id, int kind)
{
    call_t *call = h2o_mem_alloc_shared(&req->pool, sizeof(*call), on_call_dispose);

    memset(call, 0, sizeof(*call));
    call->req = req;
    call->worker = w;
    call->request_id = request_id;
    call->kind = kind;
    call->timeout.cb = on_call_timeout;
    clock_gettime(CLOCK_MONOTONIC, &call->started);
    ++w->active_requests;
    return call;
}

/* during an outage every request fails the same way: one line per second per thread */
static void log_unavailable(call_t *call, const char *why)
{
    static __thread uint64_t last_at, suppressed;
    uint64_t now = h2o_now(call->worker->ctx.loop);
    char n[24];

    metrics_count(call->worker->metrics, METRIC_DB_ERRORS);
    if (last_at != 0 && now - last_at < 1000) {
        ++suppressed;
        return;
    }
    snprintf(n, sizeof(n), "%llu", (unsigned long long)suppressed);
    log_write(LOG_WARN, "database unavailable, answering 503", "request_id", call->request_id.base, "route", call->route_path,
              "reason", why, "#similar_before", n, NULL);
    last_at = now;
    suppressed = 0;
}

/* queues the call's query; answers 503 at once when the database is out of reach */
static void call_submit(call_t *call, db_query_t *q)
{
    worker_t *w = call->worker;

    if (pool_submit(&w->pool, q) != 0) {
        pool_query_detach(&w->pool, q);
        if (call->kind == CALL_API) {
            log_unavailable(call, "no database connection");
            send_unavailable(call->req, call->request_id);
        } else {
            on_call_result(call, NULL, "no database connection");
        }
        return;
    }
    call->query = q;
    h2o_timeout_link(w->ctx.loop, &w->request_timeout, &call->timeout);
}

static double call_elapsed_ms(call_t *call)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - call->started.tv_sec) * 1000.0 + (now.tv_nsec - call->started.tv_nsec) / 1e6;
}

/* ------------------------------------------------------------------------ */
/* health */

static h2o_iovec_t short_db_error(h2o_mem_pool_t *pool, PGresult *res, const char *err)
{
    char buf[96];

    if (res == NULL)
        return h2o_strdup(pool, err != NULL ? "database unreachable" : "no result", SIZE_MAX);
    if (PQresultStatus(res) == PGRES_FATAL_ERROR) {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        snprintf(buf, sizeof(buf), "query failed (SQLSTATE %s)", state != NULL ? state : "unknown");
        return h2o_strdup(pool, buf, SIZE_MAX);
    }
    return h2o_strdup(pool, "unexpected result", SIZE_MAX);
}

static int health_ok(PGresult *res)
{
    return res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0);
}

static void respond_readyz(call_t *call, PGresult *res, const char *err)
{
    h2o_req_t *req = call->req;
    strbuf_t sb;

    if (health_ok(res)) {
        static const char body[] = "{\"status\":\"ready\",\"checks\":{\"database\":{\"status\":\"ok\"}}}";
        send_response(req, call->request_id, 200, h2o_iovec_init(body, sizeof(body) - 1), 1);
        return;
    }
    strbuf_init(&sb, &req->pool, 128);
    strbuf_lit(&sb, "{\"status\":\"not_ready\",\"checks\":{\"database\":{\"status\":\"error\",\"error\":");
    strbuf_add_cstr_json(&sb, short_db_error(&req->pool, res, err).base);
    strbuf_lit(&sb, "}}}");
    send_response(req, call->request_id, 503, strbuf_finish(&sb), 1);
}

static void respond_api_health(call_t *call, PGresult *res, const char *err)
{
    h2o_req_t *req = call->req;
    strbuf_t sb;
    char ts[40];
    struct timeval now;

    strbuf_init(&sb, &req->pool, 128);
    if (health_ok(res)) {
        gettimeofday(&now, NULL);
        log_format_time(ts, &now, 1);
        strbuf_lit(&sb, "{\"status\":\"healthy\",\"timestamp\":\"");
        strbuf_add(&sb, ts, strlen(ts));
        strbuf_lit(&sb, "\",\"service\":\"" SHIM_SERVICE "\"}");
        send_response(req, call->request_id, 200, strbuf_finish(&sb), 1);
        return;
    }
    strbuf_lit(&sb, "{\"status\":\"unhealthy\",\"error\":");
    strbuf_add_cstr_json(&sb, short_db_error(&req->pool, res, err).base);
    strbuf_lit(&sb, "}");
    send_response(req, call->request_id, 503, strbuf_finish(&sb), 1);
}

static void respond_v1_health(call_t *call, PGresult *res, const char *err)
{
    h2o_req_t *req = call->req;
    worker_t *w = call->worker;
    struct timeval now;
    strbuf_t sb;
    int ok = health_ok(res), status = 200;
    const char *inner = NULL;
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
    strbuf_init(&sb, &req->pool, 512);
    strbuf_printf(&sb, "{\"status\":\"%s\",\"service\":\"" SHIM_SERVICE "\",\"version\":\"" SHIM_VERSION "\",\"environment\":",
                  ok && w->routes != NULL && w->pool.num_ready == w->pool.size ? "ok" : "degraded");
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
    send_response(req, call->request_id, status, strbuf_finish(&sb), 1);
}

/* ------------------------------------------------------------------------ */
/* API results */

typedef struct st_header_sink_t {
    h2o_req_t *req;
    reqctx_t *rc;
    int has_content_type;
    h2o_iovec_t outbox_id; /* X-Workon-Outbox: the shim's, never sent */
} header_sink_t;

/* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" to 16 bytes; -1 if it is not a UUID */
static int parse_uuid(h2o_iovec_t s, uint8_t out[16])
{
    size_t i, n = 0;

    if (s.len != 36)
        return -1;
    for (i = 0; i != 36; ++i) {
        int v, c = (unsigned char)s.base[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return -1;
            continue;
        }
        if (c >= '0' && c <= '9')
            v = c - '0';
        else if (c >= 'a' && c <= 'f')
            v = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v = c - 'A' + 10;
        else
            return -1;
        if (n % 2 == 0)
            out[n / 2] = (uint8_t)(v << 4);
        else
            out[n / 2] |= (uint8_t)v;
        ++n;
    }
    return 0;
}

/* X-Workon-User: whose token it was, said by workon.dispatch; never sent to the client */
static void on_workon_user(reqctx_t *rc, h2o_iovec_t value)
{
    uint8_t user[16];

    if (parse_uuid(value, user) != 0)
        return;
    memcpy(rc->user_id, value.base, value.len);
    rc->user_id[value.len] = '\0';
    ratelimit_learn(&rc->client, user);
}

static int valid_header_name(const char *s, size_t len)
{
    size_t i;

    if (len == 0)
        return 0;
    for (i = 0; i != len; ++i) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || strchr("!#$%&'*+-.^_`|~", c) != NULL))
            return 0;
    }
    return 1;
}

static void on_handler_header(void *data, h2o_iovec_t key, h2o_iovec_t value)
{
    header_sink_t *sink = data;
    size_t i;

    h2o_strtolower(key.base, key.len);
    if (!valid_header_name(key.base, key.len))
        return;
    if (h2o_memis(key.base, key.len, H2O_STRLIT("x-workon-user"))) {
        on_workon_user(sink->rc, value);
        return;
    }
    for (i = 0; i != value.len; ++i)
        if (value.base[i] == '\r' || value.base[i] == '\n' || value.base[i] == '\0')
            return;
    /* framing is ours */
    if (h2o_memis(key.base, key.len, H2O_STRLIT("content-length")) ||
        h2o_memis(key.base, key.len, H2O_STRLIT("transfer-encoding")) || h2o_memis(key.base, key.len, H2O_STRLIT("connection")) ||
        h2o_memis(key.base, key.len, H2O_STRLIT("x-request-id")))
        return;
    if (h2o_memis(key.base, key.len, H2O_STRLIT("x-workon-outbox"))) {
        sink->outbox_id = value;
        return;
    }
    if (h2o_memis(key.base, key.len, H2O_STRLIT("content-type")))
        sink->has_content_type = 1;
    h2o_add_header_by_str(&sink->req->pool, &sink->req->res.headers, key.base, key.len, 1, NULL, value.base, value.len);
}

static void respond_db_error(call_t *call, PGresult *res)
{
    h2o_req_t *req = call->req;
    worker_t *w = call->worker;
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const error_rule_t *rule = error_map_lookup(&w->errors, state);
    int status = rule != NULL ? rule->status : 500;
    const char *code = rule != NULL ? rule->code : "internal";

    if (status >= 500) {
        const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
        metrics_count(w->metrics, METRIC_DB_ERRORS);
        log_write(status == 503 ? LOG_WARN : LOG_ERROR, "database error", "request_id", call->request_id.base, "route",
                  call->route_path, "sqlstate", state, "error", msg != NULL ? msg : PQresultErrorMessage(res), NULL);
        send_error(req, call->request_id, status, code, status == 503 ? "service unavailable" : "internal server error", NULL);
        return;
    }
    if (status == 401)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, "WWW-Authenticate",
                       call->had_token ? "Bearer error=\"invalid_token\"" : "Bearer",
                       call->had_token ? sizeof("Bearer error=\"invalid_token\"") - 1 : sizeof("Bearer") - 1);
    {
        const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY), *column = PQresultErrorField(res, PG_DIAG_COLUMN_NAME);
        if (log_enabled(LOG_DEBUG))
            log_write(LOG_DEBUG, "request refused by the database", "request_id", call->request_id.base, "sqlstate", state, "error",
                      msg, NULL);
        send_error(req, call->request_id, status, code, msg != NULL ? msg : code, column);
    }
}

static void on_result_dispose(void *p)
{
    PQclear(*(PGresult **)p);
}

static int call_wait_outbox(call_t *call, h2o_iovec_t id, size_t num_headers);
static void call_dispatch(call_t *call);

/* 40001 / 40P01: the transaction was rolled back as a whole, running it again is safe */
static int is_retryable_txn_error(PGresult *res)
{
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    return state != NULL && (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0);
}

/* returns 1 when the response body points into res (kept until the request is gone) */
static int respond_api(call_t *call, PGresult *res, const char *err)
{
    h2o_req_t *req = call->req;
    int status;
    h2o_iovec_t body = {NULL, 0};
    header_sink_t sink = {req, reqctx_of(call->request_id), 0, {NULL, 0}};
    size_t num_headers = req->res.headers.size; /* before the handler's */

    if (res == NULL && err == pool_err_abandoned) {
        /* nobody reads this answer: logged and counted as 499, like a client that leaves later */
        if (log_enabled(LOG_DEBUG))
            log_write(LOG_DEBUG, "client went away before its query was sent", "request_id", call->request_id.base, NULL);
        observe(req, call->request_id, 499);
        send_unavailable(req, call->request_id);
        return 0;
    }
    if (res == NULL) {
        log_unavailable(call, err);
        send_unavailable(req, call->request_id);
        return 0;
    }
    if (PQresultStatus(res) == PGRES_FATAL_ERROR) {
        if (call->args[0] != NULL && call->txn_retries < MAX_TXN_RETRIES && is_retryable_txn_error(res)) {
            ++call->txn_retries;
            if (log_enabled(LOG_DEBUG))
                log_write(LOG_DEBUG, "transaction rolled back by a conflict, running it again", "request_id",
                          call->request_id.base, "route", call->route_path, "sqlstate", PQresultErrorField(res, PG_DIAG_SQLSTATE),
                          NULL);
            call_dispatch(call);
            return 0;
        }
        respond_db_error(call, res);
        return 0;
    }
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 || PQnfields(res) != 3) {
        log_write(LOG_ERROR, "workon.dispatch returned an unexpected result", "request_id", call->request_id.base, "route",
                  call->route_path, "status", PQresStatus(PQresultStatus(res)), NULL);
        send_error(req, call->request_id, 500, "internal", "internal server error", NULL);
        return 0;
    }

    if (PQgetisnull(res, 0, 0)) {
        status = call->route_status;
        if (PQgetisnull(res, 0, 2) && status == 200)
            status = 204;
    } else {
        status = atoi(PQgetvalue(res, 0, 0));
        if (status < 100 || status > 599) {
            log_write(LOG_ERROR, "handler set an invalid status", "request_id", call->request_id.base, "route", call->route_path,
                      "status", PQgetvalue(res, 0, 0), NULL);
            send_error(req, call->request_id, 500, "internal", "internal server error", NULL);
            return 0;
        }
    }
    if (!PQgetisnull(res, 0, 1)) {
        const char *headers = PQgetvalue(res, 0, 1);
        if (json_each_string_member(headers, (size_t)PQgetlength(res, 0, 1), &req->pool, on_handler_header, &sink) != 0)
            log_write(LOG_WARN, "handler headers are not a JSON object of strings", "request_id", call->request_id.base, "route",
                      call->route_path, NULL);
    }
    if (sink.outbox_id.base != NULL && status == 202)
        return call_wait_outbox(call, sink.outbox_id, num_headers);
    if (!PQgetisnull(res, 0, 2) && status != 204 && status != 304) {
        /* no copy: the body is sent from the result, which lives as long as the request */
        PGresult **holder = h2o_mem_alloc_shared(&req->pool, sizeof(*holder), on_result_dispose);
        *holder = res;
        body = h2o_iovec_init(PQgetvalue(res, 0, 2), (size_t)PQgetlength(res, 0, 2));
        send_response(req, call->request_id, status, body, !sink.has_content_type);
        return 1;
    }
    send_response(req, call->request_id, status, body, !sink.has_content_type);
    return 0;
}

static void respond_openapi(call_t *call, PGresult *res, const char *err);

static int on_call_result(void *owner, PGresult *res, const char *err)
{
    call_t *call = owner;

    call->query = NULL;
    if (h2o_timeout_is_linked(&call->timeout))
        h2o_timeout_unlink(&call->timeout);
    switch (call->kind) {
    case CALL_API:
        return respond_api(call, res, err);
    case CALL_READYZ:
        respond_readyz(call, res, err);
        break;
    case CALL_API_HEALTH:
        respond_api_health(call, res, err);
        break;
    case CALL_V1_HEALTH:
        respond_v1_health(call, res, err);
        break;
    case CALL_OPENAPI:
        respond_openapi(call, res, err);
        break;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* request parsing */

typedef struct st_query_pair_t {
    h2o_iovec_t key;
    h2o_iovec_t value;
    size_t index;
} query_pair_t;

static int compare_pairs(const void *x, const void *y)
{
    const query_pair_t *a = x, *b = y;
    size_t n = a->key.len < b->key.len ? a->key.len : b->key.len;
    int c = memcmp(a->key.base, b->key.base, n);

    if (c != 0)
        return c;
    if (a->key.len != b->key.len)
        return a->key.len < b->key.len ? -1 : 1;
    return a->index < b->index ? -1 : 1;
}

/* the query string as a JSON object of strings, last value wins; -1 with *bad_field on bad encoding */
static int build_query_json(h2o_mem_pool_t *pool, const char *s, size_t len, h2o_iovec_t *out, const char **bad_field)
{
    query_pair_t *pairs;
    size_t num_pairs = 0, cap = 1, i, total = 0;
    const char *p = s, *end = s + len;
    strbuf_t sb;

    for (i = 0; i != len; ++i)
        if (s[i] == '&')
            ++cap;
    pairs = h2o_mem_alloc_pool(pool, sizeof(*pairs) * cap);
    while (p < end) {
        const char *amp = memchr(p, '&', end - p), *eq;
        query_pair_t *pair;
        if (amp == NULL)
            amp = end;
        if (amp == p) {
            p = amp + 1;
            continue;
        }
        eq = memchr(p, '=', amp - p);
        pair = pairs + num_pairs;
        pair->key.base = h2o_mem_alloc_pool(pool, (eq != NULL ? eq : amp) - p + 1);
        if (url_decode(pair->key.base, &pair->key.len, p, (eq != NULL ? eq : amp) - p, 1) != 0) {
            char *raw = h2o_strdup(pool, p, (eq != NULL ? eq : amp) - p).base;
            *bad_field = raw;
            return -1;
        }
        pair->key.base[pair->key.len] = '\0';
        if (eq != NULL) {
            pair->value.base = h2o_mem_alloc_pool(pool, amp - eq);
            if (url_decode(pair->value.base, &pair->value.len, eq + 1, amp - eq - 1, 1) != 0) {
                *bad_field = pair->key.base;
                return -1;
            }
        } else {
            pair->value = h2o_iovec_init("", 0);
        }
        pair->index = num_pairs++;
        total += pair->key.len + pair->value.len;
        p = amp + 1;
    }
    if (num_pairs == 0) {
        *out = h2o_iovec_init("{}", 2);
        return 0;
    }
    if (num_pairs > 1)
        qsort(pairs, num_pairs, sizeof(*pairs), compare_pairs);
    strbuf_init(&sb, pool, json_escaped_max(total) + num_pairs * 6 + 8);
    strbuf_lit(&sb, "{");
    for (i = 0; i != num_pairs; ++i) {
        if (i + 1 != num_pairs && h2o_memis(pairs[i].key.base, pairs[i].key.len, pairs[i + 1].key.base, pairs[i + 1].key.len))
            continue; /* a later value of the same key wins */
        if (sb.len != 1)
            strbuf_lit(&sb, ",");
        strbuf_add_json_string(&sb, pairs[i].key.base, pairs[i].key.len);
        strbuf_lit(&sb, ":");
        strbuf_add_json_string(&sb, pairs[i].value.base, pairs[i].value.len);
    }
    strbuf_lit(&sb, "}");
    *out = strbuf_finish(&sb);
    return 0;
}

static h2o_iovec_t trim(const char *s, size_t len)
{
    while (len != 0 && (*s == ' ' || *s == '\t')) {
        ++s;
        --len;
    }
    while (len != 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        --len;
    return h2o_iovec_init(s, len);
}

/* application/json, optionally with parameters; a charset other than UTF-8 is refused */
static int is_json_content_type(h2o_iovec_t v)
{
    const char *p = v.base, *end = v.base + v.len, *semi = memchr(p, ';', v.len);
    h2o_iovec_t type = trim(p, (semi != NULL ? semi : end) - p);

    if (!h2o_lcstris(type.base, type.len, H2O_STRLIT("application/json")))
        return 0;
    while (semi != NULL) {
        const char *param = semi + 1, *eq;
        h2o_iovec_t name, value;
        semi = memchr(param, ';', end - param);
        eq = memchr(param, '=', (semi != NULL ? semi : end) - param);
        if (eq == NULL)
            continue;
        name = trim(param, eq - param);
        value = trim(eq + 1, (semi != NULL ? semi : end) - eq - 1);
        if (value.len >= 2 && value.base[0] == '"' && value.base[value.len - 1] == '"') {
            ++value.base;
            value.len -= 2;
        }
        if (h2o_lcstris(name.base, name.len, H2O_STRLIT("charset")) && !h2o_lcstris(value.base, value.len, H2O_STRLIT("utf-8")) &&
            !h2o_lcstris(value.base, value.len, H2O_STRLIT("utf8")))
            return 0;
    }
    return 1;
}

static h2o_iovec_t build_params_json(h2o_mem_pool_t *pool, const route_t *route, const h2o_iovec_t *values)
{
    strbuf_t sb;
    size_t i, total = 0;

    if (route->num_params == 0)
        return h2o_iovec_init("{}", 2);
    for (i = 0; i != route->num_params; ++i)
        total += strlen(route->param_names[i]) + values[i].len;
    strbuf_init(&sb, pool, json_escaped_max(total) + route->num_params * 6 + 8);
    strbuf_lit(&sb, "{");
    for (i = 0; i != route->num_params; ++i) {
        if (i != 0)
            strbuf_lit(&sb, ",");
        strbuf_add_cstr_json(&sb, route->param_names[i]);
        strbuf_lit(&sb, ":");
        strbuf_add_json_string(&sb, values[i].base, values[i].len);
    }
    strbuf_lit(&sb, "}");
    return strbuf_finish(&sb);
}

/* request headers handed to handlers in meta.headers (lower-case names); a webhook verifies its signature */
static const char *const meta_headers[] = {"stripe-signature"};

static void add_meta_headers(strbuf_t *sb, h2o_req_t *req)
{
    size_t i, n = 0;

    strbuf_lit(sb, ",\"headers\":{");
    for (i = 0; i != sizeof(meta_headers) / sizeof(meta_headers[0]); ++i) {
        ssize_t at = h2o_find_header_by_str(&req->headers, meta_headers[i], strlen(meta_headers[i]), -1);
        if (at == -1)
            continue;
        if (n++ != 0)
            strbuf_lit(sb, ",");
        strbuf_add_cstr_json(sb, meta_headers[i]);
        strbuf_lit(sb, ":");
        strbuf_add_json_string(sb, req->headers.entries[at].value.base, req->headers.entries[at].value.len);
    }
    strbuf_lit(sb, "}");
}

static h2o_iovec_t build_meta_json(h2o_req_t *req, h2o_iovec_t request_id, h2o_iovec_t path)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    char ip[NI_MAXHOST];
    size_t iplen = SIZE_MAX;
    ssize_t ua = h2o_find_header(&req->headers, H2O_TOKEN_USER_AGENT, -1);
    strbuf_t sb;

    if ((sslen = req->conn->callbacks->get_peername(req->conn, (void *)&ss)) != 0)
        iplen = h2o_socket_getnumerichost((void *)&ss, sslen, ip);
    strbuf_init(&sb, &req->pool,
                128 + json_escaped_max(path.len) + (ua != -1 ? json_escaped_max(req->headers.entries[ua].value.len) : 0));
    strbuf_lit(&sb, "{\"request_id\":");
    strbuf_add_json_string(&sb, request_id.base, request_id.len);
    strbuf_lit(&sb, ",\"method\":");
    strbuf_add_json_string(&sb, req->method.base, req->method.len);
    strbuf_lit(&sb, ",\"path\":");
    strbuf_add_json_string(&sb, path.base, path.len);
    strbuf_lit(&sb, ",\"ip\":");
    if (iplen != SIZE_MAX)
        strbuf_add_json_string(&sb, ip, iplen);
    else
        strbuf_lit(&sb, "null");
    strbuf_lit(&sb, ",\"user_agent\":");
    if (ua != -1)
        strbuf_add_json_string(&sb, req->headers.entries[ua].value.base, req->headers.entries[ua].value.len);
    else
        strbuf_lit(&sb, "null");
    add_meta_headers(&sb, req);
    strbuf_lit(&sb, "}");
    return strbuf_finish(&sb);
}

/* Authorization: Bearer <token>; *other_scheme when another scheme was sent */
static const char *bearer_token(h2o_req_t *req, int *sent)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    h2o_iovec_t v, token;

    *sent = 0;
    if (i == -1)
        return NULL;
    v = trim(req->headers.entries[i].value.base, req->headers.entries[i].value.len);
    if (v.len < 6 || !h2o_lcstris(v.base, 6, H2O_STRLIT("bearer")) || (v.len > 6 && v.base[6] != ' ' && v.base[6] != '\t'))
        return NULL;
    token = trim(v.base + 6, v.len - 6);
    *sent = 1;
    return h2o_strdup(&req->pool, token.base, token.len).base;
}

/* sends (again) the call's workon.dispatch */
static void call_dispatch(call_t *call)
{
    db_query_t *q = pool_query_new(&call->worker->pool, DB_QUERY_DISPATCH, on_call_result, call);

    memcpy(q->values, call->args, sizeof(call->args));
    q->lengths[3] = call->body_len;
    q->formats[3] = 1; /* binary text: no copy, the server still checks the encoding */
    q->abandoned = is_client_gone;
    call_submit(call, q);
}

/* ------------------------------------------------------------------------ */
/* requests that wait for an outbound call (outbox.c) */

/* the row someone else finished, or what outbox_result / outbox_error answered */
static int on_outbox_result(void *owner, PGresult *res, const char *err)
{
    call_t *call = owner;

    call->outbox = NULL;
    if (h2o_timeout_is_linked(&call->timeout))
        h2o_timeout_unlink(&call->timeout);
    if (res == NULL && err == outbox_err_not_claimed && call->outbox_waits < 2) {
        /* handlers are idempotent: the request now finds the finished row */
        call_dispatch(call);
        return 0;
    }
    if (res == NULL && err == outbox_err_not_claimed)
        err = "outbox row finished elsewhere twice";
    return respond_api(call, res, err);
}

/*
 * The handler committed an outbox row and answered 202 + X-Workon-Outbox:
 * send it, then answer.  num_headers: the response headers before the
 * handler's, which the final answer replaces with its own.
 */
static int call_wait_outbox(call_t *call, h2o_iovec_t id, size_t num_headers)
{
    h2o_req_t *req = call->req;
    size_t i;

    req->res.headers.size = num_headers;
    for (i = 0; i != id.len; ++i)
        if (id.base[i] < '0' || id.base[i] > '9')
            break;
    if (id.len == 0 || id.len > 19 || i != id.len) {
        log_write(LOG_ERROR, "handler set an invalid X-Workon-Outbox", "request_id", call->request_id.base, "route",
                  call->route_path, NULL);
        send_error(req, call->request_id, 500, "internal", "internal server error", NULL);
        return 0;
    }
    if (!stripe_configured()) {
        /* the row stays pending: it is sent once the shim runs with a key */
        log_write(LOG_WARN, "payment request without STRIPE_SECRET_KEY, answering 503", "request_id", call->request_id.base,
                  "route", call->route_path, NULL);
        send_error(req, call->request_id, 503, "payments_not_configured", "payments are not configured on this server", NULL);
        return 0;
    }
    if (++call->outbox_waits > 2) {
        log_write(LOG_ERROR, "handler asked to wait for an outbound request a third time", "request_id", call->request_id.base,
                  "route", call->route_path, NULL);
        send_unavailable(req, call->request_id);
        return 0;
    }
    call->outbox = outbox_wait(call->worker, h2o_strdup(&req->pool, id.base, id.len).base, call->request_id.base,
                               on_outbox_result, call);
    if (call->outbox != NULL)
        h2o_timeout_link(call->worker->ctx.loop, &call->worker->request_timeout, &call->timeout);
    return 0;
}

static void handle_api(worker_t *w, h2o_req_t *req, h2o_iovec_t request_id, h2o_iovec_t path, const route_match_t *m)
{
    const route_t *route = m->route;
    h2o_iovec_t params, query = {"{}", 2}, meta, body = {NULL, 0};
    const char *bad_field = NULL, *token;
    int had_token;
    call_t *call;

    if (m->invalid_param != NULL) {
        send_error(req, request_id, 400, "validation_failed", "path parameter is not valid percent-encoded UTF-8",
                   m->invalid_param);
        return;
    }
    if (req->query_at != SIZE_MAX && build_query_json(&req->pool, req->path.base + req->query_at + 1,
                                                      req->path.len - req->query_at - 1, &query, &bad_field) != 0) {
        send_error(req, request_id, 400, "validation_failed", "query parameter is not valid percent-encoded UTF-8", bad_field);
        return;
    }
    if (route->body_mode != BODY_NONE && req->entity.base != NULL && req->entity.len != 0) {
        if (req->entity.len > shim_settings.max_body_bytes) {
            send_error(req, request_id, 413, "payload_too_large", "request body too large", NULL);
            return;
        }
        if (route->body_mode == BODY_JSON) {
            ssize_t ct = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
            if (ct == -1 || !is_json_content_type(req->headers.entries[ct].value)) {
                send_error(req, request_id, 415, "unsupported_media_type", "Content-Type must be application/json", NULL);
                return;
            }
            if (json_validate(req->entity.base, req->entity.len) != 0) {
                send_error(req, request_id, 400, "invalid_json", "request body is not valid JSON", NULL);
                return;
            }
        }
        body = req->entity;
    }
    params = build_params_json(&req->pool, route, m->values);
    token = bearer_token(req, &had_token);
    meta = build_meta_json(req, request_id, path);

    call = call_new(w, req, request_id, CALL_API);
    call->route_status = route->status;
    call->had_token = had_token;
    memcpy(call->handler_oid, route->handler_oid, sizeof(call->handler_oid));
    call->route_path = h2o_strdup(&req->pool, route->path, SIZE_MAX).base;
    reqctx_of(request_id)->route = call->route_path;

    call->args[0] = call->handler_oid;
    call->args[1] = params.base;
    call->args[2] = query.base;
    call->args[3] = body.base;
    call->body_len = (int)body.len;
    call->args[4] = token;
    call->args[5] = meta.base;
    call_dispatch(call);
}

static void handle_health(worker_t *w, h2o_req_t *req, h2o_iovec_t request_id, int kind)
{
    call_t *call;
    db_query_t *q;

    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET"))) {
        send_method_not_allowed(req, request_id, h2o_iovec_init(H2O_STRLIT("GET")));
        return;
    }
    if (kind < 0) {
        static const char body[] = "{\"status\":\"ok\"}";
        send_response(req, request_id, 200, h2o_iovec_init(body, sizeof(body) - 1), 1);
        return;
    }
    call = call_new(w, req, request_id, kind);
    call->route_path = kind == CALL_READYZ ? "/readyz" : kind == CALL_API_HEALTH ? "/api/health" : "/api/v1/health";
    q = pool_query_new(&w->pool, DB_QUERY_SQL, on_call_result, call);
    q->sql = kind == CALL_V1_HEALTH ? "SELECT workon.health()" : "SELECT 1";
    call_submit(call, q);
}

/* ------------------------------------------------------------------------ */
/* the edge: metrics, docs, rate limits, caps */

static void handle_metrics(h2o_req_t *req, h2o_iovec_t request_id)
{
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET"))) {
        send_method_not_allowed(req, request_id, h2o_iovec_init(H2O_STRLIT("GET")));
        return;
    }
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, "Content-Type",
                   H2O_STRLIT("text/plain; version=0.0.4; charset=utf-8"));
    send_response(req, request_id, 200, metrics_render(&req->pool), 0);
}

/* GET /api/v1/openapi.json (workon.openapi(), generated from the route table) and GET /docs */
static void handle_docs(worker_t *w, h2o_req_t *req, h2o_iovec_t request_id, int html)
{
    call_t *call;
    db_query_t *q;

    if (strcmp(shim_settings.node_env, "production") == 0 && !shim_settings.enable_swagger_prod) {
        send_error(req, request_id, 404, "not_found", "not found", NULL);
        return;
    }
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET"))) {
        send_method_not_allowed(req, request_id, h2o_iovec_init(H2O_STRLIT("GET")));
        return;
    }
    if (html) {
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, "Content-Type", H2O_STRLIT("text/html; charset=utf-8"));
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("content-security-policy"), 0, "Content-Security-Policy",
                              H2O_STRLIT(OPENAPI_DOCS_CSP));
        send_response(req, request_id, 200, h2o_iovec_init(openapi_docs_html, strlen(openapi_docs_html)), 0);
        return;
    }
    call = call_new(w, req, request_id, CALL_OPENAPI);
    call->route_path = "/api/v1/openapi.json";
    q = pool_query_new(&w->pool, DB_QUERY_SQL, on_call_result, call);
    q->sql = "SELECT workon.openapi()";
    call_submit(call, q);
}

static void respond_openapi(call_t *call, PGresult *res, const char *err)
{
    if (!health_ok(res)) {
        log_write(LOG_ERROR, "workon.openapi() failed", "request_id", call->request_id.base, "error",
                  short_db_error(&call->req->pool, res, err).base, NULL);
        send_error(call->req, call->request_id, res == NULL ? 503 : 500, res == NULL ? "unavailable" : "internal",
                   res == NULL ? "service unavailable" : "internal server error", NULL);
        return;
    }
    send_response(call->req, call->request_id, 200,
                  h2o_strdup(&call->req->pool, PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0)), 1);
}

static void format_uuid(char *dst, const uint8_t u[16])
{
    static const char hex[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i != 16; ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *dst++ = '-';
        *dst++ = hex[u[i] >> 4];
        *dst++ = hex[u[i] & 15];
    }
    *dst = '\0';
}

/* counts the request against its client; answers 429 and returns 1 when it is over the limit */
static int rate_limited(worker_t *w, h2o_req_t *req, h2o_iovec_t request_id, h2o_iovec_t path)
{
    reqctx_t *rc = reqctx_of(request_id);
    int auth_route = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST")) &&
                     (h2o_memis(path.base, path.len, H2O_STRLIT("/api/v1/auth/login")) ||
                      h2o_memis(path.base, path.len, H2O_STRLIT("/api/v1/auth/register")));
    ratelimit_t r;

    ratelimit_identify(req, &rc->client);
    if (rc->client.user_known)
        format_uuid(rc->user_id, rc->client.user);
    if (ratelimit_check(req, &rc->client, auth_route, &r)) {
        ratelimit_add_headers(req, &r);
        metrics_count(w->metrics, METRIC_RATE_LIMITED);
        send_error(req, request_id, 429, "rate_limited", "too many requests, retry later", NULL);
        return 1;
    }
    ratelimit_add_headers(req, &r);
    return 0;
}

/* the Stripe webhooks are never rate limited (Stripe retries, and a signature is checked) */
static int is_webhook(h2o_iovec_t path)
{
    return h2o_memis(path.base, path.len, H2O_STRLIT("/api/webhooks/stripe")) ||
           h2o_memis(path.base, path.len, H2O_STRLIT("/api/v1/webhooks/stripe"));
}

/* request line and headers, as the client sent them (about) */
static size_t head_size(h2o_req_t *req)
{
    size_t i, n = req->method.len + req->path.len + 12;

    for (i = 0; i != req->headers.size; ++i)
        n += req->headers.entries[i].name->len + req->headers.entries[i].value.len + 4;
    return n;
}

static void route_request(worker_t *w, h2o_req_t *req, h2o_iovec_t request_id, h2o_iovec_t path);
static void await_routes(worker_t *w, h2o_req_t *req, h2o_iovec_t request_id, h2o_iovec_t path);

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    worker_t *w = (worker_t *)req->conn->ctx;
    h2o_iovec_t request_id = make_request_id(w, req);
    h2o_iovec_t path = h2o_iovec_init(req->path.base, req->query_at != SIZE_MAX ? req->query_at : req->path.len);
    reqctx_t *rc = reqctx_of(request_id);

    (void)self;
    if (head_size(req) > shim_settings.max_header_bytes) {
        send_error(req, request_id, 431, "headers_too_large", "request headers too large", NULL);
        return 0;
    }
    if (cors_is_preflight(req)) {
        cors_add_preflight_headers(req);
        send_response(req, request_id, 204, h2o_iovec_init(NULL, 0), 0);
        return 0;
    }
    if (h2o_memis(path.base, path.len, H2O_STRLIT("/healthz"))) {
        rc->route = "/healthz";
        handle_health(w, req, request_id, -1);
        return 0;
    }
    if (w->active_requests >= shim_settings.max_inflight) {
        metrics_count(w->metrics, METRIC_OVERLOADED);
        send_unavailable(req, request_id);
        return 0;
    }
    if (h2o_memis(path.base, path.len, H2O_STRLIT("/readyz"))) {
        rc->route = "/readyz";
        handle_health(w, req, request_id, CALL_READYZ);
        return 0;
    }
    if (h2o_memis(path.base, path.len, H2O_STRLIT("/api/health"))) {
        rc->route = "/api/health";
        handle_health(w, req, request_id, CALL_API_HEALTH);
        return 0;
    }
    if (h2o_memis(path.base, path.len, H2O_STRLIT("/api/v1/health"))) {
        rc->route = "/api/v1/health";
        handle_health(w, req, request_id, CALL_V1_HEALTH);
        return 0;
    }
    if (h2o_memis(path.base, path.len, H2O_STRLIT("/metrics"))) {
        rc->route = "/metrics";
        handle_metrics(req, request_id);
        return 0;
    }
    if (h2o_memis(path.base, path.len, H2O_STRLIT("/api/v1/openapi.json")) || h2o_memis(path.base, path.len, H2O_STRLIT("/docs"))) {
        rc->route = path.len == 5 ? "/docs" : "/api/v1/openapi.json";
        handle_docs(w, req, request_id, path.len == 5);
        return 0;
    }

    if (w->routes == NULL) {
        await_routes(w, req, request_id, path);
        return 0;
    }
    route_request(w, req, request_id, path);
    return 0;
}

/* the API part of on_req, once this thread has its route table */
static void route_request(worker_t *w, h2o_req_t *req, h2o_iovec_t request_id, h2o_iovec_t path)
{
    reqctx_t *rc = reqctx_of(request_id);
    route_match_t m;
    int found;

    found = route_table_match(w->routes, &req->pool, req->method.base, req->method.len, path.base, path.len, &m);
    if (found == ROUTE_FOUND)
        rc->route = m.route->path; /* the table outlives this function; handle_api keeps a copy */
    if (setting_read(rate_limit_enabled) && !is_webhook(path) && rate_limited(w, req, request_id, path))
        return;
    switch (found) {
    case ROUTE_FOUND:
        handle_api(w, req, request_id, path, &m);
        break;
    case ROUTE_NO_METHOD:
        send_method_not_allowed(req, request_id, m.allow);
        break;
    default:
        send_error(req, request_id, 404, "not_found", "not found", NULL);
        break;
    }
}

/*
 * Each thread loads its route table over its own LISTEN connection, a few
 * hundred milliseconds after start.  An API request that comes before that
 * waits for the table (at most ROUTES_WAIT_MS, and at most MAX_INFLIGHT of
 * them) instead of failing; while the database is known to be unreachable
 * it is 503 at once, as every request then is.
 */
#define ROUTES_WAIT_MS 5000

typedef struct st_awaiting_t {
    h2o_linklist_t link;
    worker_t *worker;
    h2o_req_t *req;
    h2o_iovec_t request_id;
    h2o_iovec_t path;
    uint64_t since;
} awaiting_t;

static void on_awaiting_dispose(void *p)
{
    awaiting_t *a = p;

    /* the client went away while waiting */
    if (h2o_linklist_is_linked(&a->link)) {
        h2o_linklist_unlink(&a->link);
        --a->worker->num_awaiting_routes;
    }
}

static awaiting_t *awaiting_pop(worker_t *w)
{
    awaiting_t *a = H2O_STRUCT_FROM_MEMBER(awaiting_t, link, w->awaiting_routes.next);

    h2o_linklist_unlink(&a->link);
    --w->num_awaiting_routes;
    return a;
}

static void on_awaiting_routes_timeout(h2o_timeout_entry_t *entry)
{
    worker_t *w = H2O_STRUCT_FROM_MEMBER(worker_t, awaiting_routes_timer, entry);
    uint64_t now = h2o_now(w->ctx.loop);

    while (!h2o_linklist_is_empty(&w->awaiting_routes)) {
        awaiting_t *a = H2O_STRUCT_FROM_MEMBER(awaiting_t, link, w->awaiting_routes.next);
        if (!w->pool.fail_fast && now - a->since < ROUTES_WAIT_MS)
            break; /* oldest first: the others are younger */
        awaiting_pop(w);
        send_unavailable(a->req, a->request_id);
    }
    if (!h2o_linklist_is_empty(&w->awaiting_routes))
        h2o_timeout_link(w->ctx.loop, &w->one_sec, &w->awaiting_routes_timer);
}

static void await_routes(worker_t *w, h2o_req_t *req, h2o_iovec_t request_id, h2o_iovec_t path)
{
    awaiting_t *a;

    if (w->pool.fail_fast || w->draining || w->num_awaiting_routes >= shim_settings.max_inflight) {
        send_unavailable(req, request_id);
        return;
    }
    a = h2o_mem_alloc_shared(&req->pool, sizeof(*a), on_awaiting_dispose);
    memset(a, 0, sizeof(*a)); /* an unlinked link */
    a->worker = w;
    a->req = req;
    a->request_id = request_id;
    a->path = path;
    a->since = h2o_now(w->ctx.loop);
    h2o_linklist_insert(&w->awaiting_routes, &a->link);
    ++w->num_awaiting_routes;
    if (!h2o_timeout_is_linked(&w->awaiting_routes_timer)) {
        w->awaiting_routes_timer.cb = on_awaiting_routes_timeout;
        h2o_timeout_link(w->ctx.loop, &w->one_sec, &w->awaiting_routes_timer);
    }
}

void http_on_routes_loaded(worker_t *w)
{
    if (w->routes == NULL)
        return;
    while (!h2o_linklist_is_empty(&w->awaiting_routes)) {
        awaiting_t *a = awaiting_pop(w);
        route_request(w, a->req, a->request_id, a->path);
    }
    if (h2o_timeout_is_linked(&w->awaiting_routes_timer))
        h2o_timeout_unlink(&w->awaiting_routes_timer);
}

void http_register(h2o_hostconf_t *hostconf)
{
    h2o_pathconf_t *pathconfs[2];
    size_t i;

    pathconfs[0] = h2o_config_register_path(hostconf, "/", 0);
    pathconfs[1] = &hostconf->fallback_path;
    for (i = 0; i != 2; ++i) {
        h2o_handler_t *handler = h2o_create_handler(pathconfs[i], sizeof(*handler));
        h2o_filter_t *filter = h2o_create_filter(pathconfs[i], sizeof(*filter));
        handler->on_req = on_req;
        filter->on_setup_ostream = on_setup_error_ostream;
    }
}
