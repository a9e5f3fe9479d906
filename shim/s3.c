/*
 * The S3 file store (UPLOAD_STORE=s3): the bytes of uploads in an
 * S3-compatible bucket, path style (S3_ENDPOINT/S3_BUCKET/key), signed with
 * AWS Signature Version 4 (S3_REGION, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY).
 *
 * What is stored and who may read it is the extension's business: it checks
 * an upload (signature, size, type on the bytes) and names a transfer with
 * workon.set_store_transfer(), which workon.dispatch_bytes returns as the
 * columns store_op, store_key, store_sha256, store_content_type (api.c):
 *
 *   put <key> <sha256> <content type>   write the request body under key,
 *                                       then confirm (workon.upload_s3_stored)
 *   get <key>                           answer a redirect to a presigned URL
 *
 * Writes are signed in the Authorization header with the body's SHA-256 (the
 * one the extension computed: the bucket checks the bytes it gets are those
 * that were checked); reads are presigned URLs valid S3_PRESIGN_TTL seconds,
 * with the file's Content-Type, Content-Disposition and Cache-Control as
 * response-* overrides.  The secret is used here only: never logged, never
 * in the database, never in an error.
 */
#include "shim.h"
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static httpclient_origin_t s3_origin;

int s3_configured(void)
{
    return shim_settings.upload_store_s3;
}

static void s3_init(void)
{
    if (s3_configured())
        httpclient_origin_init(&s3_origin, shim_settings.s3_endpoint, shim_settings.request_timeout_ms);
}

/* a key the extension made: uploads/ and hex digits, nothing to encode */
static int valid_key(h2o_iovec_t key)
{
    size_t i;

    if (key.len < 9 || key.len > 200 || memcmp(key.base, "uploads/", 8) != 0)
        return 0;
    for (i = 8; i != key.len; ++i)
        if (!((key.base[i] >= '0' && key.base[i] <= '9') || (key.base[i] >= 'a' && key.base[i] <= 'f')))
            return 0;
    return 1;
}

static void hex(const unsigned char *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i != len; ++i) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
}

static void sha256_hex(const char *s, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;

    EVP_Digest(s, len, md, &mdlen, EVP_sha256(), NULL);
    hex(md, 32, out);
}

/* out may be key (the key derivation chains in place) */
static void hmac(const unsigned char *key, size_t keylen, const char *msg, unsigned char out[32])
{
    unsigned char md[32];
    unsigned int len = 32;

    HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)msg, strlen(msg), md, &len);
    memcpy(out, md, 32);
    OPENSSL_cleanse(md, sizeof(md));
}

/* amz date (yyyymmddThhmmssZ) and the scope's date (yyyymmdd) of now */
static void amz_dates(char stamp[17], char day[9])
{
    time_t now = time(NULL);
    struct tm tm;

    gmtime_r(&now, &tm);
    strftime(stamp, 17, "%Y%m%dT%H%M%SZ", &tm);
    memcpy(day, stamp, 8);
    day[8] = '\0';
}

/* the signature (hex) of a canonical request, SigV4: string to sign under the day's derived key */
static void sign(const char *canonical, size_t len, const char *stamp, const char *day, char out[65])
{
    const char *secret = shim_settings.s3_secret_access_key;
    char kdate_key[128], creq_hash[65], to_sign[256];
    unsigned char k[32];

    snprintf(kdate_key, sizeof(kdate_key), "AWS4%s", secret);
    hmac((const unsigned char *)kdate_key, strlen(kdate_key), day, k);
    OPENSSL_cleanse(kdate_key, sizeof(kdate_key));
    hmac(k, 32, shim_settings.s3_region, k);
    hmac(k, 32, "s3", k);
    hmac(k, 32, "aws4_request", k);
    sha256_hex(canonical, len, creq_hash);
    snprintf(to_sign, sizeof(to_sign), "AWS4-HMAC-SHA256\n%s\n%s/%s/s3/aws4_request\n%s", stamp, day, shim_settings.s3_region,
             creq_hash);
    {
        unsigned char sig[32];
        hmac(k, 32, to_sign, sig);
        hex(sig, 32, out);
    }
    OPENSSL_cleanse(k, sizeof(k));
}

/* RFC 3986 percent-encoding of everything but unreserved characters, as SigV4 wants it */
static void uri_encode(strbuf_t *b, const char *s, size_t len)
{
    size_t i;

    for (i = 0; i != len; ++i) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
            c == '~')
            strbuf_add(b, (const char *)&c, 1);
        else
            strbuf_printf(b, "%%%02X", c);
    }
}

/* the object's path: the endpoint's base path, the bucket, the key */
static h2o_iovec_t object_path(h2o_mem_pool_t *pool, h2o_iovec_t key)
{
    strbuf_t b;

    strbuf_init(&b, pool, 64 + s3_origin.url.path.len + key.len);
    strbuf_printf(&b, "%.*s/%s/%.*s", (int)s3_origin.url.path.len, s3_origin.url.path.base, shim_settings.s3_bucket,
                  (int)key.len, key.base);
    return strbuf_finish(&b);
}

/* ------------------------------------------------------------------------ */
/* GET: a presigned URL */

const char *s3_presign(h2o_mem_pool_t *pool, const char *method, h2o_iovec_t key, const s3_overrides_t *o)
{
    const h2o_url_t *url = &s3_origin.url;
    char stamp[17], day[9], sig[65];
    h2o_iovec_t path, query, creq;
    strbuf_t q, c, u;

    if (!valid_key(key))
        return NULL;
    amz_dates(stamp, day);
    path = object_path(pool, key);

    /* the query, its names in byte order (X-Amz-* before response-*) */
    strbuf_init(&q, pool, 512);
    strbuf_printf(&q, "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=");
    {
        char cred[256];
        int n = snprintf(cred, sizeof(cred), "%s/%s/%s/s3/aws4_request", shim_settings.s3_access_key_id, day,
                         shim_settings.s3_region);
        uri_encode(&q, cred, (size_t)n);
    }
    strbuf_printf(&q, "&X-Amz-Date=%s&X-Amz-Expires=%d&X-Amz-SignedHeaders=host", stamp, S3_PRESIGN_TTL);
    if (o->cache_control.base != NULL) {
        strbuf_printf(&q, "&response-cache-control=");
        uri_encode(&q, o->cache_control.base, o->cache_control.len);
    }
    if (o->content_disposition.base != NULL) {
        strbuf_printf(&q, "&response-content-disposition=");
        uri_encode(&q, o->content_disposition.base, o->content_disposition.len);
    }
    if (o->content_type.base != NULL) {
        strbuf_printf(&q, "&response-content-type=");
        uri_encode(&q, o->content_type.base, o->content_type.len);
    }
    query = strbuf_finish(&q);

    strbuf_init(&c, pool, 256 + path.len + query.len);
    strbuf_printf(&c, "%s\n%.*s\n%.*s\nhost:%.*s\n\nhost\nUNSIGNED-PAYLOAD", method, (int)path.len, path.base, (int)query.len,
                  query.base, (int)url->authority.len, url->authority.base);
    creq = strbuf_finish(&c);
    sign(creq.base, creq.len, stamp, day, sig);

    strbuf_init(&u, pool, 128 + url->authority.len + path.len + query.len);
    strbuf_printf(&u, "%s://%.*s%.*s?%.*s&X-Amz-Signature=%s", url->scheme->name.base, (int)url->authority.len,
                  url->authority.base, (int)path.len, path.base, (int)query.len, query.base, sig);
    return strbuf_finish(&u).base;
}

/* ------------------------------------------------------------------------ */
/* requests signed in the Authorization header: PUT of the bytes, DELETE */

/* the SHA-256 of no bytes, a DELETE's payload */
static const char empty_sha256[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/*
 * Fills r (origin, path, header lines) for method on key with the payload's
 * SHA-256 (hex); content_type (base NULL for none) is signed too.
 */
static void sign_headers(h2o_mem_pool_t *pool, const char *method, h2o_iovec_t key, h2o_iovec_t content_type,
                         const char *payload_hash, httpclient_request_t *r)
{
    char stamp[17], day[9], sig[65];
    const char *signed_headers = content_type.base != NULL ? "content-type;host;x-amz-content-sha256;x-amz-date"
                                                           : "host;x-amz-content-sha256;x-amz-date";
    h2o_iovec_t path = object_path(pool, key), creq;
    strbuf_t c, h;

    amz_dates(stamp, day);
    strbuf_init(&c, pool, 512 + path.len);
    strbuf_printf(&c, "%s\n%.*s\n\n", method, (int)path.len, path.base);
    if (content_type.base != NULL)
        strbuf_printf(&c, "content-type:%.*s\n", (int)content_type.len, content_type.base);
    strbuf_printf(&c, "host:%.*s\nx-amz-content-sha256:%s\nx-amz-date:%s\n\n%s\n%s", (int)s3_origin.url.authority.len,
                  s3_origin.url.authority.base, payload_hash, stamp, signed_headers, payload_hash);
    creq = strbuf_finish(&c);
    sign(creq.base, creq.len, stamp, day, sig);

    strbuf_init(&h, pool, 512);
    if (content_type.base != NULL)
        strbuf_printf(&h, "Content-Type: %.*s\r\n", (int)content_type.len, content_type.base);
    strbuf_printf(&h,
                  "x-amz-content-sha256: %s\r\nx-amz-date: %s\r\n"
                  "Authorization: AWS4-HMAC-SHA256 Credential=%s/%s/%s/s3/aws4_request, SignedHeaders=%s, Signature=%s\r\n",
                  payload_hash, stamp, shim_settings.s3_access_key_id, day, shim_settings.s3_region, signed_headers, sig);

    memset(r, 0, sizeof(*r));
    r->origin = &s3_origin;
    r->method = method;
    /* httpclient puts the base path first */
    r->path = h2o_strdup(pool, path.base + s3_origin.url.path.len, path.len - s3_origin.url.path.len).base;
    r->headers = strbuf_finish(&h);
}

httpclient_t *s3_put(worker_t *w, h2o_mem_pool_t *pool, h2o_iovec_t key, h2o_iovec_t sha256, h2o_iovec_t content_type,
                     h2o_iovec_t body, httpclient_cb cb, void *data, const char **err)
{
    char body_hash[65];
    httpclient_request_t r;
    size_t i;

    *err = NULL;
    if (!valid_key(key) || sha256.len != 64 || content_type.len == 0 || content_type.len > 100) {
        *err = "the extension's store directive is malformed";
        return NULL;
    }
    for (i = 0; i != content_type.len; ++i)
        if ((unsigned char)content_type.base[i] <= 0x20 || (unsigned char)content_type.base[i] >= 0x7f) {
            *err = "the extension's store directive is malformed";
            return NULL;
        }
    /* the bytes sent are those the extension checked */
    sha256_hex(body.base, body.len, body_hash);
    if (memcmp(body_hash, sha256.base, 64) != 0) {
        *err = "the body's SHA-256 is not the one the extension checked";
        return NULL;
    }
    sign_headers(pool, "PUT", key, content_type, body_hash, &r);
    r.body = body;
    /* the request body h2o holds: the call cancels the write before the request goes */
    r.borrow_body = 1;
    return httpclient_send(w, &r, cb, data, err);
}

/* ------------------------------------------------------------------------ */
/* the outbox transport of kind s3: DELETE of the object of a deleted upload */

static const char *s3_build(const outbox_row_t *row, h2o_mem_pool_t *pool, httpclient_request_t *req)
{
    h2o_iovec_t key = h2o_iovec_init(row->path + 1, strlen(row->path) - 1);

    if (strcmp(row->method, "DELETE") != 0 || row->path[0] != '/' || !valid_key(key))
        return "an s3 outbox row must be DELETE /uploads/<hex>";
    sign_headers(pool, "DELETE", key, h2o_iovec_init(NULL, 0), empty_sha256, req);
    return NULL;
}

static void s3_interpret(const httpclient_response_t *res, unsigned resends, h2o_mem_pool_t *pool, transport_verdict_t *v)
{
    char msg[96];

    (void)resends;
    if (res->status >= 500 || res->status == 429 || res->status < 200 || (res->status >= 300 && res->status < 400)) {
        snprintf(msg, sizeof(msg), "the bucket answered HTTP %d", res->status);
        v->action = TRANSPORT_RETRY;
        v->error = h2o_strdup(pool, msg, SIZE_MAX).base;
        return;
    }
    v->action = TRANSPORT_DONE;
    if (res->status < 300 || res->status == 404) {
        /* gone, or never there */
        v->status = 200;
        v->body = h2o_iovec_init(H2O_STRLIT("{}"));
        return;
    }
    v->status = res->status;
    snprintf(msg, sizeof(msg), "{\"error\":{\"code\":\"s3\",\"message\":\"the bucket answered HTTP %d\"}}", res->status);
    v->body = h2o_strdup(pool, msg, SIZE_MAX);
}

const transport_t s3_transport = {
    "s3",
    "the S3 store",
    "bucket request without UPLOAD_STORE=s3, answering 503",
    "unavailable",
    "the file store is not configured on this server",
    s3_init,
    s3_configured,
    s3_build,
    s3_interpret,
    NULL,
    NULL,
    0,
};
