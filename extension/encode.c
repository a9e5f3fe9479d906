/*-------------------------------------------------------------------------
 *
 * encode.c
 *	  Unpadded base64url (RFC 4648 section 5), strict on input.
 *
 * Tokens, password hashes and refresh tokens are written in base64url
 * without padding.  Decoding refuses anything that is not the canonical
 * encoding of some byte string: characters outside the alphabet, padding,
 * a length that no byte string has, and non-zero unused trailing bits.  So
 * one value has exactly one spelling, and a token cannot be altered in
 * ways its signature does not cover.
 *
 * workon.random_token() is random bytes in this encoding.
 *
 * extension/encode.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define B64URL_SSSE3 1
#include <tmmintrin.h>
#endif

#include "fmgr.h"
#include "port/pg_bswap.h"
#include "utils/builtins.h"

#include "workon.h"

static const char b64url_alphabet[] =
"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Value of each byte as a base64url character, or -1 */
static const int8 b64url_values[256] = {
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1,
	52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1,
	-1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
	15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, 63,
	-1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
	41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1
};

/* palloc'd, NUL-terminated encoding of len bytes */
char *
workon_b64url_encode(const unsigned char *data, size_t len)
{
	char	   *out = palloc((len + 2) / 3 * 4 + 1);
	char	   *p = out;
	size_t		i;

	for (i = 0; i + 2 < len; i += 3)
	{
		uint32		v = ((uint32) data[i] << 16) | ((uint32) data[i + 1] << 8) | data[i + 2];

		*p++ = b64url_alphabet[(v >> 18) & 0x3F];
		*p++ = b64url_alphabet[(v >> 12) & 0x3F];
		*p++ = b64url_alphabet[(v >> 6) & 0x3F];
		*p++ = b64url_alphabet[v & 0x3F];
	}
	if (len - i == 1)
	{
		uint32		v = (uint32) data[i] << 16;

		*p++ = b64url_alphabet[(v >> 18) & 0x3F];
		*p++ = b64url_alphabet[(v >> 12) & 0x3F];
	}
	else if (len - i == 2)
	{
		uint32		v = ((uint32) data[i] << 16) | ((uint32) data[i + 1] << 8);

		*p++ = b64url_alphabet[(v >> 18) & 0x3F];
		*p++ = b64url_alphabet[(v >> 12) & 0x3F];
		*p++ = b64url_alphabet[(v >> 6) & 0x3F];
	}
	*p = '\0';

	return out;
}

#ifdef B64URL_SSSE3
/*
 * Sixteen characters at a time into twelve bytes, with SSSE3 (every x86-64
 * CPU since 2006; checked at run time).  The method is Mula and Lemire's
 * (ACM TOPS 2018), tables made for the base64url alphabet:
 *
 * - A character is valid when lut_lo[its low nibble] and lut_hi[its high
 *   nibble] share no bit.  lut_hi gives each high nibble a class (0x01:
 *   2x, whose only valid low nibble is D, '-'; 0x02: 3x, 0-9; 0x04: 4x and
 *   6x, 1-F; 0x08: 5x, 0-A and F, '_'; 0x10: 7x, 0-A; 0x20: any other, no
 *   valid low nibble), and lut_lo sets, for each low nibble, the classes it
 *   is not valid in.
 * - Its value is the character plus lut_roll[high nibble] (17 for '-', 4
 *   for digits, -65 for A-Z, -71 for a-z), plus 33 for '_', the one
 *   character that does not share its high nibble's offset.
 * - Pairs of 6-bit values are joined into 12 bits (maddubs), pairs of
 *   those into 24 (madd), and the bytes put in order (pshufb).
 *
 * Returns the characters decoded, a multiple of 16; *bad is set if any of
 * them was not base64url.  len - (returned) characters are left.
 */
__attribute__((target("ssse3")))
static size_t
b64url_decode_ssse3(const unsigned char *in, size_t len, unsigned char *out, bool *bad)
{
	const __m128i lut_lo = _mm_setr_epi8(0x25, 0x21, 0x21, 0x21, 0x21, 0x21, 0x21, 0x21,
										 0x21, 0x21, 0x23, 0x3b, 0x3b, 0x3a, 0x3b, 0x33);
	const __m128i lut_hi = _mm_setr_epi8(0x20, 0x20, 0x01, 0x02, 0x04, 0x08, 0x04, 0x10,
										 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20);
	const __m128i lut_roll = _mm_setr_epi8(0, 0, 17, 4, -65, -65, -71, -71,
										   0, 0, 0, 0, 0, 0, 0, 0);
	const __m128i nibble = _mm_set1_epi8(0x0f);
	const __m128i underscore = _mm_set1_epi8('_');
	const __m128i underscore_fix = _mm_set1_epi8(33);
	const __m128i join_pairs = _mm_set1_epi32(0x01400140);
	const __m128i join_quads = _mm_set1_epi32(0x00011000);
	const __m128i order = _mm_setr_epi8(2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12,
										-1, -1, -1, -1);
	__m128i		errors = _mm_setzero_si128();
	size_t		done;

	for (done = 0; len - done >= 16; done += 16, out += 12)
	{
		__m128i		chars = _mm_loadu_si128((const __m128i *) (in + done));
		__m128i		hi = _mm_and_si128(_mm_srli_epi32(chars, 4), nibble);
		__m128i		lo = _mm_and_si128(chars, nibble);
		__m128i		values;
		int32		last;

		errors = _mm_or_si128(errors, _mm_and_si128(_mm_shuffle_epi8(lut_lo, lo),
													_mm_shuffle_epi8(lut_hi, hi)));
		values = _mm_add_epi8(chars, _mm_shuffle_epi8(lut_roll, hi));
		values = _mm_add_epi8(values, _mm_and_si128(_mm_cmpeq_epi8(chars, underscore),
													underscore_fix));
		values = _mm_madd_epi16(_mm_maddubs_epi16(values, join_pairs), join_quads);
		values = _mm_shuffle_epi8(values, order);
		_mm_storel_epi64((__m128i *) out, values);
		last = _mm_cvtsi128_si32(_mm_srli_si128(values, 8));
		memcpy(out + 8, &last, sizeof(last));
	}
	*bad = _mm_movemask_epi8(_mm_cmpeq_epi8(errors, _mm_setzero_si128())) != 0xFFFF;
	return done;
}
#endif

/*
 * Decode len characters of canonical unpadded base64url into out, which has
 * room for WORKON_B64URL_ROOM(len) bytes (a byte more than the decoded
 * length: each group of four characters is stored as four bytes, three of
 * them kept); *outlen gets the decoded length.  Returns false for anything
 * but canonical unpadded base64url, with out's contents undefined.
 */
bool
workon_b64url_decode_into(const char *in, size_t len, unsigned char *out,
						  size_t *outlen)
{
	const unsigned char *p = (const unsigned char *) in;
	unsigned char *q = out;
	size_t		full = len / 4;
	size_t		rest = len % 4;
	uint32		seen = 0;
	uint32		v;
	size_t		i;

	if (rest == 1)
		return false;

#ifdef B64URL_SSSE3
	if (len >= 16)
	{
		static int	ssse3 = -1;

		if (ssse3 < 0)
			ssse3 = __builtin_cpu_supports("ssse3") ? 1 : 0;
		if (ssse3)
		{
			bool		bad;
			size_t		done = b64url_decode_ssse3(p, len, q, &bad);

			if (bad)
				return false;
			p += done;
			q += done / 4 * 3;
			full -= done / 4;
		}
	}
#endif

	/*
	 * Four characters, three bytes.  A character that is not base64url has
	 * the value -1, whose shifted copies all have bits 24-31 set while valid
	 * groups stay below 2^24, so the groups' bits are OR-ed together and
	 * checked once at the end.
	 */
	for (i = 0; i < full; i++, p += 4, q += 3)
	{
		uint32		be;

		v = ((uint32) b64url_values[p[0]] << 18) | ((uint32) b64url_values[p[1]] << 12) |
			((uint32) b64url_values[p[2]] << 6) | (uint32) b64url_values[p[3]];
		seen |= v;
		be = pg_hton32(v << 8);
		memcpy(q, &be, sizeof(be));
	}

	/*
	 * Two or three characters left: one or two bytes, and the bits left over
	 * must be zero, or two spellings would decode alike.
	 */
	if (rest >= 2)
	{
		v = ((uint32) b64url_values[p[0]] << 18) | ((uint32) b64url_values[p[1]] << 12);
		if (rest == 3)
			v |= (uint32) b64url_values[p[2]] << 6;
		seen |= v;
		if ((rest == 2 ? (v & 0xFFFF) : (v & 0xFF)) != 0)
			return false;
		*q++ = (unsigned char) (v >> 16);
		if (rest == 3)
			*q++ = (unsigned char) (v >> 8);
	}
	if (seen & 0xFF000000)
		return false;

	*outlen = q - out;
	return true;
}

/*
 * The same into a palloc'd buffer, *out; no buffer when it returns false.
 */
bool
workon_b64url_decode(const char *in, size_t len, unsigned char **out,
					 size_t *outlen)
{
	unsigned char *buf = palloc(WORKON_B64URL_ROOM(len));

	if (!workon_b64url_decode_into(in, len, buf, outlen))
	{
		pfree(buf);
		return false;
	}
	*out = buf;
	return true;
}

/* The value of one hex digit, either case, or -1 */
int
workon_hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * workon.random_token(nbytes integer) returns text
 *
 * nbytes (16 to 64) random bytes in unpadded base64url.
 */
PG_FUNCTION_INFO_V1(random_token);
Datum
random_token(PG_FUNCTION_ARGS)
{
	int32		nbytes = PG_GETARG_INT32(0);
	unsigned char buf[64];

	if (nbytes < 16 || nbytes > 64)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("random token length must be between 16 and 64 bytes")));
	if (!pg_strong_random(buf, nbytes))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate random bytes")));

	PG_RETURN_TEXT_P(cstring_to_text(workon_b64url_encode(buf, nbytes)));
}
