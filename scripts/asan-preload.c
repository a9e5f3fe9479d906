/*
 * SANITIZE=1: preloaded after AddressSanitizer's runtime into the postmaster, so
 * that the extension can be built with ASan although PostgreSQL is not.
 *
 * Debian's postgres links libgpg-error (through libldap and libgcrypt), whose
 * constructor calls bindtextdomain() before ASan has initialized.  bindtextdomain
 * takes glibc's gettext lock and then calls malloc(); ASan's malloc initializes
 * the runtime, which calls dlerror(), which translates its message under the
 * same lock: the lock's state is corrupted and the postmaster hangs in its own
 * bindtextdomain() at start.  This bindtextdomain() lets ASan initialize first
 * (one malloc outside the lock), then calls glibc's.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>

char *bindtextdomain(const char *domainname, const char *dirname)
{
    static char *(*next)(const char *, const char *);
    void *volatile block = malloc(1); /* volatile: the pair must not be optimized away */

    free(block);
    if (next == NULL)
        next = (char *(*)(const char *, const char *))dlsym(RTLD_NEXT, "bindtextdomain");
    return next(domainname, dirname);
}
