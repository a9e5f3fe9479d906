/*
 * Whose token a request carries, for the rate limiter only.
 *
 * The extension is the authority on tokens: workon.dispatch verifies every
 * one.  The shim verifies a bearer token too, before the call, for one
 * thing: to count the request against its user's budget from the first
 * request on, whatever the budget of the address it comes from.  A token
 * the shim cannot vouch for (malformed, unknown kid, another algorithm than
 * its key's, a bad signature, expired, not yet valid, another issuer or
 * audience, a subject that is not a UUID) counts against the address.
 *
 * The keys come from the extension: workon.jwt_verification_keys() (HS256
 * secrets, ES256 public keys), read by the first thread's control
 * connection after every connect and on NOTIFY workon_jwt_keys (control.c).
 * A key set is immutable once published; a reload swaps the pointer under a
 * write lock and frees the old set, readers hold the read lock for one
 * verification.  Each set has a generation number, so that what was
 * verified with an older set is verified again (ratelimit.c's cache).
 *
 * HS256: HMAC-SHA256 from a keyed EVP_MAC context made once per key and
 * copied per verification, compared in constant time (CRYPTO_memcmp).
 * ES256: ECDSA P-256 over SHA-256, the JOSE r || s signature turned into
 * DER for OpenSSL.  The claims are read only once the signature holds, so
 * they are the extension's own JSON.
 */
#include "shim.h"
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TOKEN_MAX_BYTES 8192
#define TOKEN_HEADER_MAX 1024
#define KID_MAX 64

enum {
    ALG_HS256 = 1,
    ALG_ES256,
};

typedef struct st_token_key_t {
    char kid[KID_MAX + 1];
    int alg;
    EVP_MAC_CTX *hmac; /* HS256: keyed, copied for each use */
    EVP_PKEY *pkey;    /* ES256: the public key */
} token_key_t;

typedef struct st_token_keyset_t {
    uint32_t generation;
    size_t num_keys;
    token_key_t keys[];
} token_keyset_t;

/* writers first: a reload must not wait behind a stream of verifications on other threads */
static pthread_rwlock_t keys_lock = PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;
static token_keyset_t *keys;
static uint32_t keys_generation;
static EVP_MAC *hmac_mac;

/* ------------------------------------------------------------------------ */
/* keys */

static void keyset_free(token_keyset_t *set)
{
    size_t i;

    if (set == NULL)
        return;
    for (i = 0; i != set->num_keys; ++i) {
        EVP_MAC_CTX_free(set->keys[i].hmac);
        EVP_PKEY_free(set->keys[i].pkey);
    }
    free(set);
}

static EVP_MAC_CTX *hmac_key_new(const unsigned char *secret, size_t len)
{
    EVP_MAC_CTX *ctx;
    OSSL_PARAM params[] = {OSSL_PARAM_utf8_string("digest", "SHA256", 0), OSSL_PARAM_END};

    if (hmac_mac == NULL && (hmac_mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL)
        return NULL;
    if ((ctx = EVP_MAC_CTX_new(hmac_mac)) == NULL)
        return NULL;
    if (EVP_MAC_init(ctx, secret, len, params) != 1) {
        EVP_MAC_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

static EVP_PKEY *es256_public_key(const char *pem, size_t len)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    EVP_PKEY *pkey = bio != NULL ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
    char group[64];

    BIO_free(bio);
    if (pkey != NULL && (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_EC ||
                         EVP_PKEY_get_group_name(pkey, group, sizeof(group), NULL) != 1 || strcmp(group, "prime256v1") != 0)) {
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }
    return pkey;
}

/* one row of workon.jwt_verification_keys() (kid, alg, secret bytea, public_key text); 0 when usable */
static int key_from_row(PGresult *res, int row, token_key_t *key)
{
    const char *kid = PQgetvalue(res, row, 0), *alg = PQgetvalue(res, row, 1);
    int rc = -1;

    memset(key, 0, sizeof(*key));
    if (strlen(kid) > KID_MAX)
        return -1;
    strcpy(key->kid, kid);
    if (strcmp(alg, "HS256") == 0 && !PQgetisnull(res, row, 2)) {
        size_t len;
        unsigned char *secret = PQunescapeBytea((const unsigned char *)PQgetvalue(res, row, 2), &len);
        if (secret != NULL) {
            key->alg = ALG_HS256;
            if ((key->hmac = hmac_key_new(secret, len)) != NULL)
                rc = 0;
            OPENSSL_cleanse(secret, len);
            PQfreemem(secret);
        }
    } else if (strcmp(alg, "ES256") == 0 && !PQgetisnull(res, row, 3)) {
        key->alg = ALG_ES256;
        if ((key->pkey = es256_public_key(PQgetvalue(res, row, 3), PQgetlength(res, row, 3))) != NULL)
            rc = 0;
    }
    return rc;
}

int token_keys_load(PGresult *res)
{
    token_keyset_t *set, *old;
    int i, n;

    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQnfields(res) != 4)
        return -1;
    n = PQntuples(res);
    if ((set = calloc(1, sizeof(*set) + sizeof(set->keys[0]) * (size_t)n)) == NULL)
        return -1;
    for (i = 0; i != n; ++i)
        if (key_from_row(res, i, set->keys + set->num_keys) == 0)
            ++set->num_keys;
    pthread_rwlock_wrlock(&keys_lock);
    old = keys;
    set->generation = keys_generation + 1;
    keys = set;
    __atomic_store_n(&keys_generation, set->generation, __ATOMIC_RELEASE);
    pthread_rwlock_unlock(&keys_lock);
    keyset_free(old);
    return (int)set->num_keys;
}

uint32_t token_keys_generation(void)
{
    return __atomic_load_n(&keys_generation, __ATOMIC_ACQUIRE);
}

/* ------------------------------------------------------------------------ */
/* the token's parts */

static int b64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

/* unpadded base64url into out (room for len * 3 / 4 bytes); its length, or -1 */
static ssize_t b64url_decode(const char *s, size_t len, unsigned char *out)
{
    uint32_t acc = 0;
    size_t i, n = 0;
    int bits = 0;

    if (len % 4 == 1)
        return -1;
    for (i = 0; i != len; ++i) {
        int v = b64url_value((unsigned char)s[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char)(acc >> bits);
        }
    }
    if ((acc & ((1u << bits) - 1)) != 0) /* canonical: no stray bits */
        return -1;
    return (ssize_t)n;
}

/* a string member of a JSON object (its raw text, escapes left in); base NULL when absent or not a string */
static h2o_iovec_t string_member(h2o_iovec_t obj, const char *name)
{
    h2o_iovec_t v = json_member(obj, name);

    if (v.base == NULL || v.base == obj.base || v.base[-1] != '"')
        return h2o_iovec_init(NULL, 0);
    return v;
}

static int iovec_is(h2o_iovec_t v, const char *s)
{
    size_t len = strlen(s);

    return v.base != NULL && v.len == len && memcmp(v.base, s, len) == 0;
}

/* a number member as whole seconds; 0 when absent, -1 when not a number */
static int number_member(h2o_iovec_t obj, const char *name, double *out)
{
    h2o_iovec_t v = json_member(obj, name);
    char buf[32], *end;

    if (v.base == NULL)
        return 0;
    if (v.base[-1] == '"' || v.len >= sizeof(buf))
        return -1;
    memcpy(buf, v.base, v.len);
    buf[v.len] = '\0';
    *out = strtod(buf, &end);
    return end == buf + v.len ? 1 : -1;
}

/* aud: the audience, or an array holding it */
static int audience_matches(h2o_iovec_t payload, const char *audience)
{
    h2o_iovec_t v = json_member(payload, "aud");
    const char *p, *end;

    if (v.base == NULL)
        return 0;
    if (v.base[-1] == '"')
        return iovec_is(v, audience);
    if (v.len < 2 || v.base[0] != '[')
        return 0;
    p = json_skip_ws(v.base + 1, v.base + v.len);
    end = v.base + v.len;
    while (p != end && *p == '"') {
        const char *q = json_skip_value(p, end);
        if (q == NULL)
            return 0;
        if (iovec_is(h2o_iovec_init(p + 1, q - p - 2), audience))
            return 1;
        p = json_skip_ws(q, end);
        if (p != end && *p == ',')
            p = json_skip_ws(p + 1, end);
    }
    return 0;
}

/* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" to 16 bytes; -1 if it is not a UUID */
int parse_uuid(h2o_iovec_t s, uint8_t out[16])
{
    size_t i, n = 0;

    if (s.len != 36)
        return -1;
    for (i = 0; i != 36; ++i) {
        int v, c = (unsigned char)s.base[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return -1;
            continue;
        }
        if (c >= '0' && c <= '9')
            v = c - '0';
        else if (c >= 'a' && c <= 'f')
            v = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v = c - 'A' + 10;
        else
            return -1;
        if (n % 2 == 0)
            out[n / 2] = (uint8_t)(v << 4);
        else
            out[n / 2] |= (uint8_t)v;
        ++n;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* signatures */

static int hs256_valid(const token_key_t *key, const char *input, size_t len, const unsigned char *sig, size_t siglen)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    size_t maclen = 0;
    EVP_MAC_CTX *ctx;
    int ok;

    if (siglen != 32 || (ctx = EVP_MAC_CTX_dup(key->hmac)) == NULL)
        return 0;
    ok = EVP_MAC_update(ctx, (const unsigned char *)input, len) == 1 && EVP_MAC_final(ctx, mac, &maclen, sizeof(mac)) == 1 &&
         maclen == 32 && CRYPTO_memcmp(mac, sig, 32) == 0;
    EVP_MAC_CTX_free(ctx);
    return ok;
}

static int es256_valid(const token_key_t *key, const char *input, size_t len, const unsigned char *sig, size_t siglen)
{
    ECDSA_SIG *s;
    BIGNUM *r, *sv;
    unsigned char *der = NULL;
    EVP_MD_CTX *ctx;
    int derlen, ok = 0;

    if (siglen != 64 || (s = ECDSA_SIG_new()) == NULL)
        return 0;
    r = BN_bin2bn(sig, 32, NULL);
    sv = BN_bin2bn(sig + 32, 32, NULL);
    if (r == NULL || sv == NULL || ECDSA_SIG_set0(s, r, sv) != 1) {
        BN_free(r);
        BN_free(sv);
        ECDSA_SIG_free(s);
        return 0;
    }
    derlen = i2d_ECDSA_SIG(s, &der);
    ECDSA_SIG_free(s);
    if (derlen > 0 && (ctx = EVP_MD_CTX_new()) != NULL) {
        ok = EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key->pkey) == 1 &&
             EVP_DigestVerify(ctx, der, (size_t)derlen, (const unsigned char *)input, len) == 1;
        EVP_MD_CTX_free(ctx);
    }
    OPENSSL_free(der);
    return ok;
}

/* whether the signature is that of the key the header names, with the key's algorithm */
static int signature_valid(h2o_iovec_t kid, h2o_iovec_t alg, const char *input, size_t len, const unsigned char *sig,
                           size_t siglen, uint32_t *generation)
{
    int want = iovec_is(alg, "HS256") ? ALG_HS256 : iovec_is(alg, "ES256") ? ALG_ES256 : 0, ok = 0;
    size_t i;

    if (want == 0 || kid.len == 0 || kid.len > KID_MAX)
        return 0;
    pthread_rwlock_rdlock(&keys_lock);
    if (keys != NULL) {
        *generation = keys->generation;
        for (i = 0; i != keys->num_keys; ++i) {
            const token_key_t *key = keys->keys + i;
            if (strlen(key->kid) != kid.len || memcmp(key->kid, kid.base, kid.len) != 0)
                continue;
            if (key->alg == want)
                ok = want == ALG_HS256 ? hs256_valid(key, input, len, sig, siglen) : es256_valid(key, input, len, sig, siglen);
            break;
        }
    }
    pthread_rwlock_unlock(&keys_lock);
    return ok;
}

/* ------------------------------------------------------------------------ */

int token_verify(const char *token, size_t len, time_t now, token_owner_t *owner)
{
    const char *dot1, *dot2, *end = token + len;
    unsigned char header[TOKEN_HEADER_MAX], payload[TOKEN_MAX_BYTES], sig[TOKEN_MAX_BYTES];
    ssize_t header_len, payload_len, sig_len;
    h2o_iovec_t hdr, claims;
    double exp, t;
    int r;

    if (len == 0 || len > TOKEN_MAX_BYTES)
        return -1;
    if ((dot1 = memchr(token, '.', len)) == NULL || (dot2 = memchr(dot1 + 1, '.', end - dot1 - 1)) == NULL ||
        memchr(dot2 + 1, '.', end - dot2 - 1) != NULL)
        return -1;
    if ((size_t)(dot1 - token) > TOKEN_HEADER_MAX * 4 / 3 ||
        (header_len = b64url_decode(token, dot1 - token, header)) <= 0 || json_validate((char *)header, header_len) != 0)
        return -1;
    hdr = h2o_iovec_init(header, header_len);
    if ((sig_len = b64url_decode(dot2 + 1, end - dot2 - 1, sig)) < 0 ||
        !signature_valid(string_member(hdr, "kid"), string_member(hdr, "alg"), token, dot2 - token, sig, (size_t)sig_len,
                         &owner->generation))
        return -1;

    /* signed by one of the extension's keys: the claims are the extension's JSON */
    if ((payload_len = b64url_decode(dot1 + 1, dot2 - dot1 - 1, payload)) <= 0 || json_validate((char *)payload, payload_len) != 0)
        return -1;
    claims = h2o_iovec_init(payload, payload_len);
    if (number_member(claims, "exp", &exp) != 1 || (double)now > exp + TOKEN_LEEWAY_SECONDS)
        return -1;
    if ((r = number_member(claims, "nbf", &t)) < 0 || (r == 1 && (double)now + TOKEN_LEEWAY_SECONDS < t))
        return -1;
    if ((r = number_member(claims, "iat", &t)) < 0 || (r == 1 && (double)now + TOKEN_LEEWAY_SECONDS < t))
        return -1;
    if (!iovec_is(string_member(claims, "iss"), shim_settings.jwt_issuer) ||
        !audience_matches(claims, shim_settings.jwt_audience) || parse_uuid(string_member(claims, "sub"), owner->user) != 0)
        return -1;
    owner->exp = exp >= 4e9 ? (int64_t)4e9 : (int64_t)exp;
    return 0;
}

void token_cleanup(void)
{
    pthread_rwlock_wrlock(&keys_lock);
    keyset_free(keys);
    keys = NULL;
    pthread_rwlock_unlock(&keys_lock);
    EVP_MAC_free(hmac_mac);
    hmac_mac = NULL;
}
