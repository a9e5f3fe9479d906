/*-------------------------------------------------------------------------
 *
 * workon.c
 *	  Module entry point of the workon extension.
 *
 * Each concern lives in its own file (claims.c, cursor.c, dispatch.c,
 * timezone.c); this one only loads them.
 *
 * extension/workon.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

#include "workon.h"

PG_MODULE_MAGIC;

PGDLLEXPORT void _PG_init(void);

/*
 * Register callbacks and settings.  workon has no settings of its own yet,
 * but the "workon." prefix is reserved so that a mistyped one is an error
 * instead of a silently ignored placeholder.
 */
void
_PG_init(void)
{
	workon_claims_init();
	workon_dispatch_init();

	MarkGUCPrefixReserved("workon");
}
