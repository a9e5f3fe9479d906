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
 * extension/encode.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "port/pg_bswap.h"

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
