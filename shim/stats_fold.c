/*
 * The stats rollup's fold.  A booking, payment or refund only queues its
 * change to the admin's stats (sql/src/62_stats_rollup.sql); the first
 * thread calls workon.stats_fold() once a second, outside any request, which
 * moves the committed changes into the rollup in one transaction.  The
 * report adds the changes still queued, so this keeps the queues short, not
 * the numbers right.  On the slow lane's connections when there are some
 * (a fold after a busy second takes a few milliseconds that pipelined
 * requests would wait behind), else on the thread's pool.
 */
#include "shim.h"

#define STATS_FOLD_SQL "SELECT workon.stats_fold()"
#define PERIOD_MS 1000

static __thread struct {
    worker_t *worker;
    h2o_timeout_t period;
    h2o_timeout_entry_t tick;
    int in_flight;
    int failures;
} sf;

static int on_folded(void *owner, PGresult *res, const char *err)
{
    (void)owner;
    sf.in_flight = 0;
    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
        /* said once, tried again every period */
        if (sf.failures++ == 0)
            log_write(LOG_WARN, "stats: workon.stats_fold failed, trying again every second", "reason",
                      res == NULL ? err : PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY), NULL);
        return 0;
    }
    sf.failures = 0;
    return 0;
}

static void on_tick(h2o_timeout_entry_t *entry)
{
    db_pool_t *pool;
    db_query_t *q;

    (void)entry;
    h2o_timeout_link(sf.worker->ctx.loop, &sf.period, &sf.tick);
    pool = sf.worker->slow.size != 0 ? &sf.worker->slow : &sf.worker->pool;
    if (sf.worker->draining || sf.in_flight || !pool_is_up(pool))
        return;
    q = pool_query_new(pool, DB_QUERY_SQL, on_folded, &sf); /* an owner: a query without one is cancelled */
    q->sql = STATS_FOLD_SQL;
    q->nparams = 0;
    sf.in_flight = 1;
    if (pool_submit(pool, q) != 0) {
        pool_query_detach(pool, q);
        sf.in_flight = 0;
    }
}

void stats_fold_start(worker_t *w)
{
    if (w->id != 0)
        return;
    sf.worker = w;
    h2o_timeout_init(w->ctx.loop, &sf.period, PERIOD_MS);
    sf.tick.cb = on_tick;
    h2o_timeout_link(w->ctx.loop, &sf.period, &sf.tick);
}
