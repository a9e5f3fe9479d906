/*
 * token_test: checks of token.c without a server or a database (make -C shim check).
 *
 * Tokens are made here with OpenSSL (HS256 and ES256), keys are handed over as the
 * rows workon.jwt_verification_keys() returns (a PGresult built with libpq's own
 * functions), and every way a token can fail is tried.  Last, the cost of one
 * verification of each algorithm (CPU time of the thread, so that a busy machine
 * does not count the time it ran other work).
 */
#include "shim.h"
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

shim_settings_t shim_settings = {.jwt_issuer = "workon", .jwt_audience = "workon-api"};

static const char *SUB = "5b1f4e2c-8f8a-4d8e-9d1c-0a0b0c0d0e0f";
static const unsigned char SECRET[] = "a secret of more than thirty-two bytes, for tests only";
static int checks, failures;

static void check(int ok, const char *what)
{
    ++checks;
    if (!ok) {
        ++failures;
        fprintf(stderr, "token_test: FAILED: %s\n", what);
    }
}

/* ------------------------------------------------------------------------ */
/* making tokens */

static void b64url(char *dst, const unsigned char *src, size_t len)
{
    size_t n = (size_t)EVP_EncodeBlock((unsigned char *)dst, src, (int)len), i;

    while (n != 0 && dst[n - 1] == '=')
        --n;
    dst[n] = '\0';
    for (i = 0; i != n; ++i)
        dst[i] = dst[i] == '+' ? '-' : dst[i] == '/' ? '_' : dst[i];
}

/* header.payload, signed with the HS256 secret or the ES256 private key (whichever is given) */
static char *sign(const char *header, const char *payload, const unsigned char *secret, size_t secret_len, EVP_PKEY *pkey)
{
    size_t hlen = strlen(header), plen = strlen(payload);
    char *token = malloc((hlen + plen) * 2 + 256);
    unsigned char sig[64];

    b64url(token, (const unsigned char *)header, hlen);
    strcat(token, ".");
    b64url(token + strlen(token), (const unsigned char *)payload, plen);
    if (pkey == NULL) {
        unsigned int len = 0;
        HMAC(EVP_sha256(), secret, (int)secret_len, (unsigned char *)token, strlen(token), sig, &len);
    } else {
        unsigned char der[128];
        const unsigned char *p = der;
        size_t derlen = sizeof(der);
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        ECDSA_SIG *s;
        EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, pkey);
        EVP_DigestSign(ctx, der, &derlen, (unsigned char *)token, strlen(token));
        EVP_MD_CTX_free(ctx);
        s = d2i_ECDSA_SIG(NULL, &p, (long)derlen);
        BN_bn2binpad(ECDSA_SIG_get0_r(s), sig, 32);
        BN_bn2binpad(ECDSA_SIG_get0_s(s), sig + 32, 32);
        ECDSA_SIG_free(s);
    }
    strcat(token, ".");
    b64url(token + strlen(token), sig, pkey == NULL ? 32 : 64);
    return token;
}

static char *claims(const char *extra_first, long exp_from_now)
{
    char *buf = malloc(512);

    snprintf(buf, 512, "{%s\"sub\":\"%s\",\"role\":\"member\",\"iss\":\"workon\",\"aud\":\"workon-api\",\"iat\":%ld,\"exp\":%ld}",
             extra_first, SUB, (long)time(NULL), (long)time(NULL) + exp_from_now);
    return buf;
}

/* ------------------------------------------------------------------------ */
/* keys as workon.jwt_verification_keys() returns them */

static PGresult *keys_result(int with_hs, EVP_PKEY *es)
{
    PGresAttDesc attrs[4] = {{.name = "kid", .format = 0}, {.name = "alg"}, {.name = "secret"}, {.name = "public_key"}};
    PGresult *res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    int row = 0;

    PQsetResultAttrs(res, 4, attrs);
    if (with_hs) {
        char hex[2 + 2 * sizeof(SECRET) + 1] = "\\x";
        size_t i;
        for (i = 0; i != sizeof(SECRET) - 1; ++i)
            sprintf(hex + 2 + 2 * i, "%02x", SECRET[i]);
        PQsetvalue(res, row, 0, "hs-1", 4);
        PQsetvalue(res, row, 1, "HS256", 5);
        PQsetvalue(res, row, 2, hex, (int)strlen(hex));
        PQsetvalue(res, row, 3, NULL, -1);
        ++row;
    }
    if (es != NULL) {
        BIO *bio = BIO_new(BIO_s_mem());
        char *pem;
        long len;
        PEM_write_bio_PUBKEY(bio, es);
        len = BIO_get_mem_data(bio, &pem);
        PQsetvalue(res, row, 0, "es-1", 4);
        PQsetvalue(res, row, 1, "ES256", 5);
        PQsetvalue(res, row, 2, NULL, -1);
        PQsetvalue(res, row, 3, pem, (int)len);
        BIO_free(bio);
        ++row;
    }
    /* a key of an algorithm the shim does not know is left out, the others still load */
    PQsetvalue(res, row, 0, "rs-1", 4);
    PQsetvalue(res, row, 1, "RS256", 5);
    PQsetvalue(res, row, 2, "\\x00", 4);
    PQsetvalue(res, row, 3, NULL, -1);
    return res;
}

static int verifies(const char *token)
{
    token_owner_t owner;

    return token_verify(token, strlen(token), time(NULL), &owner) == 0;
}

static double per_verification_us(const char *token, int n)
{
    struct timespec t0, t1;
    token_owner_t owner;
    int i, ok = 1;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
    for (i = 0; i != n; ++i)
        ok &= token_verify(token, strlen(token), time(NULL), &owner) == 0;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
    check(ok, "every timed verification succeeds");
    return ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / 1e3 / n;
}

int main(void)
{
    EVP_PKEY *es = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"), *other_es = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    const unsigned char other[] = "another secret of more than thirty-two bytes";
    const char *hs = "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"hs-1\"}", *esh = "{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"es-1\"}";
    char *good = sign(hs, claims("", 600), SECRET, sizeof(SECRET) - 1, NULL), *good_es = sign(esh, claims("", 600), NULL, 0, es);
    char *pem = NULL, buf[16384], *tampered;
    token_owner_t owner;
    uint8_t sub[16];
    uint32_t generation;
    PGresult *res;
    BIO *bio;
    long pemlen;

    /* no keys yet: nothing verifies */
    check(!verifies(good), "no key set: refused");
    res = keys_result(1, es);
    check(token_keys_load(res) == 2, "two usable keys of three rows");
    PQclear(res);
    generation = token_keys_generation();

    /* the good ones */
    check(token_verify(good, strlen(good), time(NULL), &owner) == 0, "HS256 token");
    parse_uuid(h2o_iovec_init(SUB, strlen(SUB)), sub);
    check(memcmp(owner.user, sub, 16) == 0, "its sub is the owner");
    check(owner.generation == generation && owner.exp > time(NULL), "with the key set's generation and its exp");
    check(verifies(good_es), "ES256 token");
    check(verifies(sign(hs, "{\"sub\":\"5b1f4e2c-8f8a-4d8e-9d1c-0a0b0c0d0e0f\",\"iss\":\"workon\",\"aud\":[\"x\",\"workon-api\"],\"exp\":4102444800}",
                        SECRET, sizeof(SECRET) - 1, NULL)),
          "aud: an array holding the audience");
    check(verifies(sign(hs, claims("", -20), SECRET, sizeof(SECRET) - 1, NULL)), "expired less than 30 s ago: leeway");
    check(verifies(sign(hs, claims("\"nbf\":1,", 600), SECRET, sizeof(SECRET) - 1, NULL)), "nbf in the past");

    /* the bad ones */
    tampered = strdup(good);
    tampered[strlen(tampered) - 2] = tampered[strlen(tampered) - 2] == 'A' ? 'B' : 'A';
    check(!verifies(tampered), "signature tampered");
    check(!verifies(sign(hs, claims("", 600), other, sizeof(other) - 1, NULL)), "signed with another secret");
    check(!verifies(sign(esh, claims("", 600), NULL, 0, other_es)), "signed with another P-256 key");
    check(!verifies(sign("{\"alg\":\"HS256\",\"kid\":\"nope\"}", claims("", 600), SECRET, sizeof(SECRET) - 1, NULL)), "unknown kid");
    check(!verifies(sign("{\"alg\":\"HS256\"}", claims("", 600), SECRET, sizeof(SECRET) - 1, NULL)), "no kid");
    check(!verifies(sign("{\"alg\":\"HS256\",\"kid\":\"rs-1\"}", claims("", 600), (unsigned char *)"\0", 1, NULL)),
          "a kid of an algorithm the shim does not know");
    check(!verifies(sign("{\"alg\":\"ES256\",\"kid\":\"hs-1\"}", claims("", 600), SECRET, sizeof(SECRET) - 1, NULL)),
          "alg ES256 on an HS256 key");
    bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(bio, es);
    pemlen = BIO_get_mem_data(bio, &pem);
    check(!verifies(sign("{\"alg\":\"HS256\",\"kid\":\"es-1\"}", claims("", 600), (unsigned char *)pem, (size_t)pemlen, NULL)),
          "alg HS256 on an ES256 key, its public key as the secret");
    BIO_free(bio);
    check(!verifies(sign("{\"alg\":\"none\",\"kid\":\"hs-1\"}", claims("", 600), SECRET, sizeof(SECRET) - 1, NULL)), "alg none");
    check(!verifies(sign("{\"alg\":\"HS384\",\"kid\":\"hs-1\"}", claims("", 600), SECRET, sizeof(SECRET) - 1, NULL)), "alg HS384");
    check(!verifies(sign("{\"alg\":1,\"kid\":\"hs-1\"}", claims("", 600), SECRET, sizeof(SECRET) - 1, NULL)), "alg not a string");
    check(!verifies(sign("[\"alg\",\"HS256\"]", claims("", 600), SECRET, sizeof(SECRET) - 1, NULL)), "header not an object");
    check(!verifies(sign("{\"alg\":\"HS256\",\"kid\":\"hs-1\"", claims("", 600), SECRET, sizeof(SECRET) - 1, NULL)), "header not JSON");
    check(!verifies(sign(hs, claims("", -31), SECRET, sizeof(SECRET) - 1, NULL)), "expired");
    check(!verifies(sign(hs, "{\"sub\":\"5b1f4e2c-8f8a-4d8e-9d1c-0a0b0c0d0e0f\",\"iss\":\"workon\",\"aud\":\"workon-api\"}", SECRET,
                         sizeof(SECRET) - 1, NULL)),
          "no exp");
    check(!verifies(sign(hs, "{\"sub\":\"5b1f4e2c-8f8a-4d8e-9d1c-0a0b0c0d0e0f\",\"iss\":\"workon\",\"aud\":\"workon-api\",\"exp\":\"4102444800\"}",
                         SECRET, sizeof(SECRET) - 1, NULL)),
          "exp a string");
    snprintf(buf, sizeof(buf), "\"nbf\":%ld,", (long)time(NULL) + 60);
    check(!verifies(sign(hs, claims(buf, 600), SECRET, sizeof(SECRET) - 1, NULL)), "not yet valid");
    snprintf(buf, sizeof(buf), "{\"iat\":%ld,\"sub\":\"%s\",\"iss\":\"workon\",\"aud\":\"workon-api\",\"exp\":4102444800}",
             (long)time(NULL) + 60, SUB);
    check(!verifies(sign(hs, buf, SECRET, sizeof(SECRET) - 1, NULL)), "issued in the future");
    check(!verifies(sign(hs, "{\"sub\":\"5b1f4e2c-8f8a-4d8e-9d1c-0a0b0c0d0e0f\",\"iss\":\"evil\",\"aud\":\"workon-api\",\"exp\":4102444800}",
                         SECRET, sizeof(SECRET) - 1, NULL)),
          "another issuer");
    check(!verifies(sign(hs, "{\"sub\":\"5b1f4e2c-8f8a-4d8e-9d1c-0a0b0c0d0e0f\",\"iss\":\"workon\",\"aud\":[\"x\"],\"exp\":4102444800}",
                         SECRET, sizeof(SECRET) - 1, NULL)),
          "another audience");
    check(!verifies(sign(hs, "{\"sub\":\"admin\",\"iss\":\"workon\",\"aud\":\"workon-api\",\"exp\":4102444800}", SECRET,
                         sizeof(SECRET) - 1, NULL)),
          "a subject that is not a UUID");
    check(!verifies("not.a.token"), "garbage");
    check(!verifies(""), "empty");
    snprintf(buf, sizeof(buf), "%s.x", good);
    check(!verifies(buf), "four parts");
    snprintf(buf, sizeof(buf), "%s=", good);
    check(!verifies(buf), "padding");
    snprintf(buf, sizeof(buf), "%.*sx", (int)strlen(good) - 1, good);
    check(!verifies(buf), "a last character with stray bits, or another signature");
    memset(buf, 'A', sizeof(buf) - 1);
    buf[sizeof(buf) - 1] = '\0';
    memcpy(buf, good, strlen(good));
    check(!verifies(buf), "longer than 8 KiB");

    /* a bad result keeps the keys; a new set forgets the retired key and has a new generation */
    res = PQmakeEmptyPGresult(NULL, PGRES_FATAL_ERROR);
    check(token_keys_load(res) == -1 && verifies(good), "a failed load keeps the keys");
    PQclear(res);
    res = keys_result(0, es);
    check(token_keys_load(res) == 1, "one usable key of two rows");
    PQclear(res);
    check(token_keys_generation() == generation + 1, "a new generation");
    check(!verifies(good) && verifies(good_es), "the HS256 key gone, the ES256 key kept");

    res = keys_result(1, es);
    token_keys_load(res);
    PQclear(res);
    printf("token_test: %d checks, %d failed; one verification: HS256 %.2f us, ES256 %.2f us\n", checks, failures,
           per_verification_us(good, 100000), per_verification_us(good_es, 2000));
    token_cleanup();
    EVP_PKEY_free(es);
    EVP_PKEY_free(other_es);
    return failures == 0 ? 0 : 1;
}
