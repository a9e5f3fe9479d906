/*
 * Rate limiting: fixed windows of RATE_LIMIT_TTL seconds per client, shared
 * by every thread of the process, and with the other instances on the same
 * database through ratelimit_share.c (each counter remembers its client and
 * the hits not yet told to the others; the others' hits are added to it).
 *
 * A client is its user when the request's bearer token is one the shim can
 * vouch for, otherwise its address (IPv4 address, IPv6 /64).  token.c checks
 * the token's signature with the extension's keys and its claims (expiry,
 * issuer, audience, subject) before the call, so a valid token counts
 * against its user from its first request, and a forged, expired or unknown
 * one against the address it comes from.  workon.dispatch still verifies
 * every token: the shim's check only chooses the budget.  Which budget a
 * request is counted in is its route's rate_limit class (workon.routes):
 * default, auth (the stricter per-address AUTH_RATE_LIMIT_LIMIT too) or
 * exempt (not counted).
 *
 * Memory is bounded: two set-associative tables (counters and token owners)
 * of fixed size, each set behind its own spin lock.  When a set is full, a
 * counter whose window has ended is reused first, else the least used one;
 * a token owner replaces the one used least recently.  A token owner is a
 * verification remembered (user, expiry, key set generation), so a token is
 * verified once per key set, not per request.  Keys are SipHash-2-4 values
 * under a random key, so nobody can aim collisions at a bucket.
 */
#include "shim.h"
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>

#define WAYS 8
#define COUNTER_SETS 8192 /* 65536 clients */
#define OWNER_SETS 4096   /* 32768 tokens */

enum {
    KEY_USER = 1,
    KEY_ADDRESS,
    KEY_AUTH_ADDRESS,
};

typedef struct st_counter_t {
    uint64_t k0, k1;
    uint32_t window_start; /* seconds since start */
    uint32_t count;
    uint32_t unsent; /* hits of this instance not yet told to the others (ratelimit_share.c) */
    uint8_t id_len;
    uint8_t id[17]; /* the client: key kind, then user id or address */
} counter_t;

typedef struct st_owner_t {
    uint64_t k0, k1;
    uint8_t user[16];
    int64_t exp;         /* the token's, seconds since the epoch */
    uint32_t generation; /* of the key set that verified it */
    uint32_t used_at;
} owner_t;

typedef struct st_counter_set_t {
    char lock;
    char dirty; /* a slot has unsent hits */
    counter_t slots[WAYS];
} counter_set_t;

typedef struct st_owner_set_t {
    char lock;
    owner_t slots[WAYS];
} owner_set_t;

static counter_set_t *counter_sets;
static owner_set_t *owner_sets;
static uint64_t sip_keys[2][2];
static uint64_t rl_epoch_ms;

/* ------------------------------------------------------------------------ */
/* SipHash-2-4 (Aumasson, Bernstein 2012) */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                                                   \
    do {                                                                                                                           \
        v0 += v1;                                                                                                                  \
        v1 = ROTL(v1, 13);                                                                                                         \
        v1 ^= v0;                                                                                                                  \
        v0 = ROTL(v0, 32);                                                                                                         \
        v2 += v3;                                                                                                                  \
        v3 = ROTL(v3, 16);                                                                                                         \
        v3 ^= v2;                                                                                                                  \
        v0 += v3;                                                                                                                  \
        v3 = ROTL(v3, 21);                                                                                                         \
        v3 ^= v0;                                                                                                                  \
        v2 += v1;                                                                                                                  \
        v1 = ROTL(v1, 17);                                                                                                         \
        v1 ^= v2;                                                                                                                  \
        v2 = ROTL(v2, 32);                                                                                                         \
    } while (0)

static uint64_t siphash(const uint64_t key[2], const uint8_t *in, size_t len)
{
    uint64_t v0 = 0x736f6d6570736575ULL ^ key[0], v1 = 0x646f72616e646f6dULL ^ key[1];
    uint64_t v2 = 0x6c7967656e657261ULL ^ key[0], v3 = 0x7465646279746573ULL ^ key[1];
    uint64_t b = (uint64_t)len << 56, m;
    const uint8_t *end = in + (len & ~(size_t)7);
    size_t left = len & 7;

    for (; in != end; in += 8) {
        memcpy(&m, in, 8); /* little-endian hosts */
        v3 ^= m;
        SIPROUND;
        SIPROUND;
        v0 ^= m;
    }
    switch (left) {
    case 7:
        b |= (uint64_t)in[6] << 48; /* fallthrough */
    case 6:
        b |= (uint64_t)in[5] << 40; /* fallthrough */
    case 5:
        b |= (uint64_t)in[4] << 32; /* fallthrough */
    case 4:
        b |= (uint64_t)in[3] << 24; /* fallthrough */
    case 3:
        b |= (uint64_t)in[2] << 16; /* fallthrough */
    case 2:
        b |= (uint64_t)in[1] << 8; /* fallthrough */
    case 1:
        b |= (uint64_t)in[0];
        break;
    default:
        break;
    }
    v3 ^= b;
    SIPROUND;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

static void hash128(const uint8_t *in, size_t len, uint64_t out[2])
{
    out[0] = siphash(sip_keys[0], in, len);
    out[1] = siphash(sip_keys[1], in, len);
}

/* ------------------------------------------------------------------------ */

static void lock(char *l)
{
    while (__atomic_test_and_set(l, __ATOMIC_ACQUIRE))
        __builtin_ia32_pause();
}

static void unlock(char *l)
{
    __atomic_clear(l, __ATOMIC_RELEASE);
}

void ratelimit_init(void)
{
    struct timespec ts;

    counter_sets = h2o_mem_alloc(sizeof(*counter_sets) * COUNTER_SETS);
    owner_sets = h2o_mem_alloc(sizeof(*owner_sets) * OWNER_SETS);
    memset(counter_sets, 0, sizeof(*counter_sets) * COUNTER_SETS);
    memset(owner_sets, 0, sizeof(*owner_sets) * OWNER_SETS);
    if (getrandom(sip_keys, sizeof(sip_keys), 0) != sizeof(sip_keys))
        h2o_fatal("getrandom failed");
    clock_gettime(CLOCK_MONOTONIC, &ts);
    rl_epoch_ms = (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 - 1000;
}

static uint32_t now_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint32_t)(((uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 - rl_epoch_ms) / 1000);
}

/* a free or expired counter is the best to reuse, then the least used */
static int better_victim(const counter_t *s, const counter_t *v, uint32_t now, unsigned ttl)
{
    int s_free = s->count == 0 || now - s->window_start >= ttl, v_free = v->count == 0 || now - v->window_start >= ttl;

    if (s_free != v_free)
        return s_free;
    return s->count < v->count;
}

/* the counter of key in its set, taken over from the best victim when missing (set locked) */
static counter_t *counter_of(counter_set_t *set, const uint64_t key[2], const uint8_t *id, size_t id_len, uint32_t now,
                             unsigned ttl)
{
    counter_t *c = NULL, *victim = NULL;
    size_t i;

    for (i = 0; i != WAYS; ++i) {
        counter_t *s = set->slots + i;
        if (s->k0 == key[0] && s->k1 == key[1]) {
            c = s;
            break;
        }
        if (victim == NULL || better_victim(s, victim, now, ttl))
            victim = s;
    }
    if (c == NULL) {
        c = victim;
        c->k0 = key[0];
        c->k1 = key[1];
        c->count = 0;
        c->unsent = 0;
        c->window_start = now;
        memcpy(c->id, id, id_len);
        c->id_len = (uint8_t)id_len;
    }
    if (now - c->window_start >= ttl) {
        c->window_start = now;
        c->count = 0;
    }
    return c;
}

/* counts one request of key (client id); fills r */
static void hit(const uint64_t key[2], const uint8_t *id, size_t id_len, unsigned limit, unsigned ttl, uint32_t now,
                ratelimit_t *r)
{
    counter_set_t *set = counter_sets + (key[0] & (COUNTER_SETS - 1));
    counter_t *c;
    unsigned slice = ratelimit_share_slice(limit);
    int over;

    lock(&set->lock);
    c = counter_of(set, key, id, id_len, now, ttl);
    /* the whole service's count so far, and this instance's share of what the others do not know yet */
    over = c->count >= limit || c->unsent >= slice;
    if (!over) {
        ++c->count;
        ++c->unsent;
        set->dirty = 1;
    }
    r->limit = limit;
    r->limited = over;
    r->remaining = over ? 0 : limit - c->count;
    /* refused for the slice alone: it is renewed within a second */
    r->reset = over && c->count < limit ? 1 : c->window_start + ttl - now;
    unlock(&set->lock);
}

void ratelimit_add_remote(const uint8_t *id, size_t id_len, uint32_t n)
{
    uint64_t key[2];
    counter_set_t *set;
    counter_t *c;

    if (id_len == 0 || id_len > sizeof(c->id))
        return;
    hash128(id, id_len, key);
    set = counter_sets + (key[0] & (COUNTER_SETS - 1));
    lock(&set->lock);
    c = counter_of(set, key, id, id_len, now_seconds(), setting_read(rate_limit_ttl));
    c->count = c->count + n < c->count ? UINT32_MAX : c->count + n;
    unlock(&set->lock);
}

size_t ratelimit_take_unsent(int (*emit)(void *ctx, const uint8_t *id, size_t id_len, uint32_t n), void *ctx)
{
    size_t s, i, taken = 0;

    for (s = 0; s != COUNTER_SETS; ++s) {
        counter_set_t *set = counter_sets + s;
        if (!__atomic_load_n(&set->dirty, __ATOMIC_RELAXED))
            continue;
        lock(&set->lock);
        for (i = 0; i != WAYS; ++i) {
            counter_t *c = set->slots + i;
            if (c->unsent == 0)
                continue;
            if (emit(ctx, c->id, c->id_len, c->unsent) != 0) {
                unlock(&set->lock);
                return taken; /* full: the rest goes next time */
            }
            c->unsent = 0;
            ++taken;
        }
        set->dirty = 0;
        unlock(&set->lock);
    }
    return taken;
}

/* a token verified with the current key set and not expired at wall */
static int owner_find(const uint64_t key[2], uint32_t now, uint32_t generation, time_t wall, uint8_t user[16])
{
    owner_set_t *set = owner_sets + (key[0] & (OWNER_SETS - 1));
    int found = 0;
    size_t i;

    lock(&set->lock);
    for (i = 0; i != WAYS; ++i) {
        owner_t *o = set->slots + i;
        if (o->k0 == key[0] && o->k1 == key[1] && o->used_at != 0) {
            if (o->generation == generation && (int64_t)wall <= o->exp + TOKEN_LEEWAY_SECONDS) {
                memcpy(user, o->user, 16);
                o->used_at = now;
                found = 1;
            }
            break;
        }
    }
    unlock(&set->lock);
    return found;
}

static void owner_store(const uint64_t key[2], const token_owner_t *owner, uint32_t now)
{
    owner_set_t *set = owner_sets + (key[0] & (OWNER_SETS - 1));
    owner_t *o = NULL;
    size_t i;

    lock(&set->lock);
    for (i = 0; i != WAYS; ++i) {
        owner_t *s = set->slots + i;
        if (s->k0 == key[0] && s->k1 == key[1]) {
            o = s;
            break;
        }
        if (o == NULL || s->used_at < o->used_at)
            o = s;
    }
    o->k0 = key[0];
    o->k1 = key[1];
    memcpy(o->user, owner->user, 16);
    o->exp = owner->exp;
    o->generation = owner->generation;
    o->used_at = now;
    unlock(&set->lock);
}

/* the address part of a client key: IPv4 address, or the /64 of an IPv6 one (behind TRUSTED_PROXIES, the client's) */
static size_t address_key(h2o_req_t *req, uint8_t *buf)
{
    struct sockaddr_storage ss;
    socklen_t len;

    if ((len = client_address(req, &ss)) == 0)
        return 0;
    if (ss.ss_family == AF_INET) {
        memcpy(buf, &((struct sockaddr_in *)&ss)->sin_addr, 4);
        return 4;
    }
    if (ss.ss_family == AF_INET6) {
        const uint8_t *a = ((struct sockaddr_in6 *)&ss)->sin6_addr.s6_addr;
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(a, mapped, 12) == 0) {
            memcpy(buf, a + 12, 4);
            return 4;
        }
        memcpy(buf, a, 8);
        return 8;
    }
    return 0;
}

/* the bearer token of the request, without copying */
static h2o_iovec_t bearer(h2o_req_t *req)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    h2o_iovec_t v;

    if (i == -1)
        return h2o_iovec_init(NULL, 0);
    v = req->headers.entries[i].value;
    if (v.len < 8 || !h2o_lcstris(v.base, 7, H2O_STRLIT("bearer ")))
        return h2o_iovec_init(NULL, 0);
    v.base += 7;
    v.len -= 7;
    while (v.len != 0 && (*v.base == ' ' || *v.base == '\t')) {
        ++v.base;
        --v.len;
    }
    while (v.len != 0 && (v.base[v.len - 1] == ' ' || v.base[v.len - 1] == '\t'))
        --v.len;
    return v;
}

void ratelimit_identify(h2o_req_t *req, ratelimit_client_t *client)
{
    h2o_iovec_t token = bearer(req);
    uint32_t now = now_seconds() + 1; /* used_at 0 marks a free slot */
    token_owner_t owner;
    time_t wall;

    client->token_hashed = 0;
    client->user_known = 0;
    if (token.len == 0)
        return;
    hash128((const uint8_t *)token.base, token.len, client->token_key);
    client->token_hashed = 1;
    wall = time(NULL);
    if (owner_find(client->token_key, now, token_keys_generation(), wall, client->user)) {
        client->user_known = 1;
    } else if (token_verify(token.base, token.len, wall, &owner) == 0) {
        owner_store(client->token_key, &owner, now);
        memcpy(client->user, owner.user, 16);
        client->user_known = 1;
    }
}

int ratelimit_check(h2o_req_t *req, const ratelimit_client_t *client, int auth_route, ratelimit_t *r)
{
    uint8_t buf[17];
    uint64_t key[2];
    size_t len;
    uint32_t now = now_seconds();
    unsigned ttl = setting_read(rate_limit_ttl);

    if (client->user_known) {
        buf[0] = KEY_USER;
        memcpy(buf + 1, client->user, 16);
        len = 17;
    } else {
        buf[0] = KEY_ADDRESS;
        len = 1 + address_key(req, buf + 1);
    }
    hash128(buf, len, key);
    hit(key, buf, len, setting_read(rate_limit_limit), ttl, now, r);
    if (auth_route) {
        ratelimit_t a;
        buf[0] = KEY_AUTH_ADDRESS;
        len = 1 + address_key(req, buf + 1);
        hash128(buf, len, key);
        hit(key, buf, len, setting_read(auth_rate_limit_limit), ttl, now, &a);
        if (a.limited || (!r->limited && a.remaining < r->remaining))
            *r = a;
    }
    return r->limited;
}

void ratelimit_add_headers(h2o_req_t *req, const ratelimit_t *r)
{
    char *buf = h2o_mem_alloc_pool(&req->pool, 3 * 12);
    int n1 = sprintf(buf, "%u", r->limit), n2, n3;

    n2 = sprintf(buf + 12, "%u", r->remaining);
    n3 = sprintf(buf + 24, "%u", r->reset);
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("ratelimit-limit"), 0, "RateLimit-Limit", buf, n1);
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("ratelimit-remaining"), 0, "RateLimit-Remaining", buf + 12,
                          n2);
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("ratelimit-reset"), 0, "RateLimit-Reset", buf + 24, n3);
    if (r->limited)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, "Retry-After", buf + 24, n3);
}
