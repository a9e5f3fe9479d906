/*
 * A request's database call (call_t), shared by the API (api.c) and the probes
 * that ask the database (probes.c); each brings its result callback.
 *
 * The call lives on the request's pool with a dispose callback, so a client
 * that goes away (HTTP/2 reset, closed connection) lets go of its query (a
 * waiting one is dropped, a running one cancelled by the pool) and of an
 * outbound call it waits for (which still finishes), and is logged and
 * counted as 499.  A call is bounded by REQUEST_TIMEOUT_MS (503, the query
 * cancelled) and answered 503 at once when the database is out of reach.
 */
#include "shim.h"
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

/* lets go of the query and the outbound calls the call waits for */
static void call_let_go(call_t *call)
{
    if (call->query != NULL) {
        pool_query_detach(call_pool(call), call->query);
        call->query = NULL;
    }
    if (call->outbox != NULL) {
        outbox_detach(call->outbox);
        call->outbox = NULL;
    }
    if (call->outgoing != NULL) {
        httpclient_cancel(call->outgoing);
        call->outgoing = NULL;
    }
    call_disarm(call);
}

static void on_call_dispose(void *p)
{
    call_t *call = p;
    reqctx_t *rc = reqctx_of(call->request_id);

    call_let_go(call);
    --call->worker->active_requests;
    if (!rc->observed) {
        /* the client went away before its answer (HTTP/2 reset, closed connection): logged and counted as 499 */
        h2o_iovec_t method = h2o_iovec_init(rc->method, strlen(rc->method));
        double ms = call_elapsed_ms(call);
        rc->observed = 1;
        log_request(rc->id, method, rc->route, 499, ms, rc->user_id[0] != '\0' ? rc->user_id : NULL, NULL);
        metrics_observe(call->worker->metrics, method, rc->route, rc->metrics, 499, ms);
    }
}

const char call_err_timeout[] = "the database did not answer in time";

static void on_call_timeout(h2o_timeout_entry_t *entry)
{
    call_t *call = H2O_STRUCT_FROM_MEMBER(call_t, timeout, entry);

    call_let_go(call);
    if (call->bound != NULL) {
        /* a probe with its own bound says it the way it reports any failure */
        call->on_result(call, NULL, call_err_timeout);
        return;
    }
    log_write(LOG_WARN, "request timed out waiting for the database", "request_id", call->request_id.base, "route",
              call->route_path, NULL);
    metrics_count(call->worker->metrics, METRIC_TIMEOUTS);
    send_unavailable(call->req, call->request_id);
}

call_t *call_new(worker_t *w, h2o_req_t *req, h2o_iovec_t request_id, size_t size, call_result_cb on_result)
{
    call_t *call = h2o_mem_alloc_shared(&req->pool, size, on_call_dispose);

    memset(call, 0, size);
    call->req = req;
    call->worker = w;
    call->request_id = request_id;
    call->on_result = on_result;
    call->timeout.cb = on_call_timeout;
    clock_gettime(CLOCK_MONOTONIC, &call->started);
    ++w->active_requests;
    return call;
}

void call_arm(call_t *call)
{
    h2o_timeout_link(call->worker->ctx.loop, call->bound != NULL ? call->bound : &call->worker->request_timeout, &call->timeout);
}

void call_disarm(call_t *call)
{
    if (h2o_timeout_is_linked(&call->timeout))
        h2o_timeout_unlink(&call->timeout);
}

double call_elapsed_ms(call_t *call)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - call->started.tv_sec) * 1000.0 + (now.tv_nsec - call->started.tv_nsec) / 1e6;
}

/*
 * HTTP/1 stops reading a connection while its request is being served, so a
 * client that hung up is only noticed when the response is written.  Before a
 * query that had to wait is sent, the socket is peeked: EOF or an error means
 * nobody is waiting for the answer.  (HTTP/2 resets dispose of the request.)
 */
int call_client_gone(void *owner)
{
    call_t *call = owner;
    h2o_req_t *req = call->req;
    h2o_socket_t *sock;
    char c;
    ssize_t r;

    if (req->version >= 0x200 || req->conn->callbacks->get_socket == NULL ||
        (sock = req->conn->callbacks->get_socket(req->conn)) == NULL)
        return 0;
    r = recv(h2o_socket_get_fd(sock), &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

void call_log_unavailable(call_t *call, const char *why)
{
    static __thread uint64_t last_at, suppressed;
    uint64_t now = h2o_now(call->worker->ctx.loop);
    char n[24];

    metrics_count(call->worker->metrics, METRIC_DB_ERRORS);
    if (last_at != 0 && now - last_at < 1000) {
        ++suppressed;
        return;
    }
    snprintf(n, sizeof(n), "%llu", (unsigned long long)suppressed);
    log_write(LOG_WARN, "database unavailable, answering 503", "request_id", call->request_id.base, "route", call->route_path,
              "reason", why, "#similar_before", n, NULL);
    last_at = now;
    suppressed = 0;
}

static int on_query_result(void *owner, PGresult *res, const char *err)
{
    call_t *call = owner;

    call->query = NULL;
    call_disarm(call);
    return call->on_result(call, res, err);
}

db_query_t *call_query_new(call_t *call, int kind)
{
    return pool_query_new(call_pool(call), kind, on_query_result, call);
}

void call_submit(call_t *call, db_query_t *q)
{
    db_pool_t *pool = call_pool(call);
    int r;

    if ((r = pool_submit(pool, q)) != 0) {
        pool_query_detach(pool, q);
        call->on_result(call, NULL, r == -2 ? pool_err_full : "no database connection");
        return;
    }
    call->query = q;
    call_arm(call);
}
