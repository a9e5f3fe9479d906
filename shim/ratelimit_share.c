/*
 * Rate limits across instances: N shims on one database keep one budget per
 * client, without a database write per request.
 *
 * Each instance counts in its own table (ratelimit.c) and, every 250 ms,
 * tells the others the hits it admitted since it last told them: the first
 * thread sends them with NOTIFY workon_ratelimit (payloads of at most 8000
 * bytes, "v1 <instance> <client>=<hits> ..."; clients are a key kind and a
 * user id or address, in hex), through its query pool; nothing is stored.
 * The first thread of every instance LISTENs on the channel and adds the
 * other instances' hits to its counters.  An instance that has nothing to
 * tell says so once a second, so the others know how many instances there
 * are: those heard from within the last 3 seconds, plus itself.
 *
 * Tolerance: a counter holds the whole service's hits up to the last
 * exchange.  What the others admitted since then is not in it yet, so each
 * instance admits at most limit / instances hits of one client between two
 * exchanges (its slice; a request over it is 429 with Retry-After 1 while
 * the budget is not spent).  The service as a whole therefore admits a
 * client at most about twice its limit per window in the worst case (a
 * burst spread over every instance at once, with one exchange still on its
 * way), and close to the limit when its requests come at any steadier pace.
 * Windows start at a client's first request on each instance, so hits told
 * just after a window ended count in the next one (more strict, never
 * less).  When the database is out of reach nothing is exchanged, the
 * others are forgotten after 3 s and each instance counts alone.
 */
#include "shim.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define SHARE_SQL "SELECT pg_catalog.pg_notify('workon_ratelimit', p) FROM pg_catalog.unnest($1::text[]) AS p"
#define PERIOD_MS 250
#define HEARTBEAT_MS 1000
#define PEER_TTL_MS 3000
#define MAX_PEERS 256
#define PAYLOAD_MAX 7900    /* NOTIFY payloads are shorter than 8000 bytes */
#define ARRAY_MAX (64 * 8192) /* notifications per exchange: 64 */

static uint64_t instance_id;
static unsigned active_instances = 1; /* read by every thread */

/* the first thread's */
static struct {
    worker_t *worker;
    h2o_timeout_t period;
    h2o_timeout_entry_t tick;
    char *array; /* the statement's text[] argument, until it answered */
    size_t len, payload_start;
    uint64_t last_sent_ms;
    struct {
        uint64_t id;
        uint64_t seen_ms;
    } peers[MAX_PEERS];
} share;

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

unsigned ratelimit_share_slice(unsigned limit)
{
    unsigned n = __atomic_load_n(&active_instances, __ATOMIC_RELAXED), slice;

    if (n <= 1)
        return limit;
    slice = (limit + n - 1) / n;
    return slice != 0 ? slice : 1;
}

static void count_instances(uint64_t now)
{
    unsigned n = 1;
    size_t i;

    for (i = 0; i != MAX_PEERS; ++i)
        if (share.peers[i].id != 0 && now - share.peers[i].seen_ms < PEER_TTL_MS)
            ++n;
    __atomic_store_n(&active_instances, n, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------------------ */
/* sending: a text[] literal of payloads, each "v1 <instance>" and entries */

static void open_payload(void)
{
    share.payload_start = share.len;
    share.len += (size_t)sprintf(share.array + share.len, "%s\"v1 %016llx", share.len == 1 ? "" : ",",
                                 (unsigned long long)instance_id);
}

static int emit(void *ctx, const uint8_t *id, size_t id_len, uint32_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t i;

    (void)ctx;
    if (share.len - share.payload_start + 1 + 2 * id_len + 12 > PAYLOAD_MAX) {
        if (share.len + 2 + 64 + PAYLOAD_MAX > ARRAY_MAX)
            return -1;
        share.array[share.len++] = '"';
        open_payload();
    }
    share.array[share.len++] = ' ';
    for (i = 0; i != id_len; ++i) {
        share.array[share.len++] = hex[id[i] >> 4];
        share.array[share.len++] = hex[id[i] & 15];
    }
    share.len += (size_t)sprintf(share.array + share.len, "=%u", (unsigned)n);
    return 0;
}

static int on_sent(void *owner, PGresult *res, const char *err)
{
    (void)owner;
    (void)err;
    if (res != NULL && PQresultStatus(res) != PGRES_TUPLES_OK)
        log_write(LOG_DEBUG, "rate limits: NOTIFY workon_ratelimit failed", "reason",
                  PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY), NULL);
    free(share.array);
    share.array = NULL;
    return 0;
}

static int discard(void *ctx, const uint8_t *id, size_t id_len, uint32_t n)
{
    (void)ctx;
    (void)id;
    (void)id_len;
    (void)n;
    return 0;
}

static void on_tick(h2o_timeout_entry_t *entry)
{
    uint64_t now = now_ms();
    worker_t *w = share.worker;
    db_query_t *q;
    size_t taken;

    (void)entry;
    h2o_timeout_link(w->ctx.loop, &share.period, &share.tick);
    count_instances(now);
    if (share.array != NULL)
        return; /* the last exchange is still on its way */
    if (!setting_read(rate_limit_enabled))
        return;
    if (w->draining || !pool_is_up(&w->pool)) {
        ratelimit_take_unsent(discard, NULL); /* nobody to tell: counted here only */
        return;
    }
    if ((share.array = malloc(ARRAY_MAX)) == NULL)
        return;
    share.len = 0;
    share.array[share.len++] = '{';
    open_payload();
    taken = ratelimit_take_unsent(emit, NULL);
    if (taken == 0 && now - share.last_sent_ms < HEARTBEAT_MS) {
        free(share.array);
        share.array = NULL;
        return;
    }
    share.array[share.len++] = '"';
    share.array[share.len++] = '}';
    share.array[share.len] = '\0';
    share.last_sent_ms = now;
    q = pool_query_new(&w->pool, DB_QUERY_SQL, on_sent, &share); /* an owner: a query without one is cancelled */
    q->sql = SHARE_SQL;
    q->values[0] = share.array;
    q->nparams = 1;
    if (pool_submit(&w->pool, q) != 0) {
        pool_query_detach(&w->pool, q);
        free(share.array);
        share.array = NULL;
    }
}

void ratelimit_share_start(worker_t *w)
{
    if (w->id != 0)
        return;
    while (instance_id == 0)
        if (getrandom(&instance_id, sizeof(instance_id), 0) != sizeof(instance_id))
            h2o_fatal("getrandom failed");
    share.worker = w;
    h2o_timeout_init(w->ctx.loop, &share.period, PERIOD_MS);
    share.tick.cb = on_tick;
    h2o_timeout_link(w->ctx.loop, &share.period, &share.tick);
}

/* ------------------------------------------------------------------------ */
/* receiving */

static int unhex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static void peer_seen(uint64_t id, uint64_t now)
{
    size_t i, slot = MAX_PEERS;

    for (i = 0; i != MAX_PEERS; ++i) {
        if (share.peers[i].id == id) {
            share.peers[i].seen_ms = now;
            return;
        }
        if (slot == MAX_PEERS && (share.peers[i].id == 0 || now - share.peers[i].seen_ms >= PEER_TTL_MS))
            slot = i;
    }
    if (slot != MAX_PEERS) {
        share.peers[slot].id = id;
        share.peers[slot].seen_ms = now;
        count_instances(now);
    }
}

void ratelimit_share_on_notify(const char *payload)
{
    uint64_t peer = 0;
    const char *p = payload;
    size_t i;

    if (strncmp(p, "v1 ", 3) != 0)
        return;
    p += 3;
    for (i = 0; i != 16; ++i, ++p) {
        int d = unhex(*p);
        if (d < 0)
            return;
        peer = peer << 4 | (uint64_t)d;
    }
    if (peer == instance_id || peer == 0 || (*p != ' ' && *p != '\0'))
        return; /* our own, or not a payload of ours */
    peer_seen(peer, now_ms());
    while (*p == ' ') {
        uint8_t id[17];
        size_t len = 0;
        unsigned long n;
        char *end;
        ++p;
        while (len != sizeof(id) && unhex(p[0]) >= 0 && unhex(p[1]) >= 0) {
            id[len++] = (uint8_t)(unhex(p[0]) << 4 | unhex(p[1]));
            p += 2;
        }
        if (*p != '=' || len == 0)
            return;
        n = strtoul(p + 1, &end, 10);
        if (end == p + 1 || n > UINT32_MAX)
            return;
        ratelimit_add_remote(id, len, (uint32_t)n);
        p = end;
    }
}
