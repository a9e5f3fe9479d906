/*
 * The e-mail transport: how an outbox row of kind 'email' is delivered, and
 * what the provider's answer means (outbox.c does the rest).  The database
 * wrote the mail whole (workon.email_send: params {to, subject, text, html,
 * template, locale}, strings), in the recipient's language; nothing here
 * knows what a mail says.
 *
 * EMAIL_TRANSPORT=resend: `POST {RESEND_API_BASE}/emails` with
 * `Authorization: Bearer <RESEND_API_KEY>`, the row's `Idempotency-Key` and
 * the JSON body {from: EMAIL_FROM, to: [to], subject, text, html}, sent by the
 * shared HTTP client within EMAIL_TIMEOUT_MS.  The key only ever appears in
 * that request head.  A 2xx is the mail sent (workon.outbox_result marks the
 * row done); a 429 or a 5xx, no answer, a redirect or a 2xx that cannot be
 * read go to workon.outbox_error, which schedules the retry with its backoff
 * or the provider's Retry-After if that is longer; any other 4xx goes to
 * workon.outbox_result, which makes the row dead with Resend's reason, for an
 * admin to retry.  A 409 concurrent_idempotent_requests (the same row being
 * sent elsewhere right now) is asked again after a pause.  A shim that dies
 * after Resend answered and before the database heard of it sends the row
 * again after its lease with the same key: Resend does not send it twice.
 *
 * EMAIL_TRANSPORT=capture (the default in development): nothing leaves the
 * machine; workon.email_captured(id) records the mail as sent, and admins
 * read it at GET /api/v1/admin/emails/{id}.  EMAIL_TRANSPORT=off: this shim
 * sends no mail (another one does); the rows wait.
 */
#include "shim.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CONFLICT_RETRIES 8
/* the longest Retry-After believed; the database caps it at an hour too */
#define RETRY_AFTER_MAX 3600

static httpclient_origin_t api_origin;

static int email_configured(void)
{
    switch (shim_settings.email_transport) {
    case EMAIL_TRANSPORT_RESEND:
        return shim_settings.resend_api_key != NULL && shim_settings.email_from != NULL;
    case EMAIL_TRANSPORT_CAPTURE:
        return 1;
    default:
        return 0;
    }
}

static void email_init(void)
{
    if (shim_settings.email_transport != EMAIL_TRANSPORT_RESEND)
        return;
    httpclient_origin_init(&api_origin, shim_settings.resend_api_base, shim_settings.email_timeout_ms);
    /* production refuses to start so; elsewhere the mails wait for a shim that can send them */
    if (!email_configured())
        log_write(LOG_WARN, "EMAIL_TRANSPORT=resend without RESEND_API_KEY or EMAIL_FROM: mails stay queued", NULL);
}

/* mails sent at the same time by the background worker (the provider's answers bound the rate) */
static size_t email_concurrency(void)
{
    return shim_settings.email_concurrency;
}

static const char *email_local_sql(void)
{
    return shim_settings.email_transport == EMAIL_TRANSPORT_CAPTURE ? "SELECT workon.email_captured($1::bigint)" : NULL;
}

/* ------------------------------------------------------------------------ */
/* the request */

typedef struct st_email_parts_t {
    h2o_iovec_t to, subject, text, html;
} email_parts_t;

static void on_param(void *data, h2o_iovec_t key, h2o_iovec_t value)
{
    email_parts_t *m = data;

    if (h2o_memis(key.base, key.len, H2O_STRLIT("to")))
        m->to = value;
    else if (h2o_memis(key.base, key.len, H2O_STRLIT("subject")))
        m->subject = value;
    else if (h2o_memis(key.base, key.len, H2O_STRLIT("text")))
        m->text = value;
    else if (h2o_memis(key.base, key.len, H2O_STRLIT("html")))
        m->html = value;
}

static const char *email_build(const outbox_row_t *row, h2o_mem_pool_t *pool, httpclient_request_t *req)
{
    size_t params_len = strlen(row->params);
    email_parts_t m;
    strbuf_t body, head;

    if (!email_configured())
        return "EMAIL_TRANSPORT=resend needs RESEND_API_KEY and EMAIL_FROM";
    if (row->idempotency_key == NULL || !httpclient_is_token_text(row->idempotency_key))
        return "idempotency key missing or with characters not allowed in a request head";
    memset(&m, 0, sizeof(m));
    if (json_each_string_member(row->params, params_len, pool, on_param, &m) != 0)
        return "params are not a JSON object of strings";
    if (m.to.base == NULL || m.subject.base == NULL || (m.text.base == NULL && m.html.base == NULL))
        return "params lack to, subject, or both text and html";

    strbuf_init(&body, pool, params_len + 256);
    strbuf_lit(&body, "{\"from\":");
    strbuf_add_cstr_json(&body, shim_settings.email_from);
    strbuf_lit(&body, ",\"to\":[");
    strbuf_add_json_string(&body, m.to.base, m.to.len);
    strbuf_lit(&body, "],\"subject\":");
    strbuf_add_json_string(&body, m.subject.base, m.subject.len);
    if (m.text.base != NULL) {
        strbuf_lit(&body, ",\"text\":");
        strbuf_add_json_string(&body, m.text.base, m.text.len);
    }
    if (m.html.base != NULL) {
        strbuf_lit(&body, ",\"html\":");
        strbuf_add_json_string(&body, m.html.base, m.html.len);
    }
    strbuf_lit(&body, "}");

    strbuf_init(&head, pool, 256);
    strbuf_lit(&head, "Authorization: Bearer ");
    strbuf_add(&head, shim_settings.resend_api_key, strlen(shim_settings.resend_api_key));
    strbuf_printf(&head, "\r\nIdempotency-Key: %s\r\n", row->idempotency_key);
    strbuf_lit(&head, "Content-Type: application/json\r\n"
                      "Accept: application/json\r\n");

    req->origin = &api_origin;
    req->method = "POST";
    req->path = "/emails";
    req->headers = strbuf_finish(&head);
    req->body = strbuf_finish(&body);
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* the answer */

/* Retry-After in seconds (a number; an HTTP date counts as none), at most RETRY_AFTER_MAX; 0 when absent */
static double retry_after(const httpclient_response_t *res)
{
    ssize_t i = h2o_find_header_by_str(&res->headers, H2O_STRLIT("retry-after"), -1);
    char buf[16], *end;
    double v;

    if (i == -1 || res->headers.entries[i].value.len == 0 || res->headers.entries[i].value.len >= sizeof(buf))
        return 0;
    memcpy(buf, res->headers.entries[i].value.base, res->headers.entries[i].value.len);
    buf[res->headers.entries[i].value.len] = '\0';
    v = strtod(buf, &end);
    if (end == buf || *end != '\0' || !(v > 0))
        return 0;
    return v < RETRY_AFTER_MAX ? v : RETRY_AFTER_MAX;
}

static int body_has(h2o_iovec_t body, const char *needle)
{
    size_t n = strlen(needle), i;

    for (i = 0; i + n <= body.len; ++i)
        if (memcmp(body.base + i, needle, n) == 0)
            return 1;
    return 0;
}

static int is_json(h2o_iovec_t body)
{
    return body.len != 0 && json_validate(body.base, body.len) == 0;
}

static void email_interpret(const httpclient_response_t *res, unsigned resends, h2o_mem_pool_t *pool, transport_verdict_t *v)
{
    int status = res->status, conflict = status == 409 && body_has(res->body, "concurrent_idempotent_requests");
    char why[64];

    if (conflict && resends < CONFLICT_RETRIES) {
        v->action = TRANSPORT_RESEND;
        return;
    }
    if (status >= 500 || status == 429 || conflict || status < 200 || (status >= 300 && status < 400) ||
        (status < 300 && !is_json(res->body))) {
        snprintf(why, sizeof(why), status < 300 ? "Resend answered HTTP %d without JSON" : "Resend answered HTTP %d", status);
        v->action = TRANSPORT_RETRY;
        v->error = h2o_strdup(pool, why, SIZE_MAX).base;
        v->retry_after = retry_after(res);
        return;
    }
    v->action = TRANSPORT_DONE;
    v->status = status;
    if (is_json(res->body)) {
        v->body = h2o_strdup(pool, res->body.base, res->body.len);
    } else {
        snprintf(why, sizeof(why), "{\"name\":\"http_%d\",\"message\":\"answer is not JSON\"}", status);
        v->body = h2o_strdup(pool, why, SIZE_MAX);
        v->warning = "Resend's answer is not JSON";
    }
}

const transport_t email_transport = {
    "email",
    "Resend",
    "a request waits for a mail while no e-mail transport is configured, answering 503",
    "email_not_configured",
    "e-mail is not configured on this server",
    email_init,
    email_configured,
    email_build,
    email_interpret,
    email_local_sql,
    email_concurrency,
    1,
};
