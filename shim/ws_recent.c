/*
 * The events this shim's publisher numbered, for every thread's fan-out.
 * control.c adds the rows workon.events_publish_frames() returned, once
 * their transaction has committed and before it wakes the threads; ws.c
 * takes them from its cursor on before it reads workon.events_fanout(), so
 * a thread of the publishing shim reads nothing back from the database.
 *
 * Positions are dense, so an event's slot is its pos modulo the ring's size.
 * A thread that finds a position missing reads from there on from the
 * database, as a thread of another shim does: it was numbered by another
 * shim's publisher, overwritten by newer ones, or too large to keep here.
 */
#include "shim.h"
#include <stdlib.h>
#include <string.h>

#define RECENT_SLOTS 2048
#define RECENT_MAX_BYTES 4096 /* recipients, frame and close code: larger events are read from the database */

typedef struct {
    int64_t pos; /* 0: empty */
    size_t recipients_len, frame_len, close_len;
    char *data; /* recipients NUL frame NUL close code NUL */
} recent_t;

static pthread_mutex_t recent_mutex = PTHREAD_MUTEX_INITIALIZER;
static recent_t ring[RECENT_SLOTS];

/* the copy ws_recent_get hands out, per thread */
static __thread char copy[RECENT_MAX_BYTES + 3];

void ws_recent_add(int64_t pos, const char *recipients, size_t recipients_len, const char *frame, size_t frame_len,
                   const char *close_code)
{
    recent_t *r = &ring[pos % RECENT_SLOTS];
    size_t close_len = close_code != NULL ? strlen(close_code) : 0;
    char *data = NULL, *old;

    if (pos <= 0)
        return;
    if (recipients_len + frame_len + close_len <= RECENT_MAX_BYTES) {
        data = h2o_mem_alloc(recipients_len + frame_len + close_len + 3);
        memcpy(data, recipients, recipients_len);
        data[recipients_len] = '\0';
        memcpy(data + recipients_len + 1, frame, frame_len);
        data[recipients_len + 1 + frame_len] = '\0';
        memcpy(data + recipients_len + frame_len + 2, close_code != NULL ? close_code : "", close_len);
        data[recipients_len + frame_len + close_len + 2] = '\0';
    }
    pthread_mutex_lock(&recent_mutex);
    old = r->data;
    r->pos = data != NULL ? pos : 0;
    r->data = data;
    r->recipients_len = recipients_len;
    r->frame_len = frame_len;
    r->close_len = close_len;
    pthread_mutex_unlock(&recent_mutex);
    free(old);
}

int ws_recent_get(int64_t pos, ws_recent_event_t *e)
{
    recent_t *r = &ring[pos % RECENT_SLOTS];
    int found = 0;

    if (pos <= 0)
        return -1;
    pthread_mutex_lock(&recent_mutex);
    if (r->pos == pos) {
        memcpy(copy, r->data, r->recipients_len + r->frame_len + r->close_len + 3);
        e->recipients = copy;
        e->frame = copy + r->recipients_len + 1;
        e->frame_len = r->frame_len;
        e->close_code = r->close_len != 0 ? copy + r->recipients_len + r->frame_len + 2 : NULL;
        found = 1;
    }
    pthread_mutex_unlock(&recent_mutex);
    return found ? 0 : -1;
}
