/*
 * Realtime: WebSocket clients and the fan-out of workon.events.
 *
 * A route whose body kind is "websocket" (GET /api/v1/ws, handler
 * workon.ws_open) is called like any other: the extension checks the token,
 * so a bad one is a 401 before any upgrade.  Its 200 body says whose socket
 * it is ({user_id, expires_at, data, next_cursor, cursor}); ws_accept()
 * upgrades the request with h2o's own WebSocket support (wslay), registers
 * the socket under its user and sends the replay page of `data`.
 *
 * Never a gap, never a duplicate.  Event ids (pos) are given after commit by
 * workon.events_publish_batch(), in order, so "pos > since" never skips one.  Live
 * events reach a socket from the moment it is registered; when the client
 * asked for ?since=, the socket first calls the route's handler again
 * (through workon.dispatch, with its token) until the replay is complete.
 * That call starts after the registration, so it sees every event this
 * thread fanned out before it; live events that arrive meanwhile wait in the
 * socket's (bounded) queue.  Each socket remembers the last pos it sent and
 * sends nothing at or below it.
 *
 * Publishing is the first thread's control connection's (control.c: one
 * publisher per shim, never in the query pipeline).  Fan-out, per thread:
 * the publisher's new head (through the thread's eventfd, wake.c), or
 * NOTIFY workon_events_published (payload: the new head) for another shim's
 * publisher, moves the thread's target; with sockets open, the events this
 * shim's publisher numbered come from ws_recent.c, and what it does not
 * have from workon.events_fanout(after, 1000), read through the pool, until
 * the target is reached.  Each row names its
 * recipients and carries the frame to send, or a close code (a user whose
 * role changed: 4401).  Every thread, and every shim on the database, fans
 * out to its own sockets.  A thread without sockets reads nothing: it only
 * moves its cursor.  The reads go on a connection of their own (the
 * worker's realtime pool, opened with the thread's first socket): in the
 * request pipeline they would wait behind every API request queued there.  The one-second tick while sockets are open, and every
 * reconnect of the control connection, read workon.events_head() instead,
 * for notifications that were missed.
 *
 * Lifetime: a socket lives no longer than its token ({"type":"auth",
 * "access_token":...} extends it: same user, verified by the extension;
 * 4401 otherwise and on expiry).  Pings every WS_PING_INTERVAL; a peer that
 * answered none of the last two is dropped.  A client whose unsent frames
 * exceed WS_SEND_QUEUE_BYTES is closed (4408) without slowing anyone else.
 * Client text frames other than {"type":"auth"} and {"type":"ping"} close
 * the socket with 4400, binary ones with 1003.  Draining (SIGTERM) closes
 * every socket with 1001.
 */
#include "shim.h"
#include "h2o/websocket.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WS_FANOUT_BATCH "1000"
#define WS_CLOSE_GRACE_MS 2000

enum {
    WS_CLOSE_GOING_AWAY = 1001,
    WS_CLOSE_UNSUPPORTED = 1003,
    WS_CLOSE_BAD_MESSAGE = 4400,
    WS_CLOSE_TOKEN = 4401,
    WS_CLOSE_DISABLED = 4403,
    WS_CLOSE_SLOW = 4408,
};

typedef struct st_ws_user_t ws_user_t;

typedef struct st_ws_pending_t {
    struct st_ws_pending_t *next;
    int64_t pos;
    size_t len;
    char frame[1];
} ws_pending_t;

typedef struct st_ws_client_t {
    h2o_websocket_conn_t *conn;
    worker_t *worker;
    ws_user_t *user;
    h2o_linklist_t user_link;
    h2o_linklist_t all_link;
    char handler_oid[24];
    char *token;
    int64_t expires_at; /* Unix seconds */
    int64_t last_pos;   /* the last event sent (or replayed past) */
    int replaying;      /* waiting for the replay call; live frames wait in pending */
    ws_pending_t *pending, **pending_tail;
    size_t pending_bytes;
    db_query_t *call; /* the replay or auth call in flight */
    char *call_token;
    char call_query[48];
    int auth_call;
    uint64_t last_heard; /* ms, any frame from the peer */
    uint64_t ping_sent;
    uint64_t close_at; /* ms: closed for good at this time; 0 while open */
    int destroy_wanted; /* closed without a close frame: freed on the next pass */
    h2o_timeout_entry_t deferred;
} ws_client_t;

struct st_ws_user_t {
    ws_user_t *next;
    char id[40];
    h2o_linklist_t clients;
    size_t num_clients;
};

/* per thread: its sockets by user, and its fan-out cursor */
static __thread struct {
    worker_t *worker;
    ws_user_t *buckets[WS_BUCKETS];
    h2o_linklist_t clients;
    size_t num_clients;
    int64_t fan_pos;   /* -1 until the first cycle read the head */
    int64_t fan_head;  /* the newest published head heard of: the target */
    int busy, again;
    int reads_started; /* the realtime pool was started (first socket) */
    char fan_param[24];
    h2o_timeout_entry_t tick;
} hub;

static void client_close(ws_client_t *c, int code, const char *reason);
static void client_destroy(ws_client_t *c);
static void fanout_start(void);

/* ------------------------------------------------------------------------ */
/* users */

static ws_user_t *user_find(const char *id, size_t len, int create)
{
    ws_user_t **slot = &hub.buckets[ws_user_bucket(id, len)], *u;

    for (u = *slot; u != NULL; u = u->next)
        if (strlen(u->id) == len && memcmp(u->id, id, len) == 0)
            return u;
    if (!create || len >= sizeof(u->id))
        return NULL;
    u = h2o_mem_alloc(sizeof(*u));
    memset(u, 0, sizeof(*u));
    memcpy(u->id, id, len);
    h2o_linklist_init_anchor(&u->clients);
    u->next = *slot;
    *slot = u;
    return u;
}

static void user_release(ws_user_t *u)
{
    ws_user_t **slot;

    if (u->num_clients != 0)
        return;
    for (slot = &hub.buckets[ws_user_bucket(u->id, strlen(u->id))]; *slot != NULL; slot = &(*slot)->next) {
        if (*slot == u) {
            *slot = u->next;
            free(u);
            return;
        }
    }
}

/* ------------------------------------------------------------------------ */
/* sending */

static void on_deferred(h2o_timeout_entry_t *entry)
{
    ws_client_t *c = H2O_STRUCT_FROM_MEMBER(ws_client_t, deferred, entry);

    if (c->conn->sock == NULL) {
        /* the 101 is still on its way: h2o proceeds once it is sent, or reports the failure */
        if (c->destroy_wanted)
            h2o_timeout_link(c->worker->ctx.loop, &c->worker->sweep_fast, &c->deferred);
        return;
    }
    if (c->destroy_wanted)
        client_destroy(c);
    else
        h2o_websocket_proceed(c->conn);
}

static void client_defer(ws_client_t *c)
{
    if (!h2o_timeout_is_linked(&c->deferred))
        h2o_timeout_link(c->worker->ctx.loop, &c->worker->ctx.zero_timeout, &c->deferred);
}

/* frames go out once per loop pass, never from inside a caller that still uses c */
static void client_flush(ws_client_t *c)
{
    client_defer(c);
}

/* queues a text frame; 0, or -1 when the client was closed for being too slow */
static int client_send(ws_client_t *c, const char *frame, size_t len)
{
    struct wslay_event_msg msg = {WSLAY_TEXT_FRAME, (const uint8_t *)frame, len};

    if (wslay_event_get_queued_msg_length(c->conn->ws_ctx) + len > shim_settings.ws_send_queue_bytes) {
        client_close(c, WS_CLOSE_SLOW, "send queue full");
        return -1;
    }
    wslay_event_queue_msg(c->conn->ws_ctx, &msg);
    return 0;
}

/* an event for this client: sent, or kept while the replay runs */
static void client_event(ws_client_t *c, int64_t pos, const char *frame, size_t len)
{
    ws_pending_t *p;

    if (c->close_at != 0 || pos <= c->last_pos)
        return;
    if (!c->replaying) {
        if (client_send(c, frame, len) == 0)
            c->last_pos = pos;
        return;
    }
    if (c->pending_bytes + len > shim_settings.ws_send_queue_bytes) {
        client_close(c, WS_CLOSE_SLOW, "send queue full");
        return;
    }
    p = h2o_mem_alloc(offsetof(ws_pending_t, frame) + len);
    p->next = NULL;
    p->pos = pos;
    p->len = len;
    memcpy(p->frame, frame, len);
    *c->pending_tail = p;
    c->pending_tail = &p->next;
    c->pending_bytes += len;
}

static void client_drop_pending(ws_client_t *c)
{
    while (c->pending != NULL) {
        ws_pending_t *p = c->pending;
        c->pending = p->next;
        free(p);
    }
    c->pending_tail = &c->pending;
    c->pending_bytes = 0;
}

/* sends the frames of a page's "data" array (events the client has not had) */
static int client_send_page(ws_client_t *c, h2o_iovec_t data)
{
    const char *p = data.base, *end = data.base + data.len;

    if (p == NULL || *p != '[')
        return 0;
    p = json_skip_ws(p + 1, end);
    while (p != end && *p == '{') {
        const char *e = json_skip_value(p, end);
        int64_t pos;
        if (e == NULL)
            return -1;
        pos = json_int64(json_member(h2o_iovec_init(p, e - p), "id"), -1);
        if (pos > c->last_pos) {
            if (client_send(c, p, e - p) != 0)
                return -1;
            c->last_pos = pos;
        }
        p = json_skip_ws(e, end);
        if (p != end && *p == ',')
            p = json_skip_ws(p + 1, end);
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* closing */

static void client_close(ws_client_t *c, int code, const char *reason)
{
    if (c->close_at != 0)
        return;
    c->close_at = h2o_now(c->worker->ctx.loop) + WS_CLOSE_GRACE_MS;
    client_drop_pending(c);
    if (c->call != NULL) {
        pool_query_detach(&c->worker->pool, c->call);
        c->call = NULL;
    }
    if (code == WS_CLOSE_SLOW) {
        /* a slow reader would not read the close frame either */
        c->destroy_wanted = 1;
        client_defer(c);
        return;
    }
    wslay_event_queue_close(c->conn->ws_ctx, code, (const uint8_t *)reason, strlen(reason));
    client_flush(c);
}

static void client_destroy(ws_client_t *c)
{
    if (h2o_timeout_is_linked(&c->deferred))
        h2o_timeout_unlink(&c->deferred);
    if (c->call != NULL)
        pool_query_detach(&c->worker->pool, c->call);
    client_drop_pending(c);
    h2o_linklist_unlink(&c->user_link);
    h2o_linklist_unlink(&c->all_link);
    --c->user->num_clients;
    ws_count_give(c->user->id);
    user_release(c->user);
    --hub.num_clients;
    free(c->token);
    free(c->call_token);
    h2o_websocket_close(c->conn);
    free(c);
}

/* ------------------------------------------------------------------------ */
/* calls of the route's handler: the rest of the replay, and {"type":"auth"} */

static void client_replay_next(ws_client_t *c);

static int on_client_call(void *owner, PGresult *res, const char *err)
{
    ws_client_t *c = owner;
    h2o_iovec_t body;
    int auth = c->auth_call;

    c->call = NULL;
    if (c->close_at != 0)
        return 0;
    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
        if (state != NULL && (strcmp(state, "28000") == 0 || strcmp(state, "WO401") == 0)) {
            client_close(c, WS_CLOSE_TOKEN, "invalid or expired token");
        } else if (state != NULL && strcmp(state, "42501") == 0) {
            client_close(c, WS_CLOSE_DISABLED, "forbidden");
        } else {
            log_write(LOG_WARN, "websocket call failed", "user_id", c->user->id, "error",
                      err != NULL ? err : state != NULL ? state : "unexpected result", NULL);
            /* the client resumes with ?since= elsewhere */
            client_close(c, 1011, "try again");
        }
        return 0;
    }
    body = h2o_iovec_init(PQgetvalue(res, 0, 2), PQgetlength(res, 0, 2));
    if (auth) {
        h2o_iovec_t user = json_member(body, "user_id");
        if (user.base == NULL || user.len != strlen(c->user->id) || memcmp(user.base, c->user->id, user.len) != 0) {
            client_close(c, WS_CLOSE_TOKEN, "token of another user");
            return 0;
        }
        free(c->token);
        c->token = c->call_token;
        c->call_token = NULL;
        c->expires_at = json_int64(json_member(body, "expires_at"), 0);
        {
            char frame[80];
            int n = snprintf(frame, sizeof(frame), "{\"type\":\"auth\",\"expires_at\":%lld}", (long long)c->expires_at);
            client_send(c, frame, n);
        }
    } else {
        if (client_send_page(c, json_member(body, "data")) != 0)
            return 0;
        if (c->close_at != 0)
            return 0;
        c->last_pos = json_int64(json_member(body, "cursor"), c->last_pos) > c->last_pos
                          ? json_int64(json_member(body, "cursor"), c->last_pos)
                          : c->last_pos;
        if (json_member(body, "next_cursor").base != NULL) {
            client_replay_next(c);
        } else {
            /* replay complete: what came live meanwhile, then live */
            ws_pending_t *p = c->pending, *next;
            c->replaying = 0;
            c->pending = NULL;
            c->pending_tail = &c->pending;
            c->pending_bytes = 0;
            for (; p != NULL; p = next) {
                next = p->next;
                client_event(c, p->pos, p->frame, p->len);
                free(p);
            }
        }
    }
    if (c->close_at == 0)
        client_flush(c);
    return 0;
}

/* calls workon.dispatch(handler, {}, query, NULL, token, NULL) */
static void client_call(ws_client_t *c, const char *token, int auth)
{
    db_query_t *q = pool_query_new(&c->worker->pool, DB_QUERY_DISPATCH, on_client_call, c);

    c->auth_call = auth;
    q->values[0] = c->handler_oid;
    q->values[1] = "{}";
    q->values[2] = c->call_query;
    q->values[3] = NULL;
    q->values[4] = token;
    q->values[5] = NULL;
    c->call = q;
    if (pool_submit(&c->worker->pool, q) != 0) {
        c->call = NULL;
        client_close(c, 1011, "try again");
    }
}

static void client_replay_next(ws_client_t *c)
{
    snprintf(c->call_query, sizeof(c->call_query), "{\"since\":\"%lld\"}", (long long)c->last_pos);
    client_call(c, c->token, 0);
}

/* ------------------------------------------------------------------------ */
/* frames from the client */

struct client_msg {
    h2o_iovec_t type;
    h2o_iovec_t access_token;
    int others;
};

static void on_msg_member(void *data, h2o_iovec_t key, h2o_iovec_t value)
{
    struct client_msg *m = data;

    if (h2o_memis(key.base, key.len, H2O_STRLIT("type")))
        m->type = value;
    else if (h2o_memis(key.base, key.len, H2O_STRLIT("access_token")))
        m->access_token = value;
    else
        ++m->others;
}

static void on_client_text(ws_client_t *c, const uint8_t *text, size_t len)
{
    h2o_mem_pool_t pool;
    struct client_msg m = {{NULL, 0}, {NULL, 0}, 0};
    int ok;

    h2o_mem_init_pool(&pool);
    ok = json_each_string_member((const char *)text, len, &pool, on_msg_member, &m) == 0 && m.others == 0;
    if (ok && h2o_memis(m.type.base, m.type.len, H2O_STRLIT("ping")) && m.access_token.base == NULL) {
        client_send(c, H2O_STRLIT("{\"type\":\"pong\"}"));
    } else if (ok && h2o_memis(m.type.base, m.type.len, H2O_STRLIT("auth")) && m.access_token.base != NULL &&
               m.access_token.len != 0 && c->call == NULL) {
        free(c->call_token);
        c->call_token = h2o_strdup(NULL, m.access_token.base, m.access_token.len).base;
        strcpy(c->call_query, "{}");
        client_call(c, c->call_token, 1);
    } else if (ok && h2o_memis(m.type.base, m.type.len, H2O_STRLIT("auth")) && c->call != NULL) {
        /* one call at a time: the replay (or an earlier auth) is under way */
        client_send(c, H2O_STRLIT("{\"type\":\"error\",\"code\":\"busy\"}"));
    } else {
        client_close(c, WS_CLOSE_BAD_MESSAGE, "unsupported message");
    }
    h2o_mem_clear_pool(&pool);
}

static void on_ws_message(h2o_websocket_conn_t *conn, const struct wslay_event_on_msg_recv_arg *arg)
{
    ws_client_t *c = conn->data;

    if (arg == NULL) {
        client_destroy(c);
        return;
    }
    c->last_heard = h2o_now(c->worker->ctx.loop);
    if (c->close_at != 0)
        return;
    switch (arg->opcode) {
    case WSLAY_TEXT_FRAME:
        on_client_text(c, arg->msg, arg->msg_length);
        break;
    case WSLAY_BINARY_FRAME:
        client_close(c, WS_CLOSE_UNSUPPORTED, "text frames only");
        break;
    default: /* ping, pong (wslay answers pings), close */
        break;
    }
}

/* ------------------------------------------------------------------------ */
/* accepting */

int ws_is_handshake(h2o_req_t *req)
{
    const char *key;

    return req->version < 0x200 && h2o_is_websocket_handshake(req, &key) == 0 && key != NULL;
}

int ws_accept(h2o_req_t *req, const char *handler_oid, const char *token, h2o_iovec_t body, const char **why)
{
    worker_t *w = (worker_t *)req->conn->ctx;
    const char *key;
    h2o_iovec_t user_id = json_member(body, "user_id");
    ws_user_t *user;
    ws_client_t *c;

    *why = NULL;
    if (h2o_is_websocket_handshake(req, &key) != 0 || key == NULL || user_id.base == NULL || w->draining)
        return -1;
    if (user_id.len >= sizeof(((ws_user_t *)NULL)->id)) {
        *why = "WS_MAX_PER_USER";
        return -1;
    }
    if ((*why = ws_count_take(user_id.base, user_id.len)) != NULL)
        return -1;
    user = user_find(user_id.base, user_id.len, 1);

    c = h2o_mem_alloc(sizeof(*c));
    memset(c, 0, sizeof(*c));
    c->worker = w;
    c->user = user;
    snprintf(c->handler_oid, sizeof(c->handler_oid), "%s", handler_oid);
    c->token = h2o_strdup(NULL, token, SIZE_MAX).base;
    c->expires_at = json_int64(json_member(body, "expires_at"), 0);
    c->last_pos = -1;
    c->pending_tail = &c->pending;
    c->deferred.cb = on_deferred;
    c->last_heard = h2o_now(w->ctx.loop);
    c->ping_sent = 0; /* the first tick pings */
    h2o_linklist_insert(&user->clients, &c->user_link);
    ++user->num_clients;
    h2o_linklist_insert(&hub.clients, &c->all_link);
    ++hub.num_clients;

    c->conn = h2o_upgrade_to_websocket(req, key, c, on_ws_message);

    /* registered: from here on every event this thread fans out reaches it */
    if (json_member(body, "cursor").base != NULL) {
        c->replaying = 1;
        if (client_send_page(c, json_member(body, "data")) == 0 && c->close_at == 0) {
            int64_t cursor = json_int64(json_member(body, "cursor"), -1);
            if (cursor > c->last_pos)
                c->last_pos = cursor;
            client_replay_next(c);
        }
    }
    if (!hub.reads_started) {
        hub.reads_started = 1;
        pool_start(&hub.worker->realtime);
    }
    if (hub.num_clients == 1) {
        /*
         * The thread's first socket: nobody here needs what was published before
         * the head the handler saw (before the registration), so fan-out starts
         * there; every event published later reaches the socket.  (A thread that
         * never fanned out could skip those if it waited for its first cycle.)
         */
        int64_t head = json_int64(json_member(body, "head"), -1);
        if (head > hub.fan_pos)
            hub.fan_pos = head;
        if (hub.fan_pos < 0)
            fanout_start();
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* fan-out */

static void deliver(int64_t pos, const char *recipients, const char *frame, size_t frame_len, const char *close_text)
{
    int close_code = close_text != NULL ? atoi(close_text) : 0;
    const char *p = recipients;

    while (*p != '\0') {
        const char *start;
        ws_user_t *u;
        while (*p == '{' || *p == ',' || *p == '}')
            ++p;
        start = p;
        while (*p != '\0' && *p != ',' && *p != '}')
            ++p;
        if (p == start)
            continue;
        if ((u = user_find(start, p - start, 0)) != NULL) {
            h2o_linklist_t *l, *next;
            for (l = u->clients.next; l != &u->clients; l = next) {
                ws_client_t *c = H2O_STRUCT_FROM_MEMBER(ws_client_t, user_link, l);
                next = l->next;
                if (close_code != 0) {
                    client_close(c, close_code, "session ended");
                } else {
                    client_event(c, pos, frame, frame_len);
                    if (c->close_at == 0 && !c->replaying)
                        client_flush(c);
                }
            }
        }
    }
}

static void fanout_done(void)
{
    hub.busy = 0;
    if (hub.again) {
        hub.again = 0;
        fanout_start();
    }
}

static void fanout_fetch(void);

/* toward the target: what this shim's publisher handed over (ws_recent.c), as far as it goes
 * without a gap, then the database */
static void fanout_continue(void)
{
    ws_recent_event_t e;

    while (hub.fan_pos < hub.fan_head && ws_recent_get(hub.fan_pos + 1, &e) == 0) {
        deliver(hub.fan_pos + 1, e.recipients, e.frame, e.frame_len, e.close_code);
        ++hub.fan_pos;
    }
    if (hub.fan_pos < hub.fan_head)
        fanout_fetch();
    else
        fanout_done();
}

static int on_fanout_rows(void *owner, PGresult *res, const char *err)
{
    int i, n;

    (void)owner;
    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
        log_write(LOG_WARN, "realtime fan-out failed", "error", err != NULL ? err : PQresultErrorMessage(res), NULL);
        fanout_done();
        return 0;
    }
    n = PQntuples(res);
    for (i = 0; i != n; ++i) {
        int64_t pos = strtoll(PQgetvalue(res, i, 0), NULL, 10);
        if (pos <= hub.fan_pos)
            continue; /* a first socket moved the cursor past it meanwhile */
        deliver(pos, PQgetvalue(res, i, 1), PQgetvalue(res, i, 2), PQgetlength(res, i, 2),
                PQgetisnull(res, i, 3) ? NULL : PQgetvalue(res, i, 3));
        hub.fan_pos = pos;
    }
    if (n != 0)
        fanout_continue();
    else
        fanout_done();
    return 0;
}

/* the fan-out's reads: on their own connection once the thread has had a socket */
static db_pool_t *reads_pool(void)
{
    return hub.reads_started ? &hub.worker->realtime : &hub.worker->pool;
}

static void fanout_fetch(void)
{
    db_pool_t *pool = reads_pool();
    db_query_t *q = pool_query_new(pool, DB_QUERY_SQL, on_fanout_rows, &hub);

    snprintf(hub.fan_param, sizeof(hub.fan_param), "%lld", (long long)hub.fan_pos);
    q->sql = "SELECT pos, recipients, frame, close_code FROM workon.events_fanout($1::int8, " WS_FANOUT_BATCH ")";
    q->values[0] = hub.fan_param;
    q->nparams = 1;
    if (pool_submit(pool, q) != 0)
        fanout_done();
}

/* the target moved: fan out to it, or (no socket here) only move the cursor */
static void fanout_to_head(void)
{
    if (hub.fan_pos < 0 || hub.fan_head <= hub.fan_pos) {
        fanout_done();
    } else if (hub.num_clients != 0) {
        fanout_continue();
    } else {
        hub.fan_pos = hub.fan_head;
        fanout_done();
    }
}

static int on_head(void *owner, PGresult *res, const char *err)
{
    int64_t head;

    (void)owner;
    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        log_write(LOG_WARN, "realtime head failed", "error", err != NULL ? err : PQresultErrorMessage(res), NULL);
        fanout_done();
        return 0;
    }
    head = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    if (head > hub.fan_head)
        hub.fan_head = head;
    if (hub.fan_pos < 0) /* starting, no socket yet: live from here on; earlier events are for ?since= */
        hub.fan_pos = hub.fan_head;
    fanout_to_head();
    return 0;
}

/* reads the published head, then fans out to it */
static void fanout_start(void)
{
    db_query_t *q;

    if (hub.worker == NULL)
        return;
    if (hub.busy) {
        hub.again = 1;
        return;
    }
    hub.busy = 1;
    q = pool_query_new(reads_pool(), DB_QUERY_SQL, on_head, &hub);
    q->sql = "SELECT workon.events_head()";
    q->nparams = 0;
    if (pool_submit(reads_pool(), q) != 0)
        fanout_done();
}

void ws_on_published(worker_t *w, const char *payload)
{
    char *end;
    long long head = strtoll(payload, &end, 10);

    if (end == payload || *end != '\0' || head < 0)
        return;
    ws_on_head(w, head);
}

void ws_on_head(worker_t *w, int64_t head)
{
    (void)w;
    if (hub.worker == NULL)
        return;
    if (head > hub.fan_head)
        hub.fan_head = head;
    if (hub.fan_pos < 0) {
        fanout_start(); /* the thread's first head is read, not heard */
        return;
    }
    if (hub.busy)
        return; /* the fetch under way goes on to the new target */
    hub.busy = 1;
    fanout_to_head();
}

void ws_resync(worker_t *w)
{
    (void)w;
    fanout_start();
}

/* ------------------------------------------------------------------------ */
/* the one-second tick: expiry, pings, dead peers, closes that hang */

static void on_tick(h2o_timeout_entry_t *entry)
{
    uint64_t now = h2o_now(hub.worker->ctx.loop);
    int64_t now_s = (int64_t)(now / 1000);
    uint64_t interval = shim_settings.ws_ping_interval_ms;
    h2o_linklist_t *l, *next;

    (void)entry;
    for (l = hub.clients.next; l != &hub.clients; l = next) {
        ws_client_t *c = H2O_STRUCT_FROM_MEMBER(ws_client_t, all_link, l);
        next = l->next;
        if (c->conn->sock == NULL || c->destroy_wanted)
            continue; /* upgrading, or freed on the next pass */
        if (c->close_at != 0) {
            if (now >= c->close_at)
                client_destroy(c);
            continue;
        }
        if (c->expires_at != 0 && now_s >= c->expires_at) {
            client_close(c, WS_CLOSE_TOKEN, "token expired");
            continue;
        }
        if (now - c->ping_sent >= interval) {
            if (c->ping_sent > c->last_heard && now - c->last_heard >= 2 * interval) {
                /* silent for two intervals, and for a ping an interval ago */
                client_destroy(c);
                continue;
            }
            c->ping_sent = now;
            if (c->conn->sock != NULL) {
                struct wslay_event_msg ping = {WSLAY_PING, NULL, 0};
                wslay_event_queue_msg(c->conn->ws_ctx, &ping);
                client_flush(c);
            }
        }
    }
    if (hub.num_clients != 0 || hub.fan_pos < 0)
        fanout_start();
    /* the shim's publisher: events of writers that woke nobody */
    control_publish(&hub.worker->control);
    h2o_timeout_link(hub.worker->ctx.loop, &hub.worker->one_sec, &hub.tick);
}

void ws_worker_init(worker_t *w)
{
    hub.worker = w;
    hub.fan_pos = -1;
    h2o_linklist_init_anchor(&hub.clients);
    hub.tick.cb = on_tick;
    h2o_timeout_link(w->ctx.loop, &w->one_sec, &hub.tick);
}

void ws_drain(worker_t *w)
{
    h2o_linklist_t *l, *next;

    (void)w;
    for (l = hub.clients.next; l != &hub.clients; l = next) {
        ws_client_t *c = H2O_STRUCT_FROM_MEMBER(ws_client_t, all_link, l);
        next = l->next;
        client_close(c, WS_CLOSE_GOING_AWAY, "server shutting down");
    }
}

size_t ws_num_clients(worker_t *w)
{
    (void)w;
    return hub.num_clients;
}
