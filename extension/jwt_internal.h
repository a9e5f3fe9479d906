/*-------------------------------------------------------------------------
 *
 * jwt_internal.h
 *	  Declarations shared by the JWT files, and by them only.
 *
 * jwt.c splits and verifies tokens and signs new ones; jwt_alg.c holds the
 * algorithms (names, ES256 through OpenSSL, new key material); jwt_keys.c
 * the key store (workon.jwt_keys, cached per backend); jwt_cache.c the
 * tokens a backend verified; jwt_json.c the reader of headers and claim
 * sets.  What the rest of the extension uses is in workon.h.
 *
 * extension/jwt_internal.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef JWT_INTERNAL_H
#define JWT_INTERNAL_H

#include "utils/jsonb.h"

#include "workon.h"

#define JWT_LEEWAY_SECONDS		30	/* clock skew allowed on exp, nbf, iat */
#define JWT_HS256_MIN_KEY		32
#define JWT_SIG_LEN				32	/* HS256: HMAC-SHA256 */
#define JWT_ES256_SIG_LEN		64	/* ES256: r || s */

typedef enum JwtAlg
{
	JWT_ALG_UNKNOWN,
	JWT_ALG_HS256,
	JWT_ALG_ES256
} JwtAlg;

/* jwt.c */
extern void workon_jwt_reject(const char *message) pg_attribute_noreturn();
extern void workon_jwt_forget_key(void);

/* jwt_alg.c */
extern JwtAlg workon_jwt_alg_from_name(const char *name);
extern JwtAlg workon_jwt_alg_arg(text *alg);
extern void workon_jwt_es256_sign(const unsigned char *der, size_t derlen,
								  const unsigned char *data, size_t datalen,
								  unsigned char *out);
extern bool workon_jwt_es256_verify(const unsigned char *der, size_t derlen,
									const unsigned char *data, size_t datalen,
									const unsigned char *rs, size_t rslen);

/* jwt_cache.c */
extern Jsonb *workon_jwt_cache_lookup(const char *token, uint32 len);
extern void workon_jwt_cache_store(const char *token, uint32 len, double exp,
								   const Jsonb *claims);
extern void workon_jwt_cache_reset(void);

/* jwt_keys.c */
extern bool workon_jwt_lookup_key(const char *kid, JwtAlg *alg, bytea **material,
								  WorkonHmacKey **hmac, bool *cached);

/* jwt_json.c */
typedef struct JwtJsonNumber
{
	const char *name;			/* a top-level member wanted as a double */
	int			name_len;
	bool		present;
	bool		is_number;
	double		value;
} JwtJsonNumber;

/*
 * The first difference of len bytes at a and b, as memcmp() gives it, in a
 * loop: claim names and values are a few bytes long, and for them a call
 * of memcmp() costs more than the comparison
 */
static inline int
workon_short_memcmp(const char *a, const char *b, int len)
{
	int			i;

	for (i = 0; i < len; i++)
	{
		if (a[i] != b[i])
			return (unsigned char) a[i] < (unsigned char) b[i] ? -1 : 1;
	}
	return 0;
}

/* Memory a parse may make its tree in (a claim set's fits), on the caller's stack */
typedef struct JwtJsonScratch
{
	Size		used;
	union
	{
		char		bytes[2048];
		double		align_double;
		int64		align_int64;
		void	   *align_pointer;
	}			mem;
} JwtJsonScratch;

/* a JwtJsonNumber initializer for a name given as a literal */
#define JWT_JSON_NUMBER(name)	{(name), sizeof(name) - 1}

extern bool workon_jwt_json_parse(const char *s, size_t len, JsonbValue *root,
								  JwtJsonNumber *numbers, int nnumbers,
								  Size *jsonb_size, JwtJsonScratch *scratch);
extern JsonbValue *workon_jwt_json_member_len(JsonbValue *object, const char *name,
											  int len);
/* the strlen of a literal name is folded at compile time */
#define workon_jwt_json_member(object, name) \
	workon_jwt_json_member_len((object), (name), (int) strlen(name))
extern Jsonb *workon_jwt_jsonb(const JsonbValue *root, Size size);

#endif							/* JWT_INTERNAL_H */
