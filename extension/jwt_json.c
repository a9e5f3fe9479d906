/*-------------------------------------------------------------------------
 *
 * jwt_json.c
 *	  A strict JSON reader for JWT headers and claim sets.
 *
 * Verifying a token parses two small JSON objects, and jsonb_in() was most
 * of the cost of a verification: its lexer copies strings a character at a
 * time, every number goes through numeric_in(), and the claims were then
 * looked up in the binary form and their numbers converted through text.
 * This reader builds the in-memory JsonbValue tree directly from the
 * decoded bytes, pointing into them for strings without escapes, laying
 * integers out as numerics itself, and sorting each object's keys the way
 * jsonb stores them; the tree goes into scratch memory the caller lends
 * (a claim set's fits), so reading one calls palloc() for nothing.
 * workon_jwt_jsonb() then lays the tree out in jsonb's binary form into one
 * allocation of a size counted while reading, where JsonbValueToJsonb()
 * grows a buffer value by value.  The result is the same jsonb, byte for
 * byte, that jsonb_in() makes of the same text (pg_regress jwt.sql reads
 * both back from a heap page and compares them).
 *
 * It is stricter than jsonb_in() where a token gains nothing from leniency,
 * and anything it refuses is a malformed token:
 *	- a name twice in one object (RFC 7519 section 4 allows refusing it;
 *	  jsonb_in() would keep the last, a chance for two parsers to disagree);
 *	- \u0000, and \u escapes of non-ASCII characters unless the database
 *	  encoding is UTF-8 (jsonb_in() refuses both too);
 *	- exponents beyond +-1000, and nesting deeper than 64 levels.
 * Strings must be valid UTF-8 (RFC 7519 section 7.2), and outside them
 * the grammar admits no byte that is not ASCII, so the reader is also the
 * check that the text is UTF-8 without NULs.
 *
 * extension/jwt_json.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <stdlib.h>

#include "mb/pg_wchar.h"
#include "port/pg_bitutils.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "jwt_internal.h"

#define JSON_MAX_DEPTH		64
#define JSON_MAX_EXPONENT	1000

typedef struct JsonReader
{
	const char *p;
	const char *end;
	bool		utf8;			/* the database encoding is UTF-8 */
	JwtJsonNumber *numbers;		/* top-level numbers the caller wants */
	int			nnumbers;
	Size		size;			/* bytes the tree takes as jsonb, at most */
	JwtJsonScratch *scratch;	/* the caller's memory for the tree, or NULL */
} JsonReader;

static bool read_value(JsonReader *r, JsonbValue *v, int depth);

/*
 * Memory for the tree: from the caller's scratch while it lasts (a claim
 * set fits), then palloc'd.  The tree lives as long as the scratch does.
 */
static void *
reader_alloc(JsonReader *r, Size size)
{
	JwtJsonScratch *scratch = r->scratch;

	size = MAXALIGN(size);
	if (scratch != NULL && sizeof(scratch->mem.bytes) - scratch->used >= size)
	{
		void	   *p = scratch->mem.bytes + scratch->used;

		scratch->used += size;
		return p;
	}
	return palloc(size);
}

/* An array of n items of itemsize grown to twice as many, the first n kept */
static void *
reader_grow(JsonReader *r, void *items, int n, Size itemsize)
{
	void	   *grown = reader_alloc(r, 2 * n * itemsize);

	memcpy(grown, items, n * itemsize);
	return grown;
}

/*
 * The numeric of an integer of at most 18 digits, laid out as
 * int64_to_numeric() lays it out, without its palloc()s: numeric's short
 * format (utils/adt/numeric.c, an on-disk format that pg_upgrade keeps
 * across major versions), a 16-bit header with sign, display scale 0 and
 * weight, then the base-10000 digits from the most significant, none of
 * them a trailing zero.  Zero has no digits and is never negative.
 * pg_regress jwt.sql compares such numerics byte for byte with numeric_in's.
 */
#define NUMERIC_SHORT					0x8000
#define NUMERIC_SHORT_SIGN_MASK			0x2000
#define NUMERIC_SHORT_WEIGHT_MASK		0x003F
#define NUMERIC_HDRSZ_SHORT				(VARHDRSZ + sizeof(uint16))

static Numeric
integer_numeric(JsonReader *r, int64 value)
{
	uint64		u = value < 0 ? -(uint64) value : (uint64) value;
	int16		digits[5];		/* 10^18 < 10000^5 */
	int			ndigits = 0;
	int			low = 0;
	int			used;
	char	   *num;
	uint16		header;
	int			i;

	Assert(u < UINT64CONST(1000000000000000000));
	while (u != 0)
	{
		digits[ndigits++] = (int16) (u % 10000);	/* least significant first */
		u /= 10000;
	}
	while (low < ndigits && digits[low] == 0)
		low++;
	used = ndigits - low;
	header = NUMERIC_SHORT | (used > 0 ? (ndigits - 1) & NUMERIC_SHORT_WEIGHT_MASK : 0);
	if (value < 0)
		header |= NUMERIC_SHORT_SIGN_MASK;

	num = reader_alloc(r, NUMERIC_HDRSZ_SHORT + used * sizeof(int16));
	SET_VARSIZE(num, NUMERIC_HDRSZ_SHORT + used * sizeof(int16));
	memcpy(num + VARHDRSZ, &header, sizeof(header));
	for (i = 0; i < used; i++)
		memcpy(num + NUMERIC_HDRSZ_SHORT + i * sizeof(int16), &digits[ndigits - 1 - i],
			   sizeof(int16));
	return (Numeric) num;
}

/*
 * Bytes a string scan stops at: the quote, backslash and controls, which
 * end the string, start an escape or are refused, and the first byte of a
 * multibyte character, whose sequence is checked
 */
static const bool string_special[256] = {
	[0x00] = true, [0x01] = true, [0x02] = true, [0x03] = true,
	[0x04] = true, [0x05] = true, [0x06] = true, [0x07] = true,
	[0x08] = true, [0x09] = true, [0x0a] = true, [0x0b] = true,
	[0x0c] = true, [0x0d] = true, [0x0e] = true, [0x0f] = true,
	[0x10] = true, [0x11] = true, [0x12] = true, [0x13] = true,
	[0x14] = true, [0x15] = true, [0x16] = true, [0x17] = true,
	[0x18] = true, [0x19] = true, [0x1a] = true, [0x1b] = true,
	[0x1c] = true, [0x1d] = true, [0x1e] = true, [0x1f] = true,
	['"'] = true, ['\\'] = true,
	[0x80 ... 0xff] = true
};

/*
 * The high bit of each of the eight bytes of x that string_special[] marks,
 * or of none; the classic "has a zero byte" and "has a byte below n" tests
 * can also mark bytes after a marked one (a borrow runs up), never before,
 * so on a little-endian machine the lowest bit set is the first special
 * byte in memory.
 */
static inline uint64
special_bytes(uint64 x)
{
	const uint64 ones = UINT64CONST(0x0101010101010101);
	const uint64 highs = UINT64CONST(0x8080808080808080);
	uint64		quote = x ^ (ones * '"');
	uint64		backslash = x ^ (ones * '\\');

	return (((x - ones * 0x20) & ~x) | ((quote - ones) & ~quote) |
			((backslash - ones) & ~backslash) | x) & highs;
}

/* p moved to the first special byte before end, or to end */
static inline const char *
skip_plain(const char *p, const char *end)
{
#ifndef WORDS_BIGENDIAN
	uint64		word;
	uint64		special;

	while (end - p >= (ptrdiff_t) sizeof(word))
	{
		memcpy(&word, p, sizeof(word));
		if ((special = special_bytes(word)) != 0)
			return p + pg_rightmost_one_pos64(special) / 8;
		p += sizeof(word);
	}
#endif
	while (p < end && !string_special[(unsigned char) *p])
		p++;
	return p;
}

/* The UTF-8 character at p (a byte >= 0x80): its length, or 0 if invalid */
static inline int
utf8_char(const char *p, const char *end)
{
	int			len = pg_utf_mblen((const unsigned char *) p);

	if (end - p < len || !pg_utf8_islegal((const unsigned char *) p, len))
		return 0;
	return len;
}

static inline void
skip_space(JsonReader *r)
{
	while (r->p < r->end &&
		   (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
		r->p++;
}

static inline bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Four hex digits at p (p + 4 <= end) */
static int
hex4(const char *p)
{
	int			v = 0;
	int			i;

	for (i = 0; i < 4; i++)
	{
		int			d = workon_hex_value(p[i]);

		if (d < 0)
			return -1;
		v = (v << 4) | d;
	}
	return v;
}

/*
 * A string; r->p is at the opening quote.  Without escapes the value points
 * into the input; with them it is decoded into a palloc'd buffer, never
 * longer than the escaped text.
 */
static bool
read_string(JsonReader *r, JsonbValue *v)
{
	const char *start = ++r->p;
	const char *p = start;
	char	   *buf;
	char	   *q;

	for (;;)
	{
		int			len;

		p = skip_plain(p, r->end);
		if (p >= r->end || (unsigned char) *p < 0x80)
			break;
		if ((len = utf8_char(p, r->end)) == 0)
			return false;
		p += len;
	}
	if (p >= r->end || (unsigned char) *p < 0x20)
		return false;
	if (*p == '"')
	{
		v->type = jbvString;
		v->val.string.val = unconstify(char *, start);
		v->val.string.len = (int) (p - start);
		r->size += v->val.string.len;
		r->p = p + 1;
		return true;
	}

	buf = reader_alloc(r, r->end - start);
	memcpy(buf, start, p - start);
	q = buf + (p - start);
	while (p < r->end && *p != '"')
	{
		unsigned char c = (unsigned char) *p;

		if (c < 0x20)
			return false;
		if (c >= 0x80)
		{
			int			len = utf8_char(p, r->end);

			if (len == 0)
				return false;
			memcpy(q, p, len);
			q += len;
			p += len;
			continue;
		}
		if (c != '\\')
		{
			*q++ = *p++;
			continue;
		}
		if (++p >= r->end)
			return false;
		switch (*p++)
		{
			case '"':
				*q++ = '"';
				break;
			case '\\':
				*q++ = '\\';
				break;
			case '/':
				*q++ = '/';
				break;
			case 'b':
				*q++ = '\b';
				break;
			case 'f':
				*q++ = '\f';
				break;
			case 'n':
				*q++ = '\n';
				break;
			case 'r':
				*q++ = '\r';
				break;
			case 't':
				*q++ = '\t';
				break;
			case 'u':
				{
					int			cp;

					if (r->end - p < 4 || (cp = hex4(p)) < 0)
						return false;
					p += 4;
					if (cp >= 0xD800 && cp <= 0xDBFF)
					{
						int			lo;

						/* a high surrogate must be followed by a low one */
						if (r->end - p < 6 || p[0] != '\\' || p[1] != 'u' ||
							(lo = hex4(p + 2)) < 0xDC00 || lo > 0xDFFF)
							return false;
						p += 6;
						cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
					}
					else if (cp >= 0xDC00 && cp <= 0xDFFF)
						return false;
					if (cp == 0)
						return false;
					if (cp < 0x80)
						*q++ = (char) cp;
					else if (!r->utf8)
						return false;
					else
						q += pg_utf_mblen(unicode_to_utf8((pg_wchar) cp, (unsigned char *) q));
					break;
				}
			default:
				return false;
		}
	}
	if (p >= r->end)
		return false;
	r->p = p + 1;
	v->type = jbvString;
	v->val.string.val = buf;
	v->val.string.len = (int) (q - buf);
	r->size += v->val.string.len;
	return true;
}

/*
 * A number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?  Integers of up
 * to 18 digits become numerics directly; the rest go through numeric_in(),
 * which cannot fail on such text once the exponent is bounded.  *value, when
 * not NULL, gets the number as a double.
 */
static bool
read_number(JsonReader *r, JsonbValue *v, double *value)
{
	const char *start = r->p;
	const char *p = start;
	const char *digits;
	bool		integer = true;
	int64		n = 0;

	if (*p == '-')
		p++;
	digits = p;
	if (p >= r->end || !is_digit(*p))
		return false;
	if (*p == '0')
		p++;
	else
		while (p < r->end && is_digit(*p))
		{
			if (p - digits < 18)
				n = n * 10 + (*p - '0');
			p++;
		}
	if (p - digits > 18)
		integer = false;
	if (p < r->end && *p == '.')
	{
		integer = false;
		if (++p >= r->end || !is_digit(*p))
			return false;
		while (p < r->end && is_digit(*p))
			p++;
	}
	if (p < r->end && (*p == 'e' || *p == 'E'))
	{
		int			exponent = 0;

		integer = false;
		p++;
		if (p < r->end && (*p == '+' || *p == '-'))
			p++;
		if (p >= r->end || !is_digit(*p))
			return false;
		while (p < r->end && is_digit(*p))
		{
			exponent = exponent * 10 + (*p++ - '0');
			if (exponent > JSON_MAX_EXPONENT)
				return false;
		}
	}
	r->p = p;

	v->type = jbvNumeric;
	if (integer)
	{
		if (*start == '-')
			n = -n;
		v->val.numeric = integer_numeric(r, n);
		if (value != NULL)
			*value = (double) n;
	}
	else
	{
		char	   *text = pnstrdup(start, p - start);

		v->val.numeric = DatumGetNumeric(DirectFunctionCall3(numeric_in,
															 CStringGetDatum(text),
															 ObjectIdGetDatum(InvalidOid),
															 Int32GetDatum(-1)));
		if (value != NULL)
			*value = strtod(text, NULL);
		pfree(text);
	}
	r->size += 3 + VARSIZE(v->val.numeric);	/* padding, then the numeric */
	return true;
}

/* The word at r->p, exactly */
static bool
read_word(JsonReader *r, const char *word, int len)
{
	if (r->end - r->p < len || memcmp(r->p, word, len) != 0)
		return false;
	r->p += len;
	return true;
}

/* jsonb's key order: shorter first, then bytewise */
static inline int
pair_compare(const JsonbPair *a, const JsonbPair *b)
{
	const JsonbValue *ka = &a->key;
	const JsonbValue *kb = &b->key;

	if (ka->val.string.len != kb->val.string.len)
		return ka->val.string.len > kb->val.string.len ? 1 : -1;
	if (ka->val.string.len == 0)
		return 0;
	if (ka->val.string.val[0] != kb->val.string.val[0])
		return (unsigned char) ka->val.string.val[0] > (unsigned char) kb->val.string.val[0] ? 1 : -1;
	return workon_short_memcmp(ka->val.string.val, kb->val.string.val, ka->val.string.len);
}

/* The caller's wanted number named like key, or NULL */
static JwtJsonNumber *
wanted_number(JsonReader *r, const JsonbValue *key)
{
	int			i;

	for (i = 0; i < r->nnumbers; i++)
	{
		JwtJsonNumber *w = &r->numbers[i];

		if (w->name_len == key->val.string.len &&
			w->name[0] == key->val.string.val[0] &&
			workon_short_memcmp(w->name, key->val.string.val, key->val.string.len) == 0)
			return w;
	}
	return NULL;
}

/* What follows a member or element: a comma, the closing bracket, or else */
typedef enum MemberNext
{
	MEMBER_MORE,
	MEMBER_CLOSED,
	MEMBER_BAD
} MemberNext;

static MemberNext
after_member(JsonReader *r, char close)
{
	skip_space(r);
	if (r->p >= r->end)
		return MEMBER_BAD;
	if (*r->p == close)
	{
		r->p++;
		return MEMBER_CLOSED;
	}
	return *r->p++ == ',' ? MEMBER_MORE : MEMBER_BAD;
}

static bool
read_object(JsonReader *r, JsonbValue *v, int depth)
{
	MemberNext	next;
	int			size = 8;
	int			n = 0;
	JsonbPair  *pairs = reader_alloc(r, size * sizeof(JsonbPair));
	int			i;

	r->p++;						/* { */
	skip_space(r);
	if (r->p < r->end && *r->p == '}')
		r->p++;
	else
	{
		for (;;)
		{
			JwtJsonNumber *want = NULL;

			if (n == size)
			{
				pairs = reader_grow(r, pairs, size, sizeof(JsonbPair));
				size *= 2;
			}
			skip_space(r);
			if (r->p >= r->end || *r->p != '"' || !read_string(r, &pairs[n].key))
				return false;
			pairs[n].order = n;
			skip_space(r);
			if (r->p >= r->end || *r->p++ != ':')
				return false;
			skip_space(r);
			if (depth == 1 && r->nnumbers > 0)
				want = wanted_number(r, &pairs[n].key);
			if (want != NULL && r->p < r->end && (*r->p == '-' || is_digit(*r->p)))
			{
				if (!read_number(r, &pairs[n].value, &want->value))
					return false;
				want->is_number = true;
			}
			else if (!read_value(r, &pairs[n].value, depth))
				return false;
			if (want != NULL)
				want->present = true;
			n++;
			if ((next = after_member(r, '}')) != MEMBER_MORE)
			{
				if (next == MEMBER_BAD)
					return false;
				break;
			}
		}
	}

	/* insertion sort: claim sets have a dozen names or so */
	for (i = 1; i < n; i++)
	{
		JsonbPair	pair = pairs[i];
		int			j = i;
		int			cmp = 1;

		while (j > 0 && (cmp = pair_compare(&pairs[j - 1], &pair)) > 0)
		{
			pairs[j] = pairs[j - 1];
			j--;
		}
		if (j > 0 && cmp == 0)
			return false;		/* a name twice */
		pairs[j] = pair;
	}
	v->type = jbvObject;
	v->val.object.nPairs = n;
	r->size += 3 + sizeof(uint32) + 2 * sizeof(JEntry) * n;	/* keys counted as read */
	v->val.object.pairs = pairs;
	return true;
}

static bool
read_array(JsonReader *r, JsonbValue *v, int depth)
{
	MemberNext	next;
	int			size = 4;
	int			n = 0;
	JsonbValue *elems = reader_alloc(r, size * sizeof(JsonbValue));

	r->p++;						/* [ */
	skip_space(r);
	if (r->p < r->end && *r->p == ']')
		r->p++;
	else
	{
		for (;;)
		{
			if (n == size)
			{
				elems = reader_grow(r, elems, size, sizeof(JsonbValue));
				size *= 2;
			}
			skip_space(r);
			if (!read_value(r, &elems[n++], depth))
				return false;
			if ((next = after_member(r, ']')) != MEMBER_MORE)
			{
				if (next == MEMBER_BAD)
					return false;
				break;
			}
		}
	}
	v->type = jbvArray;
	v->val.array.nElems = n;
	r->size += 3 + sizeof(uint32) + sizeof(JEntry) * n;
	v->val.array.elems = elems;
	v->val.array.rawScalar = false;
	return true;
}

/* One value at r->p (no space before it); depth is its container's */
static bool
read_value(JsonReader *r, JsonbValue *v, int depth)
{
	if (r->p >= r->end)
		return false;
	switch (*r->p)
	{
		case '{':
			return depth < JSON_MAX_DEPTH && read_object(r, v, depth + 1);
		case '[':
			return depth < JSON_MAX_DEPTH && read_array(r, v, depth + 1);
		case '"':
			return read_string(r, v);
		case 't':
			v->type = jbvBool;
			v->val.boolean = true;
			return read_word(r, "true", 4);
		case 'f':
			v->type = jbvBool;
			v->val.boolean = false;
			return read_word(r, "false", 5);
		case 'n':
			v->type = jbvNull;
			return read_word(r, "null", 4);
		default:
			return read_number(r, v, NULL);
	}
}

/*
 * Parse len bytes at s as one JSON object into *root.  numbers[0..nnumbers)
 * name top-level members the caller wants as doubles: each gets present
 * (the name is there), is_number (its value is a number) and value.
 * *jsonb_size, when not NULL, gets the room workon_jwt_jsonb() needs.
 * scratch, when not NULL, is memory the tree is made in while it lasts
 * (its used set to 0 by the caller); the tree then lives as long as it.
 * Returns false, and nothing useful, for anything but one well-formed
 * object within the limits above.
 */
bool
workon_jwt_json_parse(const char *s, size_t len, JsonbValue *root,
					  JwtJsonNumber *numbers, int nnumbers, Size *jsonb_size,
					  JwtJsonScratch *scratch)
{
	JsonReader	r;
	int			i;

	r.p = s;
	r.end = s + len;
	r.utf8 = GetDatabaseEncoding() == PG_UTF8;
	r.numbers = numbers;
	r.nnumbers = nnumbers;
	r.size = VARHDRSZ;
	r.scratch = scratch;
	for (i = 0; i < nnumbers; i++)
	{
		numbers[i].present = false;
		numbers[i].is_number = false;
		numbers[i].value = 0;
	}

	skip_space(&r);
	if (r.p >= r.end || *r.p != '{' || !read_object(&r, root, 1))
		return false;
	skip_space(&r);
	if (jsonb_size != NULL)
		*jsonb_size = r.size;
	return r.p == r.end;
}

/* The value of the member named name (len bytes) of an object parsed above, or NULL */
JsonbValue *
workon_jwt_json_member_len(JsonbValue *object, const char *name, int len)
{
	int			i;

	Assert(object->type == jbvObject);
	for (i = 0; i < object->val.object.nPairs; i++)
	{
		JsonbValue *key = &object->val.object.pairs[i].key;

		if (key->val.string.len == len && len > 0 && key->val.string.val[0] == name[0] &&
			workon_short_memcmp(key->val.string.val, name, len) == 0)
			return &object->val.object.pairs[i].value;
	}
	return NULL;
}


/*
 * The tree as jsonb
 *
 * The layout is jsonb's on-disk format (utils/jsonb.h), which is fixed
 * across major versions for pg_upgrade: a container is its header (count
 * and kind), then one JEntry per child, the keys' before the values' in an
 * object, then the children's data in the same order.  A JEntry holds the
 * child's type and the length of its data, except every JB_OFFSET_STRIDE'th,
 * which holds the offset of the end of its data instead.  Numerics and
 * containers start on a 4-byte boundary counted from the start of the
 * varlena, the padding being part of their length.  These are the rules of
 * convertJsonbValue() in jsonb_util.c.
 */

typedef struct JsonbWriter
{
	char	   *start;			/* the varlena */
	char	   *p;				/* where the next byte goes */
} JsonbWriter;

/* Zeros up to the next 4-byte boundary; how many */
static inline uint32
pad_to_int(JsonbWriter *w)
{
	uint32		at = (uint32) (w->p - w->start);
	uint32		pad = INTALIGN(at) - at;

	memset(w->p, 0, pad);
	w->p += pad;
	return pad;
}

static void write_container(JsonbWriter *w, const JsonbValue *v, JEntry *entry);

/* The data of v, and its JEntry (type and length) into *entry */
static inline void
write_value(JsonbWriter *w, const JsonbValue *v, JEntry *entry)
{
	switch (v->type)
	{
		case jbvString:
			memcpy(w->p, v->val.string.val, v->val.string.len);
			w->p += v->val.string.len;
			*entry = JENTRY_ISSTRING | v->val.string.len;
			break;
		case jbvNumeric:
			{
				uint32		pad = pad_to_int(w);
				uint32		len = VARSIZE_ANY(v->val.numeric);

				memcpy(w->p, v->val.numeric, len);
				w->p += len;
				*entry = JENTRY_ISNUMERIC | (pad + len);
				break;
			}
		case jbvBool:
			*entry = v->val.boolean ? JENTRY_ISBOOL_TRUE : JENTRY_ISBOOL_FALSE;
			break;
		case jbvNull:
			*entry = JENTRY_ISNULL;
			break;
		case jbvObject:
		case jbvArray:
			write_container(w, v, entry);
			break;
		default:
			elog(ERROR, "unexpected jsonb value type %d", (int) v->type);
	}
}

static void
write_container(JsonbWriter *w, const JsonbValue *v, JEntry *entry)
{
	char	   *begin = w->p;
	bool		object = v->type == jbvObject;
	int			n = object ? v->val.object.nPairs : v->val.array.nElems;
	int			nentries = object ? 2 * n : n;
	uint32		header = (uint32) n | (object ? JB_FOBJECT : JB_FARRAY);
	JEntry	   *entries;
	uint32		total = 0;
	int			i;

	pad_to_int(w);
	memcpy(w->p, &header, sizeof(header));
	w->p += sizeof(header);
	entries = (JEntry *) w->p;	/* 4-byte aligned */
	w->p += nentries * sizeof(JEntry);

	for (i = 0; i < nentries; i++)
	{
		const JsonbValue *child;
		JEntry		meta;

		if (!object)
			child = &v->val.array.elems[i];
		else if (i < n)
			child = &v->val.object.pairs[i].key;
		else
			child = &v->val.object.pairs[i - n].value;
		write_value(w, child, &meta);
		total += JBE_OFFLENFLD(meta);
		if (i % JB_OFFSET_STRIDE == 0)
			meta = (meta & JENTRY_TYPEMASK) | total | JENTRY_HAS_OFF;
		entries[i] = meta;
	}
	*entry = JENTRY_ISCONTAINER | (uint32) (w->p - begin);
}

/*
 * root, an object workon_jwt_json_parse() made, as jsonb; size is the room
 * the parse said it needs (every padding counted at its most).  A token is
 * at most a few kilobytes, so no length reaches JENTRY_OFFLENMASK (256 MB).
 */
Jsonb *
workon_jwt_jsonb(const JsonbValue *root, Size size)
{
	JsonbWriter w;
	JEntry		entry;

	Assert(root->type == jbvObject);
	if (size > JENTRY_OFFLENMASK)
		elog(ERROR, "claim set too large");
	w.start = palloc(size);
	w.p = w.start + VARHDRSZ;
	write_container(&w, root, &entry);
	Assert(w.p - w.start <= size);
	SET_VARSIZE(w.start, w.p - w.start);
	return (Jsonb *) w.start;
}
