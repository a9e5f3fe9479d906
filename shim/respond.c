/*
 * Responses: every answer the shim makes goes out through send_response(),
 * which adds X-Request-Id, X-Content-Type-Options: nosniff, Cache-Control:
 * no-store for answers that may carry a secret (see add_security_headers), a
 * Content-Length and the CORS headers, observes the
 * request once (access line, metrics) and sends the body in one piece.  Error
 * answers have one JSON shape, {"error":{"code","message","details"}}, and a
 * 503 carries Retry-After: 1.
 *
 * The error responses h2o makes itself, before or outside a handler (413 for a
 * too large body, 400 for a broken Content-Length or chunked encoding, 417)
 * are rewritten by a filter into the same shape with a request id.
 */
#include "shim.h"
#include <string.h>

#define JSON_CONTENT_TYPE "application/json; charset=utf-8"

/* every response generated here uses this generator; the error filter leaves those alone */
static h2o_generator_t shim_generator = {NULL, NULL};

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
    case 426:
        return "Upgrade Required";
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

static void add_request_id(h2o_req_t *req, h2o_iovec_t request_id)
{
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-request-id"), 0, "X-Request-Id", request_id.base,
                          request_id.len);
}

static int has_response_header(h2o_req_t *req, const char *name, size_t len)
{
    return h2o_find_header_by_str(&req->res.headers, name, len, -1) != -1;
}

/*
 * nosniff on every answer; no-store, unless the handler chose its caching (a
 * file), on answers to a request with credentials (Authorization) and on
 * answers to writes (tokens, signed URLs, a user's data): only anonymous reads
 * may be kept by a cache, and a successful one says how: no-cache, kept but
 * checked again each time (its ETag makes that a 304).
 */
static void add_security_headers(h2o_req_t *req)
{
    if (!has_response_header(req, H2O_STRLIT("x-content-type-options")))
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-content-type-options"), 1, "X-Content-Type-Options",
                              H2O_STRLIT("nosniff"));
    if (has_response_header(req, H2O_STRLIT("cache-control")))
        return;
    if (h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1) != -1 ||
        !(is_head(req) || h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET"))))
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-store"));
    else if (req->res.status == 200 || req->res.status == 304)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-cache"));
}

void send_response(h2o_req_t *req, h2o_iovec_t request_id, int status, h2o_iovec_t body, int add_content_type)
{
    req->res.status = status;
    req->res.reason = reason_phrase(status);
    add_request_id(req, request_id);
    add_security_headers(req);
    if (body.base != NULL) {
        if (add_content_type)
            h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, "Content-Type", H2O_STRLIT(JSON_CONTENT_TYPE));
        req->res.content_length = body.len;
    } else if (status != 204 && status != 304) {
        req->res.content_length = 0;
    }
    cors_add_headers(req);
    http_observe(req, request_id, status);
    h2o_start_response(req, &shim_generator);
    if (body.base == NULL || body.len == 0 || is_head(req))
        h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
    else
        h2o_send(req, &body, 1, H2O_SEND_STATE_FINAL);
}

/* fields: NULL, or the JSON array of every invalid field ({"field", "message"}) */
static h2o_iovec_t error_body(h2o_mem_pool_t *pool, const char *code, const char *message, const char *field,
                              const char *fields)
{
    strbuf_t sb;

    strbuf_init(&sb, pool, 96 + strlen(message) * 2 + (fields != NULL ? strlen(fields) : 0));
    strbuf_lit(&sb, "{\"error\":{\"code\":");
    strbuf_add_cstr_json(&sb, code);
    strbuf_lit(&sb, ",\"message\":");
    strbuf_add_cstr_json(&sb, message);
    if (field != NULL) {
        strbuf_lit(&sb, ",\"details\":{\"field\":");
        strbuf_add_cstr_json(&sb, field);
        if (fields != NULL) {
            strbuf_lit(&sb, ",\"fields\":");
            strbuf_add(&sb, fields, strlen(fields));
        }
        strbuf_lit(&sb, "}}}");
    } else {
        strbuf_lit(&sb, ",\"details\":{}}}");
    }
    return strbuf_finish(&sb);
}

void send_error_fields(h2o_req_t *req, h2o_iovec_t request_id, int status, const char *code, const char *message,
                       const char *field, const char *fields)
{
    if (status == 503)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, "Retry-After", H2O_STRLIT("1"));
    send_response(req, request_id, status, error_body(&req->pool, code, message, field, fields), 1);
}

void send_error(h2o_req_t *req, h2o_iovec_t request_id, int status, const char *code, const char *message, const char *field)
{
    send_error_fields(req, request_id, status, code, message, field, NULL);
}

void send_unavailable(h2o_req_t *req, h2o_iovec_t request_id)
{
    send_error(req, request_id, 503, "unavailable", "service unavailable", NULL);
}

void send_method_not_allowed(h2o_req_t *req, h2o_iovec_t request_id, h2o_iovec_t allow)
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
        h2o_iovec_t request_id = http_request_id(w, req);
        const char *code, *message;
        error_ostream_t *ostr;

        status_error_code(req->res.status, &code, &message);
        ostr = (void *)h2o_add_ostream(req, sizeof(*ostr), slot);
        ostr->super.do_send = on_error_ostream_send;
        ostr->body = error_body(&req->pool, code, message, NULL, NULL);
        h2o_set_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, H2O_STRLIT(JSON_CONTENT_TYPE), 1);
        add_request_id(req, request_id);
        add_security_headers(req);
        req->res.content_length = ostr->body.len;
        cors_add_headers(req);
        http_observe(req, request_id, req->res.status);
        framing_linger(req);
        slot = &ostr->super.next;
    }
    h2o_setup_next_ostream(req, slot);
}

void respond_register_filter(h2o_pathconf_t *pathconf)
{
    h2o_filter_t *filter = h2o_create_filter(pathconf, sizeof(*filter));

    filter->on_setup_ostream = on_setup_error_ostream;
}
