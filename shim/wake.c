/*
 * Waking the realtime listeners after commit.  PostgreSQL serializes the
 * commits of all transactions that sent a NOTIFY in a database (the lock
 * PreCommit_Notify takes is held through the commit's WAL flush), so a
 * write that notified in its own transaction could not share a flush with
 * any other.  The shim's sessions say workon.notify = after_commit
 * (pgsettings.c): a write through workon.dispatch then sends no NOTIFY, and
 * its result's last column (workon.events_pending) says it wrote realtime
 * events.  For those, once committed, this thread sends
 * NOTIFY workon_events itself, coalesced: one in flight at a time, and the
 * calls that finish meanwhile make one more after it.  Every shim's
 * control connection LISTENs as before; the first thread's control
 * connection publishes (control.c).
 *
 * As an ordinary statement on the thread's pool (behind a transaction
 * pooler too: NOTIFY needs no session of its own, LISTEN does).  A shim
 * that dies between a commit and this NOTIFY, or a NOTIFY that fails, delays
 * the events until the next wake-up or until the publisher's one-second
 * tick (ws.c).
 *
 * (Waking this shim's publisher through its eventfd instead, with no
 * statement, was tried and measured: at 1,000 messages a second with
 * 1,000 sockets open, the writers' p50 first went from 4 ms to over 200 ms,
 * their backends mostly waiting on WAL flushes.  Tried again once the
 * publish no longer sent a NOTIFY in its transaction, it was no faster than
 * this statement, which also wakes other shims' publishers; shim/README.md.)
 *
 * The other way, once the publisher's batch has committed, every thread of
 * this shim hears the new head through its eventfd (wake_published) and
 * takes the events from ws_recent.c, without waiting for NOTIFY
 * workon_events_published to come round through the database; they hear
 * that too, and find nothing new in it.  Other shims hear only the NOTIFY.
 */
#include "shim.h"

/* the newest head this shim's publisher returned (0: none yet) */
static int64_t published_head;

/* NOTIFY takes a lock at commit that it holds through the commit's WAL flush; this transaction
 * writes nothing that needs one (the events it announces are committed already) */
#define WAKE_SQL                                                                                                       \
    "SELECT pg_catalog.set_config('synchronous_commit', 'off', true), pg_catalog.pg_notify('workon_events', '')"

static __thread struct {
    worker_t *worker;
    int in_flight; /* a NOTIFY sent, not yet answered */
    int again;     /* events committed since it was sent: one more after it */
    int failures;
} wake;

static void wake_send(void);

static int on_woken(void *owner, PGresult *res, const char *err)
{
    (void)owner;
    wake.in_flight = 0;
    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
        if (wake.failures++ == 0)
            log_write(LOG_WARN, "realtime: NOTIFY workon_events failed (sockets catch up on their tick)", "reason",
                      res == NULL ? err : PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY), NULL);
    } else {
        wake.failures = 0;
    }
    if (wake.again) {
        wake.again = 0;
        wake_send();
    }
    return 0;
}

static void wake_send(void)
{
    db_pool_t *pool = &wake.worker->pool;
    db_query_t *q = pool_query_new(pool, DB_QUERY_SQL, on_woken, &wake); /* an owner: a query without one is cancelled */

    q->sql = WAKE_SQL;
    q->nparams = 0;
    wake.in_flight = 1;
    if (pool_submit(pool, q) != 0) {
        pool_query_detach(pool, q);
        wake.in_flight = 0;
    }
}

void wake_events_written(worker_t *w)
{
    wake.worker = w;
    if (wake.in_flight) {
        wake.again = 1;
        return;
    }
    wake_send();
}

void wake_published(worker_t *w, int64_t head)
{
    int64_t seen = __atomic_load_n(&published_head, __ATOMIC_ACQUIRE);
    unsigned i;

    do {
        if (head <= seen)
            return; /* every thread was woken for that head, or a newer one */
    } while (!__atomic_compare_exchange_n(&published_head, &seen, head, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
    for (i = 0; i != shim_settings.threads; ++i)
        if (&shim_workers[i] != w)
            worker_wake(&shim_workers[i]);
    w->published_seen = head;
    ws_on_head(w, head);
}

void wake_on_wakeup(worker_t *w)
{
    int64_t head = __atomic_load_n(&published_head, __ATOMIC_ACQUIRE);

    if (head > w->published_seen) {
        w->published_seen = head;
        ws_on_head(w, head);
    }
}
