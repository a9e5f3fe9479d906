/*
 * File responses: conditional and partial GETs of a response that carries an
 * ETag (the extension sets one on every file it serves).
 *
 *   If-None-Match matching the ETag (weak comparison, "*" too)  304, no body
 *   Range: bytes=a-b | a- | -n  (one range; If-Range, when
 *   sent, must equal the ETag)                                    206 + Content-Range
 *   a range that starts past the end                              416 + Content-Range: bytes * /len
 *   several ranges, another unit, a malformed value               ignored: 200, the whole body
 *
 * What the file is, who may read it and how it is cached are the extension's
 * business (its headers); this file knows only HTTP.
 *
 * An uploaded file's handler (workon.upload_content) answers If-None-Match,
 * Range and If-Range itself from meta.headers, so that a 304 reads no bytes
 * and a 206 only its range: it sends 304, 206 or 416, which pass through here
 * untouched, or 200 with the whole file when it ignored the headers, which
 * this file then ignores too (both read them alike).
 *
 * A public read (a GET or HEAD without credentials) that has no ETag of its
 * own gets a strong one, the first half of the SHA-256 of its body, and 304 on
 * If-None-Match (files_etag); a JSON one asked with Accept-Encoding: gzip goes
 * out in its gzip form (gzip.c), whose tag ends in "-gz".
 */
#include "shim.h"
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>

static h2o_iovec_t trim_ws(const char *s, size_t len)
{
    while (len != 0 && (*s == ' ' || *s == '\t'))
        ++s, --len;
    while (len != 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        --len;
    return h2o_iovec_init(s, len);
}

/* an entity tag without its weakness prefix */
static h2o_iovec_t opaque_tag(h2o_iovec_t tag)
{
    if (tag.len >= 2 && tag.base[0] == 'W' && tag.base[1] == '/')
        return h2o_iovec_init(tag.base + 2, tag.len - 2);
    return tag;
}

/* If-None-Match: a comma-separated list of entity tags, or "*" */
static int none_match_hits(h2o_iovec_t header, h2o_iovec_t etag)
{
    h2o_iovec_t want = opaque_tag(etag);
    const char *p = header.base, *end = header.base + header.len;

    while (p < end) {
        const char *comma = memchr(p, ',', end - p);
        h2o_iovec_t item = trim_ws(p, (comma != NULL ? comma : end) - p);
        if (h2o_memis(item.base, item.len, H2O_STRLIT("*")))
            return 1;
        item = opaque_tag(item);
        if (item.len == want.len && memcmp(item.base, want.base, want.len) == 0)
            return 1;
        p = comma != NULL ? comma + 1 : end;
    }
    return 0;
}

/* a decimal of at most 18 digits; returns the characters read, 0 for none */
static size_t read_offset(const char *s, size_t len, uint64_t *out)
{
    size_t i = 0;

    *out = 0;
    while (i != len && i < 18 && s[i] >= '0' && s[i] <= '9')
        *out = *out * 10 + (uint64_t)(s[i++] - '0');
    return i != len && s[i] >= '0' && s[i] <= '9' ? 0 : i;
}

/*
 * Parses "bytes=a-b", "bytes=a-" or "bytes=-n" against a body of len bytes.
 * Returns 1 with [*first, *last] for a satisfiable range, -1 for one that
 * is not (416), 0 for a header to ignore.
 */
static int parse_range(h2o_iovec_t v, uint64_t len, uint64_t *first, uint64_t *last)
{
    uint64_t a, b;
    size_t n;

    v = trim_ws(v.base, v.len);
    if (v.len < 6 || !h2o_lcstris(v.base, 6, H2O_STRLIT("bytes=")) || memchr(v.base, ',', v.len) != NULL)
        return 0;
    v = trim_ws(v.base + 6, v.len - 6);
    if (v.len != 0 && v.base[0] == '-') {
        /* the last n bytes */
        if ((n = read_offset(v.base + 1, v.len - 1, &b)) == 0 || n != v.len - 1)
            return 0;
        if (b == 0 || len == 0)
            return -1;
        *first = b >= len ? 0 : len - b;
        *last = len - 1;
        return 1;
    }
    if ((n = read_offset(v.base, v.len, &a)) == 0 || n == v.len || v.base[n] != '-')
        return 0;
    if (n + 1 == v.len) {
        b = UINT64_MAX;
    } else {
        size_t m = read_offset(v.base + n + 1, v.len - n - 1, &b);
        if (m == 0 || m != v.len - n - 1 || b < a)
            return 0;
    }
    if (a >= len)
        return -1;
    *first = a;
    *last = b >= len ? len - 1 : b;
    return 1;
}

int files_conditional(h2o_req_t *req, int status, h2o_iovec_t etag, h2o_iovec_t *body)
{
    ssize_t at;
    uint64_t first, last, len = body->len;
    char *cr;
    int r;

    if (status != 200 || etag.base == NULL)
        return status;
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) &&
        !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD")))
        return status;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ACCEPT_RANGES, "Accept-Ranges", H2O_STRLIT("bytes"));

    if ((at = h2o_find_header(&req->headers, H2O_TOKEN_IF_NONE_MATCH, -1)) != -1) {
        if (none_match_hits(req->headers.entries[at].value, etag)) {
            *body = h2o_iovec_init(NULL, 0);
            return 304;
        }
    }
    if ((at = h2o_find_header(&req->headers, H2O_TOKEN_RANGE, -1)) == -1)
        return status;
    {
        ssize_t ir = h2o_find_header(&req->headers, H2O_TOKEN_IF_RANGE, -1);
        if (ir != -1) {
            h2o_iovec_t v = trim_ws(req->headers.entries[ir].value.base, req->headers.entries[ir].value.len);
            if (!(v.len == etag.len && memcmp(v.base, etag.base, etag.len) == 0))
                return status;
        }
    }
    r = parse_range(req->headers.entries[at].value, len, &first, &last);
    if (r == 0)
        return status;
    cr = h2o_mem_alloc_pool(&req->pool, 64);
    if (r < 0) {
        int n = snprintf(cr, 64, "bytes */%llu", (unsigned long long)len);
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_RANGE, "Content-Range", cr, (size_t)n);
        *body = h2o_iovec_init(NULL, 0);
        return 416;
    }
    {
        int n = snprintf(cr, 64, "bytes %llu-%llu/%llu", (unsigned long long)first, (unsigned long long)last,
                         (unsigned long long)len);
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_RANGE, "Content-Range", cr, (size_t)n);
    }
    *body = h2o_iovec_init(body->base + first, (size_t)(last - first + 1));
    return 206;
}

int files_etag(h2o_req_t *req, int status, h2o_iovec_t *body, int json)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[SHA256_DIGEST_LENGTH];
    h2o_iovec_t gz = h2o_iovec_init(NULL, 0);
    char *tag;
    size_t i, len;
    ssize_t at;

    if (status != 200 || h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1) != -1)
        return status;
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) &&
        !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD")))
        return status;
    SHA256((const unsigned char *)body->base, body->len, md);
    if (json && gzip_accepted(req))
        gz = gzip_body(req, md, *body);
    /* strong: "<32 hex digits>" of the body, "<32 hex digits>-gz" of its gzip form */
    tag = h2o_mem_alloc_pool(&req->pool, 1 + 32 + 3 + 1);
    tag[0] = '"';
    for (i = 0; i != 16; ++i) {
        tag[1 + 2 * i] = hex[md[i] >> 4];
        tag[2 + 2 * i] = hex[md[i] & 15];
    }
    len = 33;
    if (gz.base != NULL) {
        memcpy(tag + len, "-gz", 3);
        len += 3;
    }
    tag[len++] = '"';
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ETAG, "ETag", tag, len);
    if (json)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_VARY, "Vary", H2O_STRLIT("Accept-Encoding"));
    if ((at = h2o_find_header(&req->headers, H2O_TOKEN_IF_NONE_MATCH, -1)) != -1 &&
        none_match_hits(req->headers.entries[at].value, h2o_iovec_init(tag, len))) {
        *body = h2o_iovec_init(NULL, 0);
        return 304;
    }
    if (gz.base != NULL) {
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_ENCODING, "Content-Encoding", H2O_STRLIT("gzip"));
        *body = gz;
    }
    return status;
}
