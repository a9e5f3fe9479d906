/*-------------------------------------------------------------------------
 *
 * payment.c
 *	  The payment and refund state machines (Stripe's PaymentIntent and
 *	  Refund lifecycles), the order in which Stripe events are applied, and
 *	  the retry schedule of outbound calls.
 *
 * A payment follows its PaymentIntent:
 *
 *		requires_payment_method -> requires_confirmation | requires_action |
 *								   processing | requires_capture |
 *								   succeeded | canceled
 *		requires_confirmation	-> requires_payment_method | requires_action |
 *								   processing | requires_capture |
 *								   succeeded | canceled
 *		requires_action			-> requires_payment_method |
 *								   requires_confirmation | processing |
 *								   requires_capture | succeeded | canceled
 *		processing				-> requires_payment_method | requires_action |
 *								   requires_capture | succeeded | canceled
 *		requires_capture		-> processing | succeeded | canceled
 *
 * succeeded and canceled are final (a refund does not change a
 * PaymentIntent).  A refund follows its Refund:
 *
 *		pending			-> requires_action | succeeded | failed | canceled
 *		requires_action -> pending | succeeded | failed | canceled
 *		succeeded		-> failed	(a refund can fail after it succeeded)
 *
 * failed and canceled are final.
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

static bool
is_one_of(const char *s, const char *const *list)
{
	for (; *list != NULL; list++)
		if (strcmp(s, *list) == 0)
			return true;
	return false;
}

static bool
payment_allowed(const char *from, const char *to)
{
	static const char *const any_open[] = {
		"requires_payment_method", "requires_confirmation", "requires_action",
		"processing", "requires_capture", "succeeded", "canceled", NULL
	};
	static const char *const from_capture[] = {
		"processing", "succeeded", "canceled", NULL
	};

	if (strcmp(from, to) == 0)
		return false;
	if (strcmp(from, "requires_payment_method") == 0 ||
		strcmp(from, "requires_confirmation") == 0 ||
		strcmp(from, "requires_action") == 0 ||
		strcmp(from, "processing") == 0)
		return is_one_of(to, any_open);
	if (strcmp(from, "requires_capture") == 0)
		return is_one_of(to, from_capture);
	return false;
}

static bool
refund_allowed(const char *from, const char *to)
{
	static const char *const from_open[] = {
		"pending", "requires_action", "succeeded", "failed", "canceled", NULL
	};

	if (strcmp(from, to) == 0)
		return false;
	if (strcmp(from, "pending") == 0 || strcmp(from, "requires_action") == 0)
		return is_one_of(to, from_open);
	if (strcmp(from, "succeeded") == 0)
		return strcmp(to, "failed") == 0;
	return false;
}

/*
 * workon.payment_transition_allowed("from" text, "to" text) returns boolean
 */
PG_FUNCTION_INFO_V1(payment_transition_allowed);
Datum
payment_transition_allowed(PG_FUNCTION_ARGS)
{
	char	   *from = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *to = text_to_cstring(PG_GETARG_TEXT_PP(1));

	PG_RETURN_BOOL(payment_allowed(from, to));
}

/*
 * workon.refund_transition_allowed("from" text, "to" text) returns boolean
 */
PG_FUNCTION_INFO_V1(refund_transition_allowed);
Datum
refund_transition_allowed(PG_FUNCTION_ARGS)
{
	char	   *from = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *to = text_to_cstring(PG_GETARG_TEXT_PP(1));

	PG_RETURN_BOOL(refund_allowed(from, to));
}

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
