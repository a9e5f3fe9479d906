/*
 * A small stand-in for the PostgreSQL backend functions the extension's
 * parsers reach, so they can be fuzzed outside a server:
 *
 *   palloc & co.   malloc'd, chained, all freed by pgstub_reset() after each input
 *   ereport/elog   ERROR and above longjmp to pgstub_error_jump; lower levels return
 *   encoding       the database is UTF-8
 *   text, arrays   4-byte-header varlenas, never toasted; deconstruct_array gives the
 *                  byteas pgstub_keys holds
 *   numeric_in     a NaN (the parsers store numerics, they do not read them)
 *
 * libpgcommon provides the rest (UTF-8 checks, StringInfo, psprintf).
 */
#include "postgres.h"

#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "pgstub.h"

sigjmp_buf	pgstub_error_jump;
MemoryContext TopMemoryContext = NULL;
MemoryContext CurrentMemoryContext = NULL;

typedef struct Chunk
{
	struct Chunk *next;
	struct Chunk *prev;
	size_t		size;
	max_align_t	data[];
} Chunk;

static Chunk *chunks;
static int	error_level;

static void *
chunk_alloc(size_t size, bool zero)
{
	Chunk	   *c = zero ? calloc(1, sizeof(Chunk) + size) : malloc(sizeof(Chunk) + size);

	if (c == NULL)
		abort();
	c->size = size;
	c->prev = NULL;
	c->next = chunks;
	if (chunks != NULL)
		chunks->prev = c;
	chunks = c;
	return c->data;
}

static Chunk *
chunk_of(void *p)
{
	return (Chunk *) ((char *) p - offsetof(Chunk, data));
}

static void
chunk_unlink(Chunk *c)
{
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		chunks = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
}

void
pgstub_reset(void)
{
	while (chunks != NULL)
	{
		Chunk	   *c = chunks;

		chunks = c->next;
		free(c);
	}
}

void *
palloc(Size size)
{
	return chunk_alloc(size, false);
}

void *
palloc0(Size size)
{
	return chunk_alloc(size, true);
}

void *
palloc_extended(Size size, int flags)
{
	return chunk_alloc(size, (flags & MCXT_ALLOC_ZERO) != 0);
}

void *
MemoryContextAlloc(MemoryContext context, Size size)
{
	void	   *p = malloc(size);	/* lives on, like TopMemoryContext's */

	if (p == NULL)
		abort();
	return p;
}

void
pfree(void *p)
{
	Chunk	   *c = chunk_of(p);

	chunk_unlink(c);
	free(c);
}

void *
repalloc(void *p, Size size)
{
	Chunk	   *c = chunk_of(p);
	void	   *q = chunk_alloc(size, false);

	memcpy(q, c->data, c->size < size ? c->size : size);
	chunk_unlink(c);
	free(c);
	return q;
}

char *
pstrdup(const char *s)
{
	return pnstrdup(s, strlen(s));
}

char *
pnstrdup(const char *s, Size len)
{
	char	   *p;

	len = strnlen(s, len);
	p = palloc(len + 1);
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

bool
errstart(int elevel, const char *domain)
{
	error_level = elevel;
	return true;
}

bool
errstart_cold(int elevel, const char *domain)
{
	return errstart(elevel, domain);
}

void
errfinish(const char *filename, int lineno, const char *funcname)
{
	if (error_level >= ERROR)
		siglongjmp(pgstub_error_jump, 1);
}

/* the parts of a report: nothing is kept */
int
errcode(int sqlerrcode)
{
	return 0;
}

#define IGNORED_REPORT_PART(name) \
	int name(const char *fmt,...) { return 0; }
IGNORED_REPORT_PART(errmsg)
IGNORED_REPORT_PART(errmsg_internal)
IGNORED_REPORT_PART(errdetail)
IGNORED_REPORT_PART(errhint)

int
GetDatabaseEncoding(void)
{
	return PG_UTF8;
}

struct varlena *
pg_detoast_datum(struct varlena *datum)
{
	return datum;
}

struct varlena *
pg_detoast_datum_packed(struct varlena *datum)
{
	return datum;
}

void *
pgstub_text(const void *data, size_t len)
{
	text	   *t = palloc(VARHDRSZ + len);

	SET_VARSIZE(t, VARHDRSZ + len);
	memcpy(VARDATA(t), data, len);
	return t;
}

text *
cstring_to_text(const char *s)
{
	return pgstub_text(s, strlen(s));
}

text *
cstring_to_text_with_len(const char *s, int len)
{
	return pgstub_text(s, len);
}

char *
text_to_cstring(const text *t)
{
	return pnstrdup(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
}

Datum
DirectFunctionCall3Coll(PGFunction func, Oid collation, Datum arg1, Datum arg2, Datum arg3)
{
	char	   *nan = palloc(VARHDRSZ + sizeof(uint16));

	SET_VARSIZE(nan, VARHDRSZ + sizeof(uint16));
	*(uint16 *) (nan + VARHDRSZ) = 0xC000;	/* NUMERIC_NAN */
	return PointerGetDatum(nan);
}

Datum
numeric_in(PG_FUNCTION_ARGS)
{
	abort();					/* called through DirectFunctionCall3Coll only */
}

bytea	   *pgstub_keys[4];
int			pgstub_nkeys;

void
deconstruct_array(ArrayType *array, Oid elmtype, int elmlen, bool elmbyval, char elmalign,
				  Datum **elemsp, bool **nullsp, int *nelemsp)
{
	int			i;

	*elemsp = palloc(sizeof(Datum) * (pgstub_nkeys + 1));
	*nullsp = palloc(sizeof(bool) * (pgstub_nkeys + 1));
	for (i = 0; i < pgstub_nkeys; i++)
	{
		(*elemsp)[i] = PointerGetDatum(pgstub_keys[i]);
		(*nullsp)[i] = false;
	}
	*nelemsp = pgstub_nkeys;
}

pg_time_t
timestamptz_to_time_t(TimestampTz t)
{
	return (pg_time_t) (t / USECS_PER_SEC + ((POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY));
}
