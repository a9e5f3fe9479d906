/*
 * JSON in C: a strict RFC 8259 validator (UTF-8 checked, nesting limited to
 * JSON_MAX_DEPTH), string escaping, a reader for flat objects of strings
 * (handler-supplied response headers) and a small string builder on a
 * memory pool.
 */
#include "shim.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* length of the valid UTF-8 sequence at p (at most avail bytes), 0 if invalid */
static size_t utf8_seq_len(const unsigned char *p, size_t avail)
{
    unsigned char c = p[0];

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        if (avail >= 2 && (p[1] & 0xc0) == 0x80)
            return 2;
        return 0;
    }
    if (c >= 0xe0 && c <= 0xef) {
        unsigned char lo = 0x80, hi = 0xbf;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f; /* no UTF-16 surrogates */
        if (avail >= 3 && p[1] >= lo && p[1] <= hi && (p[2] & 0xc0) == 0x80)
            return 3;
        return 0;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        unsigned char lo = 0x80, hi = 0xbf;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f; /* nothing above U+10FFFF */
        if (avail >= 4 && p[1] >= lo && p[1] <= hi && (p[2] & 0xc0) == 0x80 && (p[3] & 0xc0) == 0x80)
            return 4;
        return 0;
    }
    return 0;
}

int utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;

    while (p != end) {
        size_t n;
        if (*p == 0)
            return 0;
        if (*p < 0x80) {
            ++p;
            continue;
        }
        if ((n = utf8_seq_len(p, end - p)) == 0)
            return 0;
        p += n;
    }
    return 1;
}

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int read_hex4(const unsigned char *p, const unsigned char *end, unsigned *out)
{
    unsigned v = 0;
    int i, h;

    if (end - p < 4)
        return -1;
    for (i = 0; i != 4; ++i) {
        if ((h = hex_value(p[i])) < 0)
            return -1;
        v = (v << 4) | (unsigned)h;
    }
    *out = v;
    return 0;
}

/*
 * Scans a JSON string starting after the opening quote.  Returns the position
 * after the closing quote, or NULL.  With dst non-NULL the unescaped UTF-8 is
 * written there (it is never longer than the escaped text).
 */
static const unsigned char *scan_string(const unsigned char *p, const unsigned char *end, char *dst, size_t *dst_len)
{
    char *d = dst;

    for (;;) {
        const unsigned char *run = p;
        size_t n;
        while (p != end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
            ++p;
        if (d != NULL) {
            memcpy(d, run, p - run);
            d += p - run;
        }
        if (p == end)
            return NULL;
        if (*p == '"') {
            if (dst_len != NULL)
                *dst_len = d - dst;
            return p + 1;
        }
        if (*p < 0x20)
            return NULL;
        if (*p == '\\') {
            unsigned cp;
            if (++p == end)
                return NULL;
            switch (*p) {
            case '"':
            case '\\':
            case '/':
                cp = *p;
                break;
            case 'b':
                cp = '\b';
                break;
            case 'f':
                cp = '\f';
                break;
            case 'n':
                cp = '\n';
                break;
            case 'r':
                cp = '\r';
                break;
            case 't':
                cp = '\t';
                break;
            case 'u':
                if (read_hex4(p + 1, end, &cp) != 0)
                    return NULL;
                p += 4;
                if (cp >= 0xdc00 && cp <= 0xdfff)
                    return NULL; /* lone low surrogate */
                if (cp >= 0xd800 && cp <= 0xdbff) {
                    unsigned lo;
                    if (end - p < 7 || p[1] != '\\' || p[2] != 'u' || read_hex4(p + 3, end, &lo) != 0 || lo < 0xdc00 || lo > 0xdfff)
                        return NULL; /* unpaired high surrogate */
                    p += 6;
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                }
                break;
            default:
                return NULL;
            }
            ++p;
            if (d != NULL) {
                if (cp < 0x80) {
                    *d++ = (char)cp;
                } else if (cp < 0x800) {
                    *d++ = (char)(0xc0 | (cp >> 6));
                    *d++ = (char)(0x80 | (cp & 0x3f));
                } else if (cp < 0x10000) {
                    *d++ = (char)(0xe0 | (cp >> 12));
                    *d++ = (char)(0x80 | ((cp >> 6) & 0x3f));
                    *d++ = (char)(0x80 | (cp & 0x3f));
                } else {
                    *d++ = (char)(0xf0 | (cp >> 18));
                    *d++ = (char)(0x80 | ((cp >> 12) & 0x3f));
                    *d++ = (char)(0x80 | ((cp >> 6) & 0x3f));
                    *d++ = (char)(0x80 | (cp & 0x3f));
                }
            }
            continue;
        }
        /* non-ASCII */
        if ((n = utf8_seq_len(p, end - p)) == 0)
            return NULL;
        if (d != NULL) {
            memcpy(d, p, n);
            d += n;
        }
        p += n;
    }
}

static const unsigned char *scan_number(const unsigned char *p, const unsigned char *end)
{
    if (*p == '-' && ++p == end)
        return NULL;
    if (*p == '0') {
        ++p;
    } else if (*p >= '1' && *p <= '9') {
        while (p != end && *p >= '0' && *p <= '9')
            ++p;
    } else {
        return NULL;
    }
    if (p != end && *p == '.') {
        if (++p == end || !(*p >= '0' && *p <= '9'))
            return NULL;
        while (p != end && *p >= '0' && *p <= '9')
            ++p;
    }
    if (p != end && (*p == 'e' || *p == 'E')) {
        if (++p != end && (*p == '+' || *p == '-'))
            ++p;
        if (p == end || !(*p >= '0' && *p <= '9'))
            return NULL;
        while (p != end && *p >= '0' && *p <= '9')
            ++p;
    }
    return p;
}

static inline const unsigned char *skip_ws(const unsigned char *p, const unsigned char *end)
{
    while (p != end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        ++p;
    return p;
}

int json_validate(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    unsigned char stack[JSON_MAX_DEPTH];
    size_t depth = 0;

Value:
    p = skip_ws(p, end);
    if (p == end)
        return -1;
    switch (*p) {
    case '{':
        if (depth == JSON_MAX_DEPTH)
            return -1;
        stack[depth++] = '{';
        p = skip_ws(p + 1, end);
        if (p != end && *p == '}') {
            ++p;
            --depth;
            goto AfterValue;
        }
        goto Key;
    case '[':
        if (depth == JSON_MAX_DEPTH)
            return -1;
        stack[depth++] = '[';
        p = skip_ws(p + 1, end);
        if (p != end && *p == ']') {
            ++p;
            --depth;
            goto AfterValue;
        }
        goto Value;
    case '"':
        if ((p = scan_string(p + 1, end, NULL, NULL)) == NULL)
            return -1;
        goto AfterValue;
    case 't':
        if (end - p < 4 || memcmp(p, "true", 4) != 0)
            return -1;
        p += 4;
        goto AfterValue;
    case 'f':
        if (end - p < 5 || memcmp(p, "false", 5) != 0)
            return -1;
        p += 5;
        goto AfterValue;
    case 'n':
        if (end - p < 4 || memcmp(p, "null", 4) != 0)
            return -1;
        p += 4;
        goto AfterValue;
    default:
        if ((p = scan_number(p, end)) == NULL)
            return -1;
        goto AfterValue;
    }

Key:
    p = skip_ws(p, end);
    if (p == end || *p != '"')
        return -1;
    if ((p = scan_string(p + 1, end, NULL, NULL)) == NULL)
        return -1;
    p = skip_ws(p, end);
    if (p == end || *p != ':')
        return -1;
    ++p;
    goto Value;

AfterValue:
    p = skip_ws(p, end);
    if (depth == 0)
        return p == end ? 0 : -1;
    if (p == end)
        return -1;
    if (*p == ',') {
        ++p;
        if (stack[depth - 1] == '{')
            goto Key;
        goto Value;
    }
    if ((*p == '}' && stack[depth - 1] == '{') || (*p == ']' && stack[depth - 1] == '[')) {
        ++p;
        --depth;
        goto AfterValue;
    }
    return -1;
}

char *json_escape(char *dst, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s, *end = p + len;

    while (p != end) {
        unsigned char c = *p;
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            *dst++ = (char)c;
            ++p;
            continue;
        }
        if (c >= 0x80) {
            size_t n = utf8_seq_len(p, end - p);
            if (n == 0) {
                memcpy(dst, "\\ufffd", 6);
                dst += 6;
                ++p;
            } else {
                memcpy(dst, p, n);
                dst += n;
                p += n;
            }
            continue;
        }
        *dst++ = '\\';
        switch (c) {
        case '"':
            *dst++ = '"';
            break;
        case '\\':
            *dst++ = '\\';
            break;
        case '\n':
            *dst++ = 'n';
            break;
        case '\r':
            *dst++ = 'r';
            break;
        case '\t':
            *dst++ = 't';
            break;
        case '\b':
            *dst++ = 'b';
            break;
        case '\f':
            *dst++ = 'f';
            break;
        default:
            *dst++ = 'u';
            *dst++ = '0';
            *dst++ = '0';
            *dst++ = hex[c >> 4];
            *dst++ = hex[c & 15];
            break;
        }
        ++p;
    }
    return dst;
}

int json_each_string_member(const char *s, size_t len, h2o_mem_pool_t *pool,
                            void (*cb)(void *data, h2o_iovec_t key, h2o_iovec_t value), void *data)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len, *q;
    h2o_iovec_t key, value;

    p = skip_ws(p, end);
    if (p == end || *p != '{')
        return -1;
    p = skip_ws(p + 1, end);
    if (p != end && *p == '}')
        return skip_ws(p + 1, end) == end ? 0 : -1;
    for (;;) {
        if (p == end || *p != '"')
            return -1;
        if ((q = scan_string(p + 1, end, NULL, NULL)) == NULL)
            return -1;
        key.base = h2o_mem_alloc_pool(pool, q - p);
        scan_string(p + 1, end, key.base, &key.len);
        key.base[key.len] = '\0';
        p = skip_ws(q, end);
        if (p == end || *p != ':')
            return -1;
        p = skip_ws(p + 1, end);
        if (p == end || *p != '"')
            return -1;
        if ((q = scan_string(p + 1, end, NULL, NULL)) == NULL)
            return -1;
        value.base = h2o_mem_alloc_pool(pool, q - p);
        scan_string(p + 1, end, value.base, &value.len);
        value.base[value.len] = '\0';
        cb(data, key, value);
        p = skip_ws(q, end);
        if (p == end)
            return -1;
        if (*p == '}')
            return skip_ws(p + 1, end) == end ? 0 : -1;
        if (*p != ',')
            return -1;
        p = skip_ws(p + 1, end);
    }
}

/* ------------------------------------------------------------------------ */

/*
 * A small reader of the JSON the database writes (well-formed by
 * construction): skipping values, a top-level member of an object, an
 * integer member.
 */


const char *json_skip_ws(const char *p, const char *end)
{
    while (p != end && (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r'))
        ++p;
    return p;
}

/* the end of the value starting at p, or NULL */
const char *json_skip_value(const char *p, const char *end)
{
    int depth = 0;

    p = json_skip_ws(p, end);
    do {
        if (p == end)
            return NULL;
        switch (*p) {
        case '"':
            for (++p; p != end && *p != '"'; ++p)
                if (*p == '\\' && ++p == end)
                    return NULL;
            if (p == end)
                return NULL;
            ++p;
            break;
        case '{':
        case '[':
            ++depth;
            ++p;
            break;
        case '}':
        case ']':
            --depth;
            ++p;
            break;
        default:
            while (p != end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\n')
                ++p;
            break;
        }
        if (depth > 0) {
            /* inside a container: members and elements, separators included */
            p = json_skip_ws(p, end);
            while (p != end && (*p == ',' || *p == ':'))
                p = json_skip_ws(p + 1, end);
        }
    } while (depth > 0);
    return p;
}

/*
 * the value of a top-level member of an object (NULL if absent); strings
 * come back without their quotes (the database's ids and cursors have no
 * escapes), "null" as NULL
 */
h2o_iovec_t json_member(h2o_iovec_t obj, const char *name)
{
    const char *p = json_skip_ws(obj.base, obj.base + obj.len), *end = obj.base + obj.len;
    size_t name_len = strlen(name);

    if (p == end || *p != '{')
        return h2o_iovec_init(NULL, 0);
    p = json_skip_ws(p + 1, end);
    while (p != end && *p == '"') {
        const char *key = p + 1, *key_end = json_skip_value(p, end), *value, *value_end;
        if (key_end == NULL)
            break;
        p = json_skip_ws(key_end, end);
        if (p == end || *p != ':')
            break;
        value = json_skip_ws(p + 1, end);
        if ((value_end = json_skip_value(value, end)) == NULL)
            break;
        if ((size_t)(key_end - 1 - key) == name_len && memcmp(key, name, name_len) == 0) {
            if (value_end - value == 4 && memcmp(value, "null", 4) == 0)
                return h2o_iovec_init(NULL, 0);
            if (*value == '"')
                return h2o_iovec_init(value + 1, value_end - value - 2);
            return h2o_iovec_init(value, value_end - value);
        }
        p = json_skip_ws(value_end, end);
        if (p != end && *p == ',')
            p = json_skip_ws(p + 1, end);
    }
    return h2o_iovec_init(NULL, 0);
}

/* an integer (as json_member gives it), or dflt when absent or too long */
int64_t json_int64(h2o_iovec_t v, int64_t dflt)
{
    char buf[24];

    if (v.base == NULL || v.len == 0 || v.len >= sizeof(buf))
        return dflt;
    memcpy(buf, v.base, v.len);
    buf[v.len] = '\0';
    return strtoll(buf, NULL, 10);
}

void strbuf_init(strbuf_t *sb, h2o_mem_pool_t *pool, size_t cap)
{
    sb->pool = pool;
    sb->cap = cap < 64 ? 64 : cap;
    sb->base = h2o_mem_alloc_pool(pool, sb->cap);
    sb->len = 0;
}

void strbuf_reserve(strbuf_t *sb, size_t extra)
{
    char *nb;
    size_t ncap;

    if (sb->len + extra + 1 <= sb->cap)
        return;
    ncap = sb->cap * 2;
    while (ncap < sb->len + extra + 1)
        ncap *= 2;
    nb = h2o_mem_alloc_pool(sb->pool, ncap);
    memcpy(nb, sb->base, sb->len);
    sb->base = nb;
    sb->cap = ncap;
}

void strbuf_add(strbuf_t *sb, const char *s, size_t len)
{
    strbuf_reserve(sb, len);
    memcpy(sb->base + sb->len, s, len);
    sb->len += len;
}

void strbuf_add_json_string(strbuf_t *sb, const char *s, size_t len)
{
    char *end;

    strbuf_reserve(sb, json_escaped_max(len) + 2);
    sb->base[sb->len++] = '"';
    end = json_escape(sb->base + sb->len, s, len);
    sb->len = end - sb->base;
    sb->base[sb->len++] = '"';
}

void strbuf_add_cstr_json(strbuf_t *sb, const char *s)
{
    if (s == NULL)
        strbuf_lit(sb, "null");
    else
        strbuf_add_json_string(sb, s, strlen(s));
}

void strbuf_printf(strbuf_t *sb, const char *fmt, ...)
{
    va_list args;
    int n;

    va_start(args, fmt);
    n = vsnprintf(NULL, 0, fmt, args);
    va_end(args);
    if (n <= 0)
        return;
    strbuf_reserve(sb, (size_t)n);
    va_start(args, fmt);
    vsnprintf(sb->base + sb->len, (size_t)n + 1, fmt, args);
    va_end(args);
    sb->len += (size_t)n;
}

h2o_iovec_t strbuf_finish(strbuf_t *sb)
{
    strbuf_reserve(sb, 0);
    sb->base[sb->len] = '\0';
    return h2o_iovec_init(sb->base, sb->len);
}
