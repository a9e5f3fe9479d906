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

#include "workon.h"

static const char b64url_alphabet[] =
"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Value of a base64url character, or -1 */
static int
b64url_value(unsigned char c)
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
 * Decode len characters of canonical unpadded base64url into a palloc'd
 * buffer; *outlen gets its length.  Returns false (and no buffer) for
 * anything else.
 */
bool
workon_b64url_decode(const char *in, size_t len, unsigned char **out,
					 size_t *outlen)
{
	unsigned char *buf;
	size_t		n = 0;
	uint32		acc = 0;
	int			bits = 0;
	size_t		i;

	if (len % 4 == 1)
		return false;

	buf = palloc(len / 4 * 3 + 3);
	for (i = 0; i < len; i++)
	{
		int			v = b64url_value((unsigned char) in[i]);

		if (v < 0)
		{
			pfree(buf);
			return false;
		}
		acc = (acc << 6) | (uint32) v;
		bits += 6;
		if (bits >= 8)
		{
			bits -= 8;
			buf[n++] = (unsigned char) ((acc >> bits) & 0xFF);
		}
	}
	/* the bits left over must be zero, or two spellings decode alike */
	if (bits > 0 && (acc & ((1U << bits) - 1)) != 0)
	{
		pfree(buf);
		return false;
	}

	*out = buf;
	*outlen = n;
	return true;
}
