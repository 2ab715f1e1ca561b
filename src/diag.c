#include "diag.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

int sc_verbosity;

static void (*before_message)(void *arg);
static void *before_message_arg;

void sc_set_before_message(void (*hook)(void *arg), void *arg)
{
    before_message = hook;
    before_message_arg = arg;
}

static void vreport(const char *fmt, va_list ap, const char *reason)
{
    char line[1024];

    vsnprintf(line, sizeof(line), fmt, ap);
    if (before_message)
        before_message(before_message_arg);
    /* One write per message keeps lines whole when stderr is shared. */
    if (reason)
        fprintf(stderr, "sockcat: %s: %s\n", line, reason);
    else
        fprintf(stderr, "sockcat: %s\n", line);
    fflush(stderr);
}

const char *sc_strerror(int uverr)
{
    /*
     * On Unix libuv's codes are negated errno values, and strerror(3) gives
     * the familiar wording ("Connection refused"). Resolver errors and EOF
     * have no errno, so libuv's own text is used for them.
     */
    if (uverr == UV_EOF || (uverr <= -3000 && uverr > -3100))
        return uv_strerror(uverr);
    if (uverr < 0 && uverr > -4096)
        return strerror(-uverr);
    return uv_strerror(uverr);
}

void sc_error(int uverr, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vreport(fmt, ap, sc_strerror(uverr));
    va_end(ap);
}

void sc_usage_error(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vreport(fmt, ap, NULL);
    va_end(ap);
    fputs("Try 'sockcat --help' for more information.\n", stderr);
}

void sc_verbose(int level, const char *fmt, ...)
{
    va_list ap;

    if (sc_verbosity < level)
        return;
    va_start(ap, fmt);
    vreport(fmt, ap, NULL);
    va_end(ap);
}

void sc_note(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vreport(fmt, ap, NULL);
    va_end(ap);
}

void sc_format_bytes(char *out, size_t size, double bytes)
{
    static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB" };
    int unit = -1;

    if (bytes < 1024) {
        snprintf(out, size, "%.0f B", bytes);
        return;
    }
    while (bytes >= 1024 && unit < 4) {
        bytes /= 1024;
        unit++;
    }
    snprintf(out, size, "%.2f %s", bytes, units[unit]);
}
