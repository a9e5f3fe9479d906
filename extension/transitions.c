/*-------------------------------------------------------------------------
 *
 * transitions.c
 *	  The state machines of bookings, payments and refunds: which status
 *	  may follow which, and who makes the move.
 *
 * Each machine is a table of moves read by one function,
 * transition_allowed().  A status that no row leaves is final, and no
 * status follows itself.  The triggers of workon.bookings, workon.payments
 * and workon.refunds refuse every other change of status, whoever writes
 * (error WOC03 invalid_transition).  Who may make a move is checked by the
 * SQL that makes it: workon.booking_cancel() lets only the member who
 * booked or an admin cancel; a move by Stripe is the effect of its webhook
 * events and of its answers to outbound calls (workon.payment_apply(),
 * workon.refund_apply(), workon.outbox_result()).
 *
 * Payments follow Stripe's PaymentIntent lifecycle, refunds its Refund
 * lifecycle (a refund can fail after it succeeded); a refund does not
 * change a PaymentIntent.  The booking trigger also lets an expired booking
 * be confirmed when its payment succeeded after the hold ran out: that
 * exception depends on the payment, so it is the trigger's.
 *
 * extension/transitions.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"

#include "workon.h"

/* Moves from one status: to any of "to" (NULL-terminated), made by "by" */
typedef struct StateMoves
{
	const char *from;
	const char *const to[7];
	const char *by;
} StateMoves;

static const StateMoves booking_moves[] = {
	{"pending_payment", {"confirmed"}, "Stripe: the payment succeeded"},
	{"pending_payment", {"expired"}, "a new booking of the slot, once the hold ran out"},
	{"pending_payment", {"cancelled"}, "the member who booked or an admin; Stripe: the payment was canceled"},
	{"confirmed", {"cancelled"}, "the member who booked or an admin; Stripe: the payment was refunded"},
	{"confirmed", {"completed"}, "the end of the booking (nothing makes this move yet)"},
	{NULL}
};

static const StateMoves payment_moves[] = {
	{"requires_payment_method", {"requires_confirmation", "requires_action", "processing", "requires_capture", "succeeded", "canceled"}, "Stripe"},
	{"requires_confirmation", {"requires_payment_method", "requires_action", "processing", "requires_capture", "succeeded", "canceled"}, "Stripe"},
	{"requires_action", {"requires_payment_method", "requires_confirmation", "processing", "requires_capture", "succeeded", "canceled"}, "Stripe"},
	{"processing", {"requires_payment_method", "requires_confirmation", "requires_action", "requires_capture", "succeeded", "canceled"}, "Stripe"},
	{"requires_capture", {"processing", "succeeded", "canceled"}, "Stripe"},
	{NULL}
};

static const StateMoves refund_moves[] = {
	{"pending", {"requires_action", "succeeded", "failed", "canceled"}, "Stripe"},
	{"requires_action", {"pending", "succeeded", "failed", "canceled"}, "Stripe"},
	{"succeeded", {"failed"}, "Stripe"},
	{NULL}
};

/* Whether a row of the machine moves from "from" to "to" */
static bool
transition_allowed(const StateMoves *machine, text *from_arg, text *to_arg)
{
	char	   *from = text_to_cstring(from_arg);
	char	   *to = text_to_cstring(to_arg);

	for (; machine->from != NULL; machine++)
	{
		const char *const *target;

		if (strcmp(machine->from, from) != 0)
			continue;
		for (target = machine->to; *target != NULL; target++)
		{
			if (strcmp(*target, to) == 0)
				return true;
		}
	}
	return false;
}

/*
 * workon.booking_transition_allowed("from" text, "to" text) returns boolean
 */
PG_FUNCTION_INFO_V1(booking_transition_allowed);
Datum
booking_transition_allowed(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(transition_allowed(booking_moves, PG_GETARG_TEXT_PP(0),
									  PG_GETARG_TEXT_PP(1)));
}

/*
 * workon.payment_transition_allowed("from" text, "to" text) returns boolean
 */
PG_FUNCTION_INFO_V1(payment_transition_allowed);
Datum
payment_transition_allowed(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(transition_allowed(payment_moves, PG_GETARG_TEXT_PP(0),
									  PG_GETARG_TEXT_PP(1)));
}

/*
 * workon.refund_transition_allowed("from" text, "to" text) returns boolean
 */
PG_FUNCTION_INFO_V1(refund_transition_allowed);
Datum
refund_transition_allowed(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(transition_allowed(refund_moves, PG_GETARG_TEXT_PP(0),
									  PG_GETARG_TEXT_PP(1)));
}
