/*
 * The Stripe transport: how an outbox row of kind 'stripe' becomes a request
 * to Stripe's API, and what Stripe's answer means (outbox.c does the rest).
 *
 * The request: `{method} {STRIPE_API_BASE}{path}` with the row's params (a
 * JSON object of strings) form-encoded in order, `Authorization: Bearer
 * <STRIPE_SECRET_KEY>`, the row's `Idempotency-Key` and `Stripe-Version`,
 * sent by the shared HTTP client (httpclient.c) within STRIPE_TIMEOUT_MS.  The
 * secret key only ever appears in that request head: never in the database, a
 * log line or an error.
 *
 * The answer: 2xx with JSON and 4xx are answers for workon.outbox_result (a
 * 4xx that is not JSON is handed on as an api_error); no answer, a 5xx, a
 * 429, a 3xx, a 2xx that cannot be read and a 4xx marked
 * `Stripe-Should-Retry: true` (a lock timeout, say) go to workon.outbox_error,
 * which schedules the retry.  A 409 `idempotency_key_in_use` (the same row
 * being sent by someone else right now) is asked again after a pause, up to
 * CONFLICT_RETRIES times: Stripe then replays the other send's answer.
 */
#include "shim.h"
#include <stdio.h>
#include <string.h>

#define STRIPE_VERSION "2024-06-20"
#define CONFLICT_RETRIES 8

static httpclient_origin_t api_origin;

static int stripe_configured(void)
{
    return shim_settings.stripe_secret_key != NULL;
}

static void stripe_init(void)
{
    httpclient_origin_init(&api_origin, shim_settings.stripe_api_base, shim_settings.stripe_timeout_ms);
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

static const char *stripe_build(const outbox_row_t *row, h2o_mem_pool_t *pool, httpclient_request_t *req)
{
    size_t params_len = strlen(row->params);
    strbuf_t form, head;

    if (!stripe_configured())
        return "STRIPE_SECRET_KEY is not set";
    if (row->idempotency_key != NULL && !httpclient_is_token_text(row->idempotency_key))
        return "idempotency key contains characters not allowed in a request head";
    strbuf_init(&form, pool, params_len * 3 + 16);
    if (json_each_string_member(row->params, params_len, pool, on_form_member, &form) != 0)
        return "params are not a JSON object of strings";

    strbuf_init(&head, pool, 256);
    strbuf_lit(&head, "Authorization: Bearer ");
    strbuf_add(&head, shim_settings.stripe_secret_key, strlen(shim_settings.stripe_secret_key));
    strbuf_lit(&head, "\r\n");
    if (row->idempotency_key != NULL)
        strbuf_printf(&head, "Idempotency-Key: %s\r\n", row->idempotency_key);
    strbuf_lit(&head, "Stripe-Version: " STRIPE_VERSION "\r\n"
                      "Content-Type: application/x-www-form-urlencoded\r\n"
                      "Accept: application/json\r\n");

    req->origin = &api_origin;
    req->method = row->method;
    req->path = row->path;
    req->headers = strbuf_finish(&head);
    req->body = strbuf_finish(&form);
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* the answer */

/* Stripe's error.code idempotency_key_in_use in an error body */
static int is_idempotency_conflict(h2o_iovec_t body)
{
    static const char needle[] = "idempotency_key_in_use";
    size_t n = sizeof(needle) - 1, i;

    for (i = 0; i + n <= body.len; ++i)
        if (memcmp(body.base + i, needle, n) == 0)
            return 1;
    return 0;
}

/* Stripe-Should-Retry: true */
static int should_retry(const httpclient_response_t *res)
{
    ssize_t i = h2o_find_header_by_str(&res->headers, H2O_STRLIT("stripe-should-retry"), -1);

    return i != -1 && h2o_lcstris(res->headers.entries[i].value.base, res->headers.entries[i].value.len, H2O_STRLIT("true"));
}

static int is_json(h2o_iovec_t body)
{
    return body.len != 0 && json_validate(body.base, body.len) == 0;
}

static void stripe_interpret(const httpclient_response_t *res, unsigned resends, h2o_mem_pool_t *pool, transport_verdict_t *v)
{
    int status = res->status, conflict = status == 409 && is_idempotency_conflict(res->body);
    char why[64];

    if (conflict && resends < CONFLICT_RETRIES) {
        v->action = TRANSPORT_RESEND;
        return;
    }
    if (status >= 500 || status == 429 || conflict || status < 200 || (status >= 300 && status < 400) ||
        (status >= 400 && should_retry(res)) || (status < 300 && !is_json(res->body))) {
        /* (a success whose answer cannot be read is no success: asked again, Stripe replays it) */
        snprintf(why, sizeof(why), status < 300 ? "Stripe answered HTTP %d without JSON" : "Stripe answered HTTP %d", status);
        v->action = TRANSPORT_RETRY;
        v->error = h2o_strdup(pool, why, SIZE_MAX).base;
        return;
    }
    v->action = TRANSPORT_DONE;
    v->status = status;
    if (is_json(res->body)) {
        v->body = h2o_strdup(pool, res->body.base, res->body.len);
    } else {
        v->body = h2o_iovec_init(H2O_STRLIT("{\"error\":{\"type\":\"api_error\",\"message\":\"response is not JSON\"}}"));
        v->warning = "Stripe's answer is not JSON";
    }
}

const transport_t stripe_transport = {
    "stripe",
    "Stripe",
    "payment request without STRIPE_SECRET_KEY, answering 503",
    "payments_not_configured",
    "payments are not configured on this server",
    stripe_init,
    stripe_configured,
    stripe_build,
    stripe_interpret,
    NULL,
    NULL,
    0,
};
