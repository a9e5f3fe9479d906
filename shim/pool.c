/*
 * The per-thread libpq pool, asynchronous on the h2o event loop.
 *
 * Each worker owns DB_POOL_SIZE pipelined connections plus one LISTEN
 * connection.  A connection's socket is watched through a dup() of
 * PQsocket() created with H2O_SOCKET_FLAG_DONT_READ, so h2o only reports
 * readiness and libpq does all the reading and writing.
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
 * most MAX_INFLIGHT per connection; the rest wait in pending.  When a
 * connection breaks, everything in flight on it fails (the caller answers
 * 503) and it reconnects with a backoff of 100 ms doubling up to 2 s.
 * While no connection is up, new queries wait; one second after the last
 * connection went down the waiting ones fail and new ones fail at once, until
 * a connection is back.
 *
 * A request whose client went away (HTTP/2 reset, or an HTTP/1 socket found
 * closed by a periodic sweep) is dropped while it waits in pending.  Once
 * sent, its query is cancelled when it is the one the backend is running (the
 * head of the connection's in-flight list, running for CANCEL_AFTER_MS): a
 * `pg_cancel_backend()` goes out on the LISTEN connection.  A cancel can race
 * with the end of its target and hit the next query instead; such a query
 * (57014 while a cancel is armed, not the target) was rolled back and is sent
 * again, once.
 *
 * The LISTEN connection runs `LISTEN workon_routes` and (re)loads the route
 * table and error map after every (re)connect and every notification; the
 * first thread's also listens on workon_outbox for the outbox worker.
 * Before that, the first thread's LISTEN connection hands the database what
 * it keeps from the environment (seed_start): the JWT signing key from
 * JWT_SECRET, the refresh-token key from JWT_REFRESH_SECRET, the first
 * admin and the Stripe webhook secret; all idempotent, so they run again
 * after every reconnect (a restored database gets them back).
 */
#include "shim.h"
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * Queries in flight per connection.  Enough to keep a backend busy (each
 * query is its own Sync'ed transaction, the server runs them one after the
 * other); the rest wait in pending, where a request whose client has gone
 * away is dropped instead of being run.
 */
#define MAX_INFLIGHT 16
/* a query that waited this long for a connection is checked for an abandoned client */
#define ABANDON_CHECK_MS 2
/* a query in flight this long is checked for an abandoned client by the sweep */
#define ABANDON_INFLIGHT_MS 50
/* an abandoned query is cancelled once it has been running this long */
#define CANCEL_AFTER_MS 5
/* how long a sent cancel may still hit a query */
#define CANCEL_ARMED_MS 500
#define MAX_PENDING 8192

#define DISPATCH_STATEMENT "workon_dispatch"
#define DISPATCH_SQL                                                                                                               \
    "SELECT status, headers, body FROM workon.dispatch($1::oid, $2::jsonb, $3::jsonb, $4::text, $5::text, $6::jsonb)"
#define ROUTES_SQL                                                                                                                 \
    "SELECT method, path, handler::oid::int8, auth, status, body FROM workon.routes ORDER BY path, method;"                        \
    "SELECT sqlstate, status, code FROM workon.errors"

enum {
    DB_QUERY_PREPARE = 100,
};

enum {
    CONN_IDLE = 0,
    CONN_CONNECTING,
    CONN_READY,
};

enum {
    ROLE_POOL = 0,
    ROLE_LISTEN,
};

enum {
    LISTEN_IDLE = 0,
    LISTEN_SEEDING,
    LISTEN_SUBSCRIBING,
    LISTEN_LOADING,
    LISTEN_CANCELLING,
};

struct st_db_conn_t {
    db_pool_t *pool;
    int role;
    unsigned index;
    PGconn *pg;
    h2o_socket_t *sock;
    int state;
    int write_armed;
    int dirty;
    h2o_linklist_t inflight;
    size_t num_inflight;
    int head_ended; /* the head query's results ended (NULL seen), its Sync is next */
    int prepared;   /* 0: no, 1: sent, 2: ok */
    int prepare_failed;
    uint64_t next_seq;
    uint64_t head_since; /* when the head of the in-flight list started running */
    int cancel_armed;
    uint64_t cancel_target_seq;
    uint64_t cancel_at;
    unsigned backoff_step;
    h2o_timeout_entry_t retry_entry;
    h2o_timeout_entry_t connect_entry;
    int failures; /* consecutive failed attempts, to keep the log quiet */
    /* ROLE_LISTEN */
    int listen_state;
    int reload_wanted;
    PGresult *load_results[2];
    int num_load_results;
    int load_failures;
    h2o_timeout_entry_t reload_entry;
};

const char pool_err_abandoned[] = "client went away";

static void conn_start(db_conn_t *c);
static void conn_fail(db_conn_t *c, const char *why);
static void pool_schedule_dispatch(db_pool_t *pool);
static void pool_sweep_soon(db_pool_t *pool, int fast);
static void listen_kick(db_conn_t *c);
static int listen_subscribe(db_conn_t *c);

static worker_t *conn_worker(db_conn_t *c)
{
    return c->pool->worker;
}

/* first line of a libpq message, in a static buffer */
static const char *first_line(const char *msg)
{
    static __thread char buf[256];
    size_t n = 0;

    if (msg == NULL)
        return "";
    while (msg[n] != '\0' && msg[n] != '\n' && n < sizeof(buf) - 1) {
        buf[n] = msg[n];
        ++n;
    }
    buf[n] = '\0';
    return buf;
}

static void conn_log(db_conn_t *c, int level, const char *msg, const char *why)
{
    char thread[16], index[16];

    if (!log_enabled(level))
        return;
    snprintf(thread, sizeof(thread), "%u", conn_worker(c)->id);
    snprintf(index, sizeof(index), "%u", c->index);
    log_write(level, msg, "#thread", thread, "connection", c->role == ROLE_LISTEN ? "listen" : index, "reason", why, NULL);
}

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

void pool_reload_routes(db_pool_t *pool)
{
    if (pool->listener == NULL)
        return;
    pool->listener->reload_wanted = 1;
    listen_kick(pool->listener);
}

/* ------------------------------------------------------------------------ */
/* socket plumbing */

static void conn_unwatch(db_conn_t *c)
{
    if (c->sock != NULL) {
        h2o_socket_close(c->sock);
        c->sock = NULL;
    }
    c->write_armed = 0;
}

/* watches a fresh dup() of PQsocket(); libpq may switch sockets while connecting */
static int conn_watch(db_conn_t *c)
{
    int fd, dupfd;

    conn_unwatch(c);
    if ((fd = PQsocket(c->pg)) < 0)
        return -1;
    if ((dupfd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0)
        return -1;
    c->sock = h2o_evloop_socket_create(conn_worker(c)->ctx.loop, dupfd, H2O_SOCKET_FLAG_DONT_READ);
    c->sock->data = c;
    return 0;
}

static void on_conn_writable(h2o_socket_t *sock, const char *err);

static void conn_flush(db_conn_t *c)
{
    int r = PQflush(c->pg);

    if (r < 0) {
        conn_fail(c, first_line(PQerrorMessage(c->pg)));
        return;
    }
    if (r == 1 && !c->write_armed) {
        c->write_armed = 1;
        h2o_socket_notify_write(c->sock, on_conn_writable);
    }
}

static void on_conn_writable(h2o_socket_t *sock, const char *err)
{
    db_conn_t *c = sock->data;

    c->write_armed = 0;
    if (err != NULL) {
        conn_fail(c, err);
        return;
    }
    conn_flush(c);
}

/* ------------------------------------------------------------------------ */
/* sending */

static int conn_send(db_conn_t *c, db_query_t *q)
{
    int ok = 0;

    switch (q->kind) {
    case DB_QUERY_DISPATCH:
        ok = PQsendQueryPrepared(c->pg, DISPATCH_STATEMENT, 6, q->values, q->lengths, q->formats, 0);
        break;
    case DB_QUERY_PREPARE:
        ok = PQsendPrepare(c->pg, DISPATCH_STATEMENT, DISPATCH_SQL, 6, NULL);
        break;
    default:
        ok = PQsendQueryParams(c->pg, q->sql, q->nparams, NULL, q->nparams != 0 ? q->values : NULL, NULL, NULL, 0);
        break;
    }
    if (!ok || !PQpipelineSync(c->pg))
        return -1;
    q->conn = c;
    q->seq = ++c->next_seq;
    q->sent_at = h2o_now(conn_worker(c)->ctx.loop);
    if (h2o_linklist_is_empty(&c->inflight))
        c->head_since = q->sent_at;
    h2o_linklist_insert(&c->inflight, &q->link);
    ++c->num_inflight;
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
        snprintf(thread, sizeof(thread), "%u", conn_worker(c)->id);
        log_write(LOG_WARN, is_prepare ? "could not prepare workon.dispatch" : "connection setup statement failed", "#thread",
                  thread, "sqlstate", state, "error", msg != NULL ? msg : first_line(PQresultErrorMessage(res)), NULL);
    }
    return 0;
}

static void on_dispatch(h2o_timeout_entry_t *entry)
{
    db_pool_t *pool = H2O_STRUCT_FROM_MEMBER(db_pool_t, dispatch_entry, entry);
    size_t i;

    while (!h2o_linklist_is_empty(&pool->pending)) {
        db_conn_t *best = NULL;
        db_query_t *q;
        for (i = 0; i != pool->size; ++i) {
            db_conn_t *c = pool->conns + i;
            if (c->state == CONN_READY && c->num_inflight < MAX_INFLIGHT && (best == NULL || c->num_inflight < best->num_inflight))
                best = c;
        }
        if (best == NULL)
            break;
        q = H2O_STRUCT_FROM_MEMBER(db_query_t, link, pool->pending.next);
        h2o_linklist_unlink(&q->link);
        --pool->num_pending;
        if (q->abandoned != NULL && h2o_now(pool->worker->ctx.loop) - q->queued_at >= ABANDON_CHECK_MS && q->abandoned(q->owner)) {
            query_finish(pool, q, pool_err_abandoned);
            continue;
        }
        if ((q->kind == DB_QUERY_DISPATCH && best->prepared == 0 && conn_send_internal(best, DB_QUERY_PREPARE, NULL) != 0) ||
            conn_send(best, q) != 0) {
            /* the connection is broken; the query was not sent, keep it */
            h2o_linklist_insert(pool->pending.next, &q->link);
            ++pool->num_pending;
            conn_fail(best, first_line(PQerrorMessage(best->pg)));
            continue;
        }
        q->counted = 1;
        ++pool->in_use;
        best->dirty = 1;
    }

    for (i = 0; i != pool->size; ++i) {
        db_conn_t *c = pool->conns + i;
        if (c->dirty) {
            c->dirty = 0;
            if (c->state == CONN_READY)
                conn_flush(c);
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

int pool_submit(db_pool_t *pool, db_query_t *q)
{
    if (pool->num_ready == 0 && pool->fail_fast)
        return -1;
    if (pool->num_pending >= MAX_PENDING)
        return -1;
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

/* asks the LISTEN connection to cancel what the backend pid is running */
static void pool_cancel_backend(db_pool_t *pool, int pid)
{
    size_t i;

    if (pid <= 0)
        return;
    for (i = 0; i != pool->num_cancel_pids; ++i)
        if (pool->cancel_pids[i] == pid)
            return;
    if (pool->num_cancel_pids == pool->size)
        return;
    pool->cancel_pids[pool->num_cancel_pids++] = pid;
    listen_kick(pool->listener);
}

/* tells the owner its client is gone (it answers and lets go); the query stays in flight */
static void query_abandon(db_query_t *q)
{
    void *owner = q->owner;

    q->owner = NULL;
    if (q->cb != NULL)
        q->cb(owner, NULL, pool_err_abandoned);
}

/* cancels the running query when nobody waits for it; returns 1 while there is work left */
static int conn_maybe_cancel(db_conn_t *c, uint64_t now)
{
    db_query_t *head;

    if (c->state != CONN_READY || h2o_linklist_is_empty(&c->inflight))
        return 0;
    head = H2O_STRUCT_FROM_MEMBER(db_query_t, link, c->inflight.next);
    if (head->owner != NULL || head->kind == DB_QUERY_PREPARE || head->kind == DB_QUERY_INTERNAL)
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
    pool_cancel_backend(c->pool, PQbackendPID(c->pg));
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
        if (c->state != CONN_READY)
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

static void conn_process_results(db_conn_t *c)
{
    db_pool_t *pool = c->pool;

    while (c->pg != NULL && !PQisBusy(c->pg)) {
        PGresult *res = PQgetResult(c->pg);
        db_query_t *q;

        if (h2o_linklist_is_empty(&c->inflight)) {
            if (res == NULL)
                break;
            PQclear(res);
            continue;
        }
        q = H2O_STRUCT_FROM_MEMBER(db_query_t, link, c->inflight.next);
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
            if (q->res == NULL) {
                /* a Sync without a result: protocol out of step */
                conn_fail(c, "unexpected pipeline state");
                return;
            }
            if (q->kind == DB_QUERY_PREPARE || q->kind == DB_QUERY_INTERNAL) {
                /* reported while still at the head (the callback looks at its kind) */
                if (q->cb != NULL)
                    q->cb(q->owner, q->res, NULL);
                h2o_linklist_unlink(&q->link);
                --c->num_inflight;
                query_free(pool, q);
            } else {
                h2o_linklist_unlink(&q->link);
                --c->num_inflight;
                c->head_since = h2o_now(pool->worker->ctx.loop);
                if (conn_cancel_hit(c, q)) {
                    /* a cancel meant for an abandoned query hit this one: it was rolled back, send it again */
                    requeue(pool, q);
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

    if (c->pg != NULL && PQstatus(c->pg) == CONNECTION_BAD) {
        conn_fail(c, first_line(PQerrorMessage(c->pg)));
        return;
    }
    pool_schedule_dispatch(pool);
}

static void listen_send_load(db_conn_t *c)
{
    c->reload_wanted = 0;
    if (!PQsendQuery(c->pg, ROUTES_SQL)) {
        conn_fail(c, first_line(PQerrorMessage(c->pg)));
        return;
    }
    c->listen_state = LISTEN_LOADING;
    c->num_load_results = 0;
    conn_flush(c);
}

static void listen_send_cancels(db_conn_t *c)
{
    db_pool_t *pool = c->pool;
    char sql[64 + 32 * 64];
    size_t i, n = 0;

    n += snprintf(sql + n, sizeof(sql) - n, "SELECT");
    for (i = 0; i != pool->num_cancel_pids && i != 64; ++i)
        n += snprintf(sql + n, sizeof(sql) - n, "%s pg_cancel_backend(%d)", i == 0 ? "" : ",", pool->cancel_pids[i]);
    pool->num_cancel_pids = 0;
    if (!PQsendQuery(c->pg, sql)) {
        conn_fail(c, first_line(PQerrorMessage(c->pg)));
        return;
    }
    c->listen_state = LISTEN_CANCELLING;
    conn_flush(c);
}

/* the LISTEN connection is idle: cancels first, then a pending reload */
static void listen_kick(db_conn_t *c)
{
    if (c->state != CONN_READY || c->listen_state != LISTEN_IDLE)
        return;
    if (c->pool->num_cancel_pids != 0)
        listen_send_cancels(c);
    else if (c->reload_wanted)
        listen_send_load(c);
}

static void on_reload_retry(h2o_timeout_entry_t *entry)
{
    db_conn_t *c = H2O_STRUCT_FROM_MEMBER(db_conn_t, reload_entry, entry);

    if (c->state != CONN_READY)
        return;
    c->reload_wanted = 1;
    listen_kick(c);
}

static void listen_apply_load(db_conn_t *c)
{
    worker_t *w = conn_worker(c);
    const char *err = NULL;
    char thread[16], count[16];
    int failed = 0;

    snprintf(thread, sizeof(thread), "%u", w->id);
    if (c->num_load_results >= 1 && PQresultStatus(c->load_results[0]) == PGRES_TUPLES_OK) {
        route_table_t *table = route_table_build(c->load_results[0], &err);
        if (table != NULL) {
            route_table_free(w->routes);
            w->routes = table;
            snprintf(count, sizeof(count), "%zu", route_table_size(table));
            log_write(w->id == 0 ? LOG_INFO : LOG_DEBUG, "routes loaded", "#thread", thread, "#routes", count, NULL);
        } else {
            log_write(LOG_ERROR, "route table rejected", "#thread", thread, "error", err, NULL);
            failed = 1;
        }
    } else {
        PGresult *r = c->num_load_results >= 1 ? c->load_results[0] : NULL;
        const char *msg = r != NULL ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
        log_write(w->id == 0 && c->load_failures == 0 ? LOG_WARN : LOG_DEBUG, "could not load workon.routes, retrying every 2 s",
                  "#thread", thread, "sqlstate", r != NULL ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL, "error",
                  msg != NULL ? msg
                  : r != NULL ? first_line(PQresultErrorMessage(r))
                              : "no result",
                  NULL);
        failed = 1;
    }
    if (c->num_load_results >= 2 && PQresultStatus(c->load_results[1]) == PGRES_TUPLES_OK) {
        error_map_t map;
        if (error_map_build(&map, c->load_results[1], &err) == 0) {
            error_map_free(&w->errors);
            w->errors = map;
        }
    }
    while (c->num_load_results > 0)
        PQclear(c->load_results[--c->num_load_results]);
    c->load_failures = failed ? c->load_failures + 1 : 0;
    if (failed && !h2o_timeout_is_linked(&c->reload_entry))
        h2o_timeout_link(w->ctx.loop, &w->backoff_timeouts[SHIM_BACKOFF_STEPS - 1], &c->reload_entry);
    http_on_routes_loaded(w);
}

static void listen_process(db_conn_t *c)
{
    PGnotify *n;

    while (!PQisBusy(c->pg)) {
        PGresult *res = PQgetResult(c->pg);
        if (res == NULL) {
            if (c->listen_state == LISTEN_SEEDING) {
                if (listen_subscribe(c) != 0)
                    return;
                conn_flush(c);
                continue;
            }
            if (c->listen_state == LISTEN_SUBSCRIBING) {
                c->listen_state = LISTEN_IDLE;
                c->reload_wanted = 1;
                continue;
            }
            if (c->listen_state == LISTEN_LOADING) {
                c->listen_state = LISTEN_IDLE;
                listen_apply_load(c);
                continue;
            }
            if (c->listen_state == LISTEN_CANCELLING) {
                c->listen_state = LISTEN_IDLE;
                continue;
            }
            break;
        }
        if (c->listen_state == LISTEN_LOADING && c->num_load_results < 2) {
            c->load_results[c->num_load_results++] = res;
        } else {
            if (c->listen_state == LISTEN_SEEDING && PQresultStatus(res) != PGRES_TUPLES_OK) {
                const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
                log_write(LOG_ERROR,
                          "start-up seeding failed (JWT_SECRET, JWT_REFRESH_SECRET, ADMIN_EMAIL/ADMIN_PASSWORD, STRIPE_WEBHOOK_SECRET)",
                          "sqlstate", state, "error", first_line(PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY)), NULL);
            }
            if (c->listen_state == LISTEN_SUBSCRIBING && PQresultStatus(res) != PGRES_COMMAND_OK)
                conn_log(c, LOG_WARN, "LISTEN workon_routes failed", first_line(PQresultErrorMessage(res)));
            PQclear(res);
        }
    }
    while ((n = PQnotifies(c->pg)) != NULL) {
        if (strcmp(n->relname, "workon_routes") == 0)
            c->reload_wanted = 1;
        else if (strcmp(n->relname, "workon_outbox") == 0)
            outbox_on_notify(conn_worker(c), n->extra);
        PQfreemem(n);
    }
    if (PQstatus(c->pg) == CONNECTION_BAD) {
        conn_fail(c, first_line(PQerrorMessage(c->pg)));
        return;
    }
    listen_kick(c);
}

/*
 * Sends the start-up seeding on the first thread's LISTEN connection; returns
 * 0 when there was nothing to send.  Values go as parameters and are never
 * logged.
 */
static int seed_start(db_conn_t *c)
{
    const char *values[5];
    char sql[256];
    size_t n = 0;
    int nparams = 0;

    if (conn_worker(c)->id != 0)
        return 0;
    n += snprintf(sql + n, sizeof(sql) - n, "SELECT 1");
    if (shim_settings.jwt_secret != NULL) {
        values[nparams++] = shim_settings.jwt_secret;
        n += snprintf(sql + n, sizeof(sql) - n, ", workon.seed_jwt_key($%d)", nparams);
    }
    if (shim_settings.jwt_refresh_secret != NULL) {
        values[nparams++] = shim_settings.jwt_refresh_secret;
        n += snprintf(sql + n, sizeof(sql) - n, ", workon.seed_refresh_secret($%d)", nparams);
    }
    if (shim_settings.admin_email != NULL && shim_settings.admin_password != NULL) {
        values[nparams++] = shim_settings.admin_email;
        values[nparams++] = shim_settings.admin_password;
        n += snprintf(sql + n, sizeof(sql) - n, ", workon.ensure_admin($%d, $%d)", nparams - 1, nparams);
    }
    if (shim_settings.stripe_webhook_secret != NULL) {
        values[nparams++] = shim_settings.stripe_webhook_secret;
        n += snprintf(sql + n, sizeof(sql) - n, ", workon.seed_stripe_webhook_secret($%d)", nparams);
    }
    if (nparams == 0)
        return 0;
    if (!PQsendQueryParams(c->pg, sql, nparams, NULL, values, NULL, NULL, 0)) {
        conn_fail(c, first_line(PQerrorMessage(c->pg)));
        return -1;
    }
    c->listen_state = LISTEN_SEEDING;
    return 1;
}

static int listen_subscribe(db_conn_t *c)
{
    /* the first thread also runs the outbox worker */
    if (!PQsendQuery(c->pg, conn_worker(c)->id == 0 ? "LISTEN workon_routes; LISTEN workon_outbox" : "LISTEN workon_routes")) {
        conn_fail(c, first_line(PQerrorMessage(c->pg)));
        return -1;
    }
    c->listen_state = LISTEN_SUBSCRIBING;
    return 0;
}

static void on_conn_readable(h2o_socket_t *sock, const char *err)
{
    db_conn_t *c = sock->data;

    if (err != NULL) {
        conn_fail(c, err);
        return;
    }
    if (!PQconsumeInput(c->pg)) {
        conn_fail(c, first_line(PQerrorMessage(c->pg)));
        return;
    }
    if (c->role == ROLE_LISTEN)
        listen_process(c);
    else
        conn_process_results(c);
}

/* ------------------------------------------------------------------------ */
/* connecting */

static void conn_on_connected(db_conn_t *c)
{
    db_pool_t *pool = c->pool;

    if (h2o_timeout_is_linked(&c->connect_entry))
        h2o_timeout_unlink(&c->connect_entry);
    if (conn_watch(c) != 0) {
        conn_fail(c, "no socket");
        return;
    }
    if (c->failures != 0 || log_enabled(LOG_DEBUG))
        conn_log(c, c->failures != 0 && conn_worker(c)->id == 0 ? LOG_INFO : LOG_DEBUG, "database connected", "ok");
    c->failures = 0;
    c->backoff_step = 0;
    c->head_ended = 0;
    h2o_socket_read_start(c->sock, on_conn_readable);

    if (c->role == ROLE_LISTEN) {
        int seeding = seed_start(c);
        if (seeding < 0 || (seeding == 0 && listen_subscribe(c) != 0))
            return;
        c->state = CONN_READY;
        conn_flush(c);
        return;
    }

    if (!PQenterPipelineMode(c->pg)) {
        conn_fail(c, "could not enter pipeline mode");
        return;
    }
    {
        static __thread char set_sql[64];
        snprintf(set_sql, sizeof(set_sql), "SET statement_timeout = %llu", (unsigned long long)shim_settings.request_timeout_ms);
        if (conn_send_internal(c, DB_QUERY_INTERNAL, set_sql) != 0 || conn_send_internal(c, DB_QUERY_PREPARE, NULL) != 0) {
            conn_fail(c, first_line(PQerrorMessage(c->pg)));
            return;
        }
    }
    c->state = CONN_READY;
    if (pool->num_ready++ == 0)
        pool_on_up(pool);
    else
        pool_schedule_dispatch(pool);
    conn_flush(c);
}

static void on_connect_io(h2o_socket_t *sock, const char *err);

static void conn_connect_step(db_conn_t *c, PostgresPollingStatusType st)
{
    switch (st) {
    case PGRES_POLLING_OK:
        conn_on_connected(c);
        return;
    case PGRES_POLLING_READING:
        if (conn_watch(c) != 0)
            break;
        h2o_socket_read_start(c->sock, on_connect_io);
        return;
    case PGRES_POLLING_WRITING:
        if (conn_watch(c) != 0)
            break;
        c->write_armed = 1;
        h2o_socket_notify_write(c->sock, on_connect_io);
        return;
    default:
        break;
    }
    conn_fail(c, first_line(PQerrorMessage(c->pg)));
}

static void on_connect_io(h2o_socket_t *sock, const char *err)
{
    db_conn_t *c = sock->data;

    (void)err; /* PQconnectPoll finds out itself */
    c->write_armed = 0;
    conn_connect_step(c, PQconnectPoll(c->pg));
}

static void on_connect_timeout(h2o_timeout_entry_t *entry)
{
    db_conn_t *c = H2O_STRUCT_FROM_MEMBER(db_conn_t, connect_entry, entry);
    conn_fail(c, "timeout while connecting");
}

static void on_retry(h2o_timeout_entry_t *entry)
{
    db_conn_t *c = H2O_STRUCT_FROM_MEMBER(db_conn_t, retry_entry, entry);
    conn_start(c);
}

/* server notices (e.g. "terminating connection due to administrator command") become log lines */
static void on_notice(void *arg, const PGresult *res)
{
    db_conn_t *c = arg;
    const char *severity = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    int level = severity != NULL && strcmp(severity, "WARNING") == 0 ? LOG_WARN : LOG_DEBUG;

    if (log_enabled(level))
        conn_log(c, level, "database notice", msg != NULL ? msg : first_line(PQresultErrorMessage(res)));
}

static void conn_start(db_conn_t *c)
{
    /* options last: the settings taken from the environment win over the URL's */
    static const char *const keys[] = {"dbname", "fallback_application_name", "options", NULL};
    const char *values[] = {shim_settings.database_url, SHIM_NAME, shim_settings.pg_options, NULL};
    worker_t *w = conn_worker(c);

    c->state = CONN_CONNECTING;
    c->pg = PQconnectStartParams(keys, values, 1);
    if (c->pg == NULL) {
        conn_fail(c, "out of memory");
        return;
    }
    if (PQstatus(c->pg) == CONNECTION_BAD) {
        conn_fail(c, first_line(PQerrorMessage(c->pg)));
        return;
    }
    PQsetnonblocking(c->pg, 1);
    PQsetNoticeReceiver(c->pg, on_notice, c);
    h2o_timeout_link(w->ctx.loop, &w->connect_timeout, &c->connect_entry);
    conn_connect_step(c, PGRES_POLLING_WRITING);
}

static void conn_fail(db_conn_t *c, const char *why)
{
    db_pool_t *pool = c->pool;
    worker_t *w = conn_worker(c);
    int was_ready = c->state == CONN_READY;
    h2o_linklist_t failed;

    if (c->state == CONN_IDLE)
        return;
    /* one line per outage: the first failure loudly, the retries at debug */
    conn_log(c, c->failures == 0 ? (w->id == 0 || was_ready ? LOG_WARN : LOG_DEBUG) : LOG_DEBUG,
             was_ready ? "database connection lost" : "database connection failed", why);
    ++c->failures;

    conn_unwatch(c);
    if (h2o_timeout_is_linked(&c->connect_entry))
        h2o_timeout_unlink(&c->connect_entry);
    if (c->pg != NULL) {
        PQfinish(c->pg);
        c->pg = NULL;
    }
    c->state = CONN_IDLE;
    c->prepared = 0;
    c->dirty = 0;
    c->head_ended = 0;
    c->cancel_armed = 0;
    c->listen_state = LISTEN_IDLE;
    while (c->num_load_results > 0)
        PQclear(c->load_results[--c->num_load_results]);

    h2o_timeout_link(w->ctx.loop, &w->backoff_timeouts[c->backoff_step], &c->retry_entry);
    if (c->backoff_step + 1 < SHIM_BACKOFF_STEPS)
        ++c->backoff_step;

    if (was_ready && c->role == ROLE_POOL && --pool->num_ready == 0)
        pool_on_down(pool);

    /* everything in flight on this connection fails (503 for the caller) */
    h2o_linklist_init_anchor(&failed);
    h2o_linklist_insert_list(&failed, &c->inflight);
    c->num_inflight = 0;
    while (!h2o_linklist_is_empty(&failed)) {
        db_query_t *q = H2O_STRUCT_FROM_MEMBER(db_query_t, link, failed.next);
        h2o_linklist_unlink(&q->link);
        if (q->kind == DB_QUERY_PREPARE || q->kind == DB_QUERY_INTERNAL)
            query_free(pool, q);
        else
            query_finish(pool, q, "database connection lost");
    }
}

/* ------------------------------------------------------------------------ */

void pool_init(db_pool_t *pool, worker_t *worker)
{
    size_t i;

    memset(pool, 0, sizeof(*pool));
    pool->worker = worker;
    pool->size = shim_settings.pool_size;
    pool->conns = calloc(pool->size + 1, sizeof(db_conn_t));
    if (pool->conns == NULL)
        h2o_fatal("no memory");
    h2o_linklist_init_anchor(&pool->pending);
    pool->dispatch_entry.cb = on_dispatch;
    pool->outage_entry.cb = on_outage;
    pool->sweep_entry.cb = on_sweep;
    pool->cancel_pids = calloc(pool->size, sizeof(int));
    if (pool->cancel_pids == NULL)
        h2o_fatal("no memory");
    for (i = 0; i != pool->size + 1; ++i) {
        db_conn_t *c = pool->conns + i;
        c->pool = pool;
        c->index = (unsigned)i;
        c->role = i == pool->size ? ROLE_LISTEN : ROLE_POOL;
        h2o_linklist_init_anchor(&c->inflight);
        c->retry_entry.cb = on_retry;
        c->connect_entry.cb = on_connect_timeout;
        c->reload_entry.cb = on_reload_retry;
    }
    pool->listener = pool->conns + pool->size;
}

void pool_start(db_pool_t *pool)
{
    size_t i;

    /* until the first connection is up, requests wait (at most a second) */
    pool_on_down(pool);
    for (i = 0; i != pool->size + 1; ++i)
        conn_start(pool->conns + i);
}

void pool_stop(db_pool_t *pool)
{
    size_t i;

    for (i = 0; i != pool->size + 1; ++i) {
        db_conn_t *c = pool->conns + i;
        conn_unwatch(c);
        if (c->pg != NULL) {
            PQfinish(c->pg);
            c->pg = NULL;
        }
    }
}
