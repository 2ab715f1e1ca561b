#ifdef SOCKCAT_HAVE_TLS

#include "openssl_load.h"

#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>

struct sc_openssl sc_openssl;

static const char *dl_reason(void)
{
    const char *reason = dlerror();

    return reason ? reason : "unknown error";
}

int openssl_load(char *err, size_t size)
{
    static bool loaded;
    void *libssl;

    if (loaded)
        return 0;
    /* RTLD_NOW: a function missing from the library fails here, not mid-handshake. */
    libssl = dlopen(SC_LIBSSL, RTLD_NOW);
    if (!libssl) {
        snprintf(err, size, "load OpenSSL: %s", dl_reason());
        return -1;
    }
    /* dlsym on libssl's handle also searches libcrypto, which it needs. */
#define SC_OPENSSL_FIND(name) \
    sc_openssl.name = (__typeof__(sc_openssl.name))dlsym(libssl, #name); \
    if (!sc_openssl.name) { \
        snprintf(err, size, "load OpenSSL: %s", dl_reason()); \
        return -1; \
    }
    SC_OPENSSL_FUNCTIONS(SC_OPENSSL_FIND)
#undef SC_OPENSSL_FIND
    loaded = true;
    return 0;
}

#endif
