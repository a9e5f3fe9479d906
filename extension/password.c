/*-------------------------------------------------------------------------
 *
 * password.c
 *	  Password hashing (scrypt), verification and the password rules.
 *
 * Stored form, with its parameters so that they can be raised later:
 *
 *		$scrypt$ln=17,r=8,p=1$<salt>$<hash>
 *
 * ln is log2 of the CPU/memory cost N, salt (16 bytes) and hash (32 bytes)
 * are unpadded base64url.  New hashes use the settings workon.scrypt_log_n,
 * workon.scrypt_r and workon.scrypt_p (OWASP: N = 2^17, r = 8, p = 1; only
 * a superuser changes them).  workon.password_needs_rehash() says when a
 * stored hash is weaker than that, so that a successful login can store a
 * new one.
 *
 * workon.password_verify() takes the same time whether or not there is a
 * stored hash: without one it derives a key with the current parameters
 * against a dummy salt, so that "no such user" and "wrong password" look
 * alike from outside.  Comparison is constant-time.
 *
 * extension/password.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "catalog/pg_collation.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "port.h"
#include "utils/builtins.h"
#include "utils/formatting.h"

#include "workon.h"

#define SCRYPT_PREFIX		"$scrypt$"
#define SCRYPT_SALT_LEN		16
#define SCRYPT_HASH_LEN		32

/* Bounds on parameters, stored or configured: at most 1 GiB of memory */
#define SCRYPT_MAX_LOG_N	20
#define SCRYPT_MAX_R		32
#define SCRYPT_MAX_P		16
#define SCRYPT_MAX_MEM		((uint64) 1 << 30)

#define PASSWORD_MIN_CHARS	8
#define PASSWORD_MAX_CHARS	128

/* GUCs, registered in workon.c */
int			workon_scrypt_log_n = 17;
int			workon_scrypt_r = 8;
int			workon_scrypt_p = 1;

typedef struct ScryptParams
{
	int			log_n;
	int			r;
	int			p;
} ScryptParams;

/*
 * Passwords that every guessing list tries first, in lower case.  Compared
 * case-insensitively; shorter ones are refused by the length rule anyway.
 */
static const char *const common_passwords[] = {
	"00000000",
	"000000000",
	"0000000000",
	"00000001",
	"01234567",
	"0123456789",
	"11111111",
	"111111111",
	"1111111111",
	"11223344",
	"12121212",
	"123123123",
	"123321123",
	"12341234",
	"12344321",
	"12345678",
	"123456789",
	"1234567890",
	"12345678910",
	"123456789a",
	"12345678a",
	"1234567a",
	"123456abc",
	"1234abcd",
	"1234qwer",
	"123asdqwe",
	"123qweasd",
	"123qweasdzxc",
	"12qwaszx",
	"147258369",
	"159753258",
	"1password",
	"1q2w3e4r",
	"1q2w3e4r5t",
	"1q2w3e4r5t6y",
	"1qaz2wsx",
	"1qaz2wsx3edc",
	"1qazxsw2",
	"22222222",
	"33333333",
	"44444444",
	"55555555",
	"66666666",
	"77777777",
	"87654321",
	"88888888",
	"987654321",
	"9876543210",
	"99999999",
	"a12345678",
	"a123456789",
	"a1b2c3d4",
	"aa123456",
	"aaaaaaaa",
	"aaaaaaaaa",
	"abc12345",
	"abc123456",
	"abc123abc",
	"abcabcabc",
	"abcd1234",
	"abcd12345",
	"abcdefg1",
	"abcdefgh",
	"access123",
	"access14",
	"admin123",
	"admin1234",
	"admin12345",
	"adminadmin",
	"administrator",
	"angel123",
	"angelina",
	"arsenal1",
	"asd12345",
	"asdasdasd",
	"asdf1234",
	"asdfasdf",
	"asdfghjk",
	"asdfghjkl",
	"asdfzxcv",
	"asshole1",
	"autumn2023",
	"azertyui",
	"azertyuiop",
	"babygirl",
	"babygirl1",
	"banana12",
	"barcelona",
	"baseball",
	"baseball1",
	"basketball",
	"batman123",
	"beautiful",
	"blessed1",
	"blink182",
	"buster12",
	"butterfly",
	"changeme",
	"changeme1",
	"changeme123",
	"charlie1",
	"cheese12",
	"chelsea1",
	"chicken1",
	"chocolate",
	"christmas",
	"computer",
	"computer1",
	"cookie123",
	"coworking",
	"december",
	"default1",
	"dragon12",
	"dragon123",
	"facebook",
	"facebook1",
	"falcon12",
	"flower12",
	"flowers1",
	"football",
	"football1",
	"fortnite",
	"freedom1",
	"friday13",
	"fuckoff1",
	"fuckyou1",
	"fuckyou123",
	"gateway1",
	"ginger12",
	"godisgood",
	"golfer12",
	"goodluck",
	"google123",
	"guest123",
	"guestguest",
	"halloween",
	"hello123",
	"hello1234",
	"hellohello",
	"helloworld",
	"hockey123",
	"hunter12",
	"iamthebest",
	"iloveyou",
	"iloveyou!",
	"iloveyou1",
	"iloveyou2",
	"instagram",
	"internet",
	"ironman1",
	"january1",
	"jennifer",
	"jessica1",
	"jesus123",
	"jesuschrist",
	"jordan23",
	"killer12",
	"letmein!",
	"letmein1",
	"letmein123",
	"letmeinnow",
	"letmeinplease",
	"letsgo123",
	"linkedin",
	"liverpool",
	"login123",
	"lovelove",
	"lovely12",
	"loveyou1",
	"manchester",
	"master12",
	"master123",
	"mastermind",
	"maverick",
	"metallica",
	"michael1",
	"michelle",
	"microsoft",
	"midnight",
	"minecraft",
	"monday12",
	"monkey12",
	"monkey123",
	"motdepasse",
	"mustang1",
	"mypassword",
	"mysecret",
	"newyork1",
	"nintendo",
	"nirvana1",
	"november",
	"orange12",
	"p@ssw0rd",
	"p@ssword",
	"pa$$word",
	"pass1234",
	"passpass",
	"passw0rd",
	"password",
	"password!",
	"password01",
	"password1",
	"password12",
	"password123",
	"password1234",
	"password2",
	"password3",
	"passwort",
	"peanut12",
	"pepper123",
	"playstation",
	"pokemon1",
	"pokemon123",
	"precious",
	"princess",
	"princess1",
	"q1w2e3r4",
	"q1w2e3r4t5",
	"q1w2e3r4t5y6",
	"qazwsxedc",
	"qqqqqqqq",
	"qwe12345",
	"qwe123qwe",
	"qweasd123",
	"qweasdzxc",
	"qweqweqwe",
	"qwer1234",
	"qwerasdf",
	"qwerty12",
	"qwerty123",
	"qwerty1234",
	"qwerty123456",
	"qwertyui",
	"qwertyuiop",
	"qwertyuiop123",
	"ranger12",
	"root1234",
	"rootroot",
	"samsung1",
	"samsung123",
	"secret12",
	"secret123",
	"security",
	"security1",
	"september",
	"shadow12",
	"snoopy12",
	"soccer12",
	"soccer123",
	"spiderman",
	"spring2023",
	"spring2024",
	"starwars",
	"starwars1",
	"summer12",
	"summer2020",
	"summer2021",
	"summer2022",
	"summer2023",
	"summer2024",
	"sunshine",
	"sunshine1",
	"superman",
	"superman1",
	"sweetheart",
	"tennis12",
	"test1234",
	"test12345",
	"testing1",
	"testing123",
	"testtest",
	"thebest1",
	"tigger12",
	"toor1234",
	"trustno1",
	"trustnoone",
	"twitter1",
	"user1234",
	"username",
	"welcome!",
	"welcome1",
	"welcome123",
	"welcome2",
	"welcometo",
	"whatever",
	"whatever1",
	"whatsup1",
	"winter12",
	"winter2020",
	"winter2021",
	"winter2022",
	"winter2023",
	"winter2024",
	"wordpass",
	"workon123",
	"workspace",
	"xxxxxxxx",
	"yourpassword",
	"youtube1",
	"zaq12wsx",
	"zaq1zaq1",
	"zxc12345",
	"zxcvbnm1",
	"zxcvbnm123",
	"zxcvbnmm",
	"zxczxczxc",
	"zzzzzzzz",
};

static void
current_params(ScryptParams *params)
{
	params->log_n = workon_scrypt_log_n;
	params->r = workon_scrypt_r;
	params->p = workon_scrypt_p;
}

static bool
params_acceptable(const ScryptParams *params)
{
	if (params->log_n < 1 || params->log_n > SCRYPT_MAX_LOG_N ||
		params->r < 1 || params->r > SCRYPT_MAX_R ||
		params->p < 1 || params->p > SCRYPT_MAX_P)
		return false;
	return (uint64) 128 * params->r * ((uint64) 1 << params->log_n) <= SCRYPT_MAX_MEM;
}

/* Derive SCRYPT_HASH_LEN bytes; errors only on resource failure */
static void
scrypt_derive(const char *password, size_t pwlen,
			  const unsigned char *salt, size_t saltlen,
			  const ScryptParams *params, unsigned char *out)
{
	uint64		n = (uint64) 1 << params->log_n;
	uint64		maxmem;

	/* scrypt needs 128 * r * (N + p + 2) bytes; leave room on top */
	maxmem = (uint64) 128 * params->r * (n + params->p + 2) + ((uint64) 1 << 20);

	if (EVP_PBE_scrypt(password, pwlen, salt, saltlen, n,
					   (uint64) params->r, (uint64) params->p, maxmem,
					   out, SCRYPT_HASH_LEN) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not derive a password hash"),
				 errdetail("scrypt with ln=%d, r=%d, p=%d failed.",
						   params->log_n, params->r, params->p)));
}

/* Parse a decimal parameter "name=<int>" at *p, advance past it */
static bool
parse_param(const char **p, const char *name, int *value)
{
	size_t		len = strlen(name);
	long		v = 0;
	const char *s = *p;

	if (strncmp(s, name, len) != 0 || s[len] != '=')
		return false;
	s += len + 1;
	if (*s < '1' || *s > '9')
		return false;
	while (*s >= '0' && *s <= '9')
	{
		v = v * 10 + (*s - '0');
		if (v > 1000000)
			return false;
		s++;
	}
	*value = (int) v;
	*p = s;
	return true;
}

/*
 * Split a stored hash into its parts.  Returns false if it is not one this
 * code wrote (or could have written).
 */
static bool
parse_stored(const char *stored, ScryptParams *params,
			 unsigned char **salt, size_t *saltlen,
			 unsigned char **hash, size_t *hashlen)
{
	const char *p = stored;
	const char *dollar;

	if (strncmp(p, SCRYPT_PREFIX, strlen(SCRYPT_PREFIX)) != 0)
		return false;
	p += strlen(SCRYPT_PREFIX);

	if (!parse_param(&p, "ln", &params->log_n) || *p++ != ',' ||
		!parse_param(&p, "r", &params->r) || *p++ != ',' ||
		!parse_param(&p, "p", &params->p) || *p++ != '$')
		return false;
	if (!params_acceptable(params))
		return false;

	dollar = strchr(p, '$');
	if (dollar == NULL ||
		!workon_b64url_decode(p, dollar - p, salt, saltlen) ||
		*saltlen < 8 ||
		!workon_b64url_decode(dollar + 1, strlen(dollar + 1), hash, hashlen) ||
		*hashlen != SCRYPT_HASH_LEN)
		return false;

	return true;
}

static char *
hash_password(const char *password, size_t pwlen)
{
	ScryptParams params;
	unsigned char salt[SCRYPT_SALT_LEN];
	unsigned char hash[SCRYPT_HASH_LEN];
	char	   *result;

	current_params(&params);
	if (!params_acceptable(&params))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("scrypt parameters ln=%d, r=%d, p=%d need more than 1 GiB of memory",
						params.log_n, params.r, params.p)));

	if (!pg_strong_random(salt, sizeof(salt)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a random salt")));

	scrypt_derive(password, pwlen, salt, sizeof(salt), &params, hash);

	result = psprintf(SCRYPT_PREFIX "ln=%d,r=%d,p=%d$%s$%s",
					  params.log_n, params.r, params.p,
					  workon_b64url_encode(salt, sizeof(salt)),
					  workon_b64url_encode(hash, sizeof(hash)));
	explicit_bzero(hash, sizeof(hash));

	return result;
}

/*
 * workon.password_hash(password text) returns text
 *
 * A new stored hash of the password with the current parameters and a
 * random salt.
 */
PG_FUNCTION_INFO_V1(password_hash);
Datum
password_hash(PG_FUNCTION_ARGS)
{
	text	   *password = PG_GETARG_TEXT_PP(0);

	PG_RETURN_TEXT_P(cstring_to_text(hash_password(VARDATA_ANY(password),
												   VARSIZE_ANY_EXHDR(password))));
}

/*
 * workon.password_verify(password text, stored text) returns boolean
 *
 * Whether the password matches the stored hash.  Not strict: a NULL or
 * unreadable stored hash (a user without a password, or none at all) costs
 * the same work as a real one and is false, and so is a NULL password.
 */
PG_FUNCTION_INFO_V1(password_verify);
Datum
password_verify(PG_FUNCTION_ARGS)
{
	static const unsigned char dummy_salt[SCRYPT_SALT_LEN] = "workon-no-user!";
	text	   *password = PG_ARGISNULL(0) ? NULL : PG_GETARG_TEXT_PP(0);
	char	   *stored = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));
	const char *pw = password ? VARDATA_ANY(password) : "";
	size_t		pwlen = password ? VARSIZE_ANY_EXHDR(password) : 0;
	ScryptParams params;
	unsigned char *salt;
	unsigned char *expected;
	size_t		saltlen;
	size_t		expectedlen;
	unsigned char computed[SCRYPT_HASH_LEN];
	bool		match;

	if (stored == NULL ||
		!parse_stored(stored, &params, &salt, &saltlen, &expected, &expectedlen))
	{
		/* the same work as for a real hash, then no */
		current_params(&params);
		if (!params_acceptable(&params))
			PG_RETURN_BOOL(false);
		scrypt_derive(pw, pwlen, dummy_salt, sizeof(dummy_salt), &params, computed);
		explicit_bzero(computed, sizeof(computed));
		PG_RETURN_BOOL(false);
	}

	scrypt_derive(pw, pwlen, salt, saltlen, &params, computed);
	match = (CRYPTO_memcmp(computed, expected, SCRYPT_HASH_LEN) == 0);
	explicit_bzero(computed, sizeof(computed));

	PG_RETURN_BOOL(match && password != NULL);
}

/*
 * workon.password_needs_rehash(stored text) returns boolean
 *
 * True when the stored hash is unreadable or was made with parameters
 * below the current ones (any of N, r, p lower).
 */
PG_FUNCTION_INFO_V1(password_needs_rehash);
Datum
password_needs_rehash(PG_FUNCTION_ARGS)
{
	char	   *stored = text_to_cstring(PG_GETARG_TEXT_PP(0));
	ScryptParams params;
	ScryptParams cur;
	unsigned char *salt;
	unsigned char *hash;
	size_t		saltlen;
	size_t		hashlen;

	if (!parse_stored(stored, &params, &salt, &saltlen, &hash, &hashlen))
		PG_RETURN_BOOL(true);

	current_params(&cur);
	PG_RETURN_BOOL(params.log_n < cur.log_n || params.r < cur.r || params.p < cur.p);
}

static void
password_rule_violation(const char *message)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s", message),
			 err_generic_string(PG_DIAG_COLUMN_NAME, "password")));
}

/* ASCII case-insensitive equality of a counted string and a C string */
static bool
equal_ignoring_case(const char *s, size_t len, const char *lower)
{
	size_t		i;

	for (i = 0; i < len; i++)
	{
		if (lower[i] == '\0' || pg_ascii_tolower((unsigned char) s[i]) != lower[i])
			return false;
	}
	return lower[len] == '\0';
}

/*
 * workon.password_check(password text, email text) returns void
 *
 * The password rules: 8 to 128 characters, not one of the most common
 * passwords, not the email address (both compared case-insensitively).
 * Errors are 22023 with column "password".  Not strict: a NULL password is
 * "password is required", a NULL email skips that rule.
 */
PG_FUNCTION_INFO_V1(password_check);
Datum
password_check(PG_FUNCTION_ARGS)
{
	text	   *password;
	const char *pw;
	int			pwlen;
	int			nchars;
	int			i;

	if (PG_ARGISNULL(0))
		password_rule_violation("password is required");
	password = PG_GETARG_TEXT_PP(0);
	pw = VARDATA_ANY(password);
	pwlen = VARSIZE_ANY_EXHDR(password);

	nchars = pg_mbstrlen_with_len(pw, pwlen);
	if (nchars < PASSWORD_MIN_CHARS)
		password_rule_violation("password must be at least 8 characters");
	if (nchars > PASSWORD_MAX_CHARS)
		password_rule_violation("password must be at most 128 characters");

	for (i = 0; i < lengthof(common_passwords); i++)
	{
		if (equal_ignoring_case(pw, pwlen, common_passwords[i]))
			password_rule_violation("password is too common");
	}

	if (!PG_ARGISNULL(1))
	{
		text	   *email = PG_GETARG_TEXT_PP(1);
		char	   *a = str_tolower(pw, pwlen, DEFAULT_COLLATION_OID);
		char	   *b = str_tolower(VARDATA_ANY(email), VARSIZE_ANY_EXHDR(email),
									DEFAULT_COLLATION_OID);

		if (strcmp(a, b) == 0)
			password_rule_violation("password must not be the email address");
	}

	PG_RETURN_VOID();
}
