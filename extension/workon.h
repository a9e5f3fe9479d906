/*-------------------------------------------------------------------------
 *
 * workon.h
 *	  Declarations shared by the C files of the workon extension.
 *
 * extension/workon.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef WORKON_H
#define WORKON_H

#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

/*
 * workon's own SQLSTATE class "WO".  The HTTP front end maps SQLSTATEs to
 * statuses through the table workon.errors, so the codes mirror HTTP.
 */
#define ERRCODE_WORKON_AUTHENTICATION_REQUIRED	MAKE_SQLSTATE('W','O','4','0','1')
#define ERRCODE_WORKON_NOT_FOUND				MAKE_SQLSTATE('W','O','4','0','4')
#define ERRCODE_WORKON_INVALID_CREDENTIALS		MAKE_SQLSTATE('W','O','A','0','1')
#define ERRCODE_WORKON_TOKEN_REUSED				MAKE_SQLSTATE('W','O','A','0','2')
#define ERRCODE_WORKON_INVALID_REFRESH_TOKEN	MAKE_SQLSTATE('W','O','A','0','3')
#define ERRCODE_WORKON_EMAIL_TAKEN				MAKE_SQLSTATE('W','O','C','0','1')
#define ERRCODE_WORKON_BOOKING_CONFLICT			MAKE_SQLSTATE('W','O','C','0','2')
#define ERRCODE_WORKON_INVALID_TRANSITION		MAKE_SQLSTATE('W','O','C','0','3')
#define ERRCODE_WORKON_CANNOT_CANCEL			MAKE_SQLSTATE('W','O','C','0','4')
#define ERRCODE_WORKON_HAS_FUTURE_BOOKINGS		MAKE_SQLSTATE('W','O','C','0','5')
#define ERRCODE_WORKON_NOT_PAYABLE				MAKE_SQLSTATE('W','O','C','0','6')
#define ERRCODE_WORKON_INVALID_SIGNATURE		MAKE_SQLSTATE('W','O','B','0','1')
#define ERRCODE_WORKON_URL_SIGNATURE			MAKE_SQLSTATE('W','O','U','0','1')
#define ERRCODE_WORKON_TOO_LARGE				MAKE_SQLSTATE('W','O','U','0','2')
#define ERRCODE_WORKON_UNSUPPORTED_TYPE			MAKE_SQLSTATE('W','O','U','0','3')

/* Prefix of the API roles: workon_anon, workon_member, ... */
#define WORKON_ROLE_PREFIX	"workon_"

/* booking.c */
extern PGDLLIMPORT int workon_booking_hold_minutes;

/* opening hours: per weekday (j2day() numbering, 0 is Sunday) local intervals */
#define MAX_DAY_INTERVALS	48

typedef struct DayInterval
{
	int			start;			/* minutes after local midnight */
	int			end;			/* up to 1440 */
} DayInterval;

typedef struct OpeningHours
{
	int			n[7];
	DayInterval iv[7][MAX_DAY_INTERVALS];
} OpeningHours;

typedef struct Period
{
	TimestampTz start;
	TimestampTz end;
} Period;

extern void workon_parse_opening_hours(Jsonb *hours, OpeningHours *out);
extern Timestamp workon_utc_to_local(text *zone, TimestampTz t);
extern TimestampTz workon_local_to_utc(text *zone, Timestamp t);
extern int64 workon_local_day(Timestamp local);
extern int	workon_open_periods(text *zone, OpeningHours *hours, TimestampTz from,
								TimestampTz to, Period **out);

/* email.c */
extern PGDLLIMPORT char *workon_default_locale;
extern PGDLLIMPORT char *workon_app_url;
extern bool workon_check_locale(char **newval, void **extra, GucSource source);

/* claims.c */
extern void workon_claims_init(void);
extern void workon_claims_xact_end(void);
extern void workon_claims_set(const char *api_role, Jsonb *claims);

/* dispatch.c */
extern void workon_dispatch_init(void);
extern void workon_dispatch_xact_end(void);

/* events.c */
extern void workon_events_init(void);
extern void workon_events_dispatching(void);
extern void workon_events_xact_end(void);

/* encode.c */
extern char *workon_b64url_encode(const unsigned char *data, size_t len);
/* bytes workon_b64url_decode_into() may write for len characters */
#define WORKON_B64URL_ROOM(len)	((len) / 4 * 3 + 4)
extern bool workon_b64url_decode_into(const char *in, size_t len,
									  unsigned char *out, size_t *outlen);
extern bool workon_b64url_decode(const char *in, size_t len,
								 unsigned char **out, size_t *outlen);
extern int	workon_hex_value(char c);

/* hmac.c */
extern void workon_hmac_sha256(const unsigned char *key, size_t keylen,
							   const unsigned char *data, size_t datalen,
							   unsigned char *out);
typedef struct WorkonHmacKey WorkonHmacKey;
extern WorkonHmacKey *workon_hmac_key_new(MemoryContext cxt, const unsigned char *key,
										  size_t keylen);
extern void workon_hmac_key_compute(const WorkonHmacKey *hk, const unsigned char *data,
									size_t datalen, unsigned char *out);
extern void workon_hmac_key_prefixed(WorkonHmacKey **out, const WorkonHmacKey *hk,
									 const unsigned char *prefix, size_t len);
extern void workon_hmac_key_clear(WorkonHmacKey *hk);
extern void workon_hmac_key_free(WorkonHmacKey *hk);

/* jwt.c, jwt_cache.c (the JWT files' own declarations: jwt_internal.h) */
extern PGDLLIMPORT char *workon_jwt_issuer;
extern PGDLLIMPORT char *workon_jwt_audience;
extern PGDLLIMPORT int workon_jwt_access_ttl;
extern PGDLLIMPORT int workon_jwt_refresh_ttl;
extern PGDLLIMPORT int workon_refresh_grace;
extern PGDLLIMPORT int workon_jwt_cache_size;
extern Jsonb *workon_jwt_verify_token(text *token);

/* jwt_keys.c */
extern void workon_jwt_init(void);

/* users.c */
extern void workon_users_init(void);
extern const char *workon_user_current_role(const char *sub);

/* password.c */
extern PGDLLIMPORT int workon_scrypt_log_n;
extern PGDLLIMPORT int workon_scrypt_r;
extern PGDLLIMPORT int workon_scrypt_p;

/* upload.c */
extern PGDLLIMPORT int workon_upload_max_bytes;
extern void workon_upload_init(void);

#endif							/* WORKON_H */
