/*
 * HTTP/1 message framing (RFC 9112): the checks h2o 2.2 does not make.
 *
 * h2o takes Content-Length, Transfer-Encoding and Host out of the header list
 * it hands to handlers (the first Content-Length counts, Transfer-Encoding
 * wins over it, the last Host counts), so a handler cannot tell a request
 * that names its length twice from one that names it once.  The shim reads
 * the head as the client sent it (still at the start of the connection's
 * input buffer while the request is handled) and refuses, with 400 and the
 * connection closed, what a proxy and this server could frame differently:
 *
 *   - Content-Length values that differ (two fields, or a list in one);
 *   - Content-Length together with Transfer-Encoding;
 *   - an HTTP/1.1 request without a Host, and any request with two.
 *
 * framing_check() is pure (no h2o, no allocation), so fuzz/ can feed it any
 * bytes.
 */
#include "shim.h"
#include <string.h>

static int ieq(const char *a, size_t alen, const char *lit)
{
    size_t i, n = strlen(lit);

    if (alen != n)
        return 0;
    for (i = 0; i != n; ++i) {
        char c = a[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != lit[i])
            return 0;
    }
    return 1;
}

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* the value's elements, split at commas and trimmed, must all equal *first (set by the first one seen) */
static int content_lengths_agree(const char *v, size_t len, const char **first, size_t *first_len)
{
    size_t i = 0;

    while (i <= len) {
        size_t s = i, e;
        while (i < len && v[i] != ',')
            ++i;
        e = i;
        while (s < e && is_ows(v[s]))
            ++s;
        while (e > s && is_ows(v[e - 1]))
            --e;
        if (*first == NULL) {
            *first = v + s;
            *first_len = e - s;
        } else if (*first_len != e - s || memcmp(*first, v + s, e - s) != 0) {
            return 0;
        }
        ++i; /* past the comma (or the end) */
    }
    return 1;
}

const char *framing_check(const char *head, size_t len, int http11)
{
    const char *cl = NULL;
    size_t cl_len = 0, p;
    int hosts = 0, content_length = 0, transfer_encoding = 0;

    /* past the request line */
    for (p = 0; p < len && head[p] != '\n'; ++p)
        ;
    ++p;
    while (p < len) {
        size_t s = p, e, colon, vs, ve;
        while (p < len && head[p] != '\n')
            ++p;
        e = p;
        ++p;
        if (e > s && head[e - 1] == '\r')
            --e;
        if (e == s)
            break; /* the empty line ends the head */
        if (is_ows(head[s]))
            continue; /* an obsolete line folding: h2o refused it already */
        for (colon = s; colon < e && head[colon] != ':'; ++colon)
            ;
        if (colon == e)
            continue;
        for (vs = colon + 1; vs < e && is_ows(head[vs]); ++vs)
            ;
        for (ve = e; ve > vs && is_ows(head[ve - 1]); --ve)
            ;
        if (ieq(head + s, colon - s, "content-length")) {
            ++content_length;
            if (!content_lengths_agree(head + vs, ve - vs, &cl, &cl_len))
                return "conflicting Content-Length headers";
        } else if (ieq(head + s, colon - s, "transfer-encoding")) {
            ++transfer_encoding;
        } else if (ieq(head + s, colon - s, "host")) {
            ++hosts;
        }
    }
    if (content_length != 0 && transfer_encoding != 0)
        return "Content-Length together with Transfer-Encoding";
    if (hosts > 1)
        return "more than one Host header";
    if (hosts == 0 && http11)
        return "an HTTP/1.1 request without a Host header";
    return NULL;
}

const char *framing_check_request(h2o_req_t *req)
{
    h2o_socket_t *sock;

    if (req->version >= 0x200 || req->conn->callbacks->get_socket == NULL)
        return NULL;
    sock = req->conn->callbacks->get_socket(req->conn);
    if (sock == NULL || sock->input == NULL)
        return NULL;
    return framing_check(sock->input->bytes, sock->input->size, req->version >= 0x101);
}

/*
 * A connection h2o closes while the client is still sending (a body over the
 * cap, refused before it was read) would be closed with unread bytes, which
 * makes the kernel send a reset; a reset that reaches the client before it
 * read the answer destroys the answer.  So the shim keeps a duplicate of the
 * socket: h2o's close then sends nothing, the duplicate reads and discards
 * what still comes, ends its side (FIN) once the answer has surely been
 * written, and is closed when the client closes or after LINGER_MS.
 */
#define LINGER_SHUTDOWN_MS 100
#define LINGER_MS 2000
#define LINGER_MAX 64 /* per thread; past it a connection is closed as h2o would */

typedef struct {
    h2o_socket_t *sock;
    h2o_timeout_entry_t shutdown_entry, end_entry;
} linger_t;

static __thread struct {
    h2o_loop_t *loop;
    h2o_timeout_t shutdown_timeout, end_timeout;
    int count;
} lingering;

static void linger_close(linger_t *l)
{
    if (h2o_timeout_is_linked(&l->shutdown_entry))
        h2o_timeout_unlink(&l->shutdown_entry);
    if (h2o_timeout_is_linked(&l->end_entry))
        h2o_timeout_unlink(&l->end_entry);
    h2o_socket_close(l->sock);
    --lingering.count;
    free(l);
}

static void on_linger_read(h2o_socket_t *sock, const char *err)
{
    linger_t *l = sock->data;

    if (err != NULL) {
        linger_close(l);
        return;
    }
    h2o_buffer_consume(&sock->input, sock->input->size);
}

static void on_linger_shutdown(h2o_timeout_entry_t *entry)
{
    linger_t *l = H2O_STRUCT_FROM_MEMBER(linger_t, shutdown_entry, entry);

    shutdown(h2o_socket_get_fd(l->sock), SHUT_WR);
}

static void on_linger_end(h2o_timeout_entry_t *entry)
{
    linger_close(H2O_STRUCT_FROM_MEMBER(linger_t, end_entry, entry));
}

void framing_linger(h2o_req_t *req)
{
    h2o_loop_t *loop = req->conn->ctx->loop;
    h2o_socket_t *sock;
    linger_t *l;
    int fd;

    if (req->version >= 0x200 || req->http1_is_persistent || req->conn->callbacks->get_socket == NULL ||
        (sock = req->conn->callbacks->get_socket(req->conn)) == NULL || h2o_socket_get_fd(sock) == -1)
        return;
    if (lingering.loop != loop) {
        lingering.loop = loop;
        h2o_timeout_init(loop, &lingering.shutdown_timeout, LINGER_SHUTDOWN_MS);
        h2o_timeout_init(loop, &lingering.end_timeout, LINGER_MS);
    }
    if (lingering.count >= LINGER_MAX || (l = calloc(1, sizeof(*l))) == NULL)
        return;
    if ((fd = dup(h2o_socket_get_fd(sock))) == -1) {
        free(l);
        return;
    }
    l->sock = h2o_evloop_socket_create(loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    l->sock->data = l;
    l->shutdown_entry.cb = on_linger_shutdown;
    l->end_entry.cb = on_linger_end;
    ++lingering.count;
    h2o_timeout_link(loop, &lingering.shutdown_timeout, &l->shutdown_entry);
    h2o_timeout_link(loop, &lingering.end_timeout, &l->end_entry);
    h2o_socket_read_start(l->sock, on_linger_read);
}
