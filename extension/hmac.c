/*-------------------------------------------------------------------------
 *
 * hmac.c
 *	  HMAC-SHA256 (RFC 2104): in one go, and from precomputed key states.
 *
 * workon_hmac_sha256() is OpenSSL's HMAC(), for keys used once (webhook
 * secrets, refresh-token hashes, signing); SQL calls it as
 * workon.hmac_sha256().
 *
 * Verifying an HS256 token is one HMAC under one of a few keys.  OpenSSL
 * 3's EVP_MAC re-keys from a duplicate of its context on every call, and
 * duplicating allocates and frees: that was a quarter of a verification.
 * Here a key's inner and outer pad blocks are hashed once; each MAC copies
 * the two SHA-256 states (plain structs), hashes the message into the
 * first and its digest into the second.  The compression function is
 * OpenSSL's (SHA-NI or AVX2 as the CPU offers), through the low-level
 * SHA256_* interface that OpenSSL 3 marks deprecated but still ships; the
 * define below is for that and this file only.
 *
 * extension/hmac.c
 *
 *-------------------------------------------------------------------------
 */
#define OPENSSL_SUPPRESS_DEPRECATED

#include "postgres.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "fmgr.h"
#include "utils/memutils.h"

#include "workon.h"

struct WorkonHmacKey
{
	SHA256_CTX	inner;			/* after (key ^ ipad) */
	SHA256_CTX	outer;			/* after (key ^ opad) */
};

/* HMAC-SHA256 of data under key into out (32 bytes), in one go (OpenSSL HMAC()) */
void
workon_hmac_sha256(const unsigned char *key, size_t keylen,
				   const unsigned char *data, size_t datalen, unsigned char *out)
{
	unsigned int outlen = 0;

	if (HMAC(EVP_sha256(), key, (int) keylen, data, datalen, out, &outlen) == NULL ||
		outlen != SHA256_DIGEST_LENGTH)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute HMAC-SHA256")));
}

/* The states of key, allocated in cxt */
WorkonHmacKey *
workon_hmac_key_new(MemoryContext cxt, const unsigned char *key, size_t keylen)
{
	WorkonHmacKey *hk = MemoryContextAlloc(cxt, sizeof(WorkonHmacKey));
	unsigned char block[SHA256_CBLOCK];
	unsigned char pad[SHA256_CBLOCK];
	int			i;

	memset(block, 0, sizeof(block));
	if (keylen > SHA256_CBLOCK)
		SHA256(key, keylen, block);
	else
		memcpy(block, key, keylen);

	for (i = 0; i < SHA256_CBLOCK; i++)
		pad[i] = block[i] ^ 0x36;
	SHA256_Init(&hk->inner);
	SHA256_Update(&hk->inner, pad, sizeof(pad));
	for (i = 0; i < SHA256_CBLOCK; i++)
		pad[i] = block[i] ^ 0x5c;
	SHA256_Init(&hk->outer);
	SHA256_Update(&hk->outer, pad, sizeof(pad));

	OPENSSL_cleanse(block, sizeof(block));
	OPENSSL_cleanse(pad, sizeof(pad));
	return hk;
}

/* HMAC-SHA256 of data under hk's key into out (32 bytes) */
void
workon_hmac_key_compute(const WorkonHmacKey *hk, const unsigned char *data,
						size_t datalen, unsigned char *out)
{
	SHA256_CTX	ctx = hk->inner;
	unsigned char inner[SHA256_DIGEST_LENGTH];

	SHA256_Update(&ctx, data, datalen);
	SHA256_Final(inner, &ctx);
	ctx = hk->outer;
	SHA256_Update(&ctx, inner, sizeof(inner));
	SHA256_Final(out, &ctx);
}

/*
 * *out becomes the states of hk with prefix already hashed into the inner
 * one: for messages that all start with prefix (a token's header), only the
 * rest is hashed each time.  *out is allocated in TopMemoryContext the first
 * time and overwritten after that.
 */
void
workon_hmac_key_prefixed(WorkonHmacKey **out, const WorkonHmacKey *hk,
						 const unsigned char *prefix, size_t len)
{
	if (*out == NULL)
		*out = MemoryContextAlloc(TopMemoryContext, sizeof(WorkonHmacKey));
	**out = *hk;
	SHA256_Update(&(*out)->inner, prefix, len);
}

/* Forget the key hk holds (its memory stays) */
void
workon_hmac_key_clear(WorkonHmacKey *hk)
{
	OPENSSL_cleanse(hk, sizeof(WorkonHmacKey));
}

void
workon_hmac_key_free(WorkonHmacKey *hk)
{
	workon_hmac_key_clear(hk);
	pfree(hk);
}

/*
 * workon.hmac_sha256(key bytea, data bytea) returns bytea
 */
PG_FUNCTION_INFO_V1(hmac_sha256);
Datum
hmac_sha256(PG_FUNCTION_ARGS)
{
	bytea	   *key = PG_GETARG_BYTEA_PP(0);
	bytea	   *data = PG_GETARG_BYTEA_PP(1);
	bytea	   *result = (bytea *) palloc(VARHDRSZ + SHA256_DIGEST_LENGTH);

	SET_VARSIZE(result, VARHDRSZ + SHA256_DIGEST_LENGTH);
	workon_hmac_sha256((unsigned char *) VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key),
					   (unsigned char *) VARDATA_ANY(data), VARSIZE_ANY_EXHDR(data),
					   (unsigned char *) VARDATA(result));

	PG_RETURN_BYTEA_P(result);
}
