/*-------------------------------------------------------------------------
 *
 * payment.c
 *	  The order in which Stripe events are applied, and the retry schedule
 *	  of outbound calls.
 *
 * The payment and refund state machines (Stripe's PaymentIntent and Refund
 * lifecycles) are in transitions.c.
 *
 * Webhook events arrive late, twice and out of order.  They are applied in
 * one canonical order, by the event's "created" second and then by the
 * precedence of its type (stripe_event_precedence) -- the order in which
 * Stripe emits the events of one payment within a second -- so that the
 * state a set of events leads to does not depend on the order they came in.
 *
 * extension/payment.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "common/pg_prng.h"
#include "fmgr.h"
#include "utils/builtins.h"

#include "workon.h"

/* Backoff of outbound calls: 1 s doubling per attempt, at most 10 minutes */
#define OUTBOX_BACKOFF_BASE		1.0
#define OUTBOX_BACKOFF_CAP		600.0

/*
 * workon.stripe_event_precedence(type text) returns int4
 *
 * Rank of an event type among the events of one payment created in the
 * same second: progress before failure before success, the end of a
 * payment before what happens to its charge afterwards.  Other types
 * rank last (100); they are stored and never applied.
 */
PG_FUNCTION_INFO_V1(stripe_event_precedence);
Datum
stripe_event_precedence(PG_FUNCTION_ARGS)
{
	static const char *const order[] = {
		"payment_intent.requires_action",
		"payment_intent.processing",
		"checkout.session.completed",
		"payment_intent.payment_failed",
		"checkout.session.async_payment_failed",
		"payment_intent.amount_capturable_updated",
		"payment_intent.succeeded",
		"checkout.session.async_payment_succeeded",
		"payment_intent.canceled",
		"charge.refunded",
		"charge.dispute.created",
		NULL
	};
	char	   *type = text_to_cstring(PG_GETARG_TEXT_PP(0));
	int			i;

	for (i = 0; order[i] != NULL; i++)
		if (strcmp(type, order[i]) == 0)
			PG_RETURN_INT32(i + 1);
	PG_RETURN_INT32(100);
}

/*
 * workon.outbox_backoff(attempts int4) returns float8
 *
 * Seconds to wait before the next attempt after "attempts" failed ones:
 * 1 s * 2^(attempts - 1), at most 10 minutes, times a random factor in
 * [0.75, 1.25) so that calls failing together do not retry together.
 */
PG_FUNCTION_INFO_V1(outbox_backoff);
Datum
outbox_backoff(PG_FUNCTION_ARGS)
{
	int32		attempts = PG_GETARG_INT32(0);
	double		delay;

	if (attempts < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("attempts must be at least 1")));
	delay = OUTBOX_BACKOFF_BASE * pow(2.0, (double) Min(attempts - 1, 30));
	delay = Min(delay, OUTBOX_BACKOFF_CAP);
	delay *= 0.75 + pg_prng_double(&pg_global_prng_state) / 2.0;
	PG_RETURN_FLOAT8(Min(delay, OUTBOX_BACKOFF_CAP));
}
