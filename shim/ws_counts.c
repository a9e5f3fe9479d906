/*
 * The process's WebSocket counts (ws.c keeps its sockets per thread): the
 * total, for WS_MAX_CONNECTIONS, and each user's, for WS_MAX_PER_USER, taken
 * at accept and given back at close from any thread; and the users with a
 * live socket, for message_email.c.
 */
#include "shim.h"

/* sockets of the whole process, for WS_MAX_CONNECTIONS */
static size_t total;

/* sockets of each user in the whole process, for WS_MAX_PER_USER (taken at accept, given back at close) */
typedef struct st_ws_count_t {
    struct st_ws_count_t *next;
    size_t n;
    char id[40];
} ws_count_t;

static pthread_mutex_t counts_mutex = PTHREAD_MUTEX_INITIALIZER;
static ws_count_t *counts[WS_BUCKETS];

size_t ws_user_bucket(const char *id, size_t len)
{
    uint64_t h = 1469598103934665603ULL;
    size_t i;

    for (i = 0; i != len; ++i)
        h = (h ^ (unsigned char)id[i]) * 1099511628211ULL;
    return h % WS_BUCKETS;
}

/* takes one of the user's WS_MAX_PER_USER sockets; 0, or -1 when they are all taken */
static int user_take(const char *id, size_t len)
{
    ws_count_t **slot = &counts[ws_user_bucket(id, len)], *n;
    int rc = 0;

    pthread_mutex_lock(&counts_mutex);
    for (n = *slot; n != NULL; n = n->next)
        if (strlen(n->id) == len && memcmp(n->id, id, len) == 0)
            break;
    if (n == NULL) {
        n = h2o_mem_alloc(sizeof(*n));
        memset(n, 0, sizeof(*n));
        memcpy(n->id, id, len < sizeof(n->id) - 1 ? len : sizeof(n->id) - 1);
        n->next = *slot;
        *slot = n;
    }
    if (n->n >= shim_settings.ws_max_per_user)
        rc = -1;
    else
        ++n->n;
    pthread_mutex_unlock(&counts_mutex);
    return rc;
}

static void user_give(const char *id)
{
    ws_count_t **slot = &counts[ws_user_bucket(id, strlen(id))], *n;

    pthread_mutex_lock(&counts_mutex);
    for (; (n = *slot) != NULL; slot = &n->next) {
        if (strcmp(n->id, id) == 0) {
            if (n->n != 0)
                --n->n;
            if (n->n == 0) {
                *slot = n->next;
                free(n);
            }
            break;
        }
    }
    pthread_mutex_unlock(&counts_mutex);
}

const char *ws_count_take(const char *id, size_t len)
{
    if (__atomic_add_fetch(&total, 1, __ATOMIC_RELAXED) > shim_settings.ws_max_connections) {
        __atomic_sub_fetch(&total, 1, __ATOMIC_RELAXED);
        return "WS_MAX_CONNECTIONS";
    }
    if (user_take(id, len) != 0) {
        __atomic_sub_fetch(&total, 1, __ATOMIC_RELAXED);
        return "WS_MAX_PER_USER";
    }
    return NULL;
}

void ws_count_give(const char *id)
{
    user_give(id);
    __atomic_sub_fetch(&total, 1, __ATOMIC_RELAXED);
}

size_t ws_total_clients(void)
{
    return __atomic_load_n(&total, __ATOMIC_RELAXED);
}

char *ws_connected_users(void)
{
    size_t cap = 256, len = 0, i;
    char *buf = h2o_mem_alloc(cap);
    ws_count_t *n;

    buf[len++] = '{';
    pthread_mutex_lock(&counts_mutex);
    for (i = 0; i != WS_BUCKETS; ++i) {
        for (n = counts[i]; n != NULL; n = n->next) {
            size_t idlen = strlen(n->id);
            if (len + idlen + 3 > cap) {
                cap = (cap + idlen + 3) * 2;
                buf = h2o_mem_realloc(buf, cap);
            }
            if (len != 1)
                buf[len++] = ',';
            memcpy(buf + len, n->id, idlen);
            len += idlen;
        }
    }
    pthread_mutex_unlock(&counts_mutex);
    buf[len++] = '}';
    buf[len] = '\0';
    return buf;
}
