/*-------------------------------------------------------------------------
 *
 * workon.c
 *	  Module entry point of the workon extension.
 *
 * Each concern lives in its own file (booking.c, claims.c, cursor.c,
 * dispatch*.c, email.c, encode.c, events.c, hmac.c, json.c, jwt*.c, password.c,
 * payment.c, restore.c, timezone.c, transitions.c, upload.c, users.c,
 * webhook.c); this one loads them and registers the settings.
 *
 * extension/workon.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "fmgr.h"
#include "utils/guc.h"

#include "workon.h"

PG_MODULE_MAGIC;

PGDLLEXPORT void _PG_init(void);

/* read by SQL only (workon.events_cleanup()) */
static int	workon_event_retention = 86400;
static int	workon_message_email_delay = 600;

/*
 * At the end of every transaction, what was about its request is
 * forgotten: the caller (claims.c), the response a handler asked for and
 * the route handlers retired meanwhile (dispatch*.c), whether a dispatched
 * write leaves its NOTIFY to the caller (events.c).
 */
static void
workon_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			workon_claims_xact_end();
			workon_dispatch_xact_end();
			workon_events_xact_end();
			break;
		default:
			break;
	}
}

/*
 * Register callbacks and settings.  The "workon." prefix is reserved so
 * that a mistyped setting is an error instead of a silently ignored
 * placeholder.
 *
 * Settings that decide what a token grants (lifetimes, issuer, audience)
 * and what a password hash costs are PGC_SUSET: only a superuser, or a
 * role granted SET on them (the install script grants it to
 * workon_authenticator, which passes the front end's configuration), may
 * change them.
 */
void
_PG_init(void)
{
	RegisterXactCallback(workon_xact_callback, NULL);
	workon_claims_init();
	workon_dispatch_init();
	workon_jwt_init();
	workon_users_init();
	workon_upload_init();

	DefineCustomStringVariable("workon.jwt_issuer",
							   "Issuer (\"iss\") of the access tokens workon signs and accepts.",
							   NULL, &workon_jwt_issuer, "workon",
							   PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("workon.jwt_audience",
							   "Audience (\"aud\") of the access tokens workon signs and accepts.",
							   NULL, &workon_jwt_audience, "workon-api",
							   PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("workon.jwt_access_ttl",
							"Lifetime of access tokens.",
							NULL, &workon_jwt_access_ttl, 900, 1, 86400 * 7,
							PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("workon.jwt_refresh_ttl",
							"Lifetime of refresh tokens.",
							NULL, &workon_jwt_refresh_ttl, 30 * 86400, 60, 365 * 86400,
							PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("workon.refresh_grace",
							"How long after its rotation a refresh token may be replayed (two tabs refreshing at once) without revoking its family.",
							NULL, &workon_refresh_grace, 10, 0, 300,
							PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("workon.jwt_cache_size",
							"Verified access tokens each session keeps, so a token sent again is not verified again (0: none).",
							"A cached token is still refused once it expires; a change of workon.jwt_keys or of the issuer or audience empties the cache.",
							&workon_jwt_cache_size, 1024, 0, 65536,
							PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("workon.scrypt_log_n",
							"log2 of the scrypt cost N for new password hashes.",
							NULL, &workon_scrypt_log_n, 17, 1, 20,
							PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("workon.scrypt_r",
							"scrypt block size r for new password hashes.",
							NULL, &workon_scrypt_r, 8, 1, 32,
							PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("workon.scrypt_p",
							"scrypt parallelism p for new password hashes.",
							NULL, &workon_scrypt_p, 1, 1, 16,
							PGC_SUSET, 0, NULL, NULL, NULL);

	DefineCustomIntVariable("workon.booking_hold_minutes",
							"How long a new booking holds its slot while it waits for payment.",
							NULL, &workon_booking_hold_minutes, 15, 1, 1440,
							PGC_SUSET, GUC_UNIT_MIN, NULL, NULL, NULL);

	DefineCustomIntVariable("workon.event_retention",
							"How long realtime events are kept for clients that resume with ?since=.",
							NULL, &workon_event_retention, 86400, 60, 30 * 86400,
							PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("workon.message_email_delay",
							"How long a message stays unread before its recipient is mailed (workon.message_emails_send).",
							NULL, &workon_message_email_delay, 600, 1, 86400,
							PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomStringVariable("workon.default_locale",
							   "Language (fr or en) of the e-mails to users who have not chosen one.",
							   NULL, &workon_default_locale, "en",
							   PGC_SUSET, 0, workon_check_locale, NULL, NULL);
	DefineCustomStringVariable("workon.app_url",
							   "Base URL of the web application, for the links in e-mails (password reset, e-mail verification).",
							   NULL, &workon_app_url, "http://localhost:8080",
							   PGC_SUSET, 0, NULL, NULL, NULL);

	workon_events_init();

	MarkGUCPrefixReserved("workon");
}
