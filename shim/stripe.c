/*
 * Outbound requests to Stripe's API on the worker's event loop (h2o's
 * http1client, http or https).
 *
 * One request per connection: `POST {STRIPE_API_BASE}{path}` with the
 * params form-encoded, `Authorization: Bearer <STRIPE_SECRET_KEY>`,
 * `Idempotency-Key`, `Stripe-Version`.  The whole exchange (name lookup,
 * connect, TLS, request, answer) is bounded by STRIPE_TIMEOUT_MS.  The answer
 * (status and body, at most STRIPE_MAX_RESPONSE bytes) or a one-line error
 * goes to the caller's callback, exactly once unless the request is
 * cancelled.
 *
 * The secret key only ever appears in the request head written to the
 * socket: it is never logged and never part of an error.
 */
#include "shim.h"
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STRIPE_VERSION "2024-06-20"
#define STRIPE_MAX_RESPONSE (1024 * 1024)

struct st_stripe_request_t {
    worker_t *worker;
    h2o_mem_pool_t pool;
    h2o_http1client_t *client;
    h2o_timeout_entry_t deadline;
    h2o_timeout_entry_t start;
    h2o_iovec_t reqbufs[2];
    h2o_buffer_t *body;
    int status;
    int should_retry; /* Stripe-Should-Retry: 1 true, 0 false, -1 absent */
    stripe_cb cb;
    void *data;
};

static h2o_url_t api_base;
static SSL_CTX *ssl_ctx;

/* per thread: the client context and the two timeouts */
static __thread h2o_http1client_ctx_t client_ctx;
static __thread h2o_timeout_t io_timeout, deadline_timeout;

int stripe_configured(void)
{
    return shim_settings.stripe_secret_key != NULL;
}

const char *stripe_parse_base(const char *value, h2o_url_t *url)
{
    size_t len = strlen(value), i;

    for (i = 0; i != len; ++i)
        if ((unsigned char)value[i] <= 0x20 || value[i] == 0x7f)
            return "must be an http:// or https:// URL without spaces";
    if (h2o_url_parse(value, len, url) != 0 || url->host.len == 0)
        return "must be an http:// or https:// URL";
    if (memchr(url->path.base, '?', url->path.len) != NULL || memchr(url->path.base, '#', url->path.len) != NULL)
        return "must not have a query or fragment";
    /* the outbox paths begin with '/': drop a trailing one from the base */
    while (url->path.len != 0 && url->path.base[url->path.len - 1] == '/')
        --url->path.len;
    return NULL;
}

void stripe_global_init(void)
{
    if (stripe_parse_base(shim_settings.stripe_api_base, &api_base) != NULL)
        h2o_fatal("STRIPE_API_BASE was not validated");
    if (api_base.scheme == &H2O_URL_SCHEME_HTTPS) {
        if ((ssl_ctx = SSL_CTX_new(TLS_client_method())) == NULL)
            h2o_fatal("SSL_CTX_new failed");
        char *host = h2o_strdup(NULL, api_base.host.base, api_base.host.len).base;
        X509_VERIFY_PARAM *param = SSL_CTX_get0_param(ssl_ctx);
        SSL_CTX_set_min_proto_version(ssl_ctx, TLS1_2_VERSION);
        SSL_CTX_set_default_verify_paths(ssl_ctx);
        SSL_CTX_set_verify(ssl_ctx, SSL_VERIFY_PEER, NULL);
        /* the one host every call goes to: OpenSSL checks the certificate names it (or its address) */
        if (X509_VERIFY_PARAM_set1_ip_asc(param, host) != 1 && X509_VERIFY_PARAM_set1_host(param, host, 0) != 1)
            h2o_fatal("cannot set the TLS host name to verify");
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        free(host);
    }
}

void stripe_worker_init(worker_t *w)
{
    h2o_timeout_init(w->ctx.loop, &io_timeout, shim_settings.stripe_timeout_ms);
    h2o_timeout_init(w->ctx.loop, &deadline_timeout, shim_settings.stripe_timeout_ms);
    client_ctx.loop = w->ctx.loop;
    client_ctx.getaddr_receiver = &w->ctx.receivers.hostinfo_getaddr;
    client_ctx.io_timeout = &io_timeout;
    client_ctx.websocket_timeout = NULL;
    client_ctx.ssl_ctx = ssl_ctx;
}

/* ------------------------------------------------------------------------ */

static void request_free(stripe_request_t *r)
{
    if (h2o_timeout_is_linked(&r->deadline))
        h2o_timeout_unlink(&r->deadline);
    if (h2o_timeout_is_linked(&r->start))
        h2o_timeout_unlink(&r->start);
    if (r->body != NULL)
        h2o_buffer_dispose(&r->body);
    h2o_mem_clear_pool(&r->pool);
    free(r);
}

/* reports to the caller and frees; the client is gone or being closed by h2o */
static void request_done(stripe_request_t *r, int status, const char *err)
{
    h2o_iovec_t body = {NULL, 0};

    r->client = NULL;
    if (err == NULL && r->body != NULL)
        body = h2o_iovec_init(r->body->bytes, r->body->size);
    r->cb(r->data, err == NULL ? status : 0, err == NULL ? body : h2o_iovec_init(NULL, 0), err == NULL ? r->should_retry : -1, err);
    request_free(r);
}

static void on_deadline(h2o_timeout_entry_t *entry)
{
    stripe_request_t *r = H2O_STRUCT_FROM_MEMBER(stripe_request_t, deadline, entry);

    if (r->client != NULL)
        h2o_http1client_cancel(r->client);
    request_done(r, 0, "timed out");
}

static int on_body(h2o_http1client_t *client, const char *errstr)
{
    stripe_request_t *r = client->data;
    h2o_buffer_t *input = client->sock != NULL ? client->sock->input : NULL;

    if (errstr != NULL && errstr != h2o_http1client_error_is_eos) {
        request_done(r, 0, errstr);
        return -1;
    }
    if (input != NULL && input->size != 0) {
        if ((r->body != NULL ? r->body->size : 0) + input->size > STRIPE_MAX_RESPONSE) {
            if (errstr == NULL) {
                request_done(r, 0, "response too large");
                return -1;
            }
        } else {
            h2o_iovec_t dst;
            if (r->body == NULL)
                h2o_buffer_init(&r->body, &h2o_socket_buffer_prototype);
            dst = h2o_buffer_reserve(&r->body, input->size);
            memcpy(dst.base, input->bytes, input->size);
            r->body->size += input->size;
        }
        h2o_buffer_consume(&client->sock->input, input->size);
    }
    if (errstr == h2o_http1client_error_is_eos)
        request_done(r, r->status, NULL);
    return 0;
}

static h2o_http1client_body_cb on_head(h2o_http1client_t *client, const char *errstr, int minor_version, int status,
                                       h2o_iovec_t msg, h2o_header_t *headers, size_t num_headers, int rlen)
{
    stripe_request_t *r = client->data;

    size_t i;

    (void)minor_version;
    (void)msg;
    (void)rlen;
    if (errstr != NULL && errstr != h2o_http1client_error_is_eos) {
        request_done(r, 0, errstr);
        return NULL;
    }
    r->status = status;
    for (i = 0; i != num_headers; ++i) {
        if (h2o_lcstris(headers[i].name->base, headers[i].name->len, H2O_STRLIT("stripe-should-retry")))
            r->should_retry = h2o_lcstris(headers[i].value.base, headers[i].value.len, H2O_STRLIT("true"));
    }
    if (errstr == h2o_http1client_error_is_eos) {
        request_done(r, status, NULL);
        return NULL;
    }
    return on_body;
}

static h2o_http1client_head_cb on_connect(h2o_http1client_t *client, const char *errstr, h2o_iovec_t **reqbufs, size_t *reqbufcnt,
                                          int *method_is_head)
{
    stripe_request_t *r = client->data;

    if (errstr != NULL) {
        request_done(r, 0, errstr);
        return NULL;
    }
    *reqbufs = r->reqbufs;
    *reqbufcnt = r->reqbufs[1].len != 0 ? 2 : 1;
    *method_is_head = 0;
    return on_head;
}

/* ------------------------------------------------------------------------ */
/* the request */

static int is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
           c == '~' || c == '[' || c == ']';
}

static void add_form_encoded(strbuf_t *sb, h2o_iovec_t s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t i;

    strbuf_reserve(sb, s.len * 3);
    for (i = 0; i != s.len; ++i) {
        unsigned char c = (unsigned char)s.base[i];
        if (is_unreserved(c)) {
            sb->base[sb->len++] = (char)c;
        } else {
            sb->base[sb->len++] = '%';
            sb->base[sb->len++] = hex[c >> 4];
            sb->base[sb->len++] = hex[c & 15];
        }
    }
}

static void on_form_member(void *data, h2o_iovec_t key, h2o_iovec_t value)
{
    strbuf_t *sb = data;

    if (sb->len != 0)
        strbuf_lit(sb, "&");
    add_form_encoded(sb, key);
    strbuf_lit(sb, "=");
    add_form_encoded(sb, value);
}

/* a header value or path we write ourselves: printable ASCII without spaces */
static int is_token_text(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s != '\0'; ++s)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
            return 0;
    return 1;
}

static void on_start(h2o_timeout_entry_t *entry)
{
    stripe_request_t *r = H2O_STRUCT_FROM_MEMBER(stripe_request_t, start, entry);

    h2o_http1client_connect(&r->client, r, &client_ctx, api_base.host, h2o_url_get_port(&api_base),
                            api_base.scheme == &H2O_URL_SCHEME_HTTPS, on_connect);
}

const char *stripe_form_encode(h2o_mem_pool_t *pool, const char *params, size_t len, h2o_iovec_t *out)
{
    strbuf_t sb;

    strbuf_init(&sb, pool, len * 3 + 16);
    if (json_each_string_member(params, len, pool, on_form_member, &sb) != 0)
        return "params are not a JSON object of strings";
    *out = strbuf_finish(&sb);
    return NULL;
}

stripe_request_t *stripe_send(worker_t *w, const char *method, const char *path, const char *params, size_t params_len,
                              const char *idempotency_key, stripe_cb cb, void *data, const char **err)
{
    stripe_request_t *r;
    h2o_iovec_t form;
    strbuf_t head;

    if (!stripe_configured()) {
        *err = "STRIPE_SECRET_KEY is not set";
        return NULL;
    }
    if (!is_token_text(method) || !is_token_text(path) || path[0] != '/' ||
        (idempotency_key != NULL && !is_token_text(idempotency_key))) {
        *err = "method, path or idempotency key contains characters not allowed in a request head";
        return NULL;
    }
    if ((r = malloc(sizeof(*r))) == NULL)
        h2o_fatal("no memory");
    memset(r, 0, sizeof(*r));
    r->worker = w;
    h2o_mem_init_pool(&r->pool);
    r->cb = cb;
    r->data = data;
    r->deadline.cb = on_deadline;
    r->should_retry = -1;
    if ((*err = stripe_form_encode(&r->pool, params, params_len, &form)) != NULL) {
        request_free(r);
        return NULL;
    }

    strbuf_init(&head, &r->pool, 512 + strlen(path) + api_base.path.len);
    strbuf_printf(&head, "%s %.*s%s HTTP/1.1\r\nHost: %.*s\r\n", method, (int)api_base.path.len, api_base.path.base, path,
                  (int)api_base.authority.len, api_base.authority.base);
    strbuf_lit(&head, "Authorization: Bearer ");
    strbuf_add(&head, shim_settings.stripe_secret_key, strlen(shim_settings.stripe_secret_key));
    strbuf_lit(&head, "\r\n");
    if (idempotency_key != NULL)
        strbuf_printf(&head, "Idempotency-Key: %s\r\n", idempotency_key);
    strbuf_printf(&head,
                  "Stripe-Version: " STRIPE_VERSION "\r\n"
                  "Content-Type: application/x-www-form-urlencoded\r\n"
                  "Content-Length: %zu\r\n"
                  "Accept: application/json\r\n"
                  "User-Agent: " SHIM_NAME "/" SHIM_VERSION "\r\n"
                  "Connection: close\r\n\r\n",
                  form.len);
    r->reqbufs[0] = strbuf_finish(&head);
    r->reqbufs[1] = form;

    /* connected from the loop: the callback never runs before stripe_send returns */
    r->start.cb = on_start;
    h2o_timeout_link(w->ctx.loop, &w->ctx.zero_timeout, &r->start);
    h2o_timeout_link(w->ctx.loop, &deadline_timeout, &r->deadline);
    return r;
}

void stripe_cancel(stripe_request_t *r)
{
    if (r->client != NULL)
        h2o_http1client_cancel(r->client);
    r->client = NULL;
    request_free(r);
}
