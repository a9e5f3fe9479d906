/*-------------------------------------------------------------------------
 *
 * restore.c
 *	  Recognizing a restore of pg_dump's output.
 *
 * CREATE EXTENSION in a restore creates workon's tables with their
 * triggers, and pg_dump's data then arrives as one COPY ... FROM stdin per
 * table.  The triggers that act on a live write must not act on those rows:
 * the audit trigger would log every row a second time (and take audit_log
 * ids the restored rows still need), the checks of spaces refuse rows that
 * were valid when written, the outbox would be notified of rows already
 * handled.  The restored rows are the result of those triggers already.
 *
 * workon.restoring(rel) says that the row a trigger of rel sees is being
 * loaded that way: the statement the client sent is a COPY FROM into rel
 * itself, and both the session user and the current role outside any
 * SECURITY DEFINER function are superusers.
 *
 * Why this is safe:
 *	- A superuser can already write anything without triggers (ALTER TABLE
 *	  ... DISABLE TRIGGER, session_replication_role = replica), so nothing is
 *	  given to anyone who could not bypass audit and state checks before.
 *	- The API roles are reached through the login role workon_authenticator
 *	  (SET ROLE inside workon.dispatch), which is no superuser: its session
 *	  user is never one, whatever the request does.
 *	- A superuser session that SET ROLEs to a lesser role is that role for
 *	  this check (GetOuterUserId), and a SECURITY DEFINER function owned by a
 *	  superuser changes only the current user, not those two.
 *	- Only the statement at the top of the client's message counts
 *	  (ActivePortal), and only for rows written into the table the COPY names:
 *	  a function called from a query, from COPY (query) TO, from a column
 *	  default or from another table's trigger writes as usual.
 *
 * A superuser's COPY FROM into a workon table outside a restore is taken
 * the same way: it loads rows as they are (the README says so).
 *
 * extension/restore.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "nodes/plannodes.h"
#include "tcop/cmdtag.h"
#include "tcop/pquery.h"
#include "utils/portal.h"

#include "workon.h"

/*
 * workon.restoring(rel regclass) returns boolean: true while rows are
 * loaded into rel by a superuser's top-level COPY FROM (a restore).
 */
PG_FUNCTION_INFO_V1(restoring);
Datum
restoring(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	Portal		portal = ActivePortal;
	PlannedStmt *pstmt;
	CopyStmt   *copy;

	if (portal == NULL || portal->commandTag != CMDTAG_COPY ||
		list_length(portal->stmts) != 1)
		PG_RETURN_BOOL(false);

	pstmt = linitial_node(PlannedStmt, portal->stmts);
	if (pstmt->commandType != CMD_UTILITY || pstmt->utilityStmt == NULL ||
		!IsA(pstmt->utilityStmt, CopyStmt))
		PG_RETURN_BOOL(false);

	copy = (CopyStmt *) pstmt->utilityStmt;
	if (!copy->is_from || copy->relation == NULL)
		PG_RETURN_BOOL(false);

	if (!superuser_arg(GetSessionUserId()) || !superuser_arg(GetOuterUserId()))
		PG_RETURN_BOOL(false);

	/*
	 * pg_dump names tables with their schema; an unqualified name is looked
	 * up in the caller's search_path, which may not find the same table: the
	 * answer is then false and the triggers run, never the other way round.
	 */
	PG_RETURN_BOOL(RangeVarGetRelid(copy->relation, NoLock, true) == relid);
}
