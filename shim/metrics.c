/*
 * Metrics: GET /metrics in the Prometheus text format (version 0.0.4).
 *
 * Each worker thread counts into its own table (one writer, no locks, no
 * atomic read-modify-write); a scrape reads every thread's table and sums.
 * A series is (method, route template, status) with a request count and a
 * latency histogram; slots are claimed by their thread and published with a
 * release store of their key, so a reader sees only complete keys.  The
 * counts a reader sees may lag by a request, never tear (aligned 64-bit).
 *
 * A route may also be counted in an extra family (workon.routes.metric, the
 * table `families` below): its series carry the family's bit, and the family
 * is rendered from them.
 */
#include "shim.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NUM_SLOTS 1024
#define NUM_BUCKETS 13

static const double bucket_le[NUM_BUCKETS] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
static const char *bucket_names[NUM_BUCKETS] = {"0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1",
                                                "0.25",  "0.5",    "1",     "2.5",  "5",     "10"};

typedef struct st_series_t {
    const char *route; /* NULL: free slot; "" the overflow series */
    const char *method;
    int status;
    unsigned families;
    uint64_t count;
    uint64_t sum_us;
    uint64_t buckets[NUM_BUCKETS + 1]; /* not cumulative; the last is +Inf */
} series_t;

struct st_metrics_t {
    series_t slots[NUM_SLOTS];
    size_t used;
    uint64_t counters[METRIC_NUM_COUNTERS];
};

static const struct {
    const char *name;
    const char *help;
} counter_info[METRIC_NUM_COUNTERS] = {
    {"workon_rate_limited_total", "Requests answered 429 rate_limited."},
    {"workon_db_errors_total", "Requests that failed in or for lack of the database (5xx): errors, lost connections, timeouts."},
    {"workon_request_timeouts_total", "Requests that waited REQUEST_TIMEOUT_MS for the database (503, query cancelled)."},
    {"workon_overload_rejections_total", "Requests refused with 503 because MAX_INFLIGHT requests were in progress."},
};

/* the extra families, by bit (METRICS_FAMILY_*) */
static const struct {
    unsigned bit;
    const char *route_metric; /* workon.routes.metric */
    const char *name;
    const char *help;
} families[] = {
    {METRICS_FAMILY_WEBHOOKS, "webhooks", "workon_webhooks_total",
     "Stripe webhook deliveries by route and status (200 received, 400 invalid signature)."},
};

#define NUM_FAMILIES (sizeof(families) / sizeof(families[0]))

#define STORE(field, v) __atomic_store_n(&(field), (v), __ATOMIC_RELAXED)
#define LOAD(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)

metrics_t *metrics_new(void)
{
    metrics_t *m = calloc(1, sizeof(*m));

    if (m == NULL)
        h2o_fatal("no memory");
    return m;
}

unsigned metrics_family(const char *name)
{
    size_t i;

    for (i = 0; i != NUM_FAMILIES; ++i)
        if (strcmp(families[i].route_metric, name) == 0)
            return families[i].bit;
    return 0;
}

void metrics_count(metrics_t *m, int counter)
{
    STORE(m->counters[counter], m->counters[counter] + 1);
}

static const char *method_label(h2o_iovec_t method)
{
    static const char *known[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"};
    size_t i;

    for (i = 0; i != sizeof(known) / sizeof(known[0]); ++i)
        if (h2o_memis(method.base, method.len, known[i], strlen(known[i])))
            return known[i];
    return "OTHER";
}

static series_t *find_series(metrics_t *m, const char *method, const char *route, int status)
{
    uint64_t h = 1469598103934665603ULL;
    const char *p;
    size_t i, n;

    for (p = route; *p != '\0'; ++p)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    h ^= (uint64_t)(uintptr_t)method * 31 + (uint64_t)status;
    h *= 1099511628211ULL;
    for (i = h % NUM_SLOTS, n = 0; n != NUM_SLOTS; i = (i + 1) % NUM_SLOTS, ++n) {
        series_t *s = m->slots + i;
        if (s->route == NULL) {
            if (m->used + 1 >= NUM_SLOTS)
                break;
            s->method = method;
            s->status = status;
            __atomic_store_n(&s->route, h2o_strdup(NULL, route, SIZE_MAX).base, __ATOMIC_RELEASE);
            ++m->used;
            return s;
        }
        if (s->method == method && s->status == status && strcmp(s->route, route) == 0)
            return s;
    }
    /* full: the overflow series, labelled route="" */
    for (i = 0; i != NUM_SLOTS; ++i) {
        series_t *s = m->slots + i;
        if (s->route == NULL) {
            s->method = "OTHER";
            s->status = 0;
            __atomic_store_n(&s->route, "", __ATOMIC_RELEASE);
            ++m->used;
            return s;
        }
        if (s->route[0] == '\0')
            return s;
    }
    return m->slots;
}

void metrics_observe(metrics_t *m, h2o_iovec_t method, const char *route, unsigned families, int status, double ms)
{
    series_t *s = find_series(m, method_label(method), route != NULL ? route : "unmatched", status);
    double seconds = ms / 1000;
    size_t b;

    for (b = 0; b != NUM_BUCKETS && seconds > bucket_le[b]; ++b)
        ;
    if ((s->families | families) != s->families && s->route[0] != '\0') /* the overflow series stays in no family */
        STORE(s->families, s->families | families);
    STORE(s->count, s->count + 1);
    STORE(s->sum_us, s->sum_us + (uint64_t)(ms * 1000));
    STORE(s->buckets[b], s->buckets[b] + 1);
}

/* ------------------------------------------------------------------------ */
/* scrape */

typedef struct st_snapshot_t {
    const char *route;
    const char *method;
    int status;
    unsigned families;
    uint64_t count, sum_us, buckets[NUM_BUCKETS + 1];
} snapshot_t;

static int compare_snapshots(const void *x, const void *y)
{
    const snapshot_t *a = x, *b = y;
    int c = strcmp(a->route, b->route);

    if (c == 0)
        c = strcmp(a->method, b->method);
    if (c == 0)
        c = a->status - b->status;
    return c;
}

static void add_label_value(strbuf_t *sb, const char *s)
{
    for (; *s != '\0'; ++s) {
        if (*s == '\\' || *s == '"')
            strbuf_lit(sb, "\\");
        if (*s == '\n') {
            strbuf_lit(sb, "\\n");
            continue;
        }
        strbuf_add(sb, s, 1);
    }
}

/* merges the series of every thread: one entry per (route, method, status), sorted */
static snapshot_t *collect(h2o_mem_pool_t *pool, size_t *num)
{
    size_t cap = 0, n = 0, i, k, b, t;
    snapshot_t *all;

    for (t = 0; t != shim_settings.threads; ++t)
        cap += NUM_SLOTS;
    all = h2o_mem_alloc_pool(pool, sizeof(*all) * (cap + 1));
    for (t = 0; t != shim_settings.threads; ++t) {
        metrics_t *m = __atomic_load_n(&shim_workers[t].metrics, __ATOMIC_ACQUIRE);
        if (m == NULL)
            continue;
        for (i = 0; i != NUM_SLOTS; ++i) {
            series_t *s = m->slots + i;
            const char *route = __atomic_load_n(&s->route, __ATOMIC_ACQUIRE);
            if (route == NULL)
                continue;
            all[n].route = route;
            all[n].method = s->method;
            all[n].status = s->status;
            all[n].families = LOAD(s->families);
            all[n].count = LOAD(s->count);
            all[n].sum_us = LOAD(s->sum_us);
            for (b = 0; b != NUM_BUCKETS + 1; ++b)
                all[n].buckets[b] = LOAD(s->buckets[b]);
            ++n;
        }
    }
    qsort(all, n, sizeof(*all), compare_snapshots);
    /* merge neighbours with equal labels */
    for (i = 0, k = 0; i != n; ++i) {
        if (k != 0 && compare_snapshots(all + k - 1, all + i) == 0) {
            all[k - 1].count += all[i].count;
            all[k - 1].sum_us += all[i].sum_us;
            all[k - 1].families |= all[i].families;
            for (b = 0; b != NUM_BUCKETS + 1; ++b)
                all[k - 1].buckets[b] += all[i].buckets[b];
        } else {
            all[k++] = all[i];
        }
    }
    *num = k;
    return all;
}

static void render_requests(strbuf_t *sb, snapshot_t *all, size_t n)
{
    size_t i, b, j, f;

    strbuf_lit(sb, "# HELP workon_http_requests_total HTTP requests by method, route template and status.\n"
                   "# TYPE workon_http_requests_total counter\n");
    for (i = 0; i != n; ++i) {
        strbuf_printf(sb, "workon_http_requests_total{method=\"%s\",route=\"", all[i].method);
        add_label_value(sb, all[i].route);
        strbuf_printf(sb, "\",status=\"%d\"} %llu\n", all[i].status, (unsigned long long)all[i].count);
    }

    /* the histogram is per (method, route): statuses summed */
    strbuf_lit(sb, "# HELP workon_http_request_duration_seconds Time from the request's arrival to its response.\n"
                   "# TYPE workon_http_request_duration_seconds histogram\n");
    for (i = 0; i != n; i = j) {
        uint64_t buckets[NUM_BUCKETS + 1] = {0}, count = 0, sum_us = 0, cumulative = 0;
        for (j = i; j != n && strcmp(all[j].route, all[i].route) == 0 && strcmp(all[j].method, all[i].method) == 0; ++j) {
            count += all[j].count;
            sum_us += all[j].sum_us;
            for (b = 0; b != NUM_BUCKETS + 1; ++b)
                buckets[b] += all[j].buckets[b];
        }
        for (b = 0; b != NUM_BUCKETS + 1; ++b) {
            cumulative += buckets[b];
            strbuf_printf(sb, "workon_http_request_duration_seconds_bucket{method=\"%s\",route=\"", all[i].method);
            add_label_value(sb, all[i].route);
            strbuf_printf(sb, "\",le=\"%s\"} %llu\n", b == NUM_BUCKETS ? "+Inf" : bucket_names[b], (unsigned long long)cumulative);
        }
        strbuf_printf(sb, "workon_http_request_duration_seconds_sum{method=\"%s\",route=\"", all[i].method);
        add_label_value(sb, all[i].route);
        strbuf_printf(sb, "\"} %.6f\n", sum_us / 1e6);
        strbuf_printf(sb, "workon_http_request_duration_seconds_count{method=\"%s\",route=\"", all[i].method);
        add_label_value(sb, all[i].route);
        strbuf_printf(sb, "\"} %llu\n", (unsigned long long)count);
    }

    for (f = 0; f != NUM_FAMILIES; ++f) {
        strbuf_printf(sb, "# HELP %s %s\n# TYPE %s counter\n", families[f].name, families[f].help, families[f].name);
        for (i = 0; i != n; ++i) {
            if ((all[i].families & families[f].bit) == 0)
                continue;
            strbuf_printf(sb, "%s{route=\"", families[f].name);
            add_label_value(sb, all[i].route);
            strbuf_printf(sb, "\",status=\"%d\"} %llu\n", all[i].status, (unsigned long long)all[i].count);
        }
    }
}

static void render_gauge(strbuf_t *sb, const char *name, const char *help, size_t (*get)(worker_t *w))
{
    unsigned t;

    strbuf_printf(sb, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
    for (t = 0; t != shim_settings.threads; ++t)
        if (__atomic_load_n(&shim_workers[t].metrics, __ATOMIC_ACQUIRE) != NULL) /* set once its pool exists */
            strbuf_printf(sb, "%s{thread=\"%u\"} %zu\n", name, t, get(shim_workers + t));
}

static size_t get_pool_size(worker_t *w)
{
    return w->pool.size;
}

static size_t get_pool_connected(worker_t *w)
{
    return LOAD(w->pool.num_ready);
}

static size_t get_pool_busy(worker_t *w)
{
    size_t i, n = 0;

    for (i = 0; i != w->pool.size; ++i)
        if (pool_conn_busy(&w->pool, i))
            ++n;
    return n;
}

static size_t get_pool_waiting(worker_t *w)
{
    return LOAD(w->pool.num_pending);
}

static size_t get_in_flight(worker_t *w)
{
    return LOAD(w->active_requests);
}

h2o_iovec_t metrics_render(h2o_mem_pool_t *pool)
{
    strbuf_t sb;
    size_t n, i, t;
    snapshot_t *all = collect(pool, &n);

    strbuf_init(&sb, pool, 4096 + n * 1200);
    render_requests(&sb, all, n);
    render_gauge(&sb, "workon_db_pool_size", "Database connections per thread (DB_POOL_SIZE).", get_pool_size);
    render_gauge(&sb, "workon_db_pool_connected", "Database connections up.", get_pool_connected);
    render_gauge(&sb, "workon_db_pool_busy", "Database connections with at least one query in flight.", get_pool_busy);
    render_gauge(&sb, "workon_db_pool_waiting", "Queries waiting for a database connection.", get_pool_waiting);
    render_gauge(&sb, "workon_requests_in_flight", "Requests in progress (waiting for the database).", get_in_flight);
    for (i = 0; i != METRIC_NUM_COUNTERS; ++i) {
        uint64_t sum = 0;
        for (t = 0; t != shim_settings.threads; ++t)
        {
            metrics_t *m = __atomic_load_n(&shim_workers[t].metrics, __ATOMIC_ACQUIRE);
            if (m != NULL)
                sum += LOAD(m->counters[i]);
        }
        strbuf_printf(&sb, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", counter_info[i].name, counter_info[i].help,
                      counter_info[i].name, counter_info[i].name, (unsigned long long)sum);
    }
    strbuf_printf(&sb, "# HELP workon_websockets WebSocket connections open.\n# TYPE workon_websockets gauge\nworkon_websockets %zu\n",
                  ws_total_clients());
    strbuf_printf(&sb, "# HELP workon_up The shim is serving.\n# TYPE workon_up gauge\nworkon_up 1\n");
    return strbuf_finish(&sb);
}
