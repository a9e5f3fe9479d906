/*
 * New-message e-mails.  The first thread calls
 * workon.message_emails_send(<the users with a live socket in this process>)
 * every MESSAGE_EMAIL_DELAY / 4 (at least every second, at most every 30
 * seconds), outside any request; the extension decides who is mailed (a
 * message unread for the delay, once per conversation per delay, nobody
 * with a live socket on any shim) and queues the mails in the outbox in
 * that call's transaction, whose NOTIFY wakes the outbox worker to send
 * them.  Only while the e-mail transport is on (EMAIL_TRANSPORT is not off).
 */
#include "shim.h"
#include <stdlib.h>

#define MESSAGE_EMAILS_SQL "SELECT workon.message_emails_send($1::uuid[])"

static __thread struct {
    worker_t *worker;
    h2o_timeout_t period;
    h2o_timeout_entry_t tick;
    char *users; /* the call's argument, until it answered */
    int failures;
} me;

static int on_sent(void *owner, PGresult *res, const char *err)
{
    (void)owner;
    free(me.users);
    me.users = NULL;
    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
        /* said once, tried again every period */
        if (me.failures++ == 0)
            log_write(LOG_WARN, "new-message e-mails: workon.message_emails_send failed, trying again", "reason",
                      res == NULL ? err : PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY), NULL);
        return 0;
    }
    me.failures = 0;
    return 0;
}

static void on_tick(h2o_timeout_entry_t *entry)
{
    db_query_t *q;

    (void)entry;
    h2o_timeout_link(me.worker->ctx.loop, &me.period, &me.tick);
    if (me.worker->draining || me.users != NULL || !pool_is_up(&me.worker->pool))
        return;
    me.users = ws_connected_users();
    q = pool_query_new(&me.worker->pool, DB_QUERY_SQL, on_sent, &me); /* an owner: a query without one is cancelled */
    q->sql = MESSAGE_EMAILS_SQL;
    q->values[0] = me.users;
    q->nparams = 1;
    if (pool_submit(&me.worker->pool, q) != 0) {
        pool_query_detach(&me.worker->pool, q);
        free(me.users);
        me.users = NULL;
    }
}

void message_emails_start(worker_t *w)
{
    uint64_t ms = shim_settings.message_email_delay_ms / 4;

    if (w->id != 0 || !email_transport.configured())
        return;
    if (ms < 1000)
        ms = 1000;
    if (ms > 30000)
        ms = 30000;
    me.worker = w;
    h2o_timeout_init(w->ctx.loop, &me.period, ms);
    me.tick.cb = on_tick;
    h2o_timeout_link(w->ctx.loop, &me.period, &me.tick);
}
