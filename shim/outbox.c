/*
 * The outbox: outbound calls that the database wrote into workon.outbox (in
 * the same transaction as the change that needs them) are made from here,
 * never from inside a transaction, each by the transport of its row's kind
 * (the table below: stripe.c, email.c).
 *
 * A job is one row: claimed (workon.outbox_claim_id / outbox_claim bump its
 * attempts and lease it), turned into a request by its transport, sent by the
 * shared HTTP client (httpclient.c), and the answer, as the transport reads
 * it, handed back to the database: an answer to workon.outbox_result, which
 * advances the state machines; no usable answer to workon.outbox_error, which
 * schedules the retry (the backoff and the dead-letter state are the
 * database's).  A transport may ask for the same send again after a pause
 * (Stripe's 409 idempotency_key_in_use replays the other send's answer).
 *
 * Two ways in:
 *  - a request that needs the answer at once (a route with an outbound kind,
 *    POST /payment and /checkout): its handler commits the row and calls
 *    workon.wait_for_outbox(id); api.c calls outbox_wait(), which claims that
 *    row, sends it and reports the (status, headers, body) that
 *    outbox_result / outbox_error return.  A client that goes away meanwhile
 *    only detaches: the job still finishes.  A row that another request or
 *    process is sending is not sent again: the request waits for that send
 *    (workon.outbox_sending, looked at every SENDING_PAUSE_MS) and then runs
 *    again to find the result, so concurrent requests make one call.
 *  - the background worker, on the first thread only: every second and on
 *    NOTIFY workon_outbox it claims due rows of the kinds it has a configured
 *    transport for and sends them, each kind with slots of its own (the
 *    transport's concurrency: 64 mails, 8 Stripe calls, 8 bucket calls in
 *    flight), so a queue of mails never holds a refund back.  A slot is busy
 *    from the claim to the provider's answer.  A kind is claimed in one
 *    statement for all its free slots once a quarter of them are free, one
 *    claim per kind at a time (slots freed meanwhile go with the next batch).
 *    Claims and results are queries on the thread's pool, which pipelines
 *    them; the answers of e-mail rows (transports with batch_results) that
 *    arrive during one pass of the loop go to workon.outbox_result in one
 *    statement, one commit for them all (each alone should it fail).
 * A shim that dies between claim and answer leaves the row leased; it comes
 * back by itself when the lease runs out and is sent again with the same
 * idempotency key.
 */
#include "shim.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* rows of a kind sent at the same time by the background worker, when its transport names none */
#define DEFAULT_CONCURRENCY 8
/* a send the transport asks to repeat (the same row being sent elsewhere right now) waits this long */
#define RESEND_DELAY_MS 250
/* a request waiting on a row another claimer sends looks again after this long */
#define SENDING_PAUSE_MS 50
/*
 * A new row's NOTIFY reaches the background worker about when its waiting
 * request learns the row's id.  The worker claims a little later, and leaves
 * alone the rows that a request of this process waits on (they are
 * registered before their claim), so a row is not sent twice at once.
 */
#define NOTIFY_DELAY_MS 50
#define MAX_WAITING 1024

/* the transports, by outbox kind */
static const transport_t *const transports[] = {&stripe_transport, &email_transport, &s3_transport};

#define NUM_TRANSPORTS (sizeof(transports) / sizeof(transports[0]))

#define CLAIM_COLUMNS "id, kind, method, path, params::text, idempotency_key, attempts"
#define CLAIM_NUM_COLUMNS 7
#define CLAIM_SQL "SELECT " CLAIM_COLUMNS " FROM workon.outbox_claim($1::text[], $2::integer)"
#define CLAIM_ID_SQL "SELECT " CLAIM_COLUMNS " FROM workon.outbox_claim_id($1::bigint)"
#define SENDING_SQL "SELECT workon.outbox_sending($1::bigint)"
#define RESULT_SQL "SELECT status, headers, body FROM workon.outbox_result($1::bigint, $2::integer, $3::jsonb)"
/* the answers of several rows (a batch) in one statement, one transaction: one commit for them all */
#define RESULTS_SQL                                                                                                              \
    "SELECT count(r.status) FROM unnest($1::bigint[], $2::integer[], $3::jsonb[]) AS a(id, http_status, body)"                 \
    " CROSS JOIN LATERAL workon.outbox_result(a.id, a.http_status, a.body) AS r"
/* the most answers recorded by one statement */
#define RESULT_BATCH_MAX 256
#define ERROR_SQL "SELECT status, headers, body FROM workon.outbox_error($1::bigint, $2::text, $3::double precision)"

const char outbox_err_not_claimed[] = "outbox row no longer pending";

struct st_outbox_job_t {
    worker_t *worker;
    h2o_mem_pool_t pool;
    char id[24];
    outbox_row_t row;
    const transport_t *transport;
    char *request_id; /* of the waiting request, for the log */
    char status[12];
    char *report; /* the body for outbox_result, or the error text for outbox_error */
    int report_is_error;
    char retry_after[32]; /* for outbox_error: the other end's Retry-After in seconds; empty when none */
    httpclient_t *send;
    h2o_timeout_entry_t resend;
    unsigned resends;
    /* the waiting request; NULL for the background worker or when it went away */
    db_query_cb reply_cb;
    void *reply_owner;
    int background;
    size_t slot;    /* background: the index of its transport */
    int holds_slot; /* background: counted in its kind's active until the answer is in */
    int registered; /* in waiting_ids */
};

/* the background worker's state of one transport */
typedef struct st_bg_kind_t {
    int configured;
    int claiming;
    int more; /* claim again when a job ends: the last claim was full, or a notification came */
    size_t active;
    size_t concurrency;
    char kinds[32]; /* {kind}, a text[] literal */
    char limit[12];
} bg_kind_t;

/* the background worker (first thread) */
static __thread struct {
    worker_t *worker;
    int started;
    int failures;
    h2o_timeout_entry_t tick;
    h2o_timeout_entry_t soon;
    bg_kind_t kinds[NUM_TRANSPORTS];
} bg;

static __thread h2o_timeout_t resend_timeout, notify_timeout, sending_timeout;

/* the answers of background rows collected during one pass of the loop (transports with batch_results) */
typedef struct st_result_batch_t {
    h2o_mem_pool_t pool;
    size_t n;
    outbox_job_t *jobs[RESULT_BATCH_MAX];
} result_batch_t;

static __thread result_batch_t *batch;
static __thread h2o_timeout_entry_t batch_entry;

/* ids of the rows that requests of this process wait on (all threads) */
static pthread_mutex_t waiting_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t waiting_ids[MAX_WAITING];
static size_t num_waiting;

const transport_t *transport_find(const char *kind)
{
    size_t i;

    for (i = 0; i != NUM_TRANSPORTS; ++i)
        if (strcmp(transports[i]->kind, kind) == 0)
            return transports[i];
    return NULL;
}

static int waiting_add(int64_t id)
{
    int added = 0;

    pthread_mutex_lock(&waiting_lock);
    if (num_waiting != MAX_WAITING) {
        waiting_ids[num_waiting++] = id;
        added = 1;
    }
    pthread_mutex_unlock(&waiting_lock);
    return added;
}

static void waiting_remove(int64_t id)
{
    size_t i;

    pthread_mutex_lock(&waiting_lock);
    for (i = 0; i != num_waiting; ++i) {
        if (waiting_ids[i] == id) {
            waiting_ids[i] = waiting_ids[--num_waiting];
            break;
        }
    }
    pthread_mutex_unlock(&waiting_lock);
}

static int waiting_has(int64_t id)
{
    size_t i;
    int found = 0;

    pthread_mutex_lock(&waiting_lock);
    for (i = 0; i != num_waiting && !found; ++i)
        found = waiting_ids[i] == id;
    pthread_mutex_unlock(&waiting_lock);
    return found;
}

static void job_report(outbox_job_t *job);
static void job_send(outbox_job_t *job);
static int job_claim(outbox_job_t *job);
static void bg_claim(size_t slot);
static void bg_claim_all(void);

static void job_log(outbox_job_t *job, int level, const char *msg, const char *why)
{
    if (!log_enabled(level))
        return;
    log_write(level, msg, "outbox_id", job->id, "path", job->row.path, "request_id", job->request_id, "reason", why, NULL);
}

/*
 * A background row's slot is free once the provider answered (or did not):
 * the next rows are claimed while the database records the answer, so the
 * provider's slots do not wait for it.
 */
static void job_release_slot(outbox_job_t *job)
{
    bg_kind_t *k = bg.kinds + job->slot;

    if (!job->holds_slot)
        return;
    job->holds_slot = 0;
    --k->active;
    if (k->more)
        bg_claim(job->slot);
}

static outbox_job_t *job_new(worker_t *w)
{
    outbox_job_t *job = malloc(sizeof(*job));

    if (job == NULL)
        h2o_fatal("no memory");
    memset(job, 0, sizeof(*job));
    job->worker = w;
    job->row.id = job->id;
    h2o_mem_init_pool(&job->pool);
    return job;
}

static void job_free(outbox_job_t *job)
{
    if (job->send != NULL)
        httpclient_cancel(job->send);
    if (h2o_timeout_is_linked(&job->resend))
        h2o_timeout_unlink(&job->resend);
    if (job->registered)
        waiting_remove(strtoll(job->id, NULL, 10));
    if (job->background) {
        --job->worker->active_requests;
        job_release_slot(job);
    }
    h2o_mem_clear_pool(&job->pool);
    free(job);
}

/* tells the waiting request (if any) and lets go of it; returns what its callback returns */
static int job_reply(outbox_job_t *job, PGresult *res, const char *err)
{
    db_query_cb cb = job->reply_cb;
    void *owner = job->reply_owner;

    job->reply_cb = NULL;
    job->reply_owner = NULL;
    if (cb == NULL)
        return 0;
    return cb(owner, res, err);
}

static char *copy_value(outbox_job_t *job, PGresult *res, int row, int column)
{
    return PQgetisnull(res, row, column) ? NULL : h2o_strdup(&job->pool, PQgetvalue(res, row, column), SIZE_MAX).base;
}

/* copies a claimed row (columns of CLAIM_COLUMNS) into the job */
static void job_take_row(outbox_job_t *job, PGresult *res, int row)
{
    snprintf(job->id, sizeof(job->id), "%s", PQgetvalue(res, row, 0));
    job->row.kind = copy_value(job, res, row, 1);
    job->row.method = copy_value(job, res, row, 2);
    job->row.path = copy_value(job, res, row, 3);
    job->row.params = copy_value(job, res, row, 4);
    job->row.idempotency_key = copy_value(job, res, row, 5);
    job->transport = transport_find(job->row.kind);
}

/* ------------------------------------------------------------------------ */
/* sending */

/* the row goes to workon.outbox_error with why */
static void job_failed(outbox_job_t *job, const char *why)
{
    job->report = h2o_strdup(&job->pool, why, SIZE_MAX).base;
    job->report_is_error = 1;
}

static void on_resend(h2o_timeout_entry_t *entry)
{
    job_send(H2O_STRUCT_FROM_MEMBER(outbox_job_t, resend, entry));
}

static void on_sent(void *data, const httpclient_response_t *res, const char *err)
{
    outbox_job_t *job = data;
    transport_verdict_t v;
    char why[128];

    job->send = NULL;
    if (err != NULL) {
        snprintf(why, sizeof(why), "no answer from %s: %s", job->transport->name, err);
        job_failed(job, why);
        job_log(job, LOG_WARN, "outbox request failed, the database schedules a retry", job->report);
        job_report(job);
        return;
    }
    memset(&v, 0, sizeof(v));
    job->transport->interpret(res, job->resends, &job->pool, &v);
    switch (v.action) {
    case TRANSPORT_RESEND:
        ++job->resends;
        job->resend.cb = on_resend;
        h2o_timeout_link(job->worker->ctx.loop, &resend_timeout, &job->resend);
        return;
    case TRANSPORT_RETRY:
        job_failed(job, v.error);
        if (v.retry_after > 0)
            snprintf(job->retry_after, sizeof(job->retry_after), "%.3f", v.retry_after);
        job_log(job, LOG_WARN, "outbox request failed, the database schedules a retry", job->report);
        break;
    default:
        snprintf(job->status, sizeof(job->status), "%d", v.status);
        job->report = v.body.base;
        if (v.warning != NULL)
            job_log(job, LOG_WARN, v.warning, job->status);
        if (v.status >= 400) {
            snprintf(why, sizeof(why), "%s refused an outbox request", job->transport->name);
            job_log(job, LOG_WARN, why, job->status);
        }
        break;
    }
    job_report(job);
}

static int on_recorded(void *owner, PGresult *res, const char *err)
{
    outbox_job_t *job = owner;
    int kept;

    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK)
        job_log(job, LOG_WARN, "could not record the row as sent, it comes back after its lease",
                res == NULL ? err : PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
    /* a waiting request asks the database for the row's answer again */
    kept = job_reply(job, NULL, outbox_err_not_claimed);
    job_free(job);
    return kept;
}

/* the transport keeps the row in the database instead of sending it (e-mail capture) */
static int job_record(outbox_job_t *job, const char *sql)
{
    db_query_t *q = pool_query_new(&job->worker->pool, DB_QUERY_SQL, on_recorded, job);

    q->sql = sql;
    q->values[0] = job->id;
    q->nparams = 1;
    if (pool_submit(&job->worker->pool, q) != 0) {
        pool_query_detach(&job->worker->pool, q);
        on_recorded(job, NULL, "no database connection");
    }
    return 1;
}

static void job_send(outbox_job_t *job)
{
    httpclient_request_t req;
    const char *err = NULL, *local;

    memset(&req, 0, sizeof(req));
    if (job->transport != NULL && job->transport->configured() && job->transport->local_sql != NULL &&
        (local = job->transport->local_sql()) != NULL && job_record(job, local))
        return;
    if (job->transport == NULL || !job->transport->configured())
        err = "no configured transport for the row's kind";
    else if ((err = job->transport->build(&job->row, &job->pool, &req)) == NULL)
        job->send = httpclient_send(job->worker, &req, on_sent, job, &err);
    if (job->send == NULL) {
        /* a row that cannot be sent as it is: the database counts the attempt */
        job_log(job, LOG_ERROR, "outbox row cannot be sent", err);
        job_failed(job, err);
        job_report(job);
    }
}

/* ------------------------------------------------------------------------ */
/* the database side */

static int on_report_result(void *owner, PGresult *res, const char *err)
{
    outbox_job_t *job = owner;
    int kept;

    if (res == NULL)
        job_log(job, LOG_WARN, "could not hand the answer to the database, the row is sent again after its lease", err);
    else if (PQresultStatus(res) != PGRES_TUPLES_OK)
        job_log(job, LOG_ERROR, job->report_is_error ? "workon.outbox_error failed" : "workon.outbox_result failed",
                PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
    kept = job_reply(job, res, err);
    job_free(job);
    return kept;
}

static void job_report_one(outbox_job_t *job);
static void batch_add(outbox_job_t *job);

static void job_report(outbox_job_t *job)
{
    job_release_slot(job);
    /* an answer nobody waits for: recorded with the others of this pass of the loop */
    if (job->background && !job->report_is_error && job->reply_cb == NULL && job->transport != NULL &&
        job->transport->batch_results) {
        batch_add(job);
        return;
    }
    job_report_one(job);
}

/* text[]-literal element: in double quotes, with \ and " escaped */
static void add_array_element(strbuf_t *sb, const char *s)
{
    const char *p;

    strbuf_lit(sb, "\"");
    for (p = s; *p != '\0'; ++p) {
        if (*p == '"' || *p == '\\')
            strbuf_lit(sb, "\\");
        strbuf_add(sb, p, 1);
    }
    strbuf_lit(sb, "\"");
}

static void batch_free(result_batch_t *b)
{
    h2o_mem_clear_pool(&b->pool);
    free(b);
}

static int on_batch_result(void *owner, PGresult *res, const char *err)
{
    result_batch_t *b = owner;
    size_t i;

    if (res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK) {
        for (i = 0; i != b->n; ++i)
            job_free(b->jobs[i]);
    } else {
        /* one row's error rolls the batch back: each is recorded alone, so the others are not held up */
        if (log_enabled(LOG_WARN))
            log_write(LOG_WARN, "outbox: recording a batch of answers failed, recording them one by one", "reason",
                      res == NULL ? err : PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY), NULL);
        for (i = 0; i != b->n; ++i)
            job_report_one(b->jobs[i]);
    }
    batch_free(b);
    return 0;
}

/* records the answers collected so far: one statement, or the usual one when there is one */
static void batch_flush(void)
{
    result_batch_t *b = batch;
    strbuf_t ids, statuses, bodies;
    db_query_t *q;
    worker_t *w;
    size_t i;

    if (b == NULL)
        return;
    batch = NULL;
    if (h2o_timeout_is_linked(&batch_entry))
        h2o_timeout_unlink(&batch_entry);
    if (b->n == 1) {
        job_report_one(b->jobs[0]);
        batch_free(b);
        return;
    }
    w = b->jobs[0]->worker;
    strbuf_init(&ids, &b->pool, b->n * 12 + 2);
    strbuf_init(&statuses, &b->pool, b->n * 4 + 2);
    strbuf_init(&bodies, &b->pool, b->n * 64 + 2);
    for (i = 0; i != b->n; ++i) {
        outbox_job_t *job = b->jobs[i];
        strbuf_printf(&ids, "%c%s", i == 0 ? '{' : ',', job->id);
        strbuf_printf(&statuses, "%c%s", i == 0 ? '{' : ',', job->status);
        strbuf_add(&bodies, i == 0 ? "{" : ",", 1);
        add_array_element(&bodies, job->report);
    }
    strbuf_lit(&ids, "}");
    strbuf_lit(&statuses, "}");
    strbuf_lit(&bodies, "}");
    q = pool_query_new(&w->pool, DB_QUERY_SQL, on_batch_result, b);
    q->sql = RESULTS_SQL;
    q->values[0] = strbuf_finish(&ids).base;
    q->values[1] = strbuf_finish(&statuses).base;
    q->values[2] = strbuf_finish(&bodies).base;
    q->nparams = 3;
    if (pool_submit(&w->pool, q) != 0) {
        pool_query_detach(&w->pool, q);
        on_batch_result(b, NULL, "no database connection");
    }
}

static void on_batch_due(h2o_timeout_entry_t *entry)
{
    (void)entry;
    batch_flush();
}

static void batch_add(outbox_job_t *job)
{
    if (batch == NULL) {
        if ((batch = malloc(sizeof(*batch))) == NULL)
            h2o_fatal("no memory");
        batch->n = 0;
        h2o_mem_init_pool(&batch->pool);
    }
    batch->jobs[batch->n++] = job;
    if (batch->n == RESULT_BATCH_MAX) {
        batch_flush();
    } else if (!h2o_timeout_is_linked(&batch_entry)) {
        batch_entry.cb = on_batch_due;
        h2o_timeout_link(job->worker->ctx.loop, &job->worker->ctx.zero_timeout, &batch_entry);
    }
}

static void job_report_one(outbox_job_t *job)
{
    db_query_t *q = pool_query_new(&job->worker->pool, DB_QUERY_SQL, on_report_result, job);

    q->values[0] = job->id;
    if (job->report_is_error) {
        q->sql = ERROR_SQL;
        q->values[1] = job->report;
        q->values[2] = job->retry_after[0] != '\0' ? job->retry_after : NULL;
        q->nparams = 3;
    } else {
        q->sql = RESULT_SQL;
        q->values[1] = job->status;
        q->values[2] = job->report;
        q->nparams = 3;
    }
    if (pool_submit(&job->worker->pool, q) != 0) {
        pool_query_detach(&job->worker->pool, q);
        on_report_result(job, NULL, "no database connection");
    }
}

/* submits sql with the job's row id as $1; -1 without a database connection */
static int job_query(outbox_job_t *job, const char *sql, db_query_cb cb)
{
    db_query_t *q = pool_query_new(&job->worker->pool, DB_QUERY_SQL, cb, job);

    q->sql = sql;
    q->values[0] = job->id;
    q->nparams = 1;
    if (pool_submit(&job->worker->pool, q) != 0) {
        pool_query_detach(&job->worker->pool, q);
        return -1;
    }
    return 0;
}

/* a pause over: claim the row someone else was sending again, unless the request went away */
static void on_sending_pause(h2o_timeout_entry_t *entry)
{
    outbox_job_t *job = H2O_STRUCT_FROM_MEMBER(outbox_job_t, resend, entry);

    if (job->reply_cb == NULL) {
        job_free(job);
        return;
    }
    if (job_claim(job) != 0) {
        job_reply(job, NULL, "no database connection");
        job_free(job);
    }
}

/*
 * The row is not ours to send: while another claimer sends it, the waiting
 * request waits for that send's result (claiming again after a pause, which
 * also takes the row over should that send fail), so one call reaches the
 * provider; once the row is finished the request runs again and finds it.
 */
static int on_sending_result(void *owner, PGresult *res, const char *err)
{
    outbox_job_t *job = owner;
    int kept;

    (void)err;
    if (job->reply_cb != NULL && res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
        strcmp(PQgetvalue(res, 0, 0), "t") == 0) {
        job->resend.cb = on_sending_pause;
        h2o_timeout_link(job->worker->ctx.loop, &sending_timeout, &job->resend);
        return 0;
    }
    kept = job_reply(job, NULL, outbox_err_not_claimed);
    job_free(job);
    return kept;
}

static int on_claim_id_result(void *owner, PGresult *res, const char *err)
{
    outbox_job_t *job = owner;
    int kept;

    if (res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK && PQnfields(res) == CLAIM_NUM_COLUMNS) {
        if (PQntuples(res) == 1) {
            job_take_row(job, res, 0);
            if (job->reply_cb == NULL) {
                /* nobody waits any more, the claim is taken: send it all the same */
                job_log(job, LOG_DEBUG, "waiting request went away before the send", "detached");
            }
            job_send(job);
            return 0;
        }
        if (job->reply_cb == NULL) {
            job_free(job);
            return 0;
        }
        /* finished, or being sent by someone else: ask which */
        if (job_query(job, SENDING_SQL, on_sending_result) == 0)
            return 0;
        kept = job_reply(job, NULL, outbox_err_not_claimed);
        job_free(job);
        return kept;
    }
    if (res != NULL && PQresultStatus(res) != PGRES_FATAL_ERROR) {
        job_log(job, LOG_ERROR, "workon.outbox_claim_id returned an unexpected result", PQresStatus(PQresultStatus(res)));
        res = NULL;
        err = "unexpected result";
    }
    /* a database error goes to the waiting request as it is (mapped like any handler error) */
    kept = job_reply(job, res, err);
    job_free(job);
    return kept;
}

outbox_job_t *outbox_wait(worker_t *w, const char *id, const char *request_id, db_query_cb cb, void *owner)
{
    outbox_job_t *job = job_new(w);

    snprintf(job->id, sizeof(job->id), "%s", id);
    job->registered = waiting_add(strtoll(id, NULL, 10));
    job->row.path = "(claiming)";
    job->request_id = request_id != NULL ? h2o_strdup(&job->pool, request_id, SIZE_MAX).base : NULL;
    job->reply_cb = cb;
    job->reply_owner = owner;
    if (job_claim(job) != 0) {
        job_reply(job, NULL, "no database connection");
        job_free(job);
        return NULL;
    }
    return job;
}

static int job_claim(outbox_job_t *job)
{
    return job_query(job, CLAIM_ID_SQL, on_claim_id_result);
}

void outbox_detach(outbox_job_t *job)
{
    job->reply_cb = NULL;
    job->reply_owner = NULL;
}

/* ------------------------------------------------------------------------ */
/* the background worker */

static int on_claim_result(void *owner, PGresult *res, const char *err)
{
    bg_kind_t *k = owner;
    size_t slot = k - bg.kinds;
    int i, n;

    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK || PQnfields(res) != CLAIM_NUM_COLUMNS) {
        k->claiming = 0;
        /* no database, or no workon.outbox_claim (extension too old): said once, tried every second */
        if (bg.failures++ == 0)
            log_write(LOG_WARN, "outbox: cannot claim rows, retrying every second", "reason",
                      res == NULL ? err : PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY), NULL);
        return 0;
    }
    if (bg.failures != 0)
        log_write(LOG_INFO, "outbox: claiming rows again", NULL);
    bg.failures = 0;
    n = PQntuples(res);
    /* a full claim: there may be more due rows */
    if (n == atoi(k->limit))
        k->more = 1;
    for (i = 0; i != n; ++i) {
        outbox_job_t *job;
        if (waiting_has(strtoll(PQgetvalue(res, i, 0), NULL, 10))) {
            /* a request waits on it and sends it: the claim's lease keeps it from coming back meanwhile */
            if (log_enabled(LOG_DEBUG))
                log_write(LOG_DEBUG, "outbox: row left to its waiting request", "outbox_id", PQgetvalue(res, i, 0), NULL);
            continue;
        }
        job = job_new(bg.worker);
        job->background = 1;
        job->slot = slot;
        job->holds_slot = 1;
        ++k->active;
        /* counted like a request: SIGTERM lets the call finish instead of leaving it to the lease */
        ++bg.worker->active_requests;
        job_take_row(job, res, i);
        job_send(job);
    }
    /* only now: a row that fails at once frees its slot within the loop above */
    k->claiming = 0;
    if (k->more)
        bg_claim(slot);
    return 0;
}

/* claims due rows of one kind for its free slots */
static void bg_claim(size_t slot)
{
    bg_kind_t *k = bg.kinds + slot;
    db_query_t *q;

    if (!k->configured)
        return;
    /* a batch: a quarter of the slots free, or none busy (a claim scans past the rows claimed before it) */
    if (k->claiming || k->active >= k->concurrency || (k->active != 0 && k->concurrency - k->active < (k->concurrency + 3) / 4)) {
        k->more = 1;
        return;
    }
    if (!pool_is_up(&bg.worker->pool))
        return;
    k->more = 0;
    k->claiming = 1;
    snprintf(k->limit, sizeof(k->limit), "%zu", k->concurrency - k->active);
    q = pool_query_new(&bg.worker->pool, DB_QUERY_SQL, on_claim_result, k); /* an owner: a query without one is cancelled */
    q->sql = CLAIM_SQL;
    q->values[0] = k->kinds;
    q->values[1] = k->limit;
    q->nparams = 2;
    if (pool_submit(&bg.worker->pool, q) != 0) {
        pool_query_detach(&bg.worker->pool, q);
        k->claiming = 0;
    }
}

static void bg_claim_all(void)
{
    size_t i;

    for (i = 0; i != NUM_TRANSPORTS; ++i)
        bg_claim(i);
}

static void on_tick(h2o_timeout_entry_t *entry)
{
    (void)entry;
    h2o_timeout_link(bg.worker->ctx.loop, &bg.worker->one_sec, &bg.tick);
    if (!bg.worker->draining)
        bg_claim_all();
}

static void on_soon(h2o_timeout_entry_t *entry)
{
    (void)entry;
    if (!bg.worker->draining)
        bg_claim_all();
}

/* a transport for kind, and what it needs to send */
static int can_send(const char *kind, size_t kind_len)
{
    size_t i;

    for (i = 0; i != NUM_TRANSPORTS; ++i)
        if (h2o_memis(transports[i]->kind, strlen(transports[i]->kind), kind, kind_len) && transports[i]->configured())
            return 1;
    return 0;
}

void outbox_global_init(void)
{
    size_t i;

    for (i = 0; i != NUM_TRANSPORTS; ++i)
        transports[i]->init();
}

/* the background worker's slots of the configured transports; how many there are */
static size_t configure_kinds(void)
{
    size_t i, n = 0;

    for (i = 0; i != NUM_TRANSPORTS; ++i) {
        bg_kind_t *k = bg.kinds + i;
        if (!transports[i]->configured())
            continue;
        k->configured = 1;
        k->concurrency = transports[i]->concurrency != NULL ? transports[i]->concurrency() : DEFAULT_CONCURRENCY;
        snprintf(k->kinds, sizeof(k->kinds), "{%s}", transports[i]->kind);
        ++n;
    }
    return n;
}

void outbox_worker_start(worker_t *w)
{
    httpclient_worker_init(w);
    h2o_timeout_init(w->ctx.loop, &resend_timeout, RESEND_DELAY_MS);
    h2o_timeout_init(w->ctx.loop, &sending_timeout, SENDING_PAUSE_MS);
    h2o_timeout_init(w->ctx.loop, &notify_timeout, NOTIFY_DELAY_MS);
    if (w->id != 0 || configure_kinds() == 0)
        return;
    bg.worker = w;
    bg.started = 1;
    bg.tick.cb = on_tick;
    bg.soon.cb = on_soon;
    h2o_timeout_link(w->ctx.loop, &w->one_sec, &bg.tick);
}

void outbox_on_notify(worker_t *w, const char *payload)
{
    const char *colon;

    /* the payload is "<kind>:<id>" */
    if (!bg.started || bg.worker != w || payload == NULL || (colon = strchr(payload, ':')) == NULL ||
        !can_send(payload, colon - payload))
        return;
    /* several notifications in one loop pass make one claim */
    if (!h2o_timeout_is_linked(&bg.soon))
        h2o_timeout_link(w->ctx.loop, &notify_timeout, &bg.soon);
}
