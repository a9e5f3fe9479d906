/*
 * The API call: every path that is not a probe is matched against this
 * thread's route table (workon.routes), counted by the rate limiter as its
 * route's rate_limit class says (default, auth, exempt), and becomes one call
 * of the prepared workon.dispatch(handler, params, query, body, token, meta)
 * (arguments: args.c).  Its result row, or its PostgreSQL error mapped
 * through workon.errors, becomes the response: status, headers and body are
 * the handler's; user_id (the verified token's user) goes to the access line
 * and the rate limiter; outbox_id, set when the handler called
 * workon.wait_for_outbox() on a route that declares an outbound kind, makes
 * the request wait for outbox.c to send that row, and the client gets what
 * the database makes of the answer, like any dispatch result; the last
 * column, "on" when the call wrote realtime events without a NOTIFY, makes
 * wake.c send one.
 *
 * A transaction rolled back by a deadlock or a serialization failure (40P01,
 * 40001) is run again, up to twice.
 *
 * Requests that come before this thread's first route table wait for it (at
 * most ROUTES_WAIT_MS) instead of failing.
 */
#include "shim.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* a request whose transaction hit a deadlock or a serialization failure is run again */
#define MAX_TXN_RETRIES 2
/*
 * Each thread loads its route table over its control connection, a few
 * hundred milliseconds after start.  An API request that comes before that
 * waits for the table (at most ROUTES_WAIT_MS, and at most MAX_INFLIGHT of
 * them) instead of failing; while the database is known to be unreachable
 * it is 503 at once, as every request then is.
 */
#define ROUTES_WAIT_MS 5000

typedef struct st_api_call_t {
    call_t super;
    int route_status;
    int had_token;
    int websocket; /* the route's body kind is websocket: a 200 upgrades (ws.c) */
    char handler_oid[24];
    char outbound[sizeof(((route_t *)NULL)->outbound)]; /* the route's outbox kind, "" for none */
    int bytes;                                           /* workon.dispatch_bytes (route_t.bytes) */
    /* the dispatch arguments, kept to run the request again */
    const char *args[6];
    int body_len;
    int outbox_waits;
    int txn_retries;
    int idempotent; /* a POST with an Idempotency-Key */
    int read_only;  /* route_t.read_only: a replica may serve it */
    int lane;       /* route_t.lane */
    int on_primary; /* a replica failed it: the primary answers */
    uint64_t client_lsn; /* the client's last write (replicas.c) */
    char lsn[24];        /* the position of this request's commit on the primary, "" when unknown */
} api_call_t;

/* workon.dispatch for a POST with an Idempotency-Key: the same arguments (the key is in meta) and answer */
#define DISPATCH_IDEMPOTENT_SQL                                                                                                    \
    "SELECT status, headers, body, user_id, outbox_id, pg_catalog.current_setting('workon.events_pending', true)"                  \
    " FROM workon.dispatch_idempotent($1::oid, $2::jsonb, $3::jsonb, $4::text, $5::text, $6::jsonb)"

/* ------------------------------------------------------------------------ */
/* results */

/*
 * The columns of a dispatch result; outbox_result / outbox_error answer the
 * first three; workon.dispatch_bytes adds the file store transfer (s3.c) the
 * handler asked for with workon.set_store_transfer()
 */
enum {
    RESULT_STATUS = 0,
    RESULT_HEADERS,
    RESULT_BODY,
    RESULT_USER_ID,
    RESULT_OUTBOX_ID,
    RESULT_EVENTS, /* "on": committed realtime events without a NOTIFY (wake.c) */
    DISPATCH_COLUMNS,
    RESULT_STORE_OP = DISPATCH_COLUMNS, /* "get" or "put"; NULL: none */
    RESULT_STORE_KEY,
    RESULT_STORE_SHA256, /* hex */
    RESULT_STORE_CONTENT_TYPE,
    DISPATCH_BYTES_COLUMNS,
    OUTBOX_COLUMNS = RESULT_USER_ID,
};

typedef struct st_header_sink_t {
    h2o_req_t *req;
    int has_content_type;
    h2o_iovec_t etag; /* a file: files.c answers conditional and range requests */
    s3_overrides_t file; /* a file's headers, for a presigned URL */
} header_sink_t;

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

/* whose token it was, said by workon.dispatch: logged as user_id */
static void learn_user(reqctx_t *rc, h2o_iovec_t value)
{
    uint8_t user[16];

    if (parse_uuid(value, user) != 0)
        return;
    memcpy(rc->user_id, value.base, value.len);
    rc->user_id[value.len] = '\0';
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
    for (i = 0; i != value.len; ++i)
        if (value.base[i] == '\r' || value.base[i] == '\n' || value.base[i] == '\0')
            return;
    /* framing is ours */
    if (h2o_memis(key.base, key.len, H2O_STRLIT("content-length")) ||
        h2o_memis(key.base, key.len, H2O_STRLIT("transfer-encoding")) || h2o_memis(key.base, key.len, H2O_STRLIT("connection")) ||
        h2o_memis(key.base, key.len, H2O_STRLIT("x-request-id")))
        return;
    if (h2o_memis(key.base, key.len, H2O_STRLIT("content-type"))) {
        sink->has_content_type = 1;
        sink->file.content_type = value;
    } else if (h2o_memis(key.base, key.len, H2O_STRLIT("etag"))) {
        sink->etag = value;
    } else if (h2o_memis(key.base, key.len, H2O_STRLIT("content-disposition"))) {
        sink->file.content_disposition = value;
    } else if (h2o_memis(key.base, key.len, H2O_STRLIT("cache-control"))) {
        sink->file.cache_control = value;
    }
    h2o_add_header_by_str(&sink->req->pool, &sink->req->res.headers, key.base, key.len, 1, NULL, value.base, value.len);
}

/*
 * The message of an error a constraint of a table raised (PostgreSQL names
 * the table and the constraint): the API's own words for its kind, never
 * the schema's names; NULL for errors the handlers raised themselves.
 */
static const char *constraint_message(PGresult *res, const char *state)
{
    if (PQresultErrorField(res, PG_DIAG_TABLE_NAME) == NULL && PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) == NULL)
        return NULL;
    if (state != NULL && strcmp(state, "23505") == 0)
        return "this conflicts with data that already exists";
    if (state != NULL && strcmp(state, "23503") == 0)
        return "this refers to something that does not exist, or is still referred to";
    if (state != NULL && strcmp(state, "23P01") == 0)
        return "this overlaps with data that already exists";
    if (state != NULL && strcmp(state, "23502") == 0)
        return "a required value is missing";
    return "a value is not valid";
}

/*
 * Every invalid field of a request at once: a handler that checks them all
 * raises the first (its COLUMN) with DETAIL {"fields":[{"field","message"},
 * ...]}; the array, or NULL for any other detail.
 */
static const char *invalid_fields(h2o_mem_pool_t *pool, PGresult *res)
{
    const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
    size_t len;
    char *fields;

    if (detail == NULL || strncmp(detail, "{\"fields\":[", 11) != 0 || PQresultErrorField(res, PG_DIAG_COLUMN_NAME) == NULL)
        return NULL;
    len = strlen(detail);
    if (detail[len - 1] != '}' || json_validate(detail, len) != 0)
        return NULL;
    /* the array: from its bracket to before the object's closing brace */
    fields = h2o_mem_alloc_pool(pool, len - 10);
    memcpy(fields, detail + 10, len - 11);
    fields[len - 11] = '\0';
    return fields;
}

static void respond_db_error(api_call_t *call, PGresult *res)
{
    h2o_req_t *req = call->super.req;
    worker_t *w = call->super.worker;
    h2o_iovec_t request_id = call->super.request_id;
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const error_rule_t *rule = error_map_lookup(&w->errors, state);
    int status = rule != NULL ? rule->status : 500;
    const char *code = rule != NULL ? rule->code : "internal";
    const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

    if (status >= 500) {
        metrics_count(w->metrics, METRIC_DB_ERRORS);
        log_write(status == 503 ? LOG_WARN : LOG_ERROR, "database error", "request_id", request_id.base, "route",
                  call->super.route_path, "sqlstate", state, "error", msg != NULL ? msg : PQresultErrorMessage(res), NULL);
        send_error(req, request_id, status, code, status == 503 ? "service unavailable" : "internal server error", NULL);
        return;
    }
    if (status == 401)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, "WWW-Authenticate",
                       call->had_token ? "Bearer error=\"invalid_token\"" : "Bearer",
                       call->had_token ? sizeof("Bearer error=\"invalid_token\"") - 1 : sizeof("Bearer") - 1);
    if (log_enabled(LOG_DEBUG))
        log_write(LOG_DEBUG, "request refused by the database", "request_id", request_id.base, "sqlstate", state, "error", msg,
                  NULL);
    if (constraint_message(res, state) != NULL) {
        /* a table's constraint: its names are the schema's, not the API's */
        send_error(req, request_id, status, code, constraint_message(res, state), NULL);
        return;
    }
    send_error_fields(req, request_id, status, code, msg != NULL ? msg : code, PQresultErrorField(res, PG_DIAG_COLUMN_NAME),
                      invalid_fields(&req->pool, res));
}

static void on_result_dispose(void *p)
{
    PQclear(*(PGresult **)p);
}

static int call_wait_outbox(api_call_t *call, const char *id);
static void call_dispatch(api_call_t *call);
static int is_replica_refusal(PGresult *res);
static void respond_s3(api_call_t *call, header_sink_t *sink, PGresult *res);

/* 40001 / 40P01: the transaction was rolled back as a whole, running it again is safe */
static int is_retryable_txn_error(PGresult *res)
{
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    return state != NULL && (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0);
}

/* the status of a result row; 0 (answered 500) when the handler set an invalid one */
static int result_status(api_call_t *call, PGresult *res)
{
    int status;

    if (PQgetisnull(res, 0, RESULT_STATUS)) {
        status = call->route_status;
        if (PQgetisnull(res, 0, RESULT_BODY) && status == 200)
            status = 204;
        return status;
    }
    status = atoi(PQgetvalue(res, 0, RESULT_STATUS));
    if (status < 100 || status > 599) {
        log_write(LOG_ERROR, "handler set an invalid status", "request_id", call->super.request_id.base, "route",
                  call->super.route_path, "status", PQgetvalue(res, 0, RESULT_STATUS), NULL);
        send_error(call->super.req, call->super.request_id, 500, "internal", "internal server error", NULL);
        return 0;
    }
    return status;
}

/* a result row of columns columns; returns 1 when the response body points into res (kept until the request is gone) */
static int respond_row(call_t *_call, PGresult *res, const char *err, int columns)
{
    api_call_t *call = (api_call_t *)_call;
    h2o_req_t *req = _call->req;
    h2o_iovec_t request_id = _call->request_id, body = {NULL, 0};
    header_sink_t sink;
    int status;

    memset(&sink, 0, sizeof(sink));
    sink.req = req;
    if (res == NULL && err == pool_err_full) {
        /* the slow lane's queue is full: come back in a second */
        metrics_count(_call->worker->metrics, METRIC_OVERLOADED);
        send_unavailable(req, request_id);
        return 0;
    }
    if (call->args[0] != NULL && !call->on_primary && _call->pool != NULL && replicas_owns(_call->worker, _call->pool) &&
        (res == NULL ? err != pool_err_abandoned : is_replica_refusal(res))) {
        /* the replica went away, or the handler wanted to write: the primary answers */
        if (log_enabled(LOG_DEBUG))
            log_write(LOG_DEBUG, "a read failed on a replica, running it on the primary", "request_id", request_id.base, "route",
                      _call->route_path, "reason", res == NULL ? err : PQresultErrorField(res, PG_DIAG_SQLSTATE), NULL);
        call->on_primary = 1;
        call_dispatch(call);
        return 0;
    }
    if (res == NULL && err == pool_err_abandoned) {
        /* nobody reads this answer: logged and counted as 499, like a client that leaves later */
        if (log_enabled(LOG_DEBUG))
            log_write(LOG_DEBUG, "client went away before its query was sent", "request_id", request_id.base, NULL);
        http_observe(req, request_id, 499);
        send_unavailable(req, request_id);
        return 0;
    }
    if (res == NULL) {
        call_log_unavailable(_call, err);
        send_unavailable(req, request_id);
        return 0;
    }
    if (PQresultStatus(res) == PGRES_FATAL_ERROR) {
        if (call->args[0] != NULL && call->txn_retries < MAX_TXN_RETRIES && is_retryable_txn_error(res)) {
            ++call->txn_retries;
            if (log_enabled(LOG_DEBUG))
                log_write(LOG_DEBUG, "transaction rolled back by a conflict, running it again", "request_id", request_id.base,
                          "route", _call->route_path, "sqlstate", PQresultErrorField(res, PG_DIAG_SQLSTATE), NULL);
            call_dispatch(call);
            return 0;
        }
        respond_db_error(call, res);
        return 0;
    }
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 || PQnfields(res) != columns) {
        log_write(LOG_ERROR,
                  columns >= DISPATCH_COLUMNS ? "workon.dispatch returned an unexpected result"
                                              : "workon.outbox_result or outbox_error returned an unexpected result",
                  "request_id", request_id.base, "route", _call->route_path, "status", PQresStatus(PQresultStatus(res)), NULL);
        send_error(req, request_id, 500, "internal", "internal server error", NULL);
        return 0;
    }
    /* committed: the events it wrote wake the listeners now */
    if (columns > RESULT_EVENTS && !PQgetisnull(res, 0, RESULT_EVENTS) && strcmp(PQgetvalue(res, 0, RESULT_EVENTS), "on") == 0)
        wake_events_written(_call->worker);
    if (columns > RESULT_USER_ID && !PQgetisnull(res, 0, RESULT_USER_ID))
        learn_user(reqctx_of(request_id),
                   h2o_iovec_init(PQgetvalue(res, 0, RESULT_USER_ID), (size_t)PQgetlength(res, 0, RESULT_USER_ID)));
    if ((status = result_status(call, res)) == 0)
        return 0;
    if (call->lsn[0] != '\0')
        replicas_add_lsn_headers(req, call->lsn);
    if (columns > RESULT_OUTBOX_ID && !PQgetisnull(res, 0, RESULT_OUTBOX_ID))
        return call_wait_outbox(call, PQgetvalue(res, 0, RESULT_OUTBOX_ID));
    if (call->websocket && status == 200 && !PQgetisnull(res, 0, RESULT_BODY)) {
        const char *why;
        http_observe(req, request_id, 101);
        if (ws_accept(req, call->handler_oid, call->args[4],
                      h2o_iovec_init(PQgetvalue(res, 0, RESULT_BODY), (size_t)PQgetlength(res, 0, RESULT_BODY)), &why) == 0)
            return 0;
        if (why != NULL && strcmp(why, "WS_MAX_PER_USER") == 0)
            send_error(req, request_id, 429, "rate_limited", "too many WebSocket connections of this user", NULL);
        else
            send_error(req, request_id, 503, "unavailable", "no WebSocket connection available", NULL);
        return 0;
    }
    if (!PQgetisnull(res, 0, RESULT_HEADERS)) {
        const char *headers = PQgetvalue(res, 0, RESULT_HEADERS);
        size_t len = (size_t)PQgetlength(res, 0, RESULT_HEADERS);
        if (json_each_string_member(headers, len, &req->pool, on_handler_header, &sink) != 0)
            log_write(LOG_WARN, "handler headers are not a JSON object of strings", "request_id", request_id.base, "route",
                      _call->route_path, NULL);
    }
    if (columns > RESULT_STORE_OP && !PQgetisnull(res, 0, RESULT_STORE_OP)) {
        respond_s3(call, &sink, res);
        return 0;
    }
    if (!PQgetisnull(res, 0, RESULT_BODY) && status != 204 && status != 304) {
        /* no copy: the body is sent from the result, which lives as long as the request */
        body = h2o_iovec_init(PQgetvalue(res, 0, RESULT_BODY), (size_t)PQgetlength(res, 0, RESULT_BODY));
        if (sink.etag.base != NULL)
            status = files_conditional(req, status, sink.etag, &body);
        else
            status = files_etag(req, status, &body, !sink.has_content_type);
        if (body.base != NULL) {
            PGresult **holder = h2o_mem_alloc_shared(&req->pool, sizeof(*holder), on_result_dispose);
            *holder = res;
            send_response(req, request_id, status, body, !sink.has_content_type);
            return 1;
        }
    }
    send_response(req, request_id, status, body, !sink.has_content_type);
    return 0;
}

static int on_api_result(call_t *_call, PGresult *res, const char *err)
{
    api_call_t *call = (api_call_t *)_call;
    /* workon.dispatch_bytes (see call_dispatch) has the file store transfer too */
    return respond_row(_call, res, err, call->bytes && !call->idempotent ? DISPATCH_BYTES_COLUMNS : DISPATCH_COLUMNS);
}

/* a replica refused a read: the handler wrote (25006), or a conflict with recovery cancelled it (40001) */
static int is_replica_refusal(PGresult *res)
{
    const char *state = PQresultStatus(res) == PGRES_FATAL_ERROR ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    return state != NULL && (strcmp(state, "25006") == 0 || strcmp(state, "40001") == 0);
}

/*
 * Where the call's statement runs: a read_only route on a replica that has
 * the client's last write (replicas.c), a route of the slow lane on its
 * connections, the rest on the pipelined connections.  With replicas, a
 * statement on the primary brings back its commit's position.
 */
static void call_choose_pool(api_call_t *call)
{
    worker_t *w = call->super.worker;

    call->super.pool = NULL;
    if (call->lane == ROUTE_LANE_SLOW && w->slow.size != 0)
        call->super.pool = &w->slow;
    if (call->read_only && !call->on_primary && replicas_configured()) {
        db_pool_t *replica = replicas_pick(w, call->client_lsn);
        if (replica != NULL)
            call->super.pool = replica;
    }
}

/* sends (again) the call's workon.dispatch (or workon.dispatch_idempotent) */
static void call_dispatch(api_call_t *call)
{
    db_query_t *q;

    call_choose_pool(call);
    q = call_query_new(&call->super, call->idempotent ? DB_QUERY_SQL
                                     : call->bytes    ? DB_QUERY_DISPATCH_BYTES
                                                      : DB_QUERY_DISPATCH);
    call->lsn[0] = '\0';
    if (replicas_configured() && !call->read_only) {
        q->want_lsn = 1;
        q->lsn_out = call->lsn;
    }

    if (call->idempotent) {
        q->sql = DISPATCH_IDEMPOTENT_SQL;
        q->nparams = 6;
    }
    memcpy(q->values, call->args, sizeof(call->args));
    q->lengths[3] = call->body_len;
    /* binary: no copy; text is still checked for its encoding, bytea goes as it is */
    q->formats[3] = 1;
    q->abandoned = call_client_gone;
    call_submit(&call->super, q);
}

/* ------------------------------------------------------------------------ */
/* files in the S3 store (s3.c): the extension checked, the shim moves the bytes */

/* the handler's file headers describe the object: neither a redirect's nor an error's */
static void drop_file_headers(h2o_req_t *req)
{
    static const h2o_token_t *tokens[] = {H2O_TOKEN_CONTENT_TYPE, H2O_TOKEN_CACHE_CONTROL, H2O_TOKEN_ETAG};
    ssize_t at;
    size_t i;

    for (i = 0; i != sizeof(tokens) / sizeof(tokens[0]); ++i)
        while ((at = h2o_find_header(&req->res.headers, tokens[i], -1)) != -1)
            h2o_delete_header(&req->res.headers, at);
    while ((at = h2o_find_header_by_str(&req->res.headers, H2O_STRLIT("content-disposition"), -1)) != -1)
        h2o_delete_header(&req->res.headers, at);
}

static void s3_failed(api_call_t *call, const char *what, const char *why)
{
    drop_file_headers(call->super.req);
    log_write(LOG_ERROR, what, "request_id", call->super.request_id.base, "route", call->super.route_path, "error", why, NULL);
    send_unavailable(call->super.req, call->super.request_id);
}

/* what workon.upload_s3_stored answered: the stored upload, or why not */
static int on_s3_stored(call_t *_call, PGresult *res, const char *err)
{
    api_call_t *call = (api_call_t *)_call;
    h2o_req_t *req = _call->req;

    if (res == NULL) {
        call_log_unavailable(_call, err);
        send_unavailable(req, _call->request_id);
    } else if (PQresultStatus(res) == PGRES_FATAL_ERROR) {
        respond_db_error(call, res);
    } else if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
        s3_failed(call, "workon.upload_s3_stored returned an unexpected result", PQresStatus(PQresultStatus(res)));
    } else {
        h2o_iovec_t body = h2o_strdup(&req->pool, PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0));
        send_response(req, _call->request_id, call->route_status, body, 1);
    }
    return 0;
}

typedef struct st_s3_put_t {
    api_call_t *call;
    const char *key;
} s3_put_t;

/* the bucket's answer to the PUT: confirmed to the extension when it is 2xx */
static void on_s3_put(void *data, const httpclient_response_t *res, const char *err)
{
    s3_put_t *p = data;
    api_call_t *call = p->call;
    db_query_t *q;

    call->super.outgoing = NULL;
    if (err != NULL || res->status < 200 || res->status > 299) {
        char status[16];
        snprintf(status, sizeof(status), "%d", res != NULL ? res->status : 0);
        log_write(LOG_ERROR, "the S3 store refused a file", "request_id", call->super.request_id.base, "status", status,
                  "error", err != NULL ? err : "not 2xx", NULL);
        send_unavailable(call->super.req, call->super.request_id);
        return;
    }
    call->super.on_result = on_s3_stored;
    q = call_query_new(&call->super, DB_QUERY_SQL);
    q->sql = "SELECT workon.upload_s3_stored($1)";
    q->values[0] = p->key;
    q->nparams = 1;
    call_submit(&call->super, q);
}

/* a text column of a dispatch_bytes row; {NULL, 0} when NULL */
static h2o_iovec_t result_text(PGresult *res, int column)
{
    if (PQgetisnull(res, 0, column))
        return h2o_iovec_init(NULL, 0);
    return h2o_iovec_init(PQgetvalue(res, 0, column), (size_t)PQgetlength(res, 0, column));
}

/*
 * The handler asked for a file store transfer (workon.set_store_transfer,
 * the columns store_op, store_key, store_sha256, store_content_type):
 * "get" redirects to a presigned URL of the object, with the file's headers
 * as the object's; "put" writes the checked body to the bucket, then
 * workon.upload_s3_stored(key) answers the client.
 */
static void respond_s3(api_call_t *call, header_sink_t *sink, PGresult *res)
{
    h2o_req_t *req = call->super.req;
    h2o_iovec_t request_id = call->super.request_id, op = result_text(res, RESULT_STORE_OP),
                key = result_text(res, RESULT_STORE_KEY), sha256 = result_text(res, RESULT_STORE_SHA256),
                content_type = result_text(res, RESULT_STORE_CONTENT_TYPE);
    const char *err = NULL;

    if (!s3_configured()) {
        s3_failed(call, "a file is in the S3 store but UPLOAD_STORE is not s3", "S3 store not configured");
        return;
    }
    if (key.base == NULL) {
        s3_failed(call, "the extension's store transfer is malformed", "key");
        return;
    }
    if (h2o_memis(op.base, op.len, H2O_STRLIT("get"))) {
        int head = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"));
        const char *url = s3_presign(&req->pool, head ? "HEAD" : "GET", key, &sink->file);
        if (url == NULL) {
            s3_failed(call, "the extension's store transfer is malformed", "key");
            return;
        }
        /* the file's headers are the object's (overrides in the URL), not the redirect's */
        drop_file_headers(req);
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_LOCATION, NULL, url, strlen(url));
        /* the URL expires: a redirect is not kept */
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-store"));
        send_response(req, request_id, 302, h2o_iovec_init(NULL, 0), 0);
        return;
    }
    if (h2o_memis(op.base, op.len, H2O_STRLIT("put")) && sha256.base != NULL && content_type.base != NULL) {
        s3_put_t *put = h2o_mem_alloc_pool(&req->pool, sizeof(*put));
        put->call = call;
        put->key = h2o_strdup(&req->pool, key.base, key.len).base;
        call->super.outgoing = s3_put(call->super.worker, &req->pool, key, sha256, content_type, req->entity, on_s3_put, put, &err);
        if (call->super.outgoing == NULL)
            s3_failed(call, "a file could not be sent to the S3 store", err);
        return;
    }
    s3_failed(call, "the extension's store transfer is malformed", "op");
}

/* ------------------------------------------------------------------------ */
/* requests that wait for an outbound call (outbox.c) */

/* the row someone else finished, or what outbox_result / outbox_error answered */
static int on_outbox_result(void *owner, PGresult *res, const char *err)
{
    api_call_t *call = owner;

    call->super.outbox = NULL;
    call_disarm(&call->super);
    if (res == NULL && err == outbox_err_not_claimed && call->outbox_waits < 2) {
        /* handlers are idempotent: the request now finds the finished row */
        call_dispatch(call);
        return 0;
    }
    if (res == NULL && err == outbox_err_not_claimed)
        err = "outbox row finished elsewhere twice";
    return respond_row(&call->super, res, err, OUTBOX_COLUMNS);
}

/*
 * The handler committed an outbox row and called workon.wait_for_outbox(id)
 * (its own headers are not sent: the answer to the outbound call replaces
 * its response): send the row with the transport of the route's outbound
 * kind, then answer.
 */
static int call_wait_outbox(api_call_t *call, const char *id)
{
    call_t *c = &call->super;
    h2o_req_t *req = c->req;
    const transport_t *transport = transport_find(call->outbound);

    if (transport == NULL) {
        log_write(LOG_ERROR, "handler waits for an outbound call on a route without an outbound kind the shim can send",
                  "request_id", c->request_id.base, "route", c->route_path, "outbound", call->outbound, NULL);
        send_error(req, c->request_id, 500, "internal", "internal server error", NULL);
        return 0;
    }
    if (!transport->configured()) {
        /* the row stays pending: it is sent once the shim runs with what the transport needs */
        log_write(LOG_WARN, transport->unconfigured_log, "request_id", c->request_id.base, "route", c->route_path, NULL);
        send_error(req, c->request_id, 503, transport->unconfigured_code, transport->unconfigured_message, NULL);
        return 0;
    }
    if (++call->outbox_waits > 2) {
        log_write(LOG_ERROR, "handler asked to wait for an outbound request a third time", "request_id", c->request_id.base,
                  "route", c->route_path, NULL);
        send_unavailable(req, c->request_id);
        return 0;
    }
    c->outbox = outbox_wait(c->worker, h2o_strdup(&req->pool, id, SIZE_MAX).base, c->request_id.base, on_outbox_result, call);
    if (c->outbox != NULL)
        call_arm(c);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* routing */

static void handle_api(worker_t *w, h2o_req_t *req, h2o_iovec_t request_id, h2o_iovec_t path, const route_match_t *m)
{
    const route_t *route = m->route;
    dispatch_args_t args;
    api_call_t *call;

    if (route->body_mode == BODY_WEBSOCKET && !ws_is_handshake(req)) {
        send_error(req, request_id, 426, "upgrade_required", "a WebSocket route: GET over HTTP/1.1 with Upgrade: websocket", NULL);
        return;
    }
    if (args_build(req, request_id, path, m, &args) != 0)
        return;
    call = (api_call_t *)call_new(w, req, request_id, sizeof(*call), on_api_result);
    call->route_status = route->status;
    call->websocket = route->body_mode == BODY_WEBSOCKET;
    call->had_token = args.had_token;
    call->idempotent = args.idempotent && !route->bytes; /* dispatch_idempotent stores text answers */
    memcpy(call->handler_oid, route->handler_oid, sizeof(call->handler_oid));
    memcpy(call->outbound, route->outbound, sizeof(call->outbound));
    call->bytes = route->bytes;
    call->read_only = route->read_only;
    call->lane = route->lane;
    if (call->read_only && replicas_configured())
        call->client_lsn = replicas_client_lsn(req);
    call->super.route_path = h2o_strdup(&req->pool, route->path, SIZE_MAX).base;
    reqctx_of(request_id)->route = call->super.route_path;

    call->args[0] = call->handler_oid;
    call->args[1] = args.params.base;
    call->args[2] = args.query.base;
    call->args[3] = args.body.base;
    call->body_len = (int)args.body.len;
    call->args[4] = args.token;
    call->args[5] = args.meta.base;
    call_dispatch(call);
}

/* counts the request against its client; answers 429 and returns 1 when it is over the limit */
static int rate_limited(worker_t *w, h2o_req_t *req, h2o_iovec_t request_id, int rate_limit)
{
    reqctx_t *rc = reqctx_of(request_id);
    ratelimit_t r;

    ratelimit_identify(req, &rc->client);
    if (rc->client.user_known)
        format_uuid(rc->user_id, rc->client.user);
    if (ratelimit_check(req, &rc->client, rate_limit == RATE_LIMIT_AUTH, &r)) {
        ratelimit_add_headers(req, &r);
        metrics_count(w->metrics, METRIC_RATE_LIMITED);
        send_error(req, request_id, 429, "rate_limited", "too many requests, retry later", NULL);
        return 1;
    }
    ratelimit_add_headers(req, &r);
    return 0;
}

/* once this thread has its route table */
static void route_request(worker_t *w, h2o_req_t *req, h2o_iovec_t request_id, h2o_iovec_t path)
{
    reqctx_t *rc = reqctx_of(request_id);
    int found, rate_limit = RATE_LIMIT_DEFAULT;
    route_match_t m;

    found = route_table_match(w->routes, &req->pool, req->method.base, req->method.len, path.base, path.len, &m);
    if (found == ROUTE_FOUND) {
        rc->route = m.route->path; /* the table outlives this function; handle_api keeps a copy */
        rc->metrics = m.route->metrics;
        rate_limit = m.route->rate_limit;
    }
    if (rate_limit != RATE_LIMIT_EXEMPT && setting_read(rate_limit_enabled) && rate_limited(w, req, request_id, rate_limit))
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

/* ------------------------------------------------------------------------ */
/* requests that came before the route table */

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

void api_on_routes_loaded(worker_t *w)
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

void api_serve(worker_t *w, h2o_req_t *req, h2o_iovec_t request_id, h2o_iovec_t path)
{
    if (w->routes == NULL)
        await_routes(w, req, request_id, path);
    else
        route_request(w, req, request_id, path);
}
