/*
 * Compressed public reads: the gzip form of an anonymous GET's JSON body, kept
 * per event loop by the body's SHA-256, so that a page read again and again
 * (the public list of spaces) is compressed once, not once per request.
 *
 * A client that accepts gzip gets the kept bytes with Content-Encoding: gzip
 * and its own strong ETag (the body's, with "-gz"); h2o's compress filter
 * leaves an answer that already has a Content-Encoding alone.  64 bodies per
 * thread, the oldest replaced first; bodies under 1 KiB and over 1 MiB are
 * left to the filter (small ones are not worth it, big ones not worth keeping).
 */
#include "shim.h"
#include <string.h>
#include <zlib.h>

#define GZIP_SLOTS 64
#define GZIP_MIN_BYTES 1024
#define GZIP_MAX_BYTES (1024 * 1024)

typedef struct st_gzip_entry_t {
    unsigned char key[GZIP_KEY_LEN];
    unsigned char *data;
    size_t len;
} gzip_entry_t;

static __thread gzip_entry_t cache[GZIP_SLOTS];
static __thread size_t next_slot;

/* Accept-Encoding names gzip (or *) without q=0 */
int gzip_accepted(h2o_req_t *req)
{
    ssize_t at = -1;

    while ((at = h2o_find_header(&req->headers, H2O_TOKEN_ACCEPT_ENCODING, at)) != -1) {
        h2o_iovec_t v = req->headers.entries[at].value;
        size_t i = 0;
        while (i < v.len) {
            size_t start, end;
            while (i < v.len && (v.base[i] == ' ' || v.base[i] == '\t' || v.base[i] == ','))
                ++i;
            start = i;
            while (i < v.len && v.base[i] != ',')
                ++i;
            end = i;
            h2o_iovec_t item = h2o_iovec_init(v.base + start, end - start);
            size_t name = 0;
            while (name < item.len && item.base[name] != ';' && item.base[name] != ' ')
                ++name;
            if (!h2o_lcstris(item.base, name, H2O_STRLIT("gzip")) && !h2o_memis(item.base, name, H2O_STRLIT("*")))
                continue;
            /* q=0 (or 0.0, 0.00 ...) refuses it */
            const char *q = memmem(item.base, item.len, "q=0", 3);
            if (q != NULL) {
                const char *p = q + 3;
                const char *stop = item.base + item.len;
                if (p < stop && *p == '.')
                    ++p;
                while (p < stop && *p == '0')
                    ++p;
                if (p == stop || *p == ' ' || *p == ';')
                    continue;
            }
            return 1;
        }
    }
    return 0;
}

static unsigned char *deflate_gzip(h2o_iovec_t body, size_t *len)
{
    z_stream zs;
    unsigned char *out;
    size_t cap;

    memset(&zs, 0, sizeof(zs));
    /* level 1, as h2o's filter: the work is done once per body anyway */
    if (deflateInit2(&zs, 1, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return NULL;
    cap = deflateBound(&zs, body.len);
    if ((out = malloc(cap)) == NULL) {
        deflateEnd(&zs);
        return NULL;
    }
    zs.next_in = (unsigned char *)body.base;
    zs.avail_in = (uInt)body.len;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    if (deflate(&zs, Z_FINISH) != Z_STREAM_END) {
        deflateEnd(&zs);
        free(out);
        return NULL;
    }
    *len = zs.total_out;
    deflateEnd(&zs);
    return out;
}

/* The gzip form of a body whose SHA-256 starts with key, in the request's pool;
   {NULL, 0} when it is not worth it or fails (the body goes out as it is) */
h2o_iovec_t gzip_body(h2o_req_t *req, const unsigned char *key, h2o_iovec_t body)
{
    gzip_entry_t *e = NULL;
    char *copy;
    size_t i;

    if (body.len < GZIP_MIN_BYTES || body.len > GZIP_MAX_BYTES)
        return h2o_iovec_init(NULL, 0);
    for (i = 0; i != GZIP_SLOTS; ++i) {
        if (cache[i].data != NULL && memcmp(cache[i].key, key, GZIP_KEY_LEN) == 0) {
            e = cache + i;
            break;
        }
    }
    if (e == NULL) {
        size_t len;
        unsigned char *data = deflate_gzip(body, &len);
        if (data == NULL)
            return h2o_iovec_init(NULL, 0);
        e = cache + next_slot;
        next_slot = (next_slot + 1) % GZIP_SLOTS;
        free(e->data);
        memcpy(e->key, key, GZIP_KEY_LEN);
        e->data = data;
        e->len = len;
    }
    /* a copy: the entry may be replaced while the answer is still being sent */
    copy = h2o_mem_alloc_pool(&req->pool, e->len);
    memcpy(copy, e->data, e->len);
    return h2o_iovec_init(copy, e->len);
}
