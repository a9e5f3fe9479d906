/*
 * workon-shim: the database side: libpq connections, the pipelined pool, the control channel.
 *
 * Included by shim.h only, where it stands (it uses the types declared before it).
 */
#ifndef workon_db_h
#define workon_db_h

/* ------------------------------------------------------------------------ */
/* dbconn.c: one libpq connection on the event loop (the pool's and the control channel's) */

typedef struct st_worker_t worker_t;
typedef struct st_dbconn_t dbconn_t;

enum {
    DBCONN_IDLE = 0,
    DBCONN_CONNECTING,
    DBCONN_READY,
};

typedef struct st_dbconn_callbacks_t {
    /* connected: the owner sends its first statements (a failure: dbconn_fail) */
    void (*on_connected)(dbconn_t *c);
    /* input was consumed: the owner reads what libpq has */
    void (*on_input)(dbconn_t *c);
    /* closed, started again after a backoff; was_ready: it had been connected */
    void (*on_lost)(dbconn_t *c, int was_ready);
} dbconn_callbacks_t;

struct st_dbconn_t {
    worker_t *worker;
    const char *url; /* NULL: DATABASE_URL */
    int pooled;      /* through a transaction pooler (DATABASE_POOLER): no startup options */
    const dbconn_callbacks_t *callbacks;
    char label[16]; /* the "connection" of its log lines */
    PGconn *pg;
    h2o_socket_t *sock;
    int state;
    int write_armed;
    unsigned backoff_step;
    int failures; /* consecutive failed attempts, to keep the log quiet */
    h2o_timeout_entry_t retry_entry;
    h2o_timeout_entry_t connect_entry;
};

void dbconn_init(dbconn_t *c, worker_t *w, const dbconn_callbacks_t *callbacks, const char *label);
void dbconn_start(dbconn_t *c);
void dbconn_stop(dbconn_t *c);
/* writes what libpq has buffered, and watches for writability while there is more */
void dbconn_flush(dbconn_t *c);
/* closes the connection (logged with why), tells the owner and reconnects after the backoff */
void dbconn_fail(dbconn_t *c, const char *why);
/* dbconn_fail with libpq's last error */
void dbconn_fail_pq(dbconn_t *c);
void dbconn_log(dbconn_t *c, int level, const char *msg, const char *why);
/* first line of a libpq message, in a per-thread buffer */
const char *pq_first_line(const char *msg);

/* ------------------------------------------------------------------------ */
/* pool.c: the pipelined query pool */

typedef struct st_db_conn_t db_conn_t;
typedef struct st_db_query_t db_query_t;

/*
 * res is NULL when the query failed without a server answer (err says why).
 * Returns non-zero when it keeps res (and PQclear()s it later itself).
 */
extern const char pool_err_abandoned[];
typedef int (*db_query_cb)(void *owner, PGresult *res, const char *err);
/* asked to cancel what backend pid runs (a query nobody waits for any more) */
typedef void (*pool_cancel_cb)(void *data, int pid);

enum {
    DB_QUERY_DISPATCH = 0, /* the prepared workon_dispatch statement, 6 params */
    DB_QUERY_DISPATCH_BYTES, /* workon.dispatch_bytes, 6 params, the row in binary */
    DB_QUERY_SQL,          /* a statement, with nparams text parameters */
    DB_QUERY_INTERNAL,     /* connection setup (owner is the connection) */
    DB_QUERY_LSN,          /* the WAL position after a query's commit (want_lsn; owner is the connection) */
};

struct st_db_query_t {
    h2o_linklist_t link;
    int kind;
    const char *sql;
    const char *values[6];
    int lengths[6];
    int formats[6];
    int nparams; /* DB_QUERY_SQL: parameters in values[] */
    db_query_cb cb;
    void *owner;
    /* optional: asked before sending a query that had to wait; non-zero drops it */
    int (*abandoned)(void *owner);
    uint64_t queued_at;
    uint64_t sent_at;
    uint64_t seq;
    int retried;
    db_conn_t *conn;
    PGresult *res;
    int counted; /* counted in the pool's in_use figure */
    /* replicas: after the commit, pg_current_wal_insert_lsn() as text into lsn_out (>= 20 bytes, while there is an owner) */
    int want_lsn;
    char *lsn_out;
    int prefixed; /* DATABASE_POOLER: sent after the settings statement */
    db_query_t *follows; /* DB_QUERY_LSN: the committed query that waits for it */
};

/*
 * Queries in flight per connection of the pipelined pools.  Enough to keep a
 * backend busy (each query is its own Sync'ed transaction, the server runs
 * them one after the other); the rest wait in pending, where a request whose
 * client has gone away is dropped instead of being run.
 */
#define POOL_MAX_INFLIGHT 16
#define POOL_MAX_PENDING 8192

typedef struct st_db_pool_t {
    worker_t *worker;
    const char *name; /* primary, slow (the slow lane), replica */
    const char *url;  /* NULL: DATABASE_URL */
    db_conn_t *conns;
    size_t size;
    size_t max_inflight; /* queries in flight per connection */
    size_t max_pending;  /* queries waiting for a connection; more are refused (pool_err_full) */
    size_t num_ready;
    h2o_linklist_t pending; /* db_query_t not yet sent */
    size_t num_pending;
    size_t in_use; /* dispatched API/health queries awaiting results */
    h2o_timeout_entry_t dispatch_entry;
    h2o_timeout_entry_t outage_entry;
    int fail_fast; /* no connection for over a second: answer 503 at once */
    db_query_t *free_queries;
    h2o_timeout_entry_t sweep_entry;
    pool_cancel_cb cancel_backend;
    void *cancel_data;
} db_pool_t;

/* name and url (NULL: DATABASE_URL) are kept; cancel_backend NULL: abandoned queries are cancelled by a cancel request */
void pool_init(db_pool_t *pool, worker_t *worker, const char *name, const char *url, size_t size, size_t max_inflight,
               size_t max_pending, pool_cancel_cb cancel_backend, void *cancel_data);
void pool_start(db_pool_t *pool);
void pool_stop(db_pool_t *pool);
db_query_t *pool_query_new(db_pool_t *pool, int kind, db_query_cb cb, void *owner);
/* err of a query refused because max_pending queries already wait */
extern const char pool_err_full[];
/* queues the query; 0, -1 when the database is out of reach, -2 when the queue is full (the caller answers 503) */
int pool_submit(db_pool_t *pool, db_query_t *q);
/* the owner went away: the result will be dropped */
void pool_query_detach(db_pool_t *pool, db_query_t *q);
int pool_is_up(db_pool_t *pool);
/* connections with at least one query in flight */
size_t pool_busy_connections(db_pool_t *pool);
/* whether connection i has a query in flight (read by /metrics from any thread) */
int pool_conn_busy(db_pool_t *pool, size_t i);

/* ------------------------------------------------------------------------ */
/* control.c: the control channel (LISTEN, seeding, route loads, cancels, publishing) */

typedef struct st_control_t {
    dbconn_t conn; /* first member */
    int state;
    int reload_wanted;
    int keys_wanted; /* first thread: workon.jwt_verification_keys() to read (token.c) */
    int keys_failures;
    int publish_wanted;                 /* first thread: workon.events_publish_frames() to run */
    h2o_timeout_entry_t publish_retry; /* another publisher was at work, or the gap since the last one */
    h2o_timeout_t publish_gap;         /* CONTROL_PUBLISH_GAP_MS */
    uint64_t publish_sent_at;          /* when the last publish was sent (the loop's clock, ms) */
    int publish_failures;              /* in a row (the first is logged at warn, the others at debug) */
    int64_t announce_head;             /* a head numbered here, not yet sent in NOTIFY workon_events_published (0: none) */
    PGresult *load_results[2];
    int num_load_results;
    int load_failures;
    h2o_timeout_entry_t reload_entry;
    /* backend pids to cancel */
    int *cancel_pids;
    size_t num_cancel_pids;
    size_t max_cancel_pids;
} control_t;

void control_init(control_t *control, worker_t *w);
void control_start(control_t *control);
void control_stop(control_t *control);
/* loads the route table and error map again (SIGHUP) */
void control_reload_routes(control_t *control);
/* first thread: publishes realtime events when the connection is free (others: nothing) */
void control_publish(control_t *control);
/* a pool_cancel_cb: data is the control_t */
void control_cancel_backend(void *data, int pid);

#endif
