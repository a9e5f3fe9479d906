/*
 * One libpq connection on a worker's event loop: the plumbing shared by the
 * query pool's connections (pool.c) and the control connection (control.c).
 *
 * Connecting never blocks: PQconnectStartParams, then PQconnectPoll driven by
 * the loop.  The socket is watched through a dup() of PQsocket() created with
 * H2O_SOCKET_FLAG_DONT_READ, so h2o only reports readiness and libpq does all
 * the reading and writing; libpq may switch sockets while connecting, so every
 * step watches a fresh dup().  h2o_socket_notify_write is armed only while
 * PQflush has more to write (arming it twice asserts).
 *
 * The owner is told three things: connected (it sends its first statements),
 * input consumed (it reads its results) and lost.  A lost or failed
 * connection is closed and started again after 100 ms, doubling up to 2 s;
 * the first failure of an outage is logged, the retries only at debug level.
 */
#include "shim.h"
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

const char *pq_first_line(const char *msg)
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

void dbconn_log(dbconn_t *c, int level, const char *msg, const char *why)
{
    char thread[16];

    if (!log_enabled(level))
        return;
    snprintf(thread, sizeof(thread), "%u", c->worker->id);
    log_write(level, msg, "#thread", thread, "connection", c->label, "reason", why, NULL);
}

/* ------------------------------------------------------------------------ */
/* socket plumbing */

static void dbconn_unwatch(dbconn_t *c)
{
    if (c->sock != NULL) {
        h2o_socket_close(c->sock);
        c->sock = NULL;
    }
    c->write_armed = 0;
}

/* watches a fresh dup() of PQsocket(); libpq may switch sockets while connecting */
static int dbconn_watch(dbconn_t *c)
{
    int fd, dupfd;

    dbconn_unwatch(c);
    if ((fd = PQsocket(c->pg)) < 0)
        return -1;
    if ((dupfd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0)
        return -1;
    c->sock = h2o_evloop_socket_create(c->worker->ctx.loop, dupfd, H2O_SOCKET_FLAG_DONT_READ);
    c->sock->data = c;
    return 0;
}

static void on_writable(h2o_socket_t *sock, const char *err)
{
    dbconn_t *c = sock->data;

    c->write_armed = 0;
    if (err != NULL) {
        dbconn_fail(c, err);
        return;
    }
    dbconn_flush(c);
}

void dbconn_flush(dbconn_t *c)
{
    int r = PQflush(c->pg);

    if (r < 0) {
        dbconn_fail_pq(c);
        return;
    }
    if (r == 1 && !c->write_armed) {
        c->write_armed = 1;
        h2o_socket_notify_write(c->sock, on_writable);
    }
}

static void on_readable(h2o_socket_t *sock, const char *err)
{
    dbconn_t *c = sock->data;

    if (err != NULL) {
        dbconn_fail(c, err);
        return;
    }
    if (!PQconsumeInput(c->pg)) {
        dbconn_fail_pq(c);
        return;
    }
    c->callbacks->on_input(c);
}

/* ------------------------------------------------------------------------ */
/* connecting */

static void on_connected(dbconn_t *c)
{
    if (h2o_timeout_is_linked(&c->connect_entry))
        h2o_timeout_unlink(&c->connect_entry);
    if (dbconn_watch(c) != 0) {
        dbconn_fail(c, "no socket");
        return;
    }
    if (c->failures != 0 || log_enabled(LOG_DEBUG))
        dbconn_log(c, c->failures != 0 && c->worker->id == 0 ? LOG_INFO : LOG_DEBUG, "database connected", "ok");
    c->failures = 0;
    c->backoff_step = 0;
    h2o_socket_read_start(c->sock, on_readable);
    c->callbacks->on_connected(c);
    /* the owner's first statements may have failed the connection */
    if (c->state != DBCONN_CONNECTING)
        return;
    c->state = DBCONN_READY;
    dbconn_flush(c);
}

static void on_connect_io(h2o_socket_t *sock, const char *err);

static void connect_step(dbconn_t *c, PostgresPollingStatusType st)
{
    switch (st) {
    case PGRES_POLLING_OK:
        on_connected(c);
        return;
    case PGRES_POLLING_READING:
        if (dbconn_watch(c) != 0)
            break;
        h2o_socket_read_start(c->sock, on_connect_io);
        return;
    case PGRES_POLLING_WRITING:
        if (dbconn_watch(c) != 0)
            break;
        c->write_armed = 1;
        h2o_socket_notify_write(c->sock, on_connect_io);
        return;
    default:
        break;
    }
    dbconn_fail_pq(c);
}

static void on_connect_io(h2o_socket_t *sock, const char *err)
{
    dbconn_t *c = sock->data;

    (void)err; /* PQconnectPoll finds out itself */
    c->write_armed = 0;
    connect_step(c, PQconnectPoll(c->pg));
}

static void on_connect_timeout(h2o_timeout_entry_t *entry)
{
    dbconn_t *c = H2O_STRUCT_FROM_MEMBER(dbconn_t, connect_entry, entry);
    dbconn_fail(c, "timeout while connecting");
}

static void on_retry(h2o_timeout_entry_t *entry)
{
    dbconn_t *c = H2O_STRUCT_FROM_MEMBER(dbconn_t, retry_entry, entry);
    dbconn_start(c);
}

/* server notices (e.g. "terminating connection due to administrator command") become log lines */
static void on_notice(void *arg, const PGresult *res)
{
    dbconn_t *c = arg;
    const char *severity = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    int level = severity != NULL && strcmp(severity, "WARNING") == 0 ? LOG_WARN : LOG_DEBUG;

    if (log_enabled(level))
        dbconn_log(c, level, "database notice", msg != NULL ? msg : pq_first_line(PQresultErrorMessage(res)));
}

void dbconn_start(dbconn_t *c)
{
    /* options last: the settings taken from the environment win over the URL's */
    static const char *const keys[] = {"dbname", "fallback_application_name", "options", NULL};
    /* a transaction pooler refuses (or drops) startup options: the settings go with each transaction (pool.c) */
    const char *values[] = {c->url != NULL ? c->url : shim_settings.database_url, SHIM_NAME,
                            c->pooled ? NULL : shim_settings.pg_options, NULL};
    worker_t *w = c->worker;

    c->state = DBCONN_CONNECTING;
    c->pg = PQconnectStartParams(keys, values, 1);
    if (c->pg == NULL) {
        dbconn_fail(c, "out of memory");
        return;
    }
    if (PQstatus(c->pg) == CONNECTION_BAD) {
        dbconn_fail_pq(c);
        return;
    }
    PQsetnonblocking(c->pg, 1);
    PQsetNoticeReceiver(c->pg, on_notice, c);
    h2o_timeout_link(w->ctx.loop, &w->connect_timeout, &c->connect_entry);
    connect_step(c, PGRES_POLLING_WRITING);
}

void dbconn_fail(dbconn_t *c, const char *why)
{
    worker_t *w = c->worker;
    int was_ready = c->state == DBCONN_READY;

    if (c->state == DBCONN_IDLE)
        return;
    /* one line per outage: the first failure loudly, the retries at debug */
    dbconn_log(c, c->failures == 0 ? (w->id == 0 || was_ready ? LOG_WARN : LOG_DEBUG) : LOG_DEBUG,
               was_ready ? "database connection lost" : "database connection failed", why);
    ++c->failures;

    dbconn_unwatch(c);
    if (h2o_timeout_is_linked(&c->connect_entry))
        h2o_timeout_unlink(&c->connect_entry);
    if (c->pg != NULL) {
        PQfinish(c->pg);
        c->pg = NULL;
    }
    c->state = DBCONN_IDLE;

    h2o_timeout_link(w->ctx.loop, &w->backoff_timeouts[c->backoff_step], &c->retry_entry);
    if (c->backoff_step + 1 < SHIM_BACKOFF_STEPS)
        ++c->backoff_step;
    c->callbacks->on_lost(c, was_ready);
}

void dbconn_fail_pq(dbconn_t *c)
{
    dbconn_fail(c, pq_first_line(c->pg != NULL ? PQerrorMessage(c->pg) : NULL));
}

void dbconn_init(dbconn_t *c, worker_t *w, const dbconn_callbacks_t *callbacks, const char *label)
{
    memset(c, 0, sizeof(*c));
    c->worker = w;
    c->callbacks = callbacks;
    snprintf(c->label, sizeof(c->label), "%s", label);
    c->retry_entry.cb = on_retry;
    c->connect_entry.cb = on_connect_timeout;
}

void dbconn_stop(dbconn_t *c)
{
    dbconn_unwatch(c);
    if (c->pg != NULL) {
        PQfinish(c->pg);
        c->pg = NULL;
    }
}
