/*
 * TRUSTED_PROXIES: the client's address behind proxies.
 *
 * A request's client is the peer of its connection, unless that peer is in
 * TRUSTED_PROXIES (IPv4 and IPv6 CIDRs; empty by default, so no header is
 * ever believed).  Then the proxy's `Forwarded` header (RFC 7239, its `for=`
 * parameters), or without one `X-Forwarded-For`, lists the hops the request
 * came through, the nearest last.  They are walked from the right: trusted
 * hops are skipped and the first untrusted one is the client.  Every hop to
 * its right was added by a proxy we trust, so a client can only prepend
 * addresses, which are never reached.  When every hop is trusted the leftmost
 * one is the client.  A hop that is not an address (`unknown`, an obfuscated
 * identifier, garbage) ends the walk and the header is ignored: the client is
 * the peer.  Several header lines of one name read as one list, in order.
 *
 * Used for the rate limits (ratelimit.c) and the request's meta ("ip",
 * args.c), which the database logs and audits.
 */
#include "shim.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define MAX_PROXIES 64
#define MAX_HOPS 32

typedef struct st_cidr_t {
    int family; /* AF_INET, AF_INET6 */
    uint8_t addr[16];
    unsigned bits;
} cidr_t;

static cidr_t proxies[MAX_PROXIES];
static size_t num_proxies;

/* an address of a family, in network order */
typedef struct st_ipaddr_t {
    int family;
    uint8_t addr[16];
} ipaddr_t;

/* "1.2.3.4" or "2001:db8::1" (len bytes, no brackets); 0 or -1 */
static int parse_ip(const char *s, size_t len, ipaddr_t *out)
{
    char buf[64];

    if (len == 0 || len >= sizeof(buf))
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (inet_pton(AF_INET, buf, out->addr) == 1) {
        out->family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, buf, out->addr) == 1) {
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        out->family = AF_INET6;
        if (memcmp(out->addr, mapped, 12) == 0) { /* ::ffff:a.b.c.d is IPv4 */
            memmove(out->addr, out->addr + 12, 4);
            out->family = AF_INET;
        }
        return 0;
    }
    return -1;
}

static int cidr_contains(const cidr_t *c, const ipaddr_t *a)
{
    unsigned full = c->bits / 8, rest = c->bits % 8;

    if (c->family != a->family)
        return 0;
    if (memcmp(c->addr, a->addr, full) != 0)
        return 0;
    return rest == 0 || ((c->addr[full] ^ a->addr[full]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

static int trusted(const ipaddr_t *a)
{
    size_t i;

    for (i = 0; i != num_proxies; ++i)
        if (cidr_contains(proxies + i, a))
            return 1;
    return 0;
}

int proxies_parse(const char *value)
{
    const char *p = value;

    num_proxies = 0;
    while (*p != '\0') {
        const char *end = strchr(p, ','), *slash;
        size_t len;
        cidr_t c;
        ipaddr_t a;

        if (end == NULL)
            end = p + strlen(p);
        while (p != end && (*p == ' ' || *p == '\t'))
            ++p;
        len = end - p;
        while (len != 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            --len;
        if (len != 0) {
            unsigned max;
            slash = memchr(p, '/', len);
            if (parse_ip(p, slash != NULL ? (size_t)(slash - p) : len, &a) != 0 || num_proxies == MAX_PROXIES)
                return -1;
            max = a.family == AF_INET ? 32 : 128;
            c.family = a.family;
            memcpy(c.addr, a.addr, 16);
            c.bits = max;
            if (slash != NULL) {
                const char *d = slash + 1;
                unsigned bits = 0;
                if (d == p + len || p + len - d > 3)
                    return -1;
                for (; d != p + len; ++d) {
                    if (*d < '0' || *d > '9')
                        return -1;
                    bits = bits * 10 + (unsigned)(*d - '0');
                }
                /* an IPv4-mapped IPv6 prefix (::ffff:10.0.0.0/104) is its IPv4 prefix */
                if (a.family == AF_INET && memchr(p, ':', slash - p) != NULL) {
                    if (bits < 96)
                        return -1;
                    bits -= 96;
                }
                if (bits > max)
                    return -1;
                c.bits = bits;
            }
            proxies[num_proxies++] = c;
        }
        p = *end == ',' ? end + 1 : end;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* the hops of the headers */

typedef struct st_hops_t {
    h2o_iovec_t hop[MAX_HOPS];
    size_t n;
    int overflow;
} hops_t;

static void hops_add(hops_t *h, const char *s, size_t len)
{
    while (len != 0 && (*s == ' ' || *s == '\t')) {
        ++s;
        --len;
    }
    while (len != 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        --len;
    if (h->n == MAX_HOPS) { /* keep the nearest MAX_HOPS: the walk starts there */
        memmove(h->hop, h->hop + 1, sizeof(h->hop[0]) * (MAX_HOPS - 1));
        --h->n;
        h->overflow = 1;
    }
    h->hop[h->n++] = h2o_iovec_init(s, len);
}

/* the for= value of one Forwarded element ("for=1.2.3.4;proto=https"); an empty one when it has none */
static h2o_iovec_t forwarded_for(const char *s, size_t len)
{
    const char *end = s + len;

    while (s != end) {
        const char *semi = memchr(s, ';', end - s), *pend = semi != NULL ? semi : end;
        while (s != pend && (*s == ' ' || *s == '\t'))
            ++s;
        if (pend - s >= 4 && strncasecmp(s, "for=", 4) == 0)
            return h2o_iovec_init(s + 4, pend - s - 4);
        s = semi != NULL ? semi + 1 : end;
    }
    return h2o_iovec_init("", 0);
}

/* one hop: 1.2.3.4, 1.2.3.4:80, 2001:db8::1, [2001:db8::1], [2001:db8::1]:80, optionally quoted; 0 or -1 */
static int parse_hop(h2o_iovec_t v, ipaddr_t *a)
{
    const char *s = v.base;
    size_t len = v.len;

    if (len >= 2 && s[0] == '"' && s[len - 1] == '"') {
        ++s;
        len -= 2;
    }
    if (len != 0 && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (close == NULL)
            return -1;
        if (close + 1 != s + len && close[1] != ':')
            return -1;
        return parse_ip(s + 1, close - s - 1, a);
    }
    if (parse_ip(s, len, a) == 0)
        return 0;
    /* IPv4 with a port */
    {
        const char *colon = memchr(s, ':', len);
        if (colon != NULL && memchr(colon + 1, ':', s + len - colon - 1) == NULL && parse_ip(s, colon - s, a) == 0 &&
            a->family == AF_INET)
            return 0;
    }
    return -1;
}

/* the hops of every line of header name, in order; 0 when there is none */
static size_t collect(h2o_req_t *req, const char *name, size_t name_len, int forwarded, hops_t *h)
{
    ssize_t i = -1;
    size_t lines = 0;

    h->n = 0;
    h->overflow = 0;
    while ((i = h2o_find_header_by_str(&req->headers, name, name_len, i)) != -1) {
        h2o_iovec_t v = req->headers.entries[i].value;
        const char *s = v.base, *end = v.base + v.len;
        ++lines;
        while (s <= end) {
            /* commas inside quotes do not occur in addresses; a quoted comma makes a bad hop, which is safe */
            const char *comma = memchr(s, ',', end - s), *e = comma != NULL ? comma : end;
            if (forwarded) {
                h2o_iovec_t f = forwarded_for(s, e - s);
                hops_add(h, f.base, f.len);
            } else {
                hops_add(h, s, e - s);
            }
            if (comma == NULL)
                break;
            s = comma + 1;
        }
    }
    return lines;
}

socklen_t client_address(h2o_req_t *req, struct sockaddr_storage *ss)
{
    socklen_t len = req->conn->callbacks->get_peername(req->conn, (void *)ss);
    ipaddr_t peer, hop, client;
    hops_t hops;
    size_t i;

    if (len == 0 || num_proxies == 0)
        return len;
    if (ss->ss_family == AF_INET) {
        peer.family = AF_INET;
        memcpy(peer.addr, &((struct sockaddr_in *)ss)->sin_addr, 4);
    } else if (ss->ss_family == AF_INET6) {
        char buf[INET6_ADDRSTRLEN];
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)ss)->sin6_addr, buf, sizeof(buf));
        if (parse_ip(buf, strlen(buf), &peer) != 0)
            return len;
    } else {
        return len;
    }
    if (!trusted(&peer))
        return len;
    if (collect(req, H2O_STRLIT("forwarded"), 1, &hops) == 0 && collect(req, H2O_STRLIT("x-forwarded-for"), 0, &hops) == 0)
        return len;
    client = peer;
    for (i = hops.n; i != 0; --i) {
        if (parse_hop(hops.hop[i - 1], &hop) != 0)
            return len; /* not an address: the header is ignored */
        client = hop;
        if (!trusted(&hop))
            break;
    }
    if (i == 0 && hops.overflow)
        return len; /* more trusted hops than we keep: the leftmost is unknown */
    memset(ss, 0, sizeof(*ss));
    if (client.family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)ss;
        sin->sin_family = AF_INET;
        memcpy(&sin->sin_addr, client.addr, 4);
        return sizeof(*sin);
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
        sin6->sin6_family = AF_INET6;
        memcpy(&sin6->sin6_addr, client.addr, 16);
        return sizeof(*sin6);
    }
}
