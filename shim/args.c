/*
 * The arguments of an API request's workon.dispatch call, built from the
 * request and its route match:
 *
 *   params   the {name} segments of the route template, percent-decoded
 *   query    the query string as a JSON object of strings: '+' is a space,
 *            percent-decoding, the last value of a repeated key wins
 *   body     route mode none: ignored; raw: the bytes as text (the server
 *            checks the encoding); json: Content-Type application/json (a
 *            charset other than UTF-8 refused) and valid JSON.  Empty: NULL
 *   token    the bearer token of Authorization, NULL for another scheme; on a
 *            websocket route also ?access_token= (left out of query)
 *   meta     request id, method, path, client address, User-Agent, and the
 *            allowlisted request headers a handler may need (a webhook's
 *            signature)
 *
 * What cannot be passed on is answered here: 400 for a bad escape, invalid
 * UTF-8 or %00 in a path parameter or the query (naming it), 413 above
 * MAX_BODY_BYTES, 415 for a JSON route without a JSON content type, 400
 * invalid_json.
 */
#include "shim.h"
#include <stdlib.h>
#include <string.h>

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

/*
 * the query string as a JSON object of strings, last value wins; -1 with *bad_field on bad encoding.
 * A key named take (when not NULL) is left out and its value put in *taken.
 */
int args_query_json(h2o_mem_pool_t *pool, const char *s, size_t len, h2o_iovec_t *out, const char **bad_field, const char *take,
                    h2o_iovec_t *taken)
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
        p = amp + 1;
        if (take != NULL && h2o_memis(pair->key.base, pair->key.len, take, strlen(take))) {
            *taken = h2o_strdup(pool, pair->value.base, pair->value.len); /* NUL-terminated */
            continue;
        }
        pair->index = num_pairs++;
        total += pair->key.len + pair->value.len;
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

/*
 * request headers handed to handlers in meta.headers (lower-case names): a
 * webhook verifies its signature, workon.dispatch_idempotent reads the key,
 * the browser session routes read their refresh cookie, a file download its
 * conditional and range headers (it reads only the bytes asked for)
 */
static const char *const meta_headers[] = {"stripe-signature", "idempotency-key", "cookie", "if-none-match", "if-range", "range"};

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

    if ((sslen = client_address(req, &ss)) != 0)
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

/* Authorization: Bearer <token>; *sent when a bearer token was sent */
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

/* the body as passed on (base NULL: none); answers and returns -1 when it is refused */
static int take_body(h2o_req_t *req, h2o_iovec_t request_id, const route_t *route, h2o_iovec_t *body)
{
    *body = h2o_iovec_init(NULL, 0);
    if (route->body_mode == BODY_NONE || route->body_mode == BODY_WEBSOCKET || req->entity.base == NULL || req->entity.len == 0)
        return 0;
    /* h2o's own cap is the larger of the two (main.c) */
    if (req->entity.len > (route->body_mode == BODY_BYTES ? shim_settings.upload_max_bytes : shim_settings.max_body_bytes)) {
        send_error(req, request_id, 413, "payload_too_large", "request body too large", NULL);
        return -1;
    }
    if (route->body_mode == BODY_JSON) {
        ssize_t ct = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
        if (ct == -1 || !is_json_content_type(req->headers.entries[ct].value)) {
            send_error(req, request_id, 415, "unsupported_media_type", "Content-Type must be application/json", NULL);
            return -1;
        }
        if (json_validate(req->entity.base, req->entity.len) != 0) {
            send_error(req, request_id, 400, "invalid_json", "request body is not valid JSON", NULL);
            return -1;
        }
    }
    *body = req->entity;
    return 0;
}

int args_build(h2o_req_t *req, h2o_iovec_t request_id, h2o_iovec_t path, const route_match_t *m, dispatch_args_t *args)
{
    const char *bad_field = NULL;

    if (m->invalid_param != NULL) {
        send_error(req, request_id, 400, "validation_failed", "path parameter is not valid percent-encoded UTF-8",
                   m->invalid_param);
        return -1;
    }
    h2o_iovec_t query_token = {NULL, 0};
    int websocket = m->route->body_mode == BODY_WEBSOCKET;

    args->query = h2o_iovec_init("{}", 2);
    if (req->query_at != SIZE_MAX &&
        args_query_json(&req->pool, req->path.base + req->query_at + 1, req->path.len - req->query_at - 1, &args->query,
                         &bad_field, websocket ? "access_token" : NULL, &query_token) != 0) {
        send_error(req, request_id, 400, "validation_failed", "query parameter is not valid percent-encoded UTF-8", bad_field);
        return -1;
    }
    if (take_body(req, request_id, m->route, &args->body) != 0)
        return -1;
    args->params = build_params_json(&req->pool, m->route, m->values);
    args->token = bearer_token(req, &args->had_token);
    if (websocket && !args->had_token && query_token.base != NULL) {
        /* RFC 6750 2.3: browsers cannot set headers on a WebSocket */
        args->token = query_token.base;
        args->had_token = 1;
    }
    args->meta = build_meta_json(req, request_id, path);
    args->idempotent = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST")) &&
                       h2o_find_header_by_str(&req->headers, H2O_STRLIT("idempotency-key"), -1) != -1;
    return 0;
}
