/*
 * CORS: which browser origins may call the API (CORS_ORIGIN).
 *
 * Credentials are bearer tokens sent in the Authorization header, never
 * cookies, so Access-Control-Allow-Credentials is not needed and "*" is a
 * safe answer when every origin is welcome.
 *
 *   CORS_ORIGIN empty      no cross-origin access: no CORS header at all
 *   CORS_ORIGIN=*          Access-Control-Allow-Origin: * on every response
 *   CORS_ORIGIN=a,b        a request whose Origin is in the list gets it back
 *                          in Access-Control-Allow-Origin; every response
 *                          carries Vary: Origin (it depends on it)
 *
 * A preflight (OPTIONS with Origin and Access-Control-Request-Method) is
 * answered here, 204, without the database; from an origin that is not
 * allowed it gets no Access-Control-Allow-* header, and the browser stops.
 */
#include "shim.h"
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALLOW_METHODS "GET, POST, PUT, PATCH, DELETE, OPTIONS"
/* X-Workon-LSN: read-your-writes with read replicas (replicas.c) */
#define ALLOW_HEADERS "Content-Type, Authorization, X-Request-Id, X-Workon-LSN"
#define EXPOSE_HEADERS "X-Request-Id, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, Retry-After, Content-Disposition, Content-Range, ETag, Location, X-Workon-LSN"
#define MAX_AGE "600"

struct st_cors_conf_t {
    int any;
    size_t num_origins;
    h2o_iovec_t origins[1]; /* lower-case, without a trailing slash */
};

/* scheme://host[:port] with scheme http or https */
static int valid_origin(const char *s, size_t len)
{
    const char *host;
    size_t i;

    if (len > 7 && memcmp(s, "http://", 7) == 0)
        host = s + 7;
    else if (len > 8 && memcmp(s, "https://", 8) == 0)
        host = s + 8;
    else
        return 0;
    if (host == s + len)
        return 0;
    for (i = host - s; i != len; ++i) {
        unsigned char c = (unsigned char)s[i];
        if (!(isalnum(c) || c == '.' || c == '-' || c == ':' || c == '[' || c == ']' || c == '_'))
            return 0;
    }
    return 1;
}

cors_conf_t *cors_conf_parse(const char *value)
{
    size_t cap = 1, n = 0, len;
    const char *p;
    cors_conf_t *conf;

    if (value == NULL)
        value = "";
    for (p = value; *p != '\0'; ++p)
        if (*p == ',')
            ++cap;
    if ((conf = calloc(1, offsetof(cors_conf_t, origins) + sizeof(conf->origins[0]) * cap)) == NULL)
        h2o_fatal("no memory");
    for (p = value; *p != '\0';) {
        const char *comma = strchr(p, ','), *end = comma != NULL ? comma : p + strlen(p);
        char *origin;
        size_t i;
        while (p != end && (*p == ' ' || *p == '\t'))
            ++p;
        len = end - p;
        while (len != 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            --len;
        if (len != 0 && p[len - 1] == '/')
            --len;
        if (len == 1 && *p == '*') {
            conf->any = 1;
        } else if (len != 0) {
            origin = malloc(len + 1);
            if (origin == NULL)
                h2o_fatal("no memory");
            for (i = 0; i != len; ++i)
                origin[i] = (char)tolower((unsigned char)p[i]);
            origin[len] = '\0';
            if (!valid_origin(origin, len)) {
                free(origin);
                for (i = 0; i != n; ++i)
                    free(conf->origins[i].base);
                free(conf);
                return NULL;
            }
            conf->origins[n++] = h2o_iovec_init(origin, len);
        }
        p = comma != NULL ? comma + 1 : end;
    }
    conf->num_origins = n;
    return conf;
}

static const cors_conf_t *current_conf(void)
{
    return __atomic_load_n(&shim_settings.cors, __ATOMIC_ACQUIRE);
}

/* the request's Origin when the configuration allows it, else {NULL, 0} */
static h2o_iovec_t allowed_origin(const cors_conf_t *conf, h2o_req_t *req)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("origin"), -1);
    size_t k;

    if (i != -1) {
        h2o_iovec_t origin = req->headers.entries[i].value;
        for (k = 0; k != conf->num_origins; ++k)
            if (h2o_lcstris(origin.base, origin.len, conf->origins[k].base, conf->origins[k].len))
                return origin;
    }
    return h2o_iovec_init(NULL, 0);
}

void cors_add_headers(h2o_req_t *req)
{
    const cors_conf_t *conf = current_conf();
    h2o_iovec_t origin;

    if (conf->any) {
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ACCESS_CONTROL_ALLOW_ORIGIN, NULL, H2O_STRLIT("*"));
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("access-control-expose-headers"), 0, NULL,
                              H2O_STRLIT(EXPOSE_HEADERS));
        return;
    }
    if (conf->num_origins == 0)
        return;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_VARY, NULL, H2O_STRLIT("Origin"));
    origin = allowed_origin(conf, req);
    if (origin.base == NULL)
        return;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ACCESS_CONTROL_ALLOW_ORIGIN, NULL, origin.base, origin.len);
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("access-control-expose-headers"), 0, NULL,
                          H2O_STRLIT(EXPOSE_HEADERS));
}

int cors_is_preflight(h2o_req_t *req)
{
    return h2o_memis(req->method.base, req->method.len, H2O_STRLIT("OPTIONS")) &&
           h2o_find_header_by_str(&req->headers, H2O_STRLIT("origin"), -1) != -1 &&
           h2o_find_header_by_str(&req->headers, H2O_STRLIT("access-control-request-method"), -1) != -1;
}

/* the headers of a preflight's answer (cors_add_headers adds the origin's) */
void cors_add_preflight_headers(h2o_req_t *req)
{
    const cors_conf_t *conf = current_conf();

    if (!conf->any && allowed_origin(conf, req).base == NULL)
        return;
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("access-control-allow-methods"), 0, NULL,
                          H2O_STRLIT(ALLOW_METHODS));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("access-control-allow-headers"), 0, NULL,
                          H2O_STRLIT(ALLOW_HEADERS));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("access-control-max-age"), 0, NULL, H2O_STRLIT(MAX_AGE));
}
