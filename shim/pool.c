/*
 * The per-thread query pipeline: DB_POOL_SIZE libpq connections in pipeline
 * mode (each one a dbconn_t, dbconn.c), and the queries waiting for them.
 * It knows queries and their owners' callbacks, nothing of HTTP, routes or
 * the control channel.
 *
 * Requests are queued (pool->pending) and sent from a zero-length timeout, so
 * everything queued during one pass of the loop is written together.  Every
 * query is followed by its own Sync: each request is its own implicit
 * transaction (an error in one never rolls back another), while queries are
 * still pipelined without waiting for each other's round trip.  The results
 * of one query are: its result, NULL, then PGRES_PIPELINE_SYNC; the caller is
 * told at the Sync, once the transaction has committed.
 *
 * A query goes to the ready connection with the fewest queries in flight, at
 * most max_inflight per connection; the rest wait in pending.  When a
 * connection breaks, everything in flight on it fails (the caller answers
 * 503) and it reconnects (dbconn.c).  While no connection is up, new queries
 * wait; one second after the last connection went down the waiting ones fail
 * and new ones fail at once, until a connection is back.
 *
 * A request whose client went away (HTTP/2 reset, or an HTTP/1 socket found
 * closed by a periodic sweep) is dropped while it waits in pending.  Once
 * sent, its query is cancelled when it is the one the backend is running (the
 * head of the connection's in-flight list, running for CANCEL_AFTER_MS): the
 * pool hands the backend's pid to its canceller (the control channel sends
 * `pg_cancel_backend()`), or, without one (a replica, a transaction pooler),
 * sends a cancel request of the protocol.  A cancel can race with the end of its target and
 * hit the next query instead; such a query (57014 while a cancel is armed,
 * not the target) was rolled back and is sent again, once.
 */
#include "shim.h"
#include <stdlib.h>
#include <string.h>

/* a query that waited this long for a connection is checked for an abandoned client */
#define ABANDON_CHECK_MS 2
/* a query in flight this long is checked for an abandoned client by the sweep */
#define ABANDON_INFLIGHT_MS 50
/* an abandoned query is cancelled once it has been running this long */
#define CANCEL_AFTER_MS 5
/* how long a sent cancel may still hit a query */
#define CANCEL_ARMED_MS 500

/* what a query's commit wrote up to: the read-your-writes position (replicas.c) */
#define LSN_SQL "SELECT pg_catalog.pg_current_wal_insert_lsn()::text"

#define DISPATCH_STATEMENT "workon_dispatch"
/*
 * The last column, read after the call: "on" when the call wrote realtime
 * events and left their NOTIFY to the shim (workon.notify, wake.c)
 */
#define DISPATCH_EVENTS_COLUMN "pg_catalog.current_setting('workon.events_pending', true)"
#define DISPATCH_SQL                                                                                                               \
    "SELECT status, headers, body, user_id, outbox_id, " DISPATCH_EVENTS_COLUMN                                                    \
    " FROM workon.dispatch($1::oid, $2::jsonb, $3::jsonb, $4::text, $5::text, $6::jsonb)"

/*
 * Bytes in and out: the body goes as bytea and the row comes back in binary,
 * where a text column is its bytes, as in text format, and the body is the
 * file's bytes, never hex.  Called in the select list, not FROM: a function
 * scan would first copy its row into a tuplestore, which spills a body larger
 * than work_mem to a temporary file.  Not prepared: a request of this kind
 * moves megabytes, planning is not what it costs.
 */
#define DISPATCH_BYTES_SQL                                                                                                         \
    "SELECT (d).status::text, (d).headers, (d).body, (d).user_id::text, (d).outbox_id::text, " DISPATCH_EVENTS_COLUMN ","         \
    " (d).store_op, (d).store_key, pg_catalog.encode((d).store_sha256, 'hex'), (d).store_content_type"                              \
    " FROM (SELECT workon.dispatch_bytes($1::oid, $2::jsonb, $3::jsonb, $4::bytea, $5::text, $6::jsonb) AS d OFFSET 0) AS s"

enum {
    DB_QUERY_PREPARE = 100,
};

struct st_db_conn_t {
    dbconn_t conn; /* first member */
    db_pool_t *pool;
    int up; /* counted in pool->num_ready */
    int dirty;
    h2o_linklist_t inflight;
    size_t num_inflight;
    size_t num_bytes_inflight; /* DB_QUERY_DISPATCH_BYTES among them: at most one (on_dispatch) */
    int head_ended; /* the head query's results ended (NULL seen), its Sync is next */
    int prefix_state; /* DATABASE_POOLER: the head query's settings statement: 0 sent, 1 answered, 2 done */
    int prepared;   /* 0: no, 1: sent, 2: ok */
    int prepare_failed;
    uint64_t next_seq;
    uint64_t head_since; /* when the head of the in-flight list started running */
    int cancel_armed;
    uint64_t cancel_target_seq;
    uint64_t cancel_at;
};

const char pool_err_abandoned[] = "client went away";
const char pool_err_full[] = "too many queries wait for a connection";

static void pool_schedule_dispatch(db_pool_t *pool);
static void pool_sweep_soon(db_pool_t *pool, int fast);

#define conn_pg(c) ((c)->conn.pg)
#define conn_is_ready(c) ((c)->conn.state == DBCONN_READY)

/* ------------------------------------------------------------------------ */
/* queries */

db_query_t *pool_query_new(db_pool_t *pool, int kind, db_query_cb cb, void *owner)
{
    db_query_t *q = pool->free_queries;

    if (q != NULL)
        pool->free_queries = (db_query_t *)q->link.next;
    else if ((q = malloc(sizeof(*q))) == NULL)
        h2o_fatal("no memory");
    memset(q, 0, sizeof(*q));
    q->kind = kind;
    q->cb = cb;
    q->owner = owner;
    return q;
}

static void query_free(db_pool_t *pool, db_query_t *q)
{
    if (q->res != NULL)
        PQclear(q->res);
    q->link.next = (h2o_linklist_t *)pool->free_queries;
    pool->free_queries = q;
}

/* reports the outcome to the owner (if still there) and frees the query */
static void query_finish(db_pool_t *pool, db_query_t *q, const char *err)
{
    if (q->counted)
        --pool->in_use;
    if (q->owner != NULL && q->cb != NULL && q->cb(q->owner, err == NULL ? q->res : NULL, err) && err == NULL)
        q->res = NULL; /* kept by the owner */
    query_free(pool, q);
}

void pool_query_detach(db_pool_t *pool, db_query_t *q)
{
    if (q->conn == NULL) {
        /* not sent yet: forget it */
        if (h2o_linklist_is_linked(&q->link)) {
            h2o_linklist_unlink(&q->link);
            --pool->num_pending;
        }
        query_free(pool, q);
    } else {
        /* in flight: the result will be dropped, the query cancelled if it runs long */
        q->owner = NULL;
        pool_sweep_soon(pool, 1);
    }
}

int pool_is_up(db_pool_t *pool)
{
    return pool->num_ready != 0;
}

size_t pool_busy_connections(db_pool_t *pool)
{
    size_t i, n = 0;

    for (i = 0; i != pool->size; ++i)
        if (pool->conns[i].num_inflight != 0)
            ++n;
    return n;
}

int pool_conn_busy(db_pool_t *pool, size_t i)
{
    return __atomic_load_n(&pool->conns[i].num_inflight, __ATOMIC_RELAXED) != 0;
}

/* ------------------------------------------------------------------------ */
/* sending */

static int conn_send_lsn(db_conn_t *c, db_query_t *q);

static int conn_send(db_conn_t *c, db_query_t *q)
{
    PGconn *pg = conn_pg(c);
    int ok = 0;

    /*
     * Behind a transaction pooler each transaction may run on another server
     * session: what a session would have kept (statement_timeout, the
     * workon.* settings) goes with every transaction, a statement before the
     * query in the same implicit transaction (no Sync between them).
     */
    q->prefixed = shim_settings.pooler && q->kind != DB_QUERY_INTERNAL && q->kind != DB_QUERY_LSN;
    if (q->prefixed && !PQsendQueryParams(pg, settings_local_sql(), 0, NULL, NULL, NULL, NULL, 0))
        return -1;
    switch (q->kind) {
    case DB_QUERY_DISPATCH:
        /* a named statement does not outlive the transaction behind a transaction pooler */
        ok = shim_settings.pooler ? PQsendQueryParams(pg, DISPATCH_SQL, 6, NULL, q->values, q->lengths, q->formats, 0)
                                  : PQsendQueryPrepared(pg, DISPATCH_STATEMENT, 6, q->values, q->lengths, q->formats, 0);
        break;
    case DB_QUERY_DISPATCH_BYTES:
        ok = PQsendQueryParams(pg, DISPATCH_BYTES_SQL, 6, NULL, q->values, q->lengths, q->formats, 1);
        break;
    case DB_QUERY_PREPARE:
        ok = PQsendPrepare(pg, DISPATCH_STATEMENT, DISPATCH_SQL, 6, NULL);
        break;
    default:
        /* lengths and formats are zero (text) unless the caller set them */
        ok = PQsendQueryParams(pg, q->sql, q->nparams, NULL, q->nparams != 0 ? q->values : NULL, q->lengths, q->formats, 0);
        break;
    }
    if (!ok || !PQpipelineSync(pg))
        return -1;
    q->conn = c;
    q->seq = ++c->next_seq;
    q->sent_at = h2o_now(c->conn.worker->ctx.loop);
    if (h2o_linklist_is_empty(&c->inflight))
        c->head_since = q->sent_at;
    h2o_linklist_insert(&c->inflight, &q->link);
    ++c->num_inflight;
    if (q->kind == DB_QUERY_DISPATCH_BYTES)
        ++c->num_bytes_inflight;
    if (q->want_lsn && conn_send_lsn(c, q) != 0)
        return -2; /* sent, but the connection broke */
    return 0;
}

/*
 * Right behind a query that wants its commit's WAL position: a statement of
 * its own, so it runs after that commit.  The query is reported once this
 * one answers (on_conn_input).
 */
static int conn_send_lsn(db_conn_t *c, db_query_t *q)
{
    db_query_t *lq = pool_query_new(c->pool, DB_QUERY_LSN, NULL, c);

    (void)q;
    lq->sql = LSN_SQL;
    if (conn_send(c, lq) != 0) {
        query_free(c->pool, lq);
        return -1;
    }
    return 0;
}

static int on_internal_result(void *owner, PGresult *res, const char *err);

static int conn_send_internal(db_conn_t *c, int kind, const char *sql)
{
    db_query_t *q = pool_query_new(c->pool, kind, on_internal_result, c);
    q->sql = sql;
    if (conn_send(c, q) != 0) {
        query_free(c->pool, q);
        return -1;
    }
    if (kind == DB_QUERY_PREPARE)
        c->prepared = 1;
    return 0;
}

static int on_internal_result(void *owner, PGresult *res, const char *err)
{
    db_conn_t *c = owner;
    /* the head of the in-flight list is the query being reported; its kind tells what it was */
    db_query_t *q = H2O_STRUCT_FROM_MEMBER(db_query_t, link, c->inflight.next);
    int is_prepare = q->kind == DB_QUERY_PREPARE;

    if (err != NULL)
        return 0;
    if (res != NULL && PQresultStatus(res) == PGRES_COMMAND_OK) {
        if (is_prepare) {
            c->prepared = 2;
            c->prepare_failed = 0;
        }
        return 0;
    }
    if (is_prepare) {
        c->prepared = 0;
        /* retried before the next API query; said once until it works */
        if (c->prepare_failed++ != 0)
            return 0;
    }
    if (res != NULL) {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE), *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
        char thread[16];
        snprintf(thread, sizeof(thread), "%u", c->conn.worker->id);
        log_write(LOG_WARN, is_prepare ? "could not prepare workon.dispatch" : "connection setup statement failed", "#thread",
                  thread, "sqlstate", state, "error", msg != NULL ? msg : pq_first_line(PQresultErrorMessage(res)), NULL);
    }
    return 0;
}

static void on_dispatch(h2o_timeout_entry_t *entry)
{
    db_pool_t *pool = H2O_STRUCT_FROM_MEMBER(db_pool_t, dispatch_entry, entry);
    size_t i;
    int r;

    /*
     * A bytes query (a file) goes to a connection without one in flight:
     * libpq copies its body into the connection's output buffer and keeps
     * that buffer at its largest size, so this bounds what the pool holds to
     * one file per connection.  One that has to wait lets the queries behind
     * it pass and keeps its place.
     */
    h2o_linklist_t deferred;
    size_t num_deferred = 0;

    h2o_linklist_init_anchor(&deferred);
    while (!h2o_linklist_is_empty(&pool->pending)) {
        db_conn_t *best = NULL, *best_any = NULL;
        db_query_t *q = H2O_STRUCT_FROM_MEMBER(db_query_t, link, pool->pending.next);
        for (i = 0; i != pool->size; ++i) {
            db_conn_t *c = pool->conns + i;
            if (!conn_is_ready(c) || c->num_inflight >= pool->max_inflight)
                continue;
            if (best_any == NULL || c->num_inflight < best_any->num_inflight)
                best_any = c;
            if ((q->kind != DB_QUERY_DISPATCH_BYTES || c->num_bytes_inflight == 0) &&
                (best == NULL || c->num_inflight < best->num_inflight))
                best = c;
        }
        if (best_any == NULL)
            break;
        h2o_linklist_unlink(&q->link);
        --pool->num_pending;
        if (best == NULL) {
            h2o_linklist_insert(&deferred, &q->link);
            ++num_deferred;
            continue;
        }
        if (q->abandoned != NULL && h2o_now(pool->worker->ctx.loop) - q->queued_at >= ABANDON_CHECK_MS && q->abandoned(q->owner)) {
            query_finish(pool, q, pool_err_abandoned);
            continue;
        }
        if (q->kind == DB_QUERY_DISPATCH && best->prepared == 0 && !shim_settings.pooler &&
            conn_send_internal(best, DB_QUERY_PREPARE, NULL) != 0) {
            h2o_linklist_insert(pool->pending.next, &q->link);
            ++pool->num_pending;
            dbconn_fail_pq(&best->conn);
            continue;
        }
        if ((r = conn_send(best, q)) == -2) {
            /* in flight: it fails with the connection */
            q->counted = 1;
            ++pool->in_use;
            dbconn_fail_pq(&best->conn);
            continue;
        }
        if (r != 0) {
            /* the connection is broken; the query was not sent, keep it */
            h2o_linklist_insert(pool->pending.next, &q->link);
            ++pool->num_pending;
            dbconn_fail_pq(&best->conn);
            continue;
        }
        q->counted = 1;
        ++pool->in_use;
        best->dirty = 1;
    }
    if (num_deferred != 0) {
        h2o_linklist_insert_list(pool->pending.next, &deferred);
        pool->num_pending += num_deferred;
    }

    for (i = 0; i != pool->size; ++i) {
        db_conn_t *c = pool->conns + i;
        if (c->dirty) {
            c->dirty = 0;
            if (conn_is_ready(c))
                dbconn_flush(&c->conn);
        }
    }
    if (pool->in_use != 0)
        pool_sweep_soon(pool, 0);
}

static void pool_schedule_dispatch(db_pool_t *pool)
{
    if (pool->num_ready != 0 && !h2o_linklist_is_empty(&pool->pending) && !h2o_timeout_is_linked(&pool->dispatch_entry))
        h2o_timeout_link(pool->worker->ctx.loop, &pool->worker->ctx.zero_timeout, &pool->dispatch_entry);
}

/* queries the ready connections can take now (those pending are sent at the end of this pass of the loop) */
static size_t pool_free_slots(db_pool_t *pool)
{
    size_t i, n = 0;

    for (i = 0; i != pool->size; ++i)
        if (conn_is_ready(pool->conns + i) && pool->conns[i].num_inflight < pool->max_inflight)
            n += pool->max_inflight - pool->conns[i].num_inflight;
    return n;
}

int pool_submit(db_pool_t *pool, db_query_t *q)
{
    if (pool->num_ready == 0 && pool->fail_fast)
        return -1;
    if (pool->num_pending >= pool->max_pending && pool->num_pending - pool_free_slots(pool) >= pool->max_pending)
        return -2;
    q->queued_at = h2o_now(pool->worker->ctx.loop);
    h2o_linklist_insert(&pool->pending, &q->link);
    ++pool->num_pending;
    pool_schedule_dispatch(pool);
    return 0;
}

/* fails every query that waits for a connection */
static void fail_pending(db_pool_t *pool, const char *why)
{
    while (!h2o_linklist_is_empty(&pool->pending)) {
        db_query_t *q = H2O_STRUCT_FROM_MEMBER(db_query_t, link, pool->pending.next);
        h2o_linklist_unlink(&q->link);
        --pool->num_pending;
        query_finish(pool, q, why);
    }
}

static void on_outage(h2o_timeout_entry_t *entry)
{
    db_pool_t *pool = H2O_STRUCT_FROM_MEMBER(db_pool_t, outage_entry, entry);

    if (pool->num_ready != 0)
        return;
    pool->fail_fast = 1;
    fail_pending(pool, "no database connection");
}

static void pool_on_down(db_pool_t *pool)
{
    if (!h2o_timeout_is_linked(&pool->outage_entry))
        h2o_timeout_link(pool->worker->ctx.loop, &pool->worker->one_sec, &pool->outage_entry);
}

static void pool_on_up(db_pool_t *pool)
{
    if (h2o_timeout_is_linked(&pool->outage_entry))
        h2o_timeout_unlink(&pool->outage_entry);
    pool->fail_fast = 0;
    pool_schedule_dispatch(pool);
}

/* ------------------------------------------------------------------------ */
/* clients that went away */

static void pool_sweep_soon(db_pool_t *pool, int fast)
{
    worker_t *w = pool->worker;

    if (h2o_timeout_is_linked(&pool->sweep_entry)) {
        if (!fast)
            return;
        h2o_timeout_unlink(&pool->sweep_entry);
    }
    h2o_timeout_link(w->ctx.loop, fast ? &w->sweep_fast : &w->sweep_slow, &pool->sweep_entry);
}

/* tells the owner its client is gone (it answers and lets go); the query stays in flight */
static void query_abandon(db_query_t *q)
{
    void *owner = q->owner;

    q->owner = NULL;
    if (q->cb != NULL)
        q->cb(owner, NULL, pool_err_abandoned);
}

static void *cancel_main(void *arg)
{
    PGcancel *cancel = arg;
    char err[256];

    PQcancel(cancel, err, sizeof(err));
    PQfreeCancel(cancel);
    return NULL;
}

/*
 * A cancel request of the protocol (what PgBouncer forwards to the server
 * session the connection is on, and what a replica takes): libpq 15 only
 * sends it blocking, so a short-lived thread of its own does.
 */
static void conn_cancel_request(db_conn_t *c)
{
    PGcancel *cancel = PQgetCancel(conn_pg(c));
    pthread_attr_t attr;
    pthread_t thread;

    if (cancel == NULL)
        return;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&thread, &attr, cancel_main, cancel) != 0)
        PQfreeCancel(cancel);
    pthread_attr_destroy(&attr);
}

/* cancels the running query when nobody waits for it; returns 1 while there is work left */
static int conn_maybe_cancel(db_conn_t *c, uint64_t now)
{
    db_pool_t *pool = c->pool;
    db_query_t *head;

    if (!conn_is_ready(c) || h2o_linklist_is_empty(&c->inflight))
        return 0;
    head = H2O_STRUCT_FROM_MEMBER(db_query_t, link, c->inflight.next);
    if (head->owner != NULL || head->kind == DB_QUERY_PREPARE || head->kind == DB_QUERY_INTERNAL || head->kind == DB_QUERY_LSN)
        return 0;
    if (c->cancel_armed) {
        if (now - c->cancel_at < CANCEL_ARMED_MS)
            return 1;
        c->cancel_armed = 0;
    }
    if (now - c->head_since < CANCEL_AFTER_MS)
        return 1;
    c->cancel_armed = 1;
    c->cancel_target_seq = head->seq;
    c->cancel_at = now;
    if (pool->cancel_backend != NULL)
        pool->cancel_backend(pool->cancel_data, PQbackendPID(conn_pg(c)));
    else
        conn_cancel_request(c);
    return 1;
}

/* whether q failed because of a cancel that was meant for another query */
static int conn_cancel_hit(db_conn_t *c, db_query_t *q)
{
    const char *state;

    if (!c->cancel_armed || q->res == NULL || PQresultStatus(q->res) != PGRES_FATAL_ERROR ||
        (state = PQresultErrorField(q->res, PG_DIAG_SQLSTATE)) == NULL || strcmp(state, "57014") != 0)
        return 0;
    c->cancel_armed = 0;
    return q->seq != c->cancel_target_seq && q->owner != NULL && !q->retried;
}

static void requeue(db_pool_t *pool, db_query_t *q)
{
    if (q->counted) {
        q->counted = 0;
        --pool->in_use;
    }
    PQclear(q->res);
    q->res = NULL;
    q->conn = NULL;
    q->retried = 1;
    h2o_linklist_insert(pool->pending.next, &q->link);
    ++pool->num_pending;
    pool_schedule_dispatch(pool);
}

static void on_sweep(h2o_timeout_entry_t *entry)
{
    db_pool_t *pool = H2O_STRUCT_FROM_MEMBER(db_pool_t, sweep_entry, entry);
    uint64_t now = h2o_now(pool->worker->ctx.loop);
    int busy = 0;
    size_t i;

    for (i = 0; i != pool->size; ++i) {
        db_conn_t *c = pool->conns + i;
        h2o_linklist_t *node;
        if (!conn_is_ready(c))
            continue;
        for (node = c->inflight.next; node != &c->inflight; node = node->next) {
            db_query_t *q = H2O_STRUCT_FROM_MEMBER(db_query_t, link, node);
            if (q->owner != NULL && q->abandoned != NULL && now - q->sent_at >= ABANDON_INFLIGHT_MS && q->abandoned(q->owner))
                query_abandon(q);
        }
        busy |= conn_maybe_cancel(c, now);
    }
    if (busy)
        pool_sweep_soon(pool, 1);
    else if (pool->in_use != 0)
        pool_sweep_soon(pool, 0);
}

/* ------------------------------------------------------------------------ */
/* results */

static void on_conn_input(dbconn_t *conn)
{
    db_conn_t *c = (db_conn_t *)conn;
    db_pool_t *pool = c->pool;

    while (conn_pg(c) != NULL && !PQisBusy(conn_pg(c))) {
        PGresult *res = PQgetResult(conn_pg(c));
        db_query_t *q;

        if (h2o_linklist_is_empty(&c->inflight)) {
            if (res == NULL)
                break;
            PQclear(res);
            continue;
        }
        q = H2O_STRUCT_FROM_MEMBER(db_query_t, link, c->inflight.next);
        if (q->prefixed && c->prefix_state != 2) {
            /* the settings statement before the query: its error is the query's, else nothing */
            if (res == NULL) {
                if (c->prefix_state == 0)
                    break;
                c->prefix_state = 2;
                continue;
            }
            if (PQresultStatus(res) == PGRES_FATAL_ERROR && q->res == NULL)
                q->res = res;
            else
                PQclear(res);
            c->prefix_state = 1;
            continue;
        }
        if (res == NULL) {
            /* end of the head query's results, or nothing more to read for now */
            if (q->res != NULL && !c->head_ended) {
                c->head_ended = 1;
                continue;
            }
            break;
        }
        if (PQresultStatus(res) == PGRES_PIPELINE_SYNC) {
            PQclear(res);
            c->head_ended = 0;
            c->prefix_state = 0;
            if (q->res == NULL) {
                /* a Sync without a result: protocol out of step */
                dbconn_fail(&c->conn, "unexpected pipeline state");
                return;
            }
            if (q->kind == DB_QUERY_LSN) {
                db_query_t *done = q->follows;
                h2o_linklist_unlink(&q->link);
                --c->num_inflight;
                if (done != NULL) {
                    if (done->owner != NULL && done->lsn_out != NULL && PQresultStatus(q->res) == PGRES_TUPLES_OK &&
                        PQntuples(q->res) == 1 && PQgetlength(q->res, 0, 0) < 20)
                        strcpy(done->lsn_out, PQgetvalue(q->res, 0, 0));
                    query_finish(pool, done, NULL);
                }
                query_free(pool, q);
            } else if (q->kind == DB_QUERY_PREPARE || q->kind == DB_QUERY_INTERNAL) {
                /* reported while still at the head (the callback looks at its kind) */
                if (q->cb != NULL)
                    q->cb(q->owner, q->res, NULL);
                h2o_linklist_unlink(&q->link);
                --c->num_inflight;
                query_free(pool, q);
            } else {
                h2o_linklist_unlink(&q->link);
                --c->num_inflight;
                if (q->kind == DB_QUERY_DISPATCH_BYTES && --c->num_bytes_inflight == 0)
                    pool_schedule_dispatch(pool); /* a file that waited for this connection */
                c->head_since = h2o_now(pool->worker->ctx.loop);
                /* a query that wants its commit's position waits for the statement behind it */
                db_query_t *lq = q->want_lsn && !h2o_linklist_is_empty(&c->inflight)
                                     ? H2O_STRUCT_FROM_MEMBER(db_query_t, link, c->inflight.next)
                                     : NULL;
                if (lq != NULL && lq->kind != DB_QUERY_LSN)
                    lq = NULL;
                if (conn_cancel_hit(c, q)) {
                    /* a cancel meant for an abandoned query hit this one: it was rolled back, send it again */
                    requeue(pool, q);
                } else if (lq != NULL && PQresultStatus(q->res) == PGRES_TUPLES_OK) {
                    lq->follows = q;
                } else {
                    query_finish(pool, q, NULL);
                }
                if (!h2o_linklist_is_empty(&c->inflight) &&
                    H2O_STRUCT_FROM_MEMBER(db_query_t, link, c->inflight.next)->owner == NULL)
                    pool_sweep_soon(pool, 1);
            }
            continue;
        }
        if (q->res == NULL)
            q->res = res;
        else
            PQclear(res);
    }

    if (conn_pg(c) != NULL && PQstatus(conn_pg(c)) == CONNECTION_BAD) {
        dbconn_fail_pq(&c->conn);
        return;
    }
    pool_schedule_dispatch(pool);
}

/* ------------------------------------------------------------------------ */
/* connections */

static void on_conn_connected(dbconn_t *conn)
{
    static __thread char set_sql[64];
    db_conn_t *c = (db_conn_t *)conn;
    db_pool_t *pool = c->pool;

    c->head_ended = 0;
    if (!PQenterPipelineMode(conn->pg)) {
        dbconn_fail(conn, "could not enter pipeline mode");
        return;
    }
    if (shim_settings.pooler) {
        /* nothing kept in the session: the settings go with every transaction (conn_send) */
        c->prepared = 2;
    } else {
        snprintf(set_sql, sizeof(set_sql), "SET statement_timeout = %llu", (unsigned long long)shim_settings.request_timeout_ms);
        if (conn_send_internal(c, DB_QUERY_INTERNAL, set_sql) != 0 || conn_send_internal(c, DB_QUERY_PREPARE, NULL) != 0) {
            dbconn_fail_pq(conn);
            return;
        }
    }
    c->up = 1;
    if (pool->num_ready++ == 0)
        pool_on_up(pool);
    else
        pool_schedule_dispatch(pool);
}

static void on_conn_lost(dbconn_t *conn, int was_ready)
{
    db_conn_t *c = (db_conn_t *)conn;
    db_pool_t *pool = c->pool;
    h2o_linklist_t failed;

    (void)was_ready;
    c->prepared = 0;
    c->dirty = 0;
    c->head_ended = 0;
    c->prefix_state = 0;
    c->cancel_armed = 0;
    if (c->up) {
        c->up = 0;
        if (--pool->num_ready == 0)
            pool_on_down(pool);
    }

    /* everything in flight on this connection fails (503 for the caller) */
    h2o_linklist_init_anchor(&failed);
    h2o_linklist_insert_list(&failed, &c->inflight);
    c->num_inflight = 0;
    c->num_bytes_inflight = 0;
    while (!h2o_linklist_is_empty(&failed)) {
        db_query_t *q = H2O_STRUCT_FROM_MEMBER(db_query_t, link, failed.next);
        h2o_linklist_unlink(&q->link);
        if (q->kind == DB_QUERY_LSN && q->follows != NULL) {
            /* committed: answered without its position */
            query_finish(pool, q->follows, NULL);
            query_free(pool, q);
        } else if (q->kind == DB_QUERY_PREPARE || q->kind == DB_QUERY_INTERNAL || q->kind == DB_QUERY_LSN)
            query_free(pool, q);
        else
            query_finish(pool, q, "database connection lost");
    }
}

static const dbconn_callbacks_t conn_callbacks = {on_conn_connected, on_conn_input, on_conn_lost};

/* ------------------------------------------------------------------------ */

void pool_init(db_pool_t *pool, worker_t *worker, const char *name, const char *url, size_t size, size_t max_inflight,
               size_t max_pending, pool_cancel_cb cancel_backend, void *cancel_data)
{
    size_t i;

    memset(pool, 0, sizeof(*pool));
    pool->worker = worker;
    pool->name = name;
    pool->url = url;
    pool->size = size;
    pool->max_inflight = max_inflight;
    pool->max_pending = max_pending;
    pool->cancel_backend = cancel_backend;
    pool->cancel_data = cancel_data;
    pool->conns = calloc(pool->size, sizeof(db_conn_t));
    if (pool->conns == NULL)
        h2o_fatal("no memory");
    h2o_linklist_init_anchor(&pool->pending);
    pool->dispatch_entry.cb = on_dispatch;
    pool->outage_entry.cb = on_outage;
    pool->sweep_entry.cb = on_sweep;
    for (i = 0; i != pool->size; ++i) {
        db_conn_t *c = pool->conns + i;
        char label[16];
        if (strcmp(name, "primary") == 0)
            snprintf(label, sizeof(label), "%zu", i);
        else
            snprintf(label, sizeof(label), "%.10s%zu", name, i);
        dbconn_init(&c->conn, worker, &conn_callbacks, label);
        c->conn.url = url;
        c->conn.pooled = shim_settings.pooler;
        c->pool = pool;
        h2o_linklist_init_anchor(&c->inflight);
    }
}

void pool_start(db_pool_t *pool)
{
    size_t i;

    /* until the first connection is up, requests wait (at most a second) */
    pool_on_down(pool);
    for (i = 0; i != pool->size; ++i)
        dbconn_start(&pool->conns[i].conn);
}

void pool_stop(db_pool_t *pool)
{
    size_t i;

    for (i = 0; i != pool->size; ++i)
        dbconn_stop(&pool->conns[i].conn);
}
