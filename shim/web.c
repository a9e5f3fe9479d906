/*
 * The web site and the admin console: static files of WEB_ROOT (built by
 * `make web` into web/dist), served with h2o's file sender.
 *
 *   GET /, /<page>[/...]   WEB_ROOT/index.html   (the public site; <page> one of
 *                          site_pages below: the site routes in the browser,
 *                          and the links of e-mails land on these paths)
 *   GET /admin[/...]       WEB_ROOT/admin.html   (the admin console)
 *   GET /assets/<name>     WEB_ROOT/assets/<name> (fingerprinted: name.<hash>.ext)
 *
 * The handler sits in front of the API's on the "/" registration and takes
 * only these paths, for GET and HEAD; everything else (other methods, other
 * paths, an asset name with anything but [A-Za-z0-9._-]) goes on to the API
 * as before.  h2o sends the file's precompressed twin (name.gz, written by
 * the build) when the client accepts gzip (H2O_FILE_FLAG_SEND_COMPRESSED,
 * with Vary: Accept-Encoding).  Pages are `Cache-Control: no-cache` (always
 * revalidated, so a new build shows at once) with a strict
 * Content-Security-Policy (scripts and styles from this origin only, no
 * inline script, no framing); assets are immutable for a year, since their
 * names change with their content.  Every answer has nosniff and an
 * X-Request-Id, and is logged and counted like any request.
 *
 * With an empty WEB_ROOT, or one without index.html at start, there is no
 * site: the paths are the API's (404).
 */
#include "shim.h"
#include <string.h>
#include <unistd.h>

#define WEB_CSP                                                                                                                   \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; " \
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

static int web_enabled;

/* the first path segments of the site's pages (web/src/site.js routes) */
static const char *const site_pages[] = {"account", "blog",     "bookings",       "conversations", "forgot-password", "host",
                                         "login",   "register", "reset-password", "spaces",        "verify-email"};

/* "/<segment>" or "/<segment>/..." for one of names */
static int under(const char *p, size_t len, const char *const *names, size_t n)
{
    size_t i;

    for (i = 0; i != n; ++i) {
        size_t k = strlen(names[i]);
        if (len >= k + 1 && memcmp(p + 1, names[i], k) == 0 && (len == k + 1 || p[k + 1] == '/'))
            return 1;
    }
    return 0;
}

typedef struct st_mime_t {
    const char *ext;
    const char *type;
} mime_t;

static const mime_t mimes[] = {
    {".js", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".webp", "image/webp"},
    {".jpg", "image/jpeg"},
    {".ico", "image/x-icon"},
    {".woff2", "font/woff2"},
    {".json", "application/json; charset=utf-8"},
    {".webmanifest", "application/manifest+json"},
    {".txt", "text/plain; charset=utf-8"},
};

static const char *mime_of(const char *name, size_t len)
{
    size_t i;

    for (i = 0; i != sizeof(mimes) / sizeof(mimes[0]); ++i) {
        size_t n = strlen(mimes[i].ext);
        if (len > n && memcmp(name + len - n, mimes[i].ext, n) == 0)
            return mimes[i].type;
    }
    return NULL;
}

/* an asset name: [A-Za-z0-9._-], not starting with a dot, with a known type */
static const char *asset_type(const char *name, size_t len)
{
    size_t i;

    if (len == 0 || len > 128 || name[0] == '.')
        return NULL;
    for (i = 0; i != len; ++i) {
        char c = name[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return NULL;
    }
    return mime_of(name, len);
}

static void add_header(h2o_req_t *req, const char *name, const char *value)
{
    h2o_add_header_by_str(&req->pool, &req->res.headers, name, strlen(name), 0, NULL, value, strlen(value));
}

static void send_file(h2o_req_t *req, h2o_iovec_t path, const char *route, const char *file, size_t file_len, const char *type,
                      int page)
{
    h2o_iovec_t request_id;
    h2o_iovec_t unused;
    size_t root_len = strlen(shim_settings.web_root);
    char *full = h2o_mem_alloc_pool(&req->pool, root_len + file_len + 2);

    if (http_begin(req, &request_id, &unused) != 0)
        return;
    (void)path;
    reqctx_of(request_id)->route = route;
    memcpy(full, shim_settings.web_root, root_len);
    full[root_len] = '/';
    memcpy(full + root_len + 1, file, file_len);
    full[root_len + 1 + file_len] = '\0';

    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-request-id"), 0, "X-Request-Id", request_id.base,
                          request_id.len);
    add_header(req, "x-content-type-options", "nosniff");
    if (page) {
        add_header(req, "cache-control", "no-cache");
        add_header(req, "content-security-policy", WEB_CSP);
        add_header(req, "referrer-policy", "same-origin");
        add_header(req, "x-frame-options", "DENY");
    } else {
        add_header(req, "cache-control", "public, max-age=31536000, immutable");
    }
    if (h2o_file_send(req, 200, "OK", full, h2o_iovec_init(type, strlen(type)), H2O_FILE_FLAG_SEND_COMPRESSED) == 0) {
        http_observe(req, request_id, 200);
        return;
    }
    req->res.headers = (h2o_headers_t){NULL};
    send_error(req, request_id, 404, "not_found", "not found", NULL);
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    size_t len = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    const char *p = req->path.base;
    const char *type;

    (void)self;
    if (!web_enabled || !(h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) ||
                          h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"))))
        return -1;
    static const char *const admin[] = {"admin"};

    if (h2o_memis(p, len, H2O_STRLIT("/")) || under(p, len, site_pages, sizeof(site_pages) / sizeof(site_pages[0]))) {
        send_file(req, req->path, "/", H2O_STRLIT("index.html"), "text/html; charset=utf-8", 1);
        return 0;
    }
    if (under(p, len, admin, 1)) {
        send_file(req, req->path, "/admin", H2O_STRLIT("admin.html"), "text/html; charset=utf-8", 1);
        return 0;
    }
    if (len > 8 && memcmp(p, "/assets/", 8) == 0 && (type = asset_type(p + 8, len - 8)) != NULL) {
        send_file(req, req->path, "/assets/{file}", p + 1, len - 1, type, 0);
        return 0;
    }
    return -1;
}

void web_init(void)
{
    char index[4096];

    if (shim_settings.web_root == NULL || shim_settings.web_root[0] == '\0')
        return;
    snprintf(index, sizeof(index), "%s/index.html", shim_settings.web_root);
    web_enabled = access(index, R_OK) == 0;
    if (!web_enabled)
        log_write(LOG_WARN, "no web site: WEB_ROOT has no index.html (run make web)", "web_root", shim_settings.web_root, NULL);
}

void web_register(h2o_pathconf_t *pathconf)
{
    h2o_handler_t *handler = h2o_create_handler(pathconf, sizeof(*handler));

    handler->on_req = on_req;
}
