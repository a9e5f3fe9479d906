/*
 * The entry of every request: its id and context, the checks every request
 * passes first, and the path registrations.
 *
 * Paths are registered the way h2o's own handlers are: each probe (probes.c)
 * has a path registration of its own, and "/" (with the fallback for requests
 * without a usable path) goes to the API (api.c).  h2o picks a registration
 * by the normalised path, the handlers look at the path as it was sent: a
 * probe's registration that gets another path ("/healthz/x",
 * "/api/v1/../../healthz") hands it to the API like any other path.
 *
 * Every request first gets its request id (the client's X-Request-Id when it
 * is 1-128 characters of [A-Za-z0-9._-], else 32 random hex digits) inside a
 * small reqctx_t on its pool; then an HTTP/1 request framed two ways (framing.c)
 * is 400 with the connection closed, a head larger than MAX_HEADER_BYTES or of
 * more than MAX_HEADER_FIELDS fields is 431 and a CORS preflight is answered 204 (cors.c).  Past MAX_INFLIGHT requests
 * in progress, a thread answers 503 to everything but /healthz.  Every
 * response is observed once: the access line and the metrics.
 */
#include "shim.h"
#include <string.h>
#include <sys/time.h>

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

h2o_iovec_t http_request_id(worker_t *w, h2o_req_t *req)
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

void http_observe(h2o_req_t *req, h2o_iovec_t request_id, int status)
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
    if (log_enabled(LOG_INFO)) {
        struct sockaddr_storage ss;
        socklen_t sslen = client_address(req, &ss);
        char ip[NI_MAXHOST];
        int have_ip = sslen != 0 && h2o_socket_getnumerichost((void *)&ss, sslen, ip) != SIZE_MAX;
        log_request(request_id.base, req->method, rc->route, status, ms, rc->user_id[0] != '\0' ? rc->user_id : NULL,
                    have_ip ? ip : NULL);
    }
    metrics_observe(w->metrics, req->method, rc->route, rc->metrics, status, ms);
}

/* request line and headers, as the client sent them (about) */
static size_t head_size(h2o_req_t *req)
{
    size_t i, n = req->method.len + req->path.len + 12;

    for (i = 0; i != req->headers.size; ++i)
        n += req->headers.entries[i].name->len + req->headers.entries[i].value.len + 4;
    return n;
}

int http_begin(h2o_req_t *req, h2o_iovec_t *request_id, h2o_iovec_t *path)
{
    worker_t *w = (worker_t *)req->conn->ctx;
    const char *framing;

    *request_id = http_request_id(w, req);
    *path = h2o_iovec_init(req->path.base, req->query_at != SIZE_MAX ? req->query_at : req->path.len);
    if ((framing = framing_check_request(req)) != NULL) {
        /* RFC 9112: never served, and the connection is not read any further */
        req->http1_is_persistent = 0;
        framing_linger(req);
        send_error(req, *request_id, 400, "validation_failed", framing, NULL);
        return -1;
    }
    if (req->headers.size > MAX_HEADER_FIELDS || head_size(req) > shim_settings.max_header_bytes) {
        send_error(req, *request_id, 431, "headers_too_large", "request headers too large", NULL);
        return -1;
    }
    if (cors_is_preflight(req)) {
        cors_add_preflight_headers(req);
        send_response(req, *request_id, 204, h2o_iovec_init(NULL, 0), 0);
        return -1;
    }
    return 0;
}

int http_overloaded(h2o_req_t *req, h2o_iovec_t request_id)
{
    worker_t *w = (worker_t *)req->conn->ctx;

    if (w->active_requests < shim_settings.max_inflight)
        return 0;
    metrics_count(w->metrics, METRIC_OVERLOADED);
    send_unavailable(req, request_id);
    return 1;
}

void http_serve_api(h2o_req_t *req, h2o_iovec_t request_id, h2o_iovec_t path)
{
    if (http_overloaded(req, request_id))
        return;
    api_serve((worker_t *)req->conn->ctx, req, request_id, path);
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    h2o_iovec_t request_id, path;

    (void)self;
    if (http_begin(req, &request_id, &path) == 0)
        http_serve_api(req, request_id, path);
    return 0;
}

static void register_api(h2o_pathconf_t *pathconf)
{
    h2o_handler_t *handler;

    /* the web site's few paths first (web.c); it hands every other request on */
    web_register(pathconf);
    handler = h2o_create_handler(pathconf, sizeof(*handler));
    /* bodies are compressed when asked (Accept-Encoding: gzip): h2o's filter takes
       200s of a compressible type (JSON, HTML, text) from 1 KiB on, at a cheap level */
    h2o_compress_args_t compress = {.min_size = 1024, .gzip = {.quality = 1}, .brotli = {.quality = -1}};

    handler->on_req = on_req;
    respond_register_filter(pathconf);
    h2o_compress_register(pathconf, &compress);
}

void http_register(h2o_hostconf_t *hostconf)
{
    /* h2o takes the first registration whose path matches: the probes before "/" */
    probes_register(hostconf);
    register_api(h2o_config_register_path(hostconf, "/", 0));
    register_api(&hostconf->fallback_path);
}
