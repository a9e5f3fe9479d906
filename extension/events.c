/*-------------------------------------------------------------------------
 *
 * events.c
 *	  Who wakes the realtime listeners: the writer's NOTIFY, or its caller
 *	  after commit.
 *
 * A transaction that writes workon.events NOTIFYs workon_events, so that
 * the front ends publish and fan the events out (39_events.sql).  But
 * PostgreSQL serializes the commits of every transaction that sent a
 * NOTIFY in a database (PreCommit_Notify takes a database-wide lock and
 * holds it through the commit's WAL flush): writers that notify cannot
 * share a flush, and bookings/s stays near one over the flush time.
 *
 * So a caller that wakes the listeners itself says so with
 *
 *		workon.notify = 'after_commit'
 *
 * (the HTTP front end does, for every session).  Then a transaction that
 * called workon.dispatch() does not NOTIFY: the trigger sets
 * workon.events_pending to on for the transaction instead, the front end
 * reads it with the call's result and sends one NOTIFY workon_events for
 * many such calls after their commits.  Everything else (the default
 * 'commit', or a transaction that never went through dispatch, such as the
 * front end's outbox worker) notifies in the transaction as before.
 *
 * extension/events.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/async.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"

#include "workon.h"

enum
{
	NOTIFY_COMMIT,				/* NOTIFY in the writing transaction */
	NOTIFY_AFTER_COMMIT			/* dispatched writes: the caller wakes them */
};

static const struct config_enum_entry notify_options[] = {
	{"commit", NOTIFY_COMMIT, false},
	{"after_commit", NOTIFY_AFTER_COMMIT, false},
	{NULL, 0, false}
};

static int	workon_notify = NOTIFY_COMMIT;
static bool workon_events_pending = false;

/* this transaction called workon.dispatch() with workon.notify = after_commit */
static bool dispatched_after_commit = false;

void
workon_events_init(void)
{
	DefineCustomEnumVariable("workon.notify",
							 "When a write through workon.dispatch() wakes the realtime listeners: commit (NOTIFY workon_events in its transaction) or after_commit (the caller notifies after the commit; workon.events_pending says when).",
							 "The HTTP front end sets after_commit: NOTIFY serializes the commits of the transactions that send one.",
							 &workon_notify, NOTIFY_COMMIT, notify_options,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("workon.events_pending",
							 "Set (for the transaction) when a write through workon.dispatch() wrote realtime events without notifying, workon.notify being after_commit.",
							 NULL, &workon_events_pending, false,
							 PGC_USERSET, GUC_NOT_IN_SAMPLE | GUC_NO_RESET_ALL, NULL, NULL, NULL);
}

/* workon.dispatch() begins a call */
void
workon_events_dispatching(void)
{
	if (workon_notify == NOTIFY_AFTER_COMMIT)
		dispatched_after_commit = true;
}

void
workon_events_xact_end(void)
{
	dispatched_after_commit = false;
}

/*
 * workon.events_notify(): the statement trigger of workon.events.
 * NOTIFY workon_events (empty payload: a wake-up), or, in a dispatched
 * transaction whose caller notifies after commit, workon.events_pending.
 */
PG_FUNCTION_INFO_V1(events_notify);
Datum
events_notify(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("workon.events_notify() must be called as a trigger")));

	if (dispatched_after_commit)
	{
		if (!workon_events_pending)
			(void) set_config_option("workon.events_pending", "on",
									 PGC_USERSET, PGC_S_SESSION,
									 GUC_ACTION_LOCAL, true, 0, false);
	}
	else
	{
		PreventCommandDuringRecovery("NOTIFY");
		Async_Notify("workon_events", "");
	}
	return PointerGetDatum(NULL);
}
