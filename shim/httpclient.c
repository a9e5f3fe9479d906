/*
 * Outbound HTTP requests on a worker's event loop (h2o's http1client, http
 * or https), shared by the outbox's transports (stripe.c).
 *
 * A transport's requests go to one origin, parsed at start from its base URL:
 * https uses TLS 1.2 or later against the system's CA store (SSL_CERT_FILE /
 * SSL_CERT_DIR can replace it), and the certificate must name the origin's
 * host.  One request per connection: the request line (the base path, then
 * the request's path), Host, the transport's header lines, Content-Length,
 * User-Agent and `Connection: close`, then the body.  The whole exchange
 * (name lookup, connect, TLS, request, answer) is bounded by the origin's
 * timeout.  The answer (status, headers, body of at most HTTPCLIENT_MAX_RESPONSE
 * bytes) or a one-line error goes to the caller's callback, exactly once
 * unless the request is cancelled.
 *
 * The header lines may carry a secret (an API key): they are written to the
 * socket and never logged, nor part of an error.
 */
#include "shim.h"
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HTTPCLIENT_MAX_RESPONSE (1024 * 1024)
#define MAX_ORIGINS 8

struct st_httpclient_t {
    worker_t *worker;
    h2o_mem_pool_t pool;
    h2o_http1client_t *client;
    const httpclient_origin_t *origin;
    h2o_timeout_entry_t deadline;
    h2o_timeout_entry_t start;
    h2o_iovec_t reqbufs[2];
    h2o_buffer_t *body;
    httpclient_response_t res;
    httpclient_cb cb;
    void *data;
};

/* the origins of the transports, registered at start */
static const httpclient_origin_t *origins[MAX_ORIGINS];
static size_t num_origins;

/* per thread and origin: the client context and its timeout */
static __thread struct {
    h2o_http1client_ctx_t ctx;
    h2o_timeout_t timeout;
} contexts[MAX_ORIGINS];

const char *httpclient_parse_base(const char *value, h2o_url_t *url)
{
    size_t len = strlen(value), i;

    for (i = 0; i != len; ++i)
        if ((unsigned char)value[i] <= 0x20 || value[i] == 0x7f)
            return "must be an http:// or https:// URL without spaces";
    if (h2o_url_parse(value, len, url) != 0 || url->host.len == 0)
        return "must be an http:// or https:// URL";
    if (memchr(url->path.base, '?', url->path.len) != NULL || memchr(url->path.base, '#', url->path.len) != NULL)
        return "must not have a query or fragment";
    /* request paths begin with '/': drop a trailing one from the base */
    while (url->path.len != 0 && url->path.base[url->path.len - 1] == '/')
        --url->path.len;
    return NULL;
}

static SSL_CTX *new_ssl_ctx(h2o_iovec_t host)
{
    SSL_CTX *ssl_ctx = SSL_CTX_new(TLS_client_method());
    X509_VERIFY_PARAM *param;
    char *name;

    if (ssl_ctx == NULL)
        h2o_fatal("SSL_CTX_new failed");
    name = h2o_strdup(NULL, host.base, host.len).base;
    param = SSL_CTX_get0_param(ssl_ctx);
    SSL_CTX_set_min_proto_version(ssl_ctx, TLS1_2_VERSION);
    SSL_CTX_set_default_verify_paths(ssl_ctx);
    SSL_CTX_set_verify(ssl_ctx, SSL_VERIFY_PEER, NULL);
    /* the one host every call goes to: OpenSSL checks the certificate names it (or its address) */
    if (X509_VERIFY_PARAM_set1_ip_asc(param, name) != 1 && X509_VERIFY_PARAM_set1_host(param, name, 0) != 1)
        h2o_fatal("cannot set the TLS host name to verify");
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    free(name);
    return ssl_ctx;
}

void httpclient_origin_init(httpclient_origin_t *origin, const char *base, uint64_t timeout_ms)
{
    memset(origin, 0, sizeof(*origin));
    if (httpclient_parse_base(base, &origin->url) != NULL)
        h2o_fatal("a base URL was not validated");
    if (origin->url.scheme == &H2O_URL_SCHEME_HTTPS)
        origin->ssl_ctx = new_ssl_ctx(origin->url.host);
    origin->timeout_ms = timeout_ms;
    if (num_origins == MAX_ORIGINS)
        h2o_fatal("too many outbound origins");
    origin->index = num_origins;
    origins[num_origins++] = origin;
}

void httpclient_worker_init(worker_t *w)
{
    size_t i;

    for (i = 0; i != num_origins; ++i) {
        h2o_timeout_init(w->ctx.loop, &contexts[i].timeout, origins[i]->timeout_ms);
        contexts[i].ctx.loop = w->ctx.loop;
        contexts[i].ctx.getaddr_receiver = &w->ctx.receivers.hostinfo_getaddr;
        contexts[i].ctx.io_timeout = &contexts[i].timeout;
        contexts[i].ctx.websocket_timeout = NULL;
        contexts[i].ctx.ssl_ctx = origins[i]->ssl_ctx;
    }
}

int httpclient_is_token_text(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s != '\0'; ++s)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
            return 0;
    return 1;
}

/* ------------------------------------------------------------------------ */

static void client_free(httpclient_t *c)
{
    if (h2o_timeout_is_linked(&c->deadline))
        h2o_timeout_unlink(&c->deadline);
    if (h2o_timeout_is_linked(&c->start))
        h2o_timeout_unlink(&c->start);
    if (c->body != NULL)
        h2o_buffer_dispose(&c->body);
    h2o_mem_clear_pool(&c->pool);
    free(c);
}

/* reports to the caller and frees; the client is gone or being closed by h2o */
static void client_done(httpclient_t *c, const char *err)
{
    c->client = NULL;
    if (err == NULL) {
        if (c->body != NULL)
            c->res.body = h2o_iovec_init(c->body->bytes, c->body->size);
        c->cb(c->data, &c->res, NULL);
    } else {
        c->cb(c->data, NULL, err);
    }
    client_free(c);
}

static void on_deadline(h2o_timeout_entry_t *entry)
{
    httpclient_t *c = H2O_STRUCT_FROM_MEMBER(httpclient_t, deadline, entry);

    if (c->client != NULL)
        h2o_http1client_cancel(c->client);
    client_done(c, "timed out");
}

static int on_body(h2o_http1client_t *client, const char *errstr)
{
    httpclient_t *c = client->data;
    h2o_buffer_t *input = client->sock != NULL ? client->sock->input : NULL;

    if (errstr != NULL && errstr != h2o_http1client_error_is_eos) {
        client_done(c, errstr);
        return -1;
    }
    if (input != NULL && input->size != 0) {
        if ((c->body != NULL ? c->body->size : 0) + input->size > HTTPCLIENT_MAX_RESPONSE) {
            if (errstr == NULL) {
                client_done(c, "response too large");
                return -1;
            }
        } else {
            h2o_iovec_t dst;
            if (c->body == NULL)
                h2o_buffer_init(&c->body, &h2o_socket_buffer_prototype);
            dst = h2o_buffer_reserve(&c->body, input->size);
            memcpy(dst.base, input->bytes, input->size);
            c->body->size += input->size;
        }
        h2o_buffer_consume(&client->sock->input, input->size);
    }
    if (errstr == h2o_http1client_error_is_eos)
        client_done(c, NULL);
    return 0;
}

static h2o_http1client_body_cb on_head(h2o_http1client_t *client, const char *errstr, int minor_version, int status,
                                       h2o_iovec_t msg, h2o_header_t *headers, size_t num_headers, int rlen)
{
    httpclient_t *c = client->data;
    size_t i;

    (void)minor_version;
    (void)msg;
    (void)rlen;
    if (errstr != NULL && errstr != h2o_http1client_error_is_eos) {
        client_done(c, errstr);
        return NULL;
    }
    c->res.status = status;
    /* kept for the callback, names in lower case */
    for (i = 0; i != num_headers; ++i) {
        h2o_iovec_t name = h2o_strdup(&c->pool, headers[i].name->base, headers[i].name->len),
                    value = h2o_strdup(&c->pool, headers[i].value.base, headers[i].value.len);
        h2o_strtolower(name.base, name.len);
        h2o_add_header_by_str(&c->pool, &c->res.headers, name.base, name.len, 0, NULL, value.base, value.len);
    }
    if (errstr == h2o_http1client_error_is_eos) {
        client_done(c, NULL);
        return NULL;
    }
    return on_body;
}

static h2o_http1client_head_cb on_connect(h2o_http1client_t *client, const char *errstr, h2o_iovec_t **reqbufs, size_t *reqbufcnt,
                                          int *method_is_head)
{
    httpclient_t *c = client->data;

    if (errstr != NULL) {
        client_done(c, errstr);
        return NULL;
    }
    *reqbufs = c->reqbufs;
    *reqbufcnt = c->reqbufs[1].len != 0 ? 2 : 1;
    *method_is_head = 0;
    return on_head;
}

static void on_start(h2o_timeout_entry_t *entry)
{
    httpclient_t *c = H2O_STRUCT_FROM_MEMBER(httpclient_t, start, entry);
    const h2o_url_t *url = &c->origin->url;

    h2o_http1client_connect(&c->client, c, &contexts[c->origin->index].ctx, url->host, h2o_url_get_port(url),
                            url->scheme == &H2O_URL_SCHEME_HTTPS, on_connect);
}

httpclient_t *httpclient_send(worker_t *w, const httpclient_request_t *req, httpclient_cb cb, void *data, const char **err)
{
    const h2o_url_t *url = &req->origin->url;
    httpclient_t *c;
    strbuf_t head;

    if (!httpclient_is_token_text(req->method) || !httpclient_is_token_text(req->path) || req->path[0] != '/') {
        *err = "method or path contains characters not allowed in a request head";
        return NULL;
    }
    if ((c = malloc(sizeof(*c))) == NULL)
        h2o_fatal("no memory");
    memset(c, 0, sizeof(*c));
    c->worker = w;
    h2o_mem_init_pool(&c->pool);
    c->origin = req->origin;
    c->cb = cb;
    c->data = data;
    c->deadline.cb = on_deadline;

    strbuf_init(&head, &c->pool, 256 + strlen(req->path) + url->path.len + req->headers.len);
    strbuf_printf(&head, "%s %.*s%s HTTP/1.1\r\nHost: %.*s\r\n", req->method, (int)url->path.len, url->path.base, req->path,
                  (int)url->authority.len, url->authority.base);
    strbuf_add(&head, req->headers.base, req->headers.len);
    strbuf_printf(&head,
                  "Content-Length: %zu\r\n"
                  "User-Agent: " SHIM_NAME "/" SHIM_VERSION "\r\n"
                  "Connection: close\r\n\r\n",
                  req->body.len);
    c->reqbufs[0] = strbuf_finish(&head);
    if (req->body.len != 0)
        c->reqbufs[1] = req->borrow_body ? req->body : h2o_strdup(&c->pool, req->body.base, req->body.len);

    /* connected from the loop: the callback never runs before httpclient_send returns */
    c->start.cb = on_start;
    h2o_timeout_link(w->ctx.loop, &w->ctx.zero_timeout, &c->start);
    h2o_timeout_link(w->ctx.loop, &contexts[c->origin->index].timeout, &c->deadline);
    return c;
}

void httpclient_cancel(httpclient_t *c)
{
    if (c->client != NULL)
        h2o_http1client_cancel(c->client);
    c->client = NULL;
    client_free(c);
}
