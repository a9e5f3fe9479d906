/*-------------------------------------------------------------------------
 *
 * jwt_alg.c
 *	  The algorithms of workon's tokens: their names, ES256 through OpenSSL,
 *	  new key material.
 *
 * A key has exactly one algorithm, HS256 or ES256.  HS256 is HMAC-SHA256
 * (hmac.c) under a raw secret of at least 32 bytes; ES256 is ECDSA on
 * P-256 with SHA-256, its key material a PKCS #8 DER private key and its
 * signatures the JOSE form: r || s, 32 bytes each, not DER.
 *
 * extension/jwt_alg.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "fmgr.h"
#include "port.h"
#include "utils/builtins.h"

#include "jwt_internal.h"

#define JWT_HS256_NEW_KEY		64

/* The algorithm of a name in a token header or in workon.jwt_keys */
JwtAlg
workon_jwt_alg_from_name(const char *name)
{
	if (name == NULL)
		return JWT_ALG_UNKNOWN;
	if (strcmp(name, "HS256") == 0)
		return JWT_ALG_HS256;
	if (strcmp(name, "ES256") == 0)
		return JWT_ALG_ES256;
	return JWT_ALG_UNKNOWN;
}

/* The algorithm an SQL caller names; an error unless it is one of ours */
JwtAlg
workon_jwt_alg_arg(text *alg)
{
	char	   *name = text_to_cstring(alg);
	JwtAlg		result = workon_jwt_alg_from_name(name);

	if (result == JWT_ALG_UNKNOWN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unsupported JWT algorithm \"%s\"", name),
				 errhint("Use HS256 or ES256.")));
	return result;
}


/*
 * ES256
 */

/* The P-256 key in key material; NULL if it is not one */
static EVP_PKEY *
load_es256_key(const unsigned char *der, size_t len)
{
	const unsigned char *p = der;
	EVP_PKEY   *pkey = d2i_AutoPrivateKey(NULL, &p, (long) len);
	char		group[64];

	if (pkey == NULL)
		return NULL;
	if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_EC ||
		EVP_PKEY_get_group_name(pkey, group, sizeof(group), NULL) != 1 ||
		strcmp(group, "prime256v1") != 0)
	{
		EVP_PKEY_free(pkey);
		return NULL;
	}
	return pkey;
}

static EVP_PKEY *
es256_key_or_error(const unsigned char *der, size_t len)
{
	EVP_PKEY   *pkey = load_es256_key(der, len);

	if (pkey == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ES256 key material is not a P-256 private key")));
	return pkey;
}

/* ES256 signature, r || s, of data under a private key into out[64] */
void
workon_jwt_es256_sign(const unsigned char *der, size_t derlen,
					  const unsigned char *data, size_t datalen, unsigned char *out)
{
	EVP_PKEY   *pkey = es256_key_or_error(der, derlen);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char sigbuf[128];
	size_t		siglen = sizeof(sigbuf);
	const unsigned char *p = sigbuf;
	ECDSA_SIG  *sig = NULL;
	const BIGNUM *r;
	const BIGNUM *s;
	bool		ok;

	ok = (ctx != NULL &&
		  EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, pkey) == 1 &&
		  EVP_DigestSign(ctx, sigbuf, &siglen, data, datalen) == 1 &&
		  (sig = d2i_ECDSA_SIG(NULL, &p, (long) siglen)) != NULL);
	if (ok)
	{
		ECDSA_SIG_get0(sig, &r, &s);
		ok = (BN_bn2binpad(r, out, 32) == 32 && BN_bn2binpad(s, out + 32, 32) == 32);
	}

	ECDSA_SIG_free(sig);
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pkey);

	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute an ES256 signature")));
}

/* Whether rs (r || s) is an ES256 signature of data by the key */
bool
workon_jwt_es256_verify(const unsigned char *der, size_t derlen,
						const unsigned char *data, size_t datalen,
						const unsigned char *rs, size_t rslen)
{
	EVP_PKEY   *pkey;
	EVP_MD_CTX *ctx;
	ECDSA_SIG  *sig;
	BIGNUM	   *r;
	BIGNUM	   *s;
	unsigned char *sigder = NULL;
	int			sigderlen;
	bool		ok;

	if (rslen != JWT_ES256_SIG_LEN)
		return false;

	pkey = es256_key_or_error(der, derlen);
	ctx = EVP_MD_CTX_new();
	sig = ECDSA_SIG_new();
	r = BN_bin2bn(rs, 32, NULL);
	s = BN_bin2bn(rs + 32, 32, NULL);
	if (sig != NULL && r != NULL && s != NULL && ECDSA_SIG_set0(sig, r, s) == 1)
		r = s = NULL;			/* owned by sig now */

	sigderlen = (sig != NULL) ? i2d_ECDSA_SIG(sig, &sigder) : -1;
	ok = (ctx != NULL && sigderlen > 0 &&
		  EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pkey) == 1 &&
		  EVP_DigestVerify(ctx, sigder, (size_t) sigderlen, data, datalen) == 1);

	OPENSSL_free(sigder);
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(sig);
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pkey);

	return ok;
}


/*
 * SQL functions
 */

/*
 * workon.jwt_generate_key(alg text) returns bytea
 *
 * New key material: 64 random bytes for HS256, a PKCS #8 DER P-256
 * private key for ES256.
 */
PG_FUNCTION_INFO_V1(jwt_generate_key);
Datum
jwt_generate_key(PG_FUNCTION_ARGS)
{
	JwtAlg		alg = workon_jwt_alg_arg(PG_GETARG_TEXT_PP(0));
	bytea	   *result;

	if (alg == JWT_ALG_HS256)
	{
		result = (bytea *) palloc(VARHDRSZ + JWT_HS256_NEW_KEY);
		SET_VARSIZE(result, VARHDRSZ + JWT_HS256_NEW_KEY);
		if (!pg_strong_random(VARDATA(result), JWT_HS256_NEW_KEY))
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not generate random bytes")));
	}
	else
	{
		EVP_PKEY   *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		PKCS8_PRIV_KEY_INFO *p8 = pkey ? EVP_PKEY2PKCS8(pkey) : NULL;
		unsigned char *der = NULL;
		int			len = p8 ? i2d_PKCS8_PRIV_KEY_INFO(p8, &der) : -1;

		if (len > 0)
		{
			result = (bytea *) palloc(VARHDRSZ + len);
			SET_VARSIZE(result, VARHDRSZ + len);
			memcpy(VARDATA(result), der, len);
			OPENSSL_clear_free(der, len);
		}
		PKCS8_PRIV_KEY_INFO_free(p8);
		EVP_PKEY_free(pkey);
		if (len <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not generate a P-256 key")));
	}

	PG_RETURN_BYTEA_P(result);
}

/*
 * workon.jwt_public_key_pem(key bytea) returns text
 *
 * The public key (SubjectPublicKeyInfo, PEM) of ES256 key material, for
 * whoever verifies tokens outside the database.
 */
PG_FUNCTION_INFO_V1(jwt_public_key_pem);
Datum
jwt_public_key_pem(PG_FUNCTION_ARGS)
{
	bytea	   *key = PG_GETARG_BYTEA_PP(0);
	EVP_PKEY   *pkey = es256_key_or_error((unsigned char *) VARDATA_ANY(key),
										  VARSIZE_ANY_EXHDR(key));
	BIO		   *bio = BIO_new(BIO_s_mem());
	char	   *data;
	long		len;
	text	   *result = NULL;

	if (bio != NULL && PEM_write_bio_PUBKEY(bio, pkey) == 1 &&
		(len = BIO_get_mem_data(bio, &data)) > 0)
		result = cstring_to_text_with_len(data, (int) len);

	BIO_free(bio);
	EVP_PKEY_free(pkey);
	if (result == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not write the public key")));

	PG_RETURN_TEXT_P(result);
}
