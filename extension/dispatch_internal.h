/*-------------------------------------------------------------------------
 *
 * dispatch_internal.h
 *	  Declarations shared by dispatch.c (the call) and dispatch_bind.c (the
 *	  handlers and their arguments), and by them only.
 *
 * extension/dispatch_internal.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DISPATCH_INTERNAL_H
#define DISPATCH_INTERNAL_H

#include "fmgr.h"
#include "utils/jsonb.h"

#include "workon.h"

typedef struct HandlerArg HandlerArg;

/*
 * What dispatch needs to know about a handler.  Each one lives in its own
 * memory context, which is retired (not freed: a nested dispatch may still
 * be running it) when the entry is rebuilt, and freed at transaction end.
 */
typedef struct HandlerInfo
{
	bool		valid;			/* false once pg_proc changed */
	uint32		hashvalue;		/* of the OID in the PROCOID syscache */
	MemoryContext cxt;
	char	   *name;			/* qualified name, for messages */
	FmgrInfo	flinfo;
	Oid			collation;
	int			nargs;
	HandlerArg *args;			/* nargs of them (dispatch_bind.c) */
	bool		has_body_arg;
	bool		body_is_raw;	/* "body" is neither json nor jsonb */
	int			bytea_body_argno;	/* the "body" argument when it is bytea,
									 * else -1 */
	bool		ret_is_void;
	bool		ret_is_text;	/* text, json or varchar: the body as is */
	bool		ret_is_bytea;	/* the body as is for workon.dispatch_bytes */
	FmgrInfo	output;			/* result output function otherwise */
} HandlerInfo;

/* dispatch_bind.c */
extern void workon_dispatch_bind_init(void);
extern void workon_dispatch_bind_xact_end(void);
extern HandlerInfo *workon_handler_lookup(Oid fn_oid);
extern bool workon_bind_arguments(HandlerInfo *info, FunctionCallInfo call,
								  Jsonb *params, Jsonb *query, text *body,
								  Jsonb *meta);

#endif							/* DISPATCH_INTERNAL_H */
