/*
 * workon-shim: startup, worker threads and signals.
 *
 * SHIM_THREADS workers, each with its own h2o event loop, its own listening
 * socket on HOST:PORT (SO_REUSEPORT: the kernel spreads connections), its own
 * database pool and route table.  The main thread only waits for signals:
 * SIGTERM makes every worker close its listener and finish what is in flight
 * (up to 10 s) before the process exits 0; SIGINT exits at once; SIGHUP
 * re-reads the reloadable settings and makes every worker reload its routes.
 *
 * Workers run as SCHED_BATCH unless SHIM_SCHED_BATCH=false.  A request wakes
 * the shim twice or three times (the client's bytes, the database's reply,
 * often in two chunks); a worker that preempts whoever runs at each of them
 * pays a context switch per event.  Waiting for the running task's slice
 * instead lets the events of that time arrive, and one wake-up serves them
 * all: on two shared cores under load this cut the shim's CPU per request
 * by about 40 % and the tail latency with it (bench/README.md).  An idle
 * core still runs a woken worker at once.
 */
#include "shim.h"
#include <errno.h>
#include <malloc.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define DRAIN_TIMEOUT_MS 10000
#define WS_DRAIN_MS 1000 /* WebSockets closed at the end of a drain may answer the close this long */
#define CONNECT_TIMEOUT_MS 5000

h2o_globalconf_t shim_globalconf;
struct timeval shim_started_at;

worker_t *shim_workers;
#define workers shim_workers
static unsigned workers_done;

static const uint64_t backoff_ms[SHIM_BACKOFF_STEPS] = {100, 200, 400, 800, 1600, 2000};

uint64_t worker_random(worker_t *w)
{
    uint64_t s1 = w->rng[0];
    const uint64_t s0 = w->rng[1];

    w->rng[0] = s0;
    s1 ^= s1 << 23;
    w->rng[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
    return w->rng[1] + s0;
}

static void seed_random(worker_t *w)
{
    if (getrandom(w->rng, sizeof(w->rng), 0) != sizeof(w->rng)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        w->rng[0] = (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)w;
        w->rng[1] = (uint64_t)ts.tv_sec * 0x9e3779b97f4a7c15ULL;
    }
    if (w->rng[0] == 0 && w->rng[1] == 0)
        w->rng[1] = 1;
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    worker_t *w = listener->data;
    int i;

    if (err != NULL)
        return;
    for (i = 0; i != 16; ++i) {
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (sock == NULL)
            break;
        h2o_accept(&w->accept_ctx, sock);
    }
}

static void stop_listening(worker_t *w)
{
    if (w->listener != NULL) {
        h2o_socket_read_stop(w->listener);
        h2o_socket_close(w->listener);
        w->listener = NULL;
    }
}

static void on_wakeup(h2o_socket_t *sock, const char *err)
{
    worker_t *w = sock->data;
    uint64_t v;

    (void)err;
    if (read(w->wakeup_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
        return;
    if (__atomic_exchange_n(&w->reload_requested, 0, __ATOMIC_ACQ_REL))
        control_reload_routes(&w->control);
    wake_on_wakeup(w);
    if (__atomic_load_n(&w->drain_requested, __ATOMIC_ACQUIRE) && !w->draining) {
        w->draining = 1;
        stop_listening(w);
        h2o_context_request_shutdown(&w->ctx);
    }
}

/* SHIM_SCHED_BATCH: this thread as SCHED_BATCH (needs no privilege) */
static void worker_sched_batch(void)
{
    struct sched_param param = {.sched_priority = 0};
    int rc;

    if (!shim_settings.sched_batch)
        return;
    if ((rc = pthread_setschedparam(pthread_self(), SCHED_BATCH, &param)) != 0)
        log_write(LOG_WARN, "cannot run as SCHED_BATCH, keeping the default policy", "error", strerror(rc), NULL);
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    h2o_evloop_t *loop = h2o_evloop_create();
    uint64_t deadline;
    size_t i;

    h2o_context_init(&w->ctx, loop, &shim_globalconf);
    h2o_timeout_init(loop, &w->request_timeout, shim_settings.request_timeout_ms);
    for (i = 0; i != SHIM_BACKOFF_STEPS; ++i)
        h2o_timeout_init(loop, &w->backoff_timeouts[i], backoff_ms[i]);
    h2o_timeout_init(loop, &w->connect_timeout, CONNECT_TIMEOUT_MS);
    h2o_timeout_init(loop, &w->one_sec, 1000);
    h2o_timeout_init(loop, &w->sweep_fast, 5);
    h2o_timeout_init(loop, &w->sweep_slow, 50);
    w->accept_ctx.ctx = &w->ctx;
    w->accept_ctx.hosts = shim_globalconf.hosts;
    seed_random(w);
    error_map_init_default(&w->errors);
    h2o_linklist_init_anchor(&w->awaiting_routes);

    log_thread_buffer();
    worker_sched_batch();
    control_init(&w->control, w);
    /* behind a transaction pooler a backend pid is the pooler's: cancel requests through it instead */
    pool_init(&w->pool, w, "primary", NULL, shim_settings.pool_size, POOL_MAX_INFLIGHT, POOL_MAX_PENDING,
              shim_settings.pooler ? NULL : control_cancel_backend, &w->control);
    pool_init(&w->slow, w, "slow", NULL, shim_settings.slow_lane_connections, 1, shim_settings.slow_lane_queue,
              shim_settings.pooler ? NULL : control_cancel_backend, &w->control);
    /* the fan-out's reads wait behind no API request (ws.c) */
    pool_init(&w->realtime, w, "realtime", NULL, 1, 4, 64, shim_settings.pooler ? NULL : control_cancel_backend,
              &w->control);
    replicas_init(w);
    __atomic_store_n(&w->metrics, metrics_new(), __ATOMIC_RELEASE);
    pool_start(&w->pool);
    if (w->slow.size != 0)
        pool_start(&w->slow);
    replicas_start(w);
    control_start(&w->control);
    outbox_worker_start(w);
    message_emails_start(w);
    stats_fold_start(w);
    ratelimit_share_start(w);
    ws_worker_init(w);

    w->wakeup = h2o_evloop_socket_create(loop, w->wakeup_fd, H2O_SOCKET_FLAG_DONT_READ);
    w->wakeup->data = w;
    h2o_socket_read_start(w->wakeup, on_wakeup);
    w->listener = h2o_evloop_socket_create(loop, w->listen_fd, H2O_SOCKET_FLAG_DONT_READ);
    w->listener->data = w;
    h2o_socket_read_start(w->listener, on_accept);

    while (!w->draining) {
        h2o_evloop_run(loop, INT32_MAX);
        log_flush();
    }

    /* drain: requests already being served finish, up to DRAIN_TIMEOUT_MS */
    deadline = h2o_now(loop) + DRAIN_TIMEOUT_MS;
    while (w->active_requests != 0 && h2o_now(loop) < deadline) {
        h2o_evloop_run(loop, 50);
        log_flush();
    }
    if (w->active_requests != 0) {
        char n[24], thread[16];
        snprintf(n, sizeof(n), "%zu", w->active_requests);
        snprintf(thread, sizeof(thread), "%u", w->id);
        log_write(LOG_WARN, "drain timeout, abandoning requests", "#thread", thread, "#requests", n, NULL);
    }
    /* WebSockets close with 1001 (going away); their clients have a moment to answer */
    ws_drain(w);
    deadline = h2o_now(loop) + WS_DRAIN_MS;
    while (ws_num_clients(w) != 0 && h2o_now(loop) < deadline) {
        h2o_evloop_run(loop, 10);
        log_flush();
    }
    /* let the last responses reach the sockets */
    deadline = h2o_now(loop) + 100;
    while (h2o_now(loop) < deadline) {
        h2o_evloop_run(loop, 10);
        log_flush();
    }
    pool_stop(&w->pool);
    pool_stop(&w->slow);
    pool_stop(&w->realtime);
    replicas_stop(w);
    control_stop(&w->control);
    log_flush();
    __atomic_add_fetch(&workers_done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

void worker_wake(worker_t *w)
{
    uint64_t one = 1;

    if (write(w->wakeup_fd, &one, sizeof(one)) < 0)
        log_write(LOG_ERROR, "cannot wake a worker", NULL);
}

/*
 * The per-thread listeners share the port with SO_REUSEPORT, which would also
 * let a second copy of the server (same user) bind it silently; a plain bind
 * first finds out whether anyone listens there already.
 */
static int port_is_free(const struct addrinfo *ai)
{
    int fd, on = 1, ok;

    if ((fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol)) == -1)
        return 0;
    ok = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == 0 && bind(fd, ai->ai_addr, ai->ai_addrlen) == 0;
    if (!ok) {
        int saved = errno;
        close(fd);
        errno = saved;
        return 0;
    }
    close(fd);
    return 1;
}

static int open_listener(const struct addrinfo *ai)
{
    int fd, on = 1;

    if ((fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol)) == -1)
        return -1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) != 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
        listen(fd, 4096) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

int main(int argc, char **argv)
{
    struct addrinfo hints, *ai = NULL;
    char port[16], threads[16], pool_size[16], url[300];
    h2o_hostconf_t *hostconf;
    sigset_t sigs;
    unsigned i;
    int rc, draining = 0;
    struct timespec drain_started = {0, 0};

    if (argc > 1) {
        if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
            settings_print_help(stdout);
            return 0;
        }
        if (strcmp(argv[1], "--version") == 0) {
            printf("%s %s (h2o %s, libpq %d)\n", SHIM_NAME, SHIM_VERSION, H2O_VERSION, PQlibVersion());
            return 0;
        }
        fprintf(stderr, "%s: unknown argument %s (see --help)\n", SHIM_NAME, argv[1]);
        return 2;
    }

    settings_load();
    ratelimit_init();
    outbox_global_init();
    gettimeofday(&shim_started_at, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* signals go to the main thread only (sigtimedwait below) */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    /*
     * Request bodies of uploads (h2o holds each whole) and the libpq buffers
     * that carry them are megabytes: from 1 MiB up, blocks are mapped on their
     * own and given back to the system when freed, instead of glibc raising
     * its threshold after the first one and keeping them in its heaps.
     */
    mallopt(M_MMAP_THRESHOLD, 1024 * 1024);
    h2o_config_init(&shim_globalconf);
    shim_globalconf.server_name = h2o_iovec_init(H2O_STRLIT(""));
    /*
     * h2o refuses larger bodies itself (HTTP/1: 413, rewritten to the API's error
     * shape by the error filter; HTTP/2: a stream reset).  One byte of slack: its
     * chunked reader refuses a body that reaches the limit, and a body of exactly
     * MAX_BODY_BYTES is allowed; the handler enforces the exact limit.  h2o 2.2
     * has one limit for every path, so it is the larger of MAX_BODY_BYTES and
     * UPLOAD_MAX_BYTES, and the handler holds each route to its own.
     */
    shim_globalconf.max_request_entity_size =
        (shim_settings.upload_max_bytes > shim_settings.max_body_bytes ? shim_settings.upload_max_bytes
                                                                       : shim_settings.max_body_bytes) +
        1;
    shim_globalconf.http1.upgrade_to_http2 = shim_settings.http2;
    hostconf = h2o_config_register_host(&shim_globalconf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    web_init();
    http_register(hostconf);

    snprintf(port, sizeof(port), "%u", shim_settings.port);
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    if ((rc = getaddrinfo(shim_settings.host, port, &hints, &ai)) != 0) {
        fprintf(stderr, "HOST cannot be resolved: %s\n", gai_strerror(rc));
        return 2;
    }

    if (!port_is_free(ai)) {
        fprintf(stderr, "cannot listen on %s:%s: %s\n", shim_settings.host, port, strerror(errno));
        return 1;
    }
    workers = calloc(shim_settings.threads, sizeof(*workers));
    if (workers == NULL)
        h2o_fatal("no memory");
    for (i = 0; i != shim_settings.threads; ++i) {
        worker_t *w = workers + i;
        w->id = i;
        if ((w->listen_fd = open_listener(ai)) == -1) {
            fprintf(stderr, "cannot listen on %s:%s: %s\n", shim_settings.host, port, strerror(errno));
            return 1;
        }
        if ((w->wakeup_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1) {
            fprintf(stderr, "eventfd: %s\n", strerror(errno));
            return 1;
        }
    }
    freeaddrinfo(ai);
    for (i = 0; i != shim_settings.threads; ++i) {
        if ((rc = pthread_create(&workers[i].thread, NULL, worker_main, workers + i)) != 0) {
            fprintf(stderr, "pthread_create: %s\n", strerror(rc));
            return 1;
        }
    }

    snprintf(url, sizeof(url), strchr(shim_settings.host, ':') != NULL ? "http://[%s]:%u" : "http://%s:%u", shim_settings.host,
             shim_settings.port);
    snprintf(threads, sizeof(threads), "%u", shim_settings.threads);
    snprintf(pool_size, sizeof(pool_size), "%u", shim_settings.pool_size);
    log_write(LOG_INFO, "listening", "url", url, "#threads", threads, "#pool_size", pool_size, "http2",
              shim_settings.http2 ? "on" : "off", "environment", shim_settings.node_env, "version", SHIM_VERSION, NULL);
    printf("%s listening on %s\n", SHIM_NAME, url);
    fflush(stdout);

    for (;;) {
        struct timespec tick = {0, 100 * 1000 * 1000};
        int sig = sigtimedwait(&sigs, NULL, &tick);
        if (sig == SIGINT) {
            log_write(LOG_INFO, "SIGINT, exiting", NULL);
            _exit(130);
        }
        if (sig == SIGTERM && !draining) {
            draining = 1;
            clock_gettime(CLOCK_MONOTONIC, &drain_started);
            log_write(LOG_INFO, "SIGTERM, draining in-flight requests", NULL);
            for (i = 0; i != shim_settings.threads; ++i) {
                __atomic_store_n(&workers[i].drain_requested, 1, __ATOMIC_RELEASE);
                worker_wake(workers + i);
            }
        }
        if (sig == SIGHUP && !draining) {
            settings_reload();
            for (i = 0; i != shim_settings.threads; ++i) {
                __atomic_store_n(&workers[i].reload_requested, 1, __ATOMIC_RELEASE);
                worker_wake(workers + i);
            }
        }
        if (draining && __atomic_load_n(&workers_done, __ATOMIC_SEQ_CST) == shim_settings.threads)
            break;
        if (draining) {
            /* a worker stuck past its own deadline does not keep the process alive */
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (now.tv_sec - drain_started.tv_sec > DRAIN_TIMEOUT_MS / 1000 + 3) {
                log_write(LOG_ERROR, "workers did not stop in time, exiting", NULL);
                _exit(0);
            }
        }
    }
    for (i = 0; i != shim_settings.threads; ++i)
        pthread_join(workers[i].thread, NULL);
    log_write(LOG_INFO, "stopped", NULL);
    return 0;
}
