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

#include "utils/jsonb.h"

/*
 * workon's own SQLSTATE class "WO".  The HTTP front end maps SQLSTATEs to
 * statuses through the table workon.errors, so the codes mirror HTTP.
 */
#define ERRCODE_WORKON_AUTHENTICATION_REQUIRED	MAKE_SQLSTATE('W','O','4','0','1')
#define ERRCODE_WORKON_NOT_FOUND				MAKE_SQLSTATE('W','O','4','0','4')

/* Prefix of the API roles: workon_anon, workon_member, ... */
#define WORKON_ROLE_PREFIX	"workon_"

/* claims.c */
extern void workon_claims_init(void);
extern void workon_claims_set(const char *api_role, Jsonb *claims);

/* dispatch.c */
extern void workon_dispatch_init(void);

#endif							/* WORKON_H */
