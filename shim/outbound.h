/*
 * workon-shim: what goes out: the HTTP client, the transports, the outbox.
 *
 * Included by shim.h only, where it stands (it uses the types declared before it).
 */
#ifndef workon_outbound_h
#define workon_outbound_h

/* ------------------------------------------------------------------------ */
/* httpclient.c: outbound HTTP requests on the event loop, shared by the transports */

typedef struct st_httpclient_origin_t {
    h2o_url_t url; /* scheme, authority, host, port; path: the base path without a trailing '/' */
    SSL_CTX *ssl_ctx;
    uint64_t timeout_ms; /* the whole exchange */
    size_t index;
} httpclient_origin_t;

typedef struct st_httpclient_request_t {
    const httpclient_origin_t *origin;
    const char *method;
    const char *path;    /* after the origin's base path; begins with '/' */
    h2o_iovec_t headers; /* header lines (each ending in CRLF) besides Host, Content-Length, User-Agent, Connection */
    h2o_iovec_t body;
    int borrow_body; /* the body lives until the callback or httpclient_cancel: sent from where it is, not copied */
} httpclient_request_t;

typedef struct st_httpclient_response_t {
    int status;
    h2o_headers_t headers; /* names in lower case */
    h2o_iovec_t body;
} httpclient_response_t;

typedef struct st_httpclient_t httpclient_t;
/* res NULL and err set when no HTTP answer came (network error, timeout); res is only valid during the call */
typedef void (*httpclient_cb)(void *data, const httpclient_response_t *res, const char *err);

/* NULL, or why value is not a usable base URL */
const char *httpclient_parse_base(const char *value, h2o_url_t *url);
/* at start: a transport's origin from its (validated) base URL */
void httpclient_origin_init(httpclient_origin_t *origin, const char *base, uint64_t timeout_ms);
void httpclient_worker_init(worker_t *w);
/* printable ASCII without spaces: a header value or path that can be written as it is */
int httpclient_is_token_text(const char *s);
/* NULL + *err when the request cannot be made */
httpclient_t *httpclient_send(worker_t *w, const httpclient_request_t *req, httpclient_cb cb, void *data, const char **err);
/* the callback is not called */
void httpclient_cancel(httpclient_t *c);

/* ------------------------------------------------------------------------ */
/* transports (stripe.c): how an outbox row of a kind is sent, and what the answer means */

typedef struct st_outbox_row_t {
    const char *id;
    const char *kind;
    const char *method;
    const char *path;
    const char *params; /* JSON */
    const char *idempotency_key;
} outbox_row_t;

enum {
    TRANSPORT_DONE = 0, /* an answer: status and JSON body go to workon.outbox_result */
    TRANSPORT_RETRY,    /* no usable answer: error goes to workon.outbox_error, which schedules the retry */
    TRANSPORT_RESEND,   /* the same send again after a pause */
};

typedef struct st_transport_verdict_t {
    int action;
    int status;
    h2o_iovec_t body;
    const char *error;
    const char *warning; /* logged with the row when set */
    double retry_after;  /* TRANSPORT_RETRY: the other end's Retry-After in seconds, 0 when none */
} transport_verdict_t;

typedef struct st_transport_t {
    const char *kind; /* workon.outbox.kind */
    const char *name; /* the other end, in messages */
    /* a request waits for a row of this kind while the transport is not configured: logged, answered 503 code message */
    const char *unconfigured_log;
    const char *unconfigured_code;
    const char *unconfigured_message;
    /* at start, before the workers */
    void (*init)(void);
    /* has what it needs to send (a key) */
    int (*configured)(void);
    /* the request of a row; NULL, or why the row cannot be sent as it is; allocations from pool */
    const char *(*build)(const outbox_row_t *row, h2o_mem_pool_t *pool, httpclient_request_t *req);
    /* what an answer means; resends: how often this row was sent again already */
    void (*interpret)(const httpclient_response_t *res, unsigned resends, h2o_mem_pool_t *pool, transport_verdict_t *v);
    /* NULL, or a statement ($1 the row id) that records the row as sent instead of a request (e-mail capture) */
    const char *(*local_sql)(void);
    /* NULL, or how many rows of this kind the background worker sends at the same time (NULL: 8) */
    size_t (*concurrency)(void);
    /* the background worker records the answers of several rows in one statement (one commit for them) */
    int batch_results;
} transport_t;

extern const transport_t stripe_transport;
/* email.c: EMAIL_TRANSPORT=resend sends to Resend, capture records the mail in the database */
extern const transport_t email_transport;
/* s3.c: deletes the objects of deleted uploads (UPLOAD_STORE=s3) */
extern const transport_t s3_transport;

/* ------------------------------------------------------------------------ */
/* outbox.c: sending workon.outbox rows (background worker and waiting requests) */

typedef struct st_outbox_job_t outbox_job_t;
/* err of a waiting request whose row someone else finished: run the request again */
extern const char outbox_err_not_claimed[];

/* the transport of an outbox kind, NULL when there is none */
const transport_t *transport_find(const char *kind);
void outbox_global_init(void);
void outbox_worker_start(worker_t *w);
/* message_email.c: the periodic workon.message_emails_send (first thread) */
void message_emails_start(worker_t *w);
/* stats_fold.c: the periodic workon.stats_fold (first thread) */
void stats_fold_start(worker_t *w);
/* ratelimit_share.c, the first thread: tells the other instances its rate-limit hits every 250 ms (NOTIFY workon_ratelimit) */
void ratelimit_share_start(worker_t *w);
/* a NOTIFY workon_outbox arrived on w's control connection */
void outbox_on_notify(worker_t *w, const char *payload);
/*
 * Claims row id, sends it, hands the answer to the database and reports the
 * (status, headers, body) row of workon.outbox_result / outbox_error to cb,
 * like a dispatch result.  res NULL + err: outbox_err_not_claimed, or no answer.
 */
outbox_job_t *outbox_wait(worker_t *w, const char *id, const char *request_id, db_query_cb cb, void *owner);
/* the waiting client went away: the job still finishes, nobody is told */
void outbox_detach(outbox_job_t *job);

#endif
