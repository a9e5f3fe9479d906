/*
 * The control channel: one more connection per thread (a dbconn_t, outside
 * the query pipeline) for what is not an API query.
 *
 *  - Seeding (first thread only, after every connect): the database gets what
 *    the shim keeps from the environment: the JWT signing key from
 *    JWT_SECRET, the refresh-token key from JWT_REFRESH_SECRET, the first
 *    admin and the Stripe webhook secret.  All idempotent, so a restored
 *    database gets them back.  Values go as parameters and are never logged.
 *  - LISTEN on the channels of the table below, each with its handler; a
 *    notification calls the handler with its payload.  A new channel
 *    (realtime events, say) is one more row.
 *  - Route loads: workon.routes and workon.errors are read after every
 *    (re)connect, on NOTIFY workon_routes and on SIGHUP; a failed load is
 *    tried again every 2 s.  Requests that wait for the first table are told
 *    (api.c).
 *  - Token keys (first thread only): workon.jwt_verification_keys() is read
 *    after every (re)connect and on NOTIFY workon_jwt_keys (a key rotated,
 *    retired or seeded) into token.c's process-wide key set, which the rate
 *    limiter uses to tell whose token a request carries.
 *  - Cancels: the query pool hands over the pid of a backend running a query
 *    nobody waits for; `pg_cancel_backend()` goes out here (a pipelined
 *    connection cannot cancel its own statement without a second connection).
 *  - Realtime publishing (first thread only): NOTIFY workon_events (a writer
 *    committed events), every second (ws.c's tick) and after every
 *    (re)connect, `workon.events_publish_frames()` numbers the committed
 *    events here, one batch after another until none is left, outside the
 *    query pipeline: it may wait for its commit's flush, and a backlog takes
 *    a while.  It never queues behind another publisher (a thread of
 *    another shim): when one is at work it tries again 5 ms later.  The
 *    events a batch numbered come back with it: once it has committed they
 *    go to ws_recent.c and every thread of this shim is woken (wake.c);
 *    then NOTIFY workon_events_published (payload: the new head), in a
 *    transaction of its own, tells every other shim (ws.c).
 *
 * The connection runs one statement at a time: cancels first, then a pending
 * announcement, then a pending publish, then a pending route load, then a
 * pending key load.
 */
#include "shim.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROUTES_SQL ROUTES_SELECT ";" ERRORS_SELECT
#define KEYS_SQL "SELECT kid, alg, secret, public_key FROM workon.jwt_verification_keys()"

enum {
    CONTROL_IDLE = 0,
    CONTROL_SEEDING,
    CONTROL_SUBSCRIBING,
    CONTROL_LOADING,
    CONTROL_CANCELLING,
    CONTROL_LOADING_KEYS,
    CONTROL_PUBLISHING,
    CONTROL_ANNOUNCING,
};

static void on_routes_changed(control_t *control, const char *payload);
static void on_outbox_row(control_t *control, const char *payload);
static void on_events(control_t *control, const char *payload);
static void on_events_published(control_t *control, const char *payload);
static void on_jwt_keys_changed(control_t *control, const char *payload);
static void on_ratelimit(control_t *control, const char *payload);

/* the channels listened to, and what a notification on each does */
static const struct {
    const char *name;
    int first_thread_only;
    void (*on_notify)(control_t *control, const char *payload);
} channels[] = {
    {"workon_routes", 0, on_routes_changed}, /* every thread keeps its own route table */
    {"workon_outbox", 1, on_outbox_row},     /* the first thread runs the outbox worker */
    {"workon_events", 1, on_events},         /* the first thread publishes realtime events */
    {"workon_events_published", 0, on_events_published}, /* every thread fans them out to its sockets */
    {"workon_jwt_keys", 1, on_jwt_keys_changed}, /* the first thread reloads the process's token keys */
    {"workon_ratelimit", 1, on_ratelimit},   /* the other instances' hits, into the process's counters */
};

#define NUM_CHANNELS (sizeof(channels) / sizeof(channels[0]))

static void control_kick(control_t *control);

static worker_t *control_worker(control_t *control)
{
    return control->conn.worker;
}

/* ------------------------------------------------------------------------ */
/* channels */

static void on_routes_changed(control_t *control, const char *payload)
{
    (void)payload;
    control->reload_wanted = 1;
}

static void on_outbox_row(control_t *control, const char *payload)
{
    outbox_on_notify(control_worker(control), payload);
}

static void on_events(control_t *control, const char *payload)
{
    (void)payload;
    control_publish(control);
}

static void on_events_published(control_t *control, const char *payload)
{
    ws_on_published(control_worker(control), payload);
}

static void on_jwt_keys_changed(control_t *control, const char *payload)
{
    (void)payload;
    control->keys_wanted = 1;
}

static void on_ratelimit(control_t *control, const char *payload)
{
    (void)control;
    ratelimit_share_on_notify(payload);
}

static int listens_to(control_t *control, size_t i)
{
    return !channels[i].first_thread_only || control_worker(control)->id == 0;
}

static int control_subscribe(control_t *control)
{
    char sql[64 * NUM_CHANNELS];
    size_t i, n = 0;

    for (i = 0; i != NUM_CHANNELS; ++i)
        if (listens_to(control, i))
            n += snprintf(sql + n, sizeof(sql) - n, "%sLISTEN %s", n == 0 ? "" : "; ", channels[i].name);
    if (!PQsendQuery(control->conn.pg, sql)) {
        dbconn_fail_pq(&control->conn);
        return -1;
    }
    control->state = CONTROL_SUBSCRIBING;
    return 0;
}

static void control_notified(control_t *control, PGnotify *n)
{
    size_t i;

    for (i = 0; i != NUM_CHANNELS; ++i) {
        if (strcmp(n->relname, channels[i].name) == 0 && listens_to(control, i)) {
            channels[i].on_notify(control, n->extra);
            return;
        }
    }
}

/* ------------------------------------------------------------------------ */
/* seeding */

/* sends the start-up seeding (first thread only); 0 when there was nothing to send, -1 when the connection failed */
static int control_seed(control_t *control)
{
    const char *values[6];
    char sql[256];
    size_t n = 0;
    int nparams = 0;

    if (control_worker(control)->id != 0)
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
    if (shim_settings.signed_url_secret != NULL) {
        values[nparams++] = shim_settings.signed_url_secret;
        n += snprintf(sql + n, sizeof(sql) - n, ", workon.seed_signed_url_secret($%d)", nparams);
    }
    if (nparams == 0)
        return 0;
    if (!PQsendQueryParams(control->conn.pg, sql, nparams, NULL, values, NULL, NULL, 0)) {
        dbconn_fail_pq(&control->conn);
        return -1;
    }
    control->state = CONTROL_SEEDING;
    return 1;
}

/* ------------------------------------------------------------------------ */
/* route loads */

static void control_send_load(control_t *control)
{
    control->reload_wanted = 0;
    if (!PQsendQuery(control->conn.pg, ROUTES_SQL)) {
        dbconn_fail_pq(&control->conn);
        return;
    }
    control->state = CONTROL_LOADING;
    control->num_load_results = 0;
    dbconn_flush(&control->conn);
}

static void on_reload_retry(h2o_timeout_entry_t *entry)
{
    control_t *control = H2O_STRUCT_FROM_MEMBER(control_t, reload_entry, entry);

    if (control->conn.state != DBCONN_READY)
        return;
    control->reload_wanted = 1;
    control_kick(control);
}

static void clear_load_results(control_t *control)
{
    while (control->num_load_results > 0)
        PQclear(control->load_results[--control->num_load_results]);
}

static void control_apply_load(control_t *control)
{
    worker_t *w = control_worker(control);
    PGresult *routes = control->num_load_results >= 1 ? control->load_results[0] : NULL;
    const char *err = NULL;
    char thread[16], count[16];
    int failed = 0;

    snprintf(thread, sizeof(thread), "%u", w->id);
    if (routes != NULL && PQresultStatus(routes) == PGRES_TUPLES_OK) {
        route_table_t *table = route_table_build(routes, &err);
        if (table != NULL) {
            route_table_free(w->routes);
            w->routes = table;
            probes_routes_loaded();
            snprintf(count, sizeof(count), "%zu", route_table_size(table));
            log_write(w->id == 0 ? LOG_INFO : LOG_DEBUG, "routes loaded", "#thread", thread, "#routes", count, NULL);
        } else {
            log_write(LOG_ERROR, "route table rejected", "#thread", thread, "error", err, NULL);
            failed = 1;
        }
    } else {
        const char *msg = routes != NULL ? PQresultErrorField(routes, PG_DIAG_MESSAGE_PRIMARY) : NULL;
        log_write(w->id == 0 && control->load_failures == 0 ? LOG_WARN : LOG_DEBUG,
                  "could not load workon.routes, retrying every 2 s", "#thread", thread, "sqlstate",
                  routes != NULL ? PQresultErrorField(routes, PG_DIAG_SQLSTATE) : NULL, "error",
                  msg != NULL      ? msg
                  : routes != NULL ? pq_first_line(PQresultErrorMessage(routes))
                                   : "no result",
                  NULL);
        failed = 1;
    }
    if (control->num_load_results >= 2 && PQresultStatus(control->load_results[1]) == PGRES_TUPLES_OK) {
        error_map_t map;
        if (error_map_build(&map, control->load_results[1], &err) == 0) {
            error_map_free(&w->errors);
            w->errors = map;
        }
    }
    clear_load_results(control);
    control->load_failures = failed ? control->load_failures + 1 : 0;
    if (failed && !h2o_timeout_is_linked(&control->reload_entry))
        h2o_timeout_link(w->ctx.loop, &w->backoff_timeouts[SHIM_BACKOFF_STEPS - 1], &control->reload_entry);
    api_on_routes_loaded(w);
}

void control_reload_routes(control_t *control)
{
    control->reload_wanted = 1;
    control_kick(control);
}

/* ------------------------------------------------------------------------ */
/* token keys */

static void control_send_keys_load(control_t *control)
{
    control->keys_wanted = 0;
    if (!PQsendQueryParams(control->conn.pg, KEYS_SQL, 0, NULL, NULL, NULL, NULL, 0)) {
        dbconn_fail_pq(&control->conn);
        return;
    }
    control->state = CONTROL_LOADING_KEYS;
    dbconn_flush(&control->conn);
}

/* the key set, or why not (without it every token counts against its address); key material is never logged */
static void control_apply_keys(control_t *control, PGresult *res)
{
    char count[16];
    int n = token_keys_load(res);

    if (n >= 0) {
        snprintf(count, sizeof(count), "%d", n);
        log_write(LOG_DEBUG, "token keys loaded", "#keys", count, NULL);
        control->keys_failures = 0;
        return;
    }
    log_write(control->keys_failures++ == 0 ? LOG_WARN : LOG_DEBUG,
              "could not read workon.jwt_verification_keys(): tokens count against their address", "sqlstate",
              PQresultErrorField(res, PG_DIAG_SQLSTATE), "error", pq_first_line(PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY)),
              NULL);
}

/* ------------------------------------------------------------------------ */
/* cancels */

void control_cancel_backend(void *data, int pid)
{
    control_t *control = data;
    size_t i;

    if (pid <= 0)
        return;
    for (i = 0; i != control->num_cancel_pids; ++i)
        if (control->cancel_pids[i] == pid)
            return;
    if (control->num_cancel_pids == control->max_cancel_pids)
        return;
    control->cancel_pids[control->num_cancel_pids++] = pid;
    control_kick(control);
}

static void control_send_cancels(control_t *control)
{
    char sql[64 + 32 * 64];
    size_t i, n = 0;

    n += snprintf(sql + n, sizeof(sql) - n, "SELECT");
    for (i = 0; i != control->num_cancel_pids && i != 64; ++i)
        n += snprintf(sql + n, sizeof(sql) - n, "%s pg_cancel_backend(%d)", i == 0 ? "" : ",", control->cancel_pids[i]);
    control->num_cancel_pids = 0;
    if (!PQsendQuery(control->conn.pg, sql)) {
        dbconn_fail_pq(&control->conn);
        return;
    }
    control->state = CONTROL_CANCELLING;
    dbconn_flush(&control->conn);
}

/* ------------------------------------------------------------------------ */
/* realtime publishing (the first thread) */

#define PUBLISH_SQL "SELECT head, more, pos, recipients, frame, close_code FROM workon.events_publish_frames(false)"
/* NOTIFY takes a lock at commit that it holds through the commit's WAL flush; this transaction
 * writes nothing that needs one (the events are committed already), so it holds it for less */
#define ANNOUNCE_SQL                                                                                                   \
    "SELECT pg_catalog.set_config('synchronous_commit', 'off', true), "                                                  \
    "pg_catalog.pg_notify('workon_events_published', $1)"

/*
 * A publish starts at least this long after the one before, so that under a
 * steady stream of writes each batch takes what came meanwhile: at most 500
 * publishes a second (and each thread's fan-out after one), however
 * fast the writes come.  A lone write is published at once; under load an
 * event waits at most this long more.  (In 10 s runs of the realtime bench
 * at 1,000 messages a second the gap made no difference the runs could
 * show; it bounds the work, bench/README.md.)
 */
#define CONTROL_PUBLISH_GAP_MS 2

/* whether the gap since the last publish has passed; if not, the retry is armed for its end */
static int control_publish_due(control_t *control)
{
    h2o_loop_t *loop = control_worker(control)->ctx.loop;

    if (h2o_now(loop) - control->publish_sent_at >= CONTROL_PUBLISH_GAP_MS)
        return 1;
    if (!h2o_timeout_is_linked(&control->publish_retry))
        h2o_timeout_link(loop, &control->publish_gap, &control->publish_retry);
    return 0;
}

static void control_send_publish(control_t *control)
{
    control->publish_wanted = 0;
    control->publish_sent_at = h2o_now(control_worker(control)->ctx.loop);
    if (!PQsendQuery(control->conn.pg, PUBLISH_SQL)) {
        control->publish_wanted = 1; /* again once the connection is back */
        dbconn_fail_pq(&control->conn);
        return;
    }
    control->state = CONTROL_PUBLISHING;
    dbconn_flush(&control->conn);
}

static void control_published(control_t *control, PGresult *res)
{
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) < 1) {
        /* once at warn until one succeeds (an extension older than this shim fails every second) */
        dbconn_log(&control->conn, control->publish_failures++ == 0 ? LOG_WARN : LOG_DEBUG, "realtime publish failed",
                   pq_first_line(PQresultErrorMessage(res)));
        return; /* the next wake-up or tick tries again */
    }
    control->publish_failures = 0;
    if (PQgetisnull(res, 0, 0)) {
        /* another publisher is at work: what it did not see is ours, shortly */
        if (!h2o_timeout_is_linked(&control->publish_retry))
            h2o_timeout_link(control_worker(control)->ctx.loop, &control_worker(control)->sweep_fast,
                             &control->publish_retry);
    } else {
        int64_t head = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        int i, n = PQntuples(res);
        /* committed: this shim's threads take the events from here, then other shims hear of them */
        for (i = 0; i != n; ++i)
            if (!PQgetisnull(res, i, 2))
                ws_recent_add(strtoll(PQgetvalue(res, i, 2), NULL, 10), PQgetvalue(res, i, 3), PQgetlength(res, i, 3),
                              PQgetvalue(res, i, 4), PQgetlength(res, i, 4),
                              PQgetisnull(res, i, 5) ? NULL : PQgetvalue(res, i, 5));
        if (!PQgetisnull(res, 0, 2) && head > control->announce_head)
            control->announce_head = head;
        wake_published(control_worker(control), head);
        if (strcmp(PQgetvalue(res, 0, 1), "t") == 0)
            control->publish_wanted = 1; /* a backlog: the next batch at once */
    }
}

/* NOTIFY workon_events_published with the newest head this publisher numbered: every other shim fans out to it */
static void control_send_announce(control_t *control)
{
    char head[24];
    const char *values[1] = {head};

    snprintf(head, sizeof(head), "%lld", (long long)control->announce_head);
    if (!PQsendQueryParams(control->conn.pg, ANNOUNCE_SQL, 1, NULL, values, NULL, NULL, 0)) {
        dbconn_fail_pq(&control->conn); /* the others read the head on their tick */
        return;
    }
    control->announce_head = 0;
    control->state = CONTROL_ANNOUNCING;
    dbconn_flush(&control->conn);
}

static void on_publish_retry(h2o_timeout_entry_t *entry)
{
    control_t *control = H2O_STRUCT_FROM_MEMBER(control_t, publish_retry, entry);

    control_publish(control);
}

void control_publish(control_t *control)
{
    if (control_worker(control)->id != 0)
        return;
    control->publish_wanted = 1;
    control_kick(control);
}

/* ------------------------------------------------------------------------ */
/* the connection */

/* the connection is idle: cancels first, then a publish, then a pending route load */
static void control_kick(control_t *control)
{
    if (control->conn.state != DBCONN_READY || control->state != CONTROL_IDLE)
        return;
    if (control->num_cancel_pids != 0)
        control_send_cancels(control);
    else if (control->announce_head != 0)
        control_send_announce(control);
    else if (control->publish_wanted && control_publish_due(control))
        control_send_publish(control);
    else if (control->reload_wanted)
        control_send_load(control);
    else if (control->keys_wanted)
        control_send_keys_load(control);
}

/* one statement's results have ended: what comes next */
static int control_step(control_t *control)
{
    switch (control->state) {
    case CONTROL_SEEDING:
        if (control_subscribe(control) != 0)
            return -1;
        dbconn_flush(&control->conn);
        break;
    case CONTROL_SUBSCRIBING:
        control->state = CONTROL_IDLE;
        control->reload_wanted = 1;
        control->keys_wanted = control_worker(control)->id == 0;
        /* notifications may have been missed while the connection was down */
        control->publish_wanted = control_worker(control)->id == 0;
        ws_resync(control_worker(control));
        break;
    case CONTROL_LOADING:
        control->state = CONTROL_IDLE;
        control_apply_load(control);
        break;
    case CONTROL_CANCELLING:
    case CONTROL_LOADING_KEYS:
    case CONTROL_PUBLISHING:
    case CONTROL_ANNOUNCING:
        control->state = CONTROL_IDLE;
        break;
    default:
        return 1; /* nothing was running */
    }
    return 0;
}

static void control_result(control_t *control, PGresult *res)
{
    if (control->state == CONTROL_LOADING && control->num_load_results < 2) {
        control->load_results[control->num_load_results++] = res;
        return;
    }
    if (control->state == CONTROL_LOADING_KEYS)
        control_apply_keys(control, res);
    if (control->state == CONTROL_PUBLISHING)
        control_published(control, res);
    if (control->state == CONTROL_SEEDING && PQresultStatus(res) != PGRES_TUPLES_OK)
        log_write(LOG_ERROR,
                  "start-up seeding failed (JWT_SECRET, JWT_REFRESH_SECRET, ADMIN_EMAIL/ADMIN_PASSWORD, STRIPE_WEBHOOK_SECRET, SIGNED_URL_SECRET)",
                  "sqlstate", PQresultErrorField(res, PG_DIAG_SQLSTATE), "error",
                  pq_first_line(PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY)), NULL);
    if (control->state == CONTROL_ANNOUNCING && PQresultStatus(res) != PGRES_TUPLES_OK)
        dbconn_log(&control->conn, LOG_WARN, "realtime NOTIFY workon_events_published failed (other shims catch up on their tick)",
                   pq_first_line(PQresultErrorMessage(res)));
    if (control->state == CONTROL_SUBSCRIBING && PQresultStatus(res) != PGRES_COMMAND_OK)
        dbconn_log(&control->conn, LOG_WARN, "LISTEN failed", pq_first_line(PQresultErrorMessage(res)));
    PQclear(res);
}

static void on_control_input(dbconn_t *conn)
{
    control_t *control = (control_t *)conn;
    PGnotify *n;

    while (!PQisBusy(conn->pg)) {
        PGresult *res = PQgetResult(conn->pg);
        if (res == NULL) {
            int r = control_step(control);
            if (r < 0)
                return;
            if (r > 0)
                break;
            continue;
        }
        control_result(control, res);
    }
    while ((n = PQnotifies(conn->pg)) != NULL) {
        control_notified(control, n);
        PQfreemem(n);
    }
    if (PQstatus(conn->pg) == CONNECTION_BAD) {
        dbconn_fail_pq(conn);
        return;
    }
    control_kick(control);
}

static void on_control_connected(dbconn_t *conn)
{
    control_t *control = (control_t *)conn;
    int seeding = control_seed(control);

    if (seeding == 0)
        control_subscribe(control);
}

static void on_control_lost(dbconn_t *conn, int was_ready)
{
    control_t *control = (control_t *)conn;

    (void)was_ready;
    control->state = CONTROL_IDLE;
    clear_load_results(control);
}

static const dbconn_callbacks_t control_callbacks = {on_control_connected, on_control_input, on_control_lost};

void control_init(control_t *control, worker_t *w)
{
    memset(control, 0, sizeof(*control));
    dbconn_init(&control->conn, w, &control_callbacks, "listen");
    /* LISTEN needs a session of its own: not through a transaction pooler */
    control->conn.url = shim_settings.database_direct_url;
    control->reload_entry.cb = on_reload_retry;
    control->publish_retry.cb = on_publish_retry;
    h2o_timeout_init(w->ctx.loop, &control->publish_gap, CONTROL_PUBLISH_GAP_MS);
    control->max_cancel_pids = shim_settings.pool_size + shim_settings.slow_lane_connections;
    if ((control->cancel_pids = calloc(control->max_cancel_pids, sizeof(int))) == NULL)
        h2o_fatal("no memory");
}

void control_start(control_t *control)
{
    dbconn_start(&control->conn);
}

void control_stop(control_t *control)
{
    if (h2o_timeout_is_linked(&control->publish_retry))
        h2o_timeout_unlink(&control->publish_retry);
    h2o_timeout_dispose(control_worker(control)->ctx.loop, &control->publish_gap);
    dbconn_stop(&control->conn);
}
