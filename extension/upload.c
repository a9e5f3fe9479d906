/*-------------------------------------------------------------------------
 *
 * upload.c
 *	  Uploaded files: signed URLs, checks on content, download headers.
 *
 * A file is uploaded and downloaded through URLs that carry their own
 * permission:
 *
 *		/api/v1/uploads/<id>/content?expires=<unix seconds>&sig=<sig>
 *
 * where sig is HMAC-SHA256, under a key derived from SIGNED_URL_SECRET,
 * of "<METHOD>\n<path>\n<expires>", in unpadded base64url.  The path names
 * the upload, so a signature made for one upload (or one method) does not
 * open another.  Signatures are compared in constant time.
 *
 * A file is accepted on what its bytes are, never on what the client says:
 * its first bytes must be the magic of JPEG, PNG, WebP or PDF, and that type
 * must be the one declared.  A file whose first kilobyte carries markup
 * (<script, <html, <!doctype, ...) is refused, because a browser that
 * sniffs content could take such a polyglot for a web page.
 *
 * extension/upload.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/crypto.h>

#include "access/detoast.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "workon.h"

#define URL_MAC_LEN			32	/* HMAC-SHA256 */
#define SNIFF_LEN			1024	/* bytes looked at for markup */
#define MAX_URL_PART		2048	/* method and path signed, at most */

/* workon.upload_max_bytes: largest file accepted (UPLOAD_MAX_BYTES) */
int			workon_upload_max_bytes = 10 * 1024 * 1024;

/* workon.upload_store: where the bytes of new uploads go (UPLOAD_STORE) */
static int	workon_upload_store = 0;

static const struct config_enum_entry upload_store_options[] = {
	{"postgres", 0, false},
	{"s3", 1, false},
	{NULL, 0, false}
};

/* The file types accepted, by their magic */
typedef struct FileMagic
{
	const char *content_type;
	int			offset;
	int			len;
	const char *magic;
} FileMagic;

static const FileMagic file_magics[] = {
	{"image/jpeg", 0, 3, "\xFF\xD8\xFF"},
	{"image/png", 0, 8, "\x89PNG\r\n\x1A\n"},
	{"application/pdf", 0, 5, "%PDF-"},
	/* RIFF <size> WEBP; checked with its second half below */
	{"image/webp", 0, 4, "RIFF"},
};

/* Markup that makes a browser that sniffs take bytes for a page */
static const char *const markup_markers[] = {
	"<!doctype", "<html", "<head", "<body", "<script", "<iframe", "<svg",
	"<object", "<embed", "<meta", "<a href", "<img", "<style", "<title",
};

void
workon_upload_init(void)
{
	DefineCustomIntVariable("workon.upload_max_bytes",
							"Largest file upload accepted, in bytes.",
							"Checked on the size an upload declares and on the bytes sent.",
							&workon_upload_max_bytes, 10 * 1024 * 1024, 1, INT_MAX,
							PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomEnumVariable("workon.upload_store",
							 "Where the bytes of new uploads are kept: postgres or s3.",
							 "postgres: workon.upload_data; s3: the front end's bucket, written and read by the front end.",
							 &workon_upload_store, 0, upload_store_options,
							 PGC_SUSET, 0, NULL, NULL, NULL);
}

/*
 * The MAC of a signed URL: HMAC-SHA256(key, "METHOD\npath\nexpires")
 */
static void
url_mac(const unsigned char *key, size_t keylen, text *method, text *path,
		int64 expires, unsigned char *out)
{
	StringInfoData buf;
	int			mlen = VARSIZE_ANY_EXHDR(method);
	int			plen = VARSIZE_ANY_EXHDR(path);

	if (mlen == 0 || mlen > 16 || plen == 0 || plen > MAX_URL_PART)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("signed URL method or path is empty or too long")));
	if (keylen < 32)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("signed URL key must be at least 32 bytes")));

	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, VARDATA_ANY(method), mlen);
	appendStringInfoChar(&buf, '\n');
	appendBinaryStringInfo(&buf, VARDATA_ANY(path), plen);
	appendStringInfo(&buf, "\n" INT64_FORMAT, expires);
	workon_hmac_sha256(key, keylen, (unsigned char *) buf.data, buf.len, out);
	pfree(buf.data);
}

/*
 * workon.url_signature(key bytea, method text, path text, expires bigint)
 *	  returns text
 *
 * The sig parameter of a URL for method and path valid until expires (Unix
 * seconds): unpadded base64url HMAC-SHA256 of "METHOD\npath\nexpires".
 */
PG_FUNCTION_INFO_V1(url_signature);
Datum
url_signature(PG_FUNCTION_ARGS)
{
	bytea	   *key = PG_GETARG_BYTEA_PP(0);
	text	   *method = PG_GETARG_TEXT_PP(1);
	text	   *path = PG_GETARG_TEXT_PP(2);
	int64		expires = PG_GETARG_INT64(3);
	unsigned char mac[URL_MAC_LEN];

	url_mac((unsigned char *) VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key),
			method, path, expires, mac);
	PG_RETURN_TEXT_P(cstring_to_text(workon_b64url_encode(mac, URL_MAC_LEN)));
}

/*
 * workon.url_signature_check(keys bytea[], method text, path text,
 *							  expires bigint, sig text, now timestamptz)
 *	  returns void
 *
 * Error WOU01 unless sig is the signature of method, path and expires under
 * one of the keys (during a rotation several are valid) and expires is not
 * past.  Not strict: a URL without expires or sig is not signed.
 */
PG_FUNCTION_INFO_V1(url_signature_check);
Datum
url_signature_check(PG_FUNCTION_ARGS)
{
	ArrayType  *keys;
	text	   *method;
	text	   *path;
	int64		expires;
	text	   *sig;
	TimestampTz now;
	Datum	   *elems;
	bool	   *nulls;
	int			nkeys;
	unsigned char given[WORKON_B64URL_ROOM(64)];
	size_t		givenlen = 0;
	bool		match = false;
	int			i;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		elog(ERROR, "url_signature_check: method and path are required");
	method = PG_GETARG_TEXT_PP(1);
	path = PG_GETARG_TEXT_PP(2);
	if (PG_ARGISNULL(3) || PG_ARGISNULL(4))
		ereport(ERROR,
				(errcode(ERRCODE_WORKON_URL_SIGNATURE),
				 errmsg("URL is not signed"),
				 errdetail("The URL needs its expires and sig parameters.")));
	expires = PG_GETARG_INT64(3);
	sig = PG_GETARG_TEXT_PP(4);
	now = PG_ARGISNULL(5) ? GetCurrentTransactionStartTimestamp() : PG_GETARG_TIMESTAMPTZ(5);

	/* a signature that does not decode to 32 bytes matches nothing */
	if (VARSIZE_ANY_EXHDR(sig) <= 64 &&
		workon_b64url_decode_into(VARDATA_ANY(sig), VARSIZE_ANY_EXHDR(sig),
								  given, &givenlen) &&
		givenlen == URL_MAC_LEN && !PG_ARGISNULL(0))
	{
		keys = PG_GETARG_ARRAYTYPE_P(0);
		deconstruct_array(keys, BYTEAOID, -1, false, TYPALIGN_INT,
						  &elems, &nulls, &nkeys);
		for (i = 0; i < nkeys; i++)
		{
			bytea	   *key;
			unsigned char mac[URL_MAC_LEN];

			if (nulls[i])
				continue;
			key = DatumGetByteaPP(elems[i]);
			url_mac((unsigned char *) VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key),
					method, path, expires, mac);
			match |= (CRYPTO_memcmp(mac, given, URL_MAC_LEN) == 0);
		}
	}

	if (!match)
		ereport(ERROR,
				(errcode(ERRCODE_WORKON_URL_SIGNATURE),
				 errmsg("URL signature does not match"),
				 errdetail("The signature was made for another URL, another method or another key, or was changed.")));
	/* checked after the MAC, so that a forged expires learns nothing */
	if (expires < (int64) timestamptz_to_time_t(now))
		ereport(ERROR,
				(errcode(ERRCODE_WORKON_URL_SIGNATURE),
				 errmsg("signed URL has expired"),
				 errdetail("Ask for a fresh URL.")));

	PG_RETURN_VOID();
}

/*
 * The type of a file by its first bytes: one of file_magics, or NULL
 */
static const char *
sniff_type(const unsigned char *data, int len)
{
	int			i;

	for (i = 0; i < lengthof(file_magics); i++)
	{
		const FileMagic *m = &file_magics[i];

		if (len < m->offset + m->len ||
			memcmp(data + m->offset, m->magic, m->len) != 0)
			continue;
		if (strcmp(m->content_type, "image/webp") == 0 &&
			(len < 12 || memcmp(data + 8, "WEBP", 4) != 0))
			continue;
		return m->content_type;
	}
	return NULL;
}

/* The markup marker found in the first bytes, case-insensitively, or NULL */
static const char *
find_markup(const unsigned char *data, int len)
{
	int			pos;
	int			i;

	for (pos = 0; pos < len; pos++)
	{
		if (data[pos] != '<')
			continue;
		for (i = 0; i < lengthof(markup_markers); i++)
		{
			const char *mk = markup_markers[i];
			int			mlen = strlen(mk);

			if (pos + mlen <= len &&
				pg_strncasecmp((const char *) data + pos, mk, mlen) == 0)
				return mk;
		}
	}
	return NULL;
}

/*
 * workon.file_type(bytes bytea) returns text
 *
 * What the bytes are by their magic: image/jpeg, image/png, image/webp or
 * application/pdf; NULL for anything else.
 */
PG_FUNCTION_INFO_V1(file_type);
Datum
file_type(PG_FUNCTION_ARGS)
{
	bytea	   *head = PG_GETARG_BYTEA_P_SLICE(0, 0, 16);
	const char *type = sniff_type((unsigned char *) VARDATA(head), VARSIZE(head) - VARHDRSZ);

	if (type == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(type));
}

/*
 * workon.file_check(bytes bytea, content_type text) returns void
 *
 * Accepts a file whose bytes are at most workon.upload_max_bytes (else
 * WOU02), of an accepted type that is the declared one and without markup
 * in its first kilobyte (else WOU03).  Reads only the first kilobyte.
 */
PG_FUNCTION_INFO_V1(file_check);
Datum
file_check(PG_FUNCTION_ARGS)
{
	Size		size = toast_raw_datum_size(PG_GETARG_DATUM(0)) - VARHDRSZ;
	char	   *declared = text_to_cstring(PG_GETARG_TEXT_PP(1));
	bytea	   *head;
	int			headlen;
	const char *type;
	const char *marker;

	if (size > (Size) workon_upload_max_bytes)
		ereport(ERROR,
				(errcode(ERRCODE_WORKON_TOO_LARGE),
				 errmsg("file is larger than %d bytes", workon_upload_max_bytes)));
	if (size == 0)
		ereport(ERROR,
				(errcode(ERRCODE_WORKON_UNSUPPORTED_TYPE),
				 errmsg("file is empty")));

	head = PG_GETARG_BYTEA_P_SLICE(0, 0, SNIFF_LEN);
	headlen = VARSIZE(head) - VARHDRSZ;
	type = sniff_type((unsigned char *) VARDATA(head), headlen);
	if (type == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_WORKON_UNSUPPORTED_TYPE),
				 errmsg("file is not a JPEG, PNG, WebP or PDF file"),
				 errdetail("The type is decided by the file's content, not its name.")));
	if (strcmp(type, declared) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_WORKON_UNSUPPORTED_TYPE),
				 errmsg("file content is %s, not the declared %s", type, declared)));
	marker = find_markup((unsigned char *) VARDATA(head), headlen);
	if (marker != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_WORKON_UNSUPPORTED_TYPE),
				 errmsg("file carries markup in its first kilobyte"),
				 errdetail("\"%s\" was found; a browser could take the file for a page.", marker)));

	PG_RETURN_VOID();
}

/* RFC 5987 attr-char: sent as is in filename* */
static bool
is_attr_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		(c >= '0' && c <= '9') || (c != '\0' && strchr("!#$&+-.^_`|~", c) != NULL);
}

/*
 * workon.content_disposition(disposition text, filename text) returns text
 *
 * A Content-Disposition value per RFC 6266: disposition "inline" or
 * "attachment", filename="<ASCII fallback>" (characters outside printable
 * ASCII, quotes, backslashes and path separators as "_") and
 * filename*=UTF-8''<percent-encoded UTF-8 name>.
 */
PG_FUNCTION_INFO_V1(content_disposition);
Datum
content_disposition(PG_FUNCTION_ARGS)
{
	char	   *disposition = text_to_cstring(PG_GETARG_TEXT_PP(0));
	text	   *filename = PG_GETARG_TEXT_PP(1);
	const unsigned char *name = (unsigned char *) VARDATA_ANY(filename);
	int			len = VARSIZE_ANY_EXHDR(filename);
	StringInfoData buf;
	int			i;

	if (strcmp(disposition, "inline") != 0 && strcmp(disposition, "attachment") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("disposition must be inline or attachment")));

	initStringInfo(&buf);
	appendStringInfo(&buf, "%s; filename=\"", disposition);
	for (i = 0; i < len; i++)
	{
		unsigned char c = name[i];

		if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '/')
		{
			/* one "_" per character, not per byte of it */
			if (c < 0x80 || c >= 0xc0)
				appendStringInfoChar(&buf, '_');
		}
		else
			appendStringInfoChar(&buf, c);
	}
	appendStringInfoString(&buf, "\"; filename*=UTF-8''");
	for (i = 0; i < len; i++)
	{
		if (is_attr_char(name[i]))
			appendStringInfoChar(&buf, name[i]);
		else
			appendStringInfo(&buf, "%%%02X", name[i]);
	}
	PG_RETURN_TEXT_P(cstring_to_text_with_len(buf.data, buf.len));
}
