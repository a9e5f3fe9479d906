/*
 * Read replicas (DATABASE_REPLICA_URLS): each thread has a pool per replica
 * (pool.c, DB_POOL_SIZE connections each) beside its pools of the primary.
 * A route that workon.routes marks read_only runs on a replica that can
 * serve it; everything else, and a read no replica can serve, runs on the
 * primary.
 *
 *  - Positions.  Every 100 ms each replica is asked how far it has replayed
 *    (pg_last_wal_replay_lsn()) and the primary how far it has written
 *    (pg_current_wal_insert_lsn()); the primary's answers are kept with the
 *    time they came (REPLICA_SAMPLES of them, the last 25 s).
 *  - Lag.  A replica lags by the age of the oldest sample of the primary it
 *    has not replayed (0 when it has replayed the newest), or by the age of
 *    its last answer when that is older.  Above REPLICA_MAX_LAG_MS it is
 *    skipped, as is a replica without a connection.
 *  - Read-your-writes.  A request that ran on the primary while there are
 *    replicas is followed on its connection by pg_current_wal_insert_lsn()
 *    (pool.c: after the commit, so at or past the commit record); the
 *    position goes back to the client in X-Workon-LSN and the cookie
 *    workon_lsn.  A read that brings one back (the header, else the cookie)
 *    goes only to a replica whose last known replay position is at or past
 *    it: a replay position only grows, so the one known is never ahead of
 *    the truth.
 *  - A read that failed on a replica without an answer (the connection was
 *    lost), or because the handler tried to write (25006), runs again on the
 *    primary.
 */
#include "shim.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POLL_INTERVAL_MS 100
#define REPLICA_SAMPLES 256 /* of the primary's position, one per poll: 25.6 s */
/* a position right after the header of a WAL page is the end of the record before the page */
#define XLOG_PAGE_SIZE 8192
#define XLOG_SHORT_PAGE_HEADER 24

#define REPLAY_SQL                                                                                                                 \
    "SELECT (CASE WHEN pg_catalog.pg_is_in_recovery() THEN pg_catalog.pg_last_wal_replay_lsn()"                                    \
    " ELSE pg_catalog.pg_current_wal_insert_lsn() END)::text"
#define PRIMARY_SQL "SELECT pg_catalog.pg_current_wal_insert_lsn()::text"

typedef struct st_replica_t {
    db_pool_t pool;
    struct st_replicas_t *set;
    uint64_t replay_lsn;
    uint64_t answered_at; /* when its last poll answered; 0: never */
    int polling;
} replica_t;

typedef struct st_lsn_sample_t {
    uint64_t at;
    uint64_t lsn;
} lsn_sample_t;

struct st_replicas_t {
    worker_t *worker;
    replica_t *list;
    size_t num;
    size_t next; /* round robin */
    lsn_sample_t samples[REPLICA_SAMPLES];
    size_t num_samples, head; /* head: where the next sample goes */
    int primary_polling;
    h2o_timeout_t interval;
    h2o_timeout_entry_t tick;
};

/* ------------------------------------------------------------------------ */
/* positions */

/* 1 to 8 hex digits, all of s */
static int is_lsn_half(const char *s)
{
    size_t n = strspn(s, "0123456789ABCDEFabcdef");
    return n != 0 && n <= 8 && s[n] == '\0';
}

uint64_t lsn_parse(const char *s, size_t len)
{
    char buf[24], *slash;

    if (len >= sizeof(buf))
        return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if ((slash = strchr(buf, '/')) == NULL)
        return 0;
    *slash = '\0';
    if (!is_lsn_half(buf) || !is_lsn_half(slash + 1))
        return 0;
    return strtoull(buf, NULL, 16) << 32 | strtoull(slash + 1, NULL, 16);
}

/* the replay position a replica needs to have seen everything before lsn */
static uint64_t lsn_needed(uint64_t lsn)
{
    if (lsn % XLOG_PAGE_SIZE == XLOG_SHORT_PAGE_HEADER)
        lsn -= XLOG_SHORT_PAGE_HEADER;
    return lsn;
}

static uint64_t lsn_of(PGresult *res)
{
    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 || PQgetisnull(res, 0, 0))
        return 0;
    return lsn_parse(PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0));
}

/* ------------------------------------------------------------------------ */
/* polls */

static int on_replica_polled(void *owner, PGresult *res, const char *err)
{
    replica_t *r = owner;
    uint64_t lsn = lsn_of(res);

    (void)err;
    r->polling = 0;
    if (lsn != 0) {
        if (lsn > r->replay_lsn)
            r->replay_lsn = lsn;
        r->answered_at = h2o_now(r->set->worker->ctx.loop);
    }
    return 0;
}

static int on_primary_polled(void *owner, PGresult *res, const char *err)
{
    struct st_replicas_t *rs = owner;
    uint64_t lsn = lsn_of(res);

    (void)err;
    rs->primary_polling = 0;
    if (lsn != 0) {
        rs->samples[rs->head].at = h2o_now(rs->worker->ctx.loop);
        rs->samples[rs->head].lsn = lsn_needed(lsn);
        rs->head = (rs->head + 1) % REPLICA_SAMPLES;
        if (rs->num_samples < REPLICA_SAMPLES)
            ++rs->num_samples;
    }
    return 0;
}

static int poll_one(db_pool_t *pool, const char *sql, db_query_cb cb, void *owner)
{
    db_query_t *q;

    if (!pool_is_up(pool))
        return 0;
    q = pool_query_new(pool, DB_QUERY_SQL, cb, owner); /* with an owner: a query without one is cancelled */
    q->sql = sql;
    if (pool_submit(pool, q) != 0) {
        pool_query_detach(pool, q);
        return 0;
    }
    return 1;
}

static void on_tick(h2o_timeout_entry_t *entry)
{
    struct st_replicas_t *rs = H2O_STRUCT_FROM_MEMBER(struct st_replicas_t, tick, entry);
    worker_t *w = rs->worker;
    size_t i;

    if (!rs->primary_polling)
        rs->primary_polling = poll_one(&w->pool, PRIMARY_SQL, on_primary_polled, rs);
    for (i = 0; i != rs->num; ++i) {
        replica_t *r = rs->list + i;
        if (!r->polling)
            r->polling = poll_one(&r->pool, REPLAY_SQL, on_replica_polled, r);
    }
    if (!w->draining)
        h2o_timeout_link(w->ctx.loop, &rs->interval, &rs->tick);
}

/* ------------------------------------------------------------------------ */
/* choosing */

static uint64_t replica_lag_ms(struct st_replicas_t *rs, replica_t *r, uint64_t now)
{
    uint64_t lag = 0;
    size_t i;

    if (r->answered_at == 0)
        return UINT64_MAX;
    for (i = 0; i != rs->num_samples; ++i) {
        lsn_sample_t *s = rs->samples + (rs->head + REPLICA_SAMPLES - rs->num_samples + i) % REPLICA_SAMPLES;
        if (s->lsn > r->replay_lsn) {
            lag = now - s->at;
            break;
        }
    }
    if (now - r->answered_at > lag)
        lag = now - r->answered_at;
    return lag;
}

enum {
    REPLICA_OK = 0,
    REPLICA_LAGGING,
    REPLICA_DOWN,
};

static int replica_state(struct st_replicas_t *rs, replica_t *r, uint64_t now, uint64_t *lag)
{
    *lag = replica_lag_ms(rs, r, now);
    if (!pool_is_up(&r->pool) || r->pool.fail_fast || r->answered_at == 0)
        return REPLICA_DOWN;
    if (*lag > shim_settings.replica_max_lag_ms)
        return REPLICA_LAGGING;
    return REPLICA_OK;
}

db_pool_t *replicas_pick(worker_t *w, uint64_t client_lsn)
{
    struct st_replicas_t *rs = w->replicas;
    uint64_t now, lag, need = lsn_needed(client_lsn);
    size_t i;

    if (rs == NULL || rs->num == 0)
        return NULL;
    now = h2o_now(w->ctx.loop);
    for (i = 0; i != rs->num; ++i) {
        replica_t *r = rs->list + (rs->next + i) % rs->num;
        if (replica_state(rs, r, now, &lag) == REPLICA_OK && r->replay_lsn >= need) {
            rs->next = (rs->next + i + 1) % rs->num;
            return &r->pool;
        }
    }
    return NULL;
}

int replicas_owns(worker_t *w, db_pool_t *pool)
{
    struct st_replicas_t *rs = w->replicas;

    return rs != NULL && rs->num != 0 && (char *)pool >= (char *)rs->list && (char *)pool < (char *)(rs->list + rs->num);
}

/* ------------------------------------------------------------------------ */
/* the client's side */

/* the position in the X-Workon-LSN header, else in the cookie workon_lsn; 0 when none */
uint64_t replicas_client_lsn(h2o_req_t *req)
{
    ssize_t at = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-workon-lsn"), -1);
    uint64_t lsn = 0;

    if (at != -1)
        return lsn_parse(req->headers.entries[at].value.base, req->headers.entries[at].value.len);
    for (at = -1; (at = h2o_find_header(&req->headers, H2O_TOKEN_COOKIE, at)) != -1;) {
        h2o_iovec_t v = req->headers.entries[at].value;
        const char *p = v.base, *end = v.base + v.len;
        while (p < end) {
            const char *semi = memchr(p, ';', end - p), *stop = semi != NULL ? semi : end;
            while (p < stop && *p == ' ')
                ++p;
            if ((size_t)(stop - p) > sizeof("workon_lsn=") - 1 && memcmp(p, "workon_lsn=", sizeof("workon_lsn=") - 1) == 0) {
                uint64_t l = lsn_parse(p + sizeof("workon_lsn=") - 1, stop - p - (sizeof("workon_lsn=") - 1));
                if (l > lsn)
                    lsn = l;
            }
            p = stop + 1;
        }
    }
    return lsn;
}

void replicas_add_lsn_headers(h2o_req_t *req, const char *lsn)
{
    /* a replica within REPLICA_MAX_LAG_MS has replayed it by the time the cookie is gone */
    char *cookie = h2o_mem_alloc_pool(&req->pool, 96);
    int n = snprintf(cookie, 96, "workon_lsn=%s; Path=/; Max-Age=%llu; HttpOnly; SameSite=Lax", lsn,
                     (unsigned long long)(shim_settings.replica_max_lag_ms + 999) / 1000 + 1);

    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-workon-lsn"), 0, NULL, lsn, strlen(lsn));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_SET_COOKIE, NULL, cookie, (size_t)n);
}

/* ------------------------------------------------------------------------ */
/* health */

int replicas_health_json(worker_t *w, strbuf_t *sb)
{
    static const char *const names[] = {"ok", "lagging", "down"};
    struct st_replicas_t *rs = w->replicas;
    uint64_t now, lag;
    size_t i;
    int all_ok = 1;

    if (rs == NULL || rs->num == 0)
        return 1;
    now = h2o_now(w->ctx.loop);
    strbuf_lit(sb, "\"replicas\":[");
    for (i = 0; i != rs->num; ++i) {
        replica_t *r = rs->list + i;
        int state = replica_state(rs, r, now, &lag);
        all_ok &= state == REPLICA_OK;
        strbuf_printf(sb, "%s{\"status\":\"%s\"", i == 0 ? "" : ",", names[state]);
        if (r->answered_at != 0)
            strbuf_printf(sb, ",\"lag_ms\":%llu,\"replay_lsn\":\"%X/%X\"", (unsigned long long)lag,
                          (unsigned)(r->replay_lsn >> 32), (unsigned)r->replay_lsn);
        strbuf_lit(sb, "}");
    }
    strbuf_lit(sb, "]");
    return all_ok;
}

/* ------------------------------------------------------------------------ */

void replicas_init(worker_t *w)
{
    struct st_replicas_t *rs;
    size_t i;

    if (shim_settings.num_replicas == 0)
        return;
    if ((rs = calloc(1, sizeof(*rs))) == NULL || (rs->list = calloc(shim_settings.num_replicas, sizeof(replica_t))) == NULL)
        h2o_fatal("no memory");
    rs->worker = w;
    rs->num = shim_settings.num_replicas;
    for (i = 0; i != rs->num; ++i) {
        rs->list[i].set = rs;
        /* the control connection reaches the primary only: abandoned reads are cancelled by a cancel request */
        pool_init(&rs->list[i].pool, w, "replica", shim_settings.replica_urls[i], shim_settings.pool_size, POOL_MAX_INFLIGHT,
                  POOL_MAX_PENDING, NULL, NULL);
    }
    h2o_timeout_init(w->ctx.loop, &rs->interval, POLL_INTERVAL_MS);
    rs->tick.cb = on_tick;
    w->replicas = rs;
}

void replicas_start(worker_t *w)
{
    struct st_replicas_t *rs = w->replicas;
    size_t i;

    if (rs == NULL)
        return;
    for (i = 0; i != rs->num; ++i)
        pool_start(&rs->list[i].pool);
    h2o_timeout_link(w->ctx.loop, &rs->interval, &rs->tick);
}

void replicas_stop(worker_t *w)
{
    struct st_replicas_t *rs = w->replicas;
    size_t i;

    if (rs == NULL)
        return;
    if (h2o_timeout_is_linked(&rs->tick))
        h2o_timeout_unlink(&rs->tick);
    for (i = 0; i != rs->num; ++i)
        pool_stop(&rs->list[i].pool);
}
